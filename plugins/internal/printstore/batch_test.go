package printstore

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/caddy-scim/caddy-scim/plugins/sdk"
)

func created(seq uint64, id string) sdk.Change {
	return sdk.Change{Seq: seq, Kind: sdk.UserCreated, User: &sdk.User{ID: id, UserName: "user-" + id, Active: true}}
}

// TestApplyBatch: a batch is applied in one transaction, all or nothing
// up to the change that fails, and a batch sent again changes nothing.
func TestApplyBatch(t *testing.T) {
	tests := []struct {
		name    string
		changes []sdk.Change
		through uint64
		err     string
		users   []string
	}{
		{
			name:    "all applied",
			changes: []sdk.Change{created(1, "a"), created(2, "b"), created(3, "c")},
			through: 3, users: []string{"user-a", "user-b", "user-c"},
		},
		{
			name: "a failing change keeps the ones before it and nothing of its own",
			changes: []sdk.Change{created(1, "a"), created(2, "b"),
				// The same login as a: refused after it renamed nothing.
				{Seq: 3, Kind: sdk.UserCreated, User: &sdk.User{ID: "x", UserName: "USER-A"}},
				created(4, "d")},
			through: 2, err: "applying change 3", users: []string{"user-a", "user-b"},
		},
		{
			name:    "the first change failing applies nothing",
			changes: []sdk.Change{{Seq: 1, Kind: sdk.UserCreated}, created(2, "b")},
			through: 0, err: "applying change 1", users: nil,
		},
		{
			name: "a member added in the batch that created it",
			changes: []sdk.Change{created(1, "a"),
				{Seq: 2, Kind: sdk.MembersAdded, Group: &sdk.Group{ID: "g", DisplayName: "G"}, Members: []sdk.Member{{ID: "a", Type: "User"}}},
				{Seq: 3, Kind: sdk.UserDeleted, User: &sdk.User{ID: "a"}}},
			through: 3, users: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := testBackend(t)
			ctx := context.Background()
			for range 2 { // the second time, as the host resends a batch
				resp, err := b.Apply(ctx, &sdk.ApplyRequest{Changes: tt.changes})
				if resp == nil || resp.AppliedThrough != tt.through {
					t.Fatalf("AppliedThrough = %+v, want %d", resp, tt.through)
				}
				if (err == nil) != (tt.err == "") || err != nil && !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				snap, err := b.Snapshot(ctx)
				if err != nil {
					t.Fatal(err)
				}
				var users []string
				for _, u := range snap.Users {
					users = append(users, u.Key)
				}
				if fmt.Sprint(users) != fmt.Sprint(tt.users) || snap.LastSeq != tt.through {
					t.Fatalf("users %v through %d, want %v through %d", users, snap.LastSeq, tt.users, tt.through)
				}
			}
		})
	}
}

// TestApplyBatchSplits: a batch larger than one transaction is split,
// and every change is applied once.
func TestApplyBatchSplits(t *testing.T) {
	b := testBackend(t)
	ctx := context.Background()
	const n = 5000
	changes := make([]sdk.Change, n)
	for i := range changes {
		changes[i] = created(uint64(i+1), fmt.Sprintf("u%05d-%s", i, strings.Repeat("x", 200)))
	}
	resp, err := b.Apply(ctx, &sdk.ApplyRequest{Changes: changes})
	if err != nil || resp.AppliedThrough != n {
		t.Fatalf("Apply = %+v, %v", resp, err)
	}
	if got := countKeys(t, b, prefixUser); got != n {
		t.Fatalf("%d users, want %d", got, n)
	}
}
