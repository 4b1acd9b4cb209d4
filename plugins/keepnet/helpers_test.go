package keepnet

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddy-scim/caddy-scim/plugins/sdk"
)

const (
	tenant    = "acme"
	entURN    = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	customURN = "urn:example:params:scim:schemas:extension:acme:2.0:User"
)

// open configures a backend on dir with the given settings JSON ("" for
// none) and closes it when the test ends.
func open(t *testing.T, dir, settingsJSON string) *Backend {
	t.Helper()
	b := New().(*Backend)
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	if _, err := b.Configure(context.Background(), &sdk.ConfigureRequest{
		Tenant: tenant, Settings: json.RawMessage(settingsJSON), DataDir: dir,
	}); err != nil {
		t.Fatalf("Configure(%s): %v", settingsJSON, err)
	}
	return b
}

// feed hands a backend numbered changes, as the host does.
type feed struct {
	t   *testing.T
	b   *Backend
	seq uint64
}

func newFeed(t *testing.T, settingsJSON string) *feed {
	return &feed{t: t, b: open(t, t.TempDir(), settingsJSON)}
}

// try applies one change and returns its error.
func (f *feed) try(c sdk.Change) error {
	f.seq++
	c.Seq, c.Tenant = f.seq, tenant
	_, err := f.b.Apply(context.Background(), &sdk.ApplyRequest{Tenant: tenant, Changes: []sdk.Change{c}})
	return err
}

func (f *feed) apply(c sdk.Change) {
	f.t.Helper()
	if err := f.try(c); err != nil {
		f.t.Fatalf("applying %s: %v", c.Kind, err)
	}
}

func (f *feed) user(kind sdk.Kind, u *sdk.User) { f.apply(sdk.Change{Kind: kind, User: u}) }

func (f *feed) group(kind sdk.Kind, id, name string, members ...string) {
	c := sdk.Change{Kind: kind, Group: &sdk.Group{ID: id, DisplayName: name}}
	for _, m := range members {
		c.Members = append(c.Members, sdk.Member{ID: m, Type: "User"})
	}
	f.apply(c)
}

func (f *feed) inspect() storeView { return inspectOf(f.t, f.b) }

func inspectOf(t *testing.T, b *Backend) storeView {
	t.Helper()
	resp, err := b.Inspect(context.Background(), &sdk.InspectRequest{Tenant: tenant})
	if err != nil {
		t.Fatalf("Inspect: %v", err)
	}
	var v storeView
	if err := json.Unmarshal(resp.JSON, &v); err != nil {
		t.Fatalf("decoding Inspect: %v\n%s", err, resp.JSON)
	}
	return v
}

// person builds a SCIM user from flattened attributes the way the host
// does: the common fields are read from the same paths.
func person(id, email string, attrs ...string) *sdk.User {
	m := map[string]string{"userName": id + "@idp", "active": "true"}
	if email != "" {
		m["emails.value"] = email
		m[`emails[type eq "work"].value`] = email
	}
	for i := 0; i+1 < len(attrs); i += 2 {
		m[attrs[i]] = attrs[i+1]
	}
	u := &sdk.User{
		ID:         id,
		UserName:   m["userName"],
		Active:     m["active"] != "false",
		GivenName:  m["name.givenName"],
		FamilyName: m["name.familyName"],
		Title:      m["title"],
		Email:      email,
		Phone:      m["phoneNumbers.value"],
		Department: m[entURN+":department"],
		Attributes: m,
	}
	if email != "" {
		u.Emails = []sdk.Email{{Value: email, Type: "work", Primary: true}}
	}
	return u
}

func (v storeView) user(t *testing.T, email string) userView {
	t.Helper()
	for _, u := range v.TargetUsers {
		if strings.EqualFold(u.Email, email) {
			return u
		}
	}
	t.Fatalf("no target user %q in %+v", email, v.TargetUsers)
	return userView{}
}

func (v storeView) hasUser(email string) bool {
	for _, u := range v.TargetUsers {
		if strings.EqualFold(u.Email, email) {
			return true
		}
	}
	return false
}

// groups maps "name/source" to the group's members.
func (v storeView) groups() map[string][]string {
	out := map[string][]string{}
	for _, g := range v.TargetGroups {
		out[g.Name+"/"+g.Source] = g.Members
	}
	return out
}
