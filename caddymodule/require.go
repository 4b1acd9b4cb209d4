package caddymodule

import (
	"strings"

	"github.com/caddy-scim/caddy-scim/adapter/change"
	"github.com/caddy-scim/caddy-scim/adapter/scimerr"
)

// missingRequired returns the first of a backend's required user
// attributes that res has no value for, or "". A path names a value when
// the flattened resource has a non-empty value at that path or below it:
// "emails" is satisfied by any email, "name.familyName" only by a family
// name.
func missingRequired(required []string, res map[string]any) string {
	if len(required) == 0 {
		return ""
	}
	flat := change.Flatten(res)
	for _, path := range required {
		found := false
		for k, v := range flat {
			if v == "" {
				continue
			}
			if strings.EqualFold(k, path) || hasPathPrefix(k, path) {
				found = true
				break
			}
		}
		if !found {
			return path
		}
	}
	return ""
}

func hasPathPrefix(k, path string) bool {
	if len(k) <= len(path) || !strings.EqualFold(k[:len(path)], path) {
		return false
	}
	c := k[len(path)]
	return c == '.' || c == '[' || c == ':'
}

// requiredError is the 400 an IdP shows when a backend needs an attribute
// the user lacks.
func requiredError(backend, path string) error {
	return scimerr.BadRequest(scimerr.InvalidValue,
		"the %s backend of this tenant requires %s for every user; add it in the IdP's attribute mapping", backend, path)
}
