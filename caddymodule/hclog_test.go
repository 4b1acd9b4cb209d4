package caddymodule

import (
	"testing"

	"github.com/hashicorp/go-hclog"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestZapHCLog(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	l := newZapHCLog(zap.New(core)).Named("pharos").With("tenant", "acme")
	l.Debug("hidden at info level")
	l.Info("applied", "count", 3)
	l.Log(hclog.Error, "store failed", "err", "disk full", "dangling")
	if l.IsDebug() || !l.IsInfo() || l.GetLevel() != hclog.Info || l.Name() != "pharos" {
		t.Errorf("levels/name: debug=%v info=%v level=%v name=%q", l.IsDebug(), l.IsInfo(), l.GetLevel(), l.Name())
	}
	entries := logs.All()
	if len(entries) != 2 {
		t.Fatalf("%d entries, want 2: %v", len(entries), entries)
	}
	first := entries[0]
	if first.LoggerName != "pharos" || first.Message != "applied" || first.Level != zap.InfoLevel ||
		first.ContextMap()["tenant"] != "acme" || first.ContextMap()["count"] != int64(3) {
		t.Errorf("first entry = %+v %v", first.Entry, first.ContextMap())
	}
	second := entries[1]
	if second.Level != zap.ErrorLevel || second.ContextMap()["err"] != "disk full" || second.ContextMap()["extra"] != "dangling" {
		t.Errorf("second entry = %+v %v", second.Entry, second.ContextMap())
	}
}
