package filter

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"github.com/caddy-scim/caddy-scim/adapter/ident"
	"github.com/caddy-scim/caddy-scim/adapter/schema"
)

// Match reports whether the resource res of type rt matches e
// (RFC 7644 §3.4.2.2). res is in the generic form of package schema: core
// attributes under their names, each defined extension as an object under
// its schema URN, custom extensions under their URN as sent, numbers as
// json.Number.
//
// Attribute names are resolved case-insensitively (RFC 7643 §2.1):
//   - a path with the core schema URN, or without a URN, names a core or
//     common attribute (id, externalId, meta);
//   - a path with an extension's URN names an attribute of that extension;
//   - a path without a URN that is not a core attribute names the first
//     extension attribute of that name, in the order of rt.Extensions;
//   - any other path is looked up in the data as it is: without a URN among
//     the top-level keys (so `schemas eq "…"` works), with an unknown URN in
//     the object under that URN (custom extensions). A path whose URN and
//     name together spell a top-level key addresses that object, so
//     `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User pr` tests
//     for enterprise data.
//
// Values are compared by the type the schema declares: strings honour
// caseExact, numbers compare numerically, dateTimes as instants, booleans
// with eq and ne only. Values of attributes the schema does not define
// compare by their JSON type, strings case-insensitively. For string
// attributes, a number or boolean literal compares as its JSON text, so
// `employeeNumber eq 42` matches "42".
//
// A comparison on a multi-valued attribute matches if any value matches; a
// complex attribute compared without a sub-attribute compares its "value"
// sub-attribute. `ne` is the negation of `eq`, `eq null` matches when the
// attribute is unassigned and `pr` when it has a non-empty value. A value of
// the wrong type for the literal or the operator never satisfies the
// comparison (so `ne` holds for it), and never causes a panic. A nil
// expression matches nothing.
func Match(e Expr, rt *schema.ResourceType, res map[string]any) bool {
	s := scope{rt: rt, res: res}
	return s.match(e)
}

// MatchValue reports whether v, one value of the multi-valued attribute
// attr, matches the value filter e, as in `emails[type eq "work"]`
// (RFC 7644 §3.4.2.2, valuePath). Inside e, attribute names are
// sub-attributes of attr and schema URNs are ignored. When v is not an object
// (a value of a multi-valued simple attribute), the name "value" refers to v
// itself. attr may be nil, in which case values compare by their JSON type.
func MatchValue(e Expr, attr *schema.Attribute, v any) bool {
	s := scope{elem: true, attr: attr, v: v}
	return s.match(e)
}

// scope is what the names of a filter refer to: a resource of a resource
// type, or, inside a value filter, one value of an attribute.
type scope struct {
	rt   *schema.ResourceType
	res  map[string]any
	elem bool
	attr *schema.Attribute
	v    any
}

func (s *scope) match(e Expr) bool {
	switch x := e.(type) {
	case *And:
		return x != nil && s.match(x.Left) && s.match(x.Right)
	case *Or:
		return x != nil && (s.match(x.Left) || s.match(x.Right))
	case *Not:
		return x != nil && x.X != nil && !s.match(x.X)
	case *Present:
		return x != nil && s.present(x.Path)
	case *Compare:
		return x != nil && s.compare(x.Path, x.Op, x.Value)
	case *ValuePath:
		return x != nil && x.Filter != nil && s.each(x.Path, func(v any, def *schema.Attribute) bool {
			el := scope{elem: true, attr: def, v: v}
			return el.match(x.Filter)
		})
	}
	return false
}

// present reports whether p has a non-empty value (RFC 7644 §3.4.2.2, "pr").
func (s *scope) present(p Path) bool {
	return s.each(p, func(v any, _ *schema.Attribute) bool { return isPresent(v) })
}

// compare evaluates `p op lit`.
func (s *scope) compare(p Path, op Op, lit Literal) bool {
	if op == Ne {
		return !s.compare(p, Eq, lit)
	}
	if lit.Kind == NullLit {
		return op == Eq && !s.present(p)
	}
	return s.each(p, func(v any, def *schema.Attribute) bool {
		v, def = valueOf(v, def)
		return compareValue(op, lit, v, def)
	})
}

// each calls fn with every value p addresses and the definition describing
// it (nil when the schema does not define it), until fn returns true. It
// reports whether fn did. Values of multi-valued attributes are visited one
// by one; a value filter in p keeps only the values it matches.
func (s *scope) each(p Path, fn func(v any, def *schema.Attribute) bool) bool {
	v, def := s.lookup(p)
	return eachValue(v, func(el any) bool {
		if p.Filter != nil {
			es := scope{elem: true, attr: def, v: el}
			if !es.match(p.Filter) {
				return false
			}
		}
		if p.Sub == "" {
			return fn(el, def)
		}
		sv, sdef := member(el, def, p.Sub)
		return eachValue(sv, func(x any) bool { return fn(x, sdef) })
	})
}

// eachValue calls fn with v, or with each non-null element when v is an
// array, until fn returns true, and reports whether it did.
func eachValue(v any, fn func(any) bool) bool {
	switch x := v.(type) {
	case nil:
		return false
	case []any:
		for _, el := range x {
			if el != nil && fn(el) {
				return true
			}
		}
		return false
	}
	return fn(v)
}

// lookup returns the value of the attribute p names, without its value
// filter and sub-attribute, and its definition.
func (s *scope) lookup(p Path) (any, *schema.Attribute) {
	if s.elem {
		return member(s.v, s.attr, p.Attr)
	}
	return lookupResource(s.rt, s.res, p.URN, p.Attr)
}

// lookupResource resolves a top-level attribute as Match documents.
func lookupResource(rt *schema.ResourceType, res map[string]any, urn, name string) (any, *schema.Attribute) {
	if rt == nil || rt.Schema == nil {
		if urn == "" {
			return field(res, name), nil
		}
		return custom(res, urn, name), nil
	}
	switch {
	case urn == "" || strings.EqualFold(urn, rt.Schema.ID):
		if a := rt.Attr("", name); a != nil {
			return field(res, a.Name), a
		}
		if urn != "" {
			return field(res, name), nil
		}
		for _, ext := range rt.Extensions {
			if a := ext.Schema.Attr(name); a != nil {
				obj, _ := field(res, ext.Schema.ID).(map[string]any)
				return field(obj, a.Name), a
			}
		}
		return field(res, name), nil
	case rt.Extension(urn) != nil:
		ext := rt.Extension(urn)
		obj, _ := field(res, ext.ID).(map[string]any)
		if a := ext.Attr(name); a != nil {
			return field(obj, a.Name), a
		}
		return field(obj, name), nil
	}
	return custom(res, urn, name), nil
}

// custom resolves `urn:name` in data no schema describes: the member name of
// the object under urn, or else the top-level value under "urn:name".
func custom(res map[string]any, urn, name string) any {
	obj, _ := field(res, urn).(map[string]any)
	if v := field(obj, name); v != nil {
		return v
	}
	return field(res, urn+":"+name)
}

// member returns the sub-attribute name of the value v of attribute def, and
// its definition. A value that is not an object has no sub-attributes but
// "value", which is the value itself.
func member(v any, def *schema.Attribute, name string) (any, *schema.Attribute) {
	var sdef *schema.Attribute
	if def != nil && def.Type == schema.Complex {
		sdef = def.Sub(name)
	}
	switch x := v.(type) {
	case map[string]any:
		if sdef != nil {
			return field(x, sdef.Name), sdef
		}
		return field(x, name), nil
	case nil:
		return nil, nil
	}
	if strings.EqualFold(name, "value") {
		if def != nil && def.Type == schema.Complex {
			return v, def.Sub("value")
		}
		return v, def
	}
	return nil, nil
}

// field returns the member of m called name: exactly, or else
// case-insensitively (RFC 7643 §2.1), preferring the lowest of several keys
// that differ only in case so that the result does not depend on map order.
func field(m map[string]any, name string) any {
	if m == nil {
		return nil
	}
	if v, ok := m[name]; ok {
		return v
	}
	var best string
	var found bool
	var v any
	for k, x := range m {
		if strings.EqualFold(k, name) && (!found || k < best) {
			best, v, found = k, x, true
		}
	}
	return v
}

// valueOf returns what a comparison without a sub-attribute compares for v:
// the "value" sub-attribute of a complex value (RFC 7644 §3.4.2.2, as in
// `emails co "example.com"`), or v itself.
func valueOf(v any, def *schema.Attribute) (any, *schema.Attribute) {
	if def != nil && def.Type == schema.Complex {
		vdef := def.Sub("value")
		if vdef == nil {
			return nil, nil
		}
		if m, ok := v.(map[string]any); ok {
			return field(m, vdef.Name), vdef
		}
		return v, vdef
	}
	if m, ok := v.(map[string]any); ok {
		return field(m, "value"), nil
	}
	return v, def
}

// isPresent reports whether v is a non-empty value: not null, not an empty
// string, and for arrays and objects, holding at least one non-empty value.
func isPresent(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case string:
		return x != ""
	case []any:
		for _, el := range x {
			if isPresent(el) {
				return true
			}
		}
		return false
	case map[string]any:
		for _, el := range x {
			if isPresent(el) {
				return true
			}
		}
		return false
	}
	return true
}

// compareValue evaluates `v op lit` for one value v described by def. op is
// not ne and lit is not null.
func compareValue(op Op, lit Literal, v any, def *schema.Attribute) bool {
	if v == nil {
		return false
	}
	if def != nil {
		switch def.Type {
		case schema.String, schema.Reference, schema.Binary:
			s, ok := asString(v)
			return ok && compareStrings(op, s, litText(lit), def.CaseExact || def.Type == schema.Binary)
		case schema.Boolean:
			return compareBools(op, v, lit)
		case schema.Integer, schema.Decimal:
			return compareNumbers(op, v, lit)
		case schema.DateTime:
			return compareTimes(op, v, lit)
		case schema.Complex:
			return false
		}
	}
	switch x := v.(type) {
	case string:
		if lit.Kind == BoolLit {
			return compareBools(op, x, lit)
		}
		return compareStrings(op, x, litText(lit), false)
	case bool:
		return compareBools(op, x, lit)
	case json.Number, float64, int, int64:
		return compareNumbers(op, x, lit)
	}
	return false
}

// asString returns v as a string; json.Number counts, as a string attribute
// written as a bare number would decode to one.
func asString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	}
	return "", false
}

// litText returns the JSON text a literal compares as against a string.
func litText(l Literal) string {
	switch l.Kind {
	case BoolLit:
		return strconv.FormatBool(l.Bool)
	case NullLit:
		return "null"
	}
	return l.Str
}

// compareStrings applies op to strings: eq, co, sw and ew as the RFC defines
// them, and gt, ge, lt, le lexicographically (RFC 7644 §3.4.2.2, Table 3).
// Unless caseExact, both sides compare by their ident.Fold keys: the rule
// the uniqueness index uses, so a filter finds exactly the resources that
// a create of the same name would collide with.
func compareStrings(op Op, a, b string, caseExact bool) bool {
	if op == Eq {
		if caseExact {
			return a == b
		}
		return ident.Equal(a, b)
	}
	if !caseExact {
		a, b = ident.Fold(a), ident.Fold(b)
	}
	switch op {
	case Co:
		return strings.Contains(a, b)
	case Sw:
		return strings.HasPrefix(a, b)
	case Ew:
		return strings.HasSuffix(a, b)
	}
	return ordered(op, strings.Compare(a, b))
}

// ordered reports whether the three-way comparison result c satisfies op.
func ordered(op Op, c int) bool {
	switch op {
	case Eq:
		return c == 0
	case Gt:
		return c > 0
	case Ge:
		return c >= 0
	case Lt:
		return c < 0
	case Le:
		return c <= 0
	}
	return false
}

// compareBools applies op to booleans; only eq is defined for them
// (RFC 7644 §3.4.2.2: gt, ge, lt and le on booleans are errors, and co, sw
// and ew do not apply). Strings "true" and "false" in any case count, as
// Entra ID sends booleans that way.
func compareBools(op Op, v any, lit Literal) bool {
	if op != Eq {
		return false
	}
	a, ok := asBool(v)
	if !ok {
		return false
	}
	var b bool
	switch lit.Kind {
	case BoolLit:
		b = lit.Bool
	case StringLit:
		if b, ok = schema.ParseBool(lit.Str); !ok {
			return false
		}
	default:
		return false
	}
	return a == b
}

func asBool(v any) (bool, bool) {
	switch x := v.(type) {
	case bool:
		return x, true
	case string:
		return schema.ParseBool(x)
	}
	return false, false
}

// number is a parsed JSON number, exact when it is an integer that fits in
// an int64.
type number struct {
	i     int64
	f     float64
	exact bool
}

// compareNumbers applies eq, gt, ge, lt or le to numbers. A string literal
// holding a JSON number counts as that number.
func compareNumbers(op Op, v any, lit Literal) bool {
	a, ok := asNumber(v)
	if !ok || (lit.Kind != NumberLit && lit.Kind != StringLit) {
		return false
	}
	b, ok := parseNumber(lit.Str)
	if !ok {
		return false
	}
	c, ok := cmpNumbers(a, b)
	return ok && ordered(op, c)
}

func asNumber(v any) (number, bool) {
	switch x := v.(type) {
	case json.Number:
		return parseNumber(string(x))
	case string:
		return parseNumber(x)
	case float64:
		return number{f: x}, true
	case int:
		return number{i: int64(x), f: float64(x), exact: true}, true
	case int64:
		return number{i: x, f: float64(x), exact: true}, true
	}
	return number{}, false
}

func parseNumber(s string) (number, bool) {
	if !isNumber(s) {
		return number{}, false
	}
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return number{i: i, f: float64(i), exact: true}, true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return number{}, false
	}
	return number{f: f}, true
}

// cmpNumbers compares a and b; it reports false when they are unordered
// (NaN, which JSON cannot express but a float64 in the data can hold).
func cmpNumbers(a, b number) (int, bool) {
	if a.exact && b.exact {
		switch {
		case a.i < b.i:
			return -1, true
		case a.i > b.i:
			return 1, true
		}
		return 0, true
	}
	switch {
	case a.f < b.f:
		return -1, true
	case a.f > b.f:
		return 1, true
	case a.f == b.f:
		return 0, true
	}
	return 0, false
}

// compareTimes applies op to dateTimes (RFC 7643 §2.3.5): eq, gt, ge, lt
// and le compare instants, so "2011-05-13T04:42:34Z" equals
// "2011-05-13T06:42:34+02:00"; co, sw and ew compare the text.
func compareTimes(op Op, v any, lit Literal) bool {
	s, ok := v.(string)
	if !ok || lit.Kind != StringLit {
		return false
	}
	switch op {
	case Co, Sw, Ew:
		return compareStrings(op, s, lit.Str, false)
	}
	a, err := schema.ParseDateTime(s)
	if err != nil {
		return false
	}
	b, err := schema.ParseDateTime(lit.Str)
	if err != nil {
		return false
	}
	return ordered(op, a.Compare(b))
}
