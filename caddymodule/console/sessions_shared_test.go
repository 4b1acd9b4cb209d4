package console

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/adapter/store/postgres"
	"github.com/caddy-scim/caddy-scim/adapter/store/postgres/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// count returns how many records of kind m keeps.
func (m *memBacking) count(kind string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for k := range m.records {
		if k.kind == kind {
			n++
		}
	}
	return n
}

// instances is two servers, a and b, whose Sessions share one Backing.
type instances struct {
	a, b  *Sessions
	clock *clock
	// count returns how many records of kind the Backing keeps.
	count func(kind string) int
	// stores are the PostgreSQL stores of a and b, when they have any.
	stores []*postgres.Store
}

// openStores opens n stores on one fresh database, as n servers do.
func openStores(t *testing.T, n int) (stores []*postgres.Store, count func(kind string) int) {
	t.Helper()
	ctx := context.Background()
	dsn := pgtest.Shared(t).CreateDatabase(t, "console")
	for range n {
		st, err := postgres.Open(ctx, postgres.Options{DSN: dsn})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		stores = append(stores, st)
	}
	conn := pgtest.Connect(t, dsn)
	return stores, func(kind string) int {
		t.Helper()
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM scim_console WHERE kind = $1`, kind).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
}

// shared runs test once with two instances sharing a PostgreSQL
// database and once sharing one process's memory.
func shared(t *testing.T, test func(t *testing.T, in *instances)) {
	for _, name := range []string{"postgres", "memory"} {
		t.Run(name, func(t *testing.T) {
			in := &instances{clock: &clock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}}
			var ba, bb Backing
			if name == "postgres" {
				in.stores, in.count = openStores(t, 2)
				ba, bb = in.stores[0].Console(), in.stores[1].Console()
			} else {
				m := newMemBacking()
				ba, bb, in.count = m, m, m.count
			}
			var err error
			if in.a, err = NewSharedSessions(context.Background(), ba, in.clock.Now); err != nil {
				t.Fatal(err)
			}
			if in.b, err = NewSharedSessions(context.Background(), bb, in.clock.Now); err != nil {
				t.Fatal(err)
			}
			test(t, in)
		})
	}
}

// signIn redeems a fresh link of acme's admin, minted on from, on on, and
// returns the session id.
func signIn(t *testing.T, from, on *Sessions) string {
	t.Helper()
	ctx := context.Background()
	secret, err := from.NewLinkContext(ctx, "acme", false, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	state, id, _, err := on.redeem(ctx, secret)
	if err != nil || state != linkValid || id == "" {
		t.Fatalf("redeem: %s, %q, %v", state, id, err)
	}
	return id
}

// TestSharedLinkWorksOnAnotherInstance: a link minted on one instance is
// valid on another, starts a session there that the first one knows,
// and is then used up on both.
func TestSharedLinkWorksOnAnotherInstance(t *testing.T) {
	shared(t, func(t *testing.T, in *instances) {
		ctx := context.Background()
		secret, err := in.a.NewLinkContext(ctx, "acme", false, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if state, l, err := in.b.peekLink(ctx, secret); state != linkValid || l == nil || l.tenant != "acme" || err != nil {
			t.Fatalf("peek on b: %s, %+v, %v", state, l, err)
		}
		state, id, sess, err := in.b.redeem(ctx, secret)
		if state != linkValid || err != nil || sess.tenant != "acme" || sess.operator {
			t.Fatalf("redeem on b: %s, %+v, %v", state, sess, err)
		}
		if got, err := in.a.session(ctx, id); got == nil || got.csrf != sess.csrf || err != nil {
			t.Fatalf("a reads the session as %+v, %v", got, err)
		}
		if state, _, _, err := in.a.redeem(ctx, secret); state != linkUsed || err != nil {
			t.Fatalf("redeem again on a: %s, %v", state, err)
		}
		if state, l, err := in.a.peekLink(ctx, secret); state != linkUsed || l == nil || err != nil {
			t.Fatalf("peek on a after use: %s, %+v, %v", state, l, err)
		}
		in.clock.Add(2 * time.Hour)
		other, _ := in.b.NewLinkContext(ctx, "acme", false, time.Hour)
		in.clock.Add(2 * time.Hour)
		if state, _, err := in.a.peekLink(ctx, other); state != linkExpired || err != nil {
			t.Fatalf("an expired link reads %s, %v", state, err)
		}
	})
}

// TestSharedSessionEndsEverywhere: a session started on one instance is
// valid on the other; ended there, it is gone on both, with its nonces.
func TestSharedSessionEndsEverywhere(t *testing.T) {
	shared(t, func(t *testing.T, in *instances) {
		ctx := context.Background()
		id := signIn(t, in.b, in.a)
		if sess, err := in.b.session(ctx, id); sess == nil || err != nil {
			t.Fatalf("b does not know a's session: %v", err)
		}
		if _, err := in.a.newNonce(ctx, sessionKey(id), "acme"); err != nil {
			t.Fatal(err)
		}
		if err := in.b.end(ctx, id); err != nil {
			t.Fatal(err)
		}
		if sess, err := in.a.session(ctx, id); sess != nil || err != nil {
			t.Fatalf("a still has the session b ended: %+v, %v", sess, err)
		}
		if n := in.count(kindNonce); n != 0 {
			t.Fatalf("%d nonces of the ended session are kept", n)
		}
		id = signIn(t, in.a, in.a)
		in.clock.Add(SessionLifetime)
		if sess, err := in.b.session(ctx, id); sess != nil || err != nil {
			t.Fatalf("an expired session reads %+v, %v", sess, err)
		}
	})
}

// TestSharedNonceIsUsedOnce: a nonce made on one instance is used on
// another, and then refused on both; the principal's nonces are capped.
func TestSharedNonceIsUsedOnce(t *testing.T) {
	shared(t, func(t *testing.T, in *instances) {
		ctx := context.Background()
		n, err := in.a.newNonce(ctx, "p", "acme")
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := in.b.useNonce(ctx, "q", "acme", n); ok || err != nil {
			t.Fatalf("another principal used the nonce: %v, %v", ok, err)
		}
		if ok, err := in.b.useNonce(ctx, "p", "acme", n); !ok || err != nil {
			t.Fatalf("b refused a's nonce: %v", err)
		}
		if ok, err := in.a.useNonce(ctx, "p", "acme", n); ok || err != nil {
			t.Fatalf("a accepted the nonce b used: %v", err)
		}
		first, _ := in.a.newNonce(ctx, "p", "acme")
		var last string
		for i := range noncesPerPrincipal {
			in.clock.Add(time.Millisecond)
			s := in.a
			if i%2 == 1 {
				s = in.b
			}
			if last, err = s.newNonce(ctx, "p", "acme"); err != nil {
				t.Fatal(err)
			}
		}
		if n := in.count(kindNonce); n != noncesPerPrincipal {
			t.Errorf("%d nonces kept for one principal, want %d", n, noncesPerPrincipal)
		}
		if ok, _ := in.b.useNonce(ctx, "p", "acme", first); ok {
			t.Error("the oldest nonce outlived the limit")
		}
		if ok, _ := in.b.useNonce(ctx, "p", "acme", last); !ok {
			t.Error("the newest nonce was refused")
		}
	})
}

// TestSharedFlashIsTakenOnce: a message put on one instance is shown on
// the other, once, and only to its principal.
func TestSharedFlashIsTakenOnce(t *testing.T) {
	shared(t, func(t *testing.T, in *instances) {
		ctx := context.Background()
		id, err := in.a.putFlash(ctx, "p", flash{Message: "Saved."})
		if err != nil {
			t.Fatal(err)
		}
		if f, err := in.b.takeFlash(ctx, "q", id); f != nil || err != nil {
			t.Fatalf("another principal took the message: %+v, %v", f, err)
		}
		if f, err := in.b.takeFlash(ctx, "p", id); f == nil || f.Message != "Saved." || err != nil {
			t.Fatalf("b took %+v, %v", f, err)
		}
		if f, err := in.a.takeFlash(ctx, "p", id); f != nil || err != nil {
			t.Fatalf("the message was taken twice: %+v, %v", f, err)
		}
	})
}

// TestSharedCSRFKey: instances sharing a Backing sign identity CSRF
// tokens with one key, also an instance started later; a Sessions of its
// own has another.
func TestSharedCSRFKey(t *testing.T) {
	shared(t, func(t *testing.T, in *instances) {
		want := in.a.identityCSRF("acme", false)
		if got := in.b.identityCSRF("acme", false); got != want {
			t.Fatalf("b's token %q, a's %q", got, want)
		}
		later, err := NewSharedSessions(context.Background(), in.a.backing(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := later.identityCSRF("acme", false); got != want {
			t.Fatalf("an instance started later signs %q, want %q", got, want)
		}
		if NewSessions(nil).identityCSRF("acme", false) == want {
			t.Fatal("a private Sessions has the shared key")
		}
	})
}

// TestSharedSweep: expired records go, a spent link stays until
// linkMemory has passed.
func TestSharedSweep(t *testing.T) {
	shared(t, func(t *testing.T, in *instances) {
		ctx := context.Background()
		id := signIn(t, in.a, in.b)
		if _, err := in.b.newNonce(ctx, sessionKey(id), "acme"); err != nil {
			t.Fatal(err)
		}
		if _, err := in.a.putFlash(ctx, "p", flash{Message: "m"}); err != nil {
			t.Fatal(err)
		}
		in.clock.Add(SessionLifetime + time.Minute)
		if _, err := in.a.NewLinkContext(ctx, "acme", false, time.Minute); err != nil {
			t.Fatal(err)
		}
		for kind, want := range map[string]int{kindSession: 0, kindNonce: 0, kindFlash: 0, kindLink: 2} {
			if n := in.count(kind); n != want {
				t.Errorf("after the sweep: %d %ss, want %d", n, kind, want)
			}
		}
		in.clock.Add(linkMemory + time.Minute)
		if _, err := in.b.NewLinkContext(ctx, "acme", false, time.Minute); err != nil {
			t.Fatal(err)
		}
		if n := in.count(kindLink); n != 1 {
			t.Errorf("after linkMemory: %d links, want 1", n)
		}
	})
}

// TestSharedRedeemRace: requests redeeming one link at once on both
// instances start exactly one session; the others find the link used.
func TestSharedRedeemRace(t *testing.T) {
	shared(t, func(t *testing.T, in *instances) {
		ctx := context.Background()
		for round := range 5 {
			secret, err := in.a.NewLinkContext(ctx, "acme", false, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			var (
				wg     sync.WaitGroup
				mu     sync.Mutex
				states = map[linkState]int{}
				start  = make(chan struct{})
			)
			for i := range 8 {
				s := in.a
				if i%2 == 1 {
					s = in.b
				}
				wg.Go(func() {
					<-start
					state, _, _, err := s.redeem(ctx, secret)
					mu.Lock()
					defer mu.Unlock()
					if err != nil {
						t.Error(err)
					}
					states[state]++
				})
			}
			close(start)
			wg.Wait()
			if states[linkValid] != 1 || states[linkUsed] != 7 {
				t.Fatalf("round %d: %v, want 1 valid and 7 used", round, states)
			}
			if n := in.count(kindSession); n != round+1 {
				t.Fatalf("round %d: %d sessions, want %d", round, n, round+1)
			}
		}
	})
}

// sharedHarness is a console whose Sessions is s.
func sharedHarness(t *testing.T, s func(now func() time.Time) *Sessions) *harness {
	t.Helper()
	hs := newHarness(t)
	hs.sessions = s(hs.clock.Now)
	hs.h.sessions = hs.sessions
	hs.svc.add("acme")
	return hs
}

// TestSharedConsoleAcrossInstances: a browser moving between two console
// instances behind one load balancer: signs in on one with a link the
// other minted, sees its flash on either, spends a form once among both,
// and signs out of both at once.
func TestSharedConsoleAcrossInstances(t *testing.T) {
	stores, _ := openStores(t, 2)
	var hs [2]*harness
	for i, st := range stores {
		hs[i] = sharedHarness(t, func(now func() time.Time) *Sessions {
			s, err := NewSharedSessions(context.Background(), st.Console(), now)
			if err != nil {
				t.Fatal(err)
			}
			return s
		})
	}
	a, b := hs[0].anonymous(), hs[1].anonymous()
	a.signIn("acme", false)
	// The cookie a's instance set, sent to b's.
	b.cookie = a.cookie
	gen := b.get("/console/t/acme/").status(http.StatusOK).form("/token")
	res := a.submit(gen, nil).status(http.StatusOK)
	if shownToken(res) == "" {
		t.Fatal("a did not show the token of b's form")
	}
	b.submit(gen, nil).status(http.StatusConflict)

	ft := hs[0].svc.tenants["acme"]
	ft.panel.Backend = &Backend{Name: "pharos", DeadLetters: 1}
	ft.dead = []DeadLetter{{Seq: 7, Kind: "user.created", Who: "a", Error: "x"}}
	res = a.submit(a.get("/console/t/acme/").forms("/replay")[0], nil).status(http.StatusSeeOther)
	if !strings.Contains(b.follow(res).mainText(), "1 change sent again") {
		t.Error("b does not show the message a's redirect carries")
	}
	if strings.Contains(a.follow(res).mainText(), "sent again") {
		t.Error("the message shows twice")
	}

	signout := b.get("/console/t/acme/").form("/signout")
	b.submit(signout, nil).status(http.StatusSeeOther)
	a.get("/console/t/acme/").status(http.StatusUnauthorized)
}

// TestConsoleDatabaseErrors: when the database is gone, pages that need
// it answer with the error page, not a panic or a blank answer.
func TestConsoleDatabaseErrors(t *testing.T) {
	stores, _ := openStores(t, 1)
	hs := sharedHarness(t, func(now func() time.Time) *Sessions {
		s, err := NewSharedSessions(context.Background(), stores[0].Console(), now)
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
	c := hs.anonymous()
	c.signIn("acme", false)
	link, err := hs.sessions.NewLink("acme", false, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	admin := hs.admin("acme")
	gen := admin.get("/console/t/acme/").form("/token")
	stores[0].Close()
	for name, res := range map[string]*response{
		"page with a session":    c.get("/console/t/acme/"),
		"sign-in page":           c.get("/console/signin"),
		"sign-in link":           c.get("/console/signin?link=" + url.QueryEscape(link)),
		"sign-in":                c.post("/console/signin", url.Values{"link": {link}}),
		"token form":             admin.submit(gen, nil),
		"panel with a new nonce": admin.get("/console/t/acme/"),
	} {
		t.Run(name, func(t *testing.T) {
			res.status(http.StatusInternalServerError)
			if !strings.Contains(res.mainText(), "could not complete this request") {
				t.Errorf("error page: %s", res.mainText())
			}
		})
	}
	if hs.svc.issues() != 0 {
		t.Error("a token was issued without its nonce")
	}
}

// TestShareMovesSessionsOntoASharedBacking: a Sessions handed out before
// the shared store opened (the console is built when the config loads)
// keeps its records there once Share moves it: its CSRF key is the
// shared one, and a link it mints another instance redeems.
func TestShareMovesSessionsOntoASharedBacking(t *testing.T) {
	ctx := context.Background()
	b := newMemBacking()
	early := NewSessions(nil)
	other, err := NewSharedSessions(ctx, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	if early.identityCSRF("acme", false) == other.identityCSRF("acme", false) {
		t.Fatal("a private Sessions has the shared CSRF key")
	}
	if err := early.Share(ctx, b); err != nil {
		t.Fatal(err)
	}
	if early.identityCSRF("acme", false) != other.identityCSRF("acme", false) {
		t.Fatal("after Share the CSRF keys differ")
	}
	secret, err := early.NewLink("acme", false, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if state, _, sess, err := other.redeem(ctx, secret); state != linkValid || sess == nil || err != nil {
		t.Fatalf("a link minted after Share, redeemed on another instance: %v %v %v", state, sess, err)
	}
}
