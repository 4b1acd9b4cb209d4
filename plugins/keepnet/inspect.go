package keepnet

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/dgraph-io/badger/v4"
)

// Group sources, as Inspect shows them.
const (
	sourceDefault = "default"
	sourceGroupBy = "group_by"
	sourceIdP     = "idp"
)

// storeView is the product store as Inspect shows it.
type storeView struct {
	TargetUsers  []userView   `json:"target_users"`
	TargetGroups []groupView  `json:"target_groups"`
	Settings     settingsView `json:"settings"`
	LastSeq      uint64       `json:"last_seq"`
}

// userView is one target user.
type userView struct {
	Email        string            `json:"email"`
	FirstName    string            `json:"first_name"`
	LastName     string            `json:"last_name"`
	Department   string            `json:"department"`
	Phone        string            `json:"phone"`
	Active       bool              `json:"active"`
	CustomFields map[string]string `json:"custom_fields"`
	// Groups are the names of the user's target groups, sorted.
	Groups []string `json:"groups"`
	SCIMID string   `json:"scim_id"`
}

// groupView is one target group.
type groupView struct {
	Name   string `json:"name"`
	Source string `json:"source"`
	// Members are the members' emails, sorted.
	Members []string `json:"members"`
	key     string
}

// source says where a target group comes from under the current settings.
func (s settings) source(gkey string) string {
	switch {
	case strings.HasPrefix(gkey, idpGroup):
		return sourceIdP
	case gkey == placementKey(s.targetGroup):
		return sourceDefault
	}
	return sourceGroupBy
}

// inspect reads the whole product store in one read transaction.
func inspect(db *badger.DB, s settings) (json.RawMessage, error) {
	v := storeView{TargetUsers: []userView{}, TargetGroups: []groupView{}, Settings: s.view()}
	err := db.View(func(txn *badger.Txn) error {
		var err error
		if v.LastSeq, err = readSeq(txn); err != nil {
			return err
		}
		names := map[string]string{}
		if err := eachJSON(txn, []byte(prefixGroup), func(k []byte, g *targetGroup) error {
			gkey := groupOfGroupKey(k)
			names[gkey] = g.Name
			members := []string{}
			for _, mk := range keysWithPrefix(txn, memberPrefix(gkey), 0) {
				members = append(members, emailOfMemberKey(mk))
			}
			v.TargetGroups = append(v.TargetGroups, groupView{Name: g.Name, Source: s.source(gkey), Members: members, key: gkey})
			return nil
		}); err != nil {
			return err
		}
		byKey := map[string]string{}
		if err := eachJSON(txn, []byte(prefixUser), func(k []byte, u *targetUser) error {
			byKey[u.key()] = u.Email
			uv := userView{
				Email: u.Email, FirstName: u.FirstName, LastName: u.LastName, Department: u.Department,
				Phone: u.Phone, Active: u.Active, CustomFields: map[string]string{}, Groups: []string{}, SCIMID: u.SCIMID,
			}
			for f, val := range u.Custom {
				uv.CustomFields[f] = val
			}
			for _, g := range u.Groups {
				uv.Groups = append(uv.Groups, cmp.Or(names[g], g))
			}
			slices.Sort(uv.Groups)
			v.TargetUsers = append(v.TargetUsers, uv)
			return nil
		}); err != nil {
			return err
		}
		for i := range v.TargetGroups {
			for j, m := range v.TargetGroups[i].Members {
				v.TargetGroups[i].Members[j] = cmp.Or(byKey[m], m)
			}
			slices.Sort(v.TargetGroups[i].Members)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(v.TargetUsers, func(a, b userView) int {
		return cmp.Or(cmp.Compare(strings.ToLower(a.Email), strings.ToLower(b.Email)), cmp.Compare(a.SCIMID, b.SCIMID))
	})
	slices.SortFunc(v.TargetGroups, func(a, b groupView) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Source, b.Source), cmp.Compare(a.key, b.key))
	})
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encoding the product store: %w", err)
	}
	return raw, nil
}

// eachJSON decodes every record under prefix into a T and calls fn with
// its key.
func eachJSON[T any](txn *badger.Txn, prefix []byte, fn func(k []byte, v *T) error) error {
	opts := badger.DefaultIteratorOptions
	opts.Prefix = prefix
	it := txn.NewIterator(opts)
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		item := it.Item()
		var v T
		if err := item.Value(func(b []byte) error { return json.Unmarshal(b, &v) }); err != nil {
			return fmt.Errorf("decoding %q: %w", item.Key(), err)
		}
		if err := fn(item.KeyCopy(nil), &v); err != nil {
			return err
		}
	}
	return nil
}
