package cluster_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sgxops/sgxops/attestd"
	"github.com/sgxops/sgxops/attestd/config"
	"github.com/sgxops/sgxops/internal/k8stest"
	"github.com/sgxops/sgxops/internal/testdeps"
	"github.com/sgxops/sgxops/maaclient"
)

// keyPropagationLimit is what the test allows for a rotation through one
// replica to reach the others (they watch the Secret; measured: tens of
// milliseconds).
const keyPropagationLimit = 5 * time.Second

// TestClusterKeySharing: three replicas started at once end with one key set
// in one Secret; /certs and the OpenID metadata are identical on all; a
// rotation through one replica reaches the others (measured); a relying
// party that read /certs before the rotation (maaclient, and the official JS
// client) validates tokens from every replica after it; concurrent
// rotations through two replicas leave the replicas agreeing.
func TestClusterKeySharing(t *testing.T) {
	c := newCluster(t)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i, name := range []string{"a", "b", "c"} {
		wg.Add(1)
		go func() { defer wg.Done(); _, errs[i] = c.tryStart(name) }()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
	}
	a, b, cc := c.replicas["a"], c.replicas["b"], c.replicas["c"]
	all := []*replica{a, b, cc}
	created := 0
	for _, r := range all {
		if strings.Contains(r.logs.String(), "generated a new token-signing key") {
			created++
		}
	}
	if created != 1 {
		t.Fatalf("%d replicas say they generated the signing key, want exactly 1 (the winner of the Create)", created)
	}
	sec := c.secret()
	for _, k := range []string{attestd.SigningKeyFile, attestd.SigningCertFile, attestd.NextSigningKeyFile, attestd.NextSigningCertFile} {
		if len(sec.Data[k]) == 0 {
			t.Fatalf("Secret lacks %s: keys %v", k, keysOf(sec.Data))
		}
	}
	same := func(path string) bool {
		_, first := a.get(path)
		for _, r := range all[1:] {
			if _, b := r.get(path); !bytes.Equal(b, first) {
				return false
			}
		}
		return true
	}
	for _, p := range []string{"/certs", "/.well-known/openid-configuration"} {
		if !same(p) {
			t.Fatalf("%s differs between replicas", p)
		}
	}
	kids := c.certKids(a)
	if len(kids) != 2 {
		t.Fatalf("/certs kids %v, want the key in use and the next key", kids)
	}

	id := identity("keys")
	a.release(t, "keys", "v1", id)
	rt := []byte("relying party key")
	q := c.quote(id, rt)
	tokenFrom := func(r *replica) string {
		t.Helper()
		var tok string
		if _, ok := waitFor(3*time.Second, func() bool { st, tk, _ := r.attest(q, rt); tok = tk; return st == 200 }); !ok {
			st, _, body := r.attest(q, rt)
			t.Fatalf("replica %s: attestation HTTP %d: %s", r.name, st, body)
		}
		return tok
	}
	for _, r := range all {
		if k := tokenKid(t, tokenFrom(r)); k != kids[0] {
			t.Fatalf("replica %s signs with %s, /certs says %s", r.name, k, kids[0])
		}
	}

	// A relying party reads /certs (through the Service: replica a) before
	// the rotation. Its clock stands still, so it cannot re-read /certs
	// (maaclient re-reads for an unknown kid at most every 10 s).
	frozen := time.Now()
	mc, err := maaclient.New(c.issuer, maaclient.Options{Now: func() time.Time { return frozen }})
	if err != nil {
		t.Fatal(err)
	}
	exp := maaclient.Expectations{App: "keys", RuntimeData: rt, AllowSimulated: true}
	if _, err := mc.Verify(context.Background(), tokenFrom(a), exp); err != nil {
		t.Fatal(err)
	}
	js := startJSProbe(t, c, q, rt, all)
	before := js.next(t)
	for _, res := range before.Results {
		if !res.OK || res.Kid != kids[0] {
			t.Fatalf("JS client before the rotation: %+v", before.Results)
		}
	}

	tokBefore := map[string]string{}
	for _, r := range all {
		tokBefore[r.name] = tokenFrom(r)
	}

	var rot attestd.SigningKeyRotation
	if err := json.Unmarshal(b.admin(t, "POST", "/admin/v1/signing-key/rotate", nil, 200), &rot); err != nil {
		t.Fatal(err)
	}
	took, ok := waitFor(keyPropagationLimit, func() bool {
		return c.certKids(a)[0] == rot.Kid && c.certKids(cc)[0] == rot.Kid && same("/certs") && same("/.well-known/openid-configuration")
	})
	if !ok {
		t.Fatalf("replicas do not agree on /certs %v after the rotation", keyPropagationLimit)
	}
	t.Logf("MEASURED: a rotation through replica b reached replicas a and c after %v (limit %v)", took, keyPropagationLimit)
	if rot.Kid != kids[1] || rot.PreviousKid != kids[0] {
		t.Fatalf("rotation %+v: want the published next key %s in use", rot, kids[1])
	}
	// Tokens signed before the rotation still verify for a relying party
	// that reads /certs only now (the old key stays published).
	mc2, err := maaclient.New(c.issuer, maaclient.Options{Now: func() time.Time { return frozen }})
	if err != nil {
		t.Fatal(err)
	}
	for name, tok := range tokBefore {
		if _, err := mc2.Verify(context.Background(), tok, exp); err != nil {
			t.Errorf("token from replica %s before the rotation, /certs read after it: %v", name, err)
		}
	}
	if k := c.certKids(a); len(k) != 3 || k[0] != rot.Kid || k[1] != rot.NextKid || k[2] != rot.PreviousKid {
		t.Fatalf("/certs after the rotation %v, want [%s %s %s]", k, rot.Kid, rot.NextKid, rot.PreviousKid)
	}
	for _, r := range all {
		tok := tokenFrom(r)
		if k := tokenKid(t, tok); k != rot.Kid {
			t.Fatalf("replica %s signs with %s after the rotation, want %s", r.name, k, rot.Kid)
		}
		if _, err := mc.Verify(context.Background(), tok, exp); err != nil {
			t.Errorf("relying party with the /certs of before the rotation, token from replica %s: %v", r.name, err)
		}
	}
	after := js.finish(t)
	for _, res := range after.Results {
		if !res.OK || res.Kid != rot.Kid {
			t.Errorf("JS client (signers read before the rotation), after it: %+v", res)
		}
	}
	if got := c.secretKid(t); got != rot.Kid {
		t.Fatalf("the Secret's key in use is %s, want %s", got, rot.Kid)
	}

	// A replica started now loads the same keys.
	d := c.start("d")
	if _, body := d.get("/certs"); !bytes.Equal(body, mustGet(t, a, "/certs")) {
		t.Fatal("a new replica publishes other keys")
	}

	// Rotations through two replicas at once: each either rotates or answers
	// 409 (another replica changed the keys first); the replicas then agree,
	// with the Secret, and every success is one key further.
	var rwg sync.WaitGroup
	codes := make([]int, 2)
	for i, r := range []*replica{a, cc} {
		rwg.Add(1)
		go func() { defer rwg.Done(); codes[i], _ = r.do("POST", "/admin/v1/signing-key/rotate", adminToken, nil) }()
	}
	rwg.Wait()
	oks := 0
	for _, code := range codes {
		switch code {
		case 200:
			oks++
		case 409:
		default:
			t.Fatalf("concurrent rotations: HTTP %v", codes)
		}
	}
	all = append(all, d)
	if _, ok := waitFor(keyPropagationLimit, func() bool { return same("/certs") && c.certKids(a)[0] == c.secretKid(t) }); !ok {
		t.Fatal("replicas disagree after concurrent rotations")
	}
	if oks == 0 || len(c.certKids(a)) != 2+1+oks {
		t.Fatalf("concurrent rotations %v: /certs %v", codes, c.certKids(a))
	}
	t.Logf("concurrent rotations through a and c: HTTP %v", codes)
}

func mustGet(t *testing.T, r *replica, path string) []byte {
	t.Helper()
	st, b := r.get(path)
	if st != 200 {
		t.Fatalf("replica %s: GET %s: HTTP %d", r.name, path, st)
	}
	return b
}

func keysOf(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// secret reads the signing-key Secret.
func (c *cluster) secret() *corev1.Secret {
	c.t.Helper()
	var s corev1.Secret
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: c.ns, Name: config.DefaultSigningKeySecret}, &s); err != nil {
		c.t.Fatal(err)
	}
	return &s
}

// secretKid is the kid of the key in use according to the Secret.
func (c *cluster) secretKid(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for k, v := range c.secret().Data {
		if err := os.WriteFile(filepath.Join(dir, k), v, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	k, err := attestd.LoadOrCreateSigningKey(dir, c.issuer, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return k.KeyID()
}

// certKids returns the kids of r's /certs, in order.
func (c *cluster) certKids(r *replica) []string {
	c.t.Helper()
	var set struct{ Keys []struct{ Kid string } }
	if err := json.Unmarshal(mustGet(c.t, r, "/certs"), &set); err != nil {
		c.t.Fatal(err)
	}
	var out []string
	for _, k := range set.Keys {
		out = append(out, k.Kid)
	}
	return out
}

// jsProbe is test/interop/js/maa-cluster.js running: one official-SDK
// client per replica.
type jsProbe struct {
	cmd   *exec.Cmd
	stdin interface{ Close() error }
	w     *bufio.Writer
	lines *bufio.Scanner
	errb  *syncBuffer
}

type jsPhase struct {
	Phase   string `json:"phase"`
	Message string `json:"message"`
	Results []struct {
		Endpoint string `json:"endpoint"`
		OK       bool   `json:"ok"`
		Kid      string `json:"kid"`
		Message  string `json:"message"`
	} `json:"results"`
}

func startJSProbe(t *testing.T, c *cluster, q, rt []byte, rs []*replica) *jsProbe {
	t.Helper()
	jsDir := filepath.Join(k8stest.RepoRoot(), "test", "interop", "js")
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(jsDir, "node_modules", "@azure", "attestation", "package.json"))
	}
	if err != nil {
		testdeps.Missing(t, "node or @azure/attestation missing", "run `make test-deps`")
	}
	args := []string{filepath.Join(jsDir, "maa-cluster.js"), c.issuer, c.write("js-quote.bin", q, 0o644), c.write("js-rt.bin", rt, 0o644)}
	for _, r := range rs {
		args = append(args, r.url)
	}
	cmd := exec.Command(node, args...)
	cmd.Dir = jsDir
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &jsProbe{cmd: cmd, stdin: stdin, w: bufio.NewWriter(stdin), lines: bufio.NewScanner(stdout), errb: &syncBuffer{}}
	p.lines.Buffer(make([]byte, 1<<20), 1<<20)
	cmd.Stderr = p.errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return p
}

func (p *jsProbe) next(t *testing.T) jsPhase {
	t.Helper()
	done := make(chan bool, 1)
	go func() { done <- p.lines.Scan() }()
	select {
	case ok := <-done:
		if !ok {
			t.Fatalf("JS probe ended: %v\n%s", p.lines.Err(), p.errb.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("JS probe silent for 60s\n%s", p.errb.String())
	}
	var ph jsPhase
	if err := json.Unmarshal(p.lines.Bytes(), &ph); err != nil || ph.Phase == "error" {
		t.Fatalf("JS probe: %v %s\n%s", err, p.lines.Bytes(), p.errb.String())
	}
	return ph
}

// finish lets the probe run its second phase and returns it.
func (p *jsProbe) finish(t *testing.T) jsPhase {
	t.Helper()
	if _, err := p.w.WriteString("go\n"); err != nil {
		t.Fatal(err)
	}
	if err := p.w.Flush(); err != nil {
		t.Fatal(err)
	}
	return p.next(t)
}

// TestClusterKeySecretLifecycle: a Secret created ahead of attestd (empty,
// with a label and an unrelated key, as a chart might) is filled and keeps
// what it had; a deleted Secret is restored by the replicas from the keys
// they hold (same kid, replicas still agree); a lost rotation race is counted
// in attestd_store_conflicts_total and the Secret calls' latency in
// attestd_store_operation_duration_seconds.
func TestClusterKeySecretLifecycle(t *testing.T) {
	c := newCluster(t)
	ctx := context.Background()
	pre := &corev1.Secret{Data: map[string][]byte{"README": []byte("attestd signing keys")}}
	pre.Name, pre.Namespace = config.DefaultSigningKeySecret, c.ns
	pre.Labels = map[string]string{"example.com/owner": "ops"}
	if err := env.Client.Create(ctx, pre); err != nil {
		t.Fatal(err)
	}
	a, b := c.start("a"), c.start("b")
	sec := c.secret()
	if string(sec.Data["README"]) != "attestd signing keys" || sec.Labels["example.com/owner"] != "ops" || len(sec.Data[attestd.SigningKeyFile]) == 0 {
		t.Fatalf("pre-created Secret after start: labels %v, keys %v", sec.Labels, keysOf(sec.Data))
	}
	kid := c.secretKid(t)
	if k := c.certKids(b)[0]; k != kid {
		t.Fatalf("replica b signs with %s, the Secret holds %s", k, kid)
	}

	if err := env.Client.Delete(ctx, sec); err != nil {
		t.Fatal(err)
	}
	took, ok := waitFor(10*time.Second, func() bool {
		var s corev1.Secret
		return env.Client.Get(ctx, client.ObjectKey{Namespace: c.ns, Name: config.DefaultSigningKeySecret}, &s) == nil && len(s.Data[attestd.SigningKeyFile]) > 0
	})
	if !ok {
		t.Fatal("the deleted Secret was not restored")
	}
	if got := c.secretKid(t); got != kid {
		t.Fatalf("restored Secret holds %s, want %s", got, kid)
	}
	t.Logf("deleted signing-key Secret restored by the replicas after %v", took)
	// Both replicas still rotate and follow through the restored Secret.
	a.admin(t, "POST", "/admin/v1/signing-key/rotate", nil, 200)
	if _, ok := waitFor(keyPropagationLimit, func() bool { return c.certKids(b)[0] == c.secretKid(t) && c.certKids(a)[0] == c.secretKid(t) }); !ok {
		t.Fatal("replicas disagree after a rotation through the restored Secret")
	}

	// A lost rotation race: b still holds the version before a's rotation
	// only for a moment, so force it by rotating through both at once until
	// one answers 409.
	for i := 0; i < 20; i++ {
		var wg sync.WaitGroup
		codes := make([]int, 2)
		for j, r := range []*replica{a, b} {
			wg.Add(1)
			go func() { defer wg.Done(); codes[j], _ = r.do("POST", "/admin/v1/signing-key/rotate", adminToken, nil) }()
		}
		wg.Wait()
		if codes[0] == 409 || codes[1] == 409 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	var conflicts float64
	for _, r := range []*replica{a, b} {
		m := string(mustGet(t, r, "/metrics"))
		storeOps := 0 // series of the Kubernetes store's own calls (not the Secret's)
		for _, l := range strings.Split(m, "\n") {
			if strings.HasPrefix(l, `attestd_store_operation_duration_seconds_count{op="`) && !strings.Contains(l, `op="secret-`) {
				storeOps++
			}
		}
		if !strings.Contains(m, `attestd_store_operation_duration_seconds_count{op="secret-get",result="ok"}`) || storeOps == 0 {
			t.Fatalf("replica %s: store latency series missing:\n%s", r.name, grepLines(m, "attestd_store_"))
		}
		for _, line := range strings.Split(m, "\n") {
			if strings.HasPrefix(line, `attestd_store_conflicts_total{op="secret-update"}`) {
				var v float64
				if _, err := fmt.Sscan(strings.Fields(line)[1], &v); err == nil {
					conflicts += v
				}
			}
		}
	}
	if conflicts == 0 {
		t.Fatal("no signing-key Secret conflict counted after concurrent rotations")
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestClusterReadiness: a replica whose API server connection is cut is not
// ready (the store is unreachable) but stays live; when the connection comes
// back it is ready again. The cut is a TCP forwarder between the replica and
// the API server that stops forwarding.
func TestClusterReadiness(t *testing.T) {
	c := newCluster(t)
	fw := newForwarder(t, env.Config.Host)
	c.kubeconfig = c.writeKubeconfigFor(fw.url())
	r := c.start("a")
	ready := func() (int, string) { st, b := r.get("/readyz"); return st, string(b) }
	if st, b := ready(); st != 200 {
		t.Fatalf("readyz %d %s", st, b)
	}
	fw.cut(true)
	down, ok := waitFor(30*time.Second, func() bool { st, _ := ready(); return st == 503 })
	if !ok {
		t.Fatal("still ready with the API server unreachable")
	}
	st, b := ready()
	if !strings.Contains(b, "store") {
		t.Fatalf("readyz %d %s: want the store named", st, b)
	}
	if st, _ := r.get("/livez"); st != 200 {
		t.Fatalf("livez %d with the store unreachable", st)
	}
	fw.cut(false)
	up, ok := waitFor(60*time.Second, func() bool { st, _ := ready(); return st == 200 })
	if !ok {
		st, b := ready()
		t.Fatalf("not ready again after the API server came back: %d %s", st, b)
	}
	t.Logf("MEASURED: not ready %v after the API server became unreachable, ready again %v after it came back", down, up)
}

// forwarder forwards TCP connections to an address until cut.
type forwarder struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  []net.Conn
}

func newForwarder(t *testing.T, host string) *forwarder {
	t.Helper()
	u, err := url.Parse(host)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &forwarder{ln: ln, target: u.Host}
	t.Cleanup(func() { ln.Close(); f.cut(true) })
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			f.mu.Lock()
			if f.down {
				f.mu.Unlock()
				in.Close()
				continue
			}
			out, err := net.Dial("tcp", f.target)
			if err != nil {
				f.mu.Unlock()
				in.Close()
				continue
			}
			f.conns = append(f.conns, in, out)
			f.mu.Unlock()
			go func() { _, _ = io.Copy(out, in); out.Close() }()
			go func() { _, _ = io.Copy(in, out); in.Close() }()
		}
	}()
	return f
}

func (f *forwarder) url() string { return "https://" + f.ln.Addr().String() }

// cut stops forwarding (closing open connections) or resumes it.
func (f *forwarder) cut(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
	if down {
		for _, c := range f.conns {
			c.Close()
		}
		f.conns = nil
	}
}
