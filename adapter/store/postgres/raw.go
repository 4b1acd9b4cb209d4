package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/caddy-scim/caddy-scim/adapter/schema"
	"github.com/caddy-scim/caddy-scim/adapter/store"
)

var _ store.RawReader = (*Store)(nil)

// ListRaw implements store.RawReader: an unfiltered page in creation
// order, and an equality on id or on an indexed attribute, as the JSON the
// store keeps.
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
	var page *store.RawPage
	ok := true
	err = s.readTx(ctx, func(tx pgx.Tx) error {
		if q.Filter == nil {
			total, raw, err := plainPage(ctx, tx, tenant, typ, max(q.StartIndex, 1), max(q.Count, 0))
			page = &store.RawPage{Total: total, Resources: raw}
			return err
		}
		src := &source{tx: tx, tenant: tenant, typ: typ, rt: rt}
		var err error
		page, ok, err = store.EqualityRaw(rt, q,
			func(attr, value string) ([]string, bool, error) { return src.Lookup(ctx, attr, value) },
			func(id string) ([]byte, error) { return src.raw(ctx, id) })
		return err
	})
	if err != nil || !ok {
		return nil, false, err
	}
	return page, true, nil
}

// RawGroups implements store.RawReader; Groups already reads each group's
// displayName alone.
func (s *Store) RawGroups(ctx context.Context, tenant, member string) ([]store.GroupRef, error) {
	return s.Groups(ctx, tenant, member)
}
