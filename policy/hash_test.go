package policy

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
)

// policyJWS is an unsigned policy upload recorded against real MAA (format:
// https://learn.microsoft.com/azure/attestation/author-sign-policy), whose
// x-ms-policy-token-hash real MAA returned.
const policyJWS = "eyJhbGciOiJub25lIn0.eyJBdHRlc3RhdGlvblBvbGljeSI6ImRtVnljMmx2YmoweExqQTdJR0YxZEdodmNtbDZZWFJwYjI1eWRXeGxjM3M5UGlCd1pYSnRhWFFvS1R0OU95QnBjM04xWVc1alpYSjFiR1Z6ZTMwNyJ9."

func TestPolicyHashVectors(t *testing.T) {
	tests := []struct {
		name, text, want string
	}{
		{"default SGX policy (real token)", DefaultSGXPolicy, "bROrN897ZfWmWY2V0FLUlu3uwk5xatGnKYHn3zBbSlw"},
		{"minimal permit policy", "version=1.0; authorizationrules{=> permit();}; issuancerules{};", "z0FRjKS0ssQTNur1V6BV8WIrh9M3fzgTo0EfHRvapWU"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := PolicyHash(tt.text); got != tt.want {
				t.Errorf("PolicyHash = %s, want %s", got, tt.want)
			}
			// One changed byte changes the hash.
			if got := PolicyHash(tt.text + " "); got == tt.want {
				t.Error("PolicyHash ignores trailing whitespace")
			}
		})
	}
	if DefaultSGXPolicyHash != PolicyHash(DefaultSGXPolicy) {
		t.Error("DefaultSGXPolicyHash does not match DefaultSGXPolicy")
	}
}

func TestPolicyTokenHashVector(t *testing.T) {
	const want = "c6sEJQItV50OeP9IrP_bzywAMOVvj5uDPbklA_bwdYQ"
	if got := PolicyTokenHash(policyJWS); got != want {
		t.Errorf("PolicyTokenHash = %s, want %s", got, want)
	}
	if got := PolicyTokenHash(strings.TrimSuffix(policyJWS, ".")); got == want {
		t.Error("hash without the trailing dot must differ")
	}

	// The uploaded policy inside the JWS is the minimal policy whose
	// PolicyHash is the second vector, and it parses.
	parts := strings.Split(policyJWS, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var body struct{ AttestationPolicy string }
	if err := json.Unmarshal(payload, &body); err != nil {
		t.Fatal(err)
	}
	text, err := base64.RawURLEncoding.DecodeString(body.AttestationPolicy)
	if err != nil {
		t.Fatal(err)
	}
	if got := PolicyHash(string(text)); got != "z0FRjKS0ssQTNur1V6BV8WIrh9M3fzgTo0EfHRvapWU" {
		t.Errorf("PolicyHash(uploaded policy %q) = %s", text, got)
	}
	p, err := Parse(string(text))
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.Evaluate(realTokenClaims())
	if err != nil || !out.Authorized || len(out.Issued) != 0 {
		t.Errorf("uploaded policy: authorized=%v issued=%v err=%v", out != nil && out.Authorized, out, err)
	}
}
