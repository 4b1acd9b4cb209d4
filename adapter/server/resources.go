package server

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/caddy-scim/caddy-scim/adapter/filter"
	"github.com/caddy-scim/caddy-scim/adapter/patch"
	"github.com/caddy-scim/caddy-scim/adapter/schema"
	"github.com/caddy-scim/caddy-scim/adapter/scimerr"
	"github.com/caddy-scim/caddy-scim/adapter/store"
)

// location is the absolute URL of a resource (RFC 7644 §3.1).
func (q *request) location(rt *schema.ResourceType, id string) string {
	return q.base + rt.Endpoint + "/" + id
}

// render completes a stored resource for a response: meta.location, the
// derived members or groups when the projection returns them, and the
// projection itself.
func (q *request) render(rt *schema.ResourceType, res map[string]any, p *projection) (map[string]any, error) {
	return q.renderWith(rt, res, p, nil)
}

// renderWith is render with the groups of a page's users read beforehand
// (nil: read them now).
func (q *request) renderWith(rt *schema.ResourceType, res map[string]any, p *projection, pageGroups map[string][]store.GroupRef) (map[string]any, error) {
	out := make(map[string]any, len(res)+1)
	for k, v := range res {
		out[k] = v
	}
	id, _ := res["id"].(string)
	if meta, ok := res["meta"].(map[string]any); ok {
		m := make(map[string]any, len(meta)+1)
		for k, v := range meta {
			m[k] = v
		}
		m["location"] = q.location(rt, id)
		out["meta"] = m
	}
	switch {
	case rt == schema.Group && p.wants("members"):
		members, err := q.cfg.Store.Members(q.ctx, q.tenant, id)
		if err != nil {
			return nil, err
		}
		if len(members) > 0 {
			arr := make([]any, len(members))
			for i, m := range members {
				typ := m.Type
				if typ == "" {
					typ = "User"
				}
				arr[i] = map[string]any{"value": m.Value, "type": typ, "$ref": q.location(schema.ByEndpoint(typ+"s"), m.Value)}
			}
			out["members"] = arr
		}
	case rt == schema.User && p.wants("groups"):
		groups := pageGroups[id]
		if pageGroups == nil {
			var err error
			if groups, err = q.cfg.Store.Groups(q.ctx, q.tenant, id); err != nil {
				return nil, err
			}
		}
		if len(groups) > 0 {
			arr := make([]any, len(groups))
			for i, g := range groups {
				arr[i] = map[string]any{"value": g.ID, "display": g.DisplayName, "type": "direct", "$ref": q.location(schema.Group, g.ID)}
			}
			out["groups"] = arr
		}
	}
	return p.apply(out), nil
}

// queryProjection reads the attributes and excludedAttributes parameters.
func (q *request) queryProjection(rt *schema.ResourceType) (*projection, error) {
	if q.r.URL.RawQuery == "" {
		return nil, nil
	}
	v := q.r.URL.Query()
	return parseProjection(rt, splitList(v.Get("attributes")), splitList(v.Get("excludedAttributes")))
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// respond writes one resource with its ETag (RFC 7644 §3.14).
func (q *request) respond(status int, rt *schema.ResourceType, res map[string]any, p *projection) {
	out, err := q.render(rt, res, p)
	if err != nil {
		q.fail(err)
		return
	}
	q.setETag(res)
	if status == http.StatusCreated {
		q.w.Header().Set("Location", q.location(rt, res["id"].(string)))
	}
	q.write(status, out)
}

func (q *request) get(rt *schema.ResourceType, id string) {
	p, err := q.queryProjection(rt)
	if err != nil {
		q.fail(err)
		return
	}
	if rr, ok := q.leanReader(p); ok && q.leanGet(rr, rt, id) {
		return
	}
	res, err := q.cfg.Store.Get(q.ctx, q.tenant, rt, id)
	if err != nil {
		q.fail(err)
		return
	}
	if q.notModified(res) {
		return
	}
	q.respond(http.StatusOK, rt, res, p)
}

// prepare normalizes a POST or PUT body and splits off a group's members.
// hasMembers reports whether the body named members at all, so that a PUT
// without members leaves membership alone while "members": [] clears it.
func (q *request) prepare(rt *schema.ResourceType, body map[string]any) (res map[string]any, members []patch.Member, hasMembers bool, err error) {
	if members, hasMembers, err = bodyMembers(rt, body); err != nil {
		return nil, nil, false, err
	}
	res, err = rt.Normalize(body)
	if err != nil {
		return nil, nil, false, err
	}
	delete(res, "members")
	if err := rt.CheckRequired(res); err != nil {
		return nil, nil, false, err
	}
	if err := q.validate(rt, res); err != nil {
		return nil, nil, false, err
	}
	return res, members, hasMembers, nil
}

func (q *request) validate(rt *schema.ResourceType, res map[string]any) error {
	if q.cfg.Validate == nil {
		return nil
	}
	return q.cfg.Validate(q.ctx, q.tenant, rt, res)
}

// written is a POST or PUT body, read and checked, with the projection of
// the response.
type written struct {
	proj       *projection
	res        map[string]any
	members    []patch.Member
	hasMembers bool
}

// readWritten reads and checks a POST or PUT body.
func (q *request) readWritten(rt *schema.ResourceType) (*written, error) {
	p, err := q.queryProjection(rt)
	if err != nil {
		return nil, err
	}
	body, err := q.readObject()
	if err != nil {
		return nil, err
	}
	res, members, hasMembers, err := q.prepare(rt, body)
	if err != nil {
		return nil, err
	}
	return &written{proj: p, res: res, members: members, hasMembers: hasMembers}, nil
}

func (q *request) create(rt *schema.ResourceType) {
	in, err := q.readWritten(rt)
	if err == nil {
		err = checkIdentifiers(rt, in.res, nil)
	}
	if err != nil {
		q.fail(err)
		return
	}
	out, err := q.cfg.Store.Create(q.ctx, q.tenant, rt, in.res, in.members)
	if err != nil {
		q.fail(err)
		return
	}
	q.logSkipped(rt, out.Resource["id"].(string), out.SkippedMembers)
	q.respond(http.StatusCreated, rt, out.Resource, in.proj)
}

// replace is PUT (RFC 7644 §3.5.1): the body replaces every writable
// attribute. Read-only attributes in the body are ignored, so Okta's
// `"groups": []` never touches memberships (fixture okta-wizard-put).
func (q *request) replace(rt *schema.ResourceType, id string) {
	in, err := q.readWritten(rt)
	if err != nil {
		q.fail(err)
		return
	}
	res := in.res
	precondition := q.ifMatch()
	out, err := q.cfg.Store.Update(q.ctx, q.tenant, rt, id, func(cur map[string]any, _ patch.Members) (map[string]any, *patch.MemberDelta, error) {
		if precondition != nil {
			if err := precondition(cur); err != nil {
				return nil, nil, err
			}
		}
		if err := checkImmutable(rt, cur, res); err != nil {
			return nil, nil, err
		}
		if err := checkIdentifiers(rt, res, cur); err != nil {
			return nil, nil, err
		}
		next := res
		next["meta"] = cur["meta"]
		next["id"] = cur["id"]
		var delta *patch.MemberDelta
		if in.hasMembers {
			delta = &patch.MemberDelta{Clear: true, Add: in.members}
		}
		return next, delta, nil
	})
	if err != nil {
		q.fail(err)
		return
	}
	q.logSkipped(rt, id, out.SkippedMembers)
	q.respond(http.StatusOK, rt, out.Resource, in.proj)
}

// checkImmutable refuses a PUT that changes an immutable attribute that
// already has a value (RFC 7643 §7).
func checkImmutable(rt *schema.ResourceType, cur, next map[string]any) error {
	for _, a := range rt.Schema.Attributes {
		if a.Mutability != schema.Immutable {
			continue
		}
		if old, ok := cur[a.Name]; ok {
			if nv, ok := next[a.Name]; !ok || !equalJSON(old, nv) {
				return scimerr.BadRequest(scimerr.Mutability, "%s is immutable and cannot be changed", a.Name)
			}
		}
	}
	return nil
}

func (q *request) patch(rt *schema.ResourceType, id string) {
	v := q.r.URL.Query()
	wantBody := v.Has("attributes") || v.Has("excludedAttributes")
	p, err := q.queryProjection(rt)
	if err != nil {
		q.fail(err)
		return
	}
	body, err := q.readRaw()
	if err != nil {
		q.fail(err)
		return
	}
	req, err := patch.Decode(body)
	if err != nil {
		q.fail(err)
		return
	}
	precondition := q.ifMatch()
	out, err := q.cfg.Store.Update(q.ctx, q.tenant, rt, id, func(cur map[string]any, members patch.Members) (map[string]any, *patch.MemberDelta, error) {
		if precondition != nil {
			if err := precondition(cur); err != nil {
				return nil, nil, err
			}
		}
		r, err := patch.Apply(q.ctx, rt, cur, req.Operations, members)
		if err != nil {
			return nil, nil, err
		}
		if err := checkIdentifiers(rt, r.Resource, cur); err != nil {
			return nil, nil, err
		}
		if err := q.validate(rt, r.Resource); err != nil {
			return nil, nil, err
		}
		return r.Resource, r.Members, nil
	})
	if err != nil {
		q.fail(err)
		return
	}
	q.logSkipped(rt, id, out.SkippedMembers)
	if !wantBody {
		// RFC 7644 §3.5.2: 204 unless the client asked for attributes.
		// Entra expects 204 for every group PATCH.
		q.setETag(out.Resource)
		q.w.WriteHeader(http.StatusNoContent)
		return
	}
	q.respond(http.StatusOK, rt, out.Resource, p)
}

// delete is DELETE (RFC 7644 §3.6). With If-Match, the version check
// and the delete are one store write (RFC 7644 §3.14); without it, the
// plain Delete is used.
func (q *request) delete(rt *schema.ResourceType, id string) {
	var err error
	if precondition := q.ifMatch(); precondition != nil {
		err = q.cfg.Store.DeleteIf(q.ctx, q.tenant, rt, id, precondition)
	} else {
		err = q.cfg.Store.Delete(q.ctx, q.tenant, rt, id)
	}
	if err != nil {
		q.fail(err)
		return
	}
	q.w.WriteHeader(http.StatusNoContent)
}

// listParams are the query parameters of a list or search
// (RFC 7644 §3.4.2, RFC 9865).
type listParams struct {
	filter        string
	sortBy        string
	sortOrder     string
	startIndex    int
	hasStartIndex bool
	count         int
	hasCount      bool
	cursor        string
	hasCursor     bool
	attributes    []string
	excluded      []string
}

func (q *request) queryParams() (*listParams, error) {
	v := q.r.URL.Query()
	lp := &listParams{
		filter:     v.Get("filter"),
		sortBy:     v.Get("sortBy"),
		sortOrder:  v.Get("sortOrder"),
		cursor:     v.Get("cursor"),
		hasCursor:  v.Has("cursor"),
		attributes: splitList(v.Get("attributes")),
		excluded:   splitList(v.Get("excludedAttributes")),
		startIndex: 1,
	}
	var err error
	if s := v.Get("startIndex"); s != "" {
		if lp.startIndex, err = parseInt("startIndex", s); err != nil {
			return nil, err
		}
		lp.hasStartIndex = true
	}
	if s := v.Get("count"); s != "" {
		if lp.count, err = parseInt("count", s); err != nil {
			return nil, err
		}
		lp.hasCount = true
	}
	return lp, nil
}

func parseInt(name, s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, scimerr.BadRequest(scimerr.InvalidValue, "%s must be an integer; got %q", name, clip(s))
	}
	return n, nil
}

func (q *request) list(rt *schema.ResourceType) {
	lp, err := q.queryParams()
	if err != nil {
		q.fail(err)
		return
	}
	q.listWith([]*schema.ResourceType{rt}, lp)
}

// listResponse is the ListResponse message (RFC 7644 §3.4.2). Resources is
// always present, as an empty array when nothing matches: Entra's Test
// Connection expects exactly that. A cursor page (RFC 9865) has no
// startIndex; it has nextCursor when more results follow and
// previousCursor when results precede it.
type listResponse struct {
	Schemas        []string         `json:"schemas"`
	TotalResults   int              `json:"totalResults"`
	ItemsPerPage   int              `json:"itemsPerPage"`
	StartIndex     int              `json:"startIndex,omitempty"`
	NextCursor     string           `json:"nextCursor,omitempty"`
	PreviousCursor string           `json:"previousCursor,omitempty"`
	Resources      []map[string]any `json:"Resources"`
}

// typeQuery is the store query and projection of one listed type.
type typeQuery struct {
	rt   *schema.ResourceType
	sq   store.Query
	proj *projection
}

// listQueries checks the parameters of a list or search and builds the
// store query of each resource type.
func (q *request) listQueries(rts []*schema.ResourceType, lp *listParams) ([]typeQuery, error) {
	var expr filter.Expr
	if lp.filter != "" {
		var err error
		if expr, err = filter.Parse(lp.filter); err != nil {
			return nil, err
		}
	}
	var sortBy *filter.Path
	if lp.sortBy != "" {
		path, err := filter.ParseAttrPath(lp.sortBy)
		if err != nil {
			return nil, scimerr.BadRequest(scimerr.InvalidValue, "sortBy %q is not an attribute path", clip(lp.sortBy))
		}
		sortBy = &path
	}
	desc := false
	switch strings.ToLower(lp.sortOrder) {
	case "", "ascending":
	case "descending":
		desc = true
	default:
		return nil, scimerr.BadRequest(scimerr.InvalidValue, `sortOrder must be "ascending" or "descending"`)
	}
	out := make([]typeQuery, 0, len(rts))
	for _, rt := range rts {
		if expr != nil {
			if err := filter.Check(expr, rt); err != nil {
				return nil, err
			}
		}
		p, err := parseProjection(rt, lp.attributes, lp.excluded)
		if err != nil {
			return nil, err
		}
		out = append(out, typeQuery{rt: rt, sq: store.Query{Filter: expr, SortBy: sortBy, Descending: desc}, proj: p})
	}
	return out, nil
}

// pageSize is the count of a list or search, capped at MaxResults.
func (q *request) pageSize(lp *listParams) int {
	if lp.hasCount {
		return min(max(lp.count, 0), q.cfg.MaxResults)
	}
	return q.cfg.MaxResults
}

// listWith answers a list or search over one or more resource types. Over
// several (a search at the root), results are the first type's, then the
// next's, and paging runs across them.
func (q *request) listWith(rts []*schema.ResourceType, lp *listParams) {
	tqs, err := q.listQueries(rts, lp)
	if err != nil {
		q.fail(err)
		return
	}
	if lp.hasCursor {
		q.cursorList(tqs, lp)
		return
	}
	start := lp.startIndex
	if start < 1 {
		start = 1 // RFC 7644 §3.4.2.4
	}
	count := q.pageSize(lp)
	if len(tqs) == 1 && tqs[0].sq.SortBy == nil {
		if rr, ok := q.leanReader(tqs[0].proj); ok && q.leanList(rr, tqs[0], start, count) {
			return
		}
	}
	resp := listResponse{Schemas: []string{schema.ListResponseURN}, StartIndex: start, Resources: []map[string]any{}}
	skip := start - 1
	for _, tq := range tqs {
		sq := tq.sq
		sq.StartIndex = skip + 1
		sq.Count = count - len(resp.Resources)
		page, err := q.cfg.Store.List(q.ctx, q.tenant, tq.rt, sq)
		if err != nil {
			q.fail(err)
			return
		}
		resp.TotalResults += page.Total
		skip = max(skip-page.Total, 0)
		if err := q.renderPage(&resp, tq, page.Resources); err != nil {
			q.fail(err)
			return
		}
	}
	resp.ItemsPerPage = len(resp.Resources)
	q.write(http.StatusOK, resp)
}

func (q *request) renderPage(resp *listResponse, tq typeQuery, resources []map[string]any) error {
	// A page of users reads its members' groups at once, when the store
	// can: one read of the membership index, each group's name once.
	var pageGroups map[string][]store.GroupRef
	if gl, ok := q.cfg.Store.(store.GroupLister); ok && tq.rt == schema.User && tq.proj.wants("groups") && len(resources) > 1 {
		ids := make([]string, 0, len(resources))
		for _, res := range resources {
			if id, ok := res["id"].(string); ok {
				ids = append(ids, id)
			}
		}
		var err error
		if pageGroups, err = gl.GroupsOf(q.ctx, q.tenant, ids); err != nil {
			return err
		}
	}
	for _, res := range resources {
		out, err := q.renderWith(tq.rt, res, tq.proj, pageGroups)
		if err != nil {
			return err
		}
		resp.Resources = append(resp.Resources, out)
	}
	return nil
}

// cursorList answers a list or search with cursor pagination (RFC 9865).
// An empty cursor starts at the first result. Results are in id order,
// which is creation order, and a page continues after the last id the
// previous page returned, so inserts and deletes between pages neither
// repeat nor skip a resource. sortBy cannot be combined with a cursor:
// a sorted order has no stable position to continue from.
func (q *request) cursorList(tqs []typeQuery, lp *listParams) {
	if lp.sortBy != "" {
		q.fail(scimerr.BadRequest(scimerr.InvalidValue,
			"sortBy cannot be combined with cursor: cursor pages are in creation order; leave out sortBy, or page with startIndex to sort"))
		return
	}
	if lp.hasStartIndex {
		q.fail(scimerr.BadRequest(scimerr.InvalidValue, "startIndex and cursor cannot be combined; use one pagination method"))
		return
	}
	scope := ""
	if len(tqs) == 1 {
		scope = tqs[0].rt.Endpoint
	}
	canon := ""
	if tqs[0].sq.Filter != nil {
		canon = tqs[0].sq.Filter.String()
	}
	qh := queryHash(scope, canon)
	pos := cursor{}
	if lp.cursor != "" {
		var err error
		if pos, err = q.decodeCursor(lp.cursor, qh, len(tqs)); err != nil {
			q.fail(err)
			return
		}
	}
	remaining := q.pageSize(lp)
	pages := make([]*store.Page, len(tqs))
	for n := range tqs {
		// Forward, types are read in order; backward, in reverse, so the
		// page fills from its end.
		i := n
		if pos.backward {
			i = len(tqs) - 1 - n
		}
		sq := tqs[i].sq
		sq.Seek = &store.Seek{Backward: pos.backward}
		sq.Count = remaining
		switch {
		case i == pos.typ:
			sq.Seek.Key = pos.id
		case (i < pos.typ) != pos.backward:
			// A type the page does not reach: only its total is needed.
			sq.Count = 0
		}
		page, err := q.cfg.Store.List(q.ctx, q.tenant, tqs[i].rt, sq)
		if err != nil {
			q.fail(err)
			return
		}
		pages[i] = page
		remaining -= len(page.Resources)
	}
	resp := listResponse{Schemas: []string{schema.ListResponseURN}, Resources: []map[string]any{}}
	first, last := -1, -1
	for i, page := range pages {
		resp.TotalResults += page.Total
		if len(page.Resources) == 0 {
			continue
		}
		if first < 0 {
			first = i
		}
		last = i
		if err := q.renderPage(&resp, tqs[i], page.Resources); err != nil {
			q.fail(err)
			return
		}
	}
	resp.ItemsPerPage = len(resp.Resources)
	if first >= 0 {
		earlier, later := pages[first].Earlier, pages[last].Later
		for i, page := range pages {
			earlier = earlier || (i < first && page.Total > 0)
			later = later || (i > last && page.Total > 0)
		}
		if later {
			rs := pages[last].Resources
			id, _ := rs[len(rs)-1]["id"].(string)
			resp.NextCursor = q.encodeCursor(cursor{typ: last, id: id}, qh)
		}
		if earlier {
			id, _ := pages[first].Resources[0]["id"].(string)
			resp.PreviousCursor = q.encodeCursor(cursor{typ: first, id: id, backward: true}, qh)
		}
	}
	q.write(http.StatusOK, resp)
}

// search is POST /.search (RFC 7644 §3.4.3), at the root (rt nil: Users
// and Groups) or under a resource endpoint.
func (q *request) search(rt *schema.ResourceType) {
	body, err := q.readObject()
	if err != nil {
		q.fail(err)
		return
	}
	lp, err := searchParams(body)
	if err != nil {
		q.fail(err)
		return
	}
	rts := []*schema.ResourceType{rt}
	if rt == nil {
		rts = schema.ResourceTypes()
	}
	q.listWith(rts, lp)
}

func searchParams(body map[string]any) (*listParams, error) {
	lp := &listParams{startIndex: 1}
	for k, v := range body {
		var err error
		switch strings.ToLower(k) {
		case "schemas":
		case "filter":
			lp.filter, err = stringParam(k, v)
		case "sortby":
			lp.sortBy, err = stringParam(k, v)
		case "sortorder":
			lp.sortOrder, err = stringParam(k, v)
		case "startindex":
			lp.startIndex, err = intParam(k, v)
			lp.hasStartIndex = true
		case "count":
			lp.count, err = intParam(k, v)
			lp.hasCount = true
		case "cursor":
			// RFC 9865: an empty cursor starts cursor pagination.
			lp.cursor, err = stringParam(k, v)
			lp.hasCursor = true
		case "attributes":
			lp.attributes, err = listParam(k, v)
		case "excludedattributes":
			lp.excluded, err = listParam(k, v)
		default:
			err = scimerr.BadRequest(scimerr.InvalidSyntax, "unknown search request attribute %q", clip(k))
		}
		if err != nil {
			return nil, err
		}
	}
	return lp, nil
}

func stringParam(name string, v any) (string, error) {
	s, ok := v.(string)
	if !ok && v != nil {
		return "", scimerr.BadRequest(scimerr.InvalidValue, "%s must be a string", name)
	}
	return s, nil
}

func intParam(name string, v any) (int, error) {
	switch x := v.(type) {
	case nil:
		return 0, nil
	case string:
		return parseInt(name, x)
	default:
		s, _ := stringify(x)
		return parseInt(name, s)
	}
}

func listParam(name string, v any) ([]string, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case string:
		return splitList(x), nil
	case []any:
		out := make([]string, 0, len(x))
		for _, el := range x {
			s, ok := el.(string)
			if !ok {
				return nil, scimerr.BadRequest(scimerr.InvalidValue, "%s must be an array of attribute names", name)
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, scimerr.BadRequest(scimerr.InvalidValue, "%s must be an array of attribute names", name)
}
