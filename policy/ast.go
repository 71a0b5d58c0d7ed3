package policy

import (
	"strings"
)

// Section names a part of a policy.
type Section uint8

const (
	// SectionConfiguration is "configurationrules" (version 1.1+).
	SectionConfiguration Section = iota + 1
	// SectionAuthorization is "authorizationrules".
	SectionAuthorization
	// SectionIssuance is "issuancerules".
	SectionIssuance
)

func (s Section) String() string {
	switch s {
	case SectionConfiguration:
		return "configurationrules"
	case SectionAuthorization:
		return "authorizationrules"
	case SectionIssuance:
		return "issuancerules"
	}
	return "unknown section"
}

// Policy is a parsed MAA attestation policy.
type Policy struct {
	Version string // "1.0", "1.1" or "1.2"
	// HasConfiguration and HasIssuance record whether the optional sections
	// were present (an empty section and an absent one evaluate alike).
	HasConfiguration bool
	HasIssuance      bool
	Configuration    []Rule
	Authorization    []Rule
	Issuance         []Rule
}

// Rule is "conditions => action;".
type Rule struct {
	Pos        Pos
	Conditions []Condition // empty: always fires
	Action     Action
}

// Condition is "[!][ident:][prop op expr, ...]": it selects the incoming
// claims that satisfy every property condition.
type Condition struct {
	Pos     Pos
	Negated bool   // "!": holds when no claim is selected (1.2)
	Bind    string // identifier bound to the selected claims; may be empty
	Props   []PropCond
}

// Property is a claim property that conditions and references can name.
type Property uint8

const (
	// PropType is the claim type.
	PropType Property = iota + 1
	// PropValue is the claim value.
	PropValue
	// PropValueType is the claim's valueType name ("String", "Integer", "Boolean").
	PropValueType
	// PropIssuer is the claim issuer.
	PropIssuer
)

func (p Property) String() string {
	switch p {
	case PropType:
		return "type"
	case PropValue:
		return "value"
	case PropValueType:
		return "valueType"
	case PropIssuer:
		return "issuer"
	}
	return "unknown"
}

// Op is a comparison operator.
type Op uint8

const (
	OpEq Op = iota + 1 // ==
	OpNe               // !=
	OpLt               // <
	OpLe               // <=
	OpGt               // >
	OpGe               // >=
)

func (o Op) String() string {
	switch o {
	case OpEq:
		return "=="
	case OpNe:
		return "!="
	case OpLt:
		return "<"
	case OpLe:
		return "<="
	case OpGt:
		return ">"
	case OpGe:
		return ">="
	}
	return "?"
}

// PropCond is one "property op expression" test on a claim.
type PropCond struct {
	Pos  Pos
	Prop Property
	Op   Op
	Expr Expr
}

// Expr is an expression: *Literal, *Ref or *Call.
type Expr interface {
	exprPos() Pos
	String() string
}

// Literal is a string, integer or boolean constant.
type Literal struct {
	Pos   Pos
	Value Value
}

// Ref is "ident.property": the property of the claims bound to ident.
type Ref struct {
	Pos  Pos
	Bind string
	Prop Property
}

// Call is a function call (version 1.2).
type Call struct {
	Pos  Pos
	Func string // canonical name, e.g. "AppendString"
	Args []Expr
}

func (e *Literal) exprPos() Pos { return e.Pos }
func (e *Ref) exprPos() Pos     { return e.Pos }
func (e *Call) exprPos() Pos    { return e.Pos }

func (e *Literal) String() string { return e.Value.String() }
func (e *Ref) String() string     { return e.Bind + "." + e.Prop.String() }
func (e *Call) String() string {
	args := make([]string, len(e.Args))
	for i, a := range e.Args {
		args[i] = a.String()
	}
	return e.Func + "(" + strings.Join(args, ", ") + ")"
}

// ActionKind is the verb of a rule's action.
type ActionKind uint8

const (
	// ActPermit is permit(): authorizationrules only.
	ActPermit ActionKind = iota + 1
	// ActDeny is deny(): authorizationrules only.
	ActDeny
	// ActAdd is add(...): adds to the incoming set only.
	ActAdd
	// ActIssue is issue(...): adds to the incoming and the outgoing set; issuancerules only.
	ActIssue
	// ActIssueProperty is issueproperty(...): adds to the incoming and the
	// property set; configurationrules and issuancerules.
	ActIssueProperty
)

func (a ActionKind) String() string {
	switch a {
	case ActPermit:
		return "permit"
	case ActDeny:
		return "deny"
	case ActAdd:
		return "add"
	case ActIssue:
		return "issue"
	case ActIssueProperty:
		return "issueproperty"
	}
	return "unknown"
}

// Action is what a rule does when its conditions hold. For add, issue and
// issueproperty exactly one of Claim or (Type, Value) is set.
type Action struct {
	Pos   Pos
	Kind  ActionKind
	Claim string // claim=ident: the claims bound to ident
	Type  Expr
	Value Expr
}

// String renders the policy in canonical form; Parse(p.String()) yields an
// equivalent policy.
func (p *Policy) String() string {
	var b strings.Builder
	b.WriteString("version=" + p.Version + ";\n")
	section := func(name string, rules []Rule) {
		b.WriteString(name + "\n{\n")
		for _, r := range rules {
			b.WriteString("\t" + r.String() + "\n")
		}
		b.WriteString("};\n")
	}
	if p.HasConfiguration {
		section("configurationrules", p.Configuration)
	}
	section("authorizationrules", p.Authorization)
	if p.HasIssuance {
		section("issuancerules", p.Issuance)
	}
	return b.String()
}

// String renders the rule in canonical form, ending in ";".
func (r Rule) String() string {
	conds := make([]string, len(r.Conditions))
	for i, c := range r.Conditions {
		conds[i] = c.String()
	}
	s := strings.Join(conds, " && ")
	if s != "" {
		s += " "
	}
	return s + "=> " + r.Action.String() + ";"
}

// String renders the condition in canonical form.
func (c Condition) String() string {
	var b strings.Builder
	if c.Negated {
		b.WriteByte('!')
	}
	if c.Bind != "" {
		b.WriteString(c.Bind + ":")
	}
	b.WriteByte('[')
	for i, pc := range c.Props {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(pc.Prop.String() + pc.Op.String() + pc.Expr.String())
	}
	b.WriteByte(']')
	return b.String()
}

// String renders the action in canonical form.
func (a Action) String() string {
	switch {
	case a.Kind == ActPermit || a.Kind == ActDeny:
		return a.Kind.String() + "()"
	case a.Claim != "":
		return a.Kind.String() + "(claim=" + a.Claim + ")"
	}
	return a.Kind.String() + "(type=" + a.Type.String() + ", value=" + a.Value.String() + ")"
}
