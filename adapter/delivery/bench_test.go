package delivery

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/adapter/change"
	"github.com/caddy-scim/caddy-scim/adapter/schema"
)

// lagBackend records, for each event, the time from its commit to Apply.
type lagBackend struct {
	mu   sync.Mutex
	last uint64
	lags []time.Duration
}

func (b *lagBackend) Apply(ctx context.Context, events []change.Event) (uint64, error) {
	now := time.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, ev := range events {
		b.lags = append(b.lags, now.Sub(ev.Time))
	}
	b.last = events[len(events)-1].Seq
	return b.last, nil
}

func (b *lagBackend) lastSeq() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.last
}

// BenchmarkDelivery measures journal → backend delivery with an in-memory
// store and a backend that costs nothing. "backlog" drains b.N journaled
// events (one op is one event delivered); "live" delivers while a writer
// commits b.N user creations one after another, notifying after each, and
// reports the time from commit to Apply.
func BenchmarkDelivery(b *testing.B) {
	ctx := context.Background()
	b.Run("backlog", func(b *testing.B) {
		s := openMem(b)
		createUsers(b, s, tenant, "u", b.N)
		be := &lagBackend{}
		d := New(s, Options{PollInterval: time.Hour})
		d.SetTarget(tenant, be)
		b.ResetTimer()
		began := time.Now()
		if err := d.Start(ctx); err != nil {
			b.Fatal(err)
		}
		for be.lastSeq() < uint64(b.N) {
			time.Sleep(100 * time.Microsecond)
		}
		el := time.Since(began)
		b.StopTimer()
		d.Stop()
		b.ReportMetric(float64(b.N)/el.Seconds(), "events/s")
	})
	b.Run("live", func(b *testing.B) {
		s := openMem(b)
		be := &lagBackend{}
		d := start(b, s, Options{PollInterval: time.Hour})
		d.SetTarget(tenant, be)
		b.ResetTimer()
		began := time.Now()
		for i := range b.N {
			if _, err := s.Create(ctx, tenant, schema.User, map[string]any{"userName": fmt.Sprint("u", i)}, nil); err != nil {
				b.Fatal(err)
			}
			d.Notify(tenant)
		}
		for be.lastSeq() < uint64(b.N) {
			time.Sleep(100 * time.Microsecond)
		}
		el := time.Since(began)
		b.StopTimer()
		d.Stop()
		lags := be.lags
		slices.Sort(lags)
		ms := func(q float64) float64 {
			return float64(lags[min(int(q*float64(len(lags))), len(lags)-1)]) / float64(time.Millisecond)
		}
		b.ReportMetric(float64(b.N)/el.Seconds(), "events/s")
		b.ReportMetric(ms(0.5), "lag-p50-ms")
		b.ReportMetric(ms(0.99), "lag-p99-ms")
		b.ReportMetric(ms(1), "lag-max-ms")
	})
}
