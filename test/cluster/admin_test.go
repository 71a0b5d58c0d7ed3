package cluster_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sgxops/sgxops/attestd"
	"github.com/sgxops/sgxops/audit"
	"github.com/sgxops/sgxops/internal/k8stest"
	"github.com/sgxops/sgxops/store"
	"github.com/sgxops/sgxops/store/kube"
)

// ack is an acknowledged admin change: the replica answered 2xx.
type ack struct {
	replica, op, app, name, mrenclave string
}

// TestClusterConcurrentAdmin: three in-process replicas and one subprocess
// replica on one API server take register and activate calls concurrently,
// on the same apps; the subprocess is SIGKILLed mid-write. Afterwards every
// acknowledged change is present (and audited), each app has exactly one
// active release, the audit chain verifies through every replica and
// through a read-only store opened like `sgxops audit verify` (and the CLI
// itself when it has --store kubernetes), and a restarted replica finishes
// whatever the killed one left half-written.
func TestClusterConcurrentAdmin(t *testing.T) {
	c := newCluster(t)
	a, b, cc := c.start("a"), c.start("b"), c.start("c")
	d := c.startProcess("d")
	apps := []string{"shop", "ledger"}

	var mu sync.Mutex
	var acks []ack
	var killed atomic.Bool
	var refused, conflicts, unknown, dAcks atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	for _, r := range []*replica{a, b, cc, d} {
		for g := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := 0; !stop.Load(); k++ {
					app, name := apps[k%len(apps)], fmt.Sprintf("%s-%d-%d", r.name, g, k)
					mre := mrenclaveHex(identity(app + "/" + name))
				ops:
					for _, op := range []string{"register", "activate"} {
						var st int
						var body []byte
						if op == "register" {
							st, body = r.do("POST", "/admin/v1/releases", adminToken, map[string]any{"app": app, "name": name, "mrenclave": mre})
						} else {
							st, body = r.do("POST", "/admin/v1/releases/"+app+"/"+name+"/activate", adminToken, nil)
						}
						switch {
						case st == 200 || st == 201:
							mu.Lock()
							acks = append(acks, ack{r.name, op, app, name, mre})
							mu.Unlock()
							if r == d {
								dAcks.Add(1)
							}
							continue
						case st == 0 && r == d && killed.Load():
							unknown.Add(1) // outcome unknown: the replica died
							return
						case st == 409:
							conflicts.Add(1)
						default:
							refused.Add(1)
							t.Errorf("replica %s: %s %s/%s: HTTP %d: %s", r.name, op, app, name, st, body)
						}
						break ops
					}
				}
			}()
		}
	}
	// Kill d while its writes are in flight, once it has acknowledged some;
	// the others go on for a while.
	if _, ok := waitFor(30*time.Second, func() bool { return dAcks.Load() >= 3 }); !ok {
		t.Error("replica d acknowledged fewer than 3 changes in 30 s")
	}
	killed.Store(true)
	d.kill()
	time.Sleep(2 * time.Second)
	stop.Store(true)
	wg.Wait()
	if t.Failed() {
		return
	}
	byOp := map[string]int{}
	for _, x := range acks {
		byOp[x.replica+" "+x.op]++
	}
	t.Logf("acknowledged: %v; 409 conflicts (registry retries exhausted): %d; in flight when d died: %d", byOp, conflicts.Load(), unknown.Load())
	if byOp["d register"] == 0 || byOp["a activate"]+byOp["b activate"]+byOp["c activate"] == 0 {
		t.Fatalf("too little happened to test anything: %v", byOp)
	}

	// A restarted d finishes what the killed one left half-written (the
	// store rolls forward on open), then everything is checked through it
	// too.
	d2 := c.startProcess("d2")
	for _, r := range []*replica{a, b, cc, d2} {
		checkTrustSet(t, r, apps, acks)
		var v attestd.AuditVerification
		if err := json.Unmarshal(r.admin(t, "GET", "/admin/v1/audit/verify", nil, 200), &v); err != nil {
			t.Fatal(err)
		}
		if !v.Valid {
			t.Fatalf("replica %s: audit chain: %+v", r.name, v)
		}
	}
	checkAudit(t, c, acks)
	auditCLI(t, c)
}

// checkTrustSet checks through r that every acknowledged register is
// present with its MRENCLAVE, every acknowledged activation left its release
// past candidate, and each app has exactly one active release.
func checkTrustSet(t *testing.T, r *replica, apps []string, acks []ack) {
	t.Helper()
	var list struct {
		Releases []struct {
			App       string `json:"app"`
			Name      string `json:"name"`
			MREnclave string `json:"mrenclave"`
			State     string `json:"state"`
		} `json:"releases"`
	}
	if err := json.Unmarshal(r.admin(t, "GET", "/admin/v1/releases", nil, 200), &list); err != nil {
		t.Fatal(err)
	}
	type rel struct{ mre, state string }
	got := map[string]rel{}
	active := map[string]int{}
	for _, x := range list.Releases {
		got[x.App+"/"+x.Name] = rel{x.MREnclave, x.State}
		if x.State == "active" {
			active[x.App]++
		}
	}
	for _, x := range acks {
		g, ok := got[x.app+"/"+x.name]
		switch {
		case !ok:
			t.Errorf("replica %s: acknowledged %s of %s/%s through %s is missing", r.name, x.op, x.app, x.name, x.replica)
		case g.mre != x.mrenclave:
			t.Errorf("replica %s: %s/%s has MRENCLAVE %s, want %s", r.name, x.app, x.name, g.mre, x.mrenclave)
		case x.op == "activate" && g.state == "candidate":
			t.Errorf("replica %s: acknowledged activation of %s/%s through %s, but it is a candidate", r.name, x.app, x.name, x.replica)
		}
	}
	for _, app := range apps {
		if active[app] != 1 {
			t.Errorf("replica %s: app %s has %d active releases, want 1", r.name, app, active[app])
		}
	}
}

// checkAudit opens the store read-only, as an auditor does, verifies the
// chain and finds an entry for every acknowledged change.
func checkAudit(t *testing.T, c *cluster, acks []ack) {
	t.Helper()
	ctx := context.Background()
	st, err := kube.Open(ctx, kube.Options{Config: env.Config, Namespace: c.ns, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	status, err := store.VerifyLog(ctx, st)
	if err != nil {
		t.Fatalf("audit chain: %v", err)
	}
	entries, err := st.ListAudit(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range entries {
		seen[string(e.Action)+" "+e.App+"/"+e.Release] = true
	}
	for _, x := range acks {
		act := audit.ActionRegister
		if x.op == "activate" {
			act = audit.ActionActivate
		}
		if !seen[string(act)+" "+x.app+"/"+x.name] {
			t.Errorf("no audit entry for the acknowledged %s of %s/%s", x.op, x.app, x.name)
		}
	}
	t.Logf("audit chain verified: %d entries, head %d", status.Entries, status.Head.Seq)
}

// auditCLI runs `sgxops audit verify` against the cluster store when the
// CLI has the Kubernetes store (it is added in the same round).
func auditCLI(t *testing.T, c *cluster) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sgxops")
	build := exec.Command("go", "build", "-o", bin, "./cmd/sgxops")
	build.Dir = k8stest.RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		t.Logf("sgxops does not build (%v), skipping the CLI check:\n%s", err, out)
		return
	}
	help, _ := exec.Command(bin, "audit", "verify", "--help").CombinedOutput()
	if !bytes.Contains(help, []byte("store-namespace")) {
		t.Log("`sgxops audit verify` has no --store kubernetes yet: CLI check skipped (the same verification ran in-process)")
		return
	}
	out, err := exec.Command(bin, "audit", "verify", "--store", "kubernetes", "--store-namespace", c.ns, "--kubeconfig", c.kubeconfig).CombinedOutput()
	if err != nil {
		t.Fatalf("sgxops audit verify --store kubernetes: %v\n%s", err, out)
	}
	t.Logf("sgxops audit verify --store kubernetes: %s", strings.TrimSpace(string(out)))
}
