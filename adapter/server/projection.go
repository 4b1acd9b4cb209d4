package server

import (
	"strings"

	"github.com/caddy-scim/caddy-scim/adapter/filter"
	"github.com/caddy-scim/caddy-scim/adapter/schema"
	"github.com/caddy-scim/caddy-scim/adapter/scimerr"
)

// attrRef is one attribute named in "attributes" or "excludedAttributes",
// resolved to the names the stored resource uses: urn is "" for the core
// schema, or the extension's key; attr is "" for a whole extension.
type attrRef struct {
	urn, attr, sub string
	// custom marks a URN of an extension this server does not define; urn
	// holds the whole name until customRef resolves it against a resource.
	custom bool
}

// customRef resolves a custom-extension name against one resource: the
// whole extension when res has that key, else an attribute (and
// sub-attribute) of the extension named by everything before the last
// colon.
func customRef(res map[string]any, r attrRef) attrRef {
	if _, ok := keyFold(res, r.urn); ok {
		return attrRef{urn: r.urn}
	}
	i := strings.LastIndexByte(r.urn, ':')
	out := attrRef{urn: r.urn[:i], attr: r.urn[i+1:]}
	if j := strings.IndexByte(out.attr, '.'); j >= 0 {
		out.attr, out.sub = out.attr[:j], out.attr[j+1:]
	}
	return out
}

// projection selects the attributes of a response (RFC 7644 §3.4.2.5,
// §3.9). With include set, only those attributes plus the ones returned
// "always" (id, schemas) are returned; otherwise everything but exclude.
type projection struct {
	include []attrRef
	exclude []attrRef
}

// parseProjection resolves attribute lists against rt. Unknown attributes
// are not an error: they select nothing (RFC 7644 §3.4.2.5 leaves them to
// the server, and IdPs probe with attributes we may not define). Without
// either list it returns nil, the projection that selects everything.
func parseProjection(rt *schema.ResourceType, attributes, excluded []string) (*projection, error) {
	if len(attributes) == 0 && len(excluded) == 0 {
		return nil, nil
	}
	p := &projection{}
	for _, list := range []struct {
		names []string
		dst   *[]attrRef
	}{{attributes, &p.include}, {excluded, &p.exclude}} {
		for _, name := range list.names {
			name = strings.TrimSpace(name)
			if name == "" {
				continue
			}
			ref, err := resolveRef(rt, name)
			if err != nil {
				return nil, err
			}
			*list.dst = append(*list.dst, ref)
		}
	}
	if len(p.include) > 0 {
		p.exclude = nil // RFC 7644 §3.4.2.5: attributes wins when both are given
	}
	return p, nil
}

func resolveRef(rt *schema.ResourceType, name string) (attrRef, error) {
	if s := rt.SchemaFor(name); s != nil {
		if s == rt.Schema {
			return attrRef{}, nil // the core schema as a whole: everything
		}
		return attrRef{urn: s.ID}, nil
	}
	if urn, _ := rt.SplitURN(name); urn == "" && rt.IsCustomExtensionKey(name) {
		// A custom extension, or an attribute of one: which, depends on
		// the keys of each resource (see customRef).
		return attrRef{urn: name, custom: true}, nil
	}
	p, err := filter.ParseAttrPath(name)
	if err != nil {
		if e, ok := scimerr.As(err); ok {
			e.ScimType = scimerr.InvalidValue
			return attrRef{}, e
		}
		return attrRef{}, err
	}
	ref := attrRef{attr: p.Attr, sub: p.Sub}
	if p.URN != "" {
		if s := rt.SchemaFor(p.URN); s != nil {
			if s != rt.Schema {
				ref.urn = s.ID
			}
		} else {
			ref.urn = p.URN
		}
	}
	if a := rt.Attr(ref.urn, ref.attr); a != nil {
		ref.attr = a.Name
		if sa := a.Sub(ref.sub); sa != nil {
			ref.sub = sa.Name
		}
	}
	return ref, nil
}

// wants reports whether the projection returns the top-level core attribute
// attr, so that derived attributes (members, groups) are only read when
// they will be returned.
func (p *projection) wants(attr string) bool {
	if p == nil {
		return true
	}
	if len(p.include) > 0 {
		for _, r := range p.include {
			if r.urn == "" && (r.attr == "" || strings.EqualFold(r.attr, attr)) {
				return true
			}
		}
		return false
	}
	for _, r := range p.exclude {
		if r.urn == "" && r.sub == "" && strings.EqualFold(r.attr, attr) {
			return false
		}
	}
	return true
}

// empty reports whether the projection selects every attribute, as a
// request without attributes and excludedAttributes does.
func (p *projection) empty() bool {
	return p == nil || (len(p.include) == 0 && len(p.exclude) == 0)
}

// apply returns the projected copy of res.
func (p *projection) apply(res map[string]any) map[string]any {
	if p.empty() {
		return res
	}
	if len(p.include) > 0 {
		out := map[string]any{}
		for _, k := range []string{"id", "schemas"} {
			if v, ok := res[k]; ok {
				out[k] = v
			}
		}
		for _, r := range p.include {
			includeRef(out, res, r)
		}
		return out
	}
	out := make(map[string]any, len(res))
	for k, v := range res {
		out[k] = v
	}
	for _, r := range p.exclude {
		excludeRef(out, r)
	}
	return out
}

func includeRef(out, res map[string]any, r attrRef) {
	if r.custom {
		r = customRef(res, r)
	}
	src, dst := res, out
	if r.urn != "" {
		ext, ok := lookupFold(res, r.urn)
		if !ok {
			return
		}
		if r.attr == "" {
			out[r.urn] = ext
			return
		}
		m, ok := ext.(map[string]any)
		if !ok {
			return
		}
		src = m
		d, _ := out[r.urn].(map[string]any)
		if d == nil {
			d = map[string]any{}
			out[r.urn] = d
		}
		dst = d
	} else if r.attr == "" {
		for k, v := range res {
			if !strings.HasPrefix(strings.ToLower(k), "urn:") {
				dst[k] = v
			}
		}
		return
	}
	v, ok := lookupFold(src, r.attr)
	if !ok {
		return
	}
	if r.sub == "" {
		dst[r.attr] = v
		return
	}
	switch x := v.(type) {
	case map[string]any:
		if sv, ok := lookupFold(x, r.sub); ok {
			d, _ := dst[r.attr].(map[string]any)
			if d == nil {
				d = map[string]any{}
				dst[r.attr] = d
			}
			d[r.sub] = sv
		}
	case []any:
		// A sub-attribute of a multi-valued attribute: that sub-attribute
		// of every value, merged with any other sub-attribute requested.
		prev, _ := dst[r.attr].([]any)
		arr := make([]any, len(x))
		for i, el := range x {
			m := map[string]any{}
			if i < len(prev) {
				if pm, ok := prev[i].(map[string]any); ok {
					m = pm
				}
			}
			if em, ok := el.(map[string]any); ok {
				if sv, ok := lookupFold(em, r.sub); ok {
					m[r.sub] = sv
				}
			}
			arr[i] = m
		}
		dst[r.attr] = arr
	}
}

func excludeRef(out map[string]any, r attrRef) {
	if r.custom {
		r = customRef(out, r)
	}
	dst := out
	if r.urn != "" {
		key, ok := keyFold(out, r.urn)
		if !ok {
			return
		}
		if r.attr == "" {
			delete(out, key)
			return
		}
		ext, ok := out[key].(map[string]any)
		if !ok {
			return
		}
		dst = copyShallow(ext)
		out[key] = dst
	} else if r.attr == "" || strings.EqualFold(r.attr, "id") || strings.EqualFold(r.attr, "schemas") {
		return // returned "always" (RFC 7643 §7)
	}
	key, ok := keyFold(dst, r.attr)
	if !ok {
		return
	}
	if r.sub == "" {
		delete(dst, key)
		return
	}
	switch x := dst[key].(type) {
	case map[string]any:
		m := copyShallow(x)
		if sk, ok := keyFold(m, r.sub); ok {
			delete(m, sk)
		}
		dst[key] = m
	case []any:
		arr := make([]any, len(x))
		for i, el := range x {
			arr[i] = el
			if em, ok := el.(map[string]any); ok {
				m := copyShallow(em)
				if sk, ok := keyFold(m, r.sub); ok {
					delete(m, sk)
				}
				arr[i] = m
			}
		}
		dst[key] = arr
	}
}

func copyShallow(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func keyFold(m map[string]any, name string) (string, bool) {
	if _, ok := m[name]; ok {
		return name, true
	}
	for k := range m {
		if strings.EqualFold(k, name) {
			return k, true
		}
	}
	return "", false
}

func lookupFold(m map[string]any, name string) (any, bool) {
	k, ok := keyFold(m, name)
	if !ok {
		return nil, false
	}
	return m[k], true
}
