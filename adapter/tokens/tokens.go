// Package tokens issues, verifies and rotates the bearer tokens identity
// providers present to a tenant's SCIM base, and keeps each tenant's access
// state: when its IdP last called, when it last changed something, and the
// warnings an operator should see.
//
// Only a SHA-256 hash of a token is ever stored. A token is shown once, when
// it is issued. Regenerating revokes the tenant's previous tokens, at once or
// after an overlap window during which both work, so an IdP can be switched
// to the new token without a failed sync. Revoke ends every token of a
// tenant at once, overlap or not: the answer to a leaked token.
//
// A tenant may also have an OAuth 2.0 client (RFC 6749 §4.4, see oauth.go)
// whose short-lived access tokens Verify accepts alongside those tokens.
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
	"strings"
	"sync"
	"time"
)

// Defaults.
const (
	// DefaultValidity is how long a token is valid: one year, as the
	// reference products do.
	DefaultValidity = 365 * 24 * time.Hour
	// ExpiryWarning is how long before expiry status starts warning.
	ExpiryWarning = 14 * 24 * time.Hour
	// IdleWarning is how long without an IdP request before status warns.
	IdleWarning = 60 * 24 * time.Hour
	// prefix starts every token, so that a leaked one is easy to recognise
	// in a secret scanner.
	prefix = "scim_"
)

// Record is what is stored of a token. It never holds the token itself.
type Record struct {
	// ID names the token in status output and logs without revealing it:
	// the first 12 hex digits of its hash.
	ID string `json:"id"`
	// Tenant is the only tenant the token is valid for.
	Tenant string `json:"tenant"`
	// Hash is the SHA-256 of the token.
	Hash []byte `json:"hash"`
	// IssuedAt is when the token was generated.
	IssuedAt time.Time `json:"issued_at"`
	// ExpiresAt is when the token stops being valid.
	ExpiresAt time.Time `json:"expires_at"`
	// RevokedAt, when set, is when the token stopped (or, during a
	// rotation overlap, will stop) being accepted.
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	// RevokedByOperator is true when Revoke ended the token, rather than
	// a newer token replacing it.
	RevokedByOperator bool `json:"revoked_by_operator,omitempty"`
}

// acceptedUntil is when r stops being accepted: its revocation or its
// expiry, whichever comes first.
func (r Record) acceptedUntil() time.Time {
	if !r.RevokedAt.IsZero() && r.RevokedAt.Before(r.ExpiresAt) {
		return r.RevokedAt
	}
	return r.ExpiresAt
}

// accepted reports whether r is accepted at t.
func (r Record) accepted(t time.Time) bool {
	return t.Before(r.acceptedUntil())
}

// Access is a tenant's access state.
type Access struct {
	// LastRequest is the time of the IdP's most recent authenticated
	// request.
	LastRequest time.Time `json:"last_request,omitzero"`
	// LastChange is the time of the IdP's most recent accepted write.
	LastChange time.Time `json:"last_change,omitzero"`
}

// Latest returns a with each time replaced by b's where b's is later: what
// a store keeps when it saves b over a, so that stored times only move
// forward.
func (a Access) Latest(b Access) Access {
	if b.LastRequest.After(a.LastRequest) {
		a.LastRequest = b.LastRequest
	}
	if b.LastChange.After(a.LastChange) {
		a.LastChange = b.LastChange
	}
	return a
}

func (a Access) merge(b Access) Access {
	if b.LastRequest.After(a.LastRequest) {
		a.LastRequest = b.LastRequest
	}
	if b.LastChange.After(a.LastChange) {
		a.LastChange = b.LastChange
	}
	return a
}

// Persistence stores token records and access state.
type Persistence interface {
	// SaveTokens writes the records in one transaction.
	SaveTokens(ctx context.Context, recs []Record) error
	// Token returns the record with the given hash, or nil when there is
	// none.
	Token(ctx context.Context, hash []byte) (*Record, error)
	// TenantTokens returns every record of a tenant.
	TenantTokens(ctx context.Context, tenant string) ([]Record, error)
	// SaveAccess writes the access state of several tenants.
	SaveAccess(ctx context.Context, access map[string]Access) error
	// Access returns a tenant's stored access state.
	Access(ctx context.Context, tenant string) (Access, error)
}

// Manager issues and verifies tokens and tracks access. Access times are
// kept in memory and written by Flush, so a request never costs a disk
// write. Verify answers a token it has seen from memory (see cache.go), so
// a repeated request costs no store read either; every change of a token
// record must therefore go through the Manager, or be followed by
// Invalidate.
type Manager struct {
	p     Persistence
	now   func() time.Time
	cache *cache

	issue sync.Mutex

	mu      sync.Mutex
	pending map[string]Access
	known   map[string]Access
}

// NewManager returns a Manager over p. now is the clock; nil means
// time.Now.
func NewManager(p Persistence, now func() time.Time) *Manager {
	if now == nil {
		now = time.Now
	}
	return &Manager{p: p, now: now, cache: newCache(DefaultCacheSize), pending: map[string]Access{}, known: map[string]Access{}}
}

// Invalidate forgets what Verify remembers of tenant's tokens, so that the
// next request reads them from the store. The Manager's own changes do this
// themselves; anything else that changes or removes a tenant's token
// records or OAuth client, or stops its tokens working (disabling or
// purging the tenant), must call it once the change is stored.
func (m *Manager) Invalidate(tenant string) {
	m.cache.invalidate(tenant)
}

// InvalidateAll is Invalidate for every tenant: for when changes made
// elsewhere may have been missed, such as after the connection that
// reports them was lost.
func (m *Manager) InvalidateAll() {
	m.cache.clear()
}

// Forget drops everything the Manager holds in memory for tenant: what
// Verify remembers of its tokens and its access times not yet written, so
// that a purged tenant's times are not written back after its data is
// gone. Call it once the tenant's records are deleted.
func (m *Manager) Forget(tenant string) {
	m.cache.invalidate(tenant)
	m.mu.Lock()
	delete(m.pending, tenant)
	delete(m.known, tenant)
	m.mu.Unlock()
}

// Hash returns the SHA-256 of a token.
func Hash(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// IssueOptions tune Issue.
type IssueOptions struct {
	// Validity is how long the new token is valid; DefaultValidity when 0.
	Validity time.Duration
	// Overlap keeps the tenant's previous tokens working this long after
	// the new one is issued; 0 revokes them at once.
	Overlap time.Duration
	// IfNoneValid refuses, with an *ExistsError, to issue a token while
	// the tenant has one that is accepted: a first token may be generated
	// freely, replacing one must be asked for.
	IfNoneValid bool
}

// Issued is a newly generated token. Token is the only copy of the secret.
type Issued struct {
	Token  string
	Record Record
	// Previous are the tenant's earlier tokens that were accepted when
	// this one was issued, and when each stops being accepted.
	Previous []Ended
}

// Ended is an accepted token that Issue or Revoke brought to an end.
type Ended struct {
	// ID names the token, as in Record.
	ID string
	// Until is when the token stops being accepted: the time of the call
	// when it was revoked at once, else the end of the rotation overlap
	// (or its expiry, if that comes first).
	Until time.Time
}

// ExistsError is Issue's answer, with IfNoneValid, when the tenant already
// has an accepted token.
type ExistsError struct {
	// Token is the newest of the tenant's accepted tokens.
	Token Record
}

func (e *ExistsError) Error() string {
	return fmt.Sprintf("tenant %s already has a valid token (id %s, expires %s)",
		e.Token.Tenant, e.Token.ID, e.Token.ExpiresAt.UTC().Format(time.RFC3339))
}

// Issue generates a token for tenant and revokes the tenant's earlier
// tokens, now or at the end of opts.Overlap. With opts.IfNoneValid it
// issues nothing while the tenant has an accepted token.
func (m *Manager) Issue(ctx context.Context, tenant string, opts IssueOptions) (*Issued, error) {
	if tenant == "" {
		return nil, errors.New("issuing token: empty tenant")
	}
	if opts.Validity <= 0 {
		opts.Validity = DefaultValidity
	}
	if opts.Overlap < 0 {
		opts.Overlap = 0
	}
	var secret [32]byte
	if _, err := rand.Read(secret[:]); err != nil {
		return nil, fmt.Errorf("issuing token: %w", err)
	}
	token := prefix + base64.RawURLEncoding.EncodeToString(secret[:])
	h := Hash(token)
	now := m.now().UTC()
	rec := Record{
		ID:        hex.EncodeToString(h[:6]),
		Tenant:    tenant,
		Hash:      h,
		IssuedAt:  now,
		ExpiresAt: now.Add(opts.Validity),
	}
	m.issue.Lock()
	defer m.issue.Unlock()
	old, err := m.p.TenantTokens(ctx, tenant)
	if err != nil {
		return nil, fmt.Errorf("issuing token for tenant %s: %w", tenant, err)
	}
	if opts.IfNoneValid {
		var newest *Record
		for i, o := range old {
			if o.accepted(now) && (newest == nil || o.IssuedAt.After(newest.IssuedAt)) {
				newest = &old[i]
			}
		}
		if newest != nil {
			return nil, &ExistsError{Token: *newest}
		}
	}
	recs := []Record{rec}
	var previous []Ended
	cutoff := now.Add(opts.Overlap)
	for _, o := range old {
		wasAccepted := o.accepted(now)
		if o.RevokedAt.IsZero() || o.RevokedAt.After(cutoff) {
			o.RevokedAt = cutoff
			recs = append(recs, o)
		} // else already revoked no later than this rotation would
		if wasAccepted {
			previous = append(previous, Ended{ID: o.ID, Until: o.acceptedUntil()})
		}
	}
	err = m.p.SaveTokens(ctx, recs)
	// Even after an error: the transaction may have been committed.
	m.cache.invalidate(tenant)
	if err != nil {
		return nil, fmt.Errorf("issuing token for tenant %s: %w", tenant, err)
	}
	sortEnded(previous)
	return &Issued{Token: token, Record: rec, Previous: previous}, nil
}

// Revoke ends every accepted token of tenant at once, including those a
// rotation overlap still accepts, and returns them. A tenant without an
// accepted token is no error: nothing is changed.
func (m *Manager) Revoke(ctx context.Context, tenant string) ([]Ended, error) {
	if tenant == "" {
		return nil, errors.New("revoking tokens: empty tenant")
	}
	m.issue.Lock()
	defer m.issue.Unlock()
	old, err := m.p.TenantTokens(ctx, tenant)
	if err != nil {
		return nil, fmt.Errorf("revoking tokens of tenant %s: %w", tenant, err)
	}
	now := m.now().UTC()
	var recs []Record
	var ended []Ended
	for _, o := range old {
		if !o.accepted(now) {
			continue
		}
		o.RevokedAt = now
		o.RevokedByOperator = true
		recs = append(recs, o)
		ended = append(ended, Ended{ID: o.ID, Until: now})
	}
	if len(recs) == 0 {
		return nil, nil
	}
	err = m.p.SaveTokens(ctx, recs)
	m.cache.invalidate(tenant)
	if err != nil {
		return nil, fmt.Errorf("revoking tokens of tenant %s: %w", tenant, err)
	}
	sortEnded(ended)
	return ended, nil
}

func sortEnded(e []Ended) {
	sort.Slice(e, func(i, j int) bool { return e[i].ID < e[j].ID })
}

// Reason says why a request was not authenticated.
type Reason int

// Reasons for an AuthError.
const (
	Missing Reason = iota + 1
	Invalid
	Revoked
	Expired
)

// AuthError is a failed authentication. Its message is safe to show to
// the client: it never contains the token, and it says nothing about other
// tenants.
type AuthError struct {
	Reason Reason
	// At is when the token was revoked or expired, when known.
	At time.Time
	// AccessToken is true when the token was an OAuth access token.
	AccessToken bool
	// ByOperator is true when an operator revoked the token, rather than
	// a newer token replacing it.
	ByOperator bool
}

func (e *AuthError) Error() string {
	switch {
	case e.AccessToken && e.Reason == Expired:
		return "the access token expired; request a new one from the token endpoint"
	case e.AccessToken && e.Reason == Revoked:
		return "the client secret that obtained this access token was revoked; request a new access token with a current client secret"
	}
	switch e.Reason {
	case Missing:
		return "a bearer token is required: send the header Authorization: Bearer <token>"
	case Revoked:
		if e.ByOperator {
			return fmt.Sprintf("this token was revoked on %s; enter a newly generated token in the IdP", e.At.UTC().Format(time.RFC3339))
		}
		return fmt.Sprintf("this token was replaced by a newer one and stopped working on %s; update the IdP with the newest token", e.At.UTC().Format(time.RFC3339))
	case Expired:
		return fmt.Sprintf("this token expired on %s; regenerate it and update the IdP", e.At.UTC().Format(time.RFC3339))
	}
	return "the bearer token is not valid for this tenant; copy the token generated for this Tenant URL into the IdP"
}

// BearerToken extracts the token of an Authorization header value
// ("Bearer <token>", scheme case-insensitive).
func BearerToken(header string) (string, bool) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// Verify checks the token presented in an Authorization header for
// tenant. It returns the token's record, an *AuthError, or an internal
// error. The lookup is by hash, so its time does not depend on how much of
// the secret a guess got right.
//
// An OAuth access token (RFC 6750 §2.1) is accepted too, while it has not
// expired and the client secret that obtained it is still active; its
// record then describes the access token.
//
// A token whose record Verify has read before is answered from memory,
// without reading the store; revocation and expiry are still checked
// against the clock.
func (m *Manager) Verify(ctx context.Context, tenant, authorization string) (*Record, error) {
	tok, ok := BearerToken(authorization)
	if !ok {
		return nil, &AuthError{Reason: Missing}
	}
	if len(tok) > 512 {
		return nil, &AuthError{Reason: Invalid}
	}
	h := sha256.Sum256([]byte(tok))
	e, gen := m.cache.get(h)
	if e == nil {
		var err error
		if strings.HasPrefix(tok, accessPrefix) {
			e, err = m.lookupAccess(ctx, h[:])
		} else {
			e, err = m.lookup(ctx, h[:])
		}
		if err != nil {
			return nil, err
		}
		if e == nil {
			return nil, &AuthError{Reason: Invalid}
		}
		m.cache.put(h, e, gen)
	}
	if e.tenant != tenant {
		return nil, &AuthError{Reason: Invalid}
	}
	if e.at != nil {
		return m.checkAccess(e)
	}
	return m.check(e.rec)
}

// lookup reads the record of a long-lived token with hash h from the
// store; it returns nil when there is none.
func (m *Manager) lookup(ctx context.Context, h []byte) (*cached, error) {
	rec, err := m.p.Token(ctx, h)
	if err != nil {
		return nil, fmt.Errorf("looking up token: %w", err)
	}
	if rec == nil || subtle.ConstantTimeCompare(rec.Hash, h) != 1 {
		return nil, nil
	}
	return &cached{tenant: rec.Tenant, rec: rec}, nil
}

// check decides on a long-lived token's record at the current time.
func (m *Manager) check(rec *Record) (*Record, error) {
	now := m.now()
	if !rec.RevokedAt.IsZero() && !now.Before(rec.RevokedAt) {
		return nil, &AuthError{Reason: Revoked, At: rec.RevokedAt, ByOperator: rec.RevokedByOperator}
	}
	if !now.Before(rec.ExpiresAt) {
		return nil, &AuthError{Reason: Expired, At: rec.ExpiresAt}
	}
	r := *rec
	return &r, nil
}

// Touch records an authenticated request of tenant, and a change when
// changed is true, in memory. Flush writes it.
func (m *Manager) Touch(tenant string, changed bool) {
	now := m.now().UTC()
	a := Access{LastRequest: now}
	if changed {
		a.LastChange = now
	}
	m.mu.Lock()
	m.pending[tenant] = m.pending[tenant].merge(a)
	m.known[tenant] = m.known[tenant].merge(a)
	m.mu.Unlock()
}

// Flush writes the access times recorded since the last Flush.
func (m *Manager) Flush(ctx context.Context) error {
	m.mu.Lock()
	pending := m.pending
	m.pending = map[string]Access{}
	m.mu.Unlock()
	if len(pending) == 0 {
		return nil
	}
	if err := m.p.SaveAccess(ctx, pending); err != nil {
		// Keep them for the next Flush.
		m.mu.Lock()
		for t, a := range pending {
			m.pending[t] = m.pending[t].merge(a)
		}
		m.mu.Unlock()
		return fmt.Errorf("saving access times: %w", err)
	}
	return nil
}

// TokenInfo describes one token in a status report.
type TokenInfo struct {
	ID        string     `json:"id"`
	IssuedAt  time.Time  `json:"issued_at"`
	ExpiresAt time.Time  `json:"expires_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// Warning is something an operator should act on.
type Warning struct {
	// Code is stable, for scripts: token_missing, token_expired,
	// token_expiring, never_used, idle.
	Code string `json:"code"`
	// Message says what is wrong and what to do.
	Message string `json:"message"`
}

// Status is a tenant's token and access state.
type Status struct {
	Tenant string `json:"tenant"`
	// Token is the tenant's newest token, if any.
	Token *TokenInfo `json:"token,omitempty"`
	// Overlapping are older tokens still accepted during a rotation.
	Overlapping []TokenInfo `json:"overlapping,omitempty"`
	// LastRequest and LastChange are the IdP's most recent request and
	// accepted change.
	LastRequest *time.Time `json:"last_request,omitempty"`
	LastChange  *time.Time `json:"last_change,omitempty"`
	Warnings    []Warning  `json:"warnings"`
}

// Status reports a tenant's state. It never creates or changes a token.
func (m *Manager) Status(ctx context.Context, tenant string) (*Status, error) {
	recs, err := m.p.TenantTokens(ctx, tenant)
	if err != nil {
		return nil, fmt.Errorf("reading tokens of tenant %s: %w", tenant, err)
	}
	stored, err := m.p.Access(ctx, tenant)
	if err != nil {
		return nil, fmt.Errorf("reading access of tenant %s: %w", tenant, err)
	}
	m.mu.Lock()
	acc := stored.merge(m.known[tenant])
	m.mu.Unlock()

	now := m.now().UTC()
	st := &Status{Tenant: tenant, Warnings: []Warning{}}
	sort.Slice(recs, func(i, j int) bool { return recs[i].IssuedAt.After(recs[j].IssuedAt) })
	for i, r := range recs {
		info := TokenInfo{ID: r.ID, IssuedAt: r.IssuedAt, ExpiresAt: r.ExpiresAt}
		if !r.RevokedAt.IsZero() {
			t := r.RevokedAt
			info.RevokedAt = &t
		}
		switch {
		case i == 0:
			st.Token = &info
		case info.RevokedAt != nil && now.Before(*info.RevokedAt) && now.Before(r.ExpiresAt):
			st.Overlapping = append(st.Overlapping, info)
		}
	}
	if !acc.LastRequest.IsZero() {
		t := acc.LastRequest
		st.LastRequest = &t
	}
	if !acc.LastChange.IsZero() {
		t := acc.LastChange
		st.LastChange = &t
	}
	day := func(t time.Time) string { return t.UTC().Format("2006-01-02") }
	switch tok := st.Token; {
	case tok == nil:
		st.Warnings = append(st.Warnings, Warning{"token_missing", "no token has been generated; generate one and enter it in the IdP"})
	case tok.RevokedAt != nil && !now.Before(*tok.RevokedAt):
		st.Warnings = append(st.Warnings, Warning{"token_expired", "the token was revoked on " + day(*tok.RevokedAt) + "; generate a new one and update the IdP"})
	case !now.Before(tok.ExpiresAt):
		st.Warnings = append(st.Warnings, Warning{"token_expired", "the token expired on " + day(tok.ExpiresAt) + "; regenerate it and update the IdP"})
	case tok.ExpiresAt.Sub(now) <= ExpiryWarning:
		st.Warnings = append(st.Warnings, Warning{"token_expiring", "the token expires on " + day(tok.ExpiresAt) + "; regenerate it and update the IdP before then"})
	}
	switch {
	case st.Token != nil && st.LastRequest == nil:
		st.Warnings = append(st.Warnings, Warning{"never_used", "no IdP has used this tenant yet; check the Tenant URL and token in the IdP"})
	case st.LastRequest != nil && now.Sub(*st.LastRequest) > IdleWarning:
		st.Warnings = append(st.Warnings, Warning{"idle", "no update from the IdP since " + day(*st.LastRequest) + " (over 60 days); check that provisioning is running"})
	}
	return st, nil
}
