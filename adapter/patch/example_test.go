package patch_test

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/caddy-scim/caddy-scim/adapter/patch"
	"github.com/caddy-scim/caddy-scim/adapter/schema"
)

// Entra ID fills a work address one sub-attribute at a time and sends its
// booleans as strings; the result is one address and a real boolean.
func ExampleApply() {
	user := map[string]any{
		"id":       "2819c223-7f76-453a-919d-413861904646",
		"userName": "adele@contoso.example",
		"active":   true,
	}
	req, err := patch.Decode([]byte(`{
	  "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
	  "Operations": [
	    {"op": "Add", "path": "addresses[type eq \"work\"].locality", "value": "Redmond"},
	    {"op": "Add", "path": "addresses[type eq \"work\"].postalCode", "value": "98052"},
	    {"op": "Replace", "path": "active", "value": "False"}
	  ]
	}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := patch.Apply(context.Background(), schema.User, user, req.Operations, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	out, _ := json.Marshal(map[string]any{"active": res.Resource["active"], "addresses": res.Resource["addresses"]})
	fmt.Println(string(out))
	// Output:
	// {"active":false,"addresses":[{"locality":"Redmond","postalCode":"98052","type":"work"}]}
}

// Entra ID's default dialect removes group members with a value array and
// no filter: only the listed ids leave the group.
func ExampleApply_members() {
	group := map[string]any{"id": "e9e30dba", "displayName": "Tour Guides"}
	req, _ := patch.Decode([]byte(`{"Operations":[
	  {"op":"Remove","path":"members","value":[{"value":"2819c223"}]},
	  {"op":"Add","path":"members","value":[{"value":"902c246b"}]}
	]}`))
	res, err := patch.Apply(context.Background(), schema.Group, group, req.Operations, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("clear=%v add=%v remove=%v\n", res.Members.Clear, res.Members.Add, res.Members.Remove)
	// Output:
	// clear=false add=[{902c246b  }] remove=[2819c223]
}
