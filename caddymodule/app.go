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
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-scim/caddy-scim/adapter/delivery"
	"github.com/caddy-scim/caddy-scim/adapter/store"
	"github.com/caddy-scim/caddy-scim/adapter/tokens"
	"github.com/caddy-scim/caddy-scim/plugins/sdk"
)

func init() {
	caddy.RegisterModule(App{})
}

// now is the clock of tokens and the store; tests move it.
var now = time.Now

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
	// resources, the change journal, token hashes and access times.
	// Defaults to "scim" in Caddy's data directory.
	StorageDir string `json:"storage_dir,omitempty"`
	// FlushInterval is how often the tenants' last-access times are
	// written to storage; requests only update memory. Defaults to 30s.
	FlushInterval caddy.Duration `json:"flush_interval,omitempty"`

	ctx    caddy.Context
	logger *zap.Logger
	shared *shared
	reg    *registry
	// released is set once Cleanup has given back the pooled state.
	released bool
}

// registry holds the tenants the handlers of one config serve.
type registry struct {
	mu      sync.RWMutex
	tenants map[string]*registration
}

// registration is a tenant served by a handler of this config.
type registration struct {
	handler *Handler
	tenant  *Tenant
}

// CaddyModule returns the Caddy module information.
func (App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "scim",
		New: func() caddy.Module { return new(App) },
	}
}

// pool shares the open stores between configs.
var pool = caddy.NewUsagePool()

// shared is the state of one storage directory.
type shared struct {
	store     *store.Badger
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

	hostsMu sync.Mutex
	hosts   map[string]*pluginHost

	// skipped counts, per tenant, the member ids that named nothing.
	skipped skippedLog
}

// Destruct stops delivery, flushes access times and closes the store when
// the last config using the directory is cleaned up.
func (s *shared) Destruct() error {
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

// Provision opens (or joins) the store of the storage directory.
func (a *App) Provision(ctx caddy.Context) error {
	a.ctx = ctx
	a.logger = ctx.Logger()
	a.reg = &registry{tenants: map[string]*registration{}}
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
	val, _, err := pool.LoadOrNew(dir, func() (caddy.Destructor, error) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("creating storage directory %s: %w", dir, err)
		}
		st, err := store.Open(store.Options{Dir: dir, Logger: logger.Named("store"), Now: func() time.Time { return now() }})
		if err != nil {
			return nil, err
		}
		s := &shared{
			store:  st,
			tokens: tokens.NewManager(st, func() time.Time { return now() }),
			deliverer: delivery.New(st, delivery.Options{
				IsInvalid: sdk.IsInvalid,
				Logger:    logger.Named("delivery"),
				Now:       func() time.Time { return now() },
			}),
			logger:   logger,
			failures: &failureLimiter{},
			stop:     make(chan struct{}),
			done:     make(chan struct{}),
			hosts:    map[string]*pluginHost{},
		}
		s.cursorKey = make([]byte, 32)
		if _, err := rand.Read(s.cursorKey); err != nil {
			st.Close()
			return nil, fmt.Errorf("generating the cursor key: %w", err)
		}
		if err := s.deliverer.Start(context.Background()); err != nil {
			st.Close()
			return nil, fmt.Errorf("starting delivery: %w", err)
		}
		go s.flushLoop(every)
		return s, nil
	})
	if err != nil {
		return err
	}
	a.shared = val.(*shared)
	return nil
}

// Start implements caddy.App. It logs what this config serves: Caddy
// starts the apps of a config only once every module of it was
// provisioned, so the line comes at start and after each successful
// reload, never for a rejected one.
func (a *App) Start() error {
	a.logServing()
	return nil
}

// Stop implements caddy.App.
func (a *App) Stop() error { return nil }

// Cleanup releases this config's use of the store. It is safe after a
// failed Provision and safe to call twice. The shared state stays
// reachable: on a reload Caddy cleans up the old config while its last
// requests may still be running, and the new config keeps the store open.
func (a *App) Cleanup() error {
	if a.shared == nil || a.released {
		return nil
	}
	a.released = true
	_, err := pool.Delete(a.StorageDir)
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
	a.reg.tenants[name] = &registration{handler: h, tenant: t}
	return nil
}

func (a *App) unregister(h *Handler) {
	a.reg.mu.Lock()
	defer a.reg.mu.Unlock()
	for name, r := range a.reg.tenants {
		if r.handler == h {
			delete(a.reg.tenants, name)
		}
	}
}

// tenant returns the registration of a tenant, or nil.
func (a *App) tenant(name string) *registration {
	a.reg.mu.RLock()
	defer a.reg.mu.RUnlock()
	return a.reg.tenants[name]
}

// tenantNames returns the registered tenants.
func (a *App) tenantNames() []string {
	a.reg.mu.RLock()
	defer a.reg.mu.RUnlock()
	names := make([]string, 0, len(a.reg.tenants))
	for n := range a.reg.tenants {
		names = append(names, n)
	}
	return names
}

// Interface guards
var (
	_ caddy.App          = (*App)(nil)
	_ caddy.Provisioner  = (*App)(nil)
	_ caddy.CleanerUpper = (*App)(nil)
	_ caddy.Destructor   = (*shared)(nil)
)
