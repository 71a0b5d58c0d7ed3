package policy

import (
	"errors"
	"fmt"
)

// ErrInvalidClaim: an incoming claim given to Evaluate is malformed (empty
// type or invalid value kind).
var ErrInvalidClaim = errors.New("policy: invalid incoming claim")

// Outcome is the result of evaluating a policy.
type Outcome struct {
	// Authorized: some permit() fired and no deny() fired.
	Authorized bool
	// Issued are the claims of issue() actions, in the order issued. Empty
	// unless Authorized.
	Issued []Claim
	// Properties are the claims of issueproperty() actions, in order; they
	// steer the engine (e.g. x-ms-sgx-tcbidentifier) and are not token claims.
	Properties []Claim
	// Steps is the evaluation work spent, in Limits.MaxSteps units.
	Steps int
}

// Property returns the value of the last issueproperty() of type t.
func (o *Outcome) Property(t string) (Value, bool) {
	for i := len(o.Properties) - 1; i >= 0; i-- {
		if o.Properties[i].Type == t {
			return o.Properties[i].Value, true
		}
	}
	return Value{}, false
}

// Evaluate runs the policy over the incoming claims with the default Limits.
func (p *Policy) Evaluate(incoming []Claim) (*Outcome, error) {
	return p.EvaluateWithLimits(incoming, Limits{})
}

// EvaluateWithLimits runs configurationrules, authorizationrules and, when
// authorized, issuancerules over the incoming claims (which it does not
// modify). Input claims with an empty Issuer count as issued by
// IssuerAttestationService. An error (*EvalError, *LimitError or
// ErrInvalidClaim) means no outcome: the caller must fail the attestation.
func (p *Policy) EvaluateWithLimits(incoming []Claim, lim Limits) (*Outcome, error) {
	lim = lim.withDefaults()
	if len(incoming) > lim.MaxClaims {
		return nil, &LimitError{Limit: "MaxClaims", Max: lim.MaxClaims}
	}
	e := &evaluator{lim: lim, in: make([]Claim, 0, len(incoming))}
	for i, c := range incoming {
		if c.Type == "" || c.Value.Kind < KindString || c.Value.Kind > KindBoolean {
			return nil, fmt.Errorf("%w: claim %d (type %q): empty type or invalid value kind", ErrInvalidClaim, i, c.Type)
		}
		if c.Issuer == "" {
			c.Issuer = IssuerAttestationService
		}
		e.in = append(e.in, c)
	}
	out := &Outcome{}
	if err := e.section(SectionConfiguration, p.Configuration, out); err != nil {
		return nil, err
	}
	if err := e.section(SectionAuthorization, p.Authorization, out); err != nil {
		return nil, err
	}
	out.Authorized = e.permitted && !e.denied
	if out.Authorized {
		if err := e.section(SectionIssuance, p.Issuance, out); err != nil {
			return nil, err
		}
	}
	out.Steps = e.steps
	return out, nil
}

type evaluator struct {
	lim       Limits
	steps     int
	in        []Claim // incoming claim set
	sec       Section
	rule      int
	permitted bool
	denied    bool
}

// charge accounts n units of work.
func (e *evaluator) charge(n int) error {
	if n < 1 {
		n = 1
	}
	if n > e.lim.MaxSteps || e.steps > e.lim.MaxSteps-n {
		e.steps = e.lim.MaxSteps
		return &LimitError{Limit: "MaxSteps", Max: e.lim.MaxSteps}
	}
	e.steps += n
	return nil
}

func (e *evaluator) errf(pos Pos, format string, args ...any) *EvalError {
	return &EvalError{Section: e.sec, Rule: e.rule, Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

func (e *evaluator) section(sec Section, rules []Rule, out *Outcome) error {
	e.sec = sec
	for i, r := range rules {
		e.rule = i
		if err := e.evalRule(r, out); err != nil {
			return err
		}
		if e.denied {
			return nil // deny() is final: no later rule can authorize
		}
	}
	return nil
}

func (e *evaluator) evalRule(r Rule, out *Outcome) error {
	if err := e.charge(1); err != nil {
		return err
	}
	snapshot := e.in[:len(e.in):len(e.in)] // claims the action adds are not seen by this rule
	binds := map[string][]Claim{}
	for _, c := range r.Conditions {
		sel, err := e.selectClaims(c, snapshot, binds)
		if err != nil {
			return err
		}
		if c.Negated != (len(sel) == 0) {
			return nil // condition does not hold: the rule does not fire
		}
		if c.Bind != "" {
			binds[c.Bind] = sel
		}
	}
	return e.act(r.Action, binds, out)
}

// selectClaims returns the claims satisfying every property condition of c.
// For conditions that bind nothing only existence matters, so it stops at the
// first match.
func (e *evaluator) selectClaims(c Condition, claims []Claim, binds map[string][]Claim) ([]Claim, error) {
	rhs := make([][]Value, len(c.Props))
	cost := 1
	for i, pc := range c.Props {
		v, err := e.eval(pc.Expr, binds)
		if err != nil {
			return nil, err
		}
		rhs[i] = v
		cost += len(v)
	}
	var sel []Claim
	for _, cl := range claims {
		if err := e.charge(cost); err != nil {
			return nil, err
		}
		if matchClaim(cl, c.Props, rhs) {
			sel = append(sel, cl)
			if c.Bind == "" {
				break
			}
		}
	}
	return sel, nil
}

func matchClaim(c Claim, props []PropCond, rhs [][]Value) bool {
	for i, pc := range props {
		var lhs Value
		switch pc.Prop {
		case PropType:
			lhs = StringValue(c.Type)
		case PropValue:
			lhs = c.Value
		case PropValueType:
			lhs = StringValue(c.Value.Kind.String())
		case PropIssuer:
			lhs = StringValue(c.Issuer)
		}
		if !compare(lhs, pc.Op, rhs[i]) {
			return false
		}
	}
	return true
}

// compare applies op between a claim property and a value set. == holds if
// some element is equal; != if the set is non-empty and every element has
// the same kind and differs; ordering operators if some Integer element
// satisfies them. Values of different kinds never compare.
func compare(l Value, op Op, set []Value) bool {
	switch op {
	case OpEq:
		for _, r := range set {
			if l.Equal(r) {
				return true
			}
		}
		return false
	case OpNe:
		for _, r := range set {
			if r.Kind != l.Kind || l.Equal(r) {
				return false
			}
		}
		return len(set) > 0
	}
	if l.Kind != KindInteger {
		return false
	}
	for _, r := range set {
		if r.Kind != KindInteger {
			continue
		}
		var ok bool
		switch op {
		case OpLt:
			ok = l.Int < r.Int
		case OpLe:
			ok = l.Int <= r.Int
		case OpGt:
			ok = l.Int > r.Int
		case OpGe:
			ok = l.Int >= r.Int
		}
		if ok {
			return true
		}
	}
	return false
}

func (e *evaluator) act(a Action, binds map[string][]Claim, out *Outcome) error {
	switch a.Kind {
	case ActPermit:
		e.permitted = true
		return nil
	case ActDeny:
		e.denied = true
		return nil
	}
	var claims []Claim
	if a.Claim != "" {
		claims = append(claims, binds[a.Claim]...)
	} else {
		tv, err := e.eval(a.Type, binds)
		if err != nil {
			return err
		}
		if len(tv) != 1 || tv[0].Kind != KindString || tv[0].Str == "" {
			return e.errf(a.Type.exprPos(), "claim type must be one non-empty String, got %s", describeSet(tv))
		}
		vals, err := e.eval(a.Value, binds)
		if err != nil {
			return err
		}
		for _, v := range vals { // an empty set (JSON null) adds nothing
			claims = append(claims, Claim{Type: tv[0].Str, Value: v, Issuer: IssuerAttestationPolicy})
		}
	}
	for _, c := range claims {
		if err := e.charge(1); err != nil {
			return err
		}
		if len(e.in) >= e.lim.MaxClaims {
			return &LimitError{Limit: "MaxClaims", Max: e.lim.MaxClaims, Pos: a.Pos}
		}
		e.in = append(e.in, c)
		switch a.Kind {
		case ActIssue:
			out.Issued = append(out.Issued, c)
		case ActIssueProperty:
			out.Properties = append(out.Properties, c)
		}
	}
	return nil
}

// eval evaluates an expression to a value set (one element for a scalar).
func (e *evaluator) eval(x Expr, binds map[string][]Claim) ([]Value, error) {
	switch x := x.(type) {
	case *Literal:
		return []Value{x.Value}, nil
	case *Ref:
		sel := binds[x.Bind]
		if err := e.charge(len(sel)); err != nil {
			return nil, err
		}
		vals := make([]Value, len(sel))
		for i, c := range sel {
			switch x.Prop {
			case PropType:
				vals[i] = StringValue(c.Type)
			case PropValue:
				vals[i] = c.Value
			case PropValueType:
				vals[i] = StringValue(c.Value.Kind.String())
			case PropIssuer:
				vals[i] = StringValue(c.Issuer)
			}
		}
		return vals, nil
	case *Call:
		def := lookupFunc(x.Func)
		if def == nil || len(x.Args) != def.arity { // the parser guarantees both
			return nil, e.errf(x.Pos, "bad call of %s", x.Func)
		}
		args := make([][]Value, len(x.Args))
		for i, a := range x.Args {
			v, err := e.eval(a, binds)
			if err != nil {
				return nil, err
			}
			args[i] = v
		}
		return def.fn(e, x, args)
	}
	return nil, fmt.Errorf("%w: unknown expression %T", ErrEval, x)
}

func describeSet(vs []Value) string {
	switch len(vs) {
	case 0:
		return "no value"
	case 1:
		return vs[0].Kind.String() + " " + vs[0].String()
	}
	return fmt.Sprintf("a set of %d values", len(vs))
}
