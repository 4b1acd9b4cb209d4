package console

import (
	"testing"
	"time"
)

func TestRelative(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		at   time.Time
		want string
	}{
		// A one-year token a moment after it was generated.
		{now.Add(365*24*time.Hour - 5*time.Millisecond), "in 1 year"},
		{now.Add(12*24*time.Hour + 23*time.Hour), "in 12 days"},
		{now.Add(30 * time.Second), "in under a minute"},
		{now.Add(-30 * time.Second), "just now"},
		{now.Add(-3 * time.Hour), "3 hours ago"},
		{now.Add(-61 * 24 * time.Hour), "61 days ago"},
	} {
		if got := relative(c.at, now); got != c.want {
			t.Errorf("%v from now: %q, want %q", c.at.Sub(now), got, c.want)
		}
	}
}
