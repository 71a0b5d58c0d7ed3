package sim

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSaveLoadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	p := newTestPlatform(t, "state", Config{TCBStatus: OutOfDate, PCKCA: CAPlatform, PCKRevoked: true, QESVN: QEOutOfDateSVN})
	if err := p.Save(dir); err != nil {
		t.Fatal(err)
	}
	for _, label := range keyLabels {
		fi, err := os.Stat(filepath.Join(dir, label+".key"))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s.key has mode %v, want 0600", label, fi.Mode().Perm())
		}
		b, _ := os.ReadFile(filepath.Join(dir, label+".key"))
		if !bytes.HasPrefix(b, []byte("-----BEGIN PRIVATE KEY-----")) {
			t.Errorf("%s.key is not PKCS#8 PEM", label)
		}
	}
	root, err := os.ReadFile(filepath.Join(dir, RootCAFile))
	if err != nil || !bytes.Equal(root, p.RootPEM()) {
		t.Fatalf("root-ca.pem is not the root certificate (%v)", err)
	}
	q, err := Load(dir, Options{Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	if q.Config() != p.Config() {
		t.Errorf("config after Load %+v, want %+v", q.Config(), p.Config())
	}
	if !bytes.Equal(q.PCKChainPEM(), p.PCKChainPEM()) {
		t.Error("PCK chain changed across Save/Load")
	}
	var rd [64]byte
	a, _ := p.Quote(testIdentity(), rd)
	b, _ := q.Quote(testIdentity(), rd)
	if !bytes.Equal(a, b) {
		t.Error("loaded platform quotes differently")
	}
	// Saving again over an existing directory keeps key files private.
	if err := os.Chmod(filepath.Join(dir, "pck.key"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := q.Save(dir); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "pck.key")); fi.Mode().Perm() != 0o600 {
		t.Errorf("re-saved pck.key has mode %v", fi.Mode().Perm())
	}
}

func TestLoadRejectsBadState(t *testing.T) {
	good := t.TempDir()
	if err := newTestPlatform(t, "good", Config{}).Save(good); err != nil {
		t.Fatal(err)
	}
	other := t.TempDir()
	if err := newTestPlatform(t, "other", Config{}).Save(other); err != nil {
		t.Fatal(err)
	}
	copyDir := func(t *testing.T) string {
		d := t.TempDir()
		ents, _ := os.ReadDir(good)
		for _, e := range ents {
			b, _ := os.ReadFile(filepath.Join(good, e.Name()))
			if err := os.WriteFile(filepath.Join(d, e.Name()), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return d
	}
	for _, tc := range []struct {
		name   string
		mutate func(t *testing.T, dir string)
		want   string
	}{
		{"missing config", func(t *testing.T, d string) { os.Remove(filepath.Join(d, ConfigFile)) }, "config.json"},
		{"root of another platform", func(t *testing.T, d string) {
			b, _ := os.ReadFile(filepath.Join(other, RootCAFile))
			os.WriteFile(filepath.Join(d, RootCAFile), b, 0o644)
		}, "root-ca.pem"},
		{"key not PEM", func(t *testing.T, d string) { os.WriteFile(filepath.Join(d, "pck.key"), []byte("junk"), 0o600) }, "pck.key"},
		{"not simulated", func(t *testing.T, d string) {
			b, _ := os.ReadFile(filepath.Join(d, ConfigFile))
			os.WriteFile(filepath.Join(d, ConfigFile), bytes.Replace(b, []byte(`"simulated": true`), []byte(`"simulated": false`), 1), 0o644)
		}, `"simulated"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := copyDir(t)
			tc.mutate(t, d)
			_, err := Load(d, Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load = %v, want an error naming %s", err, tc.want)
			}
		})
	}
}

func TestParseConfigErrors(t *testing.T) {
	valid, err := MarshalConfig(newTestPlatform(t, "cfg", Config{}).Config())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseConfig(valid); err != nil {
		t.Fatalf("ParseConfig(valid): %v", err)
	}
	for _, tc := range []struct {
		from, to, field string
	}{
		{`"format": 1`, `"format": 2`, "format"},
		{`"pck_ca": "processor"`, `"pck_ca": "other"`, "pck_ca"},
		{`"tcb_status": "UpToDate"`, `"tcb_status": "Nice"`, "tcb_status"},
		{`"fmspc": "53494d000000"`, `"fmspc": "53494d"`, "fmspc"},
		{`"qe_svn": 8`, `"qe_svn": 0`, "qe_svn"},
	} {
		b := bytes.Replace(valid, []byte(tc.from), []byte(tc.to), 1)
		if bytes.Equal(b, valid) {
			t.Fatalf("test case %q does not apply", tc.from)
		}
		_, err := ParseConfig(b)
		var se *StateError
		if !errors.As(err, &se) || se.Field != tc.field {
			t.Errorf("ParseConfig with %s = %v, want a StateError for field %s", tc.to, err, tc.field)
		}
	}
	if _, err := ParseConfig(append(valid[:len(valid)-1], []byte(`,"extra":1}`)...)); err == nil {
		t.Error("ParseConfig accepted an unknown field")
	}
}

// FuzzParseConfig checks that config.json parsing never panics and that
// whatever it accepts re-encodes to something it accepts again.
func FuzzParseConfig(f *testing.F) {
	for _, cfg := range []Config{{}, {TCBStatus: Revoked, PCKCA: CAPlatform, PCKRevoked: true}} {
		p, err := New([]byte("fuzz"), cfg, Options{})
		if err != nil {
			f.Fatal(err)
		}
		b, _ := MarshalConfig(p.Config())
		f.Add(b)
	}
	f.Add([]byte(`{"simulated":true}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg, err := ParseConfig(b)
		if err != nil {
			return
		}
		again, err := MarshalConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		cfg2, err := ParseConfig(again)
		if err != nil || cfg2 != cfg {
			t.Fatalf("accepted config does not round-trip: %v", err)
		}
	})
}
