package delivery

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddy-scim/caddy-scim/adapter/change"
	"github.com/caddy-scim/caddy-scim/adapter/store"
)

// fakeLease is a Lease shared with another process that the test plays:
// while busy, that process holds every tenant's lease.
type fakeLease struct {
	mu       sync.Mutex
	busy     bool
	held     map[string]bool
	acquires map[string]int
	releases map[string]int
}

func newFakeLease() *fakeLease {
	return &fakeLease{held: map[string]bool{}, acquires: map[string]int{}, releases: map[string]int{}}
}

func (l *fakeLease) AcquireDelivery(_ context.Context, tenant string) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.acquires[tenant]++
	l.held[tenant] = !l.busy
	return !l.busy, nil
}

func (l *fakeLease) ReleaseDelivery(_ context.Context, tenant string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.releases[tenant]++
	delete(l.held, tenant)
	return nil
}

// setBusy hands every lease to the other process, or takes it back.
func (l *fakeLease) setBusy(busy bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.busy = busy
	if busy {
		clear(l.held)
	}
}

// counts returns how often tenant's lease was acquired and released, and
// whether this process holds it.
func (l *fakeLease) counts(tenant string) (acquires, releases int, held bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.acquires[tenant], l.releases[tenant], l.held[tenant]
}

func leased(l Lease, renew time.Duration) Options {
	opts := fast()
	opts.PollInterval = 0
	opts.Lease, opts.LeaseRenew = l, renew
	return opts
}

func batchCount(be *backend) int {
	_, batches, _ := be.snapshot()
	return len(batches)
}

// TestNoDeliveryWithoutTheLease: while another process holds the lease
// nothing is applied and the lease is asked for again and again. Taken
// over in the middle of the journal, the worker stops; when it gets the
// lease back it resumes from the cursor the other process stored, not
// from the one it had in memory.
func TestNoDeliveryWithoutTheLease(t *testing.T) {
	s := openMem(t)
	createUsers(t, s, tenant, "u", 30)
	l := newFakeLease()
	l.setBusy(true)
	opts := leased(l, 5*time.Millisecond)
	opts.BatchSize = 10
	be := &backend{fault: func(call int, ev change.Event) error {
		if call == 0 && ev.Seq == 10 {
			// The other process takes the lease over while the
			// first batch is applied.
			l.setBusy(true)
			time.Sleep(2 * opts.LeaseRenew)
		}
		return nil
	}}
	d := start(t, s, opts)
	d.SetTarget(tenant, be)

	waitFor(t, 2*time.Second, "the lease to be asked for repeatedly", func() bool { n, _, _ := l.counts(tenant); return n >= 5 })
	if n := batchCount(be); n != 0 {
		t.Fatalf("%d batches applied without the lease", n)
	}
	if parked(d, tenant) {
		t.Fatal("the tenant parked with events waiting for the lease")
	}

	l.setBusy(false)
	waitFor(t, 2*time.Second, "the first batch", func() bool { return be.lastSeq() == 10 })
	asked, _, _ := l.counts(tenant)
	waitFor(t, 2*time.Second, "the lease to be asked for again", func() bool { n, _, _ := l.counts(tenant); return n >= asked+5 })
	if n := batchCount(be); n != 1 {
		t.Fatalf("%d batches applied, want 1: delivery went on after the lease was taken over", n)
	}
	if status(t, d, tenant).LeaseHeld {
		t.Fatal("status says the lease is held after it was taken over")
	}

	// The other process delivers through 20, then gives the lease up.
	if err := s.SaveDeliveryState(context.Background(), tenant, store.DeliveryState{Cursor: 20}); err != nil {
		t.Fatal(err)
	}
	l.setBusy(false)
	waitFor(t, 2*time.Second, "the rest of the journal", func() bool { return be.lastSeq() == 30 })
	if _, batches, _ := be.snapshot(); batches[1][0] != 21 {
		t.Fatalf("resumed at %d, want 21 after the cursor the other process stored (batches %v)", batches[1][0], batches)
	}
}

// TestWaitingForTheLeaseEndsWhenTheJournalIsDelivered: a tenant whose
// lease another process holds parks once that process has delivered
// everything, and a tenant with nothing to deliver never asks for the
// lease at all.
func TestWaitingForTheLeaseEndsWhenTheJournalIsDelivered(t *testing.T) {
	s := openMem(t)
	createUsers(t, s, tenant, "u", 5)
	l := newFakeLease()
	l.setBusy(true)
	d := start(t, s, leased(l, 5*time.Millisecond))
	d.SetTarget(tenant, &backend{})
	d.SetTarget("idle", &backend{})
	waitFor(t, 2*time.Second, "the lease to be asked for", func() bool { n, _, _ := l.counts(tenant); return n >= 3 })
	if err := s.SaveDeliveryState(context.Background(), tenant, store.DeliveryState{Cursor: 5}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, "the tenant to park", func() bool { return parked(d, tenant) })
	waitFor(t, 2*time.Second, "the idle tenant to park", func() bool { return parked(d, "idle") })
	if n, _, _ := l.counts("idle"); n != 0 {
		t.Fatalf("a tenant with nothing to deliver asked for the lease %d times", n)
	}
}

// TestIdleWorkerReleasesItsLease: the holder gives the lease up before
// it parks, and takes it again for the next write.
func TestIdleWorkerReleasesItsLease(t *testing.T) {
	s := openMem(t)
	createUsers(t, s, tenant, "u", 20)
	l := newFakeLease()
	d := start(t, s, leased(l, time.Second))
	var heldWhileApplying atomic.Bool
	be := &backend{fault: func(int, change.Event) error {
		if _, _, held := l.counts(tenant); held {
			heldWhileApplying.Store(status(t, d, tenant).LeaseHeld)
		}
		return nil
	}}
	d.SetTarget(tenant, be)
	waitFor(t, 2*time.Second, "delivery", func() bool { return be.lastSeq() == 20 })
	waitFor(t, 2*time.Second, "the tenant to park", func() bool { return parked(d, tenant) })
	if !heldWhileApplying.Load() {
		t.Error("status did not say the lease was held while delivering")
	}
	if _, releases, held := l.counts(tenant); held || releases != 1 {
		t.Fatalf("parked with the lease held: %v, released %d times", held, releases)
	}
	if status(t, d, tenant).LeaseHeld {
		t.Fatal("status says a parked tenant holds the lease")
	}

	createUser(t, s, tenant, "late")
	d.Notify(tenant)
	waitFor(t, 2*time.Second, "the late write", func() bool { return be.lastSeq() == 21 })
	waitFor(t, 2*time.Second, "the tenant to park again", func() bool { return parked(d, tenant) })
	if acquires, releases, held := l.counts(tenant); held || acquires != 2 || releases != 2 {
		t.Fatalf("after the late write: held %v, acquired %d and released %d times, want 2 and 2", held, acquires, releases)
	}
}

// TestStoppingReleasesTheLease: Stop and RemoveTarget give up a lease held
// in the middle of delivery; cancelling Start's context alone does not,
// as when the process dies.
func TestStoppingReleasesTheLease(t *testing.T) {
	blocked := TargetFunc(func(ctx context.Context, evs []change.Event) (uint64, error) {
		<-ctx.Done()
		return 0, ctx.Err()
	})
	tests := []struct {
		name string
		stop func(d *Deliverer, cancel context.CancelFunc)
		// wantHeld is whether the lease is still held after stop.
		wantHeld bool
	}{
		{name: "Stop", stop: func(d *Deliverer, _ context.CancelFunc) { d.Stop() }},
		{name: "RemoveTarget", stop: func(d *Deliverer, _ context.CancelFunc) { d.RemoveTarget(tenant) }},
		{name: "context cancelled", stop: func(d *Deliverer, cancel context.CancelFunc) {
			cancel()
			d.mu.RLock()
			done := d.workers[tenant].done
			d.mu.RUnlock()
			<-done
		}, wantHeld: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openMem(t)
			createUsers(t, s, tenant, "u", 5)
			l := newFakeLease()
			var calls atomic.Int32
			d := New(s, leased(l, time.Second))
			t.Cleanup(d.Stop)
			d.SetTarget(tenant, TargetFunc(func(ctx context.Context, evs []change.Event) (uint64, error) {
				calls.Add(1)
				return blocked(ctx, evs)
			}))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if err := d.Start(ctx); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 2*time.Second, "an Apply call", func() bool { return calls.Load() > 0 })
			tt.stop(d, cancel)
			if _, _, held := l.counts(tenant); held != tt.wantHeld {
				t.Fatalf("lease held after stopping: %v, want %v", held, tt.wantHeld)
			}
			if tt.wantHeld {
				d.Stop()
				if _, _, held := l.counts(tenant); held {
					t.Fatal("Stop after the context was cancelled kept the lease")
				}
			}
		})
	}
}

// TestLeaseRenewedDuringBackoff: a backoff longer than LeaseRenew keeps
// renewing the lease; when the renewal is refused, the worker stops
// holding it and applies nothing after the backoff.
func TestLeaseRenewedDuringBackoff(t *testing.T) {
	s := openMem(t)
	createUsers(t, s, tenant, "u", 5)
	l := newFakeLease()
	opts := leased(l, 20*time.Millisecond)
	// The backoff is jittered down by up to half: at least 500ms.
	opts.MinBackoff, opts.MaxBackoff = time.Second, time.Second
	var calls atomic.Int32
	d := start(t, s, opts)
	d.SetTarget(tenant, TargetFunc(func(context.Context, []change.Event) (uint64, error) {
		calls.Add(1)
		return 0, errUnavailable
	}))
	waitFor(t, 2*time.Second, "an Apply call", func() bool { return calls.Load() > 0 })
	before, _, _ := l.counts(tenant)
	time.Sleep(150 * time.Millisecond)
	after, _, held := l.counts(tenant)
	if after-before < 3 || !held {
		t.Fatalf("%d renewals in 150ms of a backoff with LeaseRenew 20ms (held %v)", after-before, held)
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d Apply calls during the backoff", n)
	}

	l.setBusy(true)
	waitFor(t, time.Second, "the refused renewal to show in the status", func() bool { return !status(t, d, tenant).LeaseHeld })
	n := calls.Load()
	time.Sleep(opts.MaxBackoff + 100*time.Millisecond)
	if got := calls.Load(); got != n {
		t.Fatalf("%d Apply calls after the lease was taken over", got-n)
	}
}

// fencedStore refuses the first refusals saves of delivery state and
// dead letters as a store does whose tenant's lease another process
// holds.
type fencedStore struct {
	Store
	refusals atomic.Int32
	mu       sync.Mutex
	refused  time.Time
}

func (s *fencedStore) refuse() error {
	if s.refusals.Add(-1) < 0 {
		return nil
	}
	s.mu.Lock()
	s.refused = time.Now()
	s.mu.Unlock()
	return fmt.Errorf("tenant %s is delivered by another process: %w", tenant, store.ErrLeaseLost)
}

func (s *fencedStore) SaveDeliveryState(ctx context.Context, tn string, st store.DeliveryState) error {
	if err := s.refuse(); err != nil {
		return err
	}
	return s.Store.SaveDeliveryState(ctx, tn, st)
}

func (s *fencedStore) SaveDeadLetter(ctx context.Context, tn string, dl store.DeadLetter, st store.DeliveryState) error {
	if err := s.refuse(); err != nil {
		return err
	}
	return s.Store.SaveDeadLetter(ctx, tn, dl, st)
}

// TestLeaseLostInTheStore: a save the store refuses with ErrLeaseLost
// stops the worker at once. It is no backend failure: nothing is logged
// as one and nothing backs off; the worker waits LeaseRenew, asks for the
// lease again and starts over from the cursor in the store.
func TestLeaseLostInTheStore(t *testing.T) {
	tests := []struct {
		name  string
		fault func(call int, ev change.Event) error
	}{
		{name: "saving a delivered batch"},
		{name: "recording a backend failure", fault: func(call int, ev change.Event) error {
			if call == 0 && ev.Seq == 4 {
				return errUnavailable
			}
			return nil
		}},
		{name: "dead-lettering", fault: func(call int, ev change.Event) error {
			if call == 0 && ev.Seq == 4 {
				return invalidError{"refused"}
			}
			return nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := &fencedStore{Store: openMem(t)}
			fs.refusals.Store(1)
			createUsers(t, fs, tenant, "u", 10)
			l := newFakeLease()
			opts := leased(l, 100*time.Millisecond)
			opts.MaxInvalidAttempts = 1
			core, logs := observer.New(zapcore.DebugLevel)
			opts.Logger = zap.New(core)
			var mu sync.Mutex
			var began []time.Time
			be := &backend{fault: tt.fault}
			d := start(t, fs, opts)
			d.SetTarget(tenant, TargetFunc(func(ctx context.Context, evs []change.Event) (uint64, error) {
				mu.Lock()
				began = append(began, time.Now())
				mu.Unlock()
				return be.Apply(ctx, evs)
			}))
			waitFor(t, 2*time.Second, "delivery", func() bool { return status(t, d, tenant).Delivered == 10 })

			_, batches, _ := be.snapshot()
			if len(batches) != 2 || batches[1][0] != 1 {
				t.Fatalf("batches %v: want the journal again from 1, the cursor in the store", batches)
			}
			fs.mu.Lock()
			refused := fs.refused
			fs.mu.Unlock()
			mu.Lock()
			second := began[1]
			mu.Unlock()
			if wait := second.Sub(refused); wait < opts.LeaseRenew*9/10 {
				t.Errorf("applied again %v after losing the lease, want LeaseRenew (%v)", wait, opts.LeaseRenew)
			}
			if n, _, _ := l.counts(tenant); n < 2 {
				t.Errorf("the lease was acquired %d times, want again after losing it", n)
			}
			if n := logs.FilterMessage("delivery failed; retrying").Len(); n != 0 {
				t.Errorf("losing the lease was logged as %d delivery failures", n)
			}
			if n := logs.FilterMessage("delivery lease lost to another process").Len(); n != 1 {
				t.Errorf("losing the lease was logged %d times", n)
			}
			st := status(t, d, tenant)
			if st.ConsecutiveFailures != 0 || st.DeadLetters != 0 {
				t.Errorf("status %+v: the refused save left a failure or a dead letter", st)
			}
		})
	}
}

// slowBackend applies a batch slowly, until its context is cancelled.
type slowBackend struct {
	per       time.Duration
	cancelled atomic.Bool
	applied   atomic.Uint64
}

func (b *slowBackend) Apply(ctx context.Context, events []change.Event) (uint64, error) {
	for _, ev := range events {
		select {
		case <-ctx.Done():
			b.cancelled.Store(true)
			return b.applied.Load(), ctx.Err()
		case <-time.After(b.per):
		}
		if ev.Seq > b.applied.Load() {
			b.applied.Store(ev.Seq)
		}
	}
	return b.applied.Load(), nil
}

// TestLeaseRenewedWhileABatchIsApplied: a batch the backend takes many
// lease renewal periods over keeps the lease the whole time, and is not
// cut short.
func TestLeaseRenewedWhileABatchIsApplied(t *testing.T) {
	s := openMem(t)
	createUsers(t, s, tenant, "u", 10)
	l := newFakeLease()
	opts := leased(l, 20*time.Millisecond)
	be := &slowBackend{per: 25 * time.Millisecond}
	d := start(t, s, opts)
	d.SetTarget(tenant, be)
	waitFor(t, 5*time.Second, "the batch", func() bool { return be.applied.Load() == 10 })
	if be.cancelled.Load() {
		t.Fatal("the batch was cut short while the lease was held")
	}
	// 250 ms of applying at one renewal per 20 ms: the lease was renewed
	// during the batch, not only before and after it.
	if n, _, _ := l.counts(tenant); n < 6 {
		t.Fatalf("the lease was asked for %d times during a batch of 250 ms", n)
	}
	waitFor(t, 2*time.Second, "the cursor", func() bool { return status(t, d, tenant).Delivered == 10 })
}

// TestBatchCutShortWhenTheLeaseIsTakenOver: when a renewal during a batch
// finds that another process took the lease over, the batch's context is
// cancelled and the cursor is not moved by this process.
func TestBatchCutShortWhenTheLeaseIsTakenOver(t *testing.T) {
	s := openMem(t)
	createUsers(t, s, tenant, "u", 40)
	l := newFakeLease()
	opts := leased(l, 20*time.Millisecond)
	opts.BatchSize = 40
	be := &slowBackend{per: 25 * time.Millisecond}
	d := start(t, s, opts)
	d.SetTarget(tenant, be)
	waitFor(t, 2*time.Second, "the batch to start", func() bool { return be.applied.Load() >= 2 })
	l.setBusy(true)
	waitFor(t, 2*time.Second, "the batch to be cut short", func() bool { return be.cancelled.Load() })
	if got := be.applied.Load(); got >= 40 {
		t.Fatalf("the whole batch was applied (%d) after the lease was taken over", got)
	}
	time.Sleep(100 * time.Millisecond)
	if c := status(t, d, tenant).Delivered; c != 0 {
		t.Fatalf("the cursor moved to %d after the lease was lost", c)
	}
}
