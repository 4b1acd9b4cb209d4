package keepnet

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/caddy-scim/caddy-scim/plugins/sdk"
)

func createdUser(seq uint64, id string) sdk.Change {
	email := id + "@example.com"
	return sdk.Change{Seq: seq, Tenant: tenant, Kind: sdk.UserCreated,
		User: &sdk.User{ID: id, UserName: id, Active: true, Email: email}}
}

// TestApplyBatch: a batch is applied in one transaction, all or nothing
// up to the change that fails, and a batch sent again changes nothing.
func TestApplyBatch(t *testing.T) {
	tests := []struct {
		name    string
		changes []sdk.Change
		through uint64
		err     string
		emails  []string
	}{
		{
			name:    "all applied",
			changes: []sdk.Change{createdUser(1, "a"), createdUser(2, "b")},
			through: 2, emails: []string{"a@example.com", "b@example.com"},
		},
		{
			name: "a failing change keeps the ones before it",
			changes: []sdk.Change{createdUser(1, "a"), createdUser(2, "b"),
				{Seq: 3, Tenant: tenant, Kind: sdk.UserCreated, User: &sdk.User{ID: "c"}}, createdUser(4, "d")},
			through: 2, err: "applying change 3", emails: []string{"a@example.com", "b@example.com"},
		},
		{
			name:    "another tenant's change is refused",
			changes: []sdk.Change{createdUser(1, "a"), {Seq: 2, Tenant: "other", Kind: sdk.UserCreated, User: &sdk.User{ID: "b"}}},
			through: 1, err: "applying change 2", emails: []string{"a@example.com"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := open(t, t.TempDir(), "")
			for range 2 { // the second time, as the host resends a batch
				resp, err := b.Apply(context.Background(), &sdk.ApplyRequest{Tenant: tenant, Changes: tt.changes})
				if resp == nil || resp.AppliedThrough != tt.through {
					t.Fatalf("AppliedThrough = %+v, want %d", resp, tt.through)
				}
				if (err == nil) != (tt.err == "") || err != nil && !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				v := inspectOf(t, b)
				var emails []string
				for _, u := range v.TargetUsers {
					emails = append(emails, u.Email)
				}
				if fmt.Sprint(emails) != fmt.Sprint(tt.emails) || v.LastSeq != tt.through {
					t.Fatalf("users %v through %d, want %v through %d", emails, v.LastSeq, tt.emails, tt.through)
				}
			}
		})
	}
}

// TestApplyBatchSplits: a batch larger than one transaction is split,
// and every change is applied once.
func TestApplyBatchSplits(t *testing.T) {
	b := open(t, t.TempDir(), "")
	const n = 3000
	changes := make([]sdk.Change, n)
	for i := range changes {
		changes[i] = createdUser(uint64(i+1), fmt.Sprintf("u%05d-%s", i, strings.Repeat("x", 200)))
	}
	resp, err := b.Apply(context.Background(), &sdk.ApplyRequest{Tenant: tenant, Changes: changes})
	if err != nil || resp.AppliedThrough != n {
		t.Fatalf("Apply = %+v, %v", resp, err)
	}
	if v := inspectOf(t, b); len(v.TargetUsers) != n || v.LastSeq != n {
		t.Fatalf("%d users through %d, want %d", len(v.TargetUsers), v.LastSeq, n)
	}
}
