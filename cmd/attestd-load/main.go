// Command attestd-load is the reproducible load harness of attestd. It starts
// a simulated SGX platform, its collateral server and attestd on loopback,
// then measures, in rounds that each run every phase once:
//
//   - the floor: in-process quote verification (dcap, warm caches) plus one
//     RS256 token signature per request, on all CPUs, without HTTP;
//   - closed-loop throughput and p50/p99 latency of POST /attest/SgxEnclave at
//     each concurrency (default 16 and 64);
//   - an open loop at 80% of the round's best closed-loop throughput, whose
//     p99 over all rounds is the latency goal.
//
// It prints a table with the throughput ratio to the floor, the CPU time per
// request, and how much the machine's own speed varied during the run. The
// goals are ratio >= 0.75 and open-loop p99 < 25 ms; with --check the exit
// status is 1 when one is missed. A failed request always makes the exit
// status 1. The load generator runs in the same process and on the same CPUs
// as attestd, so the figures include its cost.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"strings"
	"time"
)

func main() { os.Exit(runMain()) }

func runMain() int {
	var o options
	var conc string
	var asJSON, check bool
	var traceFile, cpuProfile string
	flag.DurationVar(&o.Duration, "duration", 6*time.Second, "measuring time of each phase, split over the rounds")
	flag.DurationVar(&o.Warmup, "warmup", 500*time.Millisecond, "warm-up time before each phase of each round")
	flag.IntVar(&o.Rounds, "rounds", 3, "rounds, each running the floor, the closed-loop phases and the open-loop phase")
	flag.StringVar(&conc, "concurrency", "16,64", "comma-separated closed-loop concurrencies")
	flag.Float64Var(&o.OpenLoopFraction, "open-loop-fraction", 0.8, "open-loop rate as a fraction of the round's peak throughput")
	flag.BoolVar(&asJSON, "json", false, "print the report as JSON")
	flag.BoolVar(&check, "check", false, "exit 1 when a goal is missed")
	flag.StringVar(&traceFile, "trace", "", "write a Go execution trace of the whole run to this file (go tool trace)")
	flag.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file (go tool pprof)")
	flag.Parse()
	if o.Rounds < 1 {
		o.Rounds = 1
	}
	if o.OpenLoopFraction <= 0 || o.OpenLoopFraction > 1 {
		fmt.Fprintf(os.Stderr, "attestd-load: --open-loop-fraction %v is not in (0, 1]\n", o.OpenLoopFraction)
		return 2
	}
	for _, s := range strings.Split(conc, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "attestd-load: bad --concurrency %q\n", conc)
			return 2
		}
		o.Concurrency = append(o.Concurrency, n)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	for _, prof := range []struct {
		file        string
		start       func(io.Writer) error
		stop        func()
		description string
	}{
		{traceFile, trace.Start, trace.Stop, "trace"},
		{cpuProfile, pprof.StartCPUProfile, pprof.StopCPUProfile, "cpu profile"},
	} {
		if prof.file == "" {
			continue
		}
		f, err := os.Create(prof.file)
		if err != nil {
			fmt.Fprintln(os.Stderr, "attestd-load:", err)
			return 1
		}
		if err := prof.start(f); err != nil {
			fmt.Fprintf(os.Stderr, "attestd-load: %s: %v\n", prof.description, err)
			return 1
		}
		defer func() { prof.stop(); f.Close() }()
	}
	rep, err := run(ctx, o, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "attestd-load:", err)
		return 1
	}
	if asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
	} else {
		rep.print(os.Stdout)
	}
	for _, p := range append(rep.Phases, rep.Floor) {
		if p.Errors > 0 {
			fmt.Fprintf(os.Stderr, "attestd-load: %d failed requests in phase %q\n", p.Errors, p.Name)
			return 1
		}
	}
	if check && !rep.GoalsMet {
		return 1
	}
	return 0
}
