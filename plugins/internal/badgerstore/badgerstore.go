// Package badgerstore holds what the built-in backends' Badger product
// stores share: options sized for a process that keeps many small stores,
// one per tenant, and a logger that hands Badger's logs to the plugin's
// hclog logger.
package badgerstore

import (
	"fmt"
	"os"
	"strings"

	"github.com/dgraph-io/badger/v4"
	"github.com/hashicorp/go-hclog"
)

// Sizes of one store. A plugin process serves many tenants and keeps up to
// sdk.PerTenantOptions.MaxOpen of their stores open at once, so each is
// sized for a tenant's few thousand users rather than Badger's defaults
// (64 MiB memtables, five of them, and a 256 MiB block cache).
const (
	// MemTableSize is the size of a memtable. A write transaction may
	// hold up to 15% of it (about 1.2 MiB): callers split larger work.
	MemTableSize = 8 << 20
	// NumMemtables is how many memtables a store keeps in memory.
	NumMemtables = 2
	// BlockCacheSize is the store's block cache.
	BlockCacheSize = 8 << 20
	// ValueLogFileSize is the size of a value log file; the file is
	// mapped at twice that.
	ValueLogFileSize = 16 << 20
	// NumCompactors is Badger's minimum for compaction to work.
	NumCompactors = 2
)

// Options returns the options of a tenant's store in dir: the sizes above,
// the logger of the default hclog logger, named "badger", and every commit
// synced to disk. A backend reports a change as applied only once it is
// durable: the host then moves its delivery cursor past it and never
// sends it again, so a change a machine crash could still undo would be
// lost for good.
func Options(dir string) badger.Options {
	return badger.DefaultOptions(dir).
		WithSyncWrites(true).
		WithLogger(Logger{hclog.Default().Named("badger")}).
		WithMemTableSize(MemTableSize).
		WithNumMemtables(NumMemtables).
		WithBlockCacheSize(BlockCacheSize).
		WithValueLogFileSize(ValueLogFileSize).
		WithNumCompactors(NumCompactors)
}

// Remove deletes a tenant's store: it closes the store with closeStore,
// then removes the data directory dir and everything in it.
func Remove(dir string, closeStore func() error) error {
	if err := closeStore(); err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("removing store %s: %w", dir, err)
	}
	return nil
}

// Logger sends Badger's logs to an hclog logger, which the host re-logs
// under the plugin's name. Badger's info messages are demoted to debug.
type Logger struct{ L hclog.Logger }

// Errorf logs at error level.
func (l Logger) Errorf(f string, a ...any) { l.L.Error(line(f, a)) }

// Warningf logs at warning level.
func (l Logger) Warningf(f string, a ...any) { l.L.Warn(line(f, a)) }

// Infof logs at debug level: Badger's info messages are routine.
func (l Logger) Infof(f string, a ...any) { l.L.Debug(line(f, a)) }

// Debugf logs at debug level.
func (l Logger) Debugf(f string, a ...any) { l.L.Debug(line(f, a)) }

func line(f string, a []any) string { return strings.TrimRight(fmt.Sprintf(f, a...), "\n") }

// Interface guards
var _ badger.Logger = Logger{}
