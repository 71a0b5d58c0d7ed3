// Package ra is an attested channel: a client learns, through remote
// attestation, which enclave it is talking to, and only then exchanges
// secrets with it over keys that only that enclave holds.
//
// # Protocol
//
// The client sends a ClientHello: a fresh 32-byte nonce and an ephemeral
// ECDH P-256 public key. The server makes a per-session ephemeral P-256 key
// and answers with a ServerHello: a session ID, its public key and a quote
// from its QuoteProvider whose report data binds the handshake transcript
// (see Transcript and ReportData). The client hands the quote and the
// transcript to a Verifier (attestd via the MAA API, or dcap + policy
// locally), then checks itself that the verified report data equals
// SHA-256(transcript), so a verifier cannot forget the binding. A man in the
// middle who swaps either public key breaks that equality.
//
// Both ends derive per-direction AES-256-GCM keys with HKDF-SHA256 from the
// ECDH shared secret, salted with SHA-256(transcript). Records carry a 64-bit
// sequence number that is part of the nonce and of the authenticated header;
// a receiver accepts exactly the next number, so replayed, reordered, dropped,
// truncated or modified records are rejected with typed errors (ErrReplay,
// ErrReorder, ErrTruncated, ErrTampered). A rejected record does not change
// the session state.
//
// The handshake and records run over any io.ReadWriter (Client.Handshake,
// Server.Handshake → Conn) or over HTTP (HTTPServer, Client.DialHTTP):
//
//	POST   /session           body: ClientHello  → ServerHello
//	POST   /session/{id}/{op} body: data record   → data or error record
//	DELETE /session/{id}
//
// where the operation name is authenticated as additional data of both
// records, so a record cannot be replayed against another operation.
//
// # RA-TLS
//
// NewCertificate, ServerConfig and ClientConfig are the second form: a
// self-signed X.509 certificate for an ephemeral key carrying quotes bound to
// the certificate's public key, in Gramine's legacy extension and in a TCG
// DICE tagged-evidence extension (see ratls.go for the exact encoding).
//
// # Quote providers
//
// SimulatedProvider (package sim; SIMULATED, never secure), GramineProvider
// (/dev/attestation) and TSMProvider (Linux configfs-tsm, TDX and SEV-SNP
// guests). The provider is chosen by the caller; nothing here guesses
// simulation from a missing device.
//
// The package never logs and reads no flags or environment.
package ra
