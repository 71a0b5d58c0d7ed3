// Package cluster_test runs several attestd replicas on the Kubernetes store
// of one real API server (kube-apiserver + etcd through envtest, see
// internal/k8stest): shared trust set, shared signing keys, bounded
// propagation of changes, and a replica killed mid-write.
package cluster_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/sgxops/sgxops/attestd"
	"github.com/sgxops/sgxops/attestd/config"
	"github.com/sgxops/sgxops/internal/k8stest"
	"github.com/sgxops/sgxops/sim"
)

var env *k8stest.Env

func TestMain(m *testing.M) { os.Exit(k8stest.Main(m, &env)) }

// adminToken is the admin credential every replica reads from one file, as
// pods read a mounted Secret.
const adminToken = "cluster-admin-token-0123456789abcdef"

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// cluster is a namespace on the API server, a simulated SGX platform with
// its PCS, and attestd replicas behind one issuer URL: a proxy (the
// Service) that forwards to the replica named by target.
type cluster struct {
	t          *testing.T
	ns         string
	dir        string
	kubeconfig string
	tokenFile  string
	rootFile   string
	plat       *sim.Platform
	pcs        *httptest.Server
	proxy      *httptest.Server
	target     atomic.Pointer[url.URL]
	issuer     string
	mu         sync.Mutex
	replicas   map[string]*replica
}

// replica is one attestd, in process (run) or a subprocess (cmd).
type replica struct {
	name string
	url  string
	run  *attestd.Running
	cmd  *exec.Cmd
	logs *syncBuffer
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	k8stest.Skip(t)
	c := &cluster{t: t, dir: t.TempDir(), replicas: map[string]*replica{}}
	c.ns = fmt.Sprintf("attestd-%d", time.Now().UnixNano()%1e9)
	if err := env.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: c.ns}}); err != nil {
		t.Fatal(err)
	}
	plat, err := sim.New([]byte("cluster test platform "+t.Name()), sim.Config{}, sim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c.plat = plat
	c.pcs = httptest.NewServer(sim.NewPCSServer(plat))
	t.Cleanup(c.pcs.Close)
	c.rootFile = c.write("sim-root.pem", plat.RootPEM(), 0o644)
	c.tokenFile = c.write("admin-token", []byte(adminToken+"\n"), 0o600)
	c.kubeconfig = c.writeKubeconfig()
	c.proxy = httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(c.target.Load())
	}})
	t.Cleanup(c.proxy.Close)
	c.issuer = c.proxy.URL
	t.Cleanup(func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, r := range c.replicas {
			r.stop()
			if t.Failed() {
				t.Logf("--- log of replica %s ---\n%s", r.name, tail(r.logs.String(), 6000))
			}
		}
	})
	return c
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

func (c *cluster) write(name string, b []byte, mode os.FileMode) string {
	c.t.Helper()
	p := filepath.Join(c.dir, name)
	if err := os.WriteFile(p, b, mode); err != nil {
		c.t.Fatal(err)
	}
	return p
}

// writeKubeconfig writes the envtest API server's credentials as a
// kubeconfig, the way replicas outside the cluster reach it.
func (c *cluster) writeKubeconfig() string { return c.writeKubeconfigFor(env.Config.Host) }

// writeKubeconfigFor writes a kubeconfig for the API server at server
// (e.g. through a forwarder).
func (c *cluster) writeKubeconfigFor(server string) string {
	rc := env.Config
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: rc.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: rc.CertData, ClientKeyData: rc.KeyData, Token: rc.BearerToken}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "admin", Namespace: c.ns}
	kc.CurrentContext = "envtest"
	p := filepath.Join(c.dir, fmt.Sprintf("kubeconfig-%d", time.Now().UnixNano()))
	if err := clientcmd.WriteToFile(*kc, p); err != nil {
		c.t.Fatal(err)
	}
	return p
}

// flags are a replica's command line.
func (c *cluster) flags(listen, dataDir string) []string { return c.flagsNS(listen, dataDir, c.ns) }

func (c *cluster) flagsNS(listen, dataDir, ns string) []string {
	return []string{"--listen", listen, "--insecure-http", "--issuer", c.issuer, "--data-dir", dataDir,
		"--pcs", c.pcs.URL, "--insecure-simulation-root", c.rootFile,
		"--store", "kubernetes", "--store-namespace", ns, "--kubeconfig", c.kubeconfig,
		"--admin-token-file", c.tokenFile, "--shutdown-delay", "0s", "--log-level", "info"}
}

// start starts an in-process replica.
func (c *cluster) start(name string) *replica {
	c.t.Helper()
	r, err := c.tryStart(name)
	if err != nil {
		c.t.Fatalf("replica %s: %v", name, err)
	}
	return r
}

func (c *cluster) tryStart(name string) (*replica, error) { return c.tryStartNS(name, c.ns) }

// tryStartNS starts an in-process replica on the store in namespace ns.
func (c *cluster) tryStartNS(name, ns string) (*replica, error) {
	cfg, err := config.ParseFlags(c.flagsNS("127.0.0.1:0", filepath.Join(c.dir, name), ns), io.Discard)
	if err != nil {
		return nil, err
	}
	logs := &syncBuffer{}
	run, err := attestd.Start(context.Background(), cfg, slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		return nil, fmt.Errorf("%w\n%s", err, logs.String())
	}
	r := &replica{name: name, url: "http://" + run.Addr, run: run, logs: logs}
	c.add(r)
	return r, nil
}

func (c *cluster) add(r *replica) {
	c.mu.Lock()
	c.replicas[r.name] = r
	c.mu.Unlock()
	if c.target.Load() == nil {
		c.route(r)
	}
}

// route makes the proxy (the issuer URL) forward to r.
func (c *cluster) route(r *replica) {
	u, err := url.Parse(r.url)
	if err != nil {
		c.t.Fatal(err)
	}
	c.target.Store(u)
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// attestdBinary builds cmd/attestd once per test run.
func attestdBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "attestd-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "attestd")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/attestd")
		cmd.Dir = k8stest.RepoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/attestd: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// startProcess starts a replica as a subprocess of the attestd binary (so
// that it can be SIGKILLed) and waits until it is ready.
func (c *cluster) startProcess(name string) *replica {
	c.t.Helper()
	bin := attestdBinary(c.t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		c.t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	logs := &syncBuffer{}
	cmd := exec.Command(bin, c.flags(addr, filepath.Join(c.dir, name))...)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	r := &replica{name: name, url: "http://" + addr, cmd: cmd, logs: logs}
	c.add(r)
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, _ := r.get("/readyz")
		if st == 200 {
			return r
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("replica %s not ready after 30s:\n%s", name, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill SIGKILLs a subprocess replica.
func (r *replica) kill() {
	if r.cmd != nil && r.cmd.Process != nil {
		_ = r.cmd.Process.Signal(syscall.SIGKILL)
		_ = r.cmd.Wait()
	}
}

func (r *replica) stop() {
	switch {
	case r.run != nil:
		_ = r.run.Stop()
	case r.cmd != nil && r.cmd.ProcessState == nil:
		_ = r.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = r.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			r.kill()
		}
	}
}

var httpClient = &http.Client{Timeout: 30 * time.Second}

// do sends a request and returns the status and body; a transport error is
// status 0 (the replica died or refused).
func (r *replica) do(method, path, bearer string, body any) (int, []byte) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, r.url+path, rd)
	if err != nil {
		return 0, []byte(err.Error())
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (r *replica) get(path string) (int, []byte) { return r.do("GET", path, "", nil) }

func (r *replica) admin(t *testing.T, method, path string, body any, want int) []byte {
	t.Helper()
	st, b := r.do(method, path, adminToken, body)
	if st != want {
		t.Fatalf("replica %s: %s %s: HTTP %d, want %d: %s", r.name, method, path, st, want, b)
	}
	return b
}

// identity is a production enclave identity derived from name.
func identity(name string) sim.Identity {
	return sim.Identity{
		MREnclave: sha256.Sum256([]byte("mrenclave " + name)),
		MRSigner:  sha256.Sum256([]byte("mrsigner sgxops cluster tests")),
		ISVProdID: 1, ISVSVN: 2,
	}
}

func mrenclaveHex(id sim.Identity) string { return fmt.Sprintf("%x", id.MREnclave[:]) }

// quote makes a simulated quote binding runtime data rt.
func (c *cluster) quote(id sim.Identity, rt []byte) []byte {
	c.t.Helper()
	var rd [64]byte
	s := sha256.Sum256(rt)
	copy(rd[:], s[:])
	q, err := c.plat.Quote(id, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	return q
}

// attest posts a quote with runtime data and returns the status and, for
// 200, the token.
func (r *replica) attest(q, rt []byte) (int, string, []byte) {
	st, b := r.do("POST", "/attest/SgxEnclave?api-version=2022-08-01", "", map[string]any{
		"quote":       base64.RawURLEncoding.EncodeToString(q),
		"runtimeData": map[string]string{"data": base64.RawURLEncoding.EncodeToString(rt), "dataType": "Binary"},
	})
	if st != 200 {
		return st, "", b
	}
	var out struct{ Token string }
	_ = json.Unmarshal(b, &out)
	return st, out.Token, b
}

// tokenKid returns the kid of a JWT's header.
func tokenKid(t *testing.T, tok string) string {
	t.Helper()
	h, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var hdr struct{ Kid string }
	if err := json.Unmarshal(h, &hdr); err != nil {
		t.Fatal(err)
	}
	return hdr.Kid
}

// release registers app/name for id through r and activates it.
func (r *replica) release(t *testing.T, app, name string, id sim.Identity) {
	t.Helper()
	r.admin(t, "POST", "/admin/v1/releases", map[string]any{"app": app, "name": name, "mrenclave": mrenclaveHex(id)}, 201)
	r.admin(t, "POST", "/admin/v1/releases/"+app+"/"+name+"/activate", nil, 200)
}

// waitFor polls cond every few milliseconds until it holds or limit passes,
// and returns how long it took (or limit and false).
func waitFor(limit time.Duration, cond func() bool) (time.Duration, bool) {
	start := time.Now()
	for {
		if cond() {
			return time.Since(start), true
		}
		if time.Since(start) > limit {
			return limit, false
		}
		time.Sleep(2 * time.Millisecond)
	}
}
