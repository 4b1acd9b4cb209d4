package caddymodule

import (
	"context"
	"fmt"

	"github.com/caddy-scim/caddy-scim/adapter/store"
	"github.com/caddy-scim/caddy-scim/adapter/tokens"
)

// collisionWarning reports the tenant's users and groups whose unique names
// became one name when the store's identifier rule changed (see package
// ident): both were kept, and the operator should have the IdP rename or
// remove one. It names resources by id only, never by name.
func collisionWarning(ctx context.Context, st store.CollisionReporter, tenant string) (*tokens.Warning, error) {
	cols, total, err := st.Collisions(ctx, tenant, 1)
	if err != nil || total == 0 {
		return nil, err
	}
	c := cols[0]
	what := "resource shares its"
	if total > 1 {
		what = "resources share their"
	}
	return &tokens.Warning{Code: "identifier_collisions", Message: fmt.Sprintf(
		"%d %s %s with another under the identifier comparison rule (case, width and accent forms); both were kept, not merged. "+
			"Example: %s %s has the same %s as %s. Rename or remove one of each pair in the IdP",
		total, what, c.Attr, c.Type, c.ID, c.Attr, c.HolderID)}, nil
}
