package store

import (
	"context"
	"fmt"
	"testing"

	"github.com/caddy-scim/caddy-scim/adapter/patch"
	"github.com/caddy-scim/caddy-scim/adapter/schema"
)

func BenchmarkFlatWrites(b *testing.B) {
	for _, size := range []int{2000, 100000} {
		s, err := Open(Options{Dir: b.TempDir(), NoSync: true})
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		ids := make([]string, size)
		for i := range ids {
			out, err := s.Create(ctx, "acme", schema.User, map[string]any{"userName": fmt.Sprintf("u%d@example.com", i), "emails": []any{map[string]any{"value": fmt.Sprintf("u%d@example.com", i)}}, "externalId": fmt.Sprint(i)}, nil)
			if err != nil {
				b.Fatal(err)
			}
			ids[i] = out.Resource["id"].(string)
		}
		g, _ := s.Create(ctx, "acme", schema.Group, map[string]any{"displayName": "g"}, nil)
		gid := g.Resource["id"].(string)
		next, del := 0, 0
		b.Run(fmt.Sprintf("update/%d", size), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				id := ids[(i*7919)%size]
				if _, err := s.Update(ctx, "acme", schema.User, id, func(cur map[string]any, _ patch.Members) (map[string]any, *patch.MemberDelta, error) {
					cur["title"] = fmt.Sprint(i)
					return cur, nil, nil
				}); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("memberadd/%d", size), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				id := ids[(i*7919)%size]
				if _, err := s.Update(ctx, "acme", schema.Group, gid, func(cur map[string]any, _ patch.Members) (map[string]any, *patch.MemberDelta, error) {
					return cur, &patch.MemberDelta{Add: []patch.Member{{Value: id}}}, nil
				}); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("create/%d", size), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, err := s.Create(ctx, "acme", schema.User, map[string]any{"userName": fmt.Sprintf("n%d-%d@example.com", size, next), "emails": []any{map[string]any{"value": "x@example.com"}}, "externalId": fmt.Sprint("n", next)}, nil); err != nil {
					b.Fatal(err)
				}
				next++
			}
		})
		b.Run(fmt.Sprintf("delete/%d", size), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if err := s.Delete(ctx, "acme", schema.User, ids[size-1-del]); err != nil {
					b.Fatal(err)
				}
				del++
			}
		})
		s.Close()
	}
}
