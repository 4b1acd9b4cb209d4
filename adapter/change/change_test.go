package change

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestDiff(t *testing.T) {
	old := map[string]any{
		"userName": "a", "title": "T", "active": true, "meta": map[string]any{"version": `W/"1"`},
		"emails": []any{map[string]any{"value": "a@example.com"}},
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": map[string]any{"department": "D", "costCenter": "C"},
		"count": json.Number("1"),
	}
	new := map[string]any{
		"userName": "a", "active": true, "meta": map[string]any{"version": `W/"2"`},
		"emails": []any{map[string]any{"value": "b@example.com"}},
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": map[string]any{"department": "E", "costCenter": "C"},
		"urn:example:custom:1.0:User":                                map[string]any{"badge": "7"},
		"count":                                                      json.Number("1"),
	}
	want := []string{
		"emails", "title",
		"urn:example:custom:1.0:User:badge",
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
	}
	if got := Diff(old, new); !reflect.DeepEqual(got, want) {
		t.Errorf("Diff = %v\nwant   %v", got, want)
	}
	if got := Diff(old, old); len(got) != 0 {
		t.Errorf("Diff of equal resources = %v", got)
	}
}

func TestForUserKinds(t *testing.T) {
	active := map[string]any{"userName": "a", "active": true}
	inactive := map[string]any{"userName": "a", "active": false}
	unset := map[string]any{"userName": "a"}
	tests := []struct {
		name     string
		old, new map[string]any
		want     Kind
	}{
		{"create", nil, active, UserCreated},
		{"delete", active, nil, UserDeleted},
		{"deactivate", active, inactive, UserDeactivated},
		{"reactivate", inactive, active, UserReactivated},
		{"unassigned active counts as active", inactive, unset, UserReactivated},
		{"rename", active, map[string]any{"userName": "b", "active": true}, UserUpdated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := ForUser("id", tt.old, tt.new)
			if ev == nil || ev.Kind != tt.want || ev.ID != "id" || ev.ResourceType != "User" {
				t.Fatalf("ForUser = %+v, want kind %s", ev, tt.want)
			}
		})
	}
	if ev := ForUser("id", active, map[string]any{"userName": "a", "active": true}); ev != nil {
		t.Errorf("no change gave %+v", ev)
	}
	if ev := ForUser("id", active, nil); ev.Resource["userName"] != "a" {
		t.Error("a delete event must carry the last state")
	}
	if ev := ForMembers(MembersAdded, "g", nil, nil); ev != nil {
		t.Errorf("empty membership event: %+v", ev)
	}
	if ev := ForGroup("g", map[string]any{"displayName": "x"}, map[string]any{"displayName": "y"}); ev.Kind != GroupUpdated || !reflect.DeepEqual(ev.Changed, []string{"displayName"}) {
		t.Errorf("group rename: %+v", ev)
	}
}

func TestFlatten(t *testing.T) {
	res := map[string]any{
		"schemas":  []any{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"meta":     map[string]any{"version": `W/"1"`},
		"userName": "bjensen", "active": false,
		"name": map[string]any{"givenName": "Barbara", "familyName": "Jensen"},
		"emails": []any{
			map[string]any{"value": "home@example.com", "type": "home"},
			map[string]any{"value": "work@example.com", "type": "work", "primary": true},
		},
		"addresses": []any{map[string]any{"type": "work", "locality": "Oslo", "postalCode": "0150"}},
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": map[string]any{
			"department": "Sales", "manager": map[string]any{"value": "m-1"},
		},
		"urn:example:custom:1.0:User": map[string]any{"badge": json.Number("42"), "tags": []any{"a", "b"}},
	}
	want := map[string]string{
		"userName":                             "bjensen",
		"active":                               "false",
		"name.givenName":                       "Barbara",
		"name.familyName":                      "Jensen",
		"emails.value":                         "work@example.com",
		"emails.type":                          "work",
		"emails.primary":                       "true",
		`emails[type eq "home"].value`:         "home@example.com",
		`emails[type eq "home"].type`:          "home",
		`emails[type eq "work"].value`:         "work@example.com",
		`emails[type eq "work"].type`:          "work",
		`emails[type eq "work"].primary`:       "true",
		"addresses.type":                       "work",
		"addresses.locality":                   "Oslo",
		"addresses.postalCode":                 "0150",
		`addresses[type eq "work"].type`:       "work",
		`addresses[type eq "work"].locality`:   "Oslo",
		`addresses[type eq "work"].postalCode`: "0150",
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department":    "Sales",
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value": "m-1",
		"urn:example:custom:1.0:User:badge":                                        "42",
		"urn:example:custom:1.0:User:tags":                                         "a",
	}
	if got := Flatten(res); !reflect.DeepEqual(got, want) {
		for _, k := range Keys(got) {
			if got[k] != want[k] {
				t.Errorf("%s = %q, want %q", k, got[k], want[k])
			}
		}
		for _, k := range Keys(want) {
			if _, ok := got[k]; !ok {
				t.Errorf("missing %s", k)
			}
		}
	}
}
