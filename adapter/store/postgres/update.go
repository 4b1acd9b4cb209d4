package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/caddy-scim/caddy-scim/adapter/change"
	"github.com/caddy-scim/caddy-scim/adapter/patch"
	"github.com/caddy-scim/caddy-scim/adapter/schema"
	"github.com/caddy-scim/caddy-scim/adapter/store"
)

// errNoChange rolls back a write that would change nothing.
var errNoChange = errors.New("no change")

// current reads a resource inside the write's transaction.
func current(ctx context.Context, tx *Tx, rt *schema.ResourceType, typ int16, id string) (map[string]any, error) {
	var data string
	err := tx.QueryRow(ctx, `SELECT data FROM scim_resources WHERE tenant = $1 AND type = $2 AND id = $3`, tx.Tenant, typ, id).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, store.NotFound(rt, id)
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s %s: %w", rt.Name, id, err)
	}
	var res map[string]any
	if err := decodeNumbers(data, &res); err != nil {
		return nil, fmt.Errorf("decoding stored resource: %w", err)
	}
	return res, nil
}

// txMembers lists a group's members inside the write's transaction, for
// PATCH filters on members.
type txMembers struct {
	tx    *Tx
	group string
}

func (m txMembers) List(ctx context.Context) ([]patch.Member, error) {
	return listMembers(ctx, m.tx, m.tx.Tenant, m.group)
}

// Update reads the current resource and calls fn with a copy of it, and
// for groups a reader of its members; no other write of the tenant, on
// any instance, commits between the read and the write. When nothing
// changes, nothing is written.
func (s *Store) Update(ctx context.Context, tenant string, rt *schema.ResourceType, id string, fn store.UpdateFunc) (*store.WriteResult, error) {
	typ, err := target(tenant, rt, id)
	if err != nil {
		return nil, err
	}
	var out *store.WriteResult
	err = s.write.Write(ctx, tenant, func(ctx context.Context, tx *Tx) error {
		cur, err := current(ctx, tx, rt, typ, id)
		if err != nil {
			return err
		}
		next, delta, err := fn(schema.CopyMap(cur), txMembers{tx, id})
		if err != nil {
			return err
		}
		if typ != typeGroup {
			delta = nil
		}
		changed := change.Diff(cur, next)
		var added, removed []change.Member
		var skipped []string
		if delta != nil {
			if added, removed, skipped, err = applyMembers(ctx, tx, id, delta); err != nil {
				return err
			}
		}
		out = &store.WriteResult{Resource: cur, SkippedMembers: skipped}
		if len(changed) == 0 && len(added) == 0 && len(removed) == 0 {
			return errNoChange
		}
		next = schema.CopyMap(next)
		created, _ := cur["meta"].(map[string]any)["created"].(string)
		store.Stamp(rt, next, id, created, tx.Now, tx.NextSeq())
		if err := writeIndexes(ctx, tx, rt, typ, id, cur, next); err != nil {
			return err
		}
		b, err := json.Marshal(next)
		if err != nil {
			return fmt.Errorf("encoding resource: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE scim_resources SET data = $4 WHERE tenant = $1 AND type = $2 AND id = $3`, tenant, typ, id, string(b)); err != nil {
			return fmt.Errorf("storing %s %s: %w", rt.Name, id, err)
		}
		ev := change.ForGroup(id, cur, next)
		if typ == typeUser {
			ev = change.ForUser(id, cur, next)
		}
		for _, e := range []*change.Event{ev, change.ForMembers(change.MembersAdded, id, next, added), change.ForMembers(change.MembersRemoved, id, next, removed)} {
			if err := emit(ctx, tx, e); err != nil {
				return err
			}
		}
		out = &store.WriteResult{Resource: next, Changed: true, SkippedMembers: skipped}
		return nil
	})
	if errors.Is(err, errNoChange) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// applyMembers applies a membership delta and returns the members actually
// added and removed, and the requested ids that name no resource.
func applyMembers(ctx context.Context, tx *Tx, group string, d *patch.MemberDelta) (added, removed []change.Member, skipped []string, err error) {
	want := map[string]bool{}
	var adds []patch.Member
	for _, m := range d.Add {
		want[m.Value] = true
	}
	for _, r := range d.Remove {
		delete(want, r)
	}
	for _, m := range d.Add {
		if want[m.Value] {
			adds = append(adds, m)
		}
	}
	var drop []string
	if d.Clear {
		cur, err := listMembers(ctx, tx, tx.Tenant, group)
		if err != nil {
			return nil, nil, nil, err
		}
		for _, m := range cur {
			if !want[m.Value] {
				drop = append(drop, m.Value)
			}
		}
	} else {
		drop = d.Remove
	}
	if len(drop) > 0 {
		rows, err := tx.Query(ctx, `DELETE FROM scim_members WHERE tenant = $1 AND group_id = $2 AND member_id = ANY($3)
			RETURNING member_id, member_type`, tx.Tenant, group, drop)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("removing members: %w", err)
		}
		gone := map[string]int16{}
		var mid string
		var mtyp int16
		if _, err := pgx.ForEachRow(rows, []any{&mid, &mtyp}, func() error {
			gone[mid] = mtyp
			return nil
		}); err != nil {
			return nil, nil, nil, fmt.Errorf("removing members: %w", err)
		}
		// In the order asked for, each once.
		for _, id := range drop {
			if t, ok := gone[id]; ok {
				removed = append(removed, change.Member{ID: id, Type: typeName(t)})
				delete(gone, id)
			}
		}
	}
	if added, skipped, err = addMembers(ctx, tx, group, adds); err != nil {
		return nil, nil, nil, err
	}
	return added, removed, skipped, nil
}

// Delete removes a resource and every membership edge it is part of.
func (s *Store) Delete(ctx context.Context, tenant string, rt *schema.ResourceType, id string) error {
	return s.DeleteIf(ctx, tenant, rt, id, nil)
}

// DeleteIf is Delete with a precondition checked on the current resource
// while no other write of the tenant can commit; check's error is
// returned unchanged and nothing is deleted.
func (s *Store) DeleteIf(ctx context.Context, tenant string, rt *schema.ResourceType, id string, check store.Precondition) error {
	typ, err := target(tenant, rt, id)
	if err != nil {
		return err
	}
	return s.write.Write(ctx, tenant, func(ctx context.Context, tx *Tx) error {
		cur, err := current(ctx, tx, rt, typ, id)
		if err != nil {
			return err
		}
		if check != nil {
			if err := check(schema.CopyMap(cur)); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM scim_resources WHERE tenant = $1 AND type = $2 AND id = $3`, tenant, typ, id); err != nil {
			return fmt.Errorf("deleting %s %s: %w", rt.Name, id, err)
		}
		// The index rows of its values, by their keys.
		if err := writeIndexes(ctx, tx, rt, typ, id, cur, nil); err != nil {
			return err
		}
		// Edges in which it is the member (by the reverse index), and,
		// for a group, its own (by the primary key).
		if _, err := tx.Exec(ctx, `DELETE FROM scim_members WHERE tenant = $1 AND member_id = $2`, tenant, id); err != nil {
			return fmt.Errorf("deleting the memberships of %s %s: %w", rt.Name, id, err)
		}
		if typ == typeGroup {
			if _, err := tx.Exec(ctx, `DELETE FROM scim_members WHERE tenant = $1 AND group_id = $2`, tenant, id); err != nil {
				return fmt.Errorf("deleting the members of group %s: %w", id, err)
			}
		}
		ev := change.ForGroup(id, cur, nil)
		if typ == typeUser {
			tx.CountUsers(-1)
			ev = change.ForUser(id, cur, nil)
		} else {
			tx.CountGroups(-1)
		}
		return emit(ctx, tx, ev)
	})
}
