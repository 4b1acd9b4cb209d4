package sdk

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestStatusError(t *testing.T) {
	tests := []struct {
		name string
		err  error
		code codes.Code
	}{
		{"invalid", Invalid("user %s has no email", "bjensen"), codes.InvalidArgument},
		{"wrapped invalid", fmt.Errorf("applying change 3: %w", Invalid("no email")), codes.InvalidArgument},
		{"unavailable", Unavailable("product API answered 503"), codes.Unavailable},
		{"no kind", errors.New("disk full"), codes.Unknown},
		{"unknown kind", &Error{Kind: ErrorKind(99), Message: "odd"}, codes.Unknown},
		{"canceled", fmt.Errorf("writing: %w", context.Canceled), codes.Canceled},
		{"deadline", context.DeadlineExceeded, codes.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := status.Convert(statusError(tt.err))
			if st.Code() != tt.code {
				t.Errorf("code = %v, want %v", st.Code(), tt.code)
			}
			if st.Message() != tt.err.Error() {
				t.Errorf("message = %q, want %q", st.Message(), tt.err.Error())
			}
		})
	}
}

func TestClientError(t *testing.T) {
	live := context.Background()
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		// check inspects the translated error.
		check func(t *testing.T, err error)
	}{
		{"invalid keeps kind and message", live, statusError(fmt.Errorf("applying: %w", Invalid("no email"))), wantError(KindInvalid, "applying: no email")},
		{"unavailable keeps kind and message", live, statusError(Unavailable("503")), wantError(KindUnavailable, "503")},
		{"no kind is unavailable", live, statusError(errors.New("disk full")), wantError(KindUnavailable, "disk full")},
		{"backend's own context error is unavailable", live, statusError(context.Canceled), wantError(KindUnavailable, "context canceled")},
		{"caller's canceled context", canceled, status.Error(codes.Canceled, "context canceled"), wantIs(context.Canceled)},
		{"unimplemented", live, status.Error(codes.Unimplemented, "unknown method"), wantIs(ErrUnimplemented)},
		{"invalid argument without detail", live, status.Error(codes.InvalidArgument, "bad"), wantError(KindInvalid, "bad")},
		{"transport failure", live, status.Error(codes.Unavailable, "connection refused"), wantError(KindUnavailable, "calling backend Apply: Unavailable: connection refused")},
		{"closed connection", live, status.Error(codes.Canceled, "grpc: the client connection is closing"), wantError(KindUnavailable, "calling backend Apply: Canceled: grpc: the client connection is closing")},
		{"not a status", live, errors.New("odd"), wantError(KindUnavailable, "calling backend Apply: odd")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, clientError(tt.ctx, "Apply", tt.err))
		})
	}
}

func wantError(kind ErrorKind, msg string) func(t *testing.T, err error) {
	return func(t *testing.T, err error) {
		t.Helper()
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("got %T %v, want an *Error", err, err)
		}
		if e.Kind != kind || e.Message != msg {
			t.Errorf("got kind %d %q, want kind %d %q", e.Kind, e.Message, kind, msg)
		}
	}
}

func wantIs(target error) func(t *testing.T, err error) {
	return func(t *testing.T, err error) {
		t.Helper()
		if !errors.Is(err, target) {
			t.Errorf("got %v, want an error that is %v", err, target)
		}
	}
}

func TestAppliedThroughInDetails(t *testing.T) {
	err := statusError(Invalid("no email"), applyResponseToProto(&ApplyResponse{AppliedThrough: 7}))
	if got := appliedThrough(err); got == nil || got.AppliedThrough != 7 {
		t.Errorf("appliedThrough = %+v, want 7", got)
	}
	if got := appliedThrough(statusError(Invalid("no email"))); got != nil {
		t.Errorf("appliedThrough without a response = %+v, want nil", got)
	}
	if got := appliedThrough(errors.New("odd")); got != nil {
		t.Errorf("appliedThrough of a plain error = %+v, want nil", got)
	}
}
