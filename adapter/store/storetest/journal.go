package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/adapter/change"
	"github.com/caddy-scim/caddy-scim/adapter/patch"
	"github.com/caddy-scim/caddy-scim/adapter/schema"
	"github.com/caddy-scim/caddy-scim/adapter/store"
)

func testJournal(t *testing.T, s *suite) {
	f := s.fresh(t)
	ctx := f.ctx
	if evs := f.journal(acme); len(evs) != 0 || f.lastSeq(acme) != 0 {
		t.Fatalf("a new tenant's journal holds %d events, LastSeq %d", len(evs), f.lastSeq(acme))
	}
	before := time.Now().Add(-time.Minute)
	u := f.user(acme, "a", "active", true)
	f.update(acme, schema.User, u, set("title", "x"))
	f.update(acme, schema.User, u, set("title", "x"))
	f.update(acme, schema.User, u, set("active", false))
	f.update(acme, schema.User, u, set("active", true))
	g := f.group(acme, "G", u)
	f.update(acme, schema.Group, g, set("externalId", "g-1"))
	f.update(acme, schema.Group, g, delta(patch.MemberDelta{Remove: []string{u}}))
	f.del(acme, schema.Group, g)
	f.del(acme, schema.User, u)
	evs := f.journal(acme)
	want := []change.Kind{change.UserCreated, change.UserUpdated, change.UserDeactivated, change.UserReactivated,
		change.GroupCreated, change.MembersAdded, change.GroupUpdated, change.MembersRemoved, change.GroupDeleted, change.UserDeleted}
	var got []change.Kind
	for _, ev := range evs {
		got = append(got, ev.Kind)
		if ev.Time.Before(before) || ev.Time.After(time.Now().Add(time.Minute)) {
			t.Errorf("event %d has time %v", ev.Seq, ev.Time)
		}
		wantType, wantID := "User", u
		if slices.Contains([]change.Kind{change.GroupCreated, change.GroupUpdated, change.GroupDeleted, change.MembersAdded, change.MembersRemoved}, ev.Kind) {
			wantType, wantID = "Group", g
		}
		if ev.ResourceType != wantType || ev.ID != wantID {
			t.Errorf("event %d (%s) is about %s %s, want %s %s", ev.Seq, ev.Kind, ev.ResourceType, ev.ID, wantType, wantID)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("kinds = %v\nwant    %v", got, want)
	}
	if !reflect.DeepEqual(evs[1].Changed, []string{"title"}) || evs[1].Resource["title"] != "x" {
		t.Errorf("update event: changed %v, resource %v", evs[1].Changed, evs[1].Resource)
	}
	if evs[0].Resource["userName"] != "a" || evs[4].Resource["displayName"] != "G" {
		t.Errorf("create events lack the state: %v, %v", evs[0].Resource, evs[4].Resource)
	}
	for _, i := range []int{5, 7} {
		if !reflect.DeepEqual(evs[i].Members, []change.Member{{ID: u, Type: "User"}}) {
			t.Errorf("%s members = %v", evs[i].Kind, evs[i].Members)
		}
	}
	if evs[9].Resource["userName"] != "a" || evs[8].Resource["displayName"] != "G" {
		t.Errorf("delete events lack the last state: %v, %v", evs[9].Resource, evs[8].Resource)
	}
	if head := f.lastSeq(acme); head != 10 {
		t.Errorf("LastSeq = %d, want 10", head)
	}
	cases := []struct {
		after uint64
		limit int
		want  []uint64
	}{
		{0, 3, []uint64{1, 2, 3}},
		{7, 1, []uint64{8}},
		{7, 100, []uint64{8, 9, 10}},
		{9, 5, []uint64{10}},
		{10, 5, nil},
		{1000, 5, nil},
		{3, 0, nil},
	}
	for _, tc := range cases {
		page, err := f.e.Journal(ctx, acme, tc.after, tc.limit)
		if err != nil {
			t.Fatal(err)
		}
		var seqs []uint64
		for _, ev := range page {
			seqs = append(seqs, ev.Seq)
		}
		if !slices.Equal(seqs, tc.want) {
			t.Errorf("Journal(after %d, limit %d) = %v, want %v", tc.after, tc.limit, seqs, tc.want)
		}
		if len(page) > 0 && !reflect.DeepEqual(page[0], evs[page[0].Seq-1]) {
			t.Errorf("Journal(after %d) returns %+v, the whole journal %+v", tc.after, page[0], evs[page[0].Seq-1])
		}
	}
}

// testJournalConcurrency writes to two tenants from many goroutines and
// appends to one of them at the same time, while a reader tails that
// tenant's journal: each journal runs from 1 without a gap, and the reader
// never sees an event before the ones below it.
func testJournalConcurrency(t *testing.T, s *suite) {
	f := s.fresh(t)
	ctx := f.ctx
	const each, appends = 40, 40
	writers := s.opts.Writers
	var done atomic.Bool
	tailed := make(chan error, 1)
	go func() {
		var cursor uint64
		for {
			finished := done.Load()
			evs, err := f.e.Journal(ctx, acme, cursor, 50)
			if err != nil {
				tailed <- err
				return
			}
			for _, ev := range evs {
				if ev.Seq != cursor+1 {
					tailed <- fmt.Errorf("a reader after %d saw %d next: a later event became visible first", cursor, ev.Seq)
					return
				}
				cursor = ev.Seq
			}
			if len(evs) == 0 {
				if finished {
					tailed <- nil
					return
				}
				time.Sleep(time.Millisecond)
			}
		}
	}()
	parallel(2*writers+1, func(w int) {
		switch {
		case w < writers:
			for i := range each {
				if _, err := f.e.Create(ctx, acme, schema.User, userData(fmt.Sprintf("u%d-%d", w, i)), nil); err != nil {
					t.Error(err)
				}
			}
		case w < 2*writers:
			for i := range each {
				if _, err := f.e.Create(ctx, globex, schema.User, userData(fmt.Sprintf("u%d-%d", w, i)), nil); err != nil {
					t.Error(err)
				}
			}
		default:
			for i := range appends {
				out, err := f.e.Append(ctx, acme, nil, func(context.Context) ([]change.Event, error) {
					return []change.Event{
						{Kind: change.UserDeleted, ResourceType: "User", ID: fmt.Sprint("r", i)},
						{Kind: change.UserDeleted, ResourceType: "User", ID: fmt.Sprint("s", i)},
					}, nil
				})
				if err != nil {
					t.Error(err)
					return
				}
				if len(out) != 2 || out[1].Seq != out[0].Seq+1 {
					t.Errorf("one append got %+v, want two consecutive sequences", out)
				}
			}
		}
	})
	done.Store(true)
	if err := <-tailed; err != nil {
		t.Fatal(err)
	}
	if n := len(f.journal(acme)); n != writers*each+2*appends {
		t.Errorf("%s: %d events, want %d", acme, n, writers*each+2*appends)
	}
	if n := len(f.journal(globex)); n != writers*each {
		t.Errorf("%s: %d events, want %d", globex, n, writers*each)
	}
	if head := f.lastSeq(acme); head != uint64(writers*each+2*appends) {
		t.Errorf("LastSeq = %d", head)
	}
}

func testDeliveryState(t *testing.T, s *suite) {
	f := s.fresh(t)
	ctx := f.ctx
	st, err := f.e.DeliveryState(ctx, acme)
	if err != nil || !reflect.DeepEqual(st, store.DeliveryState{}) {
		t.Fatalf("initial state = %+v, %v", st, err)
	}
	when := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	want := store.DeliveryState{Cursor: 42, Failures: 2, LastError: "down", LastErrorTime: when, LastSuccess: when.Add(-time.Hour), InvalidSeq: 43, InvalidAttempts: 1}
	if err := f.e.SaveDeliveryState(ctx, acme, want); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.e.DeliveryState(ctx, acme); !sameState(got, want) {
		t.Errorf("state = %+v, want %+v", got, want)
	}
	// The cursor never moves back; the counters are replaced.
	if err := f.e.SaveDeliveryState(ctx, acme, store.DeliveryState{Cursor: 7}); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.e.DeliveryState(ctx, acme); !sameState(got, store.DeliveryState{Cursor: 42}) {
		t.Errorf("state after saving an older cursor = %+v", got)
	}
	if err := f.e.SaveDeliveryState(ctx, acme, store.DeliveryState{Cursor: 50, Failures: 1}); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.e.DeliveryState(ctx, acme); !sameState(got, store.DeliveryState{Cursor: 50, Failures: 1}) {
		t.Errorf("state after moving on = %+v", got)
	}
	if got, _ := f.e.DeliveryState(ctx, globex); !sameState(got, store.DeliveryState{}) {
		t.Errorf("another tenant sees %+v", got)
	}
}

// sameState compares delivery states, times by instant.
func sameState(a, b store.DeliveryState) bool {
	ta, tb := a.LastErrorTime, a.LastSuccess
	a.LastErrorTime, a.LastSuccess = time.Time{}, time.Time{}
	ok := ta.Equal(b.LastErrorTime) && tb.Equal(b.LastSuccess)
	b.LastErrorTime, b.LastSuccess = time.Time{}, time.Time{}
	return ok && a == b
}

func testDeadLetters(t *testing.T, s *suite) {
	f := s.fresh(t)
	ctx := f.ctx
	f.users(acme, "u", 3)
	evs := f.journal(acme)
	when := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	if dls, err := f.e.DeadLetters(ctx, acme); err != nil || len(dls) != 0 {
		t.Fatalf("dead letters of a new tenant: %v, %v", dls, err)
	}
	for _, ev := range []change.Event{evs[2], evs[0]} {
		dl := store.DeadLetter{Event: ev, Error: "refused", Attempts: 3, Time: when}
		if err := f.e.SaveDeadLetter(ctx, acme, dl, store.DeliveryState{Cursor: ev.Seq, Failures: 1}); err != nil {
			t.Fatal(err)
		}
	}
	dls, err := f.e.DeadLetters(ctx, acme)
	if err != nil {
		t.Fatal(err)
	}
	if len(dls) != 2 || dls[0].Event.Seq != 1 || dls[1].Event.Seq != 3 {
		t.Fatalf("dead letters = %+v; want sequences 1 and 3 in journal order", dls)
	}
	if !reflect.DeepEqual(canon(t, dls[0].Event), canon(t, evs[0])) || dls[0].Error != "refused" || dls[0].Attempts != 3 || !dls[0].Time.Equal(when) {
		t.Errorf("dead letter = %+v, want event %+v", dls[0], evs[0])
	}
	if n, err := f.e.DeadLetterCount(ctx, acme); n != 2 || err != nil {
		t.Errorf("DeadLetterCount = %d, %v", n, err)
	}
	if n, _ := f.e.DeadLetterCount(ctx, globex); n != 0 {
		t.Errorf("another tenant has %d dead letters", n)
	}
	if dls, _ := f.e.DeadLetters(ctx, globex); len(dls) != 0 {
		t.Errorf("another tenant lists %v", dls)
	}
	// The dead letter and the cursor were saved together; the cursor kept
	// the higher of the two.
	if st, _ := f.e.DeliveryState(ctx, acme); st.Cursor != 3 || st.Failures != 1 {
		t.Errorf("state = %+v", st)
	}
	if head := f.lastSeq(acme); head != 3 {
		t.Errorf("LastSeq = %d", head)
	}
	if head := f.lastSeq(globex); head != 0 {
		t.Errorf("LastSeq of an empty tenant = %d", head)
	}
}

func testAppend(t *testing.T, s *suite) {
	f := s.fresh(t)
	ctx := f.ctx
	u := f.user(acme, "a")
	evs := f.journal(acme)
	if err := f.e.SaveDeadLetter(ctx, acme, store.DeadLetter{Event: evs[0], Error: "x"}, store.DeliveryState{Cursor: 1}); err != nil {
		t.Fatal(err)
	}
	// A missing dead letter fails the whole append.
	calls := 0
	build := func(ctx context.Context) ([]change.Event, error) {
		calls++
		return []change.Event{evs[0], {Kind: change.UserDeleted, ResourceType: "User", ID: "gone"}}, nil
	}
	if _, err := f.e.Append(ctx, acme, []uint64{1, 9}, build); !errors.Is(err, store.ErrNoDeadLetter) {
		t.Fatalf("Append with a missing dead letter = %v", err)
	}
	if n, _ := f.e.DeadLetterCount(ctx, acme); n != 1 {
		t.Fatalf("a failed append removed dead letters (%d left)", n)
	}
	if head := f.lastSeq(acme); head != 1 {
		t.Fatalf("a failed append journaled: LastSeq %d", head)
	}
	// So does an error from build.
	boom := errors.New("boom")
	if _, err := f.e.Append(ctx, acme, []uint64{1}, func(context.Context) ([]change.Event, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("Append with a failing build = %v", err)
	}
	if n, _ := f.e.DeadLetterCount(ctx, acme); n != 1 {
		t.Fatal("a failed build removed the dead letter")
	}

	// build sees the tenant's current state through the store.
	calls = 0
	var seen map[string]any
	out, err := f.e.Append(ctx, acme, []uint64{1}, func(ctx context.Context) ([]change.Event, error) {
		var err error
		if seen, err = f.e.Get(ctx, acme, schema.User, u); err != nil {
			return nil, err
		}
		return build(ctx)
	})
	if err != nil {
		t.Fatal(err)
	}
	if calls == 0 || seen["userName"] != "a" {
		t.Fatalf("build ran %d times and saw %v", calls, seen)
	}
	if len(out) != 2 || out[0].Seq != 2 || out[1].Seq != 3 || out[0].Tenant != acme || out[0].Time.IsZero() || out[0].ID != u || out[1].ID != "gone" {
		t.Fatalf("appended = %+v", out)
	}
	got, _ := f.e.Journal(ctx, acme, 1, 10)
	if !reflect.DeepEqual(canon(t, got), canon(t, out)) {
		t.Errorf("journal = %+v\nappended = %+v", got, out)
	}
	if n, _ := f.e.DeadLetterCount(ctx, acme); n != 0 {
		t.Errorf("%d dead letters after the replay", n)
	}
	// SCIM writes continue after the appended sequences.
	f.user(acme, "b")
	if head := f.lastSeq(acme); head != 4 {
		t.Errorf("head after a create = %d, want 4", head)
	}
	f.journal(acme)
	// An append to another tenant starts that tenant's journal.
	out, err = f.e.Append(ctx, globex, nil, func(context.Context) ([]change.Event, error) {
		return []change.Event{{Kind: change.UserDeleted, ResourceType: "User", ID: "x"}}, nil
	})
	if err != nil || len(out) != 1 || out[0].Seq != 1 || out[0].Tenant != globex {
		t.Errorf("append to another tenant = %+v, %v", out, err)
	}
}
