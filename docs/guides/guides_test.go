package guides

import (
	"bytes"
	"testing"
)

func TestEveryGuideIsEmbedded(t *testing.T) {
	for _, g := range All {
		got, md, ok := Lookup(g.Key)
		if !ok || got != g || !bytes.HasPrefix(md, []byte("# ")) {
			t.Errorf("%s: %v %q…", g.Key, ok, md[:min(len(md), 20)])
		}
		// The console replaces the credentials step with its own and fills
		// in the Tenant URL where the guide names tenant_url.
		if !bytes.Contains(md, []byte("\n## 1. ")) || !bytes.Contains(md, []byte("`tenant_url`")) {
			t.Errorf("%s: no step 1 or no `tenant_url` for the console to fill in", g.Key)
		}
	}
	if _, _, ok := Lookup("nope"); ok {
		t.Error("an unknown IdP has a guide")
	}
}
