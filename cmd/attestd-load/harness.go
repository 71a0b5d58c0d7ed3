package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/sgxops/sgxops/attestd"
	"github.com/sgxops/sgxops/attestd/config"
	"github.com/sgxops/sgxops/collateral"
	"github.com/sgxops/sgxops/dcap"
	"github.com/sgxops/sgxops/sgx"
	"github.com/sgxops/sgxops/sim"
)

// options of one harness run.
type options struct {
	Duration, Warmup time.Duration
	Concurrency      []int
	OpenLoopFraction float64
	// Rounds splits Duration of the floor and closed-loop phases into
	// alternating rounds.
	Rounds int
}

// Goals of the issue.
const (
	goalRatio    = 0.75
	goalOpenP99  = 25 * time.Millisecond
	adminBearer  = "load-harness-admin-token-0123456789"
	maxOpenInFly = 4096
)

// phase is one measured phase.
type phase struct {
	Name        string  `json:"name"`
	Concurrency int     `json:"concurrency,omitempty"`
	RateTarget  float64 `json:"rate_target,omitempty"` // open loop: requests/s offered
	Requests    int     `json:"requests"`
	Errors      int     `json:"errors"`
	Throughput  float64 `json:"throughput"` // completed requests/s
	P50ms       float64 `json:"p50_ms"`
	P99ms       float64 `json:"p99_ms"`
	Ratio       float64 `json:"ratio_to_floor"`
	CPUPerReq   float64 `json:"cpu_ms_per_request"` // process CPU, generator included
}

// report is the harness result.
type report struct {
	CPUs    int     `json:"cpus"`
	Floor   phase   `json:"floor"`
	Phases  []phase `json:"phases"`
	Peak    float64 `json:"peak_throughput"`
	Ratio   float64 `json:"peak_ratio_to_floor"`
	OpenP99 float64 `json:"open_loop_p99_ms"`
	// OpenFraction is the open-loop rate as a fraction of each round's peak.
	OpenFraction float64 `json:"open_loop_fraction"`
	GoalsMet     bool    `json:"goals_met"`
	// Capacity is the floor's throughput per 250 ms window relative to its
	// median window: the machine's own variation during the run.
	Capacity capacity `json:"floor_capacity_windows"`
}

// capacity summarises the floor's per-window throughput.
type capacity struct {
	Windows int     `json:"windows"`
	Min     float64 `json:"min_of_median"`
	P10     float64 `json:"p10_of_median"`
	Max     float64 `json:"max_of_median"`
}

// windowCounter counts completions per fixed window while started.
type windowCounter struct {
	every  time.Duration
	n      atomic.Int64
	counts []int64
}

// start begins counting windows; the returned func stops and keeps the
// complete windows.
func (w *windowCounter) start() (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(w.every)
		defer t.Stop()
		prev := w.n.Load()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				c := w.n.Load()
				w.counts = append(w.counts, c-prev)
				prev = c
			}
		}
	}()
	return func() { close(done); <-finished }
}

func (w *windowCounter) summary() capacity {
	c := slices.Clone(w.counts)
	if len(c) == 0 {
		return capacity{}
	}
	slices.Sort(c)
	med := float64(c[len(c)/2])
	if med == 0 {
		return capacity{Windows: len(c)}
	}
	return capacity{Windows: len(c), Min: float64(c[0]) / med, P10: float64(c[len(c)/10]) / med, Max: float64(c[len(c)-1]) / med}
}

func (r *report) print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "phase\tconcurrency\toffered/s\trequests\terrors\tthroughput/s\tp50 ms\tp99 ms\tx floor\tCPU ms/req\t\n")
	for _, p := range append([]phase{r.Floor}, r.Phases...) {
		c, rate := "-", "-"
		if p.Concurrency > 0 {
			c = fmt.Sprint(p.Concurrency)
		}
		if p.RateTarget > 0 {
			rate = fmt.Sprintf("%.0f", p.RateTarget)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%.0f\t%.2f\t%.2f\t%.2f\t%.2f\t\n", p.Name, c, rate, p.Requests, p.Errors, p.Throughput, p.P50ms, p.P99ms, p.Ratio, p.CPUPerReq)
	}
	tw.Flush()
	ok := func(b bool) string {
		if b {
			return "met"
		}
		return "MISSED"
	}
	fmt.Fprintf(w, "\nCPUs %d. Peak HTTP throughput %.0f/s = %.2f x floor (goal >= %.2f: %s). Open-loop p99 at %.0f%% of each round's peak: %.2f ms (goal < %v: %s).\n",
		r.CPUs, r.Peak, r.Ratio, goalRatio, ok(r.Ratio >= goalRatio), 100*r.OpenFraction, r.OpenP99, goalOpenP99, ok(r.OpenP99 < float64(goalOpenP99)/1e6))
	if c := r.Capacity; c.Windows > 0 {
		fmt.Fprintf(w, "Machine capacity during the run (floor throughput per 250 ms window, %d windows): min %.0f%%, p10 %.0f%%, max %.0f%% of the median window.\n",
			c.Windows, 100*c.Min, 100*c.P10, 100*c.Max)
		if c.P10 < r.OpenFraction/0.95 {
			fmt.Fprintf(w, "Note: in at least 10%% of the windows the machine ran below %.0f%% of its median speed, so an open loop at %.0f%% of peak was at times close to or above what the machine could then serve.\n",
				100*c.P10, 100*r.OpenFraction)
		}
	}
}

// fixture is a running attestd with one registered, active release and a
// quote that attests successfully.
type fixture struct {
	url     string
	body    []byte
	quote   *sgx.Quote
	coll    *collateral.Collateral
	opts    dcap.Options
	key     *attestd.SigningKey
	running *attestd.Running
	pcs     *httptest.Server
	dir     string
}

func (f *fixture) close() {
	if f.running != nil {
		_ = f.running.Stop()
	}
	if f.pcs != nil {
		f.pcs.Close()
	}
	os.RemoveAll(f.dir)
}

func setup(ctx context.Context) (*fixture, error) {
	f := &fixture{}
	var err error
	if f.dir, err = os.MkdirTemp("", "attestd-load-*"); err != nil {
		return nil, err
	}
	plat, err := sim.New([]byte("attestd load harness"), sim.Config{}, sim.Options{})
	if err != nil {
		return f, err
	}
	f.pcs = httptest.NewServer(sim.NewPCSServer(plat))
	root := filepath.Join(f.dir, "sim-root.pem")
	if err := os.WriteFile(root, plat.RootPEM(), 0o644); err != nil {
		return f, err
	}
	tok := sha256.Sum256([]byte(adminBearer))
	cfg := config.Default()
	cfg.Listen, cfg.InsecureHTTP, cfg.DataDir = "127.0.0.1:0", true, filepath.Join(f.dir, "data")
	cfg.Issuer = "http://attestd.load"
	cfg.Collateral = config.CollateralConfig{PCS: f.pcs.URL, InsecureSimulationRoot: root}
	cfg.Auth.Tokens = []config.StaticToken{{Name: "load", SHA256: hex.EncodeToString(tok[:]), Role: config.RoleAdmin}}
	if err := cfg.Validate(); err != nil {
		return f, err
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if f.running, err = attestd.Start(ctx, cfg, log); err != nil {
		return f, err
	}
	f.url = "http://" + f.running.Addr
	id := sim.Identity{MREnclave: sha256.Sum256([]byte("load enclave")), MRSigner: sha256.Sum256([]byte("load signer")), ISVProdID: 1, ISVSVN: 1}
	rt := []byte("load harness runtime data: an ephemeral public key")
	var rd [64]byte
	s := sha256.Sum256(rt)
	copy(rd[:], s[:])
	q, err := plat.Quote(id, rd)
	if err != nil {
		return f, err
	}
	for _, c := range []struct{ path, body string }{
		{"/admin/v1/releases", fmt.Sprintf(`{"app":"load","name":"v1","mrenclave":%q}`, hex.EncodeToString(id.MREnclave[:]))},
		{"/admin/v1/releases/load/v1/activate", ""},
	} {
		if err := post(f.url+c.path, adminBearer, []byte(c.body)); err != nil {
			return f, err
		}
	}
	f.body, _ = json.Marshal(map[string]any{
		"quote":       base64.RawURLEncoding.EncodeToString(q),
		"runtimeData": map[string]string{"data": base64.RawURLEncoding.EncodeToString(rt), "dataType": "Binary"},
	})
	// The floor verifies the same quote with the same collateral and trust.
	if f.quote, err = sgx.ParseQuote(q); err != nil {
		return f, err
	}
	req, err := dcap.CollateralRequestFor(f.quote)
	if err != nil {
		return f, err
	}
	if f.coll, err = plat.Get(ctx, req); err != nil {
		return f, err
	}
	pool := x509Pool(plat)
	f.opts = dcap.Options{InsecureSimulationRoots: pool}
	if f.key, err = attestd.LoadOrCreateSigningKey(f.dir, cfg.Issuer, time.Now()); err != nil {
		return f, err
	}
	return f, nil
}

func post(url, bearer string, body []byte) error {
	req, err := http.NewRequest("POST", url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+bearer)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s: HTTP %d: %s", url, resp.StatusCode, b)
	}
	return nil
}

func run(ctx context.Context, o options, progress io.Writer) (*report, error) {
	f, err := setup(ctx)
	if f != nil {
		defer f.close()
	}
	if err != nil {
		return nil, fmt.Errorf("setup: %w", err)
	}
	client := newRawClient(f.running.Addr, "/attest/SgxEnclave?api-version=2022-08-01", "attestd.load", f.body)
	defer client.close()
	do := func() error {
		status, err := client.do()
		if err != nil {
			return err
		}
		if status != http.StatusOK {
			return fmt.Errorf("HTTP %d", status)
		}
		return nil
	}
	if err := do(); err != nil {
		return nil, fmt.Errorf("first attestation: %w", err)
	}
	rep := &report{CPUs: runtime.GOMAXPROCS(0), OpenFraction: o.OpenLoopFraction}

	v := dcap.NewVerifier(f.opts)
	claims := floorClaims()
	// The floor's completions are also counted per 250 ms window: how much
	// the machine's own capacity varies within a run bounds what an open
	// loop at a fixed rate can achieve.
	windows := &windowCounter{every: 250 * time.Millisecond}
	floorOp := func() error {
		defer windows.n.Add(1)
		if _, err := v.Verify(f.quote, f.coll); err != nil {
			return err
		}
		_, err := f.key.Sign(claims)
		return err
	}
	// The floor, the closed-loop phases and the open-loop phase alternate in
	// rounds, so that load from other processes on the machine affects all of
	// them alike. Each round's open-loop rate is OpenLoopFraction of the best
	// closed-loop throughput of the same round: the machine's capacity drifts
	// by up to ±15% over tens of seconds (see docs/performance.md), and a
	// rate taken from another moment would offer 70% or 95% of what the
	// machine can then do rather than the fraction asked for.
	floor := &sample{}
	closed := make([]sample, len(o.Concurrency))
	open := &sample{}
	var offered float64
	for r := range o.Rounds {
		fmt.Fprintf(progress, "round %d/%d: floor (in-process verify + RS256 sign) ...\n", r+1, o.Rounds)
		stopWindows := windows.start()
		closedLoop(ctx, rep.CPUs, o, floorOp, floor)
		stopWindows()
		best := 0.0
		for i, c := range o.Concurrency {
			fmt.Fprintf(progress, "round %d/%d: HTTP closed loop, concurrency %d ...\n", r+1, o.Rounds, c)
			before := closed[i]
			closedLoop(ctx, c, o, do, &closed[i])
			best = max(best, float64(len(closed[i].lat)-len(before.lat))/(closed[i].elapsed-before.elapsed).Seconds())
		}
		rate := o.OpenLoopFraction * best
		fmt.Fprintf(progress, "round %d/%d: HTTP open loop at %.0f/s (%.0f%% of this round's peak %.0f/s) ...\n", r+1, o.Rounds, rate, 100*o.OpenLoopFraction, best)
		round := &sample{}
		if err := openLoop(ctx, rate, o, do, round); err != nil {
			return nil, err
		}
		rp := round.phase(phase{})
		fmt.Fprintf(progress, "round %d/%d: open loop done: %d requests, %d errors, p50 %.2f ms, p99 %.2f ms, CPU %.2f ms/request\n",
			r+1, o.Rounds, rp.Requests, rp.Errors, rp.P50ms, rp.P99ms, rp.CPUPerReq)
		open.add(round)
		offered += rate / float64(o.Rounds)
	}
	rep.Floor = floor.phase(phase{Name: "floor", Ratio: 1})
	rep.Capacity = windows.summary()
	for i, c := range o.Concurrency {
		p := closed[i].phase(phase{Name: "http closed", Concurrency: c})
		p.Ratio = p.Throughput / rep.Floor.Throughput
		rep.Phases = append(rep.Phases, p)
		rep.Peak = max(rep.Peak, p.Throughput)
	}
	p := open.phase(phase{Name: "http open", RateTarget: offered})
	p.Ratio = p.Throughput / rep.Floor.Throughput
	rep.Phases = append(rep.Phases, p)
	rep.Ratio = rep.Peak / rep.Floor.Throughput
	rep.OpenP99 = p.P99ms
	rep.GoalsMet = rep.Ratio >= goalRatio && p.P99ms < float64(goalOpenP99)/1e6
	for _, ph := range append(rep.Phases, rep.Floor) {
		if ph.Errors > 0 {
			rep.GoalsMet = false
		}
	}
	return rep, nil
}

// floorClaims is a claim set of the size attestd issues.
func floorClaims() map[string]any {
	h := hex.EncodeToString(make([]byte, 32))
	return map[string]any{
		"iss": "http://attestd.load", "iat": time.Now().Unix(), "nbf": time.Now().Unix(), "exp": time.Now().Add(8 * time.Hour).Unix(),
		"jti": h + h, "x-ms-ver": "1.0", "x-ms-attestation-type": "sgx", "x-ms-policy-hash": h[:43],
		"x-ms-sgx-mrenclave": h, "x-ms-sgx-mrsigner": h, "x-ms-sgx-product-id": 1, "x-ms-sgx-svn": 1,
		"x-ms-sgx-is-debuggable": false, "x-ms-sgx-report-data": h + h + h + h,
		"x-ms-sgx-collateral": map[string]any{"quotehash": h, "tcbinfohash": h, "qeidhash": h, "qeidcertshash": h, "qeidcrlhash": h, "tcbinfocertshash": h, "tcbinfocrlhash": h},
		"x-sgxops-release":    "v1", "x-sgxops-app": "load", "x-sgxops-simulated": true,
	}
}

// sample accumulates the measurements of one phase over rounds.
type sample struct {
	lat     []time.Duration
	errs    int
	elapsed time.Duration
	cpu     time.Duration // process CPU time (user + system) while measuring
}

// add merges the measurements of o into s.
func (s *sample) add(o *sample) {
	s.lat = append(s.lat, o.lat...)
	s.errs += o.errs
	s.elapsed += o.elapsed
	s.cpu += o.cpu
}

// cpuTime returns the CPU time this process has used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func (s *sample) phase(p phase) phase {
	p.Errors = s.errs
	p = summarize(p, s.lat, s.elapsed)
	if p.Requests > 0 {
		p.CPUPerReq = float64(s.cpu.Microseconds()) / 1000 / float64(p.Requests)
	}
	return p
}

// closedLoop runs n workers that each issue op back to back for one round
// (warm-up, then Duration/Rounds measured), adding to s.
func closedLoop(ctx context.Context, n int, o options, op func() error, s *sample) {
	var mu sync.Mutex
	var errs atomic.Int64
	var measuring atomic.Bool
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, 1024)
			for {
				select {
				case <-stop:
					mu.Lock()
					s.lat = append(s.lat, local...)
					mu.Unlock()
					return
				default:
				}
				t := time.Now()
				err := op()
				d := time.Since(t)
				if measuring.Load() {
					if err != nil {
						errs.Add(1)
					} else {
						local = append(local, d)
					}
				}
			}
		}()
	}
	sleep(ctx, o.Warmup)
	measuring.Store(true)
	start, cpu0 := time.Now(), cpuTime()
	sleep(ctx, o.Duration/time.Duration(o.Rounds))
	measuring.Store(false)
	s.elapsed += time.Since(start)
	s.cpu += cpuTime() - cpu0
	close(stop)
	wg.Wait()
	s.errs += int(errs.Load())
}

// openLoop offers requests at a fixed rate for one round (warm-up, then
// Duration/Rounds measured), each in its own goroutine, adding to s. Latency
// counts from the scheduled start, so queueing is included, also a late
// start of the generator itself.
func openLoop(ctx context.Context, rate float64, o options, op func() error, s *sample) error {
	if rate <= 0 {
		return fmt.Errorf("open loop: no requests completed in the closed-loop phases")
	}
	interval := time.Duration(float64(time.Second) / rate)
	var mu sync.Mutex
	var errs, inflight atomic.Int64
	var wg sync.WaitGroup
	fire := func(sched time.Time, record bool) {
		defer wg.Done()
		defer inflight.Add(-1)
		err := op()
		d := time.Since(sched)
		if !record {
			return
		}
		if err != nil {
			errs.Add(1)
			return
		}
		mu.Lock()
		s.lat = append(s.lat, d)
		mu.Unlock()
	}
	begin := time.Now()
	warmEnd := begin.Add(o.Warmup)
	measured := o.Duration / time.Duration(o.Rounds)
	end := warmEnd.Add(measured)
	var cpu0 time.Duration
	for i := 0; ; i++ {
		sched := begin.Add(time.Duration(i) * interval)
		if !sched.Before(end) || ctx.Err() != nil {
			break
		}
		if cpu0 == 0 && !sched.Before(warmEnd) {
			cpu0 = cpuTime()
		}
		if d := time.Until(sched); d > 0 {
			time.Sleep(d)
		}
		if inflight.Load() >= maxOpenInFly {
			errs.Add(1) // overloaded: count as an error rather than queue unboundedly
			continue
		}
		inflight.Add(1)
		wg.Add(1)
		go fire(sched, !sched.Before(warmEnd))
	}
	s.cpu += cpuTime() - cpu0
	wg.Wait()
	s.elapsed += measured
	s.errs += int(errs.Load())
	return nil
}

func summarize(p phase, lat []time.Duration, elapsed time.Duration) phase {
	p.Requests = len(lat)
	p.Throughput = float64(len(lat)) / elapsed.Seconds()
	if len(lat) == 0 {
		return p
	}
	slices.Sort(lat)
	q := func(f float64) float64 {
		i := int(f * float64(len(lat)-1))
		return float64(lat[i].Microseconds()) / 1000
	}
	p.P50ms, p.P99ms = q(0.50), q(0.99)
	return p
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
