package delivery

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/adapter/change"
	"github.com/caddy-scim/caddy-scim/adapter/patch"
	"github.com/caddy-scim/caddy-scim/adapter/schema"
	"github.com/caddy-scim/caddy-scim/adapter/store"
)

const tenant = "acme"

// invalidError is the fake backend's "can never be applied" error.
type invalidError struct{ msg string }

func (e invalidError) Error() string { return e.msg }

func isInvalid(err error) bool {
	var e invalidError
	return errors.As(err, &e)
}

var errUnavailable = errors.New("backend unavailable")

// backend is a fake Target that behaves like a real backend: it remembers
// the last sequence it applied and skips events at or below it.
type backend struct {
	mu      sync.Mutex
	last    uint64
	applied []change.Event
	batches [][]uint64
	resent  int
	// fault, when set, is asked before each event is applied; an error
	// stops the batch there and is returned.
	fault func(call int, ev change.Event) error
	// answer, when set, replaces the backend's answer after the batch:
	// before and after are its last applied sequence before and after it.
	answer func(call int, before, after uint64) (uint64, error)
}

func (b *backend) Apply(ctx context.Context, events []change.Event) (uint64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	call := len(b.batches)
	seqs := make([]uint64, len(events))
	for i, ev := range events {
		seqs[i] = ev.Seq
	}
	b.batches = append(b.batches, seqs)
	before := b.last
	for _, ev := range events {
		if ev.Seq <= b.last {
			b.resent++
			continue
		}
		if b.fault != nil {
			if err := b.fault(call, ev); err != nil {
				return b.last, err
			}
		}
		b.last = ev.Seq
		b.applied = append(b.applied, ev)
	}
	if b.answer != nil {
		return b.answer(call, before, b.last)
	}
	return b.last, nil
}

func (b *backend) lastSeq() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.last
}

func (b *backend) snapshot() (applied []change.Event, batches [][]uint64, resent int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]change.Event(nil), b.applied...), append([][]uint64(nil), b.batches...), b.resent
}

func openMem(t testing.TB) *store.Badger {
	t.Helper()
	s, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// fast are options for tests: short backoffs and polls.
func fast() Options {
	return Options{MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, PollInterval: 10 * time.Millisecond, IsInvalid: isInvalid}
}

func start(t testing.TB, s Store, opts Options) *Deliverer {
	t.Helper()
	d := New(s, opts)
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Stop)
	return d
}

func createUser(t testing.TB, s store.Store, tn, name string, extra ...any) string {
	t.Helper()
	data := map[string]any{"userName": name}
	for i := 0; i+1 < len(extra); i += 2 {
		data[extra[i].(string)] = extra[i+1]
	}
	res, err := s.Create(context.Background(), tn, schema.User, data, nil)
	if err != nil {
		t.Fatalf("creating user %s: %v", name, err)
	}
	return res.Resource["id"].(string)
}

func createUsers(t testing.TB, s store.Store, tn, prefix string, n int) {
	t.Helper()
	for i := range n {
		createUser(t, s, tn, fmt.Sprintf("%s%d", prefix, i))
	}
}

func update(t testing.TB, s store.Store, tn string, rt *schema.ResourceType, id string, fn store.UpdateFunc) {
	t.Helper()
	if _, err := s.Update(context.Background(), tn, rt, id, fn); err != nil {
		t.Fatalf("updating %s: %v", id, err)
	}
}

func set(attr string, v any) store.UpdateFunc {
	return func(cur map[string]any, _ patch.Members) (map[string]any, *patch.MemberDelta, error) {
		cur[attr] = v
		return cur, nil, nil
	}
}

func members(d patch.MemberDelta) store.UpdateFunc {
	return func(cur map[string]any, _ patch.Members) (map[string]any, *patch.MemberDelta, error) {
		return cur, &d, nil
	}
}

func journal(t testing.TB, s store.Store, tn string) []change.Event {
	t.Helper()
	evs, err := s.Journal(context.Background(), tn, 0, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func lastSeq(t testing.TB, s Store, tn string) uint64 {
	t.Helper()
	n, err := s.LastSeq(context.Background(), tn)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func status(t testing.TB, d *Deliverer, tn string) Status {
	t.Helper()
	st, err := d.Status(context.Background(), tn)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(time.Millisecond)
	}
}

// sameEvents fails unless got is exactly want, event for event.
func sameEvents(t *testing.T, got, want []change.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("backend applied %d events, journal has %d", len(got), len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Fatalf("event %d: backend applied\n%+v\njournal has\n%+v", i, got[i], want[i])
		}
	}
}
