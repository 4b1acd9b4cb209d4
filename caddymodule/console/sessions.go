package console

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddy-scim/caddy-scim/adapter/tenants"
)

// Lifetimes and limits of what Sessions keeps.
const (
	// SessionLifetime is how long a console session lasts after sign-in.
	SessionLifetime = 8 * time.Hour
	// MaxLinkTTL is the longest a sign-in link may be valid.
	MaxLinkTTL = 24 * time.Hour
	// nonceLifetime is how long a rendered Generate/Regenerate form stays
	// usable.
	nonceLifetime = SessionLifetime
	// noncesPerPrincipal caps the forms one signed-in user may have open;
	// the oldest is forgotten first.
	noncesPerPrincipal = 64
	// flashLifetime is how long a message waits for the page a POST
	// redirects to.
	flashLifetime = 5 * time.Minute
	// flashesPerPrincipal caps the messages waiting for one signed-in
	// user; the oldest is forgotten first.
	flashesPerPrincipal = 64
	// linkMemory is how long a link is remembered after it expired.
	linkMemory = 24 * time.Hour
	// sweepEvery is how often expired records are dropped.
	sweepEvery = time.Minute
)

// Kinds of the records Sessions keeps.
const (
	kindLink    = "link"
	kindSession = "session"
	kindNonce   = "nonce"
	kindFlash   = "flash"
)

// csrfKeyName names the secret that signs the CSRF tokens of users the
// server's own authentication identified.
const csrfKeyName = "console_csrf_key"

// linkTimeout bounds NewLink, which has no context of its own.
const linkTimeout = 10 * time.Second

// linkState says what became of a sign-in link.
type linkState int

const (
	linkValid linkState = iota
	linkUnknown
	linkUsed
	linkExpired
)

// Sessions keeps the console's sign-in links, console sessions, the
// single-use nonces of token forms and the messages a redirect carries to
// the next page, in a Backing. It is safe for concurrent use; link
// secrets, session ids, nonces and message ids are kept only as SHA-256
// hashes. Instances whose Sessions share one Backing share all of it: a
// link minted on one works on another, a session cookie is valid on each,
// a nonce or a message is used once among them all.
type Sessions struct {
	now func() time.Time
	// store is the backing and the key in use; Share replaces them.
	store atomic.Pointer[sessionStore]

	mu        sync.Mutex
	lastSweep time.Time
}

type link struct {
	tenant   string
	operator bool
}

type session struct {
	tenant   string
	operator bool
	expires  time.Time
	csrf     string
}

// record is what Sessions keeps under a hash, as JSON: whom a link or a
// session signs in, a nonce's tenant, or a message.
type record struct {
	Tenant   string `json:"tenant,omitempty"`
	Operator bool   `json:"operator,omitempty"`
	// CSRF is a session's form token.
	CSRF  string `json:"csrf,omitempty"`
	Flash *flash `json:"flash,omitempty"`
}

// NewSessions returns an empty Sessions of this process alone, in memory,
// using now as its clock (nil: time.Now). Its CSRF key is random.
func NewSessions(now func() time.Time) *Sessions {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		panic(fmt.Sprintf("reading random bytes: %v", err))
	}
	return newSessions(newMemBacking(), key, now)
}

// NewSharedSessions returns a Sessions that keeps everything in b, which
// several instances share, using now as its clock (nil: time.Now). It
// reads the CSRF key from b, where the first instance to start created
// it.
func NewSharedSessions(ctx context.Context, b Backing, now func() time.Time) (*Sessions, error) {
	key, err := b.Key(ctx, csrfKeyName)
	if err != nil {
		return nil, fmt.Errorf("reading the console's CSRF key: %w", err)
	}
	if len(key) < 32 {
		return nil, fmt.Errorf("the console's CSRF key has %d bytes, want 32", len(key))
	}
	return newSessions(b, key, now), nil
}

// sessionStore is where a Sessions keeps its records, and the key that
// signs the CSRF tokens of users identified by the server's own
// authentication.
type sessionStore struct {
	b   Backing
	key []byte
}

func newSessions(b Backing, key []byte, now func() time.Time) *Sessions {
	if now == nil {
		now = time.Now
	}
	s := &Sessions{now: now}
	s.store.Store(&sessionStore{b: b, key: key})
	return s
}

// Share moves s onto b, which several instances share, reading the CSRF
// key from it as NewSharedSessions does: for a Sessions handed out before
// the shared store was open. What s kept before is dropped; links and
// sessions made since are kept in b.
func (s *Sessions) Share(ctx context.Context, b Backing) error {
	shared, err := NewSharedSessions(ctx, b, s.now)
	if err != nil {
		return err
	}
	s.store.Store(shared.store.Load())
	return nil
}

// backing is the Backing in use.
func (s *Sessions) backing() Backing { return s.store.Load().b }

// NewLink is NewLinkContext with a context that ends after linkTimeout.
func (s *Sessions) NewLink(tenant string, operator bool, ttl time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), linkTimeout)
	defer cancel()
	return s.NewLinkContext(ctx, tenant, operator, ttl)
}

// NewLinkContext mints a single-use sign-in link secret, valid for ttl
// (at most MaxLinkTTL), for an admin of tenant (operator false) or for an
// operator (tenant "", operator true). Only the secret's SHA-256 is kept;
// the caller hands the secret, usually as SigninURL, to the person it is
// for.
func (s *Sessions) NewLinkContext(ctx context.Context, tenant string, operator bool, ttl time.Duration) (string, error) {
	switch {
	case operator && tenant != "":
		return "", errors.New("an operator's sign-in link names no tenant")
	case !operator:
		if err := tenants.CheckName(tenant); err != nil {
			return "", err
		}
	}
	if ttl <= 0 || ttl > MaxLinkTTL {
		return "", fmt.Errorf("a sign-in link is valid for more than 0 and at most %s, not %s", MaxLinkTTL, ttl)
	}
	secret, err := randomString()
	if err != nil {
		return "", err
	}
	if err := s.sweep(ctx); err != nil {
		return "", err
	}
	if err := s.put(ctx, kindLink, secret, "", record{Tenant: tenant, Operator: operator}, s.now().Add(ttl)); err != nil {
		return "", fmt.Errorf("keeping a sign-in link: %w", err)
	}
	return secret, nil
}

// SigninURL is the address a sign-in link secret is used at: the console's
// sign-in page under prefix on origin (e.g. "https://scim.example.com"),
// with the secret in the query parameter "link". Opening it shows a Sign in
// button; only pressing it uses the link up, so a mail scanner that
// fetches the address does not spend it.
func SigninURL(origin, prefix, secret string) string {
	return strings.TrimSuffix(origin, "/") + cleanPrefix(prefix) + "/signin?" + url.Values{"link": {secret}}.Encode()
}

// peekLink says what a link secret is worth without using it up; the link
// is returned when it is known.
func (s *Sessions) peekLink(ctx context.Context, secret string) (linkState, *link, error) {
	return s.linkState(ctx, secret, s.now())
}

func (s *Sessions) linkState(ctx context.Context, secret string, now time.Time) (linkState, *link, error) {
	if secret == "" {
		return linkUnknown, nil, nil
	}
	h := hash(secret)
	b, expires, used, found, err := s.backing().Get(ctx, kindLink, h[:])
	if err != nil {
		return linkUnknown, nil, fmt.Errorf("reading a sign-in link: %w", err)
	}
	if !found {
		return linkUnknown, nil, nil
	}
	r, err := decodeRecord(b)
	if err != nil {
		return linkUnknown, nil, err
	}
	l := &link{tenant: r.Tenant, operator: r.Operator}
	switch {
	case used:
		return linkUsed, l, nil
	case !now.Before(expires):
		return linkExpired, l, nil
	}
	return linkValid, l, nil
}

// redeem uses a link up and starts a console session for whom it names.
// It returns the new session's id, to be set as the cookie, and the
// session. Of several requests redeeming one link at once, on any
// instances, one starts a session; the others find the link used.
func (s *Sessions) redeem(ctx context.Context, secret string) (linkState, string, *session, error) {
	if err := s.sweep(ctx); err != nil {
		return linkUnknown, "", nil, err
	}
	now := s.now()
	state, l, err := s.linkState(ctx, secret, now)
	if err != nil || state != linkValid {
		return state, "", nil, err
	}
	id, err := randomString()
	if err != nil {
		return linkUnknown, "", nil, err
	}
	csrf, err := randomString()
	if err != nil {
		return linkUnknown, "", nil, err
	}
	// The session is kept before the link is spent, so that a failure in
	// between leaves the link usable rather than spent for nothing.
	sess := &session{tenant: l.tenant, operator: l.operator, expires: now.Add(SessionLifetime), csrf: csrf}
	rec := record{Tenant: sess.tenant, Operator: sess.operator, CSRF: csrf}
	if err := s.put(ctx, kindSession, id, "", rec, sess.expires); err != nil {
		return linkUnknown, "", nil, fmt.Errorf("keeping a console session: %w", err)
	}
	lh := hash(secret)
	won, err := s.backing().Use(ctx, kindLink, lh[:], now)
	if err == nil && won {
		return linkValid, id, sess, nil
	}
	// The session's id never left this function: a row the delete misses
	// is unreachable and goes with the next sweep.
	ih := hash(id)
	_, _, _, _ = s.backing().Take(ctx, kindSession, ih[:], "")
	if err != nil {
		return linkUnknown, "", nil, fmt.Errorf("using a sign-in link: %w", err)
	}
	state, _, err = s.linkState(ctx, secret, now)
	if state == linkValid {
		// Use refused what Get found valid: another request holds it.
		state = linkUsed
	}
	return state, "", nil, err
}

// session returns the live session with the id, or nil.
func (s *Sessions) session(ctx context.Context, id string) (*session, error) {
	if id == "" {
		return nil, nil
	}
	h := hash(id)
	b, expires, _, found, err := s.backing().Get(ctx, kindSession, h[:])
	if err != nil {
		return nil, fmt.Errorf("reading a console session: %w", err)
	}
	if !found {
		return nil, nil
	}
	if !s.now().Before(expires) {
		if _, _, _, err := s.backing().Take(ctx, kindSession, h[:], ""); err != nil {
			return nil, fmt.Errorf("dropping an expired console session: %w", err)
		}
		return nil, nil
	}
	r, err := decodeRecord(b)
	if err != nil {
		return nil, err
	}
	return &session{tenant: r.Tenant, operator: r.Operator, expires: expires, csrf: r.CSRF}, nil
}

// end ends a session and forgets what it kept.
func (s *Sessions) end(ctx context.Context, id string) error {
	h := hash(id)
	if _, _, _, err := s.backing().Take(ctx, kindSession, h[:], ""); err != nil {
		return fmt.Errorf("ending a console session: %w", err)
	}
	if err := s.backing().Trim(ctx, kindNonce, sessionKey(id), 0); err != nil {
		return fmt.Errorf("dropping the form nonces of a console session: %w", err)
	}
	return nil
}

// sessionKey is the principal key of a console session: the hash of its
// id, never the id.
func sessionKey(id string) string {
	h := hash(id)
	return "s:" + hex.EncodeToString(h[:])
}

// identityKey is the principal key of a user the server's own
// authentication identified.
func identityKey(tenant string, operator bool) string {
	return "i:" + strconv.FormatBool(operator) + ":" + tenant
}

// identityCSRF is the CSRF token of a user the server's own authentication
// identified: an HMAC of the identity with the Sessions' key.
func (s *Sessions) identityCSRF(tenant string, operator bool) string {
	m := hmac.New(sha256.New, s.store.Load().key)
	m.Write([]byte("csrf\x00" + identityKey(tenant, operator)))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// newNonce returns a single-use nonce for a token form of tenant, kept for
// the principal.
func (s *Sessions) newNonce(ctx context.Context, principal, tenant string) (string, error) {
	n, err := randomString()
	if err != nil {
		return "", err
	}
	if err := s.sweep(ctx); err != nil {
		return "", err
	}
	if err := s.put(ctx, kindNonce, n, principal, record{Tenant: tenant}, s.now().Add(nonceLifetime)); err != nil {
		return "", fmt.Errorf("keeping a form nonce: %w", err)
	}
	if err := s.backing().Trim(ctx, kindNonce, principal, noncesPerPrincipal); err != nil {
		return "", fmt.Errorf("dropping old form nonces: %w", err)
	}
	return n, nil
}

// useNonce consumes a nonce of the principal for tenant; false when it is
// unknown, used, expired or another tenant's.
func (s *Sessions) useNonce(ctx context.Context, principal, tenant, n string) (bool, error) {
	if n == "" {
		return false, nil
	}
	h := hash(n)
	b, expires, found, err := s.backing().Take(ctx, kindNonce, h[:], principal)
	if err != nil {
		return false, fmt.Errorf("using a form nonce: %w", err)
	}
	if !found {
		return false, nil
	}
	r, err := decodeRecord(b)
	if err != nil {
		return false, err
	}
	return r.Tenant == tenant && s.now().Before(expires), nil
}

// putFlash keeps a message for the principal's next page and returns the
// id the redirect carries.
func (s *Sessions) putFlash(ctx context.Context, principal string, f flash) (string, error) {
	id, err := randomString()
	if err != nil {
		return "", err
	}
	if err := s.sweep(ctx); err != nil {
		return "", err
	}
	if err := s.put(ctx, kindFlash, id, principal, record{Flash: &f}, s.now().Add(flashLifetime)); err != nil {
		return "", fmt.Errorf("keeping a message for the next page: %w", err)
	}
	if err := s.backing().Trim(ctx, kindFlash, principal, flashesPerPrincipal); err != nil {
		return "", fmt.Errorf("dropping old messages: %w", err)
	}
	return id, nil
}

// takeFlash returns and forgets the principal's message with the id.
func (s *Sessions) takeFlash(ctx context.Context, principal, id string) (*flash, error) {
	if id == "" {
		return nil, nil
	}
	h := hash(id)
	b, expires, found, err := s.backing().Take(ctx, kindFlash, h[:], principal)
	if err != nil {
		return nil, fmt.Errorf("reading the message for this page: %w", err)
	}
	if !found || !s.now().Before(expires) {
		return nil, nil
	}
	r, err := decodeRecord(b)
	if err != nil {
		return nil, err
	}
	return r.Flash, nil
}

// put keeps r under the hash of secret.
func (s *Sessions) put(ctx context.Context, kind, secret, owner string, r record, expires time.Time) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	h := hash(secret)
	return s.backing().Put(ctx, kind, h[:], owner, b, expires)
}

func decodeRecord(b []byte) (record, error) {
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		return record{}, fmt.Errorf("decoding a console record: %w", err)
	}
	return r, nil
}

// sweep drops expired records, at most once per sweepEvery.
func (s *Sessions) sweep(ctx context.Context) error {
	now := s.now()
	s.mu.Lock()
	due := now.Sub(s.lastSweep) >= sweepEvery || now.Before(s.lastSweep)
	if due {
		s.lastSweep = now
	}
	s.mu.Unlock()
	if !due {
		return nil
	}
	for _, k := range []struct {
		kind string
		by   time.Time
	}{
		// Spent and expired links are kept a while longer, so that using
		// one again is told what became of it.
		{kindLink, now.Add(-linkMemory)},
		{kindSession, now},
		{kindNonce, now},
		{kindFlash, now},
	} {
		if err := s.backing().Sweep(ctx, k.kind, k.by); err != nil {
			return fmt.Errorf("dropping expired console records: %w", err)
		}
	}
	return nil
}

// randomString returns 256 random bits, base64url-encoded.
func randomString() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("reading random bytes: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func hash(s string) [32]byte { return sha256.Sum256([]byte(s)) }

// cleanPrefix returns prefix with one leading slash and no trailing one;
// "" and "/" become "".
func cleanPrefix(prefix string) string {
	prefix = strings.Trim(prefix, "/")
	if prefix == "" {
		return ""
	}
	return "/" + prefix
}
