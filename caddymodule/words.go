package caddymodule

import "strconv"

// plural is n with the noun in the number n takes: "1 change", "2
// changes", "0 changes".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// them is the pronoun for n things: "it" or "them".
func them(n int) string {
	if n == 1 {
		return "it"
	}
	return "them"
}
