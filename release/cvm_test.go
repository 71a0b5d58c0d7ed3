package release_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/sgxops/sgxops/release"
)

func TestNormalizeCVM(t *testing.T) {
	h48 := strings.Repeat("AB", 48)
	h32 := strings.Repeat("0c", 32)
	z16 := strings.Repeat("00", 16)
	tests := []struct {
		name  string
		in    release.Release
		tee   release.TEE
		key   string
		field string
	}{
		{name: "tdx mrtd", in: release.Release{App: "a", Name: "b", MRTD: h48}, tee: release.TEETDX, key: "mrtd:" + strings.ToLower(h48)},
		{name: "tdx rtmrs", in: release.Release{App: "a", Name: "b", MRTD: h48, RTMRs: [4]string{strings.Repeat("00", 48), "", "", ""}}, tee: release.TEETDX,
			key: "mrtd:" + strings.ToLower(h48) + ":rtmrs:" + strings.Repeat("00", 48) + ",,,"},
		{name: "snp", in: release.Release{App: "a", Name: "b", Measurement: h48, HostData: h32, FamilyID: z16}, tee: release.TEESEVSNP,
			key: "measurement:" + strings.ToLower(h48) + ":host_data:" + h32 + ":family_id:" + z16},
		{name: "tdx without mrtd", in: release.Release{App: "a", Name: "b", MRSEAM: h48}, field: "mrtd"},
		{name: "snp without measurement", in: release.Release{App: "a", Name: "b", HostData: h32}, field: "measurement"},
		{name: "short mrtd", in: release.Release{App: "a", Name: "b", MRTD: h32}, field: "mrtd"},
		{name: "zero measurement", in: release.Release{App: "a", Name: "b", Measurement: strings.Repeat("0", 96)}, field: "measurement"},
		{name: "mixed sgx and tdx", in: release.Release{App: "a", Name: "b", MRTD: h48, MREnclave: h32}, field: "mrenclave"},
		{name: "mixed tdx and snp", in: release.Release{App: "a", Name: "b", MRTD: h48, Measurement: h48}, field: "measurement"},
		{name: "bad image id", in: release.Release{App: "a", Name: "b", Measurement: h48, ImageID: "xx"}, field: "image_id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := release.Normalize(tc.in)
			if tc.field != "" {
				var fe *release.FieldError
				if !errors.As(err, &fe) || fe.Field != tc.field {
					t.Fatalf("err = %v, want field %s", err, tc.field)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.TEE() != tc.tee || got.IdentityKey() != tc.key {
				t.Fatalf("TEE %s key %s, want %s %s", got.TEE(), got.IdentityKey(), tc.tee, tc.key)
			}
		})
	}
}

func TestCVMIdentityDetails(t *testing.T) {
	h48 := strings.Repeat("ab", 48)
	tdx := release.Release{MRTD: h48, RTMRs: [4]string{"", h48, "", ""}}
	if d := tdx.CVMIdentityDetails(); d["mrtd"] != h48 || d["rtmrs"] != ","+h48+",," || len(d) != 2 {
		t.Fatalf("TDX details %v", d)
	}
	snp := release.Release{Measurement: h48, ImageID: strings.Repeat("00", 16)}
	if d := snp.CVMIdentityDetails(); d["measurement"] != h48 || d["image_id"] == "" || len(d) != 2 {
		t.Fatalf("SNP details %v", d)
	}
	if d := (release.Release{MREnclave: h48[:64]}).CVMIdentityDetails(); d != nil {
		t.Fatalf("SGX details %v", d)
	}
}
