package kube

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sgxops/sgxops/doctor"
)

// EPC resources of the two SGX device plugins.
const (
	EPCIntel = corev1.ResourceName("sgx.intel.com/epc")
	EPCAKS   = corev1.ResourceName("kubernetes.azure.com/sgx_epc_mem_in_MiB")
)

// SGXLabels are the node labels (value "true") that mark SGX nodes: sgxops'
// own (set by deploy/terraform/aks), Node Feature Discovery's (which the
// operator's Intel platform selects) and NFD's raw CPUID feature.
var SGXLabels = []string{
	"sgxops.io/sgx",
	"intel.feature.node.kubernetes.io/sgx",
	"feature.node.kubernetes.io/cpu-cpuid.SGX",
}

// DaemonSet names of the device plugins and the AKS quote helper. The Intel
// plugin's DaemonSet is named by its operator "intel-sgx-plugin[-CR]".
const (
	intelPluginPrefix = "intel-sgx-plugin"
	aksPlugin         = "sgx-plugin"
	aksQuoteHelper    = "sgx-quote-helper"
)

// Options configure the cluster checks.
type Options struct {
	// Client reads nodes, DaemonSets and EndpointSlices. Required.
	Client client.Reader
	// HTTPClient calls attestd. Nil: a client with a 10 s timeout.
	HTTPClient *http.Client
	// Namespace is attestd's namespace; "" searches every namespace.
	Namespace string
	// Service is attestd's Service name; "" means "sgxops-attestd" (the chart's).
	Service string
	// Scheme is how attestd's pods are called, "http" or "https"; "" means http.
	Scheme string
	// AttestdURL, when set, is checked too (e.g. the public endpoint), or
	// alone when no endpoint of the Service is found.
	AttestdURL string
}

// Run runs the cluster checks in report order.
func Run(ctx context.Context, opts Options) []doctor.Result {
	c := &cluster{opts: opts, http: opts.HTTPClient}
	if c.http == nil {
		c.http = &http.Client{Timeout: 10 * time.Second}
	}
	if c.opts.Service == "" {
		c.opts.Service = "sgxops-attestd"
	}
	if c.opts.Scheme == "" {
		c.opts.Scheme = "http"
	}
	var rs []doctor.Result
	for _, check := range checks {
		rs = append(rs, check(ctx, c))
	}
	return rs
}

var checks = []func(context.Context, *cluster) doctor.Result{
	checkSGXNodes,
	checkEPC,
	checkDevicePlugin,
	checkQuoteHelper,
	checkAttestdReady,
	checkAttestdCerts,
}

// cluster memoizes what the checks read.
type cluster struct {
	opts  Options
	http  *http.Client
	nodes *corev1.NodeList
	nErr  error
	dss   *appsv1.DaemonSetList
	dErr  error
	tgts  []target
	tErr  error
	tDone bool
}

func result(s doctor.Status, id, reason, fix string) doctor.Result {
	if s == doctor.OK {
		fix = ""
	}
	return doctor.Result{ID: id, Status: s, Reason: reason, Fix: fix}
}

func (c *cluster) nodeList(ctx context.Context) (*corev1.NodeList, error) {
	if c.nodes == nil && c.nErr == nil {
		c.nodes = &corev1.NodeList{}
		c.nErr = c.opts.Client.List(ctx, c.nodes)
	}
	return c.nodes, c.nErr
}

func (c *cluster) daemonSets(ctx context.Context) (*appsv1.DaemonSetList, error) {
	if c.dss == nil && c.dErr == nil {
		c.dss = &appsv1.DaemonSetList{}
		c.dErr = c.opts.Client.List(ctx, c.dss)
	}
	return c.dss, c.dErr
}

func labelled(n *corev1.Node) bool {
	for _, l := range SGXLabels {
		if n.Labels[l] == "true" {
			return true
		}
	}
	return false
}

// epc returns the node's allocatable EPC resource and amount, "" when none.
func epc(n *corev1.Node) (corev1.ResourceName, string) {
	for _, r := range []corev1.ResourceName{EPCAKS, EPCIntel} {
		if q, ok := n.Status.Allocatable[r]; ok && !q.IsZero() {
			return r, q.String()
		}
	}
	return "", ""
}

func apiFail(id string, err error) doctor.Result {
	return result(doctor.Fail, id, "cannot read the cluster: "+oneLine(err.Error()),
		"check the kubeconfig (--kubeconfig, $KUBECONFIG, ~/.kube/config, --context) and that you may list nodes, daemonsets and endpointslices")
}

// checkSGXNodes: nodes carrying an SGX label.
func checkSGXNodes(ctx context.Context, c *cluster) doctor.Result {
	const id = "k8s.sgx-nodes"
	nl, err := c.nodeList(ctx)
	if err != nil {
		return apiFail(id, err)
	}
	var lab, withEPC []string
	for i := range nl.Items {
		if labelled(&nl.Items[i]) {
			lab = append(lab, nl.Items[i].Name)
		}
		if r, _ := epc(&nl.Items[i]); r != "" {
			withEPC = append(withEPC, nl.Items[i].Name)
		}
	}
	switch {
	case len(lab) > 0:
		return result(doctor.OK, id, fmt.Sprintf("%d of %d nodes labelled for SGX: %s", len(lab), len(nl.Items), names(lab)), "")
	case len(withEPC) > 0:
		return result(doctor.Warn, id, fmt.Sprintf("%d node(s) with EPC but no SGX label (%s): %s", len(withEPC), strings.Join(SGXLabels, ", "), names(withEPC)),
			"label them (kubectl label node NAME sgxops.io/sgx=true), or run Node Feature Discovery; EnclaveApps with platform intel select intel.feature.node.kubernetes.io/sgx=true")
	}
	return result(doctor.Fail, id, fmt.Sprintf("no SGX node among %d nodes (no SGX label, no EPC resource)", len(nl.Items)),
		"add an SGX node pool (Azure DCsv3/DCdsv3: deploy/terraform/aks) and label it sgxops.io/sgx=true")
}

// checkEPC: allocatable EPC in either flavour on the SGX nodes.
func checkEPC(ctx context.Context, c *cluster) doctor.Result {
	const id = "k8s.epc"
	nl, err := c.nodeList(ctx)
	if err != nil {
		return apiFail(id, err)
	}
	var have, missing []string
	flavours := map[corev1.ResourceName]bool{}
	for i := range nl.Items {
		n := &nl.Items[i]
		r, q := epc(n)
		switch {
		case r != "":
			have = append(have, n.Name+"="+q)
			flavours[r] = true
		case labelled(n):
			missing = append(missing, n.Name)
		}
	}
	switch {
	case len(have) == 0:
		return result(doctor.Fail, id, "no node has allocatable EPC ("+string(EPCIntel)+" or "+string(EPCAKS)+")",
			"run the SGX device plugin: on AKS enable the confcom add-on; elsewhere deploy Intel's SGX device plugin")
	case len(missing) > 0:
		return result(doctor.Warn, id, fmt.Sprintf("SGX-labelled node(s) without allocatable EPC: %s", names(missing)),
			"check the device plugin's pod on those nodes (and that it tolerates their taints)")
	}
	var fl []string
	for r := range flavours {
		fl = append(fl, string(r))
	}
	sort.Strings(fl)
	return result(doctor.OK, id, fmt.Sprintf("allocatable EPC (%s) on %s", strings.Join(fl, ", "), names(have)), "")
}

// dsState reports a DaemonSet's readiness.
func dsState(ds *appsv1.DaemonSet) (doctor.Status, string) {
	s := ds.Status
	desc := fmt.Sprintf("%s/%s (%d/%d ready)", ds.Namespace, ds.Name, s.NumberReady, s.DesiredNumberScheduled)
	switch {
	case s.DesiredNumberScheduled == 0:
		return doctor.Fail, desc + " runs on no node"
	case s.NumberReady < s.DesiredNumberScheduled:
		return doctor.Warn, desc
	}
	return doctor.OK, desc
}

// checkDevicePlugin: Intel's SGX device plugin or AKS's sgx-plugin DaemonSet, ready.
func checkDevicePlugin(ctx context.Context, c *cluster) doctor.Result {
	const id = "k8s.device-plugin"
	dl, err := c.daemonSets(ctx)
	if err != nil {
		return apiFail(id, err)
	}
	for i := range dl.Items {
		ds := &dl.Items[i]
		if ds.Name == aksPlugin || strings.HasPrefix(ds.Name, intelPluginPrefix) {
			st, desc := dsState(ds)
			return result(st, id, "SGX device plugin "+desc,
				"check its pods (kubectl -n "+ds.Namespace+" describe ds "+ds.Name+"): they must tolerate the SGX nodes' taints and see /dev/sgx_enclave")
		}
	}
	return result(doctor.Fail, id, "no SGX device plugin DaemonSet ("+aksPlugin+" or "+intelPluginPrefix+"*)",
		"on AKS: az aks enable-addons --addons confcom; elsewhere deploy Intel's SGX device plugin (intel-device-plugins-for-kubernetes)")
}

// checkQuoteHelper: the AKS confcom add-on's quote helper, where the AKS
// EPC flavour is in use.
func checkQuoteHelper(ctx context.Context, c *cluster) doctor.Result {
	const id = "k8s.quote-helper"
	dl, err := c.daemonSets(ctx)
	if err != nil {
		return apiFail(id, err)
	}
	for i := range dl.Items {
		if ds := &dl.Items[i]; ds.Name == aksQuoteHelper {
			st, desc := dsState(ds)
			return result(st, id, "AKS quote helper "+desc,
				"check its pods (kubectl -n "+ds.Namespace+" describe ds "+ds.Name+"); they need the SGX nodes' taints tolerated")
		}
	}
	nl, err := c.nodeList(ctx)
	if err != nil {
		return apiFail(id, err)
	}
	for i := range nl.Items {
		if r, _ := epc(&nl.Items[i]); r == EPCAKS {
			return result(doctor.Warn, id, "AKS SGX nodes but no "+aksQuoteHelper+" DaemonSet: enclaves must generate quotes in-process",
				"enable it: az aks addon update --addon confcom --enable-sgxquotehelper (Terraform: confidential_computing { sgx_quote_helper_enabled = true })")
		}
	}
	return result(doctor.OK, id, "not an AKS SGX cluster: no quote helper expected", "")
}

// target is one attestd replica (or the URL given).
type target struct{ name, url string }

func (c *cluster) targets(ctx context.Context) ([]target, error) {
	if c.tDone {
		return c.tgts, c.tErr
	}
	c.tDone = true
	var sl discoveryv1.EndpointSliceList
	opts := []client.ListOption{client.MatchingLabels{discoveryv1.LabelServiceName: c.opts.Service}}
	if c.opts.Namespace != "" {
		opts = append(opts, client.InNamespace(c.opts.Namespace))
	}
	if err := c.opts.Client.List(ctx, &sl, opts...); err != nil {
		c.tErr = err
		return nil, err
	}
	for _, s := range sl.Items {
		if len(s.Ports) == 0 || s.Ports[0].Port == nil {
			continue
		}
		port := int(*s.Ports[0].Port)
		for _, ep := range s.Endpoints {
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			name := s.Namespace + "/"
			if ep.TargetRef != nil {
				name += ep.TargetRef.Name
			}
			for _, a := range ep.Addresses {
				u := c.opts.Scheme + "://" + net.JoinHostPort(a, strconv.Itoa(port))
				n := name
				if ep.TargetRef == nil {
					n += u
				}
				c.tgts = append(c.tgts, target{name: n, url: u})
			}
		}
	}
	sort.Slice(c.tgts, func(i, j int) bool { return c.tgts[i].url < c.tgts[j].url })
	if c.opts.AttestdURL != "" {
		c.tgts = append(c.tgts, target{name: "--attestd-url", url: strings.TrimRight(c.opts.AttestdURL, "/")})
	}
	return c.tgts, nil
}

func (c *cluster) get(ctx context.Context, u string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, b, err
}

const noAttestdFix = "install the chart (deploy/helm/sgxops) or pass --attestd-namespace/--attestd-service; from outside the cluster pass --attestd-url (pod IPs are not reachable)"

// checkAttestdReady: every ready endpoint of attestd's Service answers /readyz 200.
func checkAttestdReady(ctx context.Context, c *cluster) doctor.Result {
	const id = "k8s.attestd-ready"
	ts, err := c.targets(ctx)
	if err != nil {
		return apiFail(id, err)
	}
	if len(ts) == 0 {
		return result(doctor.Fail, id, "no ready endpoint of Service "+c.opts.Service, noAttestdFix)
	}
	var bad []string
	for _, t := range ts {
		code, body, err := c.get(ctx, t.url+"/readyz")
		switch {
		case err != nil:
			bad = append(bad, t.name+": "+oneLine(err.Error()))
		case code != http.StatusOK:
			bad = append(bad, fmt.Sprintf("%s: HTTP %d %s", t.name, code, oneLine(string(body))))
		}
	}
	switch {
	case len(bad) == 0:
		return result(doctor.OK, id, fmt.Sprintf("attestd ready on %d endpoint(s)", len(ts)), "")
	case len(bad) < len(ts):
		return result(doctor.Warn, id, fmt.Sprintf("%d of %d attestd endpoints not ready: %s", len(bad), len(ts), bad[0]),
			"read that replica's log and /readyz body (store sync, signing key, collateral)")
	}
	return result(doctor.Fail, id, "attestd not ready: "+bad[0],
		"read attestd's log and /readyz body (store sync, signing key, collateral); from outside the cluster pass --attestd-url")
}

// checkAttestdCerts: every replica serves the same /certs (the shared signing keys).
func checkAttestdCerts(ctx context.Context, c *cluster) doctor.Result {
	const id = "k8s.attestd-certs"
	ts, err := c.targets(ctx)
	if err != nil {
		return apiFail(id, err)
	}
	if len(ts) == 0 {
		return result(doctor.Fail, id, "no attestd endpoint to read /certs from", noAttestdFix)
	}
	var first []byte
	var firstName string
	for _, t := range ts {
		code, body, err := c.get(ctx, t.url+"/certs")
		if err != nil || code != http.StatusOK {
			return result(doctor.Fail, id, "cannot read /certs from "+t.name,
				"see k8s.attestd-ready; every replica must serve /certs")
		}
		canon, err := canonicalJSON(body)
		if err != nil {
			return result(doctor.Fail, id, t.name+" /certs is not JSON: "+oneLine(err.Error()), "check that the Service points at attestd")
		}
		if first == nil {
			first, firstName = canon, t.name
			continue
		}
		if !bytes.Equal(first, canon) {
			return result(doctor.Fail, id, "/certs differs between "+firstName+" and "+t.name+": relying parties see different signing keys",
				"all replicas must share one signing-key Secret (--signing-key-secret); if a rotation is under way, check again in a minute, else restart the replica that differs")
		}
	}
	if len(ts) == 1 {
		return result(doctor.OK, id, "one attestd endpoint: /certs served", "")
	}
	return result(doctor.OK, id, fmt.Sprintf("/certs identical on %d endpoints", len(ts)), "")
}

// canonicalJSON re-encodes b with sorted object keys.
func canonicalJSON(b []byte) ([]byte, error) {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

func names(ns []string) string {
	if len(ns) > 5 {
		return strings.Join(ns[:5], ", ") + fmt.Sprintf(" and %d more", len(ns)-5)
	}
	return strings.Join(ns, ", ")
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
