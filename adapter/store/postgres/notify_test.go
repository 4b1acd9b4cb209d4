package postgres

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/adapter/store/postgres/pgtest"
)

// received collects a notifier's notifications and OnListen calls.
type received struct {
	mu      sync.Mutex
	notes   []string
	listens int
}

func (r *received) handle(channel, payload string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.notes = append(r.notes, channel+":"+payload)
}

func (r *received) listened() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.listens++
}

func (r *received) wait(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r.mu.Lock()
		done := ok()
		r.mu.Unlock()
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: never happened (notes %v, listens %d)", what, r.notes, r.listens)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func has(notes []string, want string) bool {
	for _, n := range notes {
		if n == want {
			return true
		}
	}
	return false
}

// TestNotifierCarriesNotificationsBetweenInstances: what one instance
// sends on a channel reaches another listening on it, not one listening
// elsewhere; after its connection is cut the listener reconnects, calls
// OnListen (to re-read what it may have missed) and receives again.
func TestNotifierCarriesNotificationsBetweenInstances(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Shared(t).CreateDatabase(t, "notify")
	var b, other received
	nb, err := StartNotifier(ctx, NotifierOptions{DSN: dsn, Channels: []string{"scim_tokens", "scim_tenants"},
		Handle: b.handle, OnListen: b.listened, Retry: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer nb.Close()
	no, err := StartNotifier(ctx, NotifierOptions{DSN: dsn, Channels: []string{"scim_changes"}, Handle: other.handle})
	if err != nil {
		t.Fatal(err)
	}
	defer no.Close()
	b.mu.Lock()
	first := b.listens
	b.mu.Unlock()
	if first != 1 {
		t.Fatalf("OnListen called %d times at start", first)
	}
	a := pgtest.Connect(t, dsn)
	if err := Notify(ctx, a, "scim_tokens", "acme"); err != nil {
		t.Fatal(err)
	}
	if err := Notify(ctx, a, "scim_tenants", "contoso"); err != nil {
		t.Fatal(err)
	}
	b.wait(t, "both notifications", func() bool { return has(b.notes, "scim_tokens:acme") && has(b.notes, "scim_tenants:contoso") })
	time.Sleep(100 * time.Millisecond)
	other.mu.Lock()
	if len(other.notes) != 0 {
		t.Fatalf("a listener on another channel got %v", other.notes)
	}
	other.mu.Unlock()

	// Cut every other connection to the database, the listeners' included.
	if _, err := a.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`); err != nil {
		t.Fatal(err)
	}
	b.wait(t, "reconnecting and OnListen", func() bool { return b.listens >= 2 })
	if err := Notify(ctx, a, "scim_tokens", "after"); err != nil {
		t.Fatal(err)
	}
	b.wait(t, "a notification after the reconnect", func() bool { return has(b.notes, "scim_tokens:after") })
}

// TestNotifyInATransactionWaitsForCommit: a notification sent inside a
// transaction reaches listeners only if it commits.
func TestNotifyInATransactionWaitsForCommit(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Shared(t).CreateDatabase(t, "notify_tx")
	var r received
	n, err := StartNotifier(ctx, NotifierOptions{DSN: dsn, Channels: []string{"scim_changes"}, Handle: r.handle})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	a := pgtest.Connect(t, dsn)
	tx, err := a.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := Notify(ctx, tx, "scim_changes", "rolled-back"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	tx, err = a.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := Notify(ctx, tx, "scim_changes", "committed"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	r.mu.Lock()
	early := len(r.notes)
	r.mu.Unlock()
	if early != 0 {
		t.Fatal("a notification arrived before its transaction committed")
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	r.wait(t, "the committed notification", func() bool { return has(r.notes, "scim_changes:committed") })
	if has(r.notes, "scim_changes:rolled-back") {
		t.Fatal("a rolled-back notification arrived")
	}
}

func TestNotifierRefusesBadChannels(t *testing.T) {
	for _, c := range []string{"", "x;DROP TABLE scim_meta", `a"b`, "é"} {
		if _, err := StartNotifier(context.Background(), NotifierOptions{DSN: "postgres://unused", Channels: []string{c}, Handle: func(string, string) {}}); err == nil {
			t.Errorf("channel %q accepted", c)
		}
		if err := Notify(context.Background(), nil, c, "x"); err == nil {
			t.Errorf("Notify on channel %q accepted", c)
		}
	}
}
