package caddymodule

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestObserveLevels pins the level each answer is logged at: a 501, which
// any token holder can ask for with /Me, is not an error.
func TestObserveLevels(t *testing.T) {
	cases := []struct {
		name   string
		method string
		rest   string
		status int
		level  zapcore.Level
	}{
		{"Me is not implemented", http.MethodGet, "/acme/Me", http.StatusNotImplemented, zap.InfoLevel},
		{"PATCH Me is not implemented", http.MethodPatch, "/acme/Me", http.StatusNotImplemented, zap.InfoLevel},
		{"internal error", http.MethodGet, "/acme/Users", http.StatusInternalServerError, zap.ErrorLevel},
		{"unavailable", http.MethodGet, "/acme/Users", http.StatusServiceUnavailable, zap.ErrorLevel},
		{"unauthorized", http.MethodGet, "/acme/Users", http.StatusUnauthorized, zap.WarnLevel},
		{"write", http.MethodPost, "/acme/Users", http.StatusCreated, zap.InfoLevel},
		{"read", http.MethodGet, "/acme/Users", http.StatusOK, zap.DebugLevel},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			core, logs := observer.New(zap.DebugLevel)
			m, err := newMetrics(prometheus.NewRegistry())
			if err != nil {
				t.Fatal(err)
			}
			h := &Handler{logger: zap.New(core), metrics: m}
			r := httptest.NewRequest(c.method, "https://scim.example.com/scim/v2"+c.rest, nil)
			h.observe(r, "acme", operation(c.method, c.rest), c.status, time.Now())
			entries := logs.All()
			if len(entries) != 1 {
				t.Fatalf("%d log entries, want 1", len(entries))
			}
			if entries[0].Level != c.level {
				t.Errorf("logged at %s, want %s", entries[0].Level, c.level)
			}
		})
	}
}
