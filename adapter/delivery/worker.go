package delivery

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
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
		progressed, err := w.step(ctx)
		if ctx.Err() != nil {
			return
		}
		switch {
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
		case w.d.opts.PollInterval > 0:
			if !w.waitIdle(ctx) {
				return
			}
		default:
			if w.park() {
				return
			}
		}
	}
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
	p := w.d.opts.PollInterval
	t := time.NewTimer(p - p/10 + rand.N(p/5+1))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-w.notify:
	case <-w.reset:
	case <-t.C:
	}
	return true
}

// waitBackoff waits out a backoff. New events do not cut it short, or a
// busy tenant would hammer a backend that is down; a new target does.
func (w *worker) waitBackoff(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-w.reset:
		w.failed = 0
	case <-t.C:
	}
	return true
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
	applied, aerr := target.Apply(actx, events)
	interrupted := actx.Err() != nil
	end()
	applied = min(max(applied, w.state.Cursor), last)

	if aerr != nil && (ctx.Err() != nil || interrupted) {
		// Stopping, or the target was replaced: keep what the backend
		// applied and let the next attempt go to the new target.
		if applied > w.state.Cursor {
			w.state.Cursor = applied
			if err := w.save(ctx); err != nil {
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
		return fmt.Errorf("%w (and saving delivery state: %v)", err, serr)
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
