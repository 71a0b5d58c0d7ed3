package audit

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// Limits on entry fields, so that an entry stays small and its canonical
// length prefixes can never overflow.
const (
	MaxFieldLen   = 1024      // actor, action, app, release, detail keys (bytes)
	MaxDetailLen  = 16 * 1024 // one detail value (bytes)
	MaxDetailKeys = 64
)

// ErrMalformed is matched (errors.Is) by errors about an entry's form.
var ErrMalformed = errors.New("audit: malformed entry")

func malformed(field, format string, args ...any) error {
	return fmt.Errorf("audit: %s: %s: %w", field, fmt.Sprintf(format, args...), ErrMalformed)
}

func checkText(field, s string, max int, required bool) error {
	switch {
	case required && s == "":
		return malformed(field, "required")
	case len(s) > max:
		return malformed(field, "longer than %d bytes", max)
	case !utf8.ValidString(s):
		return malformed(field, "not valid UTF-8")
	}
	return nil
}

// Validate checks the form of e, not its place in a chain: seq at least 1, a
// time representable in RFC 3339 (years 1 to 9999), a non-empty actor, an
// action of lowercase letters, digits and '-', valid UTF-8 within the limits.
func (e Entry) Validate() error {
	if e.Seq == 0 {
		return malformed("seq", "must be at least 1")
	}
	if y := e.Time.Year(); e.Time.IsZero() || y < 1 || y > 9999 {
		return malformed("time", "missing or outside years 1..9999")
	}
	if err := checkText("actor", e.Actor, MaxFieldLen, true); err != nil {
		return err
	}
	if err := checkText("action", string(e.Action), MaxFieldLen, true); err != nil {
		return err
	}
	for i := 0; i < len(e.Action); i++ {
		if c := e.Action[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return malformed("action", "invalid character at offset %d", i)
		}
	}
	if err := checkText("app", e.App, MaxFieldLen, false); err != nil {
		return err
	}
	if err := checkText("release", e.Release, MaxFieldLen, false); err != nil {
		return err
	}
	if len(e.Details) > MaxDetailKeys {
		return malformed("details", "more than %d keys", MaxDetailKeys)
	}
	for k, v := range e.Details {
		if err := checkText("details key", k, MaxFieldLen, true); err != nil {
			return err
		}
		if err := checkText("details."+k, v, MaxDetailLen, false); err != nil {
			return err
		}
	}
	return nil
}
