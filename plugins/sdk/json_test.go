package sdk_test

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/caddy-scim/caddy-scim/plugins/sdk"
)

// changeJSONDoc is the reference page of a change's JSON form.
const changeJSONDoc = "../../docs/change-json.md"

// TestChangeJSONDocumented checks the reference page against the types:
// every field of a change and of its parts has a row with its key, its
// Go field and whether it is always present, every row is such a field,
// and every kind is listed.
func TestChangeJSONDocumented(t *testing.T) {
	doc := readDoc(t)
	type row struct {
		key, field string
		always     bool
	}
	documented := map[row]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `(\\w+)` \\| ([^|]*) \\| `(\\w+)` \\|").FindAllStringSubmatch(doc, -1) {
		documented[row{m[1], m[3], strings.HasSuffix(m[2], ", always")}] = true
	}
	fields := map[row]bool{}
	for _, v := range []any{sdk.Change{}, sdk.User{}, sdk.Email{}, sdk.Phone{}, sdk.Address{}, sdk.Group{}, sdk.Member{}} {
		typ := reflect.TypeOf(v)
		for f := range typ.Fields() {
			key, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			if key == "" || key == "-" {
				t.Errorf("%s.%s has no JSON key", typ.Name(), f.Name)
				continue
			}
			r := row{key, f.Name, opts != "omitempty"}
			fields[r] = true
			if !documented[r] {
				t.Errorf("%s: no row | `%s` | …%s | `%s` | for %s.%s", changeJSONDoc, key, map[bool]string{true: ", always"}[r.always], f.Name, typ.Name(), f.Name)
			}
		}
	}
	for r := range documented {
		if !fields[r] {
			t.Errorf("%s documents key %q (Go field %s, always %v), which no field of a change has", changeJSONDoc, r.key, r.field, r.always)
		}
	}
	for _, k := range []sdk.Kind{sdk.UserCreated, sdk.UserUpdated, sdk.UserDeactivated, sdk.UserReactivated, sdk.UserDeleted,
		sdk.GroupCreated, sdk.GroupUpdated, sdk.GroupDeleted, sdk.MembersAdded, sdk.MembersRemoved} {
		if !strings.Contains(doc, "| `"+string(k)+"` |") {
			t.Errorf("%s does not list the kind %s", changeJSONDoc, k)
		}
	}
}

// TestChangeJSONExamples decodes each example of the reference page into
// an sdk.Change, refusing unknown keys, and checks that encoding it again
// gives the example as written.
func TestChangeJSONExamples(t *testing.T) {
	blocks := regexp.MustCompile("(?s)```json\n(.*?)\n```").FindAllStringSubmatch(readDoc(t), -1)
	if len(blocks) < 2 {
		t.Fatalf("%s has %d JSON examples, want a user change and a membership change", changeJSONDoc, len(blocks))
	}
	kinds := map[sdk.Kind]bool{}
	for _, b := range blocks {
		dec := json.NewDecoder(strings.NewReader(b[1]))
		dec.DisallowUnknownFields()
		var c sdk.Change
		if err := dec.Decode(&c); err != nil {
			t.Errorf("an example does not decode into an sdk.Change: %v\n%s", err, b[1])
			continue
		}
		kinds[c.Kind] = true
		again, err := json.MarshalIndent(c, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again, []byte(b[1])) {
			t.Errorf("the example of change %d encodes as\n%s\nnot as written:\n%s", c.Seq, again, b[1])
		}
	}
	if !kinds[sdk.UserUpdated] || !kinds[sdk.MembersAdded] {
		t.Errorf("the examples are of kinds %v, want a user.updated and a group.members_added", kinds)
	}
}

func readDoc(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(changeJSONDoc)
	if err != nil {
		t.Fatalf("reading the reference page: %v", err)
	}
	return string(data)
}
