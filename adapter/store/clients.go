package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/caddy-scim/caddy-scim/adapter/tokens"
)

var _ tokens.ClientPersistence = (*Badger)(nil)

// accessTokenRetention is how long an access token's record is kept past
// its lifetime, so that a client presenting it is told that it expired
// rather than that it is unknown.
const accessTokenRetention = 24 * time.Hour

// SaveClient implements tokens.ClientPersistence.
func (s *Badger) SaveClient(ctx context.Context, c *tokens.Client) error {
	if err := checkTenant(c.Tenant); err != nil {
		return err
	}
	b, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("encoding OAuth client: %w", err)
	}
	return s.db.Update(func(txn *badger.Txn) error {
		return txn.Set(clientKey(c.Tenant), b)
	})
}

// Client implements tokens.ClientPersistence.
func (s *Badger) Client(ctx context.Context, tenant string) (*tokens.Client, error) {
	if err := checkTenant(tenant); err != nil {
		return nil, err
	}
	var c *tokens.Client
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(clientKey(tenant))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		c = new(tokens.Client)
		return item.Value(func(v []byte) error {
			if err := json.Unmarshal(v, c); err != nil {
				return fmt.Errorf("decoding OAuth client: %w", err)
			}
			return nil
		})
	})
	return c, err
}

// SaveAccessToken implements tokens.ClientPersistence. The token's record
// lives for its lifetime plus a day.
func (s *Badger) SaveAccessToken(ctx context.Context, c *tokens.Client, t tokens.AccessToken) error {
	if err := checkTenant(c.Tenant); err != nil {
		return err
	}
	if t.Tenant != c.Tenant {
		return fmt.Errorf("store: access token of tenant %s saved with the client of tenant %s", t.Tenant, c.Tenant)
	}
	cb, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("encoding OAuth client: %w", err)
	}
	tb, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("encoding access token: %w", err)
	}
	ttl := t.ExpiresAt.Sub(t.IssuedAt) + accessTokenRetention
	return s.db.Update(func(txn *badger.Txn) error {
		if err := txn.Set(clientKey(c.Tenant), cb); err != nil {
			return err
		}
		return txn.SetEntry(badger.NewEntry(accessTokenKey(t.Hash), tb).WithTTL(ttl))
	})
}

// AccessToken implements tokens.ClientPersistence.
func (s *Badger) AccessToken(ctx context.Context, hash []byte) (*tokens.AccessToken, error) {
	var t *tokens.AccessToken
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(accessTokenKey(hash))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		t = new(tokens.AccessToken)
		return item.Value(func(v []byte) error {
			if err := json.Unmarshal(v, t); err != nil {
				return fmt.Errorf("decoding access token: %w", err)
			}
			return nil
		})
	})
	return t, err
}
