// Package guides holds the IdP setup guides of this directory, embedded,
// so that the console can walk a tenant's admin through them with the
// tenant's own Tenant URL filled in. The Markdown files are the guides;
// this file only lists them.
package guides

import (
	"embed"
	"io/fs"
)

//go:embed *.md
var files embed.FS

// Guide is one IdP's guide.
type Guide struct {
	// Key names the IdP in URLs: entra, okta, jumpcloud, onelogin.
	Key string
	// Name is the IdP's name.
	Name string
	// File is the guide's Markdown file in this directory.
	File string
}

// All lists the guides in the order they are offered.
var All = []Guide{
	{Key: "entra", Name: "Microsoft Entra ID", File: "entra-id.md"},
	{Key: "okta", Name: "Okta", File: "okta.md"},
	{Key: "jumpcloud", Name: "JumpCloud", File: "jumpcloud.md"},
	{Key: "onelogin", Name: "OneLogin", File: "onelogin.md"},
}

// Lookup returns the guide of an IdP key and its Markdown.
func Lookup(key string) (Guide, []byte, bool) {
	for _, g := range All {
		if g.Key == key {
			b, err := fs.ReadFile(files, g.File)
			return g, b, err == nil
		}
	}
	return Guide{}, nil, false
}
