package postgres

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/adapter/change"
	"github.com/caddy-scim/caddy-scim/adapter/store"
)

func TestDeliveryStateAndDeadLetters(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, nil)
	if st, err := s.DeliveryState(ctx, "acme"); err != nil || st.Cursor != 0 {
		t.Fatalf("state before any: %+v, %v", st, err)
	}
	if err := s.SaveDeliveryState(ctx, "acme", store.DeliveryState{Cursor: 7, Failures: 2}); err != nil {
		t.Fatal(err)
	}
	// A cursor behind the stored one is ignored; the rest is saved.
	if err := s.SaveDeliveryState(ctx, "acme", store.DeliveryState{Cursor: 3, LastError: "down"}); err != nil {
		t.Fatal(err)
	}
	st, err := s.DeliveryState(ctx, "acme")
	if err != nil || st.Cursor != 7 || st.LastError != "down" {
		t.Fatalf("state %+v, %v", st, err)
	}
	for _, seq := range []uint64{9, 8} {
		dl := store.DeadLetter{Event: change.Event{Seq: seq, Tenant: "acme", Kind: change.UserCreated, ID: "u"}, Error: "refused", Attempts: 3, Time: time.Now().UTC()}
		if err := s.SaveDeadLetter(ctx, "acme", dl, store.DeliveryState{Cursor: seq}); err != nil {
			t.Fatal(err)
		}
	}
	dls, err := s.DeadLetters(ctx, "acme")
	if err != nil || len(dls) != 2 || dls[0].Event.Seq != 8 || dls[1].Event.Seq != 9 || dls[0].Error != "refused" {
		t.Fatalf("dead letters %+v, %v", dls, err)
	}
	if n, err := s.DeadLetterCount(ctx, "acme"); err != nil || n != 2 {
		t.Fatalf("count %d, %v", n, err)
	}
	if n, _ := s.DeadLetterCount(ctx, "contoso"); n != 0 {
		t.Fatalf("another tenant counts %d dead letters", n)
	}
	if st, _ := s.DeliveryState(ctx, "acme"); st.Cursor != 9 {
		t.Fatalf("cursor %d after the dead letters, want 9", st.Cursor)
	}
}

// TestAppendReplaysDeadLetters: Append journals the events build returns
// with new sequences and removes the dead letters it replaces, or, when
// one does not exist, does nothing at all.
func TestAppendReplaysDeadLetters(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, nil)
	for i := 0; i < 3; i++ {
		if err := s.write.Write(ctx, "acme", event("w", false)); err != nil {
			t.Fatal(err)
		}
	}
	dl := store.DeadLetter{Event: change.Event{Seq: 2, Tenant: "acme", Kind: change.UserUpdated, ID: "u1"}, Error: "refused"}
	if err := s.SaveDeadLetter(ctx, "acme", dl, store.DeliveryState{Cursor: 3}); err != nil {
		t.Fatal(err)
	}
	build := func(ctx context.Context) ([]change.Event, error) {
		return []change.Event{{Kind: change.UserUpdated, ResourceType: "User", ID: "u1"}}, nil
	}
	if _, err := s.Append(ctx, "acme", []uint64{2, 99}, build); !errors.Is(err, store.ErrNoDeadLetter) {
		t.Fatalf("Append of a missing dead letter: %v", err)
	}
	if n, _ := s.DeadLetterCount(ctx, "acme"); n != 1 {
		t.Fatalf("a refused Append removed dead letters: %d left", n)
	}
	evs, err := s.Append(ctx, "acme", []uint64{2}, build)
	if err != nil || len(evs) != 1 || evs[0].Seq != 4 || evs[0].Tenant != "acme" || evs[0].Time.IsZero() {
		t.Fatalf("Append = %+v, %v", evs, err)
	}
	if n, _ := s.DeadLetterCount(ctx, "acme"); n != 0 {
		t.Fatalf("%d dead letters after the replay", n)
	}
	got, err := s.Journal(ctx, "acme", 3, 10)
	if err != nil || len(got) != 1 || got[0].Seq != 4 || got[0].ID != "u1" {
		t.Fatalf("Journal after 3: %+v, %v", got, err)
	}
	if seq, err := s.LastSeq(ctx, "acme"); err != nil || seq != 4 {
		t.Fatalf("LastSeq %d, %v", seq, err)
	}
	if seq, err := s.LastSeq(ctx, "contoso"); err != nil || seq != 0 {
		t.Fatalf("LastSeq of an empty tenant %d, %v", seq, err)
	}
	if all, _ := s.Journal(ctx, "acme", 0, 2); len(all) != 2 || all[0].Seq != 1 || all[1].Seq != 2 {
		t.Fatalf("Journal limit 2: %+v", all)
	}
}

// TestAppendSeesTheWritesQueuedBeforeIt: build reads through the pool,
// outside the batch's transaction, so Append commits on its own once the
// writes queued before it have, and build sees them.
func TestAppendSeesTheWritesQueuedBeforeIt(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, nil)
	q := s.write.queue("acme").q
	if err := q.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var werr, aerr error
	var seen int
	wg.Add(1)
	go func() {
		defer wg.Done()
		werr = s.write.Write(ctx, "acme", func(ctx context.Context, tx *Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO scim_resources (tenant, type, id, data) VALUES ('acme', 1, 'u1', '{}')`)
			return err
		})
	}()
	for q.Len() != 1 {
		time.Sleep(time.Millisecond)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, aerr = s.Append(ctx, "acme", nil, func(ctx context.Context) ([]change.Event, error) {
			if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM scim_resources WHERE tenant = 'acme'`).Scan(&seen); err != nil {
				return nil, err
			}
			return nil, nil
		})
	}()
	for q.Len() != 2 {
		time.Sleep(time.Millisecond)
	}
	q.Unlock()
	wg.Wait()
	if werr != nil || aerr != nil {
		t.Fatal(werr, aerr)
	}
	if seen != 1 {
		t.Fatal("Append's build did not see the write queued before it")
	}
}
