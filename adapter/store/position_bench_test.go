package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/caddy-scim/caddy-scim/adapter/filter"
	"github.com/caddy-scim/caddy-scim/adapter/schema"
)

// BenchmarkPageAtAnyStart reads a page of 100 users at the start, the
// middle and the end of a tenant, in creation order and sorted by
// userName, with position indexes ("index") and without ("scan", the
// store's answer before them), and builds each order's index once
// ("build"). Users' names are in random order relative to their creation.
func BenchmarkPageAtAnyStart(b *testing.B) {
	ctx := context.Background()
	for _, size := range []int{2000, 100000} {
		s, err := Open(Options{Dir: b.TempDir(), NoSync: true})
		if err != nil {
			b.Fatal(err)
		}
		perm := rand.New(rand.NewPCG(1, 1)).Perm(size)
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < size; i += 8 {
					name := fmt.Sprintf("user%06d@example.com", perm[i])
					if _, err := s.Create(ctx, "acme", schema.User, map[string]any{"userName": name, "emails": []any{map[string]any{"value": name}}, "externalId": fmt.Sprint(i)}, nil); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		index := s.pos
		byName := &filter.Path{Attr: "userName"}
		for _, order := range []struct {
			name string
			q    Query
		}{
			{"id", Query{}},
			{"userName", Query{SortBy: byName}},
			{"userName-desc", Query{SortBy: byName, Descending: true}},
		} {
			for _, at := range []struct {
				name  string
				start int
			}{{"first", 1}, {"middle", size / 2}, {"end", size - 99}} {
				for _, mode := range []string{"scan", "index"} {
					b.Run(fmt.Sprintf("%d/%s/%s/%s", size, order.name, at.name, mode), func(b *testing.B) {
						s.pos = index
						if mode == "scan" {
							s.pos = nil
						}
						q := order.q
						q.StartIndex, q.Count = at.start, 100
						if _, err := s.List(ctx, "acme", schema.User, q); err != nil {
							b.Fatal(err)
						}
						for b.Loop() {
							p, err := s.List(ctx, "acme", schema.User, q)
							if err != nil || len(p.Resources) != 100 {
								b.Fatalf("page: %v", err)
							}
						}
					})
				}
			}
		}
		s.pos = index
		for _, o := range []struct {
			name  string
			order int
		}{{"id", orderID}, {"userName", orderName}} {
			b.Run(fmt.Sprintf("%d/build/%s", size, o.name), func(b *testing.B) {
				for b.Loop() {
					if st := index.lookup("acme", tUser); st != nil {
						s.dropOrder(st, o.order)
					}
					if err := s.build(ctx, "acme", tUser, o.order); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
		s.Close()
	}
}

// BenchmarkPositionIndexMemory reports the heap a position index of
// 100,000 entries holds per entry, built from a scan and grown by
// creates, in id order and in userName order.
func BenchmarkPositionIndexMemory(b *testing.B) {
	const n = 100000
	ids := make([]uuid.UUID, n)
	names := make([]nameEntry, n)
	for i := range ids {
		ids[i] = uuid.Must(uuid.NewV7())
		names[i] = nameEntry{fmt.Sprintf("user%06d@example.com", i), ids[i]}
	}
	measure := func(b *testing.B, build func() any) {
		var keep any
		for b.Loop() {
			var m0, m1 runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&m0)
			keep = build()
			runtime.GC()
			runtime.ReadMemStats(&m1)
			b.ReportMetric(float64(m1.HeapAlloc-m0.HeapAlloc)/n, "bytes/entry")
		}
		runtime.KeepAlive(keep)
	}
	b.Run("id/built", func(b *testing.B) {
		measure(b, func() any { return newRanked(ids, compareIDs) })
	})
	b.Run("id/created", func(b *testing.B) {
		measure(b, func() any {
			r := newRanked[uuid.UUID](nil, compareIDs)
			for _, u := range ids {
				r.insert(u)
			}
			return r
		})
	})
	b.Run("userName/built", func(b *testing.B) {
		measure(b, func() any {
			es := make([]nameEntry, n)
			for i, e := range names {
				es[i] = nameEntry{string([]byte(e.key)), e.id}
			}
			return newRanked(es, compareNames)
		})
	})
}
