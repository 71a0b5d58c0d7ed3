package policy

import (
	"strconv"
	"strings"
)

// Parse parses MAA policy text (versions 1.0, 1.1 and 1.2) with the default
// Limits. Errors are *SyntaxError or *LimitError.
func Parse(text string) (*Policy, error) { return ParseWithLimits(text, Limits{}) }

// ParseWithLimits parses policy text; zero fields of lim take their defaults.
func ParseWithLimits(text string, lim Limits) (*Policy, error) {
	lim = lim.withDefaults()
	if len(text) > lim.MaxPolicyBytes {
		return nil, &LimitError{Limit: "MaxPolicyBytes", Max: lim.MaxPolicyBytes}
	}
	p := &parser{lx: newLexer(text), lim: lim}
	if err := p.next(); err != nil {
		return nil, err
	}
	return p.policy()
}

type parser struct {
	lx    *lexer
	tok   token
	lim   Limits
	pol   *Policy
	rules int
	binds map[string]bool // identifiers bound so far in the current rule
}

func (p *parser) next() error {
	t, err := p.lx.next()
	if err != nil {
		return err
	}
	p.tok = t
	return nil
}

func (p *parser) expected(what string) *SyntaxError {
	return &SyntaxError{Pos: p.tok.pos, Expected: what, Found: p.tok.describe()}
}

func (p *parser) expectedMsg(what, msg string) *SyntaxError {
	e := p.expected(what)
	e.Msg = msg
	return e
}

func (p *parser) errAt(pos Pos, msg string) *SyntaxError { return &SyntaxError{Pos: pos, Msg: msg} }

// expect consumes a token of kind k.
func (p *parser) expect(k tokKind) error {
	if p.tok.kind != k {
		return p.expected(k.String())
	}
	return p.next()
}

// isWord reports whether the current token is the keyword w (case-insensitive).
func (p *parser) isWord(w string) bool {
	return p.tok.kind == tIdent && strings.EqualFold(p.tok.text, w)
}

func (p *parser) policy() (*Policy, error) {
	p.pol = &Policy{}
	if !p.isWord("version") {
		return nil, p.expected(`"version"`)
	}
	if err := p.next(); err != nil {
		return nil, err
	}
	if err := p.expect(tAssign); err != nil {
		return nil, err
	}
	if p.tok.kind != tDecimal && p.tok.kind != tInt {
		return nil, p.expected("a version number (1.0, 1.1 or 1.2)")
	}
	switch v := p.tok.text; v {
	case "1.0", "1.1", "1.2":
		p.pol.Version = v
	default:
		return nil, p.expectedMsg("a version number (1.0, 1.1 or 1.2)", "unsupported policy version")
	}
	if err := p.next(); err != nil {
		return nil, err
	}
	if err := p.expect(tSemi); err != nil {
		return nil, err
	}
	var last Section
	for p.tok.kind != tEOF {
		sec, err := p.sectionName(last)
		if err != nil {
			return nil, err
		}
		rules, err := p.section(sec)
		if err != nil {
			return nil, err
		}
		switch sec {
		case SectionConfiguration:
			p.pol.HasConfiguration, p.pol.Configuration = true, rules
		case SectionAuthorization:
			p.pol.Authorization = rules
		case SectionIssuance:
			p.pol.HasIssuance, p.pol.Issuance = true, rules
		}
		last = sec
	}
	if last < SectionAuthorization {
		return nil, p.expected(`"authorizationrules"`)
	}
	return p.pol, nil
}

// sectionName reads a section keyword and checks order, presence and version.
func (p *parser) sectionName(last Section) (Section, error) {
	var sec Section
	switch {
	case p.isWord("configurationrules"):
		sec = SectionConfiguration
	case p.isWord("authorizationrules"):
		sec = SectionAuthorization
	case p.isWord("issuancerules"):
		sec = SectionIssuance
	}
	var want string
	switch last {
	case 0:
		want = `"configurationrules" or "authorizationrules"`
	case SectionConfiguration:
		want = `"authorizationrules"`
	case SectionAuthorization:
		want = `"issuancerules" or end of policy`
	default:
		want = "end of policy"
	}
	switch {
	case sec == 0:
		return 0, p.expected(want)
	case sec <= last:
		return 0, p.expectedMsg(want, "sections appear at most once, in the order configurationrules, authorizationrules, issuancerules")
	case sec == SectionIssuance && last < SectionAuthorization:
		return 0, p.expectedMsg(`"authorizationrules"`, "authorizationrules is required and comes before issuancerules")
	case sec == SectionConfiguration && p.pol.Version < "1.1":
		return 0, p.errAt(p.tok.pos, "configurationrules needs policy version 1.1 or later (policy is version "+p.pol.Version+")")
	}
	return sec, p.next()
}

func (p *parser) section(sec Section) ([]Rule, error) {
	if err := p.expect(tLBrace); err != nil {
		return nil, err
	}
	var rules []Rule
	for p.tok.kind != tRBrace {
		if p.tok.kind == tEOF {
			return nil, p.expected(`a claim rule or "}"`)
		}
		p.rules++
		if p.rules > p.lim.MaxRules {
			return nil, &LimitError{Limit: "MaxRules", Max: p.lim.MaxRules, Pos: p.tok.pos}
		}
		r, err := p.rule(sec)
		if err != nil {
			return nil, err
		}
		rules = append(rules, r)
	}
	if err := p.next(); err != nil {
		return nil, err
	}
	if err := p.expect(tSemi); err != nil {
		return nil, err
	}
	return rules, nil
}

func (p *parser) rule(sec Section) (Rule, error) {
	r := Rule{Pos: p.tok.pos}
	p.binds = map[string]bool{}
	if p.tok.kind != tArrow {
		for {
			if len(r.Conditions) == p.lim.MaxConditions {
				return r, &LimitError{Limit: "MaxConditions", Max: p.lim.MaxConditions, Pos: p.tok.pos}
			}
			c, err := p.condition()
			if err != nil {
				return r, err
			}
			r.Conditions = append(r.Conditions, c)
			if p.tok.kind == tOr {
				return r, p.expectedMsg(`"&&" or "=>"`, `"||" is not part of the claim rule grammar; write one rule per alternative`)
			}
			if p.tok.kind != tAnd {
				break
			}
			if err := p.next(); err != nil {
				return r, err
			}
		}
		if p.tok.kind != tArrow {
			return r, p.expected(`"&&" or "=>"`)
		}
	}
	if err := p.next(); err != nil {
		return r, err
	}
	a, err := p.action(sec)
	if err != nil {
		return r, err
	}
	r.Action = a
	return r, p.expect(tSemi)
}

func (p *parser) condition() (Condition, error) {
	c := Condition{Pos: p.tok.pos}
	if p.tok.kind == tNot {
		if p.pol.Version < "1.2" {
			return c, p.errAt(p.tok.pos, `"!" conditions need policy version 1.2 (policy is version `+p.pol.Version+")")
		}
		c.Negated = true
		if err := p.next(); err != nil {
			return c, err
		}
	}
	if p.tok.kind == tIdent {
		name, pos := p.tok.text, p.tok.pos
		nameTok := p.tok
		if err := p.next(); err != nil {
			return c, err
		}
		if p.tok.kind != tColon {
			// e.g. "permit();" without "=>": point at the name, not after it.
			return c, &SyntaxError{Pos: pos, Expected: `a condition or "=>"`, Found: nameTok.describe()}
		}
		if err := p.next(); err != nil {
			return c, err
		}
		switch {
		case strings.EqualFold(name, "true") || strings.EqualFold(name, "false"):
			return c, p.errAt(pos, "cannot bind the name "+strconv.Quote(name))
		case p.binds[name]:
			return c, p.errAt(pos, "identifier "+strconv.Quote(name)+" is already bound in this rule")
		case c.Negated:
			return c, p.errAt(pos, "a negated condition selects no claims and cannot bind an identifier")
		}
		c.Bind = name
	}
	if p.tok.kind != tLBrack {
		if c.Bind == "" && !c.Negated {
			return c, p.expected(`a condition "[", "!" or "=>"`)
		}
		return c, p.expected(`"["`)
	}
	if err := p.next(); err != nil {
		return c, err
	}
	for {
		if len(c.Props) == p.lim.MaxPropertyConditions {
			return c, &LimitError{Limit: "MaxPropertyConditions", Max: p.lim.MaxPropertyConditions, Pos: p.tok.pos}
		}
		pc, err := p.propCond()
		if err != nil {
			return c, err
		}
		c.Props = append(c.Props, pc)
		if p.tok.kind == tRBrack {
			break
		}
		if p.tok.kind != tComma {
			return c, p.expected(`"," or "]"`)
		}
		if err := p.next(); err != nil {
			return c, err
		}
	}
	if c.Bind != "" {
		p.binds[c.Bind] = true // visible to later conditions and the action only
	}
	return c, p.next()
}

// property reads a property name: type, value, valueType or issuer.
func (p *parser) property() (Property, error) {
	if p.tok.kind == tIdent {
		for _, pr := range []Property{PropType, PropValue, PropValueType, PropIssuer} {
			if strings.EqualFold(p.tok.text, pr.String()) {
				return pr, p.next()
			}
		}
	}
	return 0, p.expected(`"type", "value", "valueType" or "issuer"`)
}

func (p *parser) propCond() (PropCond, error) {
	pc := PropCond{Pos: p.tok.pos}
	prop, err := p.property()
	if err != nil {
		return pc, err
	}
	pc.Prop = prop
	opPos := p.tok.pos
	switch p.tok.kind {
	case tEq, tAssign: // "=" appears in MAA's own samples; read as "=="
		pc.Op = OpEq
	case tNe:
		pc.Op = OpNe
	case tLt:
		pc.Op = OpLt
	case tLe:
		pc.Op = OpLe
	case tGt:
		pc.Op = OpGt
	case tGe:
		pc.Op = OpGe
	default:
		return pc, p.expected(`a comparison operator ("==", "!=", "<", "<=", ">", ">=")`)
	}
	if pc.Op >= OpLt && prop != PropValue {
		return pc, p.errAt(opPos, "operator "+pc.Op.String()+" compares integer values; "+prop.String()+" is a string")
	}
	if err := p.next(); err != nil {
		return pc, err
	}
	if pc.Expr, err = p.expr(0); err != nil {
		return pc, err
	}
	if lit, ok := pc.Expr.(*Literal); ok {
		switch {
		case pc.Op >= OpLt && lit.Value.Kind != KindInteger:
			return pc, p.errAt(lit.Pos, "operator "+pc.Op.String()+" needs an integer operand, found "+lit.Value.Kind.String())
		case prop != PropValue && lit.Value.Kind != KindString:
			return pc, p.errAt(lit.Pos, prop.String()+" is compared with a string, found "+lit.Value.Kind.String())
		}
	}
	return pc, nil
}
