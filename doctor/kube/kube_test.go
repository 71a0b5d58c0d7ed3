package kube

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strconv"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sgxops/sgxops/doctor"
	"github.com/sgxops/sgxops/internal/demo"
	"github.com/sgxops/sgxops/internal/k8stest"
)

var env *k8stest.Env

func TestMain(m *testing.M) { os.Exit(k8stest.Main(m, &env)) }

// No kubelet or controllers run under envtest: the test writes node
// allocatable, DaemonSet status and EndpointSlices itself, as the kubelet, the
// DaemonSet controller and the EndpointSlice controller would.

func mkNode(t *testing.T, c client.Client, name string, labels map[string]string, epc corev1.ResourceName, qty string) {
	t.Helper()
	ctx := context.Background()
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	if err := c.Create(ctx, n); err != nil {
		t.Fatal(err)
	}
	if epc != "" {
		n.Status.Allocatable = corev1.ResourceList{epc: resource.MustParse(qty), corev1.ResourceCPU: resource.MustParse("4")}
		n.Status.Capacity = n.Status.Allocatable
		if err := c.Status().Update(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
}

func mkDaemonSet(t *testing.T, c client.Client, ns, name string, desired, ready int32) {
	t.Helper()
	ctx := context.Background()
	ds := &appsv1.DaemonSet{}
	err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, ds)
	if err != nil {
		labels := map[string]string{"app": name}
		ds = &appsv1.DaemonSet{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: appsv1.DaemonSetSpec{
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "example.invalid/c:1"}}},
				},
			},
		}
		if err := c.Create(ctx, ds); err != nil {
			t.Fatal(err)
		}
	}
	ds.Status = appsv1.DaemonSetStatus{DesiredNumberScheduled: desired, CurrentNumberScheduled: desired, NumberReady: ready}
	if err := c.Status().Update(ctx, ds); err != nil {
		t.Fatal(err)
	}
}

// podNet maps made-up pod addresses (IP:8080) to loopback servers: the API
// server refuses loopback addresses in EndpointSlices, so the slices carry pod
// IPs and the test's HTTP client dials the loopback server behind each.
type podNet struct {
	mu   sync.Mutex
	next int
	addr map[string]string
}

func (n *podNet) client() *http.Client {
	d := &net.Dialer{}
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
		n.mu.Lock()
		real, ok := n.addr[a]
		n.mu.Unlock()
		if !ok {
			real = a // --attestd-url: a loopback URL, dialed as is
		}
		return d.DialContext(ctx, network, real)
	}}}
}

// mkSlice publishes the loopback server at rawURL as pod's endpoint of the
// sgxops-attestd Service in ns.
func (n *podNet) mkSlice(t *testing.T, c client.Client, ns, pod, rawURL string) {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	n.mu.Lock()
	n.next++
	host := "10.244.0." + strconv.Itoa(n.next)
	n.addr[net.JoinHostPort(host, "8080")] = u.Host
	n.mu.Unlock()
	p := int32(8080)
	ready := true
	s := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "sgxops-attestd-" + pod,
			Labels: map[string]string{discoveryv1.LabelServiceName: "sgxops-attestd"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{host}, Conditions: discoveryv1.EndpointConditions{Ready: &ready},
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: pod}}},
		Ports: []discoveryv1.EndpointPort{{Name: ptr("http"), Port: &p}},
	}
	if err := c.Create(context.Background(), s); err != nil {
		t.Fatal(err)
	}
}

func ptr[T any](v T) *T { return &v }

func mkNamespace(t *testing.T, c client.Client, name string) string {
	t.Helper()
	if err := c.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatal(err)
	}
	return name
}

func statuses(rs []doctor.Result) map[string]doctor.Result {
	m := map[string]doctor.Result{}
	for _, r := range rs {
		m[r.ID] = r
	}
	return m
}

func TestRun(t *testing.T) {
	k8stest.Skip(t)
	c := env.Client
	ctx := context.Background()

	// Real attestd (the demo's loopback lab, SIMULATED platform); a second lab
	// has other signing keys; a reverse proxy is a second replica of the first.
	lab1, err := demo.StartLab(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(lab1.Close)
	lab2, err := demo.StartLab(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(lab2.Close)
	u1, _ := url.Parse(lab1.AttestdURL())
	replica := httptest.NewServer(httputil.NewSingleHostReverseProxy(u1))
	t.Cleanup(replica.Close)
	notReady := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "store not in sync", http.StatusServiceUnavailable)
	}))
	t.Cleanup(notReady.Close)

	pods := &podNet{addr: map[string]string{}}
	seen := map[string]map[doctor.Status]bool{}
	step := func(name string, opts Options, want map[string]doctor.Status) {
		t.Helper()
		opts.Client = c
		opts.HTTPClient = pods.client()
		got := statuses(Run(ctx, opts))
		for id, r := range got {
			if seen[id] == nil {
				seen[id] = map[doctor.Status]bool{}
			}
			seen[id][r.Status] = true
			if r.Status != doctor.OK && r.Fix == "" {
				t.Errorf("%s: %s: %s without fix", name, id, r.Status)
			}
		}
		for id, st := range want {
			if got[id].Status != st {
				t.Errorf("%s: %s = %s (%s), want %s", name, id, got[id].Status, got[id].Reason, st)
			}
		}
	}

	empty := mkNamespace(t, c, "doctor-empty")
	step("empty cluster", Options{Namespace: empty}, map[string]doctor.Status{
		"k8s.sgx-nodes": doctor.Fail, "k8s.epc": doctor.Fail, "k8s.device-plugin": doctor.Fail,
		"k8s.quote-helper": doctor.OK, "k8s.attestd-ready": doctor.Fail, "k8s.attestd-certs": doctor.Fail,
	})

	mkNode(t, c, "aks-sgx-0", nil, EPCAKS, "8192")
	step("AKS node with EPC but no label", Options{Namespace: empty}, map[string]doctor.Status{
		"k8s.sgx-nodes": doctor.Warn, "k8s.epc": doctor.OK, "k8s.quote-helper": doctor.Warn,
	})

	mkNode(t, c, "aks-sgx-1", map[string]string{"sgxops.io/sgx": "true"}, "", "")
	mkDaemonSet(t, c, "kube-system", aksPlugin, 2, 1)
	mkDaemonSet(t, c, "kube-system", aksQuoteHelper, 0, 0)
	step("labelled node without EPC, plugin half ready, quote helper on no node", Options{Namespace: empty}, map[string]doctor.Status{
		"k8s.sgx-nodes": doctor.OK, "k8s.epc": doctor.Warn, "k8s.device-plugin": doctor.Warn, "k8s.quote-helper": doctor.Fail,
	})

	mkNode(t, c, "intel-sgx-0", map[string]string{"intel.feature.node.kubernetes.io/sgx": "true"}, EPCIntel, "64Mi")
	if err := c.Delete(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "aks-sgx-1"}}); err != nil {
		t.Fatal(err)
	}
	mkDaemonSet(t, c, "kube-system", aksPlugin, 2, 2)
	mkDaemonSet(t, c, "kube-system", aksQuoteHelper, 2, 2)
	one := mkNamespace(t, c, "doctor-one")
	pods.mkSlice(t, c, one, "attestd-0", lab1.AttestdURL())
	step("healthy: one attestd replica", Options{Namespace: one}, map[string]doctor.Status{
		"k8s.sgx-nodes": doctor.OK, "k8s.epc": doctor.OK, "k8s.device-plugin": doctor.OK, "k8s.quote-helper": doctor.OK,
		"k8s.attestd-ready": doctor.OK, "k8s.attestd-certs": doctor.OK,
	})

	two := mkNamespace(t, c, "doctor-two")
	pods.mkSlice(t, c, two, "attestd-0", lab1.AttestdURL())
	pods.mkSlice(t, c, two, "attestd-1", replica.URL)
	step("two replicas sharing keys", Options{Namespace: two}, map[string]doctor.Status{
		"k8s.attestd-ready": doctor.OK, "k8s.attestd-certs": doctor.OK,
	})
	pods.mkSlice(t, c, two, "attestd-2", lab2.AttestdURL())
	step("a replica with other keys", Options{Namespace: two}, map[string]doctor.Status{
		"k8s.attestd-ready": doctor.OK, "k8s.attestd-certs": doctor.Fail,
	})

	part := mkNamespace(t, c, "doctor-partial")
	pods.mkSlice(t, c, part, "attestd-0", lab1.AttestdURL())
	pods.mkSlice(t, c, part, "attestd-1", notReady.URL)
	step("one replica not ready", Options{Namespace: part}, map[string]doctor.Status{"k8s.attestd-ready": doctor.Warn})
	step("only the URL given, not ready", Options{Namespace: empty, AttestdURL: notReady.URL}, map[string]doctor.Status{"k8s.attestd-ready": doctor.Fail})
	step("only the URL given", Options{Namespace: empty, AttestdURL: lab1.AttestdURL()}, map[string]doctor.Status{
		"k8s.attestd-ready": doctor.OK, "k8s.attestd-certs": doctor.OK})

	for _, id := range []string{"k8s.sgx-nodes", "k8s.epc", "k8s.device-plugin", "k8s.quote-helper", "k8s.attestd-ready", "k8s.attestd-certs"} {
		for _, st := range []doctor.Status{doctor.OK, doctor.Warn, doctor.Fail} {
			if !seen[id][st] && !(id == "k8s.attestd-certs" && st == doctor.Warn) {
				t.Errorf("check %s has no %s step", id, st)
			}
		}
	}
}
