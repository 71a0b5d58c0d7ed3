package policy

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestTokenClaims(t *testing.T) {
	ev := Evidence{TEE: TEESGX, MREnclave: h("b"), MRSigner: h("5"), TCBStatus: "UpToDate"}
	res, err := Appraise(ev, testTrustSet(), Request{Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(TokenClaims(res, ev))
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"x-sgxops-advisory-ids":[],"x-sgxops-app":"pay","x-sgxops-release":"v2","x-sgxops-release-state":"active","x-sgxops-simulated":false,"x-sgxops-tcb-status":"UpToDate"}`
	if string(b) != want {
		t.Errorf("token claims\n%s\nwant\n%s", b, want)
	}

	sim := ev
	sim.Simulated, sim.AdvisoryIDs = true, []string{"INTEL-SA-00615"}
	got := TokenClaims(nil, sim)
	wantMap := map[string]any{ClaimTCBStatus: "UpToDate", ClaimAdvisoryIDs: []string{"INTEL-SA-00615"}, ClaimSimulated: true}
	if !reflect.DeepEqual(got, wantMap) {
		t.Errorf("TokenClaims(nil) = %v, want %v", got, wantMap)
	}
	got[ClaimAdvisoryIDs].([]string)[0] = "changed"
	if sim.AdvisoryIDs[0] != "INTEL-SA-00615" {
		t.Error("TokenClaims aliases the evidence's advisory slice")
	}
}

// TestIncomingClaimsDrivePolicy: a custom MAA policy can require the sgxops
// release state and refuse simulated evidence.
func TestIncomingClaimsDrivePolicy(t *testing.T) {
	p := mustParse(t, `version=1.0;
authorizationrules{
  [type=="x-sgxops-simulated", value==true] => deny();
  [type=="x-sgxops-release-state", value=="active"] && [type=="x-ms-sgx-is-debuggable", value==false] => permit();
};
issuancerules{
  c:[type=="x-sgxops-release"] => issue(type="release", value=c.value);
  c:[type=="x-sgxops-advisory-ids"] => issue(type="advisories", value=c.value);
};`)
	tests := []struct {
		name       string
		ev         Evidence
		req        Request
		authorized bool
		issued     map[string]any
	}{
		{"active", Evidence{TEE: TEESGX, MREnclave: h("B"), MRSigner: h("5"), TCBStatus: "UpToDate"}, Request{Now: t0}, true,
			map[string]any{"release": "v2"}},
		{"draining is not active", Evidence{TEE: TEESGX, MREnclave: h("a"), MRSigner: h("5"), TCBStatus: "UpToDate"}, Request{Now: t0}, false, map[string]any{}},
		{"simulated denied", Evidence{TEE: TEESGX, MREnclave: h("0"), MRSigner: h("5"), TCBStatus: "SWHardeningNeeded", Simulated: true,
			AdvisoryIDs: []string{"INTEL-SA-00615"}}, Request{Now: t0}, false, map[string]any{}},
		{"advisories as a set", Evidence{TEE: TEESGX, MREnclave: h("3"), MRSigner: h("5"), TCBStatus: "SWHardeningNeeded",
			AdvisoryIDs: []string{"INTEL-SA-00657", "INTEL-SA-00767"}}, Request{Now: t0}, true,
			map[string]any{"release": "w1", "advisories": []any{"INTEL-SA-00657", "INTEL-SA-00767"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Appraise(tt.ev, testTrustSet(), tt.req)
			if err != nil {
				t.Fatal(err)
			}
			in := append(EvidenceClaims(tt.ev), IncomingClaims(res, tt.ev)...)
			out, err := p.Evaluate(in)
			if err != nil {
				t.Fatal(err)
			}
			if out.Authorized != tt.authorized {
				t.Fatalf("Authorized = %v, want %v", out.Authorized, tt.authorized)
			}
			if got := ClaimsJSON(out.Issued); !reflect.DeepEqual(got, tt.issued) {
				t.Errorf("issued %v, want %v", got, tt.issued)
			}
		})
	}
}

func TestEvidenceClaims(t *testing.T) {
	ev := Evidence{TEE: TEESGX, MREnclave: "AB" + h("0")[2:], MRSigner: h("F"), ISVProdID: 65535, ISVSVN: 2, Debug: true}
	got := ClaimsJSON(EvidenceClaims(ev))
	want := map[string]any{
		ClaimMAAVersion: "1.0", ClaimMAAAttestationType: "sgx", ClaimSGXIsDebuggable: true,
		ClaimSGXMREnclave: "ab" + h("0")[2:], ClaimSGXMRSigner: h("f"), ClaimSGXProductID: int64(65535), ClaimSGXSVN: int64(2),
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("EvidenceClaims = %v\nwant %v", got, want)
	}
	for _, c := range EvidenceClaims(ev) {
		if c.Issuer != IssuerAttestationService {
			t.Errorf("%s issued by %q", c.Type, c.Issuer)
		}
	}
}

func TestClaimsJSONMultipleValues(t *testing.T) {
	got := ClaimsJSON([]Claim{
		{Type: "a", Value: IntValue(1)}, {Type: "b", Value: BoolValue(true)},
		{Type: "a", Value: StringValue("x")}, {Type: "a", Value: IntValue(1)},
	})
	want := map[string]any{"a": []any{int64(1), "x", int64(1)}, "b": true}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ClaimsJSON = %v, want %v", got, want)
	}
}
