package sdk

import "fmt"

// ApplyEach is a helper for Backend.Apply: it calls fn for each change of
// req in order and stops at the first error. It returns AppliedThrough as
// the Seq of the last change fn accepted, 0 when it accepted none, and
// the error, wrapped with the change it was about, so its kind is kept:
//
//	func (b *backend) Apply(ctx context.Context, req *sdk.ApplyRequest) (*sdk.ApplyResponse, error) {
//		return sdk.ApplyEach(req, func(c sdk.Change) error {
//			if c.Seq <= b.store.LastSeq() {
//				return nil // applied before: skip
//			}
//			return b.store.Apply(ctx, c) // saves c.Seq with the change
//		})
//	}
//
// The response is never nil, so the host learns how far the batch got.
func ApplyEach(req *ApplyRequest, fn func(Change) error) (*ApplyResponse, error) {
	resp := &ApplyResponse{}
	if req == nil {
		return resp, nil
	}
	for _, c := range req.Changes {
		if err := fn(c); err != nil {
			return resp, fmt.Errorf("applying change %d (%s): %w", c.Seq, c.Kind, err)
		}
		resp.AppliedThrough = c.Seq
	}
	return resp, nil
}
