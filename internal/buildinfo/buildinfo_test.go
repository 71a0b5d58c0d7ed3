package buildinfo

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestFromAndString(t *testing.T) {
	tests := []struct {
		name string
		bi   debug.BuildInfo
		want Info
		line []string
	}{
		{"vcs", debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: "github.com/sgxops/sgxops", Version: "v0.1.0"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.time", Value: "2026-12-03T07:00:00Z"}, {Key: "vcs.modified", Value: "true"}}},
			Info{Module: "github.com/sgxops/sgxops", Version: "v0.1.0", Revision: "abc123", Time: "2026-12-03T07:00:00Z", Modified: true, GoVersion: "go1.26.0"},
			[]string{"sgxops v0.1.0 (revision abc123, modified, 2026-12-03T07:00:00Z) go1.26.0"}},
		{"no vcs", debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: "m"}},
			Info{Module: "m", Version: "(devel)", GoVersion: "go1.26.0"},
			[]string{"(revision unknown)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := From(&tt.bi)
			if got != tt.want {
				t.Fatalf("From = %+v, want %+v", got, tt.want)
			}
			s := got.String("sgxops")
			for _, l := range tt.line {
				if !strings.Contains(s, l) {
					t.Fatalf("String = %q, lacks %q", s, l)
				}
			}
		})
	}
}

func TestReadInTest(t *testing.T) {
	if i := Read(); i.GoVersion == "" {
		t.Fatalf("Read() = %+v: no Go version", i)
	}
}
