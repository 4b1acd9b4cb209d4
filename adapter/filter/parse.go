package filter

import (
	"strings"
	"unicode/utf8"
)

// MaxLength is the longest filter or path, in bytes, that the parsers
// accept. Longer input is rejected before it is read.
const MaxLength = 8 << 10

// MaxDepth is how deeply parentheses and brackets may nest.
const MaxDepth = 64

// Parse parses a filter expression (RFC 7644 §3.4.2.2). A filter is a
// comparison (`path op value`), a presence test (`path pr`), a value path
// (`attr[filter]`), two filters joined by "and" or "or", or a filter in
// parentheses, which "not" may precede.
//
// "not" binds tighter than "and", which binds tighter than "or"; "and" and
// "or" group to the left. Operators and keywords are case-insensitive.
// Besides the RFC grammar, Parse accepts a value path followed by a
// sub-attribute as the operand of a comparison or of "pr"
// (`emails[type eq "work"].value eq "x"`), and an unquoted comparison value
// that is not a number, true, false or null, which it reads as a string
// (`externalId eq jyoung`); Microsoft Entra ID sends both.
//
// Errors are *SyntaxError values of kind FilterSyntax.
func Parse(s string) (Expr, error) {
	p, err := newParser(s, FilterSyntax)
	if err != nil {
		return nil, err
	}
	if p.tok.kind == tokEOF {
		return nil, p.errorf(p.tok.pos, "the filter is empty")
	}
	e, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tokEOF {
		return nil, p.errorf(p.tok.pos, `expected "and", "or" or the end of the filter, found %s`, describe(p.tok))
	}
	return e, nil
}

// ParsePath parses the "path" of a PATCH operation (RFC 7644 §3.5.2): an
// attribute path, or a value path optionally followed by a sub-attribute,
// for example `name.familyName`, `members[value eq "2819c223"]`,
// `addresses[type eq "work"].locality` or
// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber`.
// The filter in brackets, if any, is in Path.Filter and the sub-attribute
// after it in Path.Sub.
//
// Errors are *SyntaxError values of kind PathSyntax.
func ParsePath(s string) (Path, error) {
	return parsePath(s, true)
}

// ParseAttrPath parses an attribute path without a value filter, as used by
// the "attributes", "excludedAttributes" and "sortBy" parameters
// (RFC 7644 §3.4.2.3, §3.4.2.5): an optional schema URN and colon, an
// attribute name, and an optional dot and sub-attribute name.
//
// Errors are *SyntaxError values of kind PathSyntax.
func ParseAttrPath(s string) (Path, error) {
	return parsePath(s, false)
}

func parsePath(s string, valueFilter bool) (Path, error) {
	p, err := newParser(s, PathSyntax)
	if err != nil {
		return Path{}, err
	}
	t := p.tok
	switch t.kind {
	case tokEOF:
		return Path{}, p.errorf(t.pos, "the path is empty")
	case tokWord:
	default:
		return Path{}, p.errorf(t.pos, "expected an attribute path, found %s", describe(t))
	}
	path, err := p.pathWord(t)
	if err != nil {
		return Path{}, err
	}
	if err := p.next(); err != nil {
		return Path{}, err
	}
	if p.tok.kind == tokLBrack {
		if !valueFilter {
			return Path{}, p.errorf(p.tok.pos, "a value filter is not allowed here")
		}
		if path, err = p.parseValueFilter(path); err != nil {
			return Path{}, err
		}
	}
	if p.tok.kind != tokEOF {
		return Path{}, p.errorf(p.tok.pos, "unexpected %s after the path", describe(p.tok))
	}
	return path, nil
}

// parser is a recursive-descent parser over the tokens of src, with one
// token of lookahead in tok.
type parser struct {
	src  string
	kind ErrorKind
	tok  token
	// depth is the number of open parentheses and brackets.
	depth int
	// inBracket reports whether the parser is inside a value filter, where
	// another value filter may not appear (RFC 7644 §3.4.2.2).
	inBracket bool
}

// newParser checks the bounds and encoding of s and reads its first token.
func newParser(s string, kind ErrorKind) (*parser, error) {
	p := &parser{src: s, kind: kind}
	if len(s) > MaxLength {
		return nil, p.errorf(MaxLength, "the input is longer than %d bytes", MaxLength)
	}
	if !utf8.ValidString(s) {
		i := 0
		for i < len(s) {
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 {
				break
			}
			i += n
		}
		return nil, p.errorf(i, "the input is not valid UTF-8")
	}
	t, err := p.scan(0)
	if err != nil {
		return nil, err
	}
	p.tok = t
	return p, nil
}

// next advances to the next token.
func (p *parser) next() error {
	t, err := p.scan(p.tok.end)
	if err != nil {
		return err
	}
	p.tok = t
	return nil
}

// isKeyword reports whether t is the word kw, case-insensitively.
func isKeyword(t token, kw string) bool {
	return t.kind == tokWord && strings.EqualFold(t.text, kw)
}

// parseOr parses `and-expression *("or" and-expression)`.
func (p *parser) parseOr() (Expr, error) {
	left, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	for isKeyword(p.tok, "or") {
		if err := p.next(); err != nil {
			return nil, err
		}
		right, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		left = &Or{Left: left, Right: right}
	}
	return left, nil
}

// parseAnd parses `unary *("and" unary)`.
func (p *parser) parseAnd() (Expr, error) {
	left, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	for isKeyword(p.tok, "and") {
		if err := p.next(); err != nil {
			return nil, err
		}
		right, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		left = &And{Left: left, Right: right}
	}
	return left, nil
}

// parseUnary parses `"not" "(" FILTER ")"`, `"(" FILTER ")"` or a term.
func (p *parser) parseUnary() (Expr, error) {
	if p.tok.kind == tokLParen {
		return p.parseGroup()
	}
	if isKeyword(p.tok, "not") {
		after, err := p.scan(p.tok.end)
		if err != nil {
			return nil, err
		}
		switch {
		case after.kind == tokLParen:
			p.tok = after
			x, err := p.parseGroup()
			if err != nil {
				return nil, err
			}
			return &Not{X: x}, nil
		case after.kind == tokLBrack && !after.space, after.kind == tokWord && isOperator(after.text):
			// An attribute that happens to be called "not".
		default:
			return nil, p.errorf(after.pos, `expected "(" after "not", found %s`, describe(after))
		}
	}
	return p.parseTerm()
}

// parseGroup parses `"(" FILTER ")"`; the current token is the "(".
func (p *parser) parseGroup() (Expr, error) {
	open := p.tok
	if err := p.enter(open); err != nil {
		return nil, err
	}
	if err := p.next(); err != nil {
		return nil, err
	}
	x, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tokRParen {
		return nil, p.errorf(p.tok.pos, `expected "and", "or" or ")" to close the "(" at position %d, found %s`, open.pos, describe(p.tok))
	}
	p.depth--
	return x, p.next()
}

// enter records one more level of nesting at the opening token open.
func (p *parser) enter(open token) error {
	if p.depth >= MaxDepth {
		return p.errorf(open.pos, "parentheses and brackets nest deeper than %d levels", MaxDepth)
	}
	p.depth++
	return nil
}

// isOperator reports whether w is a comparison operator or "pr".
func isOperator(w string) bool {
	_, ok := parseOp(w)
	return ok || strings.EqualFold(w, "pr")
}

// parseOp returns the comparison operator w names, case-insensitively
// (RFC 7644 §3.4.2.2, Table 3).
func parseOp(w string) (Op, bool) {
	if len(w) != 2 {
		return "", false
	}
	for _, op := range [...]Op{Eq, Ne, Co, Sw, Ew, Gt, Ge, Lt, Le} {
		if strings.EqualFold(w, string(op)) {
			return op, true
		}
	}
	return "", false
}

// parseTerm parses `attrPath "pr"`, `attrPath compareOp compValue` or
// `valuePath`, where the attribute path of a comparison or of "pr" may carry
// a value filter and a sub-attribute (the form Entra ID sends).
func (p *parser) parseTerm() (Expr, error) {
	t := p.tok
	if t.kind != tokWord {
		return nil, p.errorf(t.pos, "expected an attribute path, found %s", describe(t))
	}
	path, err := p.pathWord(t)
	if err != nil {
		return nil, err
	}
	if err := p.next(); err != nil {
		return nil, err
	}
	if p.tok.kind == tokLBrack {
		if path, err = p.parseValueFilter(path); err != nil {
			return nil, err
		}
	}
	if p.tok.kind == tokWord {
		if isKeyword(p.tok, "pr") {
			return &Present{Path: path}, p.next()
		}
		if op, ok := parseOp(p.tok.text); ok {
			opTok := p.tok
			if err := p.next(); err != nil {
				return nil, err
			}
			v, err := p.parseValue(opTok)
			if err != nil {
				return nil, err
			}
			return &Compare{Path: path, Op: op, Value: v}, nil
		}
	}
	if path.Filter != nil && path.Sub == "" {
		f := path.Filter
		path.Filter = nil
		return &ValuePath{Path: path, Filter: f}, nil
	}
	return nil, p.errorf(p.tok.pos, `expected a comparison operator or "pr" after %s, found %s`, quote(t.text), describe(p.tok))
}

// parseValue parses compValue (RFC 7644 §3.4.2.2): a JSON string, number,
// true, false or null, the keywords in any case. Any other word is an
// unquoted string.
func (p *parser) parseValue(op token) (Literal, error) {
	t := p.tok
	var lit Literal
	switch t.kind {
	case tokString:
		lit = Literal{Kind: StringLit, Str: t.text}
	case tokWord:
		switch {
		case strings.EqualFold(t.text, "true"):
			lit = Literal{Kind: BoolLit, Bool: true}
		case strings.EqualFold(t.text, "false"):
			lit = Literal{Kind: BoolLit}
		case strings.EqualFold(t.text, "null"):
			lit = Literal{Kind: NullLit}
		case isNumber(t.text):
			lit = Literal{Kind: NumberLit, Str: t.text}
		default:
			// Entra ID's documented `externalId eq jyoung`.
			lit = Literal{Kind: StringLit, Str: t.text}
		}
	default:
		return Literal{}, p.errorf(t.pos, "expected a value after %s, found %s", quote(op.text), describe(t))
	}
	return lit, p.next()
}

// parseValueFilter parses `"[" valFilter "]" [subAttr]` after the attribute
// path path; the current token is the "[".
func (p *parser) parseValueFilter(path Path) (Path, error) {
	open := p.tok
	switch {
	case open.space:
		return path, p.errorf(open.pos, `a value filter must follow the attribute name without a space`)
	case p.inBracket:
		return path, p.errorf(open.pos, "value filters cannot be nested")
	case path.Sub != "":
		return path, p.errorf(open.pos, "a value filter must follow an attribute name, not the sub-attribute %s", quote(path.Sub))
	}
	if err := p.enter(open); err != nil {
		return path, err
	}
	if err := p.next(); err != nil {
		return path, err
	}
	if p.tok.kind == tokRBrack {
		return path, p.errorf(p.tok.pos, "the value filter is empty")
	}
	p.inBracket = true
	f, err := p.parseOr()
	if err != nil {
		return path, err
	}
	p.inBracket = false
	if p.tok.kind != tokRBrack {
		return path, p.errorf(p.tok.pos, `expected "and", "or" or "]" to close the "[" at position %d, found %s`, open.pos, describe(p.tok))
	}
	p.depth--
	path.Filter = f
	if err := p.next(); err != nil {
		return path, err
	}
	if t := p.tok; t.kind == tokWord && !t.space && strings.HasPrefix(t.text, ".") {
		if err := p.name(t.text[1:], t.pos+1, "sub-attribute"); err != nil {
			return path, err
		}
		path.Sub = t.text[1:]
		return path, p.next()
	}
	return path, nil
}

// pathWord splits the word t into an attribute path (RFC 7644 §3.4.2.2):
// an optional schema URN and colon, an attribute name, and an optional dot
// and sub-attribute name. Attribute names contain no colon, so the URN is
// everything before the last colon; URNs such as
// urn:ietf:params:scim:schemas:extension:enterprise:2.0:User contain dots and
// colons of their own.
func (p *parser) pathWord(t token) (Path, error) {
	var path Path
	rest, pos := t.text, t.pos
	if i := strings.LastIndexByte(rest, ':'); i >= 0 {
		if i == 0 {
			return path, p.errorf(pos, `expected a schema URN before ":"`)
		}
		path.URN = rest[:i]
		rest, pos = rest[i+1:], pos+i+1
		if rest == "" {
			return path, p.errorf(pos, "expected an attribute name after the schema URN")
		}
	}
	name, sub, dotted := strings.Cut(rest, ".")
	if err := p.name(name, pos, "attribute"); err != nil {
		return path, err
	}
	if dotted {
		if err := p.name(sub, pos+len(name)+1, "sub-attribute"); err != nil {
			return path, err
		}
	}
	path.Attr, path.Sub = name, sub
	return path, nil
}

// name checks that s, found at byte offset pos, is an attribute name: a
// letter followed by letters, digits, hyphens and underscores (RFC 7644
// §3.4.2.2), optionally preceded by "$" as in "$ref" (RFC 7643 §2.3.7).
func (p *parser) name(s string, pos int, what string) error {
	if s == "" {
		return p.errorf(pos, "expected a %s name", what)
	}
	i := 0
	if s[0] == '$' {
		i = 1
	}
	if i >= len(s) || !isAlpha(s[i]) {
		return p.errorf(pos, "invalid %s name %s: it must start with a letter", what, quote(s))
	}
	for j := i + 1; j < len(s); j++ {
		c := s[j]
		if isAlpha(c) || c >= '0' && c <= '9' || c == '-' || c == '_' {
			continue
		}
		if c == '.' {
			return p.errorf(pos+j, "an attribute path has at most one sub-attribute")
		}
		r, _ := utf8.DecodeRuneInString(s[j:])
		return p.errorf(pos+j, "invalid character %q in %s name %s", r, what, quote(s))
	}
	return nil
}

func isAlpha(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}
