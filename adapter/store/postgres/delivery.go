package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/caddy-scim/caddy-scim/adapter/change"
	"github.com/caddy-scim/caddy-scim/adapter/store"
)

var _ store.DeliveryLog = (*Store)(nil)

// LastSeq implements store.DeliveryLog: the sequence in the tenant's row,
// which every write advances in the transaction that journals.
func (s *Store) LastSeq(ctx context.Context, tenant string) (uint64, error) {
	if err := checkTenant(tenant); err != nil {
		return 0, err
	}
	var seq int64
	err := s.pool.QueryRow(ctx, `SELECT seq FROM scim_tenant_state WHERE tenant = $1`, tenant).Scan(&seq)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("reading the journal position of tenant %s: %w", tenant, err)
	}
	return uint64(seq), nil
}

// Journal returns up to limit events of the tenant with a sequence greater
// than after, in sequence order.
func (s *Store) Journal(ctx context.Context, tenant string, after uint64, limit int) ([]change.Event, error) {
	if err := checkTenant(tenant); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT event FROM scim_journal WHERE tenant = $1 AND seq > $2 ORDER BY seq LIMIT $3`, tenant, int64(after), limit)
	if err != nil {
		return nil, fmt.Errorf("reading the journal of tenant %s: %w", tenant, err)
	}
	texts, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("reading the journal of tenant %s: %w", tenant, err)
	}
	out := make([]change.Event, 0, len(texts))
	for _, b := range texts {
		var ev change.Event
		if err := decodeNumbers(b, &ev); err != nil {
			return nil, fmt.Errorf("decoding a journal event: %w", err)
		}
		out = append(out, ev)
	}
	return out, nil
}

// decodeNumbers decodes JSON keeping numbers as json.Number, as resources
// are kept everywhere else.
func decodeNumbers(b string, v any) error {
	d := json.NewDecoder(bytes.NewReader([]byte(b)))
	d.UseNumber()
	return d.Decode(v)
}

// DeliveryState implements store.DeliveryLog.
func (s *Store) DeliveryState(ctx context.Context, tenant string) (store.DeliveryState, error) {
	var st store.DeliveryState
	if err := checkTenant(tenant); err != nil {
		return st, err
	}
	if _, err := s.getJSON(ctx, &st, `SELECT state FROM scim_delivery WHERE tenant = $1`, tenant); err != nil {
		return store.DeliveryState{}, fmt.Errorf("reading delivery state: %w", err)
	}
	return st, nil
}

// putDeliveryState writes st in tx, keeping the stored cursor when it is
// ahead.
func putDeliveryState(ctx context.Context, tx pgx.Tx, tenant string, st store.DeliveryState) error {
	var cur store.DeliveryState
	var b string
	err := tx.QueryRow(ctx, `SELECT state FROM scim_delivery WHERE tenant = $1 FOR UPDATE`, tenant).Scan(&b)
	switch {
	case err == nil:
		if err := json.Unmarshal([]byte(b), &cur); err != nil {
			return fmt.Errorf("decoding delivery state: %w", err)
		}
	case !errors.Is(err, pgx.ErrNoRows):
		return err
	}
	st.Cursor = max(st.Cursor, cur.Cursor)
	nb, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encoding delivery state: %w", err)
	}
	_, err = tx.Exec(ctx, `INSERT INTO scim_delivery (tenant, state) VALUES ($1, $2)
		ON CONFLICT (tenant) DO UPDATE SET state = excluded.state`, tenant, string(nb))
	return err
}

// SaveDeliveryState implements store.DeliveryLog. A cursor below the
// stored one is ignored. While another instance holds the tenant's
// delivery lease it writes nothing and returns an error wrapping
// store.ErrLeaseLost.
func (s *Store) SaveDeliveryState(ctx context.Context, tenant string, st store.DeliveryState) error {
	if err := checkTenant(tenant); err != nil {
		return err
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := fenceDelivery(ctx, tx, s.Instance(), tenant); err != nil {
			return err
		}
		return putDeliveryState(ctx, tx, tenant, st)
	})
	if err != nil {
		return fmt.Errorf("saving delivery state: %w", err)
	}
	return nil
}

// SaveDeadLetter implements store.DeliveryLog. While another instance
// holds the tenant's delivery lease it writes nothing and returns an error
// wrapping store.ErrLeaseLost.
func (s *Store) SaveDeadLetter(ctx context.Context, tenant string, dl store.DeadLetter, st store.DeliveryState) error {
	if err := checkTenant(tenant); err != nil {
		return err
	}
	b, err := json.Marshal(dl)
	if err != nil {
		return fmt.Errorf("encoding dead letter %d: %w", dl.Event.Seq, err)
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := fenceDelivery(ctx, tx, s.Instance(), tenant); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO scim_dead_letters (tenant, seq, letter) VALUES ($1, $2, $3)
			ON CONFLICT (tenant, seq) DO UPDATE SET letter = excluded.letter`, tenant, int64(dl.Event.Seq), string(b)); err != nil {
			return err
		}
		return putDeliveryState(ctx, tx, tenant, st)
	})
	if err != nil {
		return fmt.Errorf("saving dead letter %d: %w", dl.Event.Seq, err)
	}
	return nil
}

// DeadLetters implements store.DeliveryLog.
func (s *Store) DeadLetters(ctx context.Context, tenant string) ([]store.DeadLetter, error) {
	if err := checkTenant(tenant); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT letter FROM scim_dead_letters WHERE tenant = $1 ORDER BY seq`, tenant)
	if err != nil {
		return nil, fmt.Errorf("reading dead letters: %w", err)
	}
	texts, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("reading dead letters: %w", err)
	}
	var out []store.DeadLetter
	for _, b := range texts {
		var dl store.DeadLetter
		if err := decodeNumbers(b, &dl); err != nil {
			return nil, fmt.Errorf("decoding dead letter: %w", err)
		}
		out = append(out, dl)
	}
	return out, nil
}

// DeadLetterCount implements store.DeliveryLog.
func (s *Store) DeadLetterCount(ctx context.Context, tenant string) (int, error) {
	if err := checkTenant(tenant); err != nil {
		return 0, err
	}
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM scim_dead_letters WHERE tenant = $1`, tenant).Scan(&n); err != nil {
		return 0, fmt.Errorf("counting dead letters: %w", err)
	}
	return n, nil
}

// Append implements store.DeliveryLog, as a write of the tenant: no other
// write of the tenant, on any instance, commits between build and the
// append.
func (s *Store) Append(ctx context.Context, tenant string, remove []uint64, build store.AppendFunc) ([]change.Event, error) {
	if err := checkTenant(tenant); err != nil {
		return nil, err
	}
	var out []change.Event
	err := s.write.WriteAlone(ctx, tenant, func(ctx context.Context, tx *Tx) error {
		out = nil
		for _, seq := range remove {
			tag, err := tx.Exec(ctx, `DELETE FROM scim_dead_letters WHERE tenant = $1 AND seq = $2`, tenant, int64(seq))
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				return fmt.Errorf("dead letter %d: %w", seq, store.ErrNoDeadLetter)
			}
		}
		events, err := build(ctx)
		if err != nil {
			return err
		}
		for _, ev := range events {
			if err := emit(ctx, tx, &ev); err != nil {
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
