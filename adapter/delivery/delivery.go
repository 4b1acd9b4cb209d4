// Package delivery hands each tenant's change journal to the tenant's
// backend: in order, at least once, with retries and backoff, and with
// dead letters for events the backend keeps refusing.
//
// One Deliverer serves one store and every tenant in it. Each tenant with
// a Target attached has a goroutine of its own that reads the journal after
// the tenant's cursor in batches, applies them, and persists the cursor, so
// a backend that is down delays only its own tenant and never the IdP's
// requests: SCIM writes commit to the journal whether or not delivery keeps
// up. A tenant without a Target waits; its backlog grows and Status shows
// it.
//
// Delivery is at least once. A crash between a backend applying a batch
// and the cursor being persisted sends the batch again, so backends skip
// events whose Seq is at or below the last one they applied. Nothing is
// skipped except by dead-lettering: an event the backend refuses as invalid
// MaxInvalidAttempts times in a row is stored as a dead letter, in the same
// transaction as the cursor moving past it, and delivery goes on with the
// next one. Replay puts dead letters back into the journal, refreshed from
// the tenant's current state.
//
// Run one Deliverer per store. Two over the same store (say, an old and a
// new configuration overlapping) stay correct, as the cursor only moves
// forward and backends skip what they have applied, but send events twice.
//
// Processes that share one store (several instances over one PostgreSQL
// database) each run a Deliverer with a Lease: a tenant's journal is then
// delivered by the one process holding the tenant's lease, renewed while
// it delivers and given up when nothing is left to deliver, and another
// process takes over when the holder dies and its lease expires. A process
// that lost the lease learns so from the store (store.ErrLeaseLost) and
// stops at once; at the takeover the batch in flight may be applied twice,
// which backends skip. A tenant with nothing to deliver holds no lease and
// asks for none.
//
// The journal is kept whole: removing delivered entries (retention) is not
// done here.
package delivery

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-scim/caddy-scim/adapter/change"
	"github.com/caddy-scim/caddy-scim/adapter/patch"
	"github.com/caddy-scim/caddy-scim/adapter/schema"
	"github.com/caddy-scim/caddy-scim/adapter/store"
)

// Target applies events to one tenant's backend.
type Target interface {
	// Apply applies events in order and returns the Seq of the last one
	// applied; on error, the error is about the event after that one.
	Apply(ctx context.Context, events []change.Event) (appliedThrough uint64, err error)
}

// TargetFunc adapts a function to a Target.
type TargetFunc func(ctx context.Context, events []change.Event) (uint64, error)

// Apply calls f.
func (f TargetFunc) Apply(ctx context.Context, events []change.Event) (uint64, error) {
	return f(ctx, events)
}

// Lease decides which process delivers a tenant when several processes
// deliver from one store.
type Lease interface {
	// AcquireDelivery takes, or renews when already held, the right to
	// deliver tenant's journal; false when another process holds it.
	AcquireDelivery(ctx context.Context, tenant string) (bool, error)
	// ReleaseDelivery gives the right up at once, if held.
	ReleaseDelivery(ctx context.Context, tenant string) error
}

// Store is what delivery reads and writes: the resources and the journal,
// and the delivery state kept next to them.
type Store interface {
	store.Store
	store.DeliveryLog
}

var _ Store = (*store.Badger)(nil)

// DeadLetter is a journal event delivery gave up on.
type DeadLetter = store.DeadLetter

// Defaults of Options.
const (
	// DefaultBatchSize is the default Options.BatchSize.
	DefaultBatchSize = 100
	// DefaultMinBackoff is the default Options.MinBackoff.
	DefaultMinBackoff = 500 * time.Millisecond
	// DefaultMaxBackoff is the default Options.MaxBackoff.
	DefaultMaxBackoff = time.Minute
	// DefaultMaxInvalidAttempts is the default Options.MaxInvalidAttempts.
	DefaultMaxInvalidAttempts = 3
	// DefaultLeaseRenew is the default Options.LeaseRenew.
	DefaultLeaseRenew = 3 * time.Second
)

// releaseTimeout bounds giving leases up when delivery stops.
const releaseTimeout = 2 * time.Second

// Options configure a Deliverer. Zero values take the defaults.
type Options struct {
	// BatchSize is the most events handed to one Apply call.
	BatchSize int
	// MinBackoff is the wait after the first failed attempt; it doubles
	// with each further failure, up to MaxBackoff, with random jitter.
	MinBackoff time.Duration
	// MaxBackoff caps the wait between attempts.
	MaxBackoff time.Duration
	// MaxInvalidAttempts is how many times in a row the backend may refuse
	// an event as invalid before it is dead-lettered.
	MaxInvalidAttempts int
	// PollInterval, when set, makes an idle tenant look for new events
	// that often (give or take a tenth, so that tenants do not wake
	// together) without being notified. By default it is 0: Notify and
	// SetTarget are what wake a tenant, and an idle tenant holds no
	// goroutine and no timer, so thousands of idle tenants cost nothing.
	// Set it when something other than this process writes the journal.
	PollInterval time.Duration
	// IsInvalid classifies Apply errors: true means the event can never be
	// applied as it is (it counts towards MaxInvalidAttempts), false means
	// the backend is unavailable and the batch is retried with backoff.
	// Nil treats every error as retryable, so nothing is ever
	// dead-lettered; a host passes its backend SDK's classification.
	IsInvalid func(error) bool
	// Lease, when set, has a tenant's journal delivered only while this
	// process holds the tenant's lease, for processes that deliver from
	// one shared store. A tenant with events to deliver asks for the lease
	// first, and delivers nothing while another process holds it: it asks
	// again every LeaseRenew (a notification does not cut that wait short,
	// so that a busy tenant's writes do not hammer the lease) until it gets
	// the lease or finds the journal delivered, and then parks. The holder
	// renews the lease whenever it is LeaseRenew old: between batches,
	// during backoffs, and while the backend applies a batch, which is
	// cut short (its context cancelled) if a renewal finds the lease
	// taken over. It gives the lease up once nothing is left to deliver, on
	// RemoveTarget and on Stop. Cancelling Start's context alone gives
	// nothing up: the leases expire, as when the process dies. Nil
	// delivers without leases.
	Lease Lease
	// LeaseRenew is how often the holder of a tenant's lease renews it,
	// and how often a tenant waiting for the lease asks again. Keep it
	// at a third of the lease's lifetime or less.
	LeaseRenew time.Duration
	// Logger receives delivery's logs. Defaults to a no-op logger.
	Logger *zap.Logger
	// Now is the clock for recorded times; defaults to time.Now.
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = DefaultMinBackoff
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = o.MinBackoff
	}
	if o.MaxInvalidAttempts <= 0 {
		o.MaxInvalidAttempts = DefaultMaxInvalidAttempts
	}
	if o.LeaseRenew <= 0 {
		o.LeaseRenew = DefaultLeaseRenew
	}
	if o.PollInterval < 0 {
		o.PollInterval = 0
	}
	if o.IsInvalid == nil {
		o.IsInvalid = func(error) bool { return false }
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Deliverer delivers the journals of all tenants of one store. Targets can
// be attached, swapped and removed at any time, before or after Start.
type Deliverer struct {
	st   Store
	opts Options
	log  *zap.Logger

	mu      sync.RWMutex
	phase   phase
	ctx     context.Context
	cancel  context.CancelFunc
	workers map[string]*worker
	wg      sync.WaitGroup
}

type phase int

const (
	phaseNew phase = iota
	phaseRunning
	phaseStopped
)

// ErrStarted is returned by Start on a Deliverer that was started or
// stopped before.
var ErrStarted = errors.New("delivery: already started")

// New returns a Deliverer over st. It delivers nothing before Start.
func New(st Store, opts Options) *Deliverer {
	opts = opts.withDefaults()
	return &Deliverer{st: st, opts: opts, log: opts.Logger, workers: map[string]*worker{}}
}

// Start starts delivery for every tenant with a Target. Delivery runs
// until Stop or until ctx is done.
func (d *Deliverer) Start(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.phase != phaseNew {
		return ErrStarted
	}
	d.ctx, d.cancel = context.WithCancel(ctx)
	d.phase = phaseRunning
	for _, w := range d.workers {
		d.startLocked(w)
	}
	return nil
}

// Stop stops delivery and waits until every tenant's goroutine has
// returned. An Apply in flight is cancelled through its context; what the
// backend reports as applied is still recorded. Then the leases held are
// given up, as far as possible within a short timeout. Stop is safe to
// call more than once, and before Start.
func (d *Deliverer) Stop() {
	d.mu.Lock()
	d.phase = phaseStopped
	cancel := d.cancel
	d.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	d.wg.Wait()
	if d.opts.Lease == nil {
		return
	}
	d.mu.RLock()
	ws := make([]*worker, 0, len(d.workers))
	for _, w := range d.workers {
		ws = append(ws, w)
	}
	d.mu.RUnlock()
	ctx, cancelRelease := context.WithTimeout(context.Background(), releaseTimeout)
	defer cancelRelease()
	for _, w := range ws {
		w.release(ctx)
	}
}

// Notify tells delivery that the tenant's journal has new events. It never
// blocks on delivery; call it after every committed write.
func (d *Deliverer) Notify(tenant string) {
	d.mu.RLock()
	w := d.workers[tenant]
	d.mu.RUnlock()
	if w == nil {
		return
	}
	w.runMu.Lock()
	signal(w.notify)
	parked := !w.running
	w.runMu.Unlock()
	if parked {
		d.mu.Lock()
		if d.workers[tenant] == w {
			d.wakeLocked(w)
		}
		d.mu.Unlock()
	}
}

// SetTarget attaches t as the tenant's backend, or replaces the one
// attached: the host does so when a plugin process restarts. An Apply in
// flight to the previous Target is cancelled, and a tenant waiting out a
// backoff retries at once. A nil t removes the Target.
func (d *Deliverer) SetTarget(tenant string, t Target) {
	if t == nil {
		d.RemoveTarget(tenant)
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if w := d.workers[tenant]; w != nil {
		w.setTarget(t)
		d.wakeLocked(w)
		return
	}
	w := newWorker(d, tenant, t)
	d.workers[tenant] = w
	if d.phase == phaseRunning {
		d.startLocked(w)
	}
}

// RemoveTarget detaches the tenant's backend, waits until its delivery
// goroutine has returned and gives the tenant's lease up. The tenant's
// events wait in the journal until a Target is attached again.
func (d *Deliverer) RemoveTarget(tenant string) {
	d.mu.Lock()
	w := d.workers[tenant]
	delete(d.workers, tenant)
	var cancel context.CancelFunc
	var done chan struct{}
	if w != nil {
		cancel, done = w.cancel, w.done
	}
	d.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
		ctx, cancelRelease := context.WithTimeout(context.Background(), releaseTimeout)
		defer cancelRelease()
		w.release(ctx)
	}
}

// wakeLocked starts the goroutine of a parked worker, if delivery runs.
func (d *Deliverer) wakeLocked(w *worker) {
	if d.phase != phaseRunning {
		return
	}
	w.runMu.Lock()
	defer w.runMu.Unlock()
	if !w.running {
		d.startRunLocked(w)
	}
}

// startLocked starts w's goroutine; d.mu is held and it is not running.
func (d *Deliverer) startLocked(w *worker) {
	w.runMu.Lock()
	defer w.runMu.Unlock()
	d.startRunLocked(w)
}

func (d *Deliverer) startRunLocked(w *worker) {
	ctx, cancel := context.WithCancel(d.ctx)
	done := make(chan struct{})
	w.cancel, w.done, w.running = cancel, done, true
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		defer cancel()
		w.run(ctx, done)
	}()
}

func (d *Deliverer) attached(tenant string) bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.workers[tenant] != nil
}

func (d *Deliverer) holdsLease(tenant string) bool {
	d.mu.RLock()
	w := d.workers[tenant]
	d.mu.RUnlock()
	return w != nil && w.held.Load()
}

// backoff returns the wait after the nth consecutive failure: MinBackoff
// doubled n-1 times, capped at MaxBackoff, then jittered down by up to a
// half so that tenants failing together do not retry together.
func (d *Deliverer) backoff(n int) time.Duration {
	b := d.opts.MinBackoff
	for i := 1; i < n && b < d.opts.MaxBackoff; i++ {
		b *= 2
	}
	b = min(b, d.opts.MaxBackoff)
	return b - rand.N(b/2+1)
}

// signal does a non-blocking send on a channel with a buffer of one.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Notifying returns a store.Store that calls d.Notify for the tenant after
// every successful write to st, for hosts that do not call Notify
// themselves.
// Optional read interfaces of st (store.RawReader) stay visible through the
// wrapper.
func Notifying(st store.Store, d *Deliverer) store.Store {
	n := notifying{st, d}
	if rr, ok := st.(store.RawReader); ok {
		return notifyingRaw{n, rr}
	}
	return n
}

// notifyingRaw is notifying over a store that reads raw JSON: reads change
// nothing, so they go straight through.
type notifyingRaw struct {
	notifying
	raw store.RawReader
}

func (n notifyingRaw) GetRaw(ctx context.Context, tenant string, rt *schema.ResourceType, id string) ([]byte, error) {
	return n.raw.GetRaw(ctx, tenant, rt, id)
}

func (n notifyingRaw) ListRaw(ctx context.Context, tenant string, rt *schema.ResourceType, q store.Query) (*store.RawPage, bool, error) {
	return n.raw.ListRaw(ctx, tenant, rt, q)
}

func (n notifyingRaw) RawGroups(ctx context.Context, tenant, member string) ([]store.GroupRef, error) {
	return n.raw.RawGroups(ctx, tenant, member)
}

type notifying struct {
	store.Store
	d *Deliverer
}

func (n notifying) Create(ctx context.Context, tenant string, rt *schema.ResourceType, data map[string]any, members []patch.Member) (*store.WriteResult, error) {
	res, err := n.Store.Create(ctx, tenant, rt, data, members)
	if err == nil {
		n.d.Notify(tenant)
	}
	return res, err
}

func (n notifying) Update(ctx context.Context, tenant string, rt *schema.ResourceType, id string, fn store.UpdateFunc) (*store.WriteResult, error) {
	res, err := n.Store.Update(ctx, tenant, rt, id, fn)
	if err == nil && res.Changed {
		n.d.Notify(tenant)
	}
	return res, err
}

func (n notifying) Delete(ctx context.Context, tenant string, rt *schema.ResourceType, id string) error {
	err := n.Store.Delete(ctx, tenant, rt, id)
	if err == nil {
		n.d.Notify(tenant)
	}
	return err
}

func (n notifying) DeleteIf(ctx context.Context, tenant string, rt *schema.ResourceType, id string, check store.Precondition) error {
	err := n.Store.DeleteIf(ctx, tenant, rt, id, check)
	if err == nil {
		n.d.Notify(tenant)
	}
	return err
}

// Log field keys.
const (
	keyTenant     = "tenant"
	keySeq        = "seq"
	keyThrough    = "applied_through"
	keyFailures   = "failures"
	keyBackoff    = "backoff"
	keyAttempts   = "attempts"
	keyKind       = "kind"
	keyResourceID = "resource_id"
	keyReplayed   = "replayed"
)

func fTenant(t string) zap.Field { return zap.String(keyTenant, t) }

// GroupsOf implements store.GroupLister: through the wrapped store when it
// reads many members at once, else one member at a time.
func (n notifying) GroupsOf(ctx context.Context, tenant string, members []string) (map[string][]store.GroupRef, error) {
	if gl, ok := n.Store.(store.GroupLister); ok {
		return gl.GroupsOf(ctx, tenant, members)
	}
	out := make(map[string][]store.GroupRef, len(members))
	for _, m := range members {
		refs, err := n.Store.Groups(ctx, tenant, m)
		if err != nil {
			return nil, err
		}
		if len(refs) > 0 {
			out[m] = refs
		}
	}
	return out, nil
}
