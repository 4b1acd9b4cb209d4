package store

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/google/uuid"

	"github.com/caddy-scim/caddy-scim/adapter/schema"
)

// Position indexes.
//
// A page at startIndex N of an unfiltered list would otherwise cost a walk
// over N keys, and a page sorted by userName (or a group's displayName) a
// read and decode of every resource of the type. A position index keeps,
// in memory, one tenant's resources of one type in one order — id order,
// which is creation order, or the order of the unique name — as a list of
// sorted chunks of at most chunkMax entries, so that the resource at any
// position is found by walking the chunks' lengths and a page costs its
// Count reads whatever its startIndex.
//
// An index is built on demand, the first time a page beyond the first
// chunk (or a sorted page of a tenant larger than one chunk) is asked for,
// from a key-only scan of a snapshot taken while holding the tenant's write
// lock, and kept current by the writes of the tenant: each write that
// creates, deletes or renames a resource marks the resource as pending
// inside its write function, before its commit, and applies its change to
// the index once committed (writer.onCommit). The indexes of all tenants
// together hold at most Options.PositionIndexEntries entries; the least
// recently used are dropped beyond that and built again when next needed.
//
// Readers do not take the tenant's write lock, so a snapshot can hold a
// commit whose change the index has not applied yet. A reader therefore
// reads the state's generation (bumped by every mark, apply and release),
// opens its snapshot, and under the state's read lock checks that the
// generation is unchanged and that every pending resource is in the
// snapshot as the index has it. Then the index and the snapshot agree on
// every resource: a commit visible in the snapshot was marked before the
// snapshot was opened and, if not yet applied, is still pending. Otherwise
// the reader tries again shortly (the apply follows its commit at once)
// and, failing that, answers from the snapshot alone as the store did
// before position indexes.

// chunkMax is the most entries one chunk of a position index holds.
const chunkMax = 512

// buildFill is how full a freshly built chunk is, leaving room for inserts.
const buildFill = chunkMax * 7 / 8

// DefaultPositionIndexEntries is the default of
// Options.PositionIndexEntries.
const DefaultPositionIndexEntries = 2_000_000

// The orders a position index keeps.
const (
	// orderID is id order: creation order, as the store's keys.
	orderID = iota
	// orderName is the order of the type's unique name (userName, a
	// group's displayName) folded by ident.Fold, ties by id.
	orderName
	numOrders
)

// ranked is a sorted list of distinct entries cut into chunks of at most
// chunkMax, answering "the entry at position p" in O(n/chunkMax) and
// inserts and removals in O(chunkMax + n/chunkMax).
type ranked[E any] struct {
	chunks [][]E
	n      int
	cmp    func(a, b E) int
}

// newRanked builds a list from entries sorted by cmp without duplicates.
func newRanked[E any](sorted []E, cmp func(a, b E) int) *ranked[E] {
	r := &ranked[E]{n: len(sorted), cmp: cmp}
	for len(sorted) > 0 {
		k := min(len(sorted), buildFill)
		c := make([]E, k, chunkMax)
		copy(c, sorted[:k])
		r.chunks = append(r.chunks, c)
		sorted = sorted[k:]
	}
	return r
}

// locate returns the chunk where e is or belongs, e's offset in it, and
// whether e is there.
func (r *ranked[E]) locate(e E) (ci, off int, found bool) {
	if len(r.chunks) == 0 {
		return 0, 0, false
	}
	ci = sort.Search(len(r.chunks), func(i int) bool {
		c := r.chunks[i]
		return r.cmp(c[len(c)-1], e) >= 0
	})
	if ci == len(r.chunks) {
		ci--
		return ci, len(r.chunks[ci]), false
	}
	off, found = slices.BinarySearchFunc(r.chunks[ci], e, r.cmp)
	return ci, off, found
}

// insert adds e, reporting false when it is already there.
func (r *ranked[E]) insert(e E) bool {
	if len(r.chunks) == 0 {
		c := make([]E, 1, chunkMax)
		c[0] = e
		r.chunks, r.n = [][]E{c}, 1
		return true
	}
	ci, off, found := r.locate(e)
	if found {
		return false
	}
	c := r.chunks[ci]
	if len(c) == chunkMax {
		if ci == len(r.chunks)-1 && off == len(c) {
			// Appending, as creation order does: start a chunk.
			nc := make([]E, 1, chunkMax)
			nc[0] = e
			r.chunks = append(r.chunks, nc)
			r.n++
			return true
		}
		half := chunkMax / 2
		right := make([]E, chunkMax-half, chunkMax)
		copy(right, c[half:])
		clear(c[half:])
		c = c[:half]
		r.chunks[ci] = c
		r.chunks = slices.Insert(r.chunks, ci+1, right)
		if off > half {
			ci, off, c = ci+1, off-half, right
		}
	}
	r.chunks[ci] = slices.Insert(c, off, e)
	r.n++
	return true
}

// remove deletes e, reporting false when it is not there. A chunk left
// small is merged with a neighbour, so the number of chunks stays
// proportional to the entries.
func (r *ranked[E]) remove(e E) bool {
	ci, off, found := r.locate(e)
	if !found {
		return false
	}
	c := slices.Delete(r.chunks[ci], off, off+1)
	r.chunks[ci] = c
	r.n--
	switch {
	case len(c) == 0:
		r.chunks = slices.Delete(r.chunks, ci, ci+1)
	case len(c) < chunkMax/4 && ci+1 < len(r.chunks) && len(c)+len(r.chunks[ci+1]) <= chunkMax*3/4:
		r.chunks[ci] = append(c, r.chunks[ci+1]...)
		r.chunks = slices.Delete(r.chunks, ci+1, ci+2)
	case len(c) < chunkMax/4 && ci > 0 && len(c)+len(r.chunks[ci-1]) <= chunkMax*3/4:
		r.chunks[ci-1] = append(r.chunks[ci-1], c...)
		r.chunks = slices.Delete(r.chunks, ci, ci+1)
	}
	return true
}

// window returns a copy of the entries at positions [from, to).
func (r *ranked[E]) window(from, to int) []E {
	from, to = max(from, 0), min(to, r.n)
	if from >= to {
		return nil
	}
	out := make([]E, 0, to-from)
	pos := 0
	for _, c := range r.chunks {
		if pos+len(c) <= from {
			pos += len(c)
			continue
		}
		lo := max(from-pos, 0)
		hi := min(to-pos, len(c))
		out = append(out, c[lo:hi]...)
		if pos+len(c) >= to {
			break
		}
		pos += len(c)
	}
	return out
}

// all returns every entry in order.
func (r *ranked[E]) all() []E { return r.window(0, r.n) }

// nameEntry is one resource in name order: its folded unique name and id.
type nameEntry struct {
	key string
	id  uuid.UUID
}

func compareIDs(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) }

// compareNames orders as compareKeys does for folded strings, ties by id:
// the order filteredPage gives a sort by the unique name, ascending.
func compareNames(a, b nameEntry) int {
	if c := strings.Compare(a.key, b.key); c != 0 {
		return c
	}
	return compareIDs(a.id, b.id)
}

// packID returns the 16 bytes of an id the store assigned: a UUID in its
// canonical form (lowercase hex, hyphens at 8, 13, 18 and 23). Canonical
// ids order as their bytes do, the same as idLess and plain string
// comparison.
func packID[T string | []byte](id T) (uuid.UUID, bool) {
	var u uuid.UUID
	if len(id) != 36 {
		return u, false
	}
	j := 0
	for i := 0; i < 36; i += 2 {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if id[i] != '-' {
				return u, false
			}
			i--
			continue
		}
		hi, ok1 := hexDigit(id[i])
		lo, ok2 := hexDigit(id[i+1])
		if !ok1 || !ok2 {
			return u, false
		}
		u[j] = hi<<4 | lo
		j++
	}
	return u, true
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// resState is what a position index knows of one resource: whether it
// exists and, when its unique name is an indexed string, the name folded.
type resState struct {
	present bool
	named   bool
	key     string
}

// uniqueIndex returns the unique name index of a resource type.
func uniqueIndex(typ byte) index {
	for _, ix := range indexesOf(typ) {
		if ix.unique {
			return ix
		}
	}
	panic("store: resource type without a unique index")
}

// stateOf returns what a position index holds for res (nil: absent).
func stateOf(typ byte, res map[string]any) resState {
	if res == nil {
		return resState{}
	}
	st := resState{present: true}
	if v := uniqueIndex(typ).values(res); len(v) == 1 {
		st.named, st.key = true, fold(v[0])
	}
	return st
}

// posKey names the position indexes of one tenant's resources of one type.
type posKey struct {
	tenant string
	typ    byte
}

// positions holds the position indexes of every tenant.
type positions struct {
	limit int64
	// total is the number of entries all indexes hold.
	total atomic.Int64
	// clock orders uses, for dropping the least recently used index.
	clock atomic.Int64
	// fallbacks counts pages answered without an index although one
	// existed, for tests.
	fallbacks atomic.Int64
	// unbuilt counts pages that took the walk to their startIndex because
	// the index they needed was not built, for tests.
	unbuilt atomic.Int64

	mu     sync.Mutex
	states map[posKey]*posState
}

func newPositions(limit int) *positions {
	return &positions{limit: int64(limit), states: map[posKey]*posState{}}
}

// posState holds the position indexes of one tenant and type, and the
// resources whose committed changes they may not have applied yet.
type posState struct {
	key posKey
	mu  sync.RWMutex
	// gen changes with every mark, apply and release of a change.
	gen uint64
	// pending lists, per resource id, the marks of writes not yet applied
	// or released; held holds the state the indexes have for each of
	// those resources.
	pending map[string][]*posMark
	held    map[string]resState

	byID   *ranked[uuid.UUID]
	byName *ranked[nameEntry]
	// building is set while an order is being built; log collects the
	// changes applied meanwhile, replayed onto the built index.
	building [numOrders]bool
	log      [numOrders][]*posMark
	// built is closed when the build under way ends, so that readers
	// wait for it instead of each walking the whole list meanwhile.
	built [numOrders]chan struct{}
	// failed is set for an order the tenant's data cannot be indexed in
	// (an id the store did not assign, a resource without its unique
	// name); pages in that order are read without an index.
	failed [numOrders]bool
	// dead is set once the state has been dropped; nothing is built into
	// it any more.
	dead bool
	used [numOrders]atomic.Int64
}

// posMark is one write's change to a resource's place in the indexes.
type posMark struct {
	st            *posState
	id            string
	before, after resState
	done          bool
}

func (st *posState) size(o int) int {
	switch {
	case o == orderID && st.byID != nil:
		return st.byID.n
	case o == orderName && st.byName != nil:
		return st.byName.n
	}
	return 0
}

func (st *posState) has(o int) bool {
	if o == orderID {
		return st.byID != nil
	}
	return st.byName != nil
}

// drop forgets order o; the caller holds st.mu.
func (st *posState) drop(p *positions, o int) {
	n := st.size(o)
	if o == orderID {
		st.byID = nil
	} else {
		st.byName = nil
	}
	p.total.Add(-int64(n))
}

// lookup returns the state of a tenant and type, or nil.
func (p *positions) lookup(tenant string, typ byte) *posState {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.states[posKey{tenant, typ}]
}

// stateFor returns the state of a tenant and type, creating it. The caller
// holds the tenant's write lock, so no write of the tenant is between its
// write function and its commit.
func (p *positions) stateFor(tenant string, typ byte) *posState {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := posKey{tenant, typ}
	st := p.states[k]
	if st == nil {
		st = &posState{key: k, pending: map[string][]*posMark{}, held: map[string]resState{}}
		p.states[k] = st
	}
	return st
}

// track marks, inside a write function, the change a write makes to the
// place of resource id (old and new are its states before and after the
// write; nil when absent), and registers its apply for when the write has
// committed. m is the write's mark, kept across runs of the write
// function; settle releases it once the write is over.
func (p *positions) track(w *writer, m *posMark, typ byte, id string, old, new map[string]any) {
	if p == nil {
		return
	}
	before, after := stateOf(typ, old), stateOf(typ, new)
	st := m.st
	if st == nil {
		if before == after {
			return
		}
		if st = p.lookup(w.tenant, typ); st == nil {
			return
		}
	}
	st.mu.Lock()
	if m.st == nil {
		m.st, m.id = st, id
		if len(st.pending[id]) == 0 {
			st.held[id] = before
		}
		st.pending[id] = append(st.pending[id], m)
	}
	m.before, m.after = before, after
	st.gen++
	st.mu.Unlock()
	w.onCommit(func() { p.apply(m) })
}

// settle releases a write's mark after the write returned: a write that
// committed has applied it already; one that failed changed nothing.
func (p *positions) settle(m *posMark) {
	if p == nil || m.st == nil {
		return
	}
	st := m.st
	st.mu.Lock()
	st.release(m)
	st.mu.Unlock()
}

// release removes m from the pending marks; the caller holds st.mu.
func (st *posState) release(m *posMark) bool {
	if m.done {
		return false
	}
	m.done = true
	marks := st.pending[m.id]
	if i := slices.Index(marks, m); i >= 0 {
		marks = slices.Delete(marks, i, i+1)
	}
	if len(marks) == 0 {
		delete(st.pending, m.id)
		delete(st.held, m.id)
	} else {
		st.pending[m.id] = marks
	}
	st.gen++
	return true
}

// apply brings the indexes up to a committed write. It runs under the
// tenant's write lock, before any later write of the tenant commits.
func (p *positions) apply(m *posMark) {
	st := m.st
	st.mu.Lock()
	if !st.release(m) {
		st.mu.Unlock()
		return
	}
	if _, ok := st.pending[m.id]; ok {
		st.held[m.id] = m.after
	}
	before := st.size(orderID) + st.size(orderName)
	for o := range numOrders {
		if st.building[o] {
			st.log[o] = append(st.log[o], m)
		}
	}
	if st.byID != nil && !applyID(st.byID, m) {
		st.drop(p, orderID)
	}
	if st.byName != nil && !applyName(st.byName, m) {
		st.drop(p, orderName)
	}
	delta := st.size(orderID) + st.size(orderName) - before
	st.mu.Unlock()
	if delta != 0 && p.total.Add(int64(delta)) > p.limit {
		p.trim()
	}
}

// applyID applies m to an id order, reporting false when the order did
// not hold what m says it held.
func applyID(r *ranked[uuid.UUID], m *posMark) bool {
	if m.before.present == m.after.present {
		return true
	}
	u, ok := packID(m.id)
	if !ok {
		return false
	}
	if m.after.present {
		return r.insert(u)
	}
	return r.remove(u)
}

// applyName applies m to a name order, reporting false when the order did
// not hold what m says it held or cannot hold the new state.
func applyName(r *ranked[nameEntry], m *posMark) bool {
	if m.before == m.after {
		return true
	}
	if (m.before.present && !m.before.named) || (m.after.present && !m.after.named) {
		return false
	}
	u, ok := packID(m.id)
	if !ok {
		return false
	}
	if m.before.present && !r.remove(nameEntry{m.before.key, u}) {
		return false
	}
	return !m.after.present || r.insert(nameEntry{m.after.key, u})
}

// forget drops the indexes of a tenant; its purge holds the tenant's write
// lock, so none is built again until the purge is over.
func (p *positions) forget(tenant string) {
	if p == nil {
		return
	}
	for _, typ := range []byte{tUser, tGroup} {
		p.mu.Lock()
		st := p.states[posKey{tenant, typ}]
		delete(p.states, posKey{tenant, typ})
		p.mu.Unlock()
		if st == nil {
			continue
		}
		st.mu.Lock()
		st.dead = true
		for o := range numOrders {
			st.drop(p, o)
		}
		st.mu.Unlock()
	}
}

// trim drops the least recently used orders until the indexes hold at most
// limit entries.
func (p *positions) trim() {
	type cand struct {
		st   *posState
		o    int
		used int64
	}
	p.mu.Lock()
	var cands []cand
	for _, st := range p.states {
		for o := range numOrders {
			cands = append(cands, cand{st, o, st.used[o].Load()})
		}
	}
	p.mu.Unlock()
	sort.Slice(cands, func(i, j int) bool { return cands[i].used < cands[j].used })
	for _, c := range cands {
		if p.total.Load() <= p.limit {
			return
		}
		c.st.mu.Lock()
		c.st.drop(p, c.o)
		empty := !c.st.has(orderID) && !c.st.has(orderName) && !c.st.building[orderID] && !c.st.building[orderName]
		if empty {
			c.st.dead = true
		}
		c.st.mu.Unlock()
		if empty {
			p.mu.Lock()
			if p.states[c.st.key] == c.st {
				delete(p.states, c.st.key)
			}
			p.mu.Unlock()
		}
	}
}

// positionOrder returns the position index order that answers an
// unfiltered, unsought query, if one does: id order for an unsorted page
// that ends beyond the first chunk, name order for a sort by the type's
// unique name, which sortKey folds as the index does.
func positionOrder(rt *schema.ResourceType, typ byte, q Query, start, count int) (int, bool) {
	if q.SortBy == nil {
		return orderID, start-1+count > chunkMax
	}
	p := *q.SortBy
	if p.Sub != "" || p.Filter != nil {
		return 0, false
	}
	a, holder := sortAttribute(rt, p)
	if a == nil || holder != "" || a != rt.Attr("", uniqueIndex(typ).attr) || a.Type != schema.String || a.CaseExact || a.MultiValued {
		return 0, false
	}
	return orderName, true
}

// awaitBuild waits for the build under way that closes done: a page
// waits for it rather than walking to its startIndex, which at a million
// resources costs more than the build itself.
func awaitBuild(ctx context.Context, done chan struct{}) error {
	t := time.NewTimer(buildWait)
	defer t.Stop()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return errBuildBusy
	}
}

// buildWait bounds how long a page waits for a position index another
// page is building.
const buildWait = 10 * time.Second

// errBuildBusy says a position index was not built because the tenant's
// write lock stayed busy.
var errBuildBusy = errors.New("tenant busy")

// build builds order o of a tenant's resources of type typ, unless it is
// built, being built or cannot be. It takes the tenant's write lock only to
// open its snapshot.
func (s *Badger) build(ctx context.Context, tenant string, typ byte, o int) error {
	ts := s.tenant(tenant)
	if st := s.pos.lookup(tenant, typ); st != nil {
		st.mu.RLock()
		done, building := st.built[o], st.building[o]
		st.mu.RUnlock()
		if building {
			return awaitBuild(ctx, done)
		}
	}
	lctx, cancel := context.WithTimeout(ctx, time.Second)
	err := ts.q.Lock(lctx)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return errBuildBusy
	}
	st := s.pos.stateFor(tenant, typ)
	st.mu.Lock()
	if st.building[o] {
		// Another reader started the build while this one waited for the
		// lock.
		done := st.built[o]
		st.mu.Unlock()
		ts.q.Unlock()
		return awaitBuild(ctx, done)
	}
	if st.has(o) || st.failed[o] || st.dead {
		st.mu.Unlock()
		ts.q.Unlock()
		return nil
	}
	st.building[o] = true
	done := make(chan struct{})
	st.built[o] = done
	st.mu.Unlock()
	defer close(done)
	txn := s.db.NewTransaction(false)
	ts.q.Unlock()
	defer txn.Discard()

	var byID []uuid.UUID
	var byName []nameEntry
	var ok bool
	total, err := s.count(txn, tenant, typ)
	if err == nil {
		if o == orderID {
			byID, ok, err = scanIDs(ctx, txn, tenant, typ, total)
		} else {
			byName, ok, err = s.scanNames(ctx, txn, tenant, typ, total)
		}
	}

	st.mu.Lock()
	log := st.log[o]
	st.building[o], st.log[o] = false, nil
	if err != nil || st.dead {
		st.mu.Unlock()
		return err
	}
	if ok && o == orderID {
		r := newRanked(byID, compareIDs)
		for _, m := range log {
			ok = ok && applyID(r, m)
		}
		if ok {
			st.byID = r
		}
	} else if ok {
		r := newRanked(byName, compareNames)
		for _, m := range log {
			ok = ok && applyName(r, m)
		}
		if ok {
			st.byName = r
		}
	}
	if !ok {
		st.failed[o] = true
		st.mu.Unlock()
		return nil
	}
	st.gen++
	st.used[o].Store(s.pos.clock.Add(1))
	n := st.size(o)
	st.mu.Unlock()
	if s.pos.total.Add(int64(n)) > s.pos.limit {
		s.pos.trim()
	}
	return nil
}

// scanIDs reads the ids of a tenant's resources of type typ from their
// keys alone, in order, reporting false when one was not assigned by the
// store or their number is not total.
func scanIDs(ctx context.Context, txn *badger.Txn, tenant string, typ byte, total int) ([]uuid.UUID, bool, error) {
	prefix := resourcePrefix(tenant, typ)
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: false})
	defer it.Close()
	out := make([]uuid.UUID, 0, total)
	for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
		if len(out)%4096 == 0 && ctx.Err() != nil {
			return nil, false, ctx.Err()
		}
		k := it.Item().Key()[len(prefix):]
		if len(k) != 37 || k[0] != 36 {
			return nil, false, nil
		}
		u, ok := packID(k[1:])
		if !ok {
			return nil, false, nil
		}
		out = append(out, u)
	}
	return out, len(out) == total, nil
}

// scanNames reads the folded unique names of a tenant's resources of type
// typ from the unique index (and its collision list), sorted as
// compareNames orders them. Names too long to be kept in an index key are
// read from their records. It reports false when the index does not name
// exactly total resources with ids the store assigned.
func (s *Badger) scanNames(ctx context.Context, txn *badger.Txn, tenant string, typ byte, total int) ([]nameEntry, bool, error) {
	ix := uniqueIndex(typ)
	out := make([]nameEntry, 0, total)
	add := func(value []byte, id string) (bool, error) {
		u, ok := packID(id)
		if !ok {
			return false, nil
		}
		key := string(value)
		if len(value) > maxIndexedValue {
			// indexValue replaced the name with its hash: read it.
			res, err := getRecord(txn, resourceKey(tenant, typ, id))
			if err != nil {
				return false, err
			}
			v := ix.values(res)
			if len(v) != 1 {
				return false, nil
			}
			key = fold(v[0])
		}
		out = append(out, nameEntry{key, u})
		return true, nil
	}
	prefixes := [][]byte{newKey(pUnique, tenant).byte(typ).str(ix.attr).bytes()}
	if s.hasCollisions.Load() {
		prefixes = append(prefixes, newKey(pCollision, tenant).byte(typ).str(ix.attr).bytes())
	}
	for i, prefix := range prefixes {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: false})
		for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
			if len(out)%4096 == 0 && ctx.Err() != nil {
				it.Close()
				return nil, false, ctx.Err()
			}
			value, rest, err := readStr(it.Item().Key()[len(prefix):])
			if err != nil {
				it.Close()
				return nil, false, err
			}
			id := string(rest)
			if i == 0 {
				var b []byte
				if b, err = it.Item().ValueCopy(nil); err != nil {
					it.Close()
					return nil, false, err
				}
				id = string(b)
			}
			ok, err := add([]byte(value), id)
			if !ok || err != nil {
				it.Close()
				return nil, false, err
			}
		}
		it.Close()
	}
	if len(out) != total {
		return nil, false, nil
	}
	slices.SortFunc(out, compareNames)
	for i := 1; i < len(out); i++ {
		if out[i].id == out[i-1].id {
			return nil, false, nil
		}
	}
	return out, true, nil
}

// snapshotState reads the state of resource id in txn.
func snapshotState(txn *badger.Txn, tenant string, typ byte, id string, o int) (resState, error) {
	if o == orderID {
		_, err := txn.Get(resourceKey(tenant, typ, id))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return resState{}, nil
		}
		return resState{present: err == nil}, err
	}
	res, err := getRecord(txn, resourceKey(tenant, typ, id))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return resState{}, nil
	}
	if err != nil {
		return resState{}, err
	}
	return stateOf(typ, res), nil
}

// positionPage answers an unfiltered page in order o (descending for a
// descending name order) from the tenant's position index, building it if
// needed. ok is false when no index can answer; the caller then reads the
// page without one.
func (s *Badger) positionPage(ctx context.Context, tenant string, typ byte, o int, desc bool, start, count int, raw bool) (page *Page, ok bool, err error) {
	if raw && o != orderID {
		// Name order checks each record's name, which needs it decoded.
		return nil, false, nil
	}
	st := s.pos.lookup(tenant, typ)
	if has, failed := st.status(o); failed {
		return nil, false, nil
	} else if !has {
		var total int
		if err := s.db.View(func(txn *badger.Txn) error {
			var err error
			total, err = s.count(txn, tenant, typ)
			return err
		}); err != nil {
			return nil, false, err
		}
		if total <= chunkMax || int64(total) > s.pos.limit {
			return nil, false, nil
		}
		if err := s.build(ctx, tenant, typ, o); err != nil && !errors.Is(err, errBuildBusy) {
			return nil, false, err
		}
		if st = s.pos.lookup(tenant, typ); st == nil {
			s.pos.unbuilt.Add(1)
			return nil, false, nil
		}
	}
	for attempt := range 4 {
		if attempt > 0 {
			time.Sleep(time.Duration(attempt) * 100 * time.Microsecond)
		}
		st.mu.RLock()
		gen, have := st.gen, st.has(o)
		st.mu.RUnlock()
		if !have {
			s.pos.unbuilt.Add(1)
			return nil, false, nil
		}
		st.used[o].Store(s.pos.clock.Add(1))
		page = &Page{Resources: []map[string]any{}, wantRaw: raw}
		var retry bool
		err = s.db.View(func(txn *badger.Txn) error {
			var err error
			retry, err = s.readPosition(txn, st, gen, tenant, typ, o, desc, start, count, page)
			return err
		})
		if err != nil {
			return nil, false, err
		}
		if !retry {
			return page, true, nil
		}
	}
	s.pos.fallbacks.Add(1)
	return nil, false, nil
}

// status reports whether order o is built, and whether it cannot be; st
// may be nil.
func (st *posState) status(o int) (has, failed bool) {
	if st == nil {
		return false, false
	}
	st.mu.RLock()
	defer st.mu.RUnlock()
	return st.has(o), st.failed[o]
}

// readPosition fills page from order o of st and the snapshot txn, which
// was opened after st's generation was gen. It reports retry when the
// index and the snapshot may disagree.
func (s *Badger) readPosition(txn *badger.Txn, st *posState, gen uint64, tenant string, typ byte, o int, desc bool, start, count int, page *Page) (retry bool, err error) {
	total, err := s.count(txn, tenant, typ)
	if err != nil {
		return false, err
	}
	page.Total = total
	from, to := start-1, min(start-1+count, total)
	st.mu.RLock()
	if st.gen != gen || !st.has(o) {
		st.mu.RUnlock()
		return true, nil
	}
	var pending map[string]resState
	if len(st.held) > 0 {
		pending = maps.Clone(st.held)
	}
	size := st.size(o)
	var ids []uuid.UUID
	var keys []string
	if size == total && from < to {
		if o == orderID {
			ids = st.byID.window(from, to)
		} else {
			var w []nameEntry
			if desc {
				w = descWindow(st.byName, from, to)
			} else {
				w = st.byName.window(from, to)
			}
			ids, keys = make([]uuid.UUID, len(w)), make([]string, len(w))
			for i, e := range w {
				ids[i], keys[i] = e.id, e.key
			}
		}
	}
	st.mu.RUnlock()
	for id, held := range pending {
		got, err := snapshotState(txn, tenant, typ, id, o)
		if err != nil {
			return false, err
		}
		if got.present != held.present || (o == orderName && got != held) {
			return true, nil
		}
	}
	if size != total {
		// The index and the snapshot agree on every pending resource yet
		// not on the count: the index is wrong. Build it again.
		s.dropOrder(st, o)
		return true, nil
	}
	if from >= to {
		return false, nil
	}
	if o == orderID {
		return s.readIDRun(txn, st, tenant, typ, ids, page)
	}
	for i, u := range ids {
		res, err := getRecord(txn, resourceKey(tenant, typ, u.String()))
		if errors.Is(err, badger.ErrKeyNotFound) {
			s.dropOrder(st, o)
			return true, nil
		}
		if err != nil {
			return false, err
		}
		if got := stateOf(typ, res); !got.named || got.key != keys[i] {
			s.dropOrder(st, o)
			return true, nil
		}
		page.Resources = append(page.Resources, res)
	}
	return false, nil
}

// readIDRun reads the resources of ids, consecutive in id order, with one
// iterator seek, checking each key against the index.
func (s *Badger) readIDRun(txn *badger.Txn, st *posState, tenant string, typ byte, ids []uuid.UUID, page *Page) (retry bool, err error) {
	prefix := resourcePrefix(tenant, typ)
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true, PrefetchSize: min(len(ids), 100)})
	defer it.Close()
	it.Seek(resourceKey(tenant, typ, ids[0].String()))
	for _, u := range ids {
		if !it.ValidForPrefix(prefix) || !bytes.Equal(it.Item().Key(), resourceKey(tenant, typ, u.String())) {
			s.dropOrder(st, orderID)
			return true, nil
		}
		if err := it.Item().Value(page.add); err != nil {
			return false, err
		}
		it.Next()
	}
	return false, nil
}

// dropOrder forgets order o of st after a check found it wrong, so that it
// is built again.
func (s *Badger) dropOrder(st *posState, o int) {
	st.mu.Lock()
	st.drop(s.pos, o)
	st.gen++
	st.mu.Unlock()
}

// descWindow returns the entries at positions [from, to) of the descending
// name order: names descending and, as filteredPage sorts, ids ascending
// among equal names. to is at most r.n.
func descWindow(r *ranked[nameEntry], from, to int) []nameEntry {
	n := r.n
	lo, hi := n-to, n-from
	// Widen to whole runs of equal names, which keep their id order.
	for lo > 0 {
		w := r.window(lo-1, lo+1)
		if w[0].key != w[1].key {
			break
		}
		lo--
	}
	for hi < n {
		w := r.window(hi-1, hi+1)
		if w[0].key != w[1].key {
			break
		}
		hi++
	}
	w := r.window(lo, hi)
	slices.Reverse(w)
	for i := 0; i < len(w); {
		j := i + 1
		for j < len(w) && w[j].key == w[i].key {
			j++
		}
		slices.Reverse(w[i:j])
		i = j
	}
	off := from - (n - hi)
	return w[off : off+to-from]
}
