package pharos

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

// user returns the user with a login from the store.
func user(h *harness, login string) User {
	h.T.Helper()
	for _, u := range h.Inspect().Users {
		if u.Login == login {
			return u
		}
	}
	h.T.Fatalf("no user %q in %s", login, h.InspectJSON())
	return User{}
}

// logins lists the logins in the store.
func logins(h *harness) []string {
	var out []string
	for _, u := range h.Inspect().Users {
		out = append(out, u.Login)
	}
	return out
}

func person(id, login, email string) *sdk.User {
	u := &sdk.User{ID: id, UserName: login, Active: true, GivenName: "Given " + id, FamilyName: "Family"}
	if email != "" {
		u.Email = email
		u.Emails = []sdk.Email{{Value: email, Type: "work", Primary: true}}
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
			in: sdk.User{ID: "u1", UserName: " bjensen ", Email: "babs@example.com", FormattedName: "Ms. Barbara Jensen",
				GivenName: "Barbara", FamilyName: "Jensen", Department: " Sales ", CostCenter: "CC-4711"},
			key:  "bjensen",
			want: profile{Email: "babs@example.com", FullName: "Ms. Barbara Jensen", Department: "Sales", CostCenter: "CC-4711"},
		},
		{
			name: "given and family name without formatted",
			in:   sdk.User{ID: "u1", UserName: "bj", Email: "bj@example.com", GivenName: "Barbara", FamilyName: "Jensen"},
			key:  "bj",
			want: profile{Email: "bj@example.com", FullName: "Barbara Jensen"},
		},
		{
			name: "family name only",
			in:   sdk.User{ID: "u1", UserName: "bj", Email: "bj@example.com", FamilyName: "Jensen"},
			key:  "bj",
			want: profile{Email: "bj@example.com", FullName: "Jensen"},
		},
		{
			name: "email from the list when none is picked",
			in:   sdk.User{ID: "u1", UserName: "bj", Emails: []sdk.Email{{Value: " "}, {Value: "home@example.com", Type: "home"}}},
			key:  "bj",
			want: profile{Email: "home@example.com"},
		},
		{
			name: "no email",
			in:   sdk.User{ID: "u1", UserName: "bjensen"},
			err:  `user "bjensen" (SCIM id u1) has no email address`,
		},
		{
			name: "no userName",
			in:   sdk.User{ID: "u1", Email: "bj@example.com"},
			err:  "SCIM user u1 has no userName",
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
	u := person("u1", "bjensen", "babs@example.com")
	u.FormattedName, u.Department, u.CostCenter = "Barbara Jensen", "Sales", "CC-1"
	h.MustApply(h.UserChange(sdk.UserCreated, u), h.GroupChange(sdk.GroupCreated, "g1", "Printers"),
		h.GroupChange(sdk.MembersAdded, "g1", "Printers", "u1"))
	h.MustImport("bjensen,CARD-1")
	want := User{Login: "bjensen", Email: "babs@example.com", FullName: "Barbara Jensen", Department: "Sales",
		CostCenter: "CC-1", Enabled: true, Cards: []string{"CARD-1"}, Groups: []string{"Printers"}, ScimID: "u1"}
	if got := user(h, "bjensen"); !reflect.DeepEqual(got, want) {
		t.Errorf("user\n got %+v\nwant %+v", got, want)
	}

	u2 := *u
	u2.Department, u2.CostCenter, u2.FormattedName, u2.Email = "Support", "", "", "b.jensen@example.com"
	h.MustApply(h.UserChange(sdk.UserUpdated, &u2))
	want.Department, want.CostCenter, want.FullName, want.Email = "Support", "", "Given u1 Family", "b.jensen@example.com"
	if got := user(h, "bjensen"); !reflect.DeepEqual(got, want) {
		t.Errorf("updated user\n got %+v\nwant %+v", got, want)
	}
}

func TestRenameKeepsCardsAndGroups(t *testing.T) {
	h := newHarness(t, "")
	h.MustApply(h.UserChange(sdk.UserCreated, person("u1", "bjensen", "b@example.com")),
		h.UserChange(sdk.UserCreated, person("u2", "akent", "a@example.com")),
		h.GroupChange(sdk.GroupCreated, "g1", "Sales"),
		h.GroupChange(sdk.MembersAdded, "g1", "Sales", "u1", "u2"))
	h.MustImport("bjensen,C1\nbjensen,C2\n")

	h.MustApply(h.UserChange(sdk.UserUpdated, person("u1", "barbara.jensen", "b@example.com")))
	got := user(h, "barbara.jensen")
	if !reflect.DeepEqual(got.Cards, []string{"C1", "C2"}) || !reflect.DeepEqual(got.Groups, []string{"Sales"}) {
		t.Errorf("renamed user = %+v, want cards C1, C2 and group Sales", got)
	}
	if got := logins(h); !reflect.DeepEqual(got, []string{"akent", "barbara.jensen"}) {
		t.Errorf("logins = %v", got)
	}
	s := h.Inspect()
	if !reflect.DeepEqual(s.Groups, []Group{{Name: "Sales", Members: []string{"akent", "barbara.jensen"}}}) {
		t.Errorf("groups = %+v", s.Groups)
	}
	resp := h.MustImport("bjensen,C3\nakent,C1\n")
	if !strings.Contains(string(resp.Result), `no user has the login \"bjensen\"`) ||
		!strings.Contains(string(resp.Result), `card \"C1\" is already assigned to login \"barbara.jensen\"`) {
		t.Errorf("import after rename: %s", resp.Result)
	}

	// A group rename keeps its members.
	h.MustApply(h.GroupChange(sdk.GroupUpdated, "g1", "Sales EMEA"))
	s = h.Inspect()
	if !reflect.DeepEqual(s.Groups, []Group{{Name: "Sales EMEA", Members: []string{"akent", "barbara.jensen"}}}) {
		t.Errorf("groups after rename = %+v", s.Groups)
	}
	if g := user(h, "akent").Groups; !reflect.DeepEqual(g, []string{"Sales EMEA"}) {
		t.Errorf("akent's groups = %v", g)
	}

	// A case-only rename keeps the user too.
	h.MustApply(h.UserChange(sdk.UserUpdated, person("u1", "Barbara.Jensen", "b@example.com")))
	if got := user(h, "Barbara.Jensen"); len(got.Cards) != 2 || len(got.Groups) != 1 {
		t.Errorf("after a case-only rename: %+v", got)
	}
}

func TestKeyCollisionsAreInvalid(t *testing.T) {
	h := newHarness(t, "")
	h.MustApply(h.UserChange(sdk.UserCreated, person("u1", "bjensen", "b@example.com")),
		h.GroupChange(sdk.GroupCreated, "g1", "Sales"))
	tests := []struct {
		name   string
		change sdk.Change
		want   string
	}{
		{"login of another user", h.UserChange(sdk.UserCreated, person("u2", "BJensen", "x@example.com")),
			`login "BJensen" of SCIM user u2 is already the login of SCIM user u1`},
		{"name of another group", h.GroupChange(sdk.GroupCreated, "g2", "sales"),
			`group name "sales" of SCIM group g2 is already the name of SCIM group g1`},
		{"group without a name", h.GroupChange(sdk.GroupCreated, "g3", " "), "group g3 has no displayName"},
		{"unknown kind", sdk.Change{Seq: h.Next(), Kind: "user.exploded", User: person("u1", "bjensen", "b@example.com")}, `unknown change kind "user.exploded"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := h.Apply(tt.change)
			if !sdk.IsInvalid(err) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want Invalid containing %q", err, tt.want)
			}
			if resp.AppliedThrough != 0 {
				t.Errorf("AppliedThrough = %d, want 0", resp.AppliedThrough)
			}
		})
	}
}

func TestEmailRequired(t *testing.T) {
	h := newHarness(t, "")
	ok := h.UserChange(sdk.UserCreated, person("u1", "bjensen", "b@example.com"))
	bad := h.UserChange(sdk.UserCreated, person("u2", "nomail", ""))
	after := h.UserChange(sdk.UserCreated, person("u3", "later", "l@example.com"))
	resp, err := h.Apply(ok, bad, after)
	if !sdk.IsInvalid(err) || !strings.Contains(err.Error(), `"nomail"`) || !strings.Contains(err.Error(), "no email") {
		t.Fatalf("err = %v, want Invalid naming nomail", err)
	}
	if resp.AppliedThrough != ok.Seq {
		t.Errorf("AppliedThrough = %d, want %d", resp.AppliedThrough, ok.Seq)
	}
	if got := logins(h); !reflect.DeepEqual(got, []string{"bjensen"}) {
		t.Errorf("logins = %v, want only bjensen", got)
	}
	// An update that drops the last email is refused the same way.
	_, err = h.Apply(h.UserChange(sdk.UserUpdated, person("u1", "bjensen", "")))
	if !sdk.IsInvalid(err) || !strings.Contains(err.Error(), `"bjensen"`) {
		t.Errorf("update without email: err = %v", err)
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
		{`{"cards_on_deactivate":"keep","cards_on_delete":"remove"}`, []string{"C1"}, []RetainedCard{}},
		{`{"cards_on_deactivate":"remove"}`, []string{}, []RetainedCard{}},
		{`{"cards_on_delete":"keep"}`, []string{"C1"}, []RetainedCard{{Card: "C1", Login: "bjensen"}}},
		{`{"cards_on_deactivate":"remove","cards_on_delete":"keep"}`, []string{}, []RetainedCard{}},
	}
	for _, tt := range tests {
		t.Run("settings "+tt.settings, func(t *testing.T) {
			h := newHarness(t, tt.settings)
			u := person("u1", "bjensen", "b@example.com")
			h.MustApply(h.UserChange(sdk.UserCreated, u), h.UserChange(sdk.UserCreated, person("u2", "akent", "a@example.com")),
				h.GroupChange(sdk.GroupCreated, "g1", "Sales"), h.GroupChange(sdk.MembersAdded, "g1", "Sales", "u1", "u2"))
			h.MustImport("bjensen,C1")

			off := *u
			off.Active = false
			h.MustApply(h.UserChange(sdk.UserDeactivated, &off))
			got := user(h, "bjensen")
			if got.Enabled || !reflect.DeepEqual(got.Cards, tt.cardsWhenOff) || !reflect.DeepEqual(got.Groups, []string{"Sales"}) {
				t.Errorf("deactivated user = %+v, want disabled with cards %v in Sales", got, tt.cardsWhenOff)
			}
			h.MustApply(h.UserChange(sdk.UserReactivated, u))
			if got := user(h, "bjensen"); !got.Enabled || !reflect.DeepEqual(got.Cards, tt.cardsWhenOff) {
				t.Errorf("reactivated user = %+v", got)
			}

			h.MustApply(h.UserChange(sdk.UserDeleted, u))
			s := h.Inspect()
			if !reflect.DeepEqual(logins(h), []string{"akent"}) {
				t.Errorf("users after delete = %+v", s.Users)
			}
			if !reflect.DeepEqual(s.Groups, []Group{{Name: "Sales", Members: []string{"akent"}}}) {
				t.Errorf("groups after delete = %+v", s.Groups)
			}
			if !reflect.DeepEqual(s.RetainedCards, tt.retainedAtDelete) {
				t.Errorf("retained cards = %+v, want %+v", s.RetainedCards, tt.retainedAtDelete)
			}

			// Whichever way the card left, it can now go to someone else.
			resp := h.MustImport("akent,C1")
			if !strings.Contains(resp.Message, "cards added: 1") {
				t.Errorf("reassigning C1: %s %s", resp.Message, resp.Result)
			}
			if len(h.Inspect().RetainedCards) != 0 {
				t.Errorf("C1 is still retained after it was reassigned")
			}
		})
	}
}

func TestDeactivatedUserCardsWithRemovePolicy(t *testing.T) {
	h := newHarness(t, `{"cards_on_deactivate":"remove"}`)
	u := person("u1", "bjensen", "b@example.com")
	u.Active = false
	h.MustApply(h.UserChange(sdk.UserCreated, u))
	resp := h.MustImport("bjensen,C1")
	if !strings.Contains(string(resp.Result), "is deactivated, and cards_on_deactivate is remove") {
		t.Errorf("import for a deactivated user: %s", resp.Result)
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
			csv:     "user,card\nbjensen,C1\nakent,C2\n",
			message: "import-cards: rows: 2, cards added: 2, already assigned: 0, refused: 0",
			cards:   map[string][]string{"bjensen": {"C1"}, "akent": {"C2"}},
		},
		{
			name:    "login header",
			csv:     "Login , Card\nbjensen,C1\n",
			message: "rows: 1, cards added: 1",
			cards:   map[string][]string{"bjensen": {"C1"}},
		},
		{
			name:    "no header",
			csv:     "bjensen,C1\nbjensen,C2",
			message: "rows: 2, cards added: 2",
			cards:   map[string][]string{"bjensen": {"C1", "C2"}},
		},
		{
			name:    "CRLF, spaces, blank lines and a byte order mark",
			csv:     "\xef\xbb\xbfuser,card\r\n\r\n  bjensen ,  C1 \r\n   \r\n\"akent\",\"C 2\"\r\n",
			message: "rows: 2, cards added: 2",
			cards:   map[string][]string{"bjensen": {"C1"}, "akent": {"C 2"}},
		},
		{
			name:    "login matched case-insensitively",
			csv:     "BJENSEN,C1",
			message: "cards added: 1",
			cards:   map[string][]string{"bjensen": {"C1"}},
		},
		{
			name:    "unknown user refused",
			csv:     "user,card\nbjensen,C1\nnobody,C9\n",
			message: "rows: 2, cards added: 1, already assigned: 0, refused: 1",
			refused: []map[string]any{{"line": 3.0, "user": "nobody", "card": "C9",
				"reason": `no user has the login "nobody": users come from the identity provider through SCIM, and this import only adds cards to users it has provisioned`}},
			cards: map[string][]string{"bjensen": {"C1"}},
		},
		{
			name:    "card on another user refused",
			csv:     "bjensen,C1\nakent,c1\n",
			message: "cards added: 1, already assigned: 0, refused: 1",
			refused: []map[string]any{{"line": 2.0, "user": "akent", "card": "c1",
				"reason": `card "c1" is already assigned to login "bjensen"`}},
			cards: map[string][]string{"bjensen": {"C1"}},
		},
		{
			name:    "already assigned",
			csv:     "bjensen,C1\nbjensen,C1\n",
			message: "rows: 2, cards added: 1, already assigned: 1, refused: 0",
			cards:   map[string][]string{"bjensen": {"C1"}},
		},
		{
			name:    "empty fields refused",
			csv:     "bjensen,\n,C5\n",
			message: "cards added: 0, already assigned: 0, refused: 2",
			refused: []map[string]any{
				{"line": 1.0, "user": "bjensen", "card": "", "reason": "the card is empty"},
				{"line": 2.0, "user": "", "card": "C5", "reason": "the login is empty"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, "")
			h.MustApply(h.UserChange(sdk.UserCreated, person("u1", "bjensen", "b@example.com")),
				h.UserChange(sdk.UserCreated, person("u2", "akent", "a@example.com")))
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
				want := tt.cards[u.Login]
				if want == nil {
					want = []string{}
				}
				if !reflect.DeepEqual(u.Cards, want) {
					t.Errorf("%s's cards = %v, want %v", u.Login, u.Cards, want)
				}
			}
		})
	}
}

func TestImportCardsInvalid(t *testing.T) {
	tests := []struct {
		name, payload, want string
	}{
		{"bare quote", "bjensen,C\"1\n", "the CSV is malformed at line 1"},
		{"unterminated quote", "bjensen,C1\nakent,\"C2\n", "the CSV is malformed at line 2"},
		{"three fields", "user,card\nbjensen,C1,extra\n", "line 2 has 3 fields; each line must be login,card"},
		{"one field", "bjensen\n", "line 1 has 1 fields"},
		{"empty", "", "the CSV has no login,card lines"},
		{"header only", "user,card\r\n", "the CSV has no login,card lines"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, "")
			h.MustApply(h.UserChange(sdk.UserCreated, person("u1", "bjensen", "b@example.com")))
			_, err := h.Import(tt.payload)
			if !sdk.IsInvalid(err) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want Invalid containing %q", err, tt.want)
			}
			if c := user(h, "bjensen").Cards; len(c) != 0 {
				t.Errorf("a refused file added cards: %v", c)
			}
		})
	}
	h := newHarness(t, "")
	if _, err := h.B.Action(context.Background(), &sdk.ActionRequest{Tenant: "acme", Name: "export-cards"}); !sdk.IsInvalid(err) ||
		!strings.Contains(err.Error(), "import-cards") {
		t.Errorf("unknown action: err = %v", err)
	}
}

func TestSettingsValidation(t *testing.T) {
	tests := []struct {
		name, settings, want string
	}{
		{"unknown key", `{"cards_on_delete":"keep","card_policy":"keep"}`, `unknown setting "card_policy"; accepted settings: cards_on_deactivate, cards_on_delete`},
		{"bad value", `{"cards_on_delete":"archive"}`, `setting cards_on_delete: "archive" is not accepted; accepted values: keep, remove`},
		{"bad deactivate value", `{"cards_on_deactivate":""}`, `setting cards_on_deactivate: "" is not accepted; accepted values: keep, remove`},
		{"two values", `{"cards_on_deactivate":["keep","remove"]}`, `setting cards_on_deactivate: it takes exactly one value; accepted values: keep, remove`},
		{"not a string", `{"cards_on_delete":true}`, `setting cards_on_delete: the value must be a string`},
		{"not an object", `["keep"]`, `settings must be a JSON object`},
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
	for _, ok := range []string{`{}`, `null`, `{"cards_on_delete":["KEEP"],"cards_on_deactivate":" remove "}`} {
		b := New().(*Backend)
		if _, err := b.Configure(context.Background(), &sdk.ConfigureRequest{Settings: json.RawMessage(ok), DataDir: t.TempDir()}); err != nil {
			t.Errorf("settings %s: %v", ok, err)
		}
		b.Close()
	}
	b := New().(*Backend)
	if _, err := b.Configure(context.Background(), &sdk.ConfigureRequest{}); !sdk.IsInvalid(err) || !strings.Contains(err.Error(), "data directory") {
		t.Errorf("no data directory: err = %v", err)
	}
	if _, err := b.Apply(context.Background(), &sdk.ApplyRequest{Changes: []sdk.Change{{Seq: 1}}}); !sdk.IsUnavailable(err) || sdk.IsInvalid(err) {
		t.Errorf("apply before configure: err = %v, want Unavailable", err)
	}
}

func TestIdempotentAcrossReopen(t *testing.T) {
	h := newHarness(t, "")
	u := person("u1", "bjensen", "b@example.com")
	batch := []sdk.Change{
		h.UserChange(sdk.UserCreated, u),
		h.UserChange(sdk.UserCreated, person("u2", "akent", "a@example.com")),
		h.GroupChange(sdk.GroupCreated, "g1", "Sales"),
		h.GroupChange(sdk.MembersAdded, "g1", "Sales", "u1", "u2"),
		h.GroupChange(sdk.MembersRemoved, "g1", "Sales", "u2"),
		h.UserChange(sdk.UserDeleted, person("u2", "akent", "a@example.com")),
	}
	h.MustApply(batch...)
	h.MustImport("bjensen,C1")
	before := h.InspectJSON()

	h.Reopen("")
	resp, err := h.Apply(batch...)
	if err != nil {
		t.Fatal(err)
	}
	if resp.AppliedThrough != batch[len(batch)-1].Seq {
		t.Errorf("AppliedThrough = %d, want %d", resp.AppliedThrough, batch[len(batch)-1].Seq)
	}
	if after := h.InspectJSON(); string(after) != string(before) {
		t.Errorf("re-applying after a reopen changed the store\nbefore %s\n after %s", before, after)
	}
	// Re-sending only part of the batch changes nothing either: the user
	// deleted at seq 6 is not brought back by its creation at seq 2.
	if _, err := h.Apply(batch[1:3]...); err != nil {
		t.Fatal(err)
	}
	if after := h.InspectJSON(); string(after) != string(before) {
		t.Errorf("re-applying a part changed the store: %s", after)
	}
	var s Store
	json.Unmarshal(before, &s)
	if s.LastSeq != 6 {
		t.Errorf("last_seq = %d, want 6", s.LastSeq)
	}

	// New changes after the reopen still apply.
	next := h.GroupChange(sdk.MembersAdded, "g1", "Sales", "u1")
	h.MustApply(append(batch, next)...)
	if got := h.Inspect().LastSeq; got != next.Seq {
		t.Errorf("last_seq = %d, want %d", got, next.Seq)
	}
}

func TestMembership(t *testing.T) {
	h := newHarness(t, "")
	h.MustApply(h.UserChange(sdk.UserCreated, person("u1", "bjensen", "b@example.com")),
		h.UserChange(sdk.UserCreated, person("u2", "akent", "a@example.com")))

	// members_added for a group that is not known yet creates it.
	add := h.GroupChange(sdk.MembersAdded, "g1", "Sales", "u1")
	add.Members = append(add.Members, sdk.Member{ID: "g9", Type: "Group"})
	h.MustApply(add)
	if s := h.Inspect(); !reflect.DeepEqual(s.Groups, []Group{{Name: "Sales", Members: []string{"bjensen"}}}) {
		t.Errorf("groups = %+v", s.Groups)
	}

	unknown := h.GroupChange(sdk.MembersAdded, "g1", "Sales", "u2", "ghost")
	resp, err := h.Apply(unknown)
	if !sdk.IsInvalid(err) || !strings.Contains(err.Error(), "member ghost of group g1 is not a provisioned user") {
		t.Fatalf("unknown member: err = %v", err)
	}
	if resp.AppliedThrough != 0 {
		t.Errorf("AppliedThrough = %d", resp.AppliedThrough)
	}
	if s := h.Inspect(); !reflect.DeepEqual(s.Groups[0].Members, []string{"bjensen"}) || s.LastSeq != add.Seq {
		t.Errorf("a refused membership change wrote something: %+v", s)
	}

	nameless := h.GroupChange(sdk.MembersAdded, "g2", "", "u1")
	if _, err := h.Apply(nameless); !sdk.IsInvalid(err) || !strings.Contains(err.Error(), "group g2 is not provisioned") {
		t.Errorf("members for an unknown unnamed group: err = %v", err)
	}

	h.MustApply(h.GroupChange(sdk.MembersAdded, "g1", "Sales", "u2"),
		h.GroupChange(sdk.GroupCreated, "g2", "Finance"),
		h.GroupChange(sdk.MembersAdded, "g2", "Finance", "u2"),
		h.GroupChange(sdk.MembersRemoved, "g1", "Sales", "u1", "never-a-member"))
	if g := user(h, "akent").Groups; !reflect.DeepEqual(g, []string{"Finance", "Sales"}) {
		t.Errorf("akent's groups = %v", g)
	}
	if g := user(h, "bjensen").Groups; len(g) != 0 {
		t.Errorf("bjensen's groups = %v", g)
	}

	h.MustApply(h.GroupChange(sdk.GroupDeleted, "g1", "Sales"))
	if s := h.Inspect(); !reflect.DeepEqual(s.Groups, []Group{{Name: "Finance", Members: []string{"akent"}}}) {
		t.Errorf("groups after delete = %+v", s.Groups)
	}
	if g := user(h, "akent").Groups; !reflect.DeepEqual(g, []string{"Finance"}) {
		t.Errorf("akent's groups after delete = %v", g)
	}
	// A new group may take the deleted group's name.
	h.MustApply(h.GroupChange(sdk.GroupCreated, "g3", "Sales"))
	if s := h.Inspect(); !reflect.DeepEqual(s.Groups[1], Group{Name: "Sales", Members: []string{}}) {
		t.Errorf("recreated group = %+v", s.Groups)
	}
}

func TestInspectGolden(t *testing.T) {
	h := newHarness(t, `{"cards_on_delete":"keep"}`)
	zed := person("u3", "zed", "z@example.com")
	zed.FormattedName, zed.Department, zed.CostCenter = "Zed Last", "IT", "CC-9"
	h.MustApply(
		h.UserChange(sdk.UserCreated, zed),
		h.UserChange(sdk.UserCreated, person("u1", "bjensen", "b@example.com")),
		h.UserChange(sdk.UserCreated, person("u2", "Akent", "a@example.com")),
		h.UserChange(sdk.UserCreated, person("u4", "gone", "g@example.com")),
		h.GroupChange(sdk.GroupCreated, "g2", "sales"),
		h.GroupChange(sdk.GroupCreated, "g1", "Admins"),
		h.GroupChange(sdk.MembersAdded, "g2", "sales", "u3", "u1", "u2"),
		h.GroupChange(sdk.MembersAdded, "g1", "Admins", "u3"),
	)
	h.MustImport("zed,Z2\nzed,Z1\ngone,G1\n")
	h.MustApply(h.UserChange(sdk.UserDeleted, person("u4", "gone", "g@example.com")))

	h.Golden(filepath.Join("testdata", "inspect.json"), *update)
}

func TestDescribe(t *testing.T) {
	d, err := New().Describe(context.Background(), &sdk.DescribeRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "pharos" || d.Version == "" || d.Description == "" {
		t.Errorf("describe = %+v", d)
	}
	var names []string
	for _, s := range d.Settings {
		if s.Description == "" {
			t.Errorf("setting %s has no description", s.Name)
		}
		names = append(names, s.Name)
	}
	if !reflect.DeepEqual(names, []string{"cards_on_deactivate", "cards_on_delete"}) {
		t.Errorf("settings = %v", names)
	}
	if len(d.Actions) != 1 || d.Actions[0].Name != "import-cards" || !strings.Contains(d.Actions[0].Description, "login,card") {
		t.Errorf("actions = %+v", d.Actions)
	}
}
