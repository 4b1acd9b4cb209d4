package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Querier is what leases need of a database handle: a *pgx.Conn, a pool
// or a transaction.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Leases hands out named leases kept in scim_leases, such as the right to
// deliver one tenant's journal: a name has at most one holder at a time,
// who keeps it for TTL after each Acquire. An instance that dies stops
// renewing, and once its lease has expired another takes it over. Expiry
// is judged by the database's clock alone, so instances whose clocks
// disagree still agree on who holds a lease.
type Leases struct {
	db     Querier
	holder string
	ttl    time.Duration
}

// NewLeases returns the leases of one holder, a name unique to the
// instance (a random id, not a host name another instance could reuse).
func NewLeases(db Querier, holder string, ttl time.Duration) (*Leases, error) {
	if holder == "" {
		return nil, errors.New("leases need a holder name")
	}
	if ttl < time.Second {
		return nil, fmt.Errorf("a lease of %s is too short to renew reliably; use at least 1s", ttl)
	}
	return &Leases{db: db, holder: holder, ttl: ttl}, nil
}

// Holder is the name the leases are held under.
func (l *Leases) Holder() string { return l.holder }

// Acquire takes the lease called name, or renews it when l already holds
// it, for another TTL; it reports false when another holder's lease has
// not expired. Renew at a fraction of TTL (a third, say): a holder whose
// renewal fails must stop the leased work before TTL has passed since its
// last successful Acquire.
func (l *Leases) Acquire(ctx context.Context, name string) (bool, error) {
	var holder string
	err := l.db.QueryRow(ctx, `
		INSERT INTO scim_leases (name, holder, expires_at)
		VALUES ($1, $2, now() + $3 * INTERVAL '1 millisecond')
		ON CONFLICT (name) DO UPDATE
			SET holder = excluded.holder, expires_at = excluded.expires_at
			WHERE scim_leases.holder = excluded.holder OR scim_leases.expires_at < now()
		RETURNING holder`, name, l.holder, l.ttl.Milliseconds()).Scan(&holder)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("acquiring lease %s: %w", name, err)
	}
	return holder == l.holder, nil
}

// Release gives the lease called name up at once, if l holds it, so that
// another holder need not wait for it to expire.
func (l *Leases) Release(ctx context.Context, name string) error {
	if _, err := l.db.Exec(ctx, `DELETE FROM scim_leases WHERE name = $1 AND holder = $2`, name, l.holder); err != nil {
		return fmt.Errorf("releasing lease %s: %w", name, err)
	}
	return nil
}

// HolderOf returns who holds the lease called name, or "" when nobody
// does or it has expired.
func (l *Leases) HolderOf(ctx context.Context, name string) (string, error) {
	var holder string
	err := l.db.QueryRow(ctx, `SELECT holder FROM scim_leases WHERE name = $1 AND expires_at >= now()`, name).Scan(&holder)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading lease %s: %w", name, err)
	}
	return holder, nil
}
