package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/caddy-scim/caddy-scim/adapter/change"
	"github.com/caddy-scim/caddy-scim/adapter/schema"
	"github.com/caddy-scim/caddy-scim/adapter/store/postgres/pgtest"
)

// instances returns a migrated database and n Committers on it, each
// with a pool of its own, as n Caddy instances would have.
func instances(t *testing.T, n int) (*pgx.Conn, []*Committer) {
	t.Helper()
	ctx := context.Background()
	dsn := pgtest.Shared(t).CreateDatabase(t, "commit")
	conn := pgtest.Connect(t, dsn)
	if _, err := Migrate(ctx, conn); err != nil {
		t.Fatal(err)
	}
	var cs []*Committer
	for i := 0; i < n; i++ {
		pool, err := pgxpool.New(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		cs = append(cs, NewCommitter(pool, nil))
	}
	return conn, cs
}

var errRefused = errors.New("refused")

// event writes a journal event naming id; when fail is set it then
// refuses, so the event must not survive.
func event(id string, fail bool) func(ctx context.Context, tx *Tx) error {
	return func(ctx context.Context, tx *Tx) error {
		if _, err := tx.Emit(ctx, func(seq uint64) ([]byte, error) {
			return []byte(fmt.Sprintf(`{"id":%q,"seq":%d}`, id, seq)), nil
		}); err != nil {
			return err
		}
		tx.CountUsers(1)
		if fail {
			return errRefused
		}
		return nil
	}
}

// journal reads a tenant's journal: sequence → event id.
func journal(t *testing.T, conn *pgx.Conn, tenant string) map[int64]string {
	t.Helper()
	rows, err := conn.Query(context.Background(), `SELECT seq, event::json->>'id' FROM scim_journal WHERE tenant = $1 ORDER BY seq`, tenant)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int64]string{}
	var seq int64
	var id string
	if _, err := pgx.ForEachRow(rows, []any{&seq, &id}, func() error { out[seq] = id; return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestWritesOfOneTenantFromSeveralInstances: three instances, eight
// writers each, write one tenant at once; a tenth of the writes journal
// an event and then fail. The journal holds exactly the successful
// writes' events, numbered 1…n without a gap, each under the sequence its
// write was given, and the tenant's row agrees.
func TestWritesOfOneTenantFromSeveralInstances(t *testing.T) {
	conn, cs := instances(t, 3)
	const writers, each = 8, 25
	var mu sync.Mutex
	ok := map[string]bool{}
	var wg sync.WaitGroup
	for i, c := range cs {
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go func(i, w int, c *Committer) {
				defer wg.Done()
				for k := 0; k < each; k++ {
					id := fmt.Sprintf("i%d-w%d-%d", i, w, k)
					fail := k%10 == 3
					err := c.Write(context.Background(), "acme", event(id, fail))
					switch {
					case fail && !errors.Is(err, errRefused):
						t.Errorf("%s: refused write returned %v", id, err)
					case !fail && err != nil:
						t.Errorf("%s: %v", id, err)
					case !fail:
						mu.Lock()
						ok[id] = true
						mu.Unlock()
					}
				}
			}(i, w, c)
		}
	}
	wg.Wait()
	got := journal(t, conn, "acme")
	if len(got) != len(ok) {
		t.Fatalf("%d journal events for %d successful writes", len(got), len(ok))
	}
	for seq := int64(1); seq <= int64(len(ok)); seq++ {
		id, present := got[seq]
		if !present {
			t.Fatalf("sequence %d missing: the journal has a gap", seq)
		}
		if !ok[id] {
			t.Fatalf("sequence %d holds %q, which is not a successful write", seq, id)
		}
	}
	var seq, users int64
	if err := conn.QueryRow(context.Background(), `SELECT seq, user_count FROM scim_tenant_state WHERE tenant = 'acme'`).Scan(&seq, &users); err != nil {
		t.Fatal(err)
	}
	if seq != int64(len(ok)) || users != int64(len(ok)) {
		t.Fatalf("tenant row: seq %d, users %d; want %d", seq, users, len(ok))
	}
	var commits, writes uint64
	for _, c := range cs {
		cm, wr := c.Stats("acme")
		commits, writes = commits+cm, writes+wr
	}
	t.Logf("%d writes in %d transactions", writes, commits)
	if commits >= writes {
		t.Errorf("%d transactions for %d writes: queued writes never shared one", commits, writes)
	}
}

// TestQueuedWritesShareOneTransaction: writes queued behind a busy
// tenant commit together in one transaction, the refused ones rolled back
// alone.
func TestQueuedWritesShareOneTransaction(t *testing.T) {
	conn, cs := instances(t, 1)
	c := cs[0]
	q := c.queue("acme").q
	if err := q.Lock(context.Background()); err != nil {
		t.Fatal(err)
	}
	const n = 20
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs[i] = c.Write(context.Background(), "acme", event(fmt.Sprint("w", i), i%4 == 0))
		}(i)
	}
	deadline := time.Now().Add(5 * time.Second)
	for q.Len() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d writes queued", q.Len())
		}
		time.Sleep(time.Millisecond)
	}
	q.Unlock()
	wg.Wait()
	for i, err := range errs {
		if (i%4 == 0) != errors.Is(err, errRefused) || (i%4 != 0 && err != nil) {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	if commits, writes := c.Stats("acme"); commits != 1 || writes != n-n/4 {
		t.Fatalf("%d transactions for %d writes, want 1 for %d", commits, writes, n-n/4)
	}
	if got := journal(t, conn, "acme"); len(got) != n-n/4 {
		t.Fatalf("%d events, want %d", len(got), n-n/4)
	}
}

// TestTenantsHaveSeparateSequences: each tenant's journal counts from 1.
func TestTenantsHaveSeparateSequences(t *testing.T) {
	conn, cs := instances(t, 2)
	var wg sync.WaitGroup
	for i, tn := range []string{"acme", "contoso"} {
		for _, c := range cs {
			wg.Add(1)
			go func(i int, tn string, c *Committer) {
				defer wg.Done()
				for k := 0; k < 20; k++ {
					if err := c.Write(context.Background(), tn, event(fmt.Sprint(tn, k), false)); err != nil {
						t.Error(err)
					}
				}
			}(i, tn, c)
		}
	}
	wg.Wait()
	for _, tn := range []string{"acme", "contoso"} {
		got := journal(t, conn, tn)
		for seq := int64(1); seq <= 40; seq++ {
			if _, ok := got[seq]; !ok {
				t.Fatalf("%s: sequence %d missing (%d events)", tn, seq, len(got))
			}
		}
	}
}

// TestWithdrawnWriteWritesNothing: a caller that gives up while its write
// is queued gets its context's error and nothing is written.
func TestWithdrawnWriteWritesNothing(t *testing.T) {
	conn, cs := instances(t, 1)
	c := cs[0]
	q := c.queue("acme").q
	if err := q.Lock(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Write(ctx, "acme", event("gone", false)) }()
	for q.Len() != 1 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("withdrawn write returned %v", err)
	}
	q.Unlock()
	if err := c.Write(context.Background(), "acme", event("kept", false)); err != nil {
		t.Fatal(err)
	}
	if got := journal(t, conn, "acme"); len(got) != 1 || got[1] != "kept" {
		t.Fatalf("journal %v", got)
	}
}

// TestCommittedWritesNotifyChanges: every transaction that journals
// events of a tenant names it once on ChangesChannel when it commits, so
// that a listening instance learns of them; a refused write and a write
// that journals nothing notify nobody.
func TestCommittedWritesNotifyChanges(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, nil)
	var got received
	// Another instance listens: a connection of its own to the database.
	n, err := StartNotifier(ctx, NotifierOptions{DSN: s.opts.DSN, Channels: []string{ChangesChannel}, Handle: got.handle})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	notes := func() []string {
		got.mu.Lock()
		defer got.mu.Unlock()
		return slices.Clone(got.notes)
	}
	create := func(tenant, name string) error {
		_, err := s.Create(ctx, tenant, schema.User, map[string]any{"userName": name}, nil)
		return err
	}

	if err := create("acme", "alice"); err != nil {
		t.Fatal(err)
	}
	got.wait(t, "the notification of a create", func() bool { return len(got.notes) == 1 })
	if ns := notes(); ns[0] != ChangesChannel+":acme" {
		t.Fatalf("notification %q", ns[0])
	}
	// Refused (409), and journaling nothing: no notification. The next
	// write's notification arrives after any they could have sent.
	if err := create("acme", "alice"); err == nil {
		t.Fatal("a second alice was created")
	}
	if err := s.write.Write(ctx, "acme", func(ctx context.Context, tx *Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if err := create("contoso", "bob"); err != nil {
		t.Fatal(err)
	}
	got.wait(t, "the notification of the next create", func() bool { return has(got.notes, ChangesChannel+":contoso") })
	if ns := notes(); len(ns) != 2 {
		t.Fatalf("%d notifications, want 2: %v", len(ns), ns)
	}

	// A replay (Append, a transaction of its own) notifies too.
	build := func(ctx context.Context) ([]change.Event, error) {
		return []change.Event{{Kind: change.UserUpdated, ResourceType: "User", ID: "u1"}}, nil
	}
	if _, err := s.Append(ctx, "acme", nil, build); err != nil {
		t.Fatal(err)
	}
	got.wait(t, "the notification of an append", func() bool { return len(got.notes) == 3 })

	// Writes queued up behind one another commit in one transaction and
	// notify once.
	q := s.write.queue("acme").q
	if err := q.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.write.Write(ctx, "acme", event(fmt.Sprint("q", i), false)); err != nil {
				t.Error(err)
			}
		}()
	}
	for q.Len() != 3 {
		time.Sleep(time.Millisecond)
	}
	q.Unlock()
	wg.Wait()
	if err := create("contoso", "carol"); err != nil {
		t.Fatal(err)
	}
	got.wait(t, "the notification after the batch", func() bool { return len(got.notes) >= 5 })
	time.Sleep(100 * time.Millisecond)
	if ns := notes(); len(ns) != 5 {
		t.Fatalf("%d notifications, want 5 (one for the batch of three): %v", len(ns), ns)
	}
}
