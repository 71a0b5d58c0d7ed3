package cli

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sgxops/sgxops/doctor"
	"github.com/sgxops/sgxops/sim"
)

// writeRoot makes a fake node root: files with modes (regular files stand in
// for device nodes and the AESM socket).
func writeRoot(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, data := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(data), 0o666); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(full, 0o666); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestDoctorExitCodes(t *testing.T) {
	plat, err := sim.New([]byte("cli-doctor"), sim.Config{}, sim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pccs := httptest.NewServer(sim.NewPCSServer(plat))
	defer pccs.Close()
	fmspc := hex.EncodeToString(sim.DefaultFMSPC[:])
	healthy := map[string]string{
		"/proc/cpuinfo":      "processor\t: 0\nflags\t\t: fpu sgx sgx_lc\n",
		"/dev/sgx_enclave":   "",
		"/dev/sgx_provision": "",
		"/sys/devices/system/node/node0/x86/sgx_total_bytes": "67108864\n",
		doctor.AESMSocket: "",
		"/usr/lib/x86_64-linux-gnu/libdcap_quoteprov.so.1": "ELF intel qpl",
		doctor.QCNLConfig: `{"pccs_url": "` + pccs.URL + `/sgx/certification/v4/", "use_secure_cert": false}`,
	}
	noAESM := map[string]string{}
	for k, v := range healthy {
		if k != doctor.AESMSocket {
			noAESM[k] = v
		}
	}
	cases := []struct {
		name     string
		files    map[string]string
		args     []string
		wantCode int
		wantOut  string
	}{
		{"all ok", healthy, []string{"--fmspc", fmspc}, 0, "OK: 14 ok, 0 warn, 0 fail"},
		{"warnings", noAESM, []string{"--fmspc", fmspc}, 1, "WARN  sgx.aesm"},
		{"failures", map[string]string{"/proc/cpuinfo": "flags\t\t: fpu\n"}, nil, 2, "FAIL  sgx.cpu"},
		{"json", healthy, []string{"--fmspc", fmspc, "-o", "json"}, 0, `"status": "ok"`},
		{"usage", healthy, []string{"--attestd-scheme", "ftp"}, 2, ""},
		{"usage: bad --pccs", healthy, []string{"--pccs", "pccs:8081"}, 2, ""},
		{"usage: bad --fmspc", healthy, []string{"--fmspc", "00906ed5"}, 2, ""},
		{"usage: bad --pck-ca", healthy, []string{"--fmspc", fmspc, "--pck-ca", "root"}, 2, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := writeRoot(t, tc.files)
			var out, errb bytes.Buffer
			code := Main(append([]string{"doctor", "--root", root}, tc.args...), &out, &errb)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.wantCode, out.String(), errb.String())
			}
			if tc.wantOut == "" && (out.Len() != 0 || errb.Len() == 0) {
				t.Fatalf("usage error: want no report and a message on stderr; stdout %q stderr %q", out.String(), errb.String())
			}
			if !strings.Contains(out.String(), tc.wantOut) {
				t.Fatalf("stdout lacks %q:\n%s", tc.wantOut, out.String())
			}
		})
	}
}

func TestDoctorJSONShape(t *testing.T) {
	root := writeRoot(t, map[string]string{"/proc/cpuinfo": "flags\t\t: fpu\n"})
	var out, errb bytes.Buffer
	if code := Main([]string{"doctor", "--root", root, "-o", "json"}, &out, &errb); code != 2 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var rep struct {
		Status string
		Checks []doctor.Result
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Status != "fail" || len(rep.Checks) != 14 || rep.Checks[0].ID != "sgx.cpu" || rep.Checks[0].Fix == "" {
		t.Fatalf("report %+v", rep)
	}
}
