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
//   - arrays and objects nested deeper than MaxDepth levels: 400 invalidValue,
//     found by a scan before decoding, so a very deep body costs one pass;
//   - a string, value or member name, longer than MaxString bytes: 400
//     invalidValue naming where;
//   - a control character U+0000–U+001F other than tab, line feed and
//     carriage return, or U+007F, in any string value or member name: 400
//     invalidValue naming where, by JSON location such as emails[0].value.
//
// Details never quote the offending value. Numbers are decoded as
// json.Number, so integers survive untouched.
package scimjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
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
	if err := l.scan(body); err != nil {
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
	w := walker{max: l.MaxString}
	if err := w.value(v); err != nil {
		return nil, err
	}
	return v, nil
}

func isSpace(b byte) bool { return b == ' ' || b == '\t' || b == '\n' || b == '\r' }

// scan checks, in one pass before decoding, that body is valid UTF-8, that
// its \u escapes are not lone surrogates and that it does not nest deeper
// than allowed. Syntax is left to encoding/json.
func (l Limits) scan(body []byte) error {
	limit := l.MaxDepth + l.Envelope
	depth := 0
	inString := false
	for i := 0; i < len(body); {
		b := body[i]
		if b >= utf8.RuneSelf {
			r, size := utf8.DecodeRune(body[i:])
			if r == utf8.RuneError && size <= 1 {
				return scimerr.BadRequest(scimerr.InvalidSyntax,
					"the request body is not valid UTF-8 at byte %d; send text encoded as UTF-8", i)
			}
			i += size
			continue
		}
		if inString {
			switch b {
			case '"':
				inString = false
			case '\\':
				if i+1 < len(body) && body[i+1] == 'u' {
					n, err := surrogateEscape(body, i)
					if err != nil {
						return err
					}
					i += n
					continue
				}
				i += 2
				continue
			}
			i++
			continue
		}
		switch b {
		case '"':
			inString = true
		case '{', '[':
			depth++
			if depth > limit {
				return l.tooDeep(i)
			}
		case '}', ']':
			if depth > 0 {
				depth--
			}
		}
		i++
	}
	return nil
}

func (l Limits) tooDeep(at int) error {
	if l.Envelope == 0 {
		return scimerr.BadRequest(scimerr.InvalidValue,
			"the request body nests arrays and objects deeper than %d levels, at byte %d; %d is the limit", l.MaxDepth, at, l.MaxDepth)
	}
	return scimerr.BadRequest(scimerr.InvalidValue,
		"the request body nests arrays and objects deeper than %d levels, at byte %d; a value may nest at most %d levels inside the %d levels of the message around it",
		l.MaxDepth+l.Envelope, at, l.MaxDepth, l.Envelope)
}

// surrogateEscape checks the \u escape at body[i] and returns how many bytes
// it and a low surrogate escape that completes it take. A malformed escape
// is left to encoding/json, which reports it as a syntax error.
func surrogateEscape(body []byte, i int) (int, error) {
	r, ok := hex4(body, i)
	if !ok {
		return 2, nil
	}
	switch {
	case r >= 0xDC00 && r <= 0xDFFF:
		return 0, loneSurrogate(i)
	case r >= 0xD800 && r <= 0xDBFF:
		if len(body) < i+12 || body[i+6] != '\\' || body[i+7] != 'u' {
			return 0, loneSurrogate(i)
		}
		lo, ok := hex4(body, i+6)
		if !ok || lo < 0xDC00 || lo > 0xDFFF {
			return 0, loneSurrogate(i)
		}
		return 12, nil
	}
	return 6, nil
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

// walker checks the strings of a decoded value, keeping the JSON location
// it is at for the detail of an error.
type walker struct {
	max  int
	path []step
}

// step is one step of a JSON location: a member name or an array index.
type step struct {
	key   string
	index int
}

func (w *walker) value(v any) error {
	switch x := v.(type) {
	case string:
		return w.str(x)
	case []any:
		for i, el := range x {
			w.path = append(w.path, step{index: i})
			if err := w.value(el); err != nil {
				return err
			}
			w.path = w.path[:len(w.path)-1]
		}
	case map[string]any:
		// In name order, so that a body with several problems always gets
		// the same detail.
		for _, k := range slices.Sorted(maps.Keys(x)) {
			if err := w.key(k); err != nil {
				return err
			}
			w.path = append(w.path, step{key: k, index: -1})
			if err := w.value(x[k]); err != nil {
				return err
			}
			w.path = w.path[:len(w.path)-1]
		}
	}
	return nil
}

func (w *walker) str(s string) error {
	if len(s) > w.max {
		return scimerr.BadRequest(scimerr.InvalidValue,
			"%s is a string of %d bytes; a string may be at most %d bytes", w.where(), len(s), w.max)
	}
	if i, r, bad := Control(s); bad {
		return scimerr.BadRequest(scimerr.InvalidValue,
			"%s holds the control character %s at byte %d of the string; only tab, line feed and carriage return are accepted",
			w.where(), CodePoint(r), i)
	}
	return nil
}

func (w *walker) key(k string) error {
	if len(k) > w.max {
		return scimerr.BadRequest(scimerr.InvalidValue,
			"a member name in %s is %d bytes long; a string may be at most %d bytes", w.where(), len(k), w.max)
	}
	if _, r, bad := Control(k); bad {
		return scimerr.BadRequest(scimerr.InvalidValue,
			"a member name in %s holds the control character %s; member names may not hold control characters",
			w.where(), CodePoint(r))
	}
	return nil
}

// Control finds the first control character that no string of a request
// may hold: U+0000–U+001F other than tab, line feed and carriage return,
// and U+007F. It returns its byte offset in s and the character.
func Control(s string) (at int, r rune, found bool) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7F {
			return i, rune(c), true
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

// where names the walker's location: "userName", "emails[0].value", or
// "the request body" at the top.
func (w *walker) where() string {
	if len(w.path) == 0 {
		return "the request body"
	}
	return location(w.path)
}

// location renders a JSON location from its steps.
func location(path []step) string {
	var b strings.Builder
	for i, s := range path {
		if s.index >= 0 {
			b.WriteString("[" + strconv.Itoa(s.index) + "]")
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(scimerr.Clip(s.key, 64))
	}
	return scimerr.Clip(b.String(), 256)
}

// Describe names the JSON type of a decoded value for an error detail:
// "a string", "a number", "an object", and so on.
func Describe(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number, float64:
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
