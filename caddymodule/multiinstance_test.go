package caddymodule

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/adapter/delivery"
	"github.com/caddy-scim/caddy-scim/adapter/store/postgres"
	"github.com/caddy-scim/caddy-scim/adapter/store/postgres/pgtest"
	"github.com/caddy-scim/caddy-scim/plugins/sdk"
)

// sharedCaddyfile is one of several instances serving the same tenants
// from one PostgreSQL database. Each tenant's changes go through the
// example webhook plugin to one product that all instances share: the
// built-in backends keep their product in the instance's storage_dir.
const sharedCaddyfile = `{
	admin {ADMIN}
	storage file_system {STORAGE}/caddy
	local_certs
	skip_install_trust
	auto_https disable_redirects
	scim {
		storage postgres {env.SCIM_DATABASE_URL} {
			instance {INSTANCE}
		}
		storage_dir {STORAGE}/scim
	}
}

{SITE} {
	scim_console
	scim {
		tenant contoso {
			backend exec {PLUGIN} {
				url {HOOK}/contoso
				secret {env.WEBHOOK_SECRET}
			}
		}
		tenant fabrikam {
			backend exec {PLUGIN} {
				url {HOOK}/fabrikam
				secret {env.WEBHOOK_SECRET}
			}
		}
	}
}
`

// sharedTenants are the tenants of sharedCaddyfile.
var sharedTenants = []string{"contoso", "fabrikam"}

// TestThreeInstancesOnePostgres runs three caddy processes on one
// PostgreSQL database while an IdP syncs two tenants through all of them
// at once, and kills the instance delivering one tenant's journal in the
// middle, as when its host dies. The survivors serve every acknowledged
// write and the journal holds each exactly once; one of them takes
// delivery over once the dead one's lease has expired, and not before;
// the product receives every change in journal order (some twice, which
// it ignores by seq); and a token revoked on one survivor is refused by
// the other within a second.
func TestThreeInstancesOnePostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs three caddy processes")
	}
	began := time.Now()
	caddyBin, pluginBin := buildBinaries(t)
	dsn := pgtest.Shared(t).CreateDatabase(t, "three_instances")
	db := pgtest.Connect(t, dsn)

	prod := newSeqProduct()
	hook := httptest.NewServer(prod)
	t.Cleanup(hook.Close)
	// Runs before hook.Close: a stalled delivery must not hold it up.
	t.Cleanup(prod.releaseAll)

	cfg := strings.NewReplacer("{PLUGIN}", pluginBin, "{HOOK}", hook.URL).Replace(sharedCaddyfile)
	env := []string{"SCIM_DATABASE_URL=" + dsn, "WEBHOOK_SECRET=whsec-three-instances"}
	peers := make([]*peer, 3)
	for i, name := range []string{"scim-a", "scim-b", "scim-c"} {
		peers[i] = startPeer(t, caddyBin, name, cfg, env)
	}
	for _, p := range peers {
		p.ready(t)
	}
	t.Logf("built and started three instances in %v", time.Since(began).Round(time.Millisecond))

	// A token generated through one instance works on the others at once.
	tokens := map[string]string{}
	for _, tenant := range sharedTenants {
		tokens[tenant] = peers[0].token(t, tenant).Token
		for _, p := range peers[1:] {
			if status, _, res := p.scim(t, "GET", "/scim/v2/"+tenant+"/Users?count=1", tokens[tenant], ""); status != 200 {
				t.Fatalf("%s: a token generated on %s: %d %v", p.name, peers[0].name, status, res)
			}
		}
	}

	idp := &spreadSync{peers: peers, tokens: tokens, acked: map[string]*atomic.Int64{}, afterKill: map[string]*atomic.Int64{}, errs: map[string]int{}}
	groups := map[string]string{}
	for _, tenant := range sharedTenants {
		idp.acked[tenant], idp.afterKill[tenant] = new(atomic.Int64), new(atomic.Int64)
		status, _, res := peers[0].scim(t, "POST", "/scim/v2/"+tenant+"/Groups", tokens[tenant],
			`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"externalId":"all-staff","displayName":"All Staff"}`)
		if status != 201 {
			t.Fatalf("%s: creating the group: %d %v", tenant, status, res)
		}
		groups[tenant] = res["id"].(string)
	}
	const workers = 3
	users := map[string][][]*wantUser{}
	var wg sync.WaitGroup
	var mu sync.Mutex
	syncBegan := time.Now()
	for _, tenant := range sharedTenants {
		users[tenant] = make([][]*wantUser, workers)
		for w := range workers {
			wg.Go(func() {
				got := idp.provision(tenant, groups[tenant], w)
				mu.Lock()
				users[tenant][w] = got
				mu.Unlock()
			})
		}
	}
	stopSync := sync.OnceFunc(func() {
		idp.stop.Store(true)
		wg.Wait()
	})
	t.Cleanup(stopSync)

	// Let the sync get going on all three, then stall the product for
	// one tenant: the instance delivering it waits in the middle of a
	// batch, holding the tenant's lease, and is the one to die.
	idp.waitAcked(t, idp.acked, 1000)
	const victim = "contoso"
	prod.hold(victim)
	holder := findHolder(t, peers, prod, victim)
	// The lease row agrees, and says when the lease expires: the
	// database's clock is this machine's.
	var leaseRow string
	var left float64
	if err := db.QueryRow(context.Background(), `SELECT holder, EXTRACT(EPOCH FROM expires_at - now())::float8 FROM scim_leases WHERE name = $1`,
		"delivery/"+victim).Scan(&leaseRow, &left); err != nil || leaseRow != holder.name || left <= 0 {
		t.Fatalf("the lease row of %s names %q, %.3fs left (%v); the status says %s holds it", victim, leaseRow, left, err, holder.name)
	}
	expires := time.Now().Add(time.Duration(left * float64(time.Second)))
	holder.kill()
	killedAt := time.Now()
	idp.killed.Store(true)
	prod.release(victim)
	var survivors []*peer
	for _, p := range peers {
		if p != holder {
			survivors = append(survivors, p)
		}
	}
	t.Logf("killed %s, which held the delivery lease of %s, %v into the sync; the lease had %v left",
		holder.name, victim, killedAt.Sub(syncBegan).Round(time.Millisecond), expires.Sub(killedAt).Round(time.Millisecond))

	// A survivor takes the tenant over once the dead one's lease has
	// expired, within one renewal period (give or take its tenth of
	// jitter, and the status polls) and not before.
	successor := waitLease(t, survivors, victim, expires.Add(3*delivery.DefaultLeaseRenew))
	tookOver := time.Now()
	t.Logf("%s took the delivery of %s over %v after the kill, %v after the lease expired (lease TTL %v, asked for every %v)",
		successor.name, victim, tookOver.Sub(killedAt).Round(time.Millisecond), tookOver.Sub(expires).Round(time.Millisecond),
		postgres.DefaultLeaseTTL, delivery.DefaultLeaseRenew)
	if late := tookOver.Sub(expires); late < -100*time.Millisecond || late > delivery.DefaultLeaseRenew+time.Second {
		t.Errorf("the takeover came %v after the dead instance's lease expired; want between 0 and %v", late, delivery.DefaultLeaseRenew+time.Second)
	}
	// The delivery stalled when the holder died may still have been let
	// through; after that nothing arrives until the lease has expired.
	if n := prod.deliveredBetween(victim, killedAt.Add(500*time.Millisecond), expires.Add(-100*time.Millisecond)); n > 0 {
		t.Errorf("%d changes of %s were delivered while the dead instance's lease was still valid", n, victim)
	}
	idp.waitAcked(t, idp.afterKill, 100)
	stopSync()
	for _, p := range idp.problems {
		t.Error(p)
	}
	for _, p := range survivors {
		if n := idp.errs[p.name]; n > 0 {
			t.Errorf("%d requests to the survivor %s went unanswered", n, p.name)
		}
	}
	t.Logf("sync: %d and %d writes acknowledged (%d and %d after the kill) in %v; %d requests went to the dead instance unanswered",
		idp.acked[sharedTenants[0]].Load(), idp.acked[sharedTenants[1]].Load(),
		idp.afterKill[sharedTenants[0]].Load(), idp.afterKill[sharedTenants[1]].Load(),
		time.Since(syncBegan).Round(time.Millisecond), idp.errs[holder.name])

	// Every acknowledged write reads back from both survivors, and the
	// product has all of them, in journal order.
	drained := time.Now()
	for _, tenant := range sharedTenants {
		var want []*wantUser
		for _, w := range users[tenant] {
			want = append(want, w...)
		}
		members := map[string]bool{}
		for _, u := range want {
			if u.member && !u.deleted {
				members[u.id] = true
			}
		}
		for _, p := range survivors {
			checkServed(t, p, tenant, tokens[tenant], groups[tenant], want, members)
		}
		var heads []uint64
		for _, p := range survivors {
			st := p.waitDelivered(t, tenant)
			if d := st.Backend.Delivery; d.DeadLetters != 0 || d.Delivered != d.Head {
				t.Errorf("%s: %s: delivery %+v", p.name, tenant, d)
			}
			heads = append(heads, st.Backend.Delivery.Head)
		}
		// Each write the IdP counts made one journal entry, retried ones
		// included (a retry after an unanswered try changes nothing the
		// first did), and the group's creation made one more.
		if n := uint64(idp.acked[tenant].Load()) + 1; heads[0] != n {
			t.Errorf("%s: the journal holds %d changes; the IdP had %d acknowledged", tenant, heads[0], n)
		}
		prod.check(t, tenant, heads, groups[tenant], want, members)
	}
	t.Logf("checked both survivors and the product %v after the sync ended", time.Since(drained).Round(time.Millisecond))
	t.Logf("the product received: %s", prod.summary())

	// A token revoked on one survivor is refused by the other within a
	// second, which had it cached from the sync.
	revoker, other := survivors[0], survivors[1]
	old := tokens[victim]
	if status, _, _ := other.scim(t, "GET", "/scim/v2/"+victim+"/Users?count=1", old, ""); status != 200 {
		t.Fatalf("%s: the token before revoking: %d", other.name, status)
	}
	revoker.adminJSON(t, "DELETE", "/scim/tenants/"+victim+"/token", 200, nil)
	revoked := time.Now()
	if status, _, _ := revoker.scim(t, "GET", "/scim/v2/"+victim+"/Users?count=1", old, ""); status != 401 {
		t.Errorf("%s: the token it revoked: %d", revoker.name, status)
	}
	for {
		status, _, _ := other.scim(t, "GET", "/scim/v2/"+victim+"/Users?count=1", old, "")
		if status == 401 {
			break
		}
		if time.Since(revoked) > time.Second {
			t.Fatalf("%s still accepts the token %s revoked a second ago: %d", other.name, revoker.name, status)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("%s refused the revoked token %v after %s revoked it", other.name, time.Since(revoked).Round(time.Millisecond), revoker.name)
	for _, p := range survivors {
		if status, _, _ := p.scim(t, "GET", "/scim/v2/fabrikam/Users?count=1", tokens["fabrikam"], ""); status != 200 {
			t.Errorf("%s: the other tenant's token after the revocation: %d", p.name, status)
		}
	}
	consoleAcrossInstances(t, revoker, other, "fabrikam", tokens["fabrikam"])
	t.Logf("the whole test took %v", time.Since(began).Round(time.Millisecond))
}

// consoleAcrossInstances: a tenant admin signs in on one instance with a
// link minted by another, and the connection check lists the IdP's latest
// requests whichever instance served them, newest first.
func consoleAcrossInstances(t *testing.T, a, b *peer, tenant, token string) {
	t.Helper()
	status, body := a.adminDo(t, "POST", "/scim/console/links", `{"tenant":"`+tenant+`"}`)
	var link ConsoleLink
	if status != 200 || json.Unmarshal(body, &link) != nil {
		t.Fatalf("%s: a sign-in link: %d %s", a.name, status, body)
	}
	secret := strings.TrimPrefix(link.URL, "https://"+a.site+"/console/signin?link=")
	// Cookies are kept by host, not port: one jar serves both sites.
	jar, _ := cookiejar.New(nil)
	browser := func(p *peer) *http.Client {
		return &http.Client{Transport: p.client.Transport, Jar: jar,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	req, _ := http.NewRequest("POST", "https://"+b.site+"/console/signin", strings.NewReader(url.Values{"link": {secret}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://"+b.site)
	resp, err := browser(b).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 303 {
		t.Fatalf("%s: signing in with a link %s minted: %d", b.name, a.name, resp.StatusCode)
	}

	// The IdP's last two requests: a refused token on a, a missing group
	// on b.
	if status, _, _ := a.scim(t, "GET", "/scim/v2/"+tenant+"/Users?count=1", "not-a-token", ""); status != 401 {
		t.Fatalf("%s: a wrong token: %d", a.name, status)
	}
	if status, _, _ := b.scim(t, "DELETE", "/scim/v2/"+tenant+"/Groups/no-such-group", token, ""); status != 404 {
		t.Fatalf("%s: deleting a missing group: %d", b.name, status)
	}
	newest := regexp.MustCompile(`<span class="status">(\d+)</span>`)
	for _, p := range []*peer{a, b} {
		deadline := time.Now().Add(2 * time.Second)
		for {
			resp, err := browser(p).Get("https://" + p.site + "/console/t/" + tenant + "/connection")
			if err != nil {
				t.Fatal(err)
			}
			page, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("%s: the connection check of a session from %s: %d", p.name, b.name, resp.StatusCode)
			}
			var got []string
			for _, m := range newest.FindAllStringSubmatch(string(page), 2) {
				got = append(got, m[1])
			}
			if slices.Equal(got, []string{"404", "401"}) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the connection check begins with statuses %v; want the requests both instances served, [404 401]", p.name, got)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// buildBinaries builds the caddy binary and the example webhook plugin,
// at the same time.
func buildBinaries(t *testing.T) (caddyBin, pluginBin string) {
	t.Helper()
	dir := t.TempDir()
	caddyBin, pluginBin = filepath.Join(dir, "caddy"), filepath.Join(dir, "webhook")
	var wg sync.WaitGroup
	errs := make([]error, 2)
	// The example plugin is a module of its own: it is built in its directory.
	for i, b := range [][3]string{{caddyBin, ".", "./cmd/caddy"}, {pluginBin, "../examples/webhook", "."}} {
		wg.Go(func() {
			if out, err := exec.Command("go", "build", "-C", b[1], "-o", b[0], b[2]).CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("building %s: %v\n%s", filepath.Join(b[1], b[2]), err, out)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return caddyBin, pluginBin
}

// peer is an instance run as a caddy process of its own, in a process
// group of its own so that a kill takes its backend plugins with it, as
// when a host dies.
type peer struct {
	*instance
	name string
	cmd  *exec.Cmd
	out  string
}

// startPeer starts the caddy binary on caddyfile, with {ADMIN}, {SITE},
// {STORAGE} and {INSTANCE} replaced, and env added to its environment.
// The peer's output is logged when the test fails.
func startPeer(t *testing.T, bin, name, caddyfile string, env []string) *peer {
	t.Helper()
	dir := t.TempDir()
	p := &peer{
		instance: &instance{t: t, admin: fmt.Sprintf("localhost:%d", freePort(t)), site: fmt.Sprintf("localhost:%d", freePort(t)), storage: dir},
		name:     name,
		out:      filepath.Join(dir, "caddy.out"),
	}
	file := filepath.Join(dir, "Caddyfile")
	body := strings.NewReplacer("{ADMIN}", p.admin, "{SITE}", p.site, "{STORAGE}", dir, "{INSTANCE}", name).Replace(caddyfile)
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(p.out)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	p.cmd = exec.Command(bin, "run", "--config", file, "--adapter", "caddyfile")
	p.cmd.Env = append(os.Environ(), append([]string{"HOME=" + dir, "XDG_DATA_HOME=" + dir + "/data", "XDG_CONFIG_HOME=" + dir + "/config"}, env...)...)
	p.cmd.Stdout, p.cmd.Stderr = out, out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			b, _ := os.ReadFile(p.out)
			t.Logf("output of %s:\n%s", p.name, b)
		}
	})
	return p
}

// ready waits for the peer's admin API, then for its site to serve TLS
// under the peer's own internal CA.
func (p *peer) ready(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + p.admin + "/config/")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not start: %v", p.name, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.rootCAs()}}}
	p.waitServing(t)
}

// kill ends the peer's process group with SIGKILL; it is safe twice.
func (p *peer) kill() {
	if p.cmd.ProcessState != nil {
		return
	}
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	p.cmd.Wait()
}

// findHolder waits until exactly one peer reports holding tenant's
// delivery lease while the product holds a delivery of the tenant, so
// that the holder is in the middle of a batch.
func findHolder(t *testing.T, peers []*peer, prod *seqProduct, tenant string) *peer {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var holders []*peer
		for _, p := range peers {
			if p.status(t, tenant).Backend.Delivery.LeaseHeld {
				holders = append(holders, p)
			}
		}
		if len(holders) == 1 && prod.isStalled(tenant) {
			return holders[0]
		}
		if len(holders) > 1 {
			t.Fatalf("%s: %d instances report holding the delivery lease", tenant, len(holders))
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no instance held the delivery lease with a delivery under way", tenant)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitLease waits until one of peers reports holding tenant's delivery
// lease, and returns it.
func waitLease(t *testing.T, peers []*peer, tenant string, deadline time.Time) *peer {
	t.Helper()
	for {
		for _, p := range peers {
			if p.status(t, tenant).Backend.Delivery.LeaseHeld {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no survivor took the delivery lease over", tenant)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// checkServed checks that p serves tenant's users and group as the IdP's
// acknowledged writes left them: want, deleted ones absent, and the
// group's members.
func checkServed(t *testing.T, p *peer, tenant, token, group string, want []*wantUser, members map[string]bool) {
	t.Helper()
	served := map[string]map[string]any{}
	for start := 1; ; {
		status, _, page := p.scim(t, "GET", fmt.Sprintf("/scim/v2/%s/Users?startIndex=%d&count=500", tenant, start), token, "")
		if status != 200 {
			t.Fatalf("%s: listing %s's users: %d %v", p.name, tenant, status, page)
		}
		res, _ := page["Resources"].([]any)
		for _, r := range res {
			u := r.(map[string]any)
			served[u["id"].(string)] = u
		}
		if len(res) == 0 || start+len(res) > int(page["totalResults"].(float64)) {
			break
		}
		start += len(res)
	}
	live := 0
	for _, u := range want {
		got, ok := served[u.id]
		switch {
		case u.deleted && ok:
			t.Errorf("%s: %s: the deleted user %s is served", p.name, tenant, u.userName)
		case u.deleted:
		case !ok:
			t.Errorf("%s: %s: the user %s (%s) is not served", p.name, tenant, u.userName, u.id)
		default:
			live++
			ext, _ := got[enterpriseURN].(map[string]any)
			if got["userName"] != u.userName || got["displayName"] != u.displayName || got["active"] != u.active || ext["department"] != u.department {
				t.Errorf("%s: %s: user %s is served as %v; want %+v", p.name, tenant, u.userName, got, *u)
			}
		}
	}
	if len(served) != live {
		t.Errorf("%s: %s serves %d users; the IdP has %d", p.name, tenant, len(served), live)
	}
	status, _, g := p.scim(t, "GET", "/scim/v2/"+tenant+"/Groups/"+group, token, "")
	if status != 200 {
		t.Fatalf("%s: reading %s's group: %d %v", p.name, tenant, status, g)
	}
	got := map[string]bool{}
	list, _ := g["members"].([]any)
	for _, m := range list {
		got[m.(map[string]any)["value"].(string)] = true
	}
	if !sameSet(got, members) {
		t.Errorf("%s: %s's group has %d members; want %d", p.name, tenant, len(got), len(members))
	}
}

func sameSet(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

const (
	enterpriseURN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	patchOp       = `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[%s]}`
)

// wantUser is a user as the IdP's acknowledged writes left it.
type wantUser struct {
	id, userName, displayName, department string
	active, deleted, member               bool
}

// spreadSync is an IdP whose requests go round robin to several
// instances.
type spreadSync struct {
	peers  []*peer
	tokens map[string]string
	next   atomic.Uint64
	stop   atomic.Bool
	killed atomic.Bool
	// acked counts each tenant's acknowledged writes, afterKill those
	// acknowledged after the kill.
	acked, afterKill map[string]*atomic.Int64

	mu sync.Mutex
	// errs counts the requests each peer did not answer.
	errs map[string]int
	// problems are answers the IdP did not expect.
	problems []string
}

// waitAcked waits until each tenant has n writes in counts.
func (s *spreadSync) waitAcked(t *testing.T, counts map[string]*atomic.Int64, n int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for _, c := range counts {
		for c.Load() < n {
			if time.Now().After(deadline) {
				t.Fatalf("the sync stalled: %v", s.problems)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// send sends a request to the next instance, and on to the next after
// one that does not answer; unsure reports whether one did not, which
// leaves open whether it applied the write.
func (s *spreadSync) send(tenant, method, path, body string) (status int, res map[string]any, unsure bool) {
	for range 3 * len(s.peers) {
		p := s.peers[s.next.Add(1)%uint64(len(s.peers))]
		status, _, res, err := p.try(method, path, s.tokens[tenant], body)
		if err == nil {
			return status, res, unsure
		}
		unsure = true
		s.mu.Lock()
		s.errs[p.name]++
		s.mu.Unlock()
	}
	return 0, nil, unsure
}

// write sends a change the IdP counts as acknowledged when answered with
// a 2xx, or with alsoOK after a try no instance answered: a retried create
// finds the user created (409), a retried delete finds it gone (404).
func (s *spreadSync) write(tenant, method, path, body string, alsoOK int) (map[string]any, int, bool) {
	status, res, unsure := s.send(tenant, method, path, body)
	if status/100 == 2 || unsure && alsoOK != 0 && status == alsoOK {
		s.acked[tenant].Add(1)
		if s.killed.Load() {
			s.afterKill[tenant].Add(1)
		}
		return res, status, true
	}
	s.problem("%s %s %s: %d %v", tenant, method, path, status, res)
	return nil, status, false
}

func (s *spreadSync) problem(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.problems = append(s.problems, fmt.Sprintf(format, args...))
}

// provision is one worker of the sync, the way Entra ID provisions: it
// looks each user up, creates it, adds it to the group, updates it, and
// deactivates, removes from the group or deletes some. It returns the
// users it created, as their last acknowledged write left them.
func (s *spreadSync) provision(tenant, group string, w int) []*wantUser {
	var users []*wantUser
	base := "/scim/v2/" + tenant
	for i := 0; !s.stop.Load(); i++ {
		u := &wantUser{userName: fmt.Sprintf("w%d.u%04d@%s.example", w, i, tenant), displayName: fmt.Sprintf("User %d.%d", w, i), active: true, department: "Sales"}
		lookup := base + "/Users?filter=" + url.QueryEscape(fmt.Sprintf("userName eq %q", u.userName))
		if status, res, _ := s.send(tenant, "GET", lookup, ""); status != 200 || res["totalResults"] != float64(0) {
			s.problem("%s: looking %s up before creating it: %d %v", tenant, u.userName, status, res)
			return users
		}
		res, status, ok := s.write(tenant, "POST", base+"/Users", fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User",%q],
			"externalId":"ext-%d-%d","userName":%q,"active":true,"displayName":%q,
			"emails":[{"primary":true,"type":"work","value":%q}],
			%q:{"department":"Sales","employeeNumber":"%d%04d"}}`,
			enterpriseURN, w, i, u.userName, u.displayName, u.userName, enterpriseURN, w, i), http.StatusConflict)
		if !ok {
			return users
		}
		if status == http.StatusConflict {
			// A create no instance answered was applied: find the user.
			_, res, _ = s.send(tenant, "GET", lookup, "")
			list, _ := res["Resources"].([]any)
			if len(list) != 1 {
				s.problem("%s: the user %s after a create that went unanswered: %v", tenant, u.userName, res)
				return users
			}
			res = list[0].(map[string]any)
		}
		u.id = res["id"].(string)
		users = append(users, u)

		steps := []func() bool{
			func() bool {
				_, _, ok := s.write(tenant, "PATCH", base+"/Groups/"+group, fmt.Sprintf(patchOp, fmt.Sprintf(`{"op":"Add","path":"members","value":[{"value":%q}]}`, u.id)), 0)
				u.member = u.member || ok
				return ok
			},
			func() bool {
				name, dept := fmt.Sprintf("User %d.%d (Marketing)", w, i), "Marketing"
				_, _, ok := s.write(tenant, "PATCH", base+"/Users/"+u.id, fmt.Sprintf(patchOp, fmt.Sprintf(
					`{"op":"Replace","path":"displayName","value":%q},{"op":"Replace","path":"%s:department","value":%q}`, name, enterpriseURN, dept)), 0)
				if ok {
					u.displayName, u.department = name, dept
				}
				return ok
			},
		}
		if i%4 == 3 {
			steps = append(steps, func() bool {
				_, _, ok := s.write(tenant, "PATCH", base+"/Users/"+u.id, fmt.Sprintf(patchOp, `{"op":"Replace","path":"active","value":"False"}`), 0)
				u.active = u.active && !ok
				return ok
			})
		}
		if i%6 == 5 {
			steps = append(steps, func() bool {
				_, _, ok := s.write(tenant, "PATCH", base+"/Groups/"+group, fmt.Sprintf(patchOp, fmt.Sprintf(`{"op":"Remove","path":"members","value":[{"value":%q}]}`, u.id)), 0)
				u.member = u.member && !ok
				return ok
			})
		}
		if i%5 == 4 {
			steps = append(steps, func() bool {
				_, _, ok := s.write(tenant, "DELETE", base+"/Users/"+u.id, "", http.StatusNotFound)
				u.deleted = ok
				return ok
			})
		}
		for _, step := range steps {
			if s.stop.Load() || !step() {
				break
			}
		}
	}
	return users
}

// seqProduct is the product behind the webhook plugin of every instance.
// Like a real one it is idempotent by seq: it applies a tenant's change
// only when its seq is above the last it applied, and ignores the others
// as duplicates. A change whose seq is below the last applied but was
// never applied itself is an ordering failure: such a product loses it.
type seqProduct struct {
	mu      sync.Mutex
	tenants map[string]*productTenant
	// stall holds a tenant's deliveries until the channel is closed;
	// stalled reports whether one came while it was held.
	stall   map[string]chan struct{}
	stalled map[string]bool
}

// productTenant is what the product holds of one tenant.
type productTenant struct {
	last       uint64
	applied    map[uint64]bool
	deliveries []productDelivery
	failures   []string
	users      map[string]*wantUser
	members    map[string]map[string]bool
}

// productDelivery is one change delivered: its seq, the user or group it
// is about, whether it was a duplicate, and when it arrived.
type productDelivery struct {
	seq       uint64
	resource  string
	duplicate bool
	at        time.Time
}

func newSeqProduct() *seqProduct {
	return &seqProduct{tenants: map[string]*productTenant{}, stall: map[string]chan struct{}{}, stalled: map[string]bool{}}
}

func (p *seqProduct) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tenant := strings.TrimPrefix(r.URL.Path, "/")
	body, err := io.ReadAll(r.Body)
	var c sdk.Change
	if err != nil || json.Unmarshal(body, &c) != nil || c.Tenant != tenant || r.Header.Get("X-Scim-Seq") != strconv.FormatUint(c.Seq, 10) {
		http.Error(w, "not a change of this tenant", http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	held := p.stall[tenant]
	if held != nil {
		p.stalled[tenant] = true
		p.mu.Unlock()
		select {
		case <-held:
		case <-r.Context().Done():
		}
		if r.Context().Err() != nil {
			// The sender is gone and will never learn of this change.
			return
		}
		p.mu.Lock()
	}
	defer p.mu.Unlock()
	pt := p.tenants[tenant]
	if pt == nil {
		pt = &productTenant{applied: map[uint64]bool{}, users: map[string]*wantUser{}, members: map[string]map[string]bool{}}
		p.tenants[tenant] = pt
	}
	pt.apply(c)
}

// apply applies c unless its seq was applied or passed already.
func (pt *productTenant) apply(c sdk.Change) {
	d := productDelivery{seq: c.Seq, duplicate: c.Seq <= pt.last, at: time.Now()}
	switch {
	case c.User != nil:
		d.resource = c.User.UserName
	case c.Group != nil:
		d.resource = c.Group.DisplayName
	}
	pt.deliveries = append(pt.deliveries, d)
	if d.duplicate {
		if !pt.applied[c.Seq] {
			pt.failures = append(pt.failures, fmt.Sprintf("change %d (%s %s) arrived after %d and was never applied", c.Seq, c.Kind, d.resource, pt.last))
		}
		return
	}
	pt.last = c.Seq
	pt.applied[c.Seq] = true
	switch c.Kind {
	case sdk.UserCreated, sdk.UserUpdated, sdk.UserDeactivated, sdk.UserReactivated:
		u := c.User
		pt.users[u.ID] = &wantUser{id: u.ID, userName: u.UserName, displayName: u.DisplayName, department: u.Department, active: u.Active}
	case sdk.UserDeleted:
		pt.users[c.User.ID] = &wantUser{id: c.User.ID, userName: c.User.UserName, deleted: true}
		for _, m := range pt.members {
			delete(m, c.User.ID)
		}
	case sdk.GroupCreated:
		pt.members[c.Group.ID] = map[string]bool{}
	case sdk.GroupDeleted:
		delete(pt.members, c.Group.ID)
	case sdk.MembersAdded, sdk.MembersRemoved:
		m := pt.members[c.Group.ID]
		if m == nil {
			pt.failures = append(pt.failures, fmt.Sprintf("change %d: members of the unknown group %s", c.Seq, c.Group.ID))
			return
		}
		for _, member := range c.Members {
			if c.Kind == sdk.MembersAdded {
				m[member.ID] = true
			} else {
				delete(m, member.ID)
			}
		}
	}
}

// hold stalls tenant's deliveries until release.
func (p *seqProduct) hold(tenant string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stall[tenant] = make(chan struct{})
	p.stalled[tenant] = false
}

// isStalled reports whether a delivery of tenant came while it was held.
func (p *seqProduct) isStalled(tenant string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stalled[tenant]
}

// deliveredBetween counts the deliveries of tenant that arrived between
// from and to.
func (p *seqProduct) deliveredBetween(tenant string, from, to time.Time) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	if pt := p.tenants[tenant]; pt != nil {
		for _, d := range pt.deliveries {
			if d.at.After(from) && d.at.Before(to) {
				n++
			}
		}
	}
	return n
}

// release lets tenant's deliveries through again.
func (p *seqProduct) release(tenant string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ch := p.stall[tenant]; ch != nil {
		close(ch)
		delete(p.stall, tenant)
	}
}

func (p *seqProduct) releaseAll() {
	for _, tenant := range sharedTenants {
		p.release(tenant)
	}
}

// check checks that the product applied tenant's journal through each
// head the survivors report, every change of it once and in order, and
// holds the IdP's users and the group's members as acknowledged.
func (p *seqProduct) check(t *testing.T, tenant string, heads []uint64, group string, want []*wantUser, members map[string]bool) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	pt := p.tenants[tenant]
	if pt == nil {
		t.Fatalf("the product has nothing of %s", tenant)
	}
	for _, f := range pt.failures {
		t.Errorf("%s: ordering failure: %s", tenant, f)
	}
	for _, h := range heads {
		if h != pt.last {
			t.Errorf("%s: the journal head is %d; the product applied through %d", tenant, h, pt.last)
		}
	}
	if len(pt.applied) != int(pt.last) {
		var missing []uint64
		for seq := uint64(1); seq <= pt.last; seq++ {
			if !pt.applied[seq] {
				missing = append(missing, seq)
			}
		}
		t.Errorf("%s: the product applied %d changes through %d; missing %v", tenant, len(pt.applied), pt.last, missing)
	}
	for _, u := range want {
		got := pt.users[u.id]
		switch {
		case got == nil:
			t.Errorf("%s: the product lacks the user %s", tenant, u.userName)
		case u.deleted != got.deleted:
			t.Errorf("%s: the product has %s deleted=%v; want %v", tenant, u.userName, got.deleted, u.deleted)
		case !u.deleted && (got.userName != u.userName || got.displayName != u.displayName || got.department != u.department || got.active != u.active):
			t.Errorf("%s: the product has %+v; want %+v", tenant, *got, *u)
		}
	}
	if len(pt.users) != len(want) {
		t.Errorf("%s: the product has %d users; the IdP created %d", tenant, len(pt.users), len(want))
	}
	if !sameSet(pt.members[group], members) {
		t.Errorf("%s: the product's group has %d members; want %d", tenant, len(pt.members[group]), len(members))
	}
}

// summary describes what the product received of each tenant.
func (p *seqProduct) summary() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var parts []string
	for _, tenant := range slices.Sorted(maps.Keys(p.tenants)) {
		pt := p.tenants[tenant]
		dups := 0
		for _, d := range pt.deliveries {
			if d.duplicate {
				dups++
			}
		}
		parts = append(parts, fmt.Sprintf("%s: %d deliveries, %d changes applied, %d duplicates ignored", tenant, len(pt.deliveries), len(pt.applied), dups))
	}
	return strings.Join(parts, "; ")
}
