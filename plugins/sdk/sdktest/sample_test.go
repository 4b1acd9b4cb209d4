package sdktest

import (
	"reflect"
	"testing"

	"github.com/caddy-scim/caddy-scim/plugins/sdk"
)

func TestSampleChanges(t *testing.T) {
	changes := SampleChanges("acme")
	if len(changes) < 9 {
		t.Fatalf("%d changes; the ordering check's batches need at least 9", len(changes))
	}
	kinds := map[sdk.Kind]bool{}
	for i, c := range changes {
		if c.Seq != uint64(i+1) {
			t.Errorf("change %d has Seq %d, want %d", i, c.Seq, i+1)
		}
		if c.Tenant != "acme" {
			t.Errorf("change %d has tenant %q", c.Seq, c.Tenant)
		}
		if i > 0 && !c.Time.After(changes[i-1].Time) {
			t.Errorf("change %d is not later than the one before", c.Seq)
		}
		kinds[c.Kind] = true
		if (c.User == nil) == (c.Group == nil) {
			t.Errorf("change %d (%s) must have a user or a group", c.Seq, c.Kind)
		}
		if c.User != nil && !reflect.DeepEqual(c.User.Attributes, userAttributes(c.User)) {
			t.Errorf("change %d: the user's Attributes do not match its fields", c.Seq)
		}
	}
	for _, k := range []sdk.Kind{sdk.UserCreated, sdk.UserUpdated, sdk.UserDeactivated, sdk.UserReactivated, sdk.UserDeleted,
		sdk.GroupCreated, sdk.GroupUpdated, sdk.GroupDeleted, sdk.MembersAdded, sdk.MembersRemoved} {
		if !kinds[k] {
			t.Errorf("no %s change", k)
		}
	}
	changes[0].User.Emails[0].Value = "changed"
	if again := SampleChanges("acme"); again[0].User.Emails[0].Value == "changed" {
		t.Error("SampleChanges shares values between calls")
	}
}

func TestSplitPath(t *testing.T) {
	tests := []struct {
		path, attribute, sub string
	}{
		{"userName", "username", ""},
		{"name.familyName", "name", "familyname"},
		{`emails[type eq "work"].value`, "emails", "value"},
		{`emails[value ew ".org"]`, "emails", ""},
		{"urn:ietf:params:scim:schemas:core:2.0:User:userName", "username", ""},
		{enterprise + ":department", enterpriseLower + "department", ""},
		{enterprise + ":manager.value", enterpriseLower + "manager", "value"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			attribute, sub := splitPath(tt.path)
			if attribute != tt.attribute || sub != tt.sub {
				t.Errorf("splitPath = %q, %q; want %q, %q", attribute, sub, tt.attribute, tt.sub)
			}
		})
	}
}

func TestWithoutAttribute(t *testing.T) {
	base := sampleUser(erinID, "erin.brown", "Erin", "Brown", "Product Manager", "1005", aliceID)
	tests := []struct {
		path string
		// gone reports whether the value is gone from the user's fields.
		gone func(u *sdk.User) bool
		// keys are Attributes paths that must be gone.
		keys []string
		// kept are Attributes paths that must stay.
		kept []string
	}{
		{"userName", func(u *sdk.User) bool { return u.UserName == "" }, []string{"userName"}, []string{"name.givenName"}},
		{"emails", func(u *sdk.User) bool { return u.Email == "" && u.Emails == nil }, []string{"emails.value", `emails[type eq "work"].value`}, []string{"userName"}},
		{"emails.value", func(u *sdk.User) bool { return u.Email == "" && u.Emails == nil }, []string{"emails.value", `emails[type eq "work"].value`}, nil},
		{"name.familyName", func(u *sdk.User) bool { return u.FamilyName == "" && u.GivenName != "" }, []string{"name.familyName"}, []string{"name.givenName"}},
		{"phoneNumbers", func(u *sdk.User) bool { return u.Phone == "" && u.PhoneNumbers == nil }, []string{"phoneNumbers.value"}, nil},
		{"addresses", func(u *sdk.User) bool { return u.Addresses == nil }, []string{`addresses[type eq "work"].locality`}, nil},
		{enterprise + ":department", func(u *sdk.User) bool { return u.Department == "" }, []string{enterprise + ":department"}, []string{enterprise + ":costCenter"}},
		{enterprise + ":manager", func(u *sdk.User) bool { return u.ManagerID == "" }, []string{enterprise + ":manager.value"}, nil},
		{"EMAILS", func(u *sdk.User) bool { return u.Email == "" }, []string{"emails.value"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			u := withoutAttribute(base, tt.path)
			if !tt.gone(u) {
				t.Errorf("the user's fields still have %s: %+v", tt.path, u)
			}
			for _, k := range tt.keys {
				if _, ok := u.Attributes[k]; ok {
					t.Errorf("Attributes still has %q", k)
				}
			}
			for _, k := range tt.kept {
				if _, ok := u.Attributes[k]; !ok {
					t.Errorf("Attributes lost %q", k)
				}
			}
			if base.UserName == "" || base.Attributes["userName"] == "" {
				t.Error("withoutAttribute changed its argument")
			}
		})
	}
}
