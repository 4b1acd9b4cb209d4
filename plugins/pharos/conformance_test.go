package pharos

import (
	"testing"

	"github.com/caddy-scim/caddy-scim/plugins/internal/printstore/printtest"
)

func TestConformance(t *testing.T) {
	printtest.Conformance(t, New, "bob.jones,B1\nalice.smith,A1\n")
}
