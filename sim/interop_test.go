package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/sgxops/sgxops/dcap"
	"github.com/sgxops/sgxops/internal/testdeps"
)

// The interop test runs an independent verifier, the pure-JS @phala/dcap-qvl
// (pinned in test/interop/js/package.json), over simulated quotes and their
// collateral, and checks that it reaches the same result as dcap.Verify: proof
// that the simulated platform is Intel-shaped, not sgxops-shaped.

// jsDir is test/interop/js of the repository.
func jsDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "test", "interop", "js")
}

// requireJS skips with one line when node or the npm packages are missing,
// and fails under make test and CI (testdeps.Required): CI must not go green
// without the interop check.
func requireJS(t *testing.T) (node, script string) {
	t.Helper()
	dir := jsDir()
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@phala", "dcap-qvl", "package.json")); err != nil {
		testdeps.Missing(t, fmt.Sprintf("the JS interop verifier @phala/dcap-qvl is not installed (%v)", err),
			"run `make test-deps` (scripts/install-test-deps.sh runs npm ci in test/interop/js)")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		testdeps.Missing(t, fmt.Sprintf("node is not on PATH (%v)", err), "install Node.js, then run `make test-deps`")
	}
	return node, filepath.Join(dir, "verify.js")
}

// jsResult is the driver's output for one quote: a status, or the error the
// verifier rejected it with (InputError: the driver could not read the case).
type jsResult struct {
	Status      string   `json:"status"`
	AdvisoryIDs []string `json:"advisory_ids"`
	Error       string   `json:"error"`
	InputError  string   `json:"input_error"`
}

// runJS verifies every case with one node process (--batch) and returns the
// results in order.
func runJS(t *testing.T, node, script string, cases []simCase, at []time.Time) []jsResult {
	t.Helper()
	dir := t.TempDir()
	type entry struct {
		Quote      string `json:"quote"`
		Collateral string `json:"collateral"`
		Root       string `json:"root"`
		Time       int64  `json:"time"`
	}
	var manifest []entry
	write := func(name string, b []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	for i, c := range cases {
		bundle, err := c.coll.MarshalBundle()
		if err != nil {
			t.Fatal(err)
		}
		manifest = append(manifest, entry{
			Quote:      write(fmt.Sprintf("quote-%d.bin", i), c.raw),
			Collateral: write(fmt.Sprintf("collateral-%d.json", i), bundle),
			Root:       write(fmt.Sprintf("root-%d.pem", i), c.p.RootPEM()),
			Time:       at[i].Unix(),
		})
	}
	m, err := json.Marshal(manifest)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, script, "--batch", write("manifest.json", m))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("JS verifier: %v\nstdout: %s\nstderr: %s", err, stdout.String(), stderr.String())
	}
	var out []jsResult
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil || len(out) != len(cases) {
		t.Fatalf("JS verifier output %q: %v (stderr: %s)", stdout.String(), err, stderr.String())
	}
	return out
}

// outcome is a verifier's result in comparable form: "status ADVISORIES" or
// "rejected: KIND".
func goOutcome(v *dcap.Verdict, err error) string {
	switch {
	case errors.Is(err, dcap.ErrRevoked) && v != nil:
		return "rejected: TCB status Revoked"
	case errors.Is(err, dcap.ErrRevoked):
		return "rejected: certificate revoked"
	case errors.Is(err, dcap.ErrNoMatchingTCBLevel):
		return "rejected: no matching TCB level"
	case errors.Is(err, dcap.ErrCollateralExpired):
		return "rejected: collateral expired"
	case err != nil:
		return "rejected: " + err.Error()
	case v.Debug:
		return "rejected: debug enclave"
	}
	return fmt.Sprintf("%s %v", v.Status, sortedAdvisories(v.AdvisoryIDs))
}

// jsOutcome maps dcap-qvl's messages onto the same kinds.
func jsOutcome(r jsResult) string {
	switch {
	case r.Error == "":
		return fmt.Sprintf("%s %v", r.Status, sortedAdvisories(r.AdvisoryIDs))
	case strings.Contains(r.Error, "TCB status is invalid: Revoked"):
		return "rejected: TCB status Revoked"
	case strings.Contains(r.Error, "Certificate is revoked"):
		return "rejected: certificate revoked"
	case strings.Contains(r.Error, "No matching TCB level"):
		return "rejected: no matching TCB level"
	case strings.Contains(r.Error, "expired"):
		return "rejected: collateral expired"
	case strings.Contains(r.Error, "Debug mode is enabled"):
		return "rejected: debug enclave"
	}
	return "rejected: " + r.Error
}

func TestInteropDCAPQVL(t *testing.T) {
	node, script := requireJS(t)
	type row struct {
		name string
		cfg  Config
		tee  TEE
		// quote overrides the default quote of makeCase.
		quote func(p *Platform) ([]byte, error)
		// at overrides the verification time verifyAt.
		at time.Time
	}
	var rows []row
	for _, tee := range []TEE{TEESGX, TEETDX} {
		for _, s := range Statuses {
			rows = append(rows, row{name: string(s), cfg: Config{TCBStatus: s}, tee: tee})
		}
		rows = append(rows,
			row{name: "BelowAllLevels", cfg: Config{TCBStatus: BelowAllLevels}, tee: tee},
			row{name: "PCK revoked", cfg: Config{PCKRevoked: true}, tee: tee},
			row{name: "PCK revoked (Platform CA)", cfg: Config{PCKRevoked: true, PCKCA: CAPlatform}, tee: tee},
			row{name: "QE out of date", cfg: Config{QESVN: QEOutOfDateSVN}, tee: tee},
			row{name: "Platform CA, SWHardeningNeeded", cfg: Config{PCKCA: CAPlatform, TCBStatus: SWHardeningNeeded}, tee: tee},
			row{name: "collateral expired", tee: tee, at: testNow.Add(DefaultCollateralValidity + time.Second)},
		)
	}
	rows = append(rows,
		row{name: "debug enclave", tee: TEESGX, quote: func(p *Platform) ([]byte, error) {
			id := testIdentity()
			id.Attributes.Flags |= 2 // DEBUG
			return p.Quote(id, [64]byte{})
		}},
		row{name: "TD 1.5 quote, OutOfDate", cfg: Config{TCBStatus: OutOfDate}, tee: TEETDX, quote: func(p *Platform) ([]byte, error) {
			return p.TD15Quote(TDIdentity{}, [64]byte{})
		}},
	)
	cases := make([]simCase, len(rows))
	at := make([]time.Time, len(rows))
	for i, r := range rows {
		cases[i] = makeCase(t, r.cfg, r.tee, r.quote)
		if at[i] = r.at; at[i].IsZero() {
			at[i] = verifyAt
		}
	}
	results := runJS(t, node, script, cases, at)
	var table strings.Builder
	fmt.Fprintf(&table, "%-5s %-32s %-58s %s\n", "TEE", "case", "dcap.Verify", "@phala/dcap-qvl")
	for i, r := range rows {
		c, res, when := cases[i], results[i], at[i]
		t.Run(string(r.tee)+"/"+r.name, func(t *testing.T) {
			if res.InputError != "" {
				t.Fatalf("JS driver could not read the case: %s", res.InputError)
			}
			v, err := dcap.Verify(c.quote, c.coll, simOptions(c.p, when))
			got, js := goOutcome(v, err), jsOutcome(res)
			fmt.Fprintf(&table, "%-5s %-32s %-58s %s\n", r.tee, r.name, got, js)
			if got != js {
				t.Errorf("verifiers disagree:\n dcap.Verify:     %s\n @phala/dcap-qvl: %s", got, js)
			}
			if strings.HasPrefix(got, "rejected: dcap:") {
				t.Errorf("unexpected dcap failure: %s", got)
			}
		})
	}
	t.Logf("interop results:\n%s", table.String())
}
