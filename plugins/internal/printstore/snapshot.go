package printstore

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/dgraph-io/badger/v4"
)

// Snapshot is the whole product store, sorted for stable output.
type Snapshot[P any] struct {
	// Users are sorted by key, case-insensitively.
	Users []User[P]
	// Groups are sorted by name, case-insensitively.
	Groups []Group
	// Retained are the cards kept from deleted users, sorted by card.
	Retained []RetainedCard
	// LastSeq is the last applied change's sequence number.
	LastSeq uint64
}

// User is a product user in a Snapshot.
type User[P any] struct {
	Key     string
	ScimID  string
	Enabled bool
	Profile P
	// Cards are sorted; never nil.
	Cards []string
	// Groups are the names of the user's groups, sorted; never nil.
	Groups []string
}

// Group is a product group in a Snapshot.
type Group struct {
	Name   string
	ScimID string
	// Members are the keys of the group's users, sorted; never nil.
	Members []string
}

// RetainedCard is a card kept from a deleted user.
type RetainedCard struct {
	Card      string
	FormerKey string
}

// Snapshot reads the whole store in one consistent view.
func (b *Backend[P]) Snapshot(ctx context.Context) (*Snapshot[P], error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.openLocked(); err != nil {
		return nil, err
	}
	var s Snapshot[P]
	err := b.db.View(func(txn *badger.Txn) error {
		var err error
		if s.LastSeq, err = lastSeq(txn); err != nil {
			return err
		}
		users := map[string]int{}
		err = scanJSON(txn, prefixUser, func(rec *userRecord[P]) {
			users[rec.ScimID] = len(s.Users)
			s.Users = append(s.Users, User[P]{Key: rec.Key, ScimID: rec.ScimID, Enabled: rec.Enabled, Profile: rec.Profile,
				Cards: sortedFold(rec.Cards), Groups: []string{}})
		})
		if err != nil {
			return err
		}
		groups := map[string]int{}
		err = scanJSON(txn, prefixGroup, func(rec *groupRecord) {
			groups[rec.ScimID] = len(s.Groups)
			s.Groups = append(s.Groups, Group{Name: rec.Name, ScimID: rec.ScimID, Members: []string{}})
		})
		if err != nil {
			return err
		}
		err = scanEdgeKeys(txn, prefixMember, func(gid, uid string) {
			g, gok := groups[gid]
			u, uok := users[uid]
			if gok && uok {
				s.Groups[g].Members = append(s.Groups[g].Members, s.Users[u].Key)
				s.Users[u].Groups = append(s.Users[u].Groups, s.Groups[g].Name)
			}
		})
		if err != nil {
			return err
		}
		return scanJSON(txn, prefixRetained, func(rec *retainedRecord) {
			s.Retained = append(s.Retained, RetainedCard{Card: rec.Card, FormerKey: rec.FormerKey})
		})
	})
	if err != nil {
		return nil, fmt.Errorf("reading %s store: %w", b.product.Name, err)
	}
	sort.Slice(s.Users, func(i, j int) bool { return lessFold(s.Users[i].Key, s.Users[j].Key) })
	sort.Slice(s.Groups, func(i, j int) bool { return lessFold(s.Groups[i].Name, s.Groups[j].Name) })
	sort.Slice(s.Retained, func(i, j int) bool { return lessFold(s.Retained[i].Card, s.Retained[j].Card) })
	for i := range s.Users {
		s.Users[i].Groups = sortedFold(s.Users[i].Groups)
	}
	for i := range s.Groups {
		s.Groups[i].Members = sortedFold(s.Groups[i].Members)
	}
	if s.Users == nil {
		s.Users = []User[P]{}
	}
	if s.Groups == nil {
		s.Groups = []Group{}
	}
	if s.Retained == nil {
		s.Retained = []RetainedCard{}
	}
	return &s, nil
}

// lessFold orders case-insensitively, then by bytes.
func lessFold(a, b string) bool {
	fa, fb := fold(a), fold(b)
	if fa != fb {
		return fa < fb
	}
	return a < b
}

// sortedFold returns a sorted copy of v, never nil.
func sortedFold(v []string) []string {
	out := append([]string{}, v...)
	sort.Slice(out, func(i, j int) bool { return lessFold(out[i], out[j]) })
	return out
}

// scanJSON decodes every value under prefix into a fresh T.
func scanJSON[T any](txn *badger.Txn, prefix byte, fn func(*T)) error {
	p := []byte{prefix}
	it := txn.NewIterator(badger.IteratorOptions{Prefix: p, PrefetchValues: true, PrefetchSize: 100})
	defer it.Close()
	for it.Seek(p); it.ValidForPrefix(p); it.Next() {
		var v T
		if err := it.Item().Value(func(val []byte) error { return json.Unmarshal(val, &v) }); err != nil {
			return fmt.Errorf("decoding %q: %w", it.Item().Key(), err)
		}
		fn(&v)
	}
	return nil
}

// scanEdgeKeys calls fn with both ends of every edge under prefix.
func scanEdgeKeys(txn *badger.Txn, prefix byte, fn func(a, b string)) error {
	p := []byte{prefix}
	it := txn.NewIterator(badger.IteratorOptions{Prefix: p})
	defer it.Close()
	for it.Seek(p); it.ValidForPrefix(p); it.Next() {
		_, a, b, err := splitEdgeKey(it.Item().Key())
		if err != nil {
			return err
		}
		fn(a, b)
	}
	return nil
}
