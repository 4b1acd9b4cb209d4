package keepnet

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/dgraph-io/badger/v4"
)

// Key prefixes of the product store. Each names one kind of record; a
// retired prefix stays reserved here so it is never reused.
const (
	// keyLayout → the layout version, one byte.
	keyLayout = "layout"
	// keySeq → the Seq of the last applied change, 8 bytes big-endian.
	keySeq = "seq"
	// prefixUser + <email key> → targetUser JSON.
	prefixUser = "tu/"
	// prefixSCIMUser + <SCIM user id> → the email key of its target user.
	prefixSCIMUser = "su/"
	// prefixGroup + <group key> → targetGroup JSON.
	prefixGroup = "tg/"
	// prefixMember + <group key> 0x00 <email key> → empty: a target user's
	// membership of a target group.
	prefixMember = "tm/"
	// prefixSCIMGroup + <SCIM group id> → scimGroup JSON.
	prefixSCIMGroup = "sg/"
	// prefixSCIMGroupMember + <SCIM group id> 0x00 <SCIM user id> → empty:
	// a SCIM membership, kept whether or not groups are mirrored.
	prefixSCIMGroupMember = "sgm/"
	// prefixSCIMUserGroup + <SCIM user id> 0x00 <SCIM group id> → empty:
	// the same membership indexed by user.
	prefixSCIMUserGroup = "sug/"
)

// layoutVersion is the key layout this package writes.
const layoutVersion = 1

// Group keys: a placement group (the default target group or a group-by
// group) is keyed by its name case-insensitively, a mirrored SCIM group by
// its SCIM id.
const (
	placementGroup = "p/"
	idpGroup       = "i/"
)

func seqKey() []byte { return []byte(keySeq) }

// userKey is prefixUser + emailKey; emailOfUserKey is its inverse.
func userKey(emailKey string) []byte { return []byte(prefixUser + emailKey) }

func emailOfUserKey(k []byte) string { return strings.TrimPrefix(string(k), prefixUser) }

// scimUserKey is prefixSCIMUser + the SCIM user id.
func scimUserKey(id string) []byte { return []byte(prefixSCIMUser + id) }

// groupKeyOf is prefixGroup + the group key; groupOfGroupKey is its
// inverse.
func groupKeyOf(gkey string) []byte { return []byte(prefixGroup + gkey) }

func groupOfGroupKey(k []byte) string { return strings.TrimPrefix(string(k), prefixGroup) }

// memberKey is prefixMember + gkey + 0x00 + emailKey; memberPrefix is the
// part before emailKey, and emailOfMemberKey the inverse for emailKey.
func memberKey(gkey, emailKey string) []byte {
	return []byte(prefixMember + gkey + "\x00" + emailKey)
}

func memberPrefix(gkey string) []byte { return []byte(prefixMember + gkey + "\x00") }

func emailOfMemberKey(k []byte) string {
	_, e, _ := strings.Cut(string(k), "\x00")
	return e
}

// scimGroupKey is prefixSCIMGroup + the SCIM group id.
func scimGroupKey(id string) []byte { return []byte(prefixSCIMGroup + id) }

// scimGroupMemberKey is prefixSCIMGroupMember + gid + 0x00 + uid;
// scimGroupMemberPrefix is the part before uid, and secondOfPair recovers
// uid.
func scimGroupMemberKey(gid, uid string) []byte {
	return []byte(prefixSCIMGroupMember + gid + "\x00" + uid)
}

func scimGroupMemberPrefix(gid string) []byte { return []byte(prefixSCIMGroupMember + gid + "\x00") }

// scimUserGroupKey is prefixSCIMUserGroup + uid + 0x00 + gid;
// scimUserGroupPrefix is the part before gid, and secondOfPair recovers
// gid.
func scimUserGroupKey(uid, gid string) []byte {
	return []byte(prefixSCIMUserGroup + uid + "\x00" + gid)
}

func scimUserGroupPrefix(uid string) []byte { return []byte(prefixSCIMUserGroup + uid + "\x00") }

// secondOfPair returns what follows the 0x00 of a two-part key.
func secondOfPair(k []byte) string {
	_, s, _ := strings.Cut(string(k), "\x00")
	return s
}

// emailKey is how an email address keys a target user: addresses are
// compared case-insensitively.
func emailKey(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// placementKey keys a placement group by its name.
func placementKey(name string) string { return placementGroup + strings.ToLower(name) }

// idpKey keys a mirrored SCIM group by its SCIM id.
func idpKey(gid string) string { return idpGroup + gid }

// targetUser is a target user as the product stores it.
type targetUser struct {
	Email      string `json:"email"`
	SCIMID     string `json:"scim_id"`
	UserName   string `json:"user_name,omitempty"`
	FirstName  string `json:"first_name,omitempty"`
	LastName   string `json:"last_name,omitempty"`
	Department string `json:"department,omitempty"`
	Phone      string `json:"phone,omitempty"`
	Active     bool   `json:"active"`
	// Custom holds one value per mapped custom field.
	Custom map[string]string `json:"custom,omitempty"`
	// Attributes are the SCIM attributes last received, so that a
	// settings change can be re-applied without the IdP.
	Attributes map[string]string `json:"attributes,omitempty"`
	// Placement is the key of the default or group-by group the user was
	// placed in.
	Placement string `json:"placement,omitempty"`
	// Groups are the keys of every target group the user is a member of,
	// sorted.
	Groups []string `json:"groups,omitempty"`
}

func (u *targetUser) key() string { return emailKey(u.Email) }

func (u *targetUser) addGroup(gkey string) {
	if i, found := slices.BinarySearch(u.Groups, gkey); !found {
		u.Groups = slices.Insert(u.Groups, i, gkey)
	}
}

func (u *targetUser) removeGroup(gkey string) {
	if i, found := slices.BinarySearch(u.Groups, gkey); found {
		u.Groups = slices.Delete(u.Groups, i, i+1)
	}
}

func (u *targetUser) inGroup(gkey string) bool {
	_, found := slices.BinarySearch(u.Groups, gkey)
	return found
}

// targetGroup is a target group as the product stores it.
type targetGroup struct {
	Name string `json:"name"`
}

// scimGroup is what the store keeps of a SCIM group.
type scimGroup struct {
	DisplayName string `json:"display_name"`
}

// getJSON reads the record at key into v; found is false when there is
// none.
func getJSON(txn *badger.Txn, key []byte, v any) (found bool, err error) {
	item, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading %q: %w", key, err)
	}
	if err := item.Value(func(b []byte) error { return json.Unmarshal(b, v) }); err != nil {
		return false, fmt.Errorf("decoding %q: %w", key, err)
	}
	return true, nil
}

func setJSON(txn *badger.Txn, key []byte, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding %q: %w", key, err)
	}
	if err := txn.Set(key, b); err != nil {
		return fmt.Errorf("writing %q: %w", key, err)
	}
	return nil
}

func getString(txn *badger.Txn, key []byte) (string, bool, error) {
	item, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("reading %q: %w", key, err)
	}
	b, err := item.ValueCopy(nil)
	if err != nil {
		return "", false, fmt.Errorf("reading %q: %w", key, err)
	}
	return string(b), true, nil
}

func exists(txn *badger.Txn, key []byte) (bool, error) {
	_, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading %q: %w", key, err)
	}
	return true, nil
}

func set(txn *badger.Txn, key, value []byte) error {
	if err := txn.Set(key, value); err != nil {
		return fmt.Errorf("writing %q: %w", key, err)
	}
	return nil
}

func del(txn *badger.Txn, key []byte) error {
	if err := txn.Delete(key); err != nil {
		return fmt.Errorf("deleting %q: %w", key, err)
	}
	return nil
}

// readSeq returns the Seq of the last applied change, 0 before the first.
func readSeq(txn *badger.Txn) (uint64, error) {
	item, err := txn.Get(seqKey())
	if errors.Is(err, badger.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("reading the applied seq: %w", err)
	}
	b, err := item.ValueCopy(nil)
	if err != nil {
		return 0, fmt.Errorf("reading the applied seq: %w", err)
	}
	if len(b) != 8 {
		return 0, fmt.Errorf("reading the applied seq: %d bytes, want 8", len(b))
	}
	return binary.BigEndian.Uint64(b), nil
}

func writeSeq(txn *badger.Txn, seq uint64) error {
	if err := txn.Set(seqKey(), binary.BigEndian.AppendUint64(nil, seq)); err != nil {
		return fmt.Errorf("recording applied seq %d: %w", seq, err)
	}
	return nil
}

// keysWithPrefix returns up to limit keys (all when limit is 0) under
// prefix, in order. The iterator is closed before it returns, so a
// read-write transaction may open the next one.
func keysWithPrefix(txn *badger.Txn, prefix []byte, limit int) [][]byte {
	opts := badger.DefaultIteratorOptions
	opts.PrefetchValues = false
	opts.Prefix = prefix
	it := txn.NewIterator(opts)
	defer it.Close()
	var out [][]byte
	for it.Rewind(); it.Valid(); it.Next() {
		out = append(out, it.Item().KeyCopy(nil))
		if limit > 0 && len(out) == limit {
			break
		}
	}
	return out
}

// hasPrefix reports whether any key starts with prefix.
func hasPrefix(txn *badger.Txn, prefix []byte) bool {
	return len(keysWithPrefix(txn, prefix, 1)) > 0
}

// checkLayout records the layout version in a new store and refuses a
// store written with another one.
func checkLayout(db *badger.DB) error {
	return db.Update(func(txn *badger.Txn) error {
		v, found, err := getString(txn, []byte(keyLayout))
		if err != nil {
			return err
		}
		if !found {
			return set(txn, []byte(keyLayout), []byte{layoutVersion})
		}
		if len(v) != 1 || v[0] != layoutVersion {
			return fmt.Errorf("store layout %v, this backend reads layout %d", []byte(v), layoutVersion)
		}
		return nil
	})
}
