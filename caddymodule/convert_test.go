package caddymodule

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/adapter/change"
	"github.com/caddy-scim/caddy-scim/plugins/sdk"
)

func TestToSDK(t *testing.T) {
	var res map[string]any
	if err := json.Unmarshal([]byte(`{
		"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
		"id":"u1","externalId":"e1","userName":"bjensen@example.com","active":false,
		"name":{"givenName":"Barbara","familyName":"Jensen","middleName":"J","formatted":"Barbara J Jensen"},
		"displayName":"Babs","nickName":"B","title":"CEO","userType":"Employee","locale":"nb-NO","preferredLanguage":"nb","timezone":"Europe/Oslo",
		"emails":[{"value":"home@example.com","type":"home"},{"value":"work@example.com","type":"work"}],
		"phoneNumbers":[{"value":"+47 1","type":"mobile","primary":true},{"value":"+47 2","type":"work"}],
		"addresses":[{"type":"work","locality":"Oslo","country":"NO","primary":true}],
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"701","costCenter":"CC","organization":"O","division":"D","department":"Sales","manager":{"value":"m1"}}
	}`), &res); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	c := toSDK(change.Event{Seq: 7, Tenant: "acme", Time: at, Kind: change.UserDeactivated, ResourceType: "User", ID: "u1", Resource: res, Changed: []string{"active"}})
	if c.Seq != 7 || c.Tenant != "acme" || !c.Time.Equal(at) || c.Kind != sdk.UserDeactivated || !reflect.DeepEqual(c.Changed, []string{"active"}) || c.Group != nil {
		t.Fatalf("change = %+v", c)
	}
	u := c.User
	want := sdk.User{
		ID: "u1", ExternalID: "e1", UserName: "bjensen@example.com", Active: false,
		GivenName: "Barbara", FamilyName: "Jensen", MiddleName: "J", FormattedName: "Barbara J Jensen",
		DisplayName: "Babs", NickName: "B", Title: "CEO", UserType: "Employee", Locale: "nb-NO", Language: "nb", Timezone: "Europe/Oslo",
		Email:          "work@example.com",
		Emails:         []sdk.Email{{Value: "home@example.com", Type: "home"}, {Value: "work@example.com", Type: "work"}},
		Phone:          "+47 1",
		PhoneNumbers:   []sdk.Phone{{Value: "+47 1", Type: "mobile", Primary: true}, {Value: "+47 2", Type: "work"}},
		Addresses:      []sdk.Address{{Type: "work", Locality: "Oslo", Country: "NO", Primary: true}},
		EmployeeNumber: "701", CostCenter: "CC", Organization: "O", Division: "D", Department: "Sales", ManagerID: "m1",
	}
	got := *u
	got.Attributes = nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("user\n got %+v\nwant %+v", got, want)
	}
	if v, ok := u.Attr(`ADDRESSES[type eq "work"].locality`); !ok || v != "Oslo" {
		t.Errorf("flattened work locality = %q, %v", v, ok)
	}
	if v, _ := u.Attr("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter"); v != "CC" {
		t.Errorf("flattened costCenter = %q", v)
	}

	g := toSDK(change.Event{Seq: 8, Kind: change.MembersAdded, ResourceType: "Group", ID: "g1",
		Resource: map[string]any{"displayName": "Sales", "externalId": "x"}, Members: []change.Member{{ID: "u1", Type: "User"}}})
	if g.Group == nil || g.Group.DisplayName != "Sales" || g.Group.ExternalID != "x" || g.User != nil ||
		!reflect.DeepEqual(g.Members, []sdk.Member{{ID: "u1", Type: "User"}}) {
		t.Errorf("group change = %+v", g)
	}
	// A user with no email, phone or active flag.
	c = toSDK(change.Event{Kind: change.UserCreated, ResourceType: "User", ID: "u2", Resource: map[string]any{"userName": "x"}})
	if c.User.Email != "" || c.User.Phone != "" || !c.User.Active {
		t.Errorf("sparse user = %+v", c.User)
	}
}

// TestKindsAgree pins that the SDK's change kinds spell the journal's,
// since toSDK converts one into the other by value.
func TestKindsAgree(t *testing.T) {
	pairs := map[change.Kind]sdk.Kind{
		change.UserCreated: sdk.UserCreated, change.UserUpdated: sdk.UserUpdated,
		change.UserDeactivated: sdk.UserDeactivated, change.UserReactivated: sdk.UserReactivated,
		change.UserDeleted: sdk.UserDeleted, change.GroupCreated: sdk.GroupCreated,
		change.GroupUpdated: sdk.GroupUpdated, change.GroupDeleted: sdk.GroupDeleted,
		change.MembersAdded: sdk.MembersAdded, change.MembersRemoved: sdk.MembersRemoved,
	}
	for k, want := range pairs {
		if got := toSDK(change.Event{Kind: k, ResourceType: "User"}).Kind; got != want {
			t.Errorf("%s became %s, want %s", k, got, want)
		}
	}
}
