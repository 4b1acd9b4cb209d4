package main

import (
	"fmt"
	"path/filepath"
	"strings"
)

// backends are the built-in backends; tenant i (from 1) uses
// backends[(i-1)%3].
var backends = []string{"pharos", "hpinsights", "keepnet"}

// tenantName names tenant i (from 1).
func tenantName(i int) string { return fmt.Sprintf("t%05d", i) }

// backendOf is the backend of tenant i (from 1).
func backendOf(i int) string { return backends[(i-1)%len(backends)] }

// layout is what the generated Caddyfile depends on.
type layout struct {
	// Dir holds Caddy's storage (certificates) and the SCIM store.
	Dir string
	// AdminPort and SitePort are loopback ports.
	AdminPort, SitePort int
	// Static, when positive, declares tenants t00001..tN in the
	// Caddyfile, one tenant block each; otherwise the Caddyfile has one
	// runtime_tenants profile per backend, named after it, and no tenant.
	Static int
}

// caddyfile returns the Caddyfile for l. Everything listens on loopback
// only: the admin endpoint on localhost, the site bound to 127.0.0.1 over
// HTTPS with a certificate from Caddy's internal CA, and no HTTP/3.
func caddyfile(l layout) string {
	var b strings.Builder
	fmt.Fprintf(&b, `{
	admin localhost:%d
	storage file_system %s
	local_certs
	skip_install_trust
	auto_https disable_redirects
	servers {
		protocols h1 h2
	}
	scim {
		storage_dir %s
	}
}

localhost:%d {
	bind 127.0.0.1
	scim {
`, l.AdminPort, quote(filepath.Join(l.Dir, "caddy")), quote(filepath.Join(l.Dir, "scim")), l.SitePort)
	if l.Static > 0 {
		for i := 1; i <= l.Static; i++ {
			fmt.Fprintf(&b, "\t\ttenant %s {\n\t\t\tbackend %s\n\t\t}\n", tenantName(i), backendOf(i))
		}
	} else {
		for _, name := range backends {
			fmt.Fprintf(&b, "\t\truntime_tenants %s {\n\t\t\tbackend %s\n\t\t}\n", name, name)
		}
	}
	b.WriteString("\t}\n\trespond 404\n}\n")
	return b.String()
}

// quote makes a path one Caddyfile token.
func quote(s string) string {
	if strings.ContainsAny(s, " \t\"{}#") {
		return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`
	}
	return s
}
