package sdktest

import (
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/caddy-scim/caddy-scim/plugins/sdk"
)

// userAttributes flattens u's fields into SCIM paths, as sdk.User's
// Attributes documents: simple paths, the primary value of a multi-valued
// attribute under "emails.value", typed values under
// `emails[type eq "work"].value`, and Enterprise User attributes under
// their schema URN. Empty values are left out.
func userAttributes(u *sdk.User) map[string]string {
	m := map[string]string{}
	set := func(path, value string) {
		if value != "" {
			m[path] = value
		}
	}
	set("id", u.ID)
	set("externalId", u.ExternalID)
	set("userName", u.UserName)
	set("active", strconv.FormatBool(u.Active))
	set("name.givenName", u.GivenName)
	set("name.familyName", u.FamilyName)
	set("name.middleName", u.MiddleName)
	set("name.formatted", u.FormattedName)
	set("displayName", u.DisplayName)
	set("nickName", u.NickName)
	set("title", u.Title)
	set("userType", u.UserType)
	set("locale", u.Locale)
	set("preferredLanguage", u.Language)
	set("timezone", u.Timezone)
	set("emails.value", u.Email)
	for _, e := range u.Emails {
		set(`emails[type eq "`+e.Type+`"].value`, e.Value)
	}
	set("phoneNumbers.value", u.Phone)
	for _, p := range u.PhoneNumbers {
		set(`phoneNumbers[type eq "`+p.Type+`"].value`, p.Value)
	}
	for _, a := range u.Addresses {
		prefix := `addresses[type eq "` + a.Type + `"].`
		set(prefix+"formatted", a.Formatted)
		set(prefix+"streetAddress", a.StreetAddress)
		set(prefix+"locality", a.Locality)
		set(prefix+"region", a.Region)
		set(prefix+"postalCode", a.PostalCode)
		set(prefix+"country", a.Country)
	}
	set(enterprise+":employeeNumber", u.EmployeeNumber)
	set(enterprise+":costCenter", u.CostCenter)
	set(enterprise+":organization", u.Organization)
	set(enterprise+":division", u.Division)
	set(enterprise+":department", u.Department)
	set(enterprise+":manager.value", u.ManagerID)
	return m
}

// splitPath splits a SCIM attribute path into its attribute, with the
// schema URN for an extension and lower-cased, and its sub-attribute:
// `emails[type eq "work"].value` gives "emails" and "value";
// "urn:…:User:manager.value" gives "urn:…:user:manager" and "value". The
// core User schema's URN is dropped.
func splitPath(path string) (attribute, sub string) {
	p := strings.ToLower(path)
	schema := ""
	if strings.HasPrefix(p, "urn:") {
		if i := strings.LastIndexByte(p, ':'); i >= 0 {
			schema, p = p[:i+1], p[i+1:]
		}
		if schema == "urn:ietf:params:scim:schemas:core:2.0:user:" {
			schema = ""
		}
	}
	end := strings.IndexAny(p, ".[")
	if end < 0 {
		return schema + p, ""
	}
	attribute = schema + p[:end]
	rest := p[end:]
	if rest[0] == '[' {
		if i := strings.IndexByte(rest, ']'); i >= 0 {
			rest = rest[i+1:]
		}
	}
	return attribute, strings.TrimPrefix(rest, ".")
}

// multiValued are the attributes whose values are removed together: a user
// lacking one of their sub-attributes lacks them all.
var multiValued = []string{"emails", "phonenumbers", "addresses", enterpriseLower + "manager"}

var enterpriseLower = strings.ToLower(enterprise) + ":"

// withoutAttribute returns a copy of u that has no value at the SCIM path,
// neither in its fields nor in Attributes.
func withoutAttribute(u *sdk.User, path string) *sdk.User {
	c := cloneUser(u)
	attribute, sub := splitPath(path)
	whole := sub == "" || slices.Contains(multiValued, attribute)
	maps.DeleteFunc(c.Attributes, func(k, _ string) bool {
		a, s := splitPath(k)
		return a == attribute && (whole || s == sub)
	})
	drop := func(field *string, name string) {
		if whole || sub == strings.ToLower(name) {
			*field = ""
		}
	}
	switch attribute {
	case "id":
		c.ID = ""
	case "externalid":
		c.ExternalID = ""
	case "username":
		c.UserName = ""
	case "active":
		c.Active = false
	case "name":
		drop(&c.GivenName, "givenName")
		drop(&c.FamilyName, "familyName")
		drop(&c.MiddleName, "middleName")
		drop(&c.FormattedName, "formatted")
	case "displayname":
		c.DisplayName = ""
	case "nickname":
		c.NickName = ""
	case "title":
		c.Title = ""
	case "usertype":
		c.UserType = ""
	case "locale":
		c.Locale = ""
	case "preferredlanguage":
		c.Language = ""
	case "timezone":
		c.Timezone = ""
	case "emails":
		c.Email, c.Emails = "", nil
	case "phonenumbers":
		c.Phone, c.PhoneNumbers = "", nil
	case "addresses":
		c.Addresses = nil
	case enterpriseLower + "employeenumber":
		c.EmployeeNumber = ""
	case enterpriseLower + "costcenter":
		c.CostCenter = ""
	case enterpriseLower + "organization":
		c.Organization = ""
	case enterpriseLower + "division":
		c.Division = ""
	case enterpriseLower + "department":
		c.Department = ""
	case enterpriseLower + "manager":
		c.ManagerID = ""
	}
	return c
}

// cloneUser returns a deep copy of u.
func cloneUser(u *sdk.User) *sdk.User {
	c := *u
	c.Emails = slices.Clone(u.Emails)
	c.PhoneNumbers = slices.Clone(u.PhoneNumbers)
	c.Addresses = slices.Clone(u.Addresses)
	c.Attributes = maps.Clone(u.Attributes)
	return &c
}

// cloneGroup returns a deep copy of g.
func cloneGroup(g *sdk.Group) *sdk.Group {
	c := *g
	c.Attributes = maps.Clone(g.Attributes)
	return &c
}
