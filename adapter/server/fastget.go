package server

import (
	"bytes"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/caddy-scim/caddy-scim/adapter/schema"
	"github.com/caddy-scim/caddy-scim/adapter/store"
)

// The lean read path. A GET of one resource, and a list whose filter is an
// equality the store answers from an index or by id, are answered from
// the JSON the store keeps (store.RawReader) when the request has no
// projection (attributes, excludedAttributes): the response is that JSON
// with what is not stored spliced in (meta.location, a group's members, a
// user's groups) and, for a list, the ListResponse around it, written by
// hand. Nothing is decoded into generic maps and encoded again. The
// response is the one render would give, members in another order at
// most. Everything else, and any record the splice could not reproduce
// exactly (see parseLean), takes the generic path.

// errNotLean stops the scan of a record the lean path leaves to the
// generic one.
var errNotLean = errors.New("record not served from its JSON")

// leanDoc is a stored resource's JSON and where a response splices into it.
type leanDoc struct {
	b       []byte
	id      string
	version string
	// metaClose is the offset of meta's closing brace, -1 without meta;
	// metaEmpty reports that meta has no members.
	metaClose int
	metaEmpty bool
	// objClose is the offset of the resource's closing brace.
	objClose int
}

// parseLean reads what a response needs from a stored record. It reports
// false for a record whose response the splice would not reproduce
// exactly, which render then writes: id not a string, meta or its version
// of an unexpected type, id or meta twice, a stored meta.location, members
// or groups (the response derives them from membership), or anything after
// the object.
func parseLean(b []byte) (leanDoc, bool) {
	d := leanDoc{b: b, metaClose: -1}
	end, err := store.ObjectMembers(b, func(name []byte, start, end int) error {
		switch string(name) {
		case "id":
			id, ok := store.UnquoteString(b[start:end])
			if !ok || d.id != "" {
				return errNotLean
			}
			d.id = id
		case "meta":
			if b[start] != '{' || d.metaClose >= 0 {
				return errNotLean
			}
			d.metaClose, d.metaEmpty = end-1, true
			_, err := store.ObjectMembers(b[start:end], func(name []byte, ms, me int) error {
				d.metaEmpty = false
				switch string(name) {
				case "version":
					v, ok := store.UnquoteString(b[start+ms : start+me])
					if !ok {
						return errNotLean
					}
					d.version = v
				case "location":
					return errNotLean
				}
				return nil
			})
			return err
		case "members", "groups":
			return errNotLean
		}
		return nil
	})
	if err != nil || d.id == "" || len(bytes.TrimLeft(b[end:], " \t\r\n")) > 0 {
		return leanDoc{}, false
	}
	d.objClose = end - 1
	return d, true
}

// leanReader returns the store as a RawReader when the request can take
// the lean path: the store hands out JSON and p selects everything.
func (q *request) leanReader(p *projection) (store.RawReader, bool) {
	if !p.empty() {
		return nil, false
	}
	rr, ok := q.cfg.Store.(store.RawReader)
	return rr, ok
}

// leanGet answers a GET of one resource from its JSON, as get would, and
// reports whether it did; on false nothing has been written.
func (q *request) leanGet(rr store.RawReader, rt *schema.ResourceType, id string) bool {
	b, err := rr.GetRaw(q.ctx, q.tenant, rt, id)
	if err != nil {
		q.fail(err)
		return true
	}
	d, ok := parseLean(b)
	if !ok {
		return false
	}
	if set := parseETags(q.r.Header.Values("If-None-Match")); set != nil && d.version != "" && set.matches(d.version) {
		q.w.Header().Set("ETag", d.version)
		q.w.WriteHeader(http.StatusNotModified)
		return true
	}
	buf := getBuffer()
	defer putBuffer(buf)
	out, err := q.appendLean((*buf)[:0], rr, rt, d, nil)
	if err != nil {
		q.fail(err)
		return true
	}
	*buf = out
	if d.version != "" {
		q.w.Header().Set("ETag", d.version)
	}
	q.writeJSON(http.StatusOK, out)
	return true
}

// leanList answers the list of one resource type from the resources'
// JSON, as listWith would, and reports whether it did; on false nothing
// has been written.
func (q *request) leanList(rr store.RawReader, tq typeQuery, start, count int) bool {
	sq := tq.sq
	sq.StartIndex, sq.Count = start, count
	page, ok, err := rr.ListRaw(q.ctx, q.tenant, tq.rt, sq)
	if err != nil {
		q.fail(err)
		return true
	}
	if !ok {
		return false
	}
	docs := make([]leanDoc, len(page.Resources))
	for i, b := range page.Resources {
		if docs[i], ok = parseLean(b); !ok {
			return false
		}
	}
	var pageGroups map[string][]store.GroupRef
	if gl, ok := q.cfg.Store.(store.GroupLister); ok && tq.rt == schema.User && len(docs) > 1 {
		ids := make([]string, len(docs))
		for i, d := range docs {
			ids[i] = d.id
		}
		if pageGroups, err = gl.GroupsOf(q.ctx, q.tenant, ids); err != nil {
			q.fail(err)
			return true
		}
	}
	buf := getBuffer()
	defer putBuffer(buf)
	out := append((*buf)[:0], `{"schemas":[`...)
	out = appendString(out, schema.ListResponseURN)
	out = append(out, `],"totalResults":`...)
	out = strconv.AppendInt(out, int64(page.Total), 10)
	out = append(out, `,"itemsPerPage":`...)
	out = strconv.AppendInt(out, int64(len(docs)), 10)
	out = append(out, `,"startIndex":`...)
	out = strconv.AppendInt(out, int64(start), 10)
	out = append(out, `,"Resources":[`...)
	for i, d := range docs {
		if i > 0 {
			out = append(out, ',')
		}
		if out, err = q.appendLean(out, rr, tq.rt, d, pageGroups); err != nil {
			q.fail(err)
			return true
		}
	}
	out = append(out, "]}"...)
	*buf = out
	q.writeJSON(http.StatusOK, out)
	return true
}

// appendLean appends the response form of a stored resource: its JSON
// with meta.location and the group's members or the user's groups added,
// as render adds them. pageGroups are the groups of a page's users read
// beforehand (nil: read them now).
func (q *request) appendLean(out []byte, rr store.RawReader, rt *schema.ResourceType, d leanDoc, pageGroups map[string][]store.GroupRef) ([]byte, error) {
	b := d.b
	if d.metaClose < 0 {
		out = append(out, b[:d.objClose]...)
	} else {
		out = append(out, b[:d.metaClose]...)
		if !d.metaEmpty {
			out = append(out, ',')
		}
		out = append(out, `"location":`...)
		out = q.appendLocation(out, rt, d.id)
		out = append(out, b[d.metaClose:d.objClose]...)
	}
	switch rt {
	case schema.Group:
		members, err := q.cfg.Store.Members(q.ctx, q.tenant, d.id)
		if err != nil {
			return nil, err
		}
		for i, m := range members {
			typ := m.Type
			if typ == "" {
				typ = "User"
			}
			if i == 0 {
				out = append(out, `,"members":[`...)
			} else {
				out = append(out, ',')
			}
			out = append(out, `{"$ref":`...)
			out = q.appendLocation(out, schema.ByEndpoint(typ+"s"), m.Value)
			out = append(out, `,"type":`...)
			out = appendString(out, typ)
			out = append(out, `,"value":`...)
			out = appendString(out, m.Value)
			out = append(out, '}')
		}
		if len(members) > 0 {
			out = append(out, ']')
		}
	case schema.User:
		groups := pageGroups[d.id]
		if pageGroups == nil {
			var err error
			if groups, err = rr.RawGroups(q.ctx, q.tenant, d.id); err != nil {
				return nil, err
			}
		}
		for i, g := range groups {
			if i == 0 {
				out = append(out, `,"groups":[`...)
			} else {
				out = append(out, ',')
			}
			out = append(out, `{"$ref":`...)
			out = q.appendLocation(out, schema.Group, g.ID)
			out = append(out, `,"display":`...)
			out = appendString(out, g.DisplayName)
			out = append(out, `,"type":"direct","value":`...)
			out = appendString(out, g.ID)
			out = append(out, '}')
		}
		if len(groups) > 0 {
			out = append(out, ']')
		}
	}
	return append(out, '}'), nil
}

// appendLocation appends the location of a resource as a JSON string.
func (q *request) appendLocation(out []byte, rt *schema.ResourceType, id string) []byte {
	out = append(out, '"')
	out = appendEscaped(out, q.base)
	out = appendEscaped(out, rt.Endpoint)
	out = append(out, '/')
	out = appendEscaped(out, id)
	return append(out, '"')
}

// appendString appends s as a JSON string, escaped as encoding/json
// escapes it.
func appendString(out []byte, s string) []byte {
	out = append(out, '"')
	out = appendEscaped(out, s)
	return append(out, '"')
}

const hexDigits = "0123456789abcdef"

// appendEscaped appends the inside of the JSON string of s as
// encoding/json writes it: quotes, backslashes and control characters
// escaped, <, > and & escaped for HTML, U+2028 and U+2029 escaped, and
// invalid UTF-8 replaced with U+FFFD.
func appendEscaped(out []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			out = append(out, s[start:i]...)
			switch c {
			case '"', '\\':
				out = append(out, '\\', c)
			case '\b':
				out = append(out, '\\', 'b')
			case '\f':
				out = append(out, '\\', 'f')
			case '\n':
				out = append(out, '\\', 'n')
			case '\r':
				out = append(out, '\\', 'r')
			case '\t':
				out = append(out, '\\', 't')
			default:
				out = append(out, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			out = append(out, s[start:i]...)
			out = append(out, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			out = append(out, s[start:i]...)
			out = append(out, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	return append(out, s[start:]...)
}

// buffers holds response buffers of the lean path: a ResponseWriter does
// not keep what it is given, so a buffer is reused once written.
var buffers = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func getBuffer() *[]byte { return buffers.Get().(*[]byte) }

// putBuffer returns a buffer to the pool, unless it grew large (a group of
// many members), so the pool never pins much memory.
func putBuffer(b *[]byte) {
	if cap(*b) <= 64<<10 {
		buffers.Put(b)
	}
}
