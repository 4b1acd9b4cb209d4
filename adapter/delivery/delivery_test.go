package delivery

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/adapter/change"
	"github.com/caddy-scim/caddy-scim/adapter/filter"
	"github.com/caddy-scim/caddy-scim/adapter/patch"
	"github.com/caddy-scim/caddy-scim/adapter/schema"
	"github.com/caddy-scim/caddy-scim/adapter/store"
)

// TestDeliversExactlyTheJournalInOrder delivers a backlog of several
// thousand events, then more written while delivery runs, and checks the
// backend saw the journal exactly, in order, in batches.
func TestDeliversExactlyTheJournalInOrder(t *testing.T) {
	s := openMem(t)
	ctx := context.Background()
	createUsers(t, s, tenant, "backlog", 3000)

	opts := fast()
	opts.BatchSize = 64
	d := start(t, s, opts)
	be := &backend{}
	d.SetTarget(tenant, be)

	// More writes while the backlog drains: updates, groups, membership,
	// deletes, through the notifying wrapper.
	ns := Notifying(s, d)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			var ids []string
			for i := range 150 {
				ids = append(ids, createUser(t, ns, tenant, fmt.Sprintf("live%d-%d", g, i)))
			}
			grp, err := ns.Create(ctx, tenant, schema.Group, map[string]any{"displayName": fmt.Sprintf("g%d", g)}, nil)
			if err != nil {
				t.Error(err)
				return
			}
			gid := grp.Resource["id"].(string)
			for i, id := range ids {
				update(t, ns, tenant, schema.User, id, set("title", fmt.Sprint("t", i)))
				update(t, ns, tenant, schema.Group, gid, members(patch.MemberDelta{Add: []patch.Member{{Value: id}}}))
				if i%10 == 0 {
					if err := ns.Delete(ctx, tenant, schema.User, id); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()

	head := lastSeq(t, s, tenant)
	if head < 4500 {
		t.Fatalf("only %d events; the test wants several thousand", head)
	}
	waitFor(t, 30*time.Second, "the backlog to drain", func() bool { return be.lastSeq() == head })
	applied, batches, resent := be.snapshot()
	sameEvents(t, applied, journal(t, s, tenant))
	if resent != 0 {
		t.Errorf("%d events sent twice with a healthy backend", resent)
	}
	full := 0
	for _, b := range batches {
		if len(b) > opts.BatchSize {
			t.Fatalf("batch of %d events, BatchSize is %d", len(b), opts.BatchSize)
		}
		if len(b) == opts.BatchSize {
			full++
		}
	}
	if full < 3000/opts.BatchSize {
		t.Errorf("%d full batches for a backlog of 3000", full)
	}
	waitFor(t, 5*time.Second, "the cursor to be persisted", func() bool { return status(t, d, tenant).Delivered == head })
	st := status(t, d, tenant)
	if st.Lag != 0 || !st.OldestUndelivered.IsZero() || st.LastSuccess.IsZero() || !st.Attached {
		t.Errorf("status after draining = %+v", st)
	}
}

// TestResumesWhereItStopped stops delivery half way and checks that a new
// Deliverer over the reopened on-disk store continues after the persisted
// cursor.
func TestResumesWhereItStopped(t *testing.T) {
	dir := t.TempDir()
	s, err := store.Open(store.Options{Dir: dir, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	createUsers(t, s, tenant, "u", 3000)
	const stopAt = 1500
	first := &backend{fault: func(_ int, ev change.Event) error {
		if ev.Seq > stopAt {
			return errUnavailable
		}
		return nil
	}}
	d := New(s, fast())
	d.SetTarget(tenant, first)
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "half the journal", func() bool {
		st := status(t, d, tenant)
		return st.Delivered == stopAt && st.ConsecutiveFailures > 0
	})
	d.Stop()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = store.Open(store.Options{Dir: dir, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	second := &backend{}
	d = start(t, s, fast())
	d.SetTarget(tenant, second)
	waitFor(t, 20*time.Second, "the rest of the journal", func() bool { return second.lastSeq() == 3000 })
	applied, batches, _ := second.snapshot()
	if batches[0][0] != stopAt+1 {
		t.Errorf("the new Deliverer started at %d, want %d", batches[0][0], stopAt+1)
	}
	sameEvents(t, applied, journal(t, s, tenant)[stopAt:])
	d.Stop()
}

// TestBackendDownDelaysNothingButDelivery keeps the backend unavailable
// while SCIM writes go on, then lets it recover.
func TestBackendDownDelaysNothingButDelivery(t *testing.T) {
	s := openMem(t)
	var down atomic.Bool
	down.Store(true)
	be := &backend{fault: func(_ int, ev change.Event) error {
		if down.Load() {
			return fmt.Errorf("connecting to the product: %w", errUnavailable)
		}
		return nil
	}}
	d := start(t, s, fast())
	d.SetTarget(tenant, be)
	ns := Notifying(s, d)
	for i := range 500 {
		began := time.Now()
		createUser(t, ns, tenant, fmt.Sprint("u", i))
		if el := time.Since(began); el > 2*time.Second {
			t.Fatalf("a write took %v while the backend was down", el)
		}
	}
	waitFor(t, 5*time.Second, "failures to show", func() bool { return status(t, d, tenant).ConsecutiveFailures >= 3 })
	st := status(t, d, tenant)
	if st.Delivered != 0 || st.Lag != 500 || st.OldestUndelivered.IsZero() || !strings.Contains(st.LastError, "unavailable") || st.LastErrorTime.IsZero() {
		t.Errorf("status while down = %+v", st)
	}
	down.Store(false)
	waitFor(t, 20*time.Second, "the backlog to drain", func() bool { return be.lastSeq() == 500 })
	applied, _, resent := be.snapshot()
	sameEvents(t, applied, journal(t, s, tenant))
	if resent != 0 {
		t.Errorf("%d events applied twice", resent)
	}
	waitFor(t, 5*time.Second, "the status to recover", func() bool {
		st := status(t, d, tenant)
		return st.ConsecutiveFailures == 0 && st.Lag == 0
	})
}

// TestCrashMidBatch has the backend fail part way through a batch, and lose
// its answer, in several ways; delivery must resume at the right event.
func TestCrashMidBatch(t *testing.T) {
	tests := []struct {
		name   string
		fault  func(call int, ev change.Event) error
		answer func(call int, before, after uint64) (uint64, error)
		// wantSecond is the first sequence of the second Apply call.
		wantSecond uint64
		wantResent int
	}{
		{
			name: "error after 30 events",
			fault: func(call int, ev change.Event) error {
				if call == 0 && ev.Seq == 31 {
					return errUnavailable
				}
				return nil
			},
			wantSecond: 31,
		},
		{
			name: "invalid after 30 events",
			fault: func(call int, ev change.Event) error {
				if call == 0 && ev.Seq == 31 {
					return invalidError{"refused once"}
				}
				return nil
			},
			wantSecond: 31,
		},
		{
			name: "applied everything, answer lost",
			answer: func(call int, before, after uint64) (uint64, error) {
				if call == 0 {
					return before, errUnavailable
				}
				return after, nil
			},
			wantSecond: 1,
			wantResent: 50,
		},
		{
			name: "applied everything, acknowledged 20 without error",
			answer: func(call int, before, after uint64) (uint64, error) {
				if call == 0 {
					return 20, nil
				}
				return after, nil
			},
			wantSecond: 21,
			wantResent: 30,
		},
		{
			name: "acknowledged beyond the batch",
			answer: func(call int, before, after uint64) (uint64, error) {
				if call == 0 {
					return 1 << 40, nil
				}
				return after, nil
			},
			wantSecond: 51,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openMem(t)
			createUsers(t, s, tenant, "u", 120)
			opts := fast()
			opts.BatchSize = 50
			be := &backend{fault: tt.fault, answer: tt.answer}
			d := start(t, s, opts)
			d.SetTarget(tenant, be)
			waitFor(t, 10*time.Second, "delivery", func() bool { return be.lastSeq() == 120 })
			applied, batches, resent := be.snapshot()
			sameEvents(t, applied, journal(t, s, tenant))
			if batches[1][0] != tt.wantSecond {
				t.Errorf("second Apply started at %d, want %d (batches %v)", batches[1][0], tt.wantSecond, batches[:2])
			}
			if resent != tt.wantResent {
				t.Errorf("%d events sent again, want %d", resent, tt.wantResent)
			}
			if n := status(t, d, tenant).DeadLetters; n != 0 {
				t.Errorf("%d dead letters", n)
			}
		})
	}
}

// TestInvalidEventIsDeadLettered has the backend refuse one user for good;
// it is dead-lettered after MaxInvalidAttempts and the events after it are
// delivered. Replay then hands it over again, refreshed, with a new seq.
func TestInvalidEventIsDeadLettered(t *testing.T) {
	s := openMem(t)
	ctx := context.Background()
	var refusals atomic.Int32
	be := &backend{fault: func(_ int, ev change.Event) error {
		if ev.ResourceType == "User" && ev.Kind != change.UserDeleted && ev.Resource["emails"] == nil {
			refusals.Add(1)
			return invalidError{fmt.Sprintf("user %s has no email", ev.ID)}
		}
		return nil
	}}
	opts := fast()
	opts.MaxInvalidAttempts = 4
	d := start(t, s, opts)
	d.SetTarget(tenant, be)
	email := []any{map[string]any{"value": "a@example.com"}}
	createUser(t, s, tenant, "a", "emails", email)
	bad := createUser(t, s, tenant, "bad")
	createUser(t, s, tenant, "c", "emails", email)
	d.Notify(tenant)
	waitFor(t, 10*time.Second, "the events after the bad one", func() bool { return be.lastSeq() == 3 })

	if n := refusals.Load(); n != 4 {
		t.Errorf("the backend refused the event %d times, want MaxInvalidAttempts = 4", n)
	}
	dls, err := d.DeadLetters(ctx, tenant)
	if err != nil {
		t.Fatal(err)
	}
	if len(dls) != 1 || dls[0].Event.Seq != 2 || dls[0].Event.ID != bad || dls[0].Attempts != 4 ||
		!strings.Contains(dls[0].Error, "has no email") || dls[0].Time.IsZero() {
		t.Fatalf("dead letters = %+v", dls)
	}
	applied, _, _ := be.snapshot()
	if len(applied) != 2 || applied[0].Seq != 1 || applied[1].Seq != 3 {
		t.Errorf("applied %v", applied)
	}
	waitFor(t, 5*time.Second, "the cursor", func() bool { return status(t, d, tenant).Delivered == 3 })
	st := status(t, d, tenant)
	if st.DeadLetters != 1 || st.Lag != 0 || !strings.Contains(st.LastError, "has no email") {
		t.Errorf("status = %+v", st)
	}

	// The operator fixes the user at the IdP; the update is delivered.
	update(t, s, tenant, schema.User, bad, set("emails", []any{map[string]any{"value": "bad@example.com"}}))
	d.Notify(tenant)
	waitFor(t, 5*time.Second, "the fix", func() bool { return be.lastSeq() == 4 })

	replayed, err := d.Replay(ctx, tenant, []uint64{2})
	if err != nil {
		t.Fatal(err)
	}
	if len(replayed) != 1 || replayed[0] != 5 {
		t.Fatalf("replayed = %v, want [5]", replayed)
	}
	waitFor(t, 5*time.Second, "the replayed event", func() bool { return be.lastSeq() == 5 })
	applied, _, _ = be.snapshot()
	got := applied[len(applied)-1]
	current, err := s.Get(ctx, tenant, schema.User, bad)
	if err != nil {
		t.Fatal(err)
	}
	if got.Seq != 5 || got.Kind != change.UserCreated || got.ID != bad {
		t.Errorf("replayed event = %+v", got)
	}
	if fmt.Sprint(got.Resource) != fmt.Sprint(current) {
		t.Errorf("replayed snapshot\n%v\nis not the current state\n%v", got.Resource, current)
	}
	if dls, _ := d.DeadLetters(ctx, tenant); len(dls) != 0 {
		t.Errorf("dead letters after replay = %+v", dls)
	}
	if st := status(t, d, tenant); st.DeadLetters != 0 {
		t.Errorf("status after replay = %+v", st)
	}

	for _, tt := range []struct {
		seqs []uint64
		want string
	}{
		{[]uint64{2}, "seq 2:"},
		{[]uint64{999}, "seq 999:"},
		{[]uint64{999, 1, 3}, "seq 1, 3, 999:"},
	} {
		if _, err := d.Replay(ctx, tenant, tt.seqs); !errors.Is(err, store.ErrNoDeadLetter) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Replay(%v) = %v, want an error naming %s", tt.seqs, err, tt.want)
		}
	}
	if head := lastSeq(t, s, tenant); head != 5 {
		t.Errorf("failed replays journaled something: head %d", head)
	}
}

// TestNotifyWakesDeliveryAndNeverBlocks uses a poll interval far longer than
// the test: only Notify can wake delivery.
func TestNotifyWakesDeliveryAndNeverBlocks(t *testing.T) {
	s := openMem(t)
	opts := fast()
	opts.PollInterval = time.Hour
	d := start(t, s, opts)
	be := &backend{}
	d.SetTarget(tenant, be)
	// Once delivery has found the journal empty it sleeps for the poll
	// interval; a write made before that is delivered without a
	// notification, so write until one is not.
	var head uint64
	for i := 0; ; i++ {
		createUser(t, s, tenant, fmt.Sprint("quiet", i))
		head = lastSeq(t, s, tenant)
		time.Sleep(100 * time.Millisecond)
		if be.lastSeq() != head {
			break
		}
		if i == 20 {
			t.Fatal("every write was delivered without a notification")
		}
	}
	began := time.Now()
	d.Notify(tenant)
	waitFor(t, 2*time.Second, "delivery after Notify", func() bool { return be.lastSeq() == head })
	if el := time.Since(began); el > time.Second {
		t.Errorf("Notify took %v to wake delivery", el)
	}

	// Notify must not block, even with the backend stuck in Apply and for
	// tenants without a Target.
	release := make(chan struct{})
	stuck := TargetFunc(func(ctx context.Context, evs []change.Event) (uint64, error) {
		<-release
		return evs[len(evs)-1].Seq, nil
	})
	d.SetTarget("stuck", stuck)
	createUser(t, s, "stuck", "x")
	d.Notify("stuck")
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 100000 {
			d.Notify("stuck")
			d.Notify(tenant)
			d.Notify("nobody")
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Notify blocked")
	}
	close(release)
}

// TestTenantsAreIndependent gives one tenant a backend that fails or hangs
// for good; the other tenant's events are all delivered.
func TestTenantsAreIndependent(t *testing.T) {
	tests := []struct {
		name string
		down Target
	}{
		{"failing", TargetFunc(func(ctx context.Context, evs []change.Event) (uint64, error) {
			return 0, errUnavailable
		})},
		{"hanging", TargetFunc(func(ctx context.Context, evs []change.Event) (uint64, error) {
			<-ctx.Done()
			return 0, ctx.Err()
		})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openMem(t)
			d := start(t, s, fast())
			up := &backend{}
			d.SetTarget("up", up)
			d.SetTarget("down", tt.down)
			ns := Notifying(s, d)
			for i := range 300 {
				createUser(t, ns, "down", fmt.Sprint("d", i))
				createUser(t, ns, "up", fmt.Sprint("u", i))
			}
			waitFor(t, 10*time.Second, "the healthy tenant", func() bool { return up.lastSeq() == 300 })
			applied, _, _ := up.snapshot()
			sameEvents(t, applied, journal(t, s, "up"))
			st := status(t, d, "down")
			if st.Delivered != 0 || st.Lag != 300 || !st.Attached {
				t.Errorf("status of the down tenant = %+v", st)
			}
			began := time.Now()
			d.Stop()
			if el := time.Since(began); el > 2*time.Second {
				t.Errorf("Stop took %v", el)
			}
		})
	}
}

// TestStopIsPromptAndSafeTwice stops delivery while it is busy in Apply,
// waiting out a long backoff, and idle.
func TestStopIsPromptAndSafeTwice(t *testing.T) {
	tests := []struct {
		name   string
		opts   func(*Options)
		target Target
		// wantCursor is the delivered seq recorded after Stop.
		wantCursor uint64
	}{
		{
			name: "in Apply",
			target: TargetFunc(func(ctx context.Context, evs []change.Event) (uint64, error) {
				<-ctx.Done()
				return evs[9].Seq, ctx.Err()
			}),
			wantCursor: 10,
		},
		{
			name:   "in backoff",
			opts:   func(o *Options) { o.MinBackoff, o.MaxBackoff = time.Hour, time.Hour },
			target: TargetFunc(func(ctx context.Context, evs []change.Event) (uint64, error) { return 0, errUnavailable }),
		},
		{
			name:       "idle",
			opts:       func(o *Options) { o.PollInterval = time.Hour },
			target:     &backend{},
			wantCursor: 20,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openMem(t)
			createUsers(t, s, tenant, "u", 20)
			opts := fast()
			if tt.opts != nil {
				tt.opts(&opts)
			}
			var calls atomic.Int32
			d := New(s, opts)
			d.SetTarget(tenant, TargetFunc(func(ctx context.Context, evs []change.Event) (uint64, error) {
				calls.Add(1)
				return tt.target.Apply(ctx, evs)
			}))
			if err := d.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 5*time.Second, "an Apply call", func() bool { return calls.Load() > 0 })
			time.Sleep(20 * time.Millisecond)
			began := time.Now()
			d.Stop()
			if el := time.Since(began); el > time.Second {
				t.Errorf("Stop took %v", el)
			}
			d.Stop()
			if err := d.Start(context.Background()); !errors.Is(err, ErrStarted) {
				t.Errorf("Start after Stop = %v", err)
			}
			if got := status(t, d, tenant).Delivered; got != tt.wantCursor {
				t.Errorf("delivered through %d after Stop, want %d", got, tt.wantCursor)
			}
		})
	}
	New(openMem(t), Options{}).Stop()
}

// TestTargetsComeAndGo: without a Target a tenant waits and its status
// says so; a new Target ends a long backoff at once; removing it stops
// delivery.
func TestTargetsComeAndGo(t *testing.T) {
	s := openMem(t)
	opts := fast()
	opts.MinBackoff, opts.MaxBackoff = time.Hour, time.Hour
	d := start(t, s, opts)
	createUsers(t, s, tenant, "u", 10)
	d.Notify(tenant)
	st := status(t, d, tenant)
	if st.Attached || st.Head != 10 || st.Delivered != 0 || st.Lag != 10 || st.OldestUndelivered.IsZero() {
		t.Fatalf("status without a target = %+v", st)
	}

	var failing atomic.Int32
	d.SetTarget(tenant, TargetFunc(func(ctx context.Context, evs []change.Event) (uint64, error) {
		failing.Add(1)
		return 0, errors.New("plugin process exited")
	}))
	waitFor(t, 5*time.Second, "the failing target", func() bool { return status(t, d, tenant).ConsecutiveFailures == 1 })
	be := &backend{}
	d.SetTarget(tenant, be)
	waitFor(t, 5*time.Second, "the new target, before the hour-long backoff ends", func() bool { return be.lastSeq() == 10 })
	if n := failing.Load(); n != 1 {
		t.Errorf("the failing target was called %d times", n)
	}

	d.RemoveTarget(tenant)
	d.RemoveTarget(tenant)
	createUsers(t, s, tenant, "v", 5)
	d.Notify(tenant)
	time.Sleep(50 * time.Millisecond)
	if be.lastSeq() != 10 {
		t.Error("delivered after RemoveTarget")
	}
	st = status(t, d, tenant)
	if st.Attached || st.Lag != 5 {
		t.Errorf("status after RemoveTarget = %+v", st)
	}
	d.SetTarget(tenant, be)
	waitFor(t, 5*time.Second, "the re-attached target", func() bool { return be.lastSeq() == 15 })
	d.SetTarget(tenant, nil)
	if status(t, d, tenant).Attached {
		t.Error("SetTarget(nil) left the target attached")
	}
}

// TestTargetSetBeforeStart delivers nothing before Start.
func TestTargetSetBeforeStart(t *testing.T) {
	s := openMem(t)
	createUsers(t, s, tenant, "u", 3)
	d := New(s, fast())
	be := &backend{}
	d.SetTarget(tenant, be)
	d.Notify(tenant)
	time.Sleep(30 * time.Millisecond)
	if be.lastSeq() != 0 {
		t.Fatal("delivered before Start")
	}
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	if err := d.Start(context.Background()); !errors.Is(err, ErrStarted) {
		t.Errorf("second Start = %v", err)
	}
	waitFor(t, 5*time.Second, "delivery after Start", func() bool { return be.lastSeq() == 3 })
}

func TestBackoff(t *testing.T) {
	d := New(openMem(t), Options{MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second})
	tests := []struct {
		n        int
		min, max time.Duration
	}{
		{1, 50 * time.Millisecond, 100 * time.Millisecond},
		{2, 100 * time.Millisecond, 200 * time.Millisecond},
		{4, 400 * time.Millisecond, 800 * time.Millisecond},
		{5, 500 * time.Millisecond, time.Second},
		{60, 500 * time.Millisecond, time.Second},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.n), func(t *testing.T) {
			for range 200 {
				if b := d.backoff(tt.n); b < tt.min || b > tt.max {
					t.Fatalf("backoff(%d) = %v, want within [%v, %v]", tt.n, b, tt.min, tt.max)
				}
			}
		})
	}
}

// TestNotifyingStoreWakesDelivery checks that every write through the
// wrapper from Notifying wakes delivery, with polling all but off.
func TestNotifyingStoreWakesDelivery(t *testing.T) {
	s := openMem(t)
	opts := fast()
	opts.PollInterval = time.Hour
	d := start(t, s, opts)
	be := &backend{}
	d.SetTarget(tenant, be)
	ns := Notifying(s, d)
	ctx := context.Background()
	writes := []struct {
		name  string
		write func() error
	}{
		{"create", func() error {
			_, err := ns.Create(ctx, tenant, schema.User, map[string]any{"userName": "n1"}, nil)
			return err
		}},
		{"update", func() error {
			id := userID(t, s, "n1")
			_, err := ns.Update(ctx, tenant, schema.User, id, func(cur map[string]any, _ patch.Members) (map[string]any, *patch.MemberDelta, error) {
				cur["title"] = "T"
				return cur, nil, nil
			})
			return err
		}},
		{"delete-if", func() error {
			return ns.DeleteIf(ctx, tenant, schema.User, userID(t, s, "n1"), func(map[string]any) error { return nil })
		}},
	}
	for _, w := range writes {
		// Let delivery go idle first, so only a notification can wake it.
		time.Sleep(100 * time.Millisecond)
		if err := w.write(); err != nil {
			t.Fatalf("%s: %v", w.name, err)
		}
		head := lastSeq(t, s, tenant)
		waitFor(t, 2*time.Second, "delivery after "+w.name, func() bool { return be.lastSeq() == head })
	}
}

func userID(t *testing.T, s *store.Badger, userName string) string {
	t.Helper()
	expr, err := filter.Parse(`userName eq "` + userName + `"`)
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.List(context.Background(), tenant, schema.User, store.Query{Filter: expr, Count: 1})
	if err != nil || len(p.Resources) != 1 {
		t.Fatalf("finding %s: %v %v", userName, p, err)
	}
	return p.Resources[0]["id"].(string)
}

// TestNotifyingKeepsRawReads: the wrapper hands the store's raw reads
// through, so the server's lean read path works behind it.
func TestNotifyingKeepsRawReads(t *testing.T) {
	s := openMem(t)
	d := start(t, s, fast())
	ns := Notifying(s, d)
	rr, ok := ns.(store.RawReader)
	if !ok {
		t.Fatal("the wrapper hides store.RawReader")
	}
	if _, ok := ns.(store.GroupLister); !ok {
		t.Fatal("the wrapper hides store.GroupLister")
	}
	ctx := context.Background()
	out, err := ns.Create(ctx, tenant, schema.User, map[string]any{"userName": "raw"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	id := out.Resource["id"].(string)
	g, err := ns.Create(ctx, tenant, schema.Group, map[string]any{"displayName": "G"}, []patch.Member{{Value: id}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := rr.GetRaw(ctx, tenant, schema.User, id)
	if err != nil || !strings.Contains(string(b), `"userName":"raw"`) {
		t.Fatalf("GetRaw: %s %v", b, err)
	}
	expr, _ := filter.Parse(`userName eq "RAW"`)
	page, ok, err := rr.ListRaw(ctx, tenant, schema.User, store.Query{Filter: expr, Count: 10})
	if err != nil || !ok || page.Total != 1 || len(page.Resources) != 1 {
		t.Fatalf("ListRaw: %+v %v %v", page, ok, err)
	}
	refs, err := rr.RawGroups(ctx, tenant, id)
	if err != nil || len(refs) != 1 || refs[0].ID != g.Resource["id"] || refs[0].DisplayName != "G" {
		t.Fatalf("RawGroups: %v %v", refs, err)
	}
}
