package console

import (
	"bytes"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"
)

// view is what every page's template gets.
type view struct {
	Title  string
	Prefix string
	// Who is the signed-in user; nil on the pages anyone may see.
	Who   *whoView
	Flash *flash
	Data  any
}

type whoView struct {
	Operator bool
	Tenant   string
	CSRF     string
	// CanSignOut is set for a console session.
	CanSignOut bool
}

// flash is a message a POST leaves for the page it redirects to.
type flash struct {
	// Error marks a failure; otherwise it reports a success.
	Error   bool
	Message string
	// Detail is shown preformatted below it (an action's result).
	Detail string
	// Link and LinkText point at a next step.
	Link, LinkText string
}

// errorView is the data of the error page.
type errorView struct {
	Message string
	// Back and BackText link to where to go on; empty: the console's home.
	Back, BackText string
}

func (h *Handler) funcs() template.FuncMap {
	return template.FuncMap{
		"asset":  h.assetPath,
		"tpath":  h.tenantPath,
		"when":   formatTime,
		"whenp":  formatTimePtr,
		"iso":    func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"ago":    func(t time.Time) string { return relative(t, h.now()) },
		"dur":    humanDuration,
		"change": func(kind string) string { return changeText(kind, 0) },
	}
}

// render writes a page with status. GET pages show the message a redirect
// left for them.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, p *principal, status int, page, title string, data any) {
	v := view{Title: title, Prefix: h.prefix, Data: data}
	if p != nil {
		v.Who = &whoView{Operator: p.operator, Tenant: p.tenant, CSRF: p.csrf, CanSignOut: p.sessionID != ""}
		if r.Method == http.MethodGet {
			f, err := h.sessions.takeFlash(r.Context(), p.key, r.URL.Query().Get("flash"))
			if err != nil {
				// The page is worth more than the message: show it without.
				h.log.Warn("console: reading the message for a page", zap.Error(err))
			}
			v.Flash = f
		}
	}
	t, ok := h.pages[page]
	var buf bytes.Buffer
	var err error
	if !ok {
		err = errors.New("no such page template")
	} else {
		err = t.ExecuteTemplate(&buf, "layout.html", v)
	}
	if err != nil {
		h.log.Error("rendering console page", zap.String("page", page), zap.Error(err))
		http.Error(w, "The page could not be shown.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// fail answers with the error page.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, p *principal, status int, title, message string) {
	h.failWith(w, r, p, status, title, errorView{Message: message})
}

func (h *Handler) failWith(w http.ResponseWriter, r *http.Request, p *principal, status int, title string, ev errorView) {
	if ev.Back == "" && p != nil {
		ev.Back, ev.BackText = h.prefix+"/", "Back to the console"
		if !p.operator && !p.invalid {
			ev.Back, ev.BackText = h.tenantPath(p.tenant), "Back to User and Group Sync"
		}
	}
	h.render(w, r, p, status, "error", title, ev)
}

// internal logs err, which happened while doing what, and answers with a
// generic failure.
func (h *Handler) internal(w http.ResponseWriter, r *http.Request, p *principal, doing string, err error) {
	h.log.Error("console: "+doing, zap.String("path", r.URL.Path), zap.Error(err))
	h.fail(w, r, p, http.StatusInternalServerError, "Something went wrong",
		"The server could not complete this request. Try again in a moment; if it keeps failing, contact your service provider.")
}

// serviceError answers a Service error: ErrNotFound as 404, an
// *InvalidError with its message, anything else as an internal error.
func (h *Handler) serviceError(w http.ResponseWriter, r *http.Request, p *principal, doing string, err error) {
	var inv *InvalidError
	switch {
	case errors.Is(err, ErrNotFound):
		h.fail(w, r, p, http.StatusNotFound, "No such tenant", "The server has no tenant of this name.")
	case errors.As(err, &inv):
		h.fail(w, r, p, http.StatusUnprocessableEntity, "Not done", inv.Message)
	default:
		h.internal(w, r, p, doing, err)
	}
}

// redirect answers a POST that changed something: 303 to the page at to,
// which shows f.
func (h *Handler) redirect(w http.ResponseWriter, r *http.Request, p *principal, to, fragment string, f flash) {
	if id, err := h.sessions.putFlash(r.Context(), p.key, f); err == nil {
		sep := "?"
		if strings.Contains(to, "?") {
			sep = "&"
		}
		to += sep + "flash=" + url.QueryEscape(id)
	} else {
		h.log.Warn("console: keeping a message for the next page", zap.Error(err))
	}
	if fragment != "" {
		to += "#" + fragment
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}
