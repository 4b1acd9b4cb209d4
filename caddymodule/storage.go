package caddymodule

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-scim/caddy-scim/adapter/delivery"
	"github.com/caddy-scim/caddy-scim/adapter/store"
	"github.com/caddy-scim/caddy-scim/adapter/store/postgres"
	"github.com/caddy-scim/caddy-scim/adapter/tenants"
	"github.com/caddy-scim/caddy-scim/adapter/tokens"
)

// The storage engines.
const (
	engineBadger   = "badger"
	enginePostgres = "postgres"
)

// Storage chooses the engine that keeps everything the module stores:
// resources and their indexes, membership, the change journal, token and
// OAuth client hashes, access times, delivery state and dead letters,
// runtime tenants, console sign-in links and sessions, and the key that
// signs list cursors.
type Storage struct {
	// Engine is "badger" (the default: an embedded database in
	// storage_dir, for one instance) or "postgres" (a PostgreSQL database
	// that several instances share).
	Engine string `json:"engine,omitempty"`
	// DSN is the PostgreSQL connection string, a postgres:// URL or
	// key=value pairs; placeholders such as {env.SCIM_DATABASE_URL} are
	// replaced when the config is loaded, so the password stays out of
	// the config. Required for "postgres"; never logged.
	DSN string `json:"dsn,omitempty"`
	// MaxConns bounds the instance's connection pool. Defaults to the
	// larger of 4 and the number of CPUs.
	MaxConns int32 `json:"max_conns,omitempty"`
	// Instance names this instance in the delivery leases the instances
	// share (which instance delivers which tenant). Defaults to the host
	// name and a random suffix; give each instance its own name.
	Instance string `json:"instance,omitempty"`
}

// engine is what the app needs of a store: both engines are one.
type engine interface {
	delivery.Store
	tokens.Persistence
	tokens.ClientPersistence
	tenants.Persistence
}

var (
	_ engine = (*store.Badger)(nil)
	_ engine = (*postgres.Store)(nil)
)

// engineName is the configured engine, "badger" when none is.
func (a *App) engineName() string {
	if a.Storage == nil || a.Storage.Engine == "" {
		return engineBadger
	}
	return a.Storage.Engine
}

// provisionStorage checks the storage settings and resolves the DSN's
// placeholders; it returns the key the open store is shared under.
func (a *App) provisionStorage() (string, error) {
	switch a.engineName() {
	case engineBadger:
		if a.Storage != nil && (a.Storage.DSN != "" || a.Storage.MaxConns != 0 || a.Storage.Instance != "") {
			return "", errors.New("storage: dsn, max_conns and instance are settings of the postgres engine")
		}
		return a.StorageDir, nil
	case enginePostgres:
		s := a.Storage
		if s.MaxConns < 0 {
			return "", errors.New("storage: max_conns cannot be negative")
		}
		repl := caddy.NewReplacer()
		dsn, err := repl.ReplaceOrErr(s.DSN, true, true)
		if err != nil {
			// The replacer's error names the placeholder, never a value.
			return "", fmt.Errorf("storage: the postgres dsn: %w", err)
		}
		if strings.TrimSpace(dsn) == "" {
			return "", errors.New("storage: the postgres engine needs a dsn, such as {env.SCIM_DATABASE_URL}")
		}
		s.DSN = dsn
		// The pool key holds the DSN only hashed: it may carry a password.
		sum := sha256.Sum256([]byte(dsn))
		return "postgres:" + hex.EncodeToString(sum[:]), nil
	}
	return "", fmt.Errorf("storage: unknown engine %q; use badger or postgres", a.Storage.Engine)
}

// openEngine opens the shared state's store.
func (s *shared) openEngine(ctx context.Context) (engine, error) {
	if s.postgres == nil {
		if err := os.MkdirAll(s.dir, 0o700); err != nil {
			return nil, fmt.Errorf("creating storage directory %s: %w", s.dir, err)
		}
		return store.Open(store.Options{Dir: s.dir, Logger: s.logger.Named("store"), Now: func() time.Time { return now() },
			BlockCacheSize: s.memory.CacheSize, IndexCacheSize: s.memory.IndexCacheSize, MemTableSize: s.memory.MemTableSize,
			JournalRetention: s.memory.JournalRetention})
	}
	cfg := s.postgres
	pg, err := postgres.Open(ctx, postgres.Options{DSN: cfg.DSN, MaxConns: cfg.MaxConns, Instance: cfg.Instance, JournalRetention: s.memory.JournalRetention,
		Logger: s.logger.Named("store"), Now: func() time.Time { return now() }})
	if err != nil {
		return nil, err
	}
	key, err := pg.Console().Key(ctx, "cursor_key")
	if err != nil {
		pg.Close()
		return nil, fmt.Errorf("reading the cursor key: %w", err)
	}
	s.cursorKey = key
	// The console handlers of the config were given s.console when it
	// loaded; it moves onto the database now.
	if err := s.console.Share(ctx, pg.Console()); err != nil {
		pg.Close()
		return nil, fmt.Errorf("starting console sessions: %w", err)
	}
	return pg, nil
}

// requestsInterval is how often an instance on PostgreSQL appends the
// requests it served to the shared list of latest requests.
const requestsInterval = 250 * time.Millisecond

// deliveryLease is the engine's delivery lease, when instances share it.
func deliveryLease(st engine) delivery.Lease {
	if l, ok := st.(delivery.Lease); ok {
		return l
	}
	return nil
}

// listen starts the notifications that keep this instance in step with
// the others on a shared database: new journal entries wake delivery, and
// a tenant's credentials or record changed elsewhere drop what this
// instance caches of it. After every reconnection everything cached is
// dropped and every tenant's delivery woken, since notifications sent
// meanwhile are lost.
func (s *shared) listen(ctx context.Context) error {
	pg, ok := s.store.(*postgres.Store)
	if !ok {
		return nil
	}
	n, err := postgres.StartNotifier(ctx, postgres.NotifierOptions{
		DSN:      s.postgres.DSN,
		Channels: []string{postgres.ChangesChannel, postgres.TenantsChannel},
		Handle: func(channel, tenant string) {
			switch channel {
			case postgres.ChangesChannel:
				s.deliverer.Notify(tenant)
			case postgres.TenantsChannel:
				s.tenantChanged(tenant)
			}
		},
		OnListen: s.resync,
		Logger:   s.logger.Named("notify"),
	})
	if err != nil {
		return fmt.Errorf("listening for changes of other instances: %w", err)
	}
	s.notifier = n
	s.logger.Info("sharing the PostgreSQL store with other instances", zap.String("instance", pg.Instance()))
	return nil
}

// tenantChanged drops what this instance caches of a tenant whose
// credentials or runtime record another instance changed, and serves the
// tenant's record as stored now.
func (s *shared) tenantChanged(tenant string) {
	s.tokens.Invalidate(tenant)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	old, next, err := s.runtime.Refresh(ctx, tenant)
	if err != nil {
		s.logger.Error("reading a tenant changed by another instance", zapTenant(tenant), zap.Error(err))
		return
	}
	if tenants.SameRecord(old, next) {
		return
	}
	for _, a := range s.startedApps() {
		a.applyRuntime(ctx, tenant, next)
	}
}

// resync runs after each (re)connection of the notifications.
func (s *shared) resync() {
	if s.tokens == nil {
		return
	}
	s.tokens.InvalidateAll()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	changed, err := s.runtime.RefreshAll(ctx)
	if err != nil {
		s.logger.Error("reading runtime tenants after reconnecting", zap.Error(err))
	}
	for _, name := range changed {
		rec, ok := s.runtime.Get(name)
		var next *tenants.Record
		if ok {
			next = &rec
		}
		for _, a := range s.startedApps() {
			a.applyRuntime(ctx, name, next)
		}
	}
	s.hostsMu.Lock()
	names := make([]string, 0, len(s.hosts))
	for name := range s.hosts {
		names = append(names, name)
	}
	s.hostsMu.Unlock()
	for _, name := range names {
		s.deliverer.Notify(name)
	}
}

// applyRuntime serves a runtime tenant as its record now says: installed
// when enabled with a profile of this config, removed otherwise.
func (a *App) applyRuntime(ctx context.Context, name string, rec *tenants.Record) {
	if a.staticTenant(name) != nil {
		return
	}
	if rec == nil || rec.Disabled || rec.Purging || a.profile(rec.Profile) == nil {
		a.removeRuntime(name)
		return
	}
	reg, err := a.prepareRuntime(ctx, rec, false)
	if err != nil {
		a.logger.Error("serving a runtime tenant changed by another instance", zapTenant(name), zap.Error(err))
		a.removeRuntime(name)
		return
	}
	a.installRuntime(reg)
}
