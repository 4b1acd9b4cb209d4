package tokens

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"time"
)

// OAuth 2.0 client credentials (RFC 6749 §4.4).
//
// Each tenant may have one OAuth client: a random, non-secret client id and
// up to MaxClientSecrets active client secrets, so a secret can be rotated
// by adding a new one, updating the IdP, and revoking the old one. A client
// exchanges its id and a secret for a short-lived access token at the
// tenant's token endpoint; the access token is then presented as a bearer
// token (RFC 6750) alongside the long-lived tokens of Issue.
//
// Secrets and access tokens are random 256-bit values. Only their SHA-256
// hashes are stored. An access token's stored record names the secret that
// issued it, and Verify checks that the secret is still active, so revoking
// a secret revokes its access tokens at once.

// Defaults for OAuth clients.
const (
	// DefaultAccessTokenLifetime is how long an access token is valid.
	DefaultAccessTokenLifetime = time.Hour
	// MaxClientSecrets is how many secrets a client may have at once.
	MaxClientSecrets = 5
	// secretPrefix starts every client secret and accessPrefix every
	// access token, so that a leaked one is easy to recognise.
	secretPrefix = "scimcs_"
	accessPrefix = "scimat_"
	clientPrefix = "scimc_"
)

// Client is what is stored of a tenant's OAuth client. It never holds a
// secret itself.
type Client struct {
	// Tenant is the only tenant the client can obtain tokens for.
	Tenant string `json:"tenant"`
	// ID is the client identifier (RFC 6749 §2.2). It is not secret.
	ID string `json:"id"`
	// CreatedAt is when the client was created.
	CreatedAt time.Time `json:"created_at"`
	// Secrets are the client's active secrets. A revoked secret is
	// removed.
	Secrets []ClientSecret `json:"secrets"`
}

// ClientSecret is what is stored of one client secret.
type ClientSecret struct {
	// ID names the secret in status output and logs without revealing it:
	// the first 12 hex digits of its hash.
	ID string `json:"id"`
	// Hash is the SHA-256 of the secret.
	Hash []byte `json:"hash"`
	// CreatedAt is when the secret was generated.
	CreatedAt time.Time `json:"created_at"`
	// LastUsed is when the secret last obtained an access token.
	LastUsed time.Time `json:"last_used,omitzero"`
}

// AccessToken is what is stored of an access token. It never holds the
// token itself.
type AccessToken struct {
	// Hash is the SHA-256 of the token.
	Hash []byte `json:"hash"`
	// Tenant is the only tenant the token is valid for.
	Tenant string `json:"tenant"`
	// ClientID and SecretID name the client and the secret that obtained
	// the token; the token stops working when that secret is revoked.
	ClientID string `json:"client_id"`
	SecretID string `json:"secret_id"`
	// IssuedAt is when the token was issued.
	IssuedAt time.Time `json:"issued_at"`
	// ExpiresAt is when the token stops being valid.
	ExpiresAt time.Time `json:"expires_at"`
}

// ClientPersistence stores OAuth clients and access tokens. A Persistence
// that also implements it enables the OAuth methods of Manager.
type ClientPersistence interface {
	// SaveClient writes a tenant's client record.
	SaveClient(ctx context.Context, c *Client) error
	// Client returns a tenant's client record, or nil when it has none.
	Client(ctx context.Context, tenant string) (*Client, error)
	// SaveAccessToken writes the client record c (with its secrets' last
	// use) and the access token t in one transaction. The store may drop
	// the token's record some time after t.ExpiresAt.
	SaveAccessToken(ctx context.Context, c *Client, t AccessToken) error
	// AccessToken returns the access token record with the given hash, or
	// nil when there is none.
	AccessToken(ctx context.Context, hash []byte) (*AccessToken, error)
}

// ErrInvalidClient is returned by IssueAccessToken when client
// authentication fails: an unknown client id, a wrong or revoked secret, or
// another tenant's client. Which of these it was is deliberately not said
// (RFC 6749 §5.2 invalid_client).
var ErrInvalidClient = errors.New("client authentication failed")

// ErrNoSecret is returned by RevokeClientSecret for a secret id the
// tenant's client does not have.
var ErrNoSecret = errors.New("no such client secret")

// ErrTooManySecrets is returned by AddClientSecret when the client already
// has MaxClientSecrets active secrets.
var ErrTooManySecrets = fmt.Errorf("a client has at most %d active secrets; revoke one first", MaxClientSecrets)

func (m *Manager) clients() (ClientPersistence, error) {
	cp, ok := m.p.(ClientPersistence)
	if !ok {
		return nil, errors.New("the token storage does not support OAuth clients")
	}
	return cp, nil
}

// randomString returns prefix followed by 256 random bits, base64url.
func randomString(prefix string) (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// IssuedSecret is a newly generated client secret. Secret is the only copy.
type IssuedSecret struct {
	ClientID  string
	SecretID  string
	Secret    string
	CreatedAt time.Time
}

// AddClientSecret generates a new secret for the tenant's client, creating
// the client on first use. The tenant's other secrets stay active.
func (m *Manager) AddClientSecret(ctx context.Context, tenant string) (*IssuedSecret, error) {
	if tenant == "" {
		return nil, errors.New("adding client secret: empty tenant")
	}
	cp, err := m.clients()
	if err != nil {
		return nil, err
	}
	secret, err := randomString(secretPrefix)
	if err != nil {
		return nil, fmt.Errorf("adding client secret: %w", err)
	}
	m.issue.Lock()
	defer m.issue.Unlock()
	c, err := cp.Client(ctx, tenant)
	if err != nil {
		return nil, fmt.Errorf("reading OAuth client of tenant %s: %w", tenant, err)
	}
	now := m.now().UTC()
	if c == nil {
		var id [16]byte
		if _, err := rand.Read(id[:]); err != nil {
			return nil, fmt.Errorf("creating OAuth client: %w", err)
		}
		c = &Client{Tenant: tenant, ID: clientPrefix + hex.EncodeToString(id[:]), CreatedAt: now}
	}
	if len(c.Secrets) >= MaxClientSecrets {
		return nil, ErrTooManySecrets
	}
	h := Hash(secret)
	s := ClientSecret{ID: hex.EncodeToString(h[:6]), Hash: h, CreatedAt: now}
	c.Secrets = append(c.Secrets, s)
	err = cp.SaveClient(ctx, c)
	m.cache.invalidate(tenant)
	if err != nil {
		return nil, fmt.Errorf("saving OAuth client of tenant %s: %w", tenant, err)
	}
	return &IssuedSecret{ClientID: c.ID, SecretID: s.ID, Secret: secret, CreatedAt: now}, nil
}

// RevokeClientSecret removes one secret of the tenant's client. Access
// tokens it obtained stop working at once. It returns ErrNoSecret when the
// client has no secret with that id.
func (m *Manager) RevokeClientSecret(ctx context.Context, tenant, secretID string) error {
	cp, err := m.clients()
	if err != nil {
		return err
	}
	m.issue.Lock()
	defer m.issue.Unlock()
	c, err := cp.Client(ctx, tenant)
	if err != nil {
		return fmt.Errorf("reading OAuth client of tenant %s: %w", tenant, err)
	}
	if c == nil {
		return ErrNoSecret
	}
	kept := c.Secrets[:0:0]
	for _, s := range c.Secrets {
		if s.ID != secretID {
			kept = append(kept, s)
		}
	}
	if len(kept) == len(c.Secrets) {
		return ErrNoSecret
	}
	c.Secrets = kept
	err = cp.SaveClient(ctx, c)
	// The secret's access tokens stop at once, cached or not.
	m.cache.invalidate(tenant)
	if err != nil {
		return fmt.Errorf("saving OAuth client of tenant %s: %w", tenant, err)
	}
	return nil
}

// SecretInfo describes one client secret in a status report.
type SecretInfo struct {
	ID        string     `json:"id"`
	CreatedAt time.Time  `json:"created_at"`
	LastUsed  *time.Time `json:"last_used,omitempty"`
}

// ClientInfo is a tenant's OAuth client in a status report. It never holds
// a secret.
type ClientInfo struct {
	ClientID  string       `json:"client_id"`
	CreatedAt time.Time    `json:"created_at"`
	Secrets   []SecretInfo `json:"secrets"`
}

// ClientStatus describes the tenant's OAuth client, or returns nil when the
// tenant has none. It never creates a client or a secret.
func (m *Manager) ClientStatus(ctx context.Context, tenant string) (*ClientInfo, error) {
	cp, err := m.clients()
	if err != nil {
		return nil, err
	}
	c, err := cp.Client(ctx, tenant)
	if err != nil {
		return nil, fmt.Errorf("reading OAuth client of tenant %s: %w", tenant, err)
	}
	if c == nil {
		return nil, nil
	}
	info := &ClientInfo{ClientID: c.ID, CreatedAt: c.CreatedAt, Secrets: []SecretInfo{}}
	for _, s := range c.Secrets {
		si := SecretInfo{ID: s.ID, CreatedAt: s.CreatedAt}
		if !s.LastUsed.IsZero() {
			t := s.LastUsed
			si.LastUsed = &t
		}
		info.Secrets = append(info.Secrets, si)
	}
	sort.SliceStable(info.Secrets, func(i, j int) bool { return info.Secrets[i].CreatedAt.Before(info.Secrets[j].CreatedAt) })
	return info, nil
}

// IssuedAccessToken is a newly issued access token. Token is the only copy.
type IssuedAccessToken struct {
	Token  string
	Record AccessToken
}

// unknownHash is compared against when a tenant has no client, so that a
// failed authentication costs the same whether or not the client exists.
var unknownHash = sha256.Sum256([]byte("no client"))

// IssueAccessToken authenticates a client of tenant by its id and secret
// and issues an access token valid for lifetime (DefaultAccessTokenLifetime
// when 0), as the token endpoint does for the client credentials grant
// (RFC 6749 §4.4.2, §4.4.3). It returns ErrInvalidClient when
// authentication fails.
//
// The secret is checked by its hash against every active secret of the
// client with constant-time comparisons and no early exit, and the client
// id by a constant-time comparison, so the time taken does not reveal how
// much of either a guess got right.
func (m *Manager) IssueAccessToken(ctx context.Context, tenant, clientID, secret string, lifetime time.Duration) (*IssuedAccessToken, error) {
	cp, err := m.clients()
	if err != nil {
		return nil, err
	}
	if lifetime <= 0 {
		lifetime = DefaultAccessTokenLifetime
	}
	h := Hash(secret)
	m.issue.Lock()
	defer m.issue.Unlock()
	c, err := cp.Client(ctx, tenant)
	if err != nil {
		return nil, fmt.Errorf("reading OAuth client of tenant %s: %w", tenant, err)
	}
	if c == nil || c.Tenant != tenant {
		subtle.ConstantTimeCompare(unknownHash[:], h)
		return nil, ErrInvalidClient
	}
	idOK := subtle.ConstantTimeCompare([]byte(c.ID), []byte(clientID))
	match := -1
	for i, s := range c.Secrets {
		if subtle.ConstantTimeCompare(s.Hash, h) == 1 {
			match = i
		}
	}
	if idOK != 1 || match < 0 || len(secret) > 512 {
		return nil, ErrInvalidClient
	}
	token, err := randomString(accessPrefix)
	if err != nil {
		return nil, fmt.Errorf("issuing access token: %w", err)
	}
	now := m.now().UTC()
	rec := AccessToken{
		Hash:      Hash(token),
		Tenant:    tenant,
		ClientID:  c.ID,
		SecretID:  c.Secrets[match].ID,
		IssuedAt:  now,
		ExpiresAt: now.Add(lifetime),
	}
	c.Secrets[match].LastUsed = now
	if err := cp.SaveAccessToken(ctx, c, rec); err != nil {
		return nil, fmt.Errorf("saving access token of tenant %s: %w", tenant, err)
	}
	return &IssuedAccessToken{Token: token, Record: rec}, nil
}

// lookupAccess reads the record of an OAuth access token with hash h from
// the store, and whether the client secret that obtained it is active; it
// returns nil when there is no such token.
func (m *Manager) lookupAccess(ctx context.Context, h []byte) (*cached, error) {
	cp, ok := m.p.(ClientPersistence)
	if !ok {
		return nil, nil
	}
	at, err := cp.AccessToken(ctx, h)
	if err != nil {
		return nil, fmt.Errorf("looking up access token: %w", err)
	}
	if at == nil || subtle.ConstantTimeCompare(at.Hash, h) != 1 {
		return nil, nil
	}
	// The entry serves every tenant's requests, so whether the secret is
	// active is decided for the token's own tenant, not the one asked
	// about.
	e := &cached{tenant: at.Tenant, at: at}
	c, err := cp.Client(ctx, at.Tenant)
	if err != nil {
		return nil, fmt.Errorf("looking up OAuth client: %w", err)
	}
	if c != nil && c.ID == at.ClientID {
		for _, s := range c.Secrets {
			if s.ID == at.SecretID {
				e.active = true
			}
		}
	}
	return e, nil
}

// checkAccess decides on an OAuth access token at the current time.
func (m *Manager) checkAccess(e *cached) (*Record, error) {
	at := e.at
	if !m.now().Before(at.ExpiresAt) {
		return nil, &AuthError{Reason: Expired, At: at.ExpiresAt, AccessToken: true}
	}
	if !e.active {
		return nil, &AuthError{Reason: Revoked, AccessToken: true}
	}
	return &Record{
		ID:        hex.EncodeToString(at.Hash[:6]),
		Tenant:    at.Tenant,
		Hash:      at.Hash,
		IssuedAt:  at.IssuedAt,
		ExpiresAt: at.ExpiresAt,
	}, nil
}
