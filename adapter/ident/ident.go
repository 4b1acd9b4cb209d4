// Package ident is the one comparison rule for the identifiers a person
// reads: a user's userName, a group's displayName and an email address
// (emails.value). The uniqueness index, filters (eq, sw, co, ew and the
// orderings, for attributes that are not caseExact) and PATCH valuePath
// matching all compare through Fold, so they can never disagree about
// whether two names are the same.
//
// The rule follows the spirit of RFC 8265's UsernameCaseMapped profile:
// width mapping (fullwidth and halfwidth forms to their usual width),
// Unicode normalization, and full case folding, so that names a person
// cannot tell apart — "BJensen" and "ｂｊｅｎｓｅｎ", "é" composed and
// decomposed, "Straße" and "STRASSE", the Kelvin sign and "k" — are one
// name. Unlike that profile it accepts spaces inside a name (group names
// have them) and maps every Unicode space to U+0020 for comparison.
//
// Check refuses what would let two look-alike names exist side by side:
// empty or whitespace-only names, leading or trailing whitespace, control
// characters, format characters (zero-width spaces and joiners, the byte
// order mark, soft hyphens) and invalid UTF-8. What is stored is the name
// as the client sent it, in Unicode NFC (Canonical).
package ident

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
	"golang.org/x/text/width"

	"github.com/caddy-scim/caddy-scim/adapter/scimerr"
)

// Fold returns the comparison key of s: two identifiers are the same name
// exactly when their keys are equal. The key is for comparing and indexing
// only; it is never shown or stored as the name itself.
func Fold(s string) string {
	if isPlainASCII(s) {
		return asciiLower(s)
	}
	s = width.Fold.String(s)
	s = mapSpaces(s)
	s = norm.NFD.String(s)
	// A Caser holds state and is not safe for concurrent use, so each call
	// gets its own; it is small.
	s = cases.Fold().String(s)
	return norm.NFC.String(s)
}

// Equal reports whether a and b are the same identifier under Fold.
func Equal(a, b string) bool {
	if a == b {
		return true
	}
	if isPlainASCII(a) && isPlainASCII(b) {
		return asciiEqualFold(a, b)
	}
	return Fold(a) == Fold(b)
}

// asciiEqualFold compares printable ASCII strings ignoring case, without
// allocating.
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// Canonical returns s as it is stored: the client's spelling in Unicode
// NFC, so that a composed and a decomposed accent are stored alike.
func Canonical(s string) string {
	if isPlainASCII(s) {
		return s
	}
	return norm.NFC.String(s)
}

// Check returns a 400 invalidValue SCIM error when s cannot be an
// identifier; attr names the attribute in the error's detail. The detail
// names the offending character by code point and position, never by
// quoting the value.
func Check(attr, s string) error {
	if s == "" {
		return scimerr.BadRequest(scimerr.InvalidValue, "%s must not be empty", attr)
	}
	if !utf8.ValidString(s) {
		return scimerr.BadRequest(scimerr.InvalidValue, "%s is not valid UTF-8", attr)
	}
	if isPlainASCII(s) && s[0] != ' ' && s[len(s)-1] != ' ' {
		return nil
	}
	onlySpace := true
	pos := 0
	for _, r := range s {
		pos++
		switch {
		case unicode.Is(unicode.Cc, r):
			return scimerr.BadRequest(scimerr.InvalidValue,
				"%s contains the control character %s at character %d; remove it", attr, codePoint(r), pos)
		case unicode.Is(unicode.Cf, r):
			return scimerr.BadRequest(scimerr.InvalidValue,
				"%s contains the invisible format character %s at character %d; remove it", attr, codePoint(r), pos)
		case !unicode.IsSpace(r):
			onlySpace = false
		}
	}
	if onlySpace {
		return scimerr.BadRequest(scimerr.InvalidValue, "%s must contain more than whitespace", attr)
	}
	first, _ := utf8.DecodeRuneInString(s)
	last, _ := utf8.DecodeLastRuneInString(s)
	if unicode.IsSpace(first) || unicode.IsSpace(last) {
		return scimerr.BadRequest(scimerr.InvalidValue, "%s must not begin or end with whitespace", attr)
	}
	return nil
}

// HasPrefix reports whether s begins with prefix under Fold.
func HasPrefix(s, prefix string) bool { return strings.HasPrefix(Fold(s), Fold(prefix)) }

// HasSuffix reports whether s ends with suffix under Fold.
func HasSuffix(s, suffix string) bool { return strings.HasSuffix(Fold(s), Fold(suffix)) }

// Contains reports whether sub is within s under Fold.
func Contains(s, sub string) bool { return strings.Contains(Fold(s), Fold(sub)) }

// Compare orders a and b by their keys, as strings.Compare does.
func Compare(a, b string) int { return strings.Compare(Fold(a), Fold(b)) }

func codePoint(r rune) string { return fmt.Sprintf("U+%04X", r) }

// isPlainASCII reports whether s is printable ASCII (U+0020–U+007E): such
// a string is its own width mapping and normalization, and its full case
// folding is its ASCII lower case.
func isPlainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; 'A' <= c && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// mapSpaces maps every Unicode space separator (category Zs) to U+0020, so
// a no-break or ideographic space compares as a plain one.
func mapSpaces(s string) string {
	return strings.Map(func(r rune) rune {
		if r != ' ' && unicode.Is(unicode.Zs, r) {
			return ' '
		}
		return r
	}, s)
}
