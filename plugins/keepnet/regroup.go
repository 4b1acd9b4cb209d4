package keepnet

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/dgraph-io/badger/v4"

	"github.com/caddy-scim/caddy-scim/plugins/sdk"
)

// regroupResult is the detail of a regroup action.
type regroupResult struct {
	// Users is how many target users were looked at.
	Users int `json:"users"`
	// Changed is how many of them changed custom fields or groups.
	Changed int `json:"changed"`
	// GroupsRemoved is how many target groups were removed.
	GroupsRemoved int `json:"groups_removed"`
}

// regroup re-applies the settings to every stored user, one transaction
// per user, then brings the groups in line: mirrored groups created or
// removed as mirror_groups says, emptied group-by groups removed, the
// default target group created. It changes no applied Seq and may be run
// again after an interruption.
func regroup(ctx context.Context, db *badger.DB, s settings) (*sdk.ActionResponse, error) {
	var res regroupResult
	var userKeys, groupKeys [][]byte
	if err := db.View(func(txn *badger.Txn) error {
		userKeys = keysWithPrefix(txn, []byte(prefixUser), 0)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("listing target users: %w", err)
	}
	for _, k := range userKeys {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("regrouping: %w", err)
		}
		var changed bool
		if err := update(db, s, func(t *tx) error {
			var err error
			changed, err = t.regroupUser(k)
			return err
		}); err != nil {
			return nil, fmt.Errorf("regrouping target user %q: %w", emailOfUserKey(k), err)
		}
		res.Users++
		if changed {
			res.Changed++
		}
	}
	if err := update(db, s, (*tx).ensureDefaultGroup); err != nil {
		return nil, fmt.Errorf("creating target group %q: %w", s.targetGroup, err)
	}
	if s.mirrorGroups {
		var gids [][]byte
		if err := db.View(func(txn *badger.Txn) error {
			gids = keysWithPrefix(txn, []byte(prefixSCIMGroup), 0)
			return nil
		}); err != nil {
			return nil, fmt.Errorf("listing SCIM groups: %w", err)
		}
		for _, k := range gids {
			gid := strings.TrimPrefix(string(k), prefixSCIMGroup)
			if err := update(db, s, func(t *tx) error { return t.upsertSCIMGroup(&sdk.Group{ID: gid}) }); err != nil {
				return nil, fmt.Errorf("mirroring group %s: %w", gid, err)
			}
		}
	}
	if err := db.View(func(txn *badger.Txn) error {
		groupKeys = keysWithPrefix(txn, []byte(prefixGroup), 0)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("listing target groups: %w", err)
	}
	for _, k := range groupKeys {
		gkey := groupOfGroupKey(k)
		var removed bool
		if err := update(db, s, func(t *tx) error {
			var err error
			removed, err = t.pruneGroup(gkey)
			return err
		}); err != nil {
			return nil, fmt.Errorf("pruning target group %q: %w", gkey, err)
		}
		if removed {
			res.GroupsRemoved++
		}
	}
	detail, err := json.Marshal(res)
	if err != nil {
		return nil, fmt.Errorf("encoding the regroup result: %w", err)
	}
	return &sdk.ActionResponse{
		Message: fmt.Sprintf("regrouped %d target users: %d changed, %d target groups removed",
			res.Users, res.Changed, res.GroupsRemoved),
		Result: detail,
	}, nil
}

// regroupUser recomputes one target user's custom fields, placement and
// mirrored groups from its stored attributes.
func (t *tx) regroupUser(key []byte) (bool, error) {
	var u targetUser
	found, err := getJSON(t.txn, key, &u)
	if err != nil || !found {
		return false, err
	}
	before := slices.Clone(u.Groups)
	custom := t.s.customFields(&sdk.User{Attributes: u.Attributes})
	changed := !maps.Equal(custom, u.Custom)
	u.Custom = custom
	if err := t.place(&u); err != nil {
		return false, err
	}
	want := map[string]bool{}
	if t.s.mirrorGroups {
		for _, k := range keysWithPrefix(t.txn, scimUserGroupPrefix(u.SCIMID), 0) {
			want[idpKey(secondOfPair(k))] = true
		}
	}
	for _, g := range slices.Clone(u.Groups) {
		if strings.HasPrefix(g, idpGroup) && !want[g] {
			if err := t.leave(&u, g); err != nil {
				return false, err
			}
		}
	}
	for g := range want {
		if u.inGroup(g) {
			continue
		}
		name, err := t.scimGroupName(strings.TrimPrefix(g, idpGroup))
		if err != nil {
			return false, err
		}
		if err := t.join(&u, g, name); err != nil {
			return false, err
		}
	}
	changed = changed || !slices.Equal(before, u.Groups)
	return changed, t.saveUser(&u)
}

// pruneGroup removes a target group that the settings no longer call for:
// a mirrored group when mirroring is off, a group-by group without members.
func (t *tx) pruneGroup(gkey string) (bool, error) {
	if strings.HasPrefix(gkey, idpGroup) {
		if t.s.mirrorGroups {
			return false, nil
		}
		if err := t.dropTargetMembers(gkey, 0); err != nil {
			return false, err
		}
		return true, del(t.txn, groupKeyOf(gkey))
	}
	return t.dropIfEmpty(gkey)
}
