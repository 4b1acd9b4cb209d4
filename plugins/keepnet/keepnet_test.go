package keepnet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/caddy-scim/caddy-scim/plugins/sdk"
	"github.com/caddy-scim/caddy-scim/plugins/sdk/sdktest"
)

func TestFieldMapping(t *testing.T) {
	tests := []struct {
		name     string
		settings string
		attrs    []string
		field    string
		want     string
	}{
		{
			name:     "core attribute",
			settings: `{"field_map":["job","title"]}`,
			attrs:    []string{"title", "Engineer"},
			field:    "job", want: "Engineer",
		},
		{
			name:     "core sub-attribute",
			settings: `{"field_map":["middle","name.middleName"]}`,
			attrs:    []string{"name.middleName", "Q"},
			field:    "middle", want: "Q",
		},
		{
			name:     "enterprise extension",
			settings: `{"field_map":["employee_code","` + entURN + `:employeeNumber"]}`,
			attrs:    []string{entURN + ":employeeNumber", "E-42"},
			field:    "employee_code", want: "E-42",
		},
		{
			name:     "enterprise sub-attribute",
			settings: `{"field_map":["manager","` + entURN + `:manager.value"]}`,
			attrs:    []string{entURN + ":manager.value", "u-9"},
			field:    "manager", want: "u-9",
		},
		{
			name:     "custom extension",
			settings: `{"field_map":["badge","` + customURN + `:badgeId"]}`,
			attrs:    []string{customURN + ":badgeId", "B-7"},
			field:    "badge", want: "B-7",
		},
		{
			name:     "typed entry of a multi-valued attribute",
			settings: `{"field_map":["office","addresses[type eq \"work\"].locality"]}`,
			attrs:    []string{`addresses[type eq "work"].locality`, "Leeds", `addresses[type eq "home"].locality`, "York"},
			field:    "office", want: "Leeds",
		},
		{
			name:     "typed entry split by the Caddyfile lexer",
			settings: `{"field_map":["office","addresses[type","eq","work","].locality"]}`,
			attrs:    []string{`addresses[type eq "work"].locality`, "Leeds"},
			field:    "office", want: "Leeds",
		},
		{
			name:     "path in another case",
			settings: `{"field_map":["employee_code","URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER:EMPLOYEENUMBER"]}`,
			attrs:    []string{entURN + ":employeeNumber", "E-42"},
			field:    "employee_code", want: "E-42",
		},
		{
			name:     "path the user lacks",
			settings: `{"field_map":[["badge","` + customURN + `:badgeId"],["job","title"]]}`,
			attrs:    []string{"title", "Engineer"},
			field:    "badge", want: "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFeed(t, tt.settings)
			f.user(sdk.UserCreated, person("u1", "ann@example.com", tt.attrs...))
			u := f.inspect().user(t, "ann@example.com")
			got, ok := u.CustomFields[tt.field]
			if !ok || got != tt.want {
				t.Errorf("custom field %q = %q (present %v), want %q; all: %v", tt.field, got, ok, tt.want, u.CustomFields)
			}
			if len(u.CustomFields) != len(f.b.s.fieldMap) {
				t.Errorf("custom fields %v, want one per mapping %v", u.CustomFields, f.b.s.fieldMap)
			}
		})
	}
}

func TestCommonFields(t *testing.T) {
	f := newFeed(t, "")
	u := person("u1", "Ann@Example.com", "name.givenName", "Ann", "name.familyName", "Lee",
		entURN+":department", "Sales", "phoneNumbers.value", "+44 1")
	f.user(sdk.UserCreated, u)
	got := f.inspect().user(t, "ann@example.com")
	want := userView{
		Email: "Ann@Example.com", FirstName: "Ann", LastName: "Lee", Department: "Sales", Phone: "+44 1",
		Active: true, CustomFields: map[string]string{}, Groups: []string{DefaultTargetGroup}, SCIMID: "u1",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("target user = %+v, want %+v", got, want)
	}
}

func TestMissingEmail(t *testing.T) {
	f := newFeed(t, "")
	u := person("u1", "")
	u.UserName = "bob@idp"
	err := f.try(sdk.Change{Kind: sdk.UserCreated, User: u})
	if !sdk.IsInvalid(err) || !strings.Contains(err.Error(), "bob@idp") || !strings.Contains(err.Error(), "email") {
		t.Fatalf("Apply = %v, want an Invalid error naming bob@idp", err)
	}
	if v := f.inspect(); len(v.TargetUsers) != 0 || v.LastSeq != 0 {
		t.Errorf("store after a refused change: %+v", v)
	}
}

func TestEmailFallsBackToFirstEmail(t *testing.T) {
	f := newFeed(t, "")
	u := person("u1", "")
	u.Emails = []sdk.Email{{Value: "home@example.com", Type: "home"}}
	f.user(sdk.UserCreated, u)
	f.inspect().user(t, "home@example.com")
}

func TestApplyStopsAtFirstError(t *testing.T) {
	b := open(t, t.TempDir(), "")
	resp, err := b.Apply(context.Background(), &sdk.ApplyRequest{Tenant: tenant, Changes: []sdk.Change{
		{Seq: 1, Tenant: tenant, Kind: sdk.UserCreated, User: person("u1", "a@example.com")},
		{Seq: 2, Tenant: tenant, Kind: sdk.UserCreated, User: person("u2", "")},
		{Seq: 3, Tenant: tenant, Kind: sdk.UserCreated, User: person("u3", "c@example.com")},
	}})
	if !sdk.IsInvalid(err) || resp == nil || resp.AppliedThrough != 1 {
		t.Fatalf("Apply = %+v, %v; want AppliedThrough 1 and an Invalid error", resp, err)
	}
	v := inspectOf(t, b)
	if v.LastSeq != 1 || v.hasUser("c@example.com") {
		t.Errorf("store = %+v", v)
	}
}

// step is one change in a table test: a user change, or a group change
// when group is set.
type step struct {
	kind    sdk.Kind
	user    *sdk.User
	group   string
	name    string
	members []string
}

func run(f *feed, steps []step) {
	for _, s := range steps {
		if s.group != "" {
			f.group(s.kind, s.group, s.name, s.members...)
		} else {
			f.user(s.kind, s.user)
		}
	}
}

func dept(id, d string) *sdk.User {
	if d == "" {
		return person(id, id+"@example.com")
	}
	return person(id, id+"@example.com", entURN+":department", d)
}

func office(id, o string) *sdk.User {
	if o == "" {
		return person(id, id+"@example.com")
	}
	return person(id, id+"@example.com", `addresses[type eq "work"].locality`, o)
}

func TestGroupBy(t *testing.T) {
	byOffice := `{"field_map":["office","addresses[type eq \"work\"].locality"],"group_by":"field:office"}`
	tests := []struct {
		name     string
		settings string
		steps    []step
		want     map[string][]string
	}{
		{
			name:     "off: everyone in the default target group",
			settings: `{"target_group":"All Staff"}`,
			steps:    []step{{kind: sdk.UserCreated, user: dept("a", "Sales")}, {kind: sdk.UserCreated, user: dept("b", "")}},
			want:     map[string][]string{"All Staff/default": {"a@example.com", "b@example.com"}},
		},
		{
			name:     "department, users without one in the default group",
			settings: `{"group_by":"department"}`,
			steps: []step{
				{kind: sdk.UserCreated, user: dept("a", "Sales")},
				{kind: sdk.UserCreated, user: dept("b", "Sales")},
				{kind: sdk.UserCreated, user: dept("c", "")},
				{kind: sdk.UserCreated, user: dept("d", "Legal")},
			},
			want: map[string][]string{
				"Sales/group_by":     {"a@example.com", "b@example.com"},
				"Legal/group_by":     {"d@example.com"},
				"SCIM Users/default": {"c@example.com"},
			},
		},
		{
			name:     "mapped custom field, users without a value in the default group",
			settings: byOffice,
			steps: []step{
				{kind: sdk.UserCreated, user: office("a", "Leeds")},
				{kind: sdk.UserCreated, user: office("b", "")},
			},
			want: map[string][]string{"Leeds/group_by": {"a@example.com"}, "SCIM Users/default": {"b@example.com"}},
		},
		{
			name:     "moving leaves the old group, removed when empty",
			settings: `{"group_by":"department"}`,
			steps: []step{
				{kind: sdk.UserCreated, user: dept("a", "Sales")},
				{kind: sdk.UserUpdated, user: dept("a", "Marketing")},
			},
			want: map[string][]string{"Marketing/group_by": {"a@example.com"}, "SCIM Users/default": {}},
		},
		{
			name:     "moving keeps the old group while it has members",
			settings: `{"group_by":"department"}`,
			steps: []step{
				{kind: sdk.UserCreated, user: dept("a", "Sales")},
				{kind: sdk.UserCreated, user: dept("b", "Sales")},
				{kind: sdk.UserUpdated, user: dept("a", "Marketing")},
			},
			want: map[string][]string{
				"Sales/group_by":     {"b@example.com"},
				"Marketing/group_by": {"a@example.com"},
				"SCIM Users/default": {},
			},
		},
		{
			name:     "a cleared value moves the user to the default group",
			settings: byOffice,
			steps: []step{
				{kind: sdk.UserCreated, user: office("a", "Leeds")},
				{kind: sdk.UserUpdated, user: office("a", "")},
			},
			want: map[string][]string{"SCIM Users/default": {"a@example.com"}},
		},
		{
			name:     "the default target group stays when it empties",
			settings: `{"target_group":"All Staff","group_by":"department"}`,
			steps: []step{
				{kind: sdk.UserCreated, user: dept("a", "")},
				{kind: sdk.UserUpdated, user: dept("a", "Sales")},
			},
			want: map[string][]string{"All Staff/default": {}, "Sales/group_by": {"a@example.com"}},
		},
		{
			name:     "values differing only in case share a group",
			settings: `{"group_by":"department"}`,
			steps: []step{
				{kind: sdk.UserCreated, user: dept("a", "Sales")},
				{kind: sdk.UserCreated, user: dept("b", "sales")},
			},
			want: map[string][]string{"Sales/group_by": {"a@example.com", "b@example.com"}, "SCIM Users/default": {}},
		},
		{
			name:     "a value naming the default group lands in it",
			settings: `{"target_group":"Sales","group_by":"department"}`,
			steps:    []step{{kind: sdk.UserCreated, user: dept("a", "sales")}},
			want:     map[string][]string{"Sales/default": {"a@example.com"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFeed(t, tt.settings)
			run(f, tt.steps)
			if got := f.inspect().groups(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("groups = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestMirrorGroups(t *testing.T) {
	users := []step{
		{kind: sdk.UserCreated, user: dept("a", "")},
		{kind: sdk.UserCreated, user: dept("b", "")},
	}
	tests := []struct {
		name     string
		settings string
		steps    []step
		want     map[string][]string
	}{
		{
			name:     "off: groups and memberships ignored",
			settings: ``,
			steps: append(users[:2:2],
				step{kind: sdk.GroupCreated, group: "g1", name: "Admins"},
				step{kind: sdk.MembersAdded, group: "g1", name: "Admins", members: []string{"a", "b"}},
			),
			want: map[string][]string{"SCIM Users/default": {"a@example.com", "b@example.com"}},
		},
		{
			name:     "on: group with members by email",
			settings: `{"mirror_groups":"true"}`,
			steps: append(users[:2:2],
				step{kind: sdk.GroupCreated, group: "g1", name: "Admins"},
				step{kind: sdk.MembersAdded, group: "g1", name: "Admins", members: []string{"a", "b"}},
			),
			want: map[string][]string{
				"SCIM Users/default": {"a@example.com", "b@example.com"},
				"Admins/idp":         {"a@example.com", "b@example.com"},
			},
		},
		{
			name:     "on: members removed",
			settings: `{"mirror_groups":"true"}`,
			steps: append(users[:2:2],
				step{kind: sdk.GroupCreated, group: "g1", name: "Admins"},
				step{kind: sdk.MembersAdded, group: "g1", name: "Admins", members: []string{"a", "b"}},
				step{kind: sdk.MembersRemoved, group: "g1", name: "Admins", members: []string{"a"}},
			),
			want: map[string][]string{
				"SCIM Users/default": {"a@example.com", "b@example.com"},
				"Admins/idp":         {"b@example.com"},
			},
		},
		{
			name:     "on: renamed",
			settings: `{"mirror_groups":"true"}`,
			steps: append(users[:2:2],
				step{kind: sdk.GroupCreated, group: "g1", name: "Admins"},
				step{kind: sdk.MembersAdded, group: "g1", name: "Admins", members: []string{"a"}},
				step{kind: sdk.GroupUpdated, group: "g1", name: "Administrators"},
			),
			want: map[string][]string{
				"SCIM Users/default": {"a@example.com", "b@example.com"},
				"Administrators/idp": {"a@example.com"},
			},
		},
		{
			name:     "on: deleted",
			settings: `{"mirror_groups":"true"}`,
			steps: append(users[:2:2],
				step{kind: sdk.GroupCreated, group: "g1", name: "Admins"},
				step{kind: sdk.MembersAdded, group: "g1", name: "Admins", members: []string{"a", "b"}},
				step{kind: sdk.GroupDeleted, group: "g1", name: "Admins"},
			),
			want: map[string][]string{"SCIM Users/default": {"a@example.com", "b@example.com"}},
		},
		{
			name:     "on: an empty group is kept",
			settings: `{"mirror_groups":"true"}`,
			steps: append(users[:2:2],
				step{kind: sdk.GroupCreated, group: "g1", name: "Admins"},
				step{kind: sdk.MembersAdded, group: "g1", name: "Admins", members: []string{"a"}},
				step{kind: sdk.MembersRemoved, group: "g1", name: "Admins", members: []string{"a"}},
			),
			want: map[string][]string{
				"SCIM Users/default": {"a@example.com", "b@example.com"},
				"Admins/idp":         {},
			},
		},
		{
			name:     "on: a member provisioned after joining",
			settings: `{"mirror_groups":"true"}`,
			steps: []step{
				{kind: sdk.GroupCreated, group: "g1", name: "Admins"},
				{kind: sdk.MembersAdded, group: "g1", name: "Admins", members: []string{"a"}},
				{kind: sdk.UserCreated, user: dept("a", "")},
			},
			want: map[string][]string{"SCIM Users/default": {"a@example.com"}, "Admins/idp": {"a@example.com"}},
		},
		{
			name:     "on: a deleted user leaves",
			settings: `{"mirror_groups":"true"}`,
			steps: append(users[:2:2],
				step{kind: sdk.GroupCreated, group: "g1", name: "Admins"},
				step{kind: sdk.MembersAdded, group: "g1", name: "Admins", members: []string{"a", "b"}},
				step{kind: sdk.UserDeleted, user: dept("a", "")},
			),
			want: map[string][]string{"SCIM Users/default": {"b@example.com"}, "Admins/idp": {"b@example.com"}},
		},
		{
			name:     "on: beside a group-by group of the same name",
			settings: `{"mirror_groups":"true","group_by":"department"}`,
			steps: []step{
				{kind: sdk.UserCreated, user: dept("a", "Sales")},
				{kind: sdk.UserCreated, user: dept("b", "")},
				{kind: sdk.GroupCreated, group: "g1", name: "Sales"},
				{kind: sdk.MembersAdded, group: "g1", name: "Sales", members: []string{"b"}},
			},
			want: map[string][]string{
				"SCIM Users/default": {"b@example.com"},
				"Sales/group_by":     {"a@example.com"},
				"Sales/idp":          {"b@example.com"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFeed(t, tt.settings)
			run(f, tt.steps)
			v := f.inspect()
			if got := v.groups(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("groups = %v, want %v", got, tt.want)
			}
			if v.LastSeq != uint64(len(tt.steps)) {
				t.Errorf("last_seq = %d, want %d", v.LastSeq, len(tt.steps))
			}
		})
	}
}

func TestNestedGroupMembersIgnored(t *testing.T) {
	f := newFeed(t, `{"mirror_groups":"true"}`)
	f.user(sdk.UserCreated, dept("a", ""))
	f.group(sdk.GroupCreated, "g1", "Admins")
	f.apply(sdk.Change{Kind: sdk.MembersAdded, Group: &sdk.Group{ID: "g1", DisplayName: "Admins"},
		Members: []sdk.Member{{ID: "a", Type: "User"}, {ID: "g2", Type: "Group"}}})
	if got := f.inspect().groups()["Admins/idp"]; !reflect.DeepEqual(got, []string{"a@example.com"}) {
		t.Errorf("Admins members = %v", got)
	}
}

func TestLifecycle(t *testing.T) {
	settings := `{"group_by":"department","mirror_groups":"true"}`
	setup := func(t *testing.T) *feed {
		f := newFeed(t, settings)
		f.user(sdk.UserCreated, dept("a", "Sales"))
		f.user(sdk.UserCreated, dept("b", "Legal"))
		f.group(sdk.GroupCreated, "g1", "Admins")
		f.group(sdk.MembersAdded, "g1", "Admins", "a")
		return f
	}
	inactive := func() *sdk.User {
		u := dept("a", "Sales")
		u.Active = false
		u.Attributes["active"] = "false"
		return u
	}
	t.Run("deactivate keeps groups", func(t *testing.T) {
		f := setup(t)
		f.user(sdk.UserDeactivated, inactive())
		u := f.inspect().user(t, "a@example.com")
		if u.Active || !reflect.DeepEqual(u.Groups, []string{"Admins", "Sales"}) {
			t.Errorf("deactivated user = %+v", u)
		}
	})
	t.Run("deactivate by update", func(t *testing.T) {
		f := setup(t)
		f.user(sdk.UserUpdated, inactive())
		if u := f.inspect().user(t, "a@example.com"); u.Active {
			t.Errorf("user = %+v, want inactive", u)
		}
	})
	t.Run("reactivate", func(t *testing.T) {
		f := setup(t)
		f.user(sdk.UserDeactivated, inactive())
		f.user(sdk.UserReactivated, dept("a", "Sales"))
		u := f.inspect().user(t, "a@example.com")
		if !u.Active || !reflect.DeepEqual(u.Groups, []string{"Admins", "Sales"}) {
			t.Errorf("reactivated user = %+v", u)
		}
	})
	t.Run("delete removes the user everywhere", func(t *testing.T) {
		f := setup(t)
		f.user(sdk.UserDeleted, dept("a", "Sales"))
		v := f.inspect()
		if v.hasUser("a@example.com") {
			t.Errorf("deleted user still present: %+v", v.TargetUsers)
		}
		want := map[string][]string{"Legal/group_by": {"b@example.com"}, "Admins/idp": {}, "SCIM Users/default": {}}
		if got := v.groups(); !reflect.DeepEqual(got, want) {
			t.Errorf("groups = %v, want %v", got, want)
		}
	})
	t.Run("delete of an unknown user", func(t *testing.T) {
		f := setup(t)
		f.user(sdk.UserDeleted, dept("zz", ""))
		if v := f.inspect(); len(v.TargetUsers) != 2 {
			t.Errorf("users = %+v", v.TargetUsers)
		}
	})
	t.Run("recreated after delete", func(t *testing.T) {
		f := setup(t)
		f.user(sdk.UserDeleted, dept("a", "Sales"))
		f.user(sdk.UserCreated, dept("a2", "Sales"))
		u := f.inspect().user(t, "a2@example.com")
		if !reflect.DeepEqual(u.Groups, []string{"Sales"}) {
			t.Errorf("recreated user = %+v", u)
		}
	})
}

func TestEmailChange(t *testing.T) {
	settings := `{"field_map":["employee_code","` + entURN + `:employeeNumber"],"group_by":"department","mirror_groups":"true"}`
	u := func(email string) *sdk.User {
		return person("u1", email, entURN+":department", "Sales", entURN+":employeeNumber", "E-1")
	}
	f := newFeed(t, settings)
	f.user(sdk.UserCreated, u("old@example.com"))
	f.group(sdk.GroupCreated, "g1", "Admins")
	f.group(sdk.MembersAdded, "g1", "Admins", "u1")
	f.user(sdk.UserUpdated, u("new@example.com"))

	v := f.inspect()
	if v.hasUser("old@example.com") || len(v.TargetUsers) != 1 {
		t.Fatalf("users after an email change: %+v", v.TargetUsers)
	}
	got := v.user(t, "new@example.com")
	if got.SCIMID != "u1" || got.CustomFields["employee_code"] != "E-1" ||
		!reflect.DeepEqual(got.Groups, []string{"Admins", "Sales"}) {
		t.Errorf("re-keyed user = %+v", got)
	}
	want := map[string][]string{
		"Admins/idp": {"new@example.com"}, "Sales/group_by": {"new@example.com"}, "SCIM Users/default": {},
	}
	if g := v.groups(); !reflect.DeepEqual(g, want) {
		t.Errorf("groups = %v, want %v", g, want)
	}

	f.user(sdk.UserUpdated, u("New@Example.com"))
	if got := f.inspect().user(t, "new@example.com"); got.Email != "New@Example.com" {
		t.Errorf("email in another case: %+v", got)
	}

	f.user(sdk.UserCreated, person("u2", "other@example.com"))
	err := f.try(sdk.Change{Kind: sdk.UserUpdated, User: person("u2", "new@example.com")})
	if !sdk.IsInvalid(err) || !strings.Contains(err.Error(), "new@example.com") {
		t.Fatalf("taking another user's email = %v, want an Invalid error", err)
	}
	if got := f.inspect().user(t, "new@example.com"); got.SCIMID != "u1" {
		t.Errorf("the email changed hands: %+v", got)
	}
}

// batch numbers changes from first.
func batch(first uint64, changes ...sdk.Change) *sdk.ApplyRequest {
	for i := range changes {
		changes[i].Seq = first + uint64(i)
		changes[i].Tenant = tenant
	}
	return &sdk.ApplyRequest{Tenant: tenant, Changes: changes}
}

func TestIdempotentAcrossReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	settings := `{"group_by":"department","mirror_groups":"true"}`
	changes := func() *sdk.ApplyRequest {
		return batch(1,
			sdk.Change{Kind: sdk.UserCreated, User: dept("a", "Sales")},
			sdk.Change{Kind: sdk.UserCreated, User: dept("b", "Sales")},
			sdk.Change{Kind: sdk.GroupCreated, Group: &sdk.Group{ID: "g1", DisplayName: "Admins"}},
			sdk.Change{Kind: sdk.MembersAdded, Group: &sdk.Group{ID: "g1", DisplayName: "Admins"},
				Members: []sdk.Member{{ID: "a", Type: "User"}}},
			sdk.Change{Kind: sdk.UserUpdated, User: dept("a", "Legal")},
			sdk.Change{Kind: sdk.MembersRemoved, Group: &sdk.Group{ID: "g1", DisplayName: "Admins"},
				Members: []sdk.Member{{ID: "a", Type: "User"}}},
			sdk.Change{Kind: sdk.UserDeleted, User: dept("b", "Sales")},
		)
	}

	b1 := open(t, dir, settings)
	resp, err := b1.Apply(ctx, changes())
	if err != nil || resp.AppliedThrough != 7 {
		t.Fatalf("first Apply = %+v, %v", resp, err)
	}
	before := inspectOf(t, b1)
	if err := b1.Close(); err != nil {
		t.Fatal(err)
	}

	b2 := open(t, dir, settings)
	if got := inspectOf(t, b2); !reflect.DeepEqual(got, before) {
		t.Fatalf("store after reopening = %+v, want %+v", got, before)
	}
	resp, err = b2.Apply(ctx, changes())
	if err != nil || resp.AppliedThrough != 7 {
		t.Fatalf("replayed Apply = %+v, %v", resp, err)
	}
	if got := inspectOf(t, b2); !reflect.DeepEqual(got, before) {
		t.Errorf("store after replaying = %+v, want %+v", got, before)
	}

	resp, err = b2.Apply(ctx, batch(6,
		sdk.Change{Kind: sdk.UserUpdated, User: dept("a", "Replayed")},
		sdk.Change{Kind: sdk.UserDeleted, User: dept("b", "Sales")},
		sdk.Change{Kind: sdk.UserCreated, User: dept("c", "Legal")},
	))
	if err != nil || resp.AppliedThrough != 8 {
		t.Fatalf("overlapping Apply = %+v, %v", resp, err)
	}
	v := inspectOf(t, b2)
	if v.LastSeq != 8 || v.user(t, "a@example.com").Department != "Legal" {
		t.Errorf("an applied seq was applied again: %+v", v)
	}
	if got := v.groups()["Legal/group_by"]; !reflect.DeepEqual(got, []string{"a@example.com", "c@example.com"}) {
		t.Errorf("Legal = %v", got)
	}
}

func TestLargeMembershipChanges(t *testing.T) {
	defer func(n int) { memberChunk = n }(memberChunk)
	memberChunk = 2
	f := newFeed(t, `{"mirror_groups":"true"}`)
	var ids, emails []string
	for i := range 5 {
		id := fmt.Sprintf("u%d", i)
		f.user(sdk.UserCreated, dept(id, ""))
		ids = append(ids, id)
		emails = append(emails, id+"@example.com")
	}
	f.group(sdk.GroupCreated, "g1", "Everyone", ids...)
	if got := f.inspect().groups()["Everyone/idp"]; !reflect.DeepEqual(got, emails) {
		t.Fatalf("Everyone = %v, want %v", got, emails)
	}
	f.group(sdk.MembersRemoved, "g1", "Everyone", ids[:3]...)
	if got := f.inspect().groups()["Everyone/idp"]; !reflect.DeepEqual(got, emails[3:]) {
		t.Fatalf("Everyone = %v, want %v", got, emails[3:])
	}
	f.group(sdk.MembersAdded, "g1", "Everyone", ids...)
	f.group(sdk.GroupDeleted, "g1", "Everyone")
	v := f.inspect()
	if _, ok := v.groups()["Everyone/idp"]; ok || v.LastSeq != f.seq {
		t.Errorf("after deleting the group: %+v", v)
	}
	for _, u := range v.TargetUsers {
		if !reflect.DeepEqual(u.Groups, []string{DefaultTargetGroup}) {
			t.Errorf("user %s groups = %v", u.Email, u.Groups)
		}
	}
}

func TestRegroup(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b := open(t, dir, `{"target_group":"Old"}`)
	if _, err := b.Apply(ctx, batch(1,
		sdk.Change{Kind: sdk.UserCreated, User: person("a", "a@example.com", entURN+":department", "Sales", "title", "Eng")},
		sdk.Change{Kind: sdk.UserCreated, User: person("b", "b@example.com")},
		sdk.Change{Kind: sdk.GroupCreated, Group: &sdk.Group{ID: "g1", DisplayName: "Admins"}},
		sdk.Change{Kind: sdk.MembersAdded, Group: &sdk.Group{ID: "g1", DisplayName: "Admins"},
			Members: []sdk.Member{{ID: "b", Type: "User"}}},
	)); err != nil {
		t.Fatal(err)
	}
	reconfigure := func(settings string) {
		t.Helper()
		if _, err := b.Configure(ctx, &sdk.ConfigureRequest{Tenant: tenant, Settings: json.RawMessage(settings), DataDir: dir}); err != nil {
			t.Fatal(err)
		}
	}
	regroup := func() {
		t.Helper()
		if _, err := b.Action(ctx, &sdk.ActionRequest{Tenant: tenant, Name: ActionRegroup}); err != nil {
			t.Fatal(err)
		}
	}

	reconfigure(`{"target_group":"New","field_map":["job","title"],"group_by":"department","mirror_groups":"true"}`)
	regroup()
	v := inspectOf(t, b)
	want := map[string][]string{
		"New/default":    {"b@example.com"},
		"Sales/group_by": {"a@example.com"},
		"Admins/idp":     {"b@example.com"},
	}
	if got := v.groups(); !reflect.DeepEqual(got, want) {
		t.Errorf("groups after regroup = %v, want %v", got, want)
	}
	if got := v.user(t, "a@example.com").CustomFields; !reflect.DeepEqual(got, map[string]string{"job": "Eng"}) {
		t.Errorf("custom fields after regroup = %v", got)
	}
	if v.LastSeq != 4 {
		t.Errorf("last_seq = %d, want 4", v.LastSeq)
	}

	reconfigure(`{"target_group":"New"}`)
	regroup()
	want = map[string][]string{"New/default": {"a@example.com", "b@example.com"}}
	if got := inspectOf(t, b).groups(); !reflect.DeepEqual(got, want) {
		t.Errorf("groups after turning group_by and mirroring off = %v, want %v", got, want)
	}

	_, err := b.Action(ctx, &sdk.ActionRequest{Tenant: tenant, Name: "import-cards"})
	if !sdk.IsInvalid(err) || !strings.Contains(err.Error(), ActionRegroup) {
		t.Errorf("unknown action = %v", err)
	}
}

func TestInspectShape(t *testing.T) {
	f := newFeed(t, `{"field_map":["job","title"],"group_by":"department","mirror_groups":"true"}`)
	f.user(sdk.UserCreated, person("u2", "zed@example.com", "title", "Eng", entURN+":department", "Sales"))
	f.user(sdk.UserCreated, person("u1", "amy@example.com"))
	f.group(sdk.GroupCreated, "g1", "Admins", "u2", "u1")
	resp, err := f.b.Inspect(context.Background(), &sdk.InspectRequest{Tenant: tenant})
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(resp.JSON, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"target_users": []any{
			map[string]any{
				"email": "amy@example.com", "first_name": "", "last_name": "", "department": "", "phone": "",
				"active": true, "custom_fields": map[string]any{"job": ""}, "groups": []any{"Admins", "SCIM Users"},
				"scim_id": "u1",
			},
			map[string]any{
				"email": "zed@example.com", "first_name": "", "last_name": "", "department": "Sales", "phone": "",
				"active": true, "custom_fields": map[string]any{"job": "Eng"}, "groups": []any{"Admins", "Sales"},
				"scim_id": "u2",
			},
		},
		"target_groups": []any{
			map[string]any{"name": "Admins", "source": "idp", "members": []any{"amy@example.com", "zed@example.com"}},
			map[string]any{"name": "SCIM Users", "source": "default", "members": []any{"amy@example.com"}},
			map[string]any{"name": "Sales", "source": "group_by", "members": []any{"zed@example.com"}},
		},
		"settings": map[string]any{
			"target_group": "SCIM Users", "field_map": []any{[]any{"job", "title"}},
			"group_by": "department", "mirror_groups": true,
		},
		"last_seq": float64(3),
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Inspect =\n%s\nwant\n%v", resp.JSON, want)
	}
}

func TestInspectEmptyStore(t *testing.T) {
	f := newFeed(t, "")
	resp, err := f.b.Inspect(context.Background(), &sdk.InspectRequest{Tenant: tenant})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"target_users":[],"target_groups":[{"name":"SCIM Users","source":"default","members":[]}],` +
		`"settings":{"target_group":"SCIM Users","field_map":[],"group_by":"none","mirror_groups":false},"last_seq":0}`
	if string(resp.JSON) != want {
		t.Errorf("Inspect = %s\nwant %s", resp.JSON, want)
	}
}

func TestNotConfigured(t *testing.T) {
	b := New().(*Backend)
	ctx := context.Background()
	if _, err := b.Apply(ctx, batch(1, sdk.Change{Kind: sdk.UserCreated, User: dept("a", "")})); !sdk.IsUnavailable(err) {
		t.Errorf("Apply before Configure = %v", err)
	}
	if _, err := b.Inspect(ctx, &sdk.InspectRequest{Tenant: tenant}); err == nil {
		t.Error("Inspect before Configure succeeded")
	}
	if _, err := b.Purge(ctx, &sdk.PurgeRequest{Tenant: tenant}); !sdk.IsUnavailable(err) {
		t.Errorf("Purge before Configure = %v", err)
	}
	if err := b.Close(); err != nil {
		t.Errorf("Close before Configure: %v", err)
	}
}

// TestConfigureOpensNoStore configures a tenant without touching its data
// directory: the store is opened, and the target group made, by the first
// call that needs them.
func TestConfigureOpensNoStore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "backends", tenant)
	b := open(t, dir, `{"target_group":"Everyone"}`)
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Configure touched the data directory: %v", err)
	}
	if b.db != nil {
		t.Fatal("Configure opened the store")
	}
	if got := inspectOf(t, b).groups(); !reflect.DeepEqual(got, map[string][]string{"Everyone/default": {}}) {
		t.Errorf("groups on first use = %v, want the target group", got)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Errorf("the first Inspect made no store: %v", err)
	}
}

func TestCloseKeepsTheConfiguration(t *testing.T) {
	ctx := context.Background()
	b := open(t, t.TempDir(), `{"target_group":"Everyone"}`)
	if _, err := b.Apply(ctx, batch(1, sdk.Change{Kind: sdk.UserCreated, User: dept("a", "")})); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	v := inspectOf(t, b)
	if v.LastSeq != 1 || !reflect.DeepEqual(v.groups(), map[string][]string{"Everyone/default": {"a@example.com"}}) {
		t.Errorf("after Close, Inspect = %+v; want the store reopened", v)
	}
}

func TestPurge(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b := open(t, dir, `{"target_group":"Everyone"}`)
	if _, err := b.Apply(ctx, batch(1, sdk.Change{Kind: sdk.UserCreated, User: dept("a", "")})); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Purge(ctx, &sdk.PurgeRequest{Tenant: tenant}); err != nil {
		t.Fatalf("Purge: %v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after Purge the data directory is still there: %v", err)
	}
	if _, err := b.Apply(ctx, batch(2, sdk.Change{Kind: sdk.UserCreated, User: dept("b", "")})); !sdk.IsUnavailable(err) {
		t.Errorf("Apply after Purge = %v, want Unavailable: the tenant is forgotten", err)
	}
	if _, err := b.Inspect(ctx, &sdk.InspectRequest{Tenant: tenant}); !sdk.IsUnavailable(err) {
		t.Errorf("Inspect after Purge = %v, want Unavailable", err)
	}
	if _, err := b.Configure(ctx, &sdk.ConfigureRequest{Tenant: tenant, DataDir: dir}); err != nil {
		t.Fatal(err)
	}
	if v := inspectOf(t, b); len(v.TargetUsers) != 0 || v.LastSeq != 0 {
		t.Errorf("configured again after Purge, the store is %+v; want it empty", v)
	}
}

// TestLargeGroupFitsTheStore adds more than memberChunk users that carry
// every common SCIM attribute to one mirrored group in one change: each of
// the change's transactions, which rewrite memberChunk target users, must
// fit the transaction limit of a store sized for many tenants (see package
// badgerstore).
func TestLargeGroupFitsTheStore(t *testing.T) {
	f := newFeed(t, `{"mirror_groups":"true","field_map":[["job","title"],["office","addresses[type eq \"work\"].locality"]]}`)
	sample := sdktest.SampleChanges(tenant)[0].User
	var ids []string
	for i := range 2*memberChunk + 1 {
		u := *sample
		u.ID = fmt.Sprintf("%s-%04d", sample.ID, i)
		u.Email = fmt.Sprintf("user%04d@example.com", i)
		u.Emails = []sdk.Email{{Value: u.Email, Type: "work", Primary: true}}
		u.Attributes = maps.Clone(sample.Attributes)
		u.Attributes["id"], u.Attributes["emails.value"], u.Attributes[`emails[type eq "work"].value`] = u.ID, u.Email, u.Email
		f.user(sdk.UserCreated, &u)
		ids = append(ids, u.ID)
	}
	f.group(sdk.MembersAdded, "g1", "Everyone", ids...)
	if got := len(f.inspect().groups()["Everyone/idp"]); got != len(ids) {
		t.Errorf("the mirrored group has %d members, want %d", got, len(ids))
	}
}
