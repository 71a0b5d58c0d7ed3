package ra

import (
	"bytes"
	"crypto/x509/pkix"
	"testing"

	"github.com/sgxops/sgxops/internal/corpus"
	"github.com/sgxops/sgxops/sgx"
)

// realQuote returns the first corpus quote that decodes, as raw bytes.
func realQuotes(f *testing.F) [][]byte {
	var out [][]byte
	for _, rel := range corpus.Quotes[:4] {
		b, _, err := sgx.DecodeBinary(corpus.Read(f, rel))
		if err == nil {
			out = append(out, b)
		}
	}
	if len(out) == 0 {
		f.Fatal("no corpus quote decodes")
	}
	return out
}

func FuzzParseClientHello(f *testing.F) {
	f.Add((&ClientHello{PublicKey: testKey(f)}).Marshal())
	f.Add([]byte{1, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseClientHello(b)
		if err != nil {
			return
		}
		if !bytes.Equal(h.Marshal(), b) {
			t.Fatal("accepted client hello does not round-trip")
		}
	})
}

func FuzzParseServerHello(f *testing.F) {
	key := testKey(f)
	for _, q := range realQuotes(f) {
		f.Add((&ServerHello{SessionID: "0123456789abcdef", PublicKey: key, Quote: q}).Marshal())
	}
	f.Add((&ServerHello{SessionID: "s", PublicKey: key, Quote: simQuote(f)}).Marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseServerHello(b)
		if err != nil {
			return
		}
		if !bytes.Equal(h.Marshal(), b) {
			t.Fatal("accepted server hello does not round-trip")
		}
	})
}

// FuzzOpenRecord feeds arbitrary records to a session: nothing may panic,
// and nothing but the genuine record may be accepted.
func FuzzOpenRecord(f *testing.F) {
	cli, _ := sessionPair(f)
	genuine, err := cli.Seal(RecordData, []byte("seed message"), []byte("op"))
	if err != nil {
		f.Fatal(err)
	}
	second, err := cli.Seal(RecordData, []byte("second"), []byte("op"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(genuine, []byte("op"))
	f.Add(second, []byte("op"))
	f.Add(genuine[:RecordHeaderSize], []byte(""))
	f.Fuzz(func(t *testing.T, rec, ad []byte) {
		// A fresh receiver per input, keyed like the seed's.
		_, srv := sessionPairFrom(cli)
		_, pt, err := srv.Open(rec, ad)
		if err != nil {
			return
		}
		if !bytes.Equal(rec, genuine) || string(ad) != "op" || string(pt) != "seed message" {
			t.Fatalf("accepted a record that was never sealed: %x", rec)
		}
	})
}

// sessionPairFrom returns a fresh server session with the keys of cli's peer.
func sessionPairFrom(cli *Session) (*Session, *Session) {
	srv := &Session{id: cli.id,
		send: &direction{aead: cli.recv.aead, iv: cli.recv.iv},
		recv: &direction{aead: cli.send.aead, iv: cli.send.iv}}
	return cli, srv
}

func FuzzParseDICEEvidence(f *testing.F) {
	for _, q := range realQuotes(f) {
		f.Add(MarshalDICEEvidence(q, DICEClaims([]byte("spki"))))
	}
	cert, err := NewCertificate(provider(f, "seed-a", "v1", false), &CertificateOptions{Now: clock})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(extValueF(cert.Leaf.Extensions))
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := ParseDICEEvidence(b)
		if err != nil {
			return
		}
		if len(ev.Quote) == 0 || len(ev.Claims) == 0 {
			t.Fatal("accepted evidence without quote or claims")
		}
		if size, ok := hashSize(ev.PubKeyHashAlg); !ok || size != len(ev.PubKeyHash) {
			t.Fatalf("accepted hash alg %d with %d bytes", ev.PubKeyHashAlg, len(ev.PubKeyHash))
		}
	})
}

func extValueF(exts []pkix.Extension) []byte {
	for _, e := range exts {
		if e.Id.Equal(OIDTCGDiceEvidence) {
			return e.Value
		}
	}
	return nil
}

func FuzzReadFrame(f *testing.F) {
	f.Add([]byte{0, 0, 0, 3, 1, 2, 3})
	f.Add([]byte{0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		msg, err := readFrame(bytes.NewReader(b))
		if err != nil {
			return
		}
		if len(msg) == 0 || len(msg) > maxFrame || len(b) < 4+len(msg) {
			t.Fatalf("frame of %d bytes from %d input bytes", len(msg), len(b))
		}
	})
}
