package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/caddy-scim/caddy-scim/adapter/change"
)

// DeliveryLog keeps what the delivery of each tenant's journal to its
// backend needs to survive a restart: how far the journal has been
// delivered, the events given up on (dead letters), and counters for
// status. Delivery of a tenant is driven by one process at a time; the
// cursor never moves backwards even so.
type DeliveryLog interface {
	// LastSeq returns the sequence of the newest journal event of the
	// tenant, 0 when its journal is empty.
	LastSeq(ctx context.Context, tenant string) (uint64, error)
	// DeliveryState returns the tenant's delivery state; the zero state
	// when nothing was delivered yet.
	DeliveryState(ctx context.Context, tenant string) (DeliveryState, error)
	// SaveDeliveryState stores the tenant's delivery state. A cursor below
	// the stored one is ignored.
	SaveDeliveryState(ctx context.Context, tenant string, st DeliveryState) error
	// SaveDeadLetter stores dl and st in one transaction, so the cursor
	// moves past a dead-lettered event if and only if its dead letter is
	// kept.
	SaveDeadLetter(ctx context.Context, tenant string, dl DeadLetter, st DeliveryState) error
	// DeadLetters returns the tenant's dead letters in journal order.
	DeadLetters(ctx context.Context, tenant string) ([]DeadLetter, error)
	// DeadLetterCount returns how many dead letters the tenant has.
	DeadLetterCount(ctx context.Context, tenant string) (int, error)
	// Append re-journals events: under the tenant's write lock it calls
	// build, appends the events build returns to the journal with new
	// sequence numbers, and deletes the dead letters with the sequences in
	// remove, all in one transaction. It returns the appended events with
	// their new sequence numbers. A sequence in remove that names no dead
	// letter fails the whole append with an error wrapping
	// ErrNoDeadLetter.
	Append(ctx context.Context, tenant string, remove []uint64, build AppendFunc) ([]change.Event, error)
}

// AppendFunc builds the events Append journals. It runs while no other
// write of the tenant can commit, so what it reads through the Store is
// the tenant's current state and stays current until the append commits.
// It must not write to the tenant (that would wait for itself), and it may
// run more than once.
type AppendFunc func(ctx context.Context) ([]change.Event, error)

// ErrNoDeadLetter says a dead letter does not exist.
var ErrNoDeadLetter = errors.New("no such dead letter")

// DeliveryState is a tenant's delivery progress and counters.
type DeliveryState struct {
	// Cursor is the sequence of the last journal event delivered or
	// dead-lettered; delivery continues after it.
	Cursor uint64 `json:"cursor"`
	// Failures counts failed delivery attempts since the last success.
	Failures int `json:"failures,omitempty"`
	// LastError is the text of the most recent delivery error.
	LastError string `json:"last_error,omitempty"`
	// LastErrorTime is when LastError happened.
	LastErrorTime time.Time `json:"last_error_time,omitzero"`
	// LastSuccess is when the backend last accepted a batch.
	LastSuccess time.Time `json:"last_success,omitzero"`
	// InvalidSeq is the sequence of the event the backend last refused as
	// invalid.
	InvalidSeq uint64 `json:"invalid_seq,omitempty"`
	// InvalidAttempts is how many times in a row the backend refused the
	// event InvalidSeq as invalid.
	InvalidAttempts int `json:"invalid_attempts,omitempty"`
}

// DeadLetter is a journal event that delivery gave up on.
type DeadLetter struct {
	// Event is the event as it was journaled, with its original sequence.
	Event change.Event `json:"event"`
	// Error is the backend's error text for the last attempt.
	Error string `json:"error"`
	// Attempts is how many times the backend refused the event.
	Attempts int `json:"attempts"`
	// Time is when the event was dead-lettered.
	Time time.Time `json:"time"`
}

var _ DeliveryLog = (*Badger)(nil)

// LastSeq implements DeliveryLog.
func (s *Badger) LastSeq(ctx context.Context, tenant string) (uint64, error) {
	if err := checkTenant(tenant); err != nil {
		return 0, err
	}
	return s.lastSeq(tenant)
}

// DeliveryState implements DeliveryLog.
func (s *Badger) DeliveryState(ctx context.Context, tenant string) (DeliveryState, error) {
	if err := checkTenant(tenant); err != nil {
		return DeliveryState{}, err
	}
	var st DeliveryState
	err := s.db.View(func(txn *badger.Txn) error {
		var err error
		st, err = getDeliveryState(txn, tenant)
		return err
	})
	if err != nil {
		return DeliveryState{}, fmt.Errorf("reading delivery state: %w", err)
	}
	return st, nil
}

func getDeliveryState(txn *badger.Txn, tenant string) (DeliveryState, error) {
	var st DeliveryState
	item, err := txn.Get(deliveryKey(tenant))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	err = item.Value(func(v []byte) error { return json.Unmarshal(v, &st) })
	if err != nil {
		return st, fmt.Errorf("decoding delivery state: %w", err)
	}
	return st, nil
}

// putDeliveryState writes st, keeping the stored cursor when it is ahead.
func putDeliveryState(txn *badger.Txn, tenant string, st DeliveryState) error {
	cur, err := getDeliveryState(txn, tenant)
	if err != nil {
		return err
	}
	st.Cursor = max(st.Cursor, cur.Cursor)
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encoding delivery state: %w", err)
	}
	return txn.Set(deliveryKey(tenant), b)
}

// SaveDeliveryState implements DeliveryLog.
func (s *Badger) SaveDeliveryState(ctx context.Context, tenant string, st DeliveryState) error {
	if err := checkTenant(tenant); err != nil {
		return err
	}
	err := s.deliveryUpdate(ctx, func(txn *badger.Txn) error {
		return putDeliveryState(txn, tenant, st)
	})
	if err != nil {
		return fmt.Errorf("saving delivery state: %w", err)
	}
	return nil
}

// SaveDeadLetter implements DeliveryLog.
func (s *Badger) SaveDeadLetter(ctx context.Context, tenant string, dl DeadLetter, st DeliveryState) error {
	if err := checkTenant(tenant); err != nil {
		return err
	}
	b, err := json.Marshal(dl)
	if err != nil {
		return fmt.Errorf("encoding dead letter %d: %w", dl.Event.Seq, err)
	}
	err = s.deliveryUpdate(ctx, func(txn *badger.Txn) error {
		if err := txn.Set(deadLetterKey(tenant, dl.Event.Seq), b); err != nil {
			return err
		}
		return putDeliveryState(txn, tenant, st)
	})
	if err != nil {
		return fmt.Errorf("saving dead letter %d: %w", dl.Event.Seq, err)
	}
	return nil
}

// DeadLetters implements DeliveryLog.
func (s *Badger) DeadLetters(ctx context.Context, tenant string) ([]DeadLetter, error) {
	if err := checkTenant(tenant); err != nil {
		return nil, err
	}
	var out []DeadLetter
	err := s.db.View(func(txn *badger.Txn) error {
		prefix := deadLetterPrefix(tenant)
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true, PrefetchSize: 100})
		defer it.Close()
		for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
			var dl DeadLetter
			if err := it.Item().Value(func(v []byte) error {
				d := json.NewDecoder(bytes.NewReader(v))
				d.UseNumber()
				return d.Decode(&dl)
			}); err != nil {
				return fmt.Errorf("decoding dead letter: %w", err)
			}
			out = append(out, dl)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading dead letters: %w", err)
	}
	return out, nil
}

// DeadLetterCount implements DeliveryLog. It reads keys only.
func (s *Badger) DeadLetterCount(ctx context.Context, tenant string) (int, error) {
	if err := checkTenant(tenant); err != nil {
		return 0, err
	}
	n := 0
	err := s.db.View(func(txn *badger.Txn) error {
		prefix := deadLetterPrefix(tenant)
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: false})
		defer it.Close()
		for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("counting dead letters: %w", err)
	}
	return n, nil
}

// Append implements DeliveryLog. It goes through the same write lock and
// sequence counter as every SCIM write, so the journal stays strictly
// increasing and gap-free.
func (s *Badger) Append(ctx context.Context, tenant string, remove []uint64, build AppendFunc) ([]change.Event, error) {
	var out []change.Event
	err := s.writeAlone(ctx, tenant, func(w *writer) error {
		out = nil
		for _, seq := range remove {
			key := deadLetterKey(tenant, seq)
			if _, err := w.txn.Get(key); errors.Is(err, badger.ErrKeyNotFound) {
				return fmt.Errorf("dead letter %d: %w", seq, ErrNoDeadLetter)
			} else if err != nil {
				return err
			}
			if err := w.del(key); err != nil {
				return err
			}
		}
		events, err := build(ctx)
		if err != nil {
			return err
		}
		for _, ev := range events {
			if err := w.emit(&ev); err != nil {
				return err
			}
			out = append(out, ev)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("appending to the journal: %w", err)
	}
	return out, nil
}

// deliveryUpdate runs fn in a read-write transaction, retrying a bounded
// number of times on a conflict. Delivery keys are not journal keys, so it
// does not take the tenant's write lock.
func (s *Badger) deliveryUpdate(ctx context.Context, fn func(txn *badger.Txn) error) error {
	var err error
	for attempt := 0; attempt < s.opts.MaxConflictRetries; attempt++ {
		if err = ctx.Err(); err != nil {
			return err
		}
		err = s.db.Update(fn)
		if !errors.Is(err, badger.ErrConflict) {
			return err
		}
	}
	return fmt.Errorf("committing after %d conflicts: %w", s.opts.MaxConflictRetries, err)
}
