package policy

import (
	"errors"
	"testing"
)

func FuzzParsePolicy(f *testing.F) {
	for _, s := range seedPolicies {
		f.Add(s)
	}
	f.Add(policyJWS)
	f.Fuzz(func(t *testing.T, text string) {
		p, err := ParseWithLimits(text, Limits{MaxPolicyBytes: 8 << 10})
		if err != nil {
			var se *SyntaxError
			var le *LimitError
			switch {
			case errors.As(err, &se):
				if se.Pos.Line < 1 || se.Pos.Col < 1 || se.Pos.Offset < 0 || se.Pos.Offset > len(text) {
					t.Fatalf("error position %+v out of range for %d bytes", se.Pos, len(text))
				}
			case errors.As(err, &le):
			default:
				t.Fatalf("untyped error %T: %v", err, err)
			}
			return
		}
		canon := p.String()
		p2, err := Parse(canon)
		if err != nil {
			t.Fatalf("canonical form does not parse: %v\ninput %q\ncanonical %q", err, text, canon)
		}
		if p2.String() != canon {
			t.Fatalf("canonical form not stable:\n%q\n%q", canon, p2.String())
		}
	})
}

// fuzzClaims decodes bytes into incoming claims: per claim one byte picks the
// type, one the kind, and the next bytes the value.
func fuzzClaims(b []byte) []Claim {
	types := []string{"a", "b", "g", "json", ClaimSGXSVN, ClaimSGXIsDebuggable, ClaimSGXMREnclave, ClaimSGXProductID, ClaimMAAAttestationType}
	var out []Claim
	for len(b) >= 3 && len(out) < 64 {
		t, k, n := types[int(b[0])%len(types)], b[1]%3, int(b[2])%16
		b = b[3:]
		if n > len(b) {
			n = len(b)
		}
		raw := b[:n]
		b = b[n:]
		var v Value
		switch k {
		case 0:
			v = StringValue(string(raw))
		case 1:
			var i int64
			for _, c := range raw {
				i = i<<8 | int64(c)
			}
			v = IntValue(i)
		default:
			v = BoolValue(n%2 == 1)
		}
		out = append(out, Claim{Type: t, Value: v})
	}
	return out
}

func FuzzEvaluate(f *testing.F) {
	claimSeeds := [][]byte{
		nil,
		{0, 1, 1, 5, 1, 0, 1, 2, 2, 0},
		{3, 0, 9, '[', '1', ',', '"', 'x', '"', ',', 't', ']', 2, 0, 1, 'a', 2, 0, 1, 'b'},
	}
	for _, s := range seedPolicies {
		for _, c := range claimSeeds {
			f.Add(s, c)
		}
	}
	f.Add(`version=1.2;authorizationrules{=>permit();};issuancerules{c:[type=="json"] => issue(type="j", value=JsonToClaimValue(c.value)); a:[type=="g"] && b:[type=="g", value!=a.value] => issue(type="s", value=IsSubsetOf(a.value, b.value));};`,
		[]byte{3, 0, 3, '[', '1', ']', 2, 1, 1, 7, 2, 1, 1, 8})
	lim := Limits{MaxSteps: 20_000, MaxClaims: 256, MaxValueBytes: 4 << 10, MaxPolicyBytes: 8 << 10}
	f.Fuzz(func(t *testing.T, text string, claimBytes []byte) {
		p, err := ParseWithLimits(text, lim)
		if err != nil {
			return
		}
		in := fuzzClaims(claimBytes)
		out, err := p.EvaluateWithLimits(in, lim)
		if err != nil {
			if !errors.Is(err, ErrEval) && !errors.Is(err, ErrLimit) {
				t.Fatalf("untyped evaluation error %T: %v", err, err)
			}
			return
		}
		if out.Steps > lim.MaxSteps {
			t.Fatalf("%d steps exceed the limit %d", out.Steps, lim.MaxSteps)
		}
		if !out.Authorized && len(out.Issued) > 0 {
			t.Fatalf("issued %d claims without authorization", len(out.Issued))
		}
		// Issued and property claims are also incoming claims, bounded by MaxClaims.
		if len(in)+len(out.Issued)+len(out.Properties) > lim.MaxClaims {
			t.Fatalf("claim growth beyond MaxClaims: %d input, %d issued, %d properties", len(in), len(out.Issued), len(out.Properties))
		}
		for _, c := range append(out.Issued, out.Properties...) {
			if c.Type == "" || c.Value.Kind < KindString || c.Value.Kind > KindBoolean || c.Issuer == "" {
				t.Fatalf("malformed output claim %+v", c)
			}
		}
	})
}
