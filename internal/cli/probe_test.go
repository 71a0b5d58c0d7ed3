package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/sgxops/sgxops/examples/aggregate"
	"github.com/sgxops/sgxops/internal/cli"
	"github.com/sgxops/sgxops/internal/demo"
)

// TestProbe runs "sgxops probe" against a real attestd and real sample
// services on loopback, with the SIMULATED platform.
func TestProbe(t *testing.T) {
	ctx := context.Background()
	lab, err := demo.StartLab(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer lab.Close()
	app := aggregate.App
	urls := map[string]string{}
	for _, v := range []string{"v1", "v2", "v3", "v4"} {
		if urls[v], err = lab.StartSample(v); err != nil {
			t.Fatal(err)
		}
	}
	for _, v := range []string{"v1", "v2", "v3"} {
		m, err := lab.Build(v)
		if err != nil {
			t.Fatal(err)
		}
		if err := lab.Register(ctx, app, v, m); err != nil {
			t.Fatal(err)
		}
	}
	// v1 active then retired by v2's activation and retirement; v2 active; v3 candidate; v4 unknown.
	for _, step := range [][2]string{{"v1", "activate"}, {"v2", "activate"}, {"v1", "retire"}} {
		if _, err := lab.Transition(ctx, app, step[0], step[1]); err != nil {
			t.Fatal(err)
		}
	}
	att := lab.AttestdURL()
	base := func(svc, rel string) []string {
		return []string{"probe", "--service", urls[svc], "--attestd", att, "--app", app, "--release", rel, "--timeout", "20s"}
	}
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout []string
		stderr []string
	}{
		{"candidate", append(base("v3", "v3"), "--allow-simulated"), 0,
			[]string{"release aggregate/v3 (candidate)", "SIMULATED", "does not name candidate v3 is refused"}, nil},
		{"active", append(base("v2", "v2"), "--allow-simulated"), 0, []string{"release aggregate/v2 (active)"}, nil},
		{"json", append(base("v3", "v3"), "--allow-simulated", "--output", "json"), 0, []string{`"ok": true`, `"state": "candidate"`}, nil},
		{"only candidate state", append(base("v2", "v2"), "--allow-simulated", "--state", "candidate"), 1,
			nil, []string{"probe: release: release aggregate/v2 is active, want candidate"}},
		{"wrong release", append(base("v2", "v3"), "--allow-simulated"), 1, nil, []string{"probe: attestation:", `release "v2" is not among`}},
		{"retired release", append(base("v1", "v1"), "--allow-simulated"), 1, nil, []string{"retired"}},
		{"unknown build", append(base("v4", "v4"), "--allow-simulated"), 1, nil, []string{"probe: attestation:"}},
		{"simulated not allowed", base("v3", "v3"), 1, nil, []string{"SIMULATED"}},
		{"json failure", append(base("v1", "v1"), "--allow-simulated", "--output", "json"), 1, []string{`"ok": false`, `"reason": "attestation"`}, nil},
		{"service down", []string{"probe", "--service", "http://127.0.0.1:1", "--attestd", att, "--app", app, "--release", "v3", "--allow-simulated"}, 1, nil, []string{"probe: attestation:"}},
		{"missing flags", []string{"probe", "--service", urls["v3"]}, 2, nil, []string{"--attestd, --app, --release required"}},
		{"bad attestd URL", []string{"probe", "--service", urls["v3"], "--attestd", att + "/x", "--app", app, "--release", "v3"}, 2, nil, nil},
		{"bad CA file", append(base("v3", "v3"), "--attestd-ca", "/nonexistent"), 2, nil, nil},
		{"unknown flag", append(base("v3", "v3"), "--nope"), 2, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := cli.Main(tt.args, &out, &errb)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout %s\nstderr %s", code, tt.code, out.String(), errb.String())
			}
			for _, w := range tt.stdout {
				if !strings.Contains(out.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, out.String())
				}
			}
			for _, w := range tt.stderr {
				if !strings.Contains(errb.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, errb.String())
				}
			}
			if code == 1 && strings.Count(strings.TrimRight(errb.String(), "\n"), "\n") != 0 {
				t.Errorf("the reason is not one line:\n%s", errb.String())
			}
			if strings.Contains(strings.Join(tt.args, " "), "json") {
				var v map[string]any
				if err := json.Unmarshal(out.Bytes(), &v); err != nil {
					t.Errorf("stdout is not JSON: %v", err)
				}
			}
		})
	}
}
