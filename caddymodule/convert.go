package caddymodule

import (
	"strings"

	"github.com/caddy-scim/caddy-scim/adapter/change"
	"github.com/caddy-scim/caddy-scim/adapter/schema"
	"github.com/caddy-scim/caddy-scim/plugins/sdk"
)

// toSDK turns a journal event into the normalized change a backend
// receives.
func toSDK(ev change.Event) sdk.Change {
	c := sdk.Change{
		Seq:     ev.Seq,
		Tenant:  ev.Tenant,
		Time:    ev.Time,
		Kind:    sdk.Kind(ev.Kind),
		Changed: ev.Changed,
	}
	for _, m := range ev.Members {
		c.Members = append(c.Members, sdk.Member{ID: m.ID, Type: m.Type})
	}
	if ev.ResourceType == "User" {
		c.User = toSDKUser(ev.ID, ev.Resource)
	} else {
		c.Group = toSDKGroup(ev.ID, ev.Resource)
	}
	return c
}

func str(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

func obj(m map[string]any, key string) map[string]any {
	o, _ := m[key].(map[string]any)
	return o
}

// preferred picks the primary entry, else the first of type want, else
// the first.
func preferred(entries []map[string]any, want string) map[string]any {
	for _, e := range entries {
		if e["primary"] == true {
			return e
		}
	}
	for _, e := range entries {
		if strings.EqualFold(str(e, "type"), want) {
			return e
		}
	}
	if len(entries) > 0 {
		return entries[0]
	}
	return nil
}

func entries(m map[string]any, key string) []map[string]any {
	arr, _ := m[key].([]any)
	out := make([]map[string]any, 0, len(arr))
	for _, el := range arr {
		if e, ok := el.(map[string]any); ok {
			out = append(out, e)
		}
	}
	return out
}

func toSDKUser(id string, res map[string]any) *sdk.User {
	name := obj(res, "name")
	ent := obj(res, schema.EnterpriseUserURN)
	u := &sdk.User{
		ID:             id,
		ExternalID:     str(res, "externalId"),
		UserName:       str(res, "userName"),
		Active:         change.Active(res),
		GivenName:      str(name, "givenName"),
		FamilyName:     str(name, "familyName"),
		MiddleName:     str(name, "middleName"),
		FormattedName:  str(name, "formatted"),
		DisplayName:    str(res, "displayName"),
		NickName:       str(res, "nickName"),
		Title:          str(res, "title"),
		UserType:       str(res, "userType"),
		Locale:         str(res, "locale"),
		Language:       str(res, "preferredLanguage"),
		Timezone:       str(res, "timezone"),
		EmployeeNumber: str(ent, "employeeNumber"),
		CostCenter:     str(ent, "costCenter"),
		Organization:   str(ent, "organization"),
		Division:       str(ent, "division"),
		Department:     str(ent, "department"),
		ManagerID:      str(obj(ent, "manager"), "value"),
		Attributes:     change.Flatten(res),
	}
	emails := entries(res, "emails")
	for _, e := range emails {
		u.Emails = append(u.Emails, sdk.Email{Value: str(e, "value"), Type: str(e, "type"), Primary: e["primary"] == true})
	}
	u.Email = str(preferred(emails, "work"), "value")
	phones := entries(res, "phoneNumbers")
	for _, p := range phones {
		u.PhoneNumbers = append(u.PhoneNumbers, sdk.Phone{Value: str(p, "value"), Type: str(p, "type"), Primary: p["primary"] == true})
	}
	u.Phone = str(preferred(phones, "work"), "value")
	for _, a := range entries(res, "addresses") {
		u.Addresses = append(u.Addresses, sdk.Address{
			Type: str(a, "type"), Formatted: str(a, "formatted"), StreetAddress: str(a, "streetAddress"),
			Locality: str(a, "locality"), Region: str(a, "region"), PostalCode: str(a, "postalCode"),
			Country: str(a, "country"), Primary: a["primary"] == true,
		})
	}
	return u
}

func toSDKGroup(id string, res map[string]any) *sdk.Group {
	return &sdk.Group{
		ID:          id,
		ExternalID:  str(res, "externalId"),
		DisplayName: str(res, "displayName"),
		Attributes:  change.Flatten(res),
	}
}
