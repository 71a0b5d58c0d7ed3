package cli_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/sgxops/sgxops/internal/cli"
	"github.com/sgxops/sgxops/sim"
)

type secretManifest struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string            `json:"name"`
		Namespace string            `json:"namespace"`
		Labels    map[string]string `json:"labels"`
	} `json:"metadata"`
	Data map[string][]byte `json:"data"`
}

// TestSimInitSecretYAML: the Secret's files are a loadable platform state,
// the same one --dir saves.
func TestSimInitSecretYAML(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	tests := []struct {
		name string
		args []string
		ns   string
		dir  string
	}{
		{"no dir", []string{"--secret-name", "sim-platform", "--namespace", "sgxops-system", "--seed", "s"}, "sgxops-system", ""},
		{"with dir", []string{"--dir", dir, "--seed", "s"}, "", dir},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			args := append([]string{"sim", "init", "--output", "secret-yaml"}, tt.args...)
			if code := cli.Main(args, &out, &errb); code != cli.ExitOK {
				t.Fatalf("exit %d: %s", code, errb.String())
			}
			if !strings.Contains(errb.String(), "SIMULATED") || !strings.Contains(out.String(), "INSECURE") {
				t.Errorf("not loudly simulated: stdout %q stderr %q", out.String()[:80], errb.String())
			}
			var s secretManifest
			if err := yaml.Unmarshal(out.Bytes(), &s); err != nil {
				t.Fatalf("not YAML: %v\n%s", err, out.String())
			}
			if s.APIVersion != "v1" || s.Kind != "Secret" || s.Metadata.Namespace != tt.ns || s.Metadata.Labels["sgxops.io/simulated"] != "true" {
				t.Fatalf("manifest header %+v", s)
			}
			loaded := t.TempDir()
			for k, v := range s.Data {
				if err := os.WriteFile(filepath.Join(loaded, k), v, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			p, err := sim.Load(loaded, sim.Options{})
			if err != nil {
				t.Fatalf("the Secret's files are not a platform state: %v", err)
			}
			want, _ := sim.New([]byte("s"), sim.Config{}, sim.Options{})
			if !bytes.Equal(p.RootPEM(), want.RootPEM()) {
				t.Fatal("the Secret holds another platform than --seed gives")
			}
			if tt.dir != "" {
				if _, err := os.Stat(filepath.Join(tt.dir, sim.RootCAFile)); err != nil {
					t.Fatalf("--dir not saved: %v", err)
				}
			}
		})
	}
}

func TestSimInitSecretYAMLUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"bad name", []string{"--output", "secret-yaml", "--secret-name", "Bad_Name"}},
		{"bad namespace", []string{"--output", "secret-yaml", "--namespace", "-ns"}},
		{"bad output", []string{"--output", "json", "--dir", "x"}},
		{"text needs dir", []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := cli.Main(append([]string{"sim", "init"}, tt.args...), &out, &errb); code != cli.ExitUsage {
				t.Fatalf("exit %d, want %d: %s", code, cli.ExitUsage, errb.String())
			}
		})
	}
}
