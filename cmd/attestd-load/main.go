// Command attestd-load is the reproducible load harness of attestd. It starts
// a simulated SGX platform, its collateral server and attestd on loopback,
// then measures in one run:
//
//   - the floor: in-process quote verification (dcap, warm caches) plus one
//     RS256 token signature per request, on all CPUs, without HTTP;
//   - closed-loop throughput and p50/p99 latency of POST /attest/SgxEnclave at
//     each concurrency (default 16 and 64);
//   - an open-loop run at 80% of the best measured throughput, whose p99 is
//     the latency goal.
//
// It prints a table with the throughput ratio to the floor. The goals are
// ratio >= 0.75 and open-loop p99 < 25 ms; with --check the exit status is 1
// when one is missed. The load generator runs in the same process and on the
// same CPUs as attestd, so the ratio includes its cost.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"
)

func main() {
	var o options
	var conc string
	var asJSON, check bool
	flag.DurationVar(&o.Duration, "duration", 6*time.Second, "measuring time of each phase")
	flag.DurationVar(&o.Warmup, "warmup", 500*time.Millisecond, "warm-up time before each phase and round")
	flag.IntVar(&o.Rounds, "rounds", 3, "alternating rounds of the floor and closed-loop phases")
	flag.StringVar(&conc, "concurrency", "16,64", "comma-separated closed-loop concurrencies")
	flag.Float64Var(&o.OpenLoopFraction, "open-loop-fraction", 0.8, "open-loop rate as a fraction of the peak throughput")
	flag.BoolVar(&asJSON, "json", false, "print the report as JSON")
	flag.BoolVar(&check, "check", false, "exit 1 when a goal is missed")
	flag.Parse()
	if o.Rounds < 1 {
		o.Rounds = 1
	}
	for _, s := range strings.Split(conc, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "attestd-load: bad --concurrency %q\n", conc)
			os.Exit(2)
		}
		o.Concurrency = append(o.Concurrency, n)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep, err := run(ctx, o, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "attestd-load:", err)
		os.Exit(1)
	}
	if asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
	} else {
		rep.print(os.Stdout)
	}
	if check && !rep.GoalsMet {
		os.Exit(1)
	}
}
