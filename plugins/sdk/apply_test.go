package sdk_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/caddy-scim/caddy-scim/plugins/sdk"
)

func TestApplyEach(t *testing.T) {
	batch := func(seqs ...uint64) *sdk.ApplyRequest {
		req := &sdk.ApplyRequest{Tenant: "acme"}
		for _, s := range seqs {
			req.Changes = append(req.Changes, sdk.Change{Seq: s, Tenant: "acme", Kind: sdk.UserUpdated})
		}
		return req
	}
	tests := []struct {
		name    string
		req     *sdk.ApplyRequest
		failAt  uint64
		failErr error
		want    uint64
		called  []uint64
		invalid bool
	}{
		{name: "all applied", req: batch(4, 5, 6), want: 6, called: []uint64{4, 5, 6}},
		{name: "empty batch", req: batch(), want: 0},
		{name: "nil request", req: nil, want: 0},
		{name: "fails in the middle", req: batch(4, 5, 6), failAt: 5, failErr: sdk.Invalid("no email"), want: 4, called: []uint64{4, 5}, invalid: true},
		{name: "fails first", req: batch(4, 5, 6), failAt: 4, failErr: sdk.Unavailable("down"), want: 0, called: []uint64{4}},
		{name: "fails last", req: batch(4, 5, 6), failAt: 6, failErr: errors.New("odd"), want: 5, called: []uint64{4, 5, 6}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var called []uint64
			resp, err := sdk.ApplyEach(tt.req, func(c sdk.Change) error {
				called = append(called, c.Seq)
				if c.Seq == tt.failAt {
					return tt.failErr
				}
				return nil
			})
			if resp == nil {
				t.Fatal("ApplyEach returned no response")
			}
			if resp.AppliedThrough != tt.want {
				t.Errorf("AppliedThrough = %d, want %d", resp.AppliedThrough, tt.want)
			}
			if !reflect.DeepEqual(called, tt.called) {
				t.Errorf("fn called for %v, want %v", called, tt.called)
			}
			if (err != nil) != (tt.failErr != nil) {
				t.Fatalf("err = %v, want %v", err, tt.failErr)
			}
			if err != nil && !errors.Is(err, tt.failErr) {
				t.Errorf("err = %v does not wrap %v", err, tt.failErr)
			}
			if sdk.IsInvalid(err) != tt.invalid {
				t.Errorf("IsInvalid(%v) = %v, want %v", err, sdk.IsInvalid(err), tt.invalid)
			}
		})
	}
}
