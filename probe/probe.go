package probe

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/sgxops/sgxops/maaclient"
	"github.com/sgxops/sgxops/ra"
)

// Release states a probe accepts when Options.States is empty.
var DefaultStates = []string{"candidate", "active"}

// Options configures Run. ServiceURL, Attestd, App and Release are required;
// the other fields' zero values are the safe defaults.
type Options struct {
	// ServiceURL is the base URL of a service speaking ra's HTTP form
	// (POST /session ...), e.g. the sample service's Pod or Service URL.
	ServiceURL string
	// Attestd verifies the quote; its issuer is pinned. Required.
	Attestd *maaclient.Client
	// App and Release name the release the service must attest as.
	App, Release string
	// States lists the accepted release states. Empty: DefaultStates.
	States []string
	// AllowSimulated accepts SIMULATED evidence. False: refused.
	AllowSimulated bool
	// HTTP talks to the service. Nil: http.DefaultClient.
	HTTP *http.Client
}

// Result is what a successful probe observed.
type Result struct {
	// Attestation is what the service proved when the release was named.
	Attestation *ra.Attestation
	// UnnamedRefused is attestd's refusal of a request that did not name the
	// release, when the release is a candidate; nil otherwise.
	UnnamedRefused error
}

// Reason classifies an *Error.
type Reason string

// The reasons, stable codes for scripts and the CLI's JSON.
const (
	// ReasonOptions: Options are incomplete.
	ReasonOptions Reason = "options"
	// ReasonAttestation: the channel could not be attested: attestd refused
	// the quote (e.g. a retired or unknown release) or the token failed a
	// check, or the service could not be reached.
	ReasonAttestation Reason = "attestation"
	// ReasonRelease: the token names another release, or the release is in a
	// state that is not accepted.
	ReasonRelease Reason = "release"
	// ReasonCandidateUnguarded: a request that did not name the candidate was
	// accepted: attestd would let regular clients reach an untested release.
	ReasonCandidateUnguarded Reason = "candidate_unguarded"
)

// Error is a failed probe.
type Error struct {
	Reason Reason
	Msg    string
	Err    error
}

func (e *Error) Error() string {
	s := "probe: " + string(e.Reason) + ": " + e.Msg
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is matches an *Error with the same Reason and no message.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Msg == "" && t.Err == nil && t.Reason == e.Reason
}

// Run probes the service. It returns *Error on failure.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.ServiceURL == "" || o.Attestd == nil || o.App == "" || o.Release == "" {
		return nil, &Error{Reason: ReasonOptions, Msg: "a service URL, an attestd client, an app and a release are required"}
	}
	states := o.States
	if len(states) == 0 {
		states = DefaultStates
	}
	named := &ra.MAAVerifier{Client: o.Attestd, App: o.App, Candidate: o.Release, AllowSimulated: o.AllowSimulated}
	att, err := attest(ctx, o, named)
	if err != nil {
		return nil, &Error{Reason: ReasonAttestation, Msg: fmt.Sprintf("%s naming release %s/%s", o.ServiceURL, o.App, o.Release), Err: err}
	}
	if err := Check(att, o.App, o.Release, states); err != nil {
		return nil, err
	}
	res := &Result{Attestation: att}
	if att.ReleaseState != "candidate" {
		return res, nil
	}
	// The other half of the candidate rule: without its name, refused.
	unnamed := &ra.MAAVerifier{Client: o.Attestd, App: o.App, AllowSimulated: o.AllowSimulated}
	if _, err := attest(ctx, o, unnamed); err == nil {
		return nil, &Error{Reason: ReasonCandidateUnguarded, Msg: fmt.Sprintf("a request that does not name candidate %s/%s was accepted", o.App, o.Release)}
	} else if !errors.Is(err, ra.ErrAttestation) {
		return nil, &Error{Reason: ReasonAttestation, Msg: "the request without the candidate's name failed for another reason than attestation", Err: err}
	} else {
		res.UnnamedRefused = err
	}
	return res, nil
}

// attest dials the service with v and closes the session.
func attest(ctx context.Context, o Options, v ra.Verifier) (*ra.Attestation, error) {
	s, err := (&ra.Client{Verifier: v}).DialHTTP(ctx, o.ServiceURL, o.HTTP)
	if err != nil {
		return nil, err
	}
	_ = s.Close(ctx) // the session was only for the proof; a failed close changes nothing
	return s.Attestation(), nil
}

// Check reports whether a verified attestation names app/release in one of
// states. It returns *Error with ReasonRelease otherwise.
func Check(a *ra.Attestation, app, release string, states []string) error {
	switch {
	case a == nil:
		return &Error{Reason: ReasonRelease, Msg: "no attestation"}
	case a.App != app || a.Release != release:
		return &Error{Reason: ReasonRelease, Msg: fmt.Sprintf("attested as release %s/%s, want %s/%s", a.App, a.Release, app, release)}
	case !slices.Contains(states, a.ReleaseState):
		return &Error{Reason: ReasonRelease, Msg: fmt.Sprintf("release %s/%s is %s, want %s", app, release, a.ReleaseState, strings.Join(states, " or "))}
	}
	return nil
}
