package patch

import (
	"context"
	"reflect"
	"testing"

	"github.com/caddy-scim/caddy-scim/adapter/schema"
)

// TestApplyDoesNotMutateInput checks that Apply works on a copy, whether it
// succeeds or fails in a late operation, and that its result shares nothing
// with its input.
func TestApplyDoesNotMutateInput(t *testing.T) {
	tests := []struct {
		name string
		body string
	}{
		{"success", body(
			`{"op":"Replace","path":"emails[type eq \"work\"].value","value":"new@example.com"}`,
			`{"op":"Add","path":"emails","value":[{"value":"x@example.com","primary":true}]}`,
			`{"op":"replace","path":"name","value":{"givenName":"B"}}`,
			`{"op":"Remove","path":"addresses[type eq \"work\"].region"}`,
			`{"op":"Replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":""}`,
			`{"op":"add","path":"urn:example:ext:User:tags","value":["a"]}`,
		)},
		{"failure-in-last-operation", body(
			`{"op":"Replace","path":"emails[type eq \"work\"].value","value":"new@example.com"}`,
			`{"op":"remove","path":"phoneNumbers"}`,
			`{"op":"Remove","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"}`,
			`{"op":"replace","path":"id","value":"x"}`,
		)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := decodeJSON(t, sampleUser)
			pristine := decodeJSON(t, sampleUser)
			r, err := run(t, schema.User, res, tc.body, nil)
			if !reflect.DeepEqual(res, pristine) {
				t.Fatalf("Apply modified its input:\n got  %s\n want %s", mustJSON(res), mustJSON(pristine))
			}
			if err != nil {
				if r != nil {
					t.Errorf("a failed Apply returned a result")
				}
				return
			}
			r.Resource["name"].(map[string]any)["givenName"] = "changed"
			r.Resource["emails"].([]any)[0].(map[string]any)["value"] = "changed"
			if !reflect.DeepEqual(res, pristine) {
				t.Errorf("the result shares data with the input")
			}
		})
	}
}

// TestApplyDoesNotKeepOperationValues checks that editing an operation's
// value after Apply does not change the result.
func TestApplyDoesNotKeepOperationValues(t *testing.T) {
	custom := map[string]any{"k": []any{"a"}}
	emails := []any{map[string]any{"value": "a@example.com"}}
	ops := []Operation{
		{Op: "add", Path: "urn:example:ext:User:obj", Value: custom},
		{Op: "add", Path: "emails", Value: emails},
	}
	r, err := Apply(context.Background(), schema.User, decodeJSON(t, bareUser), ops, nil)
	if err != nil {
		t.Fatal(err)
	}
	before := mustJSON(r.Resource)
	custom["k"].([]any)[0] = "changed"
	emails[0].(map[string]any)["value"] = "changed"
	if after := mustJSON(r.Resource); after != before {
		t.Errorf("result changed with the request:\n before %s\n after  %s", before, after)
	}
}

// BenchmarkApplyUser applies the PATCH Entra ID sends when several
// attributes of a user change at once.
func BenchmarkApplyUser(b *testing.B) {
	req, err := Decode([]byte(body(
		`{"op":"Replace","path":"emails[type eq \"work\"].value","value":"barbara.jensen@example.com"}`,
		`{"op":"Replace","path":"name.givenName","value":"Barbara"}`,
		`{"op":"Replace","path":"name.familyName","value":"Jensen-Smith"}`,
		`{"op":"Add","path":"addresses[type eq \"work\"].locality","value":"Burbank"}`,
		`{"op":"Add","path":"addresses[type eq \"work\"].postalCode","value":"91502"}`,
		`{"op":"Add","path":"phoneNumbers[type eq \"mobile\"].value","value":"+1 555 0100"}`,
		`{"op":"Replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department","value":"Retail"}`,
		`{"op":"Replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":"f9ae9a6b-0000-4f4e-8d4e-1b0b1b0b1b0b"}`,
		`{"op":"Replace","path":"active","value":"True"}`,
	)))
	if err != nil {
		b.Fatal(err)
	}
	res := decodeJSON(b, sampleUser)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Apply(ctx, schema.User, res, req.Operations, nil); err != nil {
			b.Fatal(err)
		}
	}
}
