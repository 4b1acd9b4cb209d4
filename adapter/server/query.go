package server

import (
	"net/url"
	"unicode/utf8"

	"github.com/caddy-scim/caddy-scim/adapter/scimerr"
	"github.com/caddy-scim/caddy-scim/adapter/scimjson"
)

// queryParamTypes are the query parameters of SCIM requests (RFC 7644 §3.4.2,
// §3.9, RFC 9865), with the scimType a malformed value of each is refused
// with.
var queryParamTypes = []struct {
	name     string
	scimType string
}{
	{"filter", scimerr.InvalidFilter},
	{"attributes", scimerr.InvalidValue},
	{"excludedAttributes", scimerr.InvalidValue},
	{"sortBy", scimerr.InvalidValue},
	{"sortOrder", scimerr.InvalidValue},
	{"startIndex", scimerr.InvalidValue},
	{"count", scimerr.InvalidValue},
	{"cursor", scimerr.InvalidValue},
}

// checkQuery refuses SCIM query parameters that are given more than once,
// since only one of the values could be used, and those that, after
// percent-decoding, hold invalid UTF-8 or a control character, as request
// bodies are refused (package scimjson): 400 invalidFilter for filter,
// invalidValue for the others. The detail names the parameter and the
// byte, never the value.
func checkQuery(v url.Values) error {
	for _, p := range queryParamTypes {
		if n := len(v[p.name]); n > 1 {
			return scimerr.BadRequest(p.scimType, "the %s query parameter is given %d times; give it once", p.name, n)
		}
		for _, s := range v[p.name] {
			if !utf8.ValidString(s) {
				at := 0
				for at < len(s) {
					r, size := utf8.DecodeRuneInString(s[at:])
					if r == utf8.RuneError && size <= 1 {
						break
					}
					at += size
				}
				return scimerr.BadRequest(p.scimType,
					"the %s query parameter is not valid UTF-8 at byte %d of its decoded value; percent-encode text as UTF-8", p.name, at)
			}
			if at, r, found := scimjson.Control(s); found {
				return scimerr.BadRequest(p.scimType,
					"the %s query parameter holds the control character %s at byte %d of its decoded value; control characters are not accepted",
					p.name, scimjson.CodePoint(r), at)
			}
		}
	}
	return nil
}
