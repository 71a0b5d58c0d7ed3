package policy

import (
	"errors"
	"fmt"
)

// Sentinel errors; the typed errors below match them with errors.Is.
var (
	// ErrSyntax: the policy text is not a valid policy (*SyntaxError).
	ErrSyntax = errors.New("policy: syntax error")
	// ErrLimit: a policy or an evaluation exceeded a Limits bound (*LimitError).
	ErrLimit = errors.New("policy: limit exceeded")
	// ErrEval: evaluation failed, e.g. a function got a wrong argument (*EvalError).
	ErrEval = errors.New("policy: evaluation error")
	// ErrRejected: Appraise rejected the evidence (*RejectError).
	ErrRejected = errors.New("policy: evidence rejected")
)

// Pos is a position in the policy text: 1-based line and column (in
// characters) and the 0-based byte offset.
type Pos struct {
	Line, Col, Offset int
}

func (p Pos) String() string { return fmt.Sprintf("%d:%d", p.Line, p.Col) }

// SyntaxError reports invalid policy text: where, what was expected and what
// was found instead.
type SyntaxError struct {
	Pos      Pos
	Expected string // e.g. `";"`, "a claim rule or \"}\""; may be empty
	Found    string // the offending token, quoted, or "end of policy"
	Msg      string // extra explanation; may be empty
}

func (e *SyntaxError) Error() string {
	s := "policy: syntax error at line " + e.Pos.String() + ": "
	switch {
	case e.Expected != "" && e.Msg != "":
		return s + "expected " + e.Expected + ", found " + e.Found + " (" + e.Msg + ")"
	case e.Expected != "":
		return s + "expected " + e.Expected + ", found " + e.Found
	default:
		return s + e.Msg
	}
}

// Is reports whether target is ErrSyntax.
func (e *SyntaxError) Is(target error) bool { return target == ErrSyntax }

// LimitError reports that a bound of Limits was exceeded.
type LimitError struct {
	Limit string // the Limits field name, e.g. "MaxRules"
	Max   int
	Pos   Pos // where in the policy text, if known (zero otherwise)
}

func (e *LimitError) Error() string {
	if e.Pos.Line > 0 {
		return fmt.Sprintf("policy: limit %s (%d) exceeded at line %s", e.Limit, e.Max, e.Pos)
	}
	return fmt.Sprintf("policy: limit %s (%d) exceeded", e.Limit, e.Max)
}

// Is reports whether target is ErrLimit.
func (e *LimitError) Is(target error) bool { return target == ErrLimit }

// EvalError reports a rule that could not be evaluated.
type EvalError struct {
	Section Section
	Rule    int // 0-based index within the section
	Pos     Pos // position of the failing expression
	Msg     string
}

func (e *EvalError) Error() string {
	return fmt.Sprintf("policy: evaluation of %s rule %d at line %s: %s", e.Section, e.Rule+1, e.Pos, e.Msg)
}

// Is reports whether target is ErrEval.
func (e *EvalError) Is(target error) bool { return target == ErrEval }
