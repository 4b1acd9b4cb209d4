package store

import (
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/adapter/schema"
	"github.com/caddy-scim/caddy-scim/adapter/scimerr"
)

// TestExportedRulesAreTheStoresOwn: the exported index keys, stamp and
// errors are what this engine itself writes and returns.
func TestExportedRulesAreTheStoresOwn(t *testing.T) {
	var attrs []string
	unique := map[string]bool{}
	for _, ix := range Indexes(schema.User) {
		attrs = append(attrs, ix.Attr())
		unique[ix.Attr()] = ix.Unique()
	}
	if want := []string{"userName", "externalId", "displayName", "emails.value"}; !reflect.DeepEqual(attrs, want) || !unique["userName"] || unique["externalId"] {
		t.Fatalf("user indexes %v (unique %v)", attrs, unique)
	}
	res := map[string]any{"userName": "Ａlice", "emails": []any{map[string]any{"value": "A@x.example"}, map[string]any{"value": "a@X.example"}}}
	for _, ix := range Indexes(schema.User) {
		keys, values := ix.Keys(res)
		switch ix.Attr() {
		case "userName":
			if len(keys) != 1 || keys[0] != fold("Ａlice") || keys[0] != "alice" || values[0] != "Ａlice" {
				t.Fatalf("userName keys %q values %q", keys, values)
			}
		case "emails.value":
			if len(keys) != 1 {
				t.Fatalf("two spellings of one address give keys %q", keys)
			}
		}
	}
	now := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	a, b := map[string]any{"userName": "x"}, map[string]any{"userName": "x"}
	Stamp(schema.User, a, "id1", now.Format(time.RFC3339Nano), now, 7)
	stamp(schema.User, b, "id1", now.Format(time.RFC3339Nano), now, 7)
	if !reflect.DeepEqual(a, b) || a["meta"].(map[string]any)["version"] != `W/"7"` {
		t.Fatalf("Stamp %v, stamp %v", a, b)
	}
	if CheckTenant("") == nil || CheckTenant(string(make([]byte, maxTenant+1))) == nil || CheckTenant("acme") != nil {
		t.Fatal("CheckTenant does not apply the store's rule")
	}
	if e, ok := scimerr.As(NotFound(schema.User, "x")); !ok || e.Status != http.StatusNotFound {
		t.Fatalf("NotFound: %v", e)
	}
	if e, ok := scimerr.As(Conflict(schema.User, "userName", "x")); !ok || e.Status != http.StatusConflict || e.ScimType != scimerr.Uniqueness {
		t.Fatalf("Conflict: %v", e)
	}
}
