package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-scim/caddy-scim/adapter/requestlog"
	"github.com/caddy-scim/caddy-scim/adapter/store/postgres/pgtest"
)

// failingOnce makes the next AppendRequests fail, as when the database
// is briefly unreachable.
type failingOnce struct {
	*Store
	fail atomic.Bool
}

func (f *failingOnce) AppendRequests(ctx context.Context, rows []requestlog.Row, keep int) error {
	if f.fail.Swap(false) {
		return errors.New("connection refused")
	}
	return f.Store.AppendRequests(ctx, rows, keep)
}

func operations(t *testing.T, l *requestlog.Log, tenant string) []string {
	t.Helper()
	es, err := l.Recent(context.Background(), tenant)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Operation)
	}
	return out
}

func storedRequests(t *testing.T, s *Store, tenant string) int {
	t.Helper()
	var n int
	if err := s.pool.QueryRow(context.Background(), `SELECT count(*) FROM scim_requests WHERE tenant = $1`, tenant).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestRequestLogSharedByInstances: two instances' request logs on one
// database each list both instances' requests, newest first, the ones not
// appended yet included; the table keeps each tenant's newest rows only;
// rows an append could not write are written by the next; Close appends
// what is left; purging the tenant drops its rows.
func TestRequestLogSharedByInstances(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Shared(t).CreateDatabase(t, "requests")
	open := func(name string) *Store {
		s, err := Open(ctx, Options{DSN: dsn, Instance: name})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	sa, sb := open("a"), open("b")
	flaky := &failingOnce{Store: sa}
	var a, b requestlog.Log
	// Appends happen when the test says, not on a timer.
	a.Share(flaky, "a", time.Hour, zap.NewNop())
	b.Share(sb, "b", time.Hour, zap.NewNop())
	t.Cleanup(func() { a.Close(ctx); b.Close(ctx) })

	base := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	at := func(i int) time.Time { return base.Add(time.Duration(i) * time.Second) }
	for i := range 30 {
		a.Record("acme", requestlog.Entry{Time: at(i), Operation: fmt.Sprint("a", i), Status: 200, ClientIP: "192.0.2.1", Duration: time.Millisecond})
	}
	b.Record("acme", requestlog.Entry{Time: at(30), Operation: "b30", Status: 401, Reason: "unknown_token"})
	b.Record("globex", requestlog.Entry{Time: at(0), Operation: "b-globex", Status: 200})

	// Before any append each lists only its own.
	if got := operations(t, &b, "acme"); len(got) != 1 || got[0] != "b30" {
		t.Fatalf("b before appends: %v", got)
	}
	// An append that fails keeps the rows for the next one.
	flaky.fail.Store(true)
	if err := a.Flush(ctx); err == nil {
		t.Fatal("a failed append reported nothing")
	}
	if n := storedRequests(t, sa, "acme"); n != 0 {
		t.Fatalf("%d rows after a failed append", n)
	}
	if got := operations(t, &a, "acme"); len(got) != requestlog.Size || got[0] != "a29" {
		t.Fatalf("a lists %v after a failed append", got)
	}
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := storedRequests(t, sa, "acme"); n != requestlog.Size {
		t.Fatalf("%d rows of acme stored, want the newest %d", n, requestlog.Size)
	}
	got := operations(t, &b, "acme")
	if len(got) != requestlog.Size || got[0] != "b30" || got[1] != "a29" || got[requestlog.Size-1] != "a6" {
		t.Fatalf("b lists %v; want b30, then a29 down to a6", got)
	}
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if n := storedRequests(t, sa, "acme"); n != requestlog.Size {
		t.Fatalf("%d rows of acme after b's append, want %d", n, requestlog.Size)
	}
	// a reads b's row from the table now, with all it said.
	es, err := a.Recent(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if e := es[0]; e.Operation != "b30" || e.Status != 401 || e.Reason != "unknown_token" || !e.Time.Equal(at(30)) {
		t.Fatalf("a reads b's request as %+v", e)
	}
	if e := es[1]; e.Operation != "a29" || e.ClientIP != "192.0.2.1" || e.Duration != time.Millisecond {
		t.Fatalf("a's own request reads back as %+v", e)
	}
	if got := operations(t, &a, "globex"); len(got) != 1 || got[0] != "b-globex" {
		t.Fatalf("globex: %v", got)
	}

	if err := sa.PurgeTenant(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	a.Forget("acme")
	if got := operations(t, &a, "acme"); len(got) != 0 {
		t.Fatalf("a purged tenant lists %v", got)
	}
	if n := storedRequests(t, sa, "globex"); n != 1 {
		t.Fatalf("purging acme left %d rows of globex", n)
	}
}
