package filter

import (
	"strings"

	"github.com/caddy-scim/caddy-scim/adapter/schema"
	"github.com/caddy-scim/caddy-scim/adapter/scimerr"
)

// Check validates e against the attribute definitions of rt before it is
// evaluated, and returns a 400 invalidFilter *scimerr.Error (RFC 7644
// §3.4.2.2, §3.12) when e
//   - applies gt, ge, lt, le, co, sw or ew to a boolean attribute, or to a
//     complex attribute that has no "value" sub-attribute;
//   - names a sub-attribute that a complex attribute does not define, or a
//     sub-attribute of an attribute that is not complex.
//
// Attributes the schema does not define are not errors: they match nothing,
// or match the data of a custom extension. Paths are resolved as Match
// resolves them.
func Check(e Expr, rt *schema.ResourceType) error {
	c := checker{rt: rt}
	if err := c.check(e); err != nil {
		return err
	}
	return nil
}

// checker checks the names of a filter. Inside a value filter, elem is set
// and names are sub-attributes of parent, which is called label in error
// details; a nil parent is an attribute the schema does not define.
type checker struct {
	rt     *schema.ResourceType
	elem   bool
	parent *schema.Attribute
	label  string
}

func (c checker) check(e Expr) *scimerr.Error {
	switch x := e.(type) {
	case *And:
		if x == nil {
			return nil
		}
		if err := c.check(x.Left); err != nil {
			return err
		}
		return c.check(x.Right)
	case *Or:
		if x == nil {
			return nil
		}
		if err := c.check(x.Left); err != nil {
			return err
		}
		return c.check(x.Right)
	case *Not:
		if x == nil {
			return nil
		}
		return c.check(x.X)
	case *Present:
		if x == nil {
			return nil
		}
		_, _, err := c.path(x.Path)
		return err
	case *Compare:
		if x == nil {
			return nil
		}
		def, label, err := c.path(x.Path)
		if err != nil {
			return err
		}
		return checkOp(x.Op, def, label)
	case *ValuePath:
		if x == nil {
			return nil
		}
		def, label, err := c.path(x.Path)
		if err != nil || def == nil {
			return err
		}
		inner := checker{rt: c.rt, elem: true, parent: def, label: label}
		return inner.check(x.Filter)
	}
	return nil
}

// path resolves the definition p refers to, with a label naming it for error
// details; the definition is nil when the schema does not define it.
func (c checker) path(p Path) (*schema.Attribute, string, *scimerr.Error) {
	var def *schema.Attribute
	var label string
	if c.elem {
		if c.parent == nil {
			return nil, "", nil
		}
		var err *scimerr.Error
		if def, label, err = sub(c.parent, c.label, p.Attr); err != nil {
			return nil, "", err
		}
	} else {
		def = topLevel(c.rt, p.URN, p.Attr)
		if def == nil {
			return nil, "", nil
		}
		label = def.Name
	}
	if p.Filter != nil {
		inner := checker{rt: c.rt, elem: true, parent: def, label: label}
		if err := inner.check(p.Filter); err != nil {
			return nil, "", err
		}
	}
	if p.Sub != "" {
		return sub(def, label, p.Sub)
	}
	return def, label, nil
}

// topLevel returns the definition of a top-level attribute, resolved as
// Match resolves it, or nil.
func topLevel(rt *schema.ResourceType, urn, name string) *schema.Attribute {
	if rt == nil || rt.Schema == nil {
		return nil
	}
	if urn != "" {
		if rt.SchemaFor(urn) == nil {
			return nil
		}
		return rt.Attr(urn, name)
	}
	if a := rt.Attr("", name); a != nil {
		return a
	}
	for _, ext := range rt.Extensions {
		if a := ext.Schema.Attr(name); a != nil {
			return a
		}
	}
	return nil
}

// sub returns the definition of the sub-attribute name of parent, which is
// called label. Like Match, it lets "value" name a value of an attribute
// that is not complex.
func sub(parent *schema.Attribute, label, name string) (*schema.Attribute, string, *scimerr.Error) {
	if parent.Type != schema.Complex {
		if strings.EqualFold(name, "value") {
			return parent, label, nil
		}
		return nil, "", scimerr.BadRequest(scimerr.InvalidFilter,
			"%s is not a complex attribute, so it has no sub-attribute %s", label, quote(name))
	}
	s := parent.Sub(name)
	if s == nil {
		return nil, "", scimerr.BadRequest(scimerr.InvalidFilter,
			"%s has no sub-attribute %s", label, quote(name))
	}
	return s, label + "." + s.Name, nil
}

// checkOp rejects the operators RFC 7644 §3.4.2.2 does not define for the
// type of def: ordering and substring operators on booleans, and on complex
// attributes that have no "value" to compare.
func checkOp(op Op, def *schema.Attribute, label string) *scimerr.Error {
	switch op {
	case Gt, Ge, Lt, Le, Co, Sw, Ew:
	default:
		return nil
	}
	if def == nil {
		return nil
	}
	if def.Type == schema.Complex {
		v := def.Sub("value")
		if v == nil {
			return scimerr.BadRequest(scimerr.InvalidFilter,
				`the %s operator cannot be applied to %s: it is a complex attribute without a "value" sub-attribute`, op, label)
		}
		def, label = v, label+"."+v.Name
	}
	if def.Type == schema.Boolean {
		return scimerr.BadRequest(scimerr.InvalidFilter,
			"the %s operator cannot be applied to %s: it is a boolean attribute, which supports only eq, ne and pr", op, label)
	}
	return nil
}
