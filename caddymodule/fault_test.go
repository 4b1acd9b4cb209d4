package caddymodule

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// backendPIDs finds the running processes of a built-in backend started by
// this process.
func backendPIDs(t *testing.T, name string) []int {
	t.Helper()
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	var pids []int
	for _, d := range dirs {
		cmd, err := os.ReadFile(d + "/cmdline")
		if err != nil || !bytes.Contains(cmd, []byte("scim-backend\x00"+name)) {
			continue
		}
		stat, err := os.ReadFile(d + "/stat")
		if err != nil {
			continue
		}
		// The parent pid is the fourth field, after the parenthesised name.
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(os.Getpid()) {
			pid, _ := strconv.Atoi(filepath.Base(d))
			pids = append(pids, pid)
		}
	}
	return pids
}

const pharosCaddyfile = `{
	admin {ADMIN}
	storage file_system {STORAGE}/caddy
	local_certs
	skip_install_trust
	auto_https disable_redirects
	scim {
		storage_dir {STORAGE}
	}
}

{SITE} {
	scim {
		tenant print {
			backend pharos
		}
	}
}
`

// TestPluginKilledMidSync kills the backend process twice while an IdP
// creates 1,000 users in two tenants served by that one process: the host
// restarts it, and in the end each tenant's product store has every user
// of its own and none of the other's, and has applied the journal through
// its head.
func TestPluginKilledMidSync(t *testing.T) {
	if testing.Short() {
		t.Skip("a sync of 1,000 users")
	}
	in := startCaddy(t, strings.Replace(pharosCaddyfile, "tenant print {", "tenant print2 {\n\t\t\tbackend pharos\n\t\t}\n\t\ttenant print {", 1))
	tenants := []string{"print2", "print"}
	tokens := map[string]string{"print": in.token(t, "print").Token, "print2": in.token(t, "print2").Token}
	const users = 1000
	var next, acked atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, users)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > users {
					return
				}
				body := fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"user%04d@contoso.example","emails":[{"value":"user%04d@contoso.example","type":"work","primary":true}]}`, i, i)
				tenant := tenants[i%2]
				status, _, m, err := in.try("POST", "/scim/v2/"+tenant+"/Users", tokens[tenant], body)
				if err != nil || status != 201 {
					errs <- fmt.Errorf("create %d: %d %v %v", i, status, err, m)
					continue
				}
				acked.Add(1)
			}
		}()
	}
	kills, killed := 0, 0
	for kills < 2 {
		if acked.Load() >= int64(300*(kills+1)) {
			// Wait for the (restarted) process, then kill it.
			pids := backendPIDs(t, "pharos")
			if len(pids) != 1 || pids[0] == killed {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = pids[0]
			kills++
			continue
		}
		if acked.Load() >= users {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if kills != 2 {
		t.Fatalf("killed the plugin %d times, want 2", kills)
	}
	for k, tenant := range tenants {
		st := in.waitDelivered(t, tenant)
		var store struct {
			Users []struct {
				Login string `json:"login"`
			} `json:"users"`
			LastSeq uint64 `json:"last_seq"`
		}
		in.inspect(t, tenant, &store)
		if len(store.Users) != users/2 {
			t.Errorf("%s: the product store has %d users, want %d", tenant, len(store.Users), users/2)
		}
		// Tenant k has the users whose number is k modulo 2, in order.
		for j, u := range store.Users {
			if want := fmt.Sprintf("user%04d@contoso.example", 2*j+2-k); u.Login != want {
				t.Fatalf("%s: user %d is %q, want %q", tenant, j, u.Login, want)
			}
		}
		if store.LastSeq != st.Backend.Delivery.Head || st.Backend.Delivery.DeadLetters != 0 {
			t.Errorf("%s: backend applied through %d, journal head %d, dead letters %d", tenant, store.LastSeq, st.Backend.Delivery.Head, st.Backend.Delivery.DeadLetters)
		}
	}
	if pids := backendPIDs(t, "pharos"); len(pids) != 1 {
		t.Errorf("%d pharos processes after the restarts", len(pids))
	}
}

// receiver is a webhook endpoint that can be down.
type receiver struct {
	mu   sync.Mutex
	down bool
	seqs []uint64
	hits int
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hits++
	if r.down {
		http.Error(w, "maintenance", http.StatusServiceUnavailable)
		return
	}
	seq, _ := strconv.ParseUint(req.Header.Get("X-Scim-Seq"), 10, 64)
	r.seqs = append(r.seqs, seq)
}

// TestBackendOutage takes the product down while the IdP keeps writing:
// every SCIM request succeeds, status shows the failing delivery, and once
// the product is back the backlog drains in order. The backend is the
// example vendor plugin, run with "backend exec".
func TestBackendOutage(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "webhook")
	if out, err := exec.Command("go", "build", "-C", "../examples/webhook", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("building the example plugin: %v\n%s", err, out)
	}
	rcv := &receiver{down: true}
	hook := httptest.NewServer(rcv)
	defer hook.Close()
	t.Setenv("WEBHOOK_SECRET", "s3cret")
	cfg := strings.Replace(pharosCaddyfile, "backend pharos", "backend exec "+bin+" {\n\t\t\t\turl "+hook.URL+"\n\t\t\t\tsecret {env.WEBHOOK_SECRET}\n\t\t\t}", 1)
	in := startCaddy(t, cfg)
	token := in.token(t, "print").Token
	for i := 0; i < 30; i++ {
		status, _, m := in.scim(t, "POST", "/scim/v2/print/Users", token, fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"u%d@contoso.example"}`, i))
		if status != 201 {
			t.Fatalf("create %d while the backend is down: %d %v", i, status, m)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := in.status(t, "print")
		if hasWarning(st, "delivery_failing") && st.Backend.Delivery.Lag == 30 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status never showed the outage: %+v %+v", st.Warnings, st.Backend)
		}
		time.Sleep(50 * time.Millisecond)
	}
	rcv.mu.Lock()
	rcv.down = false
	rcv.mu.Unlock()
	st := in.waitDelivered(t, "print")
	if hasWarning(st, "delivery_failing") || st.Backend.Name != "webhook" {
		t.Errorf("after recovery: %+v %+v", st.Warnings, st.Backend)
	}
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if len(rcv.seqs) != 30 {
		t.Fatalf("the product received %d changes, want 30: %v", len(rcv.seqs), rcv.seqs)
	}
	for i, s := range rcv.seqs {
		if s != uint64(i+1) {
			t.Fatalf("changes arrived out of order: %v", rcv.seqs)
		}
	}
	if rcv.hits <= 30 {
		t.Errorf("only %d deliveries: the outage was never hit", rcv.hits)
	}
}

// TestServerKilledMidSync runs the caddy binary as its own process, kills
// it with SIGKILL while an IdP is creating users, starts it again, and
// checks that every user the IdP was told about reaches the backend.
func TestServerKilledMidSync(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the caddy binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(t.TempDir(), "caddy")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/caddy").CombinedOutput(); err != nil {
		t.Fatalf("building caddy: %v\n%s", err, out)
	}
	in := &instance{t: t, admin: fmt.Sprintf("localhost:%d", freePort(t)), site: fmt.Sprintf("localhost:%d", freePort(t)), storage: dir}
	caddyfile := filepath.Join(dir, "Caddyfile")
	body := strings.NewReplacer("{ADMIN}", in.admin, "{SITE}", in.site, "{STORAGE}", dir).Replace(pharosCaddyfile)
	if err := os.WriteFile(caddyfile, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func() *exec.Cmd {
		cmd := exec.Command(bin, "run", "--config", caddyfile, "--adapter", "caddyfile")
		cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir+"/data", "XDG_CONFIG_HOME="+dir+"/config")
		logf, _ := os.OpenFile(filepath.Join(dir, "caddy.out"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cmd.Process.Kill()
			cmd.Wait()
			if t.Failed() {
				out, _ := os.ReadFile(filepath.Join(dir, "caddy.out"))
				t.Logf("caddy output:\n%s", out)
			}
		})
		deadline := time.Now().Add(30 * time.Second)
		for {
			resp, err := http.Get("http://" + in.admin + "/config/")
			if err == nil {
				resp.Body.Close()
				return cmd
			}
			if time.Now().After(deadline) {
				out, _ := os.ReadFile(filepath.Join(dir, "caddy.out"))
				t.Fatalf("caddy did not start: %v\n%s", err, out)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	first := run()
	in.client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: in.rootCAs()}}}
	token := in.token(t, "print").Token
	var acked sync.Map
	var n atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				i := n.Add(1)
				name := fmt.Sprintf("user%05d@contoso.example", i)
				status, _, _, err := in.try("POST", "/scim/v2/print/Users", token, fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":%q,"emails":[{"value":%q}]}`, name, name))
				if err == nil && status == 201 {
					acked.Store(name, true)
				}
			}
		}()
	}
	for count(&acked) < 400 {
		time.Sleep(5 * time.Millisecond)
	}
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	first.Wait()
	close(stop)
	wg.Wait()
	want := count(&acked)

	run()
	st := in.waitDelivered(t, "print")
	var store struct {
		Users []struct {
			Login string `json:"login"`
		} `json:"users"`
		LastSeq uint64 `json:"last_seq"`
	}
	in.inspect(t, "print", &store)
	have := map[string]bool{}
	for _, u := range store.Users {
		have[u.Login] = true
	}
	missing := 0
	acked.Range(func(k, _ any) bool {
		if !have[k.(string)] {
			missing++
		}
		return true
	})
	if missing > 0 {
		t.Errorf("%d of %d acknowledged users never reached the backend", missing, want)
	}
	if store.LastSeq != st.Backend.Delivery.Head {
		t.Errorf("backend applied through %d, journal head %d", store.LastSeq, st.Backend.Delivery.Head)
	}
	t.Logf("%d users acknowledged before the kill; the backend has %d", want, len(store.Users))
}

func count(m *sync.Map) int {
	n := 0
	m.Range(func(any, any) bool { n++; return true })
	return n
}
