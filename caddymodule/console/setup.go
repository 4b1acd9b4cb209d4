package console

import (
	"bytes"
	"html/template"
	"net/http"
	"regexp"
	"strings"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"

	"github.com/caddy-scim/caddy-scim/docs/guides"
)

// setupView is the data of the IdP walk-through.
type setupView struct {
	Tenant    string
	TenantURL string
	Enabled   bool
	HasToken  bool
	// Product and Required are the product the users go to and the SCIM
	// attributes it needs every user to have.
	Product  string
	Required []string
	// IdPs are the IdPs to choose from; IdP is the chosen one ("" until
	// one is chosen, "other" for any other IdP).
	IdPs []guides.Guide
	IdP  string
	Name string
	// Guide is the chosen IdP's guide, rendered, from its second step on.
	Guide      template.HTML
	Connection connectionView
}

// markdown renders the guides, their tables included; raw HTML in them
// is not passed through.
var markdown = goldmark.New(goldmark.WithExtensions(extension.Table))

var (
	// firstStep is the guide's "## 1." section: getting the Tenant URL and
	// token from the operator, which the console replaces with its own.
	firstStep = regexp.MustCompile(`(?s)\n## 1\..*?\n(## )`)
	// renewal is the guide's "## Token renewal" section, written for the
	// operator; the panel's own token section and its warnings replace it.
	renewal = regexp.MustCompile(`(?s)\n## Token renewal\n.*?(\n## |$)`)
	// docLink is a link to another document of the repository, which the
	// console does not serve: its text stays, the link goes.
	docLink = regexp.MustCompile(`\[([^\]]+)\]\((?:\.\./)*[A-Za-z0-9_./-]*\.md(?:#[^)]*)?\)`)
)

// renderGuide turns an IdP guide into the walk-through's HTML for one
// tenant: its own Tenant URL where the guide names tenant_url, "your
// token" where it names the token.
func renderGuide(md []byte, tenantURL string) (template.HTML, error) {
	s := string(md)
	if i := strings.Index(s, "\n"); strings.HasPrefix(s, "# ") && i > 0 {
		s = s[i+1:] // the title: the page has its own
	}
	s = firstStep.ReplaceAllString(s, "\n$1")
	s = renewal.ReplaceAllString(s, "\n$1")
	s = strings.ReplaceAll(s, "`caddy scim status` shows", "User and Group Sync shows")
	s = docLink.ReplaceAllString(s, "$1")
	s = strings.ReplaceAll(s, "`tenant_url`", "`"+tenantURL+"`")
	s = strings.ReplaceAll(s, "`token`", "your token")
	var buf bytes.Buffer
	if err := markdown.Convert([]byte(s), &buf); err != nil {
		return "", err
	}
	// goldmark escapes text and drops raw HTML (it is not configured
	// with html.WithUnsafe), so its output is safe to embed.
	return template.HTML(buf.String()), nil
}

// setup serves GET /t/{tenant}/setup[/{idp}]: choose an IdP, then follow
// its guide with this tenant's Tenant URL, and watch the connection check
// for the IdP's first requests.
func (h *Handler) setup(w http.ResponseWriter, r *http.Request, t tenantRequest, idp string) {
	p, err := h.svc.Panel(r.Context(), t.tenant)
	if err != nil {
		h.panelError(w, r, t, err)
		return
	}
	v := &setupView{Tenant: t.tenant, TenantURL: p.TenantURL, Enabled: p.Enabled, HasToken: p.Token != nil,
		IdPs: guides.All, IdP: idp, Connection: h.buildConnection(r.Context(), t)}
	if b := p.Backend; b != nil {
		v.Product, v.Required = b.Name, b.RequiredAttributes
	}
	switch idp {
	case "", "other":
		v.Name = "Another identity provider"
	default:
		g, md, ok := guides.Lookup(idp)
		if !ok {
			h.fail(w, r, t.p, http.StatusNotFound, "Page not found", "There is no setup guide for this identity provider.")
			return
		}
		v.Name = g.Name
		if v.Guide, err = renderGuide(md, p.TenantURL); err != nil {
			h.internal(w, r, t.p, "rendering the setup guide", err)
			return
		}
	}
	title := "Set up your identity provider"
	if idp != "" {
		title = "Set up " + v.Name
	}
	h.render(w, r, t.p, http.StatusOK, "setup", title, v)
}
