package printstore

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/dgraph-io/badger/v4"

	"github.com/caddy-scim/caddy-scim/plugins/sdk"
)

// userRecord is a product user as stored under prefixUser.
type userRecord[P any] struct {
	Key     string   `json:"key"`
	ScimID  string   `json:"scim_id"`
	Enabled bool     `json:"enabled"`
	Profile P        `json:"profile"`
	Cards   []string `json:"cards,omitempty"`
}

// groupRecord is a product group as stored under prefixGroup. Its members
// are the prefixMember edges of ScimID.
type groupRecord struct {
	Name   string `json:"name"`
	ScimID string `json:"scim_id"`
}

// retainedRecord is a card kept from a deleted user.
type retainedRecord struct {
	Card      string `json:"card"`
	FormerKey string `json:"former_key"`
}

// op is one idempotent write: a set, or a delete when del is true.
type op struct {
	key, value []byte
	del        bool
}

// plan is what one change writes: idempotent bulk writes, which may be
// split over several transactions, and a final step that checks and
// writes the rest in one.
type plan struct {
	bulk  []op
	final func(txn *badger.Txn) error
}

// stage writes change c into txn, which earlier changes of the batch may
// have written to already.
func (b *Backend[P]) stage(txn *badger.Txn, c sdk.Change) error {
	p, err := b.plan(txn, c)
	if err != nil {
		return err
	}
	if err := writeOps(txn, p.bulk); err != nil {
		return err
	}
	if p.final == nil {
		return nil
	}
	return p.final(txn)
}

// applyAlone applies one change whose Seq is above the last applied, on
// its own: its bulk writes in transactions of at most b.chunk operations,
// then its final step with its Seq. It is for a change too large for one
// transaction.
func (b *Backend[P]) applyAlone(c sdk.Change) error {
	var p plan
	if err := b.db.View(func(txn *badger.Txn) error {
		var err error
		p, err = b.plan(txn, c)
		return err
	}); err != nil {
		return err
	}
	return b.commit(c.Seq, p.bulk, p.final)
}

// plan works out what change c writes, reading the store through txn.
func (b *Backend[P]) plan(txn *badger.Txn, c sdk.Change) (plan, error) {
	switch c.Kind {
	case sdk.UserCreated, sdk.UserUpdated, sdk.UserDeactivated, sdk.UserReactivated, sdk.UserDeleted:
		if c.User == nil {
			return plan{}, sdk.Invalid("the change carries no user")
		}
		if c.Kind == sdk.UserDeleted {
			return b.deleteUser(txn, c)
		}
		return b.upsertUser(c)
	case sdk.GroupCreated, sdk.GroupUpdated, sdk.GroupDeleted, sdk.MembersAdded, sdk.MembersRemoved:
		if c.Group == nil {
			return plan{}, sdk.Invalid("the change carries no group")
		}
		switch c.Kind {
		case sdk.GroupDeleted:
			return deleteGroup(txn, c)
		case sdk.MembersAdded:
			return addMembers(txn, c)
		case sdk.MembersRemoved:
			return removeMembers(c), nil
		}
		return upsertGroup(c)
	}
	return plan{}, sdk.Invalid("unknown change kind %q", c.Kind)
}

// commit writes bulk, which must be safe to write again and to leave half
// written, in transactions of at most b.chunk operations; then it runs
// final and records seq, both in one transaction.
func (b *Backend[P]) commit(seq uint64, bulk []op, final func(txn *badger.Txn) error) error {
	for len(bulk) > 0 {
		n := min(len(bulk), b.chunk)
		if err := b.db.Update(func(txn *badger.Txn) error { return writeOps(txn, bulk[:n]) }); err != nil {
			return fmt.Errorf("writing %d edges: %w", n, err)
		}
		bulk = bulk[n:]
	}
	return b.db.Update(func(txn *badger.Txn) error {
		if final != nil {
			if err := final(txn); err != nil {
				return err
			}
		}
		return txn.Set(metaSeqKey, u64(seq))
	})
}

func writeOps(txn *badger.Txn, ops []op) error {
	for _, o := range ops {
		var err error
		if o.del {
			err = txn.Delete(o.key)
		} else {
			err = txn.Set(o.key, o.value)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// upsertUser creates or updates a user: a new key moves the record and
// keeps its cards; a transition to disabled applies CardsOnDeactivate.
func (b *Backend[P]) upsertUser(c sdk.Change) (plan, error) {
	key, profile, err := b.product.MapUser(c.User)
	if err != nil {
		return plan{}, err
	}
	id := c.User.ID
	enabled := c.User.Active
	switch c.Kind {
	case sdk.UserDeactivated:
		enabled = false
	case sdk.UserReactivated:
		enabled = true
	}
	return plan{final: func(txn *badger.Txn) error {
		old, found, err := userByID[P](txn, id)
		if err != nil {
			return err
		}
		holder, taken, err := userByKey[P](txn, key)
		if err != nil {
			return err
		}
		if taken && holder.ScimID != id {
			return sdk.Invalid("%s %q of SCIM user %s is already the %s of SCIM user %s",
				b.product.KeyName, key, id, b.product.KeyName, holder.ScimID)
		}
		rec := userRecord[P]{Key: key, ScimID: id, Enabled: enabled, Profile: profile}
		if found {
			rec.Cards = old.Cards
			if fold(old.Key) != fold(key) {
				if err := txn.Delete(simpleKey(prefixUser, fold(old.Key))); err != nil {
					return err
				}
			}
			if old.Enabled && !enabled && b.settings.CardsOnDeactivate == Remove {
				if err := deleteCards(txn, rec.Cards); err != nil {
					return err
				}
				rec.Cards = nil
			}
		}
		if err := putJSON(txn, simpleKey(prefixUser, fold(key)), rec); err != nil {
			return err
		}
		return txn.Set(simpleKey(prefixUserID, id), []byte(fold(key)))
	}}, nil
}

// deleteUser removes a user from every group and from the store, and
// frees or retains its cards as CardsOnDelete says.
func (b *Backend[P]) deleteUser(txn *badger.Txn, c sdk.Change) (plan, error) {
	id := c.User.ID
	var bulk []op
	err := scanEdges(txn, prefixMemberOf, id, func(gid string) {
		bulk = append(bulk, op{key: edgeKey(prefixMember, gid, id), del: true}, op{key: edgeKey(prefixMemberOf, id, gid), del: true})
	})
	if err != nil {
		return plan{}, fmt.Errorf("reading groups of user %s: %w", id, err)
	}
	return plan{bulk: bulk, final: func(txn *badger.Txn) error {
		rec, found, err := userByID[P](txn, id)
		if err != nil || !found {
			return err
		}
		for _, card := range rec.Cards {
			if err := txn.Delete(simpleKey(prefixCard, fold(card))); err != nil {
				return err
			}
			if b.settings.CardsOnDelete == Keep {
				if err := putJSON(txn, simpleKey(prefixRetained, fold(card)), retainedRecord{Card: card, FormerKey: rec.Key}); err != nil {
					return err
				}
			}
		}
		if err := txn.Delete(simpleKey(prefixUser, fold(rec.Key))); err != nil {
			return err
		}
		return txn.Delete(simpleKey(prefixUserID, id))
	}}, nil
}

// groupName is the product name of a SCIM group: its displayName.
func groupName(g *sdk.Group) (string, error) {
	name := strings.TrimSpace(g.DisplayName)
	if name == "" {
		return "", sdk.Invalid("group %s has no displayName", g.ID)
	}
	return name, nil
}

// checkGroupName refuses name when another group already has it.
func checkGroupName(txn *badger.Txn, id, name string) error {
	var holder groupRecord
	found, err := getJSON(txn, simpleKey(prefixGroup, fold(name)), &holder)
	if err != nil {
		return err
	}
	if found && holder.ScimID != id {
		return sdk.Invalid("group name %q of SCIM group %s is already the name of SCIM group %s", name, id, holder.ScimID)
	}
	return nil
}

// putGroup writes a group under name, moving it from its old name.
func putGroup(txn *badger.Txn, id, name string) error {
	if err := checkGroupName(txn, id, name); err != nil {
		return err
	}
	oldName, found, err := getString(txn, simpleKey(prefixGroupID, id))
	if err != nil {
		return err
	}
	if found && oldName != fold(name) {
		if err := txn.Delete(simpleKey(prefixGroup, oldName)); err != nil {
			return err
		}
	}
	if err := putJSON(txn, simpleKey(prefixGroup, fold(name)), groupRecord{Name: name, ScimID: id}); err != nil {
		return err
	}
	return txn.Set(simpleKey(prefixGroupID, id), []byte(fold(name)))
}

// upsertGroup creates a group or renames it; its members stay.
func upsertGroup(c sdk.Change) (plan, error) {
	name, err := groupName(c.Group)
	if err != nil {
		return plan{}, err
	}
	return plan{final: func(txn *badger.Txn) error { return putGroup(txn, c.Group.ID, name) }}, nil
}

// deleteGroup removes a group and all its membership edges.
func deleteGroup(txn *badger.Txn, c sdk.Change) (plan, error) {
	id := c.Group.ID
	var bulk []op
	err := scanEdges(txn, prefixMember, id, func(uid string) {
		bulk = append(bulk, op{key: edgeKey(prefixMemberOf, uid, id), del: true}, op{key: edgeKey(prefixMember, id, uid), del: true})
	})
	if err != nil {
		return plan{}, fmt.Errorf("reading members of group %s: %w", id, err)
	}
	return plan{bulk: bulk, final: func(txn *badger.Txn) error {
		name, found, err := getString(txn, simpleKey(prefixGroupID, id))
		if err != nil || !found {
			return err
		}
		if err := txn.Delete(simpleKey(prefixGroup, name)); err != nil {
			return err
		}
		return txn.Delete(simpleKey(prefixGroupID, id))
	}}, nil
}

// addMembers adds users to a group, creating the group from the change if
// it is not known yet. Every member must be a provisioned user; members
// that are groups are skipped, as the products' groups are flat.
func addMembers(txn *badger.Txn, c sdk.Change) (plan, error) {
	gid := c.Group.ID
	var bulk []op
	var create string
	_, known, err := getString(txn, simpleKey(prefixGroupID, gid))
	if err != nil {
		return plan{}, err
	}
	if !known {
		if create, err = groupName(c.Group); err != nil {
			return plan{}, sdk.Invalid("group %s is not provisioned and the change does not name it", gid)
		}
		if err := checkGroupName(txn, gid, create); err != nil {
			return plan{}, err
		}
	}
	for _, m := range c.Members {
		if isGroupMember(m) {
			continue
		}
		_, ok, err := getString(txn, simpleKey(prefixUserID, m.ID))
		if err != nil {
			return plan{}, err
		}
		if !ok {
			return plan{}, sdk.Invalid("member %s of group %s is not a provisioned user", m.ID, gid)
		}
		bulk = append(bulk, op{key: edgeKey(prefixMember, gid, m.ID)}, op{key: edgeKey(prefixMemberOf, m.ID, gid)})
	}
	if create == "" {
		return plan{bulk: bulk}, nil
	}
	return plan{bulk: bulk, final: func(txn *badger.Txn) error { return putGroup(txn, gid, create) }}, nil
}

// removeMembers removes users from a group; members it does not have are
// ignored.
func removeMembers(c sdk.Change) plan {
	gid := c.Group.ID
	var bulk []op
	for _, m := range c.Members {
		if isGroupMember(m) {
			continue
		}
		bulk = append(bulk, op{key: edgeKey(prefixMember, gid, m.ID), del: true}, op{key: edgeKey(prefixMemberOf, m.ID, gid), del: true})
	}
	return plan{bulk: bulk}
}

func isGroupMember(m sdk.Member) bool { return strings.EqualFold(m.Type, "Group") }

// deleteCards frees cards from the card index.
func deleteCards(txn *badger.Txn, cards []string) error {
	for _, card := range cards {
		if err := txn.Delete(simpleKey(prefixCard, fold(card))); err != nil {
			return err
		}
	}
	return nil
}

// userByID reads the user with a SCIM id.
func userByID[P any](txn *badger.Txn, id string) (userRecord[P], bool, error) {
	k, found, err := getString(txn, simpleKey(prefixUserID, id))
	if err != nil || !found {
		return userRecord[P]{}, false, err
	}
	var rec userRecord[P]
	found, err = getJSON(txn, simpleKey(prefixUser, k), &rec)
	return rec, found, err
}

// userByKey reads the user with a product key, matched case-insensitively.
func userByKey[P any](txn *badger.Txn, key string) (userRecord[P], bool, error) {
	var rec userRecord[P]
	found, err := getJSON(txn, simpleKey(prefixUser, fold(key)), &rec)
	return rec, found, err
}

// scanEdges calls fn with the other end of every edge of a under prefix.
func scanEdges(txn *badger.Txn, prefix byte, a string, fn func(b string)) error {
	p := edgePrefix(prefix, a)
	opts := badger.DefaultIteratorOptions
	opts.PrefetchValues = false
	opts.Prefix = p
	it := txn.NewIterator(opts)
	defer it.Close()
	for it.Seek(p); it.ValidForPrefix(p); it.Next() {
		_, _, other, err := splitEdgeKey(it.Item().Key())
		if err != nil {
			return err
		}
		fn(other)
	}
	return nil
}

func getString(txn *badger.Txn, key []byte) (string, bool, error) {
	item, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	v, err := item.ValueCopy(nil)
	return string(v), err == nil, err
}

func getJSON(txn *badger.Txn, key []byte, v any) (bool, error) {
	item, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	err = item.Value(func(val []byte) error { return json.Unmarshal(val, v) })
	if err != nil {
		return false, fmt.Errorf("decoding %q: %w", key, err)
	}
	return true, nil
}

func putJSON(txn *badger.Txn, key []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return txn.Set(key, data)
}

// lastSeq reads the last applied sequence number; 0 when none is.
func lastSeq(txn *badger.Txn) (uint64, error) {
	item, err := txn.Get(metaSeqKey)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var seq uint64
	err = item.Value(func(v []byte) error {
		if len(v) != 8 {
			return fmt.Errorf("sequence value has %d bytes", len(v))
		}
		seq = binary.BigEndian.Uint64(v)
		return nil
	})
	return seq, err
}
