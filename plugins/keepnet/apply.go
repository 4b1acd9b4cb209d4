package keepnet

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/dgraph-io/badger/v4"

	"github.com/caddy-scim/caddy-scim/plugins/sdk"
)

// memberChunk is how many members one transaction adds, removes or drops.
// A change with more members is applied in several transactions, each
// idempotent; the last one records the change's Seq. Each member's target
// user is rewritten, about 2 KB for a user with the common SCIM
// attributes, so a chunk stays well within the transaction limit of a
// store sized by package badgerstore (15% of its memtable).
var memberChunk = 200

// conflictRetries bounds how often a transaction is retried after a
// badger.ErrConflict.
const conflictRetries = 3

// update runs fn in a read-write transaction, retrying conflicts a few
// times.
func update(db *badger.DB, s settings, fn func(t *tx) error) error {
	var err error
	for range conflictRetries {
		err = db.Update(func(txn *badger.Txn) error { return fn(&tx{txn: txn, s: s}) })
		if !errors.Is(err, badger.ErrConflict) {
			return err
		}
	}
	return err
}

// applyChange applies one change unless its Seq is already recorded. The
// change's effect and its Seq are written in one transaction, except that a
// membership change or group deletion with more than memberChunk members
// takes several; those before the last are idempotent, so a change
// interrupted between them is applied again in full when the host resends
// it.
func applyChange(ctx context.Context, db *badger.DB, s settings, c sdk.Change) error {
	if err := checkChange(c); err != nil {
		return err
	}
	var applied bool
	if err := db.View(func(txn *badger.Txn) error {
		last, err := readSeq(txn)
		applied = c.Seq <= last
		return err
	}); err != nil || applied {
		return err
	}
	final := func(fn func(t *tx) error) error {
		return update(db, s, func(t *tx) error {
			done, err := readSeq(t.txn)
			if err != nil || c.Seq <= done {
				return err
			}
			if err := fn(t); err != nil {
				return err
			}
			return writeSeq(t.txn, c.Seq)
		})
	}
	switch c.Kind {
	case sdk.GroupCreated, sdk.MembersAdded, sdk.MembersRemoved:
		add := c.Kind != sdk.MembersRemoved
		members := c.Members
		for len(members) > memberChunk {
			if err := ctx.Err(); err != nil {
				return err
			}
			chunk := members[:memberChunk]
			if err := update(db, s, func(t *tx) error { return t.changeMembers(c.Group, chunk, add) }); err != nil {
				return err
			}
			members = members[memberChunk:]
		}
		return final(func(t *tx) error { return t.changeMembers(c.Group, members, add) })
	case sdk.GroupDeleted:
		for {
			if err := ctx.Err(); err != nil {
				return err
			}
			var n int
			if err := update(db, s, func(t *tx) error {
				var err error
				n, err = t.dropMembers(c.Group.ID, memberChunk)
				return err
			}); err != nil {
				return err
			}
			if n < memberChunk {
				break
			}
		}
		return final(func(t *tx) error { return t.deleteGroup(c.Group.ID) })
	}
	return final(func(t *tx) error { return t.apply(c) })
}

// apply writes change c into the transaction, all of it.
func (t *tx) apply(c sdk.Change) error {
	switch c.Kind {
	case sdk.UserCreated, sdk.UserUpdated:
		return t.upsertUser(c.User, c.User.Active)
	case sdk.UserDeactivated:
		return t.upsertUser(c.User, false)
	case sdk.UserReactivated:
		return t.upsertUser(c.User, true)
	case sdk.UserDeleted:
		return t.deleteUser(c.User.ID)
	case sdk.GroupCreated, sdk.MembersAdded, sdk.MembersRemoved:
		return t.changeMembers(c.Group, c.Members, c.Kind != sdk.MembersRemoved)
	case sdk.GroupUpdated:
		return t.upsertSCIMGroup(c.Group)
	case sdk.GroupDeleted:
		return t.deleteGroup(c.Group.ID)
	}
	return sdk.Invalid("change %d: unknown kind %q", c.Seq, c.Kind)
}

// applyBatch applies the longest run of cs from its start that fits one
// transaction, skipping changes at or below the recorded Seq, records the
// Seq of its last change and commits, and returns how many changes of cs
// it got through. A change that fails (check refuses it, or applying it
// does) ends the run: the changes before it are committed and its error
// is returned. A first change too large for a transaction is applied
// alone by applyChange, in several.
func applyBatch(ctx context.Context, db *badger.DB, s settings, cs []sdk.Change, check func(sdk.Change) error) (int, error) {
	for attempt := 0; ; attempt++ {
		n, err := tryBatch(ctx, db, s, cs, check)
		if !errors.Is(err, badger.ErrConflict) || attempt == conflictRetries-1 {
			return n, err
		}
	}
}

func tryBatch(ctx context.Context, db *badger.DB, s settings, cs []sdk.Change, check func(sdk.Change) error) (int, error) {
	txn := db.NewTransaction(true)
	defer txn.Discard()
	t := &tx{txn: txn, s: s}
	last, err := readSeq(txn)
	if err != nil {
		return 0, err
	}
	staged := 0
	for i, c := range cs {
		if c.Seq <= last {
			continue
		}
		err := check(c)
		if err == nil {
			err = t.apply(c)
		}
		if err == nil {
			staged++
			continue
		}
		switch {
		case staged == 0 && errors.Is(err, badger.ErrTxnTooBig):
			txn.Discard()
			if err := applyChange(ctx, db, s, c); err != nil {
				return i, err
			}
			return i + 1, nil
		case staged == 0:
			return i, err
		}
		// The transaction holds part of change i: commit the changes
		// before it in a new one.
		txn.Discard()
		n, cerr := tryBatch(ctx, db, s, cs[:i], check)
		if cerr != nil || n < i || errors.Is(err, badger.ErrTxnTooBig) {
			return n, cerr
		}
		return n, err
	}
	if staged == 0 {
		return len(cs), nil
	}
	if err := writeSeq(txn, cs[len(cs)-1].Seq); err != nil {
		if errors.Is(err, badger.ErrTxnTooBig) && len(cs) > 1 {
			txn.Discard()
			return tryBatch(ctx, db, s, cs[:len(cs)-1], check)
		}
		return 0, err
	}
	if err := txn.Commit(); err != nil {
		return 0, err
	}
	return len(cs), nil
}

// checkChange refuses a change that lacks what its kind needs.
func checkChange(c sdk.Change) error {
	switch {
	case strings.HasPrefix(string(c.Kind), "user."):
		if c.User == nil || c.User.ID == "" {
			return sdk.Invalid("change %d (%s) carries no user id", c.Seq, c.Kind)
		}
		if strings.ContainsRune(c.User.ID, 0) {
			return sdk.Invalid("change %d (%s): user id %q contains a NUL character", c.Seq, c.Kind, c.User.ID)
		}
	case strings.HasPrefix(string(c.Kind), "group."):
		if c.Group == nil || c.Group.ID == "" {
			return sdk.Invalid("change %d (%s) carries no group id", c.Seq, c.Kind)
		}
		if strings.ContainsRune(c.Group.ID, 0) {
			return sdk.Invalid("change %d (%s): group id %q contains a NUL character", c.Seq, c.Kind, c.Group.ID)
		}
	}
	return nil
}

// tx is one read-write transaction on the product store under a tenant's
// settings.
type tx struct {
	txn *badger.Txn
	s   settings
}

// userEmail picks the address that keys a user's target user: the primary
// email, else the work one, else the first.
func userEmail(u *sdk.User) string {
	if e := strings.TrimSpace(u.Email); e != "" {
		return e
	}
	for _, e := range u.Emails {
		if v := strings.TrimSpace(e.Value); v != "" {
			return v
		}
	}
	return ""
}

// describeUser names a user in an error message.
func describeUser(u *sdk.User) string {
	if u.UserName != "" {
		return fmt.Sprintf("%q (id %s)", u.UserName, u.ID)
	}
	return "id " + u.ID
}

// loadUser returns the target user of a SCIM user, or nil when it has
// none.
func (t *tx) loadUser(uid string) (*targetUser, error) {
	ek, found, err := getString(t.txn, scimUserKey(uid))
	if err != nil || !found {
		return nil, err
	}
	var u targetUser
	found, err = getJSON(t.txn, userKey(ek), &u)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("SCIM user %s maps to target user %q, which is missing", uid, ek)
	}
	return &u, nil
}

func (t *tx) saveUser(u *targetUser) error {
	if err := setJSON(t.txn, userKey(u.key()), u); err != nil {
		return err
	}
	return set(t.txn, scimUserKey(u.SCIMID), []byte(u.key()))
}

// upsertUser creates or updates the target user of a SCIM user: re-keyed
// when its email changed, fields and custom fields refreshed, moved to the
// placement group its group-by value names.
func (t *tx) upsertUser(su *sdk.User, active bool) error {
	email := userEmail(su)
	if email == "" {
		return sdk.Invalid("user %s has no email address; keepnet target users are keyed by email", describeUser(su))
	}
	if strings.ContainsRune(email, 0) {
		return sdk.Invalid("user %s: email %q contains a NUL character", describeUser(su), email)
	}
	u, err := t.loadUser(su.ID)
	if err != nil {
		return fmt.Errorf("loading user %s: %w", su.ID, err)
	}
	isNew := u == nil
	if isNew {
		u = &targetUser{SCIMID: su.ID, Email: email}
	}
	newKey := emailKey(email)
	if isNew || newKey != u.key() {
		var other targetUser
		found, err := getJSON(t.txn, userKey(newKey), &other)
		if err != nil {
			return fmt.Errorf("looking up target user %q: %w", newKey, err)
		}
		if found && other.SCIMID != su.ID {
			return sdk.Invalid("user %s: email %q already belongs to the target user of SCIM user %s",
				describeUser(su), email, other.SCIMID)
		}
	}
	if !isNew && newKey != u.key() {
		if err := t.rekey(u, newKey); err != nil {
			return fmt.Errorf("changing the email of user %s: %w", su.ID, err)
		}
	}
	u.Email = email
	u.UserName = su.UserName
	u.FirstName = su.GivenName
	u.LastName = su.FamilyName
	u.Department = su.Department
	u.Phone = su.Phone
	u.Active = active
	u.Attributes = su.Attributes
	u.Custom = t.s.customFields(su)
	if err := t.place(u); err != nil {
		return fmt.Errorf("placing user %s: %w", su.ID, err)
	}
	if isNew && t.s.mirrorGroups {
		if err := t.joinSCIMGroups(u); err != nil {
			return fmt.Errorf("adding user %s to mirrored groups: %w", su.ID, err)
		}
	}
	return t.saveUser(u)
}

// rekey moves a target user and its memberships to a new email key.
func (t *tx) rekey(u *targetUser, newKey string) error {
	old := u.key()
	if err := del(t.txn, userKey(old)); err != nil {
		return err
	}
	for _, g := range u.Groups {
		if err := del(t.txn, memberKey(g, old)); err != nil {
			return err
		}
		if err := set(t.txn, memberKey(g, newKey), nil); err != nil {
			return err
		}
	}
	return nil
}

// customFields computes every mapped custom field from a user's
// attributes; a path the user lacks leaves its field empty.
func (s settings) customFields(su *sdk.User) map[string]string {
	if len(s.fieldMap) == 0 {
		return nil
	}
	out := make(map[string]string, len(s.fieldMap))
	for _, m := range s.fieldMap {
		v, _ := su.Attr(m.path)
		out[m.field] = v
	}
	return out
}

// placement returns the group a user belongs in: the one its group-by
// value names, or the default target group.
func (s settings) placement(u *targetUser) string {
	var v string
	switch f, byField := s.groupByField(); {
	case s.groupBy == groupByDepartment:
		v = u.Department
	case byField:
		v = u.Custom[f]
	}
	if v = strings.TrimSpace(v); v == "" {
		return s.targetGroup
	}
	return v
}

// place moves a user into its placement group, leaving the previous one.
func (t *tx) place(u *targetUser) error {
	name := t.s.placement(u)
	if strings.ContainsRune(name, 0) {
		return sdk.Invalid("user %s: group-by value %q contains a NUL character", u.SCIMID, name)
	}
	gkey := placementKey(name)
	if u.Placement == gkey {
		return nil
	}
	if u.Placement != "" {
		if err := t.leave(u, u.Placement); err != nil {
			return err
		}
	}
	u.Placement = gkey
	return t.join(u, gkey, name)
}

// join makes a user a member of a target group, creating the group under
// name when it does not exist yet.
func (t *tx) join(u *targetUser, gkey, name string) error {
	found, err := exists(t.txn, groupKeyOf(gkey))
	if err != nil {
		return err
	}
	if !found {
		if err := setJSON(t.txn, groupKeyOf(gkey), targetGroup{Name: name}); err != nil {
			return err
		}
	}
	u.addGroup(gkey)
	return set(t.txn, memberKey(gkey, u.key()), nil)
}

// leave removes a user from a target group. A placement group left empty
// is removed, unless it is the default target group.
func (t *tx) leave(u *targetUser, gkey string) error {
	u.removeGroup(gkey)
	if err := del(t.txn, memberKey(gkey, u.key())); err != nil {
		return err
	}
	_, err := t.dropIfEmpty(gkey)
	return err
}

// dropIfEmpty removes a placement group without members, unless it is the
// default target group, and reports whether it did.
func (t *tx) dropIfEmpty(gkey string) (bool, error) {
	if !strings.HasPrefix(gkey, placementGroup) || gkey == placementKey(t.s.targetGroup) {
		return false, nil
	}
	if hasPrefix(t.txn, memberPrefix(gkey)) {
		return false, nil
	}
	return true, del(t.txn, groupKeyOf(gkey))
}

// ensureDefaultGroup creates the default target group if it is missing.
func (t *tx) ensureDefaultGroup() error {
	gkey := placementKey(t.s.targetGroup)
	found, err := exists(t.txn, groupKeyOf(gkey))
	if err != nil || found {
		return err
	}
	return setJSON(t.txn, groupKeyOf(gkey), targetGroup{Name: t.s.targetGroup})
}

// joinSCIMGroups adds a user to the mirrored target groups of every SCIM
// group it belongs to.
func (t *tx) joinSCIMGroups(u *targetUser) error {
	for _, k := range keysWithPrefix(t.txn, scimUserGroupPrefix(u.SCIMID), 0) {
		gid := secondOfPair(k)
		name, err := t.scimGroupName(gid)
		if err != nil {
			return err
		}
		if err := t.join(u, idpKey(gid), name); err != nil {
			return err
		}
	}
	return nil
}

// scimGroupName returns a SCIM group's displayName, or its id when the
// store has not seen the group.
func (t *tx) scimGroupName(gid string) (string, error) {
	var g scimGroup
	found, err := getJSON(t.txn, scimGroupKey(gid), &g)
	if err != nil {
		return "", err
	}
	if !found || g.DisplayName == "" {
		return gid, nil
	}
	return g.DisplayName, nil
}

// deleteUser removes a SCIM user's target user from every group and from
// the store, with its SCIM memberships.
func (t *tx) deleteUser(uid string) error {
	u, err := t.loadUser(uid)
	if err != nil {
		return fmt.Errorf("loading user %s: %w", uid, err)
	}
	if u != nil {
		for _, g := range append([]string(nil), u.Groups...) {
			if err := t.leave(u, g); err != nil {
				return fmt.Errorf("removing user %s from its groups: %w", uid, err)
			}
		}
		if err := del(t.txn, userKey(u.key())); err != nil {
			return err
		}
		if err := del(t.txn, scimUserKey(uid)); err != nil {
			return err
		}
	}
	for _, k := range keysWithPrefix(t.txn, scimUserGroupPrefix(uid), 0) {
		if err := del(t.txn, scimGroupMemberKey(secondOfPair(k), uid)); err != nil {
			return err
		}
		if err := del(t.txn, k); err != nil {
			return err
		}
	}
	return nil
}

// upsertSCIMGroup records a SCIM group's name and renames its mirrored
// target group; with mirroring on, the target group is created if
// missing.
func (t *tx) upsertSCIMGroup(g *sdk.Group) error {
	name := strings.TrimSpace(g.DisplayName)
	var prev scimGroup
	found, err := getJSON(t.txn, scimGroupKey(g.ID), &prev)
	if err != nil {
		return err
	}
	if name == "" {
		name = prev.DisplayName
	}
	if !found || prev.DisplayName != name {
		if err := setJSON(t.txn, scimGroupKey(g.ID), scimGroup{DisplayName: name}); err != nil {
			return err
		}
	}
	if name == "" {
		name = g.ID
	}
	gk := groupKeyOf(idpKey(g.ID))
	var tg targetGroup
	mirrored, err := getJSON(t.txn, gk, &tg)
	if err != nil {
		return err
	}
	if (mirrored && tg.Name != name) || (!mirrored && t.s.mirrorGroups) {
		return setJSON(t.txn, gk, targetGroup{Name: name})
	}
	return nil
}

// changeMembers records SCIM members added to or removed from a group and,
// for mirrored groups, follows with the target group. Members that are
// groups are ignored: target groups do not nest.
func (t *tx) changeMembers(g *sdk.Group, members []sdk.Member, add bool) error {
	if err := t.upsertSCIMGroup(g); err != nil {
		return fmt.Errorf("recording group %s: %w", g.ID, err)
	}
	gkey := idpKey(g.ID)
	for _, m := range members {
		if m.ID == "" || (m.Type != "" && !strings.EqualFold(m.Type, "User")) {
			continue
		}
		if strings.ContainsRune(m.ID, 0) {
			return sdk.Invalid("group %s: member id %q contains a NUL character", g.ID, m.ID)
		}
		u, err := t.loadUser(m.ID)
		if err != nil {
			return fmt.Errorf("loading member %s of group %s: %w", m.ID, g.ID, err)
		}
		if add {
			if err := t.addSCIMMember(g.ID, m.ID); err != nil {
				return err
			}
			if u == nil || !t.s.mirrorGroups || u.inGroup(gkey) {
				continue
			}
			name, err := t.scimGroupName(g.ID)
			if err != nil {
				return err
			}
			if err := t.join(u, gkey, name); err != nil {
				return err
			}
		} else {
			if err := t.removeSCIMMember(g.ID, m.ID); err != nil {
				return err
			}
			if u == nil || !u.inGroup(gkey) {
				continue
			}
			if err := t.leave(u, gkey); err != nil {
				return err
			}
		}
		if err := t.saveUser(u); err != nil {
			return err
		}
	}
	return nil
}

func (t *tx) addSCIMMember(gid, uid string) error {
	if err := set(t.txn, scimGroupMemberKey(gid, uid), nil); err != nil {
		return err
	}
	return set(t.txn, scimUserGroupKey(uid, gid), nil)
}

func (t *tx) removeSCIMMember(gid, uid string) error {
	if err := del(t.txn, scimGroupMemberKey(gid, uid)); err != nil {
		return err
	}
	return del(t.txn, scimUserGroupKey(uid, gid))
}

// dropMembers removes up to limit members from a SCIM group that is being
// deleted, and from its mirrored target group; it returns how many it
// removed.
func (t *tx) dropMembers(gid string, limit int) (int, error) {
	keys := keysWithPrefix(t.txn, scimGroupMemberPrefix(gid), limit)
	gkey := idpKey(gid)
	for _, k := range keys {
		uid := secondOfPair(k)
		if err := t.removeSCIMMember(gid, uid); err != nil {
			return 0, err
		}
		u, err := t.loadUser(uid)
		if err != nil {
			return 0, fmt.Errorf("loading member %s of group %s: %w", uid, gid, err)
		}
		if u == nil || !u.inGroup(gkey) {
			continue
		}
		if err := t.leave(u, gkey); err != nil {
			return 0, err
		}
		if err := t.saveUser(u); err != nil {
			return 0, err
		}
	}
	return len(keys), nil
}

// deleteGroup removes a SCIM group whose members are gone, and its
// mirrored target group.
func (t *tx) deleteGroup(gid string) error {
	if _, err := t.dropMembers(gid, 0); err != nil {
		return fmt.Errorf("removing the members of group %s: %w", gid, err)
	}
	if err := t.dropTargetMembers(idpKey(gid), 0); err != nil {
		return fmt.Errorf("removing the members of group %s: %w", gid, err)
	}
	if err := del(t.txn, groupKeyOf(idpKey(gid))); err != nil {
		return err
	}
	return del(t.txn, scimGroupKey(gid))
}

// dropTargetMembers removes up to limit (0: all) members from a target
// group, by its membership edges rather than by SCIM memberships.
func (t *tx) dropTargetMembers(gkey string, limit int) error {
	for _, k := range keysWithPrefix(t.txn, memberPrefix(gkey), limit) {
		var u targetUser
		found, err := getJSON(t.txn, userKey(emailOfMemberKey(k)), &u)
		if err != nil {
			return err
		}
		if err := del(t.txn, k); err != nil {
			return err
		}
		if found {
			u.removeGroup(gkey)
			if err := t.saveUser(&u); err != nil {
				return err
			}
		}
	}
	return nil
}
