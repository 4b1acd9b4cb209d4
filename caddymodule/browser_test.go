package caddymodule

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// The browser tests drive Debian's headless Chromium with chromedp
// against the console of a Caddy started by startCaddy, over TLS from
// Caddy's internal CA. Chromium trusts that CA's keys only: their SPKI
// hashes are pinned with --ignore-certificate-errors-spki-list.

// browserGlobals are the global options of the browser tests' Caddyfiles.
const browserGlobals = `{
	admin {ADMIN}
	storage file_system {STORAGE}/caddy
	local_certs
	skip_install_trust
	auto_https disable_redirects
	scim {
		storage_dir {STORAGE}
	}
	log {
		output file {STORAGE}/caddy.log
		level INFO
	}
}
`

// stepTimeout bounds one browser step: a navigation, a click and the page
// it leads to, a wait for an element.
const stepTimeout = 30 * time.Second

var chromiumOnce struct {
	sync.Once
	path string
	err  error
}

// chromium returns the Chromium binary, installing Debian's package first
// when there is none (once per test process).
func chromium(t *testing.T) string {
	t.Helper()
	chromiumOnce.Do(func() {
		chromiumOnce.path, chromiumOnce.err = findOrInstallChromium()
	})
	if chromiumOnce.err != nil {
		t.Fatalf("the browser tests need Chromium: %v", chromiumOnce.err)
	}
	return chromiumOnce.path
}

func lookChromium() string {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

func findOrInstallChromium() (string, error) {
	if p := lookChromium(); p != "" {
		return p, nil
	}
	if os.Geteuid() != 0 {
		return "", errors.New("no chromium binary on PATH, and installing it needs root: " +
			"run 'apt-get install --no-install-recommends chromium' as root")
	}
	cmd := exec.Command("sh", "-c", "apt-get update && apt-get install -y --no-install-recommends chromium")
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("no chromium binary on PATH, and 'apt-get install chromium' failed: %v\n%s", err, tail(out, 2000))
	}
	if p := lookChromium(); p != "" {
		return p, nil
	}
	return "", errors.New("apt-get installed chromium, but no chromium binary is on PATH")
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// caSPKIs returns the base64 SHA-256 hashes of the public keys of the
// internal CA's root and intermediate certificates.
func (in *instance) caSPKIs(t *testing.T) []string {
	t.Helper()
	var ca struct {
		Root         string `json:"root_certificate"`
		Intermediate string `json:"intermediate_certificate"`
	}
	in.adminJSON(t, "GET", "/pki/ca/local", 200, &ca)
	var out []string
	for _, p := range []string{ca.Root, ca.Intermediate} {
		rest := []byte(p)
		for {
			var blk *pem.Block
			blk, rest = pem.Decode(rest)
			if blk == nil {
				break
			}
			cert, err := x509.ParseCertificate(blk.Bytes)
			if err != nil {
				t.Fatalf("parsing the internal CA's certificate: %v", err)
			}
			sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
			out = append(out, base64.StdEncoding.EncodeToString(sum[:]))
		}
	}
	if len(out) == 0 {
		t.Fatal("the internal CA has no certificate")
	}
	return out
}

// chrome is one Chromium process, shared by the subtests of a test.
type chrome struct {
	in  *instance
	ctx context.Context
}

// newBrowser starts Chromium for the site of in, trusting its internal CA;
// it stops when t ends.
func newBrowser(t *testing.T, in *instance) *chrome {
	t.Helper()
	path := chromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("ignore-certificate-errors-spki-list", strings.Join(in.caSPKIs(t), ",")),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	start(t, ctx, "starting "+path)
	return &chrome{in: in, ctx: ctx}
}

// user is a browser profile of its own: its own cookies, as another
// person on another computer would have.
type user struct {
	b   *chrome
	ctx context.Context
}

// newUser opens a fresh browser context, closed when t ends.
func (b *chrome) newUser(t *testing.T) *user {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	start(t, ctx, "opening a browser context")
	return &user{b: b, ctx: ctx}
}

// tab is one page of a user.
type tab struct {
	t   *testing.T
	u   *user
	ctx context.Context
}

// tab returns the user's first page.
func (u *user) tab(t *testing.T) *tab {
	return &tab{t: t, u: u, ctx: u.ctx}
}

// newTab opens another page of the user, closed when t ends.
func (u *user) newTab(t *testing.T) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(u.ctx)
	t.Cleanup(cancel)
	start(t, ctx, "opening a tab")
	return &tab{t: t, u: u, ctx: ctx}
}

// on returns the tab for use in the (sub)test t.
func (tb *tab) on(t *testing.T) *tab {
	c := *tb
	c.t = t
	return &c
}

// start runs the first action on a chromedp context, which opens what
// the context stands for: the browser, a browser context or a tab. Each
// lives as long as the context it was opened with, so this one is not
// given a deadline; a start that hangs fails the test instead.
func start(t *testing.T, ctx context.Context, what string) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- chromedp.Do(ctx) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	case <-time.After(stepTimeout):
		t.Fatalf("%s: no answer after %v", what, stepTimeout)
	}
}

// site is the address of a path on the site.
func (tb *tab) site(path string) string {
	return "https://" + tb.u.b.in.site + path
}

func (tb *tab) step() (context.Context, context.CancelFunc) {
	return context.WithTimeout(tb.ctx, stepTimeout)
}

// do runs browser steps, failing the test on an error.
func (tb *tab) do(steps ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := tb.step()
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		tb.t.Fatalf("%v (page %s)", err, tb.where())
	}
}

// where names the page the tab shows, for failure messages.
func (tb *tab) where() string {
	ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
	defer cancel()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return "?"
	}
	title, _ := chromedp.Run(ctx, chromedp.Title())
	body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
	if len(body) > 600 {
		body = body[:600] + "…"
	}
	return fmt.Sprintf("%s %q: %s", loc, title, body)
}

// open navigates to a path of the site and returns the HTTP status.
func (tb *tab) open(path string) int64 {
	tb.t.Helper()
	u := path
	if strings.HasPrefix(path, "/") {
		u = tb.site(path)
	}
	ctx, cancel := tb.step()
	defer cancel()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(u))
	if err != nil {
		tb.t.Fatalf("opening %s: %v", u, err)
	}
	return resp.Status
}

// navigate runs steps that lead to another page (a click on a submit
// button, a link, history) and returns that page's HTTP status.
func (tb *tab) navigate(steps ...chromedp.Action[chromedp.Void]) int64 {
	tb.t.Helper()
	ctx, cancel := tb.step()
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, steps...)
	if err != nil {
		tb.t.Fatalf("%v (page %s)", err, tb.where())
	}
	if resp == nil {
		tb.t.Fatalf("no page loaded (page %s)", tb.where())
	}
	return resp.Status
}

// text returns the visible text of the first element sel matches, waiting
// for it.
func (tb *tab) text(sel string) string {
	tb.t.Helper()
	ctx, cancel := tb.step()
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel), chromedp.NodeVisible))
	if err != nil {
		tb.t.Fatalf("reading %s: %v (page %s)", sel, err, tb.where())
	}
	return strings.Join(strings.Fields(s), " ")
}

// value returns the value of the input or textarea sel matches.
func (tb *tab) value(sel string) string {
	tb.t.Helper()
	ctx, cancel := tb.step()
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS(sel)))
	if err != nil {
		tb.t.Fatalf("reading the value of %s: %v (page %s)", sel, err, tb.where())
	}
	return s
}

// eval evaluates a JavaScript expression in the page, waiting for the
// promise it may return, and decodes its result into out (nil: no
// result).
func (tb *tab) eval(expr string, out any) {
	tb.t.Helper()
	ctx, cancel := tb.step()
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[json.RawMessage](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		tb.t.Fatalf("evaluating %s: %v (page %s)", expr, err, tb.where())
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			tb.t.Fatalf("evaluating %s: %v: %s", expr, err, raw)
		}
	}
}

// count returns how many elements sel matches now.
func (tb *tab) count(sel string) int {
	tb.t.Helper()
	var n int
	tb.eval(fmt.Sprintf("document.querySelectorAll(%q).length", sel), &n)
	return n
}

// has says whether the page's main text contains s now.
func (tb *tab) has(s string) bool {
	tb.t.Helper()
	var ok bool
	tb.eval(fmt.Sprintf("document.body.innerText.replace(/\\s+/g, ' ').includes(%q)", s), &ok)
	return ok
}

// poll waits until the JavaScript expression is truthy in the page,
// checking again on every change of the page.
func (tb *tab) poll(expr string) {
	tb.t.Helper()
	ctx, cancel := tb.step()
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingMutation())); err != nil {
		tb.t.Fatalf("waiting for %s: %v (page %s)", expr, err, tb.where())
	}
}

// reloadUntil reloads the page until the JavaScript condition holds, for
// what the server changes on its own (delivery to a backend).
func (tb *tab) reloadUntil(cond string, within time.Duration) {
	tb.t.Helper()
	deadline := time.Now().Add(within)
	for {
		var ok bool
		tb.eval(cond, &ok)
		if ok {
			return
		}
		if time.Now().After(deadline) {
			tb.t.Fatalf("after %v the page still fails %s (page %s)", within, cond, tb.where())
		}
		tb.do(chromedp.Reload())
	}
}

// acceptDialogs accepts every confirm() the page asks from now on.
func (tb *tab) acceptDialogs() {
	dialogs := chromedp.Events(tb.ctx, page.JavascriptDialogOpening)
	go func() {
		for _, err := range dialogs {
			if err != nil {
				return
			}
			_, _ = chromedp.Call(tb.ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
}

// setCookie sets a cookie for the site in the user's profile.
func (tb *tab) setCookie(name, value string) {
	tb.t.Helper()
	ctx, cancel := tb.step()
	defer cancel()
	secure, httpOnly := true, true
	if _, err := chromedp.Call(ctx, network.SetCookie, network.SetCookieParams{
		Name: name, Value: value, URL: tb.site("/"), Path: "/", Secure: &secure, HTTPOnly: &httpOnly,
		SameSite: network.CookieSameSiteLax,
	}); err != nil {
		tb.t.Fatalf("setting cookie %s: %v", name, err)
	}
}

// downloadsTo sends the user's downloads to a new directory, which it
// returns.
func (u *user) downloadsTo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(u.ctx, stepTimeout)
	defer cancel()
	if _, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior:         browser.SetDownloadBehaviorBehaviorAllow,
		BrowserContextID: chromedp.FromContext(u.ctx).BrowserContextID,
		DownloadPath:     dir,
	}); err != nil {
		t.Fatalf("setting the download directory: %v", err)
	}
	return dir
}

// waitFile waits until the browser has finished writing name in dir.
func waitFile(t *testing.T, dir, name string) []byte {
	t.Helper()
	deadline := time.Now().Add(stepTimeout)
	for {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err == nil && len(b) > 0 {
			return b
		}
		if time.Now().After(deadline) {
			entries, _ := os.ReadDir(dir)
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			t.Fatalf("no download %s in %v: %v", name, names, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// signIn signs the user in with a fresh link for tenant from the admin API
// and the Sign in button, and returns the address of the page it leads to.
func (tb *tab) signIn(tenant string) string {
	tb.t.Helper()
	link := tb.u.b.in.consoleLink(tb.t, tenant)
	if status := tb.open(link); status != 200 {
		tb.t.Fatalf("sign-in page: %d (page %s)", status, tb.where())
	}
	if status := tb.navigate(chromedp.Click(chromedp.CSS(`form[action$="/signin"] button[type=submit]`), chromedp.NodeVisible)); status != 200 {
		tb.t.Fatalf("signing in: %d (page %s)", status, tb.where())
	}
	ctx, cancel := tb.step()
	defer cancel()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		tb.t.Fatal(err)
	}
	return loc
}

// consoleLink returns a sign-in link for tenant's admin ("" for an
// operator) from the admin API.
func (in *instance) consoleLink(t *testing.T, tenant string) string {
	t.Helper()
	body := fmt.Sprintf(`{"tenant":%q}`, tenant)
	if tenant == "" {
		body = `{"operator":true}`
	}
	status, b := in.adminDo(t, "POST", "/scim/console/links", body)
	if status != 200 {
		t.Fatalf("POST /scim/console/links: %d %s", status, b)
	}
	var l ConsoleLink
	if err := json.Unmarshal(b, &l); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(l.URL)
	if err != nil || u.Host != in.site {
		t.Fatalf("sign-in link %q is not on the site %s: %v", l.URL, in.site, err)
	}
	return l.URL
}
