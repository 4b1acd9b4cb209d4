package store

import (
	"sort"
	"strings"

	"github.com/dgraph-io/badger/v4"

	"github.com/caddy-scim/caddy-scim/adapter/filter"
	"github.com/caddy-scim/caddy-scim/adapter/ident"
	"github.com/caddy-scim/caddy-scim/adapter/schema"
)

// index is one equality index of a resource type.
type index struct {
	// attr is the attribute path the index answers, as "attr" or
	// "attr.sub"; compared case-insensitively with filter paths.
	attr string
	// unique makes the index enforce uniqueness (409 on a duplicate).
	unique bool
	// caseExact keeps values as they are; otherwise they are folded.
	caseExact bool
	// values extracts the indexed values of a resource.
	values func(map[string]any) []string
}

func (ix index) keyValue(v string) string {
	if ix.caseExact {
		return v
	}
	return fold(v)
}

// fold is the key of case-insensitive indexes and sorts: ident.Fold, the
// rule filters and PATCH value matching use too, so an index lookup, a
// filter and a uniqueness check never disagree about two names.
func fold(s string) string { return ident.Fold(s) }

func single(attr string) func(map[string]any) []string {
	return func(res map[string]any) []string {
		if s, ok := res[attr].(string); ok && s != "" {
			return []string{s}
		}
		return nil
	}
}

func multiSub(attr, sub string) func(map[string]any) []string {
	return func(res map[string]any) []string {
		arr, _ := res[attr].([]any)
		var out []string
		seen := map[string]bool{}
		for _, el := range arr {
			m, _ := el.(map[string]any)
			if s, ok := m[sub].(string); ok && s != "" && !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
		return out
	}
}

// The indexes of each resource type. userName and group displayName are
// unique case-insensitively (RFC 7643 §4.1.1 caseExact false, uniqueness
// server); externalId is caseExact (RFC 7643 §3.1).
var (
	userIndexes = []index{
		{attr: "userName", unique: true, values: single("userName")},
		{attr: "externalId", caseExact: true, values: single("externalId")},
		{attr: "displayName", values: single("displayName")},
		{attr: "emails.value", values: multiSub("emails", "value")},
	}
	groupIndexes = []index{
		{attr: "displayName", unique: true, values: single("displayName")},
		{attr: "externalId", caseExact: true, values: single("externalId")},
	}
)

func indexesOf(typ byte) []index {
	if typ == tUser {
		return userIndexes
	}
	return groupIndexes
}

// pathAttr returns "attr" or "attr.sub" for a path of the core schema, or
// "" for paths the indexes cannot answer.
func pathAttr(rt *schema.ResourceType, p filter.Path) string {
	if p.URN != "" && !strings.EqualFold(p.URN, rt.Schema.ID) {
		return ""
	}
	if p.Sub != "" {
		return p.Attr + "." + p.Sub
	}
	return p.Attr
}

func conjuncts(e filter.Expr) []filter.Expr {
	if a, ok := e.(*filter.And); ok {
		return append(conjuncts(a.Left), conjuncts(a.Right)...)
	}
	return []filter.Expr{e}
}

// lookup answers attr eq value from an index, if attr has one.
func (s *Badger) lookup(txn *badger.Txn, tenant string, typ byte, attr, value string) ([]string, bool, error) {
	if attr == "" {
		return nil, false, nil
	}
	for _, ix := range indexesOf(typ) {
		if !strings.EqualFold(ix.attr, attr) {
			continue
		}
		v := ix.keyValue(value)
		if ix.unique {
			item, err := txn.Get(uniqueKey(tenant, typ, ix.attr, v))
			if err == badger.ErrKeyNotFound {
				return nil, true, nil
			}
			if err != nil {
				return nil, false, err
			}
			id, err := item.ValueCopy(nil)
			if err != nil || !s.hasCollisions.Load() {
				return []string{string(id)}, true, err
			}
			// Names that collide under the identifier rule: the holder
			// and every listed collision match.
			ids := []string{string(id)}
			prefix := collisionPrefix(tenant, typ, ix.attr, v)
			it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: false})
			defer it.Close()
			for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
				ids = append(ids, string(it.Item().Key()[len(prefix):]))
			}
			sort.Strings(ids)
			return ids, true, nil
		}
		prefix := indexPrefix(tenant, typ, ix.attr, v)
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		var ids []string
		for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
			ids = append(ids, string(it.Item().Key()[len(prefix):]))
		}
		return ids, true, nil
	}
	return nil, false, nil
}

func union(a, b []string) []string {
	set := make(map[string]bool, len(a)+len(b))
	for _, x := range a {
		set[x] = true
	}
	for _, x := range b {
		set[x] = true
	}
	out := make([]string, 0, len(set))
	for x := range set {
		out = append(out, x)
	}
	sort.Strings(out)
	return out
}

// indexChanges writes the index entries that differ between old and new
// (either may be nil) and reports a uniqueness conflict with another
// resource as a 409.
func (w *writer) indexChanges(typ byte, rt *schema.ResourceType, id string, old, new map[string]any) error {
	for _, ix := range indexesOf(typ) {
		var ov, nv []string
		if old != nil {
			ov = ix.values(old)
		}
		if new != nil {
			nv = ix.values(new)
		}
		oldSet := map[string]bool{}
		for _, v := range ov {
			oldSet[ix.keyValue(v)] = true
		}
		newSet := map[string]bool{}
		for _, v := range nv {
			newSet[ix.keyValue(v)] = true
		}
		for v := range oldSet {
			if newSet[v] {
				continue
			}
			if ix.unique {
				if err := w.releaseUnique(typ, ix.attr, v, id); err != nil {
					return err
				}
				continue
			}
			if err := w.del(indexKey(w.tenant, typ, ix.attr, v, id)); err != nil {
				return err
			}
		}
		for _, raw := range nv {
			v := ix.keyValue(raw)
			if oldSet[v] || !newSet[v] {
				continue
			}
			delete(newSet, v)
			if !ix.unique {
				if err := w.set(indexKey(w.tenant, typ, ix.attr, v, id), nil); err != nil {
					return err
				}
				continue
			}
			k := uniqueKey(w.tenant, typ, ix.attr, v)
			item, err := w.txn.Get(k)
			switch {
			case err == nil:
				other, err := item.ValueCopy(nil)
				if err != nil {
					return err
				}
				if string(other) != id {
					return conflict(rt, ix.attr, raw)
				}
			case err != badger.ErrKeyNotFound:
				return err
			}
			if err := w.set(k, []byte(id)); err != nil {
				return err
			}
		}
	}
	return nil
}

// releaseUnique gives up id's hold on a unique value. Where names collide
// (see migrate.go), id may be a listed collision rather than the holder:
// then only its listing goes; and when the holder lets go, the oldest
// listed collision takes the name over, so the name is never left free
// while a resource still bears it.
func (w *writer) releaseUnique(typ byte, attr, v, id string) error {
	k := uniqueKey(w.tenant, typ, attr, v)
	if !w.collisions {
		return w.del(k)
	}
	holder := ""
	item, err := w.txn.Get(k)
	switch {
	case err == nil:
		b, err := item.ValueCopy(nil)
		if err != nil {
			return err
		}
		holder = string(b)
	case err != badger.ErrKeyNotFound:
		return err
	}
	if holder != id {
		return w.del(collisionKey(w.tenant, typ, attr, v, id))
	}
	prefix := collisionPrefix(w.tenant, typ, attr, v)
	it := w.txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: false})
	next := ""
	it.Seek(prefix)
	if it.ValidForPrefix(prefix) {
		next = string(it.Item().Key()[len(prefix):])
	}
	it.Close()
	if next == "" {
		return w.del(k)
	}
	if err := w.del(collisionKey(w.tenant, typ, attr, v, next)); err != nil {
		return err
	}
	return w.set(k, []byte(next))
}
