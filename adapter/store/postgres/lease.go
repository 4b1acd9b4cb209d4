package postgres

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/caddy-scim/caddy-scim/adapter/store"
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

// DefaultLeaseTTL is the default Options.LeaseTTL.
const DefaultLeaseTTL = 10 * time.Second

// instanceName is the default Options.Instance: the host name, which tells
// operators where a lease is held, and a random suffix, so that a process
// restarted on the same host does not pass for the one that died.
func instanceName() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "scim"
	}
	return host + "-" + rand.Text()[:8]
}

// deliveryLease is the name of the lease on delivering tenant's journal.
func deliveryLease(tenant string) string { return "delivery/" + tenant }

// Instance returns the name the store holds leases under.
func (s *Store) Instance() string { return s.leases.Holder() }

// AcquireDelivery takes, or renews when already held, the right to deliver
// tenant's journal for Options.LeaseTTL; it reports false when another
// instance holds it. While another instance holds it, SaveDeliveryState and
// SaveDeadLetter of tenant refuse with store.ErrLeaseLost.
func (s *Store) AcquireDelivery(ctx context.Context, tenant string) (bool, error) {
	if err := checkTenant(tenant); err != nil {
		return false, err
	}
	return s.leases.Acquire(ctx, deliveryLease(tenant))
}

// ReleaseDelivery gives the right to deliver tenant's journal up at once,
// if the store holds it.
func (s *Store) ReleaseDelivery(ctx context.Context, tenant string) error {
	if err := checkTenant(tenant); err != nil {
		return err
	}
	return s.leases.Release(ctx, deliveryLease(tenant))
}

// fenceDelivery fails with store.ErrLeaseLost when another instance holds
// the delivery lease of tenant and it has not expired. It locks the lease
// row, expired or not, until tx ends, so that no instance takes the lease
// over between the check and the commit of tx's writes: a takeover waits
// for them, and its holder then reads what tx wrote. Nobody holding the
// lease lets the write through, for stores used without leases.
func fenceDelivery(ctx context.Context, tx pgx.Tx, holder, tenant string) error {
	var owner string
	var live bool
	err := tx.QueryRow(ctx, `SELECT holder, expires_at >= now() FROM scim_leases WHERE name = $1 FOR SHARE`, deliveryLease(tenant)).Scan(&owner, &live)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("checking the delivery lease of tenant %s: %w", tenant, err)
	}
	if live && owner != holder {
		return fmt.Errorf("tenant %s is delivered by %s: %w", tenant, owner, store.ErrLeaseLost)
	}
	return nil
}
