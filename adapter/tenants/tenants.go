// Package tenants keeps the runtime tenants: tenants an operator enables,
// changes, disables and purges while the server runs, through the admin
// API or the CLI, without editing the config. Their records live in the
// store next to their data, so they survive restarts and reloads; a
// Registry holds them in memory, so routing a request never reads the
// store.
//
// A runtime tenant belongs to a profile: the config's description of what
// runtime tenants get (the backend, its default settings, token validity,
// rotation overlap, rate limit). A record keeps only what differs from its
// profile.
package tenants

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
)

// Record is a runtime tenant as stored.
type Record struct {
	// Name is the tenant's name, the last segment of its Tenant URL.
	Name string `json:"name"`
	// Profile names the config's runtime_tenants block the tenant belongs
	// to.
	Profile string `json:"profile"`
	// Account is, for a named connection an account created in the
	// console, the tenant whose admin created it and administers it.
	Account string `json:"account,omitempty"`
	// Settings are backend settings that override the profile's defaults,
	// key by key: a JSON object, or empty.
	Settings json.RawMessage `json:"settings,omitempty"`
	// TokenValidity overrides the profile's token validity when set.
	TokenValidity time.Duration `json:"token_validity,omitempty"`
	// RotationOverlap overrides the profile's rotation overlap when set
	// (0 included: revoke at once).
	RotationOverlap *time.Duration `json:"rotation_overlap,omitempty"`
	// RateLimit overrides the profile's rate limit when set.
	RateLimit *RateLimit `json:"rate_limit,omitempty"`
	// Disabled tenants are not served: their Tenant URL answers 404 and
	// their tokens do not work. Their data is kept.
	Disabled bool `json:"disabled,omitempty"`
	// DisabledAt is when the tenant was disabled.
	DisabledAt *time.Time `json:"disabled_at,omitempty"`
	// Purging is set while the tenant's data is being deleted; a purge
	// interrupted by a crash is finished when the store is next loaded.
	Purging bool `json:"purging,omitempty"`
	// Created and Updated are when the record was first and last saved.
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
}

// RateLimit limits a tenant's requests: Requests per Window.
type RateLimit struct {
	Requests int           `json:"requests"`
	Window   time.Duration `json:"window"`
}

// Persistence stores runtime tenant records and deletes tenants' data.
type Persistence interface {
	// SaveTenant stores a record, replacing the one of the same name.
	SaveTenant(ctx context.Context, rec Record) error
	// TenantRecords returns every stored record.
	TenantRecords(ctx context.Context) ([]Record, error)
	// PurgeTenant deletes everything kept for the tenant — resources,
	// indexes, membership, journal, tokens, OAuth client and access
	// tokens, access times, delivery state and dead letters — and then
	// its record. It may be called again after an interruption.
	PurgeTenant(ctx context.Context, name string) error
}

// namePattern is what a tenant name may be: it is a URL path segment and
// the name of a data directory, so it starts with a letter or a digit
// ("." and ".." are never names).
var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// NameRule says in words what namePattern allows.
const NameRule = "use 1 to 64 letters, digits, dots, dashes and underscores, starting with a letter or a digit"

// CheckName returns an error saying what is wrong with a tenant name, or
// nil.
func CheckName(name string) error {
	if !namePattern.MatchString(name) {
		return fmt.Errorf("tenant name %q: %s", clip(name), NameRule)
	}
	return nil
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// Errors the Registry returns; callers map them to statuses.
var (
	// ErrNotFound: no runtime tenant of that name.
	ErrNotFound = errors.New("no runtime tenant of that name")
	// ErrPurging: the tenant is being purged.
	ErrPurging = errors.New("the tenant is being purged")
	// ErrChanged: another process sharing the store changed the tenant
	// since this one last read it, and the change was not saved.
	ErrChanged = errors.New("the tenant was changed on another instance at the same time; nothing was saved: read it again and retry")
)

// ConditionalSaver is a Persistence that several processes share. The
// Registry saves through it so that a change made from an out-of-date
// record is refused instead of undoing another process's change.
type ConditionalSaver interface {
	// SaveTenantIf stores rec only when the stored record of its name
	// is still prev (nil: there is none), and reports whether it did.
	SaveTenantIf(ctx context.Context, rec Record, prev *Record) (bool, error)
}

// ConflictError refuses a name that another tenant has, in any case.
type ConflictError struct {
	Name, Other string
}

func (e *ConflictError) Error() string {
	if e.Name == e.Other {
		return fmt.Sprintf("tenant %q already exists", e.Name)
	}
	return fmt.Sprintf("tenant %q differs from the existing tenant %q only in case; tenant names must differ in more than case", e.Name, e.Other)
}

// Registry is the in-memory view of the runtime tenants of one store; every
// change is written to the store before it is visible.
type Registry struct {
	p   Persistence
	now func() time.Time

	// write serialises changes, so a record is never saved over a newer
	// one.
	write sync.Mutex

	mu   sync.RWMutex
	recs map[string]*Record
	// folded maps strings.ToLower(name) to name, for case conflicts.
	folded map[string]string
	// accounts maps an account to the names of its connections.
	accounts map[string]map[string]bool
}

// Load reads the runtime tenants from p and finishes any purge a crash
// interrupted. now is the clock; nil means time.Now.
func Load(ctx context.Context, p Persistence, now func() time.Time) (*Registry, error) {
	if now == nil {
		now = time.Now
	}
	recs, err := p.TenantRecords(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading runtime tenants: %w", err)
	}
	r := &Registry{p: p, now: now, recs: make(map[string]*Record, len(recs)), folded: make(map[string]string, len(recs)),
		accounts: map[string]map[string]bool{}}
	for i := range recs {
		rec := &recs[i]
		if rec.Purging {
			if err := p.PurgeTenant(ctx, rec.Name); err != nil {
				return nil, fmt.Errorf("finishing the purge of tenant %s: %w", rec.Name, err)
			}
			continue
		}
		r.setLocked(rec)
	}
	return r, nil
}

// Get returns a copy of the named record.
func (r *Registry) Get(name string) (Record, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	rec := r.recs[name]
	if rec == nil {
		return Record{}, false
	}
	return *rec, true
}

// Lookup returns the record of a name as stored, without copying, for the
// request path. The caller must not change it: records are replaced, never
// changed in place.
func (r *Registry) Lookup(name string) *Record {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.recs[name]
}

// Len returns the number of runtime tenants, disabled ones included.
func (r *Registry) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.recs)
}

// List returns every record, by name.
func (r *Registry) List() []Record {
	r.mu.RLock()
	out := make([]Record, 0, len(r.recs))
	for _, rec := range r.recs {
		out = append(out, *rec)
	}
	r.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// CaseConflict returns the runtime tenant whose name equals name in a
// different case, or "".
func (r *Registry) CaseConflict(name string) string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if other, ok := r.folded[strings.ToLower(name)]; ok && other != name {
		return other
	}
	return ""
}

// Put creates or replaces a runtime tenant with rec (its Name, Profile,
// Settings, TokenValidity, RotationOverlap and RateLimit), enabled. apply,
// when not nil, runs before anything is saved, with the old record (nil
// for a new tenant) and the new one; its error refuses the change. It
// returns the previous record, or nil when the tenant is new.
func (r *Registry) Put(ctx context.Context, rec Record, apply func(old, next *Record) error) (*Record, error) {
	if err := CheckName(rec.Name); err != nil {
		return nil, err
	}
	r.write.Lock()
	defer r.write.Unlock()
	if other := r.CaseConflict(rec.Name); other != "" {
		return nil, &ConflictError{Name: rec.Name, Other: other}
	}
	now := r.now().UTC()
	next := rec
	next.Disabled, next.DisabledAt, next.Purging = false, nil, false
	next.Created, next.Updated = now, now
	old := r.Lookup(rec.Name)
	if old != nil {
		if old.Purging {
			return nil, ErrPurging
		}
		next.Created = old.Created
	}
	if apply != nil {
		// apply may configure the backend: first make sure it works from
		// the stored record.
		if err := r.stillCurrent(ctx, rec.Name, old); err != nil {
			return nil, err
		}
		if err := apply(old, &next); err != nil {
			return nil, err
		}
	}
	if err := r.save(ctx, next, old); err != nil {
		return nil, err
	}
	r.set(&next)
	return old, nil
}

// Disable stops serving a runtime tenant and keeps its data; a later Put
// enables it again. Disabling a disabled tenant changes nothing.
func (r *Registry) Disable(ctx context.Context, name string) (Record, error) {
	r.write.Lock()
	defer r.write.Unlock()
	old := r.Lookup(name)
	if old == nil {
		return Record{}, ErrNotFound
	}
	if old.Disabled {
		return *old, nil
	}
	next := *old
	at := r.now().UTC()
	next.Disabled, next.DisabledAt, next.Updated = true, &at, at
	if err := r.save(ctx, next, old); err != nil {
		return Record{}, err
	}
	r.set(&next)
	return next, nil
}

// Purge deletes a runtime tenant and all its data. The tenant is disabled
// and marked as purging first, so it is never served while its data goes,
// and a crash part-way is finished by the next Load. before, when not nil,
// runs once the tenant is disabled and before its data is deleted (the
// host purges the backend's product data there); its error stops the purge
// and leaves the tenant disabled.
func (r *Registry) Purge(ctx context.Context, name string, before func(rec Record) error) error {
	r.write.Lock()
	defer r.write.Unlock()
	old := r.Lookup(name)
	if old == nil {
		return ErrNotFound
	}
	next := *old
	at := r.now().UTC()
	if !next.Disabled {
		next.Disabled, next.DisabledAt = true, &at
	}
	next.Updated = at
	if err := r.save(ctx, next, old); err != nil {
		return err
	}
	r.set(&next)
	if before != nil {
		if err := before(next); err != nil {
			return err
		}
	}
	next.Purging = true
	if err := r.p.SaveTenant(ctx, next); err != nil {
		return fmt.Errorf("saving tenant %s: %w", name, err)
	}
	r.set(&next)
	if err := r.p.PurgeTenant(ctx, name); err != nil {
		return fmt.Errorf("purging tenant %s: %w", name, err)
	}
	r.mu.Lock()
	r.replaceLocked(name, nil)
	r.mu.Unlock()
	return nil
}

// save stores next over prev, the record it was made from: on a shared
// store only if prev is still the one stored, else ErrChanged. The
// notification of the other process's change brings this Registry up to
// date; it is not refreshed here, so that whoever installs tenants from
// the notification sees the change.
func (r *Registry) save(ctx context.Context, next Record, prev *Record) error {
	cs, ok := r.p.(ConditionalSaver)
	if !ok {
		if err := r.p.SaveTenant(ctx, next); err != nil {
			return fmt.Errorf("saving tenant %s: %w", next.Name, err)
		}
		return nil
	}
	saved, err := cs.SaveTenantIf(ctx, next, prev)
	if err != nil {
		return fmt.Errorf("saving tenant %s: %w", next.Name, err)
	}
	if !saved {
		return ErrChanged
	}
	return nil
}

// stillCurrent returns ErrChanged when, on a shared store, the stored
// record of name is no longer held, the one this Registry holds.
func (r *Registry) stillCurrent(ctx context.Context, name string, held *Record) error {
	_, shared := r.p.(ConditionalSaver)
	rr, ok := r.p.(RecordReader)
	if !shared || !ok {
		return nil
	}
	cur, err := rr.TenantRecord(ctx, name)
	if err != nil {
		return fmt.Errorf("reading tenant %s: %w", name, err)
	}
	if !SameRecord(cur, held) {
		return ErrChanged
	}
	return nil
}

// SameRecord reports whether a and b (nil for none) are the same record,
// compared in their JSON form.
func SameRecord(a, b *Record) bool {
	if a == nil || b == nil {
		return a == b
	}
	x, errA := json.Marshal(a)
	y, errB := json.Marshal(b)
	return errA == nil && errB == nil && string(x) == string(y)
}

func (r *Registry) set(rec *Record) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.setLocked(rec)
}

func (r *Registry) setLocked(rec *Record) {
	if old := r.recs[rec.Name]; old != nil && old.Account != "" && old.Account != rec.Account {
		delete(r.accounts[old.Account], rec.Name)
	}
	r.recs[rec.Name] = rec
	r.folded[strings.ToLower(rec.Name)] = rec.Name
	if rec.Account != "" {
		if r.accounts[rec.Account] == nil {
			r.accounts[rec.Account] = map[string]bool{}
		}
		r.accounts[rec.Account][rec.Name] = true
	}
}

// Connections returns the records whose Account is account, by name,
// without reading every tenant.
func (r *Registry) Connections(account string) []Record {
	r.mu.RLock()
	out := make([]Record, 0, len(r.accounts[account]))
	for name := range r.accounts[account] {
		out = append(out, *r.recs[name])
	}
	r.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// RecordReader is implemented by a Persistence that reads one record
// without reading them all; Refresh uses it.
type RecordReader interface {
	// TenantRecord returns the named record, or nil when there is none.
	TenantRecord(ctx context.Context, name string) (*Record, error)
}

// Refresh reads the named record from the store again, for when another
// process sharing the store may have changed it, and returns the record
// the Registry held before and the one it holds now (nil for none).
func (r *Registry) Refresh(ctx context.Context, name string) (old, next *Record, err error) {
	var rec *Record
	if rr, ok := r.p.(RecordReader); ok {
		if rec, err = rr.TenantRecord(ctx, name); err != nil {
			return nil, nil, fmt.Errorf("reading tenant %s: %w", name, err)
		}
	} else {
		recs, err := r.p.TenantRecords(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("reading runtime tenants: %w", err)
		}
		for i := range recs {
			if recs[i].Name == name {
				rec = &recs[i]
				break
			}
		}
	}
	r.write.Lock()
	defer r.write.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	old = r.recs[name]
	r.replaceLocked(name, rec)
	return old, rec, nil
}

// RefreshAll reads every record from the store again and returns the
// names whose record was added, changed or removed.
func (r *Registry) RefreshAll(ctx context.Context) ([]string, error) {
	recs, err := r.p.TenantRecords(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading runtime tenants: %w", err)
	}
	r.write.Lock()
	defer r.write.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	var changed []string
	seen := make(map[string]bool, len(recs))
	for i := range recs {
		rec := &recs[i]
		seen[rec.Name] = true
		if old := r.recs[rec.Name]; old == nil || !reflect.DeepEqual(*old, *rec) {
			changed = append(changed, rec.Name)
			r.replaceLocked(rec.Name, rec)
		}
	}
	for name := range r.recs {
		if !seen[name] {
			changed = append(changed, name)
			r.replaceLocked(name, nil)
		}
	}
	sort.Strings(changed)
	return changed, nil
}

// replaceLocked sets the named record to rec, or removes it when rec is
// nil.
func (r *Registry) replaceLocked(name string, rec *Record) {
	if rec != nil {
		r.setLocked(rec)
		return
	}
	if old := r.recs[name]; old != nil {
		if old.Account != "" {
			delete(r.accounts[old.Account], name)
		}
		delete(r.recs, name)
		delete(r.folded, strings.ToLower(name))
	}
}
