package ident

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/caddy-scim/caddy-scim/adapter/scimerr"
)

func TestEqual(t *testing.T) {
	same := []struct{ name, a, b string }{
		{"ascii case", "BJensen@Example.com", "bjensen@example.com"},
		{"composed and decomposed accent", "Ren\u00e9e", "Rene\u0301e"},
		{"decomposed upper case accent", "REN\u00c9E", "rene\u0301e"},
		{"fullwidth letters", "\uff42\uff4a\uff45\uff4e\uff53\uff45\uff4e", "bjensen"},
		{"fullwidth at sign", "bjensen\uff20example.com", "bjensen@example.com"},
		{"kelvin sign", "\u212aate", "kate"},
		{"sharp s", "stra\u00dfe", "STRASSE"},
		{"capital sharp s", "STRA\u1e9eE", "strasse"},
		{"final sigma", "\u039f\u0394\u03a5\u03a3\u03a3\u0395\u03a5\u03a3", "\u03bf\u03b4\u03c5\u03c3\u03c3\u03b5\u03c5\u03c2"},
		{"long s", "\u017fam", "sam"},
		{"no-break space", "Sales\u00a0Team", "sales team"},
		{"ideographic space", "Sales\u3000Team", "Sales Team"},
		{"angstrom sign", "\u212bngstr\u00f6m", "\u00e5ngstr\u00f6m"},
		{"turkish dotted capital I", "\u0130stanbul", "i\u0307stanbul"},
	}
	for _, c := range same {
		t.Run(c.name, func(t *testing.T) {
			if !Equal(c.a, c.b) || !Equal(c.b, c.a) {
				t.Fatalf("Equal(%q, %q) = false; keys %q and %q", c.a, c.b, Fold(c.a), Fold(c.b))
			}
			if Compare(c.a, c.b) != 0 {
				t.Fatalf("Compare(%q, %q) != 0", c.a, c.b)
			}
		})
	}
	different := []struct{ name, a, b string }{
		{"different letters", "bjensen", "bjenson"},
		{"accent matters", "rene", "ren\u00e9"},
		{"dotless i is not i", "\u0131", "i"},
		{"space inside matters", "sales team", "salesteam"},
		{"digits", "user1", "user\u00b9"},
	}
	for _, c := range different {
		t.Run(c.name, func(t *testing.T) {
			if Equal(c.a, c.b) {
				t.Fatalf("Equal(%q, %q) = true; both fold to %q", c.a, c.b, Fold(c.a))
			}
		})
	}
}

func TestMatchOperators(t *testing.T) {
	if !HasPrefix("STRA\u00dfE@example.com", "strasse@") {
		t.Error("HasPrefix ignores case folding")
	}
	if !HasSuffix("x@\uff25\uff38\uff21\uff2d\uff30\uff2c\uff25.com", "@example.COM") {
		t.Error("HasSuffix ignores width mapping")
	}
	if !Contains("Rene\u0301e Smith", "\u00e9e s") {
		t.Error("Contains ignores normalization")
	}
	if Contains("abc", "abd") || HasPrefix("abc", "b") || HasSuffix("abc", "b") {
		t.Error("operators match what they should not")
	}
	if Compare("a", "B") >= 0 || Compare("B", "a") <= 0 {
		t.Error("Compare does not order case-insensitively")
	}
}

func TestCheck(t *testing.T) {
	ok := []string{
		"bjensen@example.com", "Sales Team", "Ren\u00e9e", "\u6f22\u5b57", "a", "O'Brien",
		"Sales\u00a0Team", "\U0001F600 fans",
	}
	for _, s := range ok {
		if err := Check("userName", s); err != nil {
			t.Errorf("Check(%q) = %v; want nil", s, err)
		}
	}
	bad := []struct {
		name, s, detail string
	}{
		{"empty", "", "must not be empty"},
		{"one space", " ", "more than whitespace"},
		{"spaces and tabs", " \t ", "control character U+0009"},
		{"only no-break spaces", "\u00a0\u00a0", "more than whitespace"},
		{"only ideographic space", "\u3000", "more than whitespace"},
		{"leading space", " bjensen@example.com", "begin or end with whitespace"},
		{"trailing space", "bjensen@example.com ", "begin or end with whitespace"},
		{"trailing no-break space", "bjensen\u00a0", "begin or end with whitespace"},
		{"leading ideographic space", "\u3000bjensen", "begin or end with whitespace"},
		{"zero-width space", "bjen\u200bsen", "format character U+200B at character 5"},
		{"zero-width joiner", "bjen\u200dsen", "format character U+200D"},
		{"zero-width non-joiner", "bjen\u200csen", "format character U+200C"},
		{"byte order mark", "\ufeffbjensen", "format character U+FEFF at character 1"},
		{"soft hyphen", "bjen\u00adsen", "format character U+00AD"},
		{"right-to-left override", "bjensen\u202e", "format character U+202E"},
		{"word joiner", "bj\u2060ensen", "format character U+2060"},
		{"trailing nul", "bjensen\x00", "control character U+0000 at character 8"},
		{"newline", "bjen\nsen", "control character U+000A"},
		{"delete", "bjen\x7fsen", "control character U+007F"},
		{"c1 control", "bjen\u0085sen", "control character U+0085"},
		{"invalid utf-8", "bjen\xffsen", "not valid UTF-8"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			err := Check("userName", c.s)
			e, ok := scimerr.As(err)
			if !ok {
				t.Fatalf("Check(%q) = %v; want a SCIM error", c.s, err)
			}
			if e.Status != 400 || e.ScimType != scimerr.InvalidValue {
				t.Fatalf("Check(%q) = %d %s; want 400 invalidValue", c.s, e.Status, e.ScimType)
			}
			if !strings.Contains(e.Detail, c.detail) || !strings.HasPrefix(e.Detail, "userName ") {
				t.Fatalf("detail %q; want it to name userName and say %q", e.Detail, c.detail)
			}
		})
	}
}

func TestCanonical(t *testing.T) {
	if got := Canonical("Rene\u0301e"); got != "Ren\u00e9e" {
		t.Errorf("Canonical kept the decomposed form: %q", got)
	}
	// Canonical keeps the client's case and width: only the key folds them.
	for _, s := range []string{"BJensen", "\uff22\uff2a", "STRA\u00dfE"} {
		if got := Canonical(s); got != s {
			t.Errorf("Canonical(%q) = %q; want it unchanged", s, got)
		}
	}
}

func FuzzFold(f *testing.F) {
	for _, s := range []string{"BJensen", "Rene\u0301e", "\u212a", "\u00df", "\u03a3\u03c2", "\u017f", "\uff42", "\u0130", "a\u00a0b"} {
		f.Add(s, strings.ToUpper(s))
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if !utf8.ValidString(a) || !utf8.ValidString(b) {
			return
		}
		ka := Fold(a)
		if Fold(ka) != ka {
			t.Fatalf("Fold is not idempotent on %q: %q then %q", a, ka, Fold(ka))
		}
		if Fold(Canonical(a)) != ka {
			t.Fatalf("storing %q in NFC changes its key", a)
		}
		if Equal(a, b) != Equal(b, a) {
			t.Fatalf("Equal is not symmetric on %q, %q", a, b)
		}
		if Equal(a, b) != (Compare(a, b) == 0) {
			t.Fatalf("Equal and Compare disagree on %q, %q", a, b)
		}
		if strings.EqualFold(a, b) && !Equal(a, b) {
			t.Fatalf("%q and %q are equal under simple folding but not under Fold", a, b)
		}
	})
}

func BenchmarkFold(b *testing.B) {
	for _, c := range []struct{ name, s string }{
		{"ascii", "BJensen@Example.com"},
		{"latin", "Ren\u00e9e.Stra\u00dfe@Example.com"},
		{"fullwidth", "\uff42\uff4a\uff45\uff4e\uff53\uff45\uff4e@example.com"},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Fold(c.s)
			}
		})
	}
}
