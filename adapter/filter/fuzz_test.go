package filter

import (
	"errors"
	"reflect"
	"testing"

	"github.com/caddy-scim/caddy-scim/adapter/schema"
	"github.com/caddy-scim/caddy-scim/adapter/scimerr"
)

// rfcFilters are the example filters of RFC 7644 §3.4.2.2.
var rfcFilters = []string{
	`userName eq "bjensen"`,
	`name.familyName co "O'Malley"`,
	`userName sw "J"`,
	`urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J"`,
	`title pr`,
	`meta.lastModified gt "2011-05-13T04:42:34Z"`,
	`meta.lastModified ge "2011-05-13T04:42:34Z"`,
	`meta.lastModified lt "2011-05-13T04:42:34Z"`,
	`meta.lastModified le "2011-05-13T04:42:34Z"`,
	`title pr and userType eq "Employee"`,
	`title pr or userType eq "Intern"`,
	`schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"`,
	`userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")`,
	`userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")`,
	`userType eq "Employee" and (emails.type eq "work")`,
	`userType eq "Employee" and emails[type eq "work" and value co "@example.com"]`,
	`emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]`,
}

// entraFilters are the filters Microsoft Entra ID sends.
var entraFilters = []string{
	`userName eq "ryan3@contoso.com"`,
	`externalId eq jyoung`,
	`externalId eq "7a1b7f2c-0d4e-4b1c-9a55-1f0f7a3c2b10"`,
	`emails[type eq "work"].value eq "ryan3@contoso.com"`,
	`displayName eq "Group1DisplayName"`,
	`userName eq "e0b2d3a6-51f4-4a8e-9b54-0f1c6a8c2e77" and externalId eq "x"`,
}

// fuzzSeeds are further inputs that exercise the corners of the grammar.
var fuzzSeeds = []string{
	`a eq "\ud83d\ude00 \u00e9\t\"\\\/\b\f\n\r"`,
	`a eq -1.5e+3 or b gt 0 or c le 1E-2`,
	`a EQ TRUE and B Ne False or not (c eq NULL)`,
	`not eq 1 and not[value pr] and not pr`,
	`(((a pr)))`,
	`a pr and (b pr or c pr) and (d pr and e pr)`,
	`emails[not (type eq "home") and (primary eq true or value ew ".org")]`,
	`emails[type eq "work"] pr`,
	`emails[type eq "work"] eq "x"`,
	`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.$ref co "Users"`,
	`x:y:z eq 01`,
	`a eq and or b eq or`,
	"a\teq\t\"x\"\r\nand\nb pr",
}

// pathSeeds are PATCH paths and attribute paths.
var pathSeeds = []string{
	`userName`,
	`name.familyName`,
	`members`,
	`members[value eq "2819c223-7f76-453a-919d-413861904646"]`,
	`emails[type eq "work"].value`,
	`addresses[type eq "work"].locality`,
	`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber`,
	`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager`,
	`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value`,
	`members[value eq 2819c223]`,
	`emails[type eq "work" and primary eq true].display`,
	`$ref`,
}

func FuzzParse(f *testing.F) {
	for _, seeds := range [][]string{rfcFilters, entraFilters, fuzzSeeds} {
		for _, s := range seeds {
			f.Add(s)
		}
	}
	user, group := sampleUser(), sampleGroup()
	emails := schema.User.Attr("", "emails")
	email := map[string]any{"type": "work", "value": "x@example.com"}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := Parse(s)
		if err != nil {
			checkSyntaxError(t, err, s, scimerr.InvalidFilter)
			return
		}
		out := e.String()
		if len(out) > MaxLength {
			// Quoting unquoted values can push an input near the
			// limit over it; such a rendering is rejected by design.
			return
		}
		again, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse(%q).String() = %q does not parse: %v", s, out, err)
		}
		if !reflect.DeepEqual(e, again) {
			t.Fatalf("Parse(%q) and Parse(%q) differ:\n%#v\n%#v", s, out, e, again)
		}
		if out2 := again.String(); out2 != out {
			t.Fatalf("String is not a fixed point: %q, then %q", out, out2)
		}
		if err := Check(e, schema.User); err != nil {
			if _, ok := scimerr.As(err); !ok {
				t.Fatalf("Check(%q) returned a non-SCIM error %v", s, err)
			}
		}
		Match(e, schema.User, user)
		Match(e, schema.Group, group)
		MatchValue(e, emails, email)
	})
}

func FuzzParsePath(f *testing.F) {
	for _, s := range pathSeeds {
		f.Add(s)
	}
	for _, s := range entraFilters {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePath(s)
		if err != nil {
			checkSyntaxError(t, err, s, scimerr.InvalidPath)
		} else {
			out := p.String()
			if len(out) <= MaxLength {
				again, err := ParsePath(out)
				if err != nil {
					t.Fatalf("ParsePath(%q).String() = %q does not parse: %v", s, out, err)
				}
				if !reflect.DeepEqual(p, again) {
					t.Fatalf("ParsePath(%q) and ParsePath(%q) differ:\n%#v\n%#v", s, out, p, again)
				}
				if out2 := again.String(); out2 != out {
					t.Fatalf("String is not a fixed point: %q, then %q", out, out2)
				}
			}
		}
		ap, err := ParseAttrPath(s)
		if err != nil {
			checkSyntaxError(t, err, s, scimerr.InvalidPath)
			return
		}
		if ap.Filter != nil {
			t.Fatalf("ParseAttrPath(%q) returned a value filter", s)
		}
		again, err := ParseAttrPath(ap.String())
		if err != nil || again != ap {
			t.Fatalf("ParseAttrPath(%q) does not round-trip: %#v, %#v, %v", s, ap, again, err)
		}
	})
}

// checkSyntaxError fails t unless err is a *SyntaxError inside the input
// that converts to a 400 SCIM error of the given type.
func checkSyntaxError(t *testing.T, err error, input, scimType string) {
	t.Helper()
	var se *SyntaxError
	if !errors.As(err, &se) {
		t.Fatalf("error %v is not a *SyntaxError", err)
	}
	if se.Pos < 0 || se.Pos > len(input) {
		t.Fatalf("error position %d outside the input of %d bytes", se.Pos, len(input))
	}
	e, ok := scimerr.As(err)
	if !ok || e.Status != 400 || e.ScimType != scimType {
		t.Fatalf("error %v converts to %+v, want 400 %s", err, e, scimType)
	}
}
