package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/caddy-scim/caddy-scim/adapter/store"
	"github.com/caddy-scim/caddy-scim/adapter/tenants"
	"github.com/caddy-scim/caddy-scim/adapter/tokens"
)

// Records that are not resources: bearer token hashes, access times, OAuth
// clients and access tokens, runtime tenants. Each is kept as its JSON,
// the same encoding the embedded engine uses.

var (
	_ tokens.Persistence       = (*Store)(nil)
	_ tokens.ClientPersistence = (*Store)(nil)
	_ tenants.Persistence      = (*Store)(nil)
)

// accessTokenRetention is how long an access token's record is kept past
// its lifetime, so that a client presenting it is told that it expired
// rather than that it is unknown.
const accessTokenRetention = 24 * time.Hour

// checkTenant is the store's rule for tenant names.
var checkTenant = store.CheckTenant

// SaveTokens implements tokens.Persistence.
func (s *Store) SaveTokens(ctx context.Context, recs []tokens.Record) error {
	for _, r := range recs {
		if err := checkTenant(r.Tenant); err != nil {
			return err
		}
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for _, r := range recs {
			b, err := json.Marshal(r)
			if err != nil {
				return fmt.Errorf("encoding token record: %w", err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO scim_tokens (hash, tenant, record) VALUES ($1, $2, $3)
				ON CONFLICT (hash) DO UPDATE SET tenant = excluded.tenant, record = excluded.record`, r.Hash, r.Tenant, string(b)); err != nil {
				return fmt.Errorf("saving token %s: %w", r.ID, err)
			}
		}
		return notifyTenants(ctx, tx, recs)
	})
}

// TenantsChannel is the notification channel on which every write that
// changes whether a tenant's credentials work — its token records, its
// OAuth client, its runtime record, a purge — names the tenant when it
// commits, so that every instance drops what it caches of the tenant.
const TenantsChannel = "scim_tenants"

// notifyTenants notifies TenantsChannel once for each tenant of recs.
func notifyTenants(ctx context.Context, tx pgx.Tx, recs []tokens.Record) error {
	seen := map[string]bool{}
	for _, r := range recs {
		if seen[r.Tenant] {
			continue
		}
		seen[r.Tenant] = true
		if err := Notify(ctx, tx, TenantsChannel, r.Tenant); err != nil {
			return err
		}
	}
	return nil
}

// Token implements tokens.Persistence.
func (s *Store) Token(ctx context.Context, hash []byte) (*tokens.Record, error) {
	var rec tokens.Record
	found, err := s.getJSON(ctx, &rec, `SELECT record FROM scim_tokens WHERE hash = $1`, hash)
	if err != nil || !found {
		return nil, err
	}
	return &rec, nil
}

// TenantTokens implements tokens.Persistence.
func (s *Store) TenantTokens(ctx context.Context, tenant string) ([]tokens.Record, error) {
	if err := checkTenant(tenant); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT record FROM scim_tokens WHERE tenant = $1 ORDER BY hash`, tenant)
	if err != nil {
		return nil, fmt.Errorf("reading the tokens of tenant %s: %w", tenant, err)
	}
	return collectJSON[tokens.Record](rows, "token record")
}

// SaveAccess implements tokens.Persistence. Stored times only move
// forward, also when instances save at once.
func (s *Store) SaveAccess(ctx context.Context, access map[string]tokens.Access) error {
	for tenant := range access {
		if err := checkTenant(tenant); err != nil {
			return err
		}
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for tenant, a := range access {
			var cur tokens.Access
			var b string
			err := tx.QueryRow(ctx, `SELECT record FROM scim_access WHERE tenant = $1 FOR UPDATE`, tenant).Scan(&b)
			switch {
			case err == nil:
				if err := json.Unmarshal([]byte(b), &cur); err != nil {
					return fmt.Errorf("decoding the access times of tenant %s: %w", tenant, err)
				}
			case !errors.Is(err, pgx.ErrNoRows):
				return fmt.Errorf("reading the access times of tenant %s: %w", tenant, err)
			}
			nb, err := json.Marshal(cur.Latest(a))
			if err != nil {
				return fmt.Errorf("encoding access times: %w", err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO scim_access (tenant, record) VALUES ($1, $2)
				ON CONFLICT (tenant) DO UPDATE SET record = excluded.record`, tenant, string(nb)); err != nil {
				return fmt.Errorf("saving the access times of tenant %s: %w", tenant, err)
			}
		}
		return nil
	})
}

// Access implements tokens.Persistence.
func (s *Store) Access(ctx context.Context, tenant string) (tokens.Access, error) {
	var a tokens.Access
	if err := checkTenant(tenant); err != nil {
		return a, err
	}
	_, err := s.getJSON(ctx, &a, `SELECT record FROM scim_access WHERE tenant = $1`, tenant)
	return a, err
}

// SaveClient implements tokens.ClientPersistence.
func (s *Store) SaveClient(ctx context.Context, c *tokens.Client) error {
	if err := checkTenant(c.Tenant); err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := saveClient(ctx, tx, c); err != nil {
			return err
		}
		return Notify(ctx, tx, TenantsChannel, c.Tenant)
	})
}

func saveClient(ctx context.Context, db Querier, c *tokens.Client) error {
	b, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("encoding OAuth client: %w", err)
	}
	if _, err := db.Exec(ctx, `INSERT INTO scim_clients (tenant, record) VALUES ($1, $2)
		ON CONFLICT (tenant) DO UPDATE SET record = excluded.record`, c.Tenant, string(b)); err != nil {
		return fmt.Errorf("saving the OAuth client of tenant %s: %w", c.Tenant, err)
	}
	return nil
}

// Client implements tokens.ClientPersistence.
func (s *Store) Client(ctx context.Context, tenant string) (*tokens.Client, error) {
	if err := checkTenant(tenant); err != nil {
		return nil, err
	}
	var c tokens.Client
	found, err := s.getJSON(ctx, &c, `SELECT record FROM scim_clients WHERE tenant = $1`, tenant)
	if err != nil || !found {
		return nil, err
	}
	return &c, nil
}

// SaveAccessToken implements tokens.ClientPersistence. The token's record
// is kept for its lifetime plus a day.
func (s *Store) SaveAccessToken(ctx context.Context, c *tokens.Client, t tokens.AccessToken) error {
	if err := checkTenant(c.Tenant); err != nil {
		return err
	}
	if t.Tenant != c.Tenant {
		return fmt.Errorf("store: access token of tenant %s saved with the client of tenant %s", t.Tenant, c.Tenant)
	}
	tb, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("encoding access token: %w", err)
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := saveClient(ctx, tx, c); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO scim_access_tokens (hash, tenant, expires_at, record) VALUES ($1, $2, $3, $4)
			ON CONFLICT (hash) DO UPDATE SET tenant = excluded.tenant, expires_at = excluded.expires_at, record = excluded.record`,
			t.Hash, t.Tenant, t.ExpiresAt.Add(accessTokenRetention), string(tb)); err != nil {
			return fmt.Errorf("saving an access token: %w", err)
		}
		return nil
	})
}

// AccessToken implements tokens.ClientPersistence. A token past its
// lifetime plus a day is unknown.
func (s *Store) AccessToken(ctx context.Context, hash []byte) (*tokens.AccessToken, error) {
	var t tokens.AccessToken
	found, err := s.getJSON(ctx, &t, `SELECT record FROM scim_access_tokens WHERE hash = $1 AND expires_at > $2`, hash, s.opts.Now())
	if err != nil || !found {
		return nil, err
	}
	return &t, nil
}

// SaveTenant implements tenants.Persistence.
func (s *Store) SaveTenant(ctx context.Context, rec tenants.Record) error {
	if err := tenants.CheckName(rec.Name); err != nil {
		return err
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encoding tenant record: %w", err)
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO scim_tenants (name, record) VALUES ($1, $2)
			ON CONFLICT (name) DO UPDATE SET record = excluded.record`, rec.Name, string(b)); err != nil {
			return fmt.Errorf("saving tenant %s: %w", rec.Name, err)
		}
		return Notify(ctx, tx, TenantsChannel, rec.Name)
	})
}

var _ tenants.ConditionalSaver = (*Store)(nil)

// SaveTenantIf implements tenants.ConditionalSaver: in one transaction
// that locks the stored record, rec is saved (and the other instances
// notified) only when the stored record is prev (tenants.SameRecord), or
// when neither exists.
func (s *Store) SaveTenantIf(ctx context.Context, rec tenants.Record, prev *tenants.Record) (bool, error) {
	if err := tenants.CheckName(rec.Name); err != nil {
		return false, err
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return false, fmt.Errorf("encoding tenant record: %w", err)
	}
	saved := false
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var stored string
		err := tx.QueryRow(ctx, `SELECT record FROM scim_tenants WHERE name = $1 FOR UPDATE`, rec.Name).Scan(&stored)
		found := err == nil
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("reading tenant %s: %w", rec.Name, err)
		}
		switch {
		case found != (prev != nil):
			return nil
		case found:
			// Decoded first, so that only a change of the record counts,
			// not how it was written.
			var cur tenants.Record
			if err := json.Unmarshal([]byte(stored), &cur); err != nil {
				return fmt.Errorf("decoding tenant %s: %w", rec.Name, err)
			}
			if !tenants.SameRecord(&cur, prev) {
				return nil
			}
		}
		// A new name is inserted; two instances inserting it at once
		// meet at the primary key, and the later one is told no.
		tag, err := tx.Exec(ctx, `INSERT INTO scim_tenants (name, record) VALUES ($1, $2)
			ON CONFLICT (name) DO UPDATE SET record = excluded.record WHERE $3`, rec.Name, string(b), found)
		if err != nil {
			return fmt.Errorf("saving tenant %s: %w", rec.Name, err)
		}
		if tag.RowsAffected() != 1 {
			return nil
		}
		saved = true
		return Notify(ctx, tx, TenantsChannel, rec.Name)
	})
	return saved, err
}

var _ tenants.RecordReader = (*Store)(nil)

// TenantRecord implements tenants.RecordReader.
func (s *Store) TenantRecord(ctx context.Context, name string) (*tenants.Record, error) {
	var rec tenants.Record
	found, err := s.getJSON(ctx, &rec, `SELECT record FROM scim_tenants WHERE name = $1`, name)
	if err != nil || !found {
		return nil, err
	}
	return &rec, nil
}

// TenantRecords implements tenants.Persistence, in name order (bytewise).
func (s *Store) TenantRecords(ctx context.Context) ([]tenants.Record, error) {
	rows, err := s.pool.Query(ctx, `SELECT record FROM scim_tenants ORDER BY name COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("reading tenant records: %w", err)
	}
	return collectJSON[tenants.Record](rows, "tenant record")
}

// tenantTables are the tables that hold a tenant's data, each with the
// column naming the tenant.
var tenantTables = []string{"scim_resources", "scim_unique", "scim_index", "scim_members", "scim_journal",
	"scim_delivery", "scim_dead_letters", "scim_tokens", "scim_clients", "scim_access_tokens", "scim_access",
	"scim_requests", "scim_tenant_state"}

// keptAtPurge are the tables where a purged tenant's journal position
// stays: its sequence in scim_tenant_state, and its delivery cursor at
// that sequence.
var keptAtPurge = map[string]bool{"scim_tenant_state": true, "scim_delivery": true}

// PurgeTenant implements tenants.Persistence: every row of the tenant, its
// tokens and OAuth records included, then its record, in one transaction
// that holds the tenant's lock (on this instance and in the database), so
// no write of the tenant interleaves. Only the journal position stays: the
// sequence, and the delivery cursor at it, so that a tenant created again
// under the name continues the sequence. No sequence number is used twice
// for a name, and a backend on any instance that skips what it has
// applied by sequence never skips a new tenant's changes.
func (s *Store) PurgeTenant(ctx context.Context, name string) error {
	if err := checkTenant(name); err != nil {
		return err
	}
	q := s.write.queue(name).q
	if err := q.Lock(ctx); err != nil {
		return err
	}
	defer q.Unlock()
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var seq int64
		err := tx.QueryRow(ctx, `SELECT seq FROM scim_tenant_state WHERE tenant = $1 FOR UPDATE`, name).Scan(&seq)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("locking tenant %s: %w", name, err)
		}
		for _, table := range tenantTables {
			if seq > 0 && keptAtPurge[table] {
				continue
			}
			// table comes from the list above, never from input.
			if _, err := tx.Exec(ctx, `DELETE FROM `+table+` WHERE tenant = $1`, name); err != nil {
				return fmt.Errorf("purging tenant %s from %s: %w", name, table, err)
			}
		}
		if seq > 0 {
			if _, err := tx.Exec(ctx, `UPDATE scim_tenant_state SET user_count = 0, group_count = 0 WHERE tenant = $1`, name); err != nil {
				return fmt.Errorf("purging tenant %s: %w", name, err)
			}
			st, err := json.Marshal(store.DeliveryState{Cursor: uint64(seq)})
			if err != nil {
				return fmt.Errorf("encoding delivery state: %w", err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO scim_delivery (tenant, state) VALUES ($1, $2)
				ON CONFLICT (tenant) DO UPDATE SET state = excluded.state`, name, string(st)); err != nil {
				return fmt.Errorf("purging tenant %s: %w", name, err)
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM scim_tenants WHERE name = $1`, name); err != nil {
			return fmt.Errorf("purging the record of tenant %s: %w", name, err)
		}
		return Notify(ctx, tx, TenantsChannel, name)
	})
}

// getJSON decodes the one JSON text query returns into v, reporting
// whether there was a row.
func (s *Store) getJSON(ctx context.Context, v any, query string, args ...any) (bool, error) {
	var b string
	err := s.pool.QueryRow(ctx, query, args...).Scan(&b)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading a record: %w", err)
	}
	if err := json.Unmarshal([]byte(b), v); err != nil {
		return false, fmt.Errorf("decoding a record: %w", err)
	}
	return true, nil
}

// collectJSON decodes every row's JSON text into a T.
func collectJSON[T any](rows pgx.Rows, what string) ([]T, error) {
	texts, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("reading %ss: %w", what, err)
	}
	var out []T
	for _, b := range texts {
		var v T
		if err := json.Unmarshal([]byte(b), &v); err != nil {
			return nil, fmt.Errorf("decoding a %s: %w", what, err)
		}
		out = append(out, v)
	}
	return out, nil
}
