package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/caddy-scim/caddy-scim/adapter/schema"
	"github.com/caddy-scim/caddy-scim/adapter/store"
)

// Resource ids are UUIDs the store assigns: 36 characters of lowercase
// hexadecimal digits and hyphens in fixed places. Every collation orders
// such strings as the bytes order them, so ORDER BY id on the primary key
// gives the embedded engine's id order (length, then bytewise) without a
// sort, whatever the database's collation.

// scanChunk is how many resources a scan reads per query.
const scanChunk = 512

// readTx runs fn in a read-only transaction that sees one snapshot, so a
// page's total and its resources agree.
func (s *Store) readTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("starting a read: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// List implements store.Store. An unfiltered page in creation order is one
// statement on the primary key (OFFSET for a StartIndex), a Seek a range
// of it;
// filters and sorts go through store.SelectPage, which reads only the
// index's candidates for an equality on an indexed attribute and scans
// the tenant's resources of the type otherwise.
func (s *Store) List(ctx context.Context, tenant string, rt *schema.ResourceType, q store.Query) (*store.Page, error) {
	typ, err := typeCode(rt)
	if err != nil {
		return nil, err
	}
	if err := checkTenant(tenant); err != nil {
		return nil, err
	}
	if q.Seek != nil && q.SortBy != nil {
		return nil, errors.New("store: a seek cannot be combined with sortBy")
	}
	if q.Filter == nil && q.Seek == nil && q.SortBy == nil {
		total, raw, err := s.plainRaw(ctx, tenant, typ, max(q.StartIndex, 1), max(q.Count, 0))
		if err != nil {
			return nil, err
		}
		return decodePage(total, raw)
	}
	var page *store.Page
	err = s.readTx(ctx, func(tx pgx.Tx) error {
		var err error
		switch {
		case q.Filter == nil && q.Seek != nil:
			page, err = seekPage(ctx, tx, tenant, typ, *q.Seek, max(q.Count, 0))
		default:
			page, err = store.SelectPage(ctx, &source{tx: tx, tenant: tenant, typ: typ, rt: rt}, rt, q)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return page, nil
}

func decodePage(total int, raw [][]byte) (*store.Page, error) {
	page := &store.Page{Total: total, Resources: make([]map[string]any, 0, len(raw))}
	for _, b := range raw {
		res, err := decodeResource(b)
		if err != nil {
			return nil, err
		}
		page.Resources = append(page.Resources, res)
	}
	return page, nil
}

func decodeResource(b []byte) (map[string]any, error) {
	var res map[string]any
	if err := decodeNumbers(string(b), &res); err != nil {
		return nil, fmt.Errorf("decoding stored resource: %w", err)
	}
	return res, nil
}

// countColumn is the column of scim_tenant_state that counts the type.
func countColumn(typ int16) string {
	if typ == typeGroup {
		return "group_count"
	}
	return "user_count"
}

// indexTable returns the index of rt that answers attr ("attr" or
// "attr.sub", compared case-insensitively) and the table it is kept in;
// false when attr has no index.
func indexTable(rt *schema.ResourceType, attr string) (store.Index, string, bool) {
	for _, ix := range store.Indexes(rt) {
		if !strings.EqualFold(ix.Attr(), attr) {
			continue
		}
		if ix.Unique() {
			return ix, "scim_unique", true
		}
		return ix, "scim_index", true
	}
	return store.Index{}, "", false
}

// count is the tenant's number of resources of the type.
func count(ctx context.Context, tx pgx.Tx, tenant string, typ int16) (int, error) {
	var n int64
	err := tx.QueryRow(ctx, `SELECT `+countColumn(typ)+` FROM scim_tenant_state WHERE tenant = $1`, tenant).Scan(&n)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("counting resources: %w", err)
	}
	return int(n), nil
}

func collectData(rows pgx.Rows) ([][]byte, error) {
	out := [][]byte{}
	var data string
	if _, err := pgx.ForEachRow(rows, []any{&data}, func() error {
		out = append(out, []byte(data))
		return nil
	}); err != nil {
		return nil, fmt.Errorf("reading a page: %w", err)
	}
	return out, nil
}

// seekPage reads the page of an unfiltered Seek: the Count resources after
// (or before) the key, and whether any lie beyond them and on the other
// side of the key.
func seekPage(ctx context.Context, tx pgx.Tx, tenant string, typ int16, sk store.Seek, n int) (*store.Page, error) {
	total, err := count(ctx, tx, tenant, typ)
	if err != nil {
		return nil, err
	}
	cmp, order, other := ">", "ASC", "<="
	if sk.Backward {
		cmp, order, other = "<", "DESC", ">="
	}
	var rows pgx.Rows
	if sk.Key == "" {
		rows, err = tx.Query(ctx, `SELECT data FROM scim_resources WHERE tenant = $1 AND type = $2
			ORDER BY id `+order+` LIMIT $3`, tenant, typ, n+1)
	} else {
		rows, err = tx.Query(ctx, `SELECT data FROM scim_resources WHERE tenant = $1 AND type = $2 AND id `+cmp+` $3
			ORDER BY id `+order+` LIMIT $4`, tenant, typ, sk.Key, n+1)
	}
	if err != nil {
		return nil, fmt.Errorf("reading a page: %w", err)
	}
	raw, err := collectData(rows)
	if err != nil {
		return nil, err
	}
	more := len(raw) > n
	raw = raw[:min(len(raw), n)]
	beyond := false
	if sk.Key != "" {
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM scim_resources WHERE tenant = $1 AND type = $2 AND id `+other+` $3)`,
			tenant, typ, sk.Key).Scan(&beyond); err != nil {
			return nil, fmt.Errorf("reading a page: %w", err)
		}
	}
	if sk.Backward {
		slices.Reverse(raw)
	}
	page, err := decodePage(total, raw)
	if err != nil {
		return nil, err
	}
	if sk.Backward {
		page.Earlier, page.Later = more, beyond
	} else {
		page.Earlier, page.Later = beyond, more
	}
	return page, nil
}

// source is a tenant's resources of one type in one read transaction, as
// store.SelectPage reads them.
type source struct {
	tx     pgx.Tx
	tenant string
	typ    int16
	rt     *schema.ResourceType
}

// Lookup implements store.ListSource from scim_unique and scim_index.
func (s *source) Lookup(ctx context.Context, attr, value string) ([]string, bool, error) {
	ix, table, ok := indexTable(s.rt, attr)
	if !ok {
		return nil, false, nil
	}
	// table is one of two names indexTable gives, never input.
	rows, err := s.tx.Query(ctx, `SELECT id FROM `+table+` WHERE tenant = $1 AND type = $2 AND attr = $3 AND value = $4`,
		s.tenant, s.typ, ix.Attr(), ix.Key(value))
	if err != nil {
		return nil, false, fmt.Errorf("reading the %s index: %w", ix.Attr(), err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, false, fmt.Errorf("reading the %s index: %w", ix.Attr(), err)
	}
	return ids, true, nil
}

// Load implements store.ListSource.
func (s *source) Load(ctx context.Context, id string) (map[string]any, error) {
	b, err := s.raw(ctx, id)
	if b == nil || err != nil {
		return nil, err
	}
	return decodeResource(b)
}

// raw returns a resource's JSON, nil when there is none.
func (s *source) raw(ctx context.Context, id string) ([]byte, error) {
	var data string
	err := s.tx.QueryRow(ctx, `SELECT data FROM scim_resources WHERE tenant = $1 AND type = $2 AND id = $3`, s.tenant, s.typ, id).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", id, err)
	}
	return []byte(data), nil
}

// Scan implements store.ListSource, a chunk of resources per query so
// that fn may query too.
func (s *source) Scan(ctx context.Context, fn func(id string, res map[string]any) error) error {
	after := ""
	for {
		rows, err := s.tx.Query(ctx, `SELECT id, data FROM scim_resources WHERE tenant = $1 AND type = $2 AND id > $3
			ORDER BY id LIMIT $4`, s.tenant, s.typ, after, scanChunk)
		if err != nil {
			return fmt.Errorf("scanning resources: %w", err)
		}
		type row struct{ id, data string }
		chunk, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
			var x row
			err := r.Scan(&x.id, &x.data)
			return x, err
		})
		if err != nil {
			return fmt.Errorf("scanning resources: %w", err)
		}
		for _, r := range chunk {
			res, err := decodeResource([]byte(r.data))
			if err != nil {
				return err
			}
			if err := fn(r.id, res); err != nil {
				return err
			}
		}
		if len(chunk) < scanChunk {
			return nil
		}
		after = chunk[len(chunk)-1].id
	}
}

// Edges implements store.ListSource.
func (s *source) Edges(ctx context.Context, id string) ([]any, error) {
	if s.typ == typeGroup {
		ms, err := listMembers(ctx, s.tx, s.tenant, id)
		if err != nil {
			return nil, err
		}
		return store.MemberEdges(ms), nil
	}
	rows, err := s.tx.Query(ctx, `SELECT group_id FROM scim_members WHERE tenant = $1 AND member_id = $2 ORDER BY group_id`, s.tenant, id)
	if err != nil {
		return nil, fmt.Errorf("reading the groups of %s: %w", id, err)
	}
	groups, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("reading the groups of %s: %w", id, err)
	}
	arr := make([]any, len(groups))
	for i, g := range groups {
		arr[i] = map[string]any{"value": g}
	}
	return arr, nil
}

var _ store.Store = (*Store)(nil)
