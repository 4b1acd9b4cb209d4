package filter

// Expr is a node of a filter expression tree. It is sealed: the only
// implementations are the node types of this package. String renders the node
// in the RFC 7644 §3.4.2.2 grammar such that Parse(e.String()) yields a tree
// equal to e.
type Expr interface {
	String() string
	expr()
}

// Op is a comparison operator (RFC 7644 §3.4.2.2, Table 3). Parsing is
// case-insensitive; Op values are lowercase.
type Op string

// Comparison operators.
const (
	Eq Op = "eq"
	Ne Op = "ne"
	Co Op = "co"
	Sw Op = "sw"
	Ew Op = "ew"
	Gt Op = "gt"
	Ge Op = "ge"
	Lt Op = "lt"
	Le Op = "le"
)

// Path is an attribute path: an optional schema URN, an attribute name, an
// optional value filter in brackets, and an optional sub-attribute:
//
//	urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value
//	emails[type eq "work"].value
//
// In a filter, a Path with a Filter is what Entra ID sends as
// `emails[type eq "work"].value eq "x"`; in a PATCH path it is the RFC's
// valuePath with an optional subAttr.
type Path struct {
	// URN is the schema URN prefix as written, without the trailing colon,
	// or empty.
	URN string
	// Attr is the attribute name as written.
	Attr string
	// Filter is the value filter inside brackets, or nil.
	Filter Expr
	// Sub is the sub-attribute name, or empty.
	Sub string
}

// LiteralKind is the kind of a comparison value.
type LiteralKind int

// Literal kinds (RFC 7644 §3.4.2.2 compValue).
const (
	StringLit LiteralKind = iota
	NumberLit
	BoolLit
	NullLit
)

// Literal is a comparison value: a JSON string, number, boolean or null.
// dateTime values are string literals, compared as instants when the
// attribute's type is dateTime.
type Literal struct {
	Kind LiteralKind
	// Str is the unescaped string for StringLit and the literal text for
	// NumberLit (e.g. "42", "1.5e3").
	Str string
	// Bool is the value for BoolLit.
	Bool bool
}

// Compare is `path op value`.
type Compare struct {
	Path  Path
	Op    Op
	Value Literal
}

// Present is `path pr`.
type Present struct {
	Path Path
}

// And is `left and right`.
type And struct {
	Left, Right Expr
}

// Or is `left or right`.
type Or struct {
	Left, Right Expr
}

// Not is `not (x)`.
type Not struct {
	X Expr
}

// ValuePath is `attr[filter]` used as a filter term: true when some value of
// the multi-valued attribute matches Filter. Path.Filter and Path.Sub are
// empty.
type ValuePath struct {
	Path   Path
	Filter Expr
}

func (*Compare) expr()   {}
func (*Present) expr()   {}
func (*And) expr()       {}
func (*Or) expr()        {}
func (*Not) expr()       {}
func (*ValuePath) expr() {}
