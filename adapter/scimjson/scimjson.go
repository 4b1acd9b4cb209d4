// Package scimjson decodes SCIM request bodies strictly.
//
// Every JSON body a client sends (a resource for POST or PUT, a PatchOp
// message, a SearchRequest, a BulkRequest) goes through Decode or
// DecodeObject, so that all of them refuse the same malformed input before
// anything else looks at it:
//
//   - invalid UTF-8 anywhere in the body, and \u escapes that stand for half
//     of a surrogate pair: 400 invalidSyntax with the byte offset. Go's
//     encoding/json would silently turn both into U+FFFD, so that two
//     different names could become the same one;
//   - anything but exactly one JSON value (trailing data such as a stray "}"
//     or "]"): 400 invalidSyntax with the byte offset;
//   - arrays and objects nested deeper than MaxDepth levels: 400 invalidValue
//     with the byte offset;
//   - two members of one object whose names are the same but for case:
//     400 invalidValue naming them. SCIM reads attribute names
//     case-insensitively (RFC 7643 §2.1), so that is one attribute given
//     twice, and encoding/json would silently keep one of them;
//   - a string, value or member name, longer than MaxString bytes: 400
//     invalidValue naming where;
//   - a control character U+0000–U+001F other than tab, line feed and
//     carriage return, or U+007F, in any string value or member name: 400
//     invalidValue naming where, by JSON location such as emails[0].value.
//
// All of it is found in one pass over the bytes before encoding/json
// builds the value, so a body ten thousand levels deep costs no more than
// reading it. Syntax errors take precedence over the problems of well-formed
// JSON, and of those the first in the body is reported. Details never quote
// a value. Numbers are decoded as json.Number, so integers survive
// untouched.
package scimjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/caddy-scim/caddy-scim/adapter/scimerr"
)

// Limits of every request body. They are documented in the README.
const (
	// MaxDepth is how deeply arrays and objects may nest in a request body:
	// a body {"a":{"b":[1]}} nests 3 levels.
	MaxDepth = 32
	// MaxString is the longest string, value or member name, in bytes of
	// UTF-8, that a request body may hold.
	MaxString = 65536
)

// Limits are the bounds a decode enforces. A zero field is a zero limit,
// not a default: start from Default and change what differs.
type Limits struct {
	// MaxDepth is how deeply arrays and objects may nest in the values a
	// message carries.
	MaxDepth int
	// MaxString is the longest string, in bytes, a body may hold.
	MaxString int
	// Envelope is how many levels of the message wrap the values MaxDepth
	// is meant for: a BulkRequest holds each operation's data 3 levels
	// deep (the message, its Operations array, the operation). The body
	// may nest MaxDepth+Envelope levels.
	Envelope int
}

// Default are the limits of a single SCIM request body: MaxDepth and
// MaxString.
var Default = Limits{MaxDepth: MaxDepth, MaxString: MaxString}

// Decode decodes body, which must hold exactly one JSON value, under the
// Default limits. Every error is a 400 *scimerr.Error.
func Decode(body []byte) (any, error) { return Default.Decode(body) }

// DecodeObject is Decode for a body that must be a JSON object.
func DecodeObject(body []byte) (map[string]any, error) { return Default.DecodeObject(body) }

// DecodeObject is Decode for a body that must be a JSON object.
func (l Limits) DecodeObject(body []byte) (map[string]any, error) {
	v, err := l.Decode(body)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, scimerr.BadRequest(scimerr.InvalidSyntax, "the request body must be a JSON object; got %s", Describe(v))
	}
	return m, nil
}

// Decode decodes body, which must hold exactly one JSON value, under l.
// Every error is a 400 *scimerr.Error.
func (l Limits) Decode(body []byte) (any, error) {
	if len(bytes.TrimLeft(body, " \t\r\n")) == 0 {
		return nil, scimerr.BadRequest(scimerr.InvalidSyntax, "the request body is not valid JSON: it is empty; send a JSON object")
	}
	s := scanner{body: body, limits: l}
	if err := s.run(); err != nil {
		return nil, err
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, scimerr.BadRequest(scimerr.InvalidSyntax, "the request body is not valid JSON: %s", problem(err))
	}
	// Exactly one value: only whitespace may follow it. Decoder.More would
	// miss a stray "}" or "]".
	end := d.InputOffset()
	for i := end; i < int64(len(body)); i++ {
		if !isSpace(body[i]) {
			return nil, scimerr.BadRequest(scimerr.InvalidSyntax,
				"the request body has data after its JSON value, at byte %d; send exactly one JSON value", i)
		}
	}
	if s.problem != nil && s.problemAt < end {
		return nil, s.problem
	}
	return v, nil
}

func isSpace(b byte) bool { return b == ' ' || b == '\t' || b == '\n' || b == '\r' }

// problem describes a JSON syntax error by position, without quoting the
// body.
func problem(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		// Offset counts the bytes read, the offending one included; the
		// detail names the offending byte, counting from 0 as the other
		// details do.
		return "syntax error at byte " + strconv.FormatInt(max(se.Offset-1, 0), 10)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "unexpected end of input"
	}
	return "malformed input"
}

// scanner makes the one pass over a body. It does not check the syntax,
// which is left to encoding/json: invalid UTF-8, lone surrogates and
// excessive depth end the scan at once, while the problems of well-formed
// JSON (sizes, controls, repeated names) are kept in problem and reported
// only once the body has proved to be valid JSON.
type scanner struct {
	body   []byte
	limits Limits
	stack  []frame
	// names are the member names of the objects in stack, a stack itself:
	// each object's names start at its frame's namesFrom.
	names []name
	// problem is the first problem of well-formed JSON, found at byte
	// problemAt.
	problem   error
	problemAt int64
}

// frame is an array or object the scanner is in, with the member or element
// it is at.
type frame struct {
	object bool
	// expectKey is true in an object where the next string is a member
	// name.
	expectKey bool
	// index is the element an array is at.
	index int
	// keyStart and keyEnd delimit the raw member name an object is at,
	// quotes excluded.
	keyStart, keyEnd int
	// namesFrom is where the object's names start in scanner.names; an
	// object with many names also has them in folded, by folded name.
	namesFrom int
	folded    map[string]int
}

// name is a member name seen: the offset of its opening quote and the
// name, decoded.
type name struct {
	at   int
	name []byte
}

// manyNames is how many names an object has before they are also kept in
// a map rather than only compared one by one.
const manyNames = 16

func (s *scanner) run() error {
	limit := s.limits.MaxDepth + s.limits.Envelope
	body := s.body
	for i := 0; i < len(body); {
		b := body[i]
		switch {
		case b == '"':
			n, err := s.str(i)
			if err != nil {
				return err
			}
			i = n
			continue
		case b == '{' || b == '[':
			if len(s.stack) >= limit {
				return s.tooDeep(i)
			}
			s.stack = append(s.stack, frame{object: b == '{', expectKey: b == '{', namesFrom: len(s.names)})
		case b == '}' || b == ']':
			if top := s.top(); top != nil {
				s.names = s.names[:top.namesFrom]
				s.stack = s.stack[:len(s.stack)-1]
			}
		case b == ',':
			if top := s.top(); top != nil {
				if top.object {
					top.expectKey = true
				} else {
					top.index++
				}
			}
		case b == ':':
			if top := s.top(); top != nil && top.object {
				top.expectKey = false
			}
		case b >= utf8.RuneSelf:
			// Outside a string, a syntax error; first it must be UTF-8.
			r, size := utf8.DecodeRune(body[i:])
			if r == utf8.RuneError && size <= 1 {
				return invalidUTF8(i)
			}
			i += size
			continue
		}
		i++
	}
	return nil
}

func (s *scanner) top() *frame {
	if len(s.stack) == 0 {
		return nil
	}
	return &s.stack[len(s.stack)-1]
}

// str scans the string whose opening quote is at body[start] and returns
// the offset after its closing quote. It measures the string as decoded and
// finds its first control character.
func (s *scanner) str(start int) (int, error) {
	body := s.body
	size := 0     // bytes of the decoded string so far
	ctl := -1     // decoded offset of the first control character
	var ctlR rune // that character
	i := start + 1
	for i < len(body) {
		b := body[i]
		switch {
		case b == '"':
			s.endString(start, i, size, ctl, ctlR)
			return i + 1, nil
		case b == '\\':
			if i+1 >= len(body) {
				return len(body), nil
			}
			r := rune(body[i+1]) // \" \\ \/
			n := 2
			switch body[i+1] {
			case 'b':
				r = '\b'
			case 'f':
				r = '\f'
			case 'n':
				r = '\n'
			case 'r':
				r = '\r'
			case 't':
				r = '\t'
			case 'u':
				var err error
				if r, n, err = surrogateEscape(body, i); err != nil {
					return 0, err
				}
			}
			if ctl < 0 && refused(r) {
				ctl, ctlR = size, r
			}
			if r >= utf8.RuneSelf {
				size += utf8.RuneLen(r)
			} else {
				size++
			}
			i += n
		case b >= utf8.RuneSelf:
			r, n := utf8.DecodeRune(body[i:])
			if r == utf8.RuneError && n <= 1 {
				return 0, invalidUTF8(i)
			}
			size += n
			i += n
		default:
			if ctl < 0 && b == 0x7F {
				ctl, ctlR = size, rune(b)
			}
			size++
			i++
		}
	}
	return len(body), nil // unterminated: a syntax error
}

// endString checks a string that ends with the quote at body[end].
func (s *scanner) endString(start, end, size, ctl int, ctlR rune) {
	if s.problem != nil {
		return
	}
	top := s.top()
	if top != nil && top.object && top.expectKey {
		top.keyStart, top.keyEnd = start+1, end
		switch {
		case size > s.limits.MaxString:
			s.fail(start, "a member name in %s is %d bytes long; a string may be at most %d bytes",
				s.where(len(s.stack)-1), size, s.limits.MaxString)
		case ctl >= 0:
			s.fail(start, "a member name in %s holds the control character %s; member names may not hold control characters",
				s.where(len(s.stack)-1), CodePoint(ctlR))
		default:
			s.member(start, top)
		}
		return
	}
	switch {
	case size > s.limits.MaxString:
		s.fail(start, "%s is a string of %d bytes; a string may be at most %d bytes",
			s.where(len(s.stack)), size, s.limits.MaxString)
	case ctl >= 0:
		s.fail(start, "%s holds the control character %s at byte %d of the string; only tab, line feed and carriage return are accepted",
			s.where(len(s.stack)), CodePoint(ctlR), ctl)
	}
}

// member records the member name top is at, refusing one its object
// already has in any case.
func (s *scanner) member(at int, top *frame) {
	k := s.keyBytes(top)
	prev := -1
	if top.folded != nil {
		if p, ok := top.folded[fold(k)]; ok {
			prev = p
		}
	} else {
		for _, n := range s.names[top.namesFrom:] {
			if bytes.EqualFold(n.name, k) {
				prev = n.at
				break
			}
		}
	}
	if prev < 0 {
		s.names = append(s.names, name{at: at, name: k})
		switch own := s.names[top.namesFrom:]; {
		case top.folded != nil:
			top.folded[fold(k)] = at
		case len(own) > manyNames:
			top.folded = make(map[string]int, 2*len(own))
			for _, n := range own {
				top.folded[fold(n.name)] = n.at
			}
		}
		return
	}
	in := "the request body"
	if len(s.stack) > 1 {
		in = "the object at " + s.where(len(s.stack)-1)
	}
	var first string
	_ = json.Unmarshal(s.body[prev:s.stringEnd(prev)], &first)
	if first == string(k) {
		s.problem = scimerr.BadRequest(scimerr.InvalidValue, "%s names the member %q twice (at bytes %d and %d); give each attribute once",
			in, scimerr.Clip(first, 64), prev, at)
	} else {
		s.problem = scimerr.BadRequest(scimerr.InvalidValue,
			"%s names the members %q and %q (at bytes %d and %d), one attribute twice, since attribute names are case-insensitive (RFC 7643 §2.1); give each attribute once",
			in, scimerr.Clip(first, 64), scimerr.Clip(string(k), 64), prev, at)
	}
	s.problemAt = int64(at)
}

// fold maps s to a key that two names share exactly when bytes.EqualFold
// holds for them: each rune becomes the smallest rune of its simple case
// folding orbit.
func fold(s []byte) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range string(s) {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		b.WriteRune(least)
	}
	return b.String()
}

// stringEnd returns the offset after the closing quote of the string that
// opens at body[start].
func (s *scanner) stringEnd(start int) int {
	for i := start + 1; i < len(s.body); i++ {
		switch s.body[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(s.body)
}

func (s *scanner) fail(at int, format string, args ...any) {
	s.problem = scimerr.BadRequest(scimerr.InvalidValue, format, args...)
	s.problemAt = int64(at)
}

// key decodes the member name f is at.
func (s *scanner) key(f *frame) string { return string(s.keyBytes(f)) }

// keyBytes decodes the member name f is at; without escapes, it is the
// body's own bytes.
func (s *scanner) keyBytes(f *frame) []byte {
	raw := s.body[f.keyStart:f.keyEnd]
	if bytes.IndexByte(raw, '\\') < 0 {
		return raw
	}
	var k string
	if json.Unmarshal(s.body[f.keyStart-1:f.keyEnd+1], &k) != nil {
		return raw
	}
	return []byte(k)
}

// where names the location of the first n frames' members and elements:
// "userName", "emails[0].value", or "the request body" for none.
func (s *scanner) where(n int) string {
	if n == 0 {
		return "the request body"
	}
	var b strings.Builder
	for i, f := range s.stack[:n] {
		if !f.object {
			b.WriteString("[" + strconv.Itoa(f.index) + "]")
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(scimerr.Clip(s.key(&s.stack[i]), 64))
	}
	return scimerr.Clip(b.String(), 256)
}

func (s *scanner) tooDeep(at int) error {
	l := s.limits
	if l.Envelope == 0 {
		return scimerr.BadRequest(scimerr.InvalidValue,
			"the request body nests arrays and objects deeper than %d levels, at byte %d; %d is the limit", l.MaxDepth, at, l.MaxDepth)
	}
	return scimerr.BadRequest(scimerr.InvalidValue,
		"the request body nests arrays and objects deeper than %d levels, at byte %d; a value may nest at most %d levels inside the %d levels of the message around it",
		l.MaxDepth+l.Envelope, at, l.MaxDepth, l.Envelope)
}

func invalidUTF8(at int) error {
	return scimerr.BadRequest(scimerr.InvalidSyntax,
		"the request body is not valid UTF-8 at byte %d; send text encoded as UTF-8", at)
}

// surrogateEscape reads the \u escape at body[i], with the low surrogate
// escape that completes it if it is a high one, and returns the character
// and the bytes taken. A malformed escape is left to encoding/json, which
// reports it as a syntax error.
func surrogateEscape(body []byte, i int) (rune, int, error) {
	r, ok := hex4(body, i)
	if !ok {
		return 0, 2, nil
	}
	switch {
	case r >= 0xDC00 && r <= 0xDFFF:
		return 0, 0, loneSurrogate(i)
	case r >= 0xD800 && r <= 0xDBFF:
		if len(body) < i+12 || body[i+6] != '\\' || body[i+7] != 'u' {
			return 0, 0, loneSurrogate(i)
		}
		lo, ok := hex4(body, i+6)
		if !ok || lo < 0xDC00 || lo > 0xDFFF {
			return 0, 0, loneSurrogate(i)
		}
		return 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00), 12, nil
	}
	return r, 6, nil
}

func loneSurrogate(at int) error {
	return scimerr.BadRequest(scimerr.InvalidSyntax,
		"the request body has a \\u escape at byte %d that is half of a UTF-16 surrogate pair; escape characters beyond U+FFFF as a complete pair", at)
}

// hex4 reads the four hex digits of the \u escape at body[i].
func hex4(body []byte, i int) (rune, bool) {
	if len(body) < i+6 {
		return 0, false
	}
	n, err := strconv.ParseUint(string(body[i+2:i+6]), 16, 32)
	if err != nil {
		return 0, false
	}
	return rune(n), true
}

// refused reports whether r is a control character no string of a request
// may hold.
func refused(r rune) bool {
	return (r < 0x20 && r != '\t' && r != '\n' && r != '\r') || r == 0x7F
}

// Control finds the first control character that no string of a request
// may hold: U+0000–U+001F other than tab, line feed and carriage return,
// and U+007F. It returns its byte offset in s and the character.
func Control(s string) (at int, r rune, found bool) {
	for i := 0; i < len(s); i++ {
		if refused(rune(s[i])) {
			return i, rune(s[i]), true
		}
	}
	return 0, 0, false
}

// CodePoint writes r as U+XXXX, for a detail that names a character
// without quoting it.
func CodePoint(r rune) string {
	s := strings.ToUpper(strconv.FormatInt(int64(r), 16))
	for len(s) < 4 {
		s = "0" + s
	}
	return "U+" + s
}

// Describe names the JSON type of a decoded value for an error detail:
// "a string", "a number", "an object", and so on.
func Describe(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number, float64, int, int64:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return "a value of an unexpected type"
}
