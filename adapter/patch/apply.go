package patch

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/caddy-scim/caddy-scim/adapter/filter"
	"github.com/caddy-scim/caddy-scim/adapter/schema"
	"github.com/caddy-scim/caddy-scim/adapter/scimerr"
)

// Result is the outcome of Apply.
type Result struct {
	// Resource is the patched resource in canonical form, with "schemas"
	// recomputed. It shares no map or slice with the input resource.
	Resource map[string]any
	// Members is the membership change, or nil when no operation touched
	// members (or the resource type has no members attribute).
	Members *MemberDelta
}

// Apply applies ops in order to a copy of res, a resource of type rt in the
// canonical form of package schema, and returns the result. res is never
// modified. Apply is atomic (RFC 7644 §3.5.2): when any operation fails it
// returns no result and an *scimerr.Error whose detail names the operation,
// counted from 1, and its path, e.g.
//
//	operation 2 (replace "emails[type eq \"work\"].value"): no emails value matches the filter
//
// Errors that are not the client's fault (a failing Members.List) are
// returned wrapped and are not *scimerr.Error.
//
// Beyond the letter of RFC 7644 §3.5.2, and for the identity providers that
// rely on it: an add or replace whose filter is an equality (or an "and" of
// equalities) and matches nothing creates the value it describes, so that
// Entra ID's `addresses[type eq "work"].locality` followed by
// `.postalCode` fills one work address; a remove that carries a value removes
// only what equals that value, as Entra ID's member removal
// (`"path":"members","value":[{"value":"id"}]`) requires; and a remove that
// matches nothing succeeds.
//
// Operations on "members", when rt has that attribute, do not edit res: they
// are collected in Result.Members. members is read only when a remove or
// replace filters members by something other than value eq, and may be nil
// when there is no membership to read.
func Apply(ctx context.Context, rt *schema.ResourceType, res map[string]any, ops []Operation, members Members) (*Result, error) {
	if len(ops) > MaxOperations {
		return nil, tooManyOps(len(ops))
	}
	a := &applier{ctx: ctx, rt: rt, res: schema.CopyMap(res), members: members}
	if m := rt.Schema.Attr("members"); m != nil && m.MultiValued && m.Type == schema.Complex {
		a.membersAttr = m
	}
	for i, op := range ops {
		if err := a.apply(op); err != nil {
			return nil, opError(i, op, err)
		}
	}
	for _, e := range rt.Extensions {
		if m, ok := a.res[e.Schema.ID].(map[string]any); ok && len(m) == 0 {
			delete(a.res, e.Schema.ID)
		}
	}
	rt.SetSchemas(a.res)
	if err := rt.CheckRequired(a.res); err != nil {
		return nil, err
	}
	out := &Result{Resource: a.res}
	if a.delta != nil {
		out.Members = a.delta.result()
	}
	return out, nil
}

// applier holds the state of one Apply call.
type applier struct {
	ctx         context.Context
	rt          *schema.ResourceType
	res         map[string]any
	members     Members
	membersAttr *schema.Attribute
	delta       *memberDelta
	listed      bool
	stored      []Member
	// inValue is set while the keys of a path-less value (or of an
	// extension object) are applied: an unknown name there is a malformed
	// value (invalidSyntax), not a malformed path (invalidPath).
	inValue bool
}

// target is what a path names inside the schema: an attribute of the core
// schema or of an extension, with an optional value filter and
// sub-attribute.
type target struct {
	text   string
	ext    *schema.Schema
	attr   *schema.Attribute
	filter filter.Expr
	sub    *schema.Attribute
}

// name is the canonical name of the target for error details.
func (t *target) name() string {
	n := t.attr.Name
	if t.ext != nil {
		n = t.ext.ID + ":" + n
	}
	if t.sub != nil {
		n += "." + t.sub.Name
	}
	return n
}

// customTarget is a path into an extension this server has no schema for:
// its values are kept verbatim.
type customTarget struct {
	key, attr, sub string
}

func (a *applier) apply(op Operation) error {
	name, err := normalizeOp(op.Op)
	if err != nil {
		return err
	}
	path := strings.TrimSpace(op.Path)
	if len(path) > MaxPathLength {
		return pathTooLong(len(path))
	}
	before := a.requiredPresent()
	switch {
	case path == "" && name == OpRemove:
		return scimerr.BadRequest(scimerr.NoTarget, "remove needs a path naming what to remove (RFC 7644 §3.5.2.2)")
	case path == "":
		err = a.pathless(name, op.Value)
	default:
		err = a.withPath(name, path, op.Value)
	}
	if err != nil {
		return err
	}
	return a.checkRequiredKept(before)
}

// requiredPresent records which required attributes have a value.
func (a *applier) requiredPresent() []bool {
	var out []bool
	for _, attr := range a.rt.Schema.Attributes {
		if attr.Required {
			out = append(out, assigned(a.res[attr.Name]))
		}
	}
	return out
}

// checkRequiredKept fails an operation that left a required attribute
// unassigned: RFC 7644 §3.5.2.2 answers that with scimType mutability.
func (a *applier) checkRequiredKept(before []bool) error {
	i := 0
	for _, attr := range a.rt.Schema.Attributes {
		if !attr.Required {
			continue
		}
		if before[i] && !assigned(a.res[attr.Name]) {
			return scimerr.BadRequest(scimerr.Mutability, "%s is required for %s and cannot be removed or emptied (RFC 7644 §3.5.2.2)", attr.Name, a.rt.Name)
		}
		i++
	}
	return nil
}

func assigned(v any) bool {
	return v != nil && v != ""
}

// pathless applies an add or replace without a path: the value is an object
// whose keys name the attributes (RFC 7644 §3.5.2.1, §3.5.2.3). Each key is
// applied as if it were the operation's path, in sorted order so that the
// outcome and any error are deterministic.
func (a *applier) pathless(op string, value any) error {
	obj, ok := value.(map[string]any)
	if !ok {
		return scimerr.BadRequest(scimerr.InvalidValue, "%s without a path needs a JSON object of attributes as its value; got %s (RFC 7644 §3.5.2)", op, schema.Describe(value))
	}
	a.inValue = true
	defer func() { a.inValue = false }()
	for _, k := range sortedKeys(obj) {
		v := obj[k]
		key := strings.TrimSpace(k)
		switch {
		case strings.EqualFold(key, "schemas"):
			if err := a.checkSchemas(op, v); err != nil {
				return err
			}
		case strings.EqualFold(key, "id"):
			if err := a.checkSameID(v); err != nil {
				return err
			}
		default:
			if err := a.withPath(op, key, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkSameID accepts an "id" inside a path-less value when it is the
// resource's own id. Okta renames a pushed group with
// {"op":"replace","value":{"id":"…","displayName":"…"}} (IDP-DIALECTS: Okta,
// push groups): id is read-only and unchanged, so there is nothing to do.
func (a *applier) checkSameID(v any) error {
	cur, _ := a.res["id"].(string)
	if s, ok := v.(string); ok && cur != "" && s == cur {
		return nil
	}
	return scimerr.BadRequest(scimerr.Mutability, "id is read-only; the value's id %s is not the resource's id (RFC 7643 §3.1)", quoteAny(v))
}

// withPath applies one operation to what path names. It is also how each key
// of a path-less value is applied.
func (a *applier) withPath(op, path string, value any) error {
	if ext := a.rt.Extension(path); ext != nil {
		return a.wholeExtension(op, ext, value)
	}
	if strings.EqualFold(path, "schemas") {
		return a.checkSchemas(op, value)
	}
	if a.isCustomURN(path) {
		if key := a.resKey(path); key != "" {
			return a.wholeCustom(op, key, value)
		}
		if _, obj := value.(map[string]any); obj && op != OpRemove && !a.underCustomKey(path) {
			return a.wholeCustom(op, path, value)
		}
	}
	t, ct, err := a.resolve(path)
	if err != nil {
		return err
	}
	if ct != nil {
		return a.customOp(op, *ct, value)
	}
	return a.targetOp(op, t, value)
}

// resolve reads a path against the resource type. Paths into extensions the
// server has no schema for come back as a customTarget.
func (a *applier) resolve(path string) (*target, *customTarget, error) {
	urn, rest := a.rt.SplitURN(path)
	var p filter.Path
	var err error
	if urn != "" {
		p, err = filter.ParsePath(rest)
		if err == nil && p.URN != "" {
			return nil, nil, a.badName("%q has two schema URNs", clip(path))
		}
		p.URN = urn
	} else {
		p, err = filter.ParsePath(path)
	}
	if err != nil {
		if se, ok := scimerr.As(err); ok {
			if a.inValue {
				return nil, nil, scimerr.BadRequest(scimerr.InvalidSyntax, "attribute name %q: %s", clip(path), se.Detail)
			}
			return nil, nil, se
		}
		return nil, nil, a.badName("%q is not a valid attribute path", clip(path))
	}
	t := &target{text: path}
	if p.URN != "" && !strings.EqualFold(p.URN, a.rt.Schema.ID) {
		t.ext = a.rt.Extension(p.URN)
		if t.ext == nil {
			ct, err := a.custom(p, path)
			return nil, ct, err
		}
	}
	if t.ext != nil {
		t.attr = t.ext.Attr(p.Attr)
	} else {
		t.attr = a.rt.Attr("", p.Attr)
	}
	if t.attr == nil {
		schemaName := a.rt.Name
		if t.ext != nil {
			schemaName = t.ext.ID
		}
		return nil, nil, a.badName("unknown attribute %q for %s", clip(p.Attr), schemaName)
	}
	if p.Filter != nil {
		if !t.attr.MultiValued {
			return nil, nil, a.badName("%s is single-valued; a [filter] selects values of a multi-valued attribute", t.attr.Name)
		}
		t.filter = p.Filter
	}
	if p.Sub != "" {
		if t.attr.Type != schema.Complex {
			return nil, nil, a.badName("%s has no sub-attributes; %q names one", t.attr.Name, clip(p.Sub))
		}
		t.sub = t.attr.Sub(p.Sub)
		if t.sub == nil {
			return nil, nil, a.badName("unknown sub-attribute %q of %s", clip(p.Sub), t.attr.Name)
		}
	}
	return t, nil, nil
}

// custom builds the target of a path into an unknown extension, such as the
// custom extension attributes Entra ID sends as
// urn:ietf:params:scim:schemas:extension:<name>:2.0:User:<attribute>.
func (a *applier) custom(p filter.Path, path string) (*customTarget, error) {
	lower := strings.ToLower(p.URN)
	if !a.rt.IsCustomExtensionKey(p.URN) || strings.HasPrefix(lower, "urn:ietf:params:scim:schemas:core:") || strings.HasPrefix(lower, "urn:ietf:params:scim:api:") {
		return nil, a.badName("%q is not a schema of %s", clip(p.URN), a.rt.Name)
	}
	if p.Filter != nil {
		return nil, a.badName("%q filters an attribute of %s, an extension whose schema this server does not know", clip(path), clip(p.URN))
	}
	if p.Attr == "" {
		return nil, a.badName("%q names no attribute", clip(path))
	}
	key := a.resKey(p.URN)
	if key == "" {
		key = p.URN
	}
	return &customTarget{key: key, attr: p.Attr, sub: p.Sub}, nil
}

// badName reports an unknown or malformed attribute name: invalidPath in a
// path, invalidSyntax as a key of a value (as schema.Normalize does).
func (a *applier) badName(format string, args ...any) error {
	if a.inValue {
		return scimerr.BadRequest(scimerr.InvalidSyntax, format, args...)
	}
	return scimerr.BadRequest(scimerr.InvalidPath, format, args...)
}

// resKey returns the key of res equal to key case-insensitively, or "".
func (a *applier) resKey(key string) string {
	if _, ok := a.res[key]; ok {
		return key
	}
	for k := range a.res {
		if strings.EqualFold(k, key) {
			return k
		}
	}
	return ""
}

// wholeExtension applies an operation whose path (or path-less key) is an
// extension's URN: remove drops the extension; add and replace apply each
// attribute of the value in turn, so attributes not named are kept
// (RFC 7644 §3.5.2.1, §3.5.2.3).
func (a *applier) wholeExtension(op string, ext *schema.Schema, value any) error {
	if op == OpRemove || value == nil {
		if op != OpAdd {
			delete(a.res, ext.ID)
		}
		return nil
	}
	obj, ok := value.(map[string]any)
	if !ok {
		return scimerr.BadRequest(scimerr.InvalidValue, "%s must be a JSON object of its attributes; got %s", ext.ID, schema.Describe(value))
	}
	saved := a.inValue
	a.inValue = true
	defer func() { a.inValue = saved }()
	for _, k := range sortedKeys(obj) {
		if err := a.withPath(op, ext.ID+":"+strings.TrimSpace(k), obj[k]); err != nil {
			return err
		}
	}
	return nil
}

// targetOp applies an operation to an attribute of a known schema.
func (a *applier) targetOp(op string, t *target, value any) error {
	if a.isMembers(t) {
		return a.membersOp(op, t, value)
	}
	for _, attr := range []*schema.Attribute{t.attr, t.sub} {
		if attr == nil {
			continue
		}
		switch attr.EffectiveMutability() {
		case schema.ReadOnly:
			return scimerr.BadRequest(scimerr.Mutability, "%s is read-only and cannot be changed (RFC 7643 §7)", t.name())
		case schema.WriteOnly:
			// A password is accepted and never stored (RFC 7643 §4.1.1
			// lets the server keep only a hash; this server keeps nothing).
			if op == OpRemove {
				return nil
			}
			_, err := schema.NormalizeValue(attr, value, t.name())
			return err
		}
	}
	c := a.container(t, op != OpRemove)
	if c == nil {
		return nil
	}
	switch {
	case !t.attr.MultiValued && t.sub == nil && t.attr.Type == schema.Complex:
		return a.complexOp(op, t, c, value)
	case !t.attr.MultiValued && t.sub == nil:
		return a.simpleOp(op, t, c, value)
	case !t.attr.MultiValued:
		return a.subOp(op, t, c, value)
	default:
		return a.multiOp(op, t, c, value)
	}
}

// container returns the map holding t's attribute: the resource, or the
// extension's object inside it (created when create is set).
func (a *applier) container(t *target, create bool) map[string]any {
	if t.ext == nil {
		return a.res
	}
	m, ok := a.res[t.ext.ID].(map[string]any)
	if !ok {
		if !create {
			return nil
		}
		m = map[string]any{}
		a.res[t.ext.ID] = m
	}
	return m
}

// opError prefixes an error's detail with the operation it came from.
func opError(i int, op Operation, err error) error {
	name, nerr := normalizeOp(op.Op)
	if nerr != nil {
		name = clip(op.Op)
	}
	prefix := "operation " + itoa(i+1) + " (" + name
	if p := strings.TrimSpace(op.Path); p != "" {
		prefix += " " + strconv.Quote(clip(p))
	}
	prefix += ")"
	if se, ok := scimerr.As(err); ok {
		return &scimerr.Error{Status: se.Status, ScimType: se.ScimType, Detail: prefix + ": " + se.Detail}
	}
	return fmt.Errorf("%s: %w", prefix, err)
}

// checkSchemas checks a value an add or replace gives "schemas". The value
// is never applied: "schemas" follows from the data (schema.SetSchemas), so
// a remove of it changes nothing either.
func (a *applier) checkSchemas(op string, value any) error {
	if op == OpRemove {
		return nil
	}
	if err := a.rt.CheckSchemasValue(value); err != nil {
		e, _ := scimerr.As(err)
		return scimerr.BadRequest(scimerr.InvalidValue, "%s", e.Detail)
	}
	return nil
}
