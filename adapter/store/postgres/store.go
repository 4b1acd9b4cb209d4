package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"

	"github.com/caddy-scim/caddy-scim/adapter/store"
)

// Options configure a Store.
type Options struct {
	// DSN is the database's connection string (a postgres:// URL or
	// key=value pairs, as libpq takes them).
	DSN string
	// MaxConns bounds the connection pool; 0 keeps pgx's default (the
	// larger of 4 and the number of CPUs).
	MaxConns int32
	// Logger receives the store's logs; defaults to a no-op.
	Logger *zap.Logger
	// Now is the clock; defaults to time.Now.
	Now func() time.Time
	// Instance is the name this process holds leases under (a tenant's
	// delivery, say), unique among the processes sharing the database;
	// defaults to the host name and a random suffix drawn at each Open.
	Instance string
	// LeaseTTL is how long a lease lasts after its holder last renewed
	// it: another process takes a dead one's leases over that long after
	// its last renewal. Defaults to 10s; at least 1s.
	LeaseTTL time.Duration
	// JournalRetention is how long delivered journal entries are kept
	// (see CompactJournal); 0 means store.DefaultJournalRetention.
	JournalRetention time.Duration
	// MaintenanceInterval is how often one of the instances compacts the
	// journal; 0 means store.DefaultMaintenanceInterval, and a negative
	// value never does.
	MaintenanceInterval time.Duration
}

// Store keeps the SCIM store in PostgreSQL.
type Store struct {
	pool   *pgxpool.Pool
	opts   Options
	write  *Committer
	leases *Leases

	// created counts resources this instance created, and analyzeAt is
	// the count at which it next refreshes the planner's statistics.
	created   atomic.Int64
	analyzeAt atomic.Int64

	// life ends at Close (stop cancels it), and with it the background
	// work: the maintenance loop, which closes done, and refreshes of the
	// planner's statistics.
	life      context.Context
	stop      context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once
}

// Open connects to the database, brings its schema up to date (see
// Migrate) and returns the store.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if opts.DSN == "" {
		return nil, errors.New("the PostgreSQL store needs a DSN")
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Instance == "" {
		opts.Instance = instanceName()
	}
	if opts.LeaseTTL == 0 {
		opts.LeaseTTL = DefaultLeaseTTL
	}
	cfg, err := pgxpool.ParseConfig(opts.DSN)
	if err != nil {
		// The DSN may hold a password: say what is wrong, not what it is.
		return nil, errors.New("the PostgreSQL DSN cannot be parsed; expected postgres://user:password@host:port/database or key=value pairs")
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("opening the PostgreSQL pool: %w", err)
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("connecting to PostgreSQL: %w", err)
	}
	from, err := Migrate(ctx, conn.Conn())
	conn.Release()
	if err != nil {
		pool.Close()
		return nil, err
	}
	if from != SchemaVersion() {
		opts.Logger.Info("upgraded the PostgreSQL schema", zap.Int("from", from), zap.Int("to", SchemaVersion()))
	}
	leases, err := NewLeases(pool, opts.Instance, opts.LeaseTTL)
	if err != nil {
		pool.Close()
		return nil, err
	}
	if opts.JournalRetention <= 0 {
		opts.JournalRetention = store.DefaultJournalRetention
	}
	if opts.MaintenanceInterval == 0 {
		opts.MaintenanceInterval = store.DefaultMaintenanceInterval
	}
	s := &Store{pool: pool, opts: opts, write: NewCommitter(pool, opts.Now), leases: leases,
		done: make(chan struct{})}
	s.life, s.stop = context.WithCancel(context.Background())
	s.analyzeAt.Store(firstAnalyze)
	go s.maintain()
	return s, nil
}

// Close stops the maintenance loop and closes the connection pool. It is
// safe to call more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.stop()
		<-s.done
		s.pool.Close()
	})
	return nil
}
