package printstore

import (
	"bytes"
	"encoding/json"
	"errors"
	"sort"
	"strings"

	"github.com/caddy-scim/caddy-scim/plugins/sdk"
)

// Policy says what happens to a user's badge cards.
type Policy string

// Card policies.
const (
	// Keep leaves the cards where they are: on the disabled user, or in
	// the retained cards under the former key of a deleted user.
	Keep Policy = "keep"
	// Remove frees the cards, so they can be imported for someone else.
	Remove Policy = "remove"
)

// Setting names.
const (
	SettingCardsOnDeactivate = "cards_on_deactivate"
	SettingCardsOnDelete     = "cards_on_delete"
)

// Settings are a tenant's settings of a print backend.
type Settings struct {
	// CardsOnDeactivate applies when a user is deactivated; default Keep.
	CardsOnDeactivate Policy
	// CardsOnDelete applies when a user is deleted; default Remove.
	CardsOnDelete Policy
}

// DefaultSettings returns the settings used for keys that are not set.
func DefaultSettings() Settings {
	return Settings{CardsOnDeactivate: Keep, CardsOnDelete: Remove}
}

// SettingDocs documents the settings ParseSettings accepts.
func SettingDocs() []sdk.Setting {
	return []sdk.Setting{
		{
			Name: SettingCardsOnDeactivate,
			Description: "What happens to a user's badge cards when the identity provider deactivates the user: " +
				"keep (default) leaves them on the disabled user, remove frees them.",
		},
		{
			Name: SettingCardsOnDelete,
			Description: "What happens to a user's badge cards when the identity provider deletes the user: " +
				"remove (default) frees them, keep moves them to the retained cards under the former user key.",
		},
	}
}

// ParseSettings reads a settings object as the host sends it: keys in
// snake_case, values strings or arrays of strings. An empty or null object
// gives the defaults. Unknown keys and values are Invalid errors that name
// the key and what is accepted.
func ParseSettings(raw json.RawMessage) (Settings, error) {
	s := DefaultSettings()
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return s, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return s, sdk.Invalid("settings must be a JSON object of settings: %v", err)
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		var dst *Policy
		switch k {
		case SettingCardsOnDeactivate:
			dst = &s.CardsOnDeactivate
		case SettingCardsOnDelete:
			dst = &s.CardsOnDelete
		default:
			return s, sdk.Invalid("unknown setting %q; accepted settings: %s, %s", k, SettingCardsOnDeactivate, SettingCardsOnDelete)
		}
		p, err := parsePolicy(k, obj[k])
		if err != nil {
			return s, err
		}
		*dst = p
	}
	return s, nil
}

// parsePolicy reads one policy value: a string, or an array holding one.
func parsePolicy(key string, raw json.RawMessage) (Policy, error) {
	v, err := oneString(raw)
	if err != nil {
		return "", sdk.Invalid("setting %s: %s; accepted values: keep, remove", key, err)
	}
	switch p := Policy(strings.ToLower(strings.TrimSpace(v))); p {
	case Keep, Remove:
		return p, nil
	}
	return "", sdk.Invalid("setting %s: %q is not accepted; accepted values: keep, remove", key, v)
}

// oneString reads a JSON string or an array of exactly one string.
func oneString(raw json.RawMessage) (string, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var arr []string
	if err := json.Unmarshal(raw, &arr); err != nil {
		return "", errors.New("the value must be a string")
	}
	if len(arr) != 1 {
		return "", errors.New("it takes exactly one value")
	}
	return arr[0], nil
}
