package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/caddy-scim/caddy-scim/adapter/change"
	"github.com/caddy-scim/caddy-scim/adapter/filter"
	"github.com/caddy-scim/caddy-scim/adapter/patch"
	"github.com/caddy-scim/caddy-scim/adapter/schema"
	"github.com/caddy-scim/caddy-scim/adapter/scimerr"
)

// Options configure a Badger store.
type Options struct {
	// Dir is the directory of the database. Ignored when InMemory is set.
	Dir string
	// InMemory keeps everything in memory, for tests.
	InMemory bool
	// NoSync skips the fsync after each commit. Faster, and a machine crash
	// may then lose acknowledged changes: for tests and benchmarks only.
	NoSync bool
	// Logger receives the store's and Badger's logs. Defaults to a no-op.
	Logger *zap.Logger
	// Now is the clock; defaults to time.Now.
	Now func() time.Time
	// GCInterval is how often value-log garbage collection runs; defaults
	// to 10 minutes. Not used in memory.
	GCInterval time.Duration
	// MaxConflictRetries bounds how often a write is retried after a
	// transaction conflict; defaults to 8.
	MaxConflictRetries int
	// InlineEdgeDeletes is how many membership edges a group delete removes
	// in its own transaction; the rest are removed in background batches.
	// Defaults to 2,000.
	InlineEdgeDeletes int
	// BlockCacheSize is the memory for cached data blocks of the store's
	// tables; defaults to DefaultBlockCacheSize.
	BlockCacheSize int64
	// IndexCacheSize is the memory for the tables' block indexes and bloom
	// filters; defaults to DefaultIndexCacheSize. Indexes beyond it are
	// read from disk when needed instead of all being kept in memory.
	IndexCacheSize int64
	// MemTableSize is the size of each of the NumMemtables in-memory
	// write buffers; defaults to DefaultMemTableSize. One write
	// transaction may hold up to about 15% of it.
	MemTableSize int64
	// JournalRetention is how long delivered journal entries are kept
	// before compaction deletes them (see CompactJournal for what is
	// always kept); defaults to DefaultJournalRetention.
	JournalRetention time.Duration
	// MaintenanceInterval is how often journal compaction runs; defaults
	// to DefaultMaintenanceInterval. Not used in memory.
	MaintenanceInterval time.Duration
	// PositionIndexEntries bounds the entries that the in-memory position
	// indexes of all tenants hold together; beyond it the least recently
	// used are dropped. A position index lets a page at any startIndex, and
	// a page sorted by userName or a group's displayName, cost only its own
	// reads. Defaults to DefaultPositionIndexEntries; a negative value
	// turns position indexes off.
	PositionIndexEntries int
}

// Memory defaults of a store: sized for a server holding hundreds of
// thousands of resources in a few hundred MiB, where Badger's own defaults
// (a 256 MiB block cache, five 64 MiB memtables, every index in memory)
// reach gigabytes.
const (
	DefaultBlockCacheSize = 64 << 20
	DefaultIndexCacheSize = 32 << 20
	DefaultMemTableSize   = 32 << 20
	// NumMemtables is how many memtables a store keeps: one taking writes,
	// the others waiting to be flushed.
	NumMemtables = 3
)

// Badger is the Badger v4 implementation of Store.
type Badger struct {
	db   *badger.DB
	log  *zap.Logger
	opts Options

	mu      sync.Mutex
	tenants map[string]*tenantState

	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once

	// scanned counts resources read by unindexed list scans, so tests can
	// prove that indexed filters never scan.
	scanned atomic.Int64
	// hasCollisions is set while any pCollision key may exist (see
	// migrate.go); without one, unique lookups and removals skip the
	// collision list.
	hasCollisions atomic.Bool
	// pos holds the position indexes of list pages; nil when they are off.
	pos *positions
}

var _ Store = (*Badger)(nil)

// Open opens (or creates) a store.
func Open(opts Options) (*Badger, error) {
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.GCInterval <= 0 {
		opts.GCInterval = 10 * time.Minute
	}
	if opts.MaxConflictRetries <= 0 {
		opts.MaxConflictRetries = 8
	}
	if opts.InlineEdgeDeletes <= 0 {
		opts.InlineEdgeDeletes = 2000
	}
	if opts.BlockCacheSize <= 0 {
		opts.BlockCacheSize = DefaultBlockCacheSize
	}
	if opts.IndexCacheSize <= 0 {
		opts.IndexCacheSize = DefaultIndexCacheSize
	}
	if opts.MemTableSize <= 0 {
		opts.MemTableSize = DefaultMemTableSize
	}
	if opts.JournalRetention <= 0 {
		opts.JournalRetention = DefaultJournalRetention
	}
	if opts.MaintenanceInterval <= 0 {
		opts.MaintenanceInterval = DefaultMaintenanceInterval
	}
	if opts.PositionIndexEntries == 0 {
		opts.PositionIndexEntries = DefaultPositionIndexEntries
	}
	bo := badger.DefaultOptions(opts.Dir).
		WithLogger(badgerLogger{opts.Logger.Sugar()}).
		WithSyncWrites(!opts.NoSync && !opts.InMemory).
		WithCompactL0OnClose(true).
		WithBlockCacheSize(opts.BlockCacheSize).
		WithIndexCacheSize(opts.IndexCacheSize).
		WithMemTableSize(opts.MemTableSize).
		WithNumMemtables(NumMemtables)
	if opts.InMemory {
		bo = bo.WithInMemory(true).WithDir("").WithValueDir("")
	}
	db, err := badger.Open(bo)
	if err != nil {
		return nil, fmt.Errorf("opening store %s: %w", opts.Dir, err)
	}
	s := &Badger{db: db, log: opts.Logger, opts: opts, tenants: map[string]*tenantState{}, stop: make(chan struct{})}
	if opts.PositionIndexEntries > 0 {
		s.pos = newPositions(opts.PositionIndexEntries)
	}
	if err := s.migrateIndexes(); err != nil {
		db.Close()
		return nil, err
	}
	if err := s.resumeCleanups(); err != nil {
		db.Close()
		return nil, err
	}
	if !opts.InMemory {
		s.startMaintenance()
	}
	return s, nil
}

// Close stops background work and closes the database. It is safe to call
// more than once.
func (s *Badger) Close() error {
	var err error
	s.once.Do(func() {
		close(s.stop)
		s.wg.Wait()
		err = s.db.Close()
	})
	return err
}

func typeByte(rt *schema.ResourceType) (byte, error) {
	switch rt {
	case schema.User:
		return tUser, nil
	case schema.Group:
		return tGroup, nil
	}
	return 0, fmt.Errorf("store: unsupported resource type %q", rt.Name)
}

func typeName(b byte) string {
	if b == tGroup {
		return "Group"
	}
	return "User"
}

// maxTenant and maxID bound the sizes of key parts that come from outside.
const (
	maxTenant = 255
	maxID     = 128
)

func checkTenant(tenant string) error {
	if tenant == "" || len(tenant) > maxTenant {
		return fmt.Errorf("store: tenant name must be 1 to %d bytes", maxTenant)
	}
	return nil
}

func notFound(rt *schema.ResourceType, id string) error {
	return scimerr.NotFound("%s %q not found", rt.Name, scimerr.Clip(id, 64))
}

func conflict(rt *schema.ResourceType, attr, value string) error {
	return scimerr.Conflict("%s %s %q is already taken; %s must be unique (case-insensitively)", rt.Name, attr, scimerr.Clip(value, 128), attr)
}

// errNoChange aborts a write that would change nothing.
var errNoChange = errors.New("no change")

func (s *Badger) lastSeq(tenant string) (uint64, error) {
	var seq uint64
	err := s.db.View(func(txn *badger.Txn) error {
		prefix := journalPrefix(tenant)
		it := txn.NewIterator(badger.IteratorOptions{Reverse: true, Prefix: prefix})
		defer it.Close()
		seek := append(append([]byte{}, prefix...), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
		it.Seek(seek)
		if it.ValidForPrefix(prefix) {
			p, err := parseKey(it.Item().KeyCopy(nil))
			if err != nil {
				return err
			}
			seq = p.seq
		}
		// A purged tenant's journal is empty; its sequence goes on.
		item, err := txn.Get(seqFloorKey(tenant))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			if len(v) != 8 {
				return fmt.Errorf("sequence floor of %d bytes", len(v))
			}
			seq = max(seq, binary.BigEndian.Uint64(v))
			return nil
		})
	})
	if err != nil {
		return 0, fmt.Errorf("reading journal position of tenant: %w", err)
	}
	return seq, nil
}

func decode(b []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, fmt.Errorf("decoding stored resource: %w", err)
	}
	return m, nil
}

func getRecord(txn *badger.Txn, key []byte) (map[string]any, error) {
	item, err := txn.Get(key)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	err = item.Value(func(v []byte) error {
		var err error
		m, err = decode(v)
		return err
	})
	return m, err
}

func setRecord(txn *badger.Txn, key []byte, m map[string]any) error {
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encoding resource: %w", err)
	}
	return txn.Set(key, b)
}

func (w *writer) setRecord(key []byte, m map[string]any) error {
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encoding resource: %w", err)
	}
	return w.set(key, b)
}

// Get implements Store.
func (s *Badger) Get(ctx context.Context, tenant string, rt *schema.ResourceType, id string) (map[string]any, error) {
	b, err := s.GetRaw(ctx, tenant, rt, id)
	if err != nil {
		return nil, err
	}
	return decode(b)
}

func stamp(rt *schema.ResourceType, res map[string]any, id string, created string, now time.Time, version uint64) {
	res["id"] = id
	res["meta"] = map[string]any{
		"resourceType": rt.Name,
		"created":      created,
		"lastModified": now.Format(time.RFC3339Nano),
		"version":      fmt.Sprintf(`W/"%d"`, version),
	}
	rt.SetSchemas(res)
}

// Create implements Store.
func (s *Badger) Create(ctx context.Context, tenant string, rt *schema.ResourceType, data map[string]any, members []patch.Member) (*WriteResult, error) {
	typ, err := typeByte(rt)
	if err != nil {
		return nil, err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return nil, fmt.Errorf("generating id: %w", err)
	}
	var out *WriteResult
	var pm posMark
	defer s.pos.settle(&pm)
	err = s.write(ctx, tenant, func(w *writer) error {
		res := schema.CopyMap(data)
		stamp(rt, res, id.String(), w.now.Format(time.RFC3339Nano), w.now, w.nextSeq())
		if err := w.indexChanges(typ, rt, res["id"].(string), nil, res); err != nil {
			return err
		}
		if err := w.setRecord(resourceKey(tenant, typ, id.String()), res); err != nil {
			return err
		}
		if err := w.addCount(typ, 1); err != nil {
			return err
		}
		var ev *change.Event
		if typ == tUser {
			ev = change.ForUser(id.String(), nil, res)
		} else {
			ev = change.ForGroup(id.String(), nil, res)
		}
		if err := w.emit(ev); err != nil {
			return err
		}
		out = &WriteResult{Resource: res, Changed: true}
		s.pos.track(w, &pm, typ, id.String(), nil, res)
		if typ == tGroup && len(members) > 0 {
			added, _, skipped, err := w.applyMembers(id.String(), &patch.MemberDelta{Add: members})
			if err != nil {
				return err
			}
			out.SkippedMembers = skipped
			return w.emit(change.ForMembers(change.MembersAdded, id.String(), res, added))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (w *writer) addCount(typ byte, delta int64) error {
	k := countKey(w.tenant, typ)
	var n uint64
	item, err := w.txn.Get(k)
	switch {
	case err == nil:
		if err := item.Value(func(v []byte) error {
			n, _ = binary.Uvarint(v)
			return nil
		}); err != nil {
			return err
		}
	case !errors.Is(err, badger.ErrKeyNotFound):
		return err
	}
	if delta < 0 && n < uint64(-delta) {
		n = 0
	} else {
		n = uint64(int64(n) + delta)
	}
	return w.set(k, binary.AppendUvarint(nil, n))
}

func (s *Badger) count(txn *badger.Txn, tenant string, typ byte) (int, error) {
	item, err := txn.Get(countKey(tenant, typ))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var n uint64
	err = item.Value(func(v []byte) error {
		n, _ = binary.Uvarint(v)
		return nil
	})
	return int(n), err
}

// txnMembers reads a group's membership inside a write transaction.
type txnMembers struct {
	txn           *badger.Txn
	tenant, group string
}

func (m txnMembers) List(ctx context.Context) ([]patch.Member, error) {
	return listMembers(m.txn, m.tenant, m.group)
}

func listMembers(txn *badger.Txn, tenant, group string) ([]patch.Member, error) {
	prefix := memberPrefix(tenant, group)
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: false})
	defer it.Close()
	var out []patch.Member
	for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
		item := it.Item()
		m := patch.Member{Value: string(item.Key()[len(prefix):])}
		if err := item.Value(func(v []byte) error {
			if len(v) == 1 {
				m.Type = typeName(v[0])
			}
			return nil
		}); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// Update implements Store.
func (s *Badger) Update(ctx context.Context, tenant string, rt *schema.ResourceType, id string, fn UpdateFunc) (*WriteResult, error) {
	typ, err := typeByte(rt)
	if err != nil {
		return nil, err
	}
	if id == "" || len(id) > maxID {
		return nil, notFound(rt, id)
	}
	var out *WriteResult
	var pm posMark
	defer s.pos.settle(&pm)
	err = s.write(ctx, tenant, func(w *writer) error {
		key := resourceKey(tenant, typ, id)
		cur, err := getRecord(w.txn, key)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return notFound(rt, id)
		}
		if err != nil {
			return err
		}
		next, delta, err := fn(schema.CopyMap(cur), txnMembers{w.txn, tenant, id})
		if err != nil {
			return err
		}
		if typ != tGroup {
			delta = nil
		}
		changed := change.Diff(cur, next)
		var added, removed []change.Member
		var skipped []string
		if delta != nil {
			if added, removed, skipped, err = w.applyMembers(id, delta); err != nil {
				return err
			}
		}
		out = &WriteResult{Resource: cur, SkippedMembers: skipped}
		if len(changed) == 0 && len(added) == 0 && len(removed) == 0 {
			return errNoChange
		}
		next = schema.CopyMap(next)
		created, _ := cur["meta"].(map[string]any)["created"].(string)
		stamp(rt, next, id, created, w.now, w.nextSeq())
		if err := w.indexChanges(typ, rt, id, cur, next); err != nil {
			return err
		}
		if err := w.setRecord(key, next); err != nil {
			return err
		}
		s.pos.track(w, &pm, typ, id, cur, next)
		if typ == tUser {
			err = w.emit(change.ForUser(id, cur, next))
		} else {
			err = w.emit(change.ForGroup(id, cur, next))
		}
		if err != nil {
			return err
		}
		if err := w.emit(change.ForMembers(change.MembersAdded, id, next, added)); err != nil {
			return err
		}
		if err := w.emit(change.ForMembers(change.MembersRemoved, id, next, removed)); err != nil {
			return err
		}
		out = &WriteResult{Resource: next, Changed: true, SkippedMembers: skipped}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// applyMembers applies a membership delta to a group's edges and returns the
// members actually added and removed (so that re-adding a member or removing
// a non-member changes nothing), and the requested ids that name no
// resource of the tenant.
func (w *writer) applyMembers(group string, d *patch.MemberDelta) (added, removed []change.Member, skipped []string, err error) {
	want := map[string]patch.Member{}
	for _, m := range d.Add {
		want[m.Value] = m
	}
	for _, r := range d.Remove {
		delete(want, r)
	}
	var drop []string
	if d.Clear {
		cur, err := listMembers(w.txn, w.tenant, group)
		if err != nil {
			return nil, nil, nil, err
		}
		for _, m := range cur {
			if _, keep := want[m.Value]; !keep {
				drop = append(drop, m.Value)
			}
		}
	} else {
		drop = d.Remove
	}
	for _, id := range drop {
		mk := memberKey(w.tenant, group, id)
		item, err := w.txn.Get(mk)
		if errors.Is(err, badger.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return nil, nil, nil, err
		}
		typ := "User"
		_ = item.Value(func(v []byte) error {
			if len(v) == 1 {
				typ = typeName(v[0])
			}
			return nil
		})
		if err := w.del(mk); err != nil {
			return nil, nil, nil, err
		}
		if err := w.del(memberOfKey(w.tenant, id, group)); err != nil {
			return nil, nil, nil, err
		}
		removed = append(removed, change.Member{ID: id, Type: typ})
	}
	ids := make([]string, 0, len(want))
	for id := range want {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		m := want[id]
		mk := memberKey(w.tenant, group, id)
		if _, err := w.txn.Get(mk); err == nil {
			continue
		} else if !errors.Is(err, badger.ErrKeyNotFound) {
			return nil, nil, nil, err
		}
		typ, ok, err := w.memberType(group, m)
		if err != nil {
			return nil, nil, nil, err
		}
		if !ok {
			skipped = append(skipped, id)
			continue
		}
		if err := w.set(mk, []byte{typ}); err != nil {
			return nil, nil, nil, err
		}
		if err := w.set(memberOfKey(w.tenant, id, group), nil); err != nil {
			return nil, nil, nil, err
		}
		added = append(added, change.Member{ID: id, Type: typeName(typ)})
	}
	return added, removed, skipped, nil
}

// memberType finds the resource a member value names: a user or a group of
// the tenant. The id decides, not the member's type: a member whose type
// says "Group" but whose value is a user's id is that user. The type only
// orders the lookups. A group cannot be a member of itself.
func (w *writer) memberType(group string, m patch.Member) (byte, bool, error) {
	if m.Value == "" || len(m.Value) > maxID || m.Value == group {
		return 0, false, nil
	}
	try := []byte{tUser, tGroup}
	if equalFoldASCII(m.Type, "Group") {
		try = []byte{tGroup, tUser}
	}
	for _, t := range try {
		_, err := w.txn.Get(resourceKey(w.tenant, t, m.Value))
		if err == nil {
			return t, true, nil
		}
		if !errors.Is(err, badger.ErrKeyNotFound) {
			return 0, false, err
		}
	}
	return 0, false, nil
}

func equalFoldASCII(a, b string) bool {
	return len(a) == len(b) && bytes.EqualFold([]byte(a), []byte(b))
}

// Delete implements Store.
func (s *Badger) Delete(ctx context.Context, tenant string, rt *schema.ResourceType, id string) error {
	return s.DeleteIf(ctx, tenant, rt, id, nil)
}

// DeleteIf implements Store.
func (s *Badger) DeleteIf(ctx context.Context, tenant string, rt *schema.ResourceType, id string, check Precondition) error {
	typ, err := typeByte(rt)
	if err != nil {
		return err
	}
	if id == "" || len(id) > maxID {
		return notFound(rt, id)
	}
	pending := false
	var pm posMark
	defer s.pos.settle(&pm)
	err = s.write(ctx, tenant, func(w *writer) error {
		pending = false
		key := resourceKey(tenant, typ, id)
		cur, err := getRecord(w.txn, key)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return notFound(rt, id)
		}
		if err != nil {
			return err
		}
		if check != nil {
			if err := check(schema.CopyMap(cur)); err != nil {
				return err
			}
		}
		if err := w.del(key); err != nil {
			return err
		}
		if err := w.indexChanges(typ, rt, id, cur, nil); err != nil {
			return err
		}
		if err := w.addCount(typ, -1); err != nil {
			return err
		}
		s.pos.track(w, &pm, typ, id, cur, nil)
		// Edges in which the resource is the member: one per group it is
		// in, removed here.
		if err := deletePrefix(w.txn, w.del, memberOfPrefix(tenant, id), -1, func(k []byte) error {
			return w.del(memberKey(tenant, string(k[len(memberOfPrefix(tenant, id)):]), id))
		}); err != nil {
			return err
		}
		var ev *change.Event
		if typ == tUser {
			ev = change.ForUser(id, cur, nil)
		} else {
			ev = change.ForGroup(id, cur, nil)
			// A group's own member edges: the first batch here, the rest
			// by cleanup (reads skip edges of groups that are gone).
			prefix := memberPrefix(tenant, id)
			n := 0
			err := deletePrefix(w.txn, w.del, prefix, s.opts.InlineEdgeDeletes, func(k []byte) error {
				n++
				return w.del(memberOfKey(tenant, string(k[len(prefix):]), id))
			})
			if errors.Is(err, errMore) {
				pending = true
				err = w.set(cleanupKey(tenant, id), nil)
			}
			if err != nil {
				return err
			}
		}
		return w.emit(ev)
	})
	if err == nil && pending {
		s.startCleanup(tenant, id)
	}
	return err
}

// errMore says deletePrefix stopped at its limit with keys left.
var errMore = errors.New("more keys")

// deletePrefix deletes up to limit keys under prefix (all when limit < 0),
// calling also for each, and returns errMore when keys remain.
func deletePrefix(txn *badger.Txn, del func([]byte) error, prefix []byte, limit int, also func(k []byte) error) error {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: false})
	var keys [][]byte
	more := false
	for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
		if limit >= 0 && len(keys) == limit {
			more = true
			break
		}
		keys = append(keys, it.Item().KeyCopy(nil))
	}
	it.Close()
	for _, k := range keys {
		if err := del(k); err != nil {
			return err
		}
		if also != nil {
			if err := also(k); err != nil {
				return err
			}
		}
	}
	if more {
		return errMore
	}
	return nil
}

func (s *Badger) resumeCleanups() error {
	var pending []parsedKey
	err := s.db.View(func(txn *badger.Txn) error {
		prefix := cleanupPrefix()
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: false})
		defer it.Close()
		for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
			p, err := parseKey(it.Item().KeyCopy(nil))
			if err != nil {
				return err
			}
			pending = append(pending, p)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("reading pending cleanups: %w", err)
	}
	for _, p := range pending {
		s.startCleanup(p.tenant, p.parts[0])
	}
	return nil
}

// startCleanup removes the remaining member edges of a deleted group in
// batches of InlineEdgeDeletes, then its cleanup marker.
func (s *Badger) startCleanup(tenant, group string) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		prefix := memberPrefix(tenant, group)
		for more := true; more; {
			select {
			case <-s.stop:
				return
			default:
			}
			err := s.db.Update(func(txn *badger.Txn) error {
				err := deletePrefix(txn, txn.Delete, prefix, s.opts.InlineEdgeDeletes, func(k []byte) error {
					return txn.Delete(memberOfKey(tenant, string(k[len(prefix):]), group))
				})
				more = errors.Is(err, errMore)
				if more {
					return nil
				}
				if err != nil {
					return err
				}
				return txn.Delete(cleanupKey(tenant, group))
			})
			if errors.Is(err, badger.ErrConflict) {
				more = true
				continue
			}
			if err != nil {
				s.log.Error("removing member edges of deleted group", zap.Error(err))
				return
			}
		}
	}()
}

// Members implements Store.
func (s *Badger) Members(ctx context.Context, tenant, group string) ([]patch.Member, error) {
	if err := checkTenant(tenant); err != nil {
		return nil, err
	}
	var out []patch.Member
	err := s.db.View(func(txn *badger.Txn) error {
		var err error
		out, err = listMembers(txn, tenant, group)
		return err
	})
	return out, err
}

var _ GroupLister = (*Badger)(nil)

// GroupsOf implements GroupLister: one read transaction for all members,
// each group's displayName read once.
func (s *Badger) GroupsOf(ctx context.Context, tenant string, members []string) (map[string][]GroupRef, error) {
	if err := checkTenant(tenant); err != nil {
		return nil, err
	}
	out := make(map[string][]GroupRef, len(members))
	err := s.db.View(func(txn *badger.Txn) error {
		names := map[string]*string{} // group id → displayName; nil: no such group
		for _, member := range members {
			refs, err := memberGroups(txn, tenant, member, names)
			if err != nil {
				return err
			}
			if len(refs) > 0 {
				out[member] = refs
			}
		}
		return nil
	})
	return out, err
}

// memberGroups reads the groups of member in txn; names caches group
// names across calls.
func memberGroups(txn *badger.Txn, tenant, member string, names map[string]*string) ([]GroupRef, error) {
	var out []GroupRef
	prefix := memberOfPrefix(tenant, member)
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: false})
	defer it.Close()
	for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
		gid := string(it.Item().Key()[len(prefix):])
		name, seen := names[gid]
		if !seen {
			var err error
			if name, err = groupName(txn, tenant, gid); err != nil {
				return nil, err
			}
			if names != nil {
				names[gid] = name
			}
		}
		if name == nil {
			continue
		}
		out = append(out, GroupRef{ID: gid, DisplayName: *name})
	}
	return out, nil
}

// groupName reads a group's displayName from its stored JSON without
// decoding the rest of it; nil for a deleted group whose edges are being
// cleaned up.
func groupName(txn *badger.Txn, tenant, gid string) (*string, error) {
	item, err := txn.Get(resourceKey(tenant, tGroup, gid))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var name string
	err = item.Value(func(b []byte) error {
		_, err := ObjectMembers(b, func(key []byte, start, end int) error {
			if string(key) == "displayName" {
				name, _ = UnquoteString(b[start:end])
			}
			return nil
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("decoding stored group: %w", err)
	}
	return &name, nil
}

// Groups implements Store.
func (s *Badger) Groups(ctx context.Context, tenant, member string) ([]GroupRef, error) {
	if err := checkTenant(tenant); err != nil {
		return nil, err
	}
	var out []GroupRef
	err := s.db.View(func(txn *badger.Txn) error {
		var err error
		out, err = memberGroups(txn, tenant, member, nil)
		return err
	})
	return out, err
}

// Journal implements Store.
func (s *Badger) Journal(ctx context.Context, tenant string, after uint64, limit int) ([]change.Event, error) {
	if err := checkTenant(tenant); err != nil {
		return nil, err
	}
	var out []change.Event
	err := s.db.View(func(txn *badger.Txn) error {
		prefix := journalPrefix(tenant)
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true, PrefetchSize: 100})
		defer it.Close()
		for it.Seek(journalKey(tenant, after+1)); it.ValidForPrefix(prefix) && len(out) < limit; it.Next() {
			var ev change.Event
			if err := it.Item().Value(func(v []byte) error {
				d := json.NewDecoder(bytes.NewReader(v))
				d.UseNumber()
				return d.Decode(&ev)
			}); err != nil {
				return fmt.Errorf("decoding journal entry: %w", err)
			}
			out = append(out, ev)
		}
		return nil
	})
	return out, err
}

// badgerLogger routes Badger's logs through zap; Badger's info messages are
// demoted to debug.
type badgerLogger struct{ l *zap.SugaredLogger }

func (b badgerLogger) Errorf(f string, a ...any)   { b.l.Errorf(trim(f), a...) }
func (b badgerLogger) Warningf(f string, a ...any) { b.l.Warnf(trim(f), a...) }
func (b badgerLogger) Infof(f string, a ...any)    { b.l.Debugf(trim(f), a...) }
func (b badgerLogger) Debugf(f string, a ...any)   { b.l.Debugf(trim(f), a...) }

func trim(f string) string { return string(bytes.TrimRight([]byte(f), "\n")) }

// mentions reports whether e refers to the top-level attribute name.
func mentions(e filter.Expr, name string) bool {
	switch x := e.(type) {
	case *filter.Compare:
		return equalFoldASCII(x.Path.Attr, name)
	case *filter.Present:
		return equalFoldASCII(x.Path.Attr, name)
	case *filter.ValuePath:
		return equalFoldASCII(x.Path.Attr, name)
	case *filter.And:
		return mentions(x.Left, name) || mentions(x.Right, name)
	case *filter.Or:
		return mentions(x.Left, name) || mentions(x.Right, name)
	case *filter.Not:
		return mentions(x.X, name)
	}
	return false
}

// Memory returns the memory sizes the store was opened with: its block
// cache, index cache and memtable size.
func (s *Badger) Memory() (blockCache, indexCache, memTable int64) {
	o := s.db.Opts()
	return o.BlockCacheSize, o.IndexCacheSize, o.MemTableSize
}
