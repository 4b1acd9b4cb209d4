package server

import (
	"net/http"
	"strconv"
	"strings"

	"go.uber.org/zap"

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
		groups, err := q.cfg.Store.Groups(q.ctx, q.tenant, id)
		if err != nil {
			return nil, err
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
	if meta, ok := res["meta"].(map[string]any); ok {
		if v, ok := meta["version"].(string); ok {
			q.w.Header().Set("ETag", v)
		}
	}
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
	res, err := q.cfg.Store.Get(q.ctx, q.tenant, rt, id)
	if err != nil {
		q.fail(err)
		return
	}
	q.respond(http.StatusOK, rt, res, p)
}

// prepare normalizes a POST or PUT body and splits off a group's members.
// hasMembers reports whether the body named members at all, so that a PUT
// without members leaves membership alone while "members": [] clears it.
func (q *request) prepare(rt *schema.ResourceType, body map[string]any) (res map[string]any, members []patch.Member, hasMembers bool, err error) {
	res, err = rt.Normalize(body)
	if err != nil {
		return nil, nil, false, err
	}
	if rt == schema.Group {
		for k := range body {
			if strings.EqualFold(k, "members") {
				hasMembers = true
			}
		}
		arr, _ := res["members"].([]any)
		delete(res, "members")
		for _, el := range arr {
			m, _ := el.(map[string]any)
			v, _ := m["value"].(string)
			if v == "" {
				return nil, nil, false, scimerr.BadRequest(scimerr.InvalidValue, "every member needs a value: the id of a User or Group")
			}
			t, _ := m["type"].(string)
			members = append(members, patch.Member{Value: v, Type: t})
		}
	}
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

func (q *request) logSkipped(rt *schema.ResourceType, id string, skipped []string) {
	if len(skipped) > 0 {
		q.log.Warn("group members that name no resource were skipped",
			zap.String("tenant", q.tenant), zap.String("group_id", id), zap.Int("skipped", len(skipped)))
	}
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
	out, err := q.cfg.Store.Update(q.ctx, q.tenant, rt, id, func(cur map[string]any, _ patch.Members) (map[string]any, *patch.MemberDelta, error) {
		if err := checkImmutable(rt, cur, res); err != nil {
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
	out, err := q.cfg.Store.Update(q.ctx, q.tenant, rt, id, func(cur map[string]any, members patch.Members) (map[string]any, *patch.MemberDelta, error) {
		r, err := patch.Apply(q.ctx, rt, cur, req.Operations, members)
		if err != nil {
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
		if meta, ok := out.Resource["meta"].(map[string]any); ok {
			if v, ok := meta["version"].(string); ok {
				q.w.Header().Set("ETag", v)
			}
		}
		q.w.WriteHeader(http.StatusNoContent)
		return
	}
	q.respond(http.StatusOK, rt, out.Resource, p)
}

func (q *request) delete(rt *schema.ResourceType, id string) {
	if err := q.cfg.Store.Delete(q.ctx, q.tenant, rt, id); err != nil {
		q.fail(err)
		return
	}
	q.w.WriteHeader(http.StatusNoContent)
}

// listParams are the query parameters of a list or search
// (RFC 7644 §3.4.2).
type listParams struct {
	filter     string
	sortBy     string
	sortOrder  string
	startIndex int
	count      int
	hasCount   bool
	attributes []string
	excluded   []string
}

func (q *request) queryParams() (*listParams, error) {
	v := q.r.URL.Query()
	lp := &listParams{
		filter:     v.Get("filter"),
		sortBy:     v.Get("sortBy"),
		sortOrder:  v.Get("sortOrder"),
		attributes: splitList(v.Get("attributes")),
		excluded:   splitList(v.Get("excludedAttributes")),
		startIndex: 1,
	}
	var err error
	if s := v.Get("startIndex"); s != "" {
		if lp.startIndex, err = parseInt("startIndex", s); err != nil {
			return nil, err
		}
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
// Connection expects exactly that.
type listResponse struct {
	Schemas      []string         `json:"schemas"`
	TotalResults int              `json:"totalResults"`
	ItemsPerPage int              `json:"itemsPerPage"`
	StartIndex   int              `json:"startIndex"`
	Resources    []map[string]any `json:"Resources"`
}

// listWith answers a list or search over one or more resource types. Over
// several (a search at the root), results are the first type's, then the
// next's, and paging runs across them.
func (q *request) listWith(rts []*schema.ResourceType, lp *listParams) {
	start := lp.startIndex
	if start < 1 {
		start = 1 // RFC 7644 §3.4.2.4
	}
	count := q.cfg.MaxResults
	if lp.hasCount {
		count = min(max(lp.count, 0), q.cfg.MaxResults)
	}
	resp := listResponse{Schemas: []string{schema.ListResponseURN}, StartIndex: start, Resources: []map[string]any{}}
	skip := start - 1
	for _, rt := range rts {
		sq := store.Query{}
		if lp.filter != "" {
			expr, err := filter.Parse(lp.filter)
			if err != nil {
				q.fail(err)
				return
			}
			if err := filter.Check(expr, rt); err != nil {
				q.fail(err)
				return
			}
			sq.Filter = expr
		}
		if lp.sortBy != "" {
			path, err := filter.ParseAttrPath(lp.sortBy)
			if err != nil {
				q.fail(scimerr.BadRequest(scimerr.InvalidValue, "sortBy %q is not an attribute path", clip(lp.sortBy)))
				return
			}
			sq.SortBy = &path
		}
		switch strings.ToLower(lp.sortOrder) {
		case "", "ascending":
		case "descending":
			sq.Descending = true
		default:
			q.fail(scimerr.BadRequest(scimerr.InvalidValue, `sortOrder must be "ascending" or "descending"`))
			return
		}
		p, err := parseProjection(rt, lp.attributes, lp.excluded)
		if err != nil {
			q.fail(err)
			return
		}
		sq.StartIndex = skip + 1
		sq.Count = count - len(resp.Resources)
		page, err := q.cfg.Store.List(q.ctx, q.tenant, rt, sq)
		if err != nil {
			q.fail(err)
			return
		}
		resp.TotalResults += page.Total
		skip = max(skip-page.Total, 0)
		for _, res := range page.Resources {
			out, err := q.render(rt, res, p)
			if err != nil {
				q.fail(err)
				return
			}
			resp.Resources = append(resp.Resources, out)
		}
	}
	resp.ItemsPerPage = len(resp.Resources)
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
		case "count":
			lp.count, err = intParam(k, v)
			lp.hasCount = true
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
