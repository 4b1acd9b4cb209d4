// Package scimerr defines the SCIM error type of RFC 7644 §3.12 and the
// constructors the engine uses for each scimType.
//
// Every failure an identity provider can cause is reported as an *Error, so
// that the HTTP layer can always answer with a status, a scimType and a detail
// that a human can act on. Internal error text (storage, I/O) never becomes a
// Detail; those failures are wrapped and answered as a generic 500 instead.
package scimerr

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"unicode/utf8"
)

// ErrorSchema is the URN of the SCIM error response (RFC 7644 §3.12).
const ErrorSchema = "urn:ietf:params:scim:api:messages:2.0:Error"

// ScimType values from RFC 7644 §3.12, Table 9.
const (
	InvalidFilter = "invalidFilter"
	TooMany       = "tooMany"
	Uniqueness    = "uniqueness"
	Mutability    = "mutability"
	InvalidSyntax = "invalidSyntax"
	InvalidPath   = "invalidPath"
	NoTarget      = "noTarget"
	InvalidValue  = "invalidValue"
	InvalidVers   = "invalidVers"
	Sensitive     = "sensitive"
)

// Error is a SCIM protocol error: an HTTP status, an optional scimType and a
// detail meant for the administrator reading the IdP's provisioning log.
type Error struct {
	// Status is the HTTP status code.
	Status int
	// ScimType is one of the RFC 7644 §3.12 error types, or empty.
	ScimType string
	// Detail is a human-readable explanation of what to change.
	Detail string
}

// Error implements the error interface.
func (e *Error) Error() string {
	if e.ScimType != "" {
		return fmt.Sprintf("scim %d %s: %s", e.Status, e.ScimType, e.Detail)
	}
	return fmt.Sprintf("scim %d: %s", e.Status, e.Detail)
}

// Body is the JSON representation of an error response (RFC 7644 §3.12).
// Status is a string, as the RFC's examples show and as Okta's test checks.
type Body struct {
	Schemas  []string `json:"schemas"`
	Status   string   `json:"status"`
	ScimType string   `json:"scimType,omitempty"`
	Detail   string   `json:"detail,omitempty"`
}

// Body returns the response body for e.
func (e *Error) Body() Body {
	return Body{
		Schemas:  []string{ErrorSchema},
		Status:   strconv.Itoa(e.Status),
		ScimType: e.ScimType,
		Detail:   e.Detail,
	}
}

// New returns an *Error with the given status, scimType and formatted detail.
func New(status int, scimType, format string, args ...any) *Error {
	return &Error{Status: status, ScimType: scimType, Detail: fmt.Sprintf(format, args...)}
}

// BadRequest returns a 400 error with the given scimType.
func BadRequest(scimType, format string, args ...any) *Error {
	return New(http.StatusBadRequest, scimType, format, args...)
}

// NotFound returns a 404 error.
func NotFound(format string, args ...any) *Error {
	return New(http.StatusNotFound, "", format, args...)
}

// Conflict returns a 409 uniqueness error.
func Conflict(format string, args ...any) *Error {
	return New(http.StatusConflict, Uniqueness, format, args...)
}

// As reports whether err is or wraps an *Error and returns it.
func As(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}

// From returns the *Error inside err, or a 500 error with a generic detail
// when err is not a SCIM error. The internal text of err is deliberately not
// copied into the detail.
func From(err error) *Error {
	if e, ok := As(err); ok {
		return e
	}
	return &Error{Status: http.StatusInternalServerError, Detail: "the server could not complete the request; it has been logged"}
}

// Clip shortens client-supplied text that a detail repeats to at most max
// bytes, on a rune boundary, with an ellipsis when something was cut. A
// detail never echoes a whole request back.
func Clip(s string, max int) string {
	if len(s) <= max {
		return s
	}
	n := max
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
