package printstore

import (
	"context"
	"errors"
	"testing"

	"github.com/caddy-scim/caddy-scim/plugins/sdk"
)

// TestInspectNamesTheProductsMembers inspects a product that names
// neither its groups nor anything else beyond its key.
func TestInspectNamesTheProductsMembers(t *testing.T) {
	b, ctx := testBackend(t), context.Background()
	changes := []sdk.Change{
		{Seq: 1, Kind: sdk.UserCreated, User: &sdk.User{ID: "u1", UserName: "b<j>", Title: "a & b", Active: true}},
		{Seq: 2, Kind: sdk.GroupCreated, Group: &sdk.Group{ID: "g1", DisplayName: "Sales"}},
		{Seq: 3, Kind: sdk.MembersAdded, Group: &sdk.Group{ID: "g1", DisplayName: "Sales"}, Members: []sdk.Member{{ID: "u1", Type: "User"}}},
	}
	if _, err := b.Apply(ctx, &sdk.ApplyRequest{Changes: changes}); err != nil {
		t.Fatal(err)
	}
	resp, err := b.Inspect(ctx, &sdk.InspectRequest{})
	if err != nil {
		t.Fatal(err)
	}
	// The product sets no GroupsName: "groups" it is. Strings are escaped
	// as encoding/json escapes them.
	want := `{"users":[{"login":"b\u003cj\u003e","note":"a \u0026 b","enabled":true,"cards":[],"groups":["Sales"],"scim_id":"u1"}],` +
		`"groups":[{"name":"Sales","members":["b\u003cj\u003e"]}],"retained_cards":[],"last_seq":3}`
	if string(resp.JSON) != want {
		t.Errorf("inspect\n got %s\nwant %s", resp.JSON, want)
	}
}

func TestObjectMembers(t *testing.T) {
	type ab struct {
		A string `json:"a"`
		B int    `json:"b"`
	}
	for want, o := range map[string]object{
		`{"z":1,"a":[]}`:                   {{"z", 1}, {"a", []string{}}},
		`{}`:                               {},
		`{"k":"v","a":"x","b":2,"c":true}`: {{"k", "v"}, {"", ab{"x", 2}}, {"c", true}},
		`{"k":"v"}`:                        {{"", struct{}{}}, {"k", "v"}},
		`{"a":1}`:                          {{"", map[string]int{"a": 1}}},
	} {
		if got, err := o.MarshalJSON(); err != nil || string(got) != want {
			t.Errorf("MarshalJSON = %s, %v; want %s", got, err, want)
		}
	}
	if _, err := (object{{"k", "v"}, {"", "text"}}).MarshalJSON(); !errors.Is(err, errNotObject) {
		t.Errorf("a profile that is not an object: err = %v, want %v", err, errNotObject)
	}
}
