package aggregate

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
)

// OpAggregate is the ra operation name of an aggregation.
const OpAggregate = "aggregate"

// MaxValues bounds the values of one request.
const MaxValues = 100000

// Request is the plaintext of an aggregation request.
type Request struct {
	Values []float64 `json:"values"`
}

// Result is the plaintext of an aggregation answer. Version is the service
// version that computed it (so a client can see which release served it).
type Result struct {
	Count   int     `json:"count"`
	Sum     float64 `json:"sum"`
	Mean    float64 `json:"mean"`
	Min     float64 `json:"min"`
	Max     float64 `json:"max"`
	Version string  `json:"version"`
}

// Aggregate computes the result for values.
func Aggregate(values []float64) (Result, error) {
	if len(values) == 0 {
		return Result{}, errors.New("no values")
	}
	if len(values) > MaxValues {
		return Result{}, fmt.Errorf("%d values, at most %d", len(values), MaxValues)
	}
	r := Result{Count: len(values), Min: math.Inf(1), Max: math.Inf(-1)}
	for i, v := range values {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return Result{}, fmt.Errorf("values[%d] is not finite", i)
		}
		r.Sum += v
		r.Min = math.Min(r.Min, v)
		r.Max = math.Max(r.Max, v)
	}
	if math.IsInf(r.Sum, 0) {
		return Result{}, errors.New("sum overflows")
	}
	r.Mean = r.Sum / float64(len(values))
	return r, nil
}

// handle decodes a request, aggregates and encodes the result.
func handle(version string, req []byte) ([]byte, error) {
	var in Request
	if err := json.Unmarshal(req, &in); err != nil {
		return nil, fmt.Errorf("bad request: %v", err)
	}
	r, err := Aggregate(in.Values)
	if err != nil {
		return nil, err
	}
	r.Version = version
	return json.Marshal(r)
}
