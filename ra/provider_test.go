package ra

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-configfs-tsm/configfs/configfsi"
	"github.com/google/go-configfs-tsm/configfs/faketsm"

	"github.com/sgxops/sgxops/sgx"
)

func TestSimulatedProviderQuote(t *testing.T) {
	p := provider(t, "seed-a", "v1", false)
	if !strings.Contains(p.Name(), "SIMULATED") {
		t.Fatalf("name %q does not say SIMULATED", p.Name())
	}
	rd := ReportData([]byte("runtime"))
	b, err := p.Quote(rd)
	if err != nil {
		t.Fatal(err)
	}
	q, err := sgx.ParseQuote(b)
	if err != nil {
		t.Fatal(err)
	}
	if q.SGXBody.ReportData != rd || q.SGXBody.MREnclave != p.Identity.MREnclave {
		t.Fatalf("quote body %+v", q.SGXBody)
	}
	// The simulated PCK chain in the quote says SIMULATED too.
	chain, err := q.Signature.CertData.PCKChain()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range chain {
		if !strings.Contains(c.Subject.CommonName, "SIMULATED") {
			t.Fatalf("certificate %q in a simulated quote does not say SIMULATED", c.Subject.CommonName)
		}
	}
	if _, err := (&SimulatedProvider{}).Quote(rd); err == nil {
		t.Fatal("provider without platform made a quote")
	}
}

// The Gramine provider is tested against a temporary directory that fakes
// /dev/attestation: user_report_data and quote are ordinary files here, so
// the test checks the file protocol (what is written where, what is read),
// not Gramine itself.
func TestGramineProviderFakeDir(t *testing.T) {
	quote := simQuote(t)
	tests := []struct {
		name    string
		setup   func(dir string)
		wantErr string
	}{
		{"dcap", func(dir string) {
			write(t, dir, "attestation_type", []byte("dcap\n"))
			write(t, dir, "user_report_data", nil)
			write(t, dir, "quote", quote)
		}, ""},
		{"no attestation_type file", func(dir string) {
			write(t, dir, "user_report_data", nil)
			write(t, dir, "quote", quote)
		}, ""},
		{"attestation none", func(dir string) {
			write(t, dir, "attestation_type", []byte("none"))
			write(t, dir, "user_report_data", nil)
			write(t, dir, "quote", quote)
		}, `attestation_type is "none"`},
		{"not under gramine", func(dir string) {}, "not running under Gramine"},
		{"empty quote", func(dir string) {
			write(t, dir, "user_report_data", nil)
			write(t, dir, "quote", nil)
		}, "empty quote"},
		{"no quote file", func(dir string) {
			write(t, dir, "user_report_data", nil)
		}, "read quote"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.setup(dir)
			g := &GramineProvider{Dir: dir}
			rd := ReportData([]byte("transcript"))
			got, err := g.Quote(rd)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, quote) {
				t.Fatal("quote not returned as read")
			}
			written, err := os.ReadFile(filepath.Join(dir, "user_report_data"))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(written, rd[:]) {
				t.Fatalf("user_report_data = %x, want %x", written, rd)
			}
		})
	}
	if n := (&GramineProvider{}).Name(); !strings.Contains(n, DefaultGramineDir) {
		t.Fatalf("default name %q", n)
	}
}

func write(t *testing.T, dir, name string, b []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// The configfs-tsm provider runs against go-configfs-tsm's own fake, whose
// outblob echoes the privilege level and inblob.
func TestTSMProviderFake(t *testing.T) {
	client := &faketsm.Client{Subsystems: map[string]configfsi.Client{"report": faketsm.Report611(0)}}
	p := &TSMProvider{Client: client}
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			rd := ReportData([]byte{byte(i)})
			out, err := p.Quote(rd)
			if err != nil {
				t.Error(err)
				return
			}
			if want := "inblob: " + hex.EncodeToString(rd[:]); !strings.Contains(string(out), want) {
				t.Errorf("outblob %q does not carry the report data", out)
			}
		}(i)
	}
	wg.Wait()

	level := uint(1)
	p = &TSMProvider{Client: client, Privilege: &level}
	out, err := p.Quote([64]byte{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "privlevel: 1") {
		t.Fatalf("outblob %q does not carry the privilege level", out)
	}
	// The fake refuses a privilege level below its floor.
	floor := &faketsm.Client{Subsystems: map[string]configfsi.Client{"report": faketsm.Report611(2)}}
	if _, err := (&TSMProvider{Client: floor, Privilege: &level}).Quote([64]byte{}); err == nil {
		t.Fatal("privilege below the floor accepted")
	}
}
