// Package store keeps SCIM resources, their indexes, group membership and
// the change journal. Store is the interface the engine writes through; the
// Badger implementation in this package is the embedded default, and the
// interface is the seam where a distributed engine can take over.
//
// A write commits the resource, its index entries, its membership edges and
// its journal events in one transaction: when a write returns, the change is
// durable and already in the journal with its sequence number.
package store

import (
	"context"

	"github.com/caddy-scim/caddy-scim/adapter/change"
	"github.com/caddy-scim/caddy-scim/adapter/filter"
	"github.com/caddy-scim/caddy-scim/adapter/patch"
	"github.com/caddy-scim/caddy-scim/adapter/schema"
)

// Store is the engine's persistence. Every method takes the tenant whose
// key space it works in; tenants never see each other's data. Resources are
// canonical generic JSON (see package schema) including id, schemas and
// meta (resourceType, created, lastModified, version) but never members or
// groups, which are kept as edges and read with Members and Groups.
//
// Errors a client caused are *scimerr.Error values (404, 409 uniqueness,
// …); other errors are internal.
type Store interface {
	// Get returns one resource, or a 404 *scimerr.Error.
	Get(ctx context.Context, tenant string, rt *schema.ResourceType, id string) (map[string]any, error)
	// Create stores a new resource with a server-assigned id and, for
	// groups, its initial members.
	Create(ctx context.Context, tenant string, rt *schema.ResourceType, data map[string]any, members []patch.Member) (*WriteResult, error)
	// Update reads the current resource and calls fn with a copy of it;
	// fn returns the new state and, for groups, a membership delta. No other
	// write to the tenant runs between the read and the commit, so a
	// read-modify-write never loses a concurrent change. fn may run more than
	// once. When nothing changes, nothing is written.
	Update(ctx context.Context, tenant string, rt *schema.ResourceType, id string, fn UpdateFunc) (*WriteResult, error)
	// Delete removes a resource and every membership edge it is part of.
	Delete(ctx context.Context, tenant string, rt *schema.ResourceType, id string) error
	// DeleteIf is Delete with a precondition: check sees the current
	// resource under the tenant's write lock, so no other write runs
	// between the check and the delete, and an error from check aborts the
	// delete and is returned unchanged (RFC 7644 §3.14, If-Match). A nil
	// check makes DeleteIf the same as Delete.
	DeleteIf(ctx context.Context, tenant string, rt *schema.ResourceType, id string, check Precondition) error
	// List returns one page of the resources that match q.
	List(ctx context.Context, tenant string, rt *schema.ResourceType, q Query) (*Page, error)
	// Members returns a group's members in a stable order.
	Members(ctx context.Context, tenant, group string) ([]patch.Member, error)
	// Groups returns the groups a user or group is a direct member of.
	Groups(ctx context.Context, tenant, member string) ([]GroupRef, error)
	// Journal returns up to limit events with a sequence greater than after,
	// in sequence order.
	Journal(ctx context.Context, tenant string, after uint64, limit int) ([]change.Event, error)
	// Close releases the store.
	Close() error
}

// UpdateFunc computes the next state of a resource from its current state.
// The members argument reads the current membership of a group, lazily, for
// PATCH filters that need it.
type UpdateFunc func(current map[string]any, members patch.Members) (next map[string]any, delta *patch.MemberDelta, err error)

// Precondition checks the current state of a resource before a write;
// an error refuses the write.
type Precondition func(current map[string]any) error

// WriteResult is the outcome of a create or update.
type WriteResult struct {
	// Resource is the stored state after the write.
	Resource map[string]any
	// Changed reports whether anything was written.
	Changed bool
	// SkippedMembers are member ids that were asked for but name no
	// resource of the tenant (or the group itself); they were left out and
	// the rest applied, so one bad id never loses a whole membership push.
	SkippedMembers []string
}

// Query selects and orders a page of resources.
type Query struct {
	// Filter, when non-nil, selects the resources that match.
	Filter filter.Expr
	// StartIndex is the 1-based index of the first result (RFC 7644
	// §3.4.2.4); values below 1 mean 1.
	StartIndex int
	// Count is the page size; 0 returns only the total.
	Count int
	// SortBy, when non-nil, orders results by that attribute (RFC 7644
	// §3.4.2.3); otherwise results are in creation order.
	SortBy *filter.Path
	// Descending reverses the order.
	Descending bool
	// Seek, when non-nil, pages by position in id order instead of by
	// StartIndex, for cursor pagination (RFC 9865): a resource created or
	// deleted elsewhere in the list never shifts the page. It cannot be
	// combined with SortBy.
	Seek *Seek
}

// Seek is a position in the id order of a list. Ids compare by length
// first and then bytewise, which is the order of the store's keys and, for
// the equal-length ids the store assigns, plain string order.
type Seek struct {
	// Key is the id the page starts after, or with Backward the id it ends
	// before; the resource with that id, if any, is not on the page. An
	// empty Key is the start of the list, or with Backward its end.
	Key string
	// Backward selects the Count matches just before Key, still returned
	// in ascending id order, instead of those just after it.
	Backward bool
}

// Page is one page of a list.
type Page struct {
	// Total is the number of resources that match, on all pages.
	Total int
	// Resources are the resources of this page.
	Resources []map[string]any
	// Earlier and Later report, for a Seek query, whether matches exist
	// before the first and after the last resource of the page; for an
	// empty page, before and after the seek position.
	Earlier, Later bool

	// wantRaw makes add keep each resource's JSON in raw instead of
	// decoding it into Resources.
	wantRaw bool
	raw     [][]byte
}

// add appends one stored resource to the page: decoded, or as a copy of
// its JSON when the page was asked for raw.
func (p *Page) add(v []byte) error {
	if p.wantRaw {
		p.raw = append(p.raw, append([]byte(nil), v...))
		return nil
	}
	res, err := decode(v)
	if err != nil {
		return err
	}
	p.Resources = append(p.Resources, res)
	return nil
}

// size is how many resources the page holds.
func (p *Page) size() int { return len(p.Resources) + len(p.raw) }

// GroupRef is one group a member belongs to.
type GroupRef struct {
	// ID is the group's id.
	ID string
	// DisplayName is the group's current displayName.
	DisplayName string
}

// GroupLister is implemented by stores that read the groups of many
// members at once: a page of users then costs one read of the membership
// index instead of one per user, and each group's name is read once.
type GroupLister interface {
	// GroupsOf returns the groups each of members is a direct member of;
	// members of no group are absent from the map.
	GroupsOf(ctx context.Context, tenant string, members []string) (map[string][]GroupRef, error)
}
