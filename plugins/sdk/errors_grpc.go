package sdk

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"

	backendv2 "github.com/caddy-scim/caddy-scim/plugins/proto/backend/v2"
)

// ErrUnimplemented is returned, wrapped, by Client.Inspect, Client.Action
// and Client.Purge when the plugin's backend is not an Inspector, an
// Actioner or a Purger. A backend's Inspect, Action or Purge may return it,
// wrapped, to say the same (PerTenant does, for instances that lack the
// method); it crosses the plugin boundary as Unimplemented. Test for it
// with errors.Is.
var ErrUnimplemented = errors.New("not implemented by the backend")

// ErrProtocolMismatch is returned, wrapped, by Launch when the plugin speaks
// another protocol version than this host: it was built against an
// incompatible caddy-scim SDK. Test for it with errors.Is.
var ErrProtocolMismatch = errors.New("backend plugin speaks another protocol version")

// How errors cross the plugin boundary.
//
// On the plugin side, statusError turns a backend's error into a gRPC
// status: an *Error of KindInvalid becomes InvalidArgument, KindUnavailable
// becomes Unavailable, ErrUnimplemented becomes Unimplemented (with no
// ErrorDetail), a context error becomes Canceled or DeadlineExceeded, and
// anything else Unknown. The status carries an
// ErrorDetail with the kind and the full message, and for Apply the
// backend's ApplyResponse when it returned one with the error.
//
// On the host side, clientError turns the status back: an ErrorDetail
// gives an *Error of the same kind and message (no kind becomes
// KindUnavailable, since unknown errors are retried); a cancelled or
// expired context of the caller comes back as that context's error;
// Unimplemented wraps ErrUnimplemented; any other status (the plugin
// process is gone, the connection broke) is an *Error of KindUnavailable.

// statusError returns the gRPC status error for a backend's err, with
// details attached.
func statusError(err error, details ...protoadapt.MessageV1) error {
	code, kind := codes.Unknown, backendv2.ErrorKind_ERROR_KIND_UNSPECIFIED
	var e *Error
	switch {
	case errors.As(err, &e) && e.Kind == KindInvalid:
		code, kind = codes.InvalidArgument, backendv2.ErrorKind_ERROR_KIND_INVALID
	case errors.As(err, &e) && e.Kind == KindUnavailable:
		code, kind = codes.Unavailable, backendv2.ErrorKind_ERROR_KIND_UNAVAILABLE
	case errors.Is(err, ErrUnimplemented):
		return status.Error(codes.Unimplemented, err.Error())
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	}
	msg := err.Error()
	st := status.New(code, msg)
	details = append([]protoadapt.MessageV1{&backendv2.ErrorDetail{Kind: kind, Message: msg}}, details...)
	if withDetails, derr := st.WithDetails(details...); derr == nil {
		st = withDetails
	}
	return st.Err()
}

// clientError returns the host-side error for err, the error of a call of
// method made with ctx.
func clientError(ctx context.Context, method string, err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return &Error{Kind: KindUnavailable, Message: fmt.Sprintf("calling backend %s: %v", method, err)}
	}
	if st.Code() == codes.Canceled || st.Code() == codes.DeadlineExceeded {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return fmt.Errorf("calling backend %s: %w", method, ctxErr)
		}
		// The server enforces the deadline it was sent and may answer a
		// moment before the caller's own timer fires.
		if _, has := ctx.Deadline(); has && st.Code() == codes.DeadlineExceeded {
			return fmt.Errorf("calling backend %s: %w", method, context.DeadlineExceeded)
		}
	}
	for _, d := range st.Details() {
		if detail, ok := d.(*backendv2.ErrorDetail); ok {
			kind := KindUnavailable
			if detail.GetKind() == backendv2.ErrorKind_ERROR_KIND_INVALID {
				kind = KindInvalid
			}
			return &Error{Kind: kind, Message: detail.GetMessage()}
		}
	}
	switch st.Code() {
	case codes.Unimplemented:
		return fmt.Errorf("calling backend %s: %w", method, ErrUnimplemented)
	case codes.InvalidArgument:
		return &Error{Kind: KindInvalid, Message: st.Message()}
	default:
		return &Error{Kind: KindUnavailable, Message: fmt.Sprintf("calling backend %s: %s: %s", method, st.Code(), st.Message())}
	}
}

// appliedThrough returns the ApplyResponse an Apply error carries, or nil.
func appliedThrough(err error) *ApplyResponse {
	st, ok := status.FromError(err)
	if !ok {
		return nil
	}
	for _, d := range st.Details() {
		if r, ok := d.(*backendv2.ApplyResponse); ok {
			return applyResponseFromProto(r)
		}
	}
	return nil
}
