package main

import (
	"fmt"
	"strings"
)

// site is what a generated Caddyfile serves on loopback.
type site struct {
	Dir       string // certificates in Dir/caddy, the SCIM store in Dir/scim
	Admin     int    // admin endpoint, localhost
	Port      int    // HTTPS site, 127.0.0.1
	Backend   string // the bench tenant's backend, "" for none
	Respond   string // when set, the site answers every request with this body instead of serving SCIM
	RespondCT string // Content-Type of Respond
	// Options are extra lines of the global scim option, such as
	// "cache_size 32MiB".
	Options []string
}

// token makes s a single Caddyfile token.
func token(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n\"'`{}#") {
		return s
	}
	return "`" + s + "`"
}

// caddyfile renders s: HTTPS with a certificate from Caddy's internal CA,
// HTTP/1.1 and HTTP/2 only, nothing off loopback.
func (s site) caddyfile() string {
	var b strings.Builder
	fmt.Fprintf(&b, "{\n\tadmin localhost:%d\n\tstorage file_system %s\n", s.Admin, token(s.Dir+"/caddy"))
	b.WriteString("\tlocal_certs\n\tskip_install_trust\n\tauto_https disable_redirects\n\tservers {\n\t\tprotocols h1 h2\n\t}\n")
	if s.Respond == "" {
		fmt.Fprintf(&b, "\tscim {\n\t\tstorage_dir %s\n", token(s.Dir+"/scim"))
		for _, o := range s.Options {
			fmt.Fprintf(&b, "\t\t%s\n", o)
		}
		b.WriteString("\t}\n")
	}
	fmt.Fprintf(&b, "}\n\nlocalhost:%d {\n\tbind 127.0.0.1\n", s.Port)
	switch {
	case s.Respond != "":
		fmt.Fprintf(&b, "\theader Content-Type %s\n\trespond %s 200\n", token(s.RespondCT), token(s.Respond))
	case s.Backend != "":
		fmt.Fprintf(&b, "\tscim {\n\t\ttenant %s {\n\t\t\tbackend %s\n\t\t}\n\t}\n\trespond 404\n", tenant, s.Backend)
	default:
		fmt.Fprintf(&b, "\tscim {\n\t\ttenant %s\n\t}\n\trespond 404\n", tenant)
	}
	b.WriteString("}\n")
	return b.String()
}
