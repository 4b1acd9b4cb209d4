package caddymodule

import (
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"

	"go.uber.org/zap"

	"github.com/caddy-scim/caddy-scim/adapter/delivery"
	"github.com/caddy-scim/caddy-scim/adapter/store"
	"github.com/caddy-scim/caddy-scim/adapter/tokens"
)

// TestFirstStartRetriesAFailedHandshake: a backend process that fails its
// first handshake is started again instead of rejecting the config; one
// that never starts still fails, with the backend named.
func TestFirstStartRetriesAFailedHandshake(t *testing.T) {
	st, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s := &shared{
		store:     st,
		tokens:    tokens.NewManager(st, nil),
		deliverer: delivery.New(st, delivery.Options{Logger: zap.NewNop()}),
		logger:    zap.NewNop(),
		hosts:     map[string][]*tenantBackend{},
	}
	real := defaultBackendCommand
	var calls atomic.Int32
	failFirst := int32(1)
	hook := func(cfg *BackendConfig) (*exec.Cmd, error) {
		if calls.Add(1) <= failFirst {
			// Exits at once without a handshake line.
			return exec.Command("sh", "-c", "exit 0"), nil
		}
		return real(cfg)
	}
	launchHook.Store(&hook)
	defer launchHook.Store(nil)

	h, err := startBackendProcess(s, BackendConfig{Name: "pharos"}, zap.NewNop())
	if err != nil {
		t.Fatalf("a backend whose first handshake failed was not started again: %v", err)
	}
	defer h.Destruct()
	if n := calls.Load(); n != 2 {
		t.Errorf("launched %d times; want 2", n)
	}

	calls.Store(0)
	failFirst = launchAttempts
	_, err = startBackendProcess(s, BackendConfig{Name: "pharos"}, zap.NewNop())
	if err == nil || !strings.Contains(err.Error(), "backend pharos: starting") {
		t.Fatalf("a backend that never starts: %v", err)
	}
	if n := calls.Load(); n != launchAttempts {
		t.Errorf("launched %d times; want %d", n, launchAttempts)
	}
}
