package aggregate

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

func TestAggregate(t *testing.T) {
	tests := []struct {
		name    string
		values  []float64
		want    Result
		wantErr string
	}{
		{"one", []float64{4}, Result{Count: 1, Sum: 4, Mean: 4, Min: 4, Max: 4}, ""},
		{"several", []float64{3, -1, 10}, Result{Count: 3, Sum: 12, Mean: 4, Min: -1, Max: 10}, ""},
		{"empty", nil, Result{}, "no values"},
		{"NaN", []float64{1, math.NaN()}, Result{}, "values[1] is not finite"},
		{"Inf", []float64{math.Inf(-1)}, Result{}, "values[0] is not finite"},
		{"overflow", []float64{math.MaxFloat64, math.MaxFloat64}, Result{}, "sum overflows"},
		{"too many", make([]float64, MaxValues+1), Result{}, "at most"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Aggregate(tc.values)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Aggregate = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestHandle(t *testing.T) {
	out, err := handle("v9", []byte(`{"values":[1,2]}`))
	if err != nil {
		t.Fatal(err)
	}
	var r Result
	if err := json.Unmarshal(out, &r); err != nil || r.Version != "v9" || r.Sum != 3 || r.Mean != 1.5 {
		t.Fatalf("handle = %s, %v", out, err)
	}
	if _, err := handle("v9", []byte(`{"values":"x"}`)); err == nil || !strings.Contains(err.Error(), "bad request") {
		t.Fatalf("bad JSON: %v", err)
	}
}
