// Package schema holds the SCIM attribute definitions of RFC 7643 — the core
// User and Group schemas and the Enterprise User extension — and everything
// derived from them: attribute lookup, value normalization and validation, and
// the /Schemas, /ResourceTypes and /ServiceProviderConfig discovery documents.
//
// Attribute names are case-insensitive everywhere (RFC 7643 §2.1). Values are
// held in the generic form encoding/json produces (map[string]any, []any,
// string, bool, json.Number); Normalize turns what an IdP sent into that form
// with canonical attribute names and checked types.
package schema

import (
	"encoding/json"
	"strings"
)

// Type is an attribute data type (RFC 7643 §2.3).
type Type string

// Attribute data types.
const (
	String    Type = "string"
	Boolean   Type = "boolean"
	Decimal   Type = "decimal"
	Integer   Type = "integer"
	DateTime  Type = "dateTime"
	Binary    Type = "binary"
	Reference Type = "reference"
	Complex   Type = "complex"
)

// Mutability says whether and how an attribute can be modified (RFC 7643 §7).
type Mutability string

// Mutability values.
const (
	ReadOnly  Mutability = "readOnly"
	ReadWrite Mutability = "readWrite"
	Immutable Mutability = "immutable"
	WriteOnly Mutability = "writeOnly"
)

// Returned says when an attribute is returned in a response (RFC 7643 §7).
type Returned string

// Returned values.
const (
	Always  Returned = "always"
	Never   Returned = "never"
	Default Returned = "default"
	Request Returned = "request"
)

// Uniqueness says how a value must be unique (RFC 7643 §7).
type Uniqueness string

// Uniqueness values.
const (
	None   Uniqueness = "none"
	Server Uniqueness = "server"
	Global Uniqueness = "global"
)

// Attribute is one attribute definition with all its characteristics
// (RFC 7643 §2.2 and §7). The zero values of Mutability, Returned and
// Uniqueness mean readWrite, default and none.
type Attribute struct {
	Name            string
	Type            Type
	MultiValued     bool
	Description     string
	Required        bool
	CaseExact       bool
	Mutability      Mutability
	Returned        Returned
	Uniqueness      Uniqueness
	CanonicalValues []string
	ReferenceTypes  []string
	SubAttributes   []*Attribute

	// identifier marks the names a person or an IdP identifies a resource
	// by (userName, a group's displayName, externalId, emails.value):
	// at most MaxIdentifierBytes long.
	identifier bool
	// freeText allows TAB, LF and CR in the value (addresses.formatted).
	freeText bool
	// bareValue accepts a bare string s for {"value": s} and "" for
	// unassigned: Entra ID's manager (fixture entra-default-manager).
	bareValue bool
	// keepDuplicates exempts a multi-valued attribute from
	// CollapseDuplicates: group members are stored as edges by id, which
	// the store compares exactly.
	keepDuplicates bool
}

// Sub returns the sub-attribute called name, case-insensitively, or nil.
func (a *Attribute) Sub(name string) *Attribute {
	if a == nil {
		return nil
	}
	return find(a.SubAttributes, name)
}

// EffectiveMutability returns Mutability, defaulting to readWrite.
func (a *Attribute) EffectiveMutability() Mutability {
	if a.Mutability == "" {
		return ReadWrite
	}
	return a.Mutability
}

// EffectiveReturned returns Returned, defaulting to default.
func (a *Attribute) EffectiveReturned() Returned {
	if a.Returned == "" {
		return Default
	}
	return a.Returned
}

// EffectiveUniqueness returns Uniqueness, defaulting to none.
func (a *Attribute) EffectiveUniqueness() Uniqueness {
	if a.Uniqueness == "" {
		return None
	}
	return a.Uniqueness
}

// attributeJSON is the wire form of an attribute definition (RFC 7643 §7).
type attributeJSON struct {
	Name            string       `json:"name"`
	Type            Type         `json:"type"`
	SubAttributes   []*Attribute `json:"subAttributes,omitempty"`
	MultiValued     bool         `json:"multiValued"`
	Description     string       `json:"description"`
	Required        bool         `json:"required"`
	CanonicalValues []string     `json:"canonicalValues,omitempty"`
	CaseExact       *bool        `json:"caseExact,omitempty"`
	Mutability      Mutability   `json:"mutability"`
	Returned        Returned     `json:"returned"`
	Uniqueness      Uniqueness   `json:"uniqueness,omitempty"`
	ReferenceTypes  []string     `json:"referenceTypes,omitempty"`
}

// MarshalJSON renders the definition as RFC 7643 §7 shows it: every
// characteristic present, caseExact and uniqueness only where they apply.
func (a *Attribute) MarshalJSON() ([]byte, error) {
	j := attributeJSON{
		Name:            a.Name,
		Type:            a.Type,
		SubAttributes:   a.SubAttributes,
		MultiValued:     a.MultiValued,
		Description:     a.Description,
		Required:        a.Required,
		CanonicalValues: a.CanonicalValues,
		Mutability:      a.EffectiveMutability(),
		Returned:        a.EffectiveReturned(),
		ReferenceTypes:  a.ReferenceTypes,
	}
	switch a.Type {
	case String, Reference, Binary:
		ce := a.CaseExact
		j.CaseExact = &ce
	}
	if a.Type != Complex && a.Type != Boolean {
		j.Uniqueness = a.EffectiveUniqueness()
	}
	return json.Marshal(j)
}

// Schema is a named set of attribute definitions (RFC 7643 §7).
type Schema struct {
	ID          string
	Name        string
	Description string
	Attributes  []*Attribute
}

// Attr returns the top-level attribute called name, case-insensitively, or
// nil.
func (s *Schema) Attr(name string) *Attribute {
	if s == nil {
		return nil
	}
	return find(s.Attributes, name)
}

func find(attrs []*Attribute, name string) *Attribute {
	for _, a := range attrs {
		if strings.EqualFold(a.Name, name) {
			return a
		}
	}
	return nil
}

// Extension is a schema extension of a resource type (RFC 7643 §6).
type Extension struct {
	Schema   *Schema
	Required bool
}

// ResourceType binds a core schema and its extensions to an endpoint
// (RFC 7643 §6).
type ResourceType struct {
	ID          string
	Name        string
	Endpoint    string
	Description string
	Schema      *Schema
	Extensions  []Extension
}

// Extension returns the extension schema with the given URN,
// case-insensitively, or nil.
func (rt *ResourceType) Extension(urn string) *Schema {
	for _, e := range rt.Extensions {
		if strings.EqualFold(e.Schema.ID, urn) {
			return e.Schema
		}
	}
	return nil
}

// SchemaFor returns the core schema or an extension by URN, or nil.
func (rt *ResourceType) SchemaFor(urn string) *Schema {
	if strings.EqualFold(rt.Schema.ID, urn) {
		return rt.Schema
	}
	return rt.Extension(urn)
}

// Attr returns the definition of a top-level attribute. urn selects the
// schema; an empty urn means the core schema, whose lookup also finds the
// common attributes id, externalId and meta (RFC 7643 §3.1).
func (rt *ResourceType) Attr(urn, name string) *Attribute {
	if urn == "" || strings.EqualFold(urn, rt.Schema.ID) {
		if a := find(commonAttributes, name); a != nil {
			return a
		}
		return rt.Schema.Attr(name)
	}
	return rt.Extension(urn).Attr(name)
}

// SplitURN splits a fully qualified attribute name such as
// "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber"
// into the schema URN and the rest ("employeeNumber"), when the prefix is the
// core schema or one of the resource type's extensions. Names without a known
// URN prefix are returned with an empty urn.
func (rt *ResourceType) SplitURN(name string) (urn, rest string) {
	for _, s := range rt.schemas() {
		if len(name) > len(s.ID)+1 && strings.EqualFold(name[:len(s.ID)], s.ID) && name[len(s.ID)] == ':' {
			return s.ID, name[len(s.ID)+1:]
		}
	}
	return "", name
}

func (rt *ResourceType) schemas() []*Schema {
	out := []*Schema{rt.Schema}
	for _, e := range rt.Extensions {
		out = append(out, e.Schema)
	}
	return out
}

// IsCustomExtensionKey reports whether a top-level key of a resource is a
// schema URN this server does not define. Such extensions are kept verbatim:
// IdPs send their own, and backends map them. A URN-qualified attribute of
// a defined schema ("urn:…:enterprise:2.0:User:department") is not one.
func (rt *ResourceType) IsCustomExtensionKey(key string) bool {
	if len(key) <= 4 || !strings.EqualFold(key[:4], "urn:") || rt.SchemaFor(key) != nil {
		return false
	}
	urn, _ := rt.SplitURN(key)
	return urn == ""
}
