package console

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Backing keeps the records of a Sessions. NewSessions keeps them in the
// process's memory; NewSharedSessions takes a Backing that several
// instances share (a database), so that whatever one instance keeps the
// others see.
//
// A record is opaque bytes kept under a kind ("link", "session", "nonce",
// "flash") and the SHA-256 hash of its secret, never the secret, with an
// owner (the principal it belongs to, or ""), an expiry and a used mark.
// Times are those of the Sessions' clock, passed in: the Backing never
// reads a clock of its own. Every method is safe for concurrent use, also
// across instances: Use and Take each let exactly one caller win a record.
type Backing interface {
	// Put keeps record under kind and hash for owner until expires,
	// unused, replacing any record there.
	Put(ctx context.Context, kind string, hash []byte, owner string, record []byte, expires time.Time) error
	// Get returns the record under kind and hash, expired or not; found
	// is false when there is none.
	Get(ctx context.Context, kind string, hash []byte) (record []byte, expires time.Time, used, found bool, err error)
	// Use marks the record under kind and hash used when it is unused and
	// expires after now, and reports whether it did.
	Use(ctx context.Context, kind string, hash []byte, now time.Time) (bool, error)
	// Take deletes the record under kind and hash when owner owns it and
	// returns it; found is false when there was none to take.
	Take(ctx context.Context, kind string, hash []byte, owner string) (record []byte, expires time.Time, found bool, err error)
	// Trim deletes all but the keep records of kind and owner that expire
	// last; keep 0 deletes them all.
	Trim(ctx context.Context, kind, owner string, keep int) error
	// Sweep deletes the records of kind that expire at or before t.
	Sweep(ctx context.Context, kind string, t time.Time) error
	// Key returns the 32-byte random secret called name, created by the
	// first caller that asks for it; every later call, on any instance,
	// returns the same secret.
	Key(ctx context.Context, name string) ([]byte, error)
}

// memBacking is the Backing of one process, in memory.
type memBacking struct {
	mu      sync.Mutex
	records map[memKey]*memRecord
	// owned indexes the hashes of the records of each kind and owner.
	owned map[memOwner]map[string]struct{}
	keys  map[string][]byte
	// puts counts Puts, to trim the older of two records of one expiry
	// first.
	puts uint64
}

type memKey struct{ kind, hash string }

type memOwner struct{ kind, owner string }

type memRecord struct {
	owner   string
	record  []byte
	expires time.Time
	used    bool
	put     uint64
}

func newMemBacking() *memBacking {
	return &memBacking{
		records: make(map[memKey]*memRecord),
		owned:   make(map[memOwner]map[string]struct{}),
		keys:    make(map[string][]byte),
	}
}

func (m *memBacking) Put(_ context.Context, kind string, hash []byte, owner string, record []byte, expires time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := memKey{kind, string(hash)}
	m.remove(k)
	m.puts++
	m.records[k] = &memRecord{owner: owner, record: bytes.Clone(record), expires: expires, put: m.puts}
	o := memOwner{kind, owner}
	if m.owned[o] == nil {
		m.owned[o] = make(map[string]struct{})
	}
	m.owned[o][k.hash] = struct{}{}
	return nil
}

func (m *memBacking) Get(_ context.Context, kind string, hash []byte) ([]byte, time.Time, bool, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.records[memKey{kind, string(hash)}]
	if !ok {
		return nil, time.Time{}, false, false, nil
	}
	return bytes.Clone(r.record), r.expires, r.used, true, nil
}

func (m *memBacking) Use(_ context.Context, kind string, hash []byte, now time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.records[memKey{kind, string(hash)}]
	if !ok || r.used || !now.Before(r.expires) {
		return false, nil
	}
	r.used = true
	return true, nil
}

func (m *memBacking) Take(_ context.Context, kind string, hash []byte, owner string) ([]byte, time.Time, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := memKey{kind, string(hash)}
	r, ok := m.records[k]
	if !ok || r.owner != owner {
		return nil, time.Time{}, false, nil
	}
	m.remove(k)
	return r.record, r.expires, true, nil
}

func (m *memBacking) Trim(_ context.Context, kind, owner string, keep int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	set := m.owned[memOwner{kind, owner}]
	if len(set) <= keep {
		return nil
	}
	keys := make([]memKey, 0, len(set))
	for h := range set {
		keys = append(keys, memKey{kind, h})
	}
	// Last to expire first; of one expiry, the last put first.
	slices.SortFunc(keys, func(a, b memKey) int {
		ra, rb := m.records[a], m.records[b]
		if c := rb.expires.Compare(ra.expires); c != 0 {
			return c
		}
		return cmp.Compare(rb.put, ra.put)
	})
	for _, k := range keys[keep:] {
		m.remove(k)
	}
	return nil
}

func (m *memBacking) Sweep(_ context.Context, kind string, t time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, r := range m.records {
		if k.kind == kind && !r.expires.After(t) {
			m.remove(k)
		}
	}
	return nil
}

func (m *memBacking) Key(_ context.Context, name string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if key, ok := m.keys[name]; ok {
		return bytes.Clone(key), nil
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("reading random bytes: %w", err)
	}
	m.keys[name] = key
	return bytes.Clone(key), nil
}

// remove deletes the record under k, if any, and its owner's index entry.
func (m *memBacking) remove(k memKey) {
	r, ok := m.records[k]
	if !ok {
		return
	}
	delete(m.records, k)
	o := memOwner{k.kind, r.owner}
	delete(m.owned[o], k.hash)
	if len(m.owned[o]) == 0 {
		delete(m.owned, o)
	}
}

// Interface guards
var _ Backing = (*memBacking)(nil)
