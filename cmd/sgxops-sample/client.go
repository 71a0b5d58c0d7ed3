package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sgxops/sgxops/examples/aggregate"
	"github.com/sgxops/sgxops/maaclient"
	"github.com/sgxops/sgxops/ra"
)

// clientReport is what "sgxops-sample client" prints (JSON, one object).
type clientReport struct {
	Calls    int `json:"calls"`
	Failures int `json:"failures"`
	Retries  int `json:"retries"`
	// Reconnects counts calls repeated on a new connection because the
	// instance reached was no longer trusted (see staleServer).
	Reconnects int            `json:"reconnects"`
	Last       *clientAnswer  `json:"last,omitempty"`
	Releases   map[string]int `json:"releases"` // calls answered per release
	Errors     []string       `json:"errors,omitempty"`
	Simulated  bool           `json:"simulated"` // the evidence was SIMULATED
}

type clientAnswer struct {
	Result       aggregate.Result `json:"result"`
	Release      string           `json:"release"`
	ReleaseState string           `json:"release_state"`
	MREnclave    string           `json:"mrenclave"`
}

// Retry policy of the client: a call that fails for a transport reason or an
// attestation-service answer of 5xx/429 is retried up to retryAttempts times in
// all, retryDelay apart. A call refused because the instance it reached is no
// longer trusted (staleServer) is repeated at once on a new connection, within
// the same attempts. Any other failure (a refused attestation, a bad answer)
// is final.
const (
	retryAttempts = 3
	retryDelay    = time.Second
)

// runClient is "sgxops-sample client": it attests the service through attestd
// (configured with attestd's URL and the app name only), provisions values and
// prints the aggregate. With --calls N it makes N calls, each on a new
// session (so each attests), and reports failures after the retry policy.
func runClient(args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("sgxops-sample client", flag.ContinueOnError)
	fl.SetOutput(stderr)
	attestdURL := fl.String("attestd", "", "attestd base URL = its token issuer (required)")
	app := fl.String("app", aggregate.App, "app whose releases the service must match")
	service := fl.String("service", "", "the sample service's base URL (required)")
	values := fl.String("values", "3,1,4,1,5,9,2,6", "comma-separated numbers to aggregate")
	release := fl.String("release", "", "pin this release (as a rollout's test does); empty: any active or draining release")
	allowSim := fl.Bool("allow-simulated", false, "accept SIMULATED evidence (test platforms only)")
	calls := fl.Int("calls", 1, "number of calls, each on a new attested session")
	interval := fl.Duration("interval", 0, "pause between calls")
	var connectTo []string
	fl.Func("connect-to", "HOST:PORT=ADDR:PORT: connect to ADDR:PORT whenever HOST:PORT is asked for (like curl --connect-to; e.g. through a kubectl port-forward); repeatable",
		func(s string) error {
			from, to, ok := strings.Cut(s, "=")
			if !ok || from == "" || to == "" {
				return fmt.Errorf("want HOST:PORT=ADDR:PORT, got %q", s)
			}
			connectTo = append(connectTo, from, to)
			return nil
		})
	if err := fl.Parse(args); err != nil {
		return err
	}
	switch {
	case *attestdURL == "" || *service == "":
		return errors.New("client: --attestd and --service are required")
	case *calls < 1:
		return fmt.Errorf("client: --calls must be at least 1, not %d", *calls)
	}
	nums, err := parseValues(*values)
	if err != nil {
		return err
	}
	hc := httpClient(connectTo)
	mc, err := maaclient.New(strings.TrimRight(*attestdURL, "/"), maaclient.Options{HTTPClient: hc})
	if err != nil {
		return err
	}
	v := &ra.MAAVerifier{Client: mc, App: *app, Candidate: *release, AllowSimulated: *allowSim}
	rep := clientReport{Releases: map[string]int{}}
	ctx := context.Background()
	for i := 0; i < *calls; i++ {
		if i > 0 && *interval > 0 {
			time.Sleep(*interval)
		}
		rep.Calls++
		var ans *aggregate.Answer
		var err error
		for attempt := 1; ; attempt++ {
			c := &aggregate.Client{URL: *service, Verifier: v, HTTP: hc}
			cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			ans, err = c.Aggregate(cctx, nums)
			_ = c.Close(cctx)
			cancel()
			if err == nil || attempt == retryAttempts {
				break
			}
			if staleServer(err) {
				// A kept-alive connection still leads to the old revision;
				// a new one goes where the Service routes now.
				hc.CloseIdleConnections()
				rep.Reconnects++
				continue
			}
			if !retryable(err) {
				break
			}
			rep.Retries++
			time.Sleep(retryDelay)
		}
		if err != nil {
			rep.Failures++
			if len(rep.Errors) < 10 {
				rep.Errors = append(rep.Errors, err.Error())
			}
			continue
		}
		a := ans.Attestation
		rep.Releases[a.Release]++
		rep.Simulated = rep.Simulated || a.Simulated
		rep.Last = &clientAnswer{Result: ans.Result, Release: a.Release, ReleaseState: a.ReleaseState,
			MREnclave: a.MREnclave}
	}
	if rep.Simulated {
		fmt.Fprintln(stderr, "sgxops-sample client: WARNING: the service's evidence is SIMULATED: this proves the pipeline, not confidentiality")
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		return err
	}
	if rep.Failures > 0 {
		return fmt.Errorf("client: %d of %d calls failed; first: %s", rep.Failures, rep.Calls, rep.Errors[0])
	}
	return nil
}

// retryable reports whether err is worth a retry under the client's policy:
// transport failures and overloaded or restarting services, not refusals.
func retryable(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, ra.ErrTransport) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var he *maaclient.ServiceError
	if errors.As(err, &he) {
		return he.StatusCode >= 500 || he.StatusCode == http.StatusTooManyRequests
	}
	s := err.Error()
	return strings.Contains(s, "connection refused") || strings.Contains(s, "connection reset")
}

// staleServer reports whether err is attestd refusing the evidence of the
// instance the call reached because its release is no longer trusted:
// retired, revoked or past its drain. After a blue/green switch the Service
// sends new connections to the new revision, but a kept-alive connection still
// leads to an old pod until it goes away; once attestd retires that revision,
// the call is worth repeating on a new connection. Whatever answers there is
// attested again in full, so nothing is accepted that would not be anyway.
func staleServer(err error) bool {
	var se *maaclient.ServiceError
	if !errors.As(err, &se) || se.Code != "PolicyEvaluationError" {
		return false
	}
	for _, r := range []string{"release_retired", "release_revoked", "drain_expired"} {
		if strings.Contains(se.Message, r) {
			return true
		}
	}
	return false
}

func parseValues(s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		x, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil {
			return nil, fmt.Errorf("client: --values: %q is not a number", f)
		}
		out = append(out, x)
	}
	return out, nil
}

// httpClient returns an HTTP client that dials the --connect-to overrides
// (pairs of from, to addresses).
func httpClient(pairs []string) *http.Client {
	m := map[string]string{}
	for i := 0; i+1 < len(pairs); i += 2 {
		m[pairs[i]] = pairs[i+1]
	}
	d := &net.Dialer{Timeout: 10 * time.Second}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if to, ok := m[addr]; ok {
			addr = to
		}
		return d.DialContext(ctx, network, addr)
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}
