package doctor

import (
	"strings"
	"testing"
)

func TestParseQCNL(t *testing.T) {
	cases := []struct {
		name, in string
		want     *qcnl
		wantErr  string
	}{
		{"json with comments and trailing comma", "{\n// c\n\"pccs_url\": \"https://p:8081/sgx/certification/v4/\", /* x */ \"use_secure_cert\": false,\n\"local_pck_url\": \"http://l/\",}\n",
			&qcnl{form: "json", pccsURL: "https://p:8081/sgx/certification/v4/", localPCKURL: "http://l/"}, ""},
		{"json keeps // inside strings", `{"pccs_url": "https://p//x"}`, &qcnl{form: "json", pccsURL: "https://p//x", useSecureCert: true}, ""},
		{"json default use_secure_cert true", `{"pccs_url": "https://p"}`, &qcnl{form: "json", pccsURL: "https://p", useSecureCert: true}, ""},
		{"json bad type", `{"use_secure_cert": "yes"}`, nil, "use_secure_cert"},
		{"json syntax", `{"pccs_url": }`, nil, "JSON form"},
		{"legacy", "# c\nPCCS_URL=https://p/\nUSE_SECURE_CERT=FALSE\nCOLLATERAL_SERVICE=https://c/\n", &qcnl{form: "legacy", pccsURL: "https://p/", collateralURL: "https://c/"}, ""},
		{"legacy bad bool", "USE_SECURE_CERT=maybe\n", nil, "line 1"},
		{"legacy no equals", "PCCS_URL\n", nil, "KEY=VALUE"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseQCNL([]byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if *got != *tc.want {
				t.Fatalf("got %+v, want %+v", *got, *tc.want)
			}
		})
	}
}
