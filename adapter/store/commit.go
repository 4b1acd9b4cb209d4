package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/caddy-scim/caddy-scim/adapter/change"
	"github.com/caddy-scim/caddy-scim/adapter/scimerr"
	"github.com/caddy-scim/caddy-scim/adapter/store/groupcommit"
)

// Group commit.
//
// The writes of one tenant are serialized: each reads the state the
// previous one left, which is what keeps uniqueness, membership deltas,
// If-Match preconditions and the journal sequence exact. Serializing them
// through one fsync each would cap a tenant at one write per disk sync, so
// writes that arrive while a commit is in flight queue up, and the next
// holder of the tenant's lock (the leader) runs the whole queue, one write
// after the other, in a single transaction with a single sync. Each write
// still sees everything the writes before it did, and each caller gets its
// own result only after the transaction holding its change is durable.
//
// A write that fails leaves nothing behind: when it failed before writing
// anything (the usual case: a 404, a 409, a refused precondition) the batch
// goes on without it; when it had written part of its change, the leader
// discards the transaction, commits the writes before it on their own (they
// run again; write functions may run more than once) and starts the next
// batch with it.

// maxBatch bounds how many writes one transaction carries, so one commit
// stays well below Badger's transaction limits and a batch's latency stays
// short.
const maxBatch = 128

// tenantState serializes the writes of one tenant and hands out its journal
// sequence numbers. Reads never take it.
type tenantState struct {
	// q queues the tenant's writes; its lock is held by the leader
	// running a batch, and by whole-tenant operations (purge) that must
	// not interleave with any write.
	q      *groupcommit.Queue[*pendingWrite]
	seq    uint64
	loaded bool

	// commits counts the transactions committed for the tenant's writes,
	// writes the writes they carried.
	commits, writes atomic.Uint64
}

// pendingWrite is one write waiting for, or in, a batch.
type pendingWrite struct {
	fn func(w *writer) error
	// alone makes the write commit in a transaction of its own, after
	// every write before it has committed: for writes that read the
	// tenant's state outside their transaction (Append's build).
	alone bool
	// after runs once the write is durable, under the tenant's lock and
	// before any later write of the tenant is committed.
	after []func()
}

// batchItem is a queued write.
type batchItem = groupcommit.Item[*pendingWrite]

// writer carries one write of a batch: the batch's transaction, the
// tenant's sequence so far and the journal events this write emits.
type writer struct {
	txn    *badger.Txn
	tenant string
	seq    uint64
	now    time.Time
	first  uint64
	// collisions is set when the store may list colliding names, so
	// removing a unique value must check who holds it.
	collisions bool
	// muts counts the keys this write set or deleted: a write that fails
	// with none leaves the batch's transaction as it found it.
	muts  int
	after []func()
}

func (w *writer) set(k, v []byte) error {
	w.muts++
	return w.txn.Set(k, v)
}

func (w *writer) del(k []byte) error {
	w.muts++
	return w.txn.Delete(k)
}

// onCommit registers f to run once the write is durable, before any later
// write of the tenant commits. f must not block; it is not called when the
// write fails or changes nothing.
func (w *writer) onCommit(f func()) { w.after = append(w.after, f) }

// emit appends ev to the journal with the next sequence number.
func (w *writer) emit(ev *change.Event) error {
	if ev == nil {
		return nil
	}
	w.seq++
	if w.first == 0 {
		w.first = w.seq
	}
	ev.Seq, ev.Tenant, ev.Time = w.seq, w.tenant, w.now
	b, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encoding change event: %w", err)
	}
	return w.set(journalKey(w.tenant, w.seq), b)
}

// nextSeq is the sequence the next emitted event will get.
func (w *writer) nextSeq() uint64 { return w.seq + 1 }

func (s *Badger) tenant(tenant string) *tenantState {
	s.mu.Lock()
	defer s.mu.Unlock()
	ts := s.tenants[tenant]
	if ts == nil {
		ts = &tenantState{q: groupcommit.New[*pendingWrite](maxBatch)}
		s.tenants[tenant] = ts
	}
	return ts
}

// write runs fn in a write transaction of the tenant, in the tenant's
// order of writes, and returns once its change is durable. fn may run more
// than once and must compute its result afresh each time. An fn returning
// errNoChange writes nothing and write returns nil.
func (s *Badger) write(ctx context.Context, tenant string, fn func(w *writer) error) error {
	if err := checkTenant(tenant); err != nil {
		return err
	}
	return s.submit(ctx, tenant, &pendingWrite{fn: fn})
}

// writeAlone is write for a write that commits in a transaction of its
// own, after every write queued before it has committed, so that what it
// reads through the store's read methods is the tenant's current state.
func (s *Badger) writeAlone(ctx context.Context, tenant string, fn func(w *writer) error) error {
	if err := checkTenant(tenant); err != nil {
		return err
	}
	return s.submit(ctx, tenant, &pendingWrite{fn: fn, alone: true})
}

func (s *Badger) submit(ctx context.Context, tenant string, p *pendingWrite) error {
	ts := s.tenant(tenant)
	return ts.q.Submit(ctx, p, func(batch []*batchItem) {
		s.runBatch(ts, tenant, batch)
	})
}

// runBatch commits a batch of the tenant's writes, finishing each.
func (s *Badger) runBatch(ts *tenantState, tenant string, batch []*batchItem) {
	if !ts.loaded {
		seq, err := s.lastSeq(tenant)
		if err != nil {
			for _, it := range batch {
				s.finish(it, err)
			}
			return
		}
		ts.seq, ts.loaded = seq, true
	}
	for len(batch) > 0 {
		n := groupcommit.Cut(batch, func(p *pendingWrite) bool { return p.alone })
		for seg := batch[:n]; len(seg) > 0; {
			seg = s.commitBatch(ts, tenant, seg)
		}
		batch = batch[n:]
	}
}

func (s *Badger) finish(it *batchItem, err error) {
	if errors.Is(err, errNoChange) {
		err = nil
	}
	if errors.Is(err, badger.ErrTxnTooBig) {
		err = scimerr.New(http.StatusRequestEntityTooLarge, scimerr.TooMany,
			"the request changes too many memberships at once to commit atomically; send the change as several smaller PATCH requests")
	}
	if err == nil {
		for _, f := range it.Value.after {
			f()
		}
	}
	it.Finish(err)
}

// commitBatch runs the writes of batch in one transaction and commits it,
// finishing every write it commits or refuses. It returns the writes still
// to run: those after a write that failed half-way, which starts them.
func (s *Badger) commitBatch(ts *tenantState, tenant string, batch []*batchItem) (rest []*batchItem) {
	var err error
	for attempt := 0; attempt < s.opts.MaxConflictRetries; attempt++ {
		txn := s.db.NewTransaction(true)
		seq := ts.seq
		collisions := s.hasCollisions.Load()
		cut := len(batch)
		var cutErr error
		results := make([]error, len(batch))
		for i, it := range batch {
			p := it.Value
			w := &writer{txn: txn, tenant: tenant, seq: seq, now: s.opts.Now().UTC(), collisions: collisions}
			err := p.fn(w)
			switch {
			case err == nil:
				seq = w.seq
				p.after = w.after
			case w.muts == 0 && !errors.Is(err, badger.ErrTxnTooBig):
				// Refused or unchanged before writing anything: the
				// transaction is as the previous write left it.
				p.after = nil
				results[i] = err
			default:
				cut, cutErr = i, err
			}
			if cut < len(batch) {
				break
			}
		}
		if cut < len(batch) {
			txn.Discard()
			if cut == 0 {
				// Alone at the head of the batch: its error is its own.
				s.finish(batch[0], cutErr)
				return batch[1:]
			}
			// Commit the writes before it on their own; it leads the next
			// batch, where a partial change of its own is harmless.
			for head := batch[:cut]; len(head) > 0; {
				head = s.commitBatch(ts, tenant, head)
			}
			return batch[cut:]
		}
		err = txn.Commit()
		txn.Discard()
		switch {
		case err == nil:
			ts.seq = seq
			ts.commits.Add(1)
			ts.writes.Add(uint64(len(batch)))
			for i, it := range batch {
				s.finish(it, results[i])
			}
			return nil
		case errors.Is(err, badger.ErrConflict):
			continue
		case errors.Is(err, badger.ErrTxnTooBig) && len(batch) > 1:
			half := len(batch) / 2
			for head := batch[:half]; len(head) > 0; {
				head = s.commitBatch(ts, tenant, head)
			}
			return batch[half:]
		}
		break
	}
	if errors.Is(err, badger.ErrConflict) {
		err = fmt.Errorf("committing after %d conflicts: %w", s.opts.MaxConflictRetries, err)
	}
	for _, it := range batch {
		s.finish(it, err)
	}
	return nil
}
