package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/caddy-scim/caddy-scim/adapter/schema"
	"github.com/caddy-scim/caddy-scim/adapter/scimerr"
	"github.com/caddy-scim/caddy-scim/adapter/scimjson"
)

// The /Bulk endpoint (RFC 7644 §3.7) runs a list of POST, PUT, PATCH and
// DELETE operations on /Users and /Groups in one request. Each operation is
// served by the same handler as the single request it stands for, so it is
// normalized, validated, checked for uniqueness, committed in its own store
// transaction and journaled exactly like one. Bulk is not atomic: an
// operation that fails leaves the ones before it committed.

// Message URNs of the bulk endpoint (RFC 7644 §3.7).
const (
	BulkRequestURN  = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
	BulkResponseURN = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
)

// Defaults for the bulk limits of Config (RFC 7644 §3.7.4).
const (
	DefaultMaxBulkOperations  = 1000
	DefaultMaxBulkPayloadSize = 1 << 20
)

// bulkIDPrefix marks a value that refers to the resource created by the POST
// operation with that bulkId (RFC 7644 §3.7.2).
const bulkIDPrefix = "bulkId:"

// maxBulkOperations is Config.BulkMaxOperations or its default.
func (s *Server) maxBulkOperations() int {
	if s.cfg.BulkMaxOperations > 0 {
		return s.cfg.BulkMaxOperations
	}
	return DefaultMaxBulkOperations
}

// maxBulkPayloadSize is Config.BulkMaxPayloadSize or its default.
func (s *Server) maxBulkPayloadSize() int64 {
	if s.cfg.BulkMaxPayloadSize > 0 {
		return s.cfg.BulkMaxPayloadSize
	}
	return DefaultMaxBulkPayloadSize
}

// bulkOp is one operation of a bulk request, parsed. When err is set the
// operation fails with it, without running.
type bulkOp struct {
	index   int
	method  string
	bulkID  string
	version string
	rt      *schema.ResourceType
	// id is the resource id from the path; it may be a bulkId reference.
	id   string
	data any
	// refs are the bulkIds the path and data refer to, each once, in order
	// of appearance.
	refs []string
	err  error
}

// bulkResult is one entry of the BulkResponse's Operations (RFC 7644
// §3.7.3). Status is a string, as in the error response.
type bulkResult struct {
	Method   string          `json:"method"`
	BulkID   string          `json:"bulkId,omitempty"`
	Version  string          `json:"version,omitempty"`
	Location string          `json:"location,omitempty"`
	Status   string          `json:"status"`
	Response json.RawMessage `json:"response,omitempty"`
	code     int
}

type bulkResponse struct {
	Schemas    []string      `json:"schemas"`
	Operations []*bulkResult `json:"Operations"`
}

// bulk is POST /Bulk (RFC 7644 §3.7).
//
// Operations run in the order of the request, except that a POST whose
// bulkId another operation refers to runs before that operation, wherever it
// stands in the request; the response lists the operations that ran in the
// order of the request. Operations that refer to each other in a circle fail
// with 409: the service provider does not break the circle (RFC 7644 §3.7.1
// allows stopping with 409). An operation that refers to a bulkId whose POST
// failed, or that no POST of the request has, fails with 400 invalidValue.
// With failOnErrors, processing stops once that many operations have failed,
// and the rest are neither run nor listed.
func (q *request) bulk() {
	body, err := q.readBulkBody()
	if err != nil {
		q.fail(err)
		return
	}
	// The whole message is held to the limits of a single request, its
	// operations' data included: a malformed value anywhere fails the
	// request before any operation runs. Data nests 3 levels below the
	// top (message, Operations, operation), so it may nest as deeply as a
	// single request's body.
	msg, err := bulkLimits.DecodeObject(body)
	if err != nil {
		q.fail(err)
		return
	}
	failOnErrors, rawOps, err := bulkParams(msg)
	if err != nil {
		q.fail(err)
		return
	}
	if limit := q.maxBulkOperations(); len(rawOps) > limit {
		q.fail(scimerr.New(http.StatusRequestEntityTooLarge, "",
			"the bulk request has %d operations; maxOperations is %d (RFC 7644 §3.7.4)", len(rawOps), limit))
		return
	}
	ops := make([]*bulkOp, len(rawOps))
	for i, raw := range rawOps {
		ops[i] = parseBulkOp(i, raw)
	}
	owner := bulkOwners(ops)
	order := bulkOrder(ops, owner)

	results := make([]*bulkResult, len(ops))
	created := make(map[int]string)
	failed := 0
	for _, i := range order {
		if failOnErrors > 0 && failed >= failOnErrors {
			break
		}
		if err := q.ctx.Err(); err != nil {
			q.fail(err)
			return
		}
		res := q.runBulkOp(ops[i], owner, created)
		results[i] = res
		if res.code >= 400 {
			failed++
		}
	}
	resp := bulkResponse{Schemas: []string{BulkResponseURN}, Operations: []*bulkResult{}}
	for _, r := range results {
		if r != nil {
			resp.Operations = append(resp.Operations, r)
		}
	}
	q.write(http.StatusOK, resp)
}

// bulkLimits are the limits of a BulkRequest body (package scimjson).
var bulkLimits = scimjson.Limits{MaxDepth: scimjson.MaxDepth, MaxString: scimjson.MaxString, Envelope: 3}

// readBulkBody reads the request body under the bulk payload limit rather
// than MaxBodyBytes (RFC 7644 §3.7.4), refusing media types other than JSON.
func (q *request) readBulkBody() ([]byte, error) {
	if err := checkMediaType(q.r.Header.Get("Content-Type")); err != nil {
		return nil, err
	}
	limit := q.maxBulkPayloadSize()
	body, err := io.ReadAll(http.MaxBytesReader(q.w, q.r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, scimerr.New(http.StatusRequestEntityTooLarge, "",
				"the bulk request exceeds maxPayloadSize, %d bytes (RFC 7644 §3.7.4)", limit)
		}
		return nil, scimerr.BadRequest(scimerr.InvalidSyntax, "could not read the request body")
	}
	return body, nil
}

// bulkParams reads the attributes of a BulkRequest message (RFC 7644 §3.7).
// failOnErrors is 0 when absent.
func bulkParams(msg map[string]any) (failOnErrors int, ops []any, err error) {
	haveOps := false
	for k, v := range msg {
		switch strings.ToLower(k) {
		case "schemas":
			if err := checkBulkSchemas(v); err != nil {
				return 0, nil, err
			}
		case "failonerrors":
			if v == nil {
				continue
			}
			n, err := intParam(k, v)
			if err != nil {
				return 0, nil, err
			}
			if n < 1 {
				return 0, nil, scimerr.BadRequest(scimerr.InvalidValue, "failOnErrors must be 1 or more; leave it out to run every operation")
			}
			failOnErrors = n
		case "operations":
			arr, ok := v.([]any)
			if !ok {
				return 0, nil, scimerr.BadRequest(scimerr.InvalidSyntax, `"Operations" must be an array of bulk operations`)
			}
			ops, haveOps = arr, true
		default:
			return 0, nil, scimerr.BadRequest(scimerr.InvalidSyntax, "unknown bulk request attribute %q", clip(k))
		}
	}
	if !haveOps {
		return 0, nil, scimerr.BadRequest(scimerr.InvalidSyntax, `the bulk request has no "Operations" array (RFC 7644 §3.7)`)
	}
	return failOnErrors, ops, nil
}

// checkBulkSchemas accepts a "schemas" array that holds the BulkRequest URN.
func checkBulkSchemas(v any) error {
	arr, _ := v.([]any)
	for _, s := range arr {
		if str, ok := s.(string); ok && strings.EqualFold(str, BulkRequestURN) {
			return nil
		}
	}
	return scimerr.BadRequest(scimerr.InvalidSyntax, `"schemas" must be an array holding %q`, BulkRequestURN)
}

// parseBulkOp reads one operation (RFC 7644 §3.7). Whatever is wrong with it
// is recorded in err for its entry in the response, never returned.
func parseBulkOp(i int, raw any) *bulkOp {
	op := &bulkOp{index: i}
	m, ok := raw.(map[string]any)
	if !ok {
		op.err = scimerr.BadRequest(scimerr.InvalidSyntax, "a bulk operation must be a JSON object")
		return op
	}
	var path string
	var havePath, haveData bool
	for k, v := range m {
		var ok bool
		switch strings.ToLower(k) {
		case "method":
			op.method, ok = v.(string)
			op.method = strings.ToUpper(op.method)
		case "bulkid":
			op.bulkID, ok = v.(string)
		case "version":
			op.version, ok = v.(string)
		case "path":
			path, ok = v.(string)
			havePath = true
		case "data":
			op.data, ok, haveData = v, true, true
		default:
			op.err = scimerr.BadRequest(scimerr.InvalidSyntax, "unknown bulk operation attribute %q", clip(k))
			return op
		}
		if !ok {
			op.err = scimerr.BadRequest(scimerr.InvalidSyntax, "the bulk operation attribute %q must be a string", clip(k))
			return op
		}
	}
	switch op.method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
	case "":
		op.err = scimerr.BadRequest(scimerr.InvalidSyntax, `the bulk operation has no "method"`)
		return op
	default:
		op.err = scimerr.BadRequest(scimerr.InvalidValue, "bulk operation method %q is not one of POST, PUT, PATCH and DELETE", clip(op.method))
		return op
	}
	if op.method == http.MethodPost && op.bulkID == "" {
		// RFC 7644 §3.7: bulkId is required with POST.
		op.err = scimerr.BadRequest(scimerr.InvalidSyntax, `a POST bulk operation needs a "bulkId"`)
		return op
	}
	if !havePath {
		op.err = scimerr.BadRequest(scimerr.InvalidSyntax, `the bulk operation has no "path"`)
		return op
	}
	if op.err = op.parsePath(path); op.err != nil {
		return op
	}
	if op.method != http.MethodDelete {
		if _, ok := op.data.(map[string]any); !ok {
			what := "is missing"
			if haveData {
				what = "is not a JSON object"
			}
			op.err = scimerr.BadRequest(scimerr.InvalidSyntax, `the "data" of a %s bulk operation %s`, op.method, what)
			return op
		}
	}
	seen := make(map[string]bool)
	addRef := func(s string) {
		if id, ok := strings.CutPrefix(s, bulkIDPrefix); ok && !seen[id] {
			seen[id] = true
			op.refs = append(op.refs, id)
		}
	}
	addRef(op.id)
	if op.method != http.MethodDelete {
		walkStrings(op.data, addRef)
	}
	if op.method == http.MethodPatch {
		patchPaths(op.data, func(path string) string {
			for _, m := range quotedRef.FindAllStringSubmatch(path, -1) {
				addRef(bulkIDPrefix + m[1])
			}
			return path
		})
	}
	return op
}

// quotedRef is a bulkId reference as a string literal inside a PATCH path
// filter, such as members[value eq "bulkId:qwerty"].
var quotedRef = regexp.MustCompile(`"bulkId:([^"]+)"`)

// patchPaths replaces the path of every operation of a PatchOp message
// (RFC 7644 §3.5.2) with fn of it.
func patchPaths(data any, fn func(string) string) {
	msg, _ := data.(map[string]any)
	for k, v := range msg {
		if !strings.EqualFold(k, "Operations") {
			continue
		}
		ops, _ := v.([]any)
		for _, el := range ops {
			op, _ := el.(map[string]any)
			for pk, pv := range op {
				if s, ok := pv.(string); ok && strings.EqualFold(pk, "path") {
					op[pk] = fn(s)
				}
			}
		}
	}
}

// parsePath reads a bulk operation's path, relative to the SCIM base: a
// resource endpoint for POST, a resource for the other methods (RFC 7644
// §3.7).
func (op *bulkOp) parsePath(path string) error {
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	var rt *schema.ResourceType
	if !strings.ContainsAny(path, "?#") && len(segs) <= 2 {
		rt = schema.ByEndpoint(segs[0])
	}
	if rt == nil || (len(segs) == 2 && (segs[1] == "" || strings.HasPrefix(segs[1], "."))) {
		return scimerr.BadRequest(scimerr.InvalidPath, "bulk operation path %q is not /Users, /Groups, /Users/{id} or /Groups/{id}", clip(path))
	}
	op.rt = rt
	if len(segs) == 2 {
		op.id = segs[1]
	}
	switch {
	case op.method == http.MethodPost && op.id != "":
		return scimerr.BadRequest(scimerr.InvalidPath, "a POST bulk operation's path is a resource endpoint such as %s, not a resource", rt.Endpoint)
	case op.method != http.MethodPost && op.id == "":
		return scimerr.BadRequest(scimerr.InvalidPath, "a %s bulk operation's path names a resource: %s/{id}", op.method, rt.Endpoint)
	}
	return nil
}

// walkStrings calls fn with every string in a JSON value, at any depth.
func walkStrings(v any, fn func(string)) {
	switch x := v.(type) {
	case string:
		fn(x)
	case map[string]any:
		for _, el := range x {
			walkStrings(el, fn)
		}
	case []any:
		for _, el := range x {
			walkStrings(el, fn)
		}
	}
}

// bulkOwners maps each bulkId to the index of the POST that carries it. A
// later POST that repeats a bulkId fails: bulkIds are unique within a
// request (RFC 7644 §3.7).
func bulkOwners(ops []*bulkOp) map[string]int {
	owner := make(map[string]int)
	for _, op := range ops {
		if op.method != http.MethodPost || op.bulkID == "" {
			continue
		}
		if first, dup := owner[op.bulkID]; dup {
			if op.err == nil {
				op.err = scimerr.BadRequest(scimerr.InvalidValue, "bulkId %q is already used by operation %d of this request", clip(op.bulkID), first+1)
			}
			continue
		}
		owner[op.bulkID] = op.index
	}
	return owner
}

// bulkOrder returns the order to run ops in: the request's, except that each
// operation is preceded by the POSTs it refers to (RFC 7644 §3.7 lets the
// service provider reorder as long as the result is the one the client
// meant). It is Tarjan's strongly connected components over the references:
// operations on a circle of references get a 409 error (RFC 7644 §3.7.1).
func bulkOrder(ops []*bulkOp, owner map[string]int) []int {
	var (
		next    = 1
		num     = make([]int, len(ops)) // 0: not visited yet
		low     = make([]int, len(ops))
		onStack = make([]bool, len(ops))
		stack   []int
		order   = make([]int, 0, len(ops))
	)
	var visit func(v int)
	visit = func(v int) {
		num[v], low[v] = next, next
		next++
		stack = append(stack, v)
		onStack[v] = true
		selfRef := false
		for _, ref := range ops[v].refs {
			w, ok := owner[ref]
			switch {
			case !ok:
			case w == v:
				selfRef = true
			case num[w] == 0:
				visit(w)
				low[v] = min(low[v], low[w])
			case onStack[w]:
				low[v] = min(low[v], num[w])
			}
		}
		if low[v] != num[v] {
			return
		}
		k := len(stack) - 1
		for stack[k] != v {
			k--
		}
		comp := slices.Clone(stack[k:])
		stack = stack[:k]
		for _, c := range comp {
			onStack[c] = false
		}
		slices.Sort(comp)
		if len(comp) > 1 || selfRef {
			markCycle(ops, comp)
		}
		order = append(order, comp...)
	}
	for i := range ops {
		if num[i] == 0 {
			visit(i)
		}
	}
	return order
}

// markCycle fails every operation of comp, POSTs that refer to each other
// through their bulkIds in a circle.
func markCycle(ops []*bulkOp, comp []int) {
	names := make([]string, len(comp))
	for i, c := range comp {
		names[i] = strconv.Quote(clip(ops[c].bulkID))
	}
	e := scimerr.New(http.StatusConflict, "",
		"the POST operations with bulkIds %s refer to each other in a circle; create them first and add the references with a later PATCH (RFC 7644 §3.7.1)",
		strings.Join(names, ", "))
	for _, c := range comp {
		if ops[c].err == nil {
			ops[c].err = e
		}
	}
}

// runBulkOp runs one operation and returns its entry of the response.
func (q *request) runBulkOp(op *bulkOp, owner map[string]int, created map[int]string) *bulkResult {
	res := &bulkResult{Method: op.method, BulkID: op.bulkID}
	if op.err == nil {
		op.err = op.resolve(owner, created)
	}
	if op.rt != nil && op.id != "" && !strings.HasPrefix(op.id, bulkIDPrefix) {
		// RFC 7644 §3.7.3: every result but a failed POST's has a location.
		res.Location = q.location(op.rt, op.id)
	}
	if op.err != nil {
		res.fail(op.err)
		return res
	}
	rec := q.serveBulkOp(op)
	res.code = rec.status
	res.Status = strconv.Itoa(rec.status)
	if rec.status >= 400 {
		if json.Valid(rec.body.Bytes()) {
			res.Response = rec.body.Bytes()
		} else {
			res.fail(scimerr.From(nil))
		}
		return res
	}
	res.Version = rec.header.Get("ETag")
	if op.method == http.MethodPost {
		var out struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(rec.body.Bytes(), &out)
		created[op.index] = out.ID
		res.Location = rec.header.Get("Location")
	}
	return res
}

// fail sets r to the failure err.
func (r *bulkResult) fail(err error) {
	e := scimerr.From(err)
	b, _ := json.Marshal(e.Body())
	r.code = e.Status
	r.Status = strconv.Itoa(e.Status)
	r.Response = b
}

// resolve replaces the bulkId references of op's path and data with the ids
// of the resources their POSTs created (RFC 7644 §3.7.2). A reference is a
// whole string value, "bulkId:qwerty", anywhere in the data; in the path of
// a PATCH operation it may also be a quoted literal of a filter, as in
// members[value eq "bulkId:qwerty"].
func (op *bulkOp) resolve(owner map[string]int, created map[int]string) error {
	if len(op.refs) == 0 {
		return nil
	}
	ids := make(map[string]string, len(op.refs))
	for _, ref := range op.refs {
		j, ok := owner[ref]
		if !ok {
			return scimerr.BadRequest(scimerr.InvalidValue, "bulkId %q is not the bulkId of any POST operation of this request", clip(ref))
		}
		id, ok := created[j]
		if !ok {
			return scimerr.BadRequest(scimerr.InvalidValue, "bulkId %q refers to operation %d, a POST that failed, so this operation cannot use it", clip(ref), j+1)
		}
		ids[ref] = id
	}
	sub := func(s string) string {
		if ref, ok := strings.CutPrefix(s, bulkIDPrefix); ok {
			if id, ok := ids[ref]; ok {
				return id
			}
		}
		return s
	}
	op.id = sub(op.id)
	op.data = substitute(op.data, sub)
	if op.method == http.MethodPatch {
		patchPaths(op.data, func(path string) string {
			return quotedRef.ReplaceAllStringFunc(path, func(lit string) string {
				if id, ok := ids[lit[len(`"`+bulkIDPrefix):len(lit)-1]]; ok {
					return strconv.Quote(id)
				}
				return lit
			})
		})
	}
	return nil
}

// substitute returns a copy of a JSON value with every string replaced by
// fn of it.
func substitute(v any, fn func(string) string) any {
	switch x := v.(type) {
	case string:
		return fn(x)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, el := range x {
			out[k] = substitute(el, fn)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, el := range x {
			out[i] = substitute(el, fn)
		}
		return out
	}
	return v
}

// opRecorder is the http.ResponseWriter a bulk operation is served into.
type opRecorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *opRecorder) Header() http.Header { return r.header }

func (r *opRecorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *opRecorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(b)
}

// serveBulkOp serves op as the single request it stands for, through the
// handler of that request. The version of the operation becomes the
// request's If-Match (RFC 7644 §3.7, §3.14). A panic fails this operation
// alone.
func (q *request) serveBulkOp(op *bulkOp) (rec *opRecorder) {
	rec = &opRecorder{header: make(http.Header)}
	var body []byte
	if op.method != http.MethodDelete {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(op.data); err != nil {
			rec.status = http.StatusBadRequest
			b, _ := json.Marshal(scimerr.BadRequest(scimerr.InvalidSyntax, "the operation's data cannot be encoded as JSON").Body())
			rec.body.Write(b)
			return rec
		}
		body = buf.Bytes()
	}
	r := q.r.Clone(q.ctx)
	r.Method = op.method
	r.URL = &url.URL{Path: op.rt.Endpoint + "/" + op.id}
	if op.id == "" {
		r.URL.Path = op.rt.Endpoint
	}
	r.RequestURI = ""
	r.Header = http.Header{"Content-Type": {MediaType}}
	if op.version != "" {
		r.Header.Set("If-Match", op.version)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	r.GetBody = nil

	sub := *q
	sub.w = rec
	sub.r = r
	defer func() {
		if v := recover(); v != nil {
			q.log.Error("panic serving a bulk operation", zap.Any("panic", v), zap.String("tenant", q.tenant),
				zap.String("method", op.method), zap.Stack("stack"))
			rec = &opRecorder{header: make(http.Header), status: http.StatusInternalServerError}
			b, _ := json.Marshal(scimerr.From(nil).Body())
			rec.body.Write(b)
		}
	}()
	sub.resource(op.rt, op.id)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	return rec
}
