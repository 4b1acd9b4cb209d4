package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
	"go.uber.org/zap"
)

// identRule is the version of the identifier rule (package ident) that the
// case-insensitive index keys are built with. Version 1, never written,
// folded with strings.ToLower; version 2 is ident.Fold (width mapping,
// normalization, full case folding). A store whose indexes were built with
// an older rule has them rebuilt when it is opened.
const identRule = 2

// metaIdentRule names the pMeta entry holding identRule.
const metaIdentRule = "ident_rule"

// Collision is a resource that shares its unique name with another under
// the identifier rule: both were stored before the rule made them the same
// name, and both are kept. Only the holder answers to the name in the
// uniqueness index; filters find both.
type Collision struct {
	// Type is the resource type: "User" or "Group".
	Type string `json:"type"`
	// Attr is the unique attribute: "userName" or "displayName".
	Attr string `json:"attr"`
	// ID is the resource that collides.
	ID string `json:"id"`
	// HolderID is the resource that holds the name in the index.
	HolderID string `json:"holder_id"`
}

// CollisionReporter is implemented by stores that can list the resources
// whose unique names collide under the identifier rule.
type CollisionReporter interface {
	// Collisions returns up to limit collisions of a tenant and how many
	// there are in all.
	Collisions(ctx context.Context, tenant string, limit int) ([]Collision, int, error)
}

var _ CollisionReporter = (*Badger)(nil)

// migrateIndexes rebuilds every unique and equality index key, and the
// collision list, when the store's indexes were built with an older
// identifier rule (or the store predates the rule's version entry and
// holds resources). It runs in Open, before any request; a crash part way
// leaves the version entry unwritten, so the next Open starts over.
func (s *Badger) migrateIndexes() error {
	ver, err := s.metaUint(metaIdentRule)
	if err != nil {
		return err
	}
	if ver >= identRule {
		return s.loadCollisionFlag()
	}
	if ver == 0 {
		empty, err := s.prefixEmpty([]byte{keyVersion, pResource})
		if err != nil {
			return err
		}
		if empty {
			return s.setMetaUint(metaIdentRule, identRule)
		}
	}
	s.log.Info("rebuilding identifier indexes for a new comparison rule",
		zap.Uint64("from_rule", max(ver, 1)), zap.Uint64("to_rule", identRule))
	for _, p := range []byte{pUnique, pIndex, pCollision} {
		if err := s.dropPrefix([]byte{keyVersion, p}); err != nil {
			return fmt.Errorf("rebuilding indexes: %w", err)
		}
	}
	n, collisions, err := s.rebuildIndexes()
	if err != nil {
		return fmt.Errorf("rebuilding indexes: %w", err)
	}
	if err := s.setMetaUint(metaIdentRule, identRule); err != nil {
		return err
	}
	s.hasCollisions.Store(collisions > 0)
	s.log.Info("rebuilt identifier indexes", zap.Int("resources", n), zap.Int("collisions", collisions))
	return nil
}

// rebuildIndexes writes the index keys of every resource, in key order:
// tenant, type, id. Ids are time-ordered, so of two resources whose unique
// names now fold alike, the older keeps the name and the newer is listed
// as a collision.
func (s *Badger) rebuildIndexes() (resources, collisions int, err error) {
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	var (
		curTenant string
		curType   byte
		holders   map[string]string // attr + "\x00" + folded value → id
	)
	err = s.db.View(func(txn *badger.Txn) error {
		prefix := []byte{keyVersion, pResource}
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true, PrefetchSize: 100})
		defer it.Close()
		for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
			pk, err := parseKey(it.Item().KeyCopy(nil))
			if err != nil {
				return err
			}
			tenant, typ, id := pk.tenant, pk.typ, pk.parts[0]
			if holders == nil || tenant != curTenant || typ != curType {
				curTenant, curType, holders = tenant, typ, map[string]string{}
			}
			raw, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			res, err := decode(raw)
			if err != nil {
				return fmt.Errorf("resource %s/%s: %w", tenant, id, err)
			}
			resources++
			for _, ix := range indexesOf(typ) {
				done := map[string]bool{}
				for _, raw := range ix.values(res) {
					v := ix.keyValue(raw)
					if done[v] {
						continue
					}
					done[v] = true
					if !ix.unique {
						if err := wb.Set(indexKey(tenant, typ, ix.attr, v, id), nil); err != nil {
							return err
						}
						continue
					}
					slot := ix.attr + "\x00" + v
					if holder, taken := holders[slot]; taken {
						collisions++
						s.log.Warn("two resources now share one unique name; both are kept",
							zap.String("tenant", tenant), zap.String("type", typeName(typ)),
							zap.String("attr", ix.attr), zap.String("id", id), zap.String("holder_id", holder))
						if err := wb.Set(collisionKey(tenant, typ, ix.attr, v, id), nil); err != nil {
							return err
						}
						continue
					}
					holders[slot] = id
					if err := wb.Set(uniqueKey(tenant, typ, ix.attr, v), []byte(id)); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	return resources, collisions, wb.Flush()
}

// dropPrefix deletes every key under prefix in batches.
func (s *Badger) dropPrefix(prefix []byte) error {
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
			if err := wb.Delete(it.Item().KeyCopy(nil)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return wb.Flush()
}

func (s *Badger) prefixEmpty(prefix []byte) (bool, error) {
	empty := true
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		it.Seek(prefix)
		empty = !it.ValidForPrefix(prefix)
		return nil
	})
	return empty, err
}

func (s *Badger) loadCollisionFlag() error {
	empty, err := s.prefixEmpty([]byte{keyVersion, pCollision})
	if err != nil {
		return err
	}
	s.hasCollisions.Store(!empty)
	return nil
}

func (s *Badger) metaUint(name string) (uint64, error) {
	var v uint64
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(metaKey(name))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return item.Value(func(b []byte) error {
			n, w := binary.Uvarint(b)
			if w <= 0 {
				return fmt.Errorf("store setting %s is corrupt", name)
			}
			v = n
			return nil
		})
	})
	return v, err
}

func (s *Badger) setMetaUint(name string, v uint64) error {
	return s.db.Update(func(txn *badger.Txn) error {
		return txn.Set(metaKey(name), binary.AppendUvarint(nil, v))
	})
}

// Collisions lists a tenant's resources whose unique names collide with
// another's under the identifier rule.
func (s *Badger) Collisions(ctx context.Context, tenant string, limit int) ([]Collision, int, error) {
	if !s.hasCollisions.Load() {
		return nil, 0, nil
	}
	var out []Collision
	total := 0
	err := s.db.View(func(txn *badger.Txn) error {
		prefix := tenantCollisionPrefix(tenant)
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: false})
		defer it.Close()
		for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			total++
			if len(out) >= limit {
				continue
			}
			pk, err := parseKey(it.Item().KeyCopy(nil))
			if err != nil {
				return err
			}
			attr, value, id := pk.parts[0], pk.parts[1], pk.parts[2]
			c := Collision{Type: typeName(pk.typ), Attr: attr, ID: id}
			if item, err := txn.Get(uniqueKey(tenant, pk.typ, attr, value)); err == nil {
				holder, err := item.ValueCopy(nil)
				if err != nil {
					return err
				}
				c.HolderID = string(holder)
			} else if !errors.Is(err, badger.ErrKeyNotFound) {
				return err
			}
			out = append(out, c)
		}
		return nil
	})
	return out, total, err
}
