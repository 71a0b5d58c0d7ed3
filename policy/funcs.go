package policy

import (
	"encoding/json"
	"io"
	"strconv"
	"strings"
)

// funcDef is a policy function of version 1.2 (claim-rule-functions).
type funcDef struct {
	name  string // canonical spelling
	arity int
	fn    func(e *evaluator, c *Call, args [][]Value) ([]Value, error)
}

var funcTable = []*funcDef{
	{"AppendString", 2, fnAppendString},
	{"NegateBool", 1, fnNegateBool},
	{"IsSubsetOf", 2, fnIsSubsetOf},
	{"ContainsOnlyValue", 2, fnContainsOnlyValue},
	{"JsonToClaimValue", 1, fnJSONToClaimValue},
}

// lookupFunc finds a function by case-insensitive name; JmesPath is absent on
// purpose.
func lookupFunc(name string) *funcDef {
	for _, f := range funcTable {
		if strings.EqualFold(f.name, name) {
			return f
		}
	}
	return nil
}

// one returns the single value of args[i] if it has kind k.
func one(e *evaluator, c *Call, args [][]Value, i int, k Kind) (Value, error) {
	v := args[i]
	if len(v) != 1 || v[0].Kind != k {
		return Value{}, e.errf(c.Args[i].exprPos(), "%s: argument %d is %s, want one %s", c.Func, i+1, describeSet(v), k)
	}
	return v[0], nil
}

func fnAppendString(e *evaluator, c *Call, args [][]Value) ([]Value, error) {
	a, err := one(e, c, args, 0, KindString)
	if err != nil {
		return nil, err
	}
	b, err := one(e, c, args, 1, KindString)
	if err != nil {
		return nil, err
	}
	n := len(a.Str) + len(b.Str)
	if n > e.lim.MaxValueBytes {
		return nil, &LimitError{Limit: "MaxValueBytes", Max: e.lim.MaxValueBytes, Pos: c.Pos}
	}
	if err := e.charge(1 + n/1024); err != nil {
		return nil, err
	}
	return []Value{StringValue(a.Str + b.Str)}, nil
}

func fnNegateBool(e *evaluator, c *Call, args [][]Value) ([]Value, error) {
	b, err := one(e, c, args, 0, KindBoolean)
	if err != nil {
		return nil, err
	}
	return []Value{BoolValue(!b.Bool)}, nil
}

func fnIsSubsetOf(e *evaluator, c *Call, args [][]Value) ([]Value, error) {
	sub, sup := args[0], args[1]
	if err := e.charge(len(sub) * len(sup)); err != nil {
		return nil, err
	}
	for _, v := range sub {
		found := false
		for _, w := range sup {
			if v.Equal(w) {
				found = true
				break
			}
		}
		if !found {
			return []Value{BoolValue(false)}, nil
		}
	}
	return []Value{BoolValue(true)}, nil
}

func fnContainsOnlyValue(e *evaluator, c *Call, args [][]Value) ([]Value, error) {
	if len(args[1]) != 1 {
		return nil, e.errf(c.Args[1].exprPos(), "%s: argument 2 is %s, want one value", c.Func, describeSet(args[1]))
	}
	set, want := args[0], args[1][0]
	if err := e.charge(len(set)); err != nil {
		return nil, err
	}
	for _, v := range set {
		if !v.Equal(want) {
			return []Value{BoolValue(false)}, nil
		}
	}
	return []Value{BoolValue(len(set) > 0)}, nil
}

// fnJSONToClaimValue converts JSON text: integer → Integer, bool → Boolean,
// string → String, null → no value, array of primitives → a set (null
// elements skipped); fractions, objects and nested arrays are errors.
func fnJSONToClaimValue(e *evaluator, c *Call, args [][]Value) ([]Value, error) {
	s, err := one(e, c, args, 0, KindString)
	if err != nil {
		return nil, err
	}
	if len(s.Str) > e.lim.MaxValueBytes {
		return nil, &LimitError{Limit: "MaxValueBytes", Max: e.lim.MaxValueBytes, Pos: c.Pos}
	}
	if err := e.charge(1 + len(s.Str)/64); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(strings.NewReader(s.Str))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, e.errf(c.Pos, "%s: invalid JSON: %v", c.Func, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, e.errf(c.Pos, "%s: trailing data after JSON value", c.Func)
	}
	if arr, ok := doc.([]any); ok {
		out := make([]Value, 0, len(arr))
		for i, el := range arr {
			if el == nil {
				continue
			}
			v, err := jsonPrimitive(el)
			if err != nil {
				return nil, e.errf(c.Pos, "%s: array element %d: %v", c.Func, i, err)
			}
			out = append(out, v)
		}
		return out, e.charge(len(out))
	}
	if doc == nil {
		return nil, nil
	}
	v, err := jsonPrimitive(doc)
	if err != nil {
		return nil, e.errf(c.Pos, "%s: %v", c.Func, err)
	}
	return []Value{v}, nil
}

type jsonTypeError string

func (e jsonTypeError) Error() string { return string(e) }

func jsonPrimitive(x any) (Value, error) {
	switch x := x.(type) {
	case string:
		return StringValue(x), nil
	case bool:
		return BoolValue(x), nil
	case json.Number:
		i, err := strconv.ParseInt(string(x), 10, 64)
		if err != nil {
			return Value{}, jsonTypeError("number " + string(x) + " is not a 64-bit integer")
		}
		return IntValue(i), nil
	case []any:
		return Value{}, jsonTypeError("nested arrays are not claim values")
	case map[string]any:
		return Value{}, jsonTypeError("objects are not claim values")
	}
	return Value{}, jsonTypeError("unsupported JSON value")
}
