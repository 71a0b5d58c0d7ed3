package policy

// Limits bounds the resources an untrusted policy may use. The zero value
// selects the defaults listed per field; a field <= 0 selects its default.
// Exceeding a bound gives a *LimitError.
type Limits struct {
	// MaxPolicyBytes bounds the policy text. Zero: 64 KiB.
	MaxPolicyBytes int
	// MaxRules bounds the number of rules in all sections together. Zero: 512.
	MaxRules int
	// MaxConditions bounds the conditions of one rule. Zero: 32.
	MaxConditions int
	// MaxPropertyConditions bounds the property conditions inside one "[...]". Zero: 16.
	MaxPropertyConditions int
	// MaxExprDepth bounds the nesting of function calls. Zero: 8.
	MaxExprDepth int
	// MaxSteps bounds evaluation work (claims examined, values produced,
	// function work). Zero: 1,000,000.
	MaxSteps int
	// MaxClaims bounds the incoming claim set, input included. Zero: 4096.
	MaxClaims int
	// MaxValueBytes bounds a string value produced by a function, and the JSON
	// text JsonToClaimValue accepts. Zero: 64 KiB.
	MaxValueBytes int
}

const (
	defaultMaxPolicyBytes        = 64 << 10
	defaultMaxRules              = 512
	defaultMaxConditions         = 32
	defaultMaxPropertyConditions = 16
	defaultMaxExprDepth          = 8
	defaultMaxSteps              = 1_000_000
	defaultMaxClaims             = 4096
	defaultMaxValueBytes         = 64 << 10
)

// withDefaults returns a copy of l with every unset field at its default.
func (l Limits) withDefaults() Limits {
	set := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	set(&l.MaxPolicyBytes, defaultMaxPolicyBytes)
	set(&l.MaxRules, defaultMaxRules)
	set(&l.MaxConditions, defaultMaxConditions)
	set(&l.MaxPropertyConditions, defaultMaxPropertyConditions)
	set(&l.MaxExprDepth, defaultMaxExprDepth)
	set(&l.MaxSteps, defaultMaxSteps)
	set(&l.MaxClaims, defaultMaxClaims)
	set(&l.MaxValueBytes, defaultMaxValueBytes)
	return l
}
