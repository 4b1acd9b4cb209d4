package filter

import (
	"encoding/json"
	"testing"

	"github.com/caddy-scim/caddy-scim/adapter/schema"
)

const badgeURN = "urn:acme:params:scim:schemas:extension:badge:1.0:User"

// sampleUser is the RFC 7643 §8.2 user, in canonical form, with enterprise
// data and a custom extension.
func sampleUser() map[string]any {
	return map[string]any{
		"schemas":     []any{schema.UserURN, schema.EnterpriseUserURN, badgeURN},
		"id":          "2819c223-7f76-453a-919d-413861904646",
		"externalId":  "BJensen-Ext",
		"userName":    "bjensen@example.com",
		"name":        map[string]any{"formatted": "Ms. Barbara J Jensen III", "familyName": "Jensen", "givenName": "Barbara"},
		"displayName": "Babs Jensen",
		"title":       "Tour Guide",
		"userType":    "Employee",
		"nickName":    "",
		"active":      true,
		"emails": []any{
			map[string]any{"value": "bjensen@example.com", "type": "work", "primary": true},
			map[string]any{"value": "babs@jensen.org", "type": "home"},
		},
		"ims":       []any{map[string]any{"value": "babs@foo.com", "type": "xmpp"}},
		"addresses": []any{map[string]any{"type": "work", "locality": "Hollywood", "postalCode": "91608"}},
		"meta": map[string]any{
			"resourceType": "User",
			"created":      "2010-01-23T04:56:22Z",
			"lastModified": "2011-05-13T04:42:34Z",
			"location":     "https://example.com/v2/Users/2819c223-7f76-453a-919d-413861904646",
		},
		schema.EnterpriseUserURN: map[string]any{
			"employeeNumber": "701984",
			"department":     "Tour Operations",
			"manager":        map[string]any{"value": "26118915-6090-4610-87e4-49d8ca9f808d", "displayName": "John Smith"},
		},
		badgeURN: map[string]any{
			"badgeNumber": json.Number("4711"),
			"Floor":       "Third",
			"vip":         false,
			"tags":        []any{"Lobby", "garage"},
			"ratio":       json.Number("0.75"),
			"blank":       map[string]any{"a": "", "b": nil, "c": []any{}},
			"nested":      []any{[]any{}, []any{"x"}},
		},
	}
}

func sampleGroup() map[string]any {
	return map[string]any{
		"schemas":     []any{schema.GroupURN},
		"id":          "e9e30dba-f08f-4109-8486-d5c6a331660a",
		"externalId":  "TG",
		"displayName": "Tour Guides",
		"members": []any{
			map[string]any{"value": "2819c223-7f76-453a-919d-413861904646", "display": "Babs Jensen", "type": "User"},
			map[string]any{"value": "902c246b-6245-4190-8e05-00816be7344a", "type": "User"},
		},
		"meta": map[string]any{"resourceType": "Group", "created": "2010-01-23T04:56:22Z", "lastModified": "2011-05-13T04:42:34Z"},
	}
}

// device is a resource type with the attribute types the core schemas lack.
var device = &schema.ResourceType{
	ID: "Device", Name: "Device", Endpoint: "/Devices",
	Schema: &schema.Schema{ID: "urn:example:scim:schemas:Device", Attributes: []*schema.Attribute{
		{Name: "serial", Type: schema.String, CaseExact: true},
		{Name: "ports", Type: schema.Integer},
		{Name: "big", Type: schema.Integer},
		{Name: "weight", Type: schema.Decimal},
		{Name: "seen", Type: schema.DateTime, MultiValued: true},
		{Name: "codes", Type: schema.String, MultiValued: true},
		{Name: "enabled", Type: schema.Boolean},
	}},
}

func sampleDevice() map[string]any {
	return map[string]any{
		"serial":  "SN-001",
		"ports":   json.Number("8"),
		"big":     json.Number("9007199254740993"),
		"weight":  json.Number("1.25"),
		"seen":    []any{"2020-01-01T00:00:00Z", "2021-06-01T12:00:00.5+02:00"},
		"codes":   []any{"Alpha", "beta"},
		"enabled": "False",
	}
}

type truth struct {
	filter string
	want   bool
}

func runTruthTable(t *testing.T, rt *schema.ResourceType, res map[string]any, table []truth) {
	t.Helper()
	for _, tt := range table {
		t.Run(tt.filter, func(t *testing.T) {
			e, err := Parse(tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			if got := Match(e, rt, res); got != tt.want {
				t.Errorf("Match = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestMatchUser(t *testing.T) {
	const ent = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:"
	runTruthTable(t, schema.User, sampleUser(), []truth{
		// userName is caseExact=false (RFC 7643 §4.1.1).
		{`userName eq "bjensen@example.com"`, true},
		{`userName eq "BJensen@Example.COM"`, true},
		{`USERNAME Eq "bjensen@example.com"`, true},
		{`userName eq "bjensen"`, false},
		{`userName ne "BJENSEN@EXAMPLE.COM"`, false},
		{`userName ne "someone"`, true},
		{`userName sw "BJ"`, true},
		{`userName ew "EXAMPLE.COM"`, true},
		{`userName co "jensen@"`, true},
		{`userName co "smith"`, false},
		{`userName sw "jensen"`, false},
		{`userName gt "B"`, true},
		{`userName gt "C"`, false},
		{`userName ge "BJENSEN@EXAMPLE.COM"`, true},
		{`userName le "BJENSEN@EXAMPLE.COM"`, true},
		{`userName lt "bjensen@example.com"`, false},
		// id and externalId are caseExact (RFC 7643 §3.1).
		{`externalId eq "BJensen-Ext"`, true},
		{`externalId eq "bjensen-ext"`, false},
		{`externalId eq BJensen-Ext`, true},
		{`externalId sw "BJ"`, true},
		{`externalId sw "bj"`, false},
		{`externalId lt "a"`, true},
		{`externalId gt "a"`, false},
		{`id eq "2819c223-7f76-453a-919d-413861904646"`, true},
		{`id eq "2819C223-7F76-453A-919D-413861904646"`, false},
		// Sub-attributes and presence.
		{`name.familyName eq "jensen"`, true},
		{`name.familyName co "O'Malley"`, false},
		{`Name.FamilyName sw "JEN"`, true},
		{`name pr`, true},
		{`name.middleName pr`, false},
		{`title pr`, true},
		{`nickName pr`, false},
		{`nickName eq null`, true},
		{`profileUrl eq null`, true},
		{`profileUrl ne null`, false},
		{`title eq null`, false},
		{`title ne null`, true},
		{`phoneNumbers pr`, false},
		// Booleans.
		{`active eq true`, true},
		{`active eq false`, false},
		{`active ne false`, true},
		{`active eq "True"`, true},
		{`active gt false`, false},
		{`active co "t"`, false},
		// dateTimes compare as instants.
		{`meta.lastModified gt "2011-05-13T04:42:33Z"`, true},
		{`meta.lastModified gt "2011-05-13T04:42:34Z"`, false},
		{`meta.lastModified ge "2011-05-13T04:42:34Z"`, true},
		{`meta.lastModified eq "2011-05-13T06:42:34+02:00"`, true},
		{`meta.lastModified lt "2011-05-13T04:42:34.001Z"`, true},
		{`meta.lastModified le "2011-05-13T04:42:33.999Z"`, false},
		{`meta.lastModified gt "yesterday"`, false},
		{`meta.lastModified sw "2011-05"`, true},
		{`meta.created lt "2011-01-01T00:00:00Z"`, true},
		// Multi-valued attributes: any value; complex ones compare "value".
		{`emails co "example.com"`, true},
		{`emails co "jensen.org"`, true},
		{`emails co "nowhere"`, false},
		{`emails eq "BABS@jensen.org"`, true},
		{`emails.value ew ".org"`, true},
		{`emails.type eq "home"`, true},
		{`emails.type eq "other"`, false},
		{`emails.type ne "other"`, true},
		{`emails.type ne "home"`, false},
		{`emails pr`, true},
		{`emails.display pr`, false},
		// Value filters hold within one value.
		{`emails[type eq "work" and value co "@example.com"]`, true},
		{`emails[type eq "home" and value co "@example.com"]`, false},
		{`emails[type eq "home" or value co "@nowhere"]`, true},
		{`emails[not (type eq "work")]`, true},
		{`emails[primary eq true]`, true},
		{`emails[primary eq false]`, false},
		{`emails[type eq "work"].value eq "bjensen@example.com"`, true},
		{`emails[type eq "home"].value eq "bjensen@example.com"`, false},
		{`emails[type eq work].value eq "BJENSEN@example.com"`, true},
		{`emails[primary eq true].type eq "work"`, true},
		{`emails[type eq "other"] pr`, false},
		{`emails[type eq "home"] pr`, true},
		{`addresses[type eq "work"].locality eq "hollywood"`, true},
		{`addresses[type eq "home"].locality pr`, false},
		{`ims[type eq "xmpp" and value co "@foo.com"]`, true},
		// Enterprise extension by URN, and by name as a fallback.
		{ent + `employeeNumber eq "701984"`, true},
		{ent + `employeeNumber eq 701984`, true},
		{ent + `employeeNumber eq "701985"`, false},
		{`employeeNumber eq "701984"`, true},
		{`EmployeeNumber sw "70"`, true},
		{ent + `manager.value eq "26118915-6090-4610-87e4-49d8ca9f808d"`, true},
		{ent + `manager eq "26118915-6090-4610-87e4-49d8ca9f808d"`, true},
		{ent + `manager.displayName sw "john"`, true},
		{ent + `costCenter pr`, false},
		{`URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER:EMPLOYEENUMBER eq "701984"`, true},
		{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User pr`, true},
		{`urn:ietf:params:scim:schemas:core:2.0:User:userName sw "b"`, true},
		{`urn:ietf:params:scim:schemas:core:2.0:User:employeeNumber pr`, false},
		// Custom extension data compares by JSON type.
		{badgeURN + `:badgeNumber eq 4711`, true},
		{badgeURN + `:badgeNumber eq 4711.0`, true},
		{badgeURN + `:badgeNumber gt 4000`, true},
		{badgeURN + `:badgeNumber lt 4711`, false},
		{badgeURN + `:badgeNumber le 4711`, true},
		{badgeURN + `:badgeNumber eq "4711"`, true},
		{badgeURN + `:badgeNumber co "47"`, false},
		{badgeURN + `:ratio lt 1`, true},
		{badgeURN + `:ratio ge 0.8`, false},
		{badgeURN + `:floor eq "third"`, true},
		{badgeURN + `:FLOOR sw "TH"`, true},
		{badgeURN + `:vip eq false`, true},
		{badgeURN + `:vip eq true`, false},
		{badgeURN + `:vip gt false`, false},
		{badgeURN + `:tags eq "lobby"`, true},
		{badgeURN + `:tags[value eq "GARAGE"]`, true},
		{badgeURN + `:missing pr`, false},
		{badgeURN + `:vip pr`, true},
		{badgeURN + `:badgeNumber pr`, true},
		{badgeURN + `:blank pr`, false},
		{badgeURN + `:nested pr`, true},
		{badgeURN + ` pr`, true},
		{`urn:other:ext:thing pr`, false},
		{`badgeNumber eq 4711`, false},
		// Attributes no schema defines.
		{`schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"`, true},
		{`schemas eq "urn:example:none"`, false},
		{`foo eq "x"`, false},
		{`foo ne "x"`, true},
		{`foo pr`, false},
		{`foo eq null`, true},
		// Type mismatches do not match.
		{`active gt 1`, false},
		{`name.familyName gt true`, false},
		{`meta.lastModified gt 5`, false},
		{`name eq "Jensen"`, false},
		{`name co "Jensen"`, false},
		// Logic, including the RFC examples.
		{`title pr and userType eq "Employee"`, true},
		{`title pr and userType eq "Intern"`, false},
		{`title pr or userType eq "Intern"`, true},
		{`nickName pr or userType eq "Intern"`, false},
		{`userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")`, true},
		{`userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")`, false},
		{`userType eq "Employee" and (emails.type eq "work")`, true},
		{`userType eq "Employee" and emails[type eq "work" and value co "@example.com"]`, true},
		{`emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]`, true},
		{`not (userType eq "Intern")`, true},
		{`not (userType eq "Employee")`, false},
		{`userType eq "Intern" or title pr and active eq true`, true},
		{`(userType eq "Intern" or title pr) and active eq false`, false},
	})
}

func TestMatchGroup(t *testing.T) {
	runTruthTable(t, schema.Group, sampleGroup(), []truth{
		{`displayName eq "tour guides"`, true},
		{`displayName eq "Tour"`, false},
		{`externalId eq "TG"`, true},
		{`externalId eq "tg"`, false},
		{`members[value eq "2819c223-7f76-453a-919d-413861904646"]`, true},
		{`members[value eq "2819C223-7F76-453A-919D-413861904646"]`, true},
		{`members[value eq "00000000-0000-0000-0000-000000000000"]`, false},
		{`members.value eq "902c246b-6245-4190-8e05-00816be7344a"`, true},
		{`members eq "902c246b-6245-4190-8e05-00816be7344a"`, true},
		{`members[type eq "Group"]`, false},
		{`members[display sw "babs"]`, true},
		{`members.display pr`, true},
		{`members.$ref pr`, false},
		{`meta.resourceType eq "Group"`, true},
		{`meta.resourceType eq "group"`, false},
		{`userName pr`, false},
		{`emails pr`, false},
	})
}

func TestMatchTypedAttributes(t *testing.T) {
	runTruthTable(t, device, sampleDevice(), []truth{
		{`serial eq "SN-001"`, true},
		{`serial eq "sn-001"`, false},
		{`ports eq 8`, true},
		{`ports eq 8.0`, true},
		{`ports eq 8e0`, true},
		{`ports eq "8"`, true},
		{`ports ne 8`, false},
		{`ports gt 7.5`, true},
		{`ports ge 8`, true},
		{`ports lt 8`, false},
		{`ports le -1`, false},
		{`ports co "8"`, false},
		{`ports eq true`, false},
		{`ports eq "eight"`, false},
		{`weight gt 1.2`, true},
		{`weight le 1.25`, true},
		{`weight eq 1.250`, true},
		{`weight eq 125e-2`, true},
		{`weight lt 1e999`, true},
		{`big eq 9007199254740993`, true},
		{`big eq 9007199254740992`, false},
		{`big gt 9007199254740992`, true},
		{`seen gt "2021-01-01T00:00:00Z"`, true},
		{`seen lt "2019-01-01T00:00:00Z"`, false},
		{`seen eq "2021-06-01T10:00:00.5Z"`, true},
		{`seen eq "2020-01-01T01:00:00+01:00"`, true},
		{`codes eq "alpha"`, true},
		{`codes eq "gamma"`, false},
		{`codes[value sw "B"]`, true},
		{`codes.value eq "BETA"`, true},
		{`codes[type eq "x"]`, false},
		{`enabled eq false`, true},
		{`enabled eq true`, false},
		{`enabled ne true`, true},
	})
}

func TestMatchValue(t *testing.T) {
	emails := schema.User.Attr("", "emails")
	members := schema.Group.Attr("", "members")
	codes := device.Attr("", "codes")
	work := map[string]any{"value": "bjensen@example.com", "type": "work", "primary": true}
	tests := []struct {
		name   string
		attr   *schema.Attribute
		v      any
		filter string
		want   bool
	}{
		{"type", emails, work, `type eq "work"`, true},
		{"type mismatch", emails, work, `type eq "home"`, false},
		{"value folded", emails, work, `value co "@EXAMPLE"`, true},
		{"primary", emails, work, `primary eq true`, true},
		{"absent", emails, work, `display pr`, false},
		{"logic", emails, work, `type eq "work" and not (primary eq false)`, true},
		{"unknown sub-attribute", emails, work, `nothing pr`, false},
		{"URN ignored", emails, work, `urn:ietf:params:scim:schemas:core:2.0:User:type eq "work"`, true},
		{"member", members, map[string]any{"value": "abc"}, `value eq "abc"`, true},
		{"member case", members, map[string]any{"value": "abc"}, `value eq "ABC"`, true},
		{"simple value", codes, "Alpha", `value eq "alpha"`, true},
		{"simple value other name", codes, "Alpha", `type eq "alpha"`, false},
		{"no definition", nil, map[string]any{"Kind": "Badge", "n": json.Number("3")}, `kind eq "badge" and n gt 2`, true},
		{"no definition scalar", nil, "x", `value eq "X"`, true},
		{"nil value", emails, nil, `value pr`, false},
		{"float64", nil, map[string]any{"n": 3.5}, `n gt 3 and n lt 4 and n eq 3.5`, true},
		{"int", nil, map[string]any{"n": 7}, `n eq 7 and n ge 7.0`, true},
		{"int64", nil, map[string]any{"n": int64(-2)}, `n lt -1 and n pr`, true},
		{"bool", nil, map[string]any{"b": true}, `b eq true and b pr`, true},
		{"not an object", emails, 42, `type eq "work"`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Parse(tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			if got := MatchValue(e, tt.attr, tt.v); got != tt.want {
				t.Errorf("MatchValue(%s) = %v, want %v", tt.filter, got, tt.want)
			}
		})
	}
}

func TestMatchPatchPathFilter(t *testing.T) {
	// The PATCH engine selects the values a path's filter targets with
	// MatchValue on each element (RFC 7644 §3.5.2).
	p, err := ParsePath(`emails[type eq "home"].value`)
	if err != nil {
		t.Fatal(err)
	}
	emails := schema.User.Attr("", p.Attr)
	var picked []any
	for _, el := range sampleUser()["emails"].([]any) {
		if MatchValue(p.Filter, emails, el) {
			picked = append(picked, el.(map[string]any)[p.Sub])
		}
	}
	if len(picked) != 1 || picked[0] != "babs@jensen.org" {
		t.Fatalf("picked %v", picked)
	}
}

func TestMatchNil(t *testing.T) {
	user := sampleUser()
	leaf := cmp(attr("userName"), Eq, str("bjensen@example.com"))
	exprs := []Expr{
		nil,
		(*Compare)(nil), (*Present)(nil), (*And)(nil), (*Or)(nil), (*Not)(nil), (*ValuePath)(nil),
		&And{}, &Or{}, &Not{}, &ValuePath{Path: attr("emails")},
		&And{Left: leaf}, &Or{Right: nil},
		&Compare{Path: attr("userName"), Op: "zz", Value: str("x")},
		&Compare{Path: attr("userName"), Op: Eq, Value: Literal{Kind: 99}},
		&Compare{Path: Path{Attr: "emails", Filter: &And{}}, Op: Eq, Value: str("x")},
	}
	for _, e := range exprs {
		for _, rt := range []*schema.ResourceType{schema.User, nil, {}} {
			if Match(e, rt, user) {
				t.Errorf("Match(%#v) = true", e)
			}
			Match(e, rt, nil)
		}
		if MatchValue(e, nil, nil) {
			t.Errorf("MatchValue(%#v) = true", e)
		}
		if err := Check(e, schema.User); err != nil {
			t.Errorf("Check(%#v) = %v", e, err)
		}
		Check(e, nil)
	}
	if !Match(leaf, nil, user) {
		t.Error("Match without a resource type does not fall back to the data")
	}
}

func BenchmarkMatch(b *testing.B) {
	user := sampleUser()
	for _, s := range []string{
		`userName eq "BJensen@example.com"`,
		`emails[type eq "work"].value eq "bjensen@example.com"`,
		`externalId eq jyoung`,
	} {
		e, err := Parse(s)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(s, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Match(e, schema.User, user)
			}
		})
	}
}

func BenchmarkParse(b *testing.B) {
	for _, s := range []string{
		`userName eq "ryan3@contoso.com"`,
		`emails[type eq "work"].value eq "ryan3@contoso.com"`,
		`userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")`,
	} {
		b.Run(s, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse(s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
