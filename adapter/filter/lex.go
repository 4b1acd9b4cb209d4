package filter

import (
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// tokenKind is the kind of a lexical token.
type tokenKind int

const (
	tokEOF tokenKind = iota
	tokWord
	tokString
	tokLParen
	tokRParen
	tokLBrack
	tokRBrack
)

// token is one lexical unit. Words are maximal runs of characters that are
// neither whitespace nor one of `()[]"`: attribute paths, operators,
// keywords, numbers and unquoted values are all words, told apart by the
// parser from where they appear.
type token struct {
	kind tokenKind
	// pos and end are the byte offsets of the token's first byte and of the
	// byte after its last.
	pos, end int
	// text is the word as written, or the unescaped content of a string.
	text string
	// space reports whether whitespace precedes the token.
	space bool
}

// isSpace reports whether c separates tokens. RFC 7644 §3.4.2.2 uses SP;
// tabs and line breaks are tolerated as well.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r'
}

// isWordByte reports whether c can be part of a word.
func isWordByte(c byte) bool {
	switch c {
	case '(', ')', '[', ']', '"':
		return false
	}
	return c > ' ' && c != 0x7f
}

// scan returns the token that starts at or after byte offset i.
func (p *parser) scan(i int) (token, error) {
	start := i
	for i < len(p.src) && isSpace(p.src[i]) {
		i++
	}
	t := token{pos: i, end: i + 1, space: i > start}
	if i >= len(p.src) {
		t.kind, t.end = tokEOF, i
		return t, nil
	}
	switch c := p.src[i]; c {
	case '(':
		t.kind = tokLParen
	case ')':
		t.kind = tokRParen
	case '[':
		t.kind = tokLBrack
	case ']':
		t.kind = tokRBrack
	case '"':
		return p.scanString(t)
	default:
		if !isWordByte(c) {
			return t, p.errorf(i, "unexpected control character %q", rune(c))
		}
		j := i + 1
		for j < len(p.src) && isWordByte(p.src[j]) {
			j++
		}
		t.kind, t.end, t.text = tokWord, j, p.src[i:j]
	}
	return t, nil
}

// scanString scans a JSON string (RFC 8259 §7) whose opening quote is at
// t.pos and returns it with its content unescaped.
func (p *parser) scanString(t token) (token, error) {
	s := p.src
	var buf []byte
	escaped := false
	chunk := t.pos + 1
	for i := chunk; ; {
		if i >= len(s) {
			return t, p.errorf(t.pos, "unterminated string")
		}
		switch c := s[i]; {
		case c == '"':
			if escaped {
				t.text = string(append(buf, s[chunk:i]...))
			} else {
				t.text = s[chunk:i]
			}
			t.kind, t.end = tokString, i+1
			return t, nil
		case c == '\\':
			buf = append(buf, s[chunk:i]...)
			escaped = true
			var n int
			var err error
			buf, n, err = p.unescape(buf, i, t.pos)
			if err != nil {
				return t, err
			}
			i += n
			chunk = i
		case c < ' ':
			return t, p.errorf(i, "control character %q in a string must be escaped", rune(c))
		default:
			i++
		}
	}
}

// unescape decodes the escape sequence at s[i] (a backslash), appends the
// result to buf and returns how many bytes it consumed. open is the offset
// of the string's opening quote.
func (p *parser) unescape(buf []byte, i, open int) ([]byte, int, error) {
	s := p.src
	if i+1 >= len(s) {
		return buf, 0, p.errorf(open, "unterminated string")
	}
	switch c := s[i+1]; c {
	case '"', '\\', '/':
		return append(buf, c), 2, nil
	case 'b':
		return append(buf, '\b'), 2, nil
	case 'f':
		return append(buf, '\f'), 2, nil
	case 'n':
		return append(buf, '\n'), 2, nil
	case 'r':
		return append(buf, '\r'), 2, nil
	case 't':
		return append(buf, '\t'), 2, nil
	case 'u':
		r, ok := hex4(s, i+2)
		if !ok {
			return buf, 0, p.errorf(i, `invalid \u escape; expected four hexadecimal digits`)
		}
		if !utf16.IsSurrogate(r) {
			return utf8.AppendRune(buf, r), 6, nil
		}
		if r < 0xdc00 && i+7 < len(s) && s[i+6] == '\\' && s[i+7] == 'u' {
			if lo, ok := hex4(s, i+8); ok {
				if pair := utf16.DecodeRune(r, lo); pair != utf8.RuneError {
					return utf8.AppendRune(buf, pair), 12, nil
				}
			}
		}
		return buf, 0, p.errorf(i, `unpaired surrogate in \u escape`)
	default:
		r, _ := utf8.DecodeRuneInString(s[i+1:])
		return buf, 0, p.errorf(i, "invalid escape %q in string", `\`+string(r))
	}
}

// hex4 decodes the four hexadecimal digits at s[i:i+4].
func hex4(s string, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range []byte(s[i : i+4]) {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// isNumber reports whether s is a JSON number (RFC 8259 §6):
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func isNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		i = digits(s, i)
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		j := digits(s, i+1)
		if j == i+1 {
			return false
		}
		i = j
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		j := digits(s, i)
		if j == i {
			return false
		}
		i = j
	}
	return i == len(s)
}

// digits returns the offset of the first non-digit at or after i.
func digits(s string, i int) int {
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}

// describe names a token for an error message.
func describe(t token) string {
	switch t.kind {
	case tokEOF:
		return "the end of the input"
	case tokString:
		return "a string"
	case tokLParen:
		return `"("`
	case tokRParen:
		return `")"`
	case tokLBrack:
		return `"["`
	case tokRBrack:
		return `"]"`
	}
	return quote(t.text)
}

// errorf returns a *SyntaxError of the parser's kind at byte offset pos.
func (p *parser) errorf(pos int, format string, args ...any) error {
	return &SyntaxError{Kind: p.kind, Pos: pos, Msg: fmt.Sprintf(format, args...)}
}
