package console

import (
	"context"
	"errors"
	"net/http"
	"time"

	"go.uber.org/zap"
)

// activityLimit is how many journal events the panel shows.
const activityLimit = 20

// maxRequests is how many connection-check rows the panel shows.
const maxRequests = 50

// panelView is the data of a tenant's panel.
type panelView struct {
	Tenant string
	// Missing is set when the server knows no such tenant: SCIM is not
	// enabled for it.
	Missing bool
	Panel   *Panel
	Notices []notice
	// TokenExpired is set when the newest token no longer works.
	TokenExpired bool
	// Nonce is the Generate form's single-use nonce; empty when the
	// tenant has a token (the panel then links to the confirmation).
	Nonce string

	Connection connectionView

	Activity    []activityView
	ActivityErr bool

	DeadLetters []DeadLetter
	DeadErr     bool

	Settings    *settingsView
	SettingsErr bool

	// Account is the account this tenant is a named connection of.
	Account string
	// Connections are the account's named connections, and
	// ConnectionsLeft how many more it may create; shown on an account's
	// panel when it has or may have some.
	Connections     []Summary
	ConnectionsLeft int
	ConnectionsErr  bool
}

type activityView struct {
	Activity
	Text string
}

// connectionView is the connection check: the Tenant URL's last requests.
type connectionView struct {
	Tenant   string
	Requests []requestView
	Err      bool
}

type requestView struct {
	Request
	Outcome string
	OK      bool
}

// panel serves a tenant's panel. It never generates or shows a token.
func (h *Handler) panel(w http.ResponseWriter, r *http.Request, t tenantRequest) {
	v, err := h.buildPanel(r.Context(), t)
	if err != nil {
		h.panelError(w, r, t, err)
		return
	}
	h.render(w, r, t.p, http.StatusOK, "panel", "User and Group Sync", v)
}

// panelError answers a failure to read a tenant's panel.
func (h *Handler) panelError(w http.ResponseWriter, r *http.Request, t tenantRequest, err error) {
	if errors.Is(err, ErrNotFound) && t.p.operator {
		h.failWith(w, r, t.p, http.StatusNotFound, "No such tenant", errorView{
			Message: "SCIM is not enabled for " + t.tenant + ". Enable it from the tenant list.",
			Back:    h.prefix + "/?q=" + t.tenant, BackText: "Go to the tenant list",
		})
		return
	}
	h.serviceError(w, r, t.p, "reading the panel of "+t.tenant, err)
}

// buildPanel reads what the panel shows. A tenant the server does not know
// is, for its own admin, a tenant SCIM was not enabled for.
func (h *Handler) buildPanel(ctx context.Context, t tenantRequest) (*panelView, error) {
	v := &panelView{Tenant: t.tenant}
	p, err := h.svc.Panel(ctx, t.tenant)
	if errors.Is(err, ErrNotFound) && !t.p.operator {
		v.Missing = true
		return v, nil
	}
	if err != nil {
		return nil, err
	}
	now := h.now()
	v.Panel = p
	v.Notices = tenantNotices(p, now)
	v.TokenExpired = tokenExpired(p, now)
	if p.Token == nil && p.Enabled {
		if v.Nonce, err = h.sessions.newNonce(ctx, t.p.key, t.tenant); err != nil {
			return nil, err
		}
	}
	v.Connection = h.buildConnection(ctx, t)
	if v.Account = h.svc.Account(ctx, t.tenant); v.Account == "" {
		if cs, left, err := h.svc.Connections(ctx, t.tenant); err != nil {
			h.sectionError("connections", t.tenant, err)
			v.ConnectionsErr = true
		} else {
			v.Connections, v.ConnectionsLeft = cs, left
		}
	}

	if acts, err := h.svc.Activity(ctx, t.tenant, activityLimit); err != nil {
		h.sectionError("activity", t.tenant, err)
		v.ActivityErr = true
	} else {
		if len(acts) > activityLimit {
			acts = acts[:activityLimit]
		}
		for _, a := range acts {
			v.Activity = append(v.Activity, activityView{Activity: a, Text: activityText(a)})
		}
	}
	if p.Backend == nil {
		return v, nil
	}
	if dl, err := h.svc.DeadLetters(ctx, t.tenant); err != nil {
		h.sectionError("dead letters", t.tenant, err)
		v.DeadErr = true
	} else {
		v.DeadLetters = dl
	}
	if st, err := h.svc.Settings(ctx, t.tenant); err != nil {
		h.sectionError("settings", t.tenant, err)
		v.SettingsErr = true
	} else {
		v.Settings = newSettingsView(st, nil)
	}
	return v, nil
}

// sectionError logs a failure to read one part of a panel; the panel shows
// the rest.
func (h *Handler) sectionError(section, tenant string, err error) {
	h.log.Error("console: reading a panel section", zap.String("section", section), zap.String(logKeyTenant, tenant), zap.Error(err))
}

func (h *Handler) buildConnection(ctx context.Context, t tenantRequest) connectionView {
	reqs, err := h.svc.Requests(ctx, t.tenant)
	return h.connectionView(t, reqs, err)
}

// connectionView shows the requests Service.Requests returned, or that
// they could not be read.
func (h *Handler) connectionView(t tenantRequest, reqs []Request, err error) connectionView {
	c := connectionView{Tenant: t.tenant}
	if err != nil {
		h.sectionError("requests", t.tenant, err)
		c.Err = true
		return c
	}
	if len(reqs) > maxRequests {
		reqs = reqs[:maxRequests]
	}
	for _, q := range reqs {
		c.Requests = append(c.Requests, requestView{Request: q, Outcome: requestOutcome(q), OK: q.Status < 400})
	}
	return c
}

// connection serves the connection check alone, which the panel's script
// fetches to refresh it.
func (h *Handler) connection(w http.ResponseWriter, r *http.Request, t tenantRequest) {
	// The script polls this every few seconds: read the requests alone,
	// not the whole panel.
	reqs, err := h.svc.Requests(r.Context(), t.tenant)
	if errors.Is(err, ErrNotFound) {
		h.panelError(w, r, t, err)
		return
	}
	h.render(w, r, t.p, http.StatusOK, "connection", "Connection check", h.connectionView(t, reqs, err))
}

// tokenExpired says whether the tenant's newest token no longer works:
// expired, or revoked as the server's token_expired warning says.
func tokenExpired(p *Panel, now time.Time) bool {
	if p.Token == nil {
		return false
	}
	for _, w := range p.Warnings {
		if w.Code == "token_expired" {
			return true
		}
	}
	return !now.Before(p.Token.ExpiresAt)
}

// overlapText says what regenerating does to the current token.
func overlapText(p *Panel, expired bool, now time.Time) string {
	switch {
	case expired:
		return "Your current token no longer works; the new one replaces it."
	case p.RotationOverlap <= 0:
		return "Your current token stops working at once: provisioning fails until you enter the new token in your identity provider."
	}
	return "Your current token keeps working until " + formatTime(now.Add(p.RotationOverlap)) + " (for " +
		humanDuration(p.RotationOverlap) + "), so you can enter the new token in your identity provider without a gap."
}

// validityText says how long a new token is valid.
func validityText(p *Panel, now time.Time) string {
	if p.TokenValidity <= 0 {
		return ""
	}
	return "The new token is valid for " + humanDuration(p.TokenValidity) + ", until " + formatTime(now.Add(p.TokenValidity)) + "."
}
