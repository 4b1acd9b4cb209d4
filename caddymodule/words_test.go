package caddymodule

import "testing"

func TestPlural(t *testing.T) {
	for _, c := range []struct {
		n    int
		want string
	}{{0, "0 changes"}, {1, "1 change"}, {2, "2 changes"}, {1000, "1000 changes"}} {
		if got := plural(c.n, "change", "changes"); got != c.want {
			t.Errorf("plural(%d) = %q, want %q", c.n, got, c.want)
		}
	}
	if them(1) != "it" || them(3) != "them" {
		t.Errorf("them(1) = %q, them(3) = %q", them(1), them(3))
	}
}
