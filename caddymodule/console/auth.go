package console

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"

	"go.uber.org/zap"

	"github.com/caddy-scim/caddy-scim/adapter/tenants"
)

// Request body limits.
const (
	// MaxUpload is the largest file a backend action accepts.
	MaxUpload = 10 << 20
	// maxForm is the largest other form body.
	maxForm = 1 << 20
	// multipartSlack is what a multipart body may carry besides the file.
	multipartSlack = 64 << 10
)

// principal is who a request is from.
type principal struct {
	// tenant is the tenant a tenant admin administers.
	tenant   string
	operator bool
	// key names the principal in what Sessions keeps for it.
	key string
	// csrf is the token every form of the principal carries.
	csrf string
	// sessionID is set for a console session, which may be signed out.
	sessionID string
	// invalid is set when the server's authentication named a tenant
	// that is not a tenant name.
	invalid bool
}

// principal returns who signed r in — the server's own authentication
// first, then a console session cookie — or nil.
func (h *Handler) principal(r *http.Request) (*principal, error) {
	if h.identify != nil {
		tenant, operator := h.identify(r)
		if operator || tenant != "" {
			if operator {
				tenant = ""
			}
			return &principal{
				tenant:   tenant,
				operator: operator,
				key:      identityKey(tenant, operator),
				csrf:     h.sessions.identityCSRF(tenant, operator),
				invalid:  !operator && tenants.CheckName(tenant) != nil,
			}, nil
		}
	}
	c, err := r.Cookie(CookieName)
	if err != nil {
		return nil, nil
	}
	sess, err := h.sessions.session(r.Context(), c.Value)
	if sess == nil || err != nil {
		return nil, err
	}
	return &principal{
		tenant:    sess.tenant,
		operator:  sess.operator,
		key:       sessionKey(c.Value),
		csrf:      sess.csrf,
		sessionID: c.Value,
	}, nil
}

// mayOpen says whether the principal may see and change tenant: an
// operator any, a tenant's admin their own and its named connections.
func (h *Handler) mayOpen(ctx context.Context, p *principal, tenant string) bool {
	switch {
	case p.operator || p.tenant == tenant:
		return true
	case p.tenant == "" || p.invalid:
		return false
	}
	return h.svc.Account(ctx, tenant) == p.tenant
}

// checkCSRF reads the form of a POST (multipart for an action, within
// MaxUpload) and checks its CSRF token. It answers the request itself and
// returns false when the form is too large, malformed or not the
// principal's.
func (h *Handler) checkCSRF(w http.ResponseWriter, r *http.Request, p *principal) bool {
	multipart := strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data")
	limit := int64(maxForm)
	if multipart {
		limit = MaxUpload + multipartSlack
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	var err error
	if multipart {
		err = r.ParseMultipartForm(limit)
	} else {
		err = r.ParseForm()
	}
	if err != nil {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			h.fail(w, r, p, http.StatusRequestEntityTooLarge, "Too large",
				"The form or file sent is too large: a file may be at most 10 MiB.")
			return false
		}
		h.fail(w, r, p, http.StatusBadRequest, "Bad request", "The form could not be read. Go back and try again.")
		return false
	}
	got := r.PostFormValue("csrf")
	if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(p.csrf)) != 1 {
		h.fail(w, r, p, http.StatusForbidden, "Request refused",
			"The form has expired or did not come from this console. Reload the page and try again.")
		return false
	}
	return true
}

// authorize checks that the principal may open tenant, named in the path
// and, for a POST, in the form's tenant field. It answers the request
// itself and returns false when not.
func (h *Handler) authorize(w http.ResponseWriter, r *http.Request, p *principal, tenant string) bool {
	formTenant := ""
	if r.Method == http.MethodPost {
		formTenant = r.PostFormValue("tenant")
	}
	if !h.mayOpen(r.Context(), p, tenant) || (formTenant != "" && !h.mayOpen(r.Context(), p, formTenant)) {
		h.log.Info("console request for another tenant refused",
			zap.String(logKeyTenant, p.tenant), zap.String("requested", clip(tenant)))
		h.fail(w, r, p, http.StatusForbidden, "Access refused", "You may only open your own organization's settings.")
		return false
	}
	if err := tenants.CheckName(tenant); err != nil {
		h.fail(w, r, p, http.StatusNotFound, "No such tenant",
			"There is no tenant of that name: tenant names "+strings.TrimPrefix(tenants.NameRule, "use ")+".")
		return false
	}
	if formTenant != "" && formTenant != tenant {
		h.fail(w, r, p, http.StatusBadRequest, "Bad request", "The form does not belong to this page. Reload the page and try again.")
		return false
	}
	return true
}

// signin serves the sign-in page and uses a sign-in link up.
func (h *Handler) signin(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		q := r.URL.Query()
		secret := q.Get("link")
		if secret == "" {
			p, err := h.principal(r)
			if err != nil {
				h.internal(w, r, nil, "reading the console session", err)
				return
			}
			if p != nil && !p.invalid {
				http.Redirect(w, r, h.prefix+"/", http.StatusSeeOther)
				return
			}
			h.render(w, r, nil, http.StatusOK, "signin", "Sign in", signinView{SignedOut: q.Has("out")})
			return
		}
		state, l, err := h.sessions.peekLink(r.Context(), secret)
		if err != nil {
			h.internal(w, r, nil, "reading a sign-in link", err)
			return
		}
		if state != linkValid {
			h.badLink(w, r, state, l)
			return
		}
		h.render(w, r, nil, http.StatusOK, "signin", "Sign in", signinView{Link: secret, Tenant: l.tenant, Operator: l.operator})
	case http.MethodPost:
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		if err := r.ParseForm(); err != nil {
			h.fail(w, r, nil, http.StatusBadRequest, "Bad request", "The form could not be read.")
			return
		}
		secret := r.PostFormValue("link")
		state, id, sess, err := h.sessions.redeem(r.Context(), secret)
		if err != nil {
			h.internal(w, r, nil, "starting a console session", err)
			return
		}
		if state != linkValid {
			h.log.Info("console sign-in link refused", zap.String("state", state.String()))
			_, l, err := h.sessions.peekLink(r.Context(), secret)
			if err != nil {
				h.internal(w, r, nil, "reading a sign-in link", err)
				return
			}
			h.badLink(w, r, state, l)
			return
		}
		http.SetCookie(w, &http.Cookie{
			Name:     CookieName,
			Value:    id,
			Path:     h.prefix + "/",
			MaxAge:   int(SessionLifetime.Seconds()),
			HttpOnly: true,
			Secure:   true,
			SameSite: http.SameSiteStrictMode,
		})
		h.log.Info("console sign-in", zap.String(logKeyTenant, sess.tenant), zap.Bool(logKeyOperator, sess.operator))
		to := h.prefix + "/"
		if !sess.operator {
			to = h.tenantPath(sess.tenant)
		}
		http.Redirect(w, r, to, http.StatusSeeOther)
	default:
		w.Header().Set("Allow", "GET, POST")
		h.fail(w, r, nil, http.StatusMethodNotAllowed, "Not allowed", "This page does not accept that kind of request.")
	}
}

func (s linkState) String() string {
	switch s {
	case linkValid:
		return "valid"
	case linkUsed:
		return "used"
	case linkExpired:
		return "expired"
	}
	return "unknown"
}

// badLink answers a sign-in with a link that cannot be used; l is the
// link when it is known.
func (h *Handler) badLink(w http.ResponseWriter, r *http.Request, state linkState, l *link) {
	status := http.StatusBadRequest
	v := signinView{Bad: state.String()}
	if l != nil {
		status = http.StatusGone
		v.Tenant, v.Operator = l.tenant, l.operator
	}
	h.render(w, r, nil, status, "signin", "Sign-in link not valid", v)
}

// signout ends a console session.
func (h *Handler) signout(w http.ResponseWriter, r *http.Request, p *principal) {
	if p.sessionID == "" {
		h.fail(w, r, p, http.StatusBadRequest, "Signed in elsewhere",
			"You are signed in to the console through your product's own sign-in; sign out there.")
		return
	}
	if err := h.sessions.end(r.Context(), p.sessionID); err != nil {
		h.internal(w, r, p, "ending a console session", err)
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name:     CookieName,
		Value:    "",
		Path:     h.prefix + "/",
		MaxAge:   -1,
		HttpOnly: true,
		Secure:   true,
		SameSite: http.SameSiteStrictMode,
	})
	http.Redirect(w, r, h.prefix+"/signin?out=1", http.StatusSeeOther)
}

// clip shortens what a user typed for a log line.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// signinView is the data of the sign-in page.
type signinView struct {
	// Link is a usable link's secret, for the Sign in form.
	Link     string
	Tenant   string
	Operator bool
	// SignedOut is set after signing out.
	SignedOut bool
	// Bad says why a link cannot be used: used, expired or unknown.
	Bad string
}
