// Package hpinsights is a caddy-scim backend modelled on HP Insights
// (Secure Print and Secure Print Direct): users keyed by their work email,
// each with a display name, employee id, office, department, an enabled
// flag and badge cards; groups become print-policy groups by display name
// with their members' emails.
//
// The product store lives in the tenant's data directory. Badge cards come
// from the import-cards action, which only adds cards to users the
// identity provider has provisioned. Two settings choose what happens to
// cards when a user is deactivated or deleted; see the package README.
package hpinsights

import (
	"strings"

	"github.com/caddy-scim/caddy-scim/plugins/internal/printstore"
	"github.com/caddy-scim/caddy-scim/plugins/sdk"
)

// Name is the backend's name.
const Name = "hpinsights"

// Version is the backend's version.
const Version = "1.0.0"

// Backend is the HP Insights-style backend. Create it with New; it is
// configured by the host and must be closed with Close.
type Backend struct {
	// The shared print-management store provides Describe, Configure,
	// Apply, Action, Inspect, Purge and Close.
	*printstore.Backend[profile]
}

// profile is what the product keeps about a user besides email, cards and
// groups. Its JSON members follow the email in each user of the Inspect
// JSON, so they match User's fields in name and order.
type profile struct {
	DisplayName string `json:"display_name"`
	EmployeeID  string `json:"employee_id"`
	Office      string `json:"office"`
	Department  string `json:"department"`
}

// New returns an unconfigured HP Insights-style backend.
func New() sdk.Backend {
	return &Backend{Backend: printstore.NewBackend(printstore.Product[profile]{
		Name:                   Name,
		Version:                Version,
		Description:            "HP Insights-style print management: users by work email with display name, employee id, office, department and badge cards; print-policy groups by name.",
		KeyName:                "email",
		RequiredUserAttributes: []string{"emails"},
		GroupsName:             "policy_groups",
		MapUser:                mapUser,
	})}
}

// mapUser maps a SCIM user to its key email and profile.
func mapUser(u *sdk.User) (string, profile, error) {
	email := keyEmail(u.Emails)
	if email == "" {
		email = strings.TrimSpace(u.Email)
	}
	if email == "" {
		return "", profile{}, sdk.Invalid("user %q (SCIM id %s) has no email address; HP Insights keys users by email", u.UserName, u.ID)
	}
	name := strings.TrimSpace(u.DisplayName)
	if name == "" {
		name = strings.TrimSpace(u.FormattedName)
	}
	if name == "" {
		name = strings.TrimSpace(strings.TrimSpace(u.GivenName) + " " + strings.TrimSpace(u.FamilyName))
	}
	return email, profile{
		DisplayName: name,
		EmployeeID:  strings.TrimSpace(u.EmployeeNumber),
		Office:      office(u.Addresses),
		Department:  strings.TrimSpace(u.Department),
	}, nil
}

// keyEmail picks the email a user is keyed by: the work email (the
// primary one if there are several), else the primary, else the first.
func keyEmail(emails []sdk.Email) string {
	var work, primary, first string
	for _, e := range emails {
		v := strings.TrimSpace(e.Value)
		if v == "" {
			continue
		}
		isWork := strings.EqualFold(e.Type, "work")
		if isWork && (work == "" || e.Primary) {
			work = v
		}
		if e.Primary && primary == "" {
			primary = v
		}
		if first == "" {
			first = v
		}
	}
	switch {
	case work != "":
		return work
	case primary != "":
		return primary
	}
	return first
}

// office is the locality of the work address, else its formatted text.
func office(addrs []sdk.Address) string {
	for _, a := range addrs {
		if !strings.EqualFold(a.Type, "work") {
			continue
		}
		if v := strings.TrimSpace(a.Locality); v != "" {
			return v
		}
		return strings.TrimSpace(a.Formatted)
	}
	return ""
}

// Store is the product store as Inspect shows it: its JSON decodes into
// a Store, sorted by email, group name and card.
type Store struct {
	Users         []User         `json:"users"`
	PolicyGroups  []PolicyGroup  `json:"policy_groups"`
	RetainedCards []RetainedCard `json:"retained_cards"`
	LastSeq       uint64         `json:"last_seq"`
}

// User is an HP Insights user.
type User struct {
	Email        string   `json:"email"`
	DisplayName  string   `json:"display_name"`
	EmployeeID   string   `json:"employee_id"`
	Office       string   `json:"office"`
	Department   string   `json:"department"`
	Enabled      bool     `json:"enabled"`
	Cards        []string `json:"cards"`
	PolicyGroups []string `json:"policy_groups"`
	ScimID       string   `json:"scim_id"`
}

// PolicyGroup is a print-policy group and its members' emails.
type PolicyGroup struct {
	Name    string   `json:"name"`
	Members []string `json:"members"`
}

// RetainedCard is a card kept from a deleted user, with the user's former
// email.
type RetainedCard struct {
	Card  string `json:"card"`
	Email string `json:"email"`
}

// Interface guards
var (
	_ sdk.Backend   = (*Backend)(nil)
	_ sdk.Inspector = (*Backend)(nil)
	_ sdk.Actioner  = (*Backend)(nil)
	_ sdk.Purger    = (*Backend)(nil)
)
