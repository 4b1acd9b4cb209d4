package caddymodule

import (
	"context"
	"strings"
	"testing"

	"github.com/caddy-scim/caddy-scim/adapter/store"
)

type collisions []store.Collision

func (c collisions) Collisions(_ context.Context, tenant string, limit int) ([]store.Collision, int, error) {
	if tenant != "acme" {
		return nil, 0, nil
	}
	return c[:min(limit, len(c))], len(c), nil
}

func TestCollisionWarning(t *testing.T) {
	ctx := context.Background()
	st := collisions{
		{Type: "User", Attr: "userName", ID: "u-2", HolderID: "u-1"},
		{Type: "Group", Attr: "displayName", ID: "g-2", HolderID: "g-1"},
	}
	w, err := collisionWarning(ctx, st, "acme")
	if err != nil || w == nil {
		t.Fatalf("warning = %v, %v; want one", w, err)
	}
	if w.Code != "identifier_collisions" {
		t.Errorf("code %q", w.Code)
	}
	for _, want := range []string{"2 resources share", "User u-2", "as u-1", "both were kept", "in the IdP"} {
		if !strings.Contains(w.Message, want) {
			t.Errorf("message %q lacks %q", w.Message, want)
		}
	}
	if w, err := collisionWarning(ctx, st, "other"); err != nil || w != nil {
		t.Errorf("a tenant without collisions got %v, %v", w, err)
	}
	one, _ := collisionWarning(ctx, st[:1], "acme")
	if one == nil || !strings.HasPrefix(one.Message, "1 resource shares its userName") {
		t.Errorf("singular wording: %v", one)
	}
}
