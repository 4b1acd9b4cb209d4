package store

import (
	"time"

	"github.com/caddy-scim/caddy-scim/adapter/schema"
)

// The rules every storage engine shares, exported so that another engine
// (package postgres) keeps resources, indexes and versions exactly as this
// one does.

// MaxID is the longest resource id, in bytes, a store accepts; a longer
// id names no resource (404).
const MaxID = maxID

// CheckTenant refuses a tenant name no store keeps: empty, or longer than
// the store allows.
func CheckTenant(tenant string) error { return checkTenant(tenant) }

// Index is one equality index of a resource type.
type Index struct{ ix index }

// Attr is the attribute path the index answers: "attr" or "attr.sub".
func (i Index) Attr() string { return i.ix.attr }

// Unique reports whether two resources may not share a value (409).
func (i Index) Unique() bool { return i.ix.unique }

// Keys returns the distinct keys res has in the index: its values folded
// by the identifier rule (adapter/ident) unless the attribute is
// caseExact, each with the value as the resource holds it.
func (i Index) Keys(res map[string]any) (keys, values []string) {
	seen := map[string]bool{}
	for _, v := range i.ix.values(res) {
		k := i.ix.keyValue(v)
		if !seen[k] {
			seen[k] = true
			keys, values = append(keys, k), append(values, v)
		}
	}
	return keys, values
}

// Indexes returns the equality indexes of rt: userName (unique),
// externalId, displayName and emails.value for users; displayName
// (unique) and externalId for groups.
func Indexes(rt *schema.ResourceType) []Index {
	typ, err := typeByte(rt)
	if err != nil {
		return nil
	}
	var out []Index
	for _, ix := range indexesOf(typ) {
		out = append(out, Index{ix})
	}
	return out
}

// Stamp sets id, schemas and meta (resourceType, created, lastModified and
// the weak version W/"<version>") on res, as every write does; version is
// the journal sequence of the write's first event.
func Stamp(rt *schema.ResourceType, res map[string]any, id, created string, now time.Time, version uint64) {
	stamp(rt, res, id, created, now, version)
}

// NotFound is the 404 of a resource that does not exist.
func NotFound(rt *schema.ResourceType, id string) error { return notFound(rt, id) }

// Conflict is the 409 uniqueness error of a value another resource holds.
func Conflict(rt *schema.ResourceType, attr, value string) error { return conflict(rt, attr, value) }

// Key returns the key a value has in the index: folded by the identifier
// rule unless the attribute is caseExact.
func (i Index) Key(v string) string { return i.ix.keyValue(v) }
