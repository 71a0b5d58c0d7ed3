package attestd

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestReleaseLifecycleThroughAttestation walks a blue/green rollout through
// the admin API and checks what attestation accepts at each step.
func TestReleaseLifecycleThroughAttestation(t *testing.T) {
	e := newTestEnv(t, envOpts{})
	blue, green := identity("blue"), identity("green")
	qb, qg := e.quote(blue, nil), e.quote(green, nil)
	accepted := func(q []byte, query string) (bool, string) {
		r := e.attest(q, nil, query)
		if r.status == 200 {
			_, c := tokenParts(t, r.token(t))
			return true, c["x-sgxops-release"].(string) + "/" + c["x-sgxops-release-state"].(string)
		}
		if r.errorCode(t) != CodePolicyEvaluation {
			t.Fatalf("unexpected rejection %s", r.body)
		}
		return false, string(r.body)
	}
	e.release("shop", "blue", blue, false)
	e.release("shop", "green", green, true) // candidate

	if ok, why := accepted(qg, ""); ok || !strings.Contains(why, "candidate_not_requested") {
		t.Fatalf("general traffic accepted a candidate: %v %s", ok, why)
	}
	if ok, why := accepted(qg, "&sgxops-candidate=other"); ok {
		t.Fatalf("a request naming another candidate accepted green: %s", why)
	}
	if ok, got := accepted(qg, "&sgxops-app=shop&sgxops-candidate=green"); !ok || got != "green/candidate" {
		t.Fatalf("the rollout test's request: %v %s", ok, got)
	}
	if ok, why := accepted(qb, "&sgxops-app=other"); ok || !strings.Contains(why, "unknown_app") {
		t.Fatalf("app restriction: %v %s", ok, why)
	}

	// Promote green: blue drains (still accepted), green active.
	r := mustStatus(t, e.do("POST", "/admin/v1/releases/shop/green/activate", adminToken, transitionRequest{Grace: "1h"}), 200)
	if r.json(t)["state"] != "active" {
		t.Fatalf("activate: %s", r.body)
	}
	if ok, got := accepted(qb, ""); !ok || got != "blue/draining" {
		t.Fatalf("draining blue: %v %s", ok, got)
	}
	if ok, got := accepted(qg, ""); !ok || got != "green/active" {
		t.Fatalf("active green: %v %s", ok, got)
	}
	// Retire blue: rejected at once (the trust cache is invalidated by the write).
	mustStatus(t, e.do("POST", "/admin/v1/releases/shop/blue/retire", adminToken, nil), 200)
	if ok, why := accepted(qb, ""); ok || !strings.Contains(why, "release_retired") {
		t.Fatalf("retired blue: %v %s", ok, why)
	}
	// Revoke green with a reason: rejected, the reason is kept.
	if r := e.do("POST", "/admin/v1/releases/shop/green/revoke", adminToken, nil); r.status != 400 {
		t.Fatalf("revoke without a reason: %d", r.status)
	}
	mustStatus(t, e.do("POST", "/admin/v1/releases/shop/green/revoke", adminToken, transitionRequest{Reason: "CVE-2026-0001 in the enclave"}), 200)
	if ok, why := accepted(qg, ""); ok || !strings.Contains(why, "CVE-2026-0001") {
		t.Fatalf("revoked green: %v %s", ok, why)
	}
	// Invalid transitions and unknown releases.
	if r := e.do("POST", "/admin/v1/releases/shop/green/activate", adminToken, nil); r.status != http.StatusConflict || r.errorCode(t) != CodeConflict {
		t.Fatalf("activating a revoked release: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/admin/v1/releases/shop/nope/retire", adminToken, nil); r.status != 404 {
		t.Fatalf("unknown release: %d", r.status)
	}
	if r := e.do("POST", "/admin/v1/releases", adminToken, registerRequest{App: "shop", Name: "blue", MREnclave: mrenclaveHex(identity("x"))}); r.status != http.StatusConflict {
		t.Fatalf("duplicate name: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/admin/v1/releases", adminToken, registerRequest{App: "shop", Name: "v3", MREnclave: "zz"}); r.status != 400 || !strings.Contains(string(r.body), "mrenclave") {
		t.Fatalf("bad measurement: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/admin/v1/releases/shop/blue/drain", adminToken, transitionRequest{Grace: "-1h"}); r.status != 400 {
		t.Fatalf("negative grace: %d", r.status)
	}

	// List, show, and the verified audit log.
	var list releaseList
	_ = json.Unmarshal(mustStatus(t, e.do("GET", "/admin/v1/releases/shop", readerToken, nil), 200).body, &list)
	if len(list.Releases) != 2 {
		t.Fatalf("list: %+v", list)
	}
	show := mustStatus(t, e.do("GET", "/admin/v1/releases/shop/green", readerToken, nil), 200).json(t)
	if show["state"] != "revoked" || show["revoked_reason"] != "CVE-2026-0001 in the enclave" {
		t.Fatalf("show: %v", show)
	}
	var page auditPage
	_ = json.Unmarshal(e.do("GET", "/admin/v1/audit?after=1&limit=3", "", nil).body, &page)
	if len(page.Entries) != 3 || page.Entries[0].Seq != 2 || page.Head.Seq < 7 {
		t.Fatalf("audit page: %+v", page)
	}
	var ver AuditVerification
	_ = json.Unmarshal(mustStatus(t, e.do("GET", "/admin/v1/audit/verify", "", nil), 200).body, &ver)
	if !ver.Valid || ver.Entries != page.Head.Seq {
		t.Fatalf("audit verify: %+v", ver)
	}
}

func TestDrainExpiryAndSweep(t *testing.T) {
	e := newTestEnv(t, envOpts{})
	a, b := identity("a"), identity("b")
	e.release("svc", "a", a, false)
	e.release("svc", "b", b, true)
	mustStatus(t, e.do("POST", "/admin/v1/releases/svc/b/activate", adminToken, transitionRequest{Grace: "0s"}), 200)
	if r := e.attest(e.quote(a, nil), nil, ""); r.status != 400 || !strings.Contains(string(r.body), "drain_expired") {
		t.Fatalf("drained with zero grace: %d %s", r.status, r.body)
	}
	time.Sleep(10 * time.Millisecond)
	r := mustStatus(t, e.do("POST", "/admin/v1/sweep", adminToken, nil), 200)
	var list releaseList
	_ = json.Unmarshal(r.body, &list)
	if len(list.Releases) != 1 || list.Releases[0].Name != "a" || list.Releases[0].State != "retired" {
		t.Fatalf("sweep: %s", r.body)
	}
}

// TestSimulatedLogsAndMetrics checks that every log line about a simulated
// attestation says so, and the metrics count attestations by result and
// TCB status.
func TestSimulatedLogsAndMetrics(t *testing.T) {
	e := newTestEnv(t, envOpts{})
	id := identity("m")
	e.release("m", "v1", id, false)
	q := e.quote(id, nil)
	e.attest(q, nil, "").token(t)
	e.attest(q, []byte("wrong"), "") // rejected before verification (binding)
	e.attest(e.quote(identity("unknown"), nil), nil, "")
	n, access := 0, 0
	for _, line := range strings.Split(strings.TrimSpace(e.logs.String()), "\n") {
		var l map[string]any
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if l["msg"] == "http" && strings.HasPrefix(l["path"].(string), "/attest/") {
			t.Errorf("access log line of a simulated attestation does not say so: %s", line)
		}
		if l["msg"] == "http (SIMULATED evidence)" && l["simulated"] == true {
			access++
		}
		if l["mrenclave"] == nil || l["tcb_status"] == nil {
			continue // not about verified evidence
		}
		n++
		if l["simulated"] != true || !strings.Contains(l["msg"].(string), "SIMULATED") {
			t.Errorf("log line about simulated evidence does not say so: %s", line)
		}
	}
	if n < 2 || access != 3 {
		t.Fatalf("%d attestation log lines, %d simulated access log lines (want 3)", n, access)
	}
	m := string(mustStatus(t, e.do("GET", "/metrics", "", nil), 200).body)
	for _, want := range []string{
		`attestd_attestations_total{result="ok",simulated="true",tcb_status="UpToDate",type="SgxEnclave"} 1`,
		`attestd_attestations_total{result="rejected",simulated="true",tcb_status="UpToDate",type="SgxEnclave"} 1`,
		`attestd_attestations_total{result="invalid_request",simulated="true",tcb_status="UpToDate",type="SgxEnclave"} 1`,
		`attestd_attestation_duration_seconds_bucket{result="ok",type="SgxEnclave",le=`,
		`attestd_attestation_phase_duration_seconds_count{phase="sign"} 1`,
		`attestd_collateral_age_seconds{fmspc=`,
		`attestd_collateral_expiry_seconds{fmspc=`,
		`attestd_admin_operations_total{op="register",result="ok"} 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
