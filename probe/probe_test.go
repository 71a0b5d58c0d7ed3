package probe

import (
	"context"
	"errors"
	"testing"

	"github.com/sgxops/sgxops/maaclient"
	"github.com/sgxops/sgxops/ra"
)

// Run against real services is tested by internal/cli (TestProbe) and the
// demo; here: the release checks and the options.

func TestCheck(t *testing.T) {
	att := func(app, rel, state string) *ra.Attestation {
		return &ra.Attestation{App: app, Release: rel, ReleaseState: state}
	}
	tests := []struct {
		name   string
		a      *ra.Attestation
		states []string
		ok     bool
	}{
		{"candidate", att("a", "v2", "candidate"), DefaultStates, true},
		{"active", att("a", "v2", "active"), DefaultStates, true},
		{"draining refused by default", att("a", "v2", "draining"), DefaultStates, false},
		{"draining when asked", att("a", "v2", "draining"), []string{"draining"}, true},
		{"other release", att("a", "v1", "active"), DefaultStates, false},
		{"other app", att("b", "v2", "active"), DefaultStates, false},
		{"nil", nil, DefaultStates, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Check(tt.a, "a", "v2", tt.states)
			if (err == nil) != tt.ok {
				t.Fatalf("Check = %v, want ok %v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, &Error{Reason: ReasonRelease}) {
				t.Fatalf("error %v is not ReasonRelease", err)
			}
		})
	}
}

func TestRunOptions(t *testing.T) {
	mc, err := maaclient.New("http://127.0.0.1:1", maaclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	full := Options{ServiceURL: "http://127.0.0.1:1", Attestd: mc, App: "a", Release: "v1"}
	tests := []struct {
		name   string
		mutate func(*Options)
		reason Reason
	}{
		{"no service", func(o *Options) { o.ServiceURL = "" }, ReasonOptions},
		{"no attestd", func(o *Options) { o.Attestd = nil }, ReasonOptions},
		{"no app", func(o *Options) { o.App = "" }, ReasonOptions},
		{"no release", func(o *Options) { o.Release = "" }, ReasonOptions},
		{"unreachable", func(o *Options) {}, ReasonAttestation},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := full
			tt.mutate(&o)
			_, err := Run(context.Background(), o)
			if !errors.Is(err, &Error{Reason: tt.reason}) {
				t.Fatalf("Run = %v, want reason %s", err, tt.reason)
			}
		})
	}
}
