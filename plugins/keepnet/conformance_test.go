package keepnet

import (
	"context"
	"encoding/json"
	"io"
	"reflect"
	"testing"

	"github.com/caddy-scim/caddy-scim/plugins/sdk"
	"github.com/caddy-scim/caddy-scim/plugins/sdk/sdktest"
)

// mappedSettings uses every setting: field mappings, grouping by a mapped
// field whose value changes in the sample, and mirrored groups.
const mappedSettings = `{
	"target_group": ["All", "Staff"],
	"field_map": [
		["employee_code", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber"],
		["job", "title"],
		["office", "addresses[type", "eq", "work", "].locality"]
	],
	"group_by": "field:job",
	"mirror_groups": "true"
}`

// served returns the backend as its binary serves it: one instance per
// tenant, through sdk.PerTenant.
func served() sdk.Backend {
	return sdk.PerTenant(func(string) sdk.Backend { return New() }, sdk.PerTenantOptions{})
}

func TestConformance(t *testing.T) {
	t.Run("default settings", func(t *testing.T) {
		sdktest.Run(t, served, sdktest.Options{})
	})
	t.Run("mapped, grouped and mirrored", func(t *testing.T) {
		sdktest.Run(t, served, sdktest.Options{Settings: json.RawMessage(mappedSettings)})
	})
}

// TestSampleOverGRPC applies the SDK's sample changes through a plugin
// connection and checks the resulting product store.
func TestSampleOverGRPC(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b := served()
	t.Cleanup(func() {
		if err := b.(io.Closer).Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	client := sdktest.Connect(t, b)
	if _, err := client.Configure(ctx, &sdk.ConfigureRequest{
		Tenant: tenant, Settings: json.RawMessage(mappedSettings), DataDir: dir,
	}); err != nil {
		t.Fatal(err)
	}
	changes := sdktest.SampleChanges(tenant)
	resp, err := client.Apply(ctx, &sdk.ApplyRequest{Tenant: tenant, Changes: changes})
	if err != nil || resp.AppliedThrough != uint64(len(changes)) {
		t.Fatalf("Apply = %+v, %v", resp, err)
	}
	ir, err := client.Inspect(ctx, &sdk.InspectRequest{Tenant: tenant})
	if err != nil {
		t.Fatal(err)
	}
	var v storeView
	if err := json.Unmarshal(ir.JSON, &v); err != nil {
		t.Fatal(err)
	}
	if v.hasUser("alice.smith@example.com") || v.hasUser("carol.white@example.com") || len(v.TargetUsers) != 2 {
		t.Errorf("target users = %+v", v.TargetUsers)
	}
	bob := v.user(t, "bob.jones@example.com")
	wantBob := userView{
		Email: "bob.jones@example.com", FirstName: "Bob", LastName: "Jones", Department: "Engineering",
		Phone: "+1 312 555 1002", Active: true,
		CustomFields: map[string]string{"employee_code": "1002", "job": "Senior Software Engineer", "office": "Chicago"},
		Groups:       []string{"Senior Software Engineer"}, SCIMID: bob.SCIMID,
	}
	if !reflect.DeepEqual(bob, wantBob) {
		t.Errorf("bob = %+v, want %+v", bob, wantBob)
	}
	carol := v.user(t, "carol.jones@example.com")
	if !reflect.DeepEqual(carol.Groups, []string{"Platform Engineering", "Site Reliability Engineer"}) {
		t.Errorf("carol = %+v", carol)
	}
	want := map[string][]string{
		"All Staff/default":                  {},
		"Platform Engineering/idp":           {"carol.jones@example.com"},
		"Senior Software Engineer/group_by":  {"bob.jones@example.com"},
		"Site Reliability Engineer/group_by": {"carol.jones@example.com"},
	}
	if got := v.groups(); !reflect.DeepEqual(got, want) {
		t.Errorf("groups = %v, want %v", got, want)
	}
	if v.LastSeq != uint64(len(changes)) {
		t.Errorf("last_seq = %d", v.LastSeq)
	}

	_, err = client.Apply(ctx, &sdk.ApplyRequest{Tenant: tenant, Changes: []sdk.Change{{
		Seq: 100, Tenant: tenant, Kind: sdk.UserCreated, User: &sdk.User{ID: "x", UserName: "nomail"},
	}}})
	if !sdk.IsInvalid(err) {
		t.Errorf("a user without email over gRPC = %v, want an Invalid error", err)
	}
}
