package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/adapter/change"
	"github.com/caddy-scim/caddy-scim/adapter/ident"
	"github.com/caddy-scim/caddy-scim/adapter/patch"
	"github.com/caddy-scim/caddy-scim/adapter/schema"
	"github.com/caddy-scim/caddy-scim/adapter/scimerr"
)

// queued holds the tenant's write lock while start launches writes, waits
// until n of them are queued, and releases the lock, so the next leader
// finds all n waiting: the shape of a burst of concurrent IdP requests
// arriving during a commit.
func queued(t *testing.T, s *Badger, tn string, n int, start func()) {
	t.Helper()
	ts := s.tenant(tn)
	if err := ts.q.Lock(context.Background()); err != nil {
		t.Fatal(err)
	}
	start()
	ok := waitQueue(ts, n)
	ts.q.Unlock()
	if !ok {
		t.Fatalf("%d writes never queued", n)
	}
}

// waitQueue waits until n writes are queued for ts, for up to 10 s.
func waitQueue(ts *tenantState, n int) bool {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if ts.q.Len() == n {
			return true
		}
		time.Sleep(time.Millisecond)
	}
	return false
}

func checkJournal(t *testing.T, s *Badger, tn string, want int) {
	t.Helper()
	evs, err := s.Journal(context.Background(), tn, 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != want {
		t.Fatalf("%d journal events, want %d", len(evs), want)
	}
	for i, ev := range evs {
		if ev.Seq != uint64(i+1) {
			t.Fatalf("journal event %d has sequence %d: not gap-free", i, ev.Seq)
		}
	}
}

// TestGroupCommitSharesOneTransaction: writes queued behind a commit are
// committed together, and each still sees the ones before it — duplicate
// names are refused exactly as if the writes had run one by one, and each
// refusal or precondition failure leaves the others' changes alone.
func TestGroupCommitSharesOneTransaction(t *testing.T) {
	s := openMem(t)
	ctx := context.Background()
	victim := mustCreate(t, s, tenant, schema.User, user("victim"))["id"].(string)
	kept := mustCreate(t, s, tenant, schema.User, user("kept"))["id"].(string)
	base := s.tenant(tenant).commits.Load()

	const n = 40
	errs := make([]error, n)
	var wg sync.WaitGroup
	queued(t, s, tenant, n, func() {
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				switch {
				case i < 30:
					// Fifteen names, each asked for twice in different case.
					name := fmt.Sprintf("user%d", i%15)
					if i >= 15 {
						name = strings.ToUpper(name)
					}
					_, errs[i] = s.Create(ctx, tenant, schema.User, user(name), nil)
				case i < 35:
					errs[i] = s.DeleteIf(ctx, tenant, schema.User, kept, func(map[string]any) error {
						return scimerr.New(http.StatusPreconditionFailed, "", "version mismatch")
					})
				case i < 39:
					_, errs[i] = s.Update(ctx, tenant, schema.User, "no-such-user", set("title", "x"))
				default:
					errs[i] = s.Delete(ctx, tenant, schema.User, victim)
				}
			}(i)
		}
	})
	wg.Wait()

	if c := s.tenant(tenant).commits.Load() - base; c != 1 {
		t.Errorf("%d commits for one burst of %d writes, want 1", c, n)
	}
	for name := 0; name < 15; name++ {
		a, b := errs[name], errs[name+15]
		if (a == nil) == (b == nil) {
			t.Fatalf("user%d: errors %v and %v; exactly one of the two creates must win", name, a, b)
		}
		lost := a
		if lost == nil {
			lost = b
		}
		wantSCIM(t, lost, http.StatusConflict, scimerr.Uniqueness)
	}
	for i := 30; i < 35; i++ {
		wantSCIM(t, errs[i], http.StatusPreconditionFailed, "")
	}
	for i := 35; i < 39; i++ {
		wantSCIM(t, errs[i], http.StatusNotFound, "")
	}
	if errs[39] != nil {
		t.Fatalf("delete in the batch: %v", errs[39])
	}
	if _, err := s.Get(ctx, tenant, schema.User, kept); err != nil {
		t.Fatalf("a refused precondition deleted the user: %v", err)
	}
	if _, err := s.Get(ctx, tenant, schema.User, victim); err == nil {
		t.Fatal("the batch's delete did not happen")
	}
	// two creates before, fifteen in the batch, one delete.
	checkJournal(t, s, tenant, 2+15+1)
	page := list(t, s, schema.User, Query{Count: 100})
	if page.Total != 16 || len(page.Resources) != 16 {
		t.Fatalf("%d users (total %d), want 16", len(page.Resources), page.Total)
	}
}

// rename returns an UpdateFunc that sets userName.
func rename(name string) UpdateFunc { return set("userName", name) }

// TestGroupCommitWriteRefusedHalfWay: a rename onto a taken name releases
// the old name before it finds the new one taken. In a batch, that partial
// change must not reach the store: the writes before it commit on their
// own, the writes after it in the next batch, and the refused rename
// changes nothing.
func TestGroupCommitWriteRefusedHalfWay(t *testing.T) {
	s := openMem(t)
	ctx := context.Background()
	mustCreate(t, s, tenant, schema.User, user("taken"))
	bob := mustCreate(t, s, tenant, schema.User, user("bob"))["id"].(string)

	var before, after error
	var bad error
	var wg sync.WaitGroup
	// Queue order is launch order only by luck; launch one at a time and
	// wait for each to be queued.
	ts := s.tenant(tenant)
	if err := ts.q.Lock(context.Background()); err != nil {
		t.Fatal(err)
	}
	queue := 0
	launch := func(f func()) {
		wg.Add(1)
		go func() { defer wg.Done(); f() }()
		queue++
		if !waitQueue(ts, queue) {
			t.Fatal("write not queued")
		}
	}
	launch(func() { _, before = s.Create(ctx, tenant, schema.User, user("first"), nil) })
	launch(func() { _, bad = s.Update(ctx, tenant, schema.User, bob, rename("TAKEN")) })
	launch(func() { _, after = s.Create(ctx, tenant, schema.User, user("third"), nil) })
	ts.q.Unlock()
	wg.Wait()

	if before != nil || after != nil {
		t.Fatalf("writes around the refused one failed: %v, %v", before, after)
	}
	wantSCIM(t, bad, http.StatusConflict, scimerr.Uniqueness)
	got, err := s.Get(ctx, tenant, schema.User, bob)
	if err != nil || got["userName"] != "bob" {
		t.Fatalf("bob after the refused rename: %v %v", got, err)
	}
	// bob's name is still held: the half-done release did not commit.
	_, err = s.Create(ctx, tenant, schema.User, user("BOB"), nil)
	wantSCIM(t, err, http.StatusConflict, scimerr.Uniqueness)
	checkJournal(t, s, tenant, 4)
}

// TestGroupCommitSplitsWhatOneTransactionCannotHold: with small memtables,
// a burst of large writes exceeds one transaction; every write still
// succeeds, spread over several commits.
func TestGroupCommitSplitsWhatOneTransactionCannotHold(t *testing.T) {
	s, err := Open(Options{InMemory: true, MemTableSize: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	const n = 48
	big := strings.Repeat("x", 60<<10)
	errs := make([]error, n)
	var wg sync.WaitGroup
	queued(t, s, tenant, n, func() {
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				_, errs[i] = s.Create(ctx, tenant, schema.User, user(fmt.Sprintf("u%d", i), "title", big), nil)
			}(i)
		}
	})
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("create %d: %v", i, err)
		}
	}
	if c := s.tenant(tenant).commits.Load(); c < 2 || c >= n {
		t.Fatalf("%d commits for %d large writes, want several but fewer than one each", c, n)
	}
	checkJournal(t, s, tenant, n)
}

// TestGroupCommitWithdrawsCancelledWrites: a caller that gives up while
// its write is still queued gets its context's error and nothing is
// written for it.
func TestGroupCommitWithdrawsCancelledWrites(t *testing.T) {
	s := openMem(t)
	ctx, cancel := context.WithCancel(context.Background())
	var err error
	var keep error
	var wg sync.WaitGroup
	queued(t, s, tenant, 2, func() {
		wg.Add(2)
		go func() { defer wg.Done(); _, err = s.Create(ctx, tenant, schema.User, user("gone"), nil) }()
		go func() {
			defer wg.Done()
			_, keep = s.Create(context.Background(), tenant, schema.User, user("kept"), nil)
		}()
		// Both must be queued before the cancel: wait, then cancel while
		// the lock is still held.
		ts := s.tenant(tenant)
		if !waitQueue(ts, 2) {
			t.Error("writes not queued")
		}
		cancel()
		if !waitQueue(ts, 1) {
			t.Error("cancelled write not withdrawn")
		}
		// queued waits for n queued writes: put the withdrawn one back in
		// the count by queuing a no-op.
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = s.Update(context.Background(), tenant, schema.User, "none", set("x", 1))
		}()
	})
	wg.Wait()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled create returned %v", err)
	}
	if keep != nil {
		t.Fatal(keep)
	}
	page := list(t, s, schema.User, Query{Count: 10})
	if page.Total != 1 || page.Resources[0]["userName"] != "kept" {
		t.Fatalf("users after a withdrawn create: %v", page.Resources)
	}
	checkJournal(t, s, tenant, 1)
}

// TestGroupCommitInvariantsUnderLoad runs IdP-shaped writes from many
// goroutines against an on-disk, syncing store (so commits take long
// enough for batches to form) and checks every invariant afterwards:
// names unique case-insensitively with index and records agreeing,
// membership edges in both directions, the journal gap-free and each
// resource's version the sequence of its last change.
func TestGroupCommitInvariantsUnderLoad(t *testing.T) {
	s, err := Open(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	g := mustCreate(t, s, tenant, schema.Group, map[string]any{"displayName": "all"})["id"].(string)

	const workers, each = 16, 40
	var mu sync.Mutex
	var ids []string
	var wg sync.WaitGroup
	for wk := 0; wk < workers; wk++ {
		wg.Add(1)
		go func(wk int) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(wk), 7))
			for i := 0; i < each; i++ {
				mu.Lock()
				var pick string
				if len(ids) > 0 {
					pick = ids[r.IntN(len(ids))]
				}
				mu.Unlock()
				switch op := r.IntN(10); {
				case op < 5 || pick == "":
					// Names collide across workers on purpose.
					name := fmt.Sprintf("name%d", r.IntN(workers*each/2))
					if r.IntN(2) == 0 {
						name = strings.ToUpper(name)
					}
					out, err := s.Create(ctx, tenant, schema.User, user(name), nil)
					if err == nil {
						mu.Lock()
						ids = append(ids, out.Resource["id"].(string))
						mu.Unlock()
					} else if e, ok := scimerr.As(err); !ok || e.Status != http.StatusConflict {
						t.Error(err)
					}
				case op < 7:
					_, err := s.Update(ctx, tenant, schema.User, pick, rename(fmt.Sprintf("name%d", r.IntN(workers*each/2))))
					if e, ok := scimerr.As(err); err != nil && (!ok || (e.Status != http.StatusConflict && e.Status != http.StatusNotFound)) {
						t.Error(err)
					}
				case op < 9:
					_, err := s.Update(ctx, tenant, schema.Group, g, setDelta(&patch.MemberDelta{Add: []patch.Member{{Value: pick}}}))
					if err != nil {
						t.Error(err)
					}
				default:
					err := s.Delete(ctx, tenant, schema.User, pick)
					if e, ok := scimerr.As(err); err != nil && (!ok || e.Status != http.StatusNotFound) {
						t.Error(err)
					}
				}
			}
		}(wk)
	}
	wg.Wait()

	ts := s.tenant(tenant)
	t.Logf("%d writes in %d commits", ts.writes.Load(), ts.commits.Load())
	if ts.commits.Load() >= ts.writes.Load() {
		t.Errorf("%d commits for %d writes: concurrent writes never shared a commit", ts.commits.Load(), ts.writes.Load())
	}

	evs, err := s.Journal(ctx, tenant, 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	for i, ev := range evs {
		if ev.Seq != uint64(i+1) {
			t.Fatalf("journal event %d has sequence %d: not gap-free", i, ev.Seq)
		}
	}
	page := list(t, s, schema.User, Query{Count: 1 << 20})
	if page.Total != len(page.Resources) {
		t.Fatalf("count says %d users, list has %d", page.Total, len(page.Resources))
	}
	seen := map[string]string{}
	members := map[string]bool{}
	for _, id := range memberIDs(t, s, g) {
		members[id] = true
	}
	for _, u := range page.Resources {
		id := u["id"].(string)
		name := ident.Fold(u["userName"].(string))
		if other, dup := seen[name]; dup {
			t.Fatalf("users %s and %s share the name %q", other, id, name)
		}
		seen[name] = id
		hits := list(t, s, schema.User, Query{Filter: parse(t, fmt.Sprintf("userName eq %q", u["userName"])), Count: 10})
		if hits.Total != 1 || hits.Resources[0]["id"] != id {
			t.Fatalf("the unique index does not lead from %q to %s", u["userName"], id)
		}
		version := u["meta"].(map[string]any)["version"]
		// A member add changes the group's version, not the user's; the
		// user's version is the sequence of its own last event.
		var userSeq uint64
		for _, ev := range evs {
			if ev.ID == id && ev.Seq > userSeq {
				userSeq = ev.Seq
			}
		}
		if want := fmt.Sprintf(`W/"%d"`, userSeq); version != want {
			t.Fatalf("user %s has version %v, its last journal event is %s", id, version, want)
		}
		groups, err := s.Groups(ctx, tenant, id)
		if err != nil {
			t.Fatal(err)
		}
		if (len(groups) == 1) != members[id] {
			t.Fatalf("user %s: edges disagree (groups %v, member %v)", id, groups, members[id])
		}
		delete(members, id)
	}
	if len(members) != 0 {
		t.Fatalf("group has %d members that are not users: %v", len(members), members)
	}
}

// TestAppendSeesTheWritesQueuedBeforeIt: an Append queued behind other
// writes builds its events from the tenant's state after them — it reads
// through the store, outside the batch's transaction, so it commits on
// its own once the writes before it have.
func TestAppendSeesTheWritesQueuedBeforeIt(t *testing.T) {
	s := openMem(t)
	ctx := context.Background()
	id := mustCreate(t, s, tenant, schema.User, user("u", "title", "old"))["id"].(string)
	var upd, app error
	var events []change.Event
	ts := s.tenant(tenant)
	var wg sync.WaitGroup
	queued(t, s, tenant, 2, func() {
		wg.Add(1)
		go func() { defer wg.Done(); _, upd = s.Update(ctx, tenant, schema.User, id, set("title", "new")) }()
		if !waitQueue(ts, 1) {
			t.Error("update not queued")
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			events, app = s.Append(ctx, tenant, nil, func(ctx context.Context) ([]change.Event, error) {
				cur, err := s.Get(ctx, tenant, schema.User, id)
				if err != nil {
					return nil, err
				}
				return []change.Event{*change.ForUser(id, nil, cur)}, nil
			})
		}()
	})
	wg.Wait()
	if upd != nil || app != nil {
		t.Fatal(upd, app)
	}
	if len(events) != 1 || events[0].Resource["title"] != "new" {
		t.Fatalf("the appended event was built from %v, not the state after the update queued before it", events[0].Resource["title"])
	}
	checkJournal(t, s, tenant, 3)
}
