package ra

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"testing"
)

func testKey(t testing.TB) []byte {
	t.Helper()
	k, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k.PublicKey().Bytes()
}

// simQuote returns a real simulated quote (for wire tests the bytes only
// need to be a realistic quote).
func simQuote(t testing.TB) []byte {
	t.Helper()
	q, err := provider(t, "seed-a", "v1", false).Quote([64]byte{1, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func TestHelloRoundTrip(t *testing.T) {
	ch := &ClientHello{PublicKey: testKey(t)}
	ch.Nonce[0], ch.Nonce[31] = 0xaa, 0x55
	b := ch.Marshal()
	if len(b) != 2+NonceSize+2+PublicKeySize {
		t.Fatalf("client hello is %d bytes", len(b))
	}
	got, err := ParseClientHello(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Nonce != ch.Nonce || !bytes.Equal(got.PublicKey, ch.PublicKey) || !bytes.Equal(got.Marshal(), b) {
		t.Fatal("client hello round trip differs")
	}

	sh := &ServerHello{SessionID: "0123abcdef-_XYZ", PublicKey: testKey(t), Quote: simQuote(t)}
	b = sh.Marshal()
	gs, err := ParseServerHello(b)
	if err != nil {
		t.Fatal(err)
	}
	if gs.SessionID != sh.SessionID || !bytes.Equal(gs.PublicKey, sh.PublicKey) || !bytes.Equal(gs.Quote, sh.Quote) ||
		!bytes.Equal(gs.Marshal(), b) {
		t.Fatal("server hello round trip differs")
	}
	// The parser copies: changing the input afterwards changes nothing.
	b[len(b)-1] ^= 0xff
	if gs.Quote[len(gs.Quote)-1] != sh.Quote[len(sh.Quote)-1] {
		t.Fatal("ParseServerHello aliases its input")
	}
}

func TestParseClientHelloErrors(t *testing.T) {
	good := (&ClientHello{PublicKey: testKey(t)}).Marshal()
	notOnCurve := append([]byte(nil), good...)
	notOnCurve[36+64] ^= 1 // last byte of Y
	compressedLen := append([]byte(nil), good...)
	binary.BigEndian.PutUint16(compressedLen[34:], 33)
	tests := []struct {
		name   string
		b      []byte
		field  string
		offset int
	}{
		{"empty", nil, "version", 0},
		{"version only", good[:1], "type", 1},
		{"bad version", append([]byte{2}, good[1:]...), "version", 0},
		{"server hello type", append([]byte{1, 2}, good[2:]...), "type", 1},
		{"short nonce", good[:20], "nonce", 2},
		{"no key length", good[:34], "public_key_length", 34},
		{"wrong key length", compressedLen, "public_key_length", 34},
		{"short key", good[:50], "public_key", 36},
		{"key not on curve", notOnCurve, "public_key", 36},
		{"trailing byte", append(append([]byte(nil), good...), 0), "trailing", len(good)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseClientHello(tc.b)
			e := wantReason(t, err, ReasonMalformed)
			if e.Field != tc.field || e.Offset != tc.offset {
				t.Fatalf("field %q offset %d, want %q at %d (%v)", e.Field, e.Offset, tc.field, tc.offset, err)
			}
		})
	}
}

func TestParseServerHelloErrors(t *testing.T) {
	key := testKey(t)
	mk := func(id string, quote []byte) []byte {
		return (&ServerHello{SessionID: id, PublicKey: key, Quote: quote}).Marshal()
	}
	good := mk("abc", []byte("quote"))
	bigQuote := mk("abc", []byte("q"))
	binary.BigEndian.PutUint32(bigQuote[3+3+2+65:], MaxQuoteSize+1)
	tests := []struct {
		name   string
		b      []byte
		field  string
		offset int
	}{
		{"client hello type", append([]byte{1, 1}, good[2:]...), "type", 1},
		{"empty session id", mk("", []byte("q")), "session_id_length", 2},
		{"session id too long", mk(string(bytes.Repeat([]byte("a"), 65)), []byte("q")), "session_id_length", 2},
		{"session id with slash", mk("ab/c", []byte("q")), "session_id", 5},
		{"session id truncated", good[:4], "session_id", 3},
		{"no key", good[:6], "public_key_length", 6},
		{"empty quote", mk("abc", nil), "quote_length", 73},
		{"quote too large", bigQuote, "quote_length", 73},
		{"quote truncated", good[:len(good)-1], "quote", 77},
		{"trailing", append(append([]byte(nil), good...), 1, 2), "trailing", len(good)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseServerHello(tc.b)
			e := wantReason(t, err, ReasonMalformed)
			if e.Field != tc.field || e.Offset != tc.offset {
				t.Fatalf("field %q offset %d, want %q at %d (%v)", e.Field, e.Offset, tc.field, tc.offset, err)
			}
		})
	}
}

// The transcript encoding is part of the protocol: pin it.
func TestTranscriptEncoding(t *testing.T) {
	var nonce [NonceSize]byte
	for i := range nonce {
		nonce[i] = byte(i)
	}
	c := bytes.Repeat([]byte{0xc}, PublicKeySize)
	s := bytes.Repeat([]byte{0x5}, PublicKeySize)
	tr := Transcript(nonce, c, s)
	want := []byte{0, byte(len(TranscriptLabel))}
	want = append(want, TranscriptLabel...)
	want = append(want, 0, 32)
	want = append(want, nonce[:]...)
	want = append(want, 0, 65)
	want = append(want, c...)
	want = append(want, 0, 65)
	want = append(want, s...)
	if !bytes.Equal(tr, want) {
		t.Fatalf("transcript\n%x\nwant\n%x", tr, want)
	}
	rd := ReportData(tr)
	h := sha256.Sum256(tr)
	if !bytes.Equal(rd[:32], h[:]) || !bytes.Equal(rd[32:], make([]byte, 32)) {
		t.Fatalf("report data %x", rd)
	}
	// Swapping the two keys gives a different transcript (roles are bound).
	if bytes.Equal(Transcript(nonce, s, c), tr) {
		t.Fatal("transcript does not bind the roles")
	}
	// Pinned value: a change to the encoding breaks interoperability.
	if got := hex.EncodeToString(rd[:32]); got != pinnedTranscriptHash {
		t.Fatalf("SHA-256(transcript) = %s, pinned %s", got, pinnedTranscriptHash)
	}
}

// pinnedTranscriptHash was computed independently (Python hashlib) from the
// documented encoding.
const pinnedTranscriptHash = "afe5add372f586953c66d98f1cea23d1655756fff879aac8bcf4dee77864c4a2"
