package postgres

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// consoleInstances opens n stores on one fresh database, as n instances
// of the server do, and returns their console records.
func consoleInstances(t *testing.T, n int) []*ConsoleRecords {
	t.Helper()
	dsn := pgtestDSN(t)
	var out []*ConsoleRecords
	for range n {
		s, err := Open(context.Background(), Options{DSN: dsn})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		out = append(out, s.Console())
	}
	return out
}

// race runs fn on eight goroutines at once, spread over the instances,
// and returns how many reported true.
func race(t *testing.T, cs []*ConsoleRecords, fn func(c *ConsoleRecords) (bool, error)) int {
	t.Helper()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		wins  int
		errs  []error
		start = make(chan struct{})
	)
	for i := range 8 {
		wg.Go(func() {
			<-start
			ok, err := fn(cs[i%len(cs)])
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			}
			if ok {
				wins++
			}
		})
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		t.Error(err)
	}
	return wins
}

var consoleT0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// TestConsoleRecordsAcrossInstances: what one instance puts another
// reads; only the owner takes a record, once.
func TestConsoleRecordsAcrossInstances(t *testing.T) {
	ctx := context.Background()
	cs := consoleInstances(t, 2)
	a, b := cs[0], cs[1]
	h := hashOf("flash-id")
	if err := a.Put(ctx, "flash", h, "s:alice", []byte(`{"m":1}`), consoleT0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	rec, exp, used, found, err := b.Get(ctx, "flash", h)
	if err != nil || !found || used || string(rec) != `{"m":1}` || !exp.Equal(consoleT0.Add(time.Minute)) {
		t.Fatalf("Get on the other instance: %q %v %v %v %v", rec, exp, used, found, err)
	}
	if _, _, found, _, _ := b.Get(ctx, "nonce", h); found {
		t.Fatal("a record is found under another kind")
	}
	if _, _, found, err := b.Take(ctx, "flash", h, "s:mallory"); found || err != nil {
		t.Fatalf("another owner took the record: %v, %v", found, err)
	}
	rec, _, found, err = b.Take(ctx, "flash", h, "s:alice")
	if err != nil || !found || string(rec) != `{"m":1}` {
		t.Fatalf("Take by the owner: %q %v %v", rec, found, err)
	}
	if _, _, found, err := a.Take(ctx, "flash", h, "s:alice"); found || err != nil {
		t.Fatalf("the record was taken twice: %v, %v", found, err)
	}
}

// raceRounds puts a fresh record of kind for owner in each of ten rounds
// and has eight callers on the instances race for it with fn: exactly one
// may win. It returns the records' hashes.
func raceRounds(t *testing.T, cs []*ConsoleRecords, kind, owner string, fn func(c *ConsoleRecords, h []byte) (bool, error)) [][]byte {
	t.Helper()
	ctx := context.Background()
	var hashes [][]byte
	for round := range 10 {
		h := hashOf(fmt.Sprintf("%s-%d", kind, round))
		if err := cs[round%len(cs)].Put(ctx, kind, h, owner, []byte("acme"), consoleT0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if wins := race(t, cs, func(c *ConsoleRecords) (bool, error) { return fn(c, h) }); wins != 1 {
			t.Fatalf("round %d: %d callers won the %s, want exactly 1", round, wins, kind)
		}
		hashes = append(hashes, h)
	}
	return hashes
}

// TestConsoleTakeHasOneWinner: eight callers on two instances taking one
// record at once: exactly one gets it, round after round.
func TestConsoleTakeHasOneWinner(t *testing.T) {
	raceRounds(t, consoleInstances(t, 2), "nonce", "p", func(c *ConsoleRecords, h []byte) (bool, error) {
		_, _, found, err := c.Take(context.Background(), "nonce", h, "p")
		return found, err
	})
}

// TestConsoleUseHasOneWinner: eight callers using one link at once:
// exactly one marks it used, and it reads used afterwards; an expired
// record is not used at all.
func TestConsoleUseHasOneWinner(t *testing.T) {
	ctx := context.Background()
	cs := consoleInstances(t, 2)
	hashes := raceRounds(t, cs, "link", "", func(c *ConsoleRecords, h []byte) (bool, error) {
		return c.Use(ctx, "link", h, consoleT0)
	})
	for _, h := range hashes {
		if _, _, used, found, err := cs[0].Get(ctx, "link", h); !used || !found || err != nil {
			t.Fatalf("after Use the link reads used %v, found %v, %v", used, found, err)
		}
	}
	h := hashOf("old-link")
	if err := cs[0].Put(ctx, "link", h, "", []byte("acme"), consoleT0); err != nil {
		t.Fatal(err)
	}
	if ok, err := cs[1].Use(ctx, "link", h, consoleT0); ok || err != nil {
		t.Fatalf("an expired link was used: %v, %v", ok, err)
	}
}

// TestConsoleTrimAndSweep: Trim keeps an owner's records that expire
// last and leaves other owners and kinds alone; Sweep deletes the
// records of one kind that expired.
func TestConsoleTrimAndSweep(t *testing.T) {
	ctx := context.Background()
	c := consoleInstances(t, 1)[0]
	put := func(kind, secret, owner string, expires time.Time) {
		t.Helper()
		if err := c.Put(ctx, kind, hashOf(secret), owner, []byte(secret), expires); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		put("nonce", fmt.Sprintf("p%d", i), "p", consoleT0.Add(time.Duration(i)*time.Minute))
	}
	put("nonce", "q0", "q", consoleT0)
	put("flash", "f0", "p", consoleT0)
	if err := c.Trim(ctx, "nonce", "p", 2); err != nil {
		t.Fatal(err)
	}
	for secret, want := range map[string]bool{"p0": false, "p1": false, "p2": false, "p3": true, "p4": true, "q0": true} {
		if _, _, _, found, _ := c.Get(ctx, "nonce", hashOf(secret)); found != want {
			t.Errorf("after Trim, nonce %s found %v, want %v", secret, found, want)
		}
	}
	if _, _, _, found, _ := c.Get(ctx, "flash", hashOf("f0")); !found {
		t.Error("Trim of nonces deleted a flash")
	}
	if err := c.Trim(ctx, "nonce", "p", 0); err != nil {
		t.Fatal(err)
	}
	if _, _, _, found, _ := c.Get(ctx, "nonce", hashOf("p4")); found {
		t.Error("Trim to 0 kept a record")
	}

	put("session", "s-old", "", consoleT0)
	put("session", "s-new", "", consoleT0.Add(time.Second))
	if err := c.Sweep(ctx, "session", consoleT0); err != nil {
		t.Fatal(err)
	}
	for kind, secrets := range map[string]map[string]bool{
		"session": {"s-old": false, "s-new": true},
		"nonce":   {"q0": true},
		"flash":   {"f0": true},
	} {
		for secret, want := range secrets {
			if _, _, _, found, _ := c.Get(ctx, kind, hashOf(secret)); found != want {
				t.Errorf("after Sweep of sessions, %s %s found %v, want %v", kind, secret, found, want)
			}
		}
	}
}

// TestConsoleKeyIsCreatedOnce: instances asking for the key at once on a
// fresh database all get the same 32 bytes; another name is another key.
func TestConsoleKeyIsCreatedOnce(t *testing.T) {
	ctx := context.Background()
	cs := consoleInstances(t, 4)
	var (
		mu   sync.Mutex
		keys [][]byte
	)
	race(t, cs, func(c *ConsoleRecords) (bool, error) {
		key, err := c.Key(ctx, "console_csrf_key")
		mu.Lock()
		keys = append(keys, key)
		mu.Unlock()
		return true, err
	})
	for _, k := range keys {
		if len(k) != 32 || !bytes.Equal(k, keys[0]) {
			t.Fatalf("keys differ: %x", keys)
		}
	}
	other, err := cs[0].Key(ctx, "another_key")
	if err != nil || bytes.Equal(other, keys[0]) {
		t.Fatalf("another name's key: %x, %v", other, err)
	}
}
