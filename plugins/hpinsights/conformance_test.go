package hpinsights

import (
	"testing"

	"github.com/caddy-scim/caddy-scim/plugins/internal/printstore/printtest"
)

func TestConformance(t *testing.T) {
	printtest.Conformance(t, New, "bob.jones@example.com,B1\nalice.smith@example.com,A1\n")
}
