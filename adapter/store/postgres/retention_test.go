package postgres

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/adapter/schema"
	"github.com/caddy-scim/caddy-scim/adapter/store"
	"github.com/caddy-scim/caddy-scim/adapter/store/postgres/pgtest"
)

// journalSeqs returns the sequences a tenant's journal keeps.
func journalSeqs(t *testing.T, s *Store, tenant string) []uint64 {
	t.Helper()
	evs, err := s.Journal(context.Background(), tenant, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []uint64
	for _, ev := range evs {
		out = append(out, ev.Seq)
	}
	return out
}

func createUsers(t *testing.T, s *Store, tenant string, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if _, err := s.Create(context.Background(), tenant, schema.User, map[string]any{"userName": fmt.Sprintf("u%d-%d", i, time.Now().UnixNano())}, nil); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCompactJournal: delivered entries older than the retention go, as a
// prefix of the journal; undelivered ones, recent ones, the newest one and
// every entry of a tenant without a backend stay.
func TestCompactJournal(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Shared(t).CreateDatabase(t, "retention")
	s, err := Open(ctx, Options{DSN: dsn, MaintenanceInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	createUsers(t, s, "acme", 10)
	createUsers(t, s, "nobackend", 3)
	db := pgtest.Connect(t, dsn)
	age := func(tenant string, from, to int, d time.Duration) {
		t.Helper()
		if _, err := db.Exec(ctx, `UPDATE scim_journal SET at = now() - $4::interval WHERE tenant = $1 AND seq BETWEEN $2 AND $3`,
			tenant, from, to, fmt.Sprintf("%d seconds", int(d.Seconds()))); err != nil {
			t.Fatal(err)
		}
	}
	week := 7 * 24 * time.Hour
	age("acme", 1, 8, 10*24*time.Hour)
	age("nobackend", 1, 3, 10*24*time.Hour)
	if err := s.SaveDeliveryState(ctx, "acme", store.DeliveryState{Cursor: 6}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		cursor  uint64
		deleted int64
		kept    []uint64
	}{
		{6, 6, []uint64{7, 8, 9, 10}}, // the cursor bounds it
		{10, 2, []uint64{9, 10}},      // then the retention: 9 and 10 are recent
		{10, 0, []uint64{9, 10}},      // nothing more
	} {
		if err := s.SaveDeliveryState(ctx, "acme", store.DeliveryState{Cursor: c.cursor}); err != nil {
			t.Fatal(err)
		}
		n, err := s.CompactJournal(ctx, week)
		if err != nil || n != c.deleted {
			t.Fatalf("cursor %d: deleted %d, %v; want %d", c.cursor, n, err, c.deleted)
		}
		if got := journalSeqs(t, s, "acme"); fmt.Sprint(got) != fmt.Sprint(c.kept) {
			t.Fatalf("cursor %d: kept %v, want %v", c.cursor, got, c.kept)
		}
	}
	// Everything old and delivered: the newest entry stays all the same.
	age("acme", 9, 10, 10*24*time.Hour)
	if n, err := s.CompactJournal(ctx, week); err != nil || n != 1 {
		t.Fatalf("deleted %d, %v; want 1", n, err)
	}
	if got := journalSeqs(t, s, "acme"); fmt.Sprint(got) != "[10]" {
		t.Fatalf("kept %v, want the newest entry", got)
	}
	if got := journalSeqs(t, s, "nobackend"); len(got) != 3 {
		t.Fatalf("a tenant without a backend lost its journal: %v", got)
	}
	// Sequences go on from the newest entry.
	createUsers(t, s, "acme", 1)
	if got := journalSeqs(t, s, "acme"); fmt.Sprint(got) != "[10 11]" {
		t.Fatalf("after a new write: %v", got)
	}
}

// TestCompactJournalStopsAtARecentEntry: an entry another instance's clock
// stamped recent keeps every entry after it, so the journal stays one
// unbroken run.
func TestCompactJournalStopsAtARecentEntry(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Shared(t).CreateDatabase(t, "retention_skew")
	s, err := Open(ctx, Options{DSN: dsn, MaintenanceInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	createUsers(t, s, "acme", 6)
	db := pgtest.Connect(t, dsn)
	if _, err := db.Exec(ctx, `UPDATE scim_journal SET at = now() - interval '30 days' WHERE tenant = 'acme' AND seq <> 3`); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveDeliveryState(ctx, "acme", store.DeliveryState{Cursor: 6}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.CompactJournal(ctx, 7*24*time.Hour); err != nil || n != 2 {
		t.Fatalf("deleted %d, %v; want 2", n, err)
	}
	if got := journalSeqs(t, s, "acme"); fmt.Sprint(got) != "[3 4 5 6]" {
		t.Fatalf("kept %v", got)
	}
}

// TestMaintenanceCompactsOnOneInstance: the maintenance loop compacts on
// its interval, and Close stops it.
func TestMaintenanceCompactsOnOneInstance(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Shared(t).CreateDatabase(t, "maintenance")
	s, err := Open(ctx, Options{DSN: dsn, MaintenanceInterval: 50 * time.Millisecond, JournalRetention: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	createUsers(t, s, "acme", 4)
	db := pgtest.Connect(t, dsn)
	if _, err := db.Exec(ctx, `UPDATE scim_journal SET at = now() - interval '2 hours'`); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveDeliveryState(ctx, "acme", store.DeliveryState{Cursor: 4}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for fmt.Sprint(journalSeqs(t, s, "acme")) != "[4]" {
		if time.Now().After(deadline) {
			t.Fatalf("the maintenance loop never compacted: %v", journalSeqs(t, s, "acme"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	done := make(chan struct{})
	go func() { s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not stop the maintenance loop")
	}
}

// TestStatisticsRefreshedAsTheStoreGrows: after the store's first 1,000
// resources it refreshes the planner's statistics itself, without waiting
// for autovacuum.
func TestStatisticsRefreshedAsTheStoreGrows(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Shared(t).CreateDatabase(t, "analyze")
	s, err := Open(ctx, Options{DSN: dsn, MaintenanceInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	db := pgtest.Connect(t, dsn)
	analyzed := func() bool {
		var n int
		if err := db.QueryRow(ctx, `SELECT count(*) FROM pg_stat_user_tables WHERE relname = 'scim_resources' AND last_analyze IS NOT NULL`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 1
	}
	createUsers(t, s, "acme", firstAnalyze-1)
	time.Sleep(200 * time.Millisecond)
	if analyzed() {
		t.Fatal("analyzed before the threshold")
	}
	createUsers(t, s, "acme", 1)
	deadline := time.Now().Add(10 * time.Second)
	for !analyzed() {
		if time.Now().After(deadline) {
			t.Fatal("the statistics were never refreshed")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
