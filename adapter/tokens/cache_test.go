package tokens_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/adapter/store"
	"github.com/caddy-scim/caddy-scim/adapter/tokens"
)

// counting is the real store, counting the reads Verify makes.
type counting struct {
	*store.Badger
	reads atomic.Int64
}

func (c *counting) Token(ctx context.Context, h []byte) (*tokens.Record, error) {
	c.reads.Add(1)
	return c.Badger.Token(ctx, h)
}

func (c *counting) AccessToken(ctx context.Context, h []byte) (*tokens.AccessToken, error) {
	c.reads.Add(1)
	return c.Badger.AccessToken(ctx, h)
}

func (c *counting) Client(ctx context.Context, tenant string) (*tokens.Client, error) {
	c.reads.Add(1)
	return c.Badger.Client(ctx, tenant)
}

// lockedClock is a clock safe to read from several goroutines.
type lockedClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *lockedClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *lockedClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func setupCounting(t testing.TB) (*tokens.Manager, *counting, *lockedClock) {
	t.Helper()
	st, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	p := &counting{Badger: st}
	c := &lockedClock{t: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)}
	return tokens.NewManager(p, c.now), p, c
}

// verifyReads verifies header for tenant and returns the error and how
// many store reads it took.
func verifyReads(t *testing.T, m *tokens.Manager, p *counting, tenant, header string) (error, int64) {
	t.Helper()
	before := p.reads.Load()
	_, err := m.Verify(context.Background(), tenant, header)
	return err, p.reads.Load() - before
}

func TestVerifyFromMemory(t *testing.T) {
	m, p, _ := setupCounting(t)
	ctx := context.Background()
	iss, err := m.Issue(ctx, "acme", tokens.IssueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sec, err := m.AddClientSecret(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	at, err := m.IssueAccessToken(ctx, "acme", sec.ClientID, sec.Secret, 0)
	if err != nil {
		t.Fatal(err)
	}
	for name, tok := range map[string]string{"token": iss.Token, "access token": at.Token} {
		t.Run(name, func(t *testing.T) {
			if err, n := verifyReads(t, m, p, "acme", "Bearer "+tok); err != nil || n == 0 {
				t.Fatalf("first Verify: %v after %d reads, want success after reading the store", err, n)
			}
			for range 3 {
				if err, n := verifyReads(t, m, p, "acme", "Bearer "+tok); err != nil || n != 0 {
					t.Fatalf("repeated Verify: %v after %d reads, want success with no read", err, n)
				}
			}
			if err, n := verifyReads(t, m, p, "other", "Bearer "+tok); reason(err) != tokens.Invalid || n != 0 {
				t.Errorf("another tenant: %v after %d reads, want invalid with no read", err, n)
			}
		})
	}
}

func TestCacheDoesNotOutliveExpiry(t *testing.T) {
	m, p, c := setupCounting(t)
	ctx := context.Background()
	iss, err := m.Issue(ctx, "acme", tokens.IssueOptions{Validity: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	sec, err := m.AddClientSecret(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	at, err := m.IssueAccessToken(ctx, "acme", sec.ClientID, sec.Secret, 30*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{iss.Token, at.Token} {
		if _, err := m.Verify(ctx, "acme", "Bearer "+tok); err != nil {
			t.Fatal(err)
		}
	}
	c.advance(30 * time.Minute)
	if err, n := verifyReads(t, m, p, "acme", "Bearer "+at.Token); reason(err) != tokens.Expired || n != 0 {
		t.Errorf("cached access token at expiry: %v after %d reads, want expired with no read", err, n)
	}
	c.advance(30 * time.Minute)
	if err, n := verifyReads(t, m, p, "acme", "Bearer "+iss.Token); reason(err) != tokens.Expired || n != 0 {
		t.Errorf("cached token at expiry: %v after %d reads, want expired with no read", err, n)
	}
}

func TestCacheInvalidation(t *testing.T) {
	ctx := context.Background()
	t.Run("regenerate without overlap", func(t *testing.T) {
		m, _, _ := setupCounting(t)
		old := issueAndCache(t, m, "acme")
		other := issueAndCache(t, m, "globex")
		iss, err := m.Issue(ctx, "acme", tokens.IssueOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := mustFail(t, m, "acme", "Bearer "+old); reason(err) != tokens.Revoked {
			t.Errorf("replaced token: %v, want revoked at once", err)
		}
		if _, err := m.Verify(ctx, "acme", "Bearer "+iss.Token); err != nil {
			t.Errorf("new token: %v", err)
		}
		if _, err := m.Verify(ctx, "globex", "Bearer "+other); err != nil {
			t.Errorf("another tenant's token: %v", err)
		}
	})
	t.Run("regenerate with overlap", func(t *testing.T) {
		m, p, c := setupCounting(t)
		old := issueAndCache(t, m, "acme")
		if _, err := m.Issue(ctx, "acme", tokens.IssueOptions{Overlap: time.Hour}); err != nil {
			t.Fatal(err)
		}
		if _, err := m.Verify(ctx, "acme", "Bearer "+old); err != nil {
			t.Fatalf("old token during the overlap: %v", err)
		}
		c.advance(time.Hour - time.Second)
		if err, n := verifyReads(t, m, p, "acme", "Bearer "+old); err != nil || n != 0 {
			t.Errorf("old token at the end of the overlap: %v after %d reads, want success from memory", err, n)
		}
		c.advance(time.Second)
		if err, n := verifyReads(t, m, p, "acme", "Bearer "+old); reason(err) != tokens.Revoked || n != 0 {
			t.Errorf("old token after the overlap: %v after %d reads, want revoked by the clock", err, n)
		}
	})
	t.Run("revoke", func(t *testing.T) {
		m, _, _ := setupCounting(t)
		old := issueAndCache(t, m, "acme")
		if _, err := m.Revoke(ctx, "acme"); err != nil {
			t.Fatal(err)
		}
		if err := mustFail(t, m, "acme", "Bearer "+old); reason(err) != tokens.Revoked {
			t.Errorf("revoked token: %v, want revoked at once", err)
		}
	})
	t.Run("revoke client secret", func(t *testing.T) {
		m, _, _ := setupCounting(t)
		sec, err := m.AddClientSecret(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		kept, err := m.AddClientSecret(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		var revoked, alive []string
		for range 2 {
			a, err := m.IssueAccessToken(ctx, "acme", sec.ClientID, sec.Secret, 0)
			if err != nil {
				t.Fatal(err)
			}
			b, err := m.IssueAccessToken(ctx, "acme", kept.ClientID, kept.Secret, 0)
			if err != nil {
				t.Fatal(err)
			}
			revoked, alive = append(revoked, a.Token), append(alive, b.Token)
		}
		for _, tok := range append(revoked, alive...) {
			if _, err := m.Verify(ctx, "acme", "Bearer "+tok); err != nil {
				t.Fatal(err)
			}
		}
		if err := m.RevokeClientSecret(ctx, "acme", sec.SecretID); err != nil {
			t.Fatal(err)
		}
		for _, tok := range revoked {
			if err := mustFail(t, m, "acme", "Bearer "+tok); reason(err) != tokens.Revoked {
				t.Errorf("access token of the revoked secret: %v, want revoked at once", err)
			}
		}
		for _, tok := range alive {
			if _, err := m.Verify(ctx, "acme", "Bearer "+tok); err != nil {
				t.Errorf("access token of the other secret: %v", err)
			}
		}
	})
	t.Run("unknown then issued", func(t *testing.T) {
		m, p, _ := setupCounting(t)
		if err, n := verifyReads(t, m, p, "acme", "Bearer scim_unknown"); reason(err) != tokens.Invalid || n == 0 {
			t.Fatalf("unknown token: %v after %d reads", err, n)
		}
		if err, n := verifyReads(t, m, p, "acme", "Bearer scim_unknown"); reason(err) != tokens.Invalid || n == 0 {
			t.Errorf("unknown token again: %v after %d reads, want a read: misses are not cached", err, n)
		}
		iss, err := m.Issue(ctx, "acme", tokens.IssueOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.Verify(ctx, "acme", "Bearer "+iss.Token); err != nil {
			t.Errorf("token issued after a failed attempt: %v", err)
		}
	})
	t.Run("invalidate", func(t *testing.T) {
		m, p, _ := setupCounting(t)
		tok := issueAndCache(t, m, "acme")
		m.Invalidate("acme")
		if err, n := verifyReads(t, m, p, "acme", "Bearer "+tok); err != nil || n == 0 {
			t.Errorf("after Invalidate: %v after %d reads, want a read", err, n)
		}
	})
	t.Run("invalidate all", func(t *testing.T) {
		m, p, _ := setupCounting(t)
		a, b := issueAndCache(t, m, "acme"), issueAndCache(t, m, "contoso")
		m.InvalidateAll()
		for tenant, tok := range map[string]string{"acme": a, "contoso": b} {
			if err, n := verifyReads(t, m, p, tenant, "Bearer "+tok); err != nil || n == 0 {
				t.Errorf("%s after InvalidateAll: %v after %d reads, want a read", tenant, err, n)
			}
		}
	})
}

// issueAndCache issues a token for tenant and verifies it twice, so that it
// is cached.
func issueAndCache(t *testing.T, m *tokens.Manager, tenant string) string {
	t.Helper()
	iss, err := m.Issue(context.Background(), tenant, tokens.IssueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := m.Verify(context.Background(), tenant, "Bearer "+iss.Token); err != nil {
			t.Fatal(err)
		}
	}
	return iss.Token
}

func TestCacheIsBounded(t *testing.T) {
	m, _, _ := setupCounting(t)
	ctx := context.Background()
	const size = 8
	tokens.SetCacheSize(m, size)
	var toks []string
	for i := range 3 * size {
		toks = append(toks, issueAndCache(t, m, fmt.Sprintf("t%d", i)))
		if n := tokens.CacheLen(m); n > size {
			t.Fatalf("cache holds %d tokens, more than its size %d", n, size)
		}
	}
	for i := range 10 * size {
		mustFail(t, m, "t0", fmt.Sprintf("Bearer scim_random%d", i))
		mustFail(t, m, "t0", fmt.Sprintf("Bearer scimat_random%d", i))
	}
	if n := tokens.CacheLen(m); n != size {
		t.Errorf("cache holds %d tokens, want %d", n, size)
	}
	for i, tok := range toks {
		if _, err := m.Verify(ctx, fmt.Sprintf("t%d", i), "Bearer "+tok); err != nil {
			t.Errorf("token %d after eviction: %v", i, err)
		}
	}
}

// TestVerifyConcurrently runs Verify from several goroutines while tokens
// are issued and revoked, for the race detector, and checks that a token is
// refused once Revoke has returned.
func TestVerifyConcurrently(t *testing.T) {
	m, _, c := setupCounting(t)
	ctx := context.Background()
	tok := issueAndCache(t, m, "acme")
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				m.Verify(ctx, "acme", "Bearer "+tok)
				c.advance(time.Millisecond)
			}
		})
	}
	for range 20 {
		iss, err := m.Issue(ctx, "acme", tokens.IssueOptions{Overlap: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.Verify(ctx, "acme", "Bearer "+iss.Token); err != nil {
			t.Errorf("new token: %v", err)
		}
		if _, err := m.Revoke(ctx, "acme"); err != nil {
			t.Fatal(err)
		}
		if _, err := m.Verify(ctx, "acme", "Bearer "+iss.Token); reason(err) != tokens.Revoked {
			t.Errorf("token after Revoke returned: %v, want revoked", err)
		}
	}
	close(stop)
	wg.Wait()
}

// stalling is the real store whose Token, once armed, returns the record
// it read only when released.
type stalling struct {
	*store.Badger
	armed   atomic.Bool
	read    chan struct{}
	release chan struct{}
}

func (s *stalling) Token(ctx context.Context, h []byte) (*tokens.Record, error) {
	rec, err := s.Badger.Token(ctx, h)
	if s.armed.CompareAndSwap(true, false) {
		close(s.read)
		<-s.release
	}
	return rec, err
}

// TestInFlightLookupIsNotCached checks that a record read before a Revoke
// and returned after it is not kept: the next request reads the store.
func TestInFlightLookupIsNotCached(t *testing.T) {
	st, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	p := &stalling{Badger: st, read: make(chan struct{}), release: make(chan struct{})}
	m := tokens.NewManager(p, nil)
	ctx := context.Background()
	iss, err := m.Issue(ctx, "acme", tokens.IssueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.armed.Store(true)
	done := make(chan error)
	go func() {
		_, err := m.Verify(ctx, "acme", "Bearer "+iss.Token)
		done <- err
	}()
	<-p.read
	if _, err := m.Revoke(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	close(p.release)
	if err := <-done; err != nil {
		t.Fatalf("the request in flight during Revoke: %v", err)
	}
	if err := mustFail(t, m, "acme", "Bearer "+iss.Token); reason(err) != tokens.Revoked {
		t.Errorf("after Revoke: %v, want revoked", err)
	}
}
