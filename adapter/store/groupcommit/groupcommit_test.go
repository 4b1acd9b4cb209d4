package groupcommit

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func waitLen(t *testing.T, q *Queue[int], n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for q.Len() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d queued, want %d", q.Len(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestQueuedWritesRunAsBatchesInOrder: writes queued behind a held lock
// reach run as batches of at most max, in queue order, one batch at a
// time, and each caller gets its own result.
func TestQueuedWritesRunAsBatchesInOrder(t *testing.T) {
	q := New[int](4)
	var mu sync.Mutex
	var batches [][]int
	running := 0
	run := func(batch []*Item[int]) {
		mu.Lock()
		running++
		if running > 1 {
			t.Error("two batches ran at once")
		}
		var vs []int
		for _, it := range batch {
			vs = append(vs, it.Value)
		}
		batches = append(batches, vs)
		mu.Unlock()
		for _, it := range batch {
			if it.Value%3 == 0 {
				it.Finish(errors.New("refused"))
			} else {
				it.Finish(nil)
			}
		}
		mu.Lock()
		running--
		mu.Unlock()
	}
	if err := q.Lock(context.Background()); err != nil {
		t.Fatal(err)
	}
	const n = 10
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs[i] = q.Submit(context.Background(), i, run)
		}(i)
		waitLen(t, q, i+1) // queue order = i
	}
	q.Unlock()
	wg.Wait()
	var order []int
	for _, b := range batches {
		if len(b) > 4 {
			t.Fatalf("batch of %d, max 4", len(b))
		}
		order = append(order, b...)
	}
	if len(order) != n {
		t.Fatalf("ran %v", order)
	}
	for i, v := range order {
		if v != i {
			t.Fatalf("ran in order %v", order)
		}
	}
	if len(batches) != 3 {
		t.Fatalf("%d batches for %d queued writes with max 4: %v", len(batches), n, batches)
	}
	for i, err := range errs {
		if (i%3 == 0) != (err != nil) {
			t.Fatalf("write %d: %v", i, err)
		}
	}
}

// TestWithdrawnWriteNeverRuns: a caller whose context ends while queued
// gets its error and run never sees its write.
func TestWithdrawnWriteNeverRuns(t *testing.T) {
	q := New[int](8)
	ran := map[int]bool{}
	run := func(batch []*Item[int]) {
		for _, it := range batch {
			ran[it.Value] = true
			it.Finish(nil)
		}
	}
	if err := q.Lock(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Submit(ctx, 1, run) }()
	waitLen(t, q, 1)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("withdrawn write returned %v", err)
	}
	q.Unlock()
	if err := q.Submit(context.Background(), 2, run); err != nil {
		t.Fatal(err)
	}
	if ran[1] || !ran[2] {
		t.Fatalf("ran %v", ran)
	}
}

// TestLockExcludesWrites: while Lock is held no batch runs; a Lock with
// an ended context gives up.
func TestLockExcludesWrites(t *testing.T) {
	q := New[int](8)
	if err := q.Lock(context.Background()); err != nil {
		t.Fatal(err)
	}
	ran := make(chan struct{}, 1)
	go q.Submit(context.Background(), 1, func(batch []*Item[int]) {
		ran <- struct{}{}
		for _, it := range batch {
			it.Finish(nil)
		}
	})
	select {
	case <-ran:
		t.Fatal("a batch ran while the lock was held")
	case <-time.After(50 * time.Millisecond):
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := q.Lock(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second Lock returned %v", err)
	}
	q.Unlock()
	select {
	case <-ran:
	case <-time.After(5 * time.Second):
		t.Fatal("the write never ran after Unlock")
	}
}

func TestCut(t *testing.T) {
	items := func(alone ...bool) []*Item[bool] {
		var out []*Item[bool]
		for _, a := range alone {
			out = append(out, &Item[bool]{Value: a})
		}
		return out
	}
	self := func(b bool) bool { return b }
	for _, c := range []struct {
		alone []bool
		want  int
	}{
		{[]bool{false, false, false}, 3},
		{[]bool{true, false, false}, 1},
		{[]bool{false, false, true, false}, 2},
		{[]bool{true}, 1},
		{nil, 0},
	} {
		if got := Cut(items(c.alone...), self); got != c.want {
			t.Errorf("Cut(%v) = %d, want %d", c.alone, got, c.want)
		}
	}
}
