package caddymodule

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddy-scim/caddy-scim/adapter/schema"
	"github.com/caddy-scim/caddy-scim/adapter/scimerr"
	"github.com/caddy-scim/caddy-scim/adapter/store"
)

// The bad-input cases that only the Caddy layer sees: bearer
// authentication, the OAuth token endpoint and the tenant segment of the
// path, plus the body limits of the handler's config. The SCIM engine's
// own cases are in adapter/server (badinput_test.go). All cases run
// against one Caddy instance; every one is refused and must leave both
// tenants' data, journals and OAuth clients unchanged.
//
// Cases by class (TestBadInputCaddyCaseCounts keeps this list true):
//
//	bearer         24
//	token          30
//	tenant         11
//	limits          6
//	total          71

// caddyBadCase is one request that must be refused.
type caddyBadCase struct {
	class, name string
	method      string
	// path is from the site's root; path, body and header values may hold
	// the placeholders of badInputVars.
	path, body string
	// contentType defaults to application/scim+json for SCIM requests with
	// a body; "-" sends none.
	contentType string
	// auth are the Authorization header lines; nil sends the acme bearer
	// token on SCIM requests and nothing on the token endpoint.
	auth   []string
	status int
	// oauthError, for the token endpoint, is the RFC 6749 §5.2 error code;
	// otherwise the answer is a SCIM error with scimType (if not empty).
	oauthError string
	scimType   string
}

// badInputCaddyfile is the end-to-end tests' global options with a site
// whose handler has small body limits.
var badInputCaddyfile = e2eCaddyfile[:strings.Index(e2eCaddyfile, "{SITE}")] + `{SITE} {
	scim {
		max_body_size 64KiB
		max_bulk_size 64KiB
		tenant acme {
			oauth {
				access_token_lifetime 30m
			}
		}
		tenant globex
	}
	respond "not scim" 404
}
`

func caddyBadInputCases() []caddyBadCase {
	var out []caddyBadCase
	newUser := `{"schemas":["` + schema.UserURN + `"],"userName":"new.user@example.com"}`
	basic := func(id, secret string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
	}

	// Bearer authentication: 401 with a SCIM error and a Bearer challenge.
	bearer := func(name, method, path, body string, auth ...string) {
		if auth == nil {
			auth = []string{}
		}
		out = append(out, caddyBadCase{class: "bearer", name: name, method: method, path: path, body: body, auth: auth, status: 401})
	}
	create := func(name string, auth ...string) {
		bearer(name, "POST", "/scim/v2/acme/Users", newUser, auth...)
	}
	create("no Authorization")
	create("Bearer alone", "Bearer")
	create("Bearer and a space", "Bearer ")
	create("lower-case bearer, two spaces and garbage", "bearer  x")
	create("a garbage token", "Bearer x")
	create("Basic with the token", "Basic "+base64.StdEncoding.EncodeToString([]byte("acme:{token}")))
	create("another scheme", "Token {token}")
	create("the token without a scheme", "{token}")
	create("the token with a character added", "Bearer {token}x")
	create("the token cut short", "Bearer {tokenShort}")
	create("the other tenant's token", "Bearer {globex}")
	create("the token and more", "Bearer {token} extra")
	create("a comma instead of a space", "Bearer,{token}")
	create("a tab instead of a space", "Bearer\t{token}")
	create("a token of 600 characters", "Bearer "+strings.Repeat("a", 600))
	create("the OAuth client secret as a bearer token", "Bearer {secret}")
	create("DPoP scheme", "DPoP {token}")
	create("two headers: the token then garbage", "Bearer {token}", "Bearer x")
	create("two headers: garbage then the token", "Bearer x", "Bearer {token}")
	create("two headers, both the token", "Bearer {token}", "Bearer {token}")
	bearer("DELETE with Basic", "DELETE", "/scim/v2/acme/Users/{uid}", "", "Basic "+base64.StdEncoding.EncodeToString([]byte("a:b")))
	bearer("PATCH with the other tenant's token", "PATCH", "/scim/v2/acme/Groups/{gid}",
		`{"schemas":["`+schema.PatchOpURN+`"],"Operations":[{"op":"replace","path":"members","value":[]}]}`, "Bearer {globex}")
	bearer("the acme token at globex", "POST", "/scim/v2/globex/Users", newUser, "Bearer {token}")
	bearer("GET with a garbage token", "GET", "/scim/v2/acme/Users", "", "Bearer x")

	// The token endpoint: RFC 6749 §5.2 errors.
	token := func(name, method, contentType, body string, status int, code string, auth ...string) {
		out = append(out, caddyBadCase{class: "token", name: name, method: method, path: "/scim/v2/acme/oauth/token",
			body: body, contentType: contentType, auth: auth, status: status, oauthError: code})
	}
	const form = "application/x-www-form-urlencoded"
	grant := "grant_type=client_credentials"
	creds := grant + "&client_id={client}&client_secret={secretQ}"
	token("GET", "GET", "-", "", 405, "invalid_request")
	token("PUT", "PUT", form, creds, 405, "invalid_request")
	token("no Content-Type", "POST", "-", creds, 400, "invalid_request")
	token("a JSON body", "POST", "application/json", `{"grant_type":"client_credentials","client_id":"{client}","client_secret":"{secret}"}`, 400, "invalid_request")
	token("text/plain", "POST", "text/plain", creds, 400, "invalid_request")
	token("multipart form", "POST", "multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=\"grant_type\"\r\n\r\nclient_credentials\r\n--x--\r\n", 400, "invalid_request")
	token("malformed Content-Type", "POST", ";;;", creds, 400, "invalid_request")
	token("bad percent-encoding", "POST", form, "grant_type=%zz&client_id={client}&client_secret={secretQ}", 400, "invalid_request")
	token("grant_type missing", "POST", form, "client_id={client}&client_secret={secretQ}", 400, "invalid_request")
	token("grant_type password", "POST", form, "grant_type=password&username=a&password=b&client_id={client}&client_secret={secretQ}", 400, "unsupported_grant_type")
	token("grant_type authorization_code", "POST", form, "grant_type=authorization_code&code=x&client_id={client}&client_secret={secretQ}", 400, "unsupported_grant_type")
	token("grant_type in upper case", "POST", form, "grant_type=CLIENT_CREDENTIALS&client_id={client}&client_secret={secretQ}", 400, "unsupported_grant_type")
	token("grant_type repeated", "POST", form, creds+"&grant_type=client_credentials", 400, "invalid_request")
	token("client_id repeated", "POST", form, creds+"&client_id=other", 400, "invalid_request")
	token("body over 16 KiB", "POST", form, creds+"&pad="+strings.Repeat("x", 17<<10), 400, "invalid_request")
	token("Basic and body credentials", "POST", form, creds, 400, "invalid_request", basic("{client}", "{secret}"))
	token("no client authentication", "POST", form, grant, 401, "invalid_client")
	token("client_id only", "POST", form, grant+"&client_id={client}", 401, "invalid_client")
	token("client_secret only", "POST", form, grant+"&client_secret={secretQ}", 401, "invalid_client")
	token("wrong secret in the body", "POST", form, grant+"&client_id={client}&client_secret=scimcs_wrong", 401, "invalid_client")
	token("wrong secret in Basic", "POST", form, grant, 401, "invalid_client", basic("{client}", "scimcs_wrong"))
	token("Basic not base64", "POST", form, grant, 401, "invalid_client", "Basic !!!")
	token("Basic without a colon", "POST", form, grant, 401, "invalid_client", "Basic "+base64.StdEncoding.EncodeToString([]byte("{client}")))
	token("Basic with bad percent-encoding", "POST", form, grant, 401, "invalid_client", "Basic "+base64.StdEncoding.EncodeToString([]byte("{client}:%zz")))
	token("Basic with an empty secret", "POST", form, grant, 401, "invalid_client", basic("{client}", ""))
	token("two Authorization headers", "POST", form, grant, 400, "invalid_request", basic("{client}", "{secret}"), basic("{client}", "scimcs_wrong"))
	token("the SCIM bearer token", "POST", form, grant, 401, "invalid_client", "Bearer {token}")
	token("the SCIM token as the client secret", "POST", form, grant+"&client_id={client}&client_secret={token}", 401, "invalid_client")
	token("a swapped id and secret", "POST", form, grant, 401, "invalid_client", basic("{secret}", "{client}"))
	out = append(out, caddyBadCase{class: "token", name: "acme's client at globex", method: "POST", path: "/scim/v2/globex/oauth/token",
		body: creds, contentType: form, status: 401, oauthError: "invalid_client"})

	// The tenant segment: unknown tenants are 404 with a SCIM error.
	tenant := func(name, method, path string) {
		out = append(out, caddyBadCase{class: "tenant", name: name, method: method, path: path, status: 404})
	}
	tenant("unknown tenant", "GET", "/scim/v2/initech/Users")
	tenant("tenant in upper case", "DELETE", "/scim/v2/ACME/Users/{uid}")
	tenant("empty tenant", "GET", "/scim/v2//Users")
	tenant("tenant run into the endpoint", "GET", "/scim/v2/acmeUsers")
	tenant("tenant with a trailing dot", "DELETE", "/scim/v2/acme./Users/{uid}")
	tenant("tenant of 70 characters", "GET", "/scim/v2/"+strings.Repeat("a", 70)+"/Users")
	tenant("tenant with a NUL", "GET", "/scim/v2/acme%00/Users")
	tenant("tenant with invalid UTF-8", "GET", "/scim/v2/%FF%FE/Users")
	tenant("unknown tenant's token endpoint", "POST", "/scim/v2/initech/oauth/token")
	tenant("dot segments from acme into globex", "DELETE", "/scim/v2/acme/../globex/Users/{uid}")
	tenant("encoded dot segments from acme into globex", "GET", "/scim/v2/acme/%2e%2e/globex/Users")

	// The configured body limits.
	big := strings.Repeat("x", 65<<10)
	limit := func(name, method, path, body string) {
		out = append(out, caddyBadCase{class: "limits", name: name, method: method, path: path, body: body, status: 413})
	}
	limit("POST over max_body_size", "POST", "/scim/v2/acme/Users", `{"schemas":["`+schema.UserURN+`"],"userName":"new.user@example.com","title":"`+big+`"}`)
	limit("PUT over max_body_size", "PUT", "/scim/v2/acme/Users/{uid}", `{"schemas":["`+schema.UserURN+`"],"userName":"bjensen@example.com","title":"`+big+`"}`)
	limit("PATCH over max_body_size", "PATCH", "/scim/v2/acme/Groups/{gid}", `{"schemas":["`+schema.PatchOpURN+`"],"Operations":[{"op":"replace","path":"displayName","value":"`+big+`"}]}`)
	limit("search over max_body_size", "POST", "/scim/v2/acme/Users/.search", `{"filter":"userName eq \"`+big+`\""}`)
	limit("Bulk over max_bulk_size", "POST", "/scim/v2/acme/Bulk", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],"Operations":[{"method":"POST","bulkId":"u","path":"/Users","data":{"userName":"new.user@example.com","title":"`+big+`"}}]}`)
	limit("POST over max_body_size at globex", "POST", "/scim/v2/globex/Users", `{"schemas":["`+schema.UserURN+`"],"userName":"new.user@example.com","title":"`+big+`"}`)
	for i := range out {
		if out[i].class == "limits" {
			out[i].auth = nil
			if strings.Contains(out[i].path, "/globex/") {
				out[i].auth = []string{"Bearer {globex}"}
			}
		}
	}
	return out
}

// badInputVars are the placeholders of the Caddy cases.
type badInputVars map[string]string

func (v badInputVars) expand(s string) string {
	pairs := make([]string, 0, 2*len(v))
	for k, x := range v {
		pairs = append(pairs, k, x)
	}
	return strings.NewReplacer(pairs...).Replace(s)
}

// caddySnapshot is what a refused request must leave unchanged: the data
// and journal head of both tenants, and acme's OAuth client.
type caddySnapshot struct {
	Resources []string
	Members   map[string][]string
	Heads     map[string]uint64
	OAuth     string
}

// diff describes how two snapshots differ.
func (s caddySnapshot) diff(after caddySnapshot) string {
	var out []string
	if !reflect.DeepEqual(s.Heads, after.Heads) {
		out = append(out, fmt.Sprintf("journal heads %v → %v", s.Heads, after.Heads))
	}
	for _, x := range s.Resources {
		if !slices.Contains(after.Resources, x) {
			out = append(out, "gone or changed: "+scimerr.Clip(x, 300))
		}
	}
	for _, x := range after.Resources {
		if !slices.Contains(s.Resources, x) {
			out = append(out, "new or changed: "+scimerr.Clip(x, 300))
		}
	}
	if !reflect.DeepEqual(s.Members, after.Members) {
		out = append(out, fmt.Sprintf("members %v → %v", s.Members, after.Members))
	}
	if s.OAuth != after.OAuth {
		out = append(out, fmt.Sprintf("OAuth client %s → %s", s.OAuth, after.OAuth))
	}
	return strings.Join(out, "\n")
}

// badInputStore is the store of the running config's storage directory.
func badInputStore(t *testing.T, dir string) *store.Badger {
	t.Helper()
	var st *store.Badger
	pool.Range(func(key, value any) bool {
		if s, ok := value.(*shared); ok && key == dir {
			st, _ = s.store.(*store.Badger)
			return false
		}
		return true
	})
	if st == nil {
		t.Fatalf("no store open for %s", dir)
	}
	return st
}

func (in *instance) badSnapshot(t *testing.T, st *store.Badger) caddySnapshot {
	t.Helper()
	ctx := context.Background()
	s := caddySnapshot{Members: map[string][]string{}, Heads: map[string]uint64{}}
	for _, tenant := range []string{"acme", "globex"} {
		for _, rt := range []*schema.ResourceType{schema.User, schema.Group} {
			page, err := st.List(ctx, tenant, rt, store.Query{Count: 1 << 20})
			if err != nil {
				t.Fatal(err)
			}
			for _, res := range page.Resources {
				raw, _ := json.Marshal(res)
				s.Resources = append(s.Resources, tenant+" "+string(raw))
				if rt == schema.Group {
					id, _ := res["id"].(string)
					ms, err := st.Members(ctx, tenant, id)
					if err != nil {
						t.Fatal(err)
					}
					var ids []string
					for _, m := range ms {
						ids = append(ids, m.Value)
					}
					slices.Sort(ids)
					s.Members[id] = ids
				}
			}
		}
		head, err := st.LastSeq(ctx, tenant)
		if err != nil {
			t.Fatal(err)
		}
		s.Heads[tenant] = head
	}
	slices.Sort(s.Resources)
	var oauth map[string]any
	in.adminJSON(t, "GET", "/scim/tenants/acme/oauth", 200, &oauth)
	raw, _ := json.Marshal(oauth)
	s.OAuth = string(raw)
	return s
}

// sendBad sends one case over TLS.
func (in *instance) sendBad(t *testing.T, v badInputVars, c caddyBadCase) (int, http.Header, []byte) {
	t.Helper()
	var body io.Reader
	if c.body != "" {
		body = strings.NewReader(v.expand(c.body))
	}
	req, err := http.NewRequest(c.method, "https://"+in.site+v.expand(c.path), body)
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case c.contentType == "-":
	case c.contentType != "":
		req.Header.Set("Content-Type", c.contentType)
	case c.body != "":
		req.Header.Set("Content-Type", "application/scim+json")
	}
	auth := c.auth
	if auth == nil && c.class != "token" {
		auth = []string{"Bearer {token}"}
	}
	for _, a := range auth {
		req.Header.Add("Authorization", v.expand(a))
	}
	resp, err := in.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", c.method, c.path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, raw
}

// TestBadInputThroughCaddy runs every Caddy-level case against one Caddy
// instance with two seeded tenants.
func TestBadInputThroughCaddy(t *testing.T) {
	in := startCaddy(t, badInputCaddyfile)
	acme := in.token(t, "acme").Token
	globex := in.token(t, "globex").Token
	var client OAuthCredentials
	in.adminJSON(t, "POST", "/scim/tenants/acme/oauth/secrets", 200, &client)

	status, _, u := in.scim(t, "POST", "/scim/v2/acme/Users", acme,
		`{"schemas":["`+schema.UserURN+`"],"userName":"bjensen@example.com","name":{"givenName":"Barbara","familyName":"Jensen"}}`)
	if status != 201 {
		t.Fatalf("seeding the user: %d %v", status, u)
	}
	uid := u["id"].(string)
	status, _, g := in.scim(t, "POST", "/scim/v2/acme/Groups", acme,
		`{"schemas":["`+schema.GroupURN+`"],"displayName":"Printers","members":[{"value":"`+uid+`"}]}`)
	if status != 201 {
		t.Fatalf("seeding the group: %d %v", status, g)
	}
	if status, _, _ := in.scim(t, "POST", "/scim/v2/globex/Users", globex, `{"schemas":["`+schema.UserURN+`"],"userName":"globex.user@example.com"}`); status != 201 {
		t.Fatalf("seeding globex: %d", status)
	}
	vars := badInputVars{
		"{token}":      acme,
		"{tokenShort}": acme[:len(acme)-1],
		"{globex}":     globex,
		"{client}":     client.ClientID,
		"{secret}":     client.ClientSecret,
		"{secretQ}":    url.QueryEscape(client.ClientSecret),
		"{uid}":        uid,
		"{gid}":        g["id"].(string),
	}
	st := badInputStore(t, in.storage)

	for _, c := range caddyBadInputCases() {
		t.Run(c.class+"/"+c.name, func(t *testing.T) {
			// Refill the token endpoint's bucket of failed client
			// authentications, so no case meets a 429 meant for guessing.
			advance(time.Minute)
			before := in.badSnapshot(t, st)
			status, h, raw := in.sendBad(t, vars, c)
			if status != c.status {
				t.Errorf("status %d, want %d: %s", status, c.status, scimerr.Clip(string(raw), 300))
			}
			if c.oauthError != "" {
				checkTokenError(t, status, h, raw, c.oauthError)
			} else {
				checkSCIMError(t, status, h, raw, c.scimType)
			}
			if status == http.StatusUnauthorized && c.oauthError == "" && !strings.HasPrefix(h.Get("WWW-Authenticate"), `Bearer realm="scim"`) {
				t.Errorf("WWW-Authenticate %q, want a Bearer challenge", h.Get("WWW-Authenticate"))
			}
			if status == http.StatusMethodNotAllowed && h.Get("Allow") == "" {
				t.Error("405 without Allow")
			}
			if after := in.badSnapshot(t, st); !reflect.DeepEqual(before, after) {
				t.Errorf("a refused request changed state:\n%s", before.diff(after))
			}
			for _, secret := range []string{acme, globex, client.ClientSecret} {
				if strings.Contains(string(raw), secret) {
					t.Error("the answer echoes a secret")
				}
			}
		})
	}

	t.Run("good credentials still work", func(t *testing.T) {
		advance(time.Minute)
		c := caddyBadCase{class: "token", method: "POST", path: "/scim/v2/acme/oauth/token", contentType: "application/x-www-form-urlencoded",
			body: "grant_type=client_credentials&client_id={client}&client_secret={secretQ}"}
		status, _, raw := in.sendBad(t, vars, c)
		if status != 200 || !strings.Contains(string(raw), `"access_token"`) {
			t.Errorf("token request: %d %s", status, raw)
		}
		if status, _, _ := in.scim(t, "GET", "/scim/v2/acme/Users/"+uid, acme, ""); status != 200 {
			t.Errorf("bearer token after the cases: %d", status)
		}
	})
}

// checkSCIMError checks a SCIM error response (RFC 7644 §3.12).
func checkSCIMError(t *testing.T, status int, h http.Header, raw []byte, scimType string) {
	t.Helper()
	if ct := h.Get("Content-Type"); ct != "application/scim+json" {
		t.Errorf("Content-Type %q, want application/scim+json", ct)
	}
	var e struct {
		Schemas  []string `json:"schemas"`
		Status   any      `json:"status"`
		ScimType string   `json:"scimType"`
		Detail   string   `json:"detail"`
	}
	if err := json.Unmarshal(raw, &e); err != nil {
		t.Errorf("error body is not JSON: %q", scimerr.Clip(string(raw), 300))
		return
	}
	if !slices.Contains(e.Schemas, scimerr.ErrorSchema) {
		t.Errorf("schemas %v lack the Error schema", e.Schemas)
	}
	if e.Status != strconv.Itoa(status) {
		t.Errorf("status %#v, want the string %q", e.Status, strconv.Itoa(status))
	}
	if strings.TrimSpace(e.Detail) == "" || len(e.Detail) > 1024 {
		t.Errorf("detail of %d bytes, want one that says what to fix in a few words: %q", len(e.Detail), scimerr.Clip(e.Detail, 300))
	}
	if scimType != "" && !slices.Contains(strings.Split(scimType, "|"), e.ScimType) {
		t.Errorf("scimType %q, want %s", e.ScimType, scimType)
	}
}

// checkTokenError checks a token endpoint error (RFC 6749 §5.2).
func checkTokenError(t *testing.T, status int, h http.Header, raw []byte, code string) {
	t.Helper()
	if ct := h.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	if h.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", h.Get("Cache-Control"))
	}
	var e TokenError
	if err := json.Unmarshal(raw, &e); err != nil {
		t.Errorf("error body is not JSON: %q", scimerr.Clip(string(raw), 300))
		return
	}
	if e.Error != code {
		t.Errorf("error %q, want %q (%s)", e.Error, code, e.Description)
	}
	if strings.TrimSpace(e.Description) == "" {
		t.Error("no error_description")
	}
	if status == http.StatusUnauthorized && !strings.HasPrefix(h.Get("WWW-Authenticate"), "Basic") {
		t.Errorf("401 invalid_client with WWW-Authenticate %q, want a Basic challenge", h.Get("WWW-Authenticate"))
	}
}

// TestBadInputCaddyCaseCounts keeps the counts at the top of this file
// true, without starting Caddy.
func TestBadInputCaddyCaseCounts(t *testing.T) {
	src, err := os.ReadFile("badinput_test.go")
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]int{}
	for _, m := range regexp.MustCompile(`(?m)^//\t(\w+) +(\d+)$`).FindAllStringSubmatch(string(src), -1) {
		listed[m[1]], _ = strconv.Atoi(m[2])
	}
	got := map[string]int{}
	names := map[string]bool{}
	for _, c := range caddyBadInputCases() {
		got[c.class]++
		n := c.class + "/" + c.name
		if names[n] {
			t.Errorf("two cases named %q", n)
		}
		names[n] = true
	}
	total := 0
	for class, n := range got {
		total += n
		if listed[class] != n {
			t.Errorf("class %s has %d cases; the comment says %d", class, n, listed[class])
		}
	}
	if listed["total"] != total {
		t.Errorf("%d cases in all; the comment says %d", total, listed["total"])
	}
	t.Log(fmt.Sprint(total, " cases: ", got))
}
