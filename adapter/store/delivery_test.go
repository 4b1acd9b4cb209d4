package store

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/adapter/change"
	"github.com/caddy-scim/caddy-scim/adapter/schema"
)

func TestDeliveryState(t *testing.T) {
	s := openMem(t)
	ctx := context.Background()
	st, err := s.DeliveryState(ctx, tenant)
	if err != nil || !reflect.DeepEqual(st, DeliveryState{}) {
		t.Fatalf("initial state = %+v, %v", st, err)
	}
	when := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	want := DeliveryState{Cursor: 42, Failures: 2, LastError: "down", LastErrorTime: when, LastSuccess: when.Add(-time.Hour), InvalidSeq: 43, InvalidAttempts: 1}
	if err := s.SaveDeliveryState(ctx, tenant, want); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.DeliveryState(ctx, tenant); !reflect.DeepEqual(got, want) {
		t.Errorf("state = %+v, want %+v", got, want)
	}
	// The cursor never moves back; the counters are replaced.
	if err := s.SaveDeliveryState(ctx, tenant, DeliveryState{Cursor: 7}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.DeliveryState(ctx, tenant); !reflect.DeepEqual(got, DeliveryState{Cursor: 42}) {
		t.Errorf("state after saving an older cursor = %+v", got)
	}
	if got, _ := s.DeliveryState(ctx, "other"); got.Cursor != 0 {
		t.Errorf("another tenant sees cursor %d", got.Cursor)
	}
	if err := s.SaveDeliveryState(ctx, "", want); err == nil {
		t.Error("saved state for an empty tenant")
	}
}

func TestDeadLetters(t *testing.T) {
	s := openMem(t)
	ctx := context.Background()
	for i := range 3 {
		mustCreate(t, s, tenant, schema.User, user(fmt.Sprint("u", i)))
	}
	evs, _ := s.Journal(ctx, tenant, 0, 10)
	when := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	for _, ev := range []change.Event{evs[2], evs[0]} {
		dl := DeadLetter{Event: ev, Error: "refused", Attempts: 3, Time: when}
		if err := s.SaveDeadLetter(ctx, tenant, dl, DeliveryState{Cursor: ev.Seq, Failures: 1}); err != nil {
			t.Fatal(err)
		}
	}
	dls, err := s.DeadLetters(ctx, tenant)
	if err != nil {
		t.Fatal(err)
	}
	if len(dls) != 2 || dls[0].Event.Seq != 1 || dls[1].Event.Seq != 3 {
		t.Fatalf("dead letters = %+v", dls)
	}
	if !reflect.DeepEqual(dls[0].Event, evs[0]) || dls[0].Error != "refused" || dls[0].Attempts != 3 || !dls[0].Time.Equal(when) {
		t.Errorf("dead letter = %+v, want event %+v", dls[0], evs[0])
	}
	if n, err := s.DeadLetterCount(ctx, tenant); n != 2 || err != nil {
		t.Errorf("DeadLetterCount = %d, %v", n, err)
	}
	if n, _ := s.DeadLetterCount(ctx, "other"); n != 0 {
		t.Errorf("another tenant has %d dead letters", n)
	}
	// The dead letter and the cursor were saved together; the cursor kept
	// the higher of the two.
	if st, _ := s.DeliveryState(ctx, tenant); st.Cursor != 3 || st.Failures != 1 {
		t.Errorf("state = %+v", st)
	}
	if head, err := s.LastSeq(ctx, tenant); head != 3 || err != nil {
		t.Errorf("LastSeq = %d, %v", head, err)
	}
	if head, _ := s.LastSeq(ctx, "other"); head != 0 {
		t.Errorf("LastSeq of an empty tenant = %d", head)
	}
}

func TestAppend(t *testing.T) {
	s := openMem(t)
	ctx := context.Background()
	mustCreate(t, s, tenant, schema.User, user("a"))
	evs, _ := s.Journal(ctx, tenant, 0, 10)
	if err := s.SaveDeadLetter(ctx, tenant, DeadLetter{Event: evs[0], Error: "x"}, DeliveryState{Cursor: 1}); err != nil {
		t.Fatal(err)
	}

	// A missing dead letter fails the whole append.
	calls := 0
	build := func(ctx context.Context) ([]change.Event, error) {
		calls++
		return []change.Event{evs[0], {Kind: change.UserDeleted, ResourceType: "User", ID: "gone"}}, nil
	}
	if _, err := s.Append(ctx, tenant, []uint64{1, 9}, build); !errors.Is(err, ErrNoDeadLetter) {
		t.Fatalf("Append with a missing dead letter = %v", err)
	}
	if n, _ := s.DeadLetterCount(ctx, tenant); n != 1 || calls != 0 {
		t.Fatalf("a failed append removed dead letters (%d left) or built events (%d)", n, calls)
	}
	// So does an error from build.
	boom := errors.New("boom")
	if _, err := s.Append(ctx, tenant, []uint64{1}, func(context.Context) ([]change.Event, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("Append with a failing build = %v", err)
	}
	if n, _ := s.DeadLetterCount(ctx, tenant); n != 1 {
		t.Fatal("a failed build removed the dead letter")
	}

	out, err := s.Append(ctx, tenant, []uint64{1}, build)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 || out[0].Seq != 2 || out[1].Seq != 3 || out[0].Tenant != tenant || out[0].Time.IsZero() || out[1].ID != "gone" {
		t.Fatalf("appended = %+v", out)
	}
	got, _ := s.Journal(ctx, tenant, 1, 10)
	if !reflect.DeepEqual(got, out) {
		t.Errorf("journal = %+v\nappended = %+v", got, out)
	}
	if n, _ := s.DeadLetterCount(ctx, tenant); n != 0 {
		t.Errorf("%d dead letters after the append", n)
	}
	// SCIM writes continue after the appended sequences.
	mustCreate(t, s, tenant, schema.User, user("b"))
	if head, _ := s.LastSeq(ctx, tenant); head != 4 {
		t.Errorf("head after a create = %d, want 4", head)
	}
}

// TestAppendKeepsJournalGapFree appends while SCIM writes run concurrently:
// every sequence is used exactly once, in commit order.
func TestAppendKeepsJournalGapFree(t *testing.T) {
	s := openMem(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 100 {
				if _, err := s.Create(ctx, tenant, schema.User, user(fmt.Sprintf("u%d-%d", g, i)), nil); err != nil {
					t.Error(err)
				}
			}
		})
	}
	appended := 0
	wg.Go(func() {
		for i := range 100 {
			out, err := s.Append(ctx, tenant, nil, func(context.Context) ([]change.Event, error) {
				return []change.Event{
					{Kind: change.UserDeleted, ResourceType: "User", ID: fmt.Sprint("r", i)},
					{Kind: change.UserDeleted, ResourceType: "User", ID: fmt.Sprint("s", i)},
				}, nil
			})
			if err != nil {
				t.Error(err)
				return
			}
			if out[1].Seq != out[0].Seq+1 {
				t.Errorf("one append got sequences %d and %d", out[0].Seq, out[1].Seq)
			}
			appended += len(out)
		}
	})
	wg.Wait()
	evs, _ := s.Journal(ctx, tenant, 0, 10000)
	if len(evs) != 400+appended || appended != 200 {
		t.Fatalf("%d events, want %d", len(evs), 400+appended)
	}
	for i, ev := range evs {
		if ev.Seq != uint64(i+1) {
			t.Fatalf("event %d has seq %d", i, ev.Seq)
		}
	}
}
