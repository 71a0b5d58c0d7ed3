package sim

import (
	"crypto/x509"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/sgxops/sgxops/collateral"
	"github.com/sgxops/sgxops/dcap"
	"github.com/sgxops/sgxops/sgx"
)

// verifyAt is when simulated quotes are verified: an hour after the test
// platform issued its collateral.
var verifyAt = testNow.Add(time.Hour)

// simOptions trusts p's root, explicitly, as an insecure simulation root
// (Intel's root stays trusted too).
func simOptions(p *Platform, now time.Time) dcap.Options {
	pool := x509.NewCertPool()
	pool.AddCert(p.RootCertificate())
	return dcap.Options{InsecureSimulationRoots: pool, Now: func() time.Time { return now }}
}

// simCase is a simulated quote with its collateral.
type simCase struct {
	p     *Platform
	raw   []byte
	quote *sgx.Quote
	coll  *collateral.Collateral
}

func makeCase(t *testing.T, cfg Config, tee TEE, quote func(p *Platform) ([]byte, error)) simCase {
	t.Helper()
	p := newTestPlatform(t, "verify", cfg)
	if quote == nil {
		quote = func(p *Platform) ([]byte, error) {
			var rd [64]byte
			if tee == TEETDX {
				return p.TDQuote(TDIdentity{}, rd)
			}
			return p.Quote(testIdentity(), rd)
		}
	}
	raw, err := quote(p)
	if err != nil {
		t.Fatal(err)
	}
	q, err := sgx.ParseQuote(raw)
	if err != nil {
		t.Fatal(err)
	}
	c, err := p.Collateral(p.Request(tee))
	if err != nil {
		t.Fatal(err)
	}
	return simCase{p: p, raw: raw, quote: q, coll: c}
}

func sortedAdvisories(ids []string) []string {
	out := append([]string{}, ids...)
	slices.Sort(out)
	return slices.Compact(out)
}

// TestVerifyEveryTCBStatus puts the platform at each TCB level and checks
// that dcap.Verify reports the status and advisories the simulated TCB Info
// gives it, for SGX and TDX quotes.
func TestVerifyEveryTCBStatus(t *testing.T) {
	for _, tee := range []TEE{TEESGX, TEETDX} {
		for _, status := range Statuses {
			t.Run(string(tee)+"/"+string(status), func(t *testing.T) {
				c := makeCase(t, Config{TCBStatus: status}, tee, nil)
				v, err := dcap.Verify(c.quote, c.coll, simOptions(c.p, verifyAt))
				if status == Revoked {
					if !errors.Is(err, dcap.ErrRevoked) {
						t.Fatalf("Revoked level: error %v, want ErrRevoked", err)
					}
				} else if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if v == nil {
					t.Fatal("no verdict")
				}
				if v.Status.String() != string(status) || v.PlatformStatus.String() != string(status) {
					t.Errorf("status %v (platform %v), want %s", v.Status, v.PlatformStatus, status)
				}
				if got, want := v.AdvisoryIDs, sortedAdvisories(Advisories(status)); !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
					t.Errorf("advisories %v, want %v", got, want)
				}
				if !v.Simulated {
					t.Error("verdict of a simulated quote is not marked Simulated")
				}
				if v.TEE != dcap.TEE(tee) || v.PCKCA != string(CAProcessor) || v.QEStatus != dcap.StatusUpToDate {
					t.Errorf("verdict TEE %s PCK CA %s QE %v", v.TEE, v.PCKCA, v.QEStatus)
				}
			})
		}
	}
}

// TestVerifyComponentStatuses covers the statuses that come from the QE and
// the TDX module rather than the platform level, including TD relaunch.
func TestVerifyComponentStatuses(t *testing.T) {
	td15 := func(launchSVN uint8) func(p *Platform) ([]byte, error) {
		return func(p *Platform) ([]byte, error) {
			return p.TD15Quote(TDIdentity{ModuleSVNAtLaunch: launchSVN}, [64]byte{})
		}
	}
	for _, tc := range []struct {
		name   string
		cfg    Config
		tee    TEE
		quote  func(p *Platform) ([]byte, error)
		want   dcap.Status
		adv    []string
		module dcap.Status
	}{
		{"QE out of date", Config{QESVN: QEOutOfDateSVN}, TEESGX, nil, dcap.StatusOutOfDate, []string{AdvisoryQEOutOfDate}, dcap.StatusUnknown},
		{"QE out of date, configuration needed", Config{QESVN: QEOutOfDateSVN, TCBStatus: ConfigurationNeeded}, TEESGX, nil,
			dcap.StatusOutOfDateConfigurationNeeded, []string{AdvisoryConfiguration, AdvisoryQEOutOfDate}, dcap.StatusUnknown},
		{"TD QE out of date", Config{QESVN: QEOutOfDateSVN}, TEETDX, nil, dcap.StatusOutOfDate, []string{AdvisoryQEOutOfDate}, dcap.StatusUpToDate},
		{"TDX module out of date", Config{TDXModuleSVN: TDXModuleOutOfDateSVN}, TEETDX, nil, dcap.StatusOutOfDate, []string{AdvisoryTDXModuleOutOfDate}, dcap.StatusOutOfDate},
		{"TD 1.5 up to date", Config{}, TEETDX, td15(0), dcap.StatusUpToDate, nil, dcap.StatusUpToDate},
		{"TD relaunch advised", Config{}, TEETDX, td15(TDXModuleOutOfDateSVN), dcap.StatusTDRelaunchAdvised, []string{AdvisoryTDXModuleOutOfDate}, dcap.StatusOutOfDate},
		{"TD relaunch advised, configuration needed", Config{TCBStatus: ConfigurationNeeded}, TEETDX, td15(TDXModuleOutOfDateSVN),
			dcap.StatusTDRelaunchAdvisedConfigurationNeeded, []string{AdvisoryConfiguration, AdvisoryTDXModuleOutOfDate}, dcap.StatusOutOfDate},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := makeCase(t, tc.cfg, tc.tee, tc.quote)
			v, err := dcap.Verify(c.quote, c.coll, simOptions(c.p, verifyAt))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if v.Status != tc.want || v.TDXModuleStatus != tc.module {
				t.Errorf("status %v (module %v), want %v (module %v)", v.Status, v.TDXModuleStatus, tc.want, tc.module)
			}
			if !slices.Equal(v.AdvisoryIDs, sortedAdvisories(tc.adv)) && !(len(v.AdvisoryIDs) == 0 && len(tc.adv) == 0) {
				t.Errorf("advisories %v, want %v", v.AdvisoryIDs, sortedAdvisories(tc.adv))
			}
		})
	}
}

// TestVerifyRejections: the simulation root is never trusted by default, and
// the usual failures are reported with their reasons on simulated quotes.
func TestVerifyRejections(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		opts func(p *Platform) dcap.Options
		want error
	}{
		{"Intel root by default", Config{}, func(p *Platform) dcap.Options {
			return dcap.Options{Now: func() time.Time { return verifyAt }}
		}, dcap.ErrChainInvalid},
		{"another platform's root", Config{}, func(p *Platform) dcap.Options {
			return simOptions(newTestPlatform(t, "another", Config{}), verifyAt)
		}, dcap.ErrChainInvalid},
		{"revoked PCK certificate", Config{PCKRevoked: true}, func(p *Platform) dcap.Options { return simOptions(p, verifyAt) }, dcap.ErrRevoked},
		{"revoked PCK certificate of the Platform CA", Config{PCKRevoked: true, PCKCA: CAPlatform}, func(p *Platform) dcap.Options { return simOptions(p, verifyAt) }, dcap.ErrRevoked},
		{"collateral expired", Config{}, func(p *Platform) dcap.Options {
			return simOptions(p, testNow.Add(DefaultCollateralValidity+time.Second))
		}, dcap.ErrCollateralExpired},
		{"collateral not yet valid", Config{}, func(p *Platform) dcap.Options {
			return simOptions(p, testNow.Add(-time.Second))
		}, dcap.ErrCollateralExpired},
		{"below every TCB level", Config{TCBStatus: BelowAllLevels}, func(p *Platform) dcap.Options { return simOptions(p, verifyAt) }, dcap.ErrNoMatchingTCBLevel},
	} {
		for _, tee := range []TEE{TEESGX, TEETDX} {
			t.Run(tc.name+"/"+string(tee), func(t *testing.T) {
				c := makeCase(t, tc.cfg, tee, nil)
				v, err := dcap.Verify(c.quote, c.coll, tc.opts(c.p))
				if !errors.Is(err, tc.want) {
					t.Fatalf("Verify = %v, want %v", err, tc.want)
				}
				if v != nil {
					t.Errorf("a rejected quote got a verdict: %+v", v)
				}
			})
		}
	}
}

// TestSimulatedEvenAsProductionRoot: a simulated platform's root handed to
// dcap as an ordinary root still yields verdicts marked Simulated, because the
// certificate names say SIMULATED.
func TestSimulatedEvenAsProductionRoot(t *testing.T) {
	c := makeCase(t, Config{}, TEESGX, nil)
	o := simOptions(c.p, verifyAt)
	o.Roots, o.InsecureSimulationRoots = o.InsecureSimulationRoots, nil
	v, err := dcap.Verify(c.quote, c.coll, o)
	if err != nil {
		t.Fatal(err)
	}
	if !v.Simulated {
		t.Error("verdict not marked Simulated")
	}
}

func TestVerifyDebugEnclave(t *testing.T) {
	c := makeCase(t, Config{}, TEESGX, func(p *Platform) ([]byte, error) {
		id := testIdentity()
		id.Attributes.Flags |= sgx.AttrDebug
		return p.Quote(id, [64]byte{})
	})
	v, err := dcap.Verify(c.quote, c.coll, simOptions(c.p, verifyAt))
	if err != nil {
		t.Fatal(err)
	}
	if !v.Debug {
		t.Error("debug enclave not reported as Debug")
	}
}

// quoteRegions returns the byte ranges of a quote's signed and signature
// parts, as [start, end) offsets.
func quoteRegions(t *testing.T, q *sgx.Quote) map[string][2]int {
	t.Helper()
	hdr := sgx.HeaderSize
	body := len(q.SignedData())
	sig := body + 4 // signature_data_len
	ak := sig + 64
	qe := ak + 64
	if q.Header.Version != sgx.QuoteV3 {
		qe += 6 // type-6 certification data header
	}
	qeSig := qe + sgx.ReportBodySize
	auth := qeSig + 64 + 2
	return map[string][2]int{
		"header":              {0, hdr},
		"body":                {hdr, body},
		"quote signature":     {sig, ak},
		"attestation key":     {ak, ak + 64},
		"QE report":           {qe, qeSig},
		"QE report signature": {qeSig, qeSig + 64},
		"QE auth data":        {auth, auth + len(q.Signature.QEAuthData)},
	}
}

// TestByteFlips flips every byte of the header, body, quote signature,
// attestation key, QE report, QE report signature and QE auth data of
// simulated SGX and TDX quotes: each one must be rejected, and (apart from
// the header fields the parser itself refuses) as an invalid signature.
func TestByteFlips(t *testing.T) {
	for _, tee := range []TEE{TEESGX, TEETDX} {
		t.Run(string(tee), func(t *testing.T) {
			c := makeCase(t, Config{}, tee, nil)
			ver := dcap.NewVerifier(simOptions(c.p, verifyAt))
			if _, err := ver.Verify(c.quote, c.coll); err != nil {
				t.Fatalf("unmodified quote: %v", err)
			}
			regions := quoteRegions(t, c.quote)
			if got := c.raw[regions["QE auth data"][0]-2]; int(got) != len(c.quote.Signature.QEAuthData) {
				t.Fatalf("region offsets are wrong (auth data length byte %d)", got)
			}
			flips := 0
			for name, r := range regions {
				for off := r[0]; off < r[1]; off++ {
					b := append([]byte(nil), c.raw...)
					b[off] ^= 0x01
					flips++
					q, err := sgx.ParseQuote(b)
					if err != nil {
						if name != "header" || off >= 8 {
							t.Errorf("%s byte %d: parse error %v; only header version/key type/TEE type may fail parsing", name, off, err)
						}
						continue
					}
					v, err := ver.Verify(q, c.coll)
					if err == nil || v != nil {
						t.Errorf("%s byte %d flipped: accepted", name, off)
						continue
					}
					if off >= 8 && !errors.Is(err, dcap.ErrSignatureInvalid) {
						t.Errorf("%s byte %d flipped: %v, want a signature error", name, off, err)
					}
				}
			}
			if flips < 1000 {
				t.Errorf("only %d flips", flips)
			}
		})
	}
}
