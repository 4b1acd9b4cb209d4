package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/dgraph-io/badger/v4"

	"github.com/caddy-scim/caddy-scim/adapter/filter"
	"github.com/caddy-scim/caddy-scim/adapter/schema"
)

// RawReader is implemented by stores that hand out resources as the JSON
// they keep, so that a read answered without a projection can be written
// out without being decoded and encoded again. The JSON is one object, as
// Get would return it (id, schemas, meta; never members or groups), and
// belongs to the caller.
type RawReader interface {
	// GetRaw returns the JSON of one resource, or a 404 *scimerr.Error.
	GetRaw(ctx context.Context, tenant string, rt *schema.ResourceType, id string) ([]byte, error)
	// ListRaw answers q as List does, with each resource as its JSON, when
	// q is one it answers without decoding resources: an equality on id
	// or on an indexed attribute, without sortBy or a seek. ok is false
	// for every other query, which List then answers.
	ListRaw(ctx context.Context, tenant string, rt *schema.ResourceType, q Query) (page *RawPage, ok bool, err error)
	// RawGroups returns what Groups returns, reading each group's
	// displayName from its JSON without decoding the rest of it.
	RawGroups(ctx context.Context, tenant, member string) ([]GroupRef, error)
}

// RawPage is one page of a list, each resource as its JSON.
type RawPage struct {
	// Total is the number of resources that match, on all pages.
	Total int
	// Resources are the resources of this page, in the order List
	// returns them.
	Resources [][]byte
}

var _ RawReader = (*Badger)(nil)

// GetRaw implements RawReader.
func (s *Badger) GetRaw(ctx context.Context, tenant string, rt *schema.ResourceType, id string) ([]byte, error) {
	typ, err := typeByte(rt)
	if err != nil {
		return nil, err
	}
	if err := checkTenant(tenant); err != nil {
		return nil, err
	}
	if id == "" || len(id) > maxID {
		return nil, notFound(rt, id)
	}
	var b []byte
	err = s.db.View(func(txn *badger.Txn) error {
		var err error
		b, err = rawRecord(txn, resourceKey(tenant, typ, id))
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, notFound(rt, id)
	}
	return b, err
}

// rawRecord returns a copy of the record under key.
func rawRecord(txn *badger.Txn, key []byte) ([]byte, error) {
	item, err := txn.Get(key)
	if err != nil {
		return nil, err
	}
	return item.ValueCopy(nil)
}

// RawGroups implements RawReader.
func (s *Badger) RawGroups(ctx context.Context, tenant, member string) ([]GroupRef, error) {
	return s.Groups(ctx, tenant, member)
}

// ListRaw implements RawReader. It answers `attr eq value` where attr is
// id (one key read) or has an index (the index's candidates), and checks
// the filter on each candidate against only the attribute it names,
// decoded from the record on its own, so the answer is List's.
func (s *Badger) ListRaw(ctx context.Context, tenant string, rt *schema.ResourceType, q Query) (*RawPage, bool, error) {
	if q.SortBy != nil || q.Seek != nil {
		return nil, false, nil
	}
	typ, err := typeByte(rt)
	if err != nil {
		return nil, false, err
	}
	if err := checkTenant(tenant); err != nil {
		return nil, false, err
	}
	start, count := max(q.StartIndex, 1), max(q.Count, 0)
	if q.Filter == nil {
		return s.plainRaw(ctx, tenant, rt, typ, q, start, count)
	}
	var page *RawPage
	var ok bool
	err = s.db.View(func(txn *badger.Txn) error {
		var err error
		page, ok, err = EqualityRaw(rt, q,
			func(attr, value string) ([]string, bool, error) { return s.lookup(txn, tenant, typ, attr, value) },
			func(id string) ([]byte, error) {
				b, err := rawRecord(txn, resourceKey(tenant, typ, id))
				if errors.Is(err, badger.ErrKeyNotFound) {
					return nil, nil
				}
				return b, err
			})
		return err
	})
	if err != nil || !ok {
		return nil, false, err
	}
	return page, true, nil
}

// EqualityRaw answers, for RawReader.ListRaw, a filtered list whose filter
// is `attr eq value` where attr is id or has an index: lookup returns the
// index's ids for an attribute ("attr" or "attr.sub") and a value, and
// false when the attribute has no index; load returns a resource's JSON,
// nil when there is none. Each candidate is checked against the filter
// with only the attribute it names decoded, so the answer is List's. ok is
// false for every other query.
func EqualityRaw(rt *schema.ResourceType, q Query, lookup func(attr, value string) ([]string, bool, error), load func(id string) ([]byte, error)) (page *RawPage, ok bool, err error) {
	if q.Filter == nil || q.SortBy != nil || q.Seek != nil {
		return nil, false, nil
	}
	start, count := max(q.StartIndex, 1), max(q.Count, 0)
	cmp, ok := q.Filter.(*filter.Compare)
	if !ok || cmp.Op != filter.Eq || cmp.Path.Filter != nil ||
		(cmp.Value.Kind != filter.StringLit && cmp.Value.Kind != filter.NumberLit) {
		return nil, false, nil
	}
	attr := pathAttr(rt, cmp.Path)
	if attr == "" {
		return nil, false, nil
	}
	var ids []string
	if strings.EqualFold(attr, "id") {
		if cmp.Value.Str != "" && len(cmp.Value.Str) <= maxID {
			ids = []string{cmp.Value.Str}
		}
	} else {
		var indexed bool
		if ids, indexed, err = lookup(attr, cmp.Value.Str); err != nil || !indexed {
			return nil, false, err
		}
	}
	sort.Slice(ids, func(i, j int) bool { return idLess(ids[i], ids[j]) })
	page = &RawPage{Resources: [][]byte{}}
	for _, id := range ids {
		b, err := load(id)
		if err != nil {
			return nil, false, err
		}
		if b == nil {
			continue
		}
		match, err := matchRaw(cmp, rt, b)
		if err != nil {
			return nil, false, err
		}
		if !match {
			continue
		}
		if page.Total++; page.Total >= start && len(page.Resources) < count {
			page.Resources = append(page.Resources, b)
		}
	}
	return page, true, nil
}

// matchRaw checks a comparison on a top-level attribute against a record:
// only the members whose name is the attribute's, case-insensitively, are
// decoded, which is all filter.Match reads for such a comparison.
func matchRaw(cmp *filter.Compare, rt *schema.ResourceType, b []byte) (bool, error) {
	var sub map[string]any
	_, err := ObjectMembers(b, func(name []byte, start, end int) error {
		if !strings.EqualFold(string(name), cmp.Path.Attr) {
			return nil
		}
		var v any
		if str, ok := UnquoteString(b[start:end]); ok {
			v = str
		} else {
			d := json.NewDecoder(bytes.NewReader(b[start:end]))
			d.UseNumber()
			if err := d.Decode(&v); err != nil {
				return err
			}
		}
		if sub == nil {
			sub = make(map[string]any, 1)
		}
		sub[string(name)] = v
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("decoding stored resource: %w", err)
	}
	return filter.Match(cmp, rt, sub), nil
}

// errMalformed reports JSON that ObjectMembers cannot walk.
var errMalformed = errors.New("malformed JSON object")

// ObjectMembers walks the JSON object at the start of b (after any
// whitespace) and calls fn with the name of each member, unescaped, and the
// offsets in b of its value, b[start:end], in order. An error from fn stops
// the walk and is returned. It returns the offset just past the object's
// closing brace.
//
// It checks the object's structure and the nesting of its values, not
// everything inside them: it is for JSON an encoder wrote, such as the
// records RawReader returns, not for a client's input.
func ObjectMembers(b []byte, fn func(name []byte, start, end int) error) (int, error) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return 0, errMalformed
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return 0, errMalformed
		}
		nameEnd, err := skipValue(b, i)
		if err != nil {
			return 0, err
		}
		name := b[i+1 : nameEnd-1]
		if bytes.IndexByte(name, '\\') >= 0 {
			var s string
			if err := json.Unmarshal(b[i:nameEnd], &s); err != nil {
				return 0, errMalformed
			}
			name = []byte(s)
		}
		i = skipSpace(b, nameEnd)
		if i >= len(b) || b[i] != ':' {
			return 0, errMalformed
		}
		start := skipSpace(b, i+1)
		end, err := skipValue(b, start)
		if err != nil {
			return 0, err
		}
		if err := fn(name, start, end); err != nil {
			return 0, err
		}
		i = skipSpace(b, end)
		if i >= len(b) {
			return 0, errMalformed
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return i + 1, nil
		default:
			return 0, errMalformed
		}
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the offset just past the JSON value that starts at
// b[i].
func skipValue(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, errMalformed
	}
	switch b[i] {
	case '"':
		for j := i + 1; j < len(b); j++ {
			switch b[j] {
			case '\\':
				j++
			case '"':
				return j + 1, nil
			}
		}
		return 0, errMalformed
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1, nil
				}
			case '"':
				end, err := skipValue(b, j)
				if err != nil {
					return 0, err
				}
				j = end - 1
			}
		}
		return 0, errMalformed
	}
	j := i
	for j < len(b) && inScalar(b[j]) {
		j++
	}
	if j == i {
		return 0, errMalformed
	}
	return j, nil
}

// UnquoteString returns the string a JSON string literal holds, and false
// when v is not a string literal.
func UnquoteString(v []byte) (string, bool) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return "", false
	}
	in := v[1 : len(v)-1]
	if bytes.IndexByte(in, '\\') < 0 {
		return string(in), true
	}
	out := make([]byte, 0, len(in))
	for i := 0; i < len(in); i++ {
		c := in[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		if i++; i == len(in) {
			return "", false
		}
		switch in[i] {
		case '"', '\\', '/':
			out = append(out, in[i])
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		default:
			// \uXXXX, with its surrogate pairs and invalid halves, is
			// left to encoding/json.
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return "", false
			}
			return s, true
		}
	}
	return string(out), true
}

// inScalar reports whether c can be part of a number, true, false or
// null.
func inScalar(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '+' || c == '.'
}

// plainRaw answers an unfiltered list in creation order, as List does:
// from the position index, or by a key-only skip to StartIndex.
func (s *Badger) plainRaw(ctx context.Context, tenant string, rt *schema.ResourceType, typ byte, q Query, start, count int) (*RawPage, bool, error) {
	if _, use := positionOrder(rt, typ, q, start, count); use && s.pos != nil && count > 0 {
		page, ok, err := s.positionPage(ctx, tenant, typ, orderID, false, start, count, true)
		if err != nil {
			return nil, false, err
		}
		if ok {
			return &RawPage{Total: page.Total, Resources: append([][]byte{}, page.raw...)}, true, nil
		}
	}
	page := &Page{wantRaw: true}
	if err := s.db.View(func(txn *badger.Txn) error {
		return s.plainPage(txn, tenant, typ, start, count, page)
	}); err != nil {
		return nil, false, err
	}
	return &RawPage{Total: page.Total, Resources: append([][]byte{}, page.raw...)}, true, nil
}
