package delivery

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/caddy-scim/caddy-scim/adapter/change"
	"github.com/caddy-scim/caddy-scim/adapter/schema"
	"github.com/caddy-scim/caddy-scim/adapter/scimerr"
	"github.com/caddy-scim/caddy-scim/adapter/store"
)

// DeadLetters returns the tenant's dead letters in journal order.
func (d *Deliverer) DeadLetters(ctx context.Context, tenant string) ([]DeadLetter, error) {
	dls, err := d.st.DeadLetters(ctx, tenant)
	if err != nil {
		return nil, fmt.Errorf("listing dead letters of %s: %w", tenant, err)
	}
	return dls, nil
}

// Replay puts the dead letters with the given (original) sequences back
// into the tenant's journal, as new events with new sequence numbers at its
// head, and removes them, in one transaction. It returns the new sequence
// numbers, in the order of the original ones.
//
// A replayed event must not take a backend back to an older state, since
// the events after it have been delivered meanwhile, so it is rebuilt from
// the tenant's current state:
//   - a user or group event carries the resource as it is now; a
//     deactivated or reactivated event takes the kind that matches the
//     user's current active flag; when the resource no longer exists the
//     event is dropped, as the journal already holds its deletion;
//   - a deleted event replays as it is;
//   - a membership event keeps only the members whose addition still holds
//     (or whose removal still holds) and the group as it is now; it is
//     dropped when none remain or the group no longer exists.
//
// A dropped event is removed from the dead letters without a new event.
// An unknown sequence fails the whole replay with an error naming every
// unknown one, and nothing is replayed.
func (d *Deliverer) Replay(ctx context.Context, tenant string, seqs []uint64) ([]uint64, error) {
	seqs = slices.Clone(seqs)
	slices.Sort(seqs)
	seqs = slices.Compact(seqs)
	if len(seqs) == 0 {
		return nil, nil
	}
	dls, err := d.st.DeadLetters(ctx, tenant)
	if err != nil {
		return nil, fmt.Errorf("replaying dead letters of %s: %w", tenant, err)
	}
	bySeq := make(map[uint64]change.Event, len(dls))
	for _, dl := range dls {
		bySeq[dl.Event.Seq] = dl.Event
	}
	var unknown []string
	for _, seq := range seqs {
		if _, ok := bySeq[seq]; !ok {
			unknown = append(unknown, strconv.FormatUint(seq, 10))
		}
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("replaying dead letters of %s: seq %s: %w", tenant, strings.Join(unknown, ", "), store.ErrNoDeadLetter)
	}
	// The events are rebuilt under the tenant's write lock, so no write
	// can slip in between reading the current state and journaling it.
	appended, err := d.st.Append(ctx, tenant, seqs, func(ctx context.Context) ([]change.Event, error) {
		var out []change.Event
		for _, seq := range seqs {
			ev, keep, err := d.refresh(ctx, tenant, bySeq[seq])
			if err != nil {
				return nil, fmt.Errorf("refreshing event %d: %w", seq, err)
			}
			if keep {
				out = append(out, ev)
			}
		}
		return out, nil
	})
	if err != nil {
		return nil, fmt.Errorf("replaying dead letters of %s: %w", tenant, err)
	}
	replayed := make([]uint64, len(appended))
	for i, ev := range appended {
		replayed[i] = ev.Seq
	}
	d.log.Info("dead letters replayed", fTenant(tenant), zap.Uint64s(keySeq, seqs), zap.Uint64s(keyReplayed, replayed))
	d.Notify(tenant)
	return replayed, nil
}

// refresh rebuilds ev from the tenant's current state, or reports that
// nothing of it is left to deliver.
func (d *Deliverer) refresh(ctx context.Context, tenant string, ev change.Event) (change.Event, bool, error) {
	switch ev.Kind {
	case change.UserDeleted, change.GroupDeleted:
		return ev, true, nil
	case change.MembersAdded, change.MembersRemoved:
		group, ok, err := d.current(ctx, tenant, schema.Group, ev.ID)
		if err != nil || !ok {
			return ev, false, err
		}
		members, err := d.st.Members(ctx, tenant, ev.ID)
		if err != nil {
			return ev, false, fmt.Errorf("reading members of group %s: %w", ev.ID, err)
		}
		now := make(map[string]bool, len(members))
		for _, m := range members {
			now[m.Value] = true
		}
		added := ev.Kind == change.MembersAdded
		var keep []change.Member
		for _, m := range ev.Members {
			if now[m.ID] == added {
				keep = append(keep, m)
			}
		}
		if len(keep) == 0 {
			return ev, false, nil
		}
		ev.Resource, ev.Members = group, keep
		return ev, true, nil
	}
	rt := schema.User
	if ev.ResourceType == schema.Group.Name {
		rt = schema.Group
	}
	res, ok, err := d.current(ctx, tenant, rt, ev.ID)
	if err != nil || !ok {
		return ev, false, err
	}
	ev.Resource = res
	if ev.Kind == change.UserDeactivated || ev.Kind == change.UserReactivated {
		ev.Kind = change.UserDeactivated
		if change.Active(res) {
			ev.Kind = change.UserReactivated
		}
	}
	return ev, true, nil
}

// current reads a resource's current state; ok is false when it no longer
// exists.
func (d *Deliverer) current(ctx context.Context, tenant string, rt *schema.ResourceType, id string) (map[string]any, bool, error) {
	res, err := d.st.Get(ctx, tenant, rt, id)
	if e, isSCIM := scimerr.As(err); isSCIM && e.Status == http.StatusNotFound {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("reading %s %s: %w", rt.Name, id, err)
	}
	return res, true, nil
}
