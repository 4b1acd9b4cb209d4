package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/caddy-scim/caddy-scim/adapter/change"
	"github.com/caddy-scim/caddy-scim/adapter/tenants"
	"github.com/caddy-scim/caddy-scim/adapter/tokens"
	"github.com/caddy-scim/caddy-scim/caddymodule/console"
	"github.com/caddy-scim/caddy-scim/plugins/sdk"
)

// consoleService is the console's view of the running config: it
// implements console.Service over the scim app of Caddy's active config,
// looked up at each call, so the console always shows what is served.
type consoleService struct {
	// app returns the running scim app.
	app func() (*App, error)
}

var _ console.Service = consoleService{}

func (c consoleService) running(tenant string) (*App, error) {
	app, err := c.app()
	if err != nil {
		return nil, err
	}
	if err := app.start(); err != nil {
		return nil, err
	}
	if tenant != "" && app.tenant(tenant) == nil {
		if _, ok := app.runtimeRecord(tenant); !ok {
			return nil, console.ErrNotFound
		}
	}
	return app, nil
}

func (c consoleService) Tenants(ctx context.Context) ([]console.Summary, error) {
	app, err := c.running("")
	if err != nil {
		return nil, err
	}
	names := app.allTenantNames()
	out := make([]console.Summary, 0, len(names))
	for _, n := range names {
		st, err := app.status(ctx, n)
		if err != nil {
			return nil, err
		}
		s := console.Summary{Tenant: n, Kind: st.Kind, Enabled: st.Enabled, LastRequest: st.LastRequest,
			LastChange: st.LastChange, Warnings: warnings(st.Warnings)}
		if st.Runtime != nil {
			s.Profile = st.Runtime.Profile
		}
		if st.Backend != nil {
			s.Backend = st.Backend.Name
		}
		if st.Token != nil {
			exp := st.Token.ExpiresAt
			s.TokenExpiry = &exp
		}
		out = append(out, s)
	}
	return out, nil
}

func warnings(ws []tokens.Warning) []console.Warning {
	out := make([]console.Warning, len(ws))
	for i, w := range ws {
		out[i] = console.Warning{Code: w.Code, Message: w.Message}
	}
	return out
}

// tenantConfig is the tenant's effective configuration: declared, or its
// runtime record over its profile.
func (app *App) tenantConfig(name string) *Tenant {
	if reg := app.tenant(name); reg != nil {
		return reg.tenant
	}
	if rec, ok := app.runtimeRecord(name); ok {
		if pr := app.profile(rec.Profile); pr != nil {
			if t, err := effective(pr.profile, &rec); err == nil {
				return t
			}
		}
	}
	return nil
}

func (c consoleService) Panel(ctx context.Context, tenant string) (*console.Panel, error) {
	app, err := c.running(tenant)
	if err != nil {
		return nil, err
	}
	st, err := app.status(ctx, tenant)
	if err != nil {
		return nil, err
	}
	p := &console.Panel{Tenant: tenant, Kind: st.Kind, Enabled: st.Enabled, TenantURL: st.TenantURL,
		LastRequest: st.LastRequest, LastChange: st.LastChange, Warnings: warnings(st.Warnings), Now: now().UTC()}
	if st.Runtime != nil {
		p.Profile = st.Runtime.Profile
	}
	p.TokenValidity = tokens.DefaultValidity
	if t := app.tenantConfig(tenant); t != nil {
		if t.TokenValidity > 0 {
			p.TokenValidity = time.Duration(t.TokenValidity)
		}
		p.RotationOverlap = time.Duration(t.RotationOverlap)
	}
	if tok := st.Token; tok != nil {
		p.Token = &console.TokenInfo{ID: tok.ID, IssuedAt: tok.IssuedAt, ExpiresAt: tok.ExpiresAt}
	}
	for _, o := range st.Overlapping {
		p.Overlapping = append(p.Overlapping, console.TokenInfo{ID: o.ID, IssuedAt: o.IssuedAt, ExpiresAt: o.ExpiresAt, AcceptedUntil: o.RevokedAt})
	}
	if b := st.Backend; b != nil {
		d := b.Delivery
		p.Backend = &console.Backend{Name: b.Name, Version: b.Version, Delivered: d.Delivered, Head: d.Head, Lag: d.Lag,
			LagTime: d.LagTime, DeadLetters: d.DeadLetters, Failing: d.ConsecutiveFailures > 0 && d.Lag > 0, LastError: d.LastError}
		if h := app.shared.host(tenant); h != nil {
			p.Backend.RequiredAttributes = h.required()
		}
	}
	return p, nil
}

func (c consoleService) IssueToken(ctx context.Context, tenant string, regenerate bool) (*console.Credentials, error) {
	app, err := c.running(tenant)
	if err != nil {
		return nil, err
	}
	creds, err := app.issueToken(ctx, tenant, regenerate)
	var exists *tokens.ExistsError
	switch {
	case errors.As(err, &exists):
		return nil, console.ErrTokenExists
	case err != nil:
		return nil, err
	}
	out := &console.Credentials{Tenant: creds.Tenant, TenantURL: creds.TenantURL, Token: creds.Token, ExpiresAt: creds.ExpiresAt}
	for _, p := range creds.Previous {
		out.Previous = append(out.Previous, console.PreviousToken{ID: p.ID, RevokedNow: p.RevokedNow, AcceptedUntil: p.AcceptedUntil})
	}
	return out, nil
}

// issueToken generates a token for a tenant this config serves, as the
// admin API does: refused while one is valid unless regenerate.
func (app *App) issueToken(ctx context.Context, tenant string, regenerate bool) (*Credentials, error) {
	reg := app.tenant(tenant)
	if reg == nil {
		return nil, &console.InvalidError{Message: "SCIM is not enabled for this tenant, so no token can be generated"}
	}
	iss, err := app.shared.tokens.Issue(ctx, tenant, tokens.IssueOptions{
		Validity:    time.Duration(reg.tenant.TokenValidity),
		Overlap:     time.Duration(reg.tenant.RotationOverlap),
		IfNoneValid: !regenerate,
	})
	if err != nil {
		return nil, err
	}
	app.logger.Info("scim token generated", zapTenant(tenant), zapTokenID(iss.Record.ID))
	creds := &Credentials{
		Tenant:    tenant,
		TenantURL: app.tenantURL(tenant),
		Token:     iss.Token,
		ExpiresAt: iss.Record.ExpiresAt,
		Previous:  []PreviousToken{},
	}
	for _, p := range iss.Previous {
		pt := PreviousToken{ID: p.ID, RevokedNow: !p.Until.After(iss.Record.IssuedAt)}
		if !pt.RevokedNow {
			until := p.Until
			pt.AcceptedUntil = &until
		}
		creds.Previous = append(creds.Previous, pt)
	}
	return creds, nil
}

// who names the resource of an event: its userName or displayName.
func who(ev change.Event) string {
	for _, k := range []string{"userName", "displayName"} {
		if v, ok := ev.Resource[k].(string); ok && v != "" {
			return v
		}
	}
	return ""
}

func (c consoleService) Activity(ctx context.Context, tenant string, limit int) ([]console.Activity, error) {
	app, err := c.running(tenant)
	if err != nil {
		return nil, err
	}
	head, err := app.shared.store.LastSeq(ctx, tenant)
	if err != nil {
		return nil, err
	}
	after := uint64(0)
	if head > uint64(limit) {
		after = head - uint64(limit)
	}
	evs, err := app.shared.store.Journal(ctx, tenant, after, limit)
	if err != nil {
		return nil, err
	}
	out := make([]console.Activity, 0, len(evs))
	for i := len(evs) - 1; i >= 0; i-- {
		ev := evs[i]
		out = append(out, console.Activity{Seq: ev.Seq, Time: ev.Time, Kind: string(ev.Kind), ResourceType: ev.ResourceType,
			ID: ev.ID, Who: who(ev), Changed: ev.Changed, Members: len(ev.Members)})
	}
	return out, nil
}

func (c consoleService) Requests(ctx context.Context, tenant string) ([]console.Request, error) {
	app, err := c.running(tenant)
	if err != nil {
		return nil, err
	}
	return app.shared.requests.Recent(ctx, tenant)
}

func (c consoleService) DeadLetters(ctx context.Context, tenant string) ([]console.DeadLetter, error) {
	app, err := c.running(tenant)
	if err != nil {
		return nil, err
	}
	dl, err := app.shared.deliverer.DeadLetters(ctx, tenant)
	if err != nil {
		return nil, err
	}
	out := make([]console.DeadLetter, len(dl))
	for i, d := range dl {
		out[i] = console.DeadLetter{Seq: d.Event.Seq, Time: d.Time, Kind: string(d.Event.Kind), ResourceType: d.Event.ResourceType,
			ID: d.Event.ID, Who: who(d.Event), Error: d.Error, Attempts: d.Attempts}
	}
	return out, nil
}

func (c consoleService) Replay(ctx context.Context, tenant string, seqs []uint64) ([]uint64, error) {
	app, err := c.running(tenant)
	if err != nil {
		return nil, err
	}
	if len(seqs) == 0 {
		dl, err := app.shared.deliverer.DeadLetters(ctx, tenant)
		if err != nil {
			return nil, err
		}
		for _, d := range dl {
			seqs = append(seqs, d.Event.Seq)
		}
	}
	replayed, err := app.shared.deliverer.Replay(ctx, tenant, seqs)
	if err != nil {
		return nil, &console.InvalidError{Message: err.Error()}
	}
	app.logger.Info("dead letters replayed", zapTenant(tenant), zapCount(len(replayed)))
	return replayed, nil
}

func (c consoleService) Settings(ctx context.Context, tenant string) (*console.Settings, error) {
	app, err := c.running(tenant)
	if err != nil {
		return nil, err
	}
	t := app.tenantConfig(tenant)
	out := &console.Settings{}
	if t == nil || t.Backend == nil {
		out.ReadOnlyReason = "This connection has no product backend, so it has no settings."
		return out, nil
	}
	out.Backend = t.Backend.Name
	rec, runtime := app.runtimeRecord(tenant)
	if runtime {
		out.Editable = true
	} else {
		out.ReadOnlyReason = "These settings are part of the server's configuration; ask your service provider to change them."
	}
	var desc *sdk.DescribeResponse
	if h := app.shared.host(tenant); h != nil {
		desc = h.proc.description()
	} else if pr := app.profile(rec.Profile); runtime && pr != nil && pr.proc != nil {
		desc = pr.proc.description()
	}
	values := map[string]json.RawMessage{}
	if len(t.Backend.Settings) > 0 {
		_ = json.Unmarshal(t.Backend.Settings, &values)
	}
	own := map[string]bool{}
	if runtime && len(rec.Settings) > 0 {
		var m map[string]json.RawMessage
		if json.Unmarshal(rec.Settings, &m) == nil {
			for k := range m {
				own[k] = true
			}
		}
	}
	seen := map[string]bool{}
	if desc != nil {
		for _, s := range desc.Settings {
			seen[s.Name] = true
			out.Fields = append(out.Fields, console.Field{Name: s.Name, Description: s.Description, Required: s.Required,
				Value: values[s.Name], Own: own[s.Name]})
		}
		for _, a := range desc.Actions {
			out.Actions = append(out.Actions, console.Action{Name: a.Name, Description: a.Description})
		}
	}
	// Values the backend does not describe still show, so nothing set is
	// hidden from the page.
	var extra []string
	for k := range values {
		if !seen[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(extra)
	for _, k := range extra {
		out.Fields = append(out.Fields, console.Field{Name: k, Value: values[k], Own: own[k]})
	}
	return out, nil
}

func (c consoleService) SaveSettings(ctx context.Context, tenant string, settings json.RawMessage) error {
	app, err := c.running(tenant)
	if err != nil {
		return err
	}
	rec, ok := app.runtimeRecord(tenant)
	if !ok {
		return &console.InvalidError{Message: "These settings are part of the server's configuration; ask your service provider to change them."}
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(settings, &m); err != nil || m == nil {
		return &console.InvalidError{Message: "The settings must be a JSON object."}
	}
	compact, _ := json.Marshal(m)
	rec.Settings = compact
	if len(m) == 0 {
		rec.Settings = nil
	}
	if _, err := app.putRuntime(ctx, rec); err != nil {
		if errors.Is(err, tenants.ErrChanged) {
			return errChangedElsewhere
		}
		if sdk.IsInvalid(err) {
			return &console.InvalidError{Message: strings.TrimPrefix(sdkMessage(err), "configuring tenant "+tenant+": ")}
		}
		return err
	}
	app.logger.Info("runtime tenant settings changed in the console", zapTenant(tenant))
	return nil
}

// errChangedElsewhere is what the console says when a change was made
// from a record another instance had changed meanwhile.
var errChangedElsewhere = &console.InvalidError{Message: "This connection was changed elsewhere at the same moment, so nothing was saved. Reload the page to see the change, then try again."}

// sdkMessage is an SDK error's message without the transport's wrapping.
func sdkMessage(err error) string {
	var e *sdk.Error
	if errors.As(err, &e) {
		return e.Message
	}
	return err.Error()
}

func (c consoleService) RunAction(ctx context.Context, tenant, action string, payload []byte) (*console.ActionResult, error) {
	app, err := c.running(tenant)
	if err != nil {
		return nil, err
	}
	h := app.shared.host(tenant)
	if h == nil {
		return nil, &console.InvalidError{Message: "This connection has no product backend to run actions."}
	}
	cl, err := h.configure(ctx)
	if err != nil {
		return nil, err
	}
	resp, err := cl.Action(ctx, &sdk.ActionRequest{Tenant: tenant, Name: action, Payload: payload})
	switch {
	case errors.Is(err, sdk.ErrUnimplemented):
		return nil, &console.InvalidError{Message: "The product offers no actions."}
	case sdk.IsInvalid(err):
		return nil, &console.InvalidError{Message: sdkMessage(err)}
	case err != nil:
		return nil, err
	}
	app.logger.Info("backend action run in the console", zapTenant(tenant), zapAction(action))
	return &console.ActionResult{Message: resp.Message, Result: resp.Result}, nil
}

func (c consoleService) Profiles(ctx context.Context) []string {
	app, err := c.running("")
	if err != nil {
		return nil
	}
	return app.profileNames()
}

func (c consoleService) EnableTenant(ctx context.Context, tenant, profile string) error {
	app, err := c.running("")
	if err != nil {
		return err
	}
	if err := tenants.CheckName(tenant); err != nil {
		return &console.InvalidError{Message: err.Error()}
	}
	if app.staticTenant(tenant) != nil {
		return &console.InvalidError{Message: fmt.Sprintf("%s is declared in the server's configuration and is always enabled.", tenant)}
	}
	rec, exists := app.runtimeRecord(tenant)
	if !exists || profile != "" {
		req := RuntimeTenantRequest{Profile: profile}
		if exists {
			req = requestFrom(runtimeInfo(rec))
			req.Profile = profile
		}
		if rec, err = app.recordFrom(tenant, req); err != nil {
			return &console.InvalidError{Message: err.Error()}
		}
	}
	_, err = app.putRuntime(ctx, rec)
	var conflict *tenants.ConflictError
	switch {
	case errors.As(err, &conflict), errors.Is(err, tenants.ErrPurging):
		return &console.InvalidError{Message: err.Error()}
	case errors.Is(err, tenants.ErrChanged):
		return errChangedElsewhere
	case sdk.IsInvalid(err):
		return &console.InvalidError{Message: sdkMessage(err)}
	case err != nil:
		return err
	}
	app.logger.Info("runtime tenant enabled in the console", zapTenant(tenant), zapProfile(rec.Profile))
	return nil
}

func (c consoleService) DisableTenant(ctx context.Context, tenant string) error {
	app, err := c.running(tenant)
	if err != nil {
		return err
	}
	if _, ok := app.runtimeRecord(tenant); !ok {
		return &console.InvalidError{Message: fmt.Sprintf("%s is declared in the server's configuration; remove it there to disable it.", tenant)}
	}
	if _, err := app.shared.runtime.Disable(ctx, tenant); err != nil {
		if errors.Is(err, tenants.ErrChanged) {
			return errChangedElsewhere
		}
		return err
	}
	app.removeRuntime(tenant)
	app.logger.Info("runtime tenant disabled in the console", zapTenant(tenant))
	return nil
}
