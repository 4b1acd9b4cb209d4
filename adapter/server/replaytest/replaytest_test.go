package replaytest

import (
	"encoding/json"
	"strings"
	"testing"
)

func decode(t *testing.T, s string) any {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestContains checks that the matcher can fail: a checker that always
// passes would make every fixture meaningless.
func TestContains(t *testing.T) {
	got := decode(t, `{"a":1,"b":"x","c":[{"v":1},{"v":2}],"d":true}`)
	tests := []struct {
		want  string
		match bool
	}{
		{`{"a":1}`, true},
		{`{"c":[{},{"v":2}]}`, true},
		{`{"a":2}`, false},
		{`{"a":"1"}`, false}, // a number is not a string
		{`{"b":"y"}`, false},
		{`{"z":1}`, false},
		{`{"c":[{"v":1}]}`, false}, // arrays must have equal length
		{`{"d":false}`, false},
		{`{"c":{"v":1}}`, false},
	}
	for _, tt := range tests {
		if msg := contains(got, decode(t, tt.want), "$"); (msg == "") != tt.match {
			t.Errorf("contains(%s) = %q, want match=%v", tt.want, msg, tt.match)
		}
	}
}

func TestDig(t *testing.T) {
	got := decode(t, `{"Resources":[{"id":"x"}],"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":{"value":"m"}}}`)
	if v, ok := dig(got, "Resources.0.id"); !ok || v != "x" {
		t.Errorf("Resources.0.id = %v, %v", v, ok)
	}
	if v, ok := dig(got, "[urn:ietf:params:scim:schemas:extension:enterprise:2.0:User].manager.value"); !ok || v != "m" {
		t.Errorf("bracketed URN = %v, %v", v, ok)
	}
	for _, p := range []string{"Resources.1.id", "Resources.x", "missing", "Resources.0.id.deeper"} {
		if _, ok := dig(got, p); ok {
			t.Errorf("%s found", p)
		}
	}
}
