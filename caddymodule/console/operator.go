package console

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/caddy-scim/caddy-scim/adapter/tenants"
)

// pageSize is how many tenants one page of the operator's list shows.
const pageSize = 100

// listView is the data of the operator's tenant list.
type listView struct {
	Q     string
	Rows  []Summary
	Total int
	// Matched is how many tenants match Q; Rows is one page of them.
	Matched          int
	First, Last      int
	PrevURL, NextURL string
	Profiles         []string
	// New is the "enable SCIM for a tenant" form's input and refusal.
	NewName, NewProfile, NewError string
}

// home serves the operator's tenant list; it sends a tenant admin to
// their panel.
func (h *Handler) home(w http.ResponseWriter, r *http.Request, p *principal) {
	if !p.operator {
		http.Redirect(w, r, h.tenantPath(p.tenant), http.StatusSeeOther)
		return
	}
	h.list(w, r, p, http.StatusOK, func(*listView) {})
}

// list renders the tenant list, changed by edit.
func (h *Handler) list(w http.ResponseWriter, r *http.Request, p *principal, status int, edit func(*listView)) {
	ctx := r.Context()
	all, err := h.svc.Tenants(ctx)
	if err != nil {
		h.internal(w, r, p, "listing tenants", err)
		return
	}
	q := strings.TrimSpace(r.FormValue("q"))
	v := &listView{Q: q, Total: len(all), Profiles: h.svc.Profiles(ctx)}
	var matched []Summary
	for _, s := range all {
		if matches(s, q) {
			matched = append(matched, s)
		}
	}
	v.Matched = len(matched)
	page, _ := strconv.Atoi(r.FormValue("page"))
	pages := max(1, (len(matched)+pageSize-1)/pageSize)
	page = min(max(page, 1), pages)
	from, to := (page-1)*pageSize, min(page*pageSize, len(matched))
	v.Rows = matched[from:to]
	v.First, v.Last = from+1, to
	link := func(n int) string {
		vals := url.Values{"page": {strconv.Itoa(n)}}
		if q != "" {
			vals.Set("q", q)
		}
		return h.prefix + "/?" + vals.Encode()
	}
	if page > 1 {
		v.PrevURL = link(page - 1)
	}
	if page < pages {
		v.NextURL = link(page + 1)
	}
	edit(v)
	h.render(w, r, p, status, "tenants", "Tenants", v)
}

// matches says whether a tenant matches the search q: a case-insensitive
// part of its name, profile or backend, or "disabled"/"enabled", or a
// warning code.
func matches(s Summary, q string) bool {
	if q == "" {
		return true
	}
	q = strings.ToLower(q)
	if strings.Contains(strings.ToLower(s.Tenant), q) || strings.Contains(strings.ToLower(s.Profile), q) ||
		strings.Contains(strings.ToLower(s.Backend), q) {
		return true
	}
	if (q == "disabled" && !s.Enabled) || (q == "enabled" && s.Enabled) {
		return true
	}
	for _, w := range s.Warnings {
		if w.Code == q {
			return true
		}
	}
	return false
}

// enableNew enables SCIM for a tenant the server does not serve yet.
func (h *Handler) enableNew(w http.ResponseWriter, r *http.Request, p *principal) {
	if !p.operator {
		h.fail(w, r, p, http.StatusForbidden, "Access refused", "Only the operator may enable SCIM for a tenant.")
		return
	}
	name := strings.TrimSpace(r.PostFormValue("name"))
	profile := r.PostFormValue("profile")
	refuse := func(msg string) {
		h.list(w, r, p, http.StatusUnprocessableEntity, func(v *listView) {
			v.NewName, v.NewProfile, v.NewError = name, profile, msg
		})
	}
	if err := tenants.CheckName(name); err != nil {
		refuse("A tenant name may " + strings.TrimPrefix(tenants.NameRule, "use ") + ".")
		return
	}
	profiles := h.svc.Profiles(r.Context())
	if !slices.Contains(profiles, profile) {
		refuse("Choose one of the profiles.")
		return
	}
	err := h.svc.EnableTenant(r.Context(), name, profile)
	var inv *InvalidError
	switch {
	case errors.As(err, &inv):
		refuse(inv.Message)
		return
	case err != nil:
		h.internal(w, r, p, "enabling tenant "+name, err)
		return
	}
	h.log.Info("console enabled a tenant", zap.String(logKeyTenant, name), zap.String("profile", profile))
	h.redirect(w, r, p, h.prefix+"/?"+url.Values{"q": {name}}.Encode(), "", flash{
		Message: "SCIM is enabled for " + name + ".",
		Link:    h.tenantPath(name), LinkText: "Open its panel to generate a token",
	})
}

// enableDisable switches SCIM on or off for a tenant, then returns to the
// page the form was on: the panel (return=panel) or the tenant list.
func (h *Handler) enableDisable(w http.ResponseWriter, r *http.Request, t tenantRequest) {
	if !t.p.operator {
		h.fail(w, r, t.p, http.StatusForbidden, "Access refused",
			"Only your service provider can switch provisioning on or off.")
		return
	}
	enable := strings.HasSuffix(r.URL.Path, "/enable")
	var err error
	if enable {
		err = h.svc.EnableTenant(r.Context(), t.tenant, r.PostFormValue("profile"))
	} else {
		err = h.svc.DisableTenant(r.Context(), t.tenant)
	}
	back := h.prefix + "/"
	if r.PostFormValue("return") == "panel" {
		back = h.tenantPath(t.tenant)
	} else if q := r.PostFormValue("q"); q != "" {
		back += "?" + url.Values{"q": {q}}.Encode()
	}
	var inv *InvalidError
	switch {
	case errors.As(err, &inv):
		h.redirect(w, r, t.p, back, "", flash{Error: true, Message: t.tenant + ": " + inv.Message})
		return
	case err != nil:
		h.serviceError(w, r, t.p, "switching tenant "+t.tenant, err)
		return
	}
	msg := "SCIM is enabled for " + t.tenant + "."
	if !enable {
		msg = "SCIM is disabled for " + t.tenant + ": its Tenant URL and token stop working; its data is kept."
	}
	h.log.Info("console switched a tenant", zap.String(logKeyTenant, t.tenant), zap.Bool("enabled", enable))
	h.redirect(w, r, t.p, back, "", flash{Message: msg})
}
