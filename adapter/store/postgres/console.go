package postgres

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// consoleKeyLen is the length of a secret ConsoleRecords.Key creates.
const consoleKeyLen = 32

// ConsoleRecords keeps the web console's records in scim_console, shared
// by every instance on the database: sign-in links, console sessions,
// single-use form nonces and the messages a redirect carries, each under
// a kind and the SHA-256 hash of its secret, with an owner, an expiry and
// a used mark. The record itself is opaque bytes. Expiry is judged by the
// times the caller passes, never by the database's clock, so that the
// console's own clock decides. It implements the console's Backing.
type ConsoleRecords struct {
	db Querier
}

// Console returns the console's records in the store's database.
func (s *Store) Console() *ConsoleRecords { return &ConsoleRecords{db: s.pool} }

// Put keeps record under kind and hash for owner until expires, unused,
// replacing any record there.
func (c *ConsoleRecords) Put(ctx context.Context, kind string, hash []byte, owner string, record []byte, expires time.Time) error {
	_, err := c.db.Exec(ctx, `
		INSERT INTO scim_console (kind, hash, owner, record, expires_at, used)
		VALUES ($1, $2, $3, $4, $5, FALSE)
		ON CONFLICT (kind, hash) DO UPDATE
			SET owner = excluded.owner, record = excluded.record,
				expires_at = excluded.expires_at, used = FALSE`,
		kind, hash, owner, record, expires)
	if err != nil {
		return fmt.Errorf("keeping a console %s: %w", kind, err)
	}
	return nil
}

// Get returns the record under kind and hash, expired or not; found is
// false when there is none.
func (c *ConsoleRecords) Get(ctx context.Context, kind string, hash []byte) (record []byte, expires time.Time, used, found bool, err error) {
	err = c.db.QueryRow(ctx, `SELECT record, expires_at, used FROM scim_console WHERE kind = $1 AND hash = $2`,
		kind, hash).Scan(&record, &expires, &used)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, time.Time{}, false, false, nil
	}
	if err != nil {
		return nil, time.Time{}, false, false, fmt.Errorf("reading a console %s: %w", kind, err)
	}
	return record, expires, used, true, nil
}

// Use marks the record under kind and hash used when it is unused and
// expires after now, and reports whether it did. Of callers using one
// record at once, on any instances, exactly one is told it did: the
// update locks the row, and the others find it used.
func (c *ConsoleRecords) Use(ctx context.Context, kind string, hash []byte, now time.Time) (bool, error) {
	tag, err := c.db.Exec(ctx, `
		UPDATE scim_console SET used = TRUE
		WHERE kind = $1 AND hash = $2 AND NOT used AND expires_at > $3`, kind, hash, now)
	if err != nil {
		return false, fmt.Errorf("using a console %s: %w", kind, err)
	}
	return tag.RowsAffected() == 1, nil
}

// Take deletes the record under kind and hash when owner owns it and
// returns it; found is false when there was none to take. Of callers
// taking one record at once, on any instances, exactly one gets it.
func (c *ConsoleRecords) Take(ctx context.Context, kind string, hash []byte, owner string) (record []byte, expires time.Time, found bool, err error) {
	err = c.db.QueryRow(ctx, `
		DELETE FROM scim_console WHERE kind = $1 AND hash = $2 AND owner = $3
		RETURNING record, expires_at`, kind, hash, owner).Scan(&record, &expires)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, time.Time{}, false, nil
	}
	if err != nil {
		return nil, time.Time{}, false, fmt.Errorf("taking a console %s: %w", kind, err)
	}
	return record, expires, true, nil
}

// Trim deletes all but the keep records of kind and owner that expire
// last (of one expiry, which stay is arbitrary); keep 0 deletes them all.
func (c *ConsoleRecords) Trim(ctx context.Context, kind, owner string, keep int) error {
	_, err := c.db.Exec(ctx, `
		DELETE FROM scim_console WHERE kind = $1 AND owner = $2 AND hash IN (
			SELECT hash FROM scim_console WHERE kind = $1 AND owner = $2
			ORDER BY expires_at DESC, hash OFFSET $3)`, kind, owner, keep)
	if err != nil {
		return fmt.Errorf("trimming console %ss: %w", kind, err)
	}
	return nil
}

// Sweep deletes the records of kind that expire at or before t.
func (c *ConsoleRecords) Sweep(ctx context.Context, kind string, t time.Time) error {
	if _, err := c.db.Exec(ctx, `DELETE FROM scim_console WHERE kind = $1 AND expires_at <= $2`, kind, t); err != nil {
		return fmt.Errorf("sweeping expired console %ss: %w", kind, err)
	}
	return nil
}

// Key returns the 32-byte random secret called name, kept in scim_meta.
// The first instance to ask creates it; an instance racing it loses the
// insert and reads the winner's secret, so every instance gets the same.
func (c *ConsoleRecords) Key(ctx context.Context, name string) ([]byte, error) {
	key, err := c.readKey(ctx, name)
	if key != nil || err != nil {
		return key, err
	}
	fresh := make([]byte, consoleKeyLen)
	if _, err := rand.Read(fresh); err != nil {
		return nil, fmt.Errorf("reading random bytes: %w", err)
	}
	if _, err := c.db.Exec(ctx, `INSERT INTO scim_meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`,
		name, fresh); err != nil {
		return nil, fmt.Errorf("creating the secret %s: %w", name, err)
	}
	key, err = c.readKey(ctx, name)
	if key == nil && err == nil {
		err = fmt.Errorf("the secret %s is missing right after it was created", name)
	}
	return key, err
}

// readKey returns the secret called name, or nil when there is none.
func (c *ConsoleRecords) readKey(ctx context.Context, name string) ([]byte, error) {
	var key []byte
	err := c.db.QueryRow(ctx, `SELECT value FROM scim_meta WHERE name = $1`, name).Scan(&key)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the secret %s: %w", name, err)
	}
	if len(key) != consoleKeyLen {
		return nil, fmt.Errorf("the secret %s has %d bytes, want %d", name, len(key), consoleKeyLen)
	}
	return key, nil
}
