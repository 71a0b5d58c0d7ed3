// Package audit defines the hash-chained audit log of trust changes: every
// release transition and policy change is an Entry whose hash covers the
// previous entry's hash, so that editing, removing or reordering entries is
// detected by Verify.
//
// # Hash
//
// Entry.Hash is SHA-256 over the canonical encoding of the entry without its
// own hash. All integers are big-endian; str(s) is u32(len(s)) followed by the
// UTF-8 bytes of s:
//
//	"sgxops-audit-v1\n"                      16 bytes, domain separator
//	u64(seq)
//	i64(unix seconds of time) u32(nanoseconds within the second)
//	str(actor) str(action) str(app) str(release)
//	u32(number of details)
//	str(key) str(value) for each detail, keys in ascending byte order
//	prev_hash                                32 bytes
//
// The first entry has seq 1 and prev_hash all zero (the genesis head). Every
// field is fixed-size or length-prefixed, so the encoding is unambiguous and a
// client in any language can recompute it from the JSON form of the entry
// (hashes are lowercase hex there, time is RFC 3339, details an object of
// strings).
package audit
