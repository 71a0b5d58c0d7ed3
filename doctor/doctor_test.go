package doctor

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"io/fs"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sgxops/sgxops/sim"
)

// node is a fake root file system: node paths to entries. Device nodes and
// sockets cannot be made without root, so regular files stand in for them
// (the checks accept that under a root other than "/").
type node map[string]entry

type entry struct {
	data string
	mode fs.FileMode // permission bits; fs.ModeDir for a directory
	link string      // symlink target when set
	gone bool        // removes the path merged in from another node
}

var absent = entry{gone: true}

func file(data string) entry      { return entry{data: data, mode: 0o644} }
func dev(mode fs.FileMode) entry  { return entry{mode: mode} }
func dir(mode fs.FileMode) entry  { return entry{mode: fs.ModeDir | mode} }
func symlink(target string) entry { return entry{link: target} }
func merge(nodes ...node) node {
	out := node{}
	for _, n := range nodes {
		for k, v := range n {
			out[k] = v
		}
	}
	return out
}

func (n node) build(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	paths := make([]string, 0, len(n))
	for p := range n {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		e := n[p]
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		switch {
		case e.gone:
			continue
		case e.link != "":
			err := os.Symlink(e.link, full)
			if err != nil {
				t.Fatal(err)
			}
		case e.mode&fs.ModeDir != 0:
			if err := os.MkdirAll(full, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(full, e.mode.Perm()); err != nil {
				t.Fatal(err)
			}
		default:
			if err := os.WriteFile(full, []byte(e.data), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(full, e.mode.Perm()); err != nil {
				t.Fatal(err)
			}
		}
	}
	return root
}

const (
	cpuSGX    = "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu vme sse sse2 hypervisor sgx avx512f sgx_lc fsrm\n\nprocessor\t: 1\nflags\t\t: fpu sgx sgx_lc\n"
	cpuNoLC   = "processor\t: 0\nflags\t\t: fpu sse sgx avx2\n"
	cpuNoSGX  = "processor\t: 0\nflags\t\t: fpu sse sse2 avx2 hypervisor\n"
	cpuTDX    = "processor\t: 0\nflags\t\t: fpu sse avx512f tdx_guest\n"
	cpuSNP    = "processor\t: 0\nflags\t\t: fpu sse avx2 sev sev_es sev_snp\n"
	azureLib  = "\x7fELF... AZDCAP_BASE_CERT_URL AZDCAP_CLIENT_ID ..."
	intelLib  = "\x7fELF... /etc/sgx_default_qcnl.conf ..."
	libPath   = "/usr/lib/x86_64-linux-gnu/libdcap_quoteprov.so.1"
	epcSysfs  = "/sys/devices/system/node/node0/x86/sgx_total_bytes"
	epcSysfs1 = "/sys/devices/system/node/node1/x86/sgx_total_bytes"
)

// sgxDevices are the in-kernel driver's nodes with the modes Intel's udev rules set.
var sgxDevices = node{
	"/dev/sgx_enclave":   dev(0o666),
	"/dev/sgx_provision": dev(0o660),
	"/dev/sgx/enclave":   symlink("/dev/sgx_enclave"), // absolute: resolved inside the root
	"/dev/sgx/provision": symlink("../sgx_provision"),
}

func dpkg(pkg, version string) node {
	return node{"/var/lib/dpkg/status": file("Package: libc6\nStatus: install ok installed\nVersion: 2.35\n\nPackage: " + pkg + "\nStatus: install ok installed\nVersion: " + version + "\n")}
}

// services are the loopback collateral services the cases point at.
type services struct {
	fresh, stale, selfSigned, broken, down string
	fmspc                                  string
}

func startServices(t *testing.T) services {
	t.Helper()
	plat, err := sim.New([]byte("doctor"), sim.Config{}, sim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-40 * 24 * time.Hour)
	stalePlat, err := sim.New([]byte("doctor"), sim.Config{}, sim.Options{Now: func() time.Time { return old }})
	if err != nil {
		t.Fatal(err)
	}
	fresh := httptest.NewServer(sim.NewPCSServer(plat))
	stale := httptest.NewServer(sim.NewPCSServer(stalePlat))
	tlsSrv := httptest.NewUnstartedServer(sim.NewPCSServer(plat)) // self-signed for the client
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0)           // the refused handshakes are the point
	tlsSrv.StartTLS()
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "database locked", http.StatusInternalServerError)
	}))
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close()
	t.Cleanup(func() { fresh.Close(); stale.Close(); tlsSrv.Close(); broken.Close() })
	return services{
		fresh: fresh.URL, stale: stale.URL, selfSigned: tlsSrv.URL, broken: broken.URL, down: downURL,
		fmspc: hex.EncodeToString(sim.DefaultFMSPC[:]),
	}
}

func qcnlJSON(pccs string, secure bool, extra string) entry {
	s := "false"
	if secure {
		s = "true"
	}
	return file(`{
  // Intel's file carries comments like this one
  "pccs_url": "` + pccs + `/sgx/certification/v4/",
  /* and block comments */
  "use_secure_cert": ` + s + `,
  "retry_times": 6,` + extra + `
  "pck_cache_expire_hours": 168,
}`)
}

func TestRun(t *testing.T) {
	s := startServices(t)
	sgxNode := merge(sgxDevices, node{
		"/proc/cpuinfo": file(cpuSGX),
		epcSysfs:        file("8589934592\n"),
		epcSysfs1:       file("8589934592\n"),
	})
	intelNode := func(pccs string, secure bool, extra string) node {
		return merge(sgxNode, node{
			AESMSocket: dev(0o666),
			libPath:    file(intelLib),
			QCNLConfig: qcnlJSON(pccs, secure, extra),
		})
	}
	aks := merge(sgxNode, node{libPath: file(azureLib)})
	azEnv := map[string]string{envAZDCAPBaseURL: s.fresh, envAZDCAPClientID: "sgxops-doctor-test"}

	type want map[string]Status
	cases := []struct {
		name string
		root node
		opts Options
		want want
	}{
		{
			name: "AKS DCsv3 node (Azure DCAP client, THIM)",
			root: aks,
			opts: Options{FMSPC: s.fmspc, Env: azEnv},
			want: want{"sgx.cpu": OK, "sgx.devices": OK, "sgx.epc": OK, "sgx.aesm": Warn, "quote.provider": OK,
				"quote.qcnl-config": OK, "quote.pccs-reachable": OK, "quote.local-pck-url": OK, "quote.azure-dcap": OK,
				"collateral.reachable": OK, "collateral.tcbinfo-current": OK, "tdx.guest": OK, "snp.guest": OK, "tsm.report": OK},
		},
		{
			name: "AKS node misconfigured (QCNL beside the Azure client, bad AZDCAP URL, no sgx_provision)",
			root: merge(aks, node{"/dev/sgx_provision": absent, QCNLConfig: qcnlJSON(s.fresh, false, "")}),
			opts: Options{FMSPC: s.fmspc, Env: map[string]string{envAZDCAPBaseURL: "thim.example"}},
			want: want{"sgx.devices": Fail, "quote.qcnl-config": Warn, "quote.azure-dcap": Fail, "collateral.reachable": Fail,
				"collateral.tcbinfo-current": Warn},
		},
		{
			name: "AKS node, Azure client without client id, THIM given on the command line",
			root: aks,
			opts: Options{FMSPC: s.fmspc, THIM: s.fresh, Env: map[string]string{envAZDCAPBaseURL: s.down}},
			want: want{"quote.azure-dcap": Warn, "collateral.reachable": OK, "collateral.tcbinfo-current": OK},
		},
		{
			name: "bare VM without SGX",
			root: node{"/proc/cpuinfo": file(cpuNoSGX)},
			want: want{"sgx.cpu": Fail, "sgx.devices": Warn, "sgx.epc": Warn, "sgx.aesm": Warn, "quote.provider": Warn,
				"quote.qcnl-config": Warn, "quote.pccs-reachable": Warn, "quote.local-pck-url": Warn, "quote.azure-dcap": Warn,
				"collateral.reachable": Warn, "collateral.tcbinfo-current": Warn, "tdx.guest": OK, "snp.guest": OK, "tsm.report": OK},
		},
		{
			name: "no /proc/cpuinfo under the root",
			root: node{"/etc/hostname": file("x\n")},
			want: want{"sgx.cpu": Fail},
		},
		{
			name: "TDX guest with configfs-tsm",
			root: node{"/proc/cpuinfo": file(cpuTDX), "/dev/tdx_guest": dev(0o666), TSMReportDir: dir(0o755)},
			want: want{"sgx.cpu": Warn, "sgx.devices": Warn, "tdx.guest": OK, "snp.guest": OK, "tsm.report": OK},
		},
		{
			name: "TDX guest with a root-only device",
			root: node{"/proc/cpuinfo": file(cpuTDX), "/dev/tdx_guest": dev(0o600), TSMReportDir: dir(0o755)},
			want: want{"tdx.guest": Warn},
		},
		{
			name: "TDX guest without its driver",
			root: node{"/proc/cpuinfo": file(cpuTDX)},
			want: want{"tdx.guest": Fail, "tsm.report": Warn},
		},
		{
			name: "SEV-SNP guest, root-only device, no configfs-tsm",
			root: node{"/proc/cpuinfo": file(cpuSNP), "/dev/sev-guest": dev(0o600)},
			want: want{"sgx.cpu": Warn, "snp.guest": Warn, "tdx.guest": OK, "tsm.report": Warn},
		},
		{
			name: "SEV-SNP guest without its driver, read-only configfs-tsm",
			root: node{"/proc/cpuinfo": file(cpuSNP), TSMReportDir: dir(0o555)},
			want: want{"snp.guest": Fail, "tsm.report": Fail},
		},
		{
			name: "TDX guest device that is a directory",
			root: node{"/proc/cpuinfo": file(cpuTDX), "/dev/tdx_guest": dir(0o755), TSMReportDir: dir(0o755)},
			want: want{"tdx.guest": Fail},
		},
		{
			name: "bare-metal node with an Intel PCCS (JSON QCNL with comments)",
			root: merge(intelNode(s.fresh, false, `"local_pck_url": "http://127.0.0.1:1/x/",`), dpkg("libsgx-dcap-default-qpl", "1.21.100.3-jammy1")),
			opts: Options{FMSPC: s.fmspc},
			want: want{"sgx.cpu": OK, "sgx.devices": OK, "sgx.epc": OK, "sgx.aesm": OK, "quote.provider": OK,
				"quote.qcnl-config": OK, "quote.pccs-reachable": OK, "quote.local-pck-url": OK, "quote.azure-dcap": OK,
				"collateral.reachable": OK, "collateral.tcbinfo-current": OK, "tdx.guest": OK, "snp.guest": OK, "tsm.report": OK},
		},
		{
			name: "broken QCNL config",
			root: merge(sgxNode, node{libPath: file(intelLib), QCNLConfig: file(`{"pccs_url": "https://pccs:8081/sgx/certification/v4/" "use_secure_cert": false}`)}),
			opts: Options{FMSPC: s.fmspc},
			want: want{"quote.qcnl-config": Fail, "quote.pccs-reachable": OK, "collateral.reachable": Warn},
		},
		{
			name: "Intel QPL without a QCNL config",
			root: merge(sgxNode, node{libPath: file(intelLib)}),
			want: want{"quote.qcnl-config": Fail},
		},
		{
			name: "QCNL without pccs_url",
			root: merge(sgxNode, node{libPath: file(intelLib), QCNLConfig: file(`{"use_secure_cert": true}`)}),
			want: want{"quote.qcnl-config": Fail},
		},
		{
			name: "use_secure_cert true against a self-signed PCCS (legacy form)",
			root: merge(sgxNode, node{libPath: file(intelLib), QCNLConfig: file("# legacy\nPCCS_URL=" + s.selfSigned + "/sgx/certification/v4/\nUSE_SECURE_CERT=TRUE\n")}),
			opts: Options{FMSPC: s.fmspc},
			want: want{"quote.qcnl-config": OK, "quote.pccs-reachable": Fail, "collateral.reachable": Fail, "collateral.tcbinfo-current": Warn},
		},
		{
			name: "use_secure_cert false against a self-signed PCCS",
			root: intelNode(s.selfSigned, false, ""),
			opts: Options{FMSPC: s.fmspc},
			want: want{"quote.pccs-reachable": OK, "collateral.reachable": OK, "collateral.tcbinfo-current": OK},
		},
		{
			name: "collateral_service apart from the PCCS (stale), PCCS itself fine",
			root: intelNode(s.fresh, false, `"collateral_service": "`+s.stale+`/sgx/certification/v4/",`),
			opts: Options{FMSPC: s.fmspc},
			want: want{"quote.pccs-reachable": OK, "collateral.reachable": OK, "collateral.tcbinfo-current": Fail},
		},
		{
			name: "unreachable PCCS",
			root: intelNode(s.down, false, ""),
			opts: Options{FMSPC: s.fmspc},
			want: want{"quote.pccs-reachable": Fail, "collateral.reachable": Fail},
		},
		{
			name: "stale TCB Info, local_pck_url with DCAP 1.20, AZDCAP without the Azure client, root-only sgx_provision",
			root: merge(intelNode(s.stale, false, `"local_pck_url": "http://169.254.169.254/metadata/THIM/sgx/certification/v4/",`),
				dpkg("libsgx-dcap-default-qpl", "1.20.100.2-jammy1"), node{"/dev/sgx_provision": dev(0o600)}),
			opts: Options{FMSPC: s.fmspc, Env: azEnv},
			want: want{"sgx.devices": Warn, "quote.pccs-reachable": OK, "quote.local-pck-url": Fail, "quote.azure-dcap": Warn,
				"collateral.reachable": OK, "collateral.tcbinfo-current": Fail},
		},
		{
			name: "legacy DCAP driver, legacy QCNL, PCCS answering 500, AESM path a directory",
			root: node{
				"/proc/cpuinfo": file(cpuSGX), "/dev/sgx/enclave": dev(0o666), "/dev/sgx/provision": dev(0o660),
				AESMSocket: dir(0o755),
				QCNLConfig: file("PCCS_URL=" + s.broken + "/sgx/certification/v4/\nUSE_SECURE_CERT=FALSE\nLOCAL_PCK_URL=http://localhost:8081/sgx/certification/v4/\n"),
			},
			opts: Options{FMSPC: s.fmspc},
			want: want{"sgx.devices": Warn, "sgx.epc": Warn, "sgx.aesm": Fail, "quote.provider": Warn, "quote.qcnl-config": OK,
				"quote.pccs-reachable": Warn, "quote.local-pck-url": Warn, "collateral.reachable": Fail},
		},
		{
			name: "legacy DCAP driver with a root-only enclave device",
			root: node{"/proc/cpuinfo": file(cpuSGX), "/dev/sgx/enclave": dev(0o600), "/dev/sgx/provision": dev(0o660)},
			want: want{"sgx.devices": Warn},
		},
		{
			name: "out-of-tree isgx driver, no Launch Control, EPC 0, dangling quote provider link",
			root: node{"/proc/cpuinfo": file(cpuNoLC), "/dev/isgx": dev(0o666), epcSysfs: file("0\n"),
				libPath: symlink("libdcap_quoteprov.so.1.13.100.4")},
			want: want{"sgx.cpu": Fail, "sgx.devices": Fail, "sgx.epc": Fail, "quote.provider": Fail},
		},
		{
			name: "no SGX device at all",
			root: node{"/proc/cpuinfo": file(cpuSGX)},
			want: want{"sgx.devices": Fail},
		},
	}
	seen := map[string]map[Status]bool{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts := tc.opts
			opts.Root = tc.root.build(t)
			rs := Run(context.Background(), opts)
			if len(rs) != len(hostChecks) {
				t.Fatalf("got %d results, want %d", len(rs), len(hostChecks))
			}
			got := map[string]Result{}
			for _, r := range rs {
				got[r.ID] = r
				if seen[r.ID] == nil {
					seen[r.ID] = map[Status]bool{}
				}
				seen[r.ID][r.Status] = true
				if r.Reason == "" || strings.Contains(r.Reason, "\n") {
					t.Errorf("%s: reason must be one line: %q", r.ID, r.Reason)
				}
				if r.Status != OK && r.Fix == "" {
					t.Errorf("%s: %s without a fix", r.ID, r.Status)
				}
				if r.Status == OK && r.Fix != "" {
					t.Errorf("%s: ok with a fix", r.ID)
				}
			}
			for id, st := range tc.want {
				r, found := got[id]
				if !found {
					t.Errorf("no result %s", id)
					continue
				}
				if r.Status != st {
					t.Errorf("%s = %s (%s; fix: %s), want %s", id, r.Status, r.Reason, r.Fix, st)
				}
			}
		})
	}
	// Acceptance: every check has ok, warn and fail cases in the table.
	for _, c := range Run(context.Background(), Options{Root: t.TempDir()}) {
		for _, st := range []Status{OK, Warn, Fail} {
			if !seen[c.ID][st] {
				t.Errorf("check %s has no %s case in the table", c.ID, st)
			}
		}
	}
}

func TestWorstAndJSON(t *testing.T) {
	rs := []Result{ok("a", "fine"), warn("b", "meh", "do x")}
	if Worst(rs) != Warn || Worst(nil) != OK || Worst(append(rs, fail("c", "bad", "y"))) != Fail {
		t.Fatal("Worst")
	}
	b, err := json.Marshal(rs)
	if err != nil {
		t.Fatal(err)
	}
	if want := `[{"id":"a","status":"ok","reason":"fine"},{"id":"b","status":"warn","reason":"meh","fix":"do x"}]`; string(b) != want {
		t.Fatalf("json %s, want %s", b, want)
	}
}
