// Package groupcommit queues the writes of one key — a tenant — so that a
// storage engine can commit the writes that arrive while a commit is in
// flight together, in one transaction with one sync, while still running
// them one after the other in arrival order.
//
// A caller submits its write and waits. Whoever takes the key's lock
// (the leader) takes the queued writes, up to a batch, and hands them to
// the engine's run function, which commits them and finishes every one;
// the leader goes on until its own write is finished, then lets the next
// waiting caller lead. No goroutine runs while nothing is queued.
package groupcommit

import (
	"context"
	"sync"
)

// Item is one queued write carrying the engine's value.
type Item[T any] struct {
	// Value is what the engine needs to run the write.
	Value T
	err   error
	done  chan struct{}
}

// Finish ends the write with err (nil when it committed); its caller's
// Submit returns err. Call it exactly once for every item of a batch.
func (it *Item[T]) Finish(err error) {
	it.err = err
	close(it.done)
}

// Queue is the queue and lock of one key.
type Queue[T any] struct {
	max   int
	lock  chan struct{}
	mu    sync.Mutex
	items []*Item[T]
}

// New returns an empty queue whose batches hold at most max writes.
func New[T any](max int) *Queue[T] {
	if max < 1 {
		max = 1
	}
	return &Queue[T]{max: max, lock: make(chan struct{}, 1)}
}

// Submit queues v and returns once run has finished it, with the error
// passed to Finish. run receives batches in queue order while the key's
// lock is held, and must finish every item of each batch. A caller whose
// ctx ends while its write is still queued gets ctx's error and its write
// never runs; once in a batch, the write's outcome is waited for.
func (q *Queue[T]) Submit(ctx context.Context, v T, run func(batch []*Item[T])) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	it := &Item[T]{Value: v, done: make(chan struct{})}
	q.mu.Lock()
	q.items = append(q.items, it)
	q.mu.Unlock()
	for {
		select {
		case <-it.done:
			return it.err
		case q.lock <- struct{}{}:
			q.lead(it, run)
			<-q.lock
		case <-ctx.Done():
			if q.withdraw(it) {
				return ctx.Err()
			}
			<-it.done
			return it.err
		}
	}
}

// lead runs batches until own is finished; writes queued after it are
// left to the next leader, so no caller waits long on others' batches.
func (q *Queue[T]) lead(own *Item[T], run func(batch []*Item[T])) {
	for {
		select {
		case <-own.done:
			return
		default:
		}
		batch := q.take()
		if len(batch) == 0 {
			return
		}
		run(batch)
	}
}

func (q *Queue[T]) withdraw(it *Item[T]) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, x := range q.items {
		if x == it {
			q.items = append(q.items[:i], q.items[i+1:]...)
			return true
		}
	}
	return false
}

func (q *Queue[T]) take() []*Item[T] {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := min(len(q.items), q.max)
	batch := append([]*Item[T](nil), q.items[:n]...)
	q.items = append(q.items[:0], q.items[n:]...)
	return batch
}

// Lock takes the key's lock for an operation no write may interleave
// with (removing the key's data, say), waiting until ctx ends.
func (q *Queue[T]) Lock(ctx context.Context) error {
	select {
	case q.lock <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Unlock releases the lock taken by Lock.
func (q *Queue[T]) Unlock() { <-q.lock }

// Len is how many writes are queued, not counting a batch being run.
func (q *Queue[T]) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}

// Cut returns how many items at the head of batch share one transaction
// when some writes must commit in a transaction of their own (alone): one
// when the first must, else all those before the first that must.
func Cut[T any](batch []*Item[T], alone func(T) bool) int {
	if len(batch) > 0 && alone(batch[0].Value) {
		return 1
	}
	for i, it := range batch {
		if alone(it.Value) {
			return i
		}
	}
	return len(batch)
}
