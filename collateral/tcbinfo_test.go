package collateral

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sgxops/sgxops/internal/corpus"
)

// docBundles are the corpus collateral bundles whose TCB Info is v3.
var docBundlesV3 = []string{
	"phala-dcap-qvl/sgx_quote_collateral.json",
	"phala-dcap-qvl/tdx_quote_collateral.json",
	"phala-dcap-qvl/tdx_quote_outdated_collateral.json",
	"phala-dcap-qvl/near_quote_collateral.json",
	"bundles/automata-evm-0625-tdx-00806f050000.json",
	"bundles/automata-evm-0625-tdx-90c06f000000.json",
	"bundles/automata-evm-0825-sgx-00606a000000.json",
	"bundles/automata-evm-1025-tdx-00806f050000.json",
	"bundles/automata-solana-tdx-00806f050000.json",
	"bundles/go-tdx-guest-2023-tdx-50806f000000.json",
	"bundles/openenclave-eval21-00806f050000.json",
	"bundles/openenclave-tdx_endorsement-90c06f000000.json",
	"bundles/trustee-2025-10-tdx-00a06d080000.json",
}

// docResponsesTCBInfo are raw PCS TCB Info responses ({"tcbInfo":…,"signature":…}) of version 3.
var docResponsesTCBInfo = []string{
	"automata/evm-0625/tcbinfov3_00806f050000.json",
	"automata/evm-0625/tcbinfov3_90C06F000000.json",
	"automata/evm-0825/sgx_tcbinfov3_00606a000000.json",
	"automata/evm-1025/tcb_info.json",
	"automata/solana/tcb_info_v3_sgx.json",
	"automata/solana/tcb_info_v3_with_tdx_module.json",
	"go-tdx-guest/sample_tcbInfo_response",
	"go-tdx-guest/sample_tcbinfo_response_v5",
	"trustee/tcbInfo.json",
}

// docResponsesQEIdentity are raw PCS QE Identity responses.
var docResponsesQEIdentity = []string{
	"automata/evm-0625/identity.json",
	"automata/evm-0625/qe_td.json",
	"automata/evm-0825/sgx_qeidentity_v4.json",
	"automata/evm-1025/identity.json",
	"automata/solana/qe_identity.json",
	"go-tdx-guest/sample_qeIdentity_response",
	"trustee/enclaveIdentity.json",
	"intel-qvl-synthetic/qeIdentity.json",
	"intel-qvl-synthetic/tdx/qeIdentity.json",
}

// docBody returns the exact bytes of one top-level member of a PCS response.
func docBody(t testing.TB, rel, member string) []byte {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(corpus.Read(t, rel), &m); err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	b, ok := m[member]
	if !ok {
		t.Fatalf("%s has no %q member", rel, member)
	}
	return b
}

func docBundle(t testing.TB, rel string) *Collateral {
	t.Helper()
	c, err := ParseBundle(corpus.Read(t, rel))
	if err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	return c
}

func TestParseTCBInfoCorpus(t *testing.T) {
	type doc struct {
		name string
		raw  []byte
	}
	var docs []doc
	for _, rel := range docBundlesV3 {
		docs = append(docs, doc{rel, docBundle(t, rel).TCBInfo})
	}
	for _, rel := range docResponsesTCBInfo {
		docs = append(docs, doc{rel, docBody(t, rel, "tcbInfo")})
	}
	for _, d := range docs {
		t.Run(d.name, func(t *testing.T) {
			ti, err := ParseTCBInfo(d.raw)
			if err != nil {
				t.Fatal(err)
			}
			// Cross-check every field against a generic JSON decode of the same bytes.
			var g map[string]any
			if err := json.Unmarshal(d.raw, &g); err != nil {
				t.Fatal(err)
			}
			if ti.ID != g["id"] || float64(ti.Version) != g["version"] {
				t.Errorf("id/version = %q/%d, JSON has %v/%v", ti.ID, ti.Version, g["id"], g["version"])
			}
			if got := hex.EncodeToString(ti.FMSPC[:]); !strings.EqualFold(got, g["fmspc"].(string)) {
				t.Errorf("FMSPC = %s, JSON has %v", got, g["fmspc"])
			}
			if got := hex.EncodeToString(ti.PCEID[:]); !strings.EqualFold(got, g["pceId"].(string)) {
				t.Errorf("PCEID = %s, JSON has %v", got, g["pceId"])
			}
			if ti.NextUpdate.Format(time.RFC3339) != g["nextUpdate"] || ti.IssueDate.Format(time.RFC3339) != g["issueDate"] {
				t.Errorf("dates %v..%v, JSON has %v..%v", ti.IssueDate, ti.NextUpdate, g["issueDate"], g["nextUpdate"])
			}
			levels := g["tcbLevels"].([]any)
			if len(ti.TCBLevels) != len(levels) {
				t.Fatalf("%d levels, JSON has %d", len(ti.TCBLevels), len(levels))
			}
			for i, l := range ti.TCBLevels {
				jl := levels[i].(map[string]any)
				jt := jl["tcb"].(map[string]any)
				if string(l.Status) != jl["tcbStatus"] || float64(l.PCESVN) != jt["pcesvn"] {
					t.Errorf("level %d: status/pcesvn %s/%d, JSON %v/%v", i, l.Status, l.PCESVN, jl["tcbStatus"], jt["pcesvn"])
				}
				comps := jt["sgxtcbcomponents"].([]any)
				for k, c := range comps {
					if float64(l.SGXComponents[k].SVN) != c.(map[string]any)["svn"] {
						t.Errorf("level %d comp %d: svn %d, JSON %v", i, k, l.SGXComponents[k].SVN, c)
					}
				}
				if l.HasTDX != ti.IsTDX() {
					t.Errorf("level %d: HasTDX %v for id %s", i, l.HasTDX, ti.ID)
				}
				if ids, _ := jl["advisoryIDs"].([]any); len(ids) != len(l.AdvisoryIDs) {
					t.Errorf("level %d: %d advisories, JSON %d", i, len(l.AdvisoryIDs), len(ids))
				}
			}
			if ti.IsTDX() != (ti.TDXModule != nil) {
				t.Errorf("TDX %v but tdxModule %v", ti.IsTDX(), ti.TDXModule)
			}
			if mods, _ := g["tdxModuleIdentities"].([]any); len(mods) != len(ti.TDXModuleIdentities) {
				t.Errorf("%d module identities, JSON %d", len(ti.TDXModuleIdentities), len(mods))
			}
		})
	}
}

// TestParseTCBInfoKnownValues pins values read by eye from two documents.
func TestParseTCBInfoKnownValues(t *testing.T) {
	ti, err := ParseTCBInfo(docBundle(t, "phala-dcap-qvl/sgx_quote_collateral.json").TCBInfo)
	if err != nil {
		t.Fatal(err)
	}
	if ti.ID != "SGX" || ti.FMSPC != [6]byte{0x00, 0xa0, 0x67, 0x11, 0x00, 0x00} || ti.PCEID != [2]byte{} || ti.TDXModule != nil {
		t.Errorf("phala SGX TCB Info: %+v", ti)
	}
	want := time.Date(2025, 7, 19, 10, 56, 11, 0, time.UTC)
	if !ti.NextUpdate.Equal(want) {
		t.Errorf("nextUpdate %v, want %v", ti.NextUpdate, want)
	}

	ti, err = ParseTCBInfo(docBundle(t, "bundles/openenclave-tdx_endorsement-90c06f000000.json").TCBInfo)
	if err != nil {
		t.Fatal(err)
	}
	if len(ti.TDXModuleIdentities) != 2 || ti.TDXModuleIdentities[0].ID != "TDX_03" || ti.TDXModuleIdentities[1].ID != "TDX_01" {
		t.Fatalf("module identities: %+v", ti.TDXModuleIdentities)
	}
	m := ti.TDXModuleIdentities[1]
	if len(m.TCBLevels) != 3 || m.TCBLevels[1].ISVSVN != 4 || m.TCBLevels[1].Status != TCBOutOfDate ||
		strings.Join(m.TCBLevels[1].AdvisoryIDs, ",") != "INTEL-SA-01036,INTEL-SA-01099" {
		t.Errorf("TDX_01 levels: %+v", m.TCBLevels)
	}
	if ti.TDXModule.AttributesMask != [8]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff} {
		t.Errorf("tdxModule mask %x", ti.TDXModule.AttributesMask)
	}
	l := ti.TCBLevels[0]
	if l.TDXComponents[0].SVN != 5 || l.TDXComponents[2].SVN != 3 || l.TDXComponents[0].Type != "TDX Module" || l.PCESVN != 13 {
		t.Errorf("first TDX level: %+v", l)
	}
}

func TestParseTCBInfoRefusesV2(t *testing.T) {
	docs := map[string][]byte{
		"bundle automata-evm-0625 v2":   docBundle(t, "bundles/automata-evm-0625-sgx-00606a000000-tcbinfov2.json").TCBInfo,
		"automata/evm-0625/tcbinfo":     docBody(t, "automata/evm-0625/tcbinfo.json", "tcbInfo"),
		"intel-qvl-synthetic/tcbInfo":   docBody(t, "intel-qvl-synthetic/tcbInfo.json", "tcbInfo"),
		"bundle intel-qvl-synthetic v2": docBundle(t, "bundles/intel-qvl-synthetic-sgx.json").TCBInfo,
	}
	for name, raw := range docs {
		t.Run(name, func(t *testing.T) {
			_, err := ParseTCBInfo(raw)
			if !errors.Is(err, ErrUnsupportedVersion) {
				t.Fatalf("err = %v, want ErrUnsupportedVersion", err)
			}
			var ve *VersionError
			if !errors.As(err, &ve) || ve.Version != 2 || ve.Want != 3 || ve.Doc != "TCB Info" {
				t.Fatalf("err = %#v", err)
			}
		})
	}
}

// TestParseTCBInfoNegative mutates real documents and expects a DocumentError naming the field.
func TestParseTCBInfoNegative(t *testing.T) {
	sgxDoc := string(docBundle(t, "phala-dcap-qvl/sgx_quote_collateral.json").TCBInfo)
	tdxDoc := string(docBundle(t, "bundles/openenclave-tdx_endorsement-90c06f000000.json").TCBInfo)
	cases := []struct {
		name, doc, old, new, field string
	}{
		{"unknown status", sgxDoc, `"tcbStatus":"SWHardeningNeeded"`, `"tcbStatus":"Fine"`, "tcbLevels[0].tcbStatus"},
		{"lower-case status", sgxDoc, `"tcbStatus":"SWHardeningNeeded"`, `"tcbStatus":"swhardeningneeded"`, "tcbLevels[0].tcbStatus"},
		{"missing fmspc", sgxDoc, `"fmspc":`, `"fmspcX":`, "fmspc"},
		{"short fmspc", sgxDoc, `"fmspc":"00A067110000"`, `"fmspc":"00A0671100"`, "fmspc"},
		{"non-hex pceId", sgxDoc, `"pceId":"0000"`, `"pceId":"00zz"`, "pceId"},
		{"bad id", sgxDoc, `"id":"SGX"`, `"id":"SEV"`, "id"},
		{"bad issueDate", sgxDoc, `"issueDate":"2025-06-19T10:56:11Z"`, `"issueDate":"19/06/2025"`, "issueDate"},
		{"svn overflow", sgxDoc, `{"svn":11}`, `{"svn":256}`, "tcbLevels.tcb.sgxtcbcomponents.svn"},
		{"negative pcesvn", sgxDoc, `"pcesvn":13`, `"pcesvn":-1`, "tcbLevels.tcb.pcesvn"},
		{"17 components", sgxDoc, `[{"svn":11},`, `[{"svn":11},{"svn":11},`, "tcbLevels[0].tcb.sgxtcbcomponents"},
		{"v2 flat fields in v3", sgxDoc, `"pcesvn":13`, `"pcesvn":13,"sgxtcbcomp01svn":2`, "tcbLevels[0].tcb"},
		{"tdxModule in SGX", sgxDoc, `"tcbType":0`, `"tcbType":0,"tdxModule":{}`, "tdxModule"},
		{"no tdxModule in TDX", tdxDoc, `"tdxModule":`, `"tdxModuleX":`, "tdxModule"},
		{"no tdxtcbcomponents in TDX", tdxDoc, `"tdxtcbcomponents":`, `"tdxtcbcomponentsX":`, "tcbLevels[0].tcb.tdxtcbcomponents"},
		{"short module mrsigner", tdxDoc, `"mrsigner":"000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"`, `"mrsigner":"00"`, "tdxModule.mrsigner"},
		{"module level status", tdxDoc, `"tcbStatus":"UpToDate"}]}`, `"tcbStatus":"Good"}]}`, "tdxModuleIdentities[0].tcbLevels[0].tcbStatus"},
		{"empty tcbLevels", sgxDoc, `"tcbLevels":[`, `"tcbLevels":[],"x":[`, "tcbLevels"},
		{"empty advisory", sgxDoc, `"INTEL-SA-00289"`, `""`, "advisoryIDs"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(c.doc, c.old) {
				t.Fatalf("document lacks %q", c.old)
			}
			_, err := ParseTCBInfo([]byte(strings.Replace(c.doc, c.old, c.new, 1)))
			var de *DocumentError
			if !errors.As(err, &de) {
				t.Fatalf("err = %v, want *DocumentError", err)
			}
			if !strings.Contains(de.Field, c.field) {
				t.Errorf("field %q, want it to name %q (%v)", de.Field, c.field, err)
			}
			if !strings.HasPrefix(err.Error(), "collateral: TCB Info") {
				t.Errorf("message %q lacks the package prefix", err)
			}
		})
	}
	for name, raw := range map[string]string{
		"empty":         "",
		"not an object": "[1,2]",
		"trailing":      sgxDoc + "{}",
		"truncated":     sgxDoc[:len(sgxDoc)/2],
		"too large":     strings.Repeat(" ", MaxDocumentSize+1),
	} {
		if _, err := ParseTCBInfo([]byte(raw)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func FuzzParseTCBInfo(f *testing.F) {
	for _, rel := range docBundlesV3 {
		f.Add(docBundle(f, rel).TCBInfo)
	}
	for _, rel := range docResponsesTCBInfo {
		f.Add(docBody(f, rel, "tcbInfo"))
	}
	f.Add(docBundle(f, "bundles/automata-evm-0625-sgx-00606a000000-tcbinfov2.json").TCBInfo)
	f.Fuzz(func(t *testing.T, raw []byte) {
		ti, err := ParseTCBInfo(raw)
		if err != nil {
			if ti != nil {
				t.Fatal("non-nil TCB Info with an error")
			}
			return
		}
		if ti.Version != TCBInfoVersion || len(ti.TCBLevels) == 0 || (ti.ID != "SGX" && ti.ID != "TDX") {
			t.Fatalf("accepted an invalid document: %+v", ti)
		}
		for _, l := range ti.TCBLevels {
			if !l.Status.Valid() || l.HasTDX != ti.IsTDX() {
				t.Fatalf("accepted level %+v", l)
			}
		}
		// Parsing is deterministic.
		again, err := ParseTCBInfo(bytes.Clone(raw))
		if err != nil || again.NextUpdate != ti.NextUpdate || len(again.TCBLevels) != len(ti.TCBLevels) {
			t.Fatalf("second parse differs: %v", err)
		}
	})
}
