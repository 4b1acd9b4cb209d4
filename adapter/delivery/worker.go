package delivery

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-scim/caddy-scim/adapter/change"
	"github.com/caddy-scim/caddy-scim/adapter/store"
)

// worker delivers one tenant's journal. Its fields below mu are owned by
// its goroutine.
type worker struct {
	d      *Deliverer
	tenant string
	// notify wakes an idle worker; reset also cuts a backoff short.
	notify chan struct{}
	reset  chan struct{}
	// done is closed when the current run of the goroutine has returned,
	// and cancel stops it; both are set when it starts, under d.mu.
	done   chan struct{}
	cancel context.CancelFunc
	// runMu guards running: whether a goroutine runs for the worker. An
	// idle worker's goroutine exits (parks) rather than wait, so that an
	// idle tenant costs no goroutine and no timer.
	runMu   sync.Mutex
	running bool

	mu          sync.Mutex
	target      Target
	applyCancel context.CancelFunc

	state  store.DeliveryState
	loaded bool
	// failed counts consecutive failures since the last progress or
	// target change, for the backoff.
	failed int
	// held reports whether the worker holds the tenant's lease (with
	// Options.Lease), which it last acquired or renewed at acquired. Only
	// the goroutine sets it, or whoever releases it once the goroutine
	// has returned; Status reads it.
	held     atomic.Bool
	acquired time.Time
}

func newWorker(d *Deliverer, tenant string, t Target) *worker {
	done := make(chan struct{})
	close(done)
	return &worker{
		d:      d,
		tenant: tenant,
		notify: make(chan struct{}, 1),
		reset:  make(chan struct{}, 1),
		done:   done,
		cancel: func() {},
		target: t,
	}
}

func (w *worker) setTarget(t Target) {
	w.mu.Lock()
	w.target = t
	if w.applyCancel != nil {
		w.applyCancel()
	}
	w.mu.Unlock()
	signal(w.reset)
}

// begin returns the current target and a context for one Apply call that
// setTarget cancels; end must be called when Apply has returned.
func (w *worker) begin(ctx context.Context) (t Target, actx context.Context, end func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	actx, cancel := context.WithCancel(ctx)
	w.applyCancel = cancel
	return w.target, actx, func() {
		w.mu.Lock()
		w.applyCancel = nil
		w.mu.Unlock()
		cancel()
	}
}

func (w *worker) run(ctx context.Context, done chan struct{}) {
	defer close(done)
	for {
		progressed, idle, err := w.turn(ctx)
		if ctx.Err() != nil {
			return
		}
		switch {
		case errors.Is(err, store.ErrLeaseLost):
			// Not a backend failure: another process delivers the
			// tenant now, and the state in memory is out of date.
			w.drop()
			w.d.log.Info("delivery lease lost to another process", fTenant(w.tenant), zap.Error(err))
			if !w.waitLease(ctx) {
				return
			}
		case err != nil:
			w.failed++
			b := w.d.backoff(w.failed)
			w.d.log.Warn("delivery failed; retrying", fTenant(w.tenant), zap.Uint64(keyThrough, w.state.Cursor),
				zap.Int(keyFailures, w.state.Failures), zap.Duration(keyBackoff, b), zap.Error(err))
			if !w.waitBackoff(ctx, b) {
				return
			}
		case progressed:
			w.failed = 0
		case !idle:
			// Another process holds the lease and has events to deliver.
			if !w.waitLease(ctx) {
				return
			}
		case w.d.opts.PollInterval > 0:
			w.releaseNow(ctx)
			if !w.waitIdle(ctx) {
				return
			}
		default:
			w.releaseNow(ctx)
			if w.park() {
				return
			}
		}
	}
}

// turn delivers one batch when the worker may deliver. It reports whether
// the cursor moved, and whether the tenant is idle: nothing to deliver, as
// opposed to another process holding the lease.
func (w *worker) turn(ctx context.Context) (progressed, idle bool, err error) {
	if w.d.opts.Lease != nil {
		ok, idle, err := w.claim(ctx)
		if !ok || err != nil {
			return false, idle, err
		}
	}
	progressed, err = w.step(ctx)
	return progressed, !progressed && err == nil, err
}

// claim reports whether the worker holds the tenant's lease, renewing it
// when it is LeaseRenew old. A worker without the lease asks for it only
// when the journal has events after the stored cursor; else it reports
// idle and asks nothing, so an idle tenant costs no lease.
func (w *worker) claim(ctx context.Context) (ok, idle bool, err error) {
	if w.held.Load() && time.Since(w.acquired) < w.d.opts.LeaseRenew {
		return true, false, nil
	}
	if !w.held.Load() {
		pending, err := w.pending(ctx)
		if err != nil || !pending {
			return false, err == nil, err
		}
	}
	ok, err = w.acquire(ctx)
	return ok, false, err
}

// pending reports whether the journal has events after the stored cursor.
func (w *worker) pending(ctx context.Context) (bool, error) {
	st, err := w.d.st.DeliveryState(ctx, w.tenant)
	if err != nil {
		return false, fmt.Errorf("reading the delivery state: %w", err)
	}
	head, err := w.d.st.LastSeq(ctx, w.tenant)
	if err != nil {
		return false, fmt.Errorf("reading the journal head: %w", err)
	}
	return head > st.Cursor, nil
}

// acquire takes or renews the tenant's lease; an error leaves the worker
// without it. Whenever the worker is without the lease it is also without
// state in memory (drop, release), so that taking the lease anew reads
// the state another process may have moved on meanwhile.
func (w *worker) acquire(ctx context.Context) (bool, error) {
	ok, err := w.d.opts.Lease.AcquireDelivery(ctx, w.tenant)
	switch {
	case err != nil:
		w.drop()
		return false, fmt.Errorf("acquiring the delivery lease: %w", err)
	case !ok:
		if w.held.Load() {
			w.d.log.Info("delivery lease lost to another process", fTenant(w.tenant))
		}
		w.drop()
		return false, nil
	}
	w.held.Store(true)
	w.acquired = time.Now()
	return true, nil
}

// drop forgets the lease and the state read under it.
func (w *worker) drop() {
	w.held.Store(false)
	w.loaded = false
}

// releaseNow gives the tenant's lease up, if held, before the worker idles.
func (w *worker) releaseNow(ctx context.Context) {
	if !w.held.Load() {
		return
	}
	rctx, cancel := context.WithTimeout(ctx, releaseTimeout)
	defer cancel()
	w.release(rctx)
}

// release gives the tenant's lease up, if held. A failure is logged and
// otherwise ignored: the lease expires in time anyway.
func (w *worker) release(ctx context.Context) {
	if !w.held.Swap(false) {
		return
	}
	w.loaded = false
	if err := w.d.opts.Lease.ReleaseDelivery(ctx, w.tenant); err != nil {
		w.d.log.Warn("releasing the delivery lease", fTenant(w.tenant), zap.Error(err))
	}
}

// waitLease waits LeaseRenew before the worker asks for the lease again.
// Notifications do not cut it short: the holder delivers what they
// announce, and a busy tenant's writes would hammer the lease.
func (w *worker) waitLease(ctx context.Context) bool {
	return w.wait(ctx, w.d.opts.LeaseRenew, nil)
}

// park ends the goroutine of a worker that has nothing to deliver, unless
// a notification or a new target arrived meanwhile, in which case it
// reports false and the worker goes on. Notify and SetTarget start the
// goroutine again.
func (w *worker) park() bool {
	w.runMu.Lock()
	defer w.runMu.Unlock()
	select {
	case <-w.notify:
		return false
	case <-w.reset:
		return false
	default:
	}
	w.running = false
	return true
}

// waitIdle waits for a notification, a new target or the poll interval,
// when polling is on.
func (w *worker) waitIdle(ctx context.Context) bool {
	return w.wait(ctx, w.d.opts.PollInterval, w.notify)
}

// wait waits p, give or take a tenth so that tenants do not wake
// together, or until a new target or a signal on wake (when not nil); it
// reports false when ctx is done.
func (w *worker) wait(ctx context.Context, p time.Duration, wake chan struct{}) bool {
	t := time.NewTimer(p - p/10 + rand.N(p/5+1))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-wake:
	case <-w.reset:
	case <-t.C:
	}
	return true
}

// waitBackoff waits out a backoff. New events do not cut it short, or a
// busy tenant would hammer a backend that is down; a new target does. A
// lease held is renewed meanwhile, so that a backoff longer than the
// lease's lifetime keeps the tenant with this process; should renewing
// fail, the worker waits for the lease again once the backoff is over.
func (w *worker) waitBackoff(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	renew := time.NewTimer(0)
	defer renew.Stop()
	for {
		var renewC <-chan time.Time
		if w.held.Load() {
			renew.Reset(max(w.d.opts.LeaseRenew-time.Since(w.acquired), 0))
			renewC = renew.C
		}
		select {
		case <-ctx.Done():
			return false
		case <-w.reset:
			w.failed = 0
			return true
		case <-t.C:
			return true
		case <-renewC:
			if _, err := w.acquire(ctx); err != nil && ctx.Err() == nil {
				w.d.log.Warn("renewing the delivery lease", fTenant(w.tenant), zap.Error(err))
			}
		}
	}
}

// step delivers one batch. It reports whether the cursor moved, and
// returns an error when the next attempt should wait for a backoff.
func (w *worker) step(ctx context.Context) (bool, error) {
	if !w.loaded {
		st, err := w.d.st.DeliveryState(ctx, w.tenant)
		if err != nil {
			return false, err
		}
		w.state, w.loaded = st, true
	}
	events, err := w.d.st.Journal(ctx, w.tenant, w.state.Cursor, w.d.opts.BatchSize)
	if err != nil {
		if ctx.Err() != nil {
			return false, nil
		}
		return false, w.fail(ctx, w.state.Cursor, fmt.Errorf("reading the journal after %d: %w", w.state.Cursor, err))
	}
	if len(events) == 0 {
		return false, nil
	}
	last := events[len(events)-1].Seq
	target, actx, end := w.begin(ctx)
	kctx, stopKeeping := w.keepLease(actx)
	applied, aerr := target.Apply(kctx, events)
	lost := stopKeeping()
	interrupted := actx.Err() != nil
	end()
	if lost {
		// Another process took the tenant over while the backend applied
		// the batch, which was cut short: what got applied is the new
		// holder's to record (the backend skips what it has), and this
		// process may not move the cursor any more.
		return false, fmt.Errorf("renewing the lease while events %d to %d were applied: %w", events[0].Seq, last, store.ErrLeaseLost)
	}
	applied = min(max(applied, w.state.Cursor), last)

	if aerr != nil && (ctx.Err() != nil || interrupted) {
		// Stopping, or the target was replaced: keep what the backend
		// applied and let the next attempt go to the new target.
		if applied > w.state.Cursor {
			w.state.Cursor = applied
			if err := w.save(ctx); errors.Is(err, store.ErrLeaseLost) {
				return false, err
			} else if err != nil {
				w.d.log.Error("saving delivery state", fTenant(w.tenant), zap.Uint64(keySeq, applied), zap.Error(err))
			}
		}
		return true, nil
	}
	if aerr == nil {
		if applied == last {
			return true, w.succeed(ctx, applied)
		}
		aerr = fmt.Errorf("backend acknowledged events %d to %d only through %d", events[0].Seq, last, applied)
	} else if w.d.opts.IsInvalid(aerr) {
		for _, ev := range events {
			if ev.Seq > applied {
				return w.invalid(ctx, applied, ev, aerr)
			}
		}
	}
	return false, w.fail(ctx, applied, aerr)
}

func (w *worker) now() time.Time { return w.d.opts.Now().UTC() }

// save persists the in-memory state, even while stopping.
func (w *worker) save(ctx context.Context) error {
	return w.d.st.SaveDeliveryState(context.WithoutCancel(ctx), w.tenant, w.state)
}

func (w *worker) succeed(ctx context.Context, applied uint64) error {
	failures := w.state.Failures
	w.state.Cursor = applied
	w.state.Failures = 0
	w.state.LastSuccess = w.now()
	if w.state.InvalidSeq <= applied {
		w.state.InvalidSeq, w.state.InvalidAttempts = 0, 0
	}
	if err := w.save(ctx); err != nil {
		return fmt.Errorf("saving delivery state through %d: %w", applied, err)
	}
	if failures > 0 {
		w.d.log.Info("delivery recovered", fTenant(w.tenant), zap.Int(keyFailures, failures), zap.Uint64(keyThrough, applied))
	}
	return nil
}

// fail records a failed attempt after which delivery backs off, and
// returns err; the caller logs it.
func (w *worker) fail(ctx context.Context, applied uint64, err error) error {
	w.state.Cursor = max(w.state.Cursor, applied)
	w.state.Failures++
	w.state.LastError = err.Error()
	w.state.LastErrorTime = w.now()
	if serr := w.save(ctx); serr != nil {
		return fmt.Errorf("%w (and saving delivery state: %w)", err, serr)
	}
	return err
}

// invalid handles the backend refusing ev as invalid: a retry with backoff
// until the refusals reach MaxInvalidAttempts, then a dead letter.
func (w *worker) invalid(ctx context.Context, applied uint64, ev change.Event, err error) (bool, error) {
	if w.state.InvalidSeq == ev.Seq {
		w.state.InvalidAttempts++
	} else {
		w.state.InvalidSeq, w.state.InvalidAttempts = ev.Seq, 1
	}
	if w.state.InvalidAttempts < w.d.opts.MaxInvalidAttempts {
		return applied > w.state.Cursor, w.fail(ctx, applied, err)
	}
	now := w.now()
	dl := store.DeadLetter{Event: ev, Error: err.Error(), Attempts: w.state.InvalidAttempts, Time: now}
	st := w.state
	st.Cursor = ev.Seq
	st.InvalidSeq, st.InvalidAttempts = 0, 0
	st.Failures++
	st.LastError, st.LastErrorTime = err.Error(), now
	if serr := w.d.st.SaveDeadLetter(context.WithoutCancel(ctx), w.tenant, dl, st); serr != nil {
		return false, fmt.Errorf("dead-lettering event %d: %w", ev.Seq, serr)
	}
	w.state = st
	w.d.log.Warn("event dead-lettered", fTenant(w.tenant), zap.Uint64(keySeq, ev.Seq), zap.String(keyKind, string(ev.Kind)),
		zap.String(keyResourceID, ev.ID), zap.Int(keyAttempts, dl.Attempts), zap.Error(err))
	return true, nil
}

// keepLease renews the tenant's lease every LeaseRenew while one Apply
// runs, so that a batch the backend takes long over does not outlast the
// lease and get delivered by a second process at the same time. The
// context it returns is cancelled when a renewal finds the lease taken
// over; stop ends the renewals and reports whether that happened. An
// error renewing is retried at the next tick: the lease lasts several
// ticks, and the fencing of the cursor covers the rest. Without a Lease
// it does nothing.
func (w *worker) keepLease(ctx context.Context) (context.Context, func() (lost bool)) {
	l := w.d.opts.Lease
	if l == nil {
		return ctx, func() bool { return false }
	}
	kctx, cancel := context.WithCancel(ctx)
	var lostIt atomic.Bool
	var renewed atomic.Int64
	quit, done := make(chan struct{}), make(chan struct{})
	first := max(w.d.opts.LeaseRenew-time.Since(w.acquired), 0)
	go func() {
		defer close(done)
		t := time.NewTimer(first)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-kctx.Done():
				return
			case <-t.C:
			}
			ok, err := l.AcquireDelivery(kctx, w.tenant)
			switch {
			case err == nil && !ok:
				lostIt.Store(true)
				cancel()
				return
			case err == nil:
				renewed.Store(time.Now().UnixNano())
			case kctx.Err() == nil:
				w.d.log.Warn("renewing the delivery lease", fTenant(w.tenant), zap.Error(err))
			}
			t.Reset(w.d.opts.LeaseRenew)
		}
	}()
	return kctx, func() bool {
		close(quit)
		<-done
		cancel()
		if r := renewed.Load(); r != 0 {
			w.acquired = time.Unix(0, r)
		}
		if lostIt.Load() {
			w.held.Store(false)
			return true
		}
		return false
	}
}
