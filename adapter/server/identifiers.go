package server

import (
	"fmt"

	"github.com/caddy-scim/caddy-scim/adapter/ident"
	"github.com/caddy-scim/caddy-scim/adapter/schema"
)

// checkIdentifiers applies the identifier rule (package ident) to the names
// a person reads — a user's userName and emails.value, a group's
// displayName — in a resource about to be written: each is stored in NFC,
// and one that is empty, padded with whitespace, or carries a control or
// an invisible format character is refused with 400 invalidValue.
//
// cur is the stored resource for a PUT or PATCH, nil for a create. A value
// that is already stored, compared exactly, is not checked again: a
// resource written before this rule existed stays updatable (an IdP can
// still deactivate it) until the IdP changes that name.
func checkIdentifiers(rt *schema.ResourceType, res, cur map[string]any) error {
	switch rt {
	case schema.User:
		if err := checkIdentifier("userName", res, cur); err != nil {
			return err
		}
		emails, _ := res["emails"].([]any)
		old := map[string]bool{}
		if cur != nil {
			curEmails, _ := cur["emails"].([]any)
			for _, el := range curEmails {
				if m, ok := el.(map[string]any); ok {
					if v, ok := m["value"].(string); ok {
						old[v] = true
					}
				}
			}
		}
		for i, el := range emails {
			m, ok := el.(map[string]any)
			if !ok {
				continue
			}
			v, ok := m["value"].(string)
			if !ok {
				continue
			}
			if c := ident.Canonical(v); c != v {
				v = c
				m["value"] = v
			}
			if old[v] {
				continue
			}
			if err := ident.Check(fmt.Sprintf("emails[%d].value", i), v); err != nil {
				return err
			}
		}
	case schema.Group:
		return checkIdentifier("displayName", res, cur)
	}
	return nil
}

// checkIdentifier checks the top-level string attribute attr of res.
func checkIdentifier(attr string, res, cur map[string]any) error {
	v, ok := res[attr].(string)
	if !ok {
		return nil
	}
	if c := ident.Canonical(v); c != v {
		v = c
		res[attr] = v
	}
	if cur != nil {
		if old, _ := cur[attr].(string); old == v {
			return nil
		}
	}
	return ident.Check(attr, v)
}
