package postgres

import (
	"context"
	"fmt"
	"net/http"

	"github.com/jackc/pgx/v5"

	"github.com/caddy-scim/caddy-scim/adapter/schema"
	"github.com/caddy-scim/caddy-scim/adapter/scimerr"
	"github.com/caddy-scim/caddy-scim/adapter/store"
)

var _ store.RawReader = (*Store)(nil)

// ListRaw implements store.RawReader: an unfiltered page in creation
// order, and an equality on id or on an indexed attribute, as the JSON the
// store keeps. Each is one statement, which sees one snapshot: no
// transaction to begin and end around it.
func (s *Store) ListRaw(ctx context.Context, tenant string, rt *schema.ResourceType, q store.Query) (*store.RawPage, bool, error) {
	if q.SortBy != nil || q.Seek != nil {
		return nil, false, nil
	}
	typ, err := typeCode(rt)
	if err != nil {
		return nil, false, err
	}
	if err := checkTenant(tenant); err != nil {
		return nil, false, err
	}
	if q.Filter == nil {
		total, raw, err := s.plainRaw(ctx, tenant, typ, max(q.StartIndex, 1), max(q.Count, 0))
		if err != nil {
			return nil, false, err
		}
		return &store.RawPage{Total: total, Resources: raw}, true, nil
	}
	// EqualityRaw asks for the index's ids, then for each resource: the
	// lookup reads both at once, and load answers from what it read.
	found := map[string][]byte{}
	lookup := func(attr, value string) ([]string, bool, error) {
		ix, table, ok := indexTable(rt, attr)
		if !ok {
			return nil, false, nil
		}
		// The index's ids and their resources in one statement. Before
		// the tables' first ANALYZE the planner may read a tenant's
		// resources one by one here; the store refreshes the statistics
		// itself as it grows (see grew). table is one of two names
		// indexTable gives, never input.
		rows, err := s.pool.Query(ctx, `SELECT id, data FROM scim_resources WHERE tenant = $1 AND type = $2
			AND id = ANY(ARRAY(SELECT id FROM `+table+` WHERE tenant = $1 AND type = $2 AND attr = $3 AND value = $4))`,
			tenant, typ, ix.Attr(), ix.Key(value))
		if err != nil {
			return nil, false, fmt.Errorf("reading the %s index: %w", ix.Attr(), err)
		}
		var ids []string
		var id, data string
		if _, err := pgx.ForEachRow(rows, []any{&id, &data}, func() error {
			ids = append(ids, id)
			found[id] = []byte(data)
			return nil
		}); err != nil {
			return nil, false, fmt.Errorf("reading the %s index: %w", ix.Attr(), err)
		}
		return ids, true, nil
	}
	load := func(id string) ([]byte, error) {
		if b, ok := found[id]; ok {
			return b, nil
		}
		// id eq: one read by the primary key.
		b, err := s.GetRaw(ctx, tenant, rt, id)
		if e, ok := scimerr.As(err); ok && e.Status == http.StatusNotFound {
			return nil, nil
		}
		return b, err
	}
	return store.EqualityRaw(rt, q, lookup, load)
}

// plainRaw reads the page at start in creation order and the total, in
// one statement.
func (s *Store) plainRaw(ctx context.Context, tenant string, typ int16, start, n int) (int, [][]byte, error) {
	col := countColumn(typ)
	// The page's first id is found by skipping ids alone, which an
	// index-only scan of the primary key does without reading a row; only
	// the page's own rows are read.
	rows, err := s.pool.Query(ctx, `SELECT t.n, p.data FROM
		(SELECT COALESCE((SELECT `+col+` FROM scim_tenant_state WHERE tenant = $1), 0) AS n) t
		LEFT JOIN LATERAL (SELECT data FROM scim_resources WHERE tenant = $1 AND type = $2
			AND id >= (SELECT id FROM scim_resources WHERE tenant = $1 AND type = $2 ORDER BY id OFFSET $3 LIMIT 1)
			ORDER BY id LIMIT $4) p ON true`, tenant, typ, start-1, n)
	if err != nil {
		return 0, nil, fmt.Errorf("reading a page: %w", err)
	}
	total := 0
	out := [][]byte{}
	var data *string
	if _, err := pgx.ForEachRow(rows, []any{&total, &data}, func() error {
		if data != nil {
			out = append(out, []byte(*data))
		}
		return nil
	}); err != nil {
		return 0, nil, fmt.Errorf("reading a page: %w", err)
	}
	return total, out, nil
}

// RawGroups implements store.RawReader; Groups already reads each group's
// displayName alone.
func (s *Store) RawGroups(ctx context.Context, tenant, member string) ([]store.GroupRef, error) {
	return s.Groups(ctx, tenant, member)
}
