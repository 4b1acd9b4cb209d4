package hpinsights

import (
	"context"
	"encoding/json"
	"flag"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/caddy-scim/caddy-scim/plugins/internal/printstore/printtest"
	"github.com/caddy-scim/caddy-scim/plugins/sdk"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

type harness = printtest.Harness[Store]

func newHarness(t *testing.T, settings string) *harness {
	t.Helper()
	return printtest.New[Store](t, func() printtest.Backend { return New().(*Backend) }, settings)
}

// user returns the user with an email from the store.
func user(h *harness, email string) User {
	h.T.Helper()
	for _, u := range h.Inspect().Users {
		if u.Email == email {
			return u
		}
	}
	h.T.Fatalf("no user %q in %s", email, h.InspectJSON())
	return User{}
}

// emails lists the emails in the store.
func emails(h *harness) []string {
	var out []string
	for _, u := range h.Inspect().Users {
		out = append(out, u.Email)
	}
	return out
}

// person is a user with a work email.
func person(id, email string) *sdk.User {
	u := &sdk.User{ID: id, UserName: id + "@idp", Active: true, DisplayName: "Person " + id}
	if email != "" {
		u.Email = email
		u.Emails = []sdk.Email{{Value: email, Type: "work"}}
	}
	return u
}

func TestMapUser(t *testing.T) {
	tests := []struct {
		name string
		in   sdk.User
		key  string
		want profile
		err  string
	}{
		{
			name: "every field",
			in: sdk.User{ID: "u1", UserName: "bjensen", DisplayName: " Babs ", FormattedName: "Barbara Jensen",
				Emails:         []sdk.Email{{Value: "home@example.com", Type: "home", Primary: true}, {Value: " babs@example.com ", Type: "Work"}},
				EmployeeNumber: "701", Department: "Sales",
				Addresses: []sdk.Address{{Type: "home", Locality: "Bergen"}, {Type: "work", Locality: "Oslo", Formatted: "Karl Johans gate 1, Oslo"}}},
			key:  "babs@example.com",
			want: profile{DisplayName: "Babs", EmployeeID: "701", Office: "Oslo", Department: "Sales"},
		},
		{
			name: "formatted name and formatted work address",
			in: sdk.User{ID: "u1", FormattedName: "Barbara Jensen", GivenName: "B", FamilyName: "J",
				Emails:    []sdk.Email{{Value: "b@example.com"}},
				Addresses: []sdk.Address{{Type: "work", Formatted: "Building 7"}}},
			key:  "b@example.com",
			want: profile{DisplayName: "Barbara Jensen", Office: "Building 7"},
		},
		{
			name: "given and family name, no work address",
			in: sdk.User{ID: "u1", GivenName: "Barbara", FamilyName: "Jensen", Emails: []sdk.Email{{Value: "b@example.com"}},
				Addresses: []sdk.Address{{Type: "home", Locality: "Bergen", Primary: true}}},
			key:  "b@example.com",
			want: profile{DisplayName: "Barbara Jensen"},
		},
		{
			name: "primary email when there is no work email",
			in:   sdk.User{ID: "u1", Emails: []sdk.Email{{Value: "other@example.com", Type: "other"}, {Value: "p@example.com", Type: "home", Primary: true}}},
			key:  "p@example.com",
		},
		{
			name: "first email when none is work or primary",
			in:   sdk.User{ID: "u1", Emails: []sdk.Email{{Value: ""}, {Value: "first@example.com", Type: "home"}, {Value: "second@example.com"}}},
			key:  "first@example.com",
		},
		{
			name: "the primary of several work emails",
			in: sdk.User{ID: "u1", Emails: []sdk.Email{{Value: "w1@example.com", Type: "work"}, {Value: "w2@example.com", Type: "work", Primary: true},
				{Value: "w3@example.com", Type: "work"}}},
			key: "w2@example.com",
		},
		{
			name: "no email",
			in:   sdk.User{ID: "u1", UserName: "bjensen", Emails: []sdk.Email{{Value: " ", Type: "work"}}},
			err:  `user "bjensen" (SCIM id u1) has no email address`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, got, err := mapUser(&tt.in)
			if tt.err != "" {
				if !sdk.IsInvalid(err) || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want Invalid containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if key != tt.key || got != tt.want {
				t.Errorf("mapUser = %q, %+v; want %q, %+v", key, got, tt.key, tt.want)
			}
		})
	}
}

func TestApplyMapsEveryField(t *testing.T) {
	h := newHarness(t, "")
	u := person("u1", "babs@example.com")
	u.EmployeeNumber, u.Department = "701", "Sales"
	u.Addresses = []sdk.Address{{Type: "work", Locality: "Oslo"}}
	h.MustApply(h.UserChange(sdk.UserCreated, u), h.GroupChange(sdk.GroupCreated, "g1", "Color printing"),
		h.GroupChange(sdk.MembersAdded, "g1", "Color printing", "u1"))
	h.MustImport("babs@example.com,CARD-1")
	want := User{Email: "babs@example.com", DisplayName: "Person u1", EmployeeID: "701", Office: "Oslo", Department: "Sales",
		Enabled: true, Cards: []string{"CARD-1"}, PolicyGroups: []string{"Color printing"}, ScimID: "u1"}
	if got := user(h, "babs@example.com"); !reflect.DeepEqual(got, want) {
		t.Errorf("user\n got %+v\nwant %+v", got, want)
	}

	u2 := *u
	u2.DisplayName, u2.FormattedName, u2.EmployeeNumber, u2.Addresses = "", "Barbara Jensen", "", nil
	h.MustApply(h.UserChange(sdk.UserUpdated, &u2))
	want.DisplayName, want.EmployeeID, want.Office = "Barbara Jensen", "", ""
	if got := user(h, "babs@example.com"); !reflect.DeepEqual(got, want) {
		t.Errorf("updated user\n got %+v\nwant %+v", got, want)
	}
}

func TestEmailChangeKeepsCardsAndGroups(t *testing.T) {
	h := newHarness(t, "")
	h.MustApply(h.UserChange(sdk.UserCreated, person("u1", "bj@example.com")),
		h.UserChange(sdk.UserCreated, person("u2", "ak@example.com")),
		h.GroupChange(sdk.GroupCreated, "g1", "Mono only"),
		h.GroupChange(sdk.MembersAdded, "g1", "Mono only", "u1", "u2"))
	h.MustImport("bj@example.com,C1\nbj@example.com,C2\n")

	// A new work email moves the key even when another email stays.
	moved := person("u1", "barbara.jensen@example.com")
	moved.Emails = append(moved.Emails, sdk.Email{Value: "bj@example.com", Type: "home", Primary: true})
	h.MustApply(h.UserChange(sdk.UserUpdated, moved))
	got := user(h, "barbara.jensen@example.com")
	if !reflect.DeepEqual(got.Cards, []string{"C1", "C2"}) || !reflect.DeepEqual(got.PolicyGroups, []string{"Mono only"}) {
		t.Errorf("re-keyed user = %+v, want cards C1, C2 and group Mono only", got)
	}
	if got := emails(h); !reflect.DeepEqual(got, []string{"ak@example.com", "barbara.jensen@example.com"}) {
		t.Errorf("emails = %v", got)
	}
	if s := h.Inspect(); !reflect.DeepEqual(s.PolicyGroups, []PolicyGroup{{Name: "Mono only", Members: []string{"ak@example.com", "barbara.jensen@example.com"}}}) {
		t.Errorf("policy groups = %+v", s.PolicyGroups)
	}
	resp := h.MustImport("bj@example.com,C3\nak@example.com,C1\n")
	if !strings.Contains(string(resp.Result), `no user has the email \"bj@example.com\"`) ||
		!strings.Contains(string(resp.Result), `card \"C1\" is already assigned to email \"barbara.jensen@example.com\"`) {
		t.Errorf("import after the email change: %s", resp.Result)
	}

	h.MustApply(h.GroupChange(sdk.GroupUpdated, "g1", "Mono, duplex"))
	if g := user(h, "ak@example.com").PolicyGroups; !reflect.DeepEqual(g, []string{"Mono, duplex"}) {
		t.Errorf("ak's groups after a group rename = %v", g)
	}

	// Two SCIM users cannot share an email.
	_, err := h.Apply(h.UserChange(sdk.UserCreated, person("u3", "AK@example.com")))
	if !sdk.IsInvalid(err) || !strings.Contains(err.Error(), `email "AK@example.com" of SCIM user u3 is already the email of SCIM user u2`) {
		t.Errorf("shared email: err = %v", err)
	}
}

func TestEmailRequired(t *testing.T) {
	h := newHarness(t, "")
	ok := h.UserChange(sdk.UserCreated, person("u1", "b@example.com"))
	bad := h.UserChange(sdk.UserCreated, person("u2", ""))
	resp, err := h.Apply(ok, bad)
	if !sdk.IsInvalid(err) || !strings.Contains(err.Error(), `"u2@idp"`) {
		t.Fatalf("err = %v, want Invalid naming u2@idp", err)
	}
	if resp.AppliedThrough != ok.Seq {
		t.Errorf("AppliedThrough = %d, want %d", resp.AppliedThrough, ok.Seq)
	}
	if d, _ := h.B.Describe(context.Background(), &sdk.DescribeRequest{}); !reflect.DeepEqual(d.RequiredUserAttributes, []string{"emails"}) {
		t.Errorf("RequiredUserAttributes = %v", d.RequiredUserAttributes)
	}
}

func TestDeactivateAndDelete(t *testing.T) {
	tests := []struct {
		settings         string
		cardsWhenOff     []string
		retainedAtDelete []RetainedCard
	}{
		{``, []string{"C1"}, []RetainedCard{}},
		{`{"cards_on_deactivate":"remove"}`, []string{}, []RetainedCard{}},
		{`{"cards_on_delete":"keep"}`, []string{"C1"}, []RetainedCard{{Card: "C1", Email: "bj@example.com"}}},
		{`{"cards_on_deactivate":"remove","cards_on_delete":"keep"}`, []string{}, []RetainedCard{}},
	}
	for _, tt := range tests {
		t.Run("settings "+tt.settings, func(t *testing.T) {
			h := newHarness(t, tt.settings)
			u := person("u1", "bj@example.com")
			h.MustApply(h.UserChange(sdk.UserCreated, u), h.UserChange(sdk.UserCreated, person("u2", "ak@example.com")),
				h.GroupChange(sdk.GroupCreated, "g1", "Staff"), h.GroupChange(sdk.MembersAdded, "g1", "Staff", "u1", "u2"))
			h.MustImport("bj@example.com,C1")

			off := *u
			off.Active = false
			h.MustApply(h.UserChange(sdk.UserDeactivated, &off))
			got := user(h, "bj@example.com")
			if got.Enabled || !reflect.DeepEqual(got.Cards, tt.cardsWhenOff) || !reflect.DeepEqual(got.PolicyGroups, []string{"Staff"}) {
				t.Errorf("deactivated user = %+v, want disabled with cards %v in Staff", got, tt.cardsWhenOff)
			}
			h.MustApply(h.UserChange(sdk.UserReactivated, u))
			if got := user(h, "bj@example.com"); !got.Enabled {
				t.Errorf("reactivated user = %+v", got)
			}

			h.MustApply(h.UserChange(sdk.UserDeleted, u))
			s := h.Inspect()
			if !reflect.DeepEqual(emails(h), []string{"ak@example.com"}) {
				t.Errorf("users after delete = %+v", s.Users)
			}
			if !reflect.DeepEqual(s.PolicyGroups, []PolicyGroup{{Name: "Staff", Members: []string{"ak@example.com"}}}) {
				t.Errorf("policy groups after delete = %+v", s.PolicyGroups)
			}
			if !reflect.DeepEqual(s.RetainedCards, tt.retainedAtDelete) {
				t.Errorf("retained cards = %+v, want %+v", s.RetainedCards, tt.retainedAtDelete)
			}
			resp := h.MustImport("ak@example.com,C1")
			if !strings.Contains(resp.Message, "cards added: 1") || len(h.Inspect().RetainedCards) != 0 {
				t.Errorf("reassigning C1: %s %s", resp.Message, resp.Result)
			}
		})
	}
}

func TestImportCards(t *testing.T) {
	tests := []struct {
		name    string
		csv     string
		message string
		refused []map[string]any
		cards   map[string][]string
	}{
		{
			name:    "header",
			csv:     "user,card\nbj@example.com,C1\nak@example.com,C2\n",
			message: "import-cards: rows: 2, cards added: 2, already assigned: 0, refused: 0",
			cards:   map[string][]string{"bj@example.com": {"C1"}, "ak@example.com": {"C2"}},
		},
		{
			name:    "email header",
			csv:     "email,card\nbj@example.com,C1\n",
			message: "rows: 1, cards added: 1",
			cards:   map[string][]string{"bj@example.com": {"C1"}},
		},
		{
			name:    "no header",
			csv:     "bj@example.com,C1\nBJ@Example.com,C2",
			message: "rows: 2, cards added: 2",
			cards:   map[string][]string{"bj@example.com": {"C1", "C2"}},
		},
		{
			name:    "CRLF, spaces and blank lines",
			csv:     "user,card\r\n\r\n bj@example.com , C1 \r\n\r\nak@example.com,C2\r\n",
			message: "rows: 2, cards added: 2",
			cards:   map[string][]string{"bj@example.com": {"C1"}, "ak@example.com": {"C2"}},
		},
		{
			name:    "unknown user refused",
			csv:     "bj@example.com,C1\nnew@example.com,C9\n",
			message: "rows: 2, cards added: 1, already assigned: 0, refused: 1",
			refused: []map[string]any{{"line": 2.0, "user": "new@example.com", "card": "C9",
				"reason": `no user has the email "new@example.com": users come from the identity provider through SCIM, and this import only adds cards to users it has provisioned`}},
			cards: map[string][]string{"bj@example.com": {"C1"}},
		},
		{
			name:    "card on another user refused",
			csv:     "user,card\nbj@example.com,C1\nak@example.com,C1\n",
			message: "cards added: 1, already assigned: 0, refused: 1",
			refused: []map[string]any{{"line": 3.0, "user": "ak@example.com", "card": "C1",
				"reason": `card "C1" is already assigned to email "bj@example.com"`}},
			cards: map[string][]string{"bj@example.com": {"C1"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, "")
			h.MustApply(h.UserChange(sdk.UserCreated, person("u1", "bj@example.com")),
				h.UserChange(sdk.UserCreated, person("u2", "ak@example.com")))
			resp := h.MustImport(tt.csv)
			if !strings.Contains(resp.Message, tt.message) {
				t.Errorf("message = %q, want it to contain %q", resp.Message, tt.message)
			}
			var res struct {
				Refused []map[string]any `json:"refused"`
			}
			if err := json.Unmarshal(resp.Result, &res); err != nil {
				t.Fatalf("result %s: %v", resp.Result, err)
			}
			if len(res.Refused) != len(tt.refused) || (len(tt.refused) > 0 && !reflect.DeepEqual(res.Refused, tt.refused)) {
				t.Errorf("refused = %v, want %v", res.Refused, tt.refused)
			}
			for _, u := range h.Inspect().Users {
				want := tt.cards[u.Email]
				if want == nil {
					want = []string{}
				}
				if !reflect.DeepEqual(u.Cards, want) {
					t.Errorf("%s's cards = %v, want %v", u.Email, u.Cards, want)
				}
			}
		})
	}
}

func TestImportCardsInvalid(t *testing.T) {
	tests := []struct {
		name, payload, want string
	}{
		{"bare quote", "bj@example.com,C\"1\n", "the CSV is malformed at line 1"},
		{"three fields", "bj@example.com,C1,x\n", "line 1 has 3 fields; each line must be email,card"},
		{"empty", "\r\n\r\n", "the CSV has no email,card lines"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, "")
			h.MustApply(h.UserChange(sdk.UserCreated, person("u1", "bj@example.com")))
			_, err := h.Import(tt.payload)
			if !sdk.IsInvalid(err) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want Invalid containing %q", err, tt.want)
			}
			if c := user(h, "bj@example.com").Cards; len(c) != 0 {
				t.Errorf("a refused file added cards: %v", c)
			}
		})
	}
}

func TestSettingsValidation(t *testing.T) {
	tests := []struct {
		name, settings, want string
	}{
		{"unknown key", `{"policy_group":"x"}`, `unknown setting "policy_group"; accepted settings: cards_on_deactivate, cards_on_delete`},
		{"bad value", `{"cards_on_deactivate":"disable"}`, `setting cards_on_deactivate: "disable" is not accepted; accepted values: keep, remove`},
		{"two values", `{"cards_on_delete":["keep","keep"]}`, `setting cards_on_delete: it takes exactly one value; accepted values: keep, remove`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := New().(*Backend)
			defer b.Close()
			_, err := b.Configure(context.Background(), &sdk.ConfigureRequest{Settings: json.RawMessage(tt.settings), DataDir: t.TempDir()})
			if !sdk.IsInvalid(err) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want Invalid containing %q", err, tt.want)
			}
		})
	}
}

func TestIdempotentAcrossReopen(t *testing.T) {
	h := newHarness(t, `{"cards_on_delete":"keep"}`)
	batch := []sdk.Change{
		h.UserChange(sdk.UserCreated, person("u1", "bj@example.com")),
		h.UserChange(sdk.UserCreated, person("u2", "ak@example.com")),
		h.GroupChange(sdk.GroupCreated, "g1", "Staff"),
		h.GroupChange(sdk.MembersAdded, "g1", "Staff", "u1", "u2"),
		h.UserChange(sdk.UserUpdated, person("u1", "barbara@example.com")),
		h.UserChange(sdk.UserDeleted, person("u2", "ak@example.com")),
	}
	h.MustApply(batch[:4]...)
	h.MustImport("ak@example.com,K1")
	h.MustApply(batch[4:]...)
	before := h.InspectJSON()

	h.Reopen(`{"cards_on_delete":"keep"}`)
	resp, err := h.Apply(batch...)
	if err != nil {
		t.Fatal(err)
	}
	if resp.AppliedThrough != 6 {
		t.Errorf("AppliedThrough = %d, want 6", resp.AppliedThrough)
	}
	if after := h.InspectJSON(); string(after) != string(before) {
		t.Errorf("re-applying after a reopen changed the store\nbefore %s\n after %s", before, after)
	}
	// Re-sending the creation of the user deleted at seq 6 does not bring
	// the user back.
	if _, err := h.Apply(batch[1]); err != nil {
		t.Fatal(err)
	}
	if s := h.Inspect(); s.LastSeq != 6 || len(s.RetainedCards) != 1 || len(s.Users) != 1 || s.Users[0].Email != "barbara@example.com" {
		t.Errorf("store after reopen = %+v", s)
	}
}

func TestMembersAddedUnknownUser(t *testing.T) {
	h := newHarness(t, "")
	h.MustApply(h.UserChange(sdk.UserCreated, person("u1", "bj@example.com")), h.GroupChange(sdk.GroupCreated, "g1", "Staff"))
	_, err := h.Apply(h.GroupChange(sdk.MembersAdded, "g1", "Staff", "u1", "u404"))
	if !sdk.IsInvalid(err) || !strings.Contains(err.Error(), "member u404 of group g1 is not a provisioned user") {
		t.Fatalf("err = %v", err)
	}
	if s := h.Inspect(); len(s.PolicyGroups[0].Members) != 0 {
		t.Errorf("a refused change added members: %+v", s.PolicyGroups)
	}
	h.MustApply(h.GroupChange(sdk.GroupDeleted, "g1", "Staff"))
	if s := h.Inspect(); len(s.PolicyGroups) != 0 || len(s.Users[0].PolicyGroups) != 0 {
		t.Errorf("after group delete: %+v", s)
	}
}

func TestInspectGolden(t *testing.T) {
	h := newHarness(t, `{"cards_on_delete":"keep"}`)
	zed := person("u3", "zed@example.com")
	zed.EmployeeNumber, zed.Department = "9", "IT"
	zed.Addresses = []sdk.Address{{Type: "work", Formatted: "HQ, floor 2"}}
	h.MustApply(
		h.UserChange(sdk.UserCreated, zed),
		h.UserChange(sdk.UserCreated, person("u1", "bj@example.com")),
		h.UserChange(sdk.UserCreated, person("u4", "gone@example.com")),
		h.GroupChange(sdk.GroupCreated, "g2", "mono"),
		h.GroupChange(sdk.GroupCreated, "g1", "Color"),
		h.GroupChange(sdk.MembersAdded, "g2", "mono", "u3", "u1"),
		h.GroupChange(sdk.MembersAdded, "g1", "Color", "u3"),
	)
	h.MustImport("zed@example.com,Z2\nzed@example.com,Z1\ngone@example.com,G1\n")
	h.MustApply(h.UserChange(sdk.UserDeleted, person("u4", "gone@example.com")))
	h.Golden(filepath.Join("testdata", "inspect.json"), *update)
}

func TestDescribe(t *testing.T) {
	d, err := New().Describe(context.Background(), &sdk.DescribeRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "hpinsights" || d.Version == "" || d.Description == "" || len(d.Settings) != 2 {
		t.Errorf("describe = %+v", d)
	}
	if len(d.Actions) != 1 || d.Actions[0].Name != "import-cards" || !strings.Contains(d.Actions[0].Description, "email,card") {
		t.Errorf("actions = %+v", d.Actions)
	}
}
