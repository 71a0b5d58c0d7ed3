package attestd

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/sgxops/sgxops/attestd/config"
	"github.com/sgxops/sgxops/dcap"
	"github.com/sgxops/sgxops/sgx"
)

// BenchmarkAttestVsFloor measures, in the same run, the floor (in-process
// DCAP verification of a simulated quote with warm caches + one RS256
// signature) and a full attestation over HTTP on loopback (request decoding,
// verification, appraisal, MAA policy, claims, signature, response), both
// on all CPUs. It reports ns per operation of each and their throughput
// ratio (http/floor; the goal is >= 0.75). The HTTP client runs in the same
// process, so its cost is included.
func BenchmarkAttestVsFloor(b *testing.B) {
	e := newTestEnv(b, envOpts{cfg: func(c *config.Config) { c.Log.Level = "warn" }})
	id := identity("bench")
	e.release("bench", "v1", id, false)
	rt := []byte("bench runtime data")
	q := e.quote(id, rt)
	body, _ := json.Marshal(attestBody("quote", q, rt))
	parsed, err := sgx.ParseQuote(q)
	if err != nil {
		b.Fatal(err)
	}
	dv := e.srv.verifier.(*DCAPVerifier)
	req, _ := dcap.CollateralRequestFor(parsed)
	coll, err := dv.Source.Get(b.Context(), req)
	if err != nil {
		b.Fatal(err)
	}
	claims := map[string]any{"iss": e.url, "x-ms-sgx-mrenclave": mrenclaveHex(id), "iat": time.Now().Unix()}
	floor := func() {
		if _, err := dv.DCAP.Verify(parsed, coll); err != nil {
			b.Fatal(err)
		}
		if _, err := e.srv.key.Load().Sign(claims); err != nil {
			b.Fatal(err)
		}
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	attest := func() {
		resp, err := client.Post(e.url+"/attest/SgxEnclave", "application/json", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("HTTP %d", resp.StatusCode)
		}
	}
	measure := func(op func(), par int) time.Duration {
		start := time.Now()
		b.SetParallelism(par)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				op()
			}
		})
		return time.Since(start)
	}
	b.ResetTimer()
	tf := measure(floor, 1)
	th := measure(attest, 8)
	b.StopTimer()
	b.ReportMetric(float64(tf.Nanoseconds())/float64(b.N), "ns/floor-op")
	b.ReportMetric(float64(th.Nanoseconds())/float64(b.N), "ns/http-op")
	b.ReportMetric(float64(tf)/float64(th), "http/floor-throughput")
}
