package policy

import (
	"strconv"
	"strings"
)

// sectionActions lists the actions each section allows (claim-rule-grammar).
var sectionActions = map[Section][]ActionKind{
	SectionConfiguration: {ActIssueProperty},
	SectionAuthorization: {ActPermit, ActDeny, ActAdd},
	SectionIssuance:      {ActAdd, ActIssue, ActIssueProperty},
}

func (p *parser) action(sec Section) (Action, error) {
	a := Action{Pos: p.tok.pos}
	if p.tok.kind == tIdent {
		for _, k := range []ActionKind{ActPermit, ActDeny, ActAdd, ActIssue, ActIssueProperty} {
			if strings.EqualFold(p.tok.text, k.String()) {
				a.Kind = k
			}
		}
	}
	if a.Kind == 0 {
		return a, p.expected("an action (permit, deny, add, issue or issueproperty)")
	}
	allowed := false
	for _, k := range sectionActions[sec] {
		allowed = allowed || k == a.Kind
	}
	if !allowed {
		return a, p.errAt(a.Pos, a.Kind.String()+"() is not allowed in "+sec.String())
	}
	if err := p.next(); err != nil {
		return a, err
	}
	if err := p.expect(tLParen); err != nil {
		return a, err
	}
	if a.Kind == ActPermit || a.Kind == ActDeny {
		return a, p.expect(tRParen)
	}
	if err := p.actionArgs(&a); err != nil {
		return a, err
	}
	return a, p.expect(tRParen)
}

// actionArgs reads "claim=ident" or "type=expr, value=expr" (either order).
func (p *parser) actionArgs(a *Action) error {
	for {
		var name string
		if p.tok.kind == tIdent {
			name = strings.ToLower(p.tok.text)
		}
		pos := p.tok.pos
		switch {
		case name != "type" && name != "value" && name != "claim":
			return p.expected(`"type", "value" or "claim"`)
		case (name == "type" && a.Type != nil) || (name == "value" && a.Value != nil) || (name == "claim" && a.Claim != ""),
			name == "claim" && (a.Type != nil || a.Value != nil),
			name != "claim" && a.Claim != "":
			return p.errAt(pos, a.Kind.String()+"() takes either claim=ident or type=..., value=..., each once")
		}
		if err := p.next(); err != nil {
			return err
		}
		if err := p.expect(tAssign); err != nil {
			return err
		}
		if name == "claim" {
			if p.tok.kind != tIdent || !p.binds[p.tok.text] {
				return p.expectedMsg("an identifier bound by a condition of this rule", "claim= names the claims a condition selected")
			}
			a.Claim = p.tok.text
			if err := p.next(); err != nil {
				return err
			}
		} else {
			e, err := p.expr(0)
			if err != nil {
				return err
			}
			if name == "type" {
				if lit, ok := e.(*Literal); ok && (lit.Value.Kind != KindString || lit.Value.Str == "") {
					return p.errAt(lit.Pos, "claim type must be a non-empty string")
				}
				a.Type = e
			} else {
				a.Value = e
			}
		}
		if p.tok.kind != tComma {
			break
		}
		if err := p.next(); err != nil {
			return err
		}
	}
	switch {
	case a.Claim == "" && a.Type == nil:
		return p.expectedMsg(`","`, a.Kind.String()+"() needs type=")
	case a.Claim == "" && a.Value == nil:
		return p.expectedMsg(`","`, a.Kind.String()+"() needs value=")
	}
	return nil
}

func (p *parser) expr(depth int) (Expr, error) {
	if depth > p.lim.MaxExprDepth {
		return nil, &LimitError{Limit: "MaxExprDepth", Max: p.lim.MaxExprDepth, Pos: p.tok.pos}
	}
	t := p.tok
	switch t.kind {
	case tString:
		return &Literal{Pos: t.pos, Value: StringValue(t.text)}, p.next()
	case tInt:
		i, err := strconv.ParseInt(t.text, 10, 64)
		if err != nil {
			return nil, p.errAt(t.pos, "integer "+t.text+" out of range (64-bit signed)")
		}
		return &Literal{Pos: t.pos, Value: IntValue(i)}, p.next()
	case tDecimal:
		return nil, p.errAt(t.pos, "fractional number "+t.text+": claim values are integers")
	case tIdent:
	default:
		return nil, p.expected("a value (string, integer, true, false, ident.property or function call)")
	}
	if err := p.next(); err != nil {
		return nil, err
	}
	switch p.tok.kind {
	case tLParen:
		return p.call(t, depth)
	case tDot:
		if !p.binds[t.text] {
			return nil, p.errAt(t.pos, "identifier "+strconv.Quote(t.text)+" is not bound by an earlier condition of this rule")
		}
		if err := p.next(); err != nil {
			return nil, err
		}
		prop, err := p.property()
		if err != nil {
			return nil, err
		}
		return &Ref{Pos: t.pos, Bind: t.text, Prop: prop}, nil
	}
	switch {
	case strings.EqualFold(t.text, "true"):
		return &Literal{Pos: t.pos, Value: BoolValue(true)}, nil
	case strings.EqualFold(t.text, "false"):
		return &Literal{Pos: t.pos, Value: BoolValue(false)}, nil
	}
	return nil, p.errAt(t.pos, "unknown name "+strconv.Quote(t.text)+" (a value is a string, integer, true, false, ident.property or a function call)")
}

func (p *parser) call(name token, depth int) (Expr, error) {
	def := lookupFunc(name.text)
	switch {
	case def == nil && strings.EqualFold(name.text, "JmesPath"):
		return nil, p.errAt(name.pos, "function JmesPath is not supported by this implementation")
	case def == nil:
		return nil, p.errAt(name.pos, "unknown function "+strconv.Quote(name.text))
	case p.pol.Version < "1.2":
		return nil, p.errAt(name.pos, "function calls need policy version 1.2 (policy is version "+p.pol.Version+")")
	}
	c := &Call{Pos: name.pos, Func: def.name}
	if err := p.next(); err != nil { // "("
		return nil, err
	}
	if p.tok.kind != tRParen {
		for {
			arg, err := p.expr(depth + 1)
			if err != nil {
				return nil, err
			}
			c.Args = append(c.Args, arg)
			if p.tok.kind != tComma {
				break
			}
			if len(c.Args) == def.arity {
				return nil, p.expectedMsg(`")"`, def.name+" takes "+strconv.Itoa(def.arity)+" argument(s)")
			}
			if err := p.next(); err != nil {
				return nil, err
			}
		}
	}
	if p.tok.kind != tRParen {
		return nil, p.expected(`"," or ")"`)
	}
	if len(c.Args) != def.arity {
		return nil, p.expectedMsg("more arguments", def.name+" takes "+strconv.Itoa(def.arity)+" argument(s), found "+strconv.Itoa(len(c.Args)))
	}
	return c, p.next()
}
