package schema

import (
	"encoding/json"
	"sort"
	"strconv"
	"strings"

	"github.com/caddy-scim/caddy-scim/adapter/ident"
)

// CollapseDuplicates returns list, the canonical values of the multi-valued
// attribute a, with duplicates collapsed (RFC 7643 §2.4 says a
// multi-valued attribute SHOULD NOT hold the same value twice; the rule
// below is this server's, see docs/dialects.md). Two values are duplicates
// when they carry the same sub-attributes with equal values, "primary"
// aside: strings of a caseExact attribute compare exactly, the others by
// ident.Fold, so "B@Example.com" and "b@example.com" are one email. The
// first of the duplicates is kept, primary when any of them was, and the
// values that remain keep their order. list itself is not modified; the kept
// value may be.
//
// Group members are left alone: they are stored as edges keyed by id.
func CollapseDuplicates(a *Attribute, list []any) []any {
	if a == nil || a.keepDuplicates || len(list) < 2 {
		return list
	}
	first := make(map[string]int, len(list))
	out := make([]any, 0, len(list))
	for _, el := range list {
		key := duplicateKey(a, el)
		i, seen := first[key]
		if !seen {
			first[key] = len(out)
			out = append(out, el)
			continue
		}
		if m, ok := el.(map[string]any); ok && m["primary"] == true {
			if kept, ok := out[i].(map[string]any); ok {
				kept["primary"] = true
			}
		}
	}
	return out
}

// duplicateKey renders a canonical value so that two values have the same
// key exactly when CollapseDuplicates treats them as one.
func duplicateKey(a *Attribute, v any) string {
	var b strings.Builder
	writeDuplicateKey(&b, a, v, true)
	return b.String()
}

func writeDuplicateKey(b *strings.Builder, a *Attribute, v any, top bool) {
	switch x := v.(type) {
	case string:
		if a != nil && !a.CaseExact && (a.Type == String || a.Type == Reference) {
			x = ident.Fold(x)
		}
		b.WriteString(strconv.Quote(x))
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case json.Number:
		if f, err := x.Float64(); err == nil {
			b.WriteString("#" + strconv.FormatFloat(f, 'g', -1, 64))
		} else {
			b.WriteString("#" + x.String())
		}
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			if top && k == "primary" {
				continue
			}
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteByte('{')
		for _, k := range keys {
			b.WriteString(strconv.Quote(k))
			b.WriteByte(':')
			writeDuplicateKey(b, a.Sub(k), x[k], false)
			b.WriteByte(',')
		}
		b.WriteByte('}')
	default:
		// Canonical values hold nothing else; an odd value is its own key.
		raw, _ := json.Marshal(x)
		b.Write(raw)
	}
}
