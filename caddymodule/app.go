// Package caddymodule packages the SCIM engine as Caddy v2 modules: the
// "scim" app, which owns the long-lived state (the Badger store and the
// token manager, shared across config reloads), the http.handlers.scim
// handler that authenticates each tenant's bearer token and serves its SCIM
// base, the scim Caddyfile directive and global option, the admin API
// (admin.api.scim) and the "caddy scim" commands.
package caddymodule

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-scim/caddy-scim/adapter/delivery"
	"github.com/caddy-scim/caddy-scim/adapter/requestlog"
	"github.com/caddy-scim/caddy-scim/adapter/store/postgres"
	"github.com/caddy-scim/caddy-scim/adapter/tenants"
	"github.com/caddy-scim/caddy-scim/adapter/tokens"
	"github.com/caddy-scim/caddy-scim/caddymodule/console"
	"github.com/caddy-scim/caddy-scim/plugins/sdk"
)

func init() {
	caddy.RegisterModule(App{})
}

// clock, when set, replaces time.Now as the clock of tokens, sessions and
// the store; tests move it. It is read by request and background
// goroutines, so it is swapped atomically.
var clock atomic.Pointer[func() time.Time]

// now is the module's clock.
func now() time.Time {
	if f := clock.Load(); f != nil {
		return (*f)()
	}
	return time.Now()
}

// DefaultFlushInterval is how often access times are written.
const DefaultFlushInterval = 30 * time.Second

// App is the "scim" app. It holds the store and the token manager of one
// storage directory; handlers find it with ctx.App("scim") and register the
// tenants they serve with it.
//
// The store and token manager are shared through a usage pool keyed by the
// storage directory: Caddy provisions a new config before it stops the old
// one, and Badger allows one open per directory.
type App struct {
	// StorageDir is the directory of the Badger database holding
	// resources, the change journal, token hashes and access times, and
	// of the built-in backends' data (with either engine). Defaults to
	// "scim" in Caddy's data directory.
	StorageDir string `json:"storage_dir,omitempty"`
	// Storage chooses the storage engine: Badger in StorageDir (the
	// default) or a PostgreSQL database several instances share.
	Storage *Storage `json:"storage,omitempty"`
	// FlushInterval is how often the tenants' last-access times are
	// written to storage; requests only update memory. Defaults to 30s.
	FlushInterval caddy.Duration `json:"flush_interval,omitempty"`
	// CacheSize is the memory, in bytes, for cached blocks of the store's
	// tables. Defaults to 64 MiB.
	CacheSize int64 `json:"cache_size,omitempty"`
	// IndexCacheSize is the memory, in bytes, for the tables' indexes and
	// bloom filters; beyond it they are read from disk when needed.
	// Defaults to 32 MiB.
	IndexCacheSize int64 `json:"index_cache_size,omitempty"`
	// MemTableSize is the size, in bytes, of each of the store's three
	// in-memory write buffers; one write may use up to about 15% of it.
	// Defaults to 32 MiB.
	MemTableSize int64 `json:"memtable_size,omitempty"`
	// JournalRetention is how long the change journal keeps entries that
	// were delivered to the backend; older ones are deleted, except each
	// tenant's newest. Undelivered entries are kept however old. The
	// console's recent activity shows what the journal keeps. Defaults
	// to 7 days.
	JournalRetention caddy.Duration `json:"journal_retention,omitempty"`

	ctx    caddy.Context
	logger *zap.Logger
	shared *shared
	reg    *registry

	// startMu guards the start of this config's handlers and Cleanup;
	// ready is set once the store is open and every handler has started.
	startMu *sync.Mutex
	ready   *atomic.Bool
	// released is set once Cleanup has given back the pooled state.
	released bool
	// poolKey is the key of the shared state in the pool.
	poolKey string
}

// registry holds the tenants the handlers of one config serve.
type registry struct {
	mu sync.RWMutex
	// tenants are the tenants declared in the config.
	tenants map[string]*registration
	// runtime are the enabled runtime tenants of the config's profiles.
	runtime  map[string]*registration
	profiles map[string]*profileReg
	handlers []*Handler
	consoles []*ConsoleHandler
}

// registration is a tenant served by a handler of this config.
type registration struct {
	handler *Handler
	// tenant is the tenant's configuration; for a runtime tenant, its
	// profile's with the record's overrides.
	tenant *Tenant
	// limit is the tenant's rate limit bucket, when it has a rate limit.
	limit *bucket
	// backend is the tenant's backend once the config started.
	backend *tenantBackend
	// record and profile are set for a runtime tenant.
	record  *tenants.Record
	profile string
}

// CaddyModule returns the Caddy module information.
func (App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "scim",
		New: func() caddy.Module { return new(App) },
	}
}

// memorySettings are the store's memory options, and its journal
// retention, which also applies when the store is opened.
type memorySettings struct {
	CacheSize, IndexCacheSize, MemTableSize int64
	JournalRetention                        time.Duration
}

// pool shares the open stores between configs.
var pool = caddy.NewUsagePool()

// shared is the state of one store. Joining it has no side
// effect: the store is opened, and delivery started, by the first config
// that starts (open), never by one that is only provisioned, as
// "caddy validate" does.
type shared struct {
	dir string
	// postgres is the PostgreSQL engine's settings; nil for Badger.
	postgres *Storage
	// notifier carries other instances' changes, on PostgreSQL.
	notifier *postgres.Notifier
	// apps are the started configs using this store.
	appsMu sync.Mutex
	apps   map[*App]bool
	// key is the pool key: the storage directory or the hashed DSN.
	key   string
	every time.Duration
	// memory are the store's memory settings of the config that opened
	// the directory: they apply until the process restarts.
	memory memorySettings

	// openMu guards opening; opened is set once store, tokens and
	// deliverer are set, and they are not changed after.
	openMu sync.Mutex
	opened bool

	store     engine
	tokens    *tokens.Manager
	deliverer *delivery.Deliverer
	logger    *zap.Logger
	// failures limits failed client authentications at the tenants'
	// token endpoints.
	failures *failureLimiter
	stop     chan struct{}
	done     chan struct{}

	// cursorKey signs the pagination cursors of every handler on this
	// storage directory.
	cursorKey []byte

	// hosts are the running backend hosts of each tenant, oldest first;
	// the last one is the delivery target.
	hostsMu sync.Mutex
	hosts   map[string][]*tenantBackend

	// skipped counts, per tenant, the member ids that named nothing.
	skipped skippedLog

	// runtime are the runtime tenants kept in the store.
	runtime *tenants.Registry

	// requests are each tenant's last requests, for the console's
	// connection check; on PostgreSQL, every instance's.
	requests requestlog.Log
	// console holds the console's sign-in links and sessions.
	console *console.Sessions
}

// open opens the store and starts delivery, the flush loop and, on a
// shared database, the notifications of other instances, once.
func (s *shared) open() error {
	s.openMu.Lock()
	defer s.openMu.Unlock()
	if s.opened {
		return nil
	}
	st, err := s.openEngine(context.Background())
	if err != nil {
		return err
	}
	s.store = st
	s.runtime, err = tenants.Load(context.Background(), st, func() time.Time { return now() })
	if err != nil {
		st.Close()
		return err
	}
	s.tokens = tokens.NewManager(st, func() time.Time { return now() })
	s.deliverer = delivery.New(st, delivery.Options{
		IsInvalid: sdk.IsInvalid,
		Lease:     deliveryLease(st),
		Logger:    s.logger.Named("delivery"),
		Now:       func() time.Time { return now() },
	})
	if err := s.deliverer.Start(context.Background()); err != nil {
		st.Close()
		return fmt.Errorf("starting delivery: %w", err)
	}
	if err := s.listen(context.Background()); err != nil {
		s.deliverer.Stop()
		st.Close()
		return err
	}
	if pg, ok := st.(*postgres.Store); ok {
		// Every instance's requests, for the console's connection check.
		s.requests.Share(pg, pg.Instance(), requestsInterval, s.logger.Named("requests"))
	}
	go s.flushLoop(s.every)
	s.opened = true
	return nil
}

// Destruct stops delivery, flushes access times and closes the store when
// the last config using the directory is cleaned up; if no config
// started, there is nothing to close.
func (s *shared) Destruct() error {
	s.openMu.Lock()
	defer s.openMu.Unlock()
	if !s.opened {
		return nil
	}
	s.opened = false
	if s.notifier != nil {
		s.notifier.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.requests.Close(ctx); err != nil {
		s.logger.Warn("keeping the latest requests for the console", zap.Error(err))
	}
	close(s.stop)
	<-s.done
	s.deliverer.Stop()
	if err := s.tokens.Flush(context.Background()); err != nil {
		s.logger.Error("saving access times", zap.Error(err))
	}
	return s.store.Close()
}

func (s *shared) flushLoop(every time.Duration) {
	defer close(s.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			if err := s.tokens.Flush(context.Background()); err != nil {
				s.logger.Error("saving access times", zap.Error(err))
			}
		}
	}
}

// Provision sets defaults and joins the shared state of the storage
// directory, without opening it: Start does, so that validating a config
// creates nothing and starts nothing.
func (a *App) Provision(ctx caddy.Context) error {
	if a.CacheSize < 0 || a.IndexCacheSize < 0 || a.MemTableSize < 0 || a.JournalRetention < 0 {
		return errors.New("cache_size, index_cache_size, memtable_size and journal_retention cannot be negative")
	}
	if a.JournalRetention != 0 && time.Duration(a.JournalRetention) < time.Hour {
		return fmt.Errorf("journal_retention %s is too short: at least 1h, so that delivery and the console's activity view keep what they read", time.Duration(a.JournalRetention))
	}
	a.ctx = ctx
	a.logger = ctx.Logger()
	a.reg = &registry{tenants: map[string]*registration{}, runtime: map[string]*registration{}, profiles: map[string]*profileReg{}}
	a.startMu, a.ready = new(sync.Mutex), new(atomic.Bool)
	if a.StorageDir == "" {
		a.StorageDir = filepath.Join(caddy.AppDataDir(), "scim")
	}
	dir, err := filepath.Abs(a.StorageDir)
	if err != nil {
		return fmt.Errorf("resolving storage_dir %s: %w", a.StorageDir, err)
	}
	a.StorageDir = dir
	if a.FlushInterval <= 0 {
		a.FlushInterval = caddy.Duration(DefaultFlushInterval)
	}
	logger := a.logger
	every := time.Duration(a.FlushInterval)
	memory := memorySettings{CacheSize: a.CacheSize, IndexCacheSize: a.IndexCacheSize, MemTableSize: a.MemTableSize,
		JournalRetention: time.Duration(a.JournalRetention)}
	key, err := a.provisionStorage()
	if err != nil {
		return err
	}
	a.poolKey = key
	var pgSettings *Storage
	if a.engineName() == enginePostgres {
		settings := *a.Storage
		pgSettings = &settings
	}
	val, _, err := pool.LoadOrNew(key, func() (caddy.Destructor, error) {
		s := &shared{
			dir:      dir,
			key:      key,
			postgres: pgSettings,
			apps:     map[*App]bool{},
			every:    every,
			memory:   memory,
			logger:   logger,
			failures: &failureLimiter{},
			stop:     make(chan struct{}),
			done:     make(chan struct{}),
			hosts:    map[string][]*tenantBackend{},
			console:  console.NewSessions(func() time.Time { return now() }),
		}
		s.cursorKey = make([]byte, 32)
		if _, err := rand.Read(s.cursorKey); err != nil {
			return nil, fmt.Errorf("generating the cursor key: %w", err)
		}
		return s, nil
	})
	if err != nil {
		return err
	}
	a.shared = val.(*shared)
	if a.shared.memory != memory {
		a.logger.Warn("the store's memory or journal settings changed; they apply when Caddy restarts (a reload keeps the open store)",
			zap.Int64("cache_size", a.CacheSize), zap.Int64("index_cache_size", a.IndexCacheSize), zap.Int64("memtable_size", a.MemTableSize),
			zap.Duration("journal_retention", time.Duration(a.JournalRetention)))
	}
	return registerTenantCollector(ctx.GetMetricsRegistry(), a)
}

// Start implements caddy.App. It logs what this config serves: Caddy
// starts the apps of a config only once every module of it was
// provisioned, so the line comes at start and after each successful
// reload, never for a rejected one.
func (a *App) Start() error {
	if err := a.start(); err != nil {
		return err
	}
	a.logServing()
	return nil
}

// start opens the store and starts this config's handlers (their backend
// processes), once. Caddy starts the apps of a config in no set order, so
// the http app may pass a request to a handler before this app's Start:
// the handler calls start too.
func (a *App) start() error {
	if a.ready.Load() {
		return nil
	}
	a.startMu.Lock()
	defer a.startMu.Unlock()
	if a.ready.Load() {
		return nil
	}
	if a.released {
		return errors.New("the scim app was cleaned up")
	}
	if err := a.shared.open(); err != nil {
		return err
	}
	a.reg.mu.RLock()
	handlers := append([]*Handler(nil), a.reg.handlers...)
	a.reg.mu.RUnlock()
	for _, h := range handlers {
		if err := h.start(); err != nil {
			return err
		}
	}
	if err := a.loadRuntime(context.Background()); err != nil {
		return err
	}
	a.shared.addApp(a)
	a.ready.Store(true)
	return nil
}

// Stop implements caddy.App.
func (a *App) Stop() error { return nil }

// Cleanup releases this config's use of the store. It is safe after a
// failed Provision and safe to call twice. The shared state stays
// reachable: on a reload Caddy cleans up the old config while its last
// requests may still be running, and the new config keeps the store open.
func (a *App) Cleanup() error {
	if a.startMu == nil {
		return nil
	}
	a.startMu.Lock()
	defer a.startMu.Unlock()
	if a.shared == nil || a.released {
		return nil
	}
	a.released = true
	a.shared.removeApp(a)
	a.unloadRuntime()
	_, err := pool.Delete(a.poolKey)
	return err
}

// register records that h serves tenant; a tenant name may be served by
// one handler per config.
func (a *App) register(name string, h *Handler, t *Tenant) error {
	a.reg.mu.Lock()
	defer a.reg.mu.Unlock()
	if other, ok := a.reg.tenants[name]; ok && other.handler != h {
		return fmt.Errorf("tenant %q is served by two scim handlers; declare each tenant once", name)
	}
	reg := &registration{handler: h, tenant: t}
	if rl := t.RateLimit; rl != nil && rl.Requests > 0 && rl.Window > 0 {
		reg.limit = newBucket(rl.Requests, time.Duration(rl.Window))
	}
	a.reg.tenants[name] = reg
	return nil
}

// join records a handler of this config, which start starts.
func (a *App) join(h *Handler) {
	a.reg.mu.Lock()
	defer a.reg.mu.Unlock()
	a.reg.handlers = append(a.reg.handlers, h)
}

// unregister forgets h as a handler to start. Its tenants stay
// registered: a request of this config still in flight during a reload
// goes on being served.
func (a *App) unregister(h *Handler) {
	a.reg.mu.Lock()
	defer a.reg.mu.Unlock()
	for i, x := range a.reg.handlers {
		if x == h {
			a.reg.handlers = append(a.reg.handlers[:i:i], a.reg.handlers[i+1:]...)
			break
		}
	}
}

// tenant returns the registration of a tenant this config serves: one
// declared in the config, or an enabled runtime tenant; nil otherwise.
func (a *App) tenant(name string) *registration {
	a.reg.mu.RLock()
	defer a.reg.mu.RUnlock()
	if r := a.reg.tenants[name]; r != nil {
		return r
	}
	return a.reg.runtime[name]
}

// tenantNames returns the tenants this config serves.
func (a *App) tenantNames() []string {
	a.reg.mu.RLock()
	defer a.reg.mu.RUnlock()
	names := make([]string, 0, len(a.reg.tenants)+len(a.reg.runtime))
	for n := range a.reg.tenants {
		names = append(names, n)
	}
	for n := range a.reg.runtime {
		names = append(names, n)
	}
	return names
}

// addApp records a started config using the store.
func (s *shared) addApp(a *App) {
	s.appsMu.Lock()
	defer s.appsMu.Unlock()
	s.apps[a] = true
}

// removeApp forgets a config that was cleaned up.
func (s *shared) removeApp(a *App) {
	s.appsMu.Lock()
	defer s.appsMu.Unlock()
	delete(s.apps, a)
}

// startedApps returns the started configs using the store.
func (s *shared) startedApps() []*App {
	s.appsMu.Lock()
	defer s.appsMu.Unlock()
	out := make([]*App, 0, len(s.apps))
	for a := range s.apps {
		out = append(out, a)
	}
	return out
}

// Interface guards
var (
	_ caddy.App          = (*App)(nil)
	_ caddy.Provisioner  = (*App)(nil)
	_ caddy.CleanerUpper = (*App)(nil)
	_ caddy.Destructor   = (*shared)(nil)
)
