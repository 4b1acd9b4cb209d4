package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"
)

// maintenanceLease is the lease under which one instance at a time
// compacts the journal.
const maintenanceLease = "maintenance/journal"

// compactChunk is how many journal entries one statement deletes at most.
const compactChunk = 5000

// CompactJournal deletes the journal entries retention no longer keeps,
// in every tenant, and returns how many it deleted: the same rule as the
// embedded engine's (store.Badger.CompactJournal). An entry goes once it
// was delivered (at or below the tenant's delivery cursor), is older than
// retention, and is not the tenant's newest. A tenant's journal loses only
// a prefix: compaction stops before the first entry it must keep, so what
// remains is one unbroken run of sequences ending at the newest entry,
// even when instances' clocks disagree about the entries' times.
// Tenants without a delivery cursor (no backend) keep their journal.
func (s *Store) CompactJournal(ctx context.Context, retention time.Duration) (int64, error) {
	cutoff := s.opts.Now().Add(-retention)
	rows, err := s.pool.Query(ctx, `SELECT t.tenant,
			LEAST((d.state::json->>'cursor')::bigint, t.seq - 1,
				COALESCE((SELECT min(k.seq) FROM scim_journal k WHERE k.tenant = t.tenant AND k.at >= $1) - 1, t.seq)),
			COALESCE((SELECT min(k.seq) FROM scim_journal k WHERE k.tenant = t.tenant), 0)
		FROM scim_tenant_state t JOIN scim_delivery d ON d.tenant = t.tenant`, cutoff)
	if err != nil {
		return 0, fmt.Errorf("finding what the journal no longer keeps: %w", err)
	}
	type span struct {
		tenant         string
		upto, earliest int64
	}
	var spans []span
	var sp span
	if _, err := pgx.ForEachRow(rows, []any{&sp.tenant, &sp.upto, &sp.earliest}, func() error {
		if sp.earliest > 0 && sp.upto >= sp.earliest {
			spans = append(spans, sp)
		}
		return nil
	}); err != nil {
		return 0, fmt.Errorf("finding what the journal no longer keeps: %w", err)
	}
	var deleted int64
	for _, sp := range spans {
		for from := sp.earliest; from <= sp.upto; from += compactChunk {
			to := min(from+compactChunk-1, sp.upto)
			tag, err := s.pool.Exec(ctx, `DELETE FROM scim_journal WHERE tenant = $1 AND seq BETWEEN $2 AND $3`, sp.tenant, from, to)
			if err != nil {
				return deleted, fmt.Errorf("compacting the journal of tenant %s: %w", sp.tenant, err)
			}
			deleted += tag.RowsAffected()
		}
	}
	return deleted, nil
}

// maintain compacts the journal every MaintenanceInterval, on one
// instance at a time: the one that takes the maintenance lease.
func (s *Store) maintain() {
	defer close(s.done)
	if s.opts.MaintenanceInterval < 0 {
		<-s.life.Done()
		return
	}
	t := time.NewTicker(s.opts.MaintenanceInterval)
	defer t.Stop()
	for {
		select {
		case <-s.life.Done():
			return
		case <-t.C:
			s.maintainOnce(s.life)
		}
	}
}

func (s *Store) maintainOnce(ctx context.Context) {
	held, err := s.leases.Acquire(ctx, maintenanceLease)
	if err != nil || !held {
		if err != nil && ctx.Err() == nil {
			s.opts.Logger.Warn("taking the journal maintenance lease", zap.Error(err))
		}
		return
	}
	defer s.leases.Release(context.WithoutCancel(ctx), maintenanceLease)
	t0 := time.Now()
	n, err := s.CompactJournal(ctx, s.opts.JournalRetention)
	if err != nil {
		if ctx.Err() == nil {
			s.opts.Logger.Error("compacting the journal", zap.Int64("deleted", n), zap.Error(err))
		}
		return
	}
	if n > 0 {
		s.opts.Logger.Info("compacted the journal", zap.Int64("deleted", n), zap.Duration("took", time.Since(t0)))
	}
}

// Statistics refreshed as a store grows. PostgreSQL's planner reads
// tables by their statistics, which autovacuum refreshes about once a
// minute at best: until then a table that went from empty to thousands of
// rows in an IdP's first sync is planned as if it were empty, and a
// lookup may read a tenant's resources one by one instead of going
// straight to the key. The store refreshes them itself when the number of
// resources it created reaches firstAnalyze, then ten times that, up to
// lastAnalyze; autovacuum keeps them current after.
const (
	firstAnalyze = 1000
	lastAnalyze  = 1000000
)

// grew records n resources created and refreshes the statistics, in the
// background, when the count reaches the next threshold.
func (s *Store) grew(n int64) {
	c := s.created.Add(n)
	at := s.analyzeAt.Load()
	if at > lastAnalyze || c < at || !s.analyzeAt.CompareAndSwap(at, at*10) {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(s.life, time.Minute)
		defer cancel()
		if _, err := s.pool.Exec(ctx, `ANALYZE scim_resources, scim_unique, scim_index, scim_members`); err != nil && ctx.Err() == nil {
			s.opts.Logger.Warn("refreshing the planner's statistics", zap.Error(err))
		}
	}()
}
