package policy

import (
	"errors"
	"strings"
	"testing"
)

func TestParseValid(t *testing.T) {
	tests := []struct {
		name  string
		text  string
		check func(t *testing.T, p *Policy)
	}{
		{"default", DefaultSGXPolicy, func(t *testing.T, p *Policy) {
			wantCounts(t, p, "1.0", 0, 1, 6)
			if r := p.Issuance[0]; r.Conditions[0].Bind != "c" || r.Action.Kind != ActIssue || r.Action.Type.String() != `"is-debuggable"` || r.Action.Value.String() != "c.value" {
				t.Errorf("rule 0 = %s", r)
			}
		}},
		{"minimal", "version=1.0; authorizationrules{=> permit();}; issuancerules{};", func(t *testing.T, p *Policy) {
			wantCounts(t, p, "1.0", 0, 1, 0)
			if !p.HasIssuance {
				t.Error("HasIssuance false")
			}
		}},
		{"no issuance section", "version=1.0;authorizationrules{=>deny();};", func(t *testing.T, p *Policy) {
			wantCounts(t, p, "1.0", 0, 1, 0)
			if p.HasIssuance || p.Authorization[0].Action.Kind != ActDeny {
				t.Errorf("got %s", p)
			}
		}},
		{"custom sgx", exSGXCustom, func(t *testing.T, p *Policy) {
			wantCounts(t, p, "1.0", 0, 1, 1)
			r := p.Authorization[0]
			if len(r.Conditions) != 4 {
				t.Fatalf("conditions = %d", len(r.Conditions))
			}
			pc := r.Conditions[2].Props[1]
			if pc.Prop != PropValue || pc.Op != OpGe || pc.Expr.String() != "3" {
				t.Errorf("svn condition = %v %v %v", pc.Prop, pc.Op, pc.Expr)
			}
			if r.Pos != (Pos{Line: 4, Col: 5, Offset: 39}) {
				t.Errorf("rule pos = %#v", r.Pos)
			}
		}},
		{"1.1 configuration", exDefault11, func(t *testing.T, p *Policy) {
			wantCounts(t, p, "1.1", 1, 1, 2)
			if a := p.Configuration[0].Action; a.Kind != ActIssueProperty || a.Value.String() != `"azuredefault"` {
				t.Errorf("config action = %s", a)
			}
		}},
		{"1.2 features", exV12, func(t *testing.T, p *Policy) {
			wantCounts(t, p, "1.2", 1, 3, 6)
			if c := p.Authorization[0].Conditions[1]; !c.Negated || c.Bind != "" {
				t.Errorf("negated condition = %s", c)
			}
			if pc := p.Issuance[1].Conditions[0].Props[0]; pc.Op != OpEq {
				t.Errorf(`"=" in condition parsed as %v`, pc.Op)
			}
			if a := p.Issuance[1].Action; a.Claim != "t" {
				t.Errorf("claim= action = %s", a)
			}
			if call, ok := p.Issuance[0].Action.Value.(*Call); !ok || call.Func != "AppendString" || len(call.Args) != 2 {
				t.Errorf("call = %v", p.Issuance[0].Action.Value)
			}
			if ref, ok := p.Issuance[2].Conditions[1].Props[1].Expr.(*Ref); !ok || ref.Bind != "a" || ref.Prop != PropValue {
				t.Errorf("ref = %v", p.Issuance[2].Conditions[1].Props[1].Expr)
			}
			if a := p.Issuance[5].Action; a.Type.String() != `"neg"` || a.Value.String() != "-5" {
				t.Errorf("reordered args = %s", a)
			}
		}},
		{"case and spacing", exCaseAndSpacing, func(t *testing.T, p *Policy) {
			wantCounts(t, p, "1.0", 0, 1, 1)
			lit := p.Authorization[0].Conditions[0].Props[0].Expr.(*Literal)
			if lit.Value.Str != `a"b\c` {
				t.Errorf("escaped string = %q", lit.Value.Str)
			}
			if p.Authorization[0].Conditions[0].Props[1].Op != OpNe || p.Authorization[0].Action.Kind != ActPermit {
				t.Errorf("got %s", p.Authorization[0])
			}
			if v := p.Issuance[0].Action.Value.(*Literal).Value; v != BoolValue(true) {
				t.Errorf("True = %v", v)
			}
		}},
		{"valueType and issuer", `version=1.0;authorizationrules{[type=="x", valueType=="Integer", issuer!="CustomClaim", value<10, value<=9, value>0] => permit();};`, func(t *testing.T, p *Policy) {
			ops := []Op{OpEq, OpEq, OpNe, OpLt, OpLe, OpGt}
			for i, pc := range p.Authorization[0].Conditions[0].Props {
				if pc.Op != ops[i] {
					t.Errorf("prop %d op = %v, want %v", i, pc.Op, ops[i])
				}
			}
		}},
		{"bom and comment at end", "\uFEFFversion=1.2;authorizationrules{};// trailing comment", func(t *testing.T, p *Policy) {
			wantCounts(t, p, "1.2", 0, 0, 0)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse(tt.text)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			tt.check(t, p)
			// The canonical form parses back to the same canonical form.
			p2, err := Parse(p.String())
			if err != nil {
				t.Fatalf("re-parse of canonical form: %v\n%s", err, p)
			}
			if p2.String() != p.String() {
				t.Errorf("canonical form not stable:\n%s\n---\n%s", p, p2)
			}
		})
	}
}

func wantCounts(t *testing.T, p *Policy, version string, conf, auth, iss int) {
	t.Helper()
	if p.Version != version || len(p.Configuration) != conf || len(p.Authorization) != auth || len(p.Issuance) != iss {
		t.Fatalf("version %s, rules %d/%d/%d; want %s, %d/%d/%d", p.Version,
			len(p.Configuration), len(p.Authorization), len(p.Issuance), version, conf, auth, iss)
	}
}

func TestParseSyntaxErrors(t *testing.T) {
	const hdr = "version=1.0;authorizationrules{" // 31 bytes; rules start at column 32
	tests := []struct {
		name      string
		text      string
		line, col int
		want      string // substring of the error message
	}{
		{"empty", "", 1, 1, `expected "version", found end of policy`},
		{"no version", "authorizationrules{};", 1, 1, `expected "version", found "authorizationrules"`},
		{"version without =", "version 1.0;", 1, 9, `expected "=", found "1.0"`},
		{"unsupported version", "version=2.0;", 1, 9, "unsupported policy version"},
		{"integer version", "version=1;authorizationrules{};", 1, 9, "unsupported policy version"},
		{"missing ; after version", "version=1.0 authorizationrules{};", 1, 13, `expected ";", found "authorizationrules"`},
		{"missing authorizationrules", "version=1.0;", 1, 13, `expected "authorizationrules", found end of policy`},
		{"issuance before authorization", "version=1.0;issuancerules{};authorizationrules{};", 1, 13, "authorizationrules is required"},
		{"duplicate section", "version=1.0;authorizationrules{};authorizationrules{};", 1, 34, "sections appear at most once"},
		{"unknown section", "version=1.0;authorisationrules{};", 1, 13, `expected "configurationrules" or "authorizationrules", found "authorisationrules"`},
		{"configuration in 1.0", "version=1.0;configurationrules{};authorizationrules{};", 1, 13, "configurationrules needs policy version 1.1"},
		{"missing ; after section", "version=1.0;authorizationrules{}", 1, 33, `expected ";", found end of policy`},
		{"unclosed section", hdr + "=> permit();", 1, 44, `expected a claim rule or "}", found end of policy`},
		{"missing ; after rule", hdr + "=> permit()};", 1, 43, `expected ";", found "}"`},
		{"missing =>", hdr + "permit();};", 1, 32, `expected a condition or "=>", found "permit"`},
		{"missing => after condition", hdr + `[type=="a"] permit();};`, 1, 44, `expected "&&" or "=>", found "permit"`},
		{"or is not grammar", hdr + `[type=="a"] || [type=="b"] => permit();};`, 1, 44, `"||" is not part of the claim rule grammar`},
		{"single &", hdr + `[type=="a"] & [type=="b"] => permit();};`, 1, 44, `conditions are joined with "&&"`},
		{"unknown action", hdr + "=> allow();};", 1, 35, `expected an action (permit, deny, add, issue or issueproperty), found "allow"`},
		{"issue in authorization", hdr + `=> issue(type="a", value=1);};`, 1, 35, "issue() is not allowed in authorizationrules"},
		{"permit in issuance", "version=1.0;authorizationrules{};issuancerules{=> permit();};", 1, 51, "permit() is not allowed in issuancerules"},
		{"add in configuration", "version=1.1;configurationrules{=> add(type=\"a\", value=1);};authorizationrules{};", 1, 35, "add() is not allowed in configurationrules"},
		{"unknown property", hdr + `[kind=="a"] => permit();};`, 1, 33, `expected "type", "value", "valueType" or "issuer", found "kind"`},
		{"missing operator", hdr + `[type "a"] => permit();};`, 1, 38, "expected a comparison operator"},
		{"ordering on type", hdr + `[type<"a"] => permit();};`, 1, 37, "operator < compares integer values; type is a string"},
		{"ordering with string", hdr + `[value>="3"] => permit();};`, 1, 40, "operator >= needs an integer operand, found String"},
		{"issuer compared with bool", hdr + `[issuer==true] => permit();};`, 1, 41, "issuer is compared with a string, found Boolean"},
		{"empty condition", hdr + "[] => permit();};", 1, 33, `expected "type", "value", "valueType" or "issuer", found "]"`},
		{"missing ] ", hdr + `[type=="a" => permit();};`, 1, 43, `expected "," or "]", found "=>"`},
		{"unbound reference", "version=1.0;authorizationrules{};issuancerules{=> issue(type=\"a\", value=c.value);};", 1, 73, `identifier "c" is not bound`},
		{"self reference", hdr + `c:[type=="a", value==c.value] => permit();};`, 1, 53, `identifier "c" is not bound`},
		{"duplicate binding", hdr + `c:[type=="a"] && c:[type=="b"] => permit();};`, 1, 49, `identifier "c" is already bound`},
		{"negated binding", "version=1.2;authorizationrules{!c:[type==\"a\"] => permit();};", 1, 33, "negated condition selects no claims"},
		{"negation in 1.0", hdr + `![type=="a"] => permit();};`, 1, 32, `"!" conditions need policy version 1.2`},
		{"function in 1.1", "version=1.1;authorizationrules{};issuancerules{=> issue(type=\"a\", value=NegateBool(true));};", 1, 73, "function calls need policy version 1.2"},
		{"jmespath unsupported", "version=1.2;authorizationrules{};issuancerules{=> issue(type=\"a\", value=JmesPath(\"{}\", \"a\"));};", 1, 73, "JmesPath is not supported"},
		{"unknown function", "version=1.2;authorizationrules{};issuancerules{=> issue(type=\"a\", value=Concat(\"x\"));};", 1, 73, `unknown function "Concat"`},
		{"too many arguments", "version=1.2;authorizationrules{};issuancerules{=> issue(type=\"a\", value=NegateBool(true, false));};", 1, 88, "NegateBool takes 1 argument(s)"},
		{"too few arguments", "version=1.2;authorizationrules{};issuancerules{=> issue(type=\"a\", value=AppendString(\"x\"));};", 1, 89, "AppendString takes 2 argument(s), found 1"},
		{"issue without value", "version=1.0;authorizationrules{};issuancerules{=> issue(type=\"a\");};", 1, 65, "issue() needs value="},
		{"issue with claim and type", "version=1.0;authorizationrules{};issuancerules{c:[type==\"a\"] => issue(claim=c, type=\"b\");};", 1, 80, "either claim=ident or type=..., value=..."},
		{"claim= unbound", "version=1.0;authorizationrules{};issuancerules{=> issue(claim=c);};", 1, 63, "an identifier bound by a condition"},
		{"positional issue argument", "version=1.0;authorizationrules{};issuancerules{=> issue(\"a\", value=true);};", 1, 57, `expected "type", "value" or "claim", found string "a"`},
		{"empty claim type", "version=1.0;authorizationrules{};issuancerules{=> issue(type=\"\", value=1);};", 1, 62, "claim type must be a non-empty string"},
		{"integer overflow", hdr + `[value==9223372036854775808] => permit();};`, 1, 40, "out of range"},
		{"fraction", hdr + `[value==1.5] => permit();};`, 1, 40, "fractional number 1.5"},
		{"unknown bare name", hdr + `[value==yes] => permit();};`, 1, 40, `unknown name "yes"`},
		{"unterminated string", hdr + `[type=="abc] => permit();};`, 1, 39, "unterminated string"},
		{"newline in string", hdr + "[type==\"ab\ncd\"] => permit();};", 1, 39, "newline before closing quote"},
		{"bad escape", hdr + `[type=="a\qb"] => permit();};`, 1, 41, `unknown escape "\q"`},
		{"smart quotes", hdr + "[type==\u201Cx\u201D] => permit();};", 1, 39, "typographic quote U+201C"},
		{"position on later line", "version=1.0;\nauthorizationrules\n{\n  => permit()\n};", 5, 1, `expected ";", found "}"`},
		{"column counts characters", "version=1.0;authorizationrules{[type==\"\u00e9\u00e9\"] permit();};", 1, 45, `expected "&&" or "=>"`},
		{"trailing garbage", "version=1.0;authorizationrules{};issuancerules{};x", 1, 50, `expected end of policy, found "x"`},
		{"invalid utf8", "version=1.0;\xff", 1, 13, "invalid UTF-8"},
		{"control character", "version=1.0;\x01", 1, 13, "control character U+0001"},
		{"malformed number", hdr + `[value==12ab] => permit();};`, 1, 40, `malformed number "12a"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.text)
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse error = %v, want *SyntaxError", err)
			}
			if !errors.Is(err, ErrSyntax) {
				t.Error("errors.Is(err, ErrSyntax) = false")
			}
			if se.Pos.Line != tt.line || se.Pos.Col != tt.col {
				t.Errorf("position %d:%d, want %d:%d (%v)", se.Pos.Line, se.Pos.Col, tt.line, tt.col, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "policy: syntax error at line ") {
				t.Errorf("error %q lacks the package prefix and position", err)
			}
		})
	}
}

func TestParseLimits(t *testing.T) {
	rules := func(n int, rule string) string {
		return "version=1.2;authorizationrules{" + strings.Repeat(rule, n) + "};"
	}
	conds := func(n int) string {
		return "version=1.0;authorizationrules{" + strings.Repeat(`[type=="a"] && `, n-1) + `[type=="a"] => permit();};`
	}
	props := func(n int) string {
		return "version=1.0;authorizationrules{[" + strings.Repeat(`type=="a", `, n-1) + `type=="a"] => permit();};`
	}
	nest := func(n int) string {
		return "version=1.2;authorizationrules{};issuancerules{=> issue(type=\"a\", value=" +
			strings.Repeat("NegateBool(", n) + "true" + strings.Repeat(")", n) + ");};"
	}
	tests := []struct {
		name  string
		text  string
		lim   Limits
		limit string // "" means it must parse
	}{
		{"size default ok", rules(1, "=> permit();"), Limits{}, ""},
		{"size over", rules(100, "=> permit();"), Limits{MaxPolicyBytes: 200}, "MaxPolicyBytes"},
		{"size over default", rules(6000, "=> permit();"), Limits{}, "MaxPolicyBytes"},
		{"rules at limit", rules(10, "=> permit();"), Limits{MaxRules: 10}, ""},
		{"rules over", rules(11, "=> permit();"), Limits{MaxRules: 10}, "MaxRules"},
		{"rules over default", rules(513, "=>deny();"), Limits{}, "MaxRules"},
		{"conditions at limit", conds(4), Limits{MaxConditions: 4}, ""},
		{"conditions over", conds(5), Limits{MaxConditions: 4}, "MaxConditions"},
		{"props at limit", props(3), Limits{MaxPropertyConditions: 3}, ""},
		{"props over", props(4), Limits{MaxPropertyConditions: 3}, "MaxPropertyConditions"},
		{"nesting at limit", nest(8), Limits{}, ""},
		{"nesting over", nest(9), Limits{}, "MaxExprDepth"},
		{"deep nesting does not recurse unbounded", nest(5000), Limits{}, "MaxExprDepth"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseWithLimits(tt.text, tt.lim)
			if tt.limit == "" {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				return
			}
			var le *LimitError
			if !errors.As(err, &le) || le.Limit != tt.limit || !errors.Is(err, ErrLimit) {
				t.Fatalf("error = %v, want LimitError %s", err, tt.limit)
			}
		})
	}
}

func TestParseUnicode(t *testing.T) {
	// U+FFFD and other non-ASCII text is fine in strings and comments.
	p, err := Parse("version=1.0; // r\u00e9sum\u00e9 \uFFFD\nauthorizationrules{[type==\"\uFFFD\u4e2d\"] => permit();};")
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Authorization[0].Conditions[0].Props[0].Expr.(*Literal).Value.Str; got != "\uFFFD\u4e2d" {
		t.Errorf("string = %q", got)
	}
	// Outside strings it is an error naming the character, not invalid UTF-8.
	_, err = Parse("version=1.0;\uFFFD")
	if err == nil || !strings.Contains(err.Error(), "unexpected character") || strings.Contains(err.Error(), "invalid UTF-8") {
		t.Errorf("error = %v", err)
	}
	// Invalid UTF-8 in a comment is reported at its position.
	_, err = Parse("version=1.0; //ab\xffc\nauthorizationrules{};")
	var se *SyntaxError
	if !errors.As(err, &se) || se.Pos.Col != 18 || !strings.Contains(err.Error(), "invalid UTF-8 in comment") {
		t.Errorf("error = %v", err)
	}
}
