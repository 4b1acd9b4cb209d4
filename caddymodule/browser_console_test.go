package caddymodule

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// consoleCaddyfile serves the console next to tenants of every built-in
// backend: print (Pharos-style, no rotation overlap), acme (no backend,
// a one-hour overlap), insights (HP Insights-style, which refuses a second
// user with the same email), globex (30-day tokens) and runtime tenants of
// a Keepnet-style profile.
const consoleCaddyfile = browserGlobals + `
{SITE} {
	scim {
		tenant print {
			backend pharos
		}
		tenant acme {
			rotation_overlap 1h
		}
		tenant insights {
			backend hpinsights
		}
		tenant globex {
			token_validity 30d
		}
		runtime_tenants aware {
			backend keepnet
		}
	}
	scim_console
	respond "not the console" 404
}
`

// Selectors of the console's pages.
const (
	selSubmit     = `button[type=submit]`
	selGenerate   = `form[action$="/token"] button[type=submit]`
	selRegenerate = `a.button[href$="/regenerate"]`
	selConfirm    = `form[action$="/token"] button.primary`
	selNotices    = `ul.notices`
	selFlash      = `.flash`
)

// requestRow is one row of the connection check.
type requestRow struct {
	Request string `json:"request"`
	Result  string `json:"result"`
}

// connectionRows reads the connection check's rows, newest first.
func (tb *tab) connectionRows() []requestRow {
	tb.t.Helper()
	var rows []requestRow
	tb.eval(`[...document.querySelectorAll("#connection-body tbody tr")].map(r => ({
		request: r.querySelector('[data-label="Request"]').innerText.trim(),
		result: r.querySelector('[data-label="Result"]').innerText.replace(/\s+/g, " ").trim()}))`, &rows)
	return rows
}

// notices reads the panel's warnings by code.
func (tb *tab) notices() map[string]string {
	tb.t.Helper()
	var list []struct{ Code, Text string }
	tb.eval(`[...document.querySelectorAll("ul.notices li")].map(li => ({Code: li.dataset.code, Text: li.innerText.replace(/\s+/g, " ").trim()}))`, &list)
	out := map[string]string{}
	for _, n := range list {
		out[n.Code] = n.Text
	}
	return out
}

// tokenID is the id of the tenant's newest token, from the admin API.
func (in *instance) tokenID(t *testing.T, tenant string) string {
	t.Helper()
	st := in.status(t, tenant)
	if st.Token == nil {
		return ""
	}
	return st.Token.ID
}

// credentials is a downloaded credentials file.
type credentials struct {
	TenantURL, Token, Expiry string
}

func parseCredentials(t *testing.T, b []byte) credentials {
	t.Helper()
	var c credentials
	for line := range strings.SplitSeq(string(b), "\r\n") {
		k, v, _ := strings.Cut(line, ": ")
		switch k {
		case "Tenant URL":
			c.TenantURL = v
		case "Token":
			c.Token = v
		case "Token expiry":
			c.Expiry = v
		}
	}
	if c.TenantURL == "" || c.Token == "" || c.Expiry == "" {
		t.Fatalf("credentials file %q lacks a line", b)
	}
	return c
}

// scimPath is the path of a Tenant URL, for in.scim.
func scimPath(t *testing.T, tenantURL string) string {
	t.Helper()
	u, err := url.Parse(tenantURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Path
}

// TestConsoleBrowser drives the console in Chromium as tenant admins do:
// sign-in links, tokens, the connection check, dead letters, settings,
// actions, and what the console refuses.
func TestConsoleBrowser(t *testing.T) {
	in := startCaddy(t, consoleCaddyfile)
	b := newBrowser(t, in)
	admin := b.newUser(t) // print's admin, through every subtest
	printTab := admin.tab(t)
	var printToken string

	t.Run("sign in with a link, once", func(t *testing.T) {
		tb := printTab.on(t)
		link := in.consoleLink(t, "print")
		if status := tb.open(link); status != 200 {
			t.Fatalf("sign-in page: %d", status)
		}
		if got := tb.text("main .card p"); got != "This link signs you in to User and Group Sync for print." {
			t.Errorf("the sign-in page says %q", got)
		}
		var loc string
		tb.eval("location.href", &loc)
		if strings.Contains(loc, "link=") {
			t.Errorf("the link's secret stays in the address bar: %s", loc)
		}
		if status := tb.navigate(chromedp.Click(chromedp.CSS(`main form `+selSubmit), chromedp.NodeVisible)); status != 200 {
			t.Fatalf("Sign in: %d", status)
		}
		tb.eval("location.pathname", &loc)
		if loc != "/console/t/print/" {
			t.Errorf("Sign in led to %s, want the panel", loc)
		}
		var title string
		tb.eval("document.title", &title)
		if title != "User and Group Sync" {
			t.Errorf("the panel's title is %q", title)
		}
		if n := tb.notices(); !strings.HasPrefix(n["token_missing"], "No token has been generated yet.") {
			t.Errorf("the panel of a tenant without a token warns %v", n)
		}
		if got := tb.text("#sync .facts"); !strings.Contains(got, "Token Expiry No token yet") || !strings.Contains(got, "Last Access Never") {
			t.Errorf("the panel's facts: %q", got)
		}

		// The same link in another browser is refused.
		other := b.newUser(t).tab(t)
		if status := other.open(link); status != 410 {
			t.Errorf("a used link: %d, want 410", status)
		}
		if got := other.text("h1"); got != "This sign-in link cannot be used" {
			t.Errorf("a used link's page: %q", got)
		}
		if !other.has("It was already used. Each link signs you in once.") || other.count("main form") != 0 {
			t.Errorf("a used link's page: %s", other.where())
		}
		if status := other.open("/console/t/print/"); status != 401 {
			t.Errorf("the panel without signing in: %d, want 401", status)
		}
	})

	t.Run("generate and download a token", func(t *testing.T) {
		tb := printTab.on(t)
		dir := admin.downloadsTo(t)
		if status := tb.navigate(chromedp.Click(chromedp.CSS(selGenerate), chromedp.NodeVisible)); status != 200 {
			t.Fatalf("Generate Token: %d", status)
		}
		if got := tb.text("h1"); got != "Your new token" {
			t.Fatalf("Generate Token led to %q", got)
		}
		shownURL, shown := tb.value("#tenant-url"), tb.value("#token")
		if !strings.HasPrefix(shown, "scim_") || shownURL != "https://"+in.site+"/scim/v2/print" {
			t.Fatalf("the token page shows %q, %q", shownURL, shown)
		}
		if got := tb.text("#expiry"); !strings.HasPrefix(got, "The new token expires on ") || !near(consoleTime(t, got), time.Now().Add(365*24*time.Hour)) {
			t.Errorf("the token page says %q, want an expiry a year from now", got)
		}
		tb.do(chromedp.Click(chromedp.ID("download"), chromedp.NodeVisible))
		creds := parseCredentials(t, waitFile(t, dir, "scim-credentials-print.txt"))
		if creds.Token != shown || creds.TenantURL != shownURL {
			t.Errorf("the file holds %+v, the page showed %q, %q", creds, shownURL, shown)
		}
		if exp, err := time.Parse(time.RFC3339, creds.Expiry); err != nil || exp.Sub(time.Now()) < 364*24*time.Hour {
			t.Errorf("the file's expiry %q: %v", creds.Expiry, err)
		}
		// The Tenant URL of the file is where the API answers, and the
		// token of the file opens it.
		status, _, body := in.scim(t, "GET", scimPath(t, creds.TenantURL)+"/Users", creds.Token, "")
		if status != 200 || body["totalResults"] != float64(0) {
			t.Errorf("the downloaded credentials: %d %v", status, body)
		}
		printToken = creds.Token
	})

	t.Run("no token shown or minted again", func(t *testing.T) {
		tb := printTab.on(t)
		id := in.tokenID(t, "print")
		if id == "" {
			t.Fatal("print has no token")
		}
		// Another tab shows the panel: no token and no Generate button,
		// only Regenerate.
		second := admin.newTab(t)
		if status := second.open("/console/t/print/"); status != 200 {
			t.Fatalf("the panel in a new tab: %d", status)
		}
		if second.count("#token") != 0 || second.has("scim_") || second.count(selGenerate) != 0 || second.count(selRegenerate) != 1 {
			t.Errorf("the panel in a new tab: %s", second.where())
		}
		// Leave the token page for the panel, then press back.
		if status := tb.navigate(chromedp.Click(chromedp.CSS(`main a[href="/console/t/print/"]`), chromedp.NodeVisible)); status != 200 {
			t.Fatalf("Back to User and Group Sync: %d", status)
		}
		// The answer to the POST is not kept: Chromium does not show it
		// again from its cache, nor post the form again unasked.
		ctx, cancel := tb.step()
		err := chromedp.Do(ctx, chromedp.NavigateBack())
		cancel()
		var le *chromedp.LoadError
		if err != nil && (!errors.As(err, &le) || le.ErrorText != "net::ERR_CACHE_MISS") {
			t.Fatalf("back: %v", err)
		}
		if tb.count("#token") != 0 || tb.has(printToken) {
			t.Errorf("back to the token page shows the token: %s", tb.where())
		}
		if got := in.tokenID(t, "print"); got != id {
			t.Errorf("going back minted token %s over %s", got, id)
		}
		// Reloading posts the used form again: refused.
		if status := tb.navigate(chromedp.Reload()); status != 409 {
			t.Errorf("posting the token form again: %d, want 409", status)
		}
		if tb.count("#token") != 0 || tb.has(printToken) || !tb.has("This token was already shown and is not shown again.") {
			t.Errorf("the reloaded token page: %s", tb.where())
		}
		if got := in.tokenID(t, "print"); got != id {
			t.Errorf("reloading minted token %s over %s", got, id)
		}
		if status, _, _ := in.scim(t, "GET", "/scim/v2/print/Users", printToken, ""); status != 200 {
			t.Errorf("the token after reload and back: %d", status)
		}
	})

	t.Run("regenerate without an overlap", func(t *testing.T) {
		tb := printTab.on(t)
		tb.open("/console/t/print/")
		if status := tb.navigate(chromedp.Click(chromedp.CSS(selRegenerate), chromedp.NodeVisible)); status != 200 {
			t.Fatalf("Regenerate Token: %d", status)
		}
		if got := tb.text("#overlap"); got != "Your current token stops working at once: provisioning fails until you enter the new token in your identity provider." {
			t.Errorf("the confirmation says of the current token: %q", got)
		}
		if got := tb.text("#validity"); !strings.HasPrefix(got, "The new token is valid for 1 year, until ") || !near(consoleTime(t, got), time.Now().Add(365*24*time.Hour)) {
			t.Errorf("the confirmation says of the new token: %q", got)
		}
		if status, _, _ := in.scim(t, "GET", "/scim/v2/print/Users", printToken, ""); status != 200 {
			t.Errorf("the confirmation page replaced the token: %d", status)
		}
		if status := tb.navigate(chromedp.Click(chromedp.CSS(selConfirm), chromedp.NodeVisible)); status != 200 {
			t.Fatalf("confirming: %d", status)
		}
		fresh := tb.value("#token")
		if got := tb.text("li.previous"); !strings.HasPrefix(got, "The previous token stopped working now") {
			t.Errorf("the token page says of the previous token: %q", got)
		}
		if status, _, body := in.scim(t, "GET", "/scim/v2/print/Users", printToken, ""); status != 401 {
			t.Errorf("the replaced token: %d %v", status, body)
		}
		if status, _, _ := in.scim(t, "GET", "/scim/v2/print/Users", fresh, ""); status != 200 {
			t.Errorf("the new token: %d", status)
		}
		printToken = fresh
	})

	t.Run("regenerate with an overlap", func(t *testing.T) {
		tb := b.newUser(t).tab(t)
		tb.signIn("acme")
		tb.navigate(chromedp.Click(chromedp.CSS(selGenerate), chromedp.NodeVisible))
		first := tb.value("#token")
		tb.navigate(chromedp.Click(chromedp.CSS(`main a[href="/console/t/acme/"]`), chromedp.NodeVisible))
		tb.navigate(chromedp.Click(chromedp.CSS(selRegenerate), chromedp.NodeVisible))
		if got := tb.text("#overlap"); !strings.HasPrefix(got, "Your current token keeps working until ") || !strings.Contains(got, "(for 1 hour)") || !near(consoleTime(t, got), time.Now().Add(time.Hour)) {
			t.Errorf("the confirmation says of the current token: %q, want it to work for an hour more", got)
		}
		tb.navigate(chromedp.Click(chromedp.CSS(selConfirm), chromedp.NodeVisible))
		fresh := tb.value("#token")
		if got := tb.text("li.previous"); !strings.HasPrefix(got, "The previous token keeps working until ") {
			t.Errorf("the token page says of the previous token: %q", got)
		}
		for _, tok := range []string{first, fresh} {
			if status, _, _ := in.scim(t, "GET", "/scim/v2/acme/Users", tok, ""); status != 200 {
				t.Errorf("inside the overlap: %d", status)
			}
		}
		tb.open("/console/t/acme/")
		if !tb.has("An earlier token still works until ") {
			t.Errorf("the panel does not show the overlap: %s", tb.where())
		}
	})

	t.Run("connection check", func(t *testing.T) {
		tb := printTab.on(t)
		tb.open("/console/t/print/")
		// Tick the automatic refresh; the rows then come without a
		// page load, which the marker would not survive.
		tb.eval("window.stillHere = true", nil)
		if status, _, _ := in.scim(t, "GET", "/scim/v2/print/Groups", "scim_notavalidtoken", ""); status != 401 {
			t.Fatalf("a wrong token: %d", status)
		}
		if status, _, _ := in.scim(t, "GET", "/scim/v2/print/Groups?count=1", printToken, ""); status != 200 {
			t.Fatalf("the token: %d", status)
		}
		tb.do(chromedp.Click(chromedp.ID("refresh-auto"), chromedp.NodeVisible))
		tb.poll(`document.querySelectorAll("#connection-body tbody tr")[1]?.innerText.includes("list Groups")`)
		var still bool
		tb.eval("window.stillHere === true", &still)
		if !still {
			t.Error("the page was loaded again instead of refreshing the connection check")
		}
		rows := tb.connectionRows()
		want := []requestRow{
			{"list Groups", "200 OK"},
			{"list Groups", "401 Refused: the token is not one of this tenant's: check that it was copied whole and is not another tenant's"},
		}
		if len(rows) < 2 || rows[0] != want[0] || rows[1] != want[1] {
			t.Errorf("the connection check shows %+v, want first %+v", rows, want)
		}
	})

	t.Run("the Entra walk-through sees the IdP's first request", func(t *testing.T) {
		tb := b.newUser(t).tab(t)
		tb.signIn("globex")
		tenantURL := "https://" + in.site + "/scim/v2/globex"
		// From the panel: the walk-through link, then Entra ID.
		tb.open("/console/t/globex/")
		if status := tb.navigate(chromedp.Click(chromedp.CSS(`a[href$="/t/globex/setup"]`), chromedp.NodeVisible)); status != 200 {
			t.Fatalf("the walk-through: %d", status)
		}
		if status := tb.navigate(chromedp.Click(chromedp.CSS(`a[href$="/setup/entra"]`), chromedp.NodeVisible)); status != 200 {
			t.Fatalf("the Entra guide: %d", status)
		}
		guide := tb.text("section.guide")
		if !strings.Contains(guide, "Paste "+tenantURL) && !strings.Contains(guide, tenantURL+" into Tenant URL") {
			t.Errorf("the Entra steps do not carry this Tenant URL: %.600s", guide)
		}
		if strings.Contains(guide, "tenant_url") || strings.Contains(guide, "caddy scim") {
			t.Errorf("the guide still speaks to the operator: %.600s", guide)
		}
		if tb.value("#tenant-url") != tenantURL || !tb.has("You have no token yet") {
			t.Errorf("step 1 does not show this Tenant URL and the missing token")
		}
		if !tb.has("No request has reached your Tenant URL yet") {
			t.Fatal("the connection check is not empty before the IdP's test")
		}
		// Entra's Test Connection: a filter on a random userName, with the
		// token the admin generated meanwhile.
		token := in.token(t, "globex").Token
		tb.eval("window.stillHere = true", nil)
		tb.do(chromedp.Click(chromedp.ID("refresh-auto"), chromedp.NodeVisible))
		if status, _, _ := in.scim(t, "GET", "/scim/v2/globex/Users?filter=userName+eq+%22c6f3a0c4-31b6-4e4a-8f5f-2a1d0c9e7b11%22", token, ""); status != 200 {
			t.Fatalf("the test request: %d", status)
		}
		tb.poll(`document.querySelector("#connection-body tbody tr")?.innerText.includes("list Users")`)
		rows := tb.connectionRows()
		if len(rows) != 1 || rows[0] != (requestRow{"list Users", "200 OK"}) {
			t.Errorf("the connection check shows %+v after the IdP's test", rows)
		}
		var still bool
		tb.eval("window.stillHere === true", &still)
		if !still {
			t.Error("the walk-through was loaded again instead of refreshing the connection check")
		}
	})

	t.Run("dead letter replayed from the page", func(t *testing.T) {
		tok := in.token(t, "insights").Token
		create := func(name, email string) string {
			status, _, res := in.scim(t, "POST", "/scim/v2/insights/Users", tok, fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":%q,"emails":[{"value":%q,"type":"work"}]}`, name, email))
			if status != 201 {
				t.Fatalf("create %s: %d %v", name, status, res)
			}
			return res["id"].(string)
		}
		create("dave", "shared@contoso.example")
		eve := create("eve", "shared@contoso.example")
		in.waitDeadLetters(t, "insights", 1)

		tb := b.newUser(t).tab(t)
		tb.signIn("insights")
		n := tb.notices()
		if !strings.HasPrefix(n["dead_letters"], "1 change from your identity provider could not be applied.") {
			t.Errorf("the dead-letter warning: %q", n["dead_letters"])
		}
		// The refused change was the last: nothing waits, nothing fails.
		if _, ok := n["delivery_failing"]; ok || !strings.Contains(tb.text("#delivery .facts"), "State Working") {
			t.Errorf("delivery after a dead letter with nothing waiting: %v, %q", n, tb.text("#delivery .facts"))
		}
		var rows []map[string]string
		readRows := func() {
			tb.eval(`[...document.querySelectorAll("#delivery tbody tr")].map(r => Object.fromEntries(
				[...r.querySelectorAll("td[data-label]")].map(c => [c.dataset.label, c.innerText.trim()])))`, &rows)
		}
		readRows()
		if len(rows) != 1 || rows[0]["Change"] != "User created" || rows[0]["Who"] != "eve" || !strings.Contains(rows[0]["Reason"], "shared@contoso.example") {
			t.Fatalf("the dead letters shown: %+v", rows)
		}
		t.Logf("dead letter reason: %s", rows[0]["Reason"])

		// The admin fixes eve's email in the IdP, then replays.
		if status, _, res := in.scim(t, "PATCH", "/scim/v2/insights/Users/"+eve, tok,
			`{"Operations":[{"op":"replace","path":"emails[type eq \"work\"].value","value":"eve@contoso.example"}]}`); status != 204 {
			t.Fatalf("fix: %d %v", status, res)
		}
		in.waitDelivered(t, "insights")
		tb.open("/console/t/insights/")
		readRows()
		if len(rows) != 1 {
			t.Fatalf("dead letters after the fix: %+v", rows)
		}
		if status := tb.navigate(chromedp.Click(chromedp.CSS(`#delivery tbody form[action$="/replay"] `+selSubmit), chromedp.NodeVisible)); status != 200 {
			t.Fatalf("Replay: %d", status)
		}
		if got := tb.text(selFlash); got != "1 change sent again for delivery." {
			t.Errorf("after Replay: %q", got)
		}
		tb.reloadUntil(`(t => t.includes("None: every change was applied") && t.includes("Nothing waiting"))(document.querySelector("#delivery").innerText)`, 30*time.Second)
		if _, ok := tb.notices()["dead_letters"]; ok {
			t.Error("the dead-letter warning stays after the replay")
		}
		var store struct {
			Users []struct {
				Email  string `json:"email"`
				ScimID string `json:"scim_id"`
			} `json:"users"`
		}
		in.inspect(t, "insights", &store)
		found := false
		for _, u := range store.Users {
			found = found || (u.ScimID == eve && u.Email == "eve@contoso.example")
		}
		if !found {
			t.Errorf("eve never reached the product: %+v", store.Users)
		}
	})

	t.Run("settings of a runtime tenant", func(t *testing.T) {
		in.putTenant(t, "aware1", `{"profile":"aware"}`, 201)
		tok := in.token(t, "aware1").Token
		tb := b.newUser(t).tab(t)
		tb.signIn("aware1")
		const fieldMap = `input[name="s.field_map"], textarea[name="s.field_map"]`
		const groupBy = `input[name="s.group_by"]`
		const mapping = "employee_code urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber"
		tb.do(chromedp.SetValue(chromedp.CSS(fieldMap), mapping, chromedp.NodeVisible))
		if status := tb.navigate(chromedp.Click(chromedp.CSS(`form[action$="/settings"] `+selSubmit), chromedp.NodeVisible)); status != 200 {
			t.Fatalf("Save: %d", status)
		}
		if got := tb.text(selFlash); got != "Settings saved." {
			t.Errorf("after Save: %q", got)
		}
		if got := tb.value(fieldMap); got != mapping {
			t.Errorf("the saved field_map shows %q", got)
		}
		var tagged bool
		tb.eval(`document.querySelector('label[for="' + document.querySelector('[name="s.field_map"]').id + '"]').innerText.includes("default")`, &tagged)
		if tagged {
			t.Error("the saved field_map is still marked as the default")
		}

		body := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
			"userName":"alice@contoso.example","active":true,"name":{"givenName":"Alice","familyName":"Example"},
			"emails":[{"primary":true,"type":"work","value":"alice@contoso.example"}],
			"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"1001"}}`
		if status, _, res := in.scim(t, "POST", "/scim/v2/aware1/Users", tok, body); status != 201 {
			t.Fatalf("create: %d %v", status, res)
		}
		in.waitDelivered(t, "aware1")
		var store struct {
			TargetUsers []struct {
				Email        string            `json:"email"`
				CustomFields map[string]string `json:"custom_fields"`
			} `json:"target_users"`
		}
		in.inspect(t, "aware1", &store)
		if len(store.TargetUsers) != 1 || store.TargetUsers[0].CustomFields["employee_code"] != "1001" {
			t.Errorf("the product store after the mapping: %+v", store.TargetUsers)
		}

		// A setting the backend refuses: its message on the page, the
		// input kept, nothing saved.
		tb.do(chromedp.SetValue(chromedp.CSS(groupBy), "field:nope", chromedp.NodeVisible))
		if status := tb.navigate(chromedp.Click(chromedp.CSS(`form[action$="/settings"] `+selSubmit), chromedp.NodeVisible)); status != 422 {
			t.Errorf("saving a refused setting: %d, want 422", status)
		}
		if got := tb.text("#settings-error"); !strings.Contains(got, `"field:nope" names no field_map entry; mapped fields: employee_code`) {
			t.Errorf("the refusal shows %q", got)
		}
		if got := tb.value(groupBy); got != "field:nope" {
			t.Errorf("the refused input was not kept: %q", got)
		}
		if got := tb.value(fieldMap); got != mapping {
			t.Errorf("field_map after a refusal: %q", got)
		}
		var after struct {
			Settings struct {
				GroupBy string `json:"group_by"`
			} `json:"settings"`
		}
		in.inspect(t, "aware1", &after)
		if after.Settings.GroupBy != "none" {
			t.Errorf("a refused group_by reached the backend: %q", after.Settings.GroupBy)
		}
	})

	t.Run("card import", func(t *testing.T) {
		tb := printTab.on(t)
		if status, _, res := in.scim(t, "POST", "/scim/v2/print/Users", printToken, userBody("bob@contoso.example")); status != 201 {
			t.Fatalf("create bob: %d %v", status, res)
		}
		in.waitDelivered(t, "print")
		csv := filepath.Join(t.TempDir(), "cards.csv")
		if err := os.WriteFile(csv, []byte("user,card\nbob@contoso.example,0042\nmallory@contoso.example,0666\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		tb.open("/console/t/print/")
		const form = `form[action$="/actions/import-cards"]`
		tb.do(chromedp.SetUploadFiles(chromedp.CSS(form+` input[type=file]`), []string{csv}))
		if status := tb.navigate(chromedp.Click(chromedp.CSS(form+` `+selSubmit), chromedp.NodeVisible)); status != 200 {
			t.Fatalf("Run import-cards: %d", status)
		}
		summary := tb.text(selFlash + " p")
		if summary != "import-cards: rows: 2, cards added: 1, already assigned: 0, refused: 1" {
			t.Errorf("the import's summary: %q", summary)
		}
		if detail := tb.text(selFlash + " pre.detail"); !strings.Contains(detail, "mallory@contoso.example") {
			t.Errorf("the import's detail does not name the refused line: %q", detail)
		}
		var store struct {
			Users []struct {
				Login string   `json:"login"`
				Cards []string `json:"cards"`
			} `json:"users"`
		}
		in.inspect(t, "print", &store)
		for _, u := range store.Users {
			if u.Login == "bob@contoso.example" && strings.Join(u.Cards, ",") != "0042" {
				t.Errorf("bob's cards: %v", u.Cards)
			}
		}
	})

	t.Run("another tenant's panel is refused", func(t *testing.T) {
		tb := printTab.on(t)
		for _, p := range []string{"/console/t/acme/", "/console/t/acme/regenerate"} {
			if status := tb.open(p); status != 403 {
				t.Errorf("%s: %d, want 403", p, status)
			}
			if !tb.has("You may only open your own organization's settings.") {
				t.Errorf("%s: %s", p, tb.where())
			}
		}
		// print's own form, changed to name acme, or sent to acme's page.
		for name, change := range map[string]string{
			"tenant field": `document.querySelector('form[action$="/actions/import-cards"] input[name=tenant]').value = "acme"`,
			"action":       `document.querySelector('form[action$="/actions/import-cards"]').action = "/console/t/acme/actions/import-cards"`,
		} {
			tb.open("/console/t/print/")
			tb.eval(change, nil)
			if status := tb.navigate(chromedp.Click(chromedp.CSS(`form[action*="/actions/import-cards"] `+selSubmit), chromedp.NodeVisible)); status != 403 {
				t.Errorf("a form with acme's %s: %d, want 403", name, status)
			}
			if got := tb.text("h1"); got != "Access refused" {
				t.Errorf("a form with acme's %s: %q", name, got)
			}
		}
	})

	t.Run("a POST without the CSRF token is refused", func(t *testing.T) {
		tb := printTab.on(t)
		tb.open("/console/t/print/")
		tb.eval(`document.querySelector('form[action$="/actions/import-cards"] input[name=csrf]').remove()`, nil)
		if status := tb.navigate(chromedp.Click(chromedp.CSS(`form[action$="/actions/import-cards"] `+selSubmit), chromedp.NodeVisible)); status != 403 {
			t.Errorf("a form without its CSRF field: %d, want 403", status)
		}
		if !tb.has("The form has expired or did not come from this console.") {
			t.Errorf("a form without its CSRF field: %s", tb.where())
		}
		tb.open("/console/t/print/")
		var statuses []int
		tb.eval(`(async () => {
			const csrf = document.querySelector("input[name=csrf]").value;
			const post = body => fetch("/console/t/print/replay", {method: "POST", body: new URLSearchParams(body), redirect: "manual"}).then(r => r.status);
			return [await post({tenant: "print", all: "1"}), await post({tenant: "print", all: "1", csrf: "x" + csrf}), await post({tenant: "print", all: "1", csrf})];
		})()`, &statuses)
		// A manual redirect shows as status 0: the request went through.
		if len(statuses) != 3 || statuses[0] != 403 || statuses[1] != 403 || statuses[2] != 0 {
			t.Errorf("fetch without, with a wrong and with the CSRF token: %v, want [403 403 0]", statuses)
		}
	})

	// Last: it moves the clock, which ends console sessions.
	t.Run("warnings as time passes", func(t *testing.T) {
		tok := in.token(t, "globex")
		lastRequest := now().UTC().Format("2 Jan 2006")
		if status, _, _ := in.scim(t, "GET", "/scim/v2/globex/Users", tok.Token, ""); status != 200 {
			t.Fatal(status)
		}
		tb := b.newUser(t).tab(t)
		tb.signIn("globex")
		if n := tb.notices(); len(n) != 0 {
			t.Errorf("warnings of a tenant in use: %v", n)
		}
		expires := tok.ExpiresAt.UTC().Format("2 Jan 2006")

		advance(17 * 24 * time.Hour)
		tb.signIn("globex")
		n := tb.notices()
		// 13 days less the seconds since the token was made: "13 days" to
		// the nearest minute, "12" had a minute passed.
		want := "Your token expires on " + expires + " (in 13 days). Regenerate it"
		if got := n["token_expiring"]; (!strings.HasPrefix(got, want) && !strings.HasPrefix(got, strings.Replace(want, "13 days", "12 days", 1))) || len(n) != 1 {
			t.Errorf("13 days before expiry: %v, want %q…", n, want)
		}

		advance(14 * 24 * time.Hour)
		tb.signIn("globex")
		n = tb.notices()
		if want := "Your token expired on " + expires + ", so your identity provider cannot provision users."; !strings.HasPrefix(n["token_expired"], want) {
			t.Errorf("after expiry: %v, want %q…", n, want)
		}
		if got := tb.text("#sync .facts"); !strings.Contains(got, "(no longer works)") {
			t.Errorf("the facts after expiry: %q", got)
		}
		if tb.count(`ul.notices li.notice-error[data-code="token_expired"]`) != 1 {
			t.Error("the expired token is not shown as an error")
		}

		advance(30 * 24 * time.Hour)
		tb.signIn("globex")
		n = tb.notices()
		if want := "No update has arrived from your identity provider since " + lastRequest + ", over 60 days ago."; !strings.HasPrefix(n["idle"], want) {
			t.Errorf("61 days after the last request: %v, want %q…", n, want)
		}
	})
}

// consoleTimeRE matches a time as the console writes it.
var consoleTimeRE = regexp.MustCompile(`\d{1,2} [A-Z][a-z]{2} \d{4}, \d{2}:\d{2} UTC`)

// consoleTime reads the first time the console wrote in s.
func consoleTime(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.Parse("2 Jan 2006, 15:04 UTC", consoleTimeRE.FindString(s))
	if err != nil {
		t.Fatalf("no time in %q: %v", s, err)
	}
	return tm
}

// near says whether a time shown to the minute is want's.
func near(got, want time.Time) bool {
	d := got.Sub(want.Truncate(time.Minute))
	return d > -2*time.Minute && d < 2*time.Minute
}

// waitDeadLetters waits until the tenant's delivery has n dead letters
// and nothing waiting.
func (in *instance) waitDeadLetters(t *testing.T, tenant string, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := in.status(t, tenant)
		if st.Backend.Delivery.DeadLetters == n && st.Backend.Delivery.Lag == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("tenant %s: want %d dead letters: %+v", tenant, n, st.Backend.Delivery)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
