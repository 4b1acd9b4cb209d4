// Command scimdisk measures the disk a store uses for its change journal,
// and what journal compaction and space reclaim give back.
//
//	go run ./caddymodule/cmd/scimdisk -changes 1000000
//
// It opens a store on disk (in a temporary directory unless -dir is
// given) and makes -changes changes to the users of one tenant from
// -writers goroutines: about 10% creations, 70% updates and 20% deletions,
// never fewer than -users live users. Meanwhile a delivery loop reads the
// journal after the delivery cursor in batches of 100 and saves the cursor
// past each batch, as delivery to a backend that accepts everything does;
// it catches up with the writers before the run ends. The store runs
// without fsync (-nosync, the default) so that the run takes minutes
// rather than hours; what lands on disk is the same.
//
// The store's clock then moves past the journal retention, and scimdisk
// reports, after each step, the directory's apparent and allocated size
// (Badger maps its memtable and value-log files at full size; most of
// that is never written, so the allocated size is what the disk holds),
// the LSM tree's table files and the journal's length: after the load;
// after CompactJournal; after Reclaim; after Close (which flushes the
// memtables); and after reopening.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/caddy-scim/caddy-scim/adapter/patch"
	"github.com/caddy-scim/caddy-scim/adapter/schema"
	"github.com/caddy-scim/caddy-scim/adapter/store"
)

const tenant = "acme"

type config struct {
	dir       string
	changes   int
	users     int
	writers   int
	noSync    bool
	retention time.Duration
}

func main() {
	var c config
	flag.StringVar(&c.dir, "dir", "", "store directory (default: a new temporary directory, removed afterwards)")
	flag.IntVar(&c.changes, "changes", 1_000_000, "changes to make")
	flag.IntVar(&c.users, "users", 10_000, "live users to keep at least")
	flag.IntVar(&c.writers, "writers", 8, "concurrent writers")
	flag.BoolVar(&c.noSync, "nosync", true, "skip the fsync of each commit")
	flag.DurationVar(&c.retention, "retention", store.DefaultJournalRetention, "journal retention")
	flag.Parse()
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "scimdisk:", err)
		os.Exit(1)
	}
}

func run(c config) error {
	if c.dir == "" {
		dir, err := os.MkdirTemp("", "scimdisk-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		c.dir = dir
	}
	var clock atomic.Int64
	start := time.Now()
	clock.Store(start.UnixNano())
	opts := store.Options{Dir: c.dir, NoSync: c.noSync, JournalRetention: c.retention,
		Now: func() time.Time { return time.Unix(0, clock.Load()) }}
	s, err := store.Open(opts)
	if err != nil {
		return err
	}
	defer func() { s.Close() }()
	ctx := context.Background()
	fmt.Printf("%d changes, %d writers, at least %d users, nosync=%v, in %s\n", c.changes, c.writers, c.users, c.noSync, c.dir)
	if err := load(ctx, s, c); err != nil {
		return err
	}
	fmt.Printf("load took %s\n", time.Since(start).Round(time.Millisecond))
	if err := report(ctx, s, c.dir, "after the load"); err != nil {
		return err
	}
	clock.Store(start.Add(c.retention + time.Hour).UnixNano())
	t := time.Now()
	n, err := s.CompactJournal(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("CompactJournal deleted %d entries in %s\n", n, time.Since(t).Round(time.Millisecond))
	if err := report(ctx, s, c.dir, "after CompactJournal"); err != nil {
		return err
	}
	t = time.Now()
	if err := s.Reclaim(); err != nil {
		return err
	}
	fmt.Printf("Reclaim took %s\n", time.Since(t).Round(time.Millisecond))
	if err := report(ctx, s, c.dir, "after Reclaim"); err != nil {
		return err
	}
	if err := s.Close(); err != nil {
		return err
	}
	if err := report(ctx, nil, c.dir, "after Close"); err != nil {
		return err
	}
	if s, err = store.Open(opts); err != nil {
		return err
	}
	return report(ctx, s, c.dir, "after reopening")
}

// load makes c.changes changes from c.writers goroutines while a delivery
// loop moves the cursor behind them, and waits until it has caught up.
func load(ctx context.Context, s *store.Badger, c config) error {
	var (
		mu   sync.Mutex
		ids  []string
		made atomic.Int64
		wg   sync.WaitGroup
		errs = make(chan error, c.writers+1)
	)
	done := make(chan struct{})
	delivered := make(chan error, 1)
	go func() { delivered <- deliver(ctx, s, done) }()
	for w := range c.writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for i := 0; made.Load() < int64(c.changes); i++ {
				mu.Lock()
				op, id := r.IntN(10), ""
				if len(ids) < c.users {
					op = 0
				}
				if op > 0 {
					k := r.IntN(len(ids))
					id = ids[k]
					if op >= 8 {
						ids[k] = ids[len(ids)-1]
						ids = ids[:len(ids)-1]
					}
				}
				mu.Unlock()
				var err error
				switch {
				case op == 0:
					var res *store.WriteResult
					res, err = s.Create(ctx, tenant, schema.User, newUser(w, i), nil)
					if err == nil {
						mu.Lock()
						ids = append(ids, res.Resource["id"].(string))
						mu.Unlock()
					}
				case op < 8:
					_, err = s.Update(ctx, tenant, schema.User, id, retitle(i))
				default:
					err = s.Delete(ctx, tenant, schema.User, id)
				}
				if err != nil {
					errs <- err
					return
				}
				made.Add(1)
			}
		}()
	}
	wg.Wait()
	close(done)
	if err := <-delivered; err != nil {
		return err
	}
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

// deliver reads the journal after the cursor and saves the cursor past
// what it read, until done is closed and the journal is read to its end.
func deliver(ctx context.Context, s *store.Badger, done <-chan struct{}) error {
	var cursor uint64
	for {
		evs, err := s.Journal(ctx, tenant, cursor, 100)
		if err != nil {
			return err
		}
		if len(evs) == 0 {
			select {
			case <-done:
				head, err := s.LastSeq(ctx, tenant)
				if err != nil || head == cursor {
					return err
				}
			case <-time.After(time.Millisecond):
			}
			continue
		}
		cursor = evs[len(evs)-1].Seq
		if err := s.SaveDeliveryState(ctx, tenant, store.DeliveryState{Cursor: cursor, LastSuccess: time.Now()}); err != nil {
			return err
		}
	}
}

// newUser is an Entra-shaped user of about 600 bytes.
func newUser(w, i int) map[string]any {
	name := fmt.Sprintf("user-%d-%d", w, i)
	return map[string]any{
		"schemas":     []any{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"userName":    name + "@example.com",
		"externalId":  fmt.Sprintf("ext-%d-%d", w, i),
		"active":      true,
		"displayName": "User " + name,
		"name":        map[string]any{"givenName": "User", "familyName": name, "formatted": "User " + name},
		"emails":      []any{map[string]any{"value": name + "@example.com", "type": "work", "primary": true}},
		"title":       "Engineer",
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": map[string]any{"department": "R&D", "costCenter": "4711"},
	}
}

// retitle changes a user's title.
func retitle(i int) store.UpdateFunc {
	return func(cur map[string]any, _ patch.Members) (map[string]any, *patch.MemberDelta, error) {
		cur["title"] = fmt.Sprintf("Engineer %d", i)
		return cur, nil, nil
	}
}

// report prints the directory's size, the store's tables and the
// journal's length; s is nil when the store is closed.
func report(ctx context.Context, s *store.Badger, dir, when string) error {
	apparent, allocated, err := du(dir)
	if err != nil {
		return err
	}
	line := fmt.Sprintf("%-22s du: %7.1f MiB allocated, %8.1f MiB apparent", when, mib(allocated), mib(apparent))
	if s != nil {
		u := s.DiskUsage()
		n, err := journalLen(ctx, s)
		if err != nil {
			return err
		}
		line += fmt.Sprintf("; tables %6.1f MiB in %d files; journal %d entries", mib(u.Tables), u.TableCount, n)
	}
	fmt.Println(line)
	return nil
}

// journalLen counts the tenant's journal entries.
func journalLen(ctx context.Context, s *store.Badger) (int, error) {
	n := 0
	var after uint64
	for {
		evs, err := s.Journal(ctx, tenant, after, 10_000)
		if err != nil || len(evs) == 0 {
			return n, err
		}
		n += len(evs)
		after = evs[len(evs)-1].Seq
	}
}

// du sums the apparent and the allocated size of the files under dir, as
// du --apparent-size and du do.
func du(dir string) (apparent, allocated int64, err error) {
	err = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		apparent += fi.Size()
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			allocated += st.Blocks * 512
		}
		return nil
	})
	return apparent, allocated, err
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }
