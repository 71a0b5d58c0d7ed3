package ra

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"math"
	"testing"
)

// sessionPair derives a client and a server session from one real ECDH
// exchange, without a quote (the record layer does not look at it).
func sessionPair(t testing.TB) (cli, srv *Session) {
	t.Helper()
	c, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var nonce [NonceSize]byte
	tr := Transcript(nonce, c.PublicKey().Bytes(), s.PublicKey().Bytes())
	k1, err := c.ECDH(s.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	k2, err := s.ECDH(c.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	if cli, err = newSession("id", k1, tr, true); err != nil {
		t.Fatal(err)
	}
	if srv, err = newSession("id", k2, tr, false); err != nil {
		t.Fatal(err)
	}
	return cli, srv
}

func seal(t testing.TB, s *Session, msg string, ad string) []byte {
	t.Helper()
	r, err := s.Seal(RecordData, []byte(msg), []byte(ad))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRecordRoundTripBothDirections(t *testing.T) {
	cli, srv := sessionPair(t)
	for i, msg := range []string{"a", "", string(bytes.Repeat([]byte{7}, 5000))} {
		r := seal(t, cli, msg, "op")
		if len(r) != RecordHeaderSize+len(msg)+tagSize {
			t.Fatalf("record %d has %d bytes", i, len(r))
		}
		if bytes.Contains(r, []byte("aaaa")) && len(msg) > 100 {
			t.Fatal("plaintext visible in record")
		}
		typ, pt, err := srv.Open(r, []byte("op"))
		if err != nil || typ != RecordData || string(pt) != msg {
			t.Fatalf("Open = %v, %q, %v", typ, pt, err)
		}
		back := seal(t, srv, "re:"+msg, "op")
		if _, pt, err := cli.Open(back, []byte("op")); err != nil || string(pt) != "re:"+msg {
			t.Fatalf("reverse Open = %q, %v", pt, err)
		}
	}
}

func TestRecordRejections(t *testing.T) {
	tests := []struct {
		name string
		// prepare returns the record to feed to the server after any
		// legitimate traffic it performs itself.
		prepare func(t *testing.T, cli, srv *Session) ([]byte, string)
		want    Reason
	}{
		{"replayed", func(t *testing.T, cli, srv *Session) ([]byte, string) {
			r := seal(t, cli, "pay 10", "op")
			mustOpen(t, srv, r, "op")
			return r, "op"
		}, ReasonReplay},
		{"reordered", func(t *testing.T, cli, srv *Session) ([]byte, string) {
			seal(t, cli, "first (dropped)", "op")
			return seal(t, cli, "second", "op"), "op"
		}, ReasonReorder},
		{"ciphertext bit flipped", func(t *testing.T, cli, srv *Session) ([]byte, string) {
			r := seal(t, cli, "pay 10", "op")
			r[RecordHeaderSize] ^= 1
			return r, "op"
		}, ReasonTampered},
		{"tag bit flipped", func(t *testing.T, cli, srv *Session) ([]byte, string) {
			r := seal(t, cli, "pay 10", "op")
			r[len(r)-1] ^= 0x80
			return r, "op"
		}, ReasonTampered},
		{"sequence rewritten", func(t *testing.T, cli, srv *Session) ([]byte, string) {
			r := seal(t, cli, "pay 10", "op")
			r[9] = 1
			return r, "op"
		}, ReasonTampered},
		{"type rewritten", func(t *testing.T, cli, srv *Session) ([]byte, string) {
			r := seal(t, cli, "pay 10", "op")
			r[1] = byte(RecordError)
			return r, "op"
		}, ReasonTampered},
		{"other operation", func(t *testing.T, cli, srv *Session) ([]byte, string) {
			return seal(t, cli, "pay 10", "op"), "other-op"
		}, ReasonTampered},
		{"reflected own record", func(t *testing.T, cli, srv *Session) ([]byte, string) {
			return seal(t, srv, "server says", "op"), "op"
		}, ReasonTampered},
		{"other session", func(t *testing.T, cli, srv *Session) ([]byte, string) {
			other, _ := sessionPair(t)
			return seal(t, other, "pay 10", "op"), "op"
		}, ReasonTampered},
		{"truncated to header", func(t *testing.T, cli, srv *Session) ([]byte, string) {
			return seal(t, cli, "pay 10", "op")[:RecordHeaderSize], "op"
		}, ReasonTruncated},
		{"truncated inside header", func(t *testing.T, cli, srv *Session) ([]byte, string) {
			return seal(t, cli, "pay 10", "op")[:5], "op"
		}, ReasonTruncated},
		{"truncated ciphertext", func(t *testing.T, cli, srv *Session) ([]byte, string) {
			r := seal(t, cli, "pay 10", "op")
			return r[:len(r)-3], "op"
		}, ReasonTampered},
		{"bad version", func(t *testing.T, cli, srv *Session) ([]byte, string) {
			r := seal(t, cli, "pay 10", "op")
			r[0] = 9
			return r, "op"
		}, ReasonMalformed},
		{"unknown type", func(t *testing.T, cli, srv *Session) ([]byte, string) {
			r := seal(t, cli, "pay 10", "op")
			r[1] = 0x17
			return r, "op"
		}, ReasonMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cli, srv := sessionPair(t)
			r, ad := tc.prepare(t, cli, srv)
			_, _, err := srv.Open(r, []byte(ad))
			wantReason(t, err, tc.want)
			// A rejected record changes nothing: the next legitimate record
			// (the one the client sends next) is still accepted when it is the
			// one the server expects.
			if tc.want == ReasonReorder {
				return
			}
			next := seal(t, cli, "next", "op")
			if tc.name == "replayed" || tc.name == "reflected own record" || tc.name == "other session" {
				mustOpen(t, srv, next, "op")
				return
			}
			// The rejected record consumed a client sequence number that the
			// server never accepted, so the client's next one is "from the future".
			_, _, err = srv.Open(next, []byte("op"))
			wantReason(t, err, ReasonReorder)
		})
	}
}

func mustOpen(t *testing.T, s *Session, r []byte, ad string) []byte {
	t.Helper()
	_, pt, err := s.Open(r, []byte(ad))
	if err != nil {
		t.Fatal(err)
	}
	return pt
}

func TestSealLimits(t *testing.T) {
	cli, _ := sessionPair(t)
	_, err := cli.Seal(RecordData, make([]byte, MaxPlaintextSize+1), nil)
	wantReason(t, err, ReasonMalformed)
	_, err = cli.Seal(RecordType(0), nil, nil)
	wantReason(t, err, ReasonMalformed)

	// Sequence number exhaustion: the last number is usable once.
	cli.send.next = math.MaxUint64
	if _, err := cli.Seal(RecordData, nil, nil); err != nil {
		t.Fatal(err)
	}
	_, err = cli.Seal(RecordData, nil, nil)
	wantReason(t, err, ReasonExhausted)
}

func TestNonceDiffersPerSequenceAndDirection(t *testing.T) {
	cli, _ := sessionPair(t)
	seen := map[string]bool{}
	for _, d := range []*direction{cli.send, cli.recv} {
		for _, seq := range []uint64{0, 1, 2, 1 << 32, math.MaxUint64} {
			n := string(d.nonce(seq))
			if seen[n] {
				t.Fatalf("nonce repeated for seq %d", seq)
			}
			seen[n] = true
		}
	}
	if bytes.Equal(cli.send.iv[:], cli.recv.iv[:]) {
		t.Fatal("both directions share an IV")
	}
}
