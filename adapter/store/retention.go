package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
	"go.uber.org/zap"
)

// DefaultJournalRetention is how long delivered journal entries are kept
// when Options.JournalRetention is not set: long enough for the console's
// recent activity of a week and for an operator to look back at what was
// sent to a backend before a dead letter is replayed.
const DefaultJournalRetention = 7 * 24 * time.Hour

// DefaultMaintenanceInterval is how often journal compaction runs when
// Options.MaintenanceInterval is not set.
const DefaultMaintenanceInterval = time.Hour

// reclaimShare is the share of the LSM tree's size that the journal
// entries one compaction deleted must reach, in bytes before compression,
// for the maintenance loop to Reclaim their space at once. Below it,
// background compaction frees the space as writes push tables down: a
// compaction cycle in a store that runs with its retention deletes about
// one MaintenanceInterval's worth of journal, far below this; a first
// compaction of a long journal, or one after a long outage, reaches it.
const reclaimShare = 0.25

// compactBatch is how many journal entries one compaction transaction
// deletes at most; a transaction that reaches Badger's size limit first
// commits what it has.
const compactBatch = 5000

// CompactJournal deletes the journal entries that retention no longer
// keeps, in every tenant, in transactions of a bounded size, and returns
// how many it deleted. The maintenance loop of an on-disk store runs it
// every MaintenanceInterval.
//
// A tenant's journal is what delivery reads, and the console shows its
// newest entries as recent activity. An entry is deleted once all of
// these hold:
//   - it was delivered: its sequence is at or below the tenant's delivery
//     cursor (DeliveryState.Cursor), so delivery never reads it again;
//   - it is older than Options.JournalRetention;
//   - it is not the tenant's newest entry, whose sequence is where the
//     tenant's sequence resumes when the store is opened again.
//
// Entries go oldest first, and a tenant's compaction stops at the first
// entry it must keep, so the journal is always one unbroken run of
// sequences ending at the newest entry. Journal(after) returns the kept
// entries after after: when after is below the oldest kept entry, the
// entries in between were delivered and are past retention, and delivery,
// which reads after its cursor, never meets such a gap, since the cursor
// is at or above every deleted entry. A reader of recent activity gets at
// least the entries of the retention period.
//
// Dead letters do not need the journal: a dead letter holds its event,
// and a replay rebuilds the event from the tenant's current state and
// journals it anew (see DeliveryLog.Append).
func (s *Badger) CompactJournal(ctx context.Context) (int, error) {
	d, err := s.compactJournal(ctx)
	return d.entries, err
}

// deleted counts the journal entries a compaction deleted and their size
// before compression.
type deleted struct {
	entries int
	bytes   int64
}

func (d *deleted) add(o deleted) { d.entries, d.bytes = d.entries+o.entries, d.bytes+o.bytes }

func (s *Badger) compactJournal(ctx context.Context) (deleted, error) {
	var total deleted
	tenants, err := s.deliveredTenants()
	if err != nil {
		return total, err
	}
	cutoff := s.opts.Now().Add(-s.opts.JournalRetention)
	for _, tenant := range tenants {
		d, err := s.compactTenant(ctx, tenant, cutoff)
		total.add(d)
		if err != nil {
			return total, fmt.Errorf("compacting the journal of %s: %w", tenant, err)
		}
	}
	return total, nil
}

// deliveredTenants lists the tenants that have delivered something: only
// they can have entries to delete.
func (s *Badger) deliveredTenants() ([]string, error) {
	var out []string
	err := s.db.View(func(txn *badger.Txn) error {
		prefix := []byte{keyVersion, pDelivery}
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true, PrefetchSize: 100})
		defer it.Close()
		for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
			p, err := parseKey(it.Item().KeyCopy(nil))
			if err != nil {
				return err
			}
			var st DeliveryState
			if err := it.Item().Value(func(v []byte) error { return json.Unmarshal(v, &st) }); err != nil {
				return fmt.Errorf("decoding delivery state of %s: %w", p.tenant, err)
			}
			if st.Cursor > 0 {
				out = append(out, p.tenant)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing delivery cursors: %w", err)
	}
	return out, nil
}

// compactTenant deletes the tenant's journal entries that are delivered,
// older than cutoff and not its newest, one bounded transaction at a time.
func (s *Badger) compactTenant(ctx context.Context, tenant string, cutoff time.Time) (deleted, error) {
	var total deleted
	from := uint64(0)
	for conflicts := 0; ; {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		d, next, done, err := s.compactBatch(tenant, from, cutoff)
		if errors.Is(err, badger.ErrConflict) && conflicts < s.opts.MaxConflictRetries {
			conflicts++
			continue
		}
		if err != nil {
			return total, err
		}
		total.add(d)
		from, conflicts = next, 0
		if done {
			return total, nil
		}
	}
}

// compactBatch deletes up to compactBatch of the tenant's deletable entries
// from sequence from on, in one transaction. It returns what it deleted,
// where the next batch starts, and whether none are left.
//
// The entries are read in the transaction that deletes them and the
// cursor is read after that transaction began: an entry the tenant's purge
// deletes, or a later write reuses, after the transaction began makes its
// commit fail with a conflict, and an entry read before that belongs with
// the cursor read, which only moves forward until a purge.
func (s *Badger) compactBatch(tenant string, from uint64, cutoff time.Time) (d deleted, next uint64, done bool, err error) {
	txn := s.db.NewTransaction(true)
	defer txn.Discard()
	var st DeliveryState
	if err := s.db.View(func(v *badger.Txn) error {
		var err error
		st, err = getDeliveryState(v, tenant)
		return err
	}); err != nil {
		return d, from, false, err
	}
	newest, err := newestSeq(txn, tenant)
	if err != nil {
		return d, from, false, err
	}
	limit := min(st.Cursor, newest-min(newest, 1))
	prefix := journalPrefix(tenant)
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true, PrefetchSize: 100})
	var keys [][]byte
	var seqs []uint64
	var sizes []int64
	done = true
	for it.Seek(journalKey(tenant, from)); it.ValidForPrefix(prefix); it.Next() {
		item := it.Item()
		p, err := parseKey(item.KeyCopy(nil))
		if err != nil {
			it.Close()
			return d, from, false, err
		}
		if p.seq > limit {
			break
		}
		var ev struct {
			Time time.Time `json:"time"`
		}
		if err := item.Value(func(v []byte) error { return json.Unmarshal(v, &ev) }); err != nil {
			it.Close()
			return d, from, false, fmt.Errorf("decoding journal entry %d: %w", p.seq, err)
		}
		if !ev.Time.Before(cutoff) {
			break
		}
		if len(keys) == compactBatch {
			done = false
			break
		}
		keys, seqs, sizes = append(keys, item.KeyCopy(nil)), append(seqs, p.seq), append(sizes, item.EstimatedSize())
	}
	it.Close()
	for i, k := range keys {
		err := txn.Delete(k)
		if errors.Is(err, badger.ErrTxnTooBig) && i > 0 {
			// Full: commit what fits, the next batch goes on from here.
			keys, seqs, done = keys[:i], seqs[:i], false
			break
		}
		if err != nil {
			return d, from, false, err
		}
	}
	if len(keys) == 0 {
		return d, from, true, nil
	}
	if err := txn.Commit(); err != nil {
		return d, from, false, err
	}
	d.entries = len(keys)
	for _, n := range sizes[:len(keys)] {
		d.bytes += n
	}
	return d, seqs[len(seqs)-1] + 1, done, nil
}

// newestSeq returns the sequence of the tenant's newest journal entry, 0
// when its journal is empty, reading it in txn.
func newestSeq(txn *badger.Txn, tenant string) (uint64, error) {
	prefix := journalPrefix(tenant)
	it := txn.NewIterator(badger.IteratorOptions{Reverse: true, Prefix: prefix})
	defer it.Close()
	it.Seek(journalKey(tenant, ^uint64(0)))
	if !it.ValidForPrefix(prefix) {
		return 0, nil
	}
	p, err := parseKey(it.Item().KeyCopy(nil))
	if err != nil {
		return 0, err
	}
	return p.seq, nil
}

// maintain runs one compaction of the journal and, when it deleted at
// least reclaimShare of the tables' size, Reclaim.
func (s *Badger) maintain(ctx context.Context) {
	start := time.Now()
	tables := s.DiskUsage().Tables
	d, err := s.compactJournal(ctx)
	if err != nil && ctx.Err() == nil {
		s.log.Error("compacting the journal", zap.Int("deleted", d.entries), zap.Error(err))
	}
	if d.entries == 0 {
		return
	}
	s.log.Info("journal compacted", zap.Int("deleted", d.entries), zap.Int64("deleted_bytes", d.bytes),
		zap.Duration("took", time.Since(start)))
	if ctx.Err() != nil || float64(d.bytes) < reclaimShare*float64(tables) {
		return
	}
	start = time.Now()
	if err := s.Reclaim(); err != nil {
		s.log.Error("reclaiming disk space", zap.Error(err))
		return
	}
	s.log.Info("disk space reclaimed", zap.Int64("tables_before", tables), zap.Int64("tables_after", s.DiskUsage().Tables),
		zap.Duration("took", time.Since(start)))
}

// JournalRetention returns how long the store keeps delivered journal
// entries.
func (s *Badger) JournalRetention() time.Duration { return s.opts.JournalRetention }
