package patch

import (
	"encoding/json"
	"strconv"

	"github.com/caddy-scim/caddy-scim/adapter/schema"
	"github.com/caddy-scim/caddy-scim/adapter/scimerr"
)

// maxEcho is how many bytes of client input one fragment of an error detail
// repeats.
const maxEcho = 64

// clip shortens client input repeated in an error detail.
func clip(s string) string { return scimerr.Clip(s, maxEcho) }

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
	return schema.Describe(v)
}

func itoa(i int) string { return strconv.Itoa(i) }

// describe names the JSON type of v for an error detail.
func describe(v any) string { return schema.Describe(v) }
