package server

import (
	"net/http"
	"strings"
	"time"

	"github.com/caddy-scim/caddy-scim/adapter/schema"
	"github.com/caddy-scim/caddy-scim/adapter/scimerr"
)

// The discovery endpoints (RFC 7644 §4) serve documents generated from the
// attribute definitions in package schema.

// filtered refuses a filter on a discovery endpoint: RFC 7644 §4 says a
// filter there is answered with 403 Forbidden. It reports whether it
// answered.
func (q *request) filtered() bool {
	if !q.r.URL.Query().Has("filter") {
		return false
	}
	q.fail(scimerr.New(http.StatusForbidden, "",
		"filtering is not supported on the discovery endpoints /ServiceProviderConfig, /Schemas and /ResourceTypes (RFC 7644 §4); leave out the filter parameter"))
	return true
}

func (q *request) serviceProviderConfig() {
	if q.filtered() {
		return
	}
	q.write(http.StatusOK, schema.NewServiceProviderConfig(schema.Capabilities{
		MaxResults:       q.cfg.MaxResults,
		DocumentationURI: q.cfg.DocumentationURI,
		ETag:             true,
		Pagination:       q.pagination(),
		Bulk:             &schema.BulkConfig{MaxOperations: q.maxBulkOperations(), MaxPayloadSize: int(q.maxBulkPayloadSize())},
	}, q.base))
}

// pagination states both pagination methods (RFC 9865), from the same
// settings that page lists and searches: index pagination stays the
// default, and a client asks for cursors with the cursor parameter.
func (q *request) pagination() *schema.PaginationConfig {
	return &schema.PaginationConfig{
		Cursor:                  true,
		Index:                   true,
		DefaultPaginationMethod: "index",
		DefaultPageSize:         q.cfg.MaxResults,
		MaxPageSize:             q.cfg.MaxResults,
		CursorTimeout:           int(q.cfg.CursorTTL / time.Second),
	}
}

func (q *request) resourceTypes(id string) {
	if q.filtered() {
		return
	}
	var docs []any
	for _, rt := range schema.ResourceTypes() {
		if id == "" || strings.EqualFold(rt.ID, id) {
			docs = append(docs, rt.Document(q.base))
		}
	}
	q.discovery(id, "resource type", docs)
}

func (q *request) schemas(id string) {
	if q.filtered() {
		return
	}
	var docs []any
	for _, s := range schema.Schemas() {
		if id == "" || strings.EqualFold(s.ID, id) {
			docs = append(docs, s.Document(q.base))
		}
	}
	q.discovery(id, "schema", docs)
}

// discovery answers a discovery collection as a ListResponse, or one of its
// documents by id.
func (q *request) discovery(id, what string, docs []any) {
	if id != "" {
		if len(docs) == 0 {
			q.fail(scimerr.NotFound("no %s %q", what, clip(id)))
			return
		}
		q.write(http.StatusOK, docs[0])
		return
	}
	q.write(http.StatusOK, map[string]any{
		"schemas":      []string{schema.ListResponseURN},
		"totalResults": len(docs),
		"itemsPerPage": len(docs),
		"startIndex":   1,
		"Resources":    docs,
	})
}
