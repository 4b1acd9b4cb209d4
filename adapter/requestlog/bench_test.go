package requestlog

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkRecord is the cost every SCIM request pays: one entry kept
// for one of 100 tenants, each of which has its Size entries already.
// With a Backing, "flush" appends after every 1,000 requests.
func BenchmarkRecord(b *testing.B) {
	for _, mode := range []string{"memory", "shared", "shared+flush"} {
		shared := mode != "memory"
		b.Run(mode, func(b *testing.B) {
			var l Log
			if shared {
				// A Backing that is never flushed: the rows pend.
				l.backing, l.origin = nopBacking{}, "bench"
				l.pending, l.inflight, l.forgotten = map[string]*ring{}, map[string]*ring{}, map[string]bool{}
			}
			tenants := make([]string, 100)
			for i := range tenants {
				tenants[i] = fmt.Sprint("tenant", i)
				for range Size {
					l.Record(tenants[i], Entry{})
				}
			}
			e := Entry{Time: time.Now(), Operation: "list Users", Status: 200, ClientIP: "192.0.2.1", Duration: time.Millisecond}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				l.Record(tenants[i%len(tenants)], e)
				if mode == "shared+flush" && i%1000 == 999 {
					if err := l.Flush(context.Background()); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

type nopBacking struct{}

func (nopBacking) AppendRequests(context.Context, []Row, int) error { return nil }
func (nopBacking) LatestRequests(context.Context, string, int) ([]Row, error) {
	return nil, nil
}
