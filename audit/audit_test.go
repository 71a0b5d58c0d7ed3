package audit_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sgxops/sgxops/audit"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// TestCanonicalKnownAnswer pins the canonical encoding and hash to values
// computed independently from the package documentation (with Python's
// struct and hashlib), so that the format cannot drift.
func TestCanonicalKnownAnswer(t *testing.T) {
	var prev audit.Hash
	for i := range prev {
		prev[i] = byte(i)
	}
	e := audit.Entry{
		Seq: 7, Time: t0.Add(123456789 * time.Nanosecond).In(time.FixedZone("CET", 3600)),
		Actor: "alice", Action: audit.ActionActivate, App: "hello", Release: "v2",
		Details:  map[string]string{"grace": "1h0m0s", "from": "candidate", "é": "x"},
		PrevHash: prev,
	}
	const wantCanonical = "7367786f70732d61756469742d76310a0000000000000007000000006b042ac0075bcd1500000005616c6963650000000861637469766174650000000568656c6c6f000000027632000000030000000466726f6d0000000963616e646964617465000000056772616365000000063168306d307300000002c3a90000000178000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	const wantHash = "cdd1bc921126ebe56cc060648caad9aa1e55f03b96d0b4037b149973da142cfd"
	if got := hex.EncodeToString(e.Canonical()); got != wantCanonical {
		t.Fatalf("canonical\n got %s\nwant %s", got, wantCanonical)
	}
	if got := e.ComputeHash().String(); got != wantHash {
		t.Fatalf("hash %s, want %s", got, wantHash)
	}
}

func records(n int) []audit.Record {
	var rs []audit.Record
	for i := range n {
		rs = append(rs, audit.Record{
			Time: t0.Add(time.Duration(i) * time.Second), Actor: "op@example.com", Action: audit.ActionRegister,
			App: "hello", Release: fmt.Sprintf("v%d", i), Details: map[string]string{"mrenclave": strings.Repeat("ab", 32)},
		})
	}
	rs = append(rs, audit.Record{Time: t0.Add(time.Hour), Actor: "admin", Action: audit.ActionPolicySet,
		Details: map[string]string{"type": "SgxEnclave", "note": "<b>&</b> \u2028"}})
	return rs
}

func chain(t testing.TB, n int) []audit.Entry {
	var head audit.Head
	var es []audit.Entry
	for _, r := range records(n) {
		e, err := audit.Seal(head, r)
		if err != nil {
			t.Fatal(err)
		}
		es = append(es, e)
		head = e.Head()
	}
	return es
}

func TestSealAndVerify(t *testing.T) {
	es := chain(t, 5)
	if err := audit.Verify(es); err != nil {
		t.Fatal(err)
	}
	if !es[0].PrevHash.IsZero() || es[0].Seq != 1 {
		t.Fatalf("first entry %+v is not linked to genesis", es[0])
	}
	head, err := audit.VerifyFrom(es[1].Head(), es[2:])
	if err != nil || head != es[len(es)-1].Head() {
		t.Fatalf("VerifyFrom = %+v, %v", head, err)
	}
	if err := audit.Verify(nil); err != nil {
		t.Fatalf("empty chain: %v", err)
	}
}

func TestSealClampsTimeAndCopies(t *testing.T) {
	prev := audit.Head{Seq: 3, Hash: audit.Hash{1}, Time: t0}
	details := map[string]string{"k": "v"}
	e, err := audit.Seal(prev, audit.Record{Time: t0.Add(-time.Hour), Actor: "a", Action: "drain", Details: details})
	if err != nil {
		t.Fatal(err)
	}
	if !e.Time.Equal(t0) || e.Seq != 4 || e.PrevHash != prev.Hash {
		t.Fatalf("sealed %+v", e)
	}
	details["k"] = "changed"
	if e.Details["k"] != "v" || e.ComputeHash() != e.Hash {
		t.Fatal("Seal kept a reference to the caller's details")
	}
	bad := []audit.Record{
		{Actor: "a", Action: "drain"},
		{Time: t0, Action: "drain"},
		{Time: t0, Actor: "a"},
		{Time: t0, Actor: "a", Action: "Drain"},
		{Time: t0, Actor: "a\xff", Action: "drain"},
		{Time: t0, Actor: "a", Action: "drain", Details: map[string]string{"": "v"}},
		{Time: t0, Actor: "a", Action: "drain", App: strings.Repeat("x", audit.MaxFieldLen+1)},
		{Time: t0, Actor: "a", Action: "drain", Details: map[string]string{"k": strings.Repeat("x", audit.MaxDetailLen+1)}},
	}
	for _, r := range bad {
		if _, err := audit.Seal(prev, r); !errors.Is(err, audit.ErrMalformed) {
			t.Errorf("Seal(%+v) err = %v, want ErrMalformed", r, err)
		}
	}
}

// rehash recomputes e's hash, as a forger who edits an entry would.
func rehash(e *audit.Entry) { e.Hash = e.ComputeHash() }

func TestVerifyDetectsTampering(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(es []audit.Entry) []audit.Entry
		seq    uint64
		reason audit.Reason
	}{
		{"details edited", func(es []audit.Entry) []audit.Entry {
			es[2].Details = map[string]string{"mrenclave": strings.Repeat("cd", 32)}
			return es
		}, 3, audit.ReasonHash},
		{"detail added", func(es []audit.Entry) []audit.Entry { es[1].Details["extra"] = ""; return es }, 2, audit.ReasonHash},
		{"time edited", func(es []audit.Entry) []audit.Entry { es[3].Time = es[3].Time.Add(time.Nanosecond); return es }, 4, audit.ReasonHash},
		{"actor edited", func(es []audit.Entry) []audit.Entry { es[0].Actor = "mallory"; return es }, 1, audit.ReasonHash},
		{"hash edited", func(es []audit.Entry) []audit.Entry { es[4].Hash[0] ^= 1; return es }, 5, audit.ReasonHash},
		{"edited and rehashed", func(es []audit.Entry) []audit.Entry {
			es[1].Release = "v9"
			rehash(&es[1])
			return es
		}, 3, audit.ReasonPrevHash},
		{"prev_hash edited", func(es []audit.Entry) []audit.Entry { es[2].PrevHash[31] ^= 1; return es }, 3, audit.ReasonPrevHash},
		{"entry removed", func(es []audit.Entry) []audit.Entry { return append(es[:2], es[3:]...) }, 3, audit.ReasonSeq},
		{"entries swapped", func(es []audit.Entry) []audit.Entry { es[1], es[2] = es[2], es[1]; return es }, 2, audit.ReasonSeq},
		{"entry duplicated", func(es []audit.Entry) []audit.Entry { return append(es[:3], es[2:]...) }, 4, audit.ReasonSeq},
		{"first entry removed", func(es []audit.Entry) []audit.Entry { return es[1:] }, 1, audit.ReasonSeq},
		{"genesis prev_hash not zero", func(es []audit.Entry) []audit.Entry {
			es[0].PrevHash[0] = 1
			rehash(&es[0])
			return es
		}, 1, audit.ReasonPrevHash},
		{"malformed entry", func(es []audit.Entry) []audit.Entry { es[3].Actor = ""; return es }, 4, audit.ReasonMalformed},
		{"time goes backwards", func(es []audit.Entry) []audit.Entry {
			// A forger rewrites the tail consistently but backdates entry 5.
			es[4].Time = es[3].Time.Add(-time.Second)
			rehash(&es[4])
			es[5].PrevHash = es[4].Hash
			rehash(&es[5])
			return es
		}, 5, audit.ReasonTime},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := audit.Verify(tc.tamper(chain(t, 5)))
			var ce *audit.ChainError
			if !errors.As(err, &ce) || !errors.Is(err, audit.ErrBrokenChain) {
				t.Fatalf("err = %v, want *ChainError", err)
			}
			if ce.Seq != tc.seq || ce.Reason != tc.reason {
				t.Fatalf("broken at seq %d (%s), want seq %d (%s): %v", ce.Seq, ce.Reason, tc.seq, tc.reason, err)
			}
		})
	}
}

func TestCheckHead(t *testing.T) {
	es := chain(t, 3)
	last := es[len(es)-1].Head()
	if err := audit.CheckHead(last, last); err != nil {
		t.Fatal(err)
	}
	var ce *audit.ChainError
	err := audit.CheckHead(es[1].Head(), last) // tail entries removed
	if !errors.As(err, &ce) || ce.Reason != audit.ReasonHead || ce.Seq != 3 {
		t.Fatalf("truncated: %v", err)
	}
	if err := audit.CheckHead(audit.Head{}, last); !errors.As(err, &ce) || ce.Seq != 1 {
		t.Fatalf("emptied: %v", err)
	}
}

func TestEncodeDecode(t *testing.T) {
	for _, e := range chain(t, 3) {
		b, err := e.Encode()
		if err != nil {
			t.Fatal(err)
		}
		d, err := audit.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if d.ComputeHash() != e.Hash || d.Hash != e.Hash || !d.Time.Equal(e.Time) {
			t.Fatalf("round trip changed the entry: %+v -> %+v", e, d)
		}
	}
	good, _ := chain(t, 1)[0].Encode()
	var m map[string]any
	if err := json.Unmarshal(good, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"seq", "time", "actor", "action", "app", "release", "details", "prev_hash", "hash"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON form lacks %q: %s", k, good)
		}
	}
	bad := map[string][]byte{
		"unknown field":  bytes.Replace(good, []byte(`"seq"`), []byte(`"extra":1,"seq"`), 1),
		"trailing data":  append(append([]byte{}, good...), []byte(`{}`)...),
		"uppercase hash": bytes.Replace(good, []byte(`"hash":"`), []byte(`"hash":"AB`), 1),
		"short hash":     bytes.Replace(good, []byte(`"hash":"`), []byte(`"hash":"0`), 1),
		"no actor":       bytes.Replace(good, []byte(`"actor":"op@example.com"`), []byte(`"actor":""`), 1),
		"seq zero":       bytes.Replace(good, []byte(`"seq":1`), []byte(`"seq":0`), 1),
		"not json":       []byte("seq=1"),
		"bad time":       bytes.Replace(good, []byte(`"time":"2026`), []byte(`"time":"x2026`), 1),
	}
	for name, b := range bad {
		if bytes.Equal(b, good) {
			t.Fatalf("%s: mutation did not apply", name)
		}
		if _, err := audit.Decode(b); !errors.Is(err, audit.ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
}

func encodeChain(t testing.TB, es []audit.Entry) []byte {
	var buf bytes.Buffer
	for _, e := range es {
		b, err := e.Encode()
		if err != nil {
			t.Fatal(err)
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	return buf.Bytes()
}

func decodeChain(b []byte) ([]audit.Entry, error) {
	var es []audit.Entry
	for _, line := range bytes.Split(b, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		e, err := audit.Decode(line)
		if err != nil {
			return nil, err
		}
		es = append(es, e)
	}
	return es, nil
}

func FuzzDecode(f *testing.F) {
	for _, e := range chain(f, 4) {
		b, _ := e.Encode()
		f.Add(b)
	}
	f.Add([]byte(`{"seq":1,"time":"0001-01-01T00:00:00Z","actor":"a","action":"x","details":{"":""},"prev_hash":null,"hash":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := audit.Decode(b)
		if err != nil {
			if !errors.Is(err, audit.ErrMalformed) {
				t.Fatalf("error not ErrMalformed: %v", err)
			}
			return
		}
		enc, err := e.Encode()
		if err != nil {
			t.Fatalf("decoded entry does not encode: %v", err)
		}
		d, err := audit.Decode(enc)
		if err != nil {
			t.Fatalf("re-decoding %s: %v", enc, err)
		}
		if !bytes.Equal(d.Canonical(), e.Canonical()) || d.Hash != e.Hash {
			t.Fatalf("round trip changed the canonical form:\n%x\n%x", e.Canonical(), d.Canonical())
		}
	})
}

func FuzzVerify(f *testing.F) {
	f.Add(encodeChain(f, chain(f, 3)))
	es := chain(f, 2)
	es[1].Details = nil
	f.Add(encodeChain(f, es))
	f.Fuzz(func(t *testing.T, b []byte) {
		es, err := decodeChain(b)
		if err != nil {
			return
		}
		head, err := audit.VerifyFrom(audit.Head{}, es)
		if err != nil {
			var ce *audit.ChainError
			if !errors.As(err, &ce) || ce.Seq < 1 || ce.Seq > uint64(len(es)) {
				t.Fatalf("bad error for %d entries: %v", len(es), err)
			}
			return
		}
		if len(es) > 0 && head != es[len(es)-1].Head() {
			t.Fatalf("head %+v is not the last entry", head)
		}
		// A valid chain stays valid through its JSON form.
		again, err := decodeChain(encodeChain(t, es))
		if err != nil || audit.Verify(again) != nil {
			t.Fatalf("valid chain does not survive re-encoding: %v", err)
		}
	})
}
