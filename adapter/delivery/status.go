package delivery

import (
	"context"
	"fmt"
	"time"
)

// Status is a tenant's delivery status, for operators and metrics.
type Status struct {
	// Tenant is the tenant the status is about.
	Tenant string `json:"tenant"`
	// Attached reports whether the tenant has a Target; without one its
	// events wait in the journal.
	Attached bool `json:"attached"`
	// LeaseHeld reports whether this process holds the tenant's delivery
	// lease (see Options.Lease) and so delivers it; always false without
	// a Lease.
	LeaseHeld bool `json:"lease_held,omitempty"`
	// Head is the sequence of the tenant's newest journal event.
	Head uint64 `json:"head_seq"`
	// Delivered is the sequence through which the journal has been
	// delivered or dead-lettered.
	Delivered uint64 `json:"delivered_seq"`
	// Lag is how many events wait for delivery: Head − Delivered.
	Lag uint64 `json:"lag"`
	// OldestUndelivered is the commit time of the oldest event waiting for
	// delivery; zero when none waits.
	OldestUndelivered time.Time `json:"oldest_undelivered,omitzero"`
	// LagTime is how long the oldest waiting event has waited; zero when
	// none waits.
	LagTime time.Duration `json:"lag_time,omitempty"`
	// DeadLetters is how many dead letters wait for the operator.
	DeadLetters int `json:"dead_letters"`
	// ConsecutiveFailures counts failed attempts since the last success.
	ConsecutiveFailures int `json:"consecutive_failures"`
	// LastError is the text of the most recent delivery error.
	LastError string `json:"last_error,omitempty"`
	// LastErrorTime is when LastError happened.
	LastErrorTime time.Time `json:"last_error_time,omitzero"`
	// LastSuccess is when the backend last accepted a batch.
	LastSuccess time.Time `json:"last_success,omitzero"`
}

// Status returns the tenant's delivery status, from the store, so it is
// available for every tenant whether or not it has a Target or the
// Deliverer was started.
func (d *Deliverer) Status(ctx context.Context, tenant string) (Status, error) {
	// The state is read before the head, so Delivered never exceeds Head.
	st, err := d.st.DeliveryState(ctx, tenant)
	if err != nil {
		return Status{}, fmt.Errorf("reading delivery status of %s: %w", tenant, err)
	}
	head, err := d.st.LastSeq(ctx, tenant)
	if err != nil {
		return Status{}, fmt.Errorf("reading delivery status of %s: %w", tenant, err)
	}
	dead, err := d.st.DeadLetterCount(ctx, tenant)
	if err != nil {
		return Status{}, fmt.Errorf("reading delivery status of %s: %w", tenant, err)
	}
	s := Status{
		Tenant:              tenant,
		Attached:            d.attached(tenant),
		LeaseHeld:           d.holdsLease(tenant),
		Head:                head,
		Delivered:           min(st.Cursor, head),
		DeadLetters:         dead,
		ConsecutiveFailures: st.Failures,
		LastError:           st.LastError,
		LastErrorTime:       st.LastErrorTime,
		LastSuccess:         st.LastSuccess,
	}
	s.Lag = head - s.Delivered
	if s.Lag > 0 {
		evs, err := d.st.Journal(ctx, tenant, s.Delivered, 1)
		if err != nil {
			return Status{}, fmt.Errorf("reading delivery status of %s: %w", tenant, err)
		}
		if len(evs) > 0 {
			s.OldestUndelivered = evs[0].Time
			s.LagTime = max(d.opts.Now().Sub(evs[0].Time), 0)
		}
	}
	return s, nil
}
