// Package applybench measures how fast a backend applies changes into its
// product store, for the built-in backends' benchmarks.
package applybench

import (
	"context"
	"fmt"
	"testing"

	"github.com/caddy-scim/caddy-scim/plugins/sdk"
)

// Backend is a backend with a product store to close.
type Backend interface {
	sdk.Backend
	Close() error
}

// BatchSize is how many changes one Apply carries, as the host sends them.
const BatchSize = 100

// Run configures be on a fresh data directory and applies b.N user
// changes in batches of BatchSize, one Apply each: a batch of creations,
// then updates of the same users, then their deletions, and again with new
// users. It reports changes/s. The backend's store syncs as it does in
// production.
func Run(b *testing.B, be Backend, settings string) {
	ctx := context.Background()
	req := &sdk.ConfigureRequest{Tenant: "acme", DataDir: b.TempDir()}
	if settings != "" {
		req.Settings = []byte(settings)
	}
	if _, err := be.Configure(ctx, req); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { be.Close() })
	kinds := []sdk.Kind{sdk.UserCreated, sdk.UserUpdated, sdk.UserDeleted}
	var seq uint64
	b.ResetTimer()
	for i := 0; i < b.N; i += BatchSize {
		n := min(BatchSize, b.N-i)
		apply := &sdk.ApplyRequest{Tenant: "acme", Changes: make([]sdk.Change, n)}
		for j := range n {
			seq++
			round := i / BatchSize
			apply.Changes[j] = sdk.Change{Seq: seq, Tenant: "acme", Kind: kinds[round%len(kinds)],
				User: User(fmt.Sprintf("u%d-%d", round/len(kinds), j), round%len(kinds))}
		}
		resp, err := be.Apply(ctx, apply)
		if err != nil || resp.AppliedThrough != seq {
			b.Fatalf("applying through %d: %+v, %v", seq, resp, err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "changes/s")
}

// User returns a user with the attributes the built-in backends map; rev
// changes its department, so an update changes something.
func User(id string, rev int) *sdk.User {
	email := id + "@example.com"
	return &sdk.User{ID: id, UserName: "login-" + id, Active: true, GivenName: "Given " + id, FamilyName: "Family",
		Email: email, Emails: []sdk.Email{{Value: email, Type: "work", Primary: true}},
		Department: fmt.Sprintf("dept %d", rev)}
}
