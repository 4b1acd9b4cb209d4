package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"github.com/caddy-scim/caddy-scim/adapter/tenants"
	"github.com/caddy-scim/caddy-scim/adapter/tokens"
)

var _ tenants.Persistence = (*Badger)(nil)

// purgeBatch is how many keys one transaction of a purge deletes.
const purgeBatch = 5000

// SaveTenant implements tenants.Persistence.
func (s *Badger) SaveTenant(ctx context.Context, rec tenants.Record) error {
	if err := tenants.CheckName(rec.Name); err != nil {
		return err
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encoding tenant record: %w", err)
	}
	return s.db.Update(func(txn *badger.Txn) error { return txn.Set(tenantRecordKey(rec.Name), b) })
}

// TenantRecords implements tenants.Persistence.
func (s *Badger) TenantRecords(ctx context.Context) ([]tenants.Record, error) {
	var out []tenants.Record
	err := s.db.View(func(txn *badger.Txn) error {
		prefix := tenantRecordPrefix()
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true})
		defer it.Close()
		for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
			var rec tenants.Record
			if err := it.Item().Value(func(v []byte) error { return json.Unmarshal(v, &rec) }); err != nil {
				return fmt.Errorf("decoding tenant record %x: %w", it.Item().Key(), err)
			}
			out = append(out, rec)
		}
		return nil
	})
	return out, err
}

// PurgeTenant implements tenants.Persistence. It holds the tenant's write
// lock throughout, so no write of the tenant interleaves, and deletes in
// batches, so a tenant of any size fits Badger's transaction limits. Only
// the tenant's journal position stays (pSeqFloor, and the delivery cursor
// at it): a tenant created again under the name continues the sequence.
func (s *Badger) PurgeTenant(ctx context.Context, name string) error {
	if err := checkTenant(name); err != nil {
		return err
	}
	ts := s.tenant(name)
	if err := ts.q.Lock(ctx); err != nil {
		return err
	}
	defer ts.q.Unlock()
	floor, err := s.lastSeq(name)
	if err != nil {
		return err
	}
	s.pos.forget(name)
	// Token records are global, found through the tenant's token list:
	// delete them before the list.
	if err := s.deleteKeys(ctx, tenantTokenPrefix(name), func(txn *badger.Txn, k []byte) error {
		return txn.Delete(tokenKey(k[len(tenantTokenPrefix(name)):]))
	}); err != nil {
		return err
	}
	for _, p := range tenantPrefixes {
		if err := s.deleteKeys(ctx, newKey(p, name).bytes(), nil); err != nil {
			return err
		}
	}
	if err := s.purgeAccessTokens(ctx, name); err != nil {
		return err
	}
	if err := s.db.Update(func(txn *badger.Txn) error {
		if floor > 0 {
			if err := txn.Set(seqFloorKey(name), binary.BigEndian.AppendUint64(nil, floor)); err != nil {
				return err
			}
			if err := putDeliveryState(txn, name, DeliveryState{Cursor: floor}); err != nil {
				return err
			}
		}
		return txn.Delete(tenantRecordKey(name))
	}); err != nil {
		return err
	}
	ts.seq, ts.loaded = 0, false
	return nil
}

// deleteKeys deletes every key under prefix in batches, calling also for
// each key in the same transaction.
func (s *Badger) deleteKeys(ctx context.Context, prefix []byte, also func(txn *badger.Txn, k []byte) error) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var more bool
		err := s.db.Update(func(txn *badger.Txn) error {
			err := deletePrefix(txn, txn.Delete, prefix, purgeBatch, func(k []byte) error {
				if also != nil {
					return also(txn, k)
				}
				return nil
			})
			more = errors.Is(err, errMore)
			if more {
				return nil
			}
			return err
		})
		if errors.Is(err, badger.ErrConflict) {
			continue
		}
		if err != nil {
			return fmt.Errorf("deleting tenant data: %w", err)
		}
		if !more {
			return nil
		}
	}
}

// purgeAccessTokens deletes the tenant's OAuth access tokens, which are
// global records found only by hash: every one is read to find the
// tenant's. They live a day at most, so there are few.
func (s *Badger) purgeAccessTokens(ctx context.Context, name string) error {
	var keys [][]byte
	err := s.db.View(func(txn *badger.Txn) error {
		prefix := newKey(pAccessToken, "").bytes()
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true})
		defer it.Close()
		for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
			var t tokens.AccessToken
			if err := it.Item().Value(func(v []byte) error { return json.Unmarshal(v, &t) }); err != nil {
				return fmt.Errorf("decoding access token: %w", err)
			}
			if t.Tenant == name {
				keys = append(keys, it.Item().KeyCopy(nil))
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for len(keys) > 0 {
		n := min(len(keys), purgeBatch)
		batch := keys[:n]
		keys = keys[n:]
		if err := s.db.Update(func(txn *badger.Txn) error {
			for _, k := range batch {
				if err := txn.Delete(k); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return fmt.Errorf("deleting access tokens: %w", err)
		}
	}
	return nil
}

// tenantKeyCount counts the keys that belong to a tenant, global token
// records included, for tests that prove a purge leaves nothing.
func (s *Badger) tenantKeyCount(name string) (int, error) {
	n := 0
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().Key()
			p, err := parseKey(bytes.Clone(k))
			if err != nil {
				return err
			}
			switch {
			case p.tenant == name:
				n++
			case p.prefix == pTenant && p.parts[0] == name:
				n++
			case p.prefix == pToken || p.prefix == pAccessToken:
				owner, err := globalOwner(it.Item())
				if err != nil {
					return err
				}
				if owner == name {
					n++
				}
			}
		}
		return nil
	})
	return n, err
}

func globalOwner(item *badger.Item) (string, error) {
	var owner struct {
		Tenant string `json:"tenant"`
	}
	err := item.Value(func(v []byte) error { return json.Unmarshal(v, &owner) })
	return owner.Tenant, err
}
