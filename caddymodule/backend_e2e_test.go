package caddymodule

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

const backendsCaddyfile = `{
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
			backend pharos {
				cards_on_deactivate remove
			}
		}
		tenant insights {
			backend hpinsights
		}
		tenant awareness {
			backend keepnet {
				target_group "All Staff"
				field_map employee_code urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber
				field_map office "addresses[type eq \"work\"].locality"
				group_by department
				mirror_groups true
			}
		}
	}
}
`

// waitDelivered waits until the tenant's backend has everything.
func (in *instance) waitDelivered(t *testing.T, tenant string) TenantStatus {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		st := in.status(t, tenant)
		if st.Backend == nil {
			t.Fatalf("tenant %s has no backend in its status", tenant)
		}
		if st.Backend.Delivery.Lag == 0 && st.Backend.Delivery.Head > 0 {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("tenant %s: delivery stuck: %+v", tenant, st.Backend.Delivery)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (in *instance) inspect(t *testing.T, tenant string, out any) {
	t.Helper()
	in.adminJSON(t, "GET", "/scim/tenants/"+tenant+"/backend", 200, out)
}

// entraSync provisions users and a group the way Entra ID does, then
// changes membership and deactivates a user.
func entraSync(t *testing.T, in *instance, tenant, token string) (ids map[string]string) {
	t.Helper()
	ids = map[string]string{}
	users := []struct{ key, name, dept, num, city string }{
		{"alice", "alice@contoso.example", "Sales", "1001", "Oslo"},
		{"bob", "bob@contoso.example", "Sales", "1002", "Bergen"},
		{"carol", "carol@contoso.example", "", "1003", ""},
	}
	for _, u := range users {
		ent := fmt.Sprintf(`"employeeNumber":%q`, u.num)
		if u.dept != "" {
			ent += fmt.Sprintf(`,"department":%q`, u.dept)
		}
		addr := ""
		if u.city != "" {
			addr = fmt.Sprintf(`,"addresses":[{"type":"work","locality":%q}]`, u.city)
		}
		body := fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
			"externalId":"ext-%s","userName":%q,"active":true,"displayName":"%s Example",
			"name":{"givenName":%q,"familyName":"Example"},
			"emails":[{"primary":true,"type":"work","value":%q}]%s,
			"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{%s}}`,
			u.key, u.name, strings.Title(u.key), strings.Title(u.key), u.name, addr, ent)
		status, _, res := in.scim(t, "POST", "/scim/v2/"+tenant+"/Users", token, body)
		if status != 201 {
			t.Fatalf("create %s: %d %v", u.key, status, res)
		}
		ids[u.key] = res["id"].(string)
	}
	status, _, res := in.scim(t, "POST", "/scim/v2/"+tenant+"/Groups", token,
		`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"externalId":"g-1","displayName":"Printing Staff"}`)
	if status != 201 {
		t.Fatalf("create group: %d %v", status, res)
	}
	ids["group"] = res["id"].(string)
	patch := func(path, body string) {
		t.Helper()
		if status, _, res := in.scim(t, "PATCH", "/scim/v2/"+tenant+path, token, body); status != 204 {
			t.Fatalf("PATCH %s: %d %v", path, status, res)
		}
	}
	patch("/Groups/"+ids["group"], fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Add","path":"members","value":[{"value":%q},{"value":%q},{"value":%q}]}]}`, ids["alice"], ids["bob"], ids["carol"]))
	patch("/Groups/"+ids["group"], fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Remove","path":"members","value":[{"value":%q}]}]}`, ids["carol"]))
	patch("/Users/"+ids["bob"], `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department","value":"Marketing"}]}`)
	patch("/Users/"+ids["alice"], `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"active","value":"False"}]}`)
	return ids
}

func TestBackendsEndToEnd(t *testing.T) {
	in := startCaddy(t, backendsCaddyfile)
	tokens := map[string]string{}
	for _, tenant := range []string{"print", "insights", "awareness"} {
		tokens[tenant] = in.token(t, tenant).Token
	}

	t.Run("required email refused before commit", func(t *testing.T) {
		for _, tenant := range []string{"print", "insights", "awareness"} {
			status, _, body := in.scim(t, "POST", "/scim/v2/"+tenant+"/Users", tokens[tenant], `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"noemail@contoso.example"}`)
			if status != 400 || body["scimType"] != "invalidValue" || !strings.Contains(body["detail"].(string), "requires emails") {
				t.Errorf("%s: %d %v", tenant, status, body)
			}
		}
	})

	t.Run("pharos", func(t *testing.T) {
		ids := entraSync(t, in, "print", tokens["print"])
		st := in.waitDelivered(t, "print")
		if st.Backend.Name != "pharos" || st.Backend.Delivery.DeadLetters != 0 {
			t.Errorf("status: %+v", st.Backend)
		}
		var store struct {
			Users []struct {
				Login, Email, Department string
				FullName                 string `json:"full_name"`
				Enabled                  bool
				Groups                   []string
				ScimID                   string `json:"scim_id"`
			} `json:"users"`
			Groups []struct {
				Name    string
				Members []string
			} `json:"groups"`
		}
		in.inspect(t, "print", &store)
		byLogin := map[string]int{}
		for i, u := range store.Users {
			byLogin[u.Login] = i
		}
		alice := store.Users[byLogin["alice@contoso.example"]]
		bob := store.Users[byLogin["bob@contoso.example"]]
		if len(store.Users) != 3 || alice.Enabled || !bob.Enabled || alice.ScimID != ids["alice"] ||
			alice.Email != "alice@contoso.example" || alice.FullName != "Alice Example" || bob.Department != "Marketing" {
			t.Errorf("pharos users: %+v", store.Users)
		}
		if len(store.Groups) != 1 || store.Groups[0].Name != "Printing Staff" || strings.Join(store.Groups[0].Members, ",") != "alice@contoso.example,bob@contoso.example" {
			t.Errorf("pharos groups: %+v", store.Groups)
		}
	})

	t.Run("hpinsights", func(t *testing.T) {
		entraSync(t, in, "insights", tokens["insights"])
		in.waitDelivered(t, "insights")
		var store struct {
			Users []struct {
				Email, Office, Department string
				DisplayName               string `json:"display_name"`
				EmployeeID                string `json:"employee_id"`
				Enabled                   bool
			} `json:"users"`
			PolicyGroups []struct {
				Name    string
				Members []string
			} `json:"policy_groups"`
		}
		raw := map[string]any{}
		in.inspect(t, "insights", &raw)
		b, _ := json.Marshal(raw)
		if err := json.Unmarshal(b, &store); err != nil {
			t.Fatal(err)
		}
		found := false
		for _, u := range store.Users {
			if u.Email == "bob@contoso.example" {
				found = true
				if u.EmployeeID != "1002" || u.DisplayName != "Bob Example" || u.Office != "Bergen" || u.Department != "Marketing" || !u.Enabled {
					t.Errorf("hpinsights bob: %+v", u)
				}
			}
		}
		if !found || len(store.PolicyGroups) != 1 || len(store.PolicyGroups[0].Members) != 2 {
			t.Errorf("hpinsights store: %s", b)
		}
	})

	t.Run("keepnet", func(t *testing.T) {
		entraSync(t, in, "awareness", tokens["awareness"])
		in.waitDelivered(t, "awareness")
		var store struct {
			TargetUsers []struct {
				Email, Department string
				FirstName         string `json:"first_name"`
				LastName          string `json:"last_name"`
				Active            bool
				CustomFields      map[string]string `json:"custom_fields"`
				Groups            []string
			} `json:"target_users"`
			TargetGroups []struct {
				Name, Source string
				Members      []string
			} `json:"target_groups"`
		}
		raw := map[string]any{}
		in.inspect(t, "awareness", &raw)
		b, _ := json.Marshal(raw)
		if err := json.Unmarshal(b, &store); err != nil {
			t.Fatal(err)
		}
		users := map[string]int{}
		for i, u := range store.TargetUsers {
			users[u.Email] = i
		}
		bob := store.TargetUsers[users["bob@contoso.example"]]
		carol := store.TargetUsers[users["carol@contoso.example"]]
		if bob.CustomFields["employee_code"] != "1002" || bob.CustomFields["office"] != "Bergen" || bob.FirstName != "Bob" {
			t.Errorf("keepnet field mapping: %+v", bob)
		}
		groups := map[string][]string{}
		for _, g := range store.TargetGroups {
			groups[g.Name] = g.Members
		}
		if strings.Join(groups["Marketing"], ",") != "bob@contoso.example" || strings.Join(groups["Sales"], ",") != "alice@contoso.example" {
			t.Errorf("keepnet group-by department: %s", b)
		}
		if !contains(groups["All Staff"], "carol@contoso.example") || carol.Department != "" {
			t.Errorf("a user without a department lands in the target group: %s", b)
		}
		if strings.Join(groups["Printing Staff"], ",") != "alice@contoso.example,bob@contoso.example" {
			t.Errorf("keepnet mirrored IdP group: %s", b)
		}
	})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestBackendActionsAndDeadLetters(t *testing.T) {
	in := startCaddy(t, backendsCaddyfile)
	print := in.token(t, "print").Token
	insights := in.token(t, "insights").Token
	entraSync(t, in, "print", print)
	in.waitDelivered(t, "print")

	t.Run("import-cards through the CLI", func(t *testing.T) {
		csv := t.TempDir() + "/cards.csv"
		os.WriteFile(csv, []byte("user,card\nbob@contoso.example,0042\nmallory@contoso.example,0666\n"), 0o600)
		out := runCLI(t, actionCommand(), "--tenant", "print", "import-cards", csv, "--address", in.admin)
		if !strings.Contains(out, "cards added: 1") || !strings.Contains(out, "mallory@contoso.example") {
			t.Errorf("import-cards said:\n%s", out)
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
			if u.Login == "mallory@contoso.example" {
				t.Error("the import created a user")
			}
		}
		text := runCLI(t, inspectCommand(), "--tenant", "print", "--address", in.admin)
		if !strings.Contains(text, `"login": "bob@contoso.example"`) {
			t.Errorf("inspect printed:\n%s", text)
		}
		if err := runCLIErr(actionCommand(), "--tenant", "print", "no-such-action", "--address", in.admin); err == nil {
			t.Error("an unknown action succeeded")
		}
	})

	t.Run("dead letters and replay", func(t *testing.T) {
		// HP Insights keys users by email: a second user with the same email
		// can never be applied as it is.
		create := func(name, email string) string {
			status, _, res := in.scim(t, "POST", "/scim/v2/insights/Users", insights, fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":%q,"emails":[{"value":%q,"type":"work"}]}`, name, email))
			if status != 201 {
				t.Fatalf("create %s: %d %v", name, status, res)
			}
			return res["id"].(string)
		}
		create("dave", "shared@contoso.example")
		eve := create("eve", "shared@contoso.example")
		create("frank", "frank@contoso.example")
		deadline := time.Now().Add(30 * time.Second)
		var st TenantStatus
		for {
			st = in.status(t, "insights")
			if st.Backend.Delivery.DeadLetters == 1 && st.Backend.Delivery.Lag == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no dead letter: %+v", st.Backend.Delivery)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if !hasWarning(st, "dead_letters") {
			t.Errorf("status lacks the dead-letter warning: %+v", st.Warnings)
		}
		for _, w := range st.Warnings {
			if w.Code == "dead_letters" && !strings.HasPrefix(w.Message, "1 change could not be applied by the backend; list it with") {
				t.Errorf("the dead-letter warning of one change: %q", w.Message)
			}
		}
		list := runCLI(t, deadLettersCommand(), "--tenant", "insights", "--address", in.admin)
		if !strings.Contains(list, "user.created User "+eve) || !strings.Contains(list, "(3 attempts,") {
			t.Errorf("deadletters listed:\n%s", list)
		}
		// The operator fixes the data in the IdP, then replays.
		if status, _, res := in.scim(t, "PATCH", "/scim/v2/insights/Users/"+eve, insights,
			`{"Operations":[{"op":"replace","path":"emails[type eq \"work\"].value","value":"eve@contoso.example"}]}`); status != 204 {
			t.Fatalf("fix: %d %v", status, res)
		}
		out := runCLI(t, deadLettersCommand(), "--tenant", "insights", "--replay", "all", "--address", in.admin)
		if !strings.Contains(out, "Replayed 1 change; it is delivered again") {
			t.Errorf("replay said: %s", out)
		}
		st = in.waitDelivered(t, "insights")
		if st.Backend.Delivery.DeadLetters != 0 {
			t.Errorf("dead letters after replay: %+v", st.Backend.Delivery)
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
			if u.ScimID == eve && u.Email == "eve@contoso.example" {
				found = true
			}
		}
		if !found {
			t.Errorf("eve never reached the backend: %+v", store.Users)
		}
	})
}
