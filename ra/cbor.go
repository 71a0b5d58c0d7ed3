package ra

import (
	"encoding/binary"
	"fmt"
)

// A minimal CBOR (RFC 8949) encoder and strict decoder for the few items the
// TCG DICE evidence extension needs: unsigned integers, byte and text
// strings, arrays, maps and tags, all of definite length. Indefinite lengths
// are refused. Written by hand to keep the RA-TLS verifier's attack surface
// small and dependency-free.

const (
	cborUint  = 0
	cborNeg   = 1
	cborBytes = 2
	cborText  = 3
	cborArray = 4
	cborMap   = 5
	cborTag   = 6
	cborOther = 7

	cborMaxDepth = 16
)

func cborHead(b []byte, major byte, n uint64) []byte {
	m := major << 5
	switch {
	case n < 24:
		return append(b, m|byte(n))
	case n <= 0xff:
		return append(b, m|24, byte(n))
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16(append(b, m|25), uint16(n))
	case n <= 0xffffffff:
		return binary.BigEndian.AppendUint32(append(b, m|26), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(b, m|27), n)
}

func cborAppendBytes(b, v []byte) []byte { return append(cborHead(b, cborBytes, uint64(len(v))), v...) }
func cborAppendText(b []byte, s string) []byte {
	return append(cborHead(b, cborText, uint64(len(s))), s...)
}

// cborDecoder reads CBOR items; errors name the item and its offset.
type cborDecoder struct {
	op  string
	b   []byte
	off int
}

func (d *cborDecoder) fail(field string, off int, format string, args ...any) error {
	return fieldErr(d.op, field, off, fmt.Sprintf(format, args...))
}

// head reads an initial byte and its argument.
func (d *cborDecoder) head(field string) (major byte, arg uint64, start int, err error) {
	start = d.off
	if d.off >= len(d.b) {
		return 0, 0, start, d.fail(field, start, "unexpected end of CBOR data")
	}
	ib := d.b[d.off]
	d.off++
	major, info := ib>>5, ib&0x1f
	var n int
	switch {
	case info < 24:
		return major, uint64(info), start, nil
	case info == 24:
		n = 1
	case info == 25:
		n = 2
	case info == 26:
		n = 4
	case info == 27:
		n = 8
	default:
		return 0, 0, start, d.fail(field, start, "indefinite length or reserved additional info %d not supported", info)
	}
	if len(d.b)-d.off < n {
		return 0, 0, start, d.fail(field, start, "truncated CBOR argument")
	}
	for i := 0; i < n; i++ {
		arg = arg<<8 | uint64(d.b[d.off+i])
	}
	d.off += n
	return major, arg, start, nil
}

// expect reads a head of the given major type.
func (d *cborDecoder) expect(field string, major byte) (uint64, int, error) {
	m, arg, start, err := d.head(field)
	if err != nil {
		return 0, start, err
	}
	if m != major {
		return 0, start, d.fail(field, start, "CBOR major type %d, want %d", m, major)
	}
	return arg, start, nil
}

// byteString reads a byte string (major 2) or, with text, a text string.
func (d *cborDecoder) str(field string, major byte) ([]byte, error) {
	n, start, err := d.expect(field, major)
	if err != nil {
		return nil, err
	}
	if n > uint64(len(d.b)-d.off) {
		return nil, d.fail(field, start, "string of %d bytes exceeds the %d remaining", n, len(d.b)-d.off)
	}
	v := d.b[d.off : d.off+int(n)]
	d.off += int(n)
	return v, nil
}

// count reads an array or map head and checks that n items can fit.
func (d *cborDecoder) count(field string, major byte) (int, error) {
	n, start, err := d.expect(field, major)
	if err != nil {
		return 0, err
	}
	if n > uint64(len(d.b)-d.off) { // every item takes at least one byte
		return 0, d.fail(field, start, "%d items cannot fit in the %d remaining bytes", n, len(d.b)-d.off)
	}
	return int(n), nil
}

// skip skips one complete item of any type.
func (d *cborDecoder) skip(field string, depth int) error {
	if depth > cborMaxDepth {
		return d.fail(field, d.off, "CBOR nesting deeper than %d", cborMaxDepth)
	}
	m, arg, start, err := d.head(field)
	if err != nil {
		return err
	}
	switch m {
	case cborUint, cborNeg, cborOther:
		return nil
	case cborBytes, cborText:
		if arg > uint64(len(d.b)-d.off) {
			return d.fail(field, start, "string of %d bytes exceeds the %d remaining", arg, len(d.b)-d.off)
		}
		d.off += int(arg)
		return nil
	case cborTag:
		return d.skip(field, depth+1)
	}
	items := arg
	if m == cborMap {
		if items > uint64(len(d.b)) {
			return d.fail(field, start, "map of %d entries cannot fit", arg)
		}
		items *= 2
	}
	if items > uint64(len(d.b)-d.off) {
		return d.fail(field, start, "%d items cannot fit in the %d remaining bytes", items, len(d.b)-d.off)
	}
	for i := uint64(0); i < items; i++ {
		if err := d.skip(field, depth+1); err != nil {
			return err
		}
	}
	return nil
}

func (d *cborDecoder) end(field string) error {
	if d.off != len(d.b) {
		return d.fail(field, d.off, "%d trailing bytes after the CBOR item", len(d.b)-d.off)
	}
	return nil
}
