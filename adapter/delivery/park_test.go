package delivery

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"
)

// parked reports whether the tenant's worker has no goroutine.
func parked(d *Deliverer, tn string) bool {
	d.mu.RLock()
	w := d.workers[tn]
	d.mu.RUnlock()
	w.runMu.Lock()
	defer w.runMu.Unlock()
	return !w.running
}

// TestIdleTenantsHoldNoGoroutine: without polling, a tenant with nothing
// to deliver parks its goroutine; Notify and SetTarget wake it, and no
// notification is lost between a write and the park.
func TestIdleTenantsHoldNoGoroutine(t *testing.T) {
	s := openMem(t)
	opts := fast()
	opts.PollInterval = 0
	before := runtime.NumGoroutine()
	d := start(t, s, opts)
	const tenants = 500
	backends := make([]*backend, tenants)
	for i := range backends {
		backends[i] = &backend{}
		d.SetTarget(fmt.Sprint("t", i), backends[i])
	}
	waitFor(t, 5*time.Second, "every idle tenant to park", func() bool {
		for i := range backends {
			if !parked(d, fmt.Sprint("t", i)) {
				return false
			}
		}
		return true
	})
	if n := runtime.NumGoroutine() - before; n > 20 {
		t.Fatalf("%d goroutines for %d idle tenants", n, tenants)
	}

	// Writes with a Notify each, from several goroutines, racing the
	// parking: every one is delivered.
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				tn := fmt.Sprint("t", (g*25+i)%tenants)
				createUser(t, s, tn, fmt.Sprintf("u%d-%d", g, i))
				d.Notify(tn)
				time.Sleep(time.Duration(i%3) * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	waitFor(t, 10*time.Second, "every write delivered", func() bool {
		for i, be := range backends {
			if be.lastSeq() != lastSeq(t, s, fmt.Sprint("t", i)) {
				return false
			}
		}
		return true
	})

	// A write nobody notified waits, parked, until a new target wakes the
	// tenant.
	createUser(t, s, "t0", "silent")
	time.Sleep(50 * time.Millisecond)
	if head := lastSeq(t, s, "t0"); backends[0].lastSeq() == head {
		t.Fatal("a write without Notify was delivered with polling off")
	}
	fresh := &backend{last: backends[0].lastSeq()}
	d.SetTarget("t0", fresh)
	waitFor(t, 2*time.Second, "delivery after SetTarget", func() bool { return fresh.lastSeq() == lastSeq(t, s, "t0") })

	// Removing a parked tenant returns at once.
	waitFor(t, 2*time.Second, "t1 to park", func() bool { return parked(d, "t1") })
	began := time.Now()
	d.RemoveTarget("t1")
	if el := time.Since(began); el > 100*time.Millisecond {
		t.Errorf("removing a parked tenant took %v", el)
	}
	d.Notify("t1") // no target any more: nothing to wake, no panic
}

func TestParkedTenantsStopCleanly(t *testing.T) {
	s := openMem(t)
	opts := fast()
	opts.PollInterval = 0
	d := New(s, opts)
	be := &backend{}
	d.SetTarget(tenant, be)
	createUser(t, s, tenant, "before-start")
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, "the backlog at start", func() bool { return be.lastSeq() == lastSeq(t, s, tenant) })
	waitFor(t, 2*time.Second, "the tenant to park", func() bool { return parked(d, tenant) })
	d.Stop()
	createUser(t, s, tenant, "after-stop")
	d.Notify(tenant) // after Stop: starts nothing
	time.Sleep(20 * time.Millisecond)
	if !parked(d, tenant) || be.lastSeq() == lastSeq(t, s, tenant) {
		t.Fatal("Notify after Stop started delivery")
	}
}
