package controller

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	v1 "github.com/sgxops/sgxops/api/v1alpha1"
)

// countingTransport counts the manager's requests to the API server (a watch
// counts once, when it opens).
type countingTransport struct {
	rt http.RoundTripper
	n  *atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.rt.RoundTrip(r)
}

func countingConfig(n *atomic.Int64) *rest.Config {
	cfg := rest.CopyConfig(env.Config)
	cfg.QPS, cfg.Burst = 500, 1000 // measure the controller, not client-side throttling
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return &countingTransport{rt: rt, n: n} })
	return cfg
}

// stepClock records when the operator started something that takes real
// time in a cluster (a build Job, a Deployment, a test Job) and when the fake
// kubelet finished it, so that the benchmark can subtract that time.
type stepClock struct {
	mu      sync.Mutex
	started map[string]time.Time
	waited  time.Duration
}

func (s *stepClock) start(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.started[name] = time.Now()
}

// watchFinished adds, for each started object, the time until it is done.
func (s *stepClock) poll(ctx context.Context, ns string) {
	for ctx.Err() == nil {
		s.mu.Lock()
		names := make([]string, 0, len(s.started))
		for n := range s.started {
			names = append(names, n)
		}
		s.mu.Unlock()
		for _, n := range names {
			done := false
			var j batchv1.Job
			if err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: n}, &j); err == nil {
				st, _ := stateOf(&j)
				done = st != jobRunning
			} else {
				var d appsv1.Deployment
				if err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: n}, &d); err == nil {
					done = d.Status.AvailableReplicas == *d.Spec.Replicas && d.Status.ObservedGeneration == d.Generation
				}
			}
			if done {
				s.mu.Lock()
				if t0, ok := s.started[n]; ok {
					s.waited += time.Since(t0)
					delete(s.started, n)
				}
				s.mu.Unlock()
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (s *stepClock) take() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.waited
	s.waited = 0
	return w
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// BenchmarkRollout measures the controller's overhead from a change of
// spec.revision to the new revision Promoted (stable Service switched), minus
// the time the build Job, the Deployment and the test Job take to finish
// (here: how long the fake kubelet takes to notice them), and the API
// requests the manager makes per rollout, including retiring the previous
// revision (drainGrace 0).
func BenchmarkRollout(b *testing.B) {
	k8stestSkip(b)
	att := startAttestd(b)
	ns := namespace(b, att)
	startKubelet(b, ns)
	var reqs atomic.Int64
	clock := &stepClock{started: map[string]time.Time{}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go clock.poll(ctx, ns)
	startManager(b, ns, countingConfig(&reqs), Options{})
	app := newApp(ns, "bench", "r0", att.URL)
	app.Spec.Rollout.DrainGrace = &metav1.Duration{}
	if err := env.Client.Create(ctx, app); err != nil {
		b.Fatal(err)
	}
	waitPhase(b, ns, "bench", "r0", v1.PhaseActive, waitLong)
	var overheads, totals []time.Duration
	var reqTotal int64
	b.ResetTimer()
	for i := 1; i <= b.N; i++ {
		rev, prev := fmt.Sprintf("r%d", i), fmt.Sprintf("r%d", i-1)
		reqs.Store(0)
		t0 := time.Now()
		setRevision(b, ns, "bench", rev)
		clock.start(buildJobName("bench", rev)) // counted from the change: its creation is the controller's first step
		var promoted time.Duration
		started := map[string]bool{}
		for {
			a := getApp(b, ns, "bench")
			// Start the clock of the Deployment and the test Job when they appear.
			for _, n := range []string{deploymentName("bench", rev), testJobName("bench", rev)} {
				if !started[n] && exists(ctx, ns, n) {
					started[n] = true
					clock.start(n)
				}
			}
			if promoted == 0 && a.Status.ActiveRevision == rev {
				promoted = time.Since(t0)
			}
			if promoted > 0 && revStatus(a, prev).Phase == v1.PhaseRetired {
				break
			}
			if time.Since(t0) > waitLong {
				b.Fatalf("rollout %s: %s", rev, summary(a))
			}
			time.Sleep(2 * time.Millisecond)
		}
		waited := clock.take()
		totals = append(totals, promoted)
		overheads = append(overheads, promoted-waited)
		reqTotal += reqs.Load()
	}
	b.StopTimer()
	b.ReportMetric(float64(median(overheads).Milliseconds()), "overhead-ms-median")
	b.ReportMetric(float64(median(totals).Milliseconds()), "to-promoted-ms-median")
	b.ReportMetric(float64(reqTotal)/float64(b.N), "api-requests/rollout")
}

func exists(ctx context.Context, ns, name string) bool {
	var j batchv1.Job
	if env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &j) == nil {
		return true
	}
	var d appsv1.Deployment
	return env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &d) == nil
}

func reconcileTotal() float64 {
	mfs, err := crmetrics.Registry.Gather()
	if err != nil {
		return 0
	}
	var n float64
	for _, mf := range mfs {
		if mf.GetName() != "controller_runtime_reconcile_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "controller" && l.GetValue() == "enclaveapp" {
					n += m.GetCounter().GetValue()
				}
			}
		}
	}
	return n
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkSteadyState200 brings 200 EnclaveApps to Active, stops the fake
// kubelet, and then watches the manager idle for 10 s per iteration: its CPU
// (this process: manager, plus an idle attestd), reconciles and API requests
// per second (a hot loop shows here), and the heap after GC.
func BenchmarkSteadyState200(b *testing.B) {
	k8stestSkip(b)
	apps := 200
	if n, err := strconv.Atoi(os.Getenv("SGXOPS_BENCH_APPS")); err == nil && n > 0 {
		apps = n // a smaller run while investigating
	}
	att := startAttestd(b)
	ns := namespace(b, att)
	kctx, kstop := context.WithCancel(context.Background())
	k := &fakeKubelet{t: b, c: env.Client, ns: ns, measure: map[string]string{}, buildFail: map[string]bool{},
		testFail: map[string]bool{}, hold: map[string]bool{}, tested: map[string]bool{}}
	msg, _ := sampleMeasurement(b, "v1", false)
	k.measure["v1"] = msg
	kdone := make(chan struct{})
	go func() {
		defer close(kdone)
		for kctx.Err() == nil {
			k.step(kctx)
			time.Sleep(50 * time.Millisecond)
		}
	}()
	var reqs atomic.Int64
	startManager(b, ns, countingConfig(&reqs), Options{MaxConcurrentReconciles: 4})
	ctx := context.Background()
	t0, lastLog := time.Now(), time.Now()
	for i := 0; i < apps; i++ {
		a := newApp(ns, fmt.Sprintf("app%03d", i), "v1", att.URL)
		a.Spec.Runtime.Replicas = 1
		if err := env.Client.Create(ctx, a); err != nil {
			b.Fatal(err)
		}
	}
	eventually(b, 10*time.Minute, "all apps active", func() (bool, string) {
		var l v1.EnclaveAppList
		if err := env.Client.List(ctx, &l, client.InNamespace(ns)); err != nil {
			return false, err.Error()
		}
		n := 0
		for i := range l.Items {
			if l.Items[i].Status.ActiveRevision == "v1" {
				n++
			}
		}
		if time.Since(lastLog) > 15*time.Second {
			lastLog = time.Now()
			fmt.Fprintf(os.Stderr, "steady-state setup: %d/%d active after %s\n", n, apps, time.Since(t0).Round(time.Second))
		}
		return n == apps, fmt.Sprintf("%d/%d active", n, apps)
	})
	b.Logf("%d apps from create to Active in %s, %d API requests by the manager", apps, time.Since(t0).Round(time.Millisecond), reqs.Load())
	kstop()
	<-kdone
	time.Sleep(2 * time.Second) // let the last events settle
	b.ResetTimer()
	var cpu time.Duration
	var rec float64
	var req int64
	const window = 10 * time.Second
	for i := 0; i < b.N; i++ {
		c0, r0 := cpuTime(), reconcileTotal()
		reqs.Store(0)
		time.Sleep(window)
		cpu += cpuTime() - c0
		rec += reconcileTotal() - r0
		req += reqs.Load()
	}
	b.StopTimer()
	secs := window.Seconds() * float64(b.N)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(cpu.Milliseconds())/secs, "cpu-ms/s")
	b.ReportMetric(rec/secs, "reconciles/s")
	b.ReportMetric(float64(req)/secs, "api-requests/s")
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MiB")
}
