// Package e2e is the real-cluster end-to-end test (make e2e, as root): a
// single-node Kubernetes cluster on this machine with real containers, the
// sgxops images and Helm chart in simulation mode, and the operator rolling
// the sample service out blue/green. Every check is made from outside the
// operator: through the Kubernetes API, attestd's admin API, the measurement
// computed here from the same source, and a client that attests.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	v1 "github.com/sgxops/sgxops/api/v1alpha1"
	"github.com/sgxops/sgxops/examples/aggregate"
	"github.com/sgxops/sgxops/internal/k8stest"
)

// Names the chart and the example fix (README, docs/operations.md).
const (
	sysNS       = "sgxops-system"
	appNS       = "default"
	appName     = "aggregate"
	attestdSvc  = "sgxops-attestd"
	attestdPort = 8080
	adminSecret = "sgxops-attestd-admin"
	simSecret   = "sgxops-sim"
	attestdURL  = "http://sgxops-attestd.sgxops-system.svc:8080"
	sampleImage = "sgxops.local/sample:0.1.0"
	appURL      = "http://aggregate.default.svc:8080"
)

// Extended resources and label a device plugin (Intel's, with NFD) puts on an
// SGX node; the test advertises them on the single node.
var sgxNode = struct {
	label, value string
	capacity     map[corev1.ResourceName]string
}{"intel.feature.node.kubernetes.io/sgx", "true",
	map[corev1.ResourceName]string{"sgx.intel.com/epc": "256Mi", "sgx.intel.com/enclave": "20"}}

func TestE2E(t *testing.T) {
	e := prerequisites(t)
	t0 := time.Now()
	defer func() { t.Logf("phases (total %.0fs):\n%s", time.Since(t0).Seconds(), e.phases) }()

	e.phase(t, "cluster start (etcd, apiserver, kcm, scheduler, containerd, kubelet, kube-proxy, CoreDNS)", func() {
		out := e.run(t, nil, "scripts/k8s/cluster.sh", "start")
		e.kubecfg = strings.TrimSpace(out)
		t.Cleanup(func() {
			if t.Failed() {
				e.diagnose(t)
			}
			if os.Getenv("SGXOPS_E2E_KEEP") == "1" {
				t.Logf("SGXOPS_E2E_KEEP=1: the cluster stays up (KUBECONFIG=%s); stop it with scripts/k8s/cluster.sh stop", e.kubecfg)
				return
			}
			if out, err := e.try(nil, "scripts/k8s/cluster.sh", "stop"); err != nil {
				t.Errorf("cluster stop: %v\n%s", err, out)
			}
			// Step 9: nothing left behind (processes, mounts, bridge, netns, iptables chains).
			if out, err := e.try(nil, "scripts/k8s/cluster.sh", "check-clean"); err != nil {
				t.Errorf("teardown left something behind: %v\n%s", err, out)
			}
		})
	})
	c := e.client(t)
	ctx := context.Background()
	node := strings.TrimSpace(e.kubectl(t, "get", "nodes", "-o", "jsonpath={.items[0].metadata.name}"))

	e.phase(t, "advertise SGX on the node (label + extended resources, as a device plugin does)", func() {
		e.kubectl(t, "label", "node", node, sgxNode.label+"="+sgxNode.value, "--overwrite")
		capacity := map[string]string{}
		for k, v := range sgxNode.capacity {
			capacity[string(k)] = v
		}
		patch, _ := json.Marshal(map[string]any{"status": map[string]any{"capacity": capacity}})
		e.kubectl(t, "patch", "node", node, "--subresource=status", "--type=merge", "-p", string(patch))
		eventually(t, 30*time.Second, "allocatable EPC", func() error {
			var n corev1.Node
			if err := c.Get(ctx, types.NamespacedName{Name: node}, &n); err != nil {
				return err
			}
			if q := n.Status.Allocatable["sgx.intel.com/epc"]; q.IsZero() {
				return fmt.Errorf("no sgx.intel.com/epc in allocatable yet")
			}
			return nil
		})
	})

	e.phase(t, "import images", func() {
		tars, _ := filepath.Glob(filepath.Join(e.images, "*.tar"))
		e.run(t, nil, "scripts/k8s/cluster.sh", append([]string{"import"}, tars...)...)
	})

	bin := t.TempDir()
	e.phase(t, "build the CLI and the sample client for the host", func() {
		e.run(t, nil, "go", "build", "-o", bin, "./cmd/sgxops", "./cmd/sgxops-sample")
	})

	e.phase(t, "install the chart (simulation values, attestd x3 on the Kubernetes store)", func() {
		e.kubectl(t, "create", "namespace", sysNS)
		sim := e.run(t, nil, filepath.Join(bin, "sgxops"), "sim", "init", "--output", "secret-yaml",
			"--secret-name", simSecret, "--namespace", sysNS)
		e.run(t, []byte(sim), filepath.Join(e.k8sBin, "kubectl"), "apply", "-f", "-")
		// The app's namespace gets the same platform: the sample's simulated quotes chain to the root attestd trusts.
		e.run(t, []byte(strings.ReplaceAll(sim, "namespace: "+sysNS, "namespace: "+appNS)),
			filepath.Join(e.k8sBin, "kubectl"), "apply", "-f", "-")
		e.run(t, nil, e.helm, "install", "sgxops", "deploy/helm/sgxops", "-n", sysNS,
			"-f", "deploy/helm/sgxops/values-simulation.yaml", "--set", "attestd.replicas=3",
			"--wait", "--timeout", "4m", "--kubeconfig", e.kubecfg)
		for _, d := range []string{"sgxops-attestd", "sgxops-operator"} {
			e.kubectl(t, "-n", sysNS, "rollout", "status", "deploy/"+d, "--timeout=120s")
		}
		ready := e.kubectl(t, "-n", sysNS, "get", "deploy", "sgxops-attestd", "-o", "jsonpath={.status.readyReplicas}")
		if strings.TrimSpace(ready) != "3" {
			t.Fatalf("attestd ready replicas = %q, want 3", ready)
		}
		tok := e.adminToken(t, c)
		e.kubectl(t, "-n", appNS, "create", "secret", "generic", "attestd-admin", "--from-literal=token="+tok)
	})

	att := e.portForward(t, sysNS, "svc/"+attestdSvc, attestdPort)
	adm := &admin{base: att, token: e.adminToken(t, c),
		// A port-forward to a Service sticks to one pod: after that pod is deleted, forward anew.
		reconnect: func() string { return e.portForward(t, sysNS, "svc/"+attestdSvc, attestdPort) }}

	e.phase(t, "rollout v1: build on the SGX node, measure, register, deploy, test, promote", func() {
		app := e.exampleApp(t)
		app.Spec.Rollout.DrainGrace = nil // set below, short, for the test's time
		app.Spec.SGX = v1.SGXSpec{Platform: v1.PlatformIntel, EPC: ptr(resource.MustParse("10Mi"))}
		if err := c.Create(ctx, app); err != nil {
			t.Fatal(err)
		}
		e.waitActive(t, c, "v1", 5*time.Minute)
	})
	e.checkRevision(t, c, adm, "v1", node)

	e.phase(t, "client in a pod: only attestd's URL and the app name", func() {
		out := e.clientJob(t, "client-v1", []string{"--calls", "2"})
		if !strings.Contains(out, `"v1": 2`) {
			t.Fatalf("in-cluster client did not reach v1:\n%s", out)
		}
	})
	e.phase(t, "client on the host through port-forwards, as a person would", func() {
		svc := e.portForward(t, appNS, "svc/"+appName, 8080)
		out := e.run(t, nil, filepath.Join(bin, "sgxops-sample"), "client", "--attestd", attestdURL,
			"--service", appURL, "--allow-simulated", "--values", "10,20,30",
			"--connect-to", "sgxops-attestd.sgxops-system.svc:8080="+strings.TrimPrefix(att, "http://"),
			"--connect-to", "aggregate.default.svc:8080="+strings.TrimPrefix(svc, "http://"))
		var rep struct {
			Failures int
			Last     struct {
				Result  struct{ Sum float64 }
				Release string
			}
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.Failures != 0 || rep.Last.Result.Sum != 60 || rep.Last.Release != "v1" {
			t.Fatalf("host client: %v\n%s", err, out)
		}
	})

	e.phase(t, "rollout v2 while a client attests in a loop; v1 drains, then retires", func() {
		// The loop must outlast the switch and v1's drain (20 s): a kept-alive
		// connection stays on v1 until v1 retires, then the client reconnects
		// to v2. 160 calls 500 ms apart cover a switch up to ~60 s in.
		e.clientJobAsync(t, "client-loop", []string{"--calls", "160", "--interval", "500ms"})
		clock := startRolloutClock(c, "v2")
		e.patchApp(t, `{"spec":{"revision":"v2","rollout":{"drainGrace":"20s"}}}`)
		e.waitActive(t, c, "v2", 5*time.Minute)
		clock.report(t, "v2")
		eventually(t, 60*time.Second, "v1 draining in attestd", func() error { return adm.state("v1", "draining", "retired") })
		eventually(t, 90*time.Second, "v1 retired in attestd", func() error { return adm.state("v1", "retired") })
	})
	e.checkRevision(t, c, adm, "v2", node)
	e.phase(t, "after the switch: the loop had no failure; a client pinning v1 is refused", func() {
		out := e.waitJob(t, "client-loop", 3*time.Minute)
		if !strings.Contains(out, `"failures": 0`) || !strings.Contains(out, `"v2"`) {
			t.Fatalf("client loop during the rollout:\n%s", out)
		}
		if out, err := e.clientJobErr(t, "client-pin-v1", []string{"--release", "v1"}); err == nil {
			t.Fatalf("a client pinning the retired v1 was accepted:\n%s", out)
		}
	})
	e.phase(t, "a cluster admin's hand edit of the trust set is refused at admission (the chart's policy)", func() {
		names := strings.Fields(e.kubectl(t, "-n", sysNS, "get", "attestdreleases", "-o", "name"))
		var v1 string
		for _, n := range names {
			if strings.HasSuffix(n, ".v1") {
				v1 = n
			}
		}
		if v1 == "" {
			t.Fatalf("no AttestdRelease for v1 among %v", names)
		}
		// Reactivating the retired v1 by hand, as the admin kubeconfig (system:masters).
		out, err := e.kubectlTry("-n", sysNS, "patch", v1, "--type=merge", "-p", `{"spec":{"state":"active"}}`)
		if err == nil || !strings.Contains(err.Error(), "written by attestd only") {
			t.Fatalf("kubectl patch %s: %v\n%s; want refused by the trust-set policy", v1, err, out)
		}
		if err := adm.state("v1", "retired"); err != nil {
			t.Fatal(err)
		}
	})

	e.phase(t, "rollout v3 as a DEBUG enclave: aborted, candidate revoked, traffic stays on v2", func() {
		app := e.getApp(t, c)
		args := append(append([]string{}, app.Spec.Runtime.Args...), "--sim-debug")
		patch, _ := json.Marshal(map[string]any{"spec": map[string]any{"revision": "v3",
			"runtime": map[string]any{"args": args},
			"rollout": map[string]any{"timeouts": map[string]any{"start": "25s"}}}})
		e.patchApp(t, string(patch))
		eventually(t, 3*time.Minute, "v3 failed", func() error {
			a := e.getApp(t, c)
			for _, r := range a.Status.Revisions {
				if r.Name == "v3" && r.Phase == v1.PhaseFailed {
					return nil
				}
			}
			return fmt.Errorf("revisions: %+v", a.Status.Revisions)
		})
		if err := adm.state("v3", "revoked"); err != nil {
			t.Fatal(err)
		}
		a := e.getApp(t, c)
		if a.Status.ActiveRevision != "v2" {
			t.Fatalf("active revision %q after the aborted v3", a.Status.ActiveRevision)
		}
		e.checkSelector(t, c, "v2")
		ev := e.kubectl(t, "-n", appNS, "get", "events", "--field-selector", "involvedObject.name="+appName)
		if !strings.Contains(ev, "v3") {
			t.Fatalf("no event about v3:\n%s", ev)
		}
		out := e.clientJob(t, "client-after-v3", nil)
		if !strings.Contains(out, `"v2": 1`) {
			t.Fatalf("client after the aborted v3:\n%s", out)
		}
	})

	e.phase(t, "fault: attestd pods deleted while a client attests in a loop", func() {
		e.clientJobAsync(t, "client-faults", []string{"--calls", "40", "--interval", "500ms"})
		e.waitJobRunning(t, "client-faults")
		for i := 0; i < 2; i++ {
			time.Sleep(4 * time.Second)
			var pods corev1.PodList
			e.kubectlJSON(t, &pods, "-n", sysNS, "get", "pods", "-l", "app.kubernetes.io/name=attestd")
			pod := ""
			for _, p := range pods.Items {
				if p.DeletionTimestamp == nil && pod == "" {
					pod = p.Name
				}
			}
			t.Logf("deleting attestd pod %s", pod)
			e.kubectl(t, "-n", sysNS, "delete", "pod", pod, "--wait=false")
		}
		out := e.waitJob(t, "client-faults", 3*time.Minute)
		if !strings.Contains(out, `"failures": 0`) {
			t.Fatalf("attestations failed beyond the client's retry policy (3 attempts, 1 s apart, on transport errors and 5xx/429):\n%s", out)
		}
		t.Logf("client during attestd pod deletions: %s", oneLine(out))
		e.kubectl(t, "-n", sysNS, "rollout", "status", "deploy/sgxops-attestd", "--timeout=120s")
	})

	e.phase(t, "fault: operator pod deleted mid-rollout (v4); the Service never selects an untested revision", func() {
		w := e.watchStableService(t, c)
		app := e.getApp(t, c)
		var args []string
		for _, a := range app.Spec.Runtime.Args {
			if a != "--sim-debug" {
				args = append(args, a)
			}
		}
		patch, _ := json.Marshal(map[string]any{"spec": map[string]any{"revision": "v4",
			"runtime": map[string]any{"args": args},
			"rollout": map[string]any{"timeouts": map[string]any{"start": "5m"}}}})
		e.patchApp(t, string(patch))
		eventually(t, 3*time.Minute, "the v4 Deployment", func() error {
			_, err := e.kubectlTry("-n", appNS, "get", "deploy", appName+"-v4")
			return err
		})
		op := strings.TrimSpace(e.kubectl(t, "-n", sysNS, "get", "pods", "-l", "app.kubernetes.io/name=operator",
			"-o", "jsonpath={.items[0].metadata.name}"))
		t.Logf("deleting operator pod %s while v4 is a candidate", op)
		e.kubectl(t, "-n", sysNS, "delete", "pod", op, "--wait=false")
		e.waitActive(t, c, "v4", 5*time.Minute)
		seen := w.stop()
		t.Logf("stable Service selected, in order: %v", seen)
		if len(seen) == 0 || seen[len(seen)-1] != "v4" {
			t.Fatalf("stable Service selections %v, want ... v4", seen)
		}
		for _, v := range w.violations {
			t.Error(v)
		}
		e.checkRevision(t, c, adm, "v4", node)
		if n := adm.count(t, "register", "v4"); n != 1 {
			t.Fatalf("v4 registered %d times in attestd's audit log, want 1", n)
		}
		if n := len(strings.Fields(e.kubectl(t, "-n", appNS, "get", "pods", "-l", "job-name="+appName+"-v4-build",
			"-o", "jsonpath={.items[*].metadata.name}"))); n != 1 {
			t.Fatalf("%d build pods for v4, want 1", n)
		}
	})

	e.phase(t, "fault: kubelet restart; running pods survive, the node comes back, clients keep working", func() {
		before := e.kubectl(t, "-n", appNS, "get", "pods", "-l", "sgxops.io/revision=v4,sgxops.io/component=runtime",
			"-o", "jsonpath={range .items[*]}{.metadata.name}={.status.containerStatuses[0].restartCount} {end}")
		e.run(t, nil, "scripts/k8s/cluster.sh", "restart-kubelet")
		time.Sleep(2 * time.Second)
		e.kubectl(t, "wait", "--for=condition=Ready", "node/"+node, "--timeout=120s")
		after := e.kubectl(t, "-n", appNS, "get", "pods", "-l", "sgxops.io/revision=v4,sgxops.io/component=runtime",
			"-o", "jsonpath={range .items[*]}{.metadata.name}={.status.containerStatuses[0].restartCount} {end}")
		if before != after {
			t.Fatalf("runtime pods changed across the kubelet restart: %q -> %q", before, after)
		}
		out := e.clientJob(t, "client-after-kubelet", nil)
		if !strings.Contains(out, `"v4": 1`) {
			t.Fatalf("client after the kubelet restart:\n%s", out)
		}
	})

	e.phase(t, "one-shot enclave Job (the oe-helloworld pattern): completion and logs in status", func() {
		e.kubectl(t, "-n", appNS, "apply", "-f", "deploy/examples/aggregate-oneshot-job.yaml")
		var rs v1.RevisionStatus
		eventually(t, 3*time.Minute, "the one-shot Job's revision active", func() error {
			var a v1.EnclaveApp
			if err := c.Get(ctx, types.NamespacedName{Namespace: appNS, Name: "aggregate-oneshot"}, &a); err != nil {
				return err
			}
			for _, r := range a.Status.Revisions {
				if r.Phase == v1.PhaseFailed {
					t.Fatalf("one-shot revision failed: %s\n%s", r.Message, r.Logs)
				}
			}
			if a.Status.ActiveRevision != "v1" || len(a.Status.Revisions) == 0 {
				return fmt.Errorf("status %+v", a.Status)
			}
			rs = a.Status.Revisions[0]
			return nil
		})
		m, _ := aggregate.Measure("v1")
		if !strings.Contains(rs.Logs, fmt.Sprintf("hello from the SIMULATED enclave aggregate v1 (MRENCLAVE %x)", m.MREnclave)) {
			t.Fatalf("status logs of the one-shot Job: %q", rs.Logs)
		}
		if out := e.kubectl(t, "-n", appNS, "get", "svc", "-l", "sgxops.io/app=aggregate-oneshot", "-o", "name"); strings.TrimSpace(out) != "" {
			t.Fatalf("a one-shot app got Services: %s", out)
		}
	})
}

func ptr[T any](v T) *T { return &v }

// rolloutClock polls (every 100 ms, uncached reads) the objects of a rollout
// and records when each step was first observed. The operator's own overhead
// is the sum of the gaps between one step's end and the next step's start
// (revision change -> build Job; build done -> Deployment; Deployment
// available -> test Job; test done -> Service switched): the time the Jobs and
// pods run is excluded, and the polling delay affects both ends of a gap alike.
type rolloutClock struct {
	mu     sync.Mutex // guards seen and order while the poller runs
	start  time.Time
	seen   map[string]time.Duration
	order  []string
	cancel context.CancelFunc
	done   chan struct{}
}

func startRolloutClock(c client.Client, rev string) *rolloutClock {
	ctx, cancel := context.WithCancel(context.Background())
	rc := &rolloutClock{start: time.Now(), seen: map[string]time.Duration{}, cancel: cancel, done: make(chan struct{})}
	mark := func(step string, ok bool) {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		if _, dup := rc.seen[step]; ok && !dup {
			rc.seen[step] = time.Since(rc.start)
			rc.order = append(rc.order, step)
		}
	}
	key := func(n string) types.NamespacedName { return types.NamespacedName{Namespace: appNS, Name: n} }
	go func() {
		defer close(rc.done)
		for ctx.Err() == nil {
			var j batchv1.Job
			if c.Get(ctx, key(appName+"-"+rev+"-build"), &j) == nil {
				mark("build Job created", true)
				mark("build Job done (built + measured)", j.Status.Succeeded > 0)
			}
			var d appsv1.Deployment
			if c.Get(ctx, key(appName+"-"+rev), &d) == nil {
				mark("Deployment created", true)
				mark("Deployment available (probe passes)", d.Spec.Replicas != nil && d.Status.AvailableReplicas >= *d.Spec.Replicas)
			}
			var tj batchv1.Job
			if c.Get(ctx, key(appName+"-"+rev+"-test"), &tj) == nil {
				mark("test Job created", true)
				mark("test Job done", tj.Status.Succeeded > 0)
			}
			var svc corev1.Service
			if c.Get(ctx, key(appName), &svc) == nil {
				mark("stable Service switched", svc.Spec.Selector["sgxops.io/revision"] == rev)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	return rc
}

// report waits until the clock has seen the last step (the test may notice
// the promotion through the EnclaveApp's status before the next poll), stops
// it, and logs the steps and the operator's overhead.
func (rc *rolloutClock) report(t *testing.T, rev string) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		rc.mu.Lock()
		_, ok := rc.seen["stable Service switched"]
		rc.mu.Unlock()
		if ok {
			break
		}
	}
	rc.cancel()
	<-rc.done
	var b strings.Builder
	for _, st := range rc.order {
		fmt.Fprintf(&b, "  %-40s %6.1fs\n", st, rc.seen[st].Seconds())
	}
	gap := func(from, to string) time.Duration {
		f, ok1 := rc.seen[from]
		tt, ok2 := rc.seen[to]
		if from == "" {
			f, ok1 = 0, true
		}
		if !ok1 || !ok2 {
			t.Errorf("rollout %s: step %q or %q not observed", rev, from, to)
			return 0
		}
		return tt - f
	}
	build := gap("build Job created", "build Job done (built + measured)")
	start := gap("Deployment created", "Deployment available (probe passes)")
	test := gap("test Job created", "test Job done")
	over := gap("", "build Job created") + gap("build Job done (built + measured)", "Deployment created") +
		gap("Deployment available (probe passes)", "test Job created") + gap("test Job done", "stable Service switched")
	total := rc.seen["stable Service switched"]
	t.Logf("rollout %s, observed every 100 ms from the revision change:\n%s"+
		"  build %.1fs, start %.1fs, test %.1fs; total %.1fs; operator overhead (measure, register, create, promote) %.1fs",
		rev, b.String(), build.Seconds(), start.Seconds(), test.Seconds(), total.Seconds(), over.Seconds())
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// waitJobRunning waits until the Job has a running pod.
func (e *env) waitJobRunning(t *testing.T, name string) {
	t.Helper()
	eventually(t, 60*time.Second, "job "+name+" running", func() error {
		out, err := e.kubectlTry("-n", appNS, "get", "pods", "-l", "job-name="+name, "-o", "jsonpath={.items[*].status.phase}")
		if err != nil || !strings.Contains(out, "Running") {
			return fmt.Errorf("pod phases %q %v", out, err)
		}
		return nil
	})
}

// serviceWatch records every revision the stable Service selects, and a
// violation whenever it selects a revision whose test Job has not succeeded.
type serviceWatch struct {
	watch      watch.Interface
	cancel     context.CancelFunc
	done       chan struct{}
	seen       []string
	violations []string
}

func (e *env) watchStableService(t *testing.T, c client.Client) *serviceWatch {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", e.kubecfg)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	wi, err := cs.CoreV1().Services(appNS).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + appName})
	if err != nil {
		t.Fatal(err)
	}
	w := &serviceWatch{watch: wi, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for ev := range wi.ResultChan() {
			svc, ok := ev.Object.(*corev1.Service)
			if !ok {
				continue
			}
			rev := svc.Spec.Selector["sgxops.io/revision"]
			if len(w.seen) > 0 && w.seen[len(w.seen)-1] == rev {
				continue
			}
			w.seen = append(w.seen, rev)
			if len(w.seen) == 1 {
				continue // the selection when the watch started, promoted earlier and checked then
			}
			var job batchv1.Job
			err := c.Get(context.Background(), types.NamespacedName{Namespace: appNS, Name: appName + "-" + rev + "-test"}, &job)
			if err != nil || job.Status.Succeeded < 1 {
				// A promoted revision's test Job may be cleaned up later, never before: it must exist and have succeeded now.
				w.violations = append(w.violations, fmt.Sprintf("stable Service selected %s (resourceVersion %s) while its test Job had not succeeded (%v, succeeded=%d)",
					rev, svc.ResourceVersion, err, job.Status.Succeeded))
			}
		}
	}()
	return w
}

func (w *serviceWatch) stop() []string {
	w.watch.Stop()
	w.cancel()
	<-w.done
	return w.seen
}

// diagnose logs what a person would look at after a failure.
func (e *env) diagnose(t *testing.T) {
	for _, args := range [][]string{
		{"get", "pods,jobs,deploy,svc,pvc,pv,enclaveapps", "-A", "-o", "wide"},
		{"-n", appNS, "get", "enclaveapp", appName, "-o", "yaml"},
		{"get", "events", "-A", "--sort-by=.lastTimestamp"},
		{"-n", appNS, "describe", "pods"},
		{"-n", sysNS, "logs", "deploy/sgxops-operator", "--tail=80"},
		{"-n", sysNS, "logs", "deploy/sgxops-attestd", "--tail=40"},
	} {
		out, err := e.kubectlTry(args...)
		t.Logf("$ kubectl %s\n%s%v", strings.Join(args, " "), out, errOrEmpty(err))
	}
}

func errOrEmpty(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// client returns a controller-runtime client for the cluster.
func (e *env) client(t *testing.T) client.Client {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", e.kubecfg)
	if err != nil {
		t.Fatal(err)
	}
	env, err := k8stest.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func (e *env) adminToken(t *testing.T, c client.Client) string {
	t.Helper()
	var s corev1.Secret
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: sysNS, Name: adminSecret}, &s); err != nil {
		t.Fatal(err)
	}
	tok := strings.TrimSpace(string(s.Data["token"]))
	if tok == "" {
		t.Fatalf("secret %s has no token", adminSecret)
	}
	return tok
}

// exampleApp reads deploy/examples/aggregate-bluegreen.yaml.
func (e *env) exampleApp(t *testing.T) *v1.EnclaveApp {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(e.root, "deploy", "examples", "aggregate-bluegreen.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var app v1.EnclaveApp
	if err := yaml.UnmarshalStrict(b, &app); err != nil {
		t.Fatal(err)
	}
	if app.Spec.Revision != "v1" || app.Name != appName {
		t.Fatalf("example is %s at %s, want %s at v1", app.Name, app.Spec.Revision, appName)
	}
	app.Namespace = appNS
	return &app
}

func (e *env) getApp(t *testing.T, c client.Client) *v1.EnclaveApp {
	t.Helper()
	var a v1.EnclaveApp
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: appNS, Name: appName}, &a); err != nil {
		t.Fatal(err)
	}
	return &a
}

func (e *env) patchApp(t *testing.T, patch string) {
	t.Helper()
	e.kubectl(t, "-n", appNS, "patch", "enclaveapp", appName, "--type=merge", "-p", patch)
}

func (e *env) waitActive(t *testing.T, c client.Client, rev string, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, "active revision "+rev, func() error {
		a := e.getApp(t, c)
		for _, r := range a.Status.Revisions {
			if r.Name == rev && r.Phase == v1.PhaseFailed {
				t.Fatalf("revision %s failed: %s", r.Name, r.Message)
			}
		}
		if a.Status.ActiveRevision != rev {
			return fmt.Errorf("active %q candidate %q revisions %+v", a.Status.ActiveRevision, a.Status.CandidateRevision, a.Status.Revisions)
		}
		return nil
	})
}

// checkRevision checks a promoted revision from outside the operator: the
// build ran on the SGX node with EPC, the Secret holds the MRENCLAVE computed
// here from the same source, attestd has it active, and the stable Service
// selects it.
func (e *env) checkRevision(t *testing.T, c client.Client, adm *admin, rev, node string) {
	t.Helper()
	m, err := aggregate.Measure(rev)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("%x", m.MREnclave)
	ctx := context.Background()
	var s corev1.Secret
	if err := c.Get(ctx, types.NamespacedName{Namespace: appNS, Name: appName + "-" + rev + "-measurement"}, &s); err != nil {
		t.Fatal(err)
	}
	if got := string(s.Data["mrenclave"]); got != want {
		t.Fatalf("secret MRENCLAVE %q, want %q (measured here from the same source)", got, want)
	}
	var pods corev1.PodList
	if err := c.List(ctx, &pods, client.InNamespace(appNS), client.MatchingLabels{"job-name": appName + "-" + rev + "-build"}); err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) == 0 {
		t.Fatalf("no build pod for %s", rev)
	}
	for _, p := range pods.Items {
		if p.Spec.NodeName != node || p.Spec.NodeSelector[sgxNode.label] != sgxNode.value {
			t.Fatalf("build pod %s on %q with selector %v", p.Name, p.Spec.NodeName, p.Spec.NodeSelector)
		}
		found := false
		for _, ct := range append(p.Spec.InitContainers, p.Spec.Containers...) {
			if _, ok := ct.Resources.Requests["sgx.intel.com/epc"]; ok {
				found = true
			}
		}
		if !found {
			t.Fatalf("build pod %s requests no EPC", p.Name)
		}
	}
	// The revision was tested in the cluster before it was promoted: its test Job (sgxops probe through the
	// revision's own Service) exists and succeeded.
	var tj batchv1.Job
	if err := c.Get(ctx, types.NamespacedName{Namespace: appNS, Name: appName + "-" + rev + "-test"}, &tj); err != nil || tj.Status.Succeeded < 1 {
		t.Fatalf("promoted revision %s has no successful test Job (%v, succeeded=%d)", rev, err, tj.Status.Succeeded)
	}
	r, err := adm.get(rev)
	if err != nil {
		t.Fatal(err)
	}
	if r.State != "active" || !strings.EqualFold(r.MREnclave, want) {
		t.Fatalf("attestd has %s/%s as %s with %s, want active with %s", appName, rev, r.State, r.MREnclave, want)
	}
	e.checkSelector(t, c, rev)
}

// checkSelector checks that the stable Service selects only rev's pods.
func (e *env) checkSelector(t *testing.T, c client.Client, rev string) {
	t.Helper()
	var svc corev1.Service
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: appNS, Name: appName}, &svc); err != nil {
		t.Fatal(err)
	}
	var pods corev1.PodList
	if err := c.List(context.Background(), &pods, client.InNamespace(appNS), client.MatchingLabels(svc.Spec.Selector)); err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) == 0 {
		t.Fatalf("stable Service selector %v selects no pod", svc.Spec.Selector)
	}
	for _, p := range pods.Items {
		if !podRunsRevision(p, rev) {
			t.Fatalf("stable Service selects pod %s, which does not run %s", p.Name, rev)
		}
	}
}

func podRunsRevision(p corev1.Pod, rev string) bool {
	for _, ct := range p.Spec.Containers {
		for _, ev := range ct.Env {
			if ev.Name == "SGXOPS_REVISION" && ev.Value == rev {
				return true
			}
		}
	}
	return false
}

// clientJob runs the sample client as a Job in the app's namespace and
// returns its output; it fails the test when the client fails.
func (e *env) clientJob(t *testing.T, name string, extra []string) string {
	t.Helper()
	out, err := e.clientJobErr(t, name, extra)
	if err != nil {
		t.Fatalf("client job %s: %v\n%s", name, err, out)
	}
	return out
}

func (e *env) clientJobErr(t *testing.T, name string, extra []string) (string, error) {
	t.Helper()
	e.clientJobAsync(t, name, extra)
	return e.waitJobErr(t, name, 3*time.Minute)
}

// clientJobAsync creates the client Job; waitJob waits for it.
func (e *env) clientJobAsync(t *testing.T, name string, extra []string) {
	t.Helper()
	args := append([]string{"client", "--attestd", attestdURL, "--service", appURL, "--allow-simulated"}, extra...)
	job := map[string]any{
		"apiVersion": "batch/v1", "kind": "Job",
		"metadata": map[string]any{"name": name, "namespace": appNS},
		"spec": map[string]any{"backoffLimit": 0, "template": map[string]any{"spec": map[string]any{
			"restartPolicy": "Never",
			"containers": []any{map[string]any{"name": "client", "image": sampleImage, "imagePullPolicy": "IfNotPresent",
				"command": []string{"/sgxops-sample"}, "args": args}},
		}}},
	}
	b, _ := json.Marshal(job)
	e.run(t, b, filepath.Join(e.k8sBin, "kubectl"), "apply", "-f", "-")
}

func (e *env) waitJob(t *testing.T, name string, timeout time.Duration) string {
	t.Helper()
	out, err := e.waitJobErr(t, name, timeout)
	if err != nil {
		t.Fatalf("job %s: %v\n%s", name, err, out)
	}
	return out
}

// waitJobErr waits for the Job to finish and returns its pod's log; err is
// non-nil when the Job failed.
func (e *env) waitJobErr(t *testing.T, name string, timeout time.Duration) (string, error) {
	t.Helper()
	var status string
	eventually(t, timeout, "job "+name, func() error {
		out, err := e.kubectlTry("-n", appNS, "get", "job", name, "-o",
			`jsonpath={range .status.conditions[?(@.status=="True")]}{.type}{" "}{end}`)
		if err != nil {
			return err
		}
		switch {
		case strings.Contains(out, "Complete"):
			status = "Complete"
		case strings.Contains(out, "Failed"):
			status = "Failed"
		default:
			return fmt.Errorf("conditions %q", out)
		}
		return nil
	})
	// The log is read through the kubelet, which can fail for a moment (seen once): retry, and say why if it never answers.
	var logs string
	eventually(t, 30*time.Second, "the log of job "+name, func() error {
		out, err := e.kubectlTry("-n", appNS, "logs", "job/"+name)
		if err != nil {
			return err
		}
		if strings.TrimSpace(out) == "" {
			return fmt.Errorf("empty log")
		}
		logs = out
		return nil
	})
	if status != "Complete" {
		return logs, fmt.Errorf("job %s failed", name)
	}
	return logs, nil
}

// admin reads attestd's admin API through a port-forward.
type admin struct {
	base, token string
	reconnect   func() string
}

// do sends an admin GET, forwarding anew once when the port-forward broke.
func (a *admin) do(path string) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		req, _ := http.NewRequest(http.MethodGet, a.base+path, nil)
		req.Header.Set("Authorization", "Bearer "+a.token)
		resp, err := http.DefaultClient.Do(req)
		if err == nil || attempt > 0 || a.reconnect == nil {
			return resp, err
		}
		a.base = a.reconnect()
	}
}

type releaseView struct {
	App, Name, State string
	MREnclave        string `json:"mrenclave"`
}

func (a *admin) get(rev string) (*releaseView, error) {
	resp, err := a.do("/admin/v1/releases/" + appName + "/" + rev)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("attestd: GET release %s: %d %s", rev, resp.StatusCode, bytes.TrimSpace(b))
	}
	var v releaseView
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("attestd: %w: %s", err, b)
	}
	return &v, nil
}

// count returns how many audit entries record action on appName/rev, paging
// through GET /admin/v1/audit.
func (a *admin) count(t *testing.T, action, rev string) int {
	t.Helper()
	n := 0
	after := uint64(0)
	for {
		resp, err := a.do(fmt.Sprintf("/admin/v1/audit?after=%d&limit=1000", after))
		if err != nil {
			t.Fatal(err)
		}
		var page struct {
			Next    *uint64 `json:"next"`
			Entries []struct {
				Seq                  uint64
				Action, App, Release string
			} `json:"entries"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("audit page after %d: %d %v", after, resp.StatusCode, err)
		}
		for _, en := range page.Entries {
			if en.Action == action && en.App == appName && en.Release == rev {
				n++
			}
		}
		if page.Next == nil {
			return n
		}
		after = *page.Next
	}
}

// state checks that rev is in one of the states.
func (a *admin) state(rev string, states ...string) error {
	v, err := a.get(rev)
	if err != nil {
		return err
	}
	for _, s := range states {
		if v.State == s {
			return nil
		}
	}
	return fmt.Errorf("%s/%s is %s, want %v", appName, rev, v.State, states)
}
