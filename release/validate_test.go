package release_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sgxops/sgxops/internal/corpus"
	"github.com/sgxops/sgxops/release"
	"github.com/sgxops/sgxops/sgx"
)

func TestValidateName(t *testing.T) {
	tests := []struct {
		in     string
		offset int // -2: valid
	}{
		{"hello", -2},
		{"a", -2},
		{"v2-0-1", -2},
		{"0abc9", -2},
		{strings.Repeat("a", 63), -2},
		{"", -1},
		{strings.Repeat("a", 64), -1},
		{"-a", 0},
		{"a-", 1},
		{"Hello", 0},
		{"v1.2", 2},
		{"a_b", 1},
		{"ab/c", 2},
		{"é", 0},
	}
	for _, tc := range tests {
		err := release.ValidateName("app", tc.in)
		if tc.offset == -2 {
			if err != nil {
				t.Errorf("%q: %v", tc.in, err)
			}
			continue
		}
		var fe *release.FieldError
		if !errors.As(err, &fe) || fe.Field != "app" || fe.Offset != tc.offset {
			t.Errorf("%q: err = %#v, want field app offset %d", tc.in, err, tc.offset)
		}
	}
}

func TestNormalize(t *testing.T) {
	upper := strings.ToUpper(mre)
	tests := []struct {
		name   string
		in     release.Release
		want   release.Release
		field  string
		offset int
	}{
		{name: "mrenclave lowercased", in: release.Release{App: "a", Name: "b", MREnclave: upper},
			want: release.Release{App: "a", Name: "b", MREnclave: mre}},
		{name: "mrsigner identity", in: release.Release{App: "a", Name: "b", MRSigner: upper, ISVProdID: 7, MinISVSVN: 3},
			want: release.Release{App: "a", Name: "b", MRSigner: mre, ISVProdID: 7, MinISVSVN: 3}},
		{name: "bad hex", in: release.Release{App: "a", Name: "b", MREnclave: mre[:5] + "g" + mre[6:]}, field: "mrenclave", offset: 5},
		{name: "bad hex signer", in: release.Release{App: "a", Name: "b", MRSigner: mre[:63] + "\xff"}, field: "mrsigner", offset: 63},
		{name: "short", in: release.Release{App: "a", Name: "b", MREnclave: mre[:62]}, field: "mrenclave", offset: -1},
		{name: "0x prefix", in: release.Release{App: "a", Name: "b", MREnclave: "0x" + mre[2:]}, field: "mrenclave", offset: 1},
		{name: "all zero", in: release.Release{App: "a", Name: "b", MREnclave: strings.Repeat("0", 64)}, field: "mrenclave", offset: -1},
		{name: "no identity", in: release.Release{App: "a", Name: "b", ISVProdID: 1}, field: "mrenclave", offset: -1},
		{name: "both identities", in: release.Release{App: "a", Name: "b", MREnclave: mre, MRSigner: mre}, field: "mrsigner", offset: -1},
		{name: "prodid with mrenclave", in: release.Release{App: "a", Name: "b", MREnclave: mre, ISVProdID: 1}, field: "isv_prod_id", offset: -1},
		{name: "svn with mrenclave", in: release.Release{App: "a", Name: "b", MREnclave: mre, MinISVSVN: 1}, field: "min_isv_svn", offset: -1},
		{name: "bad app", in: release.Release{App: "A", Name: "b", MREnclave: mre}, field: "app", offset: 0},
		{name: "bad name", in: release.Release{App: "a", Name: "", MREnclave: mre}, field: "name", offset: -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := release.Normalize(tc.in)
			if tc.field == "" {
				if err != nil || got != tc.want {
					t.Fatalf("Normalize = %+v, %v; want %+v", got, err, tc.want)
				}
				return
			}
			var fe *release.FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field || fe.Offset != tc.offset {
				t.Fatalf("err = %v, want field %s offset %d", err, tc.field, tc.offset)
			}
			if !strings.HasPrefix(err.Error(), "release: "+tc.field+": ") {
				t.Fatalf("message %q does not name the field", err)
			}
		})
	}
}

func TestNewCandidateRejectsState(t *testing.T) {
	base := release.Release{App: "a", Name: "b", MREnclave: mre}
	for _, mut := range []func(*release.Release){
		func(r *release.Release) { r.State = release.Active },
		func(r *release.Release) { r.DrainUntil = t0 },
		func(r *release.Release) { r.RevokedReason = "x" },
	} {
		r := base
		mut(&r)
		if _, err := release.NewCandidate(r, t0); !errors.Is(err, release.ErrInvalid) {
			t.Errorf("%+v: err = %v", r, err)
		}
	}
	r, err := release.NewCandidate(base, t0.In(time.FixedZone("x", 3600)))
	if err != nil || r.State != release.Candidate || r.CreatedAt.Location() != time.UTC || !r.CreatedAt.Equal(t0) {
		t.Fatalf("NewCandidate = %+v, %v", r, err)
	}
}

func TestValidateStoredRelease(t *testing.T) {
	good := inState(t, "v1", release.Draining)
	tests := []struct {
		name  string
		mut   func(*release.Release)
		field string
	}{
		{"uppercase hex", func(r *release.Release) { r.MREnclave = strings.ToUpper(r.MREnclave) }, "mrenclave"},
		{"unknown state", func(r *release.Release) { r.State = "paused" }, "state"},
		{"no created_at", func(r *release.Release) { r.CreatedAt = time.Time{} }, "created_at"},
		{"updated before created", func(r *release.Release) { r.UpdatedAt = r.CreatedAt.Add(-1) }, "updated_at"},
		{"draining without drain_until", func(r *release.Release) { r.DrainUntil = time.Time{} }, "drain_until"},
		{"active with drain_until", func(r *release.Release) { r.State = release.Active }, "drain_until"},
		{"reason without revoke", func(r *release.Release) { r.RevokedReason = "x" }, "revoked_reason"},
		{"revoked without reason", func(r *release.Release) { r.State = release.Revoked; r.DrainUntil = time.Time{} }, "revoked_reason"},
	}
	for _, tc := range tests {
		r := good
		tc.mut(&r)
		var fe *release.FieldError
		if err := r.Validate(); !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("%s: err = %v, want field %s", tc.name, err, tc.field)
		}
	}
}

func TestIdentityKey(t *testing.T) {
	a := release.Release{MREnclave: mre}
	b := release.Release{MRSigner: mre, ISVProdID: 1, MinISVSVN: 2}
	c := release.Release{MRSigner: mre, ISVProdID: 1, MinISVSVN: 3}
	if a.IdentityKey() == b.IdentityKey() || b.IdentityKey() == c.IdentityKey() || b.IdentityKey() != b.IdentityKey() {
		t.Fatal("identity keys do not separate identities")
	}
}

// corpusMeasurements returns the MRENCLAVE and MRSIGNER of the corpus's SGX
// quotes as hex, the values that are registered as releases in practice.
func corpusMeasurements(t testing.TB) []string {
	var out []string
	for _, rel := range corpus.Quotes {
		raw, _, err := sgx.DecodeBinary(corpus.Read(t, rel))
		if err != nil {
			continue
		}
		q, err := sgx.ParseQuote(raw)
		if err != nil || q.SGXBody == nil {
			continue
		}
		for _, m := range [][32]byte{q.SGXBody.MREnclave, q.SGXBody.MRSigner} {
			if m != ([32]byte{}) { // synthetic quotes may carry zero measurements
				out = append(out, strings.ToUpper(hexs(m[:])))
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("no SGX quotes in the corpus")
	}
	return out
}

func hexs(b []byte) string {
	const digits = "0123456789abcdef"
	s := make([]byte, 0, 2*len(b))
	for _, c := range b {
		s = append(s, digits[c>>4], digits[c&15])
	}
	return string(s)
}

func TestNormalizeCorpusMeasurements(t *testing.T) {
	for _, m := range corpusMeasurements(t) {
		r, err := release.Normalize(release.Release{App: "corpus", Name: "q", MREnclave: m})
		if err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		if r.MREnclave != strings.ToLower(m) {
			t.Fatalf("normalised %s to %s", m, r.MREnclave)
		}
	}
}

func FuzzNormalize(f *testing.F) {
	for _, m := range corpusMeasurements(f) {
		f.Add("app", "v1", m, "", uint16(0), uint16(0))
		f.Add("app", "v2", "", m, uint16(1), uint16(3))
	}
	f.Add("-x", "Y", "0x00", "zz", uint16(1), uint16(1))
	f.Fuzz(func(t *testing.T, app, name, mrenclave, mrsigner string, prod, svn uint16) {
		in := release.Release{App: app, Name: name, MREnclave: mrenclave, MRSigner: mrsigner, ISVProdID: prod, MinISVSVN: svn}
		r, err := release.Normalize(in)
		if err != nil {
			if !errors.Is(err, release.ErrInvalid) {
				t.Fatalf("error not ErrInvalid: %v", err)
			}
			return
		}
		again, err := release.Normalize(r)
		if err != nil || again != r {
			t.Fatalf("Normalize not idempotent: %+v, %v", again, err)
		}
		c, err := release.NewCandidate(in, t0)
		if err != nil {
			t.Fatalf("NewCandidate after Normalize succeeded: %v", err)
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("candidate invalid: %v", err)
		}
	})
}
