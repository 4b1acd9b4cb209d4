package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/caddy-scim/caddy-scim/adapter/change"
	"github.com/caddy-scim/caddy-scim/adapter/patch"
	"github.com/caddy-scim/caddy-scim/adapter/schema"
	"github.com/caddy-scim/caddy-scim/adapter/store"
)

// Resource types as the type column stores them.
const (
	typeUser  int16 = 1
	typeGroup int16 = 2
)

func typeCode(rt *schema.ResourceType) (int16, error) {
	switch rt {
	case schema.User:
		return typeUser, nil
	case schema.Group:
		return typeGroup, nil
	}
	return 0, fmt.Errorf("store: unsupported resource type %q", rt.Name)
}

func typeName(t int16) string {
	if t == typeGroup {
		return "Group"
	}
	return "User"
}

// target checks the tenant, type and id a request names and returns the
// type's code; an id no resource can have is a 404.
func target(tenant string, rt *schema.ResourceType, id string) (int16, error) {
	typ, err := typeCode(rt)
	if err != nil {
		return 0, err
	}
	if err := checkTenant(tenant); err != nil {
		return 0, err
	}
	if id == "" || len(id) > store.MaxID {
		return 0, store.NotFound(rt, id)
	}
	return typ, nil
}

// idOrder orders ids as the embedded engine lists them: by length, then
// bytewise.
const idOrder = `length(%[1]s), %[1]s COLLATE "C"`

// GetRaw returns the JSON of one resource as stored, or a 404.
func (s *Store) GetRaw(ctx context.Context, tenant string, rt *schema.ResourceType, id string) ([]byte, error) {
	typ, err := target(tenant, rt, id)
	if err != nil {
		return nil, err
	}
	var data string
	err = s.pool.QueryRow(ctx, `SELECT data FROM scim_resources WHERE tenant = $1 AND type = $2 AND id = $3`, tenant, typ, id).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, store.NotFound(rt, id)
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s %s: %w", rt.Name, id, err)
	}
	return []byte(data), nil
}

// Get returns one resource, or a 404.
func (s *Store) Get(ctx context.Context, tenant string, rt *schema.ResourceType, id string) (map[string]any, error) {
	b, err := s.GetRaw(ctx, tenant, rt, id)
	if err != nil {
		return nil, err
	}
	var res map[string]any
	if err := decodeNumbers(string(b), &res); err != nil {
		return nil, fmt.Errorf("decoding stored resource: %w", err)
	}
	return res, nil
}

// Create stores a new resource with a server-assigned id and, for groups,
// its initial members; ids that name no resource of the tenant are
// skipped and reported.
func (s *Store) Create(ctx context.Context, tenant string, rt *schema.ResourceType, data map[string]any, members []patch.Member) (*store.WriteResult, error) {
	typ, err := typeCode(rt)
	if err != nil {
		return nil, err
	}
	if err := checkTenant(tenant); err != nil {
		return nil, err
	}
	u, err := uuid.NewV7()
	if err != nil {
		return nil, fmt.Errorf("generating id: %w", err)
	}
	id := u.String()
	var out *store.WriteResult
	err = s.write.Write(ctx, tenant, func(ctx context.Context, tx *Tx) error {
		res := schema.CopyMap(data)
		store.Stamp(rt, res, id, tx.Now.Format(time.RFC3339Nano), tx.Now, tx.NextSeq())
		if err := addIndexes(ctx, tx, rt, typ, id, res); err != nil {
			return err
		}
		b, err := json.Marshal(res)
		if err != nil {
			return fmt.Errorf("encoding resource: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO scim_resources (tenant, type, id, data) VALUES ($1, $2, $3, $4)`, tenant, typ, id, string(b)); err != nil {
			return fmt.Errorf("storing %s %s: %w", rt.Name, id, err)
		}
		var ev *change.Event
		if typ == typeUser {
			tx.CountUsers(1)
			ev = change.ForUser(id, nil, res)
		} else {
			tx.CountGroups(1)
			ev = change.ForGroup(id, nil, res)
		}
		if err := emit(ctx, tx, ev); err != nil {
			return err
		}
		out = &store.WriteResult{Resource: res, Changed: true}
		if typ == typeGroup && len(members) > 0 {
			added, skipped, err := addMembers(ctx, tx, id, members)
			if err != nil {
				return err
			}
			out.SkippedMembers = skipped
			return emit(ctx, tx, change.ForMembers(change.MembersAdded, id, res, added))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.grew(1)
	return out, nil
}

// emit journals ev, if any, with the next sequence, the tenant and the
// write's time.
func emit(ctx context.Context, tx *Tx, ev *change.Event) error {
	if ev == nil {
		return nil
	}
	_, err := tx.Emit(ctx, func(seq uint64) ([]byte, error) {
		ev.Seq, ev.Tenant, ev.Time = seq, tx.Tenant, tx.Now
		return json.Marshal(ev)
	})
	return err
}

// addIndexes adds the index rows of a new resource, refusing a unique
// value another resource holds.
func addIndexes(ctx context.Context, tx *Tx, rt *schema.ResourceType, typ int16, id string, res map[string]any) error {
	return writeIndexes(ctx, tx, rt, typ, id, nil, res)
}

// writeIndexes brings the index rows of a resource from old's values (nil
// for a new resource) to next's (nil for a deleted one): the rows of values next no longer has go,
// those of its new values come, a unique one refused with a 409 when
// another resource holds it. Rows of values both have stay untouched. At
// most one statement per unique value added, and one each for the rest.
func writeIndexes(ctx context.Context, tx *Tx, rt *schema.ResourceType, typ int16, id string, old, next map[string]any) error {
	var addAttr, addKey, delAttr, delKey, delUniqueAttr, delUniqueKey []string
	type unique struct{ attr, key, value string }
	var addUnique []unique
	for _, ix := range store.Indexes(rt) {
		var oldKeys []string
		if old != nil {
			oldKeys, _ = ix.Keys(old)
		}
		newKeys, newValues := ix.Keys(next)
		had := make(map[string]bool, len(oldKeys))
		for _, k := range oldKeys {
			had[k] = true
		}
		has := make(map[string]bool, len(newKeys))
		for i, k := range newKeys {
			has[k] = true
			if had[k] {
				continue
			}
			if ix.Unique() {
				addUnique = append(addUnique, unique{ix.Attr(), k, newValues[i]})
			} else {
				addAttr, addKey = append(addAttr, ix.Attr()), append(addKey, k)
			}
		}
		for _, k := range oldKeys {
			if has[k] {
				continue
			}
			if ix.Unique() {
				delUniqueAttr, delUniqueKey = append(delUniqueAttr, ix.Attr()), append(delUniqueKey, k)
			} else {
				delAttr, delKey = append(delAttr, ix.Attr()), append(delKey, k)
			}
		}
	}
	for _, d := range []struct {
		table      string
		attr, keys []string
	}{{"scim_unique", delUniqueAttr, delUniqueKey}, {"scim_index", delAttr, delKey}} {
		if len(d.keys) == 0 {
			continue
		}
		// table is one of two names above, never input.
		if _, err := tx.Exec(ctx, `DELETE FROM `+d.table+` WHERE tenant = $1 AND type = $2 AND id = $3
			AND (attr, value) IN (SELECT a, v FROM unnest($4::text[], $5::text[]) AS u (a, v))`,
			tx.Tenant, typ, id, d.attr, d.keys); err != nil {
			return fmt.Errorf("unindexing %s %s: %w", rt.Name, id, err)
		}
	}
	if len(addKey) > 0 {
		if _, err := tx.Exec(ctx, `INSERT INTO scim_index (tenant, type, attr, value, id)
			SELECT $1, $2, a, v, $3 FROM unnest($4::text[], $5::text[]) AS u (a, v) ON CONFLICT DO NOTHING`,
			tx.Tenant, typ, id, addAttr, addKey); err != nil {
			return fmt.Errorf("indexing %s %s: %w", rt.Name, id, err)
		}
	}
	for _, u := range addUnique {
		var holder string
		err := tx.QueryRow(ctx, `INSERT INTO scim_unique (tenant, type, attr, value, id) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (tenant, type, attr, value) DO UPDATE SET id = scim_unique.id RETURNING id`,
			tx.Tenant, typ, u.attr, u.key, id).Scan(&holder)
		if err != nil {
			return fmt.Errorf("indexing %s: %w", u.attr, err)
		}
		if holder != id {
			return store.Conflict(rt, u.attr, u.value)
		}
	}
	return nil
}

// addMembers adds the members that are not members yet and reports them,
// and the ids that name no resource of the tenant (or the group itself).
// The id decides a member's type, not the type given; the given type only
// decides between a user and a group with the same id. Three statements
// whatever the number of members: the edges that exist, the types of the
// ids, and one insert.
func addMembers(ctx context.Context, tx *Tx, group string, ms []patch.Member) (added []change.Member, skipped []string, err error) {
	want := map[string]patch.Member{}
	for _, m := range ms {
		want[m.Value] = m
	}
	ids := make([]string, 0, len(want))
	for id := range want {
		if id == "" || len(id) > store.MaxID || id == group {
			skipped = append(skipped, id)
			continue
		}
		ids = append(ids, id)
	}
	sort.Strings(skipped)
	if len(ids) == 0 {
		return nil, skipped, nil
	}
	sort.Strings(ids)
	rows, err := tx.Query(ctx, `SELECT member_id FROM scim_members WHERE tenant = $1 AND group_id = $2 AND member_id = ANY($3)`,
		tx.Tenant, group, ids)
	if err != nil {
		return nil, nil, fmt.Errorf("reading memberships: %w", err)
	}
	present, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, nil, fmt.Errorf("reading memberships: %w", err)
	}
	isMember := make(map[string]bool, len(present))
	for _, id := range present {
		isMember[id] = true
	}
	// By type, so that each half reads the primary key (tenant, type, id)
	// rather than every resource of the tenant.
	rows, err = tx.Query(ctx, `SELECT id, type FROM scim_resources WHERE tenant = $1 AND type = 1 AND id = ANY($2)
		UNION ALL SELECT id, type FROM scim_resources WHERE tenant = $1 AND type = 2 AND id = ANY($2)`, tx.Tenant, ids)
	if err != nil {
		return nil, nil, fmt.Errorf("finding members: %w", err)
	}
	types := map[string][]int16{}
	var rid string
	var rtyp int16
	if _, err := pgx.ForEachRow(rows, []any{&rid, &rtyp}, func() error {
		types[rid] = append(types[rid], rtyp)
		return nil
	}); err != nil {
		return nil, nil, fmt.Errorf("finding members: %w", err)
	}
	var newIDs []string
	var newTypes []int16
	for _, id := range ids {
		if isMember[id] {
			continue
		}
		found := types[id]
		if len(found) == 0 {
			skipped = append(skipped, id)
			continue
		}
		typ := found[0]
		if len(found) > 1 && strings.EqualFold(want[id].Type, "Group") {
			typ = typeGroup
		} else if len(found) > 1 {
			typ = typeUser
		}
		newIDs, newTypes = append(newIDs, id), append(newTypes, typ)
		added = append(added, change.Member{ID: id, Type: typeName(typ)})
	}
	sort.Strings(skipped)
	if len(newIDs) == 0 {
		return added, skipped, nil
	}
	if _, err := tx.Exec(ctx, `INSERT INTO scim_members (tenant, group_id, member_id, member_type)
		SELECT $1, $2, m, t FROM unnest($3::text[], $4::smallint[]) AS u (m, t)`, tx.Tenant, group, newIDs, newTypes); err != nil {
		return nil, nil, fmt.Errorf("adding members: %w", err)
	}
	return added, skipped, nil
}

// Members returns a group's members, in id order.
func (s *Store) Members(ctx context.Context, tenant, group string) ([]patch.Member, error) {
	if err := checkTenant(tenant); err != nil {
		return nil, err
	}
	return listMembers(ctx, s.pool, tenant, group)
}

// rowQuerier is what listMembers needs: a pool or a transaction.
type rowQuerier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func listMembers(ctx context.Context, db rowQuerier, tenant, group string) ([]patch.Member, error) {
	rows, err := db.Query(ctx, `SELECT member_id, member_type FROM scim_members WHERE tenant = $1 AND group_id = $2
		ORDER BY `+fmt.Sprintf(idOrder, "member_id"), tenant, group)
	if err != nil {
		return nil, fmt.Errorf("reading the members of group %s: %w", group, err)
	}
	var out []patch.Member
	var id string
	var typ int16
	if _, err := pgx.ForEachRow(rows, []any{&id, &typ}, func() error {
		out = append(out, patch.Member{Value: id, Type: typeName(typ)})
		return nil
	}); err != nil {
		return nil, fmt.Errorf("reading the members of group %s: %w", group, err)
	}
	return out, nil
}

// Groups returns the groups member is a direct member of, in id order.
func (s *Store) Groups(ctx context.Context, tenant, member string) ([]store.GroupRef, error) {
	all, err := s.GroupsOf(ctx, tenant, []string{member})
	if err != nil {
		return nil, err
	}
	return all[member], nil
}

var _ store.GroupLister = (*Store)(nil)

// GroupsOf implements store.GroupLister: one query for all members.
func (s *Store) GroupsOf(ctx context.Context, tenant string, members []string) (map[string][]store.GroupRef, error) {
	if err := checkTenant(tenant); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT m.member_id, m.group_id, r.data::json->>'displayName'
		FROM scim_members m JOIN scim_resources r ON r.tenant = m.tenant AND r.type = 2 AND r.id = m.group_id
		WHERE m.tenant = $1 AND m.member_id = ANY($2)
		ORDER BY `+fmt.Sprintf(idOrder, "m.group_id"), tenant, members)
	if err != nil {
		return nil, fmt.Errorf("reading groups: %w", err)
	}
	out := map[string][]store.GroupRef{}
	var member, group string
	var name *string
	if _, err := pgx.ForEachRow(rows, []any{&member, &group, &name}, func() error {
		ref := store.GroupRef{ID: group}
		if name != nil {
			ref.DisplayName = *name
		}
		out[member] = append(out[member], ref)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("reading groups: %w", err)
	}
	return out, nil
}
