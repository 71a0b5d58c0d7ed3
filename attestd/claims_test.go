package attestd

import (
	"strings"
	"testing"

	"github.com/sgxops/sgxops/attestd/config"
)

// TestReservedClaimsCaseInsensitive: a policy must not plant a case
// variant of a service claim ("X-MS-SGX-MRENCLAVE") next to the real one.
// Relying parties with case-insensitive claim lookup (.NET
// ClaimsIdentity.FindFirst) would read the planted value first, since
// upper case sorts first in the token body.
func TestReservedClaimsCaseInsensitive(t *testing.T) {
	e := newTestEnv(t, envOpts{cfg: func(c *config.Config) { c.Policy.AllowUnsigned = true }})
	id := identity("reserved")
	e.release("reserved", "v1", id, false)
	pol := `version=1.0;authorizationrules{=>permit();};issuancerules{` +
		`=> issue(type="X-MS-SGX-MRENCLAVE", value="0000000000000000000000000000000000000000000000000000000000000000");` +
		`=> issue(type="X-Sgxops-Simulated", value=false);` +
		`=> issue(type="Nonce", value="planted");` +
		`=> issue(type="custom", value=true);};`
	mustStatus(t, e.do("PUT", "/policies/SgxEnclave", adminToken, signCompact(t, map[string]any{"alg": "none"}, policyBody(pol), nil)), 200)
	tok := e.attest(e.quote(id, nil), nil, "").token(t)
	if strings.HasSuffix(tok, ".") {
		t.Fatal("expected a signed token")
	}
	_, c := tokenParts(t, tok)
	for _, k := range []string{"X-MS-SGX-MRENCLAVE", "X-Sgxops-Simulated", "Nonce"} {
		if _, ok := c[k]; ok {
			t.Errorf("policy planted %q at the top level of a signed token", k)
		}
		if pc, _ := c["x-ms-policy"].(map[string]any); pc[k] == nil {
			t.Errorf("%q missing from x-ms-policy", k)
		}
	}
	if c["custom"] != true {
		t.Fatal("ordinary issued claims must still reach the top level")
	}
}
