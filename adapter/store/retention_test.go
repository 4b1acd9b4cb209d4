package store

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/adapter/change"
	"github.com/caddy-scim/caddy-scim/adapter/schema"
)

// testClock is a clock tests move.
type testClock struct{ ns atomic.Int64 }

func newClock() *testClock {
	c := &testClock{}
	c.ns.Store(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *testClock) now() time.Time      { return time.Unix(0, c.ns.Load()).UTC() }
func (c *testClock) add(d time.Duration) { c.ns.Add(int64(d)) }
func journalSeqs(t *testing.T, s *Badger) []uint64 {
	t.Helper()
	evs, err := s.Journal(context.Background(), tenant, 0, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]uint64, len(evs))
	for i, ev := range evs {
		out[i] = ev.Seq
	}
	return out
}

// openRetaining opens a store in memory with a journal retention and a
// clock the test moves.
func openRetaining(t *testing.T, retention time.Duration) (*Badger, *testClock) {
	t.Helper()
	clock := newClock()
	s, err := Open(Options{InMemory: true, Now: clock.now, JournalRetention: retention})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, clock
}

// createDelivered creates n users and moves the delivery cursor past
// their creation.
func createDelivered(t *testing.T, s *Badger, n int) {
	t.Helper()
	for i := range n {
		mustCreate(t, s, tenant, schema.User, user(fmt.Sprint("u", i)))
	}
	if err := s.SaveDeliveryState(context.Background(), tenant, DeliveryState{Cursor: uint64(n)}); err != nil {
		t.Fatal(err)
	}
}

// appendEvents journals n user updates, 1,000 a transaction.
func appendEvents(t *testing.T, s *Badger, n int) {
	t.Helper()
	for i := 0; i < n; i += 1000 {
		if _, err := s.Append(context.Background(), tenant, nil, func(ctx context.Context) ([]change.Event, error) {
			evs := make([]change.Event, min(1000, n-i))
			for j := range evs {
				evs[j] = change.Event{Kind: change.UserUpdated, ResourceType: "User", ID: fmt.Sprint("u", j)}
			}
			return evs, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCompactJournal(t *testing.T) {
	const day = 24 * time.Hour
	tests := []struct {
		name string
		// cursor is the delivery cursor; 0 saves none.
		cursor uint64
		// young is how many of the 10 entries are written a day before
		// compaction instead of ten days before.
		young int
		keep  []uint64
	}{
		{name: "all delivered and old: the newest stays", cursor: 10, keep: []uint64{10}},
		{name: "undelivered entries stay", cursor: 6, keep: []uint64{7, 8, 9, 10}},
		{name: "nothing delivered", cursor: 0, keep: []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
		{name: "entries within retention stay", cursor: 10, young: 3, keep: []uint64{8, 9, 10}},
		{name: "the first kept entry ends the compaction", cursor: 5, young: 7, keep: []uint64{4, 5, 6, 7, 8, 9, 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, clock := openRetaining(t, 7*day)
			ctx := context.Background()
			for i := range 10 {
				if i == 10-tt.young {
					clock.add(9 * day)
				}
				mustCreate(t, s, tenant, schema.User, user(fmt.Sprint("u", i)))
			}
			if tt.young == 0 {
				clock.add(9 * day)
			}
			clock.add(day)
			if tt.cursor > 0 {
				if err := s.SaveDeliveryState(ctx, tenant, DeliveryState{Cursor: tt.cursor}); err != nil {
					t.Fatal(err)
				}
			}
			n, err := s.CompactJournal(ctx)
			if err != nil {
				t.Fatal(err)
			}
			got := journalSeqs(t, s)
			if fmt.Sprint(got) != fmt.Sprint(tt.keep) || n != 10-len(tt.keep) {
				t.Fatalf("kept %v after deleting %d, want %v", got, n, tt.keep)
			}
			// Delivery reads on from its cursor without a gap.
			evs, err := s.Journal(ctx, tenant, tt.cursor, 100)
			if err != nil || len(evs) != int(10-tt.cursor) {
				t.Fatalf("Journal after the cursor: %d events, %v", len(evs), err)
			}
			// A second compaction finds nothing more.
			if n, err := s.CompactJournal(ctx); n != 0 || err != nil {
				t.Fatalf("second compaction deleted %d, %v", n, err)
			}
		})
	}
}

// TestCompactJournalKeepsSequence: the sequence resumes after the kept
// newest entry when the store is opened again.
func TestCompactJournalKeepsSequence(t *testing.T) {
	dir := t.TempDir()
	clock := newClock()
	opts := Options{Dir: dir, NoSync: true, Now: clock.now, JournalRetention: time.Hour}
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	createDelivered(t, s, 5)
	clock.add(2 * time.Hour)
	if n, err := s.CompactJournal(ctx); n != 4 || err != nil {
		t.Fatalf("deleted %d, %v", n, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(opts); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mustCreate(t, s, tenant, schema.User, user("u5"))
	if got := journalSeqs(t, s); fmt.Sprint(got) != "[5 6]" {
		t.Fatalf("journal after reopening and one write: %v, want [5 6]", got)
	}
}

// TestCompactJournalAndDeadLetters: a dead-lettered entry is compacted
// like any delivered one, and its dead letter still replays.
func TestCompactJournalAndDeadLetters(t *testing.T) {
	s, clock := openRetaining(t, time.Hour)
	ctx := context.Background()
	for i := range 3 {
		mustCreate(t, s, tenant, schema.User, user(fmt.Sprint("u", i)))
	}
	evs, _ := s.Journal(ctx, tenant, 0, 10)
	dl := DeadLetter{Event: evs[1], Error: "refused", Attempts: 3, Time: clock.now()}
	if err := s.SaveDeadLetter(ctx, tenant, dl, DeliveryState{Cursor: 3}); err != nil {
		t.Fatal(err)
	}
	clock.add(2 * time.Hour)
	if n, err := s.CompactJournal(ctx); n != 2 || err != nil {
		t.Fatalf("deleted %d, %v", n, err)
	}
	out, err := s.Append(ctx, tenant, []uint64{2}, func(ctx context.Context) ([]change.Event, error) {
		return []change.Event{dl.Event}, nil
	})
	if err != nil || len(out) != 1 || out[0].Seq != 4 {
		t.Fatalf("replayed %+v, %v", out, err)
	}
	if got := journalSeqs(t, s); fmt.Sprint(got) != "[3 4]" {
		t.Fatalf("journal after the replay: %v", got)
	}
}

// TestCompactJournalBatches: a journal longer than one compaction
// transaction is deleted in several, and a tenant's purge between
// compactions leaves the new journal alone.
func TestCompactJournalBatches(t *testing.T) {
	s, clock := openRetaining(t, time.Hour)
	ctx := context.Background()
	total := 2*compactBatch + 10
	appendEvents(t, s, total)
	if err := s.SaveDeliveryState(ctx, tenant, DeliveryState{Cursor: uint64(total)}); err != nil {
		t.Fatal(err)
	}
	clock.add(2 * time.Hour)
	if n, err := s.CompactJournal(ctx); n != total-1 || err != nil {
		t.Fatalf("deleted %d of %d, %v", n, total, err)
	}
	if err := s.PurgeTenant(ctx, tenant); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, tenant, schema.User, user("after-purge"))
	clock.add(2 * time.Hour)
	if n, err := s.CompactJournal(ctx); n != 0 || err != nil {
		t.Fatalf("compaction after the purge deleted %d, %v", n, err)
	}
	if got := journalSeqs(t, s); !slices.Equal(got, []uint64{uint64(total) + 1}) {
		t.Fatalf("journal after the purge: %v; want the one entry after the purged tenant's last, %d", got, total+1)
	}
}

// TestReclaimAfterCompaction: on disk, once a compaction has deleted
// most of the store, Reclaim frees the space: the tables shrink to a
// fraction, where without the compaction they keep every entry. Closing
// the store first moves every deletion marker from memory into a table,
// as a memtable that fills up does in a store that is being written to.
func TestReclaimAfterCompaction(t *testing.T) {
	clock := newClock()
	opts := Options{Dir: t.TempDir(), NoSync: true, Now: clock.now, JournalRetention: time.Hour, MemTableSize: 8 << 20}
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	ctx := context.Background()
	const entries = 50_000
	appendEvents(t, s, entries)
	if err := s.SaveDeliveryState(ctx, tenant, DeliveryState{Cursor: entries}); err != nil {
		t.Fatal(err)
	}
	reopen := func() {
		t.Helper()
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if s, err = Open(opts); err != nil {
			t.Fatal(err)
		}
	}
	reopen()
	if err := s.Reclaim(); err != nil {
		t.Fatal(err)
	}
	before := s.DiskUsage().Tables
	clock.add(2 * time.Hour)
	if n, err := s.CompactJournal(ctx); n != entries-1 || err != nil {
		t.Fatalf("deleted %d, %v", n, err)
	}
	reopen()
	if err := s.Reclaim(); err != nil {
		t.Fatal(err)
	}
	after := s.DiskUsage().Tables
	if got := journalSeqs(t, s); len(got) != 1 {
		t.Fatalf("journal keeps %d entries, want 1", len(got))
	}
	if after > before/4 {
		t.Fatalf("tables %d bytes after compaction, %d before: not reclaimed", after, before)
	}
	t.Logf("tables: %d bytes before, %d after", before, after)
}

// TestMaintenanceLoopCompacts: an on-disk store compacts its journal on
// its own, every MaintenanceInterval.
func TestMaintenanceLoopCompacts(t *testing.T) {
	clock := newClock()
	s, err := Open(Options{Dir: t.TempDir(), NoSync: true, Now: clock.now, JournalRetention: time.Hour,
		MaintenanceInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	createDelivered(t, s, 5)
	clock.add(2 * time.Hour)
	deadline := time.Now().Add(5 * time.Second)
	for len(journalSeqs(t, s)) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("journal %v after 5s", journalSeqs(t, s))
		}
		time.Sleep(10 * time.Millisecond)
	}
}
