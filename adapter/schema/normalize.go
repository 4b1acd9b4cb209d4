package schema

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/caddy-scim/caddy-scim/adapter/scimerr"
)

func equalFold(a, b string) bool { return strings.EqualFold(a, b) }

// Normalize checks a resource body an IdP sent (POST or PUT) against rt and
// returns it in canonical form: attribute names spelled as the schema spells
// them, values of the declared types, nulls and empty arrays removed
// (RFC 7643 §2.5), and "schemas" recomputed from the data.
//
// Attributes the client may not set (readOnly: id, meta, groups, a member's
// display) are dropped, as RFC 7644 §3.3 and §3.5.1 say the server ignores
// them; this is what makes Okta's `"groups": []` in a PUT harmless. writeOnly
// attributes (password) are dropped too: they are never stored.
//
// An unknown attribute of the core schema or of a defined extension is a 400
// invalidSyntax naming the attribute. Top-level keys that are URNs of schemas
// this server does not define are kept verbatim.
func (rt *ResourceType) Normalize(in map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(in))
	for key, v := range in {
		if equalFold(key, "schemas") {
			if err := checkSchemas(v); err != nil {
				return nil, err
			}
			continue
		}
		if ext := rt.Extension(key); ext != nil {
			obj, err := rt.normalizeExtension(ext, v)
			if err != nil {
				return nil, err
			}
			if len(obj) > 0 {
				out[ext.ID] = obj
			}
			continue
		}
		if rt.IsCustomExtensionKey(key) {
			if v != nil {
				out[key] = v
			}
			continue
		}
		urn, name := rt.SplitURN(key)
		a := rt.Attr(urn, name)
		if a == nil {
			return nil, scimerr.BadRequest(scimerr.InvalidSyntax, "unknown attribute %q for %s", key, rt.Name)
		}
		nv, err := NormalizeValue(a, v, a.Name)
		if err != nil {
			return nil, err
		}
		if nv == nil || !Writable(a) {
			continue
		}
		if urn != "" && urn != rt.Schema.ID {
			ext, _ := out[urn].(map[string]any)
			if ext == nil {
				ext = map[string]any{}
				out[urn] = ext
			}
			ext[a.Name] = nv
			continue
		}
		out[a.Name] = nv
	}
	rt.SetSchemas(out)
	return out, nil
}

// Writable reports whether a client-supplied value of a is kept: readOnly
// values are ignored and writeOnly values (passwords) are never stored.
func Writable(a *Attribute) bool {
	m := a.EffectiveMutability()
	return m != ReadOnly && m != WriteOnly
}

func (rt *ResourceType) normalizeExtension(ext *Schema, v any) (map[string]any, error) {
	if v == nil {
		return nil, nil
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, scimerr.BadRequest(scimerr.InvalidSyntax, "%s must be a JSON object", ext.ID)
	}
	out := make(map[string]any, len(obj))
	for k, sv := range obj {
		a := ext.Attr(k)
		if a == nil {
			return nil, scimerr.BadRequest(scimerr.InvalidSyntax, "unknown attribute %q in %s", k, ext.ID)
		}
		nv, err := NormalizeValue(a, sv, ext.ID+":"+a.Name)
		if err != nil {
			return nil, err
		}
		if nv != nil && Writable(a) {
			out[a.Name] = nv
		}
	}
	return out, nil
}

// SetSchemas recomputes res["schemas"]: the core schema, then each defined
// extension present, then each custom extension present, sorted.
func (rt *ResourceType) SetSchemas(res map[string]any) {
	schemas := []any{rt.Schema.ID}
	for _, e := range rt.Extensions {
		if _, ok := res[e.Schema.ID]; ok {
			schemas = append(schemas, e.Schema.ID)
		}
	}
	var custom []string
	for k := range res {
		if rt.IsCustomExtensionKey(k) {
			custom = append(custom, k)
		}
	}
	sort.Strings(custom)
	for _, c := range custom {
		schemas = append(schemas, c)
	}
	res["schemas"] = schemas
}

func checkSchemas(v any) error {
	arr, ok := v.([]any)
	if !ok {
		return scimerr.BadRequest(scimerr.InvalidSyntax, `"schemas" must be an array of schema URNs`)
	}
	for _, s := range arr {
		if _, ok := s.(string); !ok {
			return scimerr.BadRequest(scimerr.InvalidSyntax, `"schemas" must be an array of schema URNs`)
		}
	}
	return nil
}

// NormalizeValue checks v against the definition a and returns it in
// canonical form. path names the attribute in error details. A nil result
// means "unassigned": null, an empty array, or an empty string given for a
// complex attribute that has a value sub-attribute (Entra clears a manager
// with "").
func NormalizeValue(a *Attribute, v any, path string) (any, error) {
	if v == nil {
		return nil, nil
	}
	if a.MultiValued {
		arr, ok := v.([]any)
		if !ok {
			arr = []any{v}
		}
		out := make([]any, 0, len(arr))
		primaries := 0
		for _, el := range arr {
			nv, err := normalizeSingle(a, el, path)
			if err != nil {
				return nil, err
			}
			if nv == nil {
				continue
			}
			if m, ok := nv.(map[string]any); ok && m["primary"] == true {
				primaries++
			}
			out = append(out, nv)
		}
		if primaries > 1 {
			return nil, scimerr.BadRequest(scimerr.InvalidValue, "%s has more than one entry with primary true; at most one may be primary", path)
		}
		if len(out) == 0 {
			return nil, nil
		}
		return out, nil
	}
	if _, isArr := v.([]any); isArr {
		return nil, scimerr.BadRequest(scimerr.InvalidValue, "%s is single-valued; got an array", path)
	}
	return normalizeSingle(a, v, path)
}

// NormalizeElement checks one element of a multi-valued attribute (or the
// value of a singular one) against a.
func NormalizeElement(a *Attribute, v any, path string) (any, error) {
	if v == nil {
		return nil, nil
	}
	return normalizeSingle(a, v, path)
}

func normalizeSingle(a *Attribute, v any, path string) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch a.Type {
	case Complex:
		return normalizeComplex(a, v, path)
	case String, Reference:
		switch x := v.(type) {
		case string:
			return x, nil
		case json.Number:
			return x.String(), nil
		case float64:
			return strconv.FormatFloat(x, 'f', -1, 64), nil
		}
	case Binary:
		if s, ok := v.(string); ok {
			if _, err := base64.StdEncoding.DecodeString(s); err != nil {
				if _, err2 := base64.RawStdEncoding.DecodeString(s); err2 != nil {
					return nil, scimerr.BadRequest(scimerr.InvalidValue, "%s must be base64-encoded binary", path)
				}
			}
			return s, nil
		}
	case Boolean:
		switch x := v.(type) {
		case bool:
			return x, nil
		case string:
			// Entra ID sends booleans as strings: "True" / "False"
			// (fixture entra-default-disable).
			if b, ok := ParseBool(x); ok {
				return b, nil
			}
		}
	case Integer:
		if n, ok := toNumber(v); ok && n == math.Trunc(n) && math.Abs(n) < 1<<53 {
			return json.Number(strconv.FormatInt(int64(n), 10)), nil
		}
	case Decimal:
		if n, ok := toNumber(v); ok {
			return json.Number(strconv.FormatFloat(n, 'g', -1, 64)), nil
		}
	case DateTime:
		if s, ok := v.(string); ok {
			if _, err := ParseDateTime(s); err == nil {
				return s, nil
			}
			return nil, scimerr.BadRequest(scimerr.InvalidValue, "%s must be an xsd:dateTime such as 2026-01-02T15:04:05Z; got %q", path, s)
		}
	}
	return nil, scimerr.BadRequest(scimerr.InvalidValue, "%s must be of type %s; got %s", path, a.Type, Describe(v))
}

func normalizeComplex(a *Attribute, v any, path string) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, sv := range x {
			s := a.Sub(k)
			if s == nil {
				return nil, scimerr.BadRequest(scimerr.InvalidSyntax, "unknown attribute %q in %s", k, path)
			}
			nv, err := normalizeSingle(s, sv, path+"."+s.Name)
			if err != nil {
				return nil, err
			}
			if nv != nil && Writable(s) {
				out[s.Name] = nv
			}
		}
		if len(out) == 0 {
			return nil, nil
		}
		return out, nil
	case string:
		// A bare string for a complex attribute with a value sub-attribute:
		// Entra sets the manager as "id" and clears it with ""
		// (fixture entra-default-manager).
		if a.Sub("value") != nil {
			if x == "" {
				return nil, nil
			}
			return map[string]any{"value": x}, nil
		}
	}
	return nil, scimerr.BadRequest(scimerr.InvalidValue, "%s must be a JSON object; got %s", path, Describe(v))
}

// ParseBool parses "true" and "false" in any case, as Entra ID sends them.
func ParseBool(s string) (bool, bool) {
	switch {
	case strings.EqualFold(s, "true"):
		return true, true
	case strings.EqualFold(s, "false"):
		return false, true
	}
	return false, false
}

// ParseDateTime parses an xsd:dateTime (RFC 7643 §2.3.5), with or without
// fractional seconds and zone.
func ParseDateTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	_, err := time.Parse(time.RFC3339, s)
	return time.Time{}, err
}

func toNumber(v any) (float64, bool) {
	switch x := v.(type) {
	case json.Number:
		f, err := x.Float64()
		return f, err == nil && !math.IsInf(f, 0) && !math.IsNaN(f)
	case float64:
		return x, true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		return f, err == nil && !math.IsInf(f, 0) && !math.IsNaN(f)
	}
	return 0, false
}

// Describe names the JSON type of v for an error detail.
func Describe(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number, float64, int, int64:
		return "a number"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	}
	return "an unsupported value"
}

// CheckRequired returns a 400 invalidValue error when a required attribute
// of the core schema is missing from res (RFC 7643 §2.2).
func (rt *ResourceType) CheckRequired(res map[string]any) error {
	for _, a := range rt.Schema.Attributes {
		if !a.Required {
			continue
		}
		v, ok := res[a.Name]
		if !ok || v == nil || v == "" {
			return scimerr.BadRequest(scimerr.InvalidValue, "%s is required for %s", a.Name, rt.Name)
		}
	}
	return nil
}

// CopyMap returns a deep copy of a resource or object in generic JSON form.
func CopyMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = CopyValue(v)
	}
	return out
}

// CopyValue returns a deep copy of a generic JSON value.
func CopyValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		return CopyMap(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = CopyValue(e)
		}
		return out
	}
	return v
}
