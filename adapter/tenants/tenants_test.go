package tenants

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// memory is a Persistence in memory, counting purges.
type memory struct {
	mu      sync.Mutex
	recs    map[string]Record
	purged  []string
	failOn  string
	saveErr error
}

func newMemory() *memory { return &memory{recs: map[string]Record{}} }

func (m *memory) SaveTenant(_ context.Context, rec Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.saveErr != nil {
		return m.saveErr
	}
	m.recs[rec.Name] = rec
	return nil
}

func (m *memory) TenantRecords(context.Context) ([]Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Record
	for _, r := range m.recs {
		out = append(out, r)
	}
	return out, nil
}

func (m *memory) PurgeTenant(_ context.Context, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if name == m.failOn {
		return errors.New("disk full")
	}
	m.purged = append(m.purged, name)
	delete(m.recs, name)
	return nil
}

func TestCheckName(t *testing.T) {
	for _, ok := range []string{"acme", "a", "Acme-2.eu_1", "0day", "x123456789012345678901234567890123456789012345678901234567890abc"} {
		if err := CheckName(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", ".hidden", "-x", "_x", "a/b", "a b", "ümlaut", "a\x00", "x1234567890123456789012345678901234567890123456789012345678901234"} {
		if err := CheckName(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestPutDisablePurge(t *testing.T) {
	ctx := context.Background()
	m := newMemory()
	clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	r, err := Load(ctx, m, func() time.Time { return clock })
	if err != nil {
		t.Fatal(err)
	}
	old, err := r.Put(ctx, Record{Name: "acme", Profile: "print", Settings: []byte(`{"a":1}`)}, nil)
	if err != nil || old != nil {
		t.Fatalf("create: %v %v", old, err)
	}
	if got := m.recs["acme"]; !got.Created.Equal(clock) || got.Disabled {
		t.Fatalf("stored %+v", got)
	}
	clock = clock.Add(time.Hour)
	if _, err := r.Put(ctx, Record{Name: "ACME", Profile: "print"}, nil); err == nil {
		t.Fatal("a name differing only in case was accepted")
	} else if ce := new(ConflictError); !errors.As(err, &ce) || ce.Other != "acme" {
		t.Fatalf("case conflict: %v", err)
	}
	dis, err := r.Disable(ctx, "acme")
	if err != nil || !dis.Disabled || dis.DisabledAt == nil || !m.recs["acme"].Disabled {
		t.Fatalf("disable: %+v %v", dis, err)
	}
	if _, err := r.Disable(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("disable unknown: %v", err)
	}
	// A refused apply changes nothing.
	refusal := errors.New("bad settings")
	if _, err := r.Put(ctx, Record{Name: "acme", Profile: "print", Settings: []byte(`{"a":2}`)}, func(old, next *Record) error { return refusal }); !errors.Is(err, refusal) {
		t.Fatalf("refused put: %v", err)
	}
	if got, _ := r.Get("acme"); !got.Disabled || string(got.Settings) != `{"a":1}` {
		t.Fatalf("a refused put changed the tenant: %+v", got)
	}
	// Put restores a disabled tenant and keeps its creation time.
	prev, err := r.Put(ctx, Record{Name: "acme", Profile: "print", Settings: []byte(`{"a":3}`)}, nil)
	if err != nil || prev == nil || !prev.Disabled {
		t.Fatalf("restore: %+v %v", prev, err)
	}
	got, _ := r.Get("acme")
	if got.Disabled || got.DisabledAt != nil || !got.Created.Equal(clock.Add(-time.Hour)) || !got.Updated.Equal(clock) {
		t.Fatalf("restored %+v", got)
	}
	// A failing purge leaves the tenant disabled and marked; Load finishes
	// it.
	m.failOn = "acme"
	if err := r.Purge(ctx, "acme", nil); err == nil {
		t.Fatal("purge did not report the failure")
	}
	if got, ok := r.Get("acme"); !ok || !got.Disabled {
		t.Fatalf("after a failed purge: %+v %v", got, ok)
	}
	m.failOn = ""
	r2, err := Load(ctx, m, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r2.Get("acme"); ok || len(m.purged) != 1 {
		t.Fatalf("Load did not finish the purge: %v", m.purged)
	}
}

func TestPurgeBeforeHookCanStopIt(t *testing.T) {
	ctx := context.Background()
	m := newMemory()
	r, _ := Load(ctx, m, nil)
	if _, err := r.Put(ctx, Record{Name: "acme", Profile: "p"}, nil); err != nil {
		t.Fatal(err)
	}
	stop := errors.New("backend unreachable")
	if err := r.Purge(ctx, "acme", func(rec Record) error {
		if !rec.Disabled {
			t.Error("the hook ran before the tenant was disabled")
		}
		return stop
	}); !errors.Is(err, stop) {
		t.Fatalf("purge: %v", err)
	}
	if len(m.purged) != 0 || m.recs["acme"].Purging || !m.recs["acme"].Disabled {
		t.Fatalf("a stopped purge deleted data or left the mark: %+v %v", m.recs["acme"], m.purged)
	}
	if err := r.Purge(ctx, "acme", nil); err != nil || len(m.purged) != 1 || r.Len() != 0 {
		t.Fatalf("purge: %v %v", err, m.purged)
	}
	if err := r.Purge(ctx, "acme", nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second purge: %v", err)
	}
}

func TestSaveFailureChangesNothing(t *testing.T) {
	ctx := context.Background()
	m := newMemory()
	r, _ := Load(ctx, m, nil)
	m.saveErr = errors.New("read-only")
	if _, err := r.Put(ctx, Record{Name: "acme", Profile: "p"}, nil); err == nil {
		t.Fatal("put succeeded without saving")
	}
	if r.Len() != 0 {
		t.Fatal("an unsaved tenant is visible")
	}
}

func TestConnectionsOfAnAccount(t *testing.T) {
	ctx := context.Background()
	m := newMemory()
	m.recs["old.hr"] = Record{Name: "old.hr", Profile: "p", Account: "old"}
	r, err := Load(ctx, m, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range []Record{{Name: "acme", Profile: "p"}, {Name: "acme.it", Profile: "p", Account: "acme"}, {Name: "acme.hr", Profile: "p", Account: "acme"}} {
		if _, err := r.Put(ctx, rec, nil); err != nil {
			t.Fatal(err)
		}
	}
	names := func(account string) []string {
		var out []string
		for _, rec := range r.Connections(account) {
			out = append(out, rec.Name)
		}
		return out
	}
	if got := names("acme"); len(got) != 2 || got[0] != "acme.hr" || got[1] != "acme.it" {
		t.Fatalf("acme's connections: %v", got)
	}
	if got := names("old"); len(got) != 1 {
		t.Fatalf("a loaded connection is not listed: %v", got)
	}
	if err := r.Purge(ctx, "acme.hr", nil); err != nil {
		t.Fatal(err)
	}
	if got := names("acme"); len(got) != 1 || got[0] != "acme.it" {
		t.Fatalf("after a purge: %v", got)
	}
	if got := names("acme.it"); len(got) != 0 {
		t.Fatalf("a connection has connections: %v", got)
	}
}

// TestRefreshSeesAnotherProcess: two Registries over one store, as two
// instances; what one changes the other sees after Refresh or RefreshAll,
// connections of accounts included, and a tenant purged by one is gone
// from the other.
func TestRefreshSeesAnotherProcess(t *testing.T) {
	ctx := context.Background()
	p := newMemory()
	a, err := Load(ctx, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Load(ctx, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Put(ctx, Record{Name: "acme", Profile: "p", Account: "acct"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.Get("acme"); ok {
		t.Fatal("b saw acme before refreshing")
	}
	old, next, err := b.Refresh(ctx, "acme")
	if err != nil || old != nil || next == nil || next.Name != "acme" {
		t.Fatalf("Refresh = %v, %v, %v", old, next, err)
	}
	if got := b.Connections("acct"); len(got) != 1 || got[0].Name != "acme" {
		t.Fatalf("connections after refresh: %v", got)
	}
	if _, err := a.Disable(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Put(ctx, Record{Name: "contoso", Profile: "p"}, nil); err != nil {
		t.Fatal(err)
	}
	changed, err := b.RefreshAll(ctx)
	if err != nil || len(changed) != 2 || changed[0] != "acme" || changed[1] != "contoso" {
		t.Fatalf("RefreshAll = %v, %v", changed, err)
	}
	if rec, _ := b.Get("acme"); !rec.Disabled {
		t.Fatal("b does not see acme disabled")
	}
	if changed, err := b.RefreshAll(ctx); err != nil || len(changed) != 0 {
		t.Fatalf("RefreshAll with nothing changed = %v, %v", changed, err)
	}
	if err := a.Purge(ctx, "acme", nil); err != nil {
		t.Fatal(err)
	}
	old, next, err = b.Refresh(ctx, "acme")
	if err != nil || old == nil || next != nil {
		t.Fatalf("Refresh of a purged tenant = %v, %v, %v", old, next, err)
	}
	if _, ok := b.Get("acme"); ok || len(b.Connections("acct")) != 0 || b.CaseConflict("ACME") != "" {
		t.Fatal("b still holds the purged tenant")
	}
}
