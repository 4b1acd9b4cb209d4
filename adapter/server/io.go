package server

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"

	"go.uber.org/zap"

	"github.com/caddy-scim/caddy-scim/adapter/scimerr"
	"github.com/caddy-scim/caddy-scim/adapter/scimjson"
)

// write sends v as a SCIM JSON response.
func (q *request) write(status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		q.log.Error("encoding SCIM response", zap.Error(err), zap.String("tenant", q.tenant))
		q.fail(scimerr.From(err))
		return
	}
	q.writeJSON(status, b)
}

// writeJSON sends b, the JSON of a SCIM message, as the response.
func (q *request) writeJSON(status int, b []byte) {
	q.w.Header().Set("Content-Type", MediaType)
	q.w.WriteHeader(status)
	_, _ = q.w.Write(b)
}

// fail sends err as a SCIM error response (RFC 7644 §3.12). Errors that are
// not SCIM errors are logged here, once, and answered with a generic 500.
func (q *request) fail(err error) {
	e, ok := scimerr.As(err)
	if !ok {
		switch {
		case errors.Is(err, errBodyTooLarge):
			e = scimerr.New(http.StatusRequestEntityTooLarge, "", "request body exceeds %d bytes", q.cfg.MaxBodyBytes)
		case q.ctx.Err() != nil && errors.Is(err, q.ctx.Err()):
			e = scimerr.New(http.StatusServiceUnavailable, "", "the request was cancelled before it completed; retry it")
		default:
			if err != nil {
				q.log.Error("serving SCIM request", zap.Error(err), zap.String("tenant", q.tenant),
					zap.String("method", q.r.Method))
			}
			e = scimerr.From(err)
		}
	}
	b, _ := json.Marshal(e.Body())
	h := q.w.Header()
	h.Set("Content-Type", MediaType)
	h.Del("ETag")
	h.Del("Location")
	q.w.WriteHeader(e.Status)
	_, _ = q.w.Write(b)
}

var errBodyTooLarge = errors.New("request body too large")

// readObject reads a JSON object request body. Numbers are kept as
// json.Number so integers survive untouched.
func (q *request) readObject() (map[string]any, error) {
	body, err := q.readRaw()
	if err != nil {
		return nil, err
	}
	return decodeObject(body)
}

// readRaw reads the request body, refusing media types other than JSON
// and bodies over the configured limit.
func (q *request) readRaw() ([]byte, error) {
	if err := checkMediaType(q.r.Header.Get("Content-Type")); err != nil {
		return nil, err
	}
	body, err := io.ReadAll(http.MaxBytesReader(q.w, q.r.Body, q.cfg.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errBodyTooLarge
		}
		return nil, scimerr.BadRequest(scimerr.InvalidSyntax, "could not read the request body")
	}
	return body, nil
}

// checkMediaType refuses a request body whose Content-Type is not JSON, or
// names a charset other than UTF-8, the only encoding of JSON exchanged
// between systems (RFC 8259 §8.1). A request without Content-Type is read
// as JSON.
func checkMediaType(ct string) error {
	if ct == "" {
		return nil
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || !(mt == "application/json" || mt == MediaType || strings.HasSuffix(mt, "+json")) {
		return scimerr.New(http.StatusUnsupportedMediaType, "",
			"Content-Type %q is not supported; send %s or application/json", clip(ct), MediaType)
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
		return scimerr.New(http.StatusUnsupportedMediaType, "",
			"charset %q is not supported; send JSON in UTF-8 (RFC 8259 §8.1)", clip(cs))
	}
	return nil
}

// decodeObject decodes a JSON object request body under the limits every
// SCIM body is held to (package scimjson): exactly one value, valid UTF-8,
// bounded depth and string sizes, no control characters.
func decodeObject(body []byte) (map[string]any, error) {
	return scimjson.DecodeObject(body)
}

func equalJSON(a, b any) bool { return reflect.DeepEqual(a, b) }

// stringify renders a JSON value as text, numbers as written.
func stringify(v any) (string, bool) {
	if n, ok := v.(json.Number); ok {
		return n.String(), true
	}
	b, err := json.Marshal(v)
	return string(b), err == nil
}
