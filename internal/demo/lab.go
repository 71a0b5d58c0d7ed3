package demo

import (
	"context"
	"path/filepath"
	"time"

	"github.com/sgxops/sgxops/sim"
)

// Lab is the demo's environment without its story: a SIMULATED platform with
// its PCS-compatible server, an in-process attestd trusting that platform
// (bbolt store, INSECURE simulation root) and sample services started on
// demand, all on loopback. Tests of other packages (e.g. "sgxops probe")
// use it to run against the real pieces.
type Lab struct {
	dir  string
	plat *platformEnv
	att  *attestdEnv
	svcs []*server
}

// StartLab starts a Lab working in dir (which must exist).
func StartLab(dir string) (*Lab, error) {
	l := &Lab{dir: dir}
	var err error
	if l.plat, err = startPlatform(filepath.Join(dir, "sim")); err != nil {
		return nil, err
	}
	l.att, err = startAttestd(filepath.Join(dir, "attestd"), l.plat.pcs.String(),
		filepath.Join(l.plat.dir, sim.RootCAFile), l.plat.platform.RootCertificate(), time.Hour)
	if err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// AttestdURL is attestd's base URL (the token issuer).
func (l *Lab) AttestdURL() string { return l.att.issuer }

// SimDir is the simulated platform's state directory.
func (l *Lab) SimDir() string { return l.plat.dir }

// Build writes and measures the SIMULATED build artifact of version and
// returns its MRENCLAVE (hex).
func (l *Lab) Build(version string) (string, error) {
	b, err := measureBuild(l.dir, version)
	if err != nil {
		return "", err
	}
	return b.MREnclave, nil
}

// Register registers app/name with mrenclave as a candidate.
func (l *Lab) Register(ctx context.Context, app, name, mrenclave string) error {
	_, err := l.att.admin.register(ctx, app, name, mrenclave)
	return err
}

// Transition runs a release transition: "activate", "retire", "revoke".
func (l *Lab) Transition(ctx context.Context, app, name, op string) (state string, err error) {
	v, err := l.att.admin.transition(ctx, app, name, op, 0)
	if err != nil {
		return "", err
	}
	return string(v.State), nil
}

// StartSample runs the sample service built at version on the simulated
// platform and returns its base URL.
func (l *Lab) StartSample(version string) (string, error) {
	b, err := measureBuild(l.dir, version)
	if err != nil {
		return "", err
	}
	s, err := startService(l.plat.platform, b)
	if err != nil {
		return "", err
	}
	l.svcs = append(l.svcs, s)
	return s.String(), nil
}

// Close stops everything.
func (l *Lab) Close() {
	for _, s := range l.svcs {
		s.close()
	}
	l.att.close()
	if l.plat != nil {
		l.plat.pcs.close()
	}
}
