package attestd

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/sgxops/sgxops/policy"
)

// The policy upload recorded against real MAA (format: https://learn.microsoft.com/azure/attestation/author-sign-policy).
const (
	recordedPolicyJWS  = "eyJhbGciOiJub25lIn0.eyJBdHRlc3RhdGlvblBvbGljeSI6ImRtVnljMmx2YmoweExqQTdJR0YxZEdodmNtbDZZWFJwYjI1eWRXeGxjM3M5UGlCd1pYSnRhWFFvS1R0OU95QnBjM04xWVc1alpYSjFiR1Z6ZTMwNyJ9."
	recordedPolicyText = "version=1.0; authorizationrules{=> permit();}; issuancerules{};"
	recordedTokenHash  = "c6sEJQItV50OeP9IrP_bzywAMOVvj5uDPbklA_bwdYQ"
	resetBody          = "eyJhbGciOiJub25lIn0.."
)

func TestDecodePolicyJWSRecorded(t *testing.T) {
	quoted, _ := json.Marshal(recordedPolicyJWS)
	for _, body := range []string{recordedPolicyJWS, "  " + recordedPolicyJWS + "\n", string(quoted)} {
		p, err := decodePolicyJWS([]byte(body))
		if err != nil {
			t.Fatalf("%q: %v", body, err)
		}
		if p.Alg != "none" || p.Signer != nil || !p.HasPolicy || p.Text != recordedPolicyText {
			t.Fatalf("%q: got %+v", body, p)
		}
		if got := policy.PolicyTokenHash(p.Compact); got != recordedTokenHash {
			t.Fatalf("token hash %s, want %s (hash over the JWS as received)", got, recordedTokenHash)
		}
	}
	p, err := decodePolicyJWS([]byte(resetBody))
	if err != nil || p.HasPolicy || p.Alg != "none" {
		t.Fatalf("reset body: %+v %v", p, err)
	}
}

func TestDecodePolicyJWSSigned(t *testing.T) {
	key := testRSAKey(t, 1)
	cert := selfSigned(t, key, "policy signer")
	ec := newECKey(t)
	ecCert := selfSigned(t, ec, "ec signer")
	other := testRSAKey(t, 2)
	x5c := []string{base64.StdEncoding.EncodeToString(cert.Raw)}
	good := signedPolicyJWS(t, recordedPolicyText, key, cert)
	parts := strings.Split(good, ".")
	tests := []struct {
		name    string
		body    string
		wantErr string
		signer  bool
	}{
		{"rs256", good, "", true},
		{"es256", signedPolicyJWS(t, recordedPolicyText, ec, ecCert), "", true},
		{"jwk x5c (python)", signCompact(t, map[string]any{"alg": "RS256", "jwk": map[string]any{"kty": "RSA", "x5c": x5c}}, policyBody("version=1.0;authorizationrules{=>permit();};"), key), "", true},
		{"signed reset", signedPolicyJWS(t, "", key, cert), "", true},
		{"tampered payload", parts[0] + "." + b64(policyBody("version=1.0;authorizationrules{=>deny();};")) + "." + parts[2], "does not verify", false},
		{"wrong key for x5c", signCompact(t, map[string]any{"alg": "RS256", "x5c": x5c}, policyBody(recordedPolicyText), other), "does not verify", false},
		{"no x5c", signCompact(t, map[string]any{"alg": "RS256"}, policyBody(recordedPolicyText), key), "no x5c", false},
		{"hmac", signCompact(t, map[string]any{"alg": "HS256"}, policyBody(recordedPolicyText), nil) + "c2ln", "not supported", false},
		{"none with signature", strings.TrimSuffix(recordedPolicyJWS, ".") + ".c2ln", "empty signature", false},
		{"two parts", "a.b", "compact JWS", false},
		{"crit", signCompact(t, map[string]any{"alg": "RS256", "x5c": x5c, "crit": []string{"exp"}}, policyBody(recordedPolicyText), key), "crit", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := decodePolicyJWS([]byte(tt.body))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (p.Signer != nil) != tt.signer {
				t.Fatalf("signer = %v", p.Signer)
			}
		})
	}
}

func TestPolicyTextForms(t *testing.T) {
	// Preview clients put plain text in AttestationPolicy.
	plain, _ := json.Marshal(map[string]string{"AttestationPolicy": recordedPolicyText})
	p, err := decodePolicyJWS([]byte(signCompact(t, map[string]any{"alg": "none"}, plain, nil)))
	if err != nil || p.Text != recordedPolicyText {
		t.Fatalf("plain text form: %+v %v", p, err)
	}
	d, err := decodePolicyJWS([]byte(unsignedPolicyJWS(policy.DefaultSGXPolicy)))
	if err != nil || d.Text != policy.DefaultSGXPolicy {
		t.Fatalf("default policy JWS does not round-trip: %v", err)
	}
}

// FuzzDecodePolicyJWS feeds arbitrary policy-management bodies to the
// decoder: it must not panic, errors must be 400 APIErrors, and an accepted
// unsigned body must carry no signer.
func FuzzDecodePolicyJWS(f *testing.F) {
	f.Add([]byte(recordedPolicyJWS))
	f.Add([]byte(resetBody))
	f.Add([]byte(`"` + recordedPolicyJWS + `"`))
	f.Add([]byte(signedPolicyJWS(f, recordedPolicyText, testRSAKey(f, 1), selfSigned(f, testRSAKey(f, 1), "fuzz"))))
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := decodePolicyJWS(body)
		if err != nil {
			var ae *APIError
			if !errors.As(err, &ae) || ae.Status != 400 {
				t.Fatalf("error %v is not a 400 APIError", err)
			}
			return
		}
		if p.Alg == "none" && p.Signer != nil {
			t.Fatal("unsigned JWS with a signer")
		}
		if p.Alg != "none" && p.Signer == nil {
			t.Fatal("signed JWS without a verified signer")
		}
	})
}
