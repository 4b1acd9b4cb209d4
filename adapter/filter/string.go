package filter

import (
	"strings"
	"unicode/utf8"
)

// The String methods render the RFC 7644 §3.4.2.2 grammar with single
// spaces, lowercase keywords and operators, and parentheses only where the
// precedence of "not" over "and" over "or", or the left grouping of "and"
// and "or", requires them. Attribute paths keep their spelling.

// String renders the path as `urn:attr[filter].sub`, leaving out the parts
// that are empty.
func (p Path) String() string {
	var b strings.Builder
	writePath(&b, p)
	return b.String()
}

// String renders the literal as JSON: a quoted and escaped string, the
// number as written, true, false or null.
func (l Literal) String() string {
	var b strings.Builder
	writeLiteral(&b, l)
	return b.String()
}

// String renders `path op value`.
func (c *Compare) String() string { return render(c) }

// String renders `path pr`.
func (x *Present) String() string { return render(x) }

// String renders `left and right`.
func (x *And) String() string { return render(x) }

// String renders `left or right`.
func (x *Or) String() string { return render(x) }

// String renders `not (x)`.
func (x *Not) String() string { return render(x) }

// String renders `attr[filter]`.
func (x *ValuePath) String() string { return render(x) }

func render(e Expr) string {
	var b strings.Builder
	writeExpr(&b, e)
	return b.String()
}

// writeExpr renders e. A nil node renders as nothing.
func writeExpr(b *strings.Builder, e Expr) {
	switch x := e.(type) {
	case *Compare:
		if x == nil {
			return
		}
		writePath(b, x.Path)
		b.WriteByte(' ')
		b.WriteString(string(x.Op))
		b.WriteByte(' ')
		writeLiteral(b, x.Value)
	case *Present:
		if x == nil {
			return
		}
		writePath(b, x.Path)
		b.WriteString(" pr")
	case *And:
		if x == nil {
			return
		}
		writeOperand(b, x.Left, isOr(x.Left))
		b.WriteString(" and ")
		writeOperand(b, x.Right, isOr(x.Right) || isAnd(x.Right))
	case *Or:
		if x == nil {
			return
		}
		writeExpr(b, x.Left)
		b.WriteString(" or ")
		writeOperand(b, x.Right, isOr(x.Right))
	case *Not:
		if x == nil {
			return
		}
		b.WriteString("not (")
		writeExpr(b, x.X)
		b.WriteByte(')')
	case *ValuePath:
		if x == nil {
			return
		}
		p := x.Path
		p.Filter = x.Filter
		writePath(b, p)
	}
}

func writeOperand(b *strings.Builder, e Expr, paren bool) {
	if paren {
		b.WriteByte('(')
	}
	writeExpr(b, e)
	if paren {
		b.WriteByte(')')
	}
}

func isOr(e Expr) bool {
	_, ok := e.(*Or)
	return ok
}

func isAnd(e Expr) bool {
	_, ok := e.(*And)
	return ok
}

func writePath(b *strings.Builder, p Path) {
	if p.URN != "" {
		b.WriteString(p.URN)
		b.WriteByte(':')
	}
	b.WriteString(p.Attr)
	if p.Filter != nil {
		b.WriteByte('[')
		writeExpr(b, p.Filter)
		b.WriteByte(']')
	}
	if p.Sub != "" {
		b.WriteByte('.')
		b.WriteString(p.Sub)
	}
}

func writeLiteral(b *strings.Builder, l Literal) {
	switch l.Kind {
	case StringLit:
		writeString(b, l.Str)
	case NumberLit:
		b.WriteString(l.Str)
	case BoolLit:
		if l.Bool {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	default:
		b.WriteString("null")
	}
}

// writeString renders s as a JSON string (RFC 8259 §7): quotation mark,
// reverse solidus and control characters escaped, everything else as is.
// Bytes that are not UTF-8 render as U+FFFD.
func writeString(b *strings.Builder, s string) {
	const hex = "0123456789abcdef"
	b.WriteByte('"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 {
				b.WriteString(`\ufffd`)
			} else {
				b.WriteString(s[i : i+n])
			}
			i += n
			continue
		}
		switch c {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if c < ' ' {
				b.WriteString(`\u00`)
				b.WriteByte(hex[c>>4])
				b.WriteByte(hex[c&0xf])
			} else {
				b.WriteByte(c)
			}
		}
		i++
	}
	b.WriteByte('"')
}
