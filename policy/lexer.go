package policy

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

type tokKind uint8

const (
	tEOF tokKind = iota
	tIdent
	tString
	tInt
	tDecimal // digits "." digits; only valid as the version number
	tSemi
	tLBrace
	tRBrace
	tLBrack
	tRBrack
	tLParen
	tRParen
	tComma
	tColon
	tDot
	tArrow // =>
	tAssign
	tEq
	tNe
	tLt
	tLe
	tGt
	tGe
	tNot
	tAnd
	tOr // "||": lexed only to report that the grammar has no disjunction
)

var tokNames = [...]string{
	tEOF: "end of policy", tIdent: "identifier", tString: "string", tInt: "integer",
	tDecimal: "number", tSemi: `";"`, tLBrace: `"{"`, tRBrace: `"}"`, tLBrack: `"["`,
	tRBrack: `"]"`, tLParen: `"("`, tRParen: `")"`, tComma: `","`, tColon: `":"`,
	tDot: `"."`, tArrow: `"=>"`, tAssign: `"="`, tEq: `"=="`, tNe: `"!="`, tLt: `"<"`,
	tLe: `"<="`, tGt: `">"`, tGe: `">="`, tNot: `"!"`, tAnd: `"&&"`, tOr: `"||"`,
}

func (k tokKind) String() string { return tokNames[k] }

type token struct {
	kind tokKind
	pos  Pos
	text string // identifier or number text, or the decoded string literal
	raw  string // source text of the token
}

// describe renders a token for "found ..." in error messages.
func (t token) describe() string {
	switch t.kind {
	case tEOF:
		return "end of policy"
	case tIdent, tInt, tDecimal:
		return strconv.Quote(t.raw)
	case tString:
		r := t.raw
		if len(r) > 40 {
			r = r[:37] + "..."
		}
		return "string " + r
	}
	return t.kind.String()
}

// lexer splits policy text into tokens. Whitespace and // line comments are
// skipped.
type lexer struct {
	src  string
	off  int
	line int
	col  int
}

func newLexer(src string) *lexer { return &lexer{src: src, line: 1, col: 1} }

func (l *lexer) pos() Pos { return Pos{Line: l.line, Col: l.col, Offset: l.off} }

// advance consumes one rune (src[off] must be valid UTF-8 or the caller has
// checked it).
func (l *lexer) advance() rune {
	r, n := utf8.DecodeRuneInString(l.src[l.off:])
	l.off += n
	if r == '\n' {
		l.line++
		l.col = 1
	} else {
		l.col++
	}
	return r
}

func (l *lexer) peekByte(i int) byte {
	if l.off+i < len(l.src) {
		return l.src[l.off+i]
	}
	return 0
}

func (l *lexer) errAt(p Pos, format string, args ...any) *SyntaxError {
	return &SyntaxError{Pos: p, Msg: fmt.Sprintf(format, args...)}
}

func (l *lexer) skipSpace() error {
	for l.off < len(l.src) {
		c := l.src[l.off]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v':
			l.advance()
		case c == '/' && l.peekByte(1) == '/':
			for l.off < len(l.src) && l.src[l.off] != '\n' {
				p := l.pos()
				if r, n := utf8.DecodeRuneInString(l.src[l.off:]); r == utf8.RuneError && n == 1 {
					return l.errAt(p, "invalid UTF-8 in comment")
				}
				l.advance()
			}
		case c == 0xEF && strings.HasPrefix(l.src[l.off:], "\uFEFF") && l.off == 0:
			l.off += 3 // byte order mark at the start; column stays 1
		default:
			return nil
		}
	}
	return nil
}

func isIdentStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isIdentChar(c byte) bool {
	return isIdentStart(c) || (c >= '0' && c <= '9')
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// next returns the next token.
func (l *lexer) next() (token, error) {
	if err := l.skipSpace(); err != nil {
		return token{}, err
	}
	p := l.pos()
	if l.off >= len(l.src) {
		return token{kind: tEOF, pos: p}, nil
	}
	start := l.off
	c := l.src[l.off]
	two := func(k tokKind) (token, error) {
		l.advance()
		l.advance()
		return token{kind: k, pos: p, raw: l.src[start:l.off]}, nil
	}
	one := func(k tokKind) (token, error) {
		l.advance()
		return token{kind: k, pos: p, raw: l.src[start:l.off]}, nil
	}
	switch {
	case isIdentStart(c):
		for l.off < len(l.src) && isIdentChar(l.src[l.off]) {
			l.advance()
		}
		s := l.src[start:l.off]
		return token{kind: tIdent, pos: p, text: s, raw: s}, nil
	case isDigit(c) || (c == '-' && isDigit(l.peekByte(1))):
		return l.number(p)
	case c == '"':
		return l.str(p)
	}
	switch c {
	case ';':
		return one(tSemi)
	case '{':
		return one(tLBrace)
	case '}':
		return one(tRBrace)
	case '[':
		return one(tLBrack)
	case ']':
		return one(tRBrack)
	case '(':
		return one(tLParen)
	case ')':
		return one(tRParen)
	case ',':
		return one(tComma)
	case ':':
		return one(tColon)
	case '.':
		return one(tDot)
	case '=':
		switch l.peekByte(1) {
		case '>':
			return two(tArrow)
		case '=':
			return two(tEq)
		}
		return one(tAssign)
	case '!':
		if l.peekByte(1) == '=' {
			return two(tNe)
		}
		return one(tNot)
	case '<':
		if l.peekByte(1) == '=' {
			return two(tLe)
		}
		return one(tLt)
	case '>':
		if l.peekByte(1) == '=' {
			return two(tGe)
		}
		return one(tGt)
	case '&':
		if l.peekByte(1) == '&' {
			return two(tAnd)
		}
		return token{}, l.errAt(p, `unexpected "&"; conditions are joined with "&&"`)
	case '|':
		if l.peekByte(1) == '|' {
			return two(tOr)
		}
		return token{}, l.errAt(p, `unexpected "|"`)
	}
	r, n := utf8.DecodeRuneInString(l.src[l.off:])
	switch {
	case r == utf8.RuneError && n == 1:
		return token{}, l.errAt(p, "invalid UTF-8")
	case r == '\u201C' || r == '\u201D' || r == '\u201E' || r == '\u2018' || r == '\u2019':
		return token{}, l.errAt(p, "typographic quote %U; strings use the ASCII double quote \"", r)
	case r < 0x20 || r == 0x7f:
		return token{}, l.errAt(p, "unexpected control character %U", r)
	}
	return token{}, l.errAt(p, "unexpected character %q", r)
}

func (l *lexer) number(p Pos) (token, error) {
	start := l.off
	if l.src[l.off] == '-' {
		l.advance()
	}
	for l.off < len(l.src) && isDigit(l.src[l.off]) {
		l.advance()
	}
	kind := tInt
	if l.peekByte(0) == '.' && isDigit(l.peekByte(1)) {
		l.advance()
		for l.off < len(l.src) && isDigit(l.src[l.off]) {
			l.advance()
		}
		kind = tDecimal
	}
	if l.off < len(l.src) && isIdentStart(l.src[l.off]) {
		return token{}, l.errAt(p, "malformed number %q", l.src[start:l.off+1])
	}
	s := l.src[start:l.off]
	return token{kind: kind, pos: p, text: s, raw: s}, nil
}

// str lexes a double-quoted string. Escapes: \" \\ \/ \n \r \t.
func (l *lexer) str(p Pos) (token, error) {
	start := l.off
	l.advance() // opening quote
	var b strings.Builder
	for {
		if l.off >= len(l.src) {
			return token{}, l.errAt(p, "unterminated string")
		}
		cp := l.pos()
		r, n := utf8.DecodeRuneInString(l.src[l.off:])
		switch {
		case r == utf8.RuneError && n == 1:
			return token{}, l.errAt(cp, "invalid UTF-8 in string")
		case r == '"':
			l.advance()
			return token{kind: tString, pos: p, text: b.String(), raw: l.src[start:l.off]}, nil
		case r == '\n':
			return token{}, l.errAt(p, "unterminated string (newline before closing quote)")
		case r < 0x20 && r != '\t':
			return token{}, l.errAt(cp, "control character %U in string", r)
		case r == '\\':
			l.advance()
			if l.off >= len(l.src) {
				return token{}, l.errAt(p, "unterminated string")
			}
			e := l.src[l.off]
			switch e {
			case '"', '\\', '/':
				b.WriteByte(e)
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			default:
				return token{}, l.errAt(cp, `unknown escape "\%c" in string (allowed: \" \\ \/ \n \r \t)`, rune(e))
			}
			l.advance()
		default:
			b.WriteRune(r)
			l.advance()
		}
	}
}

// quote renders s as a policy string literal that the lexer reads back as s.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
