package caddymodule

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestSkippedMembersEndToEnd checks that member ids naming no user or group
// are skipped, counted in the metric and shown in the tenant's status (the
// admin API and `caddy scim status`), and that a malformed member is
// refused without counting or changing anything.
func TestSkippedMembersEndToEnd(t *testing.T) {
	in := startCaddy(t, e2eCaddyfile)
	tok := in.token(t, "acme").Token
	const groupSchemas = `"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"]`
	status, _, body := in.scim(t, "POST", "/scim/v2/acme/Users", tok, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ava@example.com"}`)
	if status != 201 {
		t.Fatalf("create user: %d %v", status, body)
	}
	uid := body["id"].(string)

	if st := in.status(t, "acme"); hasWarning(st, "unknown_members") {
		t.Fatalf("warning before any member was skipped: %+v", st.Warnings)
	}

	status, _, body = in.scim(t, "POST", "/scim/v2/acme/Groups", tok, `{`+groupSchemas+`,"displayName":"Printers","members":[{"value":"`+uid+`"},{"value":"ghost-1","type":"User"}]}`)
	if status != 201 {
		t.Fatalf("create group: %d %v", status, body)
	}
	gid := body["id"].(string)
	if ms, _ := body["members"].([]any); len(ms) != 1 {
		t.Errorf("members = %v, want the user alone", body["members"])
	}
	patch := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[{"value":"ghost-2"},{"value":"ghost-3"}]}]}`
	if status, _, body = in.scim(t, "PATCH", "/scim/v2/acme/Groups/"+gid, tok, patch); status != 204 {
		t.Fatalf("patch: %d %v", status, body)
	}
	// Malformed: refused, not counted.
	bad := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"members","value":"ghost-4"}]}`
	if status, _, body = in.scim(t, "PATCH", "/scim/v2/acme/Groups/"+gid, tok, bad); status != 400 || body["scimType"] != "invalidValue" {
		t.Fatalf("malformed patch: %d %v", status, body)
	}
	if status, _, body = in.scim(t, "GET", "/scim/v2/acme/Groups/"+gid, tok, ""); status != 200 {
		t.Fatalf("read group: %d %v", status, body)
	} else if ms, _ := body["members"].([]any); len(ms) != 1 {
		t.Errorf("after the malformed patch: members = %v, want the user", body["members"])
	}

	st := in.status(t, "acme")
	var msg string
	for _, w := range st.Warnings {
		if w.Code == "unknown_members" {
			msg = w.Message
		}
	}
	for _, want := range []string{"referenced 3 group member ids", "Latest: group " + gid + ", member ghost-", "provisioning scope"} {
		if !strings.Contains(msg, want) {
			t.Errorf("unknown_members warning %q lacks %q", msg, want)
		}
	}
	if st := in.status(t, "globex"); hasWarning(st, "unknown_members") {
		t.Errorf("globex has the warning: %+v", st.Warnings)
	}
	if out := runCLI(t, statusCommand(), "--tenant", "acme", "--address", in.admin); !strings.Contains(out, "Warning:       "+msg) {
		t.Errorf("caddy scim status does not show the warning:\n%s", out)
	}

	resp, err := http.Get("http://" + in.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `caddy_scim_skipped_members_total{tenant="acme"} 3`) {
		t.Errorf("metrics lack caddy_scim_skipped_members_total{tenant=\"acme\"} 3")
	}
}
