package store

import (
	"context"
	"fmt"
	"time"
)

// startMaintenance starts the store's background upkeep; Close stops it.
func (s *Badger) startMaintenance() {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-s.stop
		cancel()
	}()
	// Value-log garbage collection every GCInterval.
	s.every(s.opts.GCInterval, s.valueLogGC)
	// Journal compaction every MaintenanceInterval, and the space
	// reclaimed at once when one deleted a large share of the store.
	s.every(s.opts.MaintenanceInterval, func() { s.maintain(ctx) })
}

// every runs f every interval until Close.
func (s *Badger) every(interval time.Duration, f func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				f()
			}
		}
	}()
}

// valueLogGC rewrites value-log files while one is at least half garbage.
// Values up to Badger's ValueThreshold (1 MiB) live in the LSM tree, so
// for this store's records the value log is nearly always empty and this
// finds nothing; it frees the space of an occasional larger value.
func (s *Badger) valueLogGC() {
	for s.db.RunValueLogGC(0.5) == nil {
		select {
		case <-s.stop:
			return
		default:
		}
	}
}

// DiskUsage is the size of a store's files as Badger accounts for them.
type DiskUsage struct {
	// Tables is the size of the LSM tree's table files.
	Tables int64
	// TableCount is how many table files there are.
	TableCount int
	// ValueLog is the size of the value-log files as Badger last measured
	// it (it does so once a minute).
	ValueLog int64
}

// DiskUsage returns the size of the store's table and value-log files.
// It does not count the preallocated, sparse parts of the memtables' and
// value log's files, which Badger maps at their full size.
func (s *Badger) DiskUsage() DiskUsage {
	var u DiskUsage
	for _, t := range s.db.Tables() {
		u.Tables += int64(t.OnDiskSize)
		u.TableCount++
	}
	_, u.ValueLog = s.db.Size()
	return u
}

// Reclaim frees the disk space of deleted keys at once: it runs value-log
// garbage collection, then compacts every level of the LSM tree into the
// last one, where Badger drops a deleted key together with its deletion
// marker (on other levels a marker must stay to hide older versions
// below). Background compaction gets there too, as writes push tables
// down, but it leaves deleted keys in place for as long as their level is
// within its size target. Reclaim rewrites the whole tree and pauses
// background compaction meanwhile, so it is for maintenance after a large
// deletion, not for every cycle.
func (s *Badger) Reclaim() error {
	s.valueLogGC()
	if err := s.db.Flatten(1); err != nil {
		return fmt.Errorf("compacting the store: %w", err)
	}
	return nil
}
