package caddymodule

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-scim/caddy-scim/adapter/delivery"
	"github.com/caddy-scim/caddy-scim/adapter/schema"
	"github.com/caddy-scim/caddy-scim/adapter/store"
	"github.com/caddy-scim/caddy-scim/adapter/tokens"
)

// BenchmarkDeliveryToPharos drains a journal of b.N user creations into a
// real pharos plugin process (gRPC, its own Badger store with fsync) and
// reports the throughput.
func BenchmarkDeliveryToPharos(b *testing.B) {
	dir := b.TempDir()
	st, err := store.Open(store.Options{Dir: dir, NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		email := fmt.Sprintf("user%07d@contoso.example", i)
		if _, err := st.Create(ctx, "bench", schema.User, map[string]any{
			"userName": email, "emails": []any{map[string]any{"value": email, "type": "work"}},
			"name": map[string]any{"givenName": "Bench", "familyName": fmt.Sprint(i)},
		}, nil); err != nil {
			b.Fatal(err)
		}
	}
	s := &shared{
		store:     st,
		tokens:    tokens.NewManager(st, nil),
		deliverer: delivery.New(st, delivery.Options{Logger: zap.NewNop()}),
		logger:    zap.NewNop(),
		hosts:     map[string][]*tenantBackend{},
	}
	p, err := startBackendProcess(s, BackendConfig{Name: "pharos"}, zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	defer p.Destruct()
	tb := newTenantBackend(p, dir, "bench", nil)
	if _, err := tb.configure(ctx); err != nil {
		b.Fatal(err)
	}
	s.attach("bench", tb)
	b.ResetTimer()
	start := time.Now()
	if err := s.deliverer.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer s.deliverer.Stop()
	for {
		ds, err := s.deliverer.Status(ctx, "bench")
		if err != nil {
			b.Fatal(err)
		}
		if ds.Delivered == ds.Head {
			break
		}
		time.Sleep(time.Millisecond)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}
