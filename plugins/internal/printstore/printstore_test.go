package printstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/caddy-scim/caddy-scim/plugins/sdk"
)

func TestEdgeKeyRoundTrip(t *testing.T) {
	for _, tt := range []struct{ a, b string }{
		{"g1", "u1"},
		{"", "u1"},
		{"g\x00with\xffbytes", ""},
		{string(make([]byte, 300)), "after a long id"},
	} {
		k := edgeKey(prefixMember, tt.a, tt.b)
		p, a, b, err := splitEdgeKey(k)
		if err != nil || p != prefixMember || a != tt.a || b != tt.b {
			t.Errorf("splitEdgeKey(edgeKey(%q, %q)) = %x, %q, %q, %v", tt.a, tt.b, p, a, b, err)
		}
	}
	// The prefix of one id is never the prefix of a longer id's edges.
	if p := edgePrefix(prefixMember, "g1"); string(edgeKey(prefixMember, "g10", "u")[:len(p)]) == string(p) {
		t.Errorf("edges of g10 fall under the prefix of g1")
	}
	for _, bad := range [][]byte{nil, {prefixMember}, {prefixMember, 5, 'a'}} {
		if _, _, _, err := splitEdgeKey(bad); err == nil {
			t.Errorf("splitEdgeKey(%x) accepted a malformed key", bad)
		}
	}
	if got := simpleKeyValue(simpleKey(prefixUser, "bjensen")); got != "bjensen" {
		t.Errorf("simpleKeyValue = %q", got)
	}
}

type note struct {
	Note string `json:"note"`
}

func testBackend(t *testing.T) *Backend[note] {
	t.Helper()
	b := NewBackend(Product[note]{
		Name: "test", KeyName: "login",
		MapUser: func(u *sdk.User) (string, note, error) { return u.UserName, note{Note: u.Title}, nil },
	})
	if _, err := b.Configure(context.Background(), &sdk.ConfigureRequest{DataDir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// countKeys counts the keys under prefix.
func countKeys(t *testing.T, b *Backend[note], prefix byte) int {
	t.Helper()
	n := 0
	err := b.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefix}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestLargeChangesSpanTransactions(t *testing.T) {
	b := testBackend(t)
	b.chunk = 3
	var changes []sdk.Change
	members := []sdk.Member{}
	for i := range 10 {
		id := fmt.Sprintf("u%d", i)
		changes = append(changes, sdk.Change{Seq: uint64(i + 1), Kind: sdk.UserCreated, User: &sdk.User{ID: id, UserName: "user" + id}})
		members = append(members, sdk.Member{ID: id, Type: "User"})
	}
	changes = append(changes,
		sdk.Change{Seq: 11, Kind: sdk.MembersAdded, Group: &sdk.Group{ID: "g1", DisplayName: "All"}, Members: members},
		sdk.Change{Seq: 12, Kind: sdk.MembersAdded, Group: &sdk.Group{ID: "g2", DisplayName: "Some"}, Members: members[:4]})
	ctx := context.Background()
	if _, err := b.Apply(ctx, &sdk.ApplyRequest{Changes: changes}); err != nil {
		t.Fatal(err)
	}
	snap, err := b.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Groups) != 2 || len(snap.Groups[0].Members) != 10 || len(snap.Groups[1].Members) != 4 {
		t.Fatalf("groups = %+v", snap.Groups)
	}
	if n := countKeys(t, b, prefixMember) + countKeys(t, b, prefixMemberOf); n != 28 {
		t.Errorf("%d edge keys, want 28", n)
	}

	more := []sdk.Change{
		{Seq: 13, Kind: sdk.GroupDeleted, Group: &sdk.Group{ID: "g1", DisplayName: "All"}},
		{Seq: 14, Kind: sdk.MembersRemoved, Group: &sdk.Group{ID: "g2"}, Members: members[:3]},
	}
	if _, err := b.Apply(ctx, &sdk.ApplyRequest{Changes: more}); err != nil {
		t.Fatal(err)
	}
	snap, err = b.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []Group{{Name: "Some", ScimID: "g2", Members: []string{"useru3"}}}
	if !reflect.DeepEqual(snap.Groups, want) || snap.LastSeq != 14 {
		t.Errorf("after delete: groups %+v, last %d", snap.Groups, snap.LastSeq)
	}
	if n := countKeys(t, b, prefixMember) + countKeys(t, b, prefixMemberOf); n != 2 {
		t.Errorf("%d edge keys left, want 2", n)
	}
}

func TestImportSpansTransactions(t *testing.T) {
	b := testBackend(t)
	b.chunk = 2
	ctx := context.Background()
	_, err := b.Apply(ctx, &sdk.ApplyRequest{Changes: []sdk.Change{
		{Seq: 1, Kind: sdk.UserCreated, User: &sdk.User{ID: "u1", UserName: "a", Active: true}},
		{Seq: 2, Kind: sdk.UserCreated, User: &sdk.User{ID: "u2", UserName: "b", Active: true}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := b.Action(ctx, &sdk.ActionRequest{Name: ActionImportCards, Payload: []byte("a,1\nb,2\na,3\nb,1\nx,4\n")})
	if err != nil {
		t.Fatal(err)
	}
	var res ImportResult
	if err := json.Unmarshal(resp.Result, &res); err != nil {
		t.Fatal(err)
	}
	if res.Rows != 5 || res.Added != 3 || len(res.Refused) != 2 || res.Refused[0].Line != 4 || res.Refused[1].Line != 5 {
		t.Errorf("result = %+v", res)
	}
}

// TestLargeChangesFitTheStore applies a membership change and a card
// import of more than two chunks each, with the default chunk: each
// transaction must fit the transaction limit of a store sized for many
// tenants (see package badgerstore).
func TestLargeChangesFitTheStore(t *testing.T) {
	b := testBackend(t)
	ctx := context.Background()
	n := 2*b.chunk + 1
	var changes []sdk.Change
	var members []sdk.Member
	var csv strings.Builder
	// A profile about as large as a product's: name, email, department,
	// cost center and the like.
	title := strings.Repeat("Senior Site Reliability Engineer, ", 8)
	for i := range n {
		id := fmt.Sprintf("2819c223-7f76-453a-919d-%012d", i)
		login := fmt.Sprintf("user%05d@example.com", i)
		changes = append(changes, sdk.Change{Seq: uint64(i + 1), Kind: sdk.UserCreated, User: &sdk.User{ID: id, UserName: login, Title: title, Active: true}})
		members = append(members, sdk.Member{ID: id, Type: "User"})
		fmt.Fprintf(&csv, "%s,%010d\n", login, i)
	}
	changes = append(changes, sdk.Change{Seq: uint64(n + 1), Kind: sdk.MembersAdded, Group: &sdk.Group{ID: "g1", DisplayName: "Everyone"}, Members: members})
	if _, err := b.Apply(ctx, &sdk.ApplyRequest{Changes: changes}); err != nil {
		t.Fatal(err)
	}
	resp, err := b.Action(ctx, &sdk.ActionRequest{Name: ActionImportCards, Payload: []byte(csv.String())})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := b.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Groups) != 1 || len(snap.Groups[0].Members) != n || len(snap.Users[n-1].Cards) != 1 {
		t.Errorf("after %d members and cards: %d groups, import %q", n, len(snap.Groups), resp.Message)
	}
}

// TestConfigureOpensNoStore configures a backend without touching its
// data directory: the store is opened by the first call that needs it.
func TestConfigureOpensNoStore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "backends", "acme")
	b := NewBackend(Product[note]{Name: "test", KeyName: "login"})
	t.Cleanup(func() { b.Close() })
	ctx := context.Background()
	if _, err := b.Configure(ctx, &sdk.ConfigureRequest{Tenant: "acme", DataDir: dir}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) || b.db != nil {
		t.Fatalf("Configure opened the store (stat: %v)", err)
	}
	if snap, err := b.Snapshot(ctx); err != nil || snap.LastSeq != 0 {
		t.Fatalf("Snapshot on first use = %+v, %v", snap, err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Errorf("the first call made no store: %v", err)
	}
}

func TestCloseKeepsTheConfiguration(t *testing.T) {
	b := testBackend(t)
	ctx := context.Background()
	if _, err := b.Apply(ctx, &sdk.ApplyRequest{Changes: []sdk.Change{{Seq: 1, Kind: sdk.UserCreated, User: &sdk.User{ID: "u1", UserName: "a"}}}}); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if snap, err := b.Snapshot(ctx); err != nil || snap.LastSeq != 1 || len(snap.Users) != 1 {
		t.Errorf("Snapshot after Close = %+v, %v; want the store reopened", snap, err)
	}
}

func TestPurge(t *testing.T) {
	b := testBackend(t)
	ctx := context.Background()
	dir := b.dir
	if _, err := b.Apply(ctx, &sdk.ApplyRequest{Changes: []sdk.Change{{Seq: 1, Kind: sdk.UserCreated, User: &sdk.User{ID: "u1", UserName: "a"}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Purge(ctx, &sdk.PurgeRequest{Tenant: "acme"}); err != nil {
		t.Fatalf("Purge: %v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after Purge the data directory is still there: %v", err)
	}
	if _, err := b.Apply(ctx, &sdk.ApplyRequest{Changes: []sdk.Change{{Seq: 2, Kind: sdk.UserCreated, User: &sdk.User{ID: "u2", UserName: "b"}}}}); !sdk.IsUnavailable(err) {
		t.Errorf("Apply after Purge = %v, want Unavailable: the tenant is forgotten", err)
	}
	if _, err := b.Purge(ctx, &sdk.PurgeRequest{Tenant: "acme"}); !sdk.IsUnavailable(err) {
		t.Errorf("Purge after Purge = %v, want Unavailable", err)
	}
	if _, err := b.Configure(ctx, &sdk.ConfigureRequest{Tenant: "acme", DataDir: dir}); err != nil {
		t.Fatal(err)
	}
	if snap, err := b.Snapshot(ctx); err != nil || snap.LastSeq != 0 || len(snap.Users) != 0 {
		t.Errorf("configured again after Purge, Snapshot = %+v, %v; want an empty store", snap, err)
	}
}

func TestParseSettingsDefaults(t *testing.T) {
	s, err := ParseSettings(nil)
	if err != nil || s != (Settings{CardsOnDeactivate: Keep, CardsOnDelete: Remove}) {
		t.Errorf("ParseSettings(nil) = %+v, %v", s, err)
	}
	s, err = ParseSettings(json.RawMessage(`{"cards_on_deactivate":["Remove"]}`))
	if err != nil || s != (Settings{CardsOnDeactivate: Remove, CardsOnDelete: Remove}) {
		t.Errorf("ParseSettings(array) = %+v, %v", s, err)
	}
}

func TestReconfigure(t *testing.T) {
	b := testBackend(t)
	ctx := context.Background()
	if _, err := b.Apply(ctx, &sdk.ApplyRequest{Changes: []sdk.Change{{Seq: 1, Kind: sdk.UserCreated, User: &sdk.User{ID: "u1", UserName: "a"}}}}); err != nil {
		t.Fatal(err)
	}
	dir := b.dir
	if _, err := b.Configure(ctx, &sdk.ConfigureRequest{DataDir: dir, Settings: json.RawMessage(`{"cards_on_delete":"keep"}`)}); err != nil {
		t.Fatal(err)
	}
	if b.settings.CardsOnDelete != Keep || b.last != 1 {
		t.Errorf("same directory: settings %+v, last %d", b.settings, b.last)
	}
	if _, err := b.Configure(ctx, &sdk.ConfigureRequest{DataDir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	if b.last != 0 {
		t.Errorf("new directory: last %d, want 0", b.last)
	}
	// A refused configuration leaves the running one in place.
	if _, err := b.Configure(ctx, &sdk.ConfigureRequest{DataDir: dir, Settings: json.RawMessage(`{"x":"y"}`)}); !sdk.IsInvalid(err) {
		t.Fatalf("err = %v", err)
	}
	if b.dir == dir {
		t.Errorf("a refused configuration changed the store")
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
}
