package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// Field kinds: how a setting's value is edited.
const (
	// kindText is a JSON string, or a setting without a value: one line.
	kindText = "text"
	// kindLines is an array of strings: one value per line.
	kindLines = "lines"
	// kindJSON is any other JSON value, edited as JSON.
	kindJSON = "json"
)

// settingsView is the data of a panel's settings form and actions.
type settingsView struct {
	Backend        string
	Editable       bool
	ReadOnlyReason string
	Fields         []fieldView
	Actions        []actionView
	// Error is the backend's refusal of the last save.
	Error string
}

type fieldView struct {
	ID          string
	Name        string
	Description string
	Required    bool
	Own         bool
	Kind        string
	Value       string
	// Multiline fields are edited in a textarea.
	Multiline bool
}

type actionView struct {
	ID          string
	Name        string
	Description string
	Error       string
}

// fieldKind is how a value is edited.
func fieldKind(v json.RawMessage) string {
	v = bytes.TrimSpace(v)
	if len(v) == 0 || bytes.Equal(v, []byte("null")) || v[0] == '"' {
		return kindText
	}
	var list []string
	if v[0] == '[' && json.Unmarshal(v, &list) == nil {
		return kindLines
	}
	return kindJSON
}

// fieldText is a value as its input shows it.
func fieldText(v json.RawMessage) string {
	switch fieldKind(v) {
	case kindText:
		var s string
		_ = json.Unmarshal(v, &s)
		return s
	case kindLines:
		var list []string
		_ = json.Unmarshal(v, &list)
		return strings.Join(list, "\n")
	}
	var out bytes.Buffer
	if json.Indent(&out, bytes.TrimSpace(v), "", "  ") != nil {
		return string(v)
	}
	return out.String()
}

// newSettingsView returns the form for st, showing input instead of the
// current values where set (the user's input after a refused save).
func newSettingsView(st *Settings, input map[string]string) *settingsView {
	v := &settingsView{Backend: st.Backend, Editable: st.Editable, ReadOnlyReason: st.ReadOnlyReason}
	for i, f := range st.Fields {
		fv := fieldView{
			ID:   "setting-" + strconv.Itoa(i),
			Name: f.Name, Description: f.Description, Required: f.Required, Own: f.Own,
			Kind: fieldKind(f.Value), Value: fieldText(f.Value),
		}
		if s, ok := input[f.Name]; ok {
			fv.Value = s
		}
		fv.Multiline = multiline(fv.Kind, fv.Value)
		v.Fields = append(v.Fields, fv)
	}
	for i, a := range st.Actions {
		v.Actions = append(v.Actions, actionView{ID: "action-" + strconv.Itoa(i), Name: a.Name, Description: a.Description})
	}
	return v
}

// multiline says whether a field is edited in a textarea: a list, a JSON
// array or object, or text of several lines.
func multiline(kind, value string) bool {
	return kind == kindLines || strings.Contains(value, "\n") ||
		(kind == kindJSON && (strings.HasPrefix(value, "[") || strings.HasPrefix(value, "{")))
}

// normalize makes a textarea's submission comparable with what it showed.
func normalize(s string) string {
	return strings.TrimSpace(strings.ReplaceAll(s, "\r\n", "\n"))
}

// settingsJSON builds the settings object from the form: one key per field
// with input, encoded by the field's kind. A field showing the profile's
// default unchanged is left out, so that it keeps following the default.
// It returns the input by field, to show again if the save is refused.
func settingsJSON(st *Settings, form func(string) string) (json.RawMessage, map[string]string, error) {
	obj := make(map[string]json.RawMessage)
	input := make(map[string]string)
	var bad []string
	for _, f := range st.Fields {
		raw := form("s." + f.Name)
		input[f.Name] = raw
		text := normalize(raw)
		if text == "" || (!f.Own && text == normalize(fieldText(f.Value))) {
			continue
		}
		var val []byte
		var err error
		switch fieldKind(f.Value) {
		case kindLines:
			var list []string
			for line := range strings.SplitSeq(text, "\n") {
				if line = strings.TrimSpace(line); line != "" {
					list = append(list, line)
				}
			}
			val, err = json.Marshal(list)
		case kindJSON:
			if !json.Valid([]byte(text)) {
				bad = append(bad, f.Name)
				continue
			}
			val = []byte(text)
		default:
			// A setting without a value may take a list or an object:
			// text that is one is sent as JSON.
			if (text[0] == '[' || text[0] == '{') && json.Valid([]byte(text)) {
				val = []byte(text)
			} else {
				val, err = json.Marshal(text)
			}
		}
		if err != nil {
			return nil, input, err
		}
		obj[f.Name] = val
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return nil, input, &InvalidError{Message: "Not valid JSON: " + strings.Join(bad, ", ") + "."}
	}
	b, err := json.Marshal(obj)
	return b, input, err
}

// saveSettings saves the backend's settings from the form. A refusal
// shows the panel again with the message next to the form and the input
// kept.
func (h *Handler) saveSettings(w http.ResponseWriter, r *http.Request, t tenantRequest) {
	ctx := r.Context()
	st, err := h.svc.Settings(ctx, t.tenant)
	if err != nil {
		h.serviceError(w, r, t.p, "reading the settings of "+t.tenant, err)
		return
	}
	if !st.Editable {
		msg := st.ReadOnlyReason
		if msg == "" {
			msg = "These settings can only be changed by your service provider."
		}
		h.fail(w, r, t.p, http.StatusForbidden, "Settings are read-only", msg)
		return
	}
	obj, input, err := settingsJSON(st, r.PostFormValue)
	if err == nil {
		err = h.svc.SaveSettings(ctx, t.tenant, obj)
	}
	var inv *InvalidError
	switch {
	case errors.As(err, &inv):
		h.refused(w, r, t, func(v *panelView) {
			if v.Settings != nil {
				fresh := newSettingsView(st, input)
				fresh.Actions = v.Settings.Actions
				v.Settings = fresh
				v.Settings.Error = inv.Message
			}
		})
		return
	case err != nil:
		h.serviceError(w, r, t.p, "saving the settings of "+t.tenant, err)
		return
	}
	h.redirect(w, r, t.p, h.tenantPath(t.tenant), "settings", flash{Message: "Settings saved."})
}

// refused shows the panel again with status 422, changed by edit to show
// what was refused.
func (h *Handler) refused(w http.ResponseWriter, r *http.Request, t tenantRequest, edit func(v *panelView)) {
	v, err := h.buildPanel(r.Context(), t)
	if err != nil {
		h.panelError(w, r, t, err)
		return
	}
	edit(v)
	h.render(w, r, t.p, http.StatusUnprocessableEntity, "panel", "User and Group Sync", v)
}

// runAction runs a backend action with the uploaded file as its input.
func (h *Handler) runAction(w http.ResponseWriter, r *http.Request, t tenantRequest) {
	if r.MultipartForm != nil {
		defer r.MultipartForm.RemoveAll()
	}
	name := strings.TrimPrefix(r.URL.Path, h.tenantPath(t.tenant)+"actions/")
	ctx := r.Context()
	st, err := h.svc.Settings(ctx, t.tenant)
	if err != nil {
		h.serviceError(w, r, t.p, "reading the actions of "+t.tenant, err)
		return
	}
	known := false
	for _, a := range st.Actions {
		known = known || a.Name == name
	}
	if !known {
		h.fail(w, r, t.p, http.StatusNotFound, "No such action", "The backend offers no action of this name.")
		return
	}
	var payload []byte
	file, fh, err := r.FormFile("payload")
	switch {
	case errors.Is(err, http.ErrMissingFile), errors.Is(err, http.ErrNotMultipart):
	case err != nil:
		h.fail(w, r, t.p, http.StatusBadRequest, "Bad request", "The uploaded file could not be read.")
		return
	default:
		defer file.Close()
		if fh.Size > MaxUpload {
			h.fail(w, r, t.p, http.StatusRequestEntityTooLarge, "Too large", "The file is larger than 10 MiB.")
			return
		}
		if payload, err = io.ReadAll(io.LimitReader(file, MaxUpload+1)); err != nil {
			h.fail(w, r, t.p, http.StatusBadRequest, "Bad request", "The uploaded file could not be read.")
			return
		}
	}
	res, err := h.svc.RunAction(ctx, t.tenant, name, payload)
	var inv *InvalidError
	switch {
	case errors.As(err, &inv):
		h.refused(w, r, t, func(v *panelView) {
			if v.Settings == nil {
				return
			}
			for i := range v.Settings.Actions {
				if v.Settings.Actions[i].Name == name {
					v.Settings.Actions[i].Error = inv.Message
				}
			}
		})
		return
	case err != nil:
		h.serviceError(w, r, t.p, "running action "+name+" of "+t.tenant, err)
		return
	}
	f := flash{Message: name + ": done."}
	if res != nil {
		if res.Message != "" {
			// A backend's message may name its action already.
			f.Message = name + ": " + strings.TrimPrefix(res.Message, name+": ")
		}
		f.Detail = resultText(res.Result)
	}
	h.redirect(w, r, t.p, h.tenantPath(t.tenant), "actions", f)
}

// maxResult is the most of an action's result a page shows.
const maxResult = 64 << 10

// resultText is an action's result detail, indented, for the page.
func resultText(res json.RawMessage) string {
	res = bytes.TrimSpace(res)
	if len(res) == 0 || bytes.Equal(res, []byte("null")) {
		return ""
	}
	var out bytes.Buffer
	if json.Indent(&out, res, "", "  ") != nil {
		out.Reset()
		out.Write(res)
	}
	if out.Len() > maxResult {
		return out.String()[:maxResult] + "\n…"
	}
	return out.String()
}

// replay puts one dead letter (seq) or all of them (all=1) back for
// delivery.
func (h *Handler) replay(w http.ResponseWriter, r *http.Request, t tenantRequest) {
	var seqs []uint64
	if r.PostFormValue("all") != "1" {
		seq, err := strconv.ParseUint(r.PostFormValue("seq"), 10, 64)
		if err != nil {
			h.fail(w, r, t.p, http.StatusBadRequest, "Bad request", "Say which change to replay, or replay all.")
			return
		}
		seqs = []uint64{seq}
	}
	done, err := h.svc.Replay(r.Context(), t.tenant, seqs)
	var inv *InvalidError
	switch {
	case errors.As(err, &inv):
		h.redirect(w, r, t.p, h.tenantPath(t.tenant), "delivery", flash{Error: true, Message: inv.Message})
		return
	case err != nil:
		h.serviceError(w, r, t.p, "replaying dead letters of "+t.tenant, err)
		return
	}
	msg := "There was nothing to replay."
	if len(done) > 0 {
		msg = fmt.Sprintf("%s sent again for delivery.", plural(len(done), "change", "changes"))
	}
	h.redirect(w, r, t.p, h.tenantPath(t.tenant), "delivery", flash{Message: msg})
}
