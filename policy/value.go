package policy

import (
	"sort"
	"strconv"
)

// Kind is the value type of a claim, as MAA's valueType names it.
type Kind uint8

const (
	// KindInvalid is the zero Kind; claims with it are rejected.
	KindInvalid Kind = iota
	// KindString is valueType "String".
	KindString
	// KindInteger is valueType "Integer" (int64).
	KindInteger
	// KindBoolean is valueType "Boolean".
	KindBoolean
)

// String returns the MAA valueType name: "String", "Integer" or "Boolean".
func (k Kind) String() string {
	switch k {
	case KindString:
		return "String"
	case KindInteger:
		return "Integer"
	case KindBoolean:
		return "Boolean"
	}
	return "Invalid"
}

// Value is one typed claim value. Build it with StringValue, IntValue or
// BoolValue; only the field matching Kind is meaningful.
type Value struct {
	Kind Kind
	Str  string
	Int  int64
	Bool bool
}

// StringValue returns a String value.
func StringValue(s string) Value { return Value{Kind: KindString, Str: s} }

// IntValue returns an Integer value.
func IntValue(i int64) Value { return Value{Kind: KindInteger, Int: i} }

// BoolValue returns a Boolean value.
func BoolValue(b bool) Value { return Value{Kind: KindBoolean, Bool: b} }

// Any returns the value as a Go string, int64 or bool (nil for KindInvalid),
// ready for JSON encoding.
func (v Value) Any() any {
	switch v.Kind {
	case KindString:
		return v.Str
	case KindInteger:
		return v.Int
	case KindBoolean:
		return v.Bool
	}
	return nil
}

// String renders v as a policy literal: a quoted string, a decimal integer,
// true or false.
func (v Value) String() string {
	switch v.Kind {
	case KindString:
		return quote(v.Str)
	case KindInteger:
		return strconv.FormatInt(v.Int, 10)
	case KindBoolean:
		return strconv.FormatBool(v.Bool)
	}
	return "<invalid>"
}

// Equal reports whether v and w have the same kind and value.
func (v Value) Equal(w Value) bool {
	if v.Kind != w.Kind {
		return false
	}
	switch v.Kind {
	case KindString:
		return v.Str == w.Str
	case KindInteger:
		return v.Int == w.Int
	case KindBoolean:
		return v.Bool == w.Bool
	}
	return true
}

// Claim issuers, as MAA names them.
const (
	// IssuerAttestationService marks claims derived from the evidence.
	IssuerAttestationService = "AttestationService"
	// IssuerAttestationPolicy marks claims created by policy rules.
	IssuerAttestationPolicy = "AttestationPolicy"
	// IssuerCustomClaim marks claims supplied by the attester.
	IssuerCustomClaim = "CustomClaim"
)

// Claim is one claim: a type, a typed value and its issuer.
type Claim struct {
	Type   string
	Value  Value
	Issuer string // empty in an input claim means IssuerAttestationService
}

// ClaimsFromMap turns a claim type → values map into incoming claims issued
// by the attestation service, ordered by type and then by the order of values.
func ClaimsFromMap(m map[string][]Value) []Claim {
	types := make([]string, 0, len(m))
	for t := range m {
		types = append(types, t)
	}
	sort.Strings(types)
	var out []Claim
	for _, t := range types {
		for _, v := range m[t] {
			out = append(out, Claim{Type: t, Value: v, Issuer: IssuerAttestationService})
		}
	}
	return out
}

// ClaimsJSON renders claims as a JSON-ready object: a type with one value maps
// to that value (string, int64 or bool), a type with several values to a
// []any in claim order. MAA's representation of a type issued more than once
// is not documented (docs/limitations.md, "Choices made where the
// specifications are silent"); an array is this package's choice.
func ClaimsJSON(claims []Claim) map[string]any {
	out := make(map[string]any, len(claims))
	for _, c := range claims {
		prev, ok := out[c.Type]
		switch {
		case !ok:
			out[c.Type] = c.Value.Any()
		default:
			if arr, isArr := prev.([]any); isArr {
				out[c.Type] = append(arr, c.Value.Any())
			} else {
				out[c.Type] = []any{prev, c.Value.Any()}
			}
		}
	}
	return out
}
