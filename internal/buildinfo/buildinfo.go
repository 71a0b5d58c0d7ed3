// Package buildinfo reads what the Go toolchain recorded in a binary (module
// version, VCS revision and time, Go version) for the --version output of the
// sgxops binaries and the OCI labels of their images.
package buildinfo

import (
	"fmt"
	"runtime/debug"
)

// Info is a binary's build information. Unknown fields are empty.
type Info struct {
	Module    string `json:"module"`
	Version   string `json:"version"`
	Revision  string `json:"revision,omitempty"`
	Time      string `json:"vcs_time,omitempty"`
	Modified  bool   `json:"modified,omitempty"`
	GoVersion string `json:"go_version"`
}

// Read returns the running binary's build information.
func Read() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Info{Version: "unknown"}
	}
	return From(bi)
}

// From extracts Info from bi.
func From(bi *debug.BuildInfo) Info {
	i := Info{Module: bi.Main.Path, Version: bi.Main.Version, GoVersion: bi.GoVersion}
	if i.Version == "" {
		i.Version = "(devel)"
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			i.Revision = s.Value
		case "vcs.time":
			i.Time = s.Value
		case "vcs.modified":
			i.Modified = s.Value == "true"
		}
	}
	return i
}

// String is one line: "NAME VERSION (revision R[, modified], TIME) GOVERSION".
func (i Info) String(name string) string {
	rev := i.Revision
	if rev == "" {
		rev = "unknown"
	}
	if i.Modified {
		rev += ", modified"
	}
	if i.Time != "" {
		rev += ", " + i.Time
	}
	return fmt.Sprintf("%s %s (revision %s) %s", name, i.Version, rev, i.GoVersion)
}
