package filter

import (
	"strings"
	"testing"

	"github.com/caddy-scim/caddy-scim/adapter/schema"
	"github.com/caddy-scim/caddy-scim/adapter/scimerr"
)

func TestCheck(t *testing.T) {
	const ent = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:"
	tests := []struct {
		rt     *schema.ResourceType
		filter string
		// detail is a fragment of the error detail, or empty when the
		// filter is valid.
		detail string
	}{
		{schema.User, `active eq true`, ""},
		{schema.User, `active ne false`, ""},
		{schema.User, `active pr`, ""},
		{schema.User, `active gt true`, "the gt operator cannot be applied to active: it is a boolean attribute"},
		{schema.User, `active co "t"`, "the co operator cannot be applied to active"},
		{schema.User, `Active LE false`, "the le operator cannot be applied to active"},
		{schema.User, `emails.primary sw "t"`, "emails.primary"},
		{schema.User, `emails[primary ge true]`, "the ge operator cannot be applied to emails.primary"},
		{schema.User, `emails[type eq "work"].primary lt true`, "emails.primary"},
		{schema.User, `name co "Jensen"`, `the co operator cannot be applied to name: it is a complex attribute without a "value" sub-attribute`},
		{schema.User, `addresses sw "x"`, "addresses"},
		{schema.User, `meta gt "2011-01-01T00:00:00Z"`, "meta"},
		{schema.User, `name eq "Jensen"`, ""},
		{schema.User, `emails co "example.com"`, ""},
		{schema.User, `emails gt "a"`, ""},
		{schema.User, ent + `manager co "2611"`, ""},
		{schema.User, `name.foo eq "x"`, `name has no sub-attribute "foo"`},
		{schema.User, `meta.foo pr`, `meta has no sub-attribute "foo"`},
		{schema.User, `userName.first eq "x"`, `userName is not a complex attribute, so it has no sub-attribute "first"`},
		{schema.User, `userName.value eq "x"`, ""},
		{schema.User, `emails[foo eq "x"]`, `emails has no sub-attribute "foo"`},
		{schema.User, `emails[type eq "work"].foo eq "x"`, `emails has no sub-attribute "foo"`},
		{schema.User, `emails[type.x eq "work"]`, `emails.type is not a complex attribute, so it has no sub-attribute "x"`},
		{schema.User, ent + `manager.foo pr`, `manager has no sub-attribute "foo"`},
		{schema.User, `title pr and not (name.nope pr)`, `name has no sub-attribute "nope"`},
		{schema.User, `title pr or (active sw "x")`, "active"},
		{schema.User, `foo eq "x"`, ""},
		{schema.User, `foo.bar gt 1`, ""},
		{schema.User, `foo[bar co 1]`, ""},
		{schema.User, `urn:acme:ext:x.y co "z"`, ""},
		{schema.User, `urn:acme:ext:flag gt true`, ""},
		{schema.User, `meta.lastModified gt "2011-05-13T04:42:34Z"`, ""},
		{schema.User, `employeeNumber co "70"`, ""},
		{schema.Group, `members co "x"`, ""},
		{schema.Group, `members.display sw "B"`, ""},
		{schema.Group, `members[value eq "x" and type eq "User"]`, ""},
		{schema.Group, `members[nope eq "x"]`, `members has no sub-attribute "nope"`},
		{schema.Group, `active gt true`, ""},
		{device, `enabled co "t"`, "enabled"},
		{device, `ports gt 1 and seen lt "2020-01-01T00:00:00Z"`, ""},
		{device, `codes[value sw "a"]`, ""},
		{device, `codes[type eq "a"]`, `codes is not a complex attribute, so it has no sub-attribute "type"`},
		{nil, `active gt true`, ""},
	}
	for _, tt := range tests {
		name := tt.filter
		if tt.rt != nil {
			name = tt.rt.Name + ": " + name
		}
		t.Run(name, func(t *testing.T) {
			e, err := Parse(tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			err = Check(e, tt.rt)
			if tt.detail == "" {
				if err != nil {
					t.Fatalf("Check = %v, want nil", err)
				}
				return
			}
			se, ok := scimerr.As(err)
			if !ok {
				t.Fatalf("Check = %v, want a *scimerr.Error", err)
			}
			if se.Status != 400 || se.ScimType != scimerr.InvalidFilter || !strings.Contains(se.Detail, tt.detail) {
				t.Fatalf("Check = %d %s %q, want 400 invalidFilter containing %q", se.Status, se.ScimType, se.Detail, tt.detail)
			}
		})
	}
}

func TestCheckRFCExamples(t *testing.T) {
	for _, s := range append(append([]string{}, rfcFilters...), entraFilters...) {
		t.Run(s, func(t *testing.T) {
			e, err := Parse(s)
			if err != nil {
				t.Fatal(err)
			}
			if err := Check(e, schema.User); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestCheckEchoesLittleInput(t *testing.T) {
	long := strings.Repeat("x", 200)
	e, err := Parse("name." + long + " pr")
	if err != nil {
		t.Fatal(err)
	}
	err = Check(e, schema.User)
	if err == nil || strings.Contains(err.Error(), long[:61]) {
		t.Fatalf("Check = %v", err)
	}
}
