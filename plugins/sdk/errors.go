package sdk

import (
	"errors"
	"fmt"
)

// ErrorKind classifies a backend error; the host acts on it.
type ErrorKind int

// Error kinds.
const (
	// KindInvalid: the change or setting can never be applied as it is
	// (a required value is missing, a mapping names nothing). The host
	// does not retry it: a change is dead-lettered for the operator, a
	// configuration is refused.
	KindInvalid ErrorKind = iota + 1
	// KindUnavailable: the product cannot be reached now. The host retries
	// with backoff; nothing is lost.
	KindUnavailable
)

// Error is a typed backend error. It crosses the plugin boundary as a
// gRPC status code and comes back as an *Error of the same kind.
type Error struct {
	Kind    ErrorKind
	Message string
}

// Error returns the message.
func (e *Error) Error() string { return e.Message }

// Invalid returns an error that is never retried.
func Invalid(format string, args ...any) error {
	return &Error{Kind: KindInvalid, Message: fmt.Sprintf(format, args...)}
}

// Unavailable returns an error that is retried with backoff.
func Unavailable(format string, args ...any) error {
	return &Error{Kind: KindUnavailable, Message: fmt.Sprintf(format, args...)}
}

// IsInvalid reports whether err is, or wraps, an Invalid error.
func IsInvalid(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Kind == KindInvalid
}

// IsUnavailable reports whether err is, or wraps, an Unavailable error.
// Errors of no kind count as unavailable: retrying is the safe choice.
func IsUnavailable(err error) bool {
	return err != nil && !IsInvalid(err)
}
