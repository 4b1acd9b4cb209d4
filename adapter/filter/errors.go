package filter

import (
	"fmt"

	"github.com/caddy-scim/caddy-scim/adapter/scimerr"
)

// ErrorKind says which grammar a SyntaxError was found in.
type ErrorKind int

const (
	// FilterSyntax marks an error in a filter expression (RFC 7644
	// §3.4.2.2); it maps to scimType invalidFilter.
	FilterSyntax ErrorKind = iota
	// PathSyntax marks an error in a PATCH path or an attribute path
	// parameter (RFC 7644 §3.5.2, §3.4.2.5); it maps to scimType
	// invalidPath.
	PathSyntax
)

// SyntaxError is a malformed filter or path. Pos is the byte offset into the
// input where the problem was found.
//
// A *SyntaxError converts into the SCIM error the client must receive
// (RFC 7644 §3.12): errors.As(err, &e) with e of type *scimerr.Error yields a
// 400 with scimType invalidFilter or invalidPath and a detail that includes
// the position.
type SyntaxError struct {
	Kind ErrorKind
	Pos  int
	Msg  string
}

// Error implements the error interface.
func (e *SyntaxError) Error() string {
	what := "filter"
	if e.Kind == PathSyntax {
		what = "path"
	}
	return fmt.Sprintf("invalid %s at position %d: %s", what, e.Pos, e.Msg)
}

// As converts e into a *scimerr.Error when target is a **scimerr.Error, so
// that errors.As and scimerr.As find the SCIM error of a syntax error.
func (e *SyntaxError) As(target any) bool {
	t, ok := target.(**scimerr.Error)
	if !ok {
		return false
	}
	scimType := scimerr.InvalidFilter
	if e.Kind == PathSyntax {
		scimType = scimerr.InvalidPath
	}
	*t = scimerr.BadRequest(scimType, "%s", e.Error())
	return true
}

// maxEcho is how many bytes of the input one quoted fragment of an error
// message may repeat. A message quotes at most two fragments, so a detail
// never echoes more than about 60 bytes of what the client sent.
const maxEcho = 28

// clip shortens input repeated in an error message to maxEcho bytes.
func clip(s string) string { return scimerr.Clip(s, maxEcho) }

// quote returns s clipped and quoted for an error message.
func quote(s string) string {
	return fmt.Sprintf("%q", clip(s))
}
