package server

import (
	"net/http"
	"strings"

	"github.com/caddy-scim/caddy-scim/adapter/scimerr"
	"github.com/caddy-scim/caddy-scim/adapter/store"
)

// Resource versioning (RFC 7644 §3.14). Every single-resource response
// carries the resource's meta.version as its ETag. A GET with If-None-Match
// naming the current version is answered 304 Not Modified; a PUT, PATCH or
// DELETE with If-Match is carried out only when the resource is still at
// one of the named versions, and with If-None-Match only when it is at none
// of them, checked inside the store's write so that no concurrent change
// can slip in between the check and the write. Versions compare weakly
// (RFC 9110 §8.8.3.2): W/"3" and "3" name the same version.

// etagSet is a parsed If-Match or If-None-Match field: "*" or a list of
// entity tags.
type etagSet struct {
	any  bool
	tags []string
}

// parseETags parses an If-Match or If-None-Match field value, which may be
// sent as several header lines. Entity tags may be weak (W/"3") or strong
// ("3"); some clients send them unquoted, which is accepted too. It returns
// nil when the field is absent.
func parseETags(values []string) *etagSet {
	if len(values) == 0 {
		return nil
	}
	set := &etagSet{}
	for _, v := range values {
		for s := strings.TrimSpace(v); s != ""; s = strings.TrimLeft(s, ", \t") {
			if s[0] == '*' {
				set.any = true
				s = s[1:]
				continue
			}
			if s = strings.TrimPrefix(s, "W/"); s == "" {
				break
			}
			var tag string
			if s[0] == '"' {
				end := strings.IndexByte(s[1:], '"')
				if end < 0 {
					tag, s = s[1:], ""
				} else {
					tag, s = s[1:1+end], s[2+end:]
				}
			} else {
				end := strings.IndexAny(s, ", \t")
				if end < 0 {
					end = len(s)
				}
				tag, s = s[:end], s[end:]
			}
			set.tags = append(set.tags, tag)
		}
	}
	return set
}

// matches reports whether the set names version, by weak comparison; "*"
// matches any version.
func (e *etagSet) matches(version string) bool {
	if e.any {
		return true
	}
	v := opaqueTag(version)
	for _, t := range e.tags {
		if t == v {
			return true
		}
	}
	return false
}

// opaqueTag strips the weakness indicator and quotes of an entity tag.
func opaqueTag(etag string) string {
	etag = strings.TrimPrefix(strings.TrimSpace(etag), "W/")
	return strings.Trim(etag, `"`)
}

// version returns a stored resource's meta.version, its ETag.
func version(res map[string]any) string {
	meta, _ := res["meta"].(map[string]any)
	v, _ := meta["version"].(string)
	return v
}

// ifMatch returns the precondition of a PUT, PATCH or DELETE with If-Match
// (RFC 7644 §3.14) or If-None-Match (RFC 9110 §13.1.2), or nil when the
// request has neither. It runs inside the store's write, on the current
// resource: If-Match must name its version, If-None-Match must not ("*"
// names any version, so it refuses every write to an existing resource).
func (q *request) ifMatch() store.Precondition {
	match := parseETags(q.r.Header.Values("If-Match"))
	noneMatch := parseETags(q.r.Header.Values("If-None-Match"))
	if match == nil && noneMatch == nil {
		return nil
	}
	return func(current map[string]any) error {
		if match != nil && !match.matches(version(current)) {
			return scimerr.New(http.StatusPreconditionFailed, "",
				"the resource has changed since it was read (If-Match does not name its current version); GET it again and retry with its new ETag")
		}
		if noneMatch != nil && noneMatch.matches(version(current)) {
			return scimerr.New(http.StatusPreconditionFailed, "",
				"If-None-Match names the resource's current version (or is *), so the request was not carried out; leave If-None-Match out to change an existing resource")
		}
		return nil
	}
}

// notModified answers a GET whose If-None-Match names the resource's
// current version with 304 Not Modified, and reports whether it did.
func (q *request) notModified(res map[string]any) bool {
	set := parseETags(q.r.Header.Values("If-None-Match"))
	v := version(res)
	if set == nil || v == "" || !set.matches(v) {
		return false
	}
	q.w.Header().Set("ETag", v)
	q.w.WriteHeader(http.StatusNotModified)
	return true
}

// setETag sets the ETag header to a resource's version.
func (q *request) setETag(res map[string]any) {
	if v := version(res); v != "" {
		q.w.Header().Set("ETag", v)
	}
}
