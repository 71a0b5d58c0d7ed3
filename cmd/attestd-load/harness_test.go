package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestHarnessRuns runs the harness briefly: every phase must complete
// requests without errors and the report must print. The goals themselves
// are checked by "make load", not here (a unit test must not depend on the
// machine's speed).
func TestHarnessRuns(t *testing.T) {
	o := options{Duration: 300 * time.Millisecond, Warmup: 50 * time.Millisecond, Concurrency: []int{4}, OpenLoopFraction: 0.5, Rounds: 1}
	var progress bytes.Buffer
	rep, err := run(context.Background(), o, &progress)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range append(rep.Phases, rep.Floor) {
		if p.Requests == 0 || p.Errors != 0 || p.Throughput <= 0 || p.P99ms < p.P50ms {
			t.Errorf("phase %+v", p)
		}
	}
	if rep.Ratio <= 0 || len(rep.Phases) != 2 {
		t.Fatalf("report %+v", rep)
	}
	var out bytes.Buffer
	rep.print(&out)
	if !strings.Contains(out.String(), "x floor") || !strings.Contains(out.String(), "Open-loop p99") {
		t.Fatalf("printed report:\n%s", out.String())
	}
}
