package tokens_test

import (
	"context"
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/adapter/store"
	"github.com/caddy-scim/caddy-scim/adapter/tokens"
)

// BenchmarkVerify measures Verify of a long-lived token and of an OAuth
// access token against a Badger store in memory, answered from the cache
// and, with the cache off, from the store.
func BenchmarkVerify(b *testing.B) {
	st, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	m := tokens.NewManager(st, time.Now)
	iss, err := m.Issue(ctx, "acme", tokens.IssueOptions{})
	if err != nil {
		b.Fatal(err)
	}
	sec, err := m.AddClientSecret(ctx, "acme")
	if err != nil {
		b.Fatal(err)
	}
	at, err := m.IssueAccessToken(ctx, "acme", sec.ClientID, sec.Secret, 0)
	if err != nil {
		b.Fatal(err)
	}
	modes := []struct {
		name string
		size int
	}{{"cached", tokens.DefaultCacheSize}, {"uncached", 0}}
	for _, mode := range modes {
		for _, kind := range []struct{ name, token string }{{"token", iss.Token}, {"access_token", at.Token}} {
			b.Run(mode.name+"/"+kind.name, func(b *testing.B) {
				tokens.SetCacheSize(m, mode.size)
				header := "Bearer " + kind.token
				b.ReportAllocs()
				for b.Loop() {
					if _, err := m.Verify(ctx, "acme", header); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
