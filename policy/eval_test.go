package policy

import (
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

const (
	realMREnclave = "b779202618becb636768e5d902f28d524222735fafb539ea9ba07c3fc171a1c2"
	realMRSigner  = "2c1a44952ae8207135c6c29b75b8c029372ee94b677e15c20bd42340f10d41aa"
)

// realTokenClaims are the incoming claims behind the real MAA token of
// MAA's SGX claim set (sharedwus, 2022-01-28, default policy; claim names:
// https://learn.microsoft.com/azure/attestation/claim-sets).
func realTokenClaims() []Claim {
	return EvidenceClaims(Evidence{TEE: TEESGX, MREnclave: realMREnclave, MRSigner: realMRSigner, ISVProdID: 1, ISVSVN: 1})
}

func mustParse(t *testing.T, text string) *Policy {
	t.Helper()
	p, err := Parse(text)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return p
}

// TestEvaluateDefaultPolicyRealToken: the default policy over the real token's
// incoming claims issues exactly the real token's x-ms-policy object.
func TestEvaluateDefaultPolicyRealToken(t *testing.T) {
	out, err := mustParse(t, DefaultSGXPolicy).Evaluate(realTokenClaims())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"is-debuggable": false, "product-id": int64(1), "sgx-mrenclave": realMREnclave,
		"sgx-mrsigner": realMRSigner, "svn": int64(1), "tee": "sgx",
	}
	if !out.Authorized {
		t.Fatal("default policy did not authorize")
	}
	if got := ClaimsJSON(out.Issued); !reflect.DeepEqual(got, want) {
		t.Errorf("issued %v\nwant   %v", got, want)
	}
	order := []string{"is-debuggable", "sgx-mrsigner", "sgx-mrenclave", "product-id", "svn", "tee"}
	for i, c := range out.Issued {
		if c.Type != order[i] || c.Issuer != IssuerAttestationPolicy {
			t.Errorf("issued[%d] = %+v, want type %s issued by policy", i, c, order[i])
		}
	}
}

func TestEvaluateAuthorization(t *testing.T) {
	in := []Claim{
		{Type: "svn", Value: IntValue(5)},
		{Type: "debug", Value: BoolValue(false)},
		{Type: "name", Value: StringValue("Enclave")},
	}
	tests := []struct {
		name  string
		rules string
		want  bool
	}{
		{"unconditional permit", "=> permit();", true},
		{"unconditional deny", "=> deny();", false},
		{"empty section denies", "", false},
		{"permit then deny: deny overrides", "=> permit(); => deny();", false},
		{"deny then permit: deny overrides", "=> deny(); => permit();", false},
		{"conditional permit matches", `[type=="svn", value>=5] => permit();`, true},
		{"conditional permit fails", `[type=="svn", value>5] => permit();`, false},
		{"missing claim does not match", `[type=="absent"] => permit();`, false},
		{"missing claim != does not match", `[type=="absent", value!="x"] => permit();`, false},
		{"all conditions must hold", `[type=="svn"] && [type=="debug", value==true] => permit();`, false},
		{"conditions joined", `[type=="svn", value<6] && [type=="debug", value==false] && [type=="name", value=="Enclave"] => permit();`, true},
		{"string compare is case-sensitive", `[type=="name", value=="enclave"] => permit();`, false},
		{"deny not firing leaves permit", `[type=="debug", value==true] => deny(); => permit();`, true},
		{"add then test in later rule", `=> add(type="ok", value=1); [type=="ok", value==1, issuer=="AttestationPolicy"] => permit();`, true},
		{"issuer of evidence claims", `[type=="svn", issuer=="AttestationService"] => permit();`, true},
		{"valueType", `[type=="svn", valueType=="Integer"] && [type=="debug", valueType=="Boolean"] && [type=="name", valueType=="String"] => permit();`, true},
		{"absence test true", `![type=="absent"] => permit();`, true},
		{"absence test false", `![type=="svn"] => permit();`, false},
		{"absence with value", `![type=="svn", value>10] => permit();`, true},
		{"binding used later", `c:[type=="svn"] && [type=="svn", value==c.value] => permit();`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustParse(t, "version=1.2;authorizationrules{"+tt.rules+"};issuancerules{=> issue(type=\"x\", value=1);};")
			out, err := p.Evaluate(in)
			if err != nil {
				t.Fatal(err)
			}
			if out.Authorized != tt.want {
				t.Errorf("Authorized = %v, want %v", out.Authorized, tt.want)
			}
			if n := len(out.Issued); (n == 1) != tt.want {
				t.Errorf("issued %d claims with Authorized %v; issuance must run only when authorized", n, out.Authorized)
			}
		})
	}
}

func TestEvaluateTypedComparisons(t *testing.T) {
	in := []Claim{
		{Type: "i", Value: IntValue(-3)},
		{Type: "s", Value: StringValue("10")},
		{Type: "b", Value: BoolValue(true)},
	}
	tests := []struct {
		cond string
		want bool
	}{
		{`[type=="i", value==-3]`, true},
		{`[type=="i", value!=-3]`, false},
		{`[type=="i", value<-2]`, true},
		{`[type=="i", value<=-3]`, true},
		{`[type=="i", value>-3]`, false},
		{`[type=="i", value>=-4]`, true},
		{`[type=="s", value=="10"]`, true},
		{`[type=="s", value!="11"]`, true},
		{`[type=="b", value==true]`, true},
		{`[type=="b", value!=false]`, true},
		// Different kinds never compare, for != as well.
		{`[type=="s", value==10]`, false},
		{`[type=="s", value!=10]`, false},
		{`[type=="b", value=="true"]`, false},
		{`[type=="b", value!="true"]`, false},
		{`[type=="i", value=="-3"]`, false},
		// Ordering applies to Integer claims only.
		{`[type=="s", value>1]`, false},
		{`[type=="b", value>=0]`, false},
	}
	for _, tt := range tests {
		t.Run(tt.cond, func(t *testing.T) {
			out, err := mustParse(t, "version=1.0;authorizationrules{"+tt.cond+" => permit();};").Evaluate(in)
			if err != nil {
				t.Fatal(err)
			}
			if out.Authorized != tt.want {
				t.Errorf("Authorized = %v, want %v", out.Authorized, tt.want)
			}
		})
	}
}

func TestEvaluateIssueAndAdd(t *testing.T) {
	in := []Claim{
		{Type: "group", Value: StringValue("a")},
		{Type: "group", Value: StringValue("b")},
		{Type: "svn", Value: IntValue(2)},
	}
	tests := []struct {
		name, issuance string
		want           []Claim
	}{
		{"issue literal", `=> issue(type="level", value=100);`,
			[]Claim{{"level", IntValue(100), IssuerAttestationPolicy}}},
		{"binding selects every match", `c:[type=="group"] => issue(type="g", value=c.value);`,
			[]Claim{{"g", StringValue("a"), IssuerAttestationPolicy}, {"g", StringValue("b"), IssuerAttestationPolicy}}},
		{"claim= keeps type and issuer", `c:[type=="svn"] => issue(claim=c);`,
			[]Claim{{"svn", IntValue(2), IssuerAttestationService}}},
		{"add is not issued", `=> add(type="hidden", value=true);`, nil},
		{"add chain feeds later rules", `c:[type=="svn"] => add(type="s1", value=c.value); c:[type=="s1"] => add(type="s2", value=c.value); c:[type=="s2", issuer=="AttestationPolicy"] => issue(type="s3", value=c.value);`,
			[]Claim{{"s3", IntValue(2), IssuerAttestationPolicy}}},
		{"issued claims are incoming for later rules", `=> issue(type="x", value="1"); c:[type=="x"] => issue(type="y", value=c.value);`,
			[]Claim{{"x", StringValue("1"), IssuerAttestationPolicy}, {"y", StringValue("1"), IssuerAttestationPolicy}}},
		{"a rule does not see its own claims", `c:[type=="group"] => add(type="group", value="c"); c:[type=="group"] => issue(type="n", value=c.value);`,
			[]Claim{{"n", StringValue("a"), IssuerAttestationPolicy}, {"n", StringValue("b"), IssuerAttestationPolicy}, {"n", StringValue("c"), IssuerAttestationPolicy}}},
		{"missing claim issues nothing", `c:[type=="absent"] => issue(type="x", value=c.value);`, nil},
		{"unbound condition only tests existence", `[type=="group"] => issue(type="once", value=1);`,
			[]Claim{{"once", IntValue(1), IssuerAttestationPolicy}}},
		{"value from other binding's type", `c:[type=="svn"] => issue(type="t", value=c.type);`,
			[]Claim{{"t", StringValue("svn"), IssuerAttestationPolicy}}},
		{"type from binding", `c:[type=="group", value=="a"] => issue(type=c.value, value=true);`,
			[]Claim{{"a", BoolValue(true), IssuerAttestationPolicy}}},
		{"comparison against a binding set", `c:[type=="group"] && d:[type=="group", value==c.value] => issue(type="eq", value=d.value);`,
			[]Claim{{"eq", StringValue("a"), IssuerAttestationPolicy}, {"eq", StringValue("b"), IssuerAttestationPolicy}}},
		{"!= against a set excludes every member", `c:[type=="group", value=="a"] && d:[type=="group", value!=c.value] => issue(type="ne", value=d.value);`,
			[]Claim{{"ne", StringValue("b"), IssuerAttestationPolicy}}},
		{"duplicates are kept", `=> issue(type="d", value=1); => issue(type="d", value=1);`,
			[]Claim{{"d", IntValue(1), IssuerAttestationPolicy}, {"d", IntValue(1), IssuerAttestationPolicy}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := mustParse(t, "version=1.2;authorizationrules{=>permit();};issuancerules{"+tt.issuance+"};").Evaluate(in)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(out.Issued, tt.want) {
				t.Errorf("issued %v\nwant   %v", out.Issued, tt.want)
			}
		})
	}
}

func TestEvaluateAddInAuthorizationVisibleToIssuance(t *testing.T) {
	ev := Evidence{TEE: TEESGX, MREnclave: realMREnclave, MRSigner: realMRSigner, ISVProdID: 1, ISVSVN: 3}
	out, err := mustParse(t, exV12).Evaluate(append(EvidenceClaims(ev),
		Claim{Type: "json", Value: StringValue(`[1, "two", true, null]`)}))
	if err != nil {
		t.Fatal(err)
	}
	if !out.Authorized {
		t.Fatal("not authorized")
	}
	if v, ok := out.Property(PropertySGXTCBIdentifier); !ok || v != StringValue("10") {
		t.Errorf("tcb identifier property = %v, %v", v, ok)
	}
	got := ClaimsJSON(out.Issued)
	want := map[string]any{
		"tag":                "enclave:" + realMREnclave,
		"svn-above-prod":     true,
		"missing-was-absent": true,
		"parsed":             []any{int64(1), "two", true},
		"neg":                int64(-5),
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("issued %v\nwant   %v", got, want)
	}
	if _, leaked := got["authz-seen"]; leaked {
		t.Error("add() claim leaked into the token")
	}
}

func TestEvaluateDeniedStillReportsConfiguration(t *testing.T) {
	p := mustParse(t, `version=1.1;configurationrules{=> issueproperty(type="x-ms-sgx-tcbidentifier", value="azuredefault");};
authorizationrules{[type=="x-ms-sgx-is-debuggable", value==true] => deny(); => permit();};
issuancerules{=> issue(type="x", value=1); => issueproperty(type="p", value=2);};`)
	in := EvidenceClaims(Evidence{TEE: TEESGX, MREnclave: realMREnclave, MRSigner: realMRSigner, Debug: true})
	out, err := p.Evaluate(in)
	if err != nil {
		t.Fatal(err)
	}
	if out.Authorized || len(out.Issued) != 0 {
		t.Fatalf("debug enclave authorized=%v issued=%v", out.Authorized, out.Issued)
	}
	if len(out.Properties) != 1 || out.Properties[0].Value != StringValue("azuredefault") {
		t.Errorf("properties = %v", out.Properties)
	}
	if _, ok := out.Property("p"); ok {
		t.Error("issuance property evaluated although not authorized")
	}
}

func TestEvaluateFunctions(t *testing.T) {
	in := []Claim{
		{Type: "Subset", Value: StringValue("abc")}, {Type: "Subset", Value: IntValue(100)},
		{Type: "Superset", Value: BoolValue(true)}, {Type: "Superset", Value: StringValue("abc")}, {Type: "Superset", Value: IntValue(100)},
		{Type: "Set", Value: IntValue(100)}, {Type: "Set", Value: IntValue(101)},
		{Type: "Same", Value: BoolValue(false)}, {Type: "Same", Value: BoolValue(false)},
	}
	tests := []struct {
		name, value string
		want        []Value
	}{
		{"AppendString", `AppendString("abc", "xyz")`, []Value{StringValue("abcxyz")}},
		{"AppendString nested", `AppendString(AppendString("a", ""), "b")`, []Value{StringValue("ab")}},
		{"NegateBool", `NegateBool(true)`, []Value{BoolValue(false)}},
		{"IsSubsetOf true", `IsSubsetOf(c1.value, c2.value)`, []Value{BoolValue(true)}},
		{"IsSubsetOf false", `IsSubsetOf(c2.value, c1.value)`, []Value{BoolValue(false)}},
		{"ContainsOnlyValue mixed", `ContainsOnlyValue(s.value, 100)`, []Value{BoolValue(false)}},
		{"ContainsOnlyValue same", `ContainsOnlyValue(f.value, false)`, []Value{BoolValue(true)}},
		{"JsonToClaimValue int", `JsonToClaimValue("100")`, []Value{IntValue(100)}},
		{"JsonToClaimValue bool", `JsonToClaimValue("true")`, []Value{BoolValue(true)}},
		{"JsonToClaimValue string", `JsonToClaimValue("\"abc\"")`, []Value{StringValue("abc")}},
		{"JsonToClaimValue array", `JsonToClaimValue("[0, \"abc\", true, 0]")`, []Value{IntValue(0), StringValue("abc"), BoolValue(true), IntValue(0)}},
		{"JsonToClaimValue null adds nothing", `JsonToClaimValue("null")`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustParse(t, `version=1.2;authorizationrules{=>permit();};issuancerules{
c1:[type=="Subset"] && c2:[type=="Superset"] && s:[type=="Set"] && f:[type=="Same"] => issue(type="r", value=`+tt.value+`);};`)
			out, err := p.Evaluate(in)
			if err != nil {
				t.Fatal(err)
			}
			var got []Value
			for _, c := range out.Issued {
				got = append(got, c.Value)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestEvaluateErrors(t *testing.T) {
	in := []Claim{{Type: "n", Value: IntValue(1)}, {Type: "g", Value: StringValue("a")}, {Type: "g", Value: StringValue("b")}}
	tests := []struct {
		name, issuance string
		line, col      int
		want           string
	}{
		{"AppendString of integer", `c:[type=="n"] => issue(type="x", value=AppendString(c.value, "a"));`, 2, 53, "AppendString: argument 1 is Integer 1, want one String"},
		{"AppendString of a set", `c:[type=="g"] => issue(type="x", value=AppendString(c.value, "a"));`, 2, 53, "argument 1 is a set of 2 values"},
		{"NegateBool of string", `=> issue(type="x", value=NegateBool("true"));`, 2, 37, "NegateBool: argument 1 is String"},
		{"claim type from integer", `c:[type=="n"] => issue(type=c.value, value=1);`, 2, 29, "claim type must be one non-empty String"},
		{"claim type from empty set", `=> issue(type=JsonToClaimValue("null"), value=1);`, 2, 15, "claim type must be one non-empty String, got no value"},
		{"JSON fraction", `=> issue(type="x", value=JsonToClaimValue("1.5"));`, 2, 26, "not a 64-bit integer"},
		{"JSON object", `=> issue(type="x", value=JsonToClaimValue("{}"));`, 2, 26, "objects are not claim values"},
		{"JSON nested array", `=> issue(type="x", value=JsonToClaimValue("[[1]]"));`, 2, 26, "nested arrays"},
		{"JSON invalid", `=> issue(type="x", value=JsonToClaimValue("[1,"));`, 2, 26, "invalid JSON"},
		{"JSON trailing data", `=> issue(type="x", value=JsonToClaimValue("1 2"));`, 2, 26, "trailing data"},
		{"ContainsOnlyValue of set", `c:[type=="g"] => issue(type="x", value=ContainsOnlyValue(c.value, c.value));`, 2, 67, "argument 2 is a set of 2 values"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustParse(t, "version=1.2;authorizationrules{=>permit();};issuancerules{\n=> add(type=\"pad\", value=0);\n"+tt.issuance+"};")
			_, err := p.Evaluate(in)
			var ee *EvalError
			if !errors.As(err, &ee) || !errors.Is(err, ErrEval) {
				t.Fatalf("error = %v, want *EvalError", err)
			}
			if ee.Section != SectionIssuance || ee.Rule != 1 {
				t.Errorf("section %v rule %d, want issuancerules rule 1", ee.Section, ee.Rule)
			}
			if ee.Pos.Line != tt.line+1 || ee.Pos.Col != tt.col {
				t.Errorf("position %s, want %d:%d", ee.Pos, tt.line+1, tt.col)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "policy: evaluation of issuancerules rule 2 at line ") {
				t.Errorf("error %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestEvaluateInvalidInput(t *testing.T) {
	p := mustParse(t, DefaultSGXPolicy)
	for _, in := range [][]Claim{
		{{Type: "", Value: IntValue(1)}},
		{{Type: "x"}},
		{{Type: "x", Value: Value{Kind: 9}}},
	} {
		if _, err := p.Evaluate(in); !errors.Is(err, ErrInvalidClaim) {
			t.Errorf("Evaluate(%v) error = %v, want ErrInvalidClaim", in, err)
		}
	}
}

func TestEvaluateDoesNotModifyInput(t *testing.T) {
	in := realTokenClaims()
	in[0].Issuer = ""
	before := append([]Claim(nil), in...)
	if _, err := mustParse(t, exV12).Evaluate(in); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, before) {
		t.Error("Evaluate modified its input")
	}
}

func TestEvaluateLimits(t *testing.T) {
	many := make([]Claim, 200)
	for i := range many {
		many[i] = Claim{Type: "g", Value: IntValue(int64(i))}
	}
	tests := []struct {
		name  string
		pol   string
		in    []Claim
		lim   Limits
		limit string
	}{
		{"steps: quadratic join",
			`version=1.2;authorizationrules{=>permit();};issuancerules{` + strings.Repeat(`a:[type=="g"] && b:[type=="g", value==a.value] => add(type="x", value=IsSubsetOf(a.value, b.value));`, 20) + `};`,
			many, Limits{MaxSteps: 100_000}, "MaxSteps"},
		{"claims: growth by add",
			`version=1.2;authorizationrules{` + strings.Repeat(`c:[type=="g"] => add(type="g", value=c.value);`, 14) + `=>permit();};`,
			[]Claim{{Type: "g", Value: IntValue(1)}}, Limits{}, "MaxClaims"},
		{"claims: input too large", DefaultSGXPolicy, many, Limits{MaxClaims: 100}, "MaxClaims"},
		{"value bytes: doubling strings",
			`version=1.2;authorizationrules{=>permit();};issuancerules{=> add(type="s0", value="0123456789abcdef");` +
				func() string {
					var b strings.Builder
					for i := 0; i < 20; i++ {
						b.WriteString(`c:[type=="s` + itoa(i) + `"] => add(type="s` + itoa(i+1) + `", value=AppendString(c.value, c.value));`)
					}
					return b.String()
				}() + `};`,
			nil, Limits{}, "MaxValueBytes"},
		{"value bytes: JSON input",
			`version=1.2;authorizationrules{=>permit();};issuancerules{c:[type=="j"] => add(type="x", value=JsonToClaimValue(c.value));};`,
			[]Claim{{Type: "j", Value: StringValue("[" + strings.Repeat("1,", 40<<10) + "1]")}}, Limits{}, "MaxValueBytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParseWithLimits(tt.pol, tt.lim)
			if err != nil {
				t.Fatal(err)
			}
			out, err := p.EvaluateWithLimits(tt.in, tt.lim)
			var le *LimitError
			if !errors.As(err, &le) || le.Limit != tt.limit || !errors.Is(err, ErrLimit) {
				t.Fatalf("error = %v (outcome %v), want LimitError %s", err, out, tt.limit)
			}
		})
	}
}

func TestEvaluateStepsAccounted(t *testing.T) {
	p := mustParse(t, DefaultSGXPolicy)
	lim := Limits{MaxSteps: 20}
	if _, err := p.EvaluateWithLimits(realTokenClaims(), lim); !errors.Is(err, ErrLimit) {
		t.Fatalf("default policy in 20 steps: err = %v, want ErrLimit", err)
	}
	out, err := p.Evaluate(realTokenClaims())
	if err != nil {
		t.Fatal(err)
	}
	if out.Steps <= 20 || out.Steps > 1000 {
		t.Errorf("default policy took %d steps; want between 21 and 1000", out.Steps)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestClaimsFromMap(t *testing.T) {
	got := ClaimsFromMap(map[string][]Value{
		"z": {IntValue(1)},
		"a": {StringValue("x"), BoolValue(false)},
	})
	want := []Claim{
		{"a", StringValue("x"), IssuerAttestationService},
		{"a", BoolValue(false), IssuerAttestationService},
		{"z", IntValue(1), IssuerAttestationService},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ClaimsFromMap = %v, want %v", got, want)
	}
}

func TestLimitErrorText(t *testing.T) {
	_, err := ParseWithLimits("version=1.0;authorizationrules{=>permit();=>permit();};", Limits{MaxRules: 1})
	if err == nil || err.Error() != "policy: limit MaxRules (1) exceeded at line 1:43" {
		t.Errorf("error = %v", err)
	}
	_, err = ParseWithLimits(DefaultSGXPolicy, Limits{MaxPolicyBytes: 10})
	if err == nil || err.Error() != "policy: limit MaxPolicyBytes (10) exceeded" {
		t.Errorf("error = %v", err)
	}
}
