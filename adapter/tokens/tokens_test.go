package tokens_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/adapter/store"
	"github.com/caddy-scim/caddy-scim/adapter/tokens"
)

// recording wraps the real persistence and keeps every byte it is asked to
// store, to prove that no token is among them.
type recording struct {
	tokens.Persistence
	saved       []byte
	accessSaves atomic.Int64
}

func (r *recording) SaveTokens(ctx context.Context, recs []tokens.Record) error {
	b, _ := json.Marshal(recs)
	r.saved = append(r.saved, b...)
	return r.Persistence.SaveTokens(ctx, recs)
}

func (r *recording) SaveAccess(ctx context.Context, a map[string]tokens.Access) error {
	r.accessSaves.Add(1)
	return r.Persistence.SaveAccess(ctx, a)
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func setup(t *testing.T) (*tokens.Manager, *recording, *clock, *store.Badger) {
	t.Helper()
	st, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	rec := &recording{Persistence: st}
	c := &clock{t: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)}
	return tokens.NewManager(rec, c.now), rec, c, st
}

func reason(err error) tokens.Reason {
	var ae *tokens.AuthError
	if errors.As(err, &ae) {
		return ae.Reason
	}
	return 0
}

func TestIssueAndVerify(t *testing.T) {
	m, rec, c, _ := setup(t)
	ctx := context.Background()
	iss, err := m.Issue(ctx, "acme", tokens.IssueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(iss.Token, "scim_") || len(iss.Token) < 40 {
		t.Errorf("token %q has the wrong shape", iss.Token)
	}
	if got := iss.Record.ExpiresAt.Sub(iss.Record.IssuedAt); got != tokens.DefaultValidity {
		t.Errorf("validity %v, want one year", got)
	}
	if strings.Contains(string(rec.saved), iss.Token) || strings.Contains(string(rec.saved), strings.TrimPrefix(iss.Token, "scim_")) {
		t.Fatal("the token itself was stored")
	}
	if _, err := m.Verify(ctx, "acme", "Bearer "+iss.Token); err != nil {
		t.Fatalf("fresh token: %v", err)
	}
	if _, err := m.Verify(ctx, "acme", "bearer  "+iss.Token+" "); err != nil {
		t.Errorf("scheme is case-insensitive: %v", err)
	}
	for _, h := range []string{"", "Basic dXNlcjpwYXNz", "Bearer", "Bearer "} {
		if r := reason(mustFail(t, m, "acme", h)); r != tokens.Missing {
			t.Errorf("header %q: reason %d, want Missing", h, r)
		}
	}
	for _, h := range []string{"Bearer scim_nope", "Bearer " + iss.Token + "x", "Bearer " + strings.Repeat("a", 5000)} {
		if r := reason(mustFail(t, m, "acme", h)); r != tokens.Invalid {
			t.Errorf("header %.30q: reason %d, want Invalid", h, r)
		}
	}
	// Tenant isolation: the message is the same as for an unknown token.
	err = mustFail(t, m, "globex", "Bearer "+iss.Token)
	if reason(err) != tokens.Invalid || err.Error() != mustFail(t, m, "globex", "Bearer scim_nope").Error() {
		t.Errorf("other tenant: %v", err)
	}
	if strings.Contains(err.Error(), "acme") {
		t.Error("the error names the token's own tenant")
	}
	// Expiry.
	c.advance(tokens.DefaultValidity)
	err = mustFail(t, m, "acme", "Bearer "+iss.Token)
	if reason(err) != tokens.Expired || !strings.Contains(err.Error(), "expired on 2027-01-01T12:00:00Z") {
		t.Errorf("expired: %v", err)
	}
}

func mustFail(t *testing.T, m *tokens.Manager, tenant, header string) error {
	t.Helper()
	_, err := m.Verify(context.Background(), tenant, header)
	if err == nil {
		t.Fatalf("Verify(%q, %.30q) succeeded", tenant, header)
	}
	if strings.Contains(err.Error(), strings.TrimPrefix(header, "Bearer ")) && len(header) > 10 {
		t.Fatalf("error echoes the token: %v", err)
	}
	return err
}

func TestRotation(t *testing.T) {
	m, _, c, _ := setup(t)
	ctx := context.Background()
	first, _ := m.Issue(ctx, "acme", tokens.IssueOptions{})
	c.advance(time.Hour)
	second, err := m.Issue(ctx, "acme", tokens.IssueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	err = mustFail(t, m, "acme", "Bearer "+first.Token)
	if reason(err) != tokens.Revoked || !strings.Contains(err.Error(), "newest token") {
		t.Errorf("old token after regenerate: %v", err)
	}
	if _, err := m.Verify(ctx, "acme", "Bearer "+second.Token); err != nil {
		t.Fatal(err)
	}

	// With an overlap both work until it ends, then only the new one.
	c.advance(time.Hour)
	third, _ := m.Issue(ctx, "acme", tokens.IssueOptions{Overlap: 24 * time.Hour})
	c.advance(23 * time.Hour)
	for _, tok := range []string{second.Token, third.Token} {
		if _, err := m.Verify(ctx, "acme", "Bearer "+tok); err != nil {
			t.Errorf("inside the overlap: %v", err)
		}
	}
	if _, err := m.Verify(ctx, "acme", "Bearer "+first.Token); reason(err) != tokens.Revoked {
		t.Errorf("a rotation must not revive a revoked token: %v", err)
	}
	st, _ := m.Status(ctx, "acme")
	if st.Token.ID != third.Record.ID || len(st.Overlapping) != 1 || st.Overlapping[0].ID != second.Record.ID {
		t.Errorf("status during overlap: %+v", st)
	}
	c.advance(time.Hour)
	if _, err := m.Verify(ctx, "acme", "Bearer "+second.Token); reason(err) != tokens.Revoked {
		t.Errorf("after the overlap: %v", err)
	}
	if _, err := m.Verify(ctx, "acme", "Bearer "+third.Token); err != nil {
		t.Error(err)
	}
	// Regenerating another tenant's token touches nothing here.
	if _, err := m.Issue(ctx, "globex", tokens.IssueOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Verify(ctx, "acme", "Bearer "+third.Token); err != nil {
		t.Error(err)
	}
}

func codes(st *tokens.Status) string {
	var out []string
	for _, w := range st.Warnings {
		out = append(out, w.Code)
	}
	return strings.Join(out, ",")
}

func TestStatusWarnings(t *testing.T) {
	m, rec, c, st := setup(t)
	ctx := context.Background()
	s, _ := m.Status(ctx, "acme")
	if codes(s) != "token_missing" || s.Token != nil {
		t.Errorf("before any token: %s", codes(s))
	}
	if n, _ := st.TenantTokens(ctx, "acme"); len(n) != 0 {
		t.Fatal("viewing status created a token")
	}
	if _, err := m.Issue(ctx, "acme", tokens.IssueOptions{Validity: 30 * 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	s, _ = m.Status(ctx, "acme")
	if codes(s) != "never_used" {
		t.Errorf("unused: %s", codes(s))
	}
	m.Touch("acme", false)
	if rec.accessSaves.Load() != 0 {
		t.Fatal("Touch wrote to disk")
	}
	s, _ = m.Status(ctx, "acme")
	if codes(s) != "" || s.LastRequest == nil || s.LastChange != nil {
		t.Errorf("used: %s %+v", codes(s), s)
	}
	c.advance(15 * 24 * time.Hour) // 15 days left
	m.Touch("acme", true)
	if s, _ = m.Status(ctx, "acme"); codes(s) != "" || s.LastChange == nil {
		t.Errorf("15 days left: %s", codes(s))
	}
	c.advance(24*time.Hour + time.Second) // just under 14 days left
	if s, _ = m.Status(ctx, "acme"); codes(s) != "token_expiring" {
		t.Errorf("14 days left: %s", codes(s))
	}
	c.advance(14 * 24 * time.Hour)
	if s, _ = m.Status(ctx, "acme"); codes(s) != "token_expired" {
		t.Errorf("expired: %s", codes(s))
	}
	if _, err := m.Issue(ctx, "acme", tokens.IssueOptions{}); err != nil {
		t.Fatal(err)
	}
	c.advance(59 * 24 * time.Hour) // last request was 74 days ago
	if s, _ = m.Status(ctx, "acme"); codes(s) != "idle" {
		t.Errorf("idle: %s", codes(s))
	}
	m.Touch("acme", false)
	if s, _ = m.Status(ctx, "acme"); codes(s) != "" {
		t.Errorf("after a request: %s", codes(s))
	}
}

func TestAccessIsFlushedAndSurvivesRestart(t *testing.T) {
	m, rec, c, st := setup(t)
	ctx := context.Background()
	for i := 0; i < 100; i++ {
		m.Touch("acme", i == 50)
	}
	when := c.t
	c.advance(time.Minute)
	if err := m.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := rec.accessSaves.Load(); n != 1 {
		t.Errorf("%d writes for 100 requests and two flushes, want 1", n)
	}
	fresh := tokens.NewManager(st, c.now)
	s, err := fresh.Status(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if s.LastRequest == nil || !s.LastRequest.Equal(when) || s.LastChange == nil || !s.LastChange.Equal(when) {
		t.Errorf("after restart: %+v", s)
	}
	// An older flush never moves the stored times back.
	if err := st.SaveAccess(ctx, map[string]tokens.Access{"acme": {LastRequest: when.Add(-time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	if a, _ := st.Access(ctx, "acme"); !a.LastRequest.Equal(when) {
		t.Errorf("stored time moved back to %v", a.LastRequest)
	}
}

func TestRevoke(t *testing.T) {
	m, rec, c, _ := setup(t)
	ctx := context.Background()
	if ended, err := m.Revoke(ctx, "acme"); err != nil || len(ended) != 0 {
		t.Fatalf("revoking a tenant without tokens: %v %v", ended, err)
	}
	first, _ := m.Issue(ctx, "acme", tokens.IssueOptions{})
	c.advance(time.Hour)
	// A rotation with an overlap leaves the leaked first token working.
	second, _ := m.Issue(ctx, "acme", tokens.IssueOptions{Overlap: 24 * time.Hour})
	other, _ := m.Issue(ctx, "globex", tokens.IssueOptions{})
	c.advance(time.Minute)
	if _, err := m.Verify(ctx, "acme", "Bearer "+first.Token); err != nil {
		t.Fatalf("inside the overlap: %v", err)
	}
	saved := len(rec.saved)
	ended, err := m.Revoke(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if len(ended) != 2 {
		t.Fatalf("revoked %d tokens, want both: %+v", len(ended), ended)
	}
	for _, e := range ended {
		if !e.Until.Equal(c.t) {
			t.Errorf("token %s ends %v, want now (%v)", e.ID, e.Until, c.t)
		}
		if e.ID != first.Record.ID && e.ID != second.Record.ID {
			t.Errorf("unexpected token %s", e.ID)
		}
	}
	if strings.Contains(string(rec.saved[saved:]), first.Token) || strings.Contains(string(rec.saved[saved:]), second.Token) {
		t.Fatal("revoking stored a token")
	}
	for _, tok := range []string{first.Token, second.Token} {
		err := mustFail(t, m, "acme", "Bearer "+tok)
		if reason(err) != tokens.Revoked || !strings.Contains(err.Error(), "was revoked on 2026-01-01T13:01:00Z") {
			t.Errorf("after revoke: %v", err)
		}
	}
	if _, err := m.Verify(ctx, "globex", "Bearer "+other.Token); err != nil {
		t.Errorf("revoking acme touched globex: %v", err)
	}
	st, _ := m.Status(ctx, "acme")
	if codes(st) != "token_expired,never_used" || len(st.Overlapping) != 0 || !strings.Contains(st.Warnings[0].Message, "revoked on 2026-01-01") {
		t.Errorf("status after revoke: %s %+v", codes(st), st)
	}
	// Revoking again changes nothing; the tenant can have a new token,
	// without being asked to confirm a replacement, and it works.
	if ended, err := m.Revoke(ctx, "acme"); err != nil || len(ended) != 0 {
		t.Errorf("second revoke: %v %v", ended, err)
	}
	c.advance(time.Minute)
	third, err := m.Issue(ctx, "acme", tokens.IssueOptions{IfNoneValid: true, Overlap: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if len(third.Previous) != 0 {
		t.Errorf("revoked tokens reported as previous: %+v", third.Previous)
	}
	if _, err := m.Verify(ctx, "acme", "Bearer "+third.Token); err != nil {
		t.Error(err)
	}
	if _, err := m.Verify(ctx, "acme", "Bearer "+first.Token); reason(err) != tokens.Revoked {
		t.Errorf("a new token revived a revoked one: %v", err)
	}
}

func TestIssueReportsPrevious(t *testing.T) {
	m, _, c, _ := setup(t)
	ctx := context.Background()
	first, err := m.Issue(ctx, "acme", tokens.IssueOptions{IfNoneValid: true})
	if err != nil || len(first.Previous) != 0 {
		t.Fatalf("first token: %+v %v", first, err)
	}
	c.advance(time.Hour)

	// A token is not replaced unless that is asked for.
	_, err = m.Issue(ctx, "acme", tokens.IssueOptions{IfNoneValid: true})
	var exists *tokens.ExistsError
	if !errors.As(err, &exists) || exists.Token.ID != first.Record.ID || !strings.Contains(err.Error(), first.Record.ID) {
		t.Fatalf("second token without replacing: %v", err)
	}
	if strings.Contains(err.Error(), first.Token) {
		t.Fatal("the error echoes the token")
	}
	if _, err := m.Verify(ctx, "acme", "Bearer "+first.Token); err != nil {
		t.Fatalf("a refused issue revoked the token: %v", err)
	}

	// Without an overlap the previous token ends now.
	second, err := m.Issue(ctx, "acme", tokens.IssueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(second.Previous) != 1 || second.Previous[0].ID != first.Record.ID || !second.Previous[0].Until.Equal(c.t) {
		t.Errorf("previous without overlap: %+v", second.Previous)
	}

	// With one it is accepted until the overlap ends.
	c.advance(time.Hour)
	third, _ := m.Issue(ctx, "acme", tokens.IssueOptions{Overlap: 24 * time.Hour})
	if len(third.Previous) != 1 || third.Previous[0].ID != second.Record.ID || !third.Previous[0].Until.Equal(c.t.Add(24*time.Hour)) {
		t.Errorf("previous with overlap: %+v", third.Previous)
	}
	// Regenerating inside the overlap: the second keeps its earlier end,
	// and the third's overlap is shorter still than its expiry.
	c.advance(time.Hour)
	fourth, _ := m.Issue(ctx, "acme", tokens.IssueOptions{Overlap: 48 * time.Hour})
	want := map[string]time.Time{second.Record.ID: c.t.Add(23 * time.Hour), third.Record.ID: c.t.Add(48 * time.Hour)}
	if len(fourth.Previous) != 2 {
		t.Fatalf("previous during an overlap: %+v", fourth.Previous)
	}
	for _, p := range fourth.Previous {
		if !p.Until.Equal(want[p.ID]) {
			t.Errorf("token %s accepted until %v, want %v", p.ID, p.Until, want[p.ID])
		}
	}

	// An overlap longer than the old token's life ends at its expiry.
	short, _ := m.Issue(ctx, "globex", tokens.IssueOptions{Validity: time.Hour})
	next, _ := m.Issue(ctx, "globex", tokens.IssueOptions{Overlap: 24 * time.Hour})
	if len(next.Previous) != 1 || !next.Previous[0].Until.Equal(short.Record.ExpiresAt) {
		t.Errorf("previous that expires inside the overlap: %+v", next.Previous)
	}
	// An expired token is no reason to refuse.
	if _, err := m.Issue(ctx, "initech", tokens.IssueOptions{Validity: time.Hour}); err != nil {
		t.Fatal(err)
	}
	c.advance(time.Hour)
	if _, err := m.Issue(ctx, "initech", tokens.IssueOptions{IfNoneValid: true}); err != nil {
		t.Errorf("replacing an expired token: %v", err)
	}
}

func TestAccessLatest(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	a := tokens.Access{LastRequest: t0.Add(time.Hour), LastChange: t0}
	got := a.Latest(tokens.Access{LastRequest: t0, LastChange: t0.Add(2 * time.Hour)})
	if !got.LastRequest.Equal(t0.Add(time.Hour)) || !got.LastChange.Equal(t0.Add(2*time.Hour)) {
		t.Fatalf("Latest = %+v", got)
	}
	if got := a.Latest(tokens.Access{}); got != a {
		t.Fatalf("Latest of zero times = %+v, want %+v", got, a)
	}
}
