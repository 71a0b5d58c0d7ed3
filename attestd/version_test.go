package attestd

import (
	"runtime"
	"testing"
)

// TestVersionEndpoint: /version answers anonymously with the build info of
// the running binary (under go test: the Go version and the main module).
func TestVersionEndpoint(t *testing.T) {
	e := newTestEnv(t, envOpts{})
	m := mustStatus(t, e.do("GET", "/version", "", nil), 200).json(t)
	if m["go_version"] != runtime.Version() {
		t.Errorf("go_version %v, want %s", m["go_version"], runtime.Version())
	}
	for _, k := range []string{"module", "version"} {
		if _, ok := m[k].(string); !ok {
			t.Errorf("%s missing: %v", k, m)
		}
	}
}
