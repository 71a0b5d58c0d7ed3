package collateral

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestParseQEIdentityCorpus(t *testing.T) {
	type doc struct {
		name string
		raw  []byte
	}
	var docs []doc
	for _, rel := range docBundlesV3 {
		docs = append(docs, doc{rel, docBundle(t, rel).QEIdentity})
	}
	for _, rel := range docResponsesQEIdentity {
		docs = append(docs, doc{rel, docBody(t, rel, "enclaveIdentity")})
	}
	for _, d := range docs {
		t.Run(d.name, func(t *testing.T) {
			q, err := ParseQEIdentity(d.raw)
			if err != nil {
				t.Fatal(err)
			}
			var g map[string]any
			if err := json.Unmarshal(d.raw, &g); err != nil {
				t.Fatal(err)
			}
			if q.ID != g["id"] || float64(q.ISVProdID) != g["isvprodid"] {
				t.Errorf("id/isvprodid %s/%d, JSON %v/%v", q.ID, q.ISVProdID, g["id"], g["isvprodid"])
			}
			for name, got := range map[string][]byte{
				"mrsigner": q.MRSigner[:], "miscselect": q.MiscSelect[:], "miscselectMask": q.MiscSelectMask[:],
				"attributes": q.Attributes[:], "attributesMask": q.AttributesMask[:],
			} {
				if !strings.EqualFold(hex.EncodeToString(got), g[name].(string)) {
					t.Errorf("%s = %x, JSON %v", name, got, g[name])
				}
			}
			levels := g["tcbLevels"].([]any)
			if len(levels) != len(q.TCBLevels) {
				t.Fatalf("%d levels, JSON %d", len(q.TCBLevels), len(levels))
			}
			for i, l := range q.TCBLevels {
				jl := levels[i].(map[string]any)
				if string(l.Status) != jl["tcbStatus"] || float64(l.ISVSVN) != jl["tcb"].(map[string]any)["isvsvn"] {
					t.Errorf("level %d: %+v, JSON %v", i, l, jl)
				}
			}
		})
	}
}

func TestParseQEIdentityKnownValues(t *testing.T) {
	q, err := ParseQEIdentity(docBundle(t, "bundles/openenclave-tdx_endorsement-90c06f000000.json").QEIdentity)
	if err != nil {
		t.Fatal(err)
	}
	mrsigner, _ := hex.DecodeString("DC9E2A7C6F948F17474E34A7FC43ED030F7C1563F1BABDDF6340C82E0E54A8C5")
	if q.ID != QEIdentityIDTDX || q.ISVProdID != 2 || string(q.MRSigner[:]) != string(mrsigner) ||
		q.AttributesMask[0] != 0xfb || q.Attributes[0] != 0x11 || q.MiscSelectMask != [4]byte{0xff, 0xff, 0xff, 0xff} ||
		len(q.TCBLevels) != 1 || q.TCBLevels[0].ISVSVN != 4 || q.TCBEvaluationDataNumber != 18 {
		t.Errorf("TD_QE identity: %+v", q)
	}
}

func TestParseQEIdentityNegative(t *testing.T) {
	doc := string(docBundle(t, "phala-dcap-qvl/sgx_quote_collateral.json").QEIdentity)
	cases := []struct{ name, old, new, field string }{
		{"unknown status", `"tcbStatus":"UpToDate"`, `"tcbStatus":"Maybe"`, "tcbLevels[0].tcbStatus"},
		{"missing mrsigner", `"mrsigner":`, `"mrsignerX":`, "mrsigner"},
		{"short attributes", `"attributes":"11000000000000000000000000000000"`, `"attributes":"11"`, "attributes"},
		{"bad id", `"id":"QE"`, `"id":"XE"`, "id"},
		{"isvprodid overflow", `"isvprodid":1`, `"isvprodid":70000`, "isvprodid"},
		{"missing isvsvn", `"isvsvn":`, `"isvsvnX":`, "tcbLevels[0].tcb.isvsvn"},
		{"bad tcbDate", `"tcbDate":"`, `"tcbDate":"x`, "tcbLevels[0].tcbDate"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(doc, c.old) {
				t.Fatalf("document lacks %q", c.old)
			}
			_, err := ParseQEIdentity([]byte(strings.Replace(doc, c.old, c.new, 1)))
			var de *DocumentError
			if !errors.As(err, &de) || !strings.Contains(de.Field, c.field) {
				t.Fatalf("err = %v, want a DocumentError naming %q", err, c.field)
			}
		})
	}
	_, err := ParseQEIdentity([]byte(strings.Replace(doc, `"version":2`, `"version":1`, 1)))
	var ve *VersionError
	if !errors.As(err, &ve) || ve.Version != 1 || !errors.Is(err, ErrUnsupportedVersion) {
		t.Errorf("version 1: err = %v", err)
	}
}

func FuzzParseQEIdentity(f *testing.F) {
	for _, rel := range docBundlesV3 {
		f.Add(docBundle(f, rel).QEIdentity)
	}
	for _, rel := range docResponsesQEIdentity {
		f.Add(docBody(f, rel, "enclaveIdentity"))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		q, err := ParseQEIdentity(raw)
		if err != nil {
			if q != nil {
				t.Fatal("non-nil identity with an error")
			}
			return
		}
		if q.Version != QEIdentityVersion || len(q.TCBLevels) == 0 || q.ID == "" {
			t.Fatalf("accepted an invalid identity: %+v", q)
		}
		for _, l := range q.TCBLevels {
			if !l.Status.Valid() {
				t.Fatalf("accepted status %q", l.Status)
			}
		}
	})
}
