package store

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/sgxops/sgxops/audit"
)

// ErrStateMismatch is matched (errors.Is) by a *StateError and a
// *ReplayError: the stored trust set is not what the audit log yields.
var ErrStateMismatch = errors.New("store: state does not match the audit log")

// StateError names the first stored object that differs from the state
// replayed from the audit log. Objects are compared releases first (by app,
// then name), then policies (by type), then the policy-management
// certificates.
type StateError struct {
	// Object is "release APP/NAME", "policy TYPE" or "policy-certificates".
	Object string
	// Field is the first field that differs (its JSON name), or "" when the
	// object is present on one side only.
	Field string
	// Log and Store are the field's values (or "absent").
	Log, Store string
	// Seq is the entry that last recorded the object (0: none).
	Seq uint64
}

func (e *StateError) Error() string {
	where := ""
	if e.Seq > 0 {
		where = fmt.Sprintf(" (recorded at seq %d)", e.Seq)
	}
	if e.Field == "" {
		return fmt.Sprintf("store: %s differs from the audit log%s: the log has it %s, the store %s", e.Object, where, e.Log, e.Store)
	}
	return fmt.Sprintf("store: %s differs from the audit log%s: %s is %s in the log, %s in the store", e.Object, where, e.Field, e.Log, e.Store)
}

// Is reports whether target is ErrStateMismatch.
func (e *StateError) Is(target error) bool { return target == ErrStateMismatch }

// CompareState compares the releases, policies and policy-management
// certificates stored in s with st and returns a *StateError for the first
// object that differs. Unproven objects (st.Unproven) are not compared.
func CompareState(ctx context.Context, s Store, st State) error {
	rels, err := s.ListReleases(ctx, "")
	if err != nil {
		return err
	}
	stored := make(map[ReleaseKey]ReleaseRecord, len(rels))
	for _, r := range rels {
		stored[ReleaseKey{r.Release.App, r.Release.Name}] = r
	}
	keys := slices.Collect(maps.Keys(stored))
	for k := range st.Releases {
		if _, ok := stored[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, compareKeys)
	for _, k := range keys {
		if _, ok := st.Unproven.Releases[k]; ok {
			continue
		}
		if se := compareRelease(k, st.Releases, stored); se != nil {
			se.Seq = st.ReleaseSeq[k]
			return se
		}
	}
	pols, err := s.ListPolicies(ctx)
	if err != nil {
		return err
	}
	storedPol := make(map[string]PolicyRecord, len(pols))
	for _, p := range pols {
		storedPol[p.Type] = p
	}
	types := slices.Collect(maps.Keys(storedPol))
	for t := range st.Policies {
		if _, ok := storedPol[t]; !ok {
			types = append(types, t)
		}
	}
	slices.Sort(types)
	for _, t := range types {
		if _, ok := st.Unproven.Policies[t]; ok || st.Unproven.AllPolicies {
			continue
		}
		if err := comparePolicy(t, st.Policies, storedPol); err != nil {
			return err
		}
	}
	if st.Unproven.PolicyCerts {
		return nil
	}
	certs, err := s.GetPolicyCerts(ctx)
	if err != nil {
		return err
	}
	return compareCerts(st.PolicyCerts, certs)
}

func compareRelease(k ReleaseKey, replayed, stored map[ReleaseKey]ReleaseRecord) *StateError {
	obj := "release " + k.App + "/" + k.Name
	want, inLog := replayed[k]
	got, inStore := stored[k]
	switch {
	case !inLog:
		return &StateError{Object: obj, Log: "absent (no entry records its state)", Store: "present (revision " + fmt.Sprint(got.Revision) + ")"}
	case !inStore:
		return &StateError{Object: obj, Log: "present (revision " + fmt.Sprint(want.Revision) + ")", Store: "absent"}
	}
	if f, a, b, ok := diff(reflect.ValueOf(want.Release), reflect.ValueOf(got.Release)); !ok {
		return &StateError{Object: obj, Field: f, Log: a, Store: b}
	}
	if want.Revision != got.Revision {
		return &StateError{Object: obj, Field: "revision", Log: fmt.Sprint(want.Revision), Store: fmt.Sprint(got.Revision)}
	}
	return nil
}

func comparePolicy(t string, replayed map[string]ReplayedPolicy, stored map[string]PolicyRecord) error {
	obj := "policy " + t
	want, inLog := replayed[t]
	got, inStore := stored[t]
	switch {
	case !inLog:
		return &StateError{Object: obj, Log: "absent (reset or never set)", Store: "present (revision " + fmt.Sprint(got.Revision) + ")"}
	case !inStore:
		return &StateError{Object: obj, Log: "present (revision " + fmt.Sprint(want.Revision) + ")", Store: "absent", Seq: want.Seq}
	}
	if f, a, b, ok := diff(reflect.ValueOf(want.PolicyState), reflect.ValueOf(policyState(got))); !ok {
		return &StateError{Object: obj, Field: f, Log: a, Store: b, Seq: want.Seq}
	}
	if want.Revision != got.Revision {
		return &StateError{Object: obj, Field: "revision", Log: fmt.Sprint(want.Revision), Store: fmt.Sprint(got.Revision), Seq: want.Seq}
	}
	return nil
}

func compareCerts(want *ReplayedPolicyCerts, got PolicyCertsRecord) error {
	const obj = "policy-certificates"
	if want == nil {
		if got.Revision != 0 || len(got.Certs) != 0 {
			return &StateError{Object: obj, Log: "absent (no entry records the set)", Store: fmt.Sprintf("present (%d certificates, revision %d)", len(got.Certs), got.Revision)}
		}
		return nil
	}
	if f, a, b, ok := diff(reflect.ValueOf(want.PolicyCertsState), reflect.ValueOf(policyCertsState(got.Certs))); !ok {
		return &StateError{Object: obj, Field: f, Log: a, Store: b, Seq: want.Seq}
	}
	if want.Revision != got.Revision {
		return &StateError{Object: obj, Field: "revision", Log: fmt.Sprint(want.Revision), Store: fmt.Sprint(got.Revision), Seq: want.Seq}
	}
	return nil
}

var timeType = reflect.TypeFor[time.Time]()

// diff compares two values of one struct type field by field (times by
// instant, so a time zone is no difference) and returns the JSON name and
// both values of the first field that differs. It walks the struct
// generically, so fields added later are compared too.
func diff(a, b reflect.Value) (field, av, bv string, equal bool) {
	if a.Type() == timeType {
		ta, tb := a.Interface().(time.Time), b.Interface().(time.Time)
		if ta.Equal(tb) {
			return "", "", "", true
		}
		return "", fmtTime(ta), fmtTime(tb), false
	}
	if a.Kind() == reflect.Struct {
		for i := range a.NumField() {
			sf := a.Type().Field(i)
			if !sf.IsExported() {
				continue
			}
			name := strings.Split(sf.Tag.Get("json"), ",")[0]
			if name == "" || name == "-" {
				name = sf.Name
			}
			if sf.Anonymous {
				name = ""
			}
			if f, x, y, ok := diff(a.Field(i), b.Field(i)); !ok {
				if f != "" && name != "" {
					name += "." + f
				} else if f != "" {
					name = f
				}
				return name, x, y, false
			}
		}
		return "", "", "", true
	}
	if reflect.DeepEqual(a.Interface(), b.Interface()) {
		return "", "", "", true
	}
	return "", fmt.Sprintf("%q", fmt.Sprint(a.Interface())), fmt.Sprintf("%q", fmt.Sprint(b.Interface())), false
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "unset"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// StateStatus describes a log whose state was checked against the store.
type StateStatus struct {
	LogStatus
	// Releases, Policies: objects the log's state records prove.
	Releases int `json:"releases"`
	Policies int `json:"policies"`
	// PolicyCerts: the certificate set is recorded in the log.
	PolicyCerts bool `json:"policy_certificates"`
	// Unproven names objects last written by entries that predate state
	// records: for them only the chain is verified.
	Unproven []string `json:"unproven,omitempty"`
}

// stateAttempts bounds VerifyState's retries when commits land while it
// reads (a shared store).
const stateAttempts = 3

// VerifyState verifies s's audit chain (as VerifyLog), replays it (Replay)
// and compares the result with the stored objects (CompareState), in one
// pass over the log. A broken chain is an *audit.ChainError, an entry whose
// state cannot be replayed a *ReplayError, a stored object that differs a
// *StateError (both match ErrStateMismatch); other errors mean the store
// could not be read. A difference found while commits landed (the head
// moved) is not reported: the check starts again, up to 3 times, and then
// fails with ErrStateUnsettled.
func VerifyState(ctx context.Context, s Store) (StateStatus, error) {
	for attempt := 1; ; attempt++ {
		var r Replayer
		ls, err := verifyLog(ctx, s, func(es []audit.Entry) error {
			for _, e := range es {
				if err := r.Apply(e); err != nil {
					return err
				}
			}
			return nil
		})
		st := StateStatus{LogStatus: ls}
		if err != nil {
			return st, err
		}
		rs := r.State()
		st.Releases, st.Policies, st.PolicyCerts = len(rs.Releases), len(rs.Policies), rs.PolicyCerts != nil
		st.Unproven = rs.Unproven.Names()
		err = CompareState(ctx, s, rs)
		if err == nil || !errors.Is(err, ErrStateMismatch) {
			return st, err
		}
		now, herr := s.AuditHead(ctx)
		if herr != nil {
			return st, herr
		}
		if now.Seq == ls.Head.Seq && now.Hash == ls.Head.Hash {
			return st, err // nothing committed meanwhile: a real difference
		}
		if attempt == stateAttempts {
			return st, fmt.Errorf("store: commits landed during each of %d state checks (last difference: %v): %w", stateAttempts, err, ErrStateUnsettled)
		}
	}
}

// ErrStateUnsettled: VerifyState could not compare, because commits landed
// while it read, every time. It is not a mismatch; check again later.
var ErrStateUnsettled = errors.New("store: state check unsettled")
