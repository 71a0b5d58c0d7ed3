package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/sgxops/sgxops/attestd"
	"github.com/sgxops/sgxops/examples/aggregate"
	"github.com/sgxops/sgxops/maaclient"
	"github.com/sgxops/sgxops/probe"
	"github.com/sgxops/sgxops/ra"
)

// ErrDirNotEmpty is returned when Options.Dir names a directory that is not
// empty (for example one holding a previous run).
var ErrDirNotEmpty = errors.New("demo: --dir is not empty; give a new or empty directory")

// Options configures Run. The zero value runs the demo quietly in a fresh
// temporary directory.
type Options struct {
	// Out receives the step-by-step progress. Nil: discarded.
	Out io.Writer
	// Dir is the working directory (platform state, attestd data, build
	// artifacts). Empty: a new temporary directory, removed when Run returns.
	Dir string
	// KeepRunning keeps everything running after the story, prints the URLs
	// and waits until ctx is done.
	KeepRunning bool
	// DrainGrace is how long the demoted blue release stays accepted after
	// green is activated. Zero: 1 hour.
	DrainGrace time.Duration
}

// ClientConfig is everything the demo's client is configured with: where
// attestd is, which app it wants, and where the service is. No measurement.
type ClientConfig struct {
	AttestdURL string
	App        string
	ServiceURL string
	// AllowSimulated accepts SIMULATED evidence: the explicit opt-in that
	// the demo needs because its platform is simulated.
	AllowSimulated bool
}

// Build is a measured build of the sample service.
type Build struct {
	Version   string
	Release   string // the release name registered in attestd
	Path      string // the SIMULATED build artifact (SGXS measurement stream)
	MREnclave string
}

// Step is the outcome of one step.
type Step struct {
	N       int
	Title   string
	Details []string
	Err     error
	Elapsed time.Duration
}

// Report is what the demo did and observed; tests assert on it.
type Report struct {
	Dir                               string
	PCSURL, AttestdURL, ServiceURL    string
	BlueURL, GreenURL                 string
	Client                            ClientConfig
	Blue, Green                       Build
	Steps                             []Step
	First, AfterSwitch, AfterRetire   *aggregate.Answer
	CandidateTest, DrainingBlue       *ra.Attestation
	CandidateRefused, RetiredRejected error
	BlueFinalState, GreenFinalState   string
	Elapsed                           time.Duration
}

// StepError is Run's error when a step fails.
type StepError struct {
	Step  int
	Title string
	Err   error
}

func (e *StepError) Error() string {
	return fmt.Sprintf("demo: step %d (%s) failed: %v", e.Step, e.Title, e.Err)
}

func (e *StepError) Unwrap() error { return e.Err }

// Steps is the number of steps of the story.
const Steps = 12

// The sample values the client provisions (its "secret" data).
var (
	secretsBlue  = []float64{12.5, 7, 30, 0.5}
	secretsGreen = []float64{3, 4, 5, 6, 7}
	secretsLast  = []float64{-2, 2, 40}
)

type runner struct {
	out    io.Writer
	n      int
	report *Report
}

func (r *runner) printf(format string, args ...any) { fmt.Fprintf(r.out, format, args...) }

// step runs fn as the next step and records its outcome.
func (r *runner) step(title string, fn func(s *Step) error) error {
	r.n++
	s := Step{N: r.n, Title: title}
	r.printf("[%2d/%d] %s\n", s.N, Steps, title)
	start := time.Now()
	err := fn(&s)
	s.Elapsed = time.Since(start)
	for _, d := range s.Details {
		r.printf("        %s\n", d)
	}
	if err != nil {
		s.Err = err
		r.printf("        FAILED: %v\n", err)
		r.report.Steps = append(r.report.Steps, s)
		return &StepError{Step: s.N, Title: title, Err: err}
	}
	r.printf("        ok (%s)\n", s.Elapsed.Round(time.Millisecond))
	r.report.Steps = append(r.report.Steps, s)
	return nil
}

func (s *Step) add(format string, args ...any) {
	s.Details = append(s.Details, fmt.Sprintf(format, args...))
}

// describe summarises an attestation in one line.
func describe(a *ra.Attestation) string {
	sim := ""
	if a.Simulated {
		sim = "SIMULATED evidence, "
	}
	return fmt.Sprintf("attested by %s: %srelease %s/%s (%s), MRENCLAVE %s, TCB %s",
		a.Verifier, sim, a.App, a.Release, a.ReleaseState, short(a.MREnclave), a.TCBStatus)
}

func describeAnswer(ans *aggregate.Answer) string {
	r := ans.Result
	s := fmt.Sprintf("result from %s (SIMULATED enclave): count %d, sum %g, mean %g, min %g, max %g", r.Version, r.Count, r.Sum, r.Mean, r.Min, r.Max)
	if ans.NewSession {
		s += " (new attested session)"
	} else {
		s += " (existing session)"
	}
	return s
}

// story is the state the steps share.
type story struct {
	ctx   context.Context
	dir   string
	grace time.Duration
	rep   *Report

	plat     *platformEnv
	att      *attestdEnv
	mc       *maaclient.Client
	blue     *build
	green    *build
	blueSrv  *server
	greenSrv *server
	route    *router
	routeSrv *server
	client   *aggregate.Client
}

// verifier returns the client-side verifier: attestd plus the app name
// (and, for a rollout test, the candidate's name). Never a measurement.
func (st *story) verifier(candidate string) *ra.MAAVerifier {
	return &ra.MAAVerifier{Client: st.mc, App: aggregate.App, Candidate: candidate, AllowSimulated: true}
}

func (st *story) close() {
	if st.client != nil {
		_ = st.client.Close(context.Background())
	}
	st.routeSrv.close()
	st.blueSrv.close()
	st.greenSrv.close()
	st.att.close()
	if st.plat != nil {
		st.plat.pcs.close()
	}
}

// Run runs the demo. On failure it returns the report so far and a
// *StepError naming the failing step.
func Run(ctx context.Context, opts Options) (*Report, error) {
	out := opts.Out
	if out == nil {
		out = io.Discard
	}
	st := &story{ctx: ctx, dir: opts.Dir, grace: opts.DrainGrace}
	if st.grace <= 0 {
		st.grace = time.Hour
	}
	if st.dir != "" {
		// The story starts from nothing: a directory with a previous run (or
		// anything else) would make registration conflict halfway through.
		// Other errors (not a directory, ...) surface in step 1.
		if entries, err := os.ReadDir(st.dir); err == nil && len(entries) > 0 {
			return nil, fmt.Errorf("%w: %s", ErrDirNotEmpty, st.dir)
		}
	}
	if st.dir == "" {
		d, err := os.MkdirTemp("", "sgxops-demo-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		st.dir = d
	}
	st.rep = &Report{Dir: st.dir}
	defer st.close()
	r := &runner{out: out, report: st.rep}
	start := time.Now()

	r.printf("sgxops demo: blue/green rollout of a confidential service, with no client change\n")
	r.printf("SIMULATED: the SGX platform, its quotes and its collateral are simulated here. This shows the\n")
	r.printf("attestation pipeline end to end; it does not give confidentiality. Working directory: %s\n\n", st.dir)
	steps := []struct {
		title string
		fn    func(*Step) error
	}{
		{"Start the SIMULATED SGX platform and its PCS-compatible collateral server", st.startPlatform},
		{"Start attestd (MAA-compatible attestation service, bbolt store)", st.startAttestd},
		{"Build and measure the sample service v1 (blue)", st.buildBlue},
		{"Register v1 in attestd and activate it", st.activateBlue},
		{"Start blue (v1) and point the service URL at it", st.startBlue},
		{"A client attests the service and computes on its secret values", st.firstClient},
		{"Build and measure v2 (green), register it as a candidate, start it", st.buildGreen},
		{"Test green by attestation: a rollout test names the candidate explicitly", st.testCandidate},
		{"Activate green; blue starts draining", st.activateGreen},
		{"Switch traffic to green; the client keeps working with the same configuration", st.switchTraffic},
		{"Retire blue; the client keeps working", st.retireBlue},
		{"A client attesting the retired blue is rejected", st.rejectRetired},
	}
	for _, s := range steps {
		if err := r.step(s.title, s.fn); err != nil {
			st.rep.Elapsed = time.Since(start)
			return st.rep, err
		}
	}
	st.rep.Elapsed = time.Since(start)
	r.printf("\nDone in %s: blue (v1) -> green (v2) with no change to the client's configuration (SIMULATED platform).\n",
		st.rep.Elapsed.Round(time.Millisecond))
	if opts.KeepRunning {
		st.keepRunning(r)
	}
	return st.rep, nil
}

// keepRunning prints where everything is and waits for ctx.
func (st *story) keepRunning(r *runner) {
	rep := st.rep
	token := filepath.Join(st.dir, "attestd", attestd.AdminTokenFile)
	r.printf("\nStill running (Ctrl-C to stop):\n")
	r.printf("  attestd      %s   (admin token: %s)\n", rep.AttestdURL, token)
	r.printf("  service URL  %s   -> green %s\n", rep.ServiceURL, rep.GreenURL)
	r.printf("  SIMULATED PCS %s  (platform state %s)\n", rep.PCSURL, st.plat.dir)
	r.printf("Try:\n  curl %s/healthz\n  curl %s/certs\n", rep.ServiceURL, rep.AttestdURL)
	r.printf("  curl -H \"Authorization: Bearer $(cat %s)\" %s/admin/v1/releases/%s\n", token, rep.AttestdURL, aggregate.App)
	r.printf("  curl %s/admin/v1/audit\n", rep.AttestdURL)
	<-st.ctx.Done()
	r.printf("stopping\n")
}

// expect checks which release served an answer.
func expect(ans *aggregate.Answer, release, state string) error {
	if ans.Result.Version != release {
		return fmt.Errorf("answer computed by %s, want %s", ans.Result.Version, release)
	}
	if err := probe.Check(ans.Attestation, aggregate.App, release, []string{state}); err != nil {
		return err
	}
	if !ans.Attestation.Simulated {
		return errors.New("attestation does not say SIMULATED")
	}
	return nil
}

// rootCause returns the message of the innermost error.
func rootCause(err error) string {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err.Error()
		}
		err = u
	}
}
