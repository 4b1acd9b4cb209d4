package requestlog

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestInMemory: without a Backing each tenant keeps its Size newest
// requests, newest first, apart from the others, until forgotten.
func TestInMemory(t *testing.T) {
	var l Log
	base := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	for i := range Size + 5 {
		l.Record("acme", Entry{Time: base.Add(time.Duration(i) * time.Second), Operation: fmt.Sprint("op", i), Status: 200})
	}
	l.Record("globex", Entry{Time: base, Operation: "create User", Status: 201})
	got, err := l.Recent(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != Size {
		t.Fatalf("%d requests kept, want %d", len(got), Size)
	}
	for i, e := range got {
		if want := fmt.Sprint("op", Size+4-i); e.Operation != want {
			t.Fatalf("request %d is %s, want %s (newest first)", i, e.Operation, want)
		}
	}
	if got, _ := l.Recent(context.Background(), "globex"); len(got) != 1 || got[0].Operation != "create User" {
		t.Fatalf("globex: %+v", got)
	}
	l.Forget("acme")
	if got, _ := l.Recent(context.Background(), "acme"); len(got) != 0 {
		t.Fatalf("a forgotten tenant still lists %d requests", len(got))
	}
	if got, _ := l.Recent(context.Background(), "globex"); len(got) != 1 {
		t.Fatal("forgetting one tenant dropped another's requests")
	}
	if err := l.Flush(context.Background()); err != nil {
		t.Fatalf("flushing a log without a backing: %v", err)
	}
	if err := l.Close(context.Background()); err != nil {
		t.Fatalf("closing a log without a backing: %v", err)
	}
}

// TestSameTimeNewestFirst: requests of one process recorded within one
// clock tick still list newest first.
func TestSameTimeNewestFirst(t *testing.T) {
	var l Log
	at := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	for _, op := range []string{"first", "second", "third"} {
		l.Record("acme", Entry{Time: at, Operation: op})
	}
	got, _ := l.Recent(context.Background(), "acme")
	if len(got) != 3 || got[0].Operation != "third" || got[2].Operation != "first" {
		t.Fatalf("%+v", got)
	}
}
