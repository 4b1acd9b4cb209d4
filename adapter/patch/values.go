package patch

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/caddy-scim/caddy-scim/adapter/filter"
	"github.com/caddy-scim/caddy-scim/adapter/ident"
	"github.com/caddy-scim/caddy-scim/adapter/schema"
	"github.com/caddy-scim/caddy-scim/adapter/scimerr"
)

// simpleOp applies an operation to a singular attribute that is not complex
// (userName, active, employeeNumber …). add and replace both set the value
// (RFC 7644 §3.5.2.1: add on a single-valued attribute replaces it); a null
// value unassigns it (RFC 7643 §2.5). Values are canonicalized, so Entra's
// {"op":"Replace","path":"active","value":"False"} stores false.
func (a *applier) simpleOp(op string, t *target, c map[string]any, value any) error {
	old := c[t.attr.Name]
	if op == OpRemove {
		if value != nil && old != nil {
			given, err := schema.NormalizeValue(t.attr, value, t.name())
			if err != nil {
				return err
			}
			if !equalValue(t.attr, given, old) {
				return nil
			}
		}
		return commit(c, t.attr, t.name(), old, nil)
	}
	nv, err := schema.NormalizeValue(t.attr, value, t.name())
	if err != nil {
		return err
	}
	return commit(c, t.attr, t.name(), old, nv)
}

// complexOp applies an operation to a singular complex attribute (name,
// manager). add and replace merge the given sub-attributes into the current
// value, leaving the others as they are (RFC 7644 §3.5.2.1, and §3.5.2.3:
// "sub-attributes that are not specified in the value parameter are left
// unchanged").
//
// A complex attribute with a "value" sub-attribute is a reference (manager):
// when the value changes, the sub-attributes describing the old referent
// ($ref, displayName) are dropped rather than merged. Entra ID sets the
// manager with a bare id and clears it with "" or {"value":""}
// (IDP-DIALECTS: Entra, manager); schema.NormalizeValue turns the bare
// string into {"value": id} and "" into null.
func (a *applier) complexOp(op string, t *target, c map[string]any, value any) error {
	old, _ := c[t.attr.Name].(map[string]any)
	if op == OpRemove {
		if value != nil && old != nil {
			given, err := schema.NormalizeValue(t.attr, value, t.name())
			if err != nil {
				return err
			}
			if !subsetEqual(t.attr, given, old) {
				return nil
			}
		}
		return commit(c, t.attr, t.name(), nilIfNone(old), nil)
	}
	nv, err := schema.NormalizeValue(t.attr, value, t.name())
	if err != nil {
		return err
	}
	if nv == nil {
		if _, isObject := value.(map[string]any); isObject {
			// {} or only read-only sub-attributes: nothing to change.
			return nil
		}
		return commit(c, t.attr, t.name(), nilIfNone(old), nil)
	}
	m := nv.(map[string]any)
	if isReference(t.attr) {
		if v, ok := m["value"]; ok {
			if v == "" {
				return commit(c, t.attr, t.name(), nilIfNone(old), nil)
			}
			if old != nil && !equalValue(t.attr.Sub("value"), old["value"], v) {
				for k, ov := range old {
					if err := checkImmutableSub(t, t.attr.Sub(k), ov, m[k]); err != nil {
						return err
					}
				}
				return commit(c, t.attr, t.name(), old, m)
			}
		}
	}
	merged := make(map[string]any, len(old)+len(m))
	for k, v := range old {
		merged[k] = v
	}
	for k, v := range m {
		if err := checkImmutableSub(t, t.attr.Sub(k), old[k], v); err != nil {
			return err
		}
		merged[k] = v
	}
	return commit(c, t.attr, t.name(), nilIfNone(old), merged)
}

// subOp applies an operation to a sub-attribute of a singular complex
// attribute: name.givenName, or the manager's value as
// urn:…:enterprise:2.0:User:manager.value.
func (a *applier) subOp(op string, t *target, c map[string]any, value any) error {
	old, _ := c[t.attr.Name].(map[string]any)
	var nv any
	if op == OpRemove {
		if old == nil {
			return nil
		}
		if value != nil {
			given, err := schema.NormalizeValue(t.sub, value, t.name())
			if err != nil {
				return err
			}
			if !equalValue(t.sub, given, old[t.sub.Name]) {
				return nil
			}
		}
	} else {
		var err error
		if nv, err = schema.NormalizeValue(t.sub, value, t.name()); err != nil {
			return err
		}
	}
	if err := checkImmutableSub(t, t.sub, old[t.sub.Name], nv); err != nil {
		return err
	}
	m := make(map[string]any, len(old)+1)
	if isReference(t.attr) && t.sub.Name == "value" {
		if !assigned(nv) {
			return commit(c, t.attr, t.name(), nilIfNone(old), nil)
		}
		if old != nil && !equalValue(t.sub, old["value"], nv) {
			old = nil
		}
	}
	for k, v := range old {
		m[k] = v
	}
	if nv == nil {
		delete(m, t.sub.Name)
	} else {
		m[t.sub.Name] = nv
	}
	return commit(c, t.attr, t.name(), nilIfNone(old), nilIfNone(m))
}

// multiOp applies an operation to a multi-valued attribute (emails,
// addresses, roles …), with or without a value filter and sub-attribute.
func (a *applier) multiOp(op string, t *target, c map[string]any, value any) error {
	old, _ := c[t.attr.Name].([]any)
	var snapshot any
	if t.attr.EffectiveMutability() == schema.Immutable && len(old) > 0 {
		snapshot = schema.CopyValue(old)
	}
	list := append([]any(nil), old...)
	var err error
	switch {
	case t.filter != nil:
		list, err = filtered(op, t, list, value)
	case t.sub != nil:
		list, err = everySub(op, t, list, value)
	case op == OpAdd:
		list, err = appendValues(t, list, value)
	case op == OpReplace:
		var nv any
		nv, err = schema.NormalizeValue(t.attr, value, t.name())
		list, _ = nv.([]any)
	default:
		list, err = removeValues(t, list, value)
	}
	if err != nil {
		return err
	}
	// Duplicates are collapsed on every write, as on POST and PUT: an
	// add of a value already there, or a replace that makes one value
	// equal to another, leaves one (RFC 7643 §2.4).
	list = schema.CollapseDuplicates(t.attr, compact(list))
	if snapshot != nil && !equalValue(t.attr, snapshot, list) {
		return immutableError(t.name())
	}
	if len(list) == 0 {
		delete(c, t.attr.Name)
	} else {
		c[t.attr.Name] = list
	}
	return nil
}

// appendValues adds values to a multi-valued attribute (RFC 7644 §3.5.2.1).
// A value equal to one already there (ignoring "primary") is not added
// again; when an added value is primary, every other value stops being
// primary (RFC 7644 §3.5.2).
func appendValues(t *target, list []any, value any) ([]any, error) {
	nv, err := schema.NormalizeValue(t.attr, value, t.name())
	if err != nil || nv == nil {
		return list, err
	}
	index := make(map[string]int, len(list))
	for i, el := range list {
		index[elementKey(t.attr, el)] = i
	}
	var touched []int
	for _, el := range nv.([]any) {
		key := elementKey(t.attr, el)
		i, ok := index[key]
		if !ok {
			list = append(list, el)
			i = len(list) - 1
			index[key] = i
		} else if isPrimary(el) {
			list[i].(map[string]any)["primary"] = true
		}
		touched = append(touched, i)
	}
	return list, settlePrimary(t, list, touched)
}

// removeValues removes values of a multi-valued attribute without a filter
// (RFC 7644 §3.5.2.2): all of them, or, when the operation carries a value,
// only the values it lists. The second form is the Entra ID default
// dialect's way of removing group members
// ({"op":"Remove","path":"members","value":[{"value":"id"}]}), and it means
// the same for any multi-valued attribute.
func removeValues(t *target, list []any, value any) ([]any, error) {
	if value == nil {
		return nil, nil
	}
	given, err := schema.NormalizeValue(t.attr, value, t.name())
	if err != nil {
		return nil, err
	}
	givens, _ := given.([]any)
	out := list[:0:0]
	for _, el := range list {
		if !matchesAny(t.attr, el, givens) {
			out = append(out, el)
		}
	}
	return out, nil
}

// everySub applies an operation to a sub-attribute of every value of a
// multi-valued attribute (`emails.value`, no filter). When there are no
// values, add and replace create one.
func everySub(op string, t *target, list []any, value any) ([]any, error) {
	var nv any
	if op != OpRemove {
		var err error
		if nv, err = schema.NormalizeValue(t.sub, value, t.name()); err != nil {
			return nil, err
		}
		if len(list) == 0 {
			if nv == nil {
				return nil, nil
			}
			return []any{map[string]any{t.sub.Name: nv}}, nil
		}
	}
	var touched []int
	for i, el := range list {
		m, ok := el.(map[string]any)
		if !ok {
			continue
		}
		if err := setSub(t, m, op, nv, value); err != nil {
			return nil, err
		}
		touched = append(touched, i)
	}
	return list, settlePrimary(t, list, touched)
}

// filtered applies an operation to the values a filter selects
// (`emails[type eq "work"]`, `addresses[type eq "work"].locality`).
//
// With matches: remove drops them (or their sub-attribute); replace replaces
// them (RFC 7644 §3.5.2.3), keeping the filter's equalities where the new
// value does not say otherwise, so the value still answers the filter; add
// merges into them.
//
// Without a match: remove succeeds and changes nothing (removing what is not
// there is not an error: IdPs retry, and RFC 7644 §3.5.2.2 lists noTarget
// only for a missing path). add and replace create the value when the filter
// is an equality or an "and" of equalities, built from those equalities and
// the operation's value. This is Entra ID's typed-entry dialect: it sends
// one add or replace per sub-attribute, `addresses[type eq "work"].locality`
// then `addresses[type eq "work"].postalCode`, and expects one work address
// (IDP-DIALECTS: Entra; Captain-P-Goldfish/SCIM-SDK#416, #680); it sends
// replace for an entry the resource does not have yet
// (Captain-P-Goldfish/scim-for-keycloak#73), which RFC 7644 §3.5.2.3 covers
// with "if the target location path specifies an attribute that does not
// exist, the service provider SHALL treat the operation as an add". Any
// other filter that matches nothing is 400 noTarget (RFC 7644 §3.5.2.3).
func filtered(op string, t *target, list []any, value any) ([]any, error) {
	var idx []int
	for i, el := range list {
		if filter.MatchValue(t.filter, t.attr, el) {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		if op == OpRemove {
			return list, nil
		}
		return create(t, list, value)
	}
	var givens []any
	if op == OpRemove && value != nil && t.sub == nil {
		given, err := schema.NormalizeValue(t.attr, value, t.name())
		if err != nil {
			return nil, err
		}
		givens, _ = given.([]any)
	}
	var nv any
	var err error
	switch {
	case op == OpRemove:
	case t.sub != nil:
		nv, err = schema.NormalizeValue(t.sub, value, t.name())
	case t.attr.Type == schema.Complex:
		nv, err = elementValue(t, value)
	default:
		nv, err = schema.NormalizeElement(t.attr, value, t.name())
	}
	if err != nil {
		return nil, err
	}
	for _, i := range idx {
		el := list[i]
		switch {
		case op == OpRemove && t.sub == nil:
			if value == nil || matchesAny(t.attr, el, givens) {
				list[i] = nil
			}
		case t.sub != nil:
			m, ok := el.(map[string]any)
			if !ok {
				continue
			}
			if err := setSub(t, m, op, nv, value); err != nil {
				return nil, err
			}
		case t.attr.Type != schema.Complex:
			list[i] = nv
		case op == OpReplace:
			list[i] = replaceElement(t, nv)
		default:
			m := el.(map[string]any)
			if nm, ok := nv.(map[string]any); ok {
				for k, v := range nm {
					m[k] = v
				}
			}
		}
	}
	return list, settlePrimary(t, list, idx)
}

// create adds the value an add or replace with an unmatched equality filter
// describes (see filtered).
func create(t *target, list []any, value any) ([]any, error) {
	eqs, ok := equalities(t.filter, t.attr)
	if !ok {
		return nil, scimerr.BadRequest(scimerr.NoTarget, "no %s value matches the filter (RFC 7644 §3.5.2.3)", t.attr.Name)
	}
	if value == nil {
		return list, nil
	}
	el := eqs
	if t.sub != nil {
		el[t.sub.Name] = value
	} else {
		obj, ok := value.(map[string]any)
		if !ok {
			return nil, scimerr.BadRequest(scimerr.InvalidValue, "the value for %s must be a JSON object; got %s", t.text, schema.Describe(value))
		}
		for k, v := range obj {
			if canonical := subKey(t.attr, k); canonical != "" {
				delete(el, canonical)
			}
			el[k] = v
		}
	}
	nv, err := schema.NormalizeElement(t.attr, el, t.attr.Name)
	if err != nil || nv == nil {
		return list, err
	}
	list = append(list, nv)
	return list, settlePrimary(t, list, []int{len(list) - 1})
}

// elementValue normalizes the value of an add or replace on filtered values
// of a complex attribute: one JSON object.
func elementValue(t *target, value any) (any, error) {
	if _, ok := value.(map[string]any); !ok && value != nil {
		return nil, scimerr.BadRequest(scimerr.InvalidValue, "the value for %s must be a JSON object; got %s", t.text, schema.Describe(value))
	}
	return schema.NormalizeElement(t.attr, value, t.attr.Name)
}

// replaceElement is the new value for a matched element: nv, completed by
// the filter's equalities it does not override.
func replaceElement(t *target, nv any) any {
	m, ok := nv.(map[string]any)
	if !ok {
		return nil
	}
	out := make(map[string]any, len(m)+1)
	if eqs, ok := equalities(t.filter, t.attr); ok {
		if ce, err := schema.NormalizeElement(t.attr, eqs, t.attr.Name); err == nil {
			if cm, ok := ce.(map[string]any); ok {
				for k, v := range cm {
					out[k] = v
				}
			}
		}
	}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// setSub sets (add, replace) or removes a sub-attribute of one value m of a
// multi-valued attribute. A remove that carries a value only removes an
// equal sub-attribute value.
func setSub(t *target, m map[string]any, op string, nv, raw any) error {
	if op == OpRemove {
		if raw != nil {
			given, err := schema.NormalizeValue(t.sub, raw, t.name())
			if err != nil {
				return err
			}
			if !equalValue(t.sub, given, m[t.sub.Name]) {
				return nil
			}
		}
		delete(m, t.sub.Name)
		return nil
	}
	if nv == nil {
		delete(m, t.sub.Name)
	} else {
		m[t.sub.Name] = nv
	}
	return nil
}

// settlePrimary enforces RFC 7644 §3.5.2: when an operation makes a value
// primary, the others stop being primary. Making two values primary at once
// is 400 invalidValue.
func settlePrimary(t *target, list []any, touched []int) error {
	winner := -1
	for _, i := range touched {
		if i < len(list) && isPrimary(list[i]) {
			if winner >= 0 && winner != i {
				return scimerr.BadRequest(scimerr.InvalidValue, "the operation makes more than one %s value primary; at most one may be", t.attr.Name)
			}
			winner = i
		}
	}
	if winner < 0 {
		return nil
	}
	for i, el := range list {
		if m, ok := el.(map[string]any); ok && i != winner && m["primary"] == true {
			m["primary"] = false
		}
	}
	return nil
}

// equalities reads a value filter that is `sub eq literal` or an "and" of
// such, and returns those sub-attribute values, or false.
func equalities(e filter.Expr, attr *schema.Attribute) (map[string]any, bool) {
	out := map[string]any{}
	if !collectEqualities(e, attr, out) || len(out) == 0 {
		return nil, false
	}
	return out, true
}

func collectEqualities(e filter.Expr, attr *schema.Attribute, out map[string]any) bool {
	switch x := e.(type) {
	case *filter.And:
		return x != nil && collectEqualities(x.Left, attr, out) && collectEqualities(x.Right, attr, out)
	case *filter.Compare:
		if x == nil || x.Op != filter.Eq || !isPlainName(x.Path) {
			return false
		}
		sub := attr.Sub(x.Path.Attr)
		if sub == nil || !schema.Writable(sub) {
			return false
		}
		var v any
		switch x.Value.Kind {
		case filter.StringLit:
			v = x.Value.Str
		case filter.NumberLit:
			v = json.Number(x.Value.Str)
		case filter.BoolLit:
			v = x.Value.Bool
		default:
			return false
		}
		if prev, ok := out[sub.Name]; ok && !equalValue(sub, prev, v) {
			return false
		}
		out[sub.Name] = v
		return true
	}
	return false
}

// isPlainName reports whether p is a bare attribute name, as inside a value
// filter.
func isPlainName(p filter.Path) bool {
	return p.Filter == nil && p.Sub == "" && p.Attr != ""
}

// subKey returns the canonical name of the sub-attribute k of attr, or "".
func subKey(attr *schema.Attribute, k string) string {
	if s := attr.Sub(k); s != nil {
		return s.Name
	}
	return ""
}

// commit stores nv as the value of attr in c (deleting it when nv is
// unassigned), refusing to change an immutable attribute that has a value
// (RFC 7644 §3.5.2, RFC 7643 §7).
func commit(c map[string]any, attr *schema.Attribute, name string, old, nv any) error {
	if attr.EffectiveMutability() == schema.Immutable && old != nil && !equalValue(attr, old, nv) {
		return immutableError(name)
	}
	if nv == nil {
		delete(c, attr.Name)
		return nil
	}
	c[attr.Name] = nv
	return nil
}

func checkImmutableSub(t *target, sub *schema.Attribute, old, nv any) error {
	if sub == nil || sub.EffectiveMutability() != schema.Immutable || old == nil || equalValue(sub, old, nv) {
		return nil
	}
	return immutableError(t.attr.Name + "." + sub.Name)
}

func immutableError(name string) error {
	return scimerr.BadRequest(scimerr.Mutability, "%s is immutable and already has a value (RFC 7643 §7)", name)
}

// isReference reports whether a complex attribute refers to another
// resource by its "value" sub-attribute, as manager does.
func isReference(attr *schema.Attribute) bool {
	return attr.Type == schema.Complex && !attr.MultiValued && attr.Sub("value") != nil
}

func isPrimary(v any) bool {
	m, ok := v.(map[string]any)
	return ok && m["primary"] == true
}

// compact drops values that were removed (nil) or emptied.
func compact(list []any) []any {
	out := list[:0]
	for _, el := range list {
		if el == nil {
			continue
		}
		if m, ok := el.(map[string]any); ok && len(m) == 0 {
			continue
		}
		out = append(out, el)
	}
	return out
}

// nilIfNone returns nil for a nil or empty map, so that commit sees an
// unassigned attribute as nil.
func nilIfNone(m map[string]any) any {
	if len(m) == 0 {
		return nil
	}
	return m
}

// elementKey renders a value of a multi-valued attribute so that two values
// have the same key exactly when they are the same value, ignoring
// "primary": strings of caseExact false attributes compare by their ident.Fold keys.
// Keys let add find duplicates in one pass however many values there are.
func elementKey(attr *schema.Attribute, v any) string {
	var b strings.Builder
	writeKey(&b, attr, v, true)
	return b.String()
}

func writeKey(b *strings.Builder, attr *schema.Attribute, v any, top bool) {
	switch x := v.(type) {
	case string:
		if attr != nil && !attr.CaseExact && attr.Type == schema.String {
			x = ident.Fold(x)
		}
		b.WriteString(strconv.Quote(x))
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case json.Number:
		b.WriteString("#" + x.String())
	case map[string]any:
		b.WriteByte('{')
		for _, k := range sortedKeys(x) {
			if top && k == "primary" {
				continue
			}
			var sub *schema.Attribute
			if attr != nil {
				sub = attr.Sub(k)
			}
			b.WriteString(strconv.Quote(k))
			b.WriteByte(':')
			writeKey(b, sub, x[k], false)
			b.WriteByte(',')
		}
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for _, el := range x {
			writeKey(b, attr, el, false)
			b.WriteByte(',')
		}
		b.WriteByte(']')
	case nil:
		b.WriteString("null")
	default:
		fmt.Fprintf(b, "%T:%v", x, x)
	}
}

// matchesAny reports whether el matches one of givens: every sub-attribute
// a given value names has the same value in el, so {"value":"x"} matches
// {"value":"x","type":"work"}.
func matchesAny(attr *schema.Attribute, el any, givens []any) bool {
	for _, g := range givens {
		if subsetEqual(attr, g, el) {
			return true
		}
	}
	return false
}

func subsetEqual(attr *schema.Attribute, given, el any) bool {
	gm, gok := given.(map[string]any)
	em, eok := el.(map[string]any)
	if !gok || !eok {
		return equalValue(attr, given, el)
	}
	if len(gm) == 0 {
		return false
	}
	for k, gv := range gm {
		if !equalValue(attr.Sub(k), gv, em[k]) {
			return false
		}
	}
	return true
}

// equalValue compares two canonical values as attr defines them: strings
// honour caseExact, numbers compare by value.
func equalValue(attr *schema.Attribute, x, y any) bool {
	switch xv := x.(type) {
	case nil:
		return y == nil
	case string:
		yv, ok := y.(string)
		if !ok {
			return false
		}
		if attr != nil && !attr.CaseExact && attr.Type == schema.String {
			return ident.Equal(xv, yv)
		}
		return xv == yv
	case bool:
		yv, ok := y.(bool)
		return ok && xv == yv
	case json.Number:
		yv, ok := y.(json.Number)
		if !ok {
			return false
		}
		if xv == yv {
			return true
		}
		xf, xerr := xv.Float64()
		yf, yerr := yv.Float64()
		return xerr == nil && yerr == nil && xf == yf
	case map[string]any:
		ym, ok := y.(map[string]any)
		if !ok || len(xv) != len(ym) {
			return false
		}
		for k, v := range xv {
			w, ok := ym[k]
			if !ok {
				return false
			}
			var sub *schema.Attribute
			if attr != nil {
				sub = attr.Sub(k)
			}
			if !equalValue(sub, v, w) {
				return false
			}
		}
		return true
	case []any:
		yv, ok := y.([]any)
		if !ok || len(xv) != len(yv) {
			return false
		}
		for i := range xv {
			if !equalValue(attr, xv[i], yv[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(x, y)
}
