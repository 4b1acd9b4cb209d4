package guides

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/caddy-scim/caddy-scim/adapter/tokens"
	"github.com/caddy-scim/caddy-scim/plugins/hpinsights"
	"github.com/caddy-scim/caddy-scim/plugins/keepnet"
	"github.com/caddy-scim/caddy-scim/plugins/pharos"
	"github.com/caddy-scim/caddy-scim/plugins/sdk"
)

func TestEveryGuideIsEmbedded(t *testing.T) {
	for _, g := range All {
		got, md, ok := Lookup(g.Key)
		if !ok || got != g || !bytes.HasPrefix(md, []byte("# ")) {
			t.Errorf("%s: %v %q…", g.Key, ok, md[:min(len(md), 20)])
		}
		// The console replaces the credentials step with its own and fills
		// in the Tenant URL where the guide names tenant_url.
		if !bytes.Contains(md, []byte("\n## 1. ")) || !bytes.Contains(md, []byte("`tenant_url`")) {
			t.Errorf("%s: no step 1 or no `tenant_url` for the console to fill in", g.Key)
		}
	}
	if _, _, ok := Lookup("nope"); ok {
		t.Error("an unknown IdP has a guide")
	}
}

// says reads a guide with every run of white space made one space, so that
// a phrase matches wherever the guide breaks its lines; it fails the test
// for each phrase the guide lacks, and returns the text.
func says(t *testing.T, key string, phrases ...string) string {
	t.Helper()
	_, md, ok := Lookup(key)
	if !ok {
		t.Fatalf("no guide %s", key)
	}
	text := strings.Join(strings.Fields(string(md)), " ")
	for _, p := range phrases {
		if !strings.Contains(text, p) {
			t.Errorf("the %s guide does not say %s", key, p)
		}
	}
	return text
}

// TestOktaNamesWhatTheAdminSees checks the catalog app and the labels of
// the fields the Okta admin fills in, and that what the guide says about a
// token entered with its "Bearer " prefix is what the server does: it
// reads a doubled prefix as a token that starts with "Bearer ", which no
// token does, and answers with the detail the guide quotes.
func TestOktaNamesWhatTheAdminSees(t *testing.T) {
	says(t, "okta",
		"**SCIM 2.0 Test App (OAuth Bearer Token)**",
		"**SCIM 2.0 Base Url**: `tenant_url`",
		"**OAuth Bearer Token**: `token` alone",
		"**Test API Credentials**",
		"does not strip a second one",
		"*"+(&tokens.AuthError{Reason: tokens.Invalid}).Error()+"*")
	if tok, ok := tokens.BearerToken("Bearer Bearer scim_x"); tok != "Bearer scim_x" || !ok {
		t.Errorf(`BearerToken("Bearer Bearer scim_x") = %q, %v; the guide says the second prefix is kept`, tok, ok)
	}
}

// TestEntraChangesTheMatchingPrecedence checks the steps that differ from
// Entra's defaults: userPrincipalName moves to precedence 2, objectId
// takes 1, and all three target object actions are on.
func TestEntraChangesTheMatchingPrecedence(t *testing.T) {
	entra := says(t, "entra",
		"`userPrincipalName → userName` and change its **Matching precedence** from 1 to **2**",
		"change its **Source attribute** to `objectId`, and set **Match objects using this attribute** to **Yes**",
		"matching precedence **1**",
		"**Create**, **Update** and **Delete** are all selected")
	if strings.Contains(entra, "Keep `userPrincipalName → userName`") {
		t.Error("the Entra guide keeps userPrincipalName's precedence, which the admin has to change")
	}
}

// TestRequiredMappingsPerBackend checks the table of each guide that has
// one: a row per built-in backend (as caddymodule/builtin.go lists them)
// whose required column names every attribute the backend's Describe
// requires.
func TestRequiredMappingsPerBackend(t *testing.T) {
	builtin := []func() sdk.Backend{pharos.New, hpinsights.New, keepnet.New}
	for _, key := range []string{"okta", "entra", "jumpcloud", "onelogin"} {
		_, md, _ := Lookup(key)
		rows := map[string][]string{}
		for _, line := range strings.Split(string(md), "\n") {
			if cells := strings.Split(line, "|"); len(cells) == 5 && strings.HasPrefix(line, "| ") {
				rows[strings.TrimSpace(cells[1])] = cells[2:4]
			}
		}
		for _, newBackend := range builtin {
			d, err := newBackend().Describe(context.Background(), &sdk.DescribeRequest{})
			if err != nil {
				t.Fatal(err)
			}
			row, ok := rows[d.Name]
			if !ok {
				t.Errorf("%s: no row for the %s backend", key, d.Name)
				continue
			}
			for _, attr := range d.RequiredUserAttributes {
				if !strings.Contains(row[0], "`"+attr) {
					t.Errorf("%s: the %s row does not name %s as required: %s", key, d.Name, attr, row[0])
				}
			}
			if strings.TrimSpace(row[1]) == "" {
				t.Errorf("%s: the %s row names no attribute it uses when mapped", key, d.Name)
			}
		}
	}
}
