// Package pharos is a caddy-scim backend modelled on Pharos Print
// Analytics and Pharos Cloud: users keyed by login (the SCIM userName),
// each with an email, full name, department, cost center, an enabled flag
// and badge cards; groups by display name with their members' logins.
//
// The product store lives in the tenant's data directory. Badge cards come
// from the import-cards action, which only adds cards to users the
// identity provider has provisioned. Two settings choose what happens to
// cards when a user is deactivated or deleted; see the package README.
package pharos

import (
	"strings"

	"github.com/caddy-scim/caddy-scim/plugins/internal/printstore"
	"github.com/caddy-scim/caddy-scim/plugins/sdk"
)

// Name is the backend's name.
const Name = "pharos"

// Version is the backend's version.
const Version = "1.0.0"

// Backend is the Pharos-style backend. Create it with New; it is
// configured by the host and must be closed with Close.
type Backend struct {
	// The shared print-management store provides Describe, Configure,
	// Apply, Action, Inspect, Purge and Close.
	*printstore.Backend[profile]
}

// profile is what the product keeps about a user besides login, cards and
// groups. Its JSON members follow the login in each user of the Inspect
// JSON, so they match User's fields in name and order.
type profile struct {
	Email      string `json:"email"`
	FullName   string `json:"full_name"`
	Department string `json:"department"`
	CostCenter string `json:"cost_center"`
}

// New returns an unconfigured Pharos-style backend.
func New() sdk.Backend {
	return &Backend{Backend: printstore.NewBackend(printstore.Product[profile]{
		Name:                   Name,
		Version:                Version,
		Description:            "Pharos-style print management: users by login with email, name, department, cost center and badge cards; groups by name.",
		KeyName:                "login",
		RequiredUserAttributes: []string{"emails"},
		GroupsName:             "groups",
		MapUser:                mapUser,
	})}
}

// mapUser maps a SCIM user to a login and its profile. The login is the
// userName; an email is required.
func mapUser(u *sdk.User) (string, profile, error) {
	login := strings.TrimSpace(u.UserName)
	if login == "" {
		return "", profile{}, sdk.Invalid("SCIM user %s has no userName to use as the login", u.ID)
	}
	email := strings.TrimSpace(u.Email)
	for _, e := range u.Emails {
		if email != "" {
			break
		}
		email = strings.TrimSpace(e.Value)
	}
	if email == "" {
		return "", profile{}, sdk.Invalid("user %q (SCIM id %s) has no email address; Pharos requires one", login, u.ID)
	}
	full := strings.TrimSpace(u.FormattedName)
	if full == "" {
		full = strings.TrimSpace(strings.TrimSpace(u.GivenName) + " " + strings.TrimSpace(u.FamilyName))
	}
	return login, profile{
		Email:      email,
		FullName:   full,
		Department: strings.TrimSpace(u.Department),
		CostCenter: strings.TrimSpace(u.CostCenter),
	}, nil
}

// Store is the product store as Inspect shows it: its JSON decodes into
// a Store, sorted by login, group name and card.
type Store struct {
	Users         []User         `json:"users"`
	Groups        []Group        `json:"groups"`
	RetainedCards []RetainedCard `json:"retained_cards"`
	LastSeq       uint64         `json:"last_seq"`
}

// User is a Pharos user.
type User struct {
	Login      string   `json:"login"`
	Email      string   `json:"email"`
	FullName   string   `json:"full_name"`
	Department string   `json:"department"`
	CostCenter string   `json:"cost_center"`
	Enabled    bool     `json:"enabled"`
	Cards      []string `json:"cards"`
	Groups     []string `json:"groups"`
	ScimID     string   `json:"scim_id"`
}

// Group is a Pharos group and its members' logins.
type Group struct {
	Name    string   `json:"name"`
	Members []string `json:"members"`
}

// RetainedCard is a card kept from a deleted user, with the user's former
// login.
type RetainedCard struct {
	Card  string `json:"card"`
	Login string `json:"login"`
}

// Interface guards
var (
	_ sdk.Backend   = (*Backend)(nil)
	_ sdk.Inspector = (*Backend)(nil)
	_ sdk.Actioner  = (*Backend)(nil)
	_ sdk.Purger    = (*Backend)(nil)
)
