package store

import "time"

// startMaintenance starts the store's background upkeep; Close stops it.
func (s *Badger) startMaintenance() {
	s.wg.Add(1)
	go s.gcLoop()
}

// gcLoop runs value-log garbage collection every GCInterval.
func (s *Badger) gcLoop() {
	defer s.wg.Done()
	t := time.NewTicker(s.opts.GCInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			for s.db.RunValueLogGC(0.5) == nil {
				select {
				case <-s.stop:
					return
				default:
				}
			}
		}
	}
}
