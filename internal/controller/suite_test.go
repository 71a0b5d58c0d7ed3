package controller

// Tests run against a real kube-apiserver + etcd (envtest, internal/k8stest)
// with the generated CRDs, and a real attestd (bbolt in t.TempDir()) on
// loopback. No kubelet and no kube-controller-manager run under envtest:
// the fake kubelet below (fakeKubelet) plays the Job controller, the
// Deployment controller and the kubelet by writing Pod, Job and Deployment
// status itself, through the status subresource, as they would. Garbage
// collection does not run either: tests check owner references, not
// cascades.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	v1 "github.com/sgxops/sgxops/api/v1alpha1"
	"github.com/sgxops/sgxops/attestd"
	attestdconfig "github.com/sgxops/sgxops/attestd/config"
	"github.com/sgxops/sgxops/audit"
	"github.com/sgxops/sgxops/enclave"
	"github.com/sgxops/sgxops/examples/aggregate"
	"github.com/sgxops/sgxops/internal/k8stest"
	"github.com/sgxops/sgxops/registry"
)

var env *k8stest.Env

// k8stestSkip skips (or fails, when SGXOPS_REQUIRE_K8S=1) without an API server.
func k8stestSkip(t testing.TB) {
	t.Helper()
	if env == nil {
		k8stest.Skip(t)
	}
}

func TestMain(m *testing.M) {
	var h slog.Handler = slog.DiscardHandler
	if os.Getenv("SGXOPS_TEST_LOG") != "" {
		h = slog.NewTextHandler(os.Stderr, nil)
	}
	ctrl.SetLogger(logr.FromSlogHandler(h))
	klog.SetLogger(logr.FromSlogHandler(h)) // client-go's own lines (e.g. a watch cut by a stopping manager)
	os.Exit(k8stest.Main(m, &env))
}

// testAttestd is a real attestd on loopback.
type testAttestd struct {
	URL, Token string
	r          *attestd.Running
}

func startAttestd(t testing.TB) *testAttestd {
	t.Helper()
	dir := t.TempDir()
	const token = "operator-test-admin-token-0123456789"
	h := sha256.Sum256([]byte(token))
	cfg := attestdconfig.Default()
	l := httptest.NewUnstartedServer(nil) // reserve a port: the issuer is the URL
	addr := l.Listener.Addr().String()
	l.Listener.Close()
	cfg.Listen, cfg.Issuer, cfg.InsecureHTTP, cfg.DataDir = addr, "http://"+addr, true, dir
	cfg.Collateral = attestdconfig.CollateralConfig{PCS: "http://127.0.0.1:1"} // never reached: no attestation here
	cfg.Auth.Tokens = []attestdconfig.StaticToken{{Name: "operator", SHA256: hex.EncodeToString(h[:]), Role: attestdconfig.RoleAdmin}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	r, err := attestd.Start(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Stop() })
	return &testAttestd{URL: cfg.Issuer, Token: token, r: r}
}

func (a *testAttestd) client() *attestdClient {
	return &attestdClient{base: a.URL, token: a.Token, hc: &http.Client{Timeout: 10 * time.Second}}
}

func (a *testAttestd) release(t testing.TB, app, name string) *registry.View {
	t.Helper()
	v, err := a.client().get(context.Background(), app, name)
	if isAttestdNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// auditCount counts audit entries of app/rel with action, reading every page
// of the log.
func (a *testAttestd) auditCount(t testing.TB, app, rel string, action audit.Action) int {
	t.Helper()
	n := 0
	var after uint64
	for {
		resp, err := http.Get(fmt.Sprintf("%s/admin/v1/audit?after=%d&limit=1000", a.URL, after))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var page struct {
			Entries []audit.Entry `json:"entries"`
		}
		if err := json.Unmarshal(b, &page); err != nil {
			t.Fatalf("audit: %v: %s", err, b)
		}
		if len(page.Entries) == 0 {
			return n
		}
		for _, e := range page.Entries {
			if e.App == app && e.Release == rel && e.Action == action {
				n++
			}
			after = e.Seq
		}
	}
}

var nsSeq atomic.Int64

// namespace makes a fresh namespace with the attestd admin token Secret.
func namespace(t testing.TB, att *testAttestd) string {
	t.Helper()
	ns := fmt.Sprintf("t%d-%d", time.Now().UnixNano()%1e6, nsSeq.Add(1))
	ctx := context.Background()
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	if att != nil {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "attestd-admin", Namespace: ns},
			StringData: map[string]string{"token": att.Token}}
		if err := env.Client.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	return ns
}

// newApp is the sample service as a blue/green app in simulation (the same
// shape as deploy/examples/aggregate-bluegreen.yaml).
func newApp(ns, name, rev, attestdURL string) *v1.EnclaveApp {
	return &v1.EnclaveApp{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: v1.EnclaveAppSpec{
			Revision: rev,
			Attestd: v1.AttestdSpec{URL: attestdURL, AdminTokenSecret: v1.SecretKeySelector{Name: "attestd-admin"},
				AllowSimulated: true},
			Build: &v1.BuildSpec{Image: "sgxops.local/sample:0.1.0",
				Command:      []string{"/sgxops-sample", "--write-sgxs", "/artifacts/aggregate.sgxs", "--version", "$(SGXOPS_REVISION)"},
				ArtifactPath: "/artifacts/aggregate.sgxs"},
			Runtime: v1.RuntimeSpec{Image: "sgxops.local/sample:0.1.0", Command: []string{"/sgxops-sample"},
				Args: []string{"--listen", ":8080", "--version", "$(SGXOPS_REVISION)", "--provider", "sim", "--sim-dir", "/sgxops-sim"},
				Port: 8080, Replicas: 2},
			Rollout:    v1.RolloutSpec{DrainGrace: &metav1.Duration{Duration: 2 * time.Second}},
			Simulation: &v1.SimulationSpec{PlatformSecret: "sgxops-sim"},
		},
	}
}

// sampleMeasurement is what `sgxops measure --output json` prints for the
// sample's build of rev: the real artifact, measured by package enclave.
func sampleMeasurement(t testing.TB, rev string, debug bool) (msg, mrenclave string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "aggregate.sgxs")
	if err := aggregate.WriteImage(p, rev); err != nil {
		t.Fatal(err)
	}
	m, err := enclave.Measure(p)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	sum := sha256.Sum256(b)
	mr := hex.EncodeToString(m.MREnclave[:])
	entry := map[string]any{"file": "/artifacts/aggregate.sgxs", "format": "sgxs", "artifact_sha256": hex.EncodeToString(sum[:]),
		"mrenclave": mr, "some_future_field": 1}
	if debug {
		entry["debug"] = true
	}
	out, _ := json.Marshal([]any{entry})
	return string(out), mr
}

// fakeKubelet stands in for the Job and Deployment controllers and the
// kubelet (none run under envtest): it finishes Jobs with the outcome the
// test chose, writing the pod's termination message as the real container
// would, and marks Deployments available.
type fakeKubelet struct {
	t  testing.TB
	c  client.Client
	ns string

	mu        sync.Mutex
	measure   map[string]string // revision -> termination message
	buildFail map[string]bool
	testFail  map[string]bool
	hold      map[string]bool // test Jobs of these revisions stay running
	tested    map[string]bool // app/revision whose test Job we passed
	noDeploy  bool
}

func startKubelet(t testing.TB, ns string) *fakeKubelet {
	k := &fakeKubelet{t: t, c: env.Client, ns: ns, measure: map[string]string{}, buildFail: map[string]bool{},
		testFail: map[string]bool{}, hold: map[string]bool{}, tested: map[string]bool{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			k.step(ctx)
			time.Sleep(15 * time.Millisecond)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return k
}

func (k *fakeKubelet) set(f func(k *fakeKubelet)) {
	k.mu.Lock()
	defer k.mu.Unlock()
	f(k)
}

func (k *fakeKubelet) wasTested(app, rev string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.tested[app+"/"+rev]
}

func (k *fakeKubelet) step(ctx context.Context) {
	var jobs batchv1.JobList
	if err := k.c.List(ctx, &jobs, client.InNamespace(k.ns)); err != nil {
		return
	}
	for i := range jobs.Items {
		j := &jobs.Items[i]
		if st, _ := stateOf(j); st != jobRunning {
			continue
		}
		app, rev := j.Labels[v1.LabelApp], j.Labels[v1.LabelRevision]
		k.mu.Lock()
		var ok bool
		var msg string
		switch j.Labels[v1.LabelComponent] {
		case componentBuild:
			msg, ok = k.measure[rev], !k.buildFail[rev]
			if msg == "" && ok {
				k.mu.Unlock()
				msg, _ = sampleMeasurement(k.t, rev, false)
				k.mu.Lock()
			}
		case componentTest:
			if k.hold[rev] {
				k.mu.Unlock()
				continue
			}
			ok = !k.testFail[rev]
			if ok {
				k.tested[app+"/"+rev] = true
			} else {
				msg = "probe: token names release " + rev + " but attestation failed: quote rejected"
			}
		default:
			ok, msg = true, "hello from the enclave"
		}
		k.mu.Unlock()
		k.finish(ctx, j, ok, msg)
	}
	k.mu.Lock()
	noDeploy := k.noDeploy
	k.mu.Unlock()
	if noDeploy {
		return
	}
	var deps appsv1.DeploymentList
	if err := k.c.List(ctx, &deps, client.InNamespace(k.ns)); err != nil {
		return
	}
	for i := range deps.Items {
		d := &deps.Items[i]
		n := *d.Spec.Replicas
		if d.Status.ObservedGeneration == d.Generation && d.Status.AvailableReplicas == n {
			continue
		}
		d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: n, UpdatedReplicas: n,
			ReadyReplicas: n, AvailableReplicas: n}
		_ = k.c.Status().Update(ctx, d)
	}
}

// finish runs j's pod to completion: the pod with its termination message
// first, then the Job's status, in the order the kubelet and the Job
// controller write them.
func (k *fakeKubelet) finish(ctx context.Context, j *batchv1.Job, ok bool, msg string) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: j.Name + "-x", Namespace: j.Namespace,
		Labels: j.Spec.Template.Labels}, Spec: *j.Spec.Template.Spec.DeepCopy()}
	if err := k.c.Create(ctx, pod); err != nil && !apierrors.IsAlreadyExists(err) {
		k.t.Logf("fake kubelet: pod: %v", err)
		return
	}
	now := metav1.Now()
	term := func(c corev1.Container, code int32, m string) corev1.ContainerStatus {
		return corev1.ContainerStatus{Name: c.Name, Image: c.Image, ImageID: c.Image + "@sha256:" + strings.Repeat("ab", 32),
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Message: m,
				StartedAt: now, FinishedAt: now, Reason: "Completed"}}}
	}
	pod.Status.Phase = corev1.PodSucceeded
	for _, c := range pod.Spec.InitContainers {
		pod.Status.InitContainerStatuses = append(pod.Status.InitContainerStatuses, term(c, 0, ""))
	}
	code := int32(0)
	if !ok {
		code, pod.Status.Phase = 1, corev1.PodFailed
	}
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{term(pod.Spec.Containers[0], code, msg)}
	if err := k.c.Status().Update(ctx, pod); err != nil {
		k.t.Logf("fake kubelet: pod status: %v", err)
		return
	}
	j.Status.StartTime = &now
	if ok {
		j.Status.Succeeded = 1
		j.Status.CompletionTime = &now
		j.Status.Conditions = []batchv1.JobCondition{
			{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: now, LastProbeTime: now},
			{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: now, LastProbeTime: now}}
	} else {
		j.Status.Failed = 1
		j.Status.Conditions = []batchv1.JobCondition{
			{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", LastTransitionTime: now, LastProbeTime: now},
			{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit", LastTransitionTime: now, LastProbeTime: now}}
	}
	if err := k.c.Status().Update(ctx, j); err != nil {
		k.t.Logf("fake kubelet: job status: %v", err)
	}
}

// manager is a running operator manager.
type manager struct {
	cancel context.CancelFunc
	done   chan error
}

func (m *manager) stop() error {
	m.cancel()
	return <-m.done
}

// startManager starts the operator on the test API server, watching ns,
// with leader election (released on stop, as the real one does).
func startManager(t testing.TB, ns string, cfg *rest.Config, opts Options) *manager {
	t.Helper()
	if cfg == nil {
		cfg = env.Config
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                        env.Scheme,
		Cache:                         CacheOptions(ns),
		Metrics:                       metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress:        "0",
		LeaderElection:                true,
		LeaderElectionID:              "sgxops-operator-test",
		LeaderElectionNamespace:       ns,
		LeaderElectionReleaseOnCancel: true,
		// Generous: the test machine is shared, and a lost lease stops the manager.
		LeaseDuration: ptr.To(60 * time.Second), RenewDeadline: ptr.To(45 * time.Second),
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := New(mgr.GetClient(), mgr.GetAPIReader(), mgr.GetEventRecorder("sgxops-operator"), opts)
	if err := r.SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &manager{cancel: cancel, done: make(chan error, 1)}
	go func() { m.done <- mgr.Start(ctx) }()
	t.Cleanup(func() { cancel() })
	return m
}

// eventually polls cond until it holds or timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		ok, s := cond()
		if ok {
			return
		}
		last = s
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s; last: %s", timeout, what, last)
}

func getApp(t testing.TB, ns, name string) *v1.EnclaveApp {
	t.Helper()
	var a v1.EnclaveApp
	if err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, &a); err != nil {
		t.Fatal(err)
	}
	return &a
}

func revStatus(a *v1.EnclaveApp, name string) v1.RevisionStatus {
	for _, r := range a.Status.Revisions {
		if r.Name == name {
			return r
		}
	}
	return v1.RevisionStatus{}
}

func summary(a *v1.EnclaveApp) string {
	var b strings.Builder
	fmt.Fprintf(&b, "active=%q candidate=%q", a.Status.ActiveRevision, a.Status.CandidateRevision)
	for _, r := range a.Status.Revisions {
		fmt.Fprintf(&b, " [%s %s %q]", r.Name, r.Phase, r.Message)
	}
	for _, c := range a.Status.Conditions {
		fmt.Fprintf(&b, " %s=%s(%s)", c.Type, c.Status, c.Reason)
	}
	return b.String()
}

// waitPhase waits until revision rev of ns/name is in phase p.
func waitPhase(t testing.TB, ns, name, rev string, p v1.RevisionPhase, timeout time.Duration) *v1.EnclaveApp {
	t.Helper()
	var a *v1.EnclaveApp
	eventually(t, timeout, fmt.Sprintf("%s %s", rev, p), func() (bool, string) {
		a = getApp(t, ns, name)
		return revStatus(a, rev).Phase == p, summary(a)
	})
	return a
}

func condition(a *v1.EnclaveApp, typ string) metav1.Condition {
	if c := meta.FindStatusCondition(a.Status.Conditions, typ); c != nil {
		return *c
	}
	return metav1.Condition{}
}

func setRevision(t testing.TB, ns, name, rev string) {
	t.Helper()
	a := getApp(t, ns, name)
	patch := client.MergeFrom(a.DeepCopy())
	a.Spec.Revision = rev
	if err := env.Client.Patch(context.Background(), a, patch); err != nil {
		t.Fatal(err)
	}
}

// serviceWatch asserts, on every version of the stable Service it sees,
// that the selected revision has passed its test.
type serviceWatch struct {
	mu         sync.Mutex
	seen       []string
	violations []string
	stop       func()
}

func watchService(t testing.TB, ns, name string, k *fakeKubelet) *serviceWatch {
	t.Helper()
	wc, err := client.NewWithWatch(env.Config, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	w, err := wc.Watch(context.Background(), &corev1.ServiceList{}, client.InNamespace(ns),
		client.MatchingFields{"metadata.name": name})
	if err != nil {
		t.Fatal(err)
	}
	sw := &serviceWatch{stop: w.Stop}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			svc, ok := ev.Object.(*corev1.Service)
			if !ok {
				continue
			}
			rev := svc.Spec.Selector[v1.LabelRevision]
			sw.mu.Lock()
			sw.seen = append(sw.seen, fmt.Sprintf("%s:%s@%s", ev.Type, rev, svc.ResourceVersion))
			if !k.wasTested(name, rev) {
				sw.violations = append(sw.violations, fmt.Sprintf("%s selects untested revision %q (rv %s)", name, rev, svc.ResourceVersion))
			}
			sw.mu.Unlock()
		}
	}()
	t.Cleanup(func() { w.Stop(); <-done })
	return sw
}

func (sw *serviceWatch) check(t testing.TB, wantVersions int) {
	t.Helper()
	time.Sleep(100 * time.Millisecond) // let the last events arrive
	sw.mu.Lock()
	defer sw.mu.Unlock()
	for _, v := range sw.violations {
		t.Error(v)
	}
	if len(sw.seen) < wantVersions {
		t.Errorf("saw %d versions of the stable Service, want >= %d: %v", len(sw.seen), wantVersions, sw.seen)
	}
}
