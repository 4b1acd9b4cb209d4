package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

func ptr[T any](v T) *T { return &v }

func TestWarningsWordedForTenantAdmin(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for code, tc := range map[string]struct {
		setup func(p *Panel)
		want  []string
		level string
	}{
		"token_missing": {want: []string{"No token has been generated yet", "Generate one"}, level: "info"},
		"token_expiring": {
			setup: func(p *Panel) { p.Token = &TokenInfo{ExpiresAt: now.Add(10 * 24 * time.Hour)} },
			want:  []string{"expires on 11 Mar 2025 (in 10 days)", "Regenerate it"},
		},
		"token_expired": {
			setup: func(p *Panel) { p.Token = &TokenInfo{ExpiresAt: now.Add(-24 * time.Hour)} },
			want:  []string{"expired on 28 Feb 2025", "Regenerate the token"}, level: "error",
		},
		"never_used": {want: []string{"has not connected yet", "Tenant URL and the token"}},
		"idle": {
			setup: func(p *Panel) { p.LastRequest = ptr(now.AddDate(0, 0, -70)) },
			want:  []string{"since 21 Dec 2024, over 60 days ago", "still switched on"},
		},
		"dead_letters": {
			setup: func(p *Panel) { p.Backend = &Backend{Name: "pharos", DeadLetters: 3} },
			want:  []string{"3 changes", "could not be applied", "replay them"}, level: "error",
		},
		"delivery_failing": {want: []string{"not being applied", "nothing needs changing"}, level: "error"},
		"disabled":         {want: []string{"switched off", "Ask your service provider"}, level: "error"},
		"something_new":    {want: []string{"the server's own words"}},
	} {
		t.Run(code, func(t *testing.T) {
			hs := newHarness(t)
			ft := hs.svc.add("acme")
			ft.panel.Warnings = []Warning{{Code: code, Message: "the server's own words; run 'caddy scim deadletters'"}}
			if code != "something_new" {
				ft.panel.Warnings[0].Message = "caddy scim something --tenant acme"
			}
			if tc.setup != nil {
				tc.setup(&ft.panel)
			}
			res := hs.admin("acme").get("/console/t/acme/").status(http.StatusOK)
			items := all(res.doc, func(n *html.Node) bool { return attr(n, "data-code") == code })
			if len(items) != 1 {
				t.Fatalf("%d notices for %s", len(items), code)
			}
			got := text(items[0])
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("notice %q lacks %q", got, w)
				}
			}
			level := tc.level
			if level == "" {
				level = "warn"
			}
			if cls := attr(items[0], "class"); !strings.Contains(cls, "notice-"+level) {
				t.Errorf("notice class %q, want level %s", cls, level)
			}
			if code != "something_new" && strings.Contains(res.mainText(), "caddy") {
				t.Error("the tenant panel shows a server command line")
			}
		})
	}
}

func TestTokenRevokedWarning(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	p := &Panel{Token: &TokenInfo{ExpiresAt: now.AddDate(0, 6, 0)}}
	n := tenantNotice(Warning{Code: "token_expired"}, p, now)
	if !strings.Contains(n.Text, "was revoked") {
		t.Errorf("revoked token notice: %s", n.Text)
	}
}

func TestPanelFacts(t *testing.T) {
	hs := newHarness(t)
	ft := hs.svc.add("acme")
	now := hs.clock.Now()
	ft.panel.Token = &TokenInfo{ID: "t1", IssuedAt: now.AddDate(0, -1, 0), ExpiresAt: now.Add(20 * 24 * time.Hour)}
	ft.panel.Overlapping = []TokenInfo{{ID: "t0", AcceptedUntil: ptr(now.Add(36 * time.Hour))}}
	ft.panel.LastRequest = ptr(now.Add(-3 * time.Hour))
	ft.panel.LastChange = ptr(now.Add(-2 * 24 * time.Hour))
	ft.panel.Backend = &Backend{Name: "pharos", Version: "1.2.0", Delivered: 1200, Head: 1234, Lag: 34, LagTime: 90 * time.Second,
		DeadLetters: 1, Failing: true, LastError: "connection refused"}
	ft.activity = []Activity{
		{Seq: 1234, Time: now.Add(-time.Minute), Kind: "group.members_added", Who: "Printing", Members: 3},
		{Seq: 1233, Time: now.Add(-2 * time.Minute), Kind: "user.updated", Who: "ada@example.com", Changed: []string{"title", "emails"}},
	}
	for i := range 30 {
		ft.activity = append(ft.activity, Activity{Seq: uint64(1000 - i), Time: now.Add(-time.Hour), Kind: "user.created", Who: "u"})
	}
	ft.requests = []Request{
		{Time: now.Add(-time.Minute), Operation: "list Users", Status: 401, Reason: "revoked", ClientIP: "203.0.113.9"},
		{Time: now.Add(-2 * time.Minute), Operation: "create User", Status: 201, ClientIP: "203.0.113.9"},
	}
	ft.dead = []DeadLetter{{Seq: 77, Time: now.Add(-time.Hour), Kind: "user.created", Who: "bob@example.com", Error: "email is taken", Attempts: 5}}

	res := hs.admin("acme").get("/console/t/acme/").status(http.StatusOK)
	body := res.mainText()
	for dt, want := range map[string]string{
		"Token Expiry": "21 Mar 2025, 12:00 UTC (in 20 days)",
		"Last Access":  "1 Mar 2025, 09:00 UTC (3 hours ago)",
		"Last change":  "27 Feb 2025, 12:00 UTC (2 days ago)",
		"SCIM":         "Enabled",
		"Applied":      "Delivered through 1200 of 1234",
	} {
		if got := fact(res, dt); got != want {
			t.Errorf("%s: %q, want %q", dt, got, want)
		}
	}
	for _, want := range []string{
		"An earlier token still works until 3 Mar 2025, 00:00 UTC",
		"Delivered through 1200 of 1234",
		"34 waiting, the oldest for 1 minute",
		"Failing: connection refused",
		"Added to group: 3 members",
		"User updated (title, emails)",
		"email is taken",
		"bob@example.com",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("panel lacks %q", want)
		}
	}
	act := byID(res.doc, "activity")
	if rows := all(act, func(n *html.Node) bool { return n.DataAtom == atom.Tr }); len(rows) != 1+activityLimit {
		t.Errorf("activity shows %d rows, want %d", len(rows)-1, activityLimit)
	}
	conn := text(byID(res.doc, "connection"))
	if !strings.Contains(conn, "401 Refused: the token was replaced or revoked") {
		t.Errorf("connection check: %s", conn)
	}
	if byID(res.doc, "connection").Attr == nil || attr(byID(res.doc, "connection"), "data-refresh") != "/console/t/acme/connection" {
		t.Error("connection check has no refresh address")
	}
	refresh := res.form("/t/acme/")
	if refresh.method != http.MethodGet || !strings.HasSuffix(refresh.action, "#connection") {
		t.Errorf("refresh form %s %s", refresh.method, refresh.action)
	}
	// The refresh address serves the same section.
	part := hs.admin("acme").get("/console/t/acme/connection").status(http.StatusOK)
	if !strings.Contains(text(byID(part.doc, "connection-body")), "the token was replaced or revoked") {
		t.Error("the connection page lacks the requests")
	}
}

// fact is the text of the dd that follows the dt saying name.
func fact(r *response, name string) string {
	for _, dt := range all(r.doc, func(n *html.Node) bool { return n.DataAtom == atom.Dt }) {
		if text(dt) != name {
			continue
		}
		for dd := dt.NextSibling; dd != nil; dd = dd.NextSibling {
			if dd.DataAtom == atom.Dd {
				return text(dd)
			}
		}
	}
	return ""
}

func TestReplay(t *testing.T) {
	hs := newHarness(t)
	ft := hs.svc.add("acme")
	ft.panel.Backend = &Backend{Name: "pharos", DeadLetters: 2}
	ft.dead = []DeadLetter{
		{Seq: 7, Kind: "user.created", Who: "a", Error: "x"},
		{Seq: 9, Kind: "user.created", Who: "b", Error: "y"},
	}
	c := hs.admin("acme")
	res := c.get("/console/t/acme/")
	forms := res.forms("/replay")
	if len(forms) != 3 {
		t.Fatalf("%d replay forms, want one per dead letter and one for all", len(forms))
	}
	res = c.submit(forms[0], nil).status(http.StatusSeeOther)
	if loc := res.Header().Get("Location"); !strings.HasPrefix(loc, "/console/t/acme/?flash=") || !strings.HasSuffix(loc, "#delivery") {
		t.Errorf("redirect to %q", loc)
	}
	page := c.follow(res)
	if !strings.Contains(page.mainText(), "1 change sent again for delivery") {
		t.Errorf("no flash: %s", page.mainText())
	}
	// The message is shown once.
	if strings.Contains(c.follow(res).mainText(), "sent again") {
		t.Error("the flash shows twice")
	}
	all := c.get("/console/t/acme/").forms("/replay")
	c.submit(all[len(all)-1], nil).status(http.StatusSeeOther)
	if len(hs.svc.replays) != 2 || len(hs.svc.replays[0]) != 1 || hs.svc.replays[0][0] != 7 || hs.svc.replays[1] != nil {
		t.Errorf("replays %v", hs.svc.replays)
	}
	c.post("/console/t/acme/replay", url.Values{"csrf": forms[0].values["csrf"], "seq": {"x"}}).status(http.StatusBadRequest)
}

func settingsTenant(hs *harness) *fakeTenant {
	ft := hs.svc.add("acme")
	ft.panel.Backend = &Backend{Name: "keepnet"}
	ft.settings = &Settings{
		Backend:  "keepnet",
		Editable: true,
		Fields: []Field{
			{Name: "target_group", Description: "Target group users join.", Required: true, Value: json.RawMessage(`"SCIM Users"`)},
			{Name: "aliases", Description: "Other names.", Value: json.RawMessage(`["a","b"]`), Own: true},
			{Name: "field_map", Description: "Mappings.", Value: json.RawMessage(`[["dept","department"]]`), Own: true},
			{Name: "group_by", Description: "Grouping."},
			{Name: "mirror_groups", Description: "Mirror.", Value: json.RawMessage(`false`)},
		},
		Actions: []Action{{Name: "regroup", Description: "Re-applies the settings."}},
	}
	return ft
}

func TestSettingsForm(t *testing.T) {
	hs := newHarness(t)
	settingsTenant(hs)
	c := hs.admin("acme")
	res := c.get("/console/t/acme/").status(http.StatusOK)
	f := res.form("/t/acme/settings")
	want := map[string]string{
		"s.target_group":  "SCIM Users",
		"s.aliases":       "a\nb",
		"s.field_map":     "[\n  [\n    \"dept\",\n    \"department\"\n  ]\n]",
		"s.group_by":      "",
		"s.mirror_groups": "false",
	}
	for k, v := range want {
		if got := f.values.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	tg := byID(res.doc, "setting-0")
	if tg.DataAtom != atom.Input || !hasAttr(tg, "required") {
		t.Error("target_group is not a required text input")
	}
	if byID(res.doc, "setting-1").DataAtom != atom.Textarea {
		t.Error("a list of strings is not a textarea")
	}
	if help := text(byID(res.doc, "setting-1-help")); help != "Other names. One value per line." {
		t.Errorf("help %q", help)
	}

	// Unchanged defaults stay defaults; empty inputs are left out.
	c.submit(f, url.Values{
		"s.aliases":       {"x\r\n\r\n  y  \r\n"},
		"s.group_by":      {"department"},
		"s.mirror_groups": {"true"},
		"s.field_map":     {""},
	}).status(http.StatusSeeOther)
	if len(hs.svc.saved) != 1 {
		t.Fatalf("saved %d times", len(hs.svc.saved))
	}
	if got, want := string(hs.svc.saved[0]), `{"aliases":["x","y"],"group_by":"department","mirror_groups":true}`; got != want {
		t.Errorf("saved %s, want %s", got, want)
	}
	// Text that is JSON goes as JSON where the field has no value yet.
	c.submit(f, url.Values{"s.group_by": {`["a","b"]`}, "s.target_group": {"Staff"}}).status(http.StatusSeeOther)
	if got := string(hs.svc.saved[1]); !strings.Contains(got, `"group_by":["a","b"]`) || !strings.Contains(got, `"target_group":"Staff"`) {
		t.Errorf("saved %s", got)
	}
	page := c.follow(c.submit(f, nil))
	if !strings.Contains(page.mainText(), "Settings saved.") {
		t.Error("no saved message")
	}
}

func TestSettingsRefusedKeepsInput(t *testing.T) {
	hs := newHarness(t)
	settingsTenant(hs)
	hs.svc.saveErr = &InvalidError{Message: `setting group_by names no mapped field "cost"`}
	c := hs.admin("acme")
	f := c.get("/console/t/acme/").form("/settings")
	res := c.submit(f, url.Values{"s.group_by": {"field:cost"}, "s.aliases": {"p\nq"}}).status(http.StatusUnprocessableEntity)
	if got := text(byID(res.doc, "settings-error")); got != `setting group_by names no mapped field "cost"` {
		t.Errorf("error shown %q", got)
	}
	kept := res.form("/settings")
	if kept.values.Get("s.group_by") != "field:cost" || kept.values.Get("s.aliases") != "p\nq" {
		t.Errorf("input not kept: %v", kept.values)
	}
	if len(res.forms("/actions/regroup")) != 1 {
		t.Error("the refused page lost the actions")
	}
	// Input that is not JSON where JSON is wanted is refused before the backend.
	hs.svc.saveErr = nil
	res = c.submit(f, url.Values{"s.field_map": {"[oops"}}).status(http.StatusUnprocessableEntity)
	if !strings.Contains(text(byID(res.doc, "settings-error")), "field_map") || len(hs.svc.saved) != 0 {
		t.Error("invalid JSON not refused")
	}
}

func TestSettingsReadOnly(t *testing.T) {
	hs := newHarness(t)
	ft := settingsTenant(hs)
	ft.settings.Editable = false
	ft.settings.ReadOnlyReason = "This tenant's settings are in the server's configuration."
	c := hs.admin("acme")
	res := c.get("/console/t/acme/").status(http.StatusOK)
	if !strings.Contains(res.mainText(), "in the server's configuration") {
		t.Error("no read-only reason")
	}
	f := res.form("/settings")
	for _, n := range all(f.node, func(n *html.Node) bool { return strings.HasPrefix(attr(n, "name"), "s.") }) {
		if !hasAttr(n, "readonly") {
			t.Errorf("%s is editable", attr(n, "name"))
		}
	}
	if len(all(f.node, func(n *html.Node) bool { return n.DataAtom == atom.Button })) != 0 {
		t.Error("a read-only form has a Save button")
	}
	c.submit(f, nil).status(http.StatusForbidden)
	if len(hs.svc.saved) != 0 {
		t.Error("read-only settings were saved")
	}
}

func TestActionUpload(t *testing.T) {
	hs := newHarness(t)
	settingsTenant(hs)
	hs.svc.actionRes = &ActionResult{Message: "2 cards added", Result: json.RawMessage(`{"added":2,"refused":[]}`)}
	c := hs.admin("acme")
	f := c.get("/console/t/acme/").form("/actions/regroup")
	if attr(f.node, "enctype") != "multipart/form-data" {
		t.Fatal("action form is not multipart")
	}
	csv := []byte("ada@example.com,1234\nbob@example.com,5678\n")
	res := c.postMultipart(f.action, f.values, csv).status(http.StatusSeeOther)
	if len(hs.svc.actionCalls) != 1 || hs.svc.actionCalls[0].name != "regroup" || !bytes.Equal(hs.svc.actionCalls[0].payload, csv) {
		t.Fatalf("action calls %+v", hs.svc.actionCalls)
	}
	page := c.follow(res)
	if !strings.Contains(page.mainText(), "regroup: 2 cards added") || !strings.Contains(page.body, `&#34;added&#34;: 2`) {
		t.Errorf("action result not shown: %s", page.mainText())
	}
	// Without a file.
	c.postMultipart(f.action, f.values, nil).status(http.StatusSeeOther)
	if len(hs.svc.actionCalls) != 2 || len(hs.svc.actionCalls[1].payload) != 0 {
		t.Errorf("action without file: %+v", hs.svc.actionCalls)
	}
	// Too large.
	c.postMultipart(f.action, f.values, make([]byte, MaxUpload+1)).status(http.StatusRequestEntityTooLarge)
	// Unknown action.
	c.postMultipart("/console/t/acme/actions/format-disk", f.values, csv).status(http.StatusNotFound)
	// Refused: shown next to the form.
	hs.svc.actionErr = &InvalidError{Message: "line 2: no such user"}
	res = c.postMultipart(f.action, f.values, csv).status(http.StatusUnprocessableEntity)
	if !strings.Contains(text(res.form("/actions/regroup").node), "line 2: no such user") {
		t.Error("action refusal not shown at its form")
	}
	// Without a CSRF token.
	hs.svc.actionErr = nil
	c.postMultipart(f.action, url.Values{"tenant": {"acme"}}, csv).status(http.StatusForbidden)
	if len(hs.svc.actionCalls) != 3 {
		t.Errorf("%d action calls", len(hs.svc.actionCalls))
	}
}

func TestMissingTenant(t *testing.T) {
	hs := newHarness(t)
	res := hs.admin("acme").get("/console/t/acme/").status(http.StatusOK)
	body := res.mainText()
	if !strings.Contains(body, "available on request") || !strings.Contains(body, "service provider") {
		t.Errorf("not-enabled panel: %s", body)
	}
	if len(res.forms("/token")) != 0 {
		t.Error("a tenant without SCIM gets a Generate form")
	}
	hs.operator().get("/console/t/acme/").status(http.StatusNotFound)
	hs.admin("acme").get("/console/t/acme/regenerate").status(http.StatusNotFound)
}

func TestOperatorEnableDisable(t *testing.T) {
	hs := newHarness(t)
	hs.svc.add("acme")
	op := hs.operator()
	list := op.get("/console/").status(http.StatusOK)

	newForm := list.form("/console/tenants")
	if got := newForm.values.Get("profile"); got != "" {
		t.Errorf("a profile is preselected: %q", got)
	}
	res := op.submit(newForm, url.Values{"name": {"-bad"}, "profile": {"print"}}).status(http.StatusUnprocessableEntity)
	if !strings.Contains(text(byID(res.doc, "new-error")), "letters, digits") {
		t.Error("bad name not explained")
	}
	if attr(byID(res.doc, "new-name"), "value") != "-bad" {
		t.Error("name input not kept")
	}
	op.submit(newForm, url.Values{"name": {"initech"}, "profile": {"nope"}}).status(http.StatusUnprocessableEntity)

	res = op.submit(newForm, url.Values{"name": {"initech"}, "profile": {"awareness"}}).status(http.StatusSeeOther)
	if len(hs.svc.enabled) != 1 || hs.svc.enabled[0] != "initech/awareness" {
		t.Fatalf("enabled %v", hs.svc.enabled)
	}
	page := op.follow(res)
	if !strings.Contains(page.mainText(), "SCIM is enabled for initech") {
		t.Error("no flash after enabling")
	}

	hs.svc.enableErr = &InvalidError{Message: "a tenant of that name differs only in case"}
	res = op.submit(newForm, url.Values{"name": {"ACME"}, "profile": {"print"}}).status(http.StatusUnprocessableEntity)
	if !strings.Contains(text(byID(res.doc, "new-error")), "differs only in case") {
		t.Error("service refusal not shown")
	}
	hs.svc.enableErr = nil

	dis := op.get("/console/?q=acme").form("/t/acme/disable")
	if attr(dis.node, "data-confirm") == "" {
		t.Error("Disable does not ask first")
	}
	res = op.submit(dis, nil).status(http.StatusSeeOther)
	if loc := res.Header().Get("Location"); !strings.HasPrefix(loc, "/console/?q=acme&flash=") {
		t.Errorf("disable redirects to %q", loc)
	}
	if len(hs.svc.disabled) != 1 {
		t.Fatal("not disabled")
	}
	panel := op.get("/console/t/acme/")
	en := panel.form("/t/acme/enable")
	res = op.submit(en, nil).status(http.StatusSeeOther)
	if loc := res.Header().Get("Location"); !strings.HasPrefix(loc, "/console/t/acme/?flash=") {
		t.Errorf("enable from the panel redirects to %q", loc)
	}
}

func TestServiceFailures(t *testing.T) {
	hs := newHarness(t)
	hs.svc.add("acme")
	hs.svc.saveErr = errors.New("disk on fire: /var/lib/secret")
	settingsTenant(hs)
	c := hs.admin("acme")
	f := c.get("/console/t/acme/").form("/settings")
	res := c.submit(f, nil).status(http.StatusInternalServerError)
	if strings.Contains(res.body, "disk on fire") {
		t.Error("an internal error reached the page")
	}
}
