package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/caddy-scim/caddy-scim/adapter/filter"
	"github.com/caddy-scim/caddy-scim/adapter/schema"
)

// List implements Store. Without a filter, a page in creation order or
// sorted by the type's unique name (userName, a group's displayName) costs
// its Count reads at any StartIndex, answered from a position index (see
// position.go), and a Seek page only its Count reads; an equality filter
// on an indexed attribute reads only the index's candidates; other filters
// and sorts scan the tenant's resources of that type. Without a position
// index, an unsorted page costs a key-only skip to StartIndex plus Count
// reads.
func (s *Badger) List(ctx context.Context, tenant string, rt *schema.ResourceType, q Query) (*Page, error) {
	typ, err := typeByte(rt)
	if err != nil {
		return nil, err
	}
	if err := checkTenant(tenant); err != nil {
		return nil, err
	}
	start := q.StartIndex
	if start < 1 {
		start = 1
	}
	count := q.Count
	if count < 0 {
		count = 0
	}
	if q.Seek != nil && q.SortBy != nil {
		return nil, errors.New("store: a seek cannot be combined with sortBy")
	}
	if s.pos != nil && q.Filter == nil && q.Seek == nil && count > 0 {
		if o, ok := positionOrder(rt, typ, q, start, count); ok {
			page, ok, err := s.positionPage(ctx, tenant, typ, o, q.Descending, start, count, false)
			if err != nil {
				return nil, err
			}
			if ok {
				return page, nil
			}
		}
	}
	page := &Page{Resources: []map[string]any{}}
	err = s.db.View(func(txn *badger.Txn) error {
		if q.Filter == nil && q.Seek != nil {
			return s.seekPage(txn, tenant, typ, *q.Seek, count, page)
		}
		if q.Filter == nil && q.SortBy == nil {
			return s.plainPage(txn, tenant, typ, start, count, page)
		}
		p, err := SelectPage(ctx, &badgerSource{s: s, txn: txn, tenant: tenant, typ: typ}, rt, q)
		if err == nil {
			page = p
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return page, nil
}

func (s *Badger) plainPage(txn *badger.Txn, tenant string, typ byte, start, count int, page *Page) error {
	total, err := s.count(txn, tenant, typ)
	if err != nil {
		return err
	}
	page.Total = total
	if count == 0 || start > total {
		return nil
	}
	prefix := resourcePrefix(tenant, typ)
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: false})
	defer it.Close()
	i := 0
	for it.Seek(prefix); it.ValidForPrefix(prefix) && page.size() < count; it.Next() {
		i++
		if i < start {
			continue
		}
		if err := it.Item().Value(page.add); err != nil {
			return err
		}
	}
	return nil
}

// seekPage reads the page of an unfiltered Seek query: one iterator seek
// to the position, Count reads, and one more seek to learn whether
// resources lie on the other side.
func (s *Badger) seekPage(txn *badger.Txn, tenant string, typ byte, sk Seek, count int, page *Page) error {
	total, err := s.count(txn, tenant, typ)
	if err != nil {
		return err
	}
	page.Total = total
	prefix := resourcePrefix(tenant, typ)
	var at []byte
	switch {
	case sk.Key != "":
		at = resourceKey(tenant, typ, sk.Key)
	case sk.Backward:
		// Past every resource key: the next byte is a uvarint length of
		// at most maxID, which is below 0xff.
		at = append(append([]byte{}, prefix...), 0xff)
	default:
		at = prefix
	}
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: count > 0, PrefetchSize: max(min(count, 100), 1), Reverse: sk.Backward})
	defer it.Close()
	it.Seek(at)
	if sk.Key != "" && it.ValidForPrefix(prefix) && bytes.Equal(it.Item().Key(), at) {
		it.Next()
	}
	for ; it.ValidForPrefix(prefix) && len(page.Resources) < count; it.Next() {
		res, err := decodeItem(it.Item())
		if err != nil {
			return err
		}
		page.Resources = append(page.Resources, res)
	}
	more := it.ValidForPrefix(prefix)
	// The other side of the position, the Key itself included.
	other := false
	if sk.Key != "" {
		back := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: false, Reverse: !sk.Backward})
		back.Seek(at)
		other = back.ValidForPrefix(prefix)
		back.Close()
	}
	if sk.Backward {
		slices.Reverse(page.Resources)
		page.Earlier, page.Later = more, other
	} else {
		page.Earlier, page.Later = other, more
	}
	return nil
}

// idLess orders ids as their resource keys order them: by length, then
// bytewise. That holds because an id's length (at most maxID) is encoded in
// its key as a uvarint whose first byte grows with the length.
func idLess(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

// seekWindow picks the page of a Seek query from all matches in id order.
func seekWindow(hits []hit, sk Seek, count int, page *Page) []hit {
	var from, to int
	switch {
	case sk.Backward:
		to = len(hits)
		if sk.Key != "" {
			to = sort.Search(len(hits), func(i int) bool { return !idLess(hits[i].id, sk.Key) })
		}
		from = max(to-count, 0)
		page.Earlier = from > 0
		page.Later = to < len(hits)
	default:
		if sk.Key != "" {
			from = sort.Search(len(hits), func(i int) bool { return idLess(sk.Key, hits[i].id) })
		}
		to = min(from+count, len(hits))
		page.Earlier = from > 0
		page.Later = to < len(hits)
	}
	return hits[from:to]
}

// hit is one match of a filtered list: its id, its sort key when sorting,
// and the resource itself when it may land on the page.
type hit struct {
	id  string
	key any
	res map[string]any
}

// decodeItem decodes the resource an iterator is at.
func decodeItem(item *badger.Item) (res map[string]any, err error) {
	err = item.Value(func(v []byte) error {
		res, err = decode(v)
		return err
	})
	return res, err
}

// badgerSource is a tenant's resources of one type in one read
// transaction, as SelectPage reads them.
type badgerSource struct {
	s      *Badger
	txn    *badger.Txn
	tenant string
	typ    byte
}

// Lookup implements ListSource.
func (b *badgerSource) Lookup(ctx context.Context, attr, value string) ([]string, bool, error) {
	return b.s.lookup(b.txn, b.tenant, b.typ, attr, value)
}

// Load implements ListSource.
func (b *badgerSource) Load(ctx context.Context, id string) (map[string]any, error) {
	res, err := getRecord(b.txn, resourceKey(b.tenant, b.typ, id))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, nil
	}
	return res, err
}

// Scan implements ListSource.
func (b *badgerSource) Scan(ctx context.Context, fn func(id string, res map[string]any) error) error {
	prefix := resourcePrefix(b.tenant, b.typ)
	it := b.txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true, PrefetchSize: 64})
	defer it.Close()
	for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
		b.s.scanned.Add(1)
		p, err := parseKey(it.Item().Key())
		if err != nil {
			return err
		}
		res, err := decodeItem(it.Item())
		if err != nil {
			return err
		}
		if err := fn(p.parts[0], res); err != nil {
			return err
		}
	}
	return nil
}

// Edges implements ListSource: the members of a group, or the groups of
// a user, from the membership keys.
func (b *badgerSource) Edges(ctx context.Context, id string) ([]any, error) {
	if b.typ == tGroup {
		ms, err := listMembers(b.txn, b.tenant, id)
		if err != nil {
			return nil, err
		}
		return MemberEdges(ms), nil
	}
	prefix := memberOfPrefix(b.tenant, id)
	it := b.txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: false})
	defer it.Close()
	var arr []any
	for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
		arr = append(arr, map[string]any{"value": string(it.Item().Key()[len(prefix):])})
	}
	return arr, nil
}

// sortAttribute resolves the definition of a sortBy path and the key of
// the object that holds it ("" for the core schema, or an extension's
// URN). An unprefixed name not in the core schema is looked up in the
// extensions, as filters do. Attributes the schema does not define resolve
// to a nil definition in the core object.
func sortAttribute(rt *schema.ResourceType, p filter.Path) (*schema.Attribute, string) {
	urn := ""
	if p.URN != "" {
		if s := rt.SchemaFor(p.URN); s != nil && s != rt.Schema {
			urn = s.ID
		} else if s == nil {
			urn = p.URN
		}
	}
	a := rt.Attr(urn, p.Attr)
	if a == nil && p.URN == "" {
		for _, e := range rt.Extensions {
			if a = e.Schema.Attr(p.Attr); a != nil {
				urn = e.Schema.ID
				break
			}
		}
	}
	if a != nil && p.Sub != "" {
		a = a.Sub(p.Sub)
	}
	return a, urn
}

// sortKey extracts the value a resource sorts by (RFC 7644 §3.4.2.3): for a
// multi-valued attribute, the primary value or else the first. Strings of
// caseExact=false attributes are folded.
func sortKey(a *schema.Attribute, holder string, p filter.Path, res map[string]any) any {
	var v any = res
	if holder != "" {
		v = field(res, holder)
	}
	v = field(v, p.Attr)
	if arr, ok := v.([]any); ok {
		v = nil
		for _, el := range arr {
			if m, ok := el.(map[string]any); ok && m["primary"] == true {
				v = el
				break
			}
		}
		if v == nil && len(arr) > 0 {
			v = arr[0]
		}
	}
	if p.Sub != "" {
		v = field(v, p.Sub)
	} else if m, ok := v.(map[string]any); ok {
		v = m["value"]
	}
	switch x := v.(type) {
	case string:
		if a != nil && a.Type == schema.DateTime {
			if t, err := schema.ParseDateTime(x); err == nil {
				return t
			}
		}
		if a == nil || !a.CaseExact {
			return fold(x)
		}
		return x
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return x.String()
		}
		return f
	case bool:
		return x
	}
	return nil
}

func field(v any, name string) any {
	m, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	if x, ok := m[name]; ok {
		return x
	}
	for k, x := range m {
		if strings.EqualFold(k, name) {
			return x
		}
	}
	return nil
}

// compareKeys orders sort keys; unassigned values sort after all others,
// and values of different kinds order by kind.
func compareKeys(a, b any) int {
	ra, rb := rank(a), rank(b)
	if ra != rb {
		return ra - rb
	}
	switch x := a.(type) {
	case string:
		return strings.Compare(x, b.(string))
	case float64:
		y := b.(float64)
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
	case time.Time:
		return x.Compare(b.(time.Time))
	case bool:
		y := b.(bool)
		switch {
		case !x && y:
			return -1
		case x && !y:
			return 1
		}
	}
	return 0
}

func rank(v any) int {
	switch v.(type) {
	case bool:
		return 0
	case float64:
		return 1
	case time.Time:
		return 2
	case string:
		return 3
	}
	return 4
}
