package doctor

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// Status is the outcome of one check.
type Status string

// Statuses, from best to worst.
const (
	OK   Status = "ok"
	Warn Status = "warn"
	Fail Status = "fail"
)

// Result is one check's answer. Reason is one line; Fix says what to do and is
// empty when Status is OK.
type Result struct {
	ID     string `json:"id"`
	Status Status `json:"status"`
	Reason string `json:"reason"`
	Fix    string `json:"fix,omitempty"`
}

func ok(id, reason string) Result { return Result{ID: id, Status: OK, Reason: reason} }
func warn(id, reason, fix string) Result {
	return Result{ID: id, Status: Warn, Reason: reason, Fix: fix}
}
func fail(id, reason, fix string) Result {
	return Result{ID: id, Status: Fail, Reason: reason, Fix: fix}
}
func skipped(id, why string) Result {
	return warn(id, "skipped: "+why, "fix the check it depends on first")
}
func result(s Status, id, reason, fix string) Result {
	if s == OK {
		fix = ""
	}
	return Result{ID: id, Status: s, Reason: reason, Fix: fix}
}

// Worst returns the worst status of rs (OK for none).
func Worst(rs []Result) Status {
	w := OK
	for _, r := range rs {
		switch {
		case r.Status == Fail:
			return Fail
		case r.Status == Warn:
			w = Warn
		}
	}
	return w
}

// Options configure the host checks. The zero value checks the running
// machine ("/") with a 10 s HTTP client and the wall clock.
type Options struct {
	// Root is the directory every path is read under; "" means "/". Under a
	// root other than "/", regular files and symlinks stand in for device nodes
	// and sockets, and configfs-tsm is only checked for presence and
	// writability (no report is produced).
	Root string
	// HTTPClient performs every request (PCCS, THIM, PCS). Nil: a client with a
	// 10 s timeout. Its TLS settings are kept, except that a QCNL
	// use_secure_cert false turns verification off for that PCCS only.
	HTTPClient *http.Client
	// Now is the clock collateral validity is judged by; nil means time.Now.
	Now func() time.Time
	// FMSPC is the platform's FMSPC (12 hex digits) for the collateral checks;
	// "" skips them with a warning (collateral needs it).
	FMSPC string
	// PCKCA is "processor" or "platform"; "" means processor.
	PCKCA string
	// PCS, PCCS, THIM name the collateral service to check; all "" means the
	// one the node's quote provider is configured with.
	PCS, PCCS, THIM string
	// Env holds the Azure DCAP client's settings (AZDCAP_* variables of the
	// workload, e.g. from a debug pod); nil means none. The library never reads
	// the process environment itself.
	Env map[string]string
}

// Run runs every host check in a fixed order.
func Run(ctx context.Context, opts Options) []Result {
	e := newEnv(opts)
	var rs []Result
	for _, c := range hostChecks {
		rs = append(rs, c(ctx, e))
	}
	return rs
}

// hostChecks are the host checks in report order; each returns one Result.
var hostChecks = []func(context.Context, *env) Result{
	checkSGXCPU,
	checkSGXDevices,
	checkSGXEPC,
	checkAESM,
	checkQuoteProvider,
	checkQCNLConfig,
	checkPCCSReachable,
	checkLocalPCKURL,
	checkAzureDCAP,
	checkCollateralReachable,
	checkTCBInfoCurrent,
	checkTDXGuest,
	checkSNPGuest,
	checkTSMReport,
}

// env is the state shared by the checks of one Run: options with defaults and
// memoized reads.
type env struct {
	opts     Options
	root     string
	realRoot bool
	client   *http.Client
	now      func() time.Time

	cpu  *cpuInfo
	qcnl *qcnlResult
	coll *collResult
}

func newEnv(o Options) *env {
	e := &env{opts: o, root: o.Root, client: o.HTTPClient, now: o.Now}
	if e.root == "" {
		e.root = "/"
	}
	e.realRoot = filepath.Clean(e.root) == "/"
	if e.client == nil {
		e.client = &http.Client{Timeout: 10 * time.Second}
	}
	if e.now == nil {
		e.now = time.Now
	}
	return e
}

// path maps an absolute node path to the file under the root.
func (e *env) path(p string) string { return filepath.Join(e.root, filepath.FromSlash(p)) }

func (e *env) readFile(p string) ([]byte, error) { return os.ReadFile(e.path(p)) }

// stat follows symlinks inside the root (an absolute link target is taken
// relative to the root, as the node would see it) and returns the final
// node path and its FileInfo.
func (e *env) stat(p string) (string, fs.FileInfo, error) {
	for i := 0; i < 16; i++ {
		fi, err := os.Lstat(e.path(p))
		if err != nil {
			return p, nil, err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			return p, fi, nil
		}
		t, err := os.Readlink(e.path(p))
		if err != nil {
			return p, nil, err
		}
		if !strings.HasPrefix(t, "/") {
			t = path.Join(path.Dir(p), t)
		}
		p = path.Clean(t)
	}
	return p, nil, errors.New("too many symlinks")
}

func (e *env) exists(p string) bool {
	_, _, err := e.stat(p)
	return err == nil
}
