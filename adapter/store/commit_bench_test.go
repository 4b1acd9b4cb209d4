package store

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/caddy-scim/caddy-scim/adapter/schema"
)

// BenchmarkConcurrentCreatesOnDisk creates users from 16 goroutines into
// one tenant of an on-disk store that syncs every commit, the shape of an
// IdP's initial sync.
func BenchmarkConcurrentCreatesOnDisk(b *testing.B) {
	s, err := Open(Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	var n atomic.Int64
	b.SetParallelism(8) // 16 goroutines on 2 cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			data := map[string]any{
				"userName":    fmt.Sprintf("user%d@example.com", i),
				"displayName": fmt.Sprintf("User %d", i),
				"active":      true,
				"emails":      []any{map[string]any{"value": fmt.Sprintf("user%d@example.com", i), "type": "work", "primary": true}},
				"name":        map[string]any{"givenName": "User", "familyName": fmt.Sprint(i)},
			}
			if _, err := s.Create(ctx, "acme", schema.User, data, nil); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
