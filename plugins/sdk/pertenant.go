package sdk

import (
	"bytes"
	"container/list"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// PerTenantOptions configures PerTenant. The zero value gives the
// defaults.
type PerTenantOptions struct {
	// MaxOpen is how many tenants' instances that implement io.Closer may
	// be open at once. When a call opens one more, the least recently used
	// instance that has no call in flight is closed. Zero means 64.
	MaxOpen int
	// IdleTimeout is how long an instance that implements io.Closer may go
	// unused before it is closed; it is closed within half as long again.
	// Zero means five minutes.
	IdleTimeout time.Duration
}

// PerTenantOptions defaults.
const (
	defaultMaxOpen     = 64
	defaultIdleTimeout = 5 * time.Minute
)

// PerTenant returns a Backend that serves many tenants by giving each
// tenant its own instance from newBackend, so that a backend written for
// one tenant serves them all from one process:
//
//	func main() {
//		sdk.Serve(sdk.PerTenant(func(tenant string) sdk.Backend { return newBackend() }, sdk.PerTenantOptions{}))
//	}
//
// The returned Backend is also an Inspector, an Actioner, a Purger and an
// io.Closer:
//
//   - Configure keeps the tenant's request and hands it to the tenant's
//     instance, creating the instance first when the tenant has none
//     open. When the instance refuses it, the tenant's previous request
//     stays in force: the instance is closed, and the next call makes a
//     new one configured with the previous request.
//   - Apply, Inspect and Action go to the tenant's instance; Inspect and
//     Action answer with an error wrapping ErrUnimplemented when the
//     instance is no Inspector or Actioner. A call for a tenant that was
//     never configured, or was purged, fails with an Unavailable error
//     (after a restart the host configures its tenants again, then
//     retries).
//   - Instances that implement io.Closer are closed when they have been
//     idle for opts.IdleTimeout, and when more than opts.MaxOpen are open,
//     least recently used first, but never one with a call in flight. The
//     tenant's next call creates a new instance and configures it with the
//     kept request before the call itself; so Configure must be cheap, and
//     the instance must keep what it needs in DataDir. Instances that are
//     no io.Closer stay until their tenant is purged.
//   - Calls for different tenants run concurrently; calls for one tenant
//     run one at a time.
//   - Purge closes the tenant's instance, then calls its Purge (creating
//     and configuring an instance first when none is open), or answers
//     with an error wrapping ErrUnimplemented when the instance is no
//     Purger; then it forgets the tenant. When the instance's Purge fails,
//     the tenant stays configured, so that the host can try again.
//   - Describe is answered by an instance made for the tenant "", which is
//     not configured.
//   - Close closes every open instance, waiting for calls in flight; later
//     calls fail with an Unavailable error.
func PerTenant(newBackend func(tenant string) Backend, opts PerTenantOptions) Backend {
	return newPerTenant(newBackend, opts, time.Now)
}

// perTenant is the Backend PerTenant returns.
//
// Locking: a tenantSlot's mu serializes its tenant's calls and guards its
// config and inst. perTenant.mu guards the tenants map, the LRU list and
// every slot's users, elem and lastUsed. A goroutine that holds a slot's mu
// may take perTenant.mu, never the other way round, except to claim a slot
// that no call holds or waits for (users == 0), whose mu is then free.
type perTenant struct {
	newBackend  func(tenant string) Backend
	maxOpen     int
	idleTimeout time.Duration
	now         func() time.Time

	mu      sync.Mutex
	tenants map[string]*tenantSlot
	// lru holds the slots whose instance is an open io.Closer, most
	// recently used first, so it is ordered by lastUsed.
	lru    *list.List
	closed bool
	// stopSweep and sweepDone stop the idle sweeper and tell that it
	// stopped; nil until an instance that needs closing opens.
	stopSweep, sweepDone chan struct{}
}

// tenantSlot is one tenant's state.
type tenantSlot struct {
	tenant string

	mu sync.Mutex
	// config is the tenant's last accepted configuration; nil for a
	// tenant that was never configured, or was purged.
	config *ConfigureRequest
	// inst is the tenant's instance, nil when none is open; only set
	// while config is.
	inst Backend

	// users counts the calls that hold or wait for mu.
	users int
	// elem is the slot's element of perTenant.lru, nil when it is not in
	// the list.
	elem *list.Element
	// lastUsed is when the last call ended, or the instance opened.
	lastUsed time.Time
}

// errPerTenantClosed answers calls after Close.
var errPerTenantClosed = Unavailable("the backend is closed")

func newPerTenant(newBackend func(string) Backend, opts PerTenantOptions, now func() time.Time) *perTenant {
	p := &perTenant{
		newBackend:  newBackend,
		maxOpen:     opts.MaxOpen,
		idleTimeout: opts.IdleTimeout,
		now:         now,
		tenants:     map[string]*tenantSlot{},
		lru:         list.New(),
	}
	if p.maxOpen <= 0 {
		p.maxOpen = defaultMaxOpen
	}
	if p.idleTimeout <= 0 {
		p.idleTimeout = defaultIdleTimeout
	}
	return p
}

// notConfigured answers a call for a tenant that has no configuration.
func notConfigured(tenant string) error {
	return Unavailable("tenant %q is not configured", tenant)
}

// unimplemented answers a call for a method the instances lack.
func unimplemented(method string) error {
	return fmt.Errorf("the backend does not implement %s: %w", method, ErrUnimplemented)
}

// Describe describes the backend through an instance made for the tenant
// "", which is closed afterwards.
func (p *perTenant) Describe(ctx context.Context, req *DescribeRequest) (*DescribeResponse, error) {
	b := p.newBackend("")
	defer p.closeInstance("", b)
	return b.Describe(ctx, req)
}

// Configure keeps req as the tenant's configuration once the tenant's
// instance accepted it.
func (p *perTenant) Configure(ctx context.Context, req *ConfigureRequest) (*ConfigureResponse, error) {
	s, err := p.acquire(req.Tenant)
	if err != nil {
		return nil, err
	}
	defer p.release(s)
	inst := s.inst
	if inst == nil {
		inst = p.newBackend(req.Tenant)
	}
	resp, err := inst.Configure(ctx, req)
	if err != nil {
		// The instance may be half configured with req: close it, so the
		// next call makes one with the kept request.
		if inst == s.inst {
			p.drop(s)
		} else {
			p.closeInstance(req.Tenant, inst)
		}
		return nil, err
	}
	if inst != s.inst {
		if err := p.track(s, inst); err != nil {
			return nil, err
		}
	}
	kept := *req
	kept.Settings = bytes.Clone(req.Settings)
	s.config = &kept
	if resp == nil {
		resp = &ConfigureResponse{}
	}
	return resp, nil
}

// Apply applies req through the tenant's instance.
func (p *perTenant) Apply(ctx context.Context, req *ApplyRequest) (resp *ApplyResponse, err error) {
	err = p.call(ctx, req.Tenant, func(b Backend) error {
		resp, err = b.Apply(ctx, req)
		return err
	})
	return resp, err
}

// Inspect inspects the tenant's store through its instance.
func (p *perTenant) Inspect(ctx context.Context, req *InspectRequest) (resp *InspectResponse, err error) {
	err = p.call(ctx, req.Tenant, func(b Backend) error {
		inspector, ok := b.(Inspector)
		if !ok {
			return unimplemented("Inspect")
		}
		resp, err = inspector.Inspect(ctx, req)
		return err
	})
	return resp, err
}

// Action runs an action through the tenant's instance.
func (p *perTenant) Action(ctx context.Context, req *ActionRequest) (resp *ActionResponse, err error) {
	err = p.call(ctx, req.Tenant, func(b Backend) error {
		actioner, ok := b.(Actioner)
		if !ok {
			return unimplemented("Action")
		}
		resp, err = actioner.Action(ctx, req)
		return err
	})
	return resp, err
}

// Purge closes the tenant's instance, purges it and forgets the tenant.
func (p *perTenant) Purge(ctx context.Context, req *PurgeRequest) (*PurgeResponse, error) {
	s, err := p.acquire(req.Tenant)
	if err != nil {
		return nil, err
	}
	defer p.release(s)
	if s.config == nil {
		return nil, notConfigured(req.Tenant)
	}
	inst := s.inst
	if inst != nil {
		p.drop(s)
	} else {
		inst = p.newBackend(req.Tenant)
		if _, ok := inst.(Purger); ok {
			// It learns its data directory from the kept request.
			if _, err := inst.Configure(ctx, s.config); err != nil {
				p.closeInstance(req.Tenant, inst)
				return nil, fmt.Errorf("configuring tenant %q to purge it: %w", req.Tenant, err)
			}
		}
		p.closeInstance(req.Tenant, inst)
	}
	purger, ok := inst.(Purger)
	if !ok {
		s.config = nil
		return nil, unimplemented("Purge")
	}
	if _, err := purger.Purge(ctx, req); err != nil {
		return nil, err
	}
	s.config = nil
	return &PurgeResponse{}, nil
}

// Close closes every open instance and stops the idle sweeper; calls made
// afterwards fail. It waits for calls in flight, and is safe to call more
// than once.
func (p *perTenant) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	stop, done := p.stopSweep, p.sweepDone
	slots := slices.Collect(maps.Values(p.tenants))
	p.mu.Unlock()
	if stop != nil {
		close(stop)
		<-done
	}
	var errs []error
	for _, s := range slots {
		s.mu.Lock()
		errs = append(errs, p.drop(s))
		s.mu.Unlock()
	}
	return errors.Join(errs...)
}

// call runs fn with the tenant's instance, opening it when it is not.
func (p *perTenant) call(ctx context.Context, tenant string, fn func(Backend) error) error {
	s, err := p.acquire(tenant)
	if err != nil {
		return err
	}
	defer p.release(s)
	b, err := p.instance(ctx, s)
	if err != nil {
		return err
	}
	return fn(b)
}

// acquire returns the tenant's slot, made when there is none, with its mu
// locked. Release it with release.
func (p *perTenant) acquire(tenant string) (*tenantSlot, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, errPerTenantClosed
	}
	s := p.tenants[tenant]
	if s == nil {
		s = &tenantSlot{tenant: tenant}
		p.tenants[tenant] = s
	}
	s.users++
	p.mu.Unlock()
	s.mu.Lock()
	return s, nil
}

// release ends a call on s: it unlocks s's mu, marks s used, forgets a
// slot without configuration that nobody waits for, and closes the least
// recently used instances while too many are open.
func (p *perTenant) release(s *tenantSlot) {
	unconfigured := s.config == nil
	p.mu.Lock()
	s.mu.Unlock()
	s.users--
	s.lastUsed = p.now()
	if s.elem != nil {
		p.lru.MoveToFront(s.elem)
	}
	if unconfigured && s.users == 0 && p.tenants[s.tenant] == s {
		delete(p.tenants, s.tenant)
	}
	var victims []*tenantSlot
	for e := p.lru.Back(); e != nil && p.lru.Len() > p.maxOpen; {
		prev := e.Prev()
		if v := e.Value.(*tenantSlot); p.claim(v) {
			victims = append(victims, v)
		}
		e = prev
	}
	p.mu.Unlock()
	p.closeClaimed(victims)
}

// instance returns the tenant's open instance, or creates one and
// configures it with the kept request. s's mu is held.
func (p *perTenant) instance(ctx context.Context, s *tenantSlot) (Backend, error) {
	if s.config == nil {
		return nil, notConfigured(s.tenant)
	}
	if s.inst != nil {
		return s.inst, nil
	}
	inst := p.newBackend(s.tenant)
	if _, err := inst.Configure(ctx, s.config); err != nil {
		p.closeInstance(s.tenant, inst)
		return nil, fmt.Errorf("configuring tenant %q again: %w", s.tenant, err)
	}
	if err := p.track(s, inst); err != nil {
		return nil, err
	}
	return inst, nil
}

// track makes inst the tenant's open instance, in the LRU list when it
// needs closing. s's mu is held.
func (p *perTenant) track(s *tenantSlot, inst Backend) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.closeInstance(s.tenant, inst)
		return errPerTenantClosed
	}
	if _, ok := inst.(io.Closer); ok {
		s.lastUsed = p.now()
		s.elem = p.lru.PushFront(s)
		p.startSweeper()
	}
	p.mu.Unlock()
	s.inst = inst
	return nil
}

// drop closes the tenant's open instance, if any, and takes it out of the
// LRU list. s's mu is held.
func (p *perTenant) drop(s *tenantSlot) error {
	if s.inst == nil {
		return nil
	}
	p.mu.Lock()
	if s.elem != nil {
		p.lru.Remove(s.elem)
		s.elem = nil
	}
	p.mu.Unlock()
	err := p.closeInstance(s.tenant, s.inst)
	s.inst = nil
	return err
}

// claim takes s out of the LRU list and locks its mu, so that its instance
// can be closed, unless a call holds or waits for it. p.mu is held; no
// one else can then hold the mu of a slot without users.
func (p *perTenant) claim(s *tenantSlot) bool {
	if s.users > 0 || !s.mu.TryLock() {
		return false
	}
	p.lru.Remove(s.elem)
	s.elem = nil
	return true
}

// closeClaimed closes the instances of claimed slots and unlocks them. A
// call for one of their tenants waits until its instance is closed, then
// opens a new one.
func (p *perTenant) closeClaimed(slots []*tenantSlot) {
	for _, s := range slots {
		p.closeInstance(s.tenant, s.inst)
		s.inst = nil
		s.mu.Unlock()
	}
}

// closeInstance closes b when it is an io.Closer, logging a failure.
func (p *perTenant) closeInstance(tenant string, b Backend) error {
	c, ok := b.(io.Closer)
	if !ok {
		return nil
	}
	if err := c.Close(); err != nil {
		hclog.Default().Error("closing a tenant's backend instance", "tenant", tenant, "error", err)
		return fmt.Errorf("closing tenant %q: %w", tenant, err)
	}
	return nil
}

// startSweeper starts the goroutine that closes idle instances, once.
// p.mu is held.
func (p *perTenant) startSweeper() {
	if p.stopSweep != nil {
		return
	}
	p.stopSweep, p.sweepDone = make(chan struct{}), make(chan struct{})
	go func(stop <-chan struct{}, done chan<- struct{}) {
		defer close(done)
		tick := time.NewTicker(max(p.idleTimeout/2, time.Millisecond))
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				p.closeIdle()
			}
		}
	}(p.stopSweep, p.sweepDone)
}

// closeIdle closes the instances unused for longer than the idle timeout
// that have no call in flight.
func (p *perTenant) closeIdle() {
	p.mu.Lock()
	deadline := p.now().Add(-p.idleTimeout)
	var victims []*tenantSlot
	for e := p.lru.Back(); e != nil; {
		prev := e.Prev()
		v := e.Value.(*tenantSlot)
		if v.lastUsed.After(deadline) {
			break // the rest were used later still
		}
		if p.claim(v) {
			victims = append(victims, v)
		}
		e = prev
	}
	p.mu.Unlock()
	p.closeClaimed(victims)
}

// Interface guards
var (
	_ Backend   = (*perTenant)(nil)
	_ Inspector = (*perTenant)(nil)
	_ Actioner  = (*perTenant)(nil)
	_ Purger    = (*perTenant)(nil)
	_ io.Closer = (*perTenant)(nil)
)
