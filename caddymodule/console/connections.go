package console

import (
	"errors"
	"net/http"
	"strings"
)

// createConnection serves POST /t/{account}/connections: a new named SCIM
// connection of the account, its own tenant with its own Tenant URL and
// token, as products that let one customer connect several IdPs (or
// several directories of one) do.
func (h *Handler) createConnection(w http.ResponseWriter, r *http.Request, t tenantRequest) {
	name := strings.TrimSpace(r.PostFormValue("name"))
	back := h.tenantPath(t.tenant)
	if name == "" {
		h.redirect(w, r, t.p, back, "connections", flash{Error: true, Message: "Give the new connection a name."})
		return
	}
	created, err := h.svc.CreateConnection(r.Context(), t.tenant, name)
	var inv *InvalidError
	switch {
	case errors.As(err, &inv):
		h.redirect(w, r, t.p, back, "connections", flash{Error: true, Message: inv.Message})
		return
	case err != nil:
		h.serviceError(w, r, t.p, "creating a connection of "+t.tenant, err)
		return
	}
	h.redirect(w, r, t.p, h.tenantPath(created), "sync", flash{
		Message: "The connection " + name + " is created. Generate its token, then enter its Tenant URL and token in the identity provider it is for.",
	})
}
