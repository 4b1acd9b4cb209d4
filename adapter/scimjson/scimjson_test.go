package scimjson

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/adapter/scimerr"
)

func nested(open, close string, n int) string {
	return strings.Repeat(open, n) + strings.Repeat(close, n)
}

func TestDecodeRefuses(t *testing.T) {
	long := strings.Repeat("a", MaxString+1)
	cases := []struct {
		name     string
		body     string
		scimType string
		detail   []string // each must appear in the detail
		not      string   // must not appear in the detail
	}{
		{name: "empty", body: "", scimType: scimerr.InvalidSyntax, detail: []string{"not valid JSON", "empty"}},
		{name: "whitespace only", body: " \r\n\t", scimType: scimerr.InvalidSyntax, detail: []string{"empty"}},
		{name: "trailing brace", body: `{"userName":"a"}}`, scimType: scimerr.InvalidSyntax, detail: []string{"data after", "byte 16"}},
		{name: "trailing bracket", body: `{"userName":"a"}]`, scimType: scimerr.InvalidSyntax, detail: []string{"data after", "byte 16"}},
		{name: "trailing bracket after space", body: "{\"a\":1} \n]", scimType: scimerr.InvalidSyntax, detail: []string{"byte 9"}},
		{name: "second object", body: `{"a":1}{"b":2}`, scimType: scimerr.InvalidSyntax, detail: []string{"data after", "byte 7"}},
		{name: "second scalar", body: `{"a":1} 2`, scimType: scimerr.InvalidSyntax, detail: []string{"data after"}},
		{name: "trailing garbage word", body: `{"a":1}x`, scimType: scimerr.InvalidSyntax, detail: []string{"data after"}},
		{name: "trailing NUL byte", body: "{\"a\":1}\x00", scimType: scimerr.InvalidSyntax, detail: []string{"data after"}},
		{name: "syntax error", body: `{"a":}`, scimType: scimerr.InvalidSyntax, detail: []string{"not valid JSON", "byte 5"}},
		{name: "truncated", body: `{"a":[1,`, scimType: scimerr.InvalidSyntax, detail: []string{"not valid JSON"}},
		{name: "invalid UTF-8 in value", body: "{\"userName\":\"bj\xffensen\"}", scimType: scimerr.InvalidSyntax, detail: []string{"not valid UTF-8", "byte 15"}, not: "\xff"},
		{name: "invalid UTF-8 in key", body: "{\"user\xc3Name\":\"a\"}", scimType: scimerr.InvalidSyntax, detail: []string{"not valid UTF-8", "byte 6"}},
		{name: "invalid UTF-8 outside string", body: "{\"a\":1,\xe2}", scimType: scimerr.InvalidSyntax, detail: []string{"not valid UTF-8", "byte 7"}},
		{name: "truncated UTF-8 sequence at end", body: "{\"a\":\"x\"}\xe2\x82", scimType: scimerr.InvalidSyntax, detail: []string{"not valid UTF-8", "byte 9"}},
		{name: "overlong encoding", body: "{\"a\":\"\xc0\xaf\"}", scimType: scimerr.InvalidSyntax, detail: []string{"not valid UTF-8", "byte 6"}},
		{name: "UTF-8 encoded surrogate", body: "{\"a\":\"\xed\xa0\x80\"}", scimType: scimerr.InvalidSyntax, detail: []string{"not valid UTF-8", "byte 6"}},
		{name: "lone high surrogate escape", body: `{"a":"x\ud800"}`, scimType: scimerr.InvalidSyntax, detail: []string{"surrogate", "byte 7"}},
		{name: "lone low surrogate escape", body: `{"a":"\udc00"}`, scimType: scimerr.InvalidSyntax, detail: []string{"surrogate", "byte 6"}},
		{name: "high surrogate then non-surrogate escape", body: `{"a":"\ud800\u0041"}`, scimType: scimerr.InvalidSyntax, detail: []string{"surrogate"}},
		{name: "lone surrogate in key", body: `{"\ud83d":1}`, scimType: scimerr.InvalidSyntax, detail: []string{"surrogate", "byte 2"}},
		{name: "too deep arrays", body: nested("[", "]", MaxDepth+1), scimType: scimerr.InvalidValue, detail: []string{"deeper than 32 levels", "byte 32"}},
		{name: "too deep objects", body: `{"a":` + strings.Repeat(`{"a":`, MaxDepth) + "1" + strings.Repeat("}", MaxDepth+1), scimType: scimerr.InvalidValue, detail: []string{"deeper than 32"}},
		{name: "ten thousand levels", body: nested(`[`, `]`, 10000), scimType: scimerr.InvalidValue, detail: []string{"deeper than 32"}},
		{name: "unclosed deep body", body: strings.Repeat(`{"x":[`, 40), scimType: scimerr.InvalidValue, detail: []string{"deeper than 32"}},
		{name: "string too long", body: `{"name":{"givenName":"` + long + `"}}`, scimType: scimerr.InvalidValue, detail: []string{"name.givenName", "65537 bytes", "at most 65536"}},
		{name: "escaped string too long", body: `{"a":"` + strings.Repeat(`\u00e9`, MaxString/2+1) + `"}`, scimType: scimerr.InvalidValue, detail: []string{"a is a string of 65538 bytes"}},
		{name: "member name too long", body: `{"` + long + `":1}`, scimType: scimerr.InvalidValue, detail: []string{"member name", "the request body", "65537"}},
		{name: "NUL in userName", body: `{"userName":"bjensen\u0000"}`, scimType: scimerr.InvalidValue, detail: []string{"userName", "U+0000", "byte 7"}},
		{name: "backspace escape", body: `{"userName":"a\bb"}`, scimType: scimerr.InvalidValue, detail: []string{"userName", "U+0008"}},
		{name: "form feed escape", body: `{"displayName":"\f"}`, scimType: scimerr.InvalidValue, detail: []string{"displayName", "U+000C"}},
		{name: "unit separator", body: `{"a":"\u001f"}`, scimType: scimerr.InvalidValue, detail: []string{"U+001F"}},
		{name: "raw DEL", body: "{\"userName\":\"a\x7fb\"}", scimType: scimerr.InvalidValue, detail: []string{"userName", "U+007F"}, not: "\x7f"},
		{name: "escaped DEL", body: `{"userName":"\u007f"}`, scimType: scimerr.InvalidValue, detail: []string{"U+007F"}},
		{name: "control in array element", body: `{"emails":[{"value":"a@example.com"},{"value":"b\u0001@example.com"}]}`, scimType: scimerr.InvalidValue, detail: []string{"emails[1].value", "U+0001"}, not: "example"},
		{name: "control deep in extension", body: `{"urn:ietf:params:scim:schemas:extension:acme:2.0:User":{"tags":[["x","\u0002"]]}}`, scimType: scimerr.InvalidValue, detail: []string{"urn:ietf:params:scim:schemas:extension:acme:2.0:User.tags[0][1]"}},
		{name: "control in member name", body: `{"emails":[{"val\u0000ue":"a"}]}`, scimType: scimerr.InvalidValue, detail: []string{"member name in emails[0]", "U+0000"}},
		{name: "control in top-level member name", body: `{"\u0007":1}`, scimType: scimerr.InvalidValue, detail: []string{"member name in the request body", "U+0007"}},
		{name: "control in top-level string", body: `"\u0000"`, scimType: scimerr.InvalidValue, detail: []string{"the request body holds"}},
		{name: "member twice", body: `{"userName":"a","userName":"b"}`, scimType: scimerr.InvalidValue, detail: []string{`the request body names the member "userName" twice (at bytes 1 and 16)`}},
		{name: "member twice, once escaped", body: `{"userName":"a","user\u004eame":"b"}`, scimType: scimerr.InvalidValue, detail: []string{`"userName" twice`}},
		{name: "member twice in a nested object", body: `{"emails":[{"value":"a"},{"value":"b","value":"c"}]}`, scimType: scimerr.InvalidValue, detail: []string{`the object at emails[1] names the member "value" twice`}},
		{name: "op twice", body: `{"Operations":[{"op":"replace","op":"remove","path":"title"}]}`, scimType: scimerr.InvalidValue, detail: []string{`Operations[0] names the member "op" twice`}},
		{name: "member twice in two cases", body: `{"userName":"a","USERNAME":"b"}`, scimType: scimerr.InvalidValue, detail: []string{`names the members "userName" and "USERNAME" (at bytes 1 and 16)`, "case-insensitive"}},
		{name: "member twice in two cases in a nested object", body: `{"emails":[{"value":"a"},{"value":"b","Value":"c"}]}`, scimType: scimerr.InvalidValue, detail: []string{`the object at emails[1] names the members "value" and "Value"`}},
		{name: "non-ASCII member twice in two cases", body: `{"straße":1,"STRASSE":2,"Straße":3}`, scimType: scimerr.InvalidValue, detail: []string{`"straße" and "Straße"`}},
		{name: "member twice in two cases among many", body: manyMembers(40, `"K39":1`), scimType: scimerr.InvalidValue, detail: []string{`"k39" and "K39"`}},
		{name: "member twice after a nested object", body: `{"a":{"b":1,"c":2},"a":2}`, scimType: scimerr.InvalidValue, detail: []string{`"a" twice`}},
		{name: "member twice among many", body: manyMembers(40, `"k39":1`), scimType: scimerr.InvalidValue, detail: []string{`"k39" twice`}},
		{name: "member twice among many, the first", body: manyMembers(40, `"k0":1`), scimType: scimerr.InvalidValue, detail: []string{`"k0" twice`}},
		{name: "first problem wins", body: `{"a":"\u0001","a":1}`, scimType: scimerr.InvalidValue, detail: []string{"a holds"}},
		{name: "control in PatchOp value", body: `{"Operations":[{"op":"add","path":"title","value":"x\u001by"}]}`, scimType: scimerr.InvalidValue, detail: []string{"Operations[0].value"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, err := Decode([]byte(tc.body))
			if err == nil {
				t.Fatalf("Decode accepted it: %#v", v)
			}
			e, ok := scimerr.As(err)
			if !ok {
				t.Fatalf("error is not a SCIM error: %v", err)
			}
			if e.Status != http.StatusBadRequest || e.ScimType != tc.scimType {
				t.Errorf("got %d %q, want 400 %q: %s", e.Status, e.ScimType, tc.scimType, e.Detail)
			}
			for _, d := range tc.detail {
				if !strings.Contains(e.Detail, d) {
					t.Errorf("detail %q does not contain %q", e.Detail, d)
				}
			}
			if tc.not != "" && strings.Contains(e.Detail, tc.not) {
				t.Errorf("detail %q echoes %q", e.Detail, tc.not)
			}
		})
	}
}

func TestDecodeAccepts(t *testing.T) {
	cases := []struct {
		name string
		body string
		want any
	}{
		{name: "object", body: `{"userName":"bjensen"}`, want: map[string]any{"userName": "bjensen"}},
		{name: "surrounding whitespace", body: " \r\n\t{\"a\":1}\n\r\t ", want: map[string]any{"a": json.Number("1")}},
		{name: "numbers kept as written", body: `{"n":12345678901234567890,"f":1.50,"e":1e3}`,
			want: map[string]any{"n": json.Number("12345678901234567890"), "f": json.Number("1.50"), "e": json.Number("1e3")}},
		{name: "tab, line feed and carriage return", body: `{"formatted":"a\tb\nc\r\n"}`, want: map[string]any{"formatted": "a\tb\nc\r\n"}},
		{name: "raw tab in string is not JSON but escaped is", body: `{"a":"\t"}`, want: map[string]any{"a": "\t"}},
		{name: "non-ASCII", body: `{"userName":"Bärbel","displayName":"東京","x":"😀"}`,
			want: map[string]any{"userName": "Bärbel", "displayName": "東京", "x": "😀"}},
		{name: "escaped surrogate pair", body: `{"x":"\ud83d\ude00"}`, want: map[string]any{"x": "😀"}},
		{name: "escaped backslash before u", body: `{"x":"\\ud800"}`, want: map[string]any{"x": `\ud800`}},
		{name: "brackets inside strings do not nest", body: `{"x":"` + strings.Repeat("[{", 100) + `"}`, want: map[string]any{"x": strings.Repeat("[{", 100)}},
		{name: "C1 control is not refused", body: `{"x":"\u0085"}`, want: map[string]any{"x": "\u0085"}},
		{name: "string at the limit", body: `{"x":"` + strings.Repeat("a", MaxString) + `"}`, want: map[string]any{"x": strings.Repeat("a", MaxString)}},
		{name: "top-level array", body: `[1,"a",null,true]`, want: []any{json.Number("1"), "a", nil, true}},
		{name: "top-level scalar", body: `"a"`, want: "a"},
		{name: "same name in different objects", body: `{"a":{"a":1},"b":[{"a":1},{"a":2}]}`,
			want: map[string]any{"a": map[string]any{"a": json.Number("1")}, "b": []any{map[string]any{"a": json.Number("1")}, map[string]any{"a": json.Number("2")}}}},
		{name: "same name inside and outside a nested object", body: `{"a":{"x":1},"x":2}`, want: map[string]any{"a": map[string]any{"x": json.Number("1")}, "x": json.Number("2")}},
		{name: "many members", body: manyMembers(40, `"x":1`), want: manyMembersWant(40)},
		{name: "empty containers", body: `{"a":[],"b":{}}`, want: map[string]any{"a": []any{}, "b": map[string]any{}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Decode([]byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
		})
	}
}

// manyMembers is an object with members k0 to k(n-1) and then extra.
func manyMembers(n int, extra string) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		fmt.Fprintf(&b, `"k%d":%d,`, i, i)
	}
	return b.String() + extra + "}"
}

func manyMembersWant(n int) map[string]any {
	m := map[string]any{"x": json.Number("1")}
	for i := range n {
		m[fmt.Sprintf("k%d", i)] = json.Number(fmt.Sprint(i))
	}
	return m
}

// TestManyMembersAreCheap pins that telling repeated names apart does not
// grow with the square of an object's size.
func TestManyMembersAreCheap(t *testing.T) {
	body := []byte(manyMembers(50000, `"x":1`))
	start := time.Now()
	if _, err := Decode(body); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("an object of 50,000 members took %v", d)
	}
}

func TestDepthLimit(t *testing.T) {
	cases := []struct {
		name   string
		limits Limits
		depth  int
		ok     bool
	}{
		{name: "at the limit", limits: Default, depth: MaxDepth, ok: true},
		{name: "one over", limits: Default, depth: MaxDepth + 1},
		{name: "envelope allows its levels", limits: Limits{MaxDepth: MaxDepth, MaxString: MaxString, Envelope: 3}, depth: MaxDepth + 3, ok: true},
		{name: "envelope one over", limits: Limits{MaxDepth: MaxDepth, MaxString: MaxString, Envelope: 3}, depth: MaxDepth + 4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := strings.Repeat(`{"a":`, tc.depth-1) + "[1]" + strings.Repeat("}", tc.depth-1)
			_, err := tc.limits.Decode([]byte(body))
			if tc.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tc.ok {
				e, ok := scimerr.As(err)
				if !ok || e.ScimType != scimerr.InvalidValue || !strings.Contains(e.Detail, "32") {
					t.Fatalf("got %v, want 400 invalidValue naming 32", err)
				}
			}
		})
	}
}

// TestDeepBodyIsCheap pins that the depth limit is found before decoding:
// a body a mebibyte deep is refused without building anything.
func TestDeepBodyIsCheap(t *testing.T) {
	body := bytes.Repeat([]byte("["), 1<<20)
	allocs := testing.AllocsPerRun(5, func() {
		if _, err := Decode(body); err == nil {
			t.Fatal("accepted")
		}
	})
	if allocs > 20 {
		t.Errorf("refusing a deep body took %v allocations", allocs)
	}
	start := time.Now()
	_, _ = Decode(body)
	if d := time.Since(start); d > time.Second {
		t.Errorf("refusing a deep body took %v", d)
	}
}

func TestDecodeObject(t *testing.T) {
	cases := []struct {
		name   string
		body   string
		detail string
	}{
		{name: "array", body: `[{"a":1}]`, detail: "must be a JSON object; got an array"},
		{name: "string", body: `"x"`, detail: "got a string"},
		{name: "null", body: `null`, detail: "got null"},
		{name: "number", body: `1`, detail: "got a number"},
		{name: "boolean", body: `true`, detail: "got a boolean"},
		{name: "object", body: `{"a":1}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := DecodeObject([]byte(tc.body))
			if tc.detail == "" {
				if err != nil || m == nil {
					t.Fatalf("got %v, %v", m, err)
				}
				return
			}
			e, ok := scimerr.As(err)
			if !ok || e.Status != 400 || e.ScimType != scimerr.InvalidSyntax || !strings.Contains(e.Detail, tc.detail) {
				t.Fatalf("got %v, want 400 invalidSyntax with %q", err, tc.detail)
			}
		})
	}
}

// TestFirstProblemInDocumentOrder pins that a body with several problems
// gets the detail of the first one, on every decode.
func TestFirstProblemInDocumentOrder(t *testing.T) {
	body := []byte(`{"e":"\u0001","d":"\u0001","c":"\u0001","b":"\u0001","a":"\u0001"}`)
	for range 50 {
		_, err := Decode(body)
		if e, _ := scimerr.As(err); e == nil || !strings.HasPrefix(e.Detail, "e holds") {
			t.Fatalf("got %v, want the first member of the body", err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"userName":"bjensen","emails":[{"value":"b@example.com","primary":true}]}`,
		`{"a":1}}`, `{"a":1}]`, "{\"a\":\"\xff\"}", `{"a":"\u0000"}`, `{"a":"\ud800"}`,
		`{"a":"\ud83d\ude00"}`, `[[[[[[]]]]]]`, `{"Operations":[{"op":"add","value":{"x":1.5e3}}]}`,
		`"\t\n\r"`, `null`, `{"a":1,"A":2}`, `{"a":{"b":[]},"c":{}}`, `{"k":1,"\u212a":2}`, `{"a":"\u007f"}`, "{\"a\":\"\x7f\"}", ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		v, err := Decode(body)
		if err != nil {
			if e, ok := scimerr.As(err); !ok || e.Status != http.StatusBadRequest || e.Detail == "" {
				t.Fatalf("error %v is not a 400 SCIM error with a detail", err)
			}
			return
		}
		// An accepted body re-encodes to one that is accepted and decodes
		// to the same value.
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			t.Fatalf("accepted value does not encode: %v", err)
		}
		again, err := Decode(buf.Bytes())
		if err != nil {
			t.Fatalf("re-encoded body %q refused: %v", buf.Bytes(), err)
		}
		if !reflect.DeepEqual(v, again) {
			t.Fatalf("re-decoded %#v, want %#v", again, v)
		}
		// What is accepted is valid JSON that encoding/json reads alike.
		d := json.NewDecoder(bytes.NewReader(body))
		d.UseNumber()
		var std any
		if err := d.Decode(&std); err != nil {
			t.Fatalf("accepted %q, which encoding/json refuses: %v", body, err)
		}
		if !reflect.DeepEqual(v, std) {
			t.Fatalf("decoded %#v, encoding/json %#v", v, std)
		}
		if a, b, ok := sameNames(v); ok {
			t.Fatalf("accepted an object with members %q and %q", a, b)
		}
	})
}

// BenchmarkDecodeUsers decodes a body of about a mebibyte, the default
// body limit.
func BenchmarkDecodeUsers(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"Operations":[`)
	for i := 0; sb.Len() < 1<<20; i++ {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"method":"POST","path":"/Users","data":{"userName":"user%d@example.com","name":{"givenName":"G","familyName":"F"},"emails":[{"value":"user%d@example.com","primary":true}],"active":true}}`, i, i)
	}
	sb.WriteString(`]}`)
	body := []byte(sb.String())
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := Decode(body); err != nil {
			b.Fatal(err)
		}
	}
}

// sameNames finds two members of one object in v whose names are the same
// but for case.
func sameNames(v any) (string, string, bool) {
	switch x := v.(type) {
	case []any:
		for _, el := range x {
			if a, b, ok := sameNames(el); ok {
				return a, b, true
			}
		}
	case map[string]any:
		for k, el := range x {
			for k2 := range x {
				if k != k2 && strings.EqualFold(k, k2) {
					return k, k2, true
				}
			}
			if a, b, ok := sameNames(el); ok {
				return a, b, true
			}
		}
	}
	return "", "", false
}
