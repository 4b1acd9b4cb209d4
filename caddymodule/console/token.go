package console

import (
	"errors"
	"net/http"
	"time"

	"go.uber.org/zap"
)

// confirmView is the data of the page that confirms replacing a token.
type confirmView struct {
	Tenant string
	// Exists is set when Generate found a valid token.
	Exists   bool
	Overlap  string
	Validity string
	Nonce    string
}

// tokenView is the data of the page that shows a new token once.
type tokenView struct {
	Tenant    string
	TenantURL string
	Token     string
	ExpiresAt time.Time
	Previous  []string
	// Filename is the credentials download's name.
	Filename string
}

// alreadyShown is the answer to a token form used twice.
const alreadyShown = "This token was already shown and is not shown again. " +
	"If you did not keep it, regenerate the token and enter the new one in your identity provider."

// regenerate serves the page that confirms replacing the token.
func (h *Handler) regenerate(w http.ResponseWriter, r *http.Request, t tenantRequest) {
	h.confirm(w, r, t, false)
}

// confirm renders the regenerate confirmation with a fresh nonce; exists
// says Generate found a valid token.
func (h *Handler) confirm(w http.ResponseWriter, r *http.Request, t tenantRequest, exists bool) {
	p, err := h.svc.Panel(r.Context(), t.tenant)
	if err != nil {
		h.panelError(w, r, t, err)
		return
	}
	if !p.Enabled {
		h.redirect(w, r, t.p, h.tenantPath(t.tenant), "", flash{Error: true, Message: "Provisioning is switched off, so no token can be generated."})
		return
	}
	if p.Token == nil && !exists {
		// Nothing to replace: the panel offers Generate.
		http.Redirect(w, r, h.tenantPath(t.tenant), http.StatusSeeOther)
		return
	}
	nonce, err := h.sessions.newNonce(r.Context(), t.p.key, t.tenant)
	if err != nil {
		h.internal(w, r, t.p, "making a form nonce", err)
		return
	}
	now := h.now()
	v := confirmView{
		Tenant:   t.tenant,
		Exists:   exists,
		Overlap:  overlapText(p, tokenExpired(p, now), now),
		Validity: validityText(p, now),
		Nonce:    nonce,
	}
	h.render(w, r, t.p, http.StatusOK, "regenerate", "Regenerate token", v)
}

// token generates a token and shows it, once. The form's nonce is used up
// first, so that the same form posted again — a reload, a second click —
// mints nothing.
func (h *Handler) token(w http.ResponseWriter, r *http.Request, t tenantRequest) {
	regenerate := r.PostFormValue("regenerate") == "1"
	if regenerate && r.PostFormValue("confirm") != "1" {
		h.confirm(w, r, t, false)
		return
	}
	fresh, err := h.sessions.useNonce(r.Context(), t.p.key, t.tenant, r.PostFormValue("nonce"))
	if err != nil {
		h.internal(w, r, t.p, "using a form nonce", err)
		return
	}
	if !fresh {
		h.failWith(w, r, t.p, http.StatusConflict, "Token not shown again", errorView{
			Message: alreadyShown,
			Back:    h.tenantPath(t.tenant), BackText: "Back to User and Group Sync",
		})
		return
	}
	creds, err := h.svc.IssueToken(r.Context(), t.tenant, regenerate)
	if errors.Is(err, ErrTokenExists) {
		h.confirm(w, r, t, true)
		return
	}
	if err != nil {
		h.serviceError(w, r, t.p, "generating a token for "+t.tenant, err)
		return
	}
	h.log.Info("console token generated", zap.String(logKeyTenant, t.tenant), zap.Bool("regenerate", regenerate),
		zap.Bool(logKeyOperator, t.p.operator))
	v := tokenView{
		Tenant:    t.tenant,
		TenantURL: creds.TenantURL,
		Token:     creds.Token,
		ExpiresAt: creds.ExpiresAt,
		Filename:  "scim-credentials-" + t.tenant + ".txt",
	}
	for _, prev := range creds.Previous {
		v.Previous = append(v.Previous, previousText(prev))
	}
	w.Header().Set("Cache-Control", "no-store")
	h.render(w, r, t.p, http.StatusOK, "token", "Your new token", v)
}

// previousText says what generating a token did to an earlier one.
func previousText(p PreviousToken) string {
	switch {
	case p.RevokedNow:
		return "The previous token stopped working now: enter the new token in your identity provider right away."
	case p.AcceptedUntil != nil:
		return "The previous token keeps working until " + formatTime(*p.AcceptedUntil) +
			", so you can enter the new token in your identity provider without a gap."
	}
	return "The previous token was replaced."
}
