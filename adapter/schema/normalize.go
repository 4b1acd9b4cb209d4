package schema

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/caddy-scim/caddy-scim/adapter/scimerr"
	"github.com/caddy-scim/caddy-scim/adapter/scimjson"
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
// "schemas", when present, must be an array of strings that holds the
// resource type's core schema URN, compared case-insensitively (RFC 7643
// §3); other URNs in it, defined or not, are accepted, and the whole is
// recomputed from the data. A value
// of the wrong JSON type is a 400 invalidValue naming the attribute, the
// type it must have and the type it has; the only shapes converted are those
// docs/dialects.md lists. Duplicate values of a multi-valued attribute are
// collapsed (CollapseDuplicates).
//
// An unknown attribute of the core schema or of a defined extension is a 400
// invalidSyntax naming the attribute. Top-level keys that are URNs of schemas
// this server does not define are kept verbatim.
func (rt *ResourceType) Normalize(in map[string]any) (map[string]any, error) {
	if err := rt.checkSchemas(in); err != nil {
		return nil, err
	}
	out := make(map[string]any, len(in))
	for key, v := range in {
		if equalFold(key, "schemas") {
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
		if nv == nil || clearsBareValue(a, nv) || !Writable(a) {
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
		if nv != nil && !clearsBareValue(a, nv) && Writable(a) {
			out[a.Name] = nv
		}
	}
	return out, nil
}

// clearsBareValue reports whether nv, the canonical value of a, is
// {"value":""} for the attribute that takes a bare id: Entra ID clears the
// manager so as well as with "" (docs/dialects.md), and a manager without
// an id is no manager.
func clearsBareValue(a *Attribute, nv any) bool {
	m, ok := nv.(map[string]any)
	return ok && a.bareValue && m["value"] == ""
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

// checkSchemas checks the "schemas" of a POST or PUT body: it is required
// (RFC 7643 §3), and CheckSchemasValue checks its value. Every recorded IdP
// request sends it.
func (rt *ResourceType) checkSchemas(in map[string]any) error {
	found := false
	for k, v := range in {
		if !equalFold(k, "schemas") {
			continue
		}
		found = true
		if err := rt.CheckSchemasValue(v); err != nil {
			return err
		}
	}
	if !found {
		return scimerr.BadRequest(scimerr.InvalidSyntax, `"schemas" is required: an array of schema URNs holding %q (RFC 7643 §3)`, rt.Schema.ID)
	}
	return nil
}

// CheckSchemasValue checks a value given for "schemas": an array of strings
// holding the core schema's URN, compared case-insensitively (RFC 7643 §3),
// else a 400 invalidSyntax. Other URNs in it, defined or not, are accepted:
// Entra ID adds one of its own for groups (fixture entra-default-groups).
// The value itself is never stored: "schemas" is recomputed from the data
// (SetSchemas).
func (rt *ResourceType) CheckSchemasValue(v any) error {
	arr, ok := v.([]any)
	if !ok {
		return scimerr.BadRequest(scimerr.InvalidSyntax, `"schemas" must be an array of schema URNs holding %q; got %s`, rt.Schema.ID, Describe(v))
	}
	core := false
	for _, s := range arr {
		str, ok := s.(string)
		if !ok {
			return scimerr.BadRequest(scimerr.InvalidSyntax, `"schemas" must be an array of schema URNs (strings); it holds %s`, Describe(s))
		}
		if equalFold(str, rt.Schema.ID) {
			core = true
		}
	}
	if !core {
		return scimerr.BadRequest(scimerr.InvalidSyntax, `"schemas" must hold %q, the core schema of %s (RFC 7643 §3)`, rt.Schema.ID, rt.Name)
	}
	return nil
}

// NormalizeValue checks v against the definition a and returns it in
// canonical form. path names the attribute in error details. A nil result
// means "unassigned": null, an empty array, or "" for the one attribute that
// takes a bare string (Entra ID clears a manager with "").
//
// A multi-valued attribute takes an array (a single value is not wrapped);
// duplicates in it are collapsed (CollapseDuplicates), and more than one
// value with primary true is a 400 invalidValue (RFC 7643 §2.4: "The
// primary attribute value 'true' MUST appear no more than once").
func NormalizeValue(a *Attribute, v any, path string) (any, error) {
	if v == nil {
		return nil, nil
	}
	if a.MultiValued {
		arr, ok := v.([]any)
		if !ok {
			return nil, scimerr.BadRequest(scimerr.InvalidValue, "%s is multi-valued and must be an array; got %s", path, Describe(v))
		}
		out := make([]any, 0, len(arr))
		for _, el := range arr {
			if _, nested := el.([]any); nested {
				return nil, scimerr.BadRequest(scimerr.InvalidValue, "each value of %s must be %s; got an array", path, expected(a))
			}
			nv, err := normalizeSingle(a, el, path)
			if err != nil {
				return nil, err
			}
			if nv == nil {
				continue
			}
			out = append(out, nv)
		}
		out = CollapseDuplicates(a, out)
		primaries := 0
		for _, el := range out {
			if m, ok := el.(map[string]any); ok && m["primary"] == true {
				primaries++
			}
		}
		if primaries > 1 {
			return nil, scimerr.BadRequest(scimerr.InvalidValue, "%s has more than one entry with primary true; at most one may be primary (RFC 7643 §2.4)", path)
		}
		if len(out) == 0 {
			return nil, nil
		}
		return out, nil
	}
	if _, isArr := v.([]any); isArr {
		return nil, scimerr.BadRequest(scimerr.InvalidValue, "%s is single-valued and must be %s; got an array", path, expected(a))
	}
	return normalizeSingle(a, v, path)
}

// NormalizeElement checks one element of a multi-valued attribute (or the
// value of a singular one) against a.
func NormalizeElement(a *Attribute, v any, path string) (any, error) {
	if v == nil {
		return nil, nil
	}
	if _, isArr := v.([]any); isArr {
		return nil, scimerr.BadRequest(scimerr.InvalidValue, "each value of %s must be %s; got an array", path, expected(a))
	}
	return normalizeSingle(a, v, path)
}

func normalizeSingle(a *Attribute, v any, path string) (any, error) {
	if v == nil {
		return nil, nil
	}
	if s, ok := v.(string); ok && a.Type != Complex && a.Type != Boolean {
		if err := checkString(a, s, path); err != nil {
			return nil, err
		}
	}
	switch a.Type {
	case Complex:
		return normalizeComplex(a, v, path)
	case String, Reference:
		if s, ok := v.(string); ok {
			return s, nil
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
			// (fixture entra-default-disable; docs/dialects.md).
			if b, ok := ParseBool(x); ok {
				return b, nil
			}
			return nil, scimerr.BadRequest(scimerr.InvalidValue, "%s must be of type boolean (true or false); got the string %q", path, clipped(x))
		}
	case Integer:
		if n, ok := toNumber(v); ok {
			if n != math.Trunc(n) || math.Abs(n) >= 1<<53 {
				return nil, scimerr.BadRequest(scimerr.InvalidValue, "%s must be of type integer; got a number with a fraction or out of range", path)
			}
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
			return nil, scimerr.BadRequest(scimerr.InvalidValue, "%s must be an xsd:dateTime such as 2026-01-02T15:04:05Z; got %q", path, clipped(s))
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
				return nil, scimerr.BadRequest(scimerr.InvalidSyntax, "unknown attribute %q in %s", clipped(k), path)
			}
			if _, isArr := sv.([]any); isArr {
				return nil, scimerr.BadRequest(scimerr.InvalidValue, "%s.%s is single-valued and must be %s; got an array", path, s.Name, expected(s))
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
		// Entra ID sets the manager with a bare id and clears it with ""
		// (fixture entra-default-manager; docs/dialects.md). No other
		// complex attribute takes a bare string.
		if a.bareValue {
			if x == "" {
				return nil, nil
			}
			if err := checkString(a.Sub("value"), x, path+".value"); err != nil {
				return nil, err
			}
			return map[string]any{"value": x}, nil
		}
	}
	return nil, scimerr.BadRequest(scimerr.InvalidValue, "%s must be of type complex (a JSON object); got %s", path, Describe(v))
}

// expected names what a value of a must be, for error details.
func expected(a *Attribute) string {
	if a.Type == Complex {
		return "a JSON object"
	}
	return "of type " + string(a.Type)
}

// MaxIdentifierBytes is the most bytes an identifier may have: userName, a
// group's displayName, externalId and emails.value.
const MaxIdentifierBytes = 1024

// checkString refuses, in a string value of a declared attribute, invalid
// UTF-8 and control characters: every C0 control and DEL, and TAB, LF and CR
// too unless the attribute is free text (addresses.formatted, which RFC 7643
// §4.1.2 says MAY contain newlines). An identifier longer than
// MaxIdentifierBytes is refused as well.
func checkString(a *Attribute, s, path string) error {
	if a != nil && a.identifier && len(s) > MaxIdentifierBytes {
		return scimerr.BadRequest(scimerr.InvalidValue, "%s is %d bytes long; at most %d are allowed", path, len(s), MaxIdentifierBytes)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != 0x7f {
			continue
		}
		if (c == '\t' || c == '\n' || c == '\r') && a != nil && a.freeText {
			continue
		}
		return scimerr.BadRequest(scimerr.InvalidValue, "%s contains the control character U+%04X at byte %d; remove it", path, c, i)
	}
	if !utf8.ValidString(s) {
		return scimerr.BadRequest(scimerr.InvalidValue, "%s is not valid UTF-8", path)
	}
	return nil
}

// clipped shortens client input repeated in an error detail.
func clipped(s string) string { return scimerr.Clip(s, 64) }

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
	}
	return 0, false
}

// Describe names the JSON type of v for an error detail, as the request
// decoder does (scimjson.Describe).
func Describe(v any) string { return scimjson.Describe(v) }

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
