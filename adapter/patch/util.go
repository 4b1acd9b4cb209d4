package patch

import (
	"encoding/json"

	"strconv"
	"unicode/utf8"
)

// deepCopyMap copies a resource in generic JSON form so that Apply can edit
// it freely and drop it on error.
func deepCopyMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = deepCopy(v)
	}
	return out
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		return deepCopyMap(x)
	case []any:
		out := make([]any, len(x))
		for i, el := range x {
			out[i] = deepCopy(el)
		}
		return out
	}
	return v
}

// describe names the JSON type of v for an error detail.
func describe(v any) string {
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

// maxEcho is how many bytes of client input one fragment of an error detail
// repeats.
const maxEcho = 64

// clip shortens s to at most maxEcho bytes on a rune boundary.
func clip(s string) string {
	if len(s) <= maxEcho {
		return s
	}
	n := maxEcho
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// quoteAny renders a client value for an error detail.
func quoteAny(v any) string {
	switch x := v.(type) {
	case string:
		return strconv.Quote(clip(x))
	case json.Number:
		return clip(x.String())
	case bool:
		return strconv.FormatBool(x)
	}
	return describe(v)
}

func itoa(i int) string { return strconv.Itoa(i) }
