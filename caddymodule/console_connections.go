package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/caddy-scim/caddy-scim/adapter/tenants"
	"github.com/caddy-scim/caddy-scim/caddymodule/console"
	"github.com/caddy-scim/caddy-scim/plugins/sdk"
)

// maxConnections bounds a profile's connections option.
const maxConnections = 100

// connectionName is what a connection's own name may be: its tenant is
// called <account>.<name>.
var connectionName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{0,31}$`)

// accountProfile returns the profile whose connections option applies to
// an account: the profile of the account's own runtime tenant, when the
// account is no connection itself.
func (app *App) accountProfile(account string) (*tenants.Record, *profileReg) {
	rec, ok := app.runtimeRecord(account)
	if !ok || rec.Account != "" {
		return nil, nil
	}
	return &rec, app.profile(rec.Profile)
}

func (c consoleService) Connections(ctx context.Context, account string) ([]console.Summary, int, error) {
	app, err := c.running(account)
	if err != nil {
		return nil, 0, err
	}
	var out []console.Summary
	for _, rec := range app.shared.runtime.Connections(account) {
		s := console.Summary{Tenant: rec.Name, Name: strings.TrimPrefix(rec.Name, account+"."), Kind: KindRuntime,
			Profile: rec.Profile, Enabled: app.tenant(rec.Name) != nil, TenantURL: app.tenantURL(rec.Name)}
		if st, err := app.shared.tokens.Status(ctx, rec.Name); err == nil {
			s.LastRequest, s.LastChange = st.LastRequest, st.LastChange
			if st.Token != nil {
				exp := st.Token.ExpiresAt
				s.TokenExpiry = &exp
			}
		}
		out = append(out, s)
	}
	left := 0
	if _, pr := app.accountProfile(account); pr != nil {
		left = max(pr.profile.Connections-len(out), 0)
	}
	return out, left, nil
}

func (c consoleService) CreateConnection(ctx context.Context, account, name string) (string, error) {
	app, err := c.running(account)
	if err != nil {
		return "", err
	}
	if !connectionName.MatchString(name) {
		return "", &console.InvalidError{Message: "A connection's name is 1 to 32 letters, digits and dashes, starting with a letter or a digit."}
	}
	rec, pr := app.accountProfile(account)
	if pr == nil || pr.profile.Connections == 0 {
		return "", &console.InvalidError{Message: "Your service provider has not enabled named connections for your organization."}
	}
	existing, _, err := c.Connections(ctx, account)
	if err != nil {
		return "", err
	}
	if len(existing) >= pr.profile.Connections {
		return "", &console.InvalidError{Message: fmt.Sprintf("Your organization has as many connections as it may have (%d).", pr.profile.Connections)}
	}
	tenant := account + "." + name
	if err := tenants.CheckName(tenant); err != nil {
		return "", &console.InvalidError{Message: "That name is too long for a connection of " + account + "."}
	}
	if app.staticTenant(tenant) != nil {
		return "", &console.InvalidError{Message: "That name is taken; choose another."}
	}
	if _, ok := app.runtimeRecord(tenant); ok {
		return "", &console.InvalidError{Message: "A connection called " + name + " exists already."}
	}
	next := tenants.Record{Name: tenant, Profile: rec.Profile, Account: account}
	_, err = app.putRuntime(ctx, next)
	var conflict *tenants.ConflictError
	switch {
	case errors.As(err, &conflict):
		return "", &console.InvalidError{Message: "That name is taken (names differing only in case are the same); choose another."}
	case sdk.IsInvalid(err):
		return "", &console.InvalidError{Message: sdkMessage(err)}
	case err != nil:
		return "", err
	}
	app.logger.Info("named connection created in the console", zapTenant(tenant), zapAccount(account), zapProfile(rec.Profile))
	return tenant, nil
}

func (c consoleService) Account(ctx context.Context, tenant string) string {
	app, err := c.app()
	if err != nil {
		return ""
	}
	if rec, ok := app.runtimeRecord(tenant); ok {
		return rec.Account
	}
	return ""
}
