package store_test

import (
	"testing"

	"github.com/caddy-scim/caddy-scim/adapter/store"
	"github.com/caddy-scim/caddy-scim/adapter/store/storetest"
)

// diskEngine is a Badger store on disk that can be closed and opened
// again on the same directory.
type diskEngine struct {
	*store.Badger
	dir string
}

// Reopen implements storetest.Reopener.
func (d diskEngine) Reopen(t *testing.T) storetest.Engine {
	t.Helper()
	if err := d.Close(); err != nil {
		t.Fatalf("closing store: %v", err)
	}
	return openDisk(t, d.dir)
}

// openDisk opens the store in dir and closes it when t ends. Syncs are
// skipped: a reopen after Close needs none, and the suite stays fast.
func openDisk(t *testing.T, dir string) diskEngine {
	t.Helper()
	s, err := store.Open(store.Options{Dir: dir, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return diskEngine{Badger: s, dir: dir}
}

// TestConformance runs the store conformance suite against the Badger
// store: in memory, and on disk, where the suite also closes and reopens
// it.
func TestConformance(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) storetest.Engine {
			s, err := store.Open(store.Options{InMemory: true})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		})
	})
	t.Run("disk", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) storetest.Engine {
			return openDisk(t, t.TempDir())
		})
	})
}
