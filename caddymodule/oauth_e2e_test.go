package caddymodule

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

const oauthCaddyfile = `{
	admin {ADMIN}
	storage file_system {STORAGE}/caddy
	local_certs
	skip_install_trust
	auto_https disable_redirects
	scim {
		storage_dir {STORAGE}
		flush_interval 1h
	}
	log {
		output file {STORAGE}/caddy.log
		level DEBUG
		# Caddy's TLS app races with its own event logging at DEBUG
		# while it starts (caddytls TLS.Start against TLS.onEvent).
		exclude events
	}
}

{SITE} {
	scim {
		tenant acme {
			oauth {
				access_token_lifetime 30m
			}
		}
		tenant globex
		tenant limited {
			rate_limit 3 10s
		}
	}
	respond "not scim" 404
}
`

// tokenRequest posts a form to a tenant's token endpoint, with HTTP Basic
// credentials when basic is not empty.
func (in *instance) tokenRequest(t *testing.T, tenant, contentType string, form url.Values, basic [2]string) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "https://"+in.site+"/scim/v2/"+tenant+"/oauth/token", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	if basic[0] != "" {
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString(
			[]byte(url.QueryEscape(basic[0])+":"+url.QueryEscape(basic[1]))))
	}
	resp, err := in.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("token endpoint answered %d with %q", resp.StatusCode, b)
	}
	return resp.StatusCode, resp.Header, m
}

const formType = "application/x-www-form-urlencoded"

var grant = url.Values{"grant_type": {"client_credentials"}}

func TestOAuthClientCredentials(t *testing.T) {
	in := startCaddy(t, oauthCaddyfile)
	bearer := in.token(t, "acme").Token

	var first OAuthCredentials
	in.adminJSON(t, "POST", "/scim/tenants/acme/oauth/secrets", 200, &first)
	if first.TokenEndpoint != "https://"+in.site+"/scim/v2/acme/oauth/token" || first.ClientID == "" ||
		!strings.HasPrefix(first.ClientSecret, "scimcs_") || first.SecretID == "" {
		t.Fatalf("admin credentials: %+v", first)
	}
	var second OAuthCredentials
	if err := json.Unmarshal([]byte(runCLI(t, oauthCommand(), "secret", "--tenant", "acme", "--json", "--address", in.admin)), &second); err != nil {
		t.Fatal(err)
	}
	if second.ClientID != first.ClientID || second.ClientSecret == first.ClientSecret || second.TokenEndpoint != first.TokenEndpoint {
		t.Fatalf("CLI credentials: %+v", second)
	}
	secrets := []string{bearer, first.ClientSecret, second.ClientSecret}
	defer func() {
		b, err := os.ReadFile(in.storage + "/caddy.log")
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range secrets {
			if strings.Contains(string(b), s) || strings.Contains(string(b), s[strings.Index(s, "_")+1:]) {
				t.Error("the log contains a secret or a token")
			}
		}
		if !strings.Contains(string(b), `"secret_id":"`+first.SecretID+`"`) {
			t.Error("the log lacks the secret id of issued tokens")
		}
	}()

	issue := func(t *testing.T, c OAuthCredentials, useBasic bool) string {
		t.Helper()
		form, basic := url.Values{"grant_type": {"client_credentials"}}, [2]string{}
		if useBasic {
			basic = [2]string{c.ClientID, c.ClientSecret}
		} else {
			form.Set("client_id", c.ClientID)
			form.Set("client_secret", c.ClientSecret)
		}
		status, h, body := in.tokenRequest(t, "acme", formType, form, basic)
		if status != 200 || body["token_type"] != "Bearer" || body["expires_in"] != float64(1800) || h.Get("Cache-Control") != "no-store" {
			t.Fatalf("token: %d %v %v", status, h, body)
		}
		tok := body["access_token"].(string)
		secrets = append(secrets, tok)
		return tok
	}

	var viaBasic, viaForm string
	t.Run("issue and use", func(t *testing.T) {
		viaBasic = issue(t, first, true)
		viaForm = issue(t, second, false)
		for _, tok := range []string{viaBasic, viaForm, bearer} {
			if status, _, body := in.scim(t, "GET", "/scim/v2/acme/Users", tok, ""); status != 200 {
				t.Fatalf("list with token: %d %v", status, body)
			}
		}
		if status, _, _ := in.scim(t, "GET", "/scim/v2/globex/Users", viaBasic, ""); status != 401 {
			t.Errorf("acme's access token at globex: %d", status)
		}
	})

	t.Run("errors", func(t *testing.T) {
		tests := []struct {
			name        string
			tenant      string
			contentType string
			form        url.Values
			basic       [2]string
			status      int
			code        string
		}{
			{"wrong secret", "acme", formType, grant, [2]string{first.ClientID, "scimcs_guess"}, 401, "invalid_client"},
			{"unknown client", "acme", formType, grant, [2]string{"scimc_nobody", first.ClientSecret}, 401, "invalid_client"},
			{"other tenant", "globex", formType, grant, [2]string{first.ClientID, first.ClientSecret}, 401, "invalid_client"},
			{"no client authentication", "acme", formType, grant, [2]string{}, 401, "invalid_client"},
			{"missing grant_type", "acme", formType, url.Values{}, [2]string{first.ClientID, first.ClientSecret}, 400, "invalid_request"},
			{"JSON body", "acme", "application/json", grant, [2]string{first.ClientID, first.ClientSecret}, 400, "invalid_request"},
			{"password grant", "acme", formType, url.Values{"grant_type": {"password"}}, [2]string{first.ClientID, first.ClientSecret}, 400, "unsupported_grant_type"},
			{"both methods", "acme", formType, url.Values{"grant_type": {"client_credentials"}, "client_id": {first.ClientID}}, [2]string{first.ClientID, first.ClientSecret}, 400, "invalid_request"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				status, h, body := in.tokenRequest(t, tt.tenant, tt.contentType, tt.form, tt.basic)
				if status != tt.status || body["error"] != tt.code {
					t.Fatalf("%d %v, want %d %s", status, body, tt.status, tt.code)
				}
				if status == 401 && h.Get("WWW-Authenticate") != `Basic realm="scim"` {
					t.Errorf("WWW-Authenticate %q", h.Get("WWW-Authenticate"))
				}
				if strings.Contains(body["error_description"].(string), "scimcs_") {
					t.Errorf("the answer echoes a secret: %v", body)
				}
			})
		}
		resp, err := in.client.Get("https://" + in.site + "/scim/v2/acme/oauth/token")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 405 || resp.Header.Get("Allow") != "POST" {
			t.Errorf("GET: %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
		}
	})

	t.Run("expired access token", func(t *testing.T) {
		advance(31 * time.Minute)
		status, h, body := in.scim(t, "GET", "/scim/v2/acme/Users", viaBasic, "")
		if status != 401 || body["detail"] != "the access token expired; request a new one from the token endpoint" ||
			!strings.Contains(h.Get("WWW-Authenticate"), "invalid_token") {
			t.Fatalf("expired: %d %v %v", status, h.Get("WWW-Authenticate"), body)
		}
		if status, _, _ := in.scim(t, "GET", "/scim/v2/acme/Users", bearer, ""); status != 200 {
			t.Errorf("long-lived token after access token expiry: %d", status)
		}
	})

	t.Run("revoke one secret", func(t *testing.T) {
		fromFirst := issue(t, first, true)
		fromSecond := issue(t, second, false)
		out := runCLI(t, oauthCommand(), "revoke", "--tenant", "acme", "--secret", first.SecretID, "--address", in.admin)
		if !strings.Contains(out, "Revoked secret "+first.SecretID) || strings.Contains(out, second.ClientSecret) {
			t.Errorf("revoke output: %s", out)
		}
		if status, _, body := in.scim(t, "GET", "/scim/v2/acme/Users", fromFirst, ""); status != 401 || !strings.Contains(body["detail"].(string), "revoked") {
			t.Errorf("token of the revoked secret: %d %v", status, body)
		}
		if status, _, body := in.tokenRequest(t, "acme", formType, grant, [2]string{first.ClientID, first.ClientSecret}); status != 401 || body["error"] != "invalid_client" {
			t.Errorf("revoked secret: %d %v", status, body)
		}
		for _, tok := range []string{fromSecond, bearer} {
			if status, _, _ := in.scim(t, "GET", "/scim/v2/acme/Users", tok, ""); status != 200 {
				t.Errorf("other credentials after revoke: %d", status)
			}
		}
		var st OAuthStatus
		in.adminJSON(t, "GET", "/scim/tenants/acme/oauth", 200, &st)
		if st.ClientID != first.ClientID || len(st.Secrets) != 1 || st.Secrets[0].ID != second.SecretID || st.Secrets[0].LastUsed == nil || st.AccessTokenLifetime != 1800 {
			t.Errorf("status: %+v", st)
		}
		in.adminJSON(t, "DELETE", "/scim/tenants/acme/oauth/secrets/"+first.SecretID, 404, nil)
		show := runCLI(t, oauthCommand(), "--tenant", "acme", "--address", in.admin)
		if !strings.Contains(show, first.ClientID) || !strings.Contains(show, second.SecretID) || strings.Contains(show, "scimcs_") {
			t.Errorf("oauth show: %s", show)
		}
	})

	t.Run("failed authentications are limited", func(t *testing.T) {
		advance(time.Hour) // a full failure budget
		var status int
		var h http.Header
		for i := 0; i < failureBurst+1; i++ {
			status, h, _ = in.tokenRequest(t, "acme", formType, grant, [2]string{second.ClientID, "scimcs_guess" + strconv.Itoa(i)})
			if status == 429 {
				break
			}
		}
		if status != 429 {
			t.Fatalf("after %d failures: %d", failureBurst+1, status)
		}
		if n, err := strconv.Atoi(h.Get("Retry-After")); err != nil || n < 1 {
			t.Errorf("Retry-After %q", h.Get("Retry-After"))
		}
		if status, _, _ := in.tokenRequest(t, "acme", formType, grant, [2]string{second.ClientID, second.ClientSecret}); status != 429 {
			t.Errorf("right secret while limited: %d", status)
		}
		advance(time.Minute)
		issue(t, second, true)
	})

	t.Run("rate limit", func(t *testing.T) {
		tok := in.token(t, "limited").Token
		secrets = append(secrets, tok)
		for i := 0; i < 3; i++ {
			if status, _, body := in.scim(t, "GET", "/scim/v2/limited/Users", tok, ""); status != 200 {
				t.Fatalf("request %d: %d %v", i, status, body)
			}
		}
		status, h, body := in.scim(t, "GET", "/scim/v2/limited/Users", tok, "")
		if status != 429 || body["status"] != "429" || h.Get("Retry-After") == "" {
			t.Fatalf("over the limit: %d %v %v", status, h, body)
		}
		if n, err := strconv.Atoi(h.Get("Retry-After")); err != nil || n < 1 || n > 10 {
			t.Errorf("Retry-After %q", h.Get("Retry-After"))
		}
		if status, _, _ := in.scim(t, "GET", "/scim/v2/acme/Users", bearer, ""); status != 200 {
			t.Errorf("another tenant is not limited: %d", status)
		}
		advance(10 * time.Second)
		if status, _, body := in.scim(t, "GET", "/scim/v2/limited/Users", tok, ""); status != 200 {
			t.Errorf("after the window: %d %v", status, body)
		}
		if status, _, _ := in.scim(t, "GET", "/scim/v2/limited/Users", "", ""); status != 401 {
			t.Errorf("unauthenticated requests are refused before the limit: %d", status)
		}
	})
}
