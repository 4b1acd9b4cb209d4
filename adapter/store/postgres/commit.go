package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/caddy-scim/caddy-scim/adapter/store/groupcommit"
)

// Writes of a tenant, across instances.
//
// Every write of a tenant locks the tenant's row in scim_tenant_state for
// its transaction, so writes to one tenant run one after the other on
// every instance together, and each takes the next journal sequence
// numbers from that row: the journal stays gap-free and in commit order.
// Within one instance, writes that queue up while a commit is in flight
// are run by the next holder of the tenant's queue (the leader) in one
// transaction, each inside a savepoint: a write that fails is rolled back
// alone and the rest commit together, with one WAL flush. A transaction
// that journaled events sends the tenant's name on ChangesChannel, which
// PostgreSQL delivers to the listening instances when it commits.

// ChangesChannel is the notification channel on which every transaction
// that journals events of a tenant announces it, with the tenant's name as
// the payload, when it commits: an instance listening on it (see Notifier)
// learns of new events other instances journaled, to deliver them.
const ChangesChannel = "scim_changes"

// maxBatch bounds the writes of one transaction (and its savepoints).
const maxBatch = 64

// batchTimeout bounds one batch's transaction.
const batchTimeout = 30 * time.Second

// Tx is one write of a batch: the batch's transaction, the tenant, the
// write's time and its place in the tenant's journal.
type Tx struct {
	pgx.Tx
	// Tenant is the tenant written to.
	Tenant string
	// Now is the time of the write.
	Now time.Time

	seq           uint64
	users, groups int64
}

// NextSeq is the sequence the next emitted event gets.
func (t *Tx) NextSeq() uint64 { return t.seq + 1 }

// Emit appends an event to the tenant's journal with the next sequence,
// which encode receives to put in the event, and returns that sequence.
func (t *Tx) Emit(ctx context.Context, encode func(seq uint64) ([]byte, error)) (uint64, error) {
	seq := t.seq + 1
	b, err := encode(seq)
	if err != nil {
		return 0, fmt.Errorf("encoding change event: %w", err)
	}
	if _, err := t.Exec(ctx, `INSERT INTO scim_journal (tenant, seq, at, event) VALUES ($1, $2, $3, $4)`, t.Tenant, int64(seq), t.Now, string(b)); err != nil {
		return 0, fmt.Errorf("journaling change %d: %w", seq, err)
	}
	t.seq = seq
	return seq, nil
}

// CountUsers and CountGroups change the tenant's resource counts when the
// write commits.
func (t *Tx) CountUsers(delta int64)  { t.users += delta }
func (t *Tx) CountGroups(delta int64) { t.groups += delta }

// Committer runs the writes of tenants, batching those of one tenant that
// queue up on this instance.
type Committer struct {
	pool *pgxpool.Pool
	now  func() time.Time

	mu      sync.Mutex
	tenants map[string]*tenantQueue
}

// NewCommitter returns a Committer writing through pool; now is the clock
// (time.Now when nil).
func NewCommitter(pool *pgxpool.Pool, now func() time.Time) *Committer {
	if now == nil {
		now = time.Now
	}
	return &Committer{pool: pool, now: now, tenants: map[string]*tenantQueue{}}
}

// tenantQueue holds the writes of one tenant waiting on this instance.
type tenantQueue struct {
	q *groupcommit.Queue[queuedWrite]
	// commits counts committed transactions, writes the writes they
	// carried.
	commits, writes atomic.Uint64
}

// queuedWrite is one write, run inside its batch's transaction.
type queuedWrite struct {
	fn func(ctx context.Context, tx *Tx) error
	// alone makes the write commit in a transaction of its own, after
	// every write queued before it has committed.
	alone bool
}

func (c *Committer) queue(tenant string) *tenantQueue {
	c.mu.Lock()
	defer c.mu.Unlock()
	q := c.tenants[tenant]
	if q == nil {
		q = &tenantQueue{q: groupcommit.New[queuedWrite](maxBatch)}
		c.tenants[tenant] = q
	}
	return q
}

// Write runs fn in a transaction of the tenant, after every write of the
// tenant committed before it on any instance, and returns once fn's
// changes are committed, or fn's error with its changes rolled back. fn
// may run more than once (when the database asks for a retry) and must
// compute its result afresh each time.
func (c *Committer) Write(ctx context.Context, tenant string, fn func(ctx context.Context, tx *Tx) error) error {
	return c.submit(ctx, tenant, queuedWrite{fn: fn})
}

// WriteAlone is Write for a write that commits in a transaction of its
// own, after every write queued before it has committed, so that what it
// reads outside its transaction (through the pool) is the tenant's
// current state.
func (c *Committer) WriteAlone(ctx context.Context, tenant string, fn func(ctx context.Context, tx *Tx) error) error {
	return c.submit(ctx, tenant, queuedWrite{fn: fn, alone: true})
}

func (c *Committer) submit(ctx context.Context, tenant string, w queuedWrite) error {
	q := c.queue(tenant)
	return q.q.Submit(ctx, w, func(batch []*groupcommit.Item[queuedWrite]) {
		for len(batch) > 0 {
			n := groupcommit.Cut(batch, func(w queuedWrite) bool { return w.alone })
			c.commitBatch(q, tenant, batch[:n])
			batch = batch[n:]
		}
	})
}

// maxRetries bounds how often a batch is run again when the database
// reports a serialization failure or deadlock (CockroachDB asks for
// retries as a matter of course).
const maxRetries = 8

func (c *Committer) commitBatch(q *tenantQueue, tenant string, batch []*groupcommit.Item[queuedWrite]) {
	var err error
	results := make([]error, len(batch))
	for attempt := 0; attempt < maxRetries; attempt++ {
		err = c.runBatch(tenant, batch, results)
		if err == nil || !retryable(err) {
			break
		}
	}
	if err == nil {
		// Refused writes wrote nothing.
		n := 0
		for _, r := range results {
			if r == nil {
				n++
			}
		}
		if n > 0 {
			q.commits.Add(1)
			q.writes.Add(uint64(n))
		}
	}
	for i, it := range batch {
		if err != nil {
			it.Finish(err)
		} else {
			it.Finish(results[i])
		}
	}
}

// runBatch runs the batch in one transaction, each write in a savepoint,
// and commits; results gets each write's own error.
func (c *Committer) runBatch(tenant string, batch []*groupcommit.Item[queuedWrite], results []error) (err error) {
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	tx, err := c.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("starting a write of tenant %s: %w", tenant, err)
	}
	defer func() {
		if err != nil {
			tx.Rollback(context.Background())
		}
	}()
	// One statement registers the tenant on its first write and locks its
	// row (an upsert locks the row it finds, as FOR UPDATE does).
	var seq int64
	if err := tx.QueryRow(ctx, `INSERT INTO scim_tenant_state (tenant) VALUES ($1)
		ON CONFLICT (tenant) DO UPDATE SET seq = scim_tenant_state.seq RETURNING seq`, tenant).Scan(&seq); err != nil {
		return fmt.Errorf("locking tenant %s for a write: %w", tenant, err)
	}
	first := seq
	var users, groups int64
	// A write alone in its batch needs no savepoint: when it is refused,
	// the whole transaction is rolled back.
	alone := len(batch) == 1
	for i, it := range batch {
		if !alone {
			if _, err := tx.Exec(ctx, `SAVEPOINT scim_write`); err != nil {
				return fmt.Errorf("starting write %d of a batch: %w", i, err)
			}
		}
		t := &Tx{Tx: tx, Tenant: tenant, Now: c.now().UTC(), seq: uint64(seq)}
		werr := it.Value.fn(ctx, t)
		if werr != nil && retryable(werr) {
			return werr
		}
		if werr != nil {
			results[i] = werr
			if alone {
				tx.Rollback(context.Background())
				return nil
			}
			if _, err := tx.Exec(ctx, `ROLLBACK TO SAVEPOINT scim_write`); err != nil {
				return fmt.Errorf("undoing a refused write: %w", err)
			}
			continue
		}
		results[i] = nil
		if !alone {
			if _, err := tx.Exec(ctx, `RELEASE SAVEPOINT scim_write`); err != nil {
				return fmt.Errorf("finishing write %d of a batch: %w", i, err)
			}
		}
		seq, users, groups = int64(t.seq), users+t.users, groups+t.groups
	}
	// The journal's new end and the wake-up of other instances go in one
	// round trip.
	var b pgx.Batch
	b.Queue(`UPDATE scim_tenant_state SET seq = $2, user_count = user_count + $3, group_count = group_count + $4 WHERE tenant = $1`,
		tenant, seq, users, groups)
	if seq > first {
		b.Queue(`SELECT pg_notify($1, $2)`, ChangesChannel, tenant)
	}
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		return fmt.Errorf("advancing the journal of tenant %s: %w", tenant, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("committing writes of tenant %s: %w", tenant, err)
	}
	return nil
}

// retryable reports a serialization failure or deadlock, after which
// the whole transaction can run again.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

// Stats returns how many transactions committed the tenant's writes on
// this instance, and how many writes they committed (refused ones, which
// wrote nothing, are not counted).
func (c *Committer) Stats(tenant string) (commits, writes uint64) {
	q := c.queue(tenant)
	return q.commits.Load(), q.writes.Load()
}
