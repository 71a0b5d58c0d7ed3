package controller

import (
	"context"
	"errors"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/sgxops/sgxops/api/v1alpha1"
	"github.com/sgxops/sgxops/audit"
	"github.com/sgxops/sgxops/release"
)

var errCrash = errors.New("test: manager killed after this step")

// TestCrashSafety stops the manager right after every step it takes (each
// object created or deleted, each attestd call, each status write) and
// starts a new one on the same API server, through a whole v1 -> v2 rollout
// and v1's retirement. The rollout must finish with one build Job, one test
// Job and one registration per revision (counted in attestd's audit log),
// and the stable Service must never select a revision that has not passed
// its test (checked on every version of it the watch delivers).
func TestCrashSafety(t *testing.T) {
	k8stestSkip(t)
	att := startAttestd(t)
	ns := namespace(t, att)
	k := startKubelet(t, ns)
	ctx := context.Background()
	sw := watchService(t, ns, "crash", k)

	var (
		mu       sync.Mutex
		steps    []string
		managers int
	)
	run := func(goal func() bool) {
		deadline := time.Now().Add(2 * time.Minute)
		for !goal() {
			if time.Now().After(deadline) {
				t.Fatalf("no progress after %d managers; steps %v; %s", managers, steps, summary(getApp(t, ns, "crash")))
			}
			var dead atomic.Bool
			crashed := make(chan struct{})
			m := startManager(t, ns, nil, Options{AfterAction: func(_ types.NamespacedName, action string) error {
				if dead.Swap(true) {
					return errCrash
				}
				mu.Lock()
				steps = append(steps, action)
				mu.Unlock()
				close(crashed)
				return errCrash
			}})
			managers++
			select {
			case <-crashed:
			case <-time.After(3 * time.Second): // idle: waiting for the fake kubelet or a timer
			}
			if err := m.stop(); err != nil {
				t.Fatalf("manager: %v", err)
			}
		}
	}

	if err := env.Client.Create(ctx, newApp(ns, "crash", "v1", att.URL)); err != nil {
		t.Fatal(err)
	}
	run(func() bool { return revStatus(getApp(t, ns, "crash"), "v1").Phase == v1.PhaseActive })
	setRevision(t, ns, "crash", "v2")
	run(func() bool {
		a := getApp(t, ns, "crash")
		return revStatus(a, "v2").Phase == v1.PhaseActive && revStatus(a, "v1").Phase == v1.PhaseRetired
	})
	t.Logf("%d managers, %d steps: %s", managers, len(steps), strings.Join(steps, ", "))

	for _, rel := range []string{"v1", "v2"} {
		for _, act := range []audit.Action{audit.ActionRegister, audit.ActionActivate} {
			if n := att.auditCount(t, "crash", rel, act); n != 1 {
				t.Errorf("attestd audit: %s %s %d times, want 1", act, rel, n)
			}
		}
	}
	if n := att.auditCount(t, "crash", "v1", audit.ActionRetire); n != 1 {
		t.Errorf("v1 retired %d times", n)
	}
	if v := att.release(t, "crash", "v2"); v.State != release.Active {
		t.Errorf("attestd v2: %s", v.State)
	}
	// One build and one test Job per revision, each created once: the fake
	// kubelet finished every Job it saw, and a re-created Job would have a
	// second pod.
	var jobs batchv1.JobList
	if err := env.Client.List(ctx, &jobs, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, j := range jobs.Items {
		if j.DeletionTimestamp == nil {
			names = append(names, j.Name)
		}
	}
	sort.Strings(names)
	if got := strings.Join(names, " "); got != "crash-v2-build crash-v2-test" {
		t.Errorf("Jobs: %s", got)
	}
	counts := map[string]int{}
	for _, s := range steps {
		counts[s]++
	}
	for _, s := range []string{"create-build-job", "create-test-job", "register", "activate"} {
		if counts[s] != 2 {
			t.Errorf("step %s taken %d times, want 2 (one per revision)", s, counts[s])
		}
	}
	sw.check(t, 2)
}
