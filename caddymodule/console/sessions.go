package console

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
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
	// maxFlashes caps the waiting messages of all users together.
	maxFlashes = 10000
	// linkMemory is how long a link is remembered after it expired.
	linkMemory = 24 * time.Hour
	// sweepEvery is how often expired entries are dropped.
	sweepEvery = time.Minute
)

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
// the next page. It is in memory and safe for concurrent use; link
// secrets and session ids are kept only as SHA-256 hashes. One Sessions
// serves one server: a link minted by another server's process is
// unknown here.
type Sessions struct {
	now func() time.Time
	// key signs the CSRF tokens of users identified by the server's own
	// authentication; it is random per process.
	key []byte

	mu        sync.Mutex
	links     map[[32]byte]*link
	sessions  map[[32]byte]*session
	nonces    map[string][]nonce // by principal key
	flashes   map[[32]byte]*flashEntry
	lastSweep time.Time
}

type link struct {
	tenant   string
	operator bool
	expires  time.Time
	used     bool
}

type session struct {
	tenant   string
	operator bool
	expires  time.Time
	csrf     string
}

type nonce struct {
	hash    [32]byte
	tenant  string
	expires time.Time
}

type flashEntry struct {
	principal string
	expires   time.Time
	flash     flash
}

// NewSessions returns an empty Sessions using now as its clock (nil:
// time.Now).
func NewSessions(now func() time.Time) *Sessions {
	if now == nil {
		now = time.Now
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		panic(fmt.Sprintf("reading random bytes: %v", err))
	}
	return &Sessions{
		now:      now,
		key:      key,
		links:    make(map[[32]byte]*link),
		sessions: make(map[[32]byte]*session),
		nonces:   make(map[string][]nonce),
		flashes:  make(map[[32]byte]*flashEntry),
	}
}

// NewLink mints a single-use sign-in link secret, valid for ttl (at most
// MaxLinkTTL), for an admin of tenant (operator false) or for an operator
// (tenant "", operator true). Only the secret's SHA-256 is kept; the
// caller hands the secret, usually as SigninURL, to the person it is for.
func (s *Sessions) NewLink(tenant string, operator bool, ttl time.Duration) (string, error) {
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
	now := s.lockSweep()
	defer s.mu.Unlock()
	s.links[hash(secret)] = &link{tenant: tenant, operator: operator, expires: now.Add(ttl)}
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

// peekLink says what a link secret is worth without using it up.
func (s *Sessions) peekLink(secret string) (linkState, *link) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.linkStateLocked(secret, s.now())
}

func (s *Sessions) linkStateLocked(secret string, now time.Time) (linkState, *link) {
	l, ok := s.links[hash(secret)]
	switch {
	case secret == "" || !ok:
		return linkUnknown, nil
	case l.used:
		return linkUsed, l
	case !now.Before(l.expires):
		return linkExpired, l
	}
	return linkValid, l
}

// redeem uses a link up and starts a console session for whom it names.
// It returns the new session's id, to be set as the cookie, and the
// session.
func (s *Sessions) redeem(secret string) (linkState, string, *session, error) {
	id, err := randomString()
	if err != nil {
		return linkUnknown, "", nil, err
	}
	csrf, err := randomString()
	if err != nil {
		return linkUnknown, "", nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	state, l := s.linkStateLocked(secret, now)
	if state != linkValid {
		return state, "", nil, nil
	}
	l.used = true
	sess := &session{tenant: l.tenant, operator: l.operator, expires: now.Add(SessionLifetime), csrf: csrf}
	s.sweepLocked(now)
	s.sessions[hash(id)] = sess
	return linkValid, id, sess, nil
}

// session returns the live session with the id, or nil.
func (s *Sessions) session(id string) *session {
	if id == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.sessions[hash(id)]
	if !ok {
		return nil
	}
	if !s.now().Before(sess.expires) {
		delete(s.sessions, hash(id))
		return nil
	}
	c := *sess
	return &c
}

// end ends a session and forgets what it kept.
func (s *Sessions) end(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sessions, hash(id))
	delete(s.nonces, sessionKey(id))
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
// identified: an HMAC of the identity with the process's key.
func (s *Sessions) identityCSRF(tenant string, operator bool) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte("csrf\x00" + identityKey(tenant, operator)))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// newNonce returns a single-use nonce for a token form of tenant, kept for
// the principal.
func (s *Sessions) newNonce(principal, tenant string) (string, error) {
	n, err := randomString()
	if err != nil {
		return "", err
	}
	now := s.lockSweep()
	defer s.mu.Unlock()
	list := s.nonces[principal]
	if len(list) >= noncesPerPrincipal {
		list = append(list[:0:0], list[len(list)-noncesPerPrincipal+1:]...)
	}
	s.nonces[principal] = append(list, nonce{hash: hash(n), tenant: tenant, expires: now.Add(nonceLifetime)})
	return n, nil
}

// useNonce consumes a nonce of the principal for tenant; false when it is
// unknown, used, expired or another tenant's.
func (s *Sessions) useNonce(principal, tenant, n string) bool {
	if n == "" {
		return false
	}
	h := hash(n)
	s.mu.Lock()
	defer s.mu.Unlock()
	list := s.nonces[principal]
	for i, e := range list {
		if e.hash != h {
			continue
		}
		s.nonces[principal] = append(list[:i:i], list[i+1:]...)
		return e.tenant == tenant && s.now().Before(e.expires)
	}
	return false
}

// putFlash keeps a message for the principal's next page and returns the
// id the redirect carries.
func (s *Sessions) putFlash(principal string, f flash) (string, error) {
	id, err := randomString()
	if err != nil {
		return "", err
	}
	now := s.lockSweep()
	defer s.mu.Unlock()
	if len(s.flashes) >= maxFlashes {
		return "", errors.New("too many messages waiting")
	}
	s.flashes[hash(id)] = &flashEntry{principal: principal, expires: now.Add(flashLifetime), flash: f}
	return id, nil
}

// takeFlash returns and forgets the principal's message with the id.
func (s *Sessions) takeFlash(principal, id string) *flash {
	if id == "" {
		return nil
	}
	h := hash(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.flashes[h]
	if !ok || e.principal != principal {
		return nil
	}
	delete(s.flashes, h)
	if !s.now().Before(e.expires) {
		return nil
	}
	return &e.flash
}

// lockSweep locks s, drops expired entries and returns the time.
func (s *Sessions) lockSweep() time.Time {
	s.mu.Lock()
	now := s.now()
	s.sweepLocked(now)
	return now
}

// sweepLocked drops expired entries, at most once per sweepEvery.
func (s *Sessions) sweepLocked(now time.Time) {
	if now.Sub(s.lastSweep) < sweepEvery && !now.Before(s.lastSweep) {
		return
	}
	s.lastSweep = now
	for k, l := range s.links {
		// Spent and expired links are kept a while longer, so that using
		// one again is told what became of it.
		if !now.Before(l.expires.Add(linkMemory)) {
			delete(s.links, k)
		}
	}
	for k, sess := range s.sessions {
		if !now.Before(sess.expires) {
			delete(s.sessions, k)
			delete(s.nonces, "s:"+hex.EncodeToString(k[:]))
		}
	}
	for p, list := range s.nonces {
		kept := list[:0]
		for _, n := range list {
			if now.Before(n.expires) {
				kept = append(kept, n)
			}
		}
		if len(kept) == 0 {
			delete(s.nonces, p)
		} else {
			s.nonces[p] = kept
		}
	}
	for k, f := range s.flashes {
		if !now.Before(f.expires) {
			delete(s.flashes, k)
		}
	}
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
