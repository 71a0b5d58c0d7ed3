package cli_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sgxops/sgxops/audit"
	"github.com/sgxops/sgxops/internal/cli"
	"github.com/sgxops/sgxops/registry"
	"github.com/sgxops/sgxops/release"
	"github.com/sgxops/sgxops/store"
	"github.com/sgxops/sgxops/store/storetest"
)

func auditMain(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := cli.Main(append([]string{"audit"}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

// auditDataDir builds a data directory whose store holds n lifecycle
// operations, written through the registry on a real bbolt file.
func auditDataDir(t *testing.T) (dir string, entries []audit.Entry) {
	t.Helper()
	dir = t.TempDir()
	s, err := store.OpenBolt(store.BoltPath(dir), store.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	reg := registry.New(s, registry.Options{Now: func() time.Time { now = now.Add(time.Second); return now }})
	ctx := context.Background()
	for i, name := range []string{"blue", "green"} {
		if _, err := reg.Register(ctx, "ci bot", release.Release{App: "hello", Name: name, MREnclave: fmt.Sprintf("%064x", 0xabc+i)}); err != nil {
			t.Fatal(err)
		}
		if _, err := reg.Activate(ctx, "operator", "hello", name, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := reg.Revoke(ctx, "security", "hello", "blue", "key leaked; rotate"); err != nil {
		t.Fatal(err)
	}
	entries, err = reg.Audit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return dir, entries
}

func TestAuditVerify(t *testing.T) {
	dir, entries := auditDataDir(t)
	head := entries[len(entries)-1]

	code, out, errOut := auditMain("verify", "--data-dir", dir)
	if code != cli.ExitOK {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
	want := fmt.Sprintf("audit log valid: %d entries\nhead: seq %d hash %s\n", len(entries), head.Seq, head.Hash) +
		"stored state matches the audit log: 2 releases, 0 policies, policy certificates none\n"
	if out != want {
		t.Fatalf("output\n%s\nwant\n%s", out, want)
	}

	code, out, _ = auditMain("verify", "--data-dir", dir, "--output", "json")
	var res struct {
		Valid   bool
		Entries int
		Head    audit.Head
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != cli.ExitOK {
		t.Fatalf("exit %d, %v: %s", code, err, out)
	}
	if !res.Valid || res.Entries != len(entries) || res.Head.Hash != head.Hash || res.Head.Seq != head.Seq {
		t.Fatalf("json result %+v", res)
	}
}

func TestAuditVerifyBrokenChain(t *testing.T) {
	dir, _ := auditDataDir(t)
	// Rewrite entry 3's details directly in the bbolt file.
	db, err := bolt.Open(store.BoltPath(dir), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket([]byte("audit"))
		k := binary.BigEndian.AppendUint64(nil, 3)
		b := bytes.Replace(bk.Get(k), []byte(`"mrenclave":"`), []byte(`"mrenclave":"f`), 1)
		return bk.Put(k, b)
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut := auditMain("verify", "--data-dir", dir)
	if code != cli.ExitVerifyFailed || !strings.Contains(out, "BROKEN at seq 3: hash mismatch") ||
		!strings.Contains(errOut, "seq 3") || !strings.Contains(out, "2 entries verified") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	code, out, _ = auditMain("verify", "--data-dir", dir, "-o", "json")
	var res map[string]any
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != cli.ExitVerifyFailed {
		t.Fatalf("exit %d, %v: %s", code, err, out)
	}
	if res["valid"] != false || res["broken_seq"] != 3.0 || res["reason"] != string(audit.ReasonHash) {
		t.Fatalf("json result %v", res)
	}
}

func TestAuditUnreadableStore(t *testing.T) {
	garbage := t.TempDir()
	if err := os.WriteFile(filepath.Join(garbage, store.DefaultBoltFile), bytes.Repeat([]byte{0xee}, 20000), 0o600); err != nil {
		t.Fatal(err)
	}
	locked, _ := auditDataDir(t)
	s, err := store.OpenBolt(store.BoltPath(locked), store.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// A child page id beyond the file in a branch page (issue 13): it used to
	// crash the CLI with exit 2 and a fault trace.
	damaged := t.TempDir()
	storetest.DamagedBolt(t, store.BoltPath(damaged), 3000)
	tests := []struct {
		name string
		dir  string
		msg  string
	}{
		{"missing", filepath.Join(t.TempDir(), "nope"), "no such file"},
		{"garbage", garbage, "corrupt"},
		{"damaged branch page", damaged, store.BoltPath(damaged) + " is damaged"},
	}
	for _, tc := range tests {
		for _, sub := range []string{"verify", "log"} {
			code, _, errOut := auditMain(sub, "--data-dir", tc.dir)
			if code != cli.ExitInvalidInput || !strings.Contains(errOut, tc.msg) {
				t.Errorf("%s %s: exit %d: %s", sub, tc.name, code, errOut)
			}
		}
	}
	// A running attestd holds the lock: the CLI gives up after the lock timeout.
	code, _, errOut := auditMain("verify", "--data-dir", locked, "--lock-timeout", "50ms")
	if code != cli.ExitInvalidInput || !strings.Contains(errOut, "attestd running") {
		t.Errorf("locked: exit %d: %s", code, errOut)
	}
}

func TestAuditUsage(t *testing.T) {
	for _, args := range [][]string{
		{"verify"},
		{"log", "--data-dir", t.TempDir(), "--output", "yaml"},
		{"verify", "--data-dir", t.TempDir(), "extra"},
		{"verify", "--data-dir", t.TempDir(), "--lock-timeout", "0s"},
	} {
		if code, _, errOut := auditMain(args...); code != cli.ExitUsage {
			t.Errorf("%v: exit %d: %s", args, code, errOut)
		}
	}
}

func TestAuditLog(t *testing.T) {
	dir, entries := auditDataDir(t)
	code, out, errOut := auditMain("log", "--data-dir", dir)
	if code != cli.ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != len(entries)+1 || !strings.HasPrefix(lines[0], "SEQ") {
		t.Fatalf("text log:\n%s", out)
	}
	for i, want := range []string{
		`"ci bot"`, "register", "hello/blue", "mrenclave=" + entries[0].Details["mrenclave"], entries[0].Hash.String()[:16],
	} {
		if !strings.Contains(lines[1], want) {
			t.Errorf("line 1 lacks field %d %q: %s", i, want, lines[1])
		}
	}
	if last := lines[len(lines)-1]; !strings.Contains(last, `reason="key leaked; rotate"`) || !strings.Contains(last, "revoke") {
		t.Errorf("last line: %s", last)
	}

	code, out, _ = auditMain("log", "--data-dir", dir, "--output", "json")
	var got []audit.Entry
	if err := json.Unmarshal([]byte(out), &got); err != nil || code != cli.ExitOK {
		t.Fatalf("exit %d, %v", code, err)
	}
	if len(got) != len(entries) || audit.Verify(got) != nil {
		t.Fatalf("JSON log of %d entries does not verify: %v", len(got), audit.Verify(got))
	}

	empty := t.TempDir()
	s, err := store.OpenBolt(store.BoltPath(empty), store.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if code, out, _ := auditMain("log", "--data-dir", empty, "-o", "json"); code != cli.ExitOK || strings.TrimSpace(out) != "[]" {
		t.Fatalf("empty log: exit %d %q", code, out)
	}
	if code, out, _ := auditMain("verify", "--data-dir", empty); code != cli.ExitOK || !strings.Contains(out, "0 entries") {
		t.Fatalf("empty verify: exit %d %q", code, out)
	}
}
