package main

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// histogram records durations into log-linear buckets: values below
// 2^subBits nanoseconds are exact, larger ones land in one of 2^subBits
// buckets per power of two, so a reported percentile is within 1/2^subBits
// (under 0.8%) of the true value. Fixed memory and atomic counters let
// franz-go's promise callbacks record from any goroutine without a lock,
// however many records a run produces.
type histogram struct {
	counts [bucketCount]atomic.Uint64
	n      atomic.Uint64
	sum    atomic.Uint64 // nanoseconds; overflows only after ~584 years of latency
	max    atomic.Int64
}

const (
	subBits     = 7
	subCount    = 1 << subBits
	bucketCount = (64 - subBits) * subCount
)

// bucketOf maps a non-negative value to its bucket. For v >= subCount the
// bucket is chosen by v's highest subBits+1 bits: the shift picks the power
// of two, the remaining subBits bits the linear step inside it.
func bucketOf(v uint64) int {
	if v < subCount {
		return int(v)
	}
	shift := bits.Len64(v) - subBits - 1
	return (shift+1)*subCount + int(v>>shift) - subCount
}

// bucketRange returns the smallest and largest value of bucket i.
func bucketRange(i int) (lo, hi uint64) {
	if i < subCount {
		return uint64(i), uint64(i)
	}
	shift := i/subCount - 1
	m := uint64(i%subCount + subCount)
	return m << shift, (m+1)<<shift - 1
}

// Record adds one duration; negative durations count as zero.
func (h *histogram) Record(d time.Duration) {
	v := max(int64(d), 0)
	h.counts[bucketOf(uint64(v))].Add(1)
	h.n.Add(1)
	h.sum.Add(uint64(v))
	for {
		cur := h.max.Load()
		if v <= cur || h.max.CompareAndSwap(cur, v) {
			return
		}
	}
}

// Count is the number of recorded values.
func (h *histogram) Count() uint64 { return h.n.Load() }

// Max is the largest recorded value, exactly.
func (h *histogram) Max() time.Duration { return time.Duration(h.max.Load()) }

// Mean is the average recorded value, exactly.
func (h *histogram) Mean() time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	return time.Duration(h.sum.Load() / n)
}

// Percentile returns the nearest-rank p-th percentile (0 < p <= 100): the
// smallest bucket holding at least p% of the values, reported as the
// bucket's midpoint and never above the recorded maximum. It must not run
// concurrently with Record if the answer is to be exact.
func (h *histogram) Percentile(p float64) time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	rank := nearestRank(p, n)
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			lo, hi := bucketRange(i)
			return min(time.Duration(lo+(hi-lo)/2), h.Max())
		}
	}
	return h.Max()
}

// nearestRank is the 1-based rank of the p-th percentile of n values. The
// small tolerance keeps float error from pushing an exact rank up by one:
// 99.9/100*1000 is 999.0000000000001 in float64.
func nearestRank(p float64, n uint64) uint64 {
	x := p / 100 * float64(n)
	return min(max(uint64(math.Ceil(x-x*1e-12)), 1), n)
}
