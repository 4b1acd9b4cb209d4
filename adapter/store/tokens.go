package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"github.com/caddy-scim/caddy-scim/adapter/tokens"
)

var _ tokens.Persistence = (*Badger)(nil)

// SaveTokens implements tokens.Persistence.
func (s *Badger) SaveTokens(ctx context.Context, recs []tokens.Record) error {
	for _, r := range recs {
		if err := checkTenant(r.Tenant); err != nil {
			return err
		}
	}
	return s.db.Update(func(txn *badger.Txn) error {
		for _, r := range recs {
			b, err := json.Marshal(r)
			if err != nil {
				return fmt.Errorf("encoding token record: %w", err)
			}
			if err := txn.Set(tokenKey(r.Hash), b); err != nil {
				return err
			}
			if err := txn.Set(tenantTokenKey(r.Tenant, r.Hash), nil); err != nil {
				return err
			}
		}
		return nil
	})
}

// Token implements tokens.Persistence.
func (s *Badger) Token(ctx context.Context, hash []byte) (*tokens.Record, error) {
	var rec *tokens.Record
	err := s.db.View(func(txn *badger.Txn) error {
		var err error
		rec, err = getToken(txn, hash)
		return err
	})
	return rec, err
}

func getToken(txn *badger.Txn, hash []byte) (*tokens.Record, error) {
	item, err := txn.Get(tokenKey(hash))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var rec tokens.Record
	if err := item.Value(func(v []byte) error { return json.Unmarshal(v, &rec) }); err != nil {
		return nil, fmt.Errorf("decoding token record: %w", err)
	}
	return &rec, nil
}

// TenantTokens implements tokens.Persistence.
func (s *Badger) TenantTokens(ctx context.Context, tenant string) ([]tokens.Record, error) {
	if err := checkTenant(tenant); err != nil {
		return nil, err
	}
	var out []tokens.Record
	err := s.db.View(func(txn *badger.Txn) error {
		prefix := tenantTokenPrefix(tenant)
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: false})
		defer it.Close()
		for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
			rec, err := getToken(txn, it.Item().KeyCopy(nil)[len(prefix):])
			if err != nil {
				return err
			}
			if rec != nil {
				out = append(out, *rec)
			}
		}
		return nil
	})
	return out, err
}

// SaveAccess implements tokens.Persistence. Stored times only move
// forward.
func (s *Badger) SaveAccess(ctx context.Context, access map[string]tokens.Access) error {
	return s.db.Update(func(txn *badger.Txn) error {
		for tenant, a := range access {
			if err := checkTenant(tenant); err != nil {
				return err
			}
			cur, err := getAccess(txn, tenant)
			if err != nil {
				return err
			}
			b, err := json.Marshal(cur.Latest(a))
			if err != nil {
				return err
			}
			if err := txn.Set(accessKey(tenant), b); err != nil {
				return err
			}
		}
		return nil
	})
}

// Access implements tokens.Persistence.
func (s *Badger) Access(ctx context.Context, tenant string) (tokens.Access, error) {
	if err := checkTenant(tenant); err != nil {
		return tokens.Access{}, err
	}
	var a tokens.Access
	err := s.db.View(func(txn *badger.Txn) error {
		var err error
		a, err = getAccess(txn, tenant)
		return err
	})
	return a, err
}

func getAccess(txn *badger.Txn, tenant string) (tokens.Access, error) {
	var a tokens.Access
	item, err := txn.Get(accessKey(tenant))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return a, nil
	}
	if err != nil {
		return a, err
	}
	err = item.Value(func(v []byte) error { return json.Unmarshal(v, &a) })
	return a, err
}
