package filter

import (
	"errors"
	"io/fs"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/caddy-scim/caddy-scim/adapter/scimerr"
)

const enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

func attr(name string) Path         { return Path{Attr: name} }
func subAttr(name, sub string) Path { return Path{Attr: name, Sub: sub} }
func str(s string) Literal          { return Literal{Kind: StringLit, Str: s} }
func num(s string) Literal          { return Literal{Kind: NumberLit, Str: s} }
func boolean(b bool) Literal        { return Literal{Kind: BoolLit, Bool: b} }
func null() Literal                 { return Literal{Kind: NullLit} }
func pr(p Path) *Present            { return &Present{Path: p} }
func and(l, r Expr) *And            { return &And{Left: l, Right: r} }
func or(l, r Expr) *Or              { return &Or{Left: l, Right: r} }
func not(x Expr) *Not               { return &Not{X: x} }

func cmp(p Path, op Op, v Literal) *Compare { return &Compare{Path: p, Op: op, Value: v} }

func vp(name string, f Expr) *ValuePath { return &ValuePath{Path: attr(name), Filter: f} }

// roundTrip parses s, compares the tree with want, and checks that the
// rendering parses to the same tree and renders identically.
func roundTrip(t *testing.T, s string, want Expr) {
	t.Helper()
	got, err := Parse(s)
	if err != nil {
		t.Fatalf("Parse(%q): %v", s, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Parse(%q) =\n%#v\nwant\n%#v", s, got, want)
	}
	out := got.String()
	again, err := Parse(out)
	if err != nil {
		t.Fatalf("Parse(String()) of %q: %v", out, err)
	}
	if !reflect.DeepEqual(again, want) {
		t.Fatalf("Parse(%q) = %#v, want %#v", out, again, want)
	}
	if again.String() != out {
		t.Fatalf("String() not stable: %q then %q", out, again.String())
	}
}

func TestParseRFCExamples(t *testing.T) {
	lastModified := subAttr("meta", "lastModified")
	const when = "2011-05-13T04:42:34Z"
	want := []Expr{
		cmp(attr("userName"), Eq, str("bjensen")),
		cmp(subAttr("name", "familyName"), Co, str("O'Malley")),
		cmp(attr("userName"), Sw, str("J")),
		cmp(Path{URN: "urn:ietf:params:scim:schemas:core:2.0:User", Attr: "userName"}, Sw, str("J")),
		pr(attr("title")),
		cmp(lastModified, Gt, str(when)),
		cmp(lastModified, Ge, str(when)),
		cmp(lastModified, Lt, str(when)),
		cmp(lastModified, Le, str(when)),
		and(pr(attr("title")), cmp(attr("userType"), Eq, str("Employee"))),
		or(pr(attr("title")), cmp(attr("userType"), Eq, str("Intern"))),
		cmp(attr("schemas"), Eq, str(enterprise)),
		and(cmp(attr("userType"), Eq, str("Employee")),
			or(cmp(attr("emails"), Co, str("example.com")), cmp(subAttr("emails", "value"), Co, str("example.org")))),
		and(cmp(attr("userType"), Ne, str("Employee")),
			not(or(cmp(attr("emails"), Co, str("example.com")), cmp(subAttr("emails", "value"), Co, str("example.org"))))),
		and(cmp(attr("userType"), Eq, str("Employee")), cmp(subAttr("emails", "type"), Eq, str("work"))),
		and(cmp(attr("userType"), Eq, str("Employee")),
			vp("emails", and(cmp(attr("type"), Eq, str("work")), cmp(attr("value"), Co, str("@example.com"))))),
		or(vp("emails", and(cmp(attr("type"), Eq, str("work")), cmp(attr("value"), Co, str("@example.com")))),
			vp("ims", and(cmp(attr("type"), Eq, str("xmpp")), cmp(attr("value"), Co, str("@foo.com"))))),
	}
	if len(want) != len(rfcFilters) {
		t.Fatalf("%d expected trees for %d examples", len(want), len(rfcFilters))
	}
	for i, s := range rfcFilters {
		t.Run(s, func(t *testing.T) { roundTrip(t, s, want[i]) })
	}
}

func TestParseRFCExamplesRenderAsWritten(t *testing.T) {
	// The RFC writes its examples in canonical form, except for the
	// redundant parentheses around `emails.type eq "work"`.
	for _, s := range rfcFilters {
		t.Run(s, func(t *testing.T) {
			e, err := Parse(s)
			if err != nil {
				t.Fatal(err)
			}
			want := strings.Replace(s, `(emails.type eq "work")`, `emails.type eq "work"`, 1)
			if got := e.String(); got != want {
				t.Errorf("String() = %q, want %q", got, want)
			}
		})
	}
}

func TestParseEntra(t *testing.T) {
	tests := []struct {
		in   string
		want Expr
	}{
		{`userName eq "ryan3@contoso.com"`, cmp(attr("userName"), Eq, str("ryan3@contoso.com"))},
		{`externalId eq jyoung`, cmp(attr("externalId"), Eq, str("jyoung"))},
		{`externalId eq 00123`, cmp(attr("externalId"), Eq, str("00123"))},
		{`externalId eq 123`, cmp(attr("externalId"), Eq, num("123"))},
		{`displayName eq "Group1DisplayName"`, cmp(attr("displayName"), Eq, str("Group1DisplayName"))},
		{`emails[type eq "work"].value eq "ryan3@contoso.com"`,
			cmp(Path{Attr: "emails", Filter: cmp(attr("type"), Eq, str("work")), Sub: "value"}, Eq, str("ryan3@contoso.com"))},
		{`emails[type eq work].value pr`,
			pr(Path{Attr: "emails", Filter: cmp(attr("type"), Eq, str("work")), Sub: "value"})},
		{`emails[type eq "work"] eq "x"`,
			cmp(Path{Attr: "emails", Filter: cmp(attr("type"), Eq, str("work"))}, Eq, str("x"))},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) { roundTrip(t, tt.in, tt.want) })
	}
}

func TestParseStructure(t *testing.T) {
	a, b, c, d := pr(attr("a")), pr(attr("b")), pr(attr("c")), pr(attr("d"))
	tests := []struct {
		name, in string
		want     Expr
	}{
		{"and binds tighter than or", `a eq 1 or b eq 2 and c eq 3`,
			or(cmp(attr("a"), Eq, num("1")), and(cmp(attr("b"), Eq, num("2")), cmp(attr("c"), Eq, num("3"))))},
		{"and before or on the left", `a pr and b pr or c pr`, or(and(a, b), c)},
		{"and groups left", `a pr and b pr and c pr`, and(and(a, b), c)},
		{"or groups left", `a pr or b pr or c pr`, or(or(a, b), c)},
		{"parentheses override precedence", `(a pr or b pr) and c pr`, and(or(a, b), c)},
		{"right-nested and", `a pr and (b pr and c pr)`, and(a, and(b, c))},
		{"right-nested or", `a pr or (b pr or c pr)`, or(a, or(b, c))},
		{"redundant parentheses vanish", `((a pr)) and (((b pr)))`, and(a, b)},
		{"not binds tighter than and", `not (a pr) and b pr`, and(not(a), b)},
		{"not of a group", `not (a pr or b pr) or c pr and d pr`, or(not(or(a, b)), and(c, d))},
		{"not without space", `not(a pr)`, not(a)},
		{"double not", `not (not (a pr))`, not(not(a))},
		{"keywords in any case", `a PR AND b Pr Or NoT (c pR)`, or(and(a, b), not(c))},
		{"operators in any case", `a EQ 1 and b Ne 2 and c cO "x"`,
			and(and(cmp(attr("a"), Eq, num("1")), cmp(attr("b"), Ne, num("2"))), cmp(attr("c"), Co, str("x")))},
		{"every operator", `a eq 1 and a ne 1 and a co "x" and a sw "x" and a ew "x" and a gt 1 and a ge 1 and a lt 1 and a le 1`,
			and(and(and(and(and(and(and(and(cmp(attr("a"), Eq, num("1")), cmp(attr("a"), Ne, num("1"))),
				cmp(attr("a"), Co, str("x"))), cmp(attr("a"), Sw, str("x"))), cmp(attr("a"), Ew, str("x"))),
				cmp(attr("a"), Gt, num("1"))), cmp(attr("a"), Ge, num("1"))), cmp(attr("a"), Lt, num("1"))), cmp(attr("a"), Le, num("1")))},
		{"tabs and line breaks", "a\tpr\r\nand\n  b pr ", and(a, b)},
		{"no space around strings and parentheses", `(a eq"x")and(b pr)`, and(cmp(attr("a"), Eq, str("x")), b)},
		{"value filter with not and grouping", `emails[not (type eq "home") and (primary eq true or value ew ".org")]`,
			vp("emails", and(not(cmp(attr("type"), Eq, str("home"))),
				or(cmp(attr("primary"), Eq, boolean(true)), cmp(attr("value"), Ew, str(".org")))))},
		{"value filter inside parentheses", `(emails[value pr])`, vp("emails", pr(attr("value")))},
		{"spaces inside brackets", `emails[ type eq "work" ]`, vp("emails", cmp(attr("type"), Eq, str("work")))},
		{"enterprise attribute", `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "701984"`,
			cmp(Path{URN: enterprise, Attr: "employeeNumber"}, Eq, str("701984"))},
		{"enterprise sub-attribute", `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "26118915"`,
			cmp(Path{URN: enterprise, Attr: "manager", Sub: "value"}, Eq, str("26118915"))},
		{"URN spelling kept", `URN:IETF:params:scim:schemas:extension:enterprise:2.0:User:Manager.DisplayName pr`,
			pr(Path{URN: "URN:IETF:params:scim:schemas:extension:enterprise:2.0:User", Attr: "Manager", Sub: "DisplayName"})},
		{"URN with value filter", `urn:ietf:params:scim:schemas:core:2.0:User:emails[type eq "work"]`,
			&ValuePath{Path: Path{URN: "urn:ietf:params:scim:schemas:core:2.0:User", Attr: "emails"}, Filter: cmp(attr("type"), Eq, str("work"))}},
		{"custom extension", `urn:acme:scim:ext:1.0:badge.floor eq 3`,
			cmp(Path{URN: "urn:acme:scim:ext:1.0", Attr: "badge", Sub: "floor"}, Eq, num("3"))},
		{"$ref", `members.$ref co "/Users/"`, cmp(subAttr("members", "$ref"), Co, str("/Users/"))},
		{"names with digits, dashes and underscores", `x509Certificates.value pr and a-b_c eq 1`,
			and(pr(subAttr("x509Certificates", "value")), cmp(attr("a-b_c"), Eq, num("1")))},
		{"attribute called not", `not eq 1 and not[value pr] and not pr`,
			and(and(cmp(attr("not"), Eq, num("1")), vp("not", pr(attr("value")))), pr(attr("not")))},
		{"attributes called like keywords", `and eq 1 or or pr`, or(cmp(attr("and"), Eq, num("1")), pr(attr("or")))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { roundTrip(t, tt.in, tt.want) })
	}
}

func TestParseLiterals(t *testing.T) {
	tests := []struct {
		in   string
		want Literal
	}{
		{`"plain"`, str("plain")},
		{`""`, str("")},
		{`"\"\\\/\b\f\n\r\t"`, str("\"\\/\b\f\n\r\t")},
		{`"\u00e9\u00C9"`, str("éÉ")},
		{`"\ud83d\ude00"`, str("😀")},
		{`"\u0000"`, str("\x00")},
		{`"é 😀 raw"`, str("é 😀 raw")},
		{`"it's ( ) [ ] and or"`, str("it's ( ) [ ] and or")},
		{`0`, num("0")},
		{`-0`, num("-0")},
		{`42`, num("42")},
		{`-1.5`, num("-1.5")},
		{`1e10`, num("1e10")},
		{`1.25E-3`, num("1.25E-3")},
		{`2e+2`, num("2e+2")},
		{`true`, boolean(true)},
		{`TRUE`, boolean(true)},
		{`False`, boolean(false)},
		{`null`, null()},
		{`NULL`, null()},
		{`jyoung`, str("jyoung")},
		{`01`, str("01")},
		{`1.`, str("1.")},
		{`.5`, str(".5")},
		{`+1`, str("+1")},
		{`1e`, str("1e")},
		{`0x1F`, str("0x1F")},
		{`truthy`, str("truthy")},
		{`a\b`, str(`a\b`)},
		{`and`, str("and")},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			roundTrip(t, "a eq "+tt.in, cmp(attr("a"), Eq, tt.want))
		})
	}
}

func TestLiteralString(t *testing.T) {
	tests := []struct {
		lit  Literal
		want string
	}{
		{str("x"), `"x"`},
		{str(`say "hi"\`), `"say \"hi\"\\"`},
		{str("a/b"), `"a/b"`},
		{str("\b\f\n\r\t\x00\x1f"), `"\b\f\n\r\t\u0000\u001f"`},
		{str("é😀<>&"), `"é😀<>&"`},
		{str("\xff"), `"\ufffd"`},
		{num("1.5e3"), `1.5e3`},
		{boolean(true), `true`},
		{boolean(false), `false`},
		{null(), `null`},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.lit.String(); got != tt.want {
				t.Errorf("String() = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestString(t *testing.T) {
	a, b, c, d := pr(attr("a")), pr(attr("b")), pr(attr("c")), pr(attr("d"))
	tests := []struct {
		name string
		e    Expr
		want string
	}{
		{"or inside and", and(or(a, b), c), `(a pr or b pr) and c pr`},
		{"and on the right of and", and(a, and(b, c)), `a pr and (b pr and c pr)`},
		{"or on the right of and", and(a, or(b, c)), `a pr and (b pr or c pr)`},
		{"or on the right of or", or(a, or(b, c)), `a pr or (b pr or c pr)`},
		{"and inside or", or(and(a, b), and(c, d)), `a pr and b pr or c pr and d pr`},
		{"left chains", or(or(a, b), c), `a pr or b pr or c pr`},
		{"not", and(not(or(a, b)), not(c)), `not (a pr or b pr) and not (c pr)`},
		{"value path", vp("emails", and(cmp(attr("type"), Eq, str("work")), pr(attr("value")))), `emails[type eq "work" and value pr]`},
		{"entra path", cmp(Path{URN: "urn:x", Attr: "emails", Filter: cmp(attr("type"), Eq, str("work")), Sub: "value"}, Eq, str("x")),
			`urn:x:emails[type eq "work"].value eq "x"`},
		{"nil children", and(nil, or(nil, (*Present)(nil))), ` and ( or )`},
		{"nil not", &Not{}, `not ()`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.e.String(); got != tt.want {
				t.Errorf("String() = %s, want %s", got, tt.want)
			}
		})
	}
	for _, e := range []Expr{(*Compare)(nil), (*Present)(nil), (*And)(nil), (*Or)(nil), (*Not)(nil), (*ValuePath)(nil)} {
		if s := e.String(); s != "" {
			t.Errorf("%T(nil).String() = %q, want empty", e, s)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, in string
		pos      int
		msg      string
	}{
		{"empty", ``, 0, "empty"},
		{"blank", `   `, 3, "empty"},
		{"missing operator", `userName`, 8, `expected a comparison operator or "pr" after "userName"`},
		{"value without operator", `userName "x"`, 9, "expected a comparison operator"},
		{"unknown operator", `userName xx "a"`, 9, `found "xx"`},
		{"missing value", `userName eq`, 11, `expected a value after "eq"`},
		{"parenthesis as value", `userName eq )`, 12, "expected a value"},
		{"unterminated string", `userName eq "bjensen`, 12, "unterminated string"},
		{"unterminated escape", `userName eq "bjensen\`, 12, "unterminated string"},
		{"bad escape", `userName eq "a\qb"`, 14, `invalid escape "\\q"`},
		{"short unicode escape", `userName eq "\u12"`, 13, `invalid \u escape`},
		{"lone high surrogate", `userName eq "\ud800"`, 13, "unpaired surrogate"},
		{"lone low surrogate", `userName eq "\udc00x"`, 13, "unpaired surrogate"},
		{"high surrogate and non-surrogate", `userName eq "\ud800\u0041"`, 13, "unpaired surrogate"},
		{"raw control character in string", "a eq \"x\ty\"", 7, "must be escaped"},
		{"control character", "a eq 1 \x01", 7, "control character"},
		{"invalid UTF-8", "a eq \"\xff\"", 6, "UTF-8"},
		{"two terms", `a eq "x" b eq "y"`, 9, `expected "and", "or" or the end of the filter, found "b"`},
		{"trailing string", `a pr "x"`, 5, "found a string"},
		{"dangling and", `a pr and`, 8, "expected an attribute path"},
		{"leading or", `or`, 2, "expected a comparison operator"},
		{"empty parentheses", `()`, 1, `found ")"`},
		{"unclosed parenthesis", `(a pr`, 5, `to close the "(" at position 0`},
		{"unclosed inner parenthesis", `((a pr)`, 7, `to close the "(" at position 0`},
		{"extra closing parenthesis", `a pr)`, 4, `found ")"`},
		{"closing bracket", `a eq "x"]`, 8, `found "]"`},
		{"lone bracket", `]`, 0, "expected an attribute path"},
		{"unclosed bracket", `emails[type pr`, 14, `to close the "[" at position 6`},
		{"bracket closed by parenthesis", `emails[type pr)`, 14, `to close the "["`},
		{"empty value filter", `emails[]`, 7, "value filter is empty"},
		{"nested value filter", `emails[type[value pr] pr]`, 11, "cannot be nested"},
		{"nested entra form", `emails[x[y pr].z eq 1]`, 8, "cannot be nested"},
		{"space before bracket", `emails [type eq "work"]`, 7, "without a space"},
		{"value filter after sub-attribute", `name.familyName[x pr]`, 15, "not the sub-attribute"},
		{"second value filter", `emails[x pr].value[y pr] eq 1`, 18, `found "["`},
		{"entra form without operator", `emails[type eq "work"].value`, 28, `expected a comparison operator`},
		{"entra form with empty sub-attribute", `emails[type eq "work"]. eq "x"`, 23, "expected a sub-attribute name"},
		{"entra form with bad sub-attribute", `emails[type eq "work"].1x eq 1`, 23, "must start with a letter"},
		{"sub-attribute after space", `emails[type eq "work"] .value eq "x"`, 23, `found ".value"`},
		{"not without parentheses", `not userName eq "x"`, 4, `expected "(" after "not", found "userName"`},
		{"not alone", `not`, 3, `expected "(" after "not"`},
		{"not before bracket with space", `not [a pr]`, 4, `expected "(" after "not"`},
		{"name starting with a digit", `1abc eq 1`, 0, "must start with a letter"},
		{"number as attribute", `42`, 0, "must start with a letter"},
		{"bad character in name", `user@name eq 1`, 4, `invalid character '@'`},
		{"two sub-attributes", `name.familyName.x eq 1`, 15, "at most one sub-attribute"},
		{"empty sub-attribute", `name. eq 1`, 5, "expected a sub-attribute name"},
		{"empty URN", `:userName eq 1`, 0, "schema URN"},
		{"URN without attribute", `urn:foo: eq 1`, 8, "expected an attribute name after the schema URN"},
		{"lone dollar", `$ eq 1`, 0, "must start with a letter"},
		{"string as attribute", `"userName" eq 1`, 0, "found a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.in)
			checkError(t, err, FilterSyntax, tt.pos, tt.msg)
		})
	}
}

// checkError checks that err is a *SyntaxError of the given kind, position
// and message, and that it converts to a 400 SCIM error carrying the
// position.
func checkError(t *testing.T, err error, kind ErrorKind, pos int, msg string) {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	var se *SyntaxError
	if !errors.As(err, &se) {
		t.Fatalf("%v is not a *SyntaxError", err)
	}
	if se.Kind != kind || se.Pos != pos || !strings.Contains(se.Msg, msg) {
		t.Fatalf("got kind %d at %d: %q; want kind %d at %d containing %q", se.Kind, se.Pos, se.Msg, kind, pos, msg)
	}
	var scimErr *scimerr.Error
	if !errors.As(err, &scimErr) {
		t.Fatalf("errors.As(%v, *scimerr.Error) = false", err)
	}
	wantType := scimerr.InvalidFilter
	what := "filter"
	if kind == PathSyntax {
		wantType, what = scimerr.InvalidPath, "path"
	}
	if scimErr.Status != 400 || scimErr.ScimType != wantType {
		t.Errorf("SCIM error %d %s, want 400 %s", scimErr.Status, scimErr.ScimType, wantType)
	}
	prefix := "invalid " + what + " at position " + strconv.Itoa(pos) + ": "
	if !strings.HasPrefix(scimErr.Detail, prefix) || !strings.HasPrefix(err.Error(), prefix) {
		t.Errorf("detail %q / error %q do not start with %q", scimErr.Detail, err.Error(), prefix)
	}
}

func TestErrorMessage(t *testing.T) {
	_, err := Parse(`userName eq "bjensen" and title`)
	want := `invalid filter at position 31: expected a comparison operator or "pr" after "title", found the end of the input`
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v, want %s", err, want)
	}
	e, ok := scimerr.As(err)
	if !ok || e.Detail != want || e.Status != 400 || e.ScimType != scimerr.InvalidFilter {
		t.Fatalf("scimerr.As = %+v, %v", e, ok)
	}
}

func TestErrorsEchoLittleInput(t *testing.T) {
	long := strings.Repeat("abcdefghij", 30)
	inputs := []string{
		long + " " + long,
		"a eq " + long + " " + long,
		"a " + long,
		`a eq "` + long,
		long + "." + long + "." + long,
		"urn:" + long + ":" + long + "@",
	}
	for _, in := range inputs {
		for _, parse := range []func(string) error{
			func(s string) error { _, err := Parse(s); return err },
			func(s string) error { _, err := ParsePath(s); return err },
		} {
			err := parse(in)
			if err == nil {
				t.Fatalf("%q parsed", in)
			}
			msg := err.Error()
			for i := 0; i+61 <= len(in); i++ {
				if strings.Contains(msg, in[i:i+61]) {
					t.Fatalf("error %q repeats 61 bytes of the input", msg)
				}
			}
		}
	}
}

func TestParseLimits(t *testing.T) {
	t.Run("length", func(t *testing.T) {
		in := "a eq \"" + strings.Repeat("x", MaxLength) + "\""
		_, err := Parse(in)
		checkError(t, err, FilterSyntax, MaxLength, "longer than 8192 bytes")
		_, err = ParsePath(strings.Repeat("a", MaxLength+1))
		checkError(t, err, PathSyntax, MaxLength, "longer than 8192 bytes")
	})
	t.Run("length at the limit", func(t *testing.T) {
		in := "a eq \"" + strings.Repeat("x", MaxLength-7) + "\""
		if _, err := Parse(in); err != nil || len(in) != MaxLength {
			t.Fatalf("%d bytes: %v", len(in), err)
		}
	})
	t.Run("depth at the limit", func(t *testing.T) {
		in := strings.Repeat("(", MaxDepth) + "a pr" + strings.Repeat(")", MaxDepth)
		if _, err := Parse(in); err != nil {
			t.Fatal(err)
		}
		in = strings.Repeat("not (", MaxDepth-1) + "emails[value pr]" + strings.Repeat(")", MaxDepth-1)
		if _, err := Parse(in); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("parentheses too deep", func(t *testing.T) {
		in := strings.Repeat("(", MaxDepth+1) + "a pr" + strings.Repeat(")", MaxDepth+1)
		_, err := Parse(in)
		checkError(t, err, FilterSyntax, MaxDepth, "deeper than 64")
	})
	t.Run("bracket too deep", func(t *testing.T) {
		in := strings.Repeat("(", MaxDepth) + "a[b pr]" + strings.Repeat(")", MaxDepth)
		_, err := Parse(in)
		checkError(t, err, FilterSyntax, MaxDepth+1, "deeper than 64")
	})
	t.Run("not too deep", func(t *testing.T) {
		in := strings.Repeat("not (", MaxLength/5)
		_, err := Parse(in)
		checkError(t, err, FilterSyntax, 5*MaxDepth+4, "deeper than 64")
	})
	t.Run("many open parentheses", func(t *testing.T) {
		_, err := Parse(strings.Repeat("(", MaxLength))
		checkError(t, err, FilterSyntax, MaxDepth, "deeper than 64")
	})
	t.Run("long chains are not nesting", func(t *testing.T) {
		in := "a pr" + strings.Repeat(" and a pr or a pr", 400)
		e, err := Parse(in)
		if err != nil {
			t.Fatal(err)
		}
		if e.String() != in {
			t.Fatal("chain does not render as written")
		}
	})
}

func TestParsePath(t *testing.T) {
	tests := []struct {
		in   string
		want Path
	}{
		{`userName`, attr("userName")},
		{`name.familyName`, subAttr("name", "familyName")},
		{`members`, attr("members")},
		{`members[value eq "2819c223-7f76-453a-919d-413861904646"]`,
			Path{Attr: "members", Filter: cmp(attr("value"), Eq, str("2819c223-7f76-453a-919d-413861904646"))}},
		{`members[value eq 2819c223]`, Path{Attr: "members", Filter: cmp(attr("value"), Eq, str("2819c223"))}},
		{`emails[type eq "work"].value`, Path{Attr: "emails", Filter: cmp(attr("type"), Eq, str("work")), Sub: "value"}},
		{`addresses[type eq "work"].locality`, Path{Attr: "addresses", Filter: cmp(attr("type"), Eq, str("work")), Sub: "locality"}},
		{`emails[type eq "work" and primary eq true].display`,
			Path{Attr: "emails", Filter: and(cmp(attr("type"), Eq, str("work")), cmp(attr("primary"), Eq, boolean(true))), Sub: "display"}},
		{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber`, Path{URN: enterprise, Attr: "employeeNumber"}},
		{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value`, Path{URN: enterprise, Attr: "manager", Sub: "value"}},
		{`urn:ietf:params:scim:schemas:core:2.0:User:emails[type eq "work"].value`,
			Path{URN: "urn:ietf:params:scim:schemas:core:2.0:User", Attr: "emails", Filter: cmp(attr("type"), Eq, str("work")), Sub: "value"}},
		{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User`,
			Path{URN: "urn:ietf:params:scim:schemas:extension:enterprise:2.0", Attr: "User"}},
		{` members `, attr("members")},
		{`groups.$ref`, subAttr("groups", "$ref")},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParsePath(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ParsePath = %#v, want %#v", got, tt.want)
			}
			again, err := ParsePath(got.String())
			if err != nil || !reflect.DeepEqual(again, got) {
				t.Fatalf("ParsePath(%q) = %#v, %v", got.String(), again, err)
			}
			want := strings.TrimSpace(tt.in)
			if strings.Contains(want, "2819c223]") {
				want = strings.Replace(want, "2819c223]", `"2819c223"]`, 1)
			}
			if got.String() != want {
				t.Errorf("String() = %q, want %q", got.String(), want)
			}
		})
	}
}

func TestParsePathErrors(t *testing.T) {
	tests := []struct {
		name, in string
		pos      int
		msg      string
	}{
		{"empty", ``, 0, "the path is empty"},
		{"blank", ` `, 1, "the path is empty"},
		{"string", `"userName"`, 0, "expected an attribute path, found a string"},
		{"filter instead of path", `userName eq "x"`, 9, `unexpected "eq" after the path`},
		{"text after bracket", `emails[type eq "work"]x`, 22, `unexpected "x" after the path`},
		{"unclosed bracket", `members[value eq "x"`, 20, `to close the "[" at position 7`},
		{"two sub-attributes", `name.familyName.x`, 15, "at most one sub-attribute"},
		{"sub-attribute of a sub-attribute after filter", `emails[type eq "work"].value.x`, 28, "at most one sub-attribute"},
		{"nested filter", `emails[type[x pr] pr]`, 11, "cannot be nested"},
		{"space before bracket", `emails [type eq "x"]`, 7, "without a space"},
		{"filter after sub-attribute", `name.givenName[x pr]`, 14, "not the sub-attribute"},
		{"bad filter", `members[value eq]`, 16, `expected a value after "eq"`},
		{"not without parentheses in filter", `members[not value pr]`, 12, `expected "("`},
		{"bad name", `user name`, 5, `unexpected "name" after the path`},
		{"URN without attribute", `urn:ietf:params:scim:schemas:core:2.0:User:`, 43, "expected an attribute name"},
		{"invalid UTF-8", "name\xc3", 4, "UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParsePath(tt.in)
			checkError(t, err, PathSyntax, tt.pos, tt.msg)
		})
	}
}

func TestParseAttrPath(t *testing.T) {
	good := []struct {
		in   string
		want Path
	}{
		{`userName`, attr("userName")},
		{` name.familyName `, subAttr("name", "familyName")},
		{`emails.value`, subAttr("emails", "value")},
		{`meta.lastModified`, subAttr("meta", "lastModified")},
		{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.displayName`,
			Path{URN: enterprise, Attr: "manager", Sub: "displayName"}},
	}
	for _, tt := range good {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseAttrPath(tt.in)
			if err != nil || got != tt.want {
				t.Fatalf("ParseAttrPath = %#v, %v; want %#v", got, err, tt.want)
			}
		})
	}
	bad := []struct {
		name, in string
		pos      int
		msg      string
	}{
		{"value filter", `emails[type eq "work"]`, 6, "a value filter is not allowed here"},
		{"comma-separated list", `userName,emails`, 8, `invalid character ','`},
		{"two words", `userName emails`, 9, "after the path"},
		{"empty", ``, 0, "empty"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseAttrPath(tt.in)
			checkError(t, err, PathSyntax, tt.pos, tt.msg)
		})
	}
}

func TestSyntaxErrorAsOtherTargets(t *testing.T) {
	_, err := Parse("")
	var pathErr *SyntaxError
	if !errors.As(err, &pathErr) {
		t.Fatal("errors.As to *SyntaxError failed")
	}
	var other *fs.PathError
	if errors.As(err, &other) {
		t.Fatal("errors.As to an unrelated type succeeded")
	}
}
