package main

import (
	"math"
	"slices"
	"strconv"
	"time"
)

// quantile is the nearest-rank q-quantile (0 < q ≤ 1) of sorted: the
// smallest sample with at least q of all samples at or below it.
func quantile(sorted []time.Duration, q float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	// ceil(q·n), forgiving the float error of q·n for q such as 0.29.
	r := int(math.Ceil(q*float64(n) - 1e-9))
	return sorted[min(max(r, 1), n)-1]
}

// OpStats is what one operation did in a phase.
type OpStats struct {
	Op       string         `json:"op"`
	Requests int            `json:"requests"`
	PerSec   float64        `json:"per_second"`
	P50ms    float64        `json:"p50_ms"`
	P99ms    float64        `json:"p99_ms"`
	Maxms    float64        `json:"max_ms"`
	Non2xx   map[string]int `json:"non_2xx,omitempty"`
	// Wrong counts 2xx answers with the wrong content: a userName lookup
	// of an existing user that did not find exactly one.
	Wrong int `json:"wrong,omitempty"`
}

// tally collects the samples of one operation.
type tally struct {
	durs   []time.Duration
	non2xx map[string]int
	wrong  int
}

func (t *tally) add(d time.Duration, status int, err error, wrong bool) {
	t.durs = append(t.durs, d)
	if err != nil || status < 200 || status > 299 {
		if t.non2xx == nil {
			t.non2xx = map[string]int{}
		}
		t.non2xx[statusLabel(status, err)]++
	}
	if wrong {
		t.wrong++
	}
}

func (t *tally) merge(o *tally) {
	t.durs = append(t.durs, o.durs...)
	for k, v := range o.non2xx {
		if t.non2xx == nil {
			t.non2xx = map[string]int{}
		}
		t.non2xx[k] += v
	}
	t.wrong += o.wrong
}

// stats summarises t over a phase of wall time; it sorts t's samples.
func (t *tally) stats(name string, wall time.Duration) OpStats {
	slices.Sort(t.durs)
	s := OpStats{Op: name, Requests: len(t.durs), Non2xx: t.non2xx, Wrong: t.wrong}
	if len(t.durs) == 0 {
		return s
	}
	s.PerSec = round(float64(len(t.durs))/wall.Seconds(), 1)
	s.P50ms = millis(quantile(t.durs, 0.50))
	s.P99ms = millis(quantile(t.durs, 0.99))
	s.Maxms = millis(t.durs[len(t.durs)-1])
	return s
}

func statusLabel(status int, err error) string {
	if err != nil {
		return "transport error"
	}
	return strconv.Itoa(status)
}

func millis(d time.Duration) float64 { return round(d.Seconds()*1000, 2) }

func round(x float64, digits int) float64 {
	p := 1.0
	for range digits {
		p *= 10
	}
	if x < 0 {
		return -float64(int64(-x*p+0.5)) / p
	}
	return float64(int64(x*p+0.5)) / p
}
