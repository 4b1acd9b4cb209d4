package change

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Flatten renders every attribute of a resource as text keyed by its SCIM
// path, so that a backend's mapping can name any attribute:
//
//	userName                         a simple attribute
//	name.givenName                   a sub-attribute
//	emails.value                     the primary value, or else the first
//	emails[type eq "work"].value     the value of the work entry
//	urn:…:enterprise:2.0:User:department
//	urn:…:enterprise:2.0:User:manager.value
//
// Extension objects, defined or custom, are flattened the same way under
// their URN. Booleans become "true" / "false", numbers their JSON text;
// "schemas" and "meta" are left out.
func Flatten(res map[string]any) map[string]string {
	out := map[string]string{}
	for k, v := range res {
		switch {
		case k == "schemas" || k == "meta":
		case isURN(k):
			if m, ok := v.(map[string]any); ok {
				for ek, ev := range m {
					flattenValue(out, k+":"+ek, ev)
				}
			} else {
				flattenValue(out, k, v)
			}
		default:
			flattenValue(out, k, v)
		}
	}
	return out
}

func flattenValue(out map[string]string, path string, v any) {
	switch x := v.(type) {
	case map[string]any:
		for k, sv := range x {
			flattenValue(out, path+"."+k, sv)
		}
	case []any:
		flattenMulti(out, path, x)
	default:
		if s, ok := Text(v); ok {
			out[path] = s
		}
	}
}

// flattenMulti flattens a multi-valued attribute: the preferred entry
// (primary, else first) without a filter, and each typed entry with a
// `[type eq "…"]` filter (the first entry of each type).
func flattenMulti(out map[string]string, path string, arr []any) {
	if len(arr) == 0 {
		return
	}
	pref := arr[0]
	for _, el := range arr {
		if m, ok := el.(map[string]any); ok && m["primary"] == true {
			pref = el
			break
		}
	}
	flattenValue(out, path, pref)
	seen := map[string]bool{}
	for _, el := range arr {
		m, ok := el.(map[string]any)
		if !ok {
			continue
		}
		t, _ := m["type"].(string)
		if t == "" || seen[strings.ToLower(t)] {
			continue
		}
		seen[strings.ToLower(t)] = true
		flattenValue(out, fmt.Sprintf("%s[type eq %s]", path, strconv.Quote(t)), m)
	}
}

// Text renders a scalar JSON value as text.
func Text(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case bool:
		return strconv.FormatBool(x), true
	case json.Number:
		return x.String(), true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	}
	return "", false
}

// Keys returns the keys of a flattened map in order, for stable output.
func Keys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
