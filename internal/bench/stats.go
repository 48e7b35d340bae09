package bench

import (
	"slices"
	"time"
)

// Dist summarises a set of durations: how many, the median and the 99th
// percentile (nearest rank), and the largest.
type Dist struct {
	N             int
	P50, P99, Max time.Duration
}

// distOf summarises ds; the zero Dist when there are none.
func distOf(ds []time.Duration) Dist {
	if len(ds) == 0 {
		return Dist{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return Dist{N: len(s), P50: rank(s, 0.50), P99: rank(s, 0.99), Max: s[len(s)-1]}
}

// rank is the nearest-rank percentile of sorted s.
func rank(s []time.Duration, p float64) time.Duration {
	i := int(float64(len(s))*p+0.999999) - 1
	return s[max(0, min(i, len(s)-1))]
}
