package patch

import (
	"strings"

	"github.com/caddy-scim/caddy-scim/adapter/schema"
	"github.com/caddy-scim/caddy-scim/adapter/scimerr"
)

// Extensions this server has no schema for are kept verbatim under their URN
// (schema.IsCustomExtensionKey); IdPs send their own and backends map them.
// Entra ID addresses their attributes as
// urn:ietf:params:scim:schemas:extension:<name>:2.0:User:<attribute>, in a
// path or as a key of a path-less value.

// isCustomURN reports whether name is a URN that is neither a schema of the
// resource type nor an attribute qualified by one.
func (a *applier) isCustomURN(name string) bool {
	if urn, _ := a.rt.SplitURN(name); urn != "" {
		return false
	}
	return a.rt.IsCustomExtensionKey(name)
}

// underCustomKey reports whether name is an attribute of a custom extension
// the resource already has.
func (a *applier) underCustomKey(name string) bool {
	lower := strings.ToLower(name)
	for k := range a.res {
		if a.rt.IsCustomExtensionKey(k) && strings.HasPrefix(lower, strings.ToLower(k)+":") {
			return true
		}
	}
	return false
}

// wholeCustom applies an operation to a custom extension as a whole: remove
// drops it; add and replace set each key of the object value, a null
// unassigning it.
func (a *applier) wholeCustom(op, key string, value any) error {
	if op == OpRemove || value == nil {
		if op != OpAdd {
			delete(a.res, key)
		}
		return nil
	}
	obj, ok := value.(map[string]any)
	if !ok {
		return scimerr.BadRequest(scimerr.InvalidValue, "%s is a schema extension; its value must be a JSON object; got %s", clip(key), schema.Describe(value))
	}
	for _, k := range sortedKeys(obj) {
		if err := a.customOp(op, customTarget{key: key, attr: k}, obj[k]); err != nil {
			return err
		}
	}
	return nil
}

// customOp applies an operation to one attribute (or sub-attribute) of a
// custom extension. Values are stored as sent; add to an array appends.
func (a *applier) customOp(op string, ct customTarget, value any) error {
	ext, _ := a.res[ct.key].(map[string]any)
	if op == OpRemove || value == nil {
		if op == OpAdd || ext == nil {
			return nil
		}
		k := mapKey(ext, ct.attr)
		if k == "" {
			return nil
		}
		if ct.sub == "" {
			delete(ext, k)
		} else if m, ok := ext[k].(map[string]any); ok {
			if sk := mapKey(m, ct.sub); sk != "" {
				delete(m, sk)
			}
			if len(m) == 0 {
				delete(ext, k)
			}
		}
		if len(ext) == 0 {
			delete(a.res, ct.key)
		}
		return nil
	}
	if ext == nil {
		ext = map[string]any{}
		a.res[ct.key] = ext
	}
	k := mapKey(ext, ct.attr)
	if k == "" {
		k = ct.attr
	}
	v := schema.CopyValue(value)
	if ct.sub != "" {
		m, _ := ext[k].(map[string]any)
		if m == nil {
			m = map[string]any{}
		}
		sk := mapKey(m, ct.sub)
		if sk == "" {
			sk = ct.sub
		}
		m[sk] = v
		ext[k] = m
		return nil
	}
	if old, ok := ext[k].([]any); ok && op == OpAdd {
		if arr, ok := v.([]any); ok {
			v = append(old, arr...)
		} else {
			v = append(old, v)
		}
	}
	ext[k] = v
	return nil
}

// mapKey returns the key of m equal to name case-insensitively, or "".
func mapKey(m map[string]any, name string) string {
	if _, ok := m[name]; ok {
		return name
	}
	for k := range m {
		if strings.EqualFold(k, name) {
			return k
		}
	}
	return ""
}
