package tokens_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/adapter/store"
	"github.com/caddy-scim/caddy-scim/adapter/tokens"
)

// clientRecording is the real store, keeping every byte it is asked to
// store of clients and access tokens, to prove no secret is among them.
type clientRecording struct {
	*store.Badger
	saved []byte
}

func (r *clientRecording) SaveClient(ctx context.Context, c *tokens.Client) error {
	b, _ := json.Marshal(c)
	r.saved = append(r.saved, b...)
	return r.Badger.SaveClient(ctx, c)
}

func (r *clientRecording) SaveAccessToken(ctx context.Context, c *tokens.Client, t tokens.AccessToken) error {
	b, _ := json.Marshal([]any{c, t})
	r.saved = append(r.saved, b...)
	return r.Badger.SaveAccessToken(ctx, c, t)
}

func setupClients(t *testing.T) (*tokens.Manager, *clientRecording, *clock) {
	t.Helper()
	st, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	rec := &clientRecording{Badger: st}
	c := &clock{t: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)}
	return tokens.NewManager(rec, c.now), rec, c
}

func TestClientSecretLifecycle(t *testing.T) {
	m, rec, c := setupClients(t)
	ctx := context.Background()

	if info, err := m.ClientStatus(ctx, "acme"); err != nil || info != nil {
		t.Fatalf("status before any secret: %+v, %v", info, err)
	}
	first, err := m.AddClientSecret(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(first.Secret, "scimcs_") || len(first.Secret) < 40 || first.ClientID == "" {
		t.Fatalf("secret %q / client %q has the wrong shape", first.Secret, first.ClientID)
	}
	c.advance(time.Minute)
	second, err := m.AddClientSecret(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if second.ClientID != first.ClientID || second.SecretID == first.SecretID || second.Secret == first.Secret {
		t.Fatalf("second secret: %+v vs %+v", second, first)
	}

	// Both secrets work at once.
	at1, err := m.IssueAccessToken(ctx, "acme", first.ClientID, first.Secret, 0)
	if err != nil {
		t.Fatalf("first secret: %v", err)
	}
	at2, err := m.IssueAccessToken(ctx, "acme", second.ClientID, second.Secret, 0)
	if err != nil {
		t.Fatalf("second secret: %v", err)
	}
	if got := at1.Record.ExpiresAt.Sub(at1.Record.IssuedAt); got != tokens.DefaultAccessTokenLifetime {
		t.Errorf("lifetime %v, want an hour", got)
	}
	if !strings.HasPrefix(at1.Token, "scimat_") || at1.Record.SecretID != first.SecretID {
		t.Errorf("access token %+v", at1.Record)
	}
	for _, at := range []*tokens.IssuedAccessToken{at1, at2} {
		if _, err := m.Verify(ctx, "acme", "Bearer "+at.Token); err != nil {
			t.Fatalf("access token: %v", err)
		}
	}

	info, err := m.ClientStatus(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if info.ClientID != first.ClientID || len(info.Secrets) != 2 || info.Secrets[0].ID != first.SecretID || info.Secrets[0].LastUsed == nil {
		t.Fatalf("status: %+v", info)
	}

	// Revoking the first secret stops it and its access tokens; the
	// second secret and its tokens keep working.
	if err := m.RevokeClientSecret(ctx, "acme", first.SecretID); err != nil {
		t.Fatal(err)
	}
	if err := m.RevokeClientSecret(ctx, "acme", first.SecretID); !errors.Is(err, tokens.ErrNoSecret) {
		t.Errorf("revoking twice: %v", err)
	}
	_, err = m.Verify(ctx, "acme", "Bearer "+at1.Token)
	if reason(err) != tokens.Revoked || !strings.Contains(err.Error(), "revoked") {
		t.Errorf("token of the revoked secret: %v", err)
	}
	if _, err := m.IssueAccessToken(ctx, "acme", first.ClientID, first.Secret, 0); !errors.Is(err, tokens.ErrInvalidClient) {
		t.Errorf("revoked secret: %v", err)
	}
	if _, err := m.Verify(ctx, "acme", "Bearer "+at2.Token); err != nil {
		t.Errorf("token of the other secret: %v", err)
	}
	if _, err := m.IssueAccessToken(ctx, "acme", second.ClientID, second.Secret, 0); err != nil {
		t.Errorf("other secret: %v", err)
	}

	// Nothing secret was stored.
	for _, s := range []string{first.Secret, second.Secret, at1.Token, at2.Token} {
		if strings.Contains(string(rec.saved), s) || strings.Contains(string(rec.saved), s[strings.Index(s, "_")+1:]) {
			t.Fatal("a secret or access token was stored")
		}
	}
	if len(rec.saved) == 0 {
		t.Fatal("nothing recorded")
	}
}

func TestAccessTokenExpiry(t *testing.T) {
	m, _, c := setupClients(t)
	ctx := context.Background()
	s, err := m.AddClientSecret(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	at, err := m.IssueAccessToken(ctx, "acme", s.ClientID, s.Secret, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	c.advance(10*time.Minute - time.Second)
	if _, err := m.Verify(ctx, "acme", "Bearer "+at.Token); err != nil {
		t.Fatalf("just before expiry: %v", err)
	}
	c.advance(time.Second)
	_, err = m.Verify(ctx, "acme", "Bearer "+at.Token)
	if reason(err) != tokens.Expired || err.Error() != "the access token expired; request a new one from the token endpoint" {
		t.Fatalf("at expiry: %v", err)
	}
	// The secret itself does not expire.
	if _, err := m.IssueAccessToken(ctx, "acme", s.ClientID, s.Secret, 0); err != nil {
		t.Errorf("new token after expiry: %v", err)
	}
}

func TestClientAuthenticationFailures(t *testing.T) {
	m, _, _ := setupClients(t)
	ctx := context.Background()
	acme, err := m.AddClientSecret(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	globex, err := m.AddClientSecret(ctx, "globex")
	if err != nil {
		t.Fatal(err)
	}
	// A guess that shares all but the last character of the secret fails
	// the same way as one that shares nothing: the comparison is of
	// hashes, in constant time.
	near := acme.Secret[:len(acme.Secret)-1] + "A"
	if near == acme.Secret {
		near = acme.Secret[:len(acme.Secret)-1] + "B"
	}
	tests := []struct {
		name, tenant, client, secret string
	}{
		{"wrong secret", "acme", acme.ClientID, "scimcs_wrong"},
		{"almost right secret", "acme", acme.ClientID, near},
		{"empty secret", "acme", acme.ClientID, ""},
		{"unknown client", "acme", "scimc_nobody", acme.Secret},
		{"empty client", "acme", "", acme.Secret},
		{"other tenant's client", "acme", globex.ClientID, globex.Secret},
		{"own client at other tenant", "globex", acme.ClientID, acme.Secret},
		{"tenant without client", "initech", acme.ClientID, acme.Secret},
		{"oversized secret", "acme", acme.ClientID, strings.Repeat("x", 4096)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := m.IssueAccessToken(ctx, tt.tenant, tt.client, tt.secret, 0)
			if !errors.Is(err, tokens.ErrInvalidClient) {
				t.Fatalf("err = %v, want ErrInvalidClient", err)
			}
			if strings.Contains(err.Error(), tt.secret) && tt.secret != "" {
				t.Errorf("error %q echoes the secret", err)
			}
		})
	}

	// An access token is valid for its own tenant only.
	at, err := m.IssueAccessToken(ctx, "acme", acme.ClientID, acme.Secret, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Verify(ctx, "globex", "Bearer "+at.Token); reason(err) != tokens.Invalid {
		t.Errorf("acme's access token at globex: %v", err)
	}
	if _, err := m.Verify(ctx, "acme", "Bearer scimat_forged"); reason(err) != tokens.Invalid {
		t.Errorf("forged access token: %v", err)
	}
}

func TestClientSecretLimit(t *testing.T) {
	m, _, _ := setupClients(t)
	ctx := context.Background()
	for i := 0; i < tokens.MaxClientSecrets; i++ {
		if _, err := m.AddClientSecret(ctx, "acme"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := m.AddClientSecret(ctx, "acme"); !errors.Is(err, tokens.ErrTooManySecrets) {
		t.Fatalf("one secret too many: %v", err)
	}
}

func TestClientsNeedClientPersistence(t *testing.T) {
	m, _, _, _ := setup(t) // its persistence wrapper offers no clients
	if _, err := m.AddClientSecret(context.Background(), "acme"); err == nil {
		t.Fatal("AddClientSecret without client persistence succeeded")
	}
	if _, err := m.Verify(context.Background(), "acme", "Bearer scimat_x"); reason(err) != tokens.Invalid {
		t.Errorf("access token without client persistence: %v", err)
	}
}
