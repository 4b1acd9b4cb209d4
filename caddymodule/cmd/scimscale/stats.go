package main

import (
	"math"
	"slices"
	"time"
)

// percentile returns the p-th percentile (0 < p ≤ 100) of sorted by the
// nearest-rank method: the smallest value that at least p percent of the
// values are less than or equal to. It returns 0 for no values.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// Latency summarises request times, in milliseconds.
type Latency struct {
	Requests    int            `json:"requests"`
	Tenants     int            `json:"tenants"`
	Connections int64          `json:"connections"`
	Errors      int            `json:"errors"`
	Statuses    map[string]int `json:"statuses,omitempty"`
	P50ms       float64        `json:"p50_ms"`
	P90ms       float64        `json:"p90_ms"`
	P99ms       float64        `json:"p99_ms"`
	Maxms       float64        `json:"max_ms"`
	Meanms      float64        `json:"mean_ms"`
}

// summarize fills the percentiles, maximum and mean of d; it sorts d.
func summarize(d []time.Duration) Latency {
	slices.Sort(d)
	l := Latency{Requests: len(d)}
	if len(d) == 0 {
		return l
	}
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	l.P50ms = ms(percentile(d, 50))
	l.P90ms = ms(percentile(d, 90))
	l.P99ms = ms(percentile(d, 99))
	l.Maxms = ms(d[len(d)-1])
	l.Meanms = ms(sum / time.Duration(len(d)))
	return l
}

func ms(d time.Duration) float64 {
	return math.Round(float64(d)/float64(time.Millisecond)*1000) / 1000
}

// cpuPercent is the CPU time used between two readings of a process, in
// percent of one core over wall.
func cpuPercent(ticksBefore, ticksAfter uint64, wall time.Duration) float64 {
	if wall <= 0 || ticksAfter < ticksBefore {
		return 0
	}
	used := float64(ticksAfter-ticksBefore) / clockTicks
	return used / wall.Seconds() * 100
}

// sample picks up to n of the tenants 1..total, spread evenly and always
// including the last one and every one in must; it returns them in order.
func sample(total, n int, must []int) []int {
	seen := map[int]bool{}
	var out []int
	add := func(i int) {
		if i >= 1 && i <= total && !seen[i] {
			seen[i] = true
			out = append(out, i)
		}
	}
	for _, i := range must {
		add(i)
	}
	add(total)
	if rest := n - len(out); rest > 0 {
		// Evenly spaced points strictly inside 1..total, then, should
		// some of them coincide with must, the lowest tenants not taken.
		for k := 1; k <= rest; k++ {
			add(int(math.Round(float64(k) * float64(total) / float64(rest+1))))
		}
		for i := 1; i <= total && len(out) < n; i++ {
			add(i)
		}
	}
	slices.Sort(out)
	return out
}
