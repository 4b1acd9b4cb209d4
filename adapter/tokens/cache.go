package tokens

import "sync"

// DefaultCacheSize is how many verified tokens a Manager keeps in memory.
// At a few hundred bytes an entry, a full cache costs a few tens of MiB.
const DefaultCacheSize = 1 << 16

// cache keeps the stored records of tokens Verify has looked up, keyed by
// the SHA-256 of the token (never the token itself), so that a repeated
// request is answered without reading the store. Only tokens that have a
// record are kept: a token that is not found is looked up again on every
// request, so one issued a moment later works at once, and a flood of
// random tokens adds nothing. Revocation and expiry are still checked
// against the clock on every request; what the cache saves is the read.
//
// Every change of a record a cached entry depends on invalidates the
// tenant's entries once the change is stored (Issue, Revoke,
// AddClientSecret, RevokeClientSecret, Invalidate). A lookup that was in
// flight when an invalidation happened is not cached, since it may have
// read the record from before the change: each invalidation increments gen,
// and put refuses an entry read under an older gen.
//
// The cache is per process. This is correct while one process is the only
// writer of the store, as with Badger. When several instances share a store
// (PostgreSQL), each must also invalidate on the others' changes, e.g. on a
// LISTEN/NOTIFY message sent with every token change.
type cache struct {
	mu      sync.RWMutex
	max     int
	gen     uint64
	entries map[[32]byte]*cached
}

// cached is one cache entry. It is never modified once stored.
type cached struct {
	tenant string
	// rec is the record of a long-lived token, or nil.
	rec *Record
	// at is the record of an OAuth access token, or nil; active is
	// whether the client secret that obtained it was still active.
	at     *AccessToken
	active bool
}

func newCache(max int) *cache {
	return &cache{max: max, entries: map[[32]byte]*cached{}}
}

// get returns the entry for hash h, or nil, and the generation to pass to
// put after a lookup in the store.
func (c *cache) get(h [32]byte) (*cached, uint64) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.entries[h], c.gen
}

// put stores e for h unless an invalidation happened since gen. When the
// cache is full an arbitrary entry makes room: Go's map iteration starts at
// a random place.
func (c *cache) put(h [32]byte, e *cached, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.max <= 0 || gen != c.gen {
		return
	}
	if _, ok := c.entries[h]; !ok && len(c.entries) >= c.max {
		for k := range c.entries {
			delete(c.entries, k)
			break
		}
	}
	c.entries[h] = e
}

// invalidate drops every entry of tenant.
func (c *cache) invalidate(tenant string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for k, e := range c.entries {
		if e.tenant == tenant {
			delete(c.entries, k)
		}
	}
}

// clear drops every entry.
func (c *cache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.entries = map[[32]byte]*cached{}
}

// setMax changes the cache's capacity and empties it; 0 turns it off.
func (c *cache) setMax(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.max = n
	c.entries = map[[32]byte]*cached{}
}

func (c *cache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}
