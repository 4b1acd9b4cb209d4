package store

import (
	"context"
	"sort"

	"github.com/caddy-scim/caddy-scim/adapter/filter"
	"github.com/caddy-scim/caddy-scim/adapter/patch"
	"github.com/caddy-scim/caddy-scim/adapter/schema"
)

// ListSource is one tenant's resources of one type as SelectPage reads
// them. Every storage engine answers filtered and sorted lists through
// SelectPage, so that which resources match, their order, ties and the
// page a StartIndex or a Seek selects are the same on every engine. A
// source reads one consistent snapshot.
type ListSource interface {
	// Lookup returns the ids of the resources whose attr equals value
	// under the index's rule (see Index), and false when attr ("attr" or
	// "attr.sub", compared case-insensitively) has no index.
	Lookup(ctx context.Context, attr, value string) (ids []string, indexed bool, err error)
	// Load returns the resource with id, or nil when there is none.
	Load(ctx context.Context, id string) (map[string]any, error)
	// Scan calls fn with every resource, in id order (by length, then
	// bytewise). fn may call the source's other methods.
	Scan(ctx context.Context, fn func(id string, res map[string]any) error) error
	// Edges returns the derived attribute a filter on a group's members
	// or a user's groups tests: one {"value", "type"} object per member,
	// or one {"value"} object per group.
	Edges(ctx context.Context, id string) ([]any, error)
}

// SelectPage answers a list query that has a filter or a sort (or a
// filtered Seek) from src: an equality on an indexed attribute reads only
// the index's candidates, anything else scans; results are in id order,
// or sorted by SortBy with ties in id order; the page is cut by
// StartIndex and Count, or by Seek.
func SelectPage(ctx context.Context, src ListSource, rt *schema.ResourceType, q Query) (*Page, error) {
	start, count := max(q.StartIndex, 1), max(q.Count, 0)
	page := &Page{Resources: []map[string]any{}}
	var sortAttr *schema.Attribute
	var sortHolder string
	if q.SortBy != nil {
		sortAttr, sortHolder = sortAttribute(rt, *q.SortBy)
	}
	edges := ""
	if q.Filter != nil {
		if rt == schema.User && mentions(q.Filter, "groups") {
			edges = "groups"
		} else if rt == schema.Group && mentions(q.Filter, "members") {
			edges = "members"
		}
	}
	var hits []hit
	n := 0
	consider := func(id string, res map[string]any) error {
		if n++; n%1024 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		if q.Filter != nil {
			if edges != "" {
				arr, err := src.Edges(ctx, id)
				if err != nil {
					return err
				}
				res[edges] = arr
			}
			if !filter.Match(q.Filter, rt, res) {
				return nil
			}
			delete(res, "groups")
			delete(res, "members")
		}
		h := hit{id: id}
		if q.SortBy != nil {
			h.key = sortKey(sortAttr, sortHolder, *q.SortBy, res)
		} else if q.Seek == nil {
			// Unsorted: results are in id (creation) order, so only the
			// page's window needs its resource kept.
			n := len(hits) + 1
			if n >= start && n < start+count {
				h.res = res
			}
		}
		hits = append(hits, h)
		return nil
	}
	var ids []string
	indexed := false
	if q.Filter != nil {
		var err error
		if ids, indexed, err = candidates(ctx, src, rt, q.Filter); err != nil {
			return nil, err
		}
	}
	if indexed {
		sort.Slice(ids, func(i, j int) bool { return idLess(ids[i], ids[j]) })
		for _, id := range ids {
			res, err := src.Load(ctx, id)
			if err != nil {
				return nil, err
			}
			if res == nil {
				continue
			}
			if err := consider(id, res); err != nil {
				return nil, err
			}
		}
	} else if err := src.Scan(ctx, consider); err != nil {
		return nil, err
	}
	page.Total = len(hits)
	if q.SortBy != nil {
		desc := q.Descending
		sort.SliceStable(hits, func(i, j int) bool {
			c := compareKeys(hits[i].key, hits[j].key)
			if desc {
				c = -c
			}
			if c != 0 {
				return c < 0
			}
			return hits[i].id < hits[j].id
		})
	}
	var window []hit
	switch {
	case q.Seek != nil:
		window = seekWindow(hits, *q.Seek, count, page)
	case start > len(hits) || count == 0:
		return page, nil
	default:
		window = hits[start-1 : min(start-1+count, len(hits))]
	}
	for _, h := range window {
		res := h.res
		if res == nil {
			var err error
			if res, err = src.Load(ctx, h.id); err != nil {
				return nil, err
			}
			if res == nil {
				// The source reads one snapshot: a hit it listed is there.
				return nil, errMissingHit(h.id)
			}
		}
		page.Resources = append(page.Resources, res)
	}
	return page, nil
}

type errMissingHit string

func (e errMissingHit) Error() string {
	return "store: resource " + string(e) + " matched the list but could not be read"
}

// candidates returns the ids an index offers for e, sorted, and whether an
// index could answer at all. The caller re-checks e on every candidate, so
// candidates may be a superset of the matches but never miss one.
func candidates(ctx context.Context, src ListSource, rt *schema.ResourceType, e filter.Expr) ([]string, bool, error) {
	switch x := e.(type) {
	case *filter.Compare:
		if x.Op != filter.Eq || (x.Value.Kind != filter.StringLit && x.Value.Kind != filter.NumberLit) {
			return nil, false, nil
		}
		attr := pathAttr(rt, x.Path)
		if attr == "" {
			return nil, false, nil
		}
		return src.Lookup(ctx, attr, x.Value.Str)
	case *filter.ValuePath:
		// emails[value eq "x" and type eq "work"]: any equality on a
		// sub-attribute in the bracket's conjunction narrows the search.
		for _, c := range conjuncts(x.Filter) {
			cmp, ok := c.(*filter.Compare)
			if !ok || cmp.Op != filter.Eq || cmp.Value.Kind != filter.StringLit || cmp.Path.Sub != "" || cmp.Path.Filter != nil {
				continue
			}
			attr := pathAttr(rt, filter.Path{URN: x.Path.URN, Attr: x.Path.Attr, Sub: cmp.Path.Attr})
			if attr == "" {
				continue
			}
			ids, ok, err := src.Lookup(ctx, attr, cmp.Value.Str)
			if ok || err != nil {
				return ids, ok, err
			}
		}
	case *filter.And:
		ids, ok, err := candidates(ctx, src, rt, x.Left)
		if ok || err != nil {
			return ids, ok, err
		}
		return candidates(ctx, src, rt, x.Right)
	case *filter.Or:
		l, ok, err := candidates(ctx, src, rt, x.Left)
		if !ok || err != nil {
			return nil, false, err
		}
		r, ok, err := candidates(ctx, src, rt, x.Right)
		if !ok || err != nil {
			return nil, false, err
		}
		return union(l, r), true, nil
	}
	return nil, false, nil
}

// MemberEdges is a group's members as ListSource.Edges returns them.
func MemberEdges(ms []patch.Member) []any {
	arr := make([]any, len(ms))
	for i, m := range ms {
		arr[i] = map[string]any{"value": m.Value, "type": m.Type}
	}
	return arr
}
