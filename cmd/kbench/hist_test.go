package main

import (
	"math"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBucketRoundTrip(t *testing.T) {
	values := []uint64{0, 1, 127, 128, 129, 255, 256, 257, 1000, 1 << 20, 123456789, math.MaxInt64}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		values = append(values, rng.Uint64N(math.MaxInt64))
	}
	for _, v := range values {
		i := bucketOf(v)
		require.Less(t, i, bucketCount, "value %d", v)
		lo, hi := bucketRange(i)
		require.LessOrEqual(t, lo, v, "value %d bucket %d", v, i)
		require.GreaterOrEqual(t, hi, v, "value %d bucket %d", v, i)
		// The width of a bucket bounds the relative error.
		assert.LessOrEqual(t, float64(hi-lo), float64(lo)/subCount+1, "value %d", v)
	}
}

func TestBucketsAreContiguous(t *testing.T) {
	_, prevHi := bucketRange(0)
	for i := 1; i < bucketCount; i++ {
		lo, hi := bucketRange(i)
		require.Equal(t, prevHi+1, lo, "bucket %d", i)
		require.Equal(t, i, bucketOf(lo))
		require.Equal(t, i, bucketOf(hi))
		prevHi = hi
	}
	assert.Equal(t, uint64(math.MaxInt64), prevHi)
}

func TestPercentileEmpty(t *testing.T) {
	var h histogram
	assert.Zero(t, h.Percentile(50))
	assert.Zero(t, h.Mean())
	assert.Zero(t, h.Max())
}

func TestPercentiles(t *testing.T) {
	tests := []struct {
		name   string
		values func() []time.Duration
	}{
		{"uniform 1..1000ms", func() []time.Duration {
			var out []time.Duration
			for i := 1; i <= 1000; i++ {
				out = append(out, time.Duration(i)*time.Millisecond)
			}
			return out
		}},
		{"single value", func() []time.Duration { return []time.Duration{3 * time.Millisecond} }},
		{"small exact values", func() []time.Duration { return []time.Duration{5, 1, 3, 2, 4} }},
		{"long tail", func() []time.Duration {
			rng := rand.New(rand.NewPCG(3, 4))
			var out []time.Duration
			for range 100000 {
				out = append(out, time.Duration(rng.ExpFloat64()*float64(2*time.Millisecond)))
			}
			return append(out, 2*time.Second)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			values := tc.values()
			var h histogram
			var sum time.Duration
			for _, v := range values {
				h.Record(v)
				sum += v
			}
			sorted := append([]time.Duration(nil), values...)
			sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
			require.Equal(t, uint64(len(values)), h.Count())
			assert.Equal(t, sorted[len(sorted)-1], h.Max())
			assert.Equal(t, sum/time.Duration(len(values)), h.Mean())
			for _, p := range []float64{0.1, 50, 90, 99, 99.9, 100} {
				want := sorted[nearestRank(p, uint64(len(sorted)))-1]
				got := h.Percentile(p)
				assert.InDelta(t, float64(want), float64(got), float64(want)/subCount+1, "p%v", p)
			}
		})
	}
}

func TestNearestRank(t *testing.T) {
	assert.Equal(t, uint64(999), nearestRank(99.9, 1000))
	assert.Equal(t, uint64(1000), nearestRank(99.95, 1000))
	assert.Equal(t, uint64(500), nearestRank(50, 1000))
	assert.Equal(t, uint64(1), nearestRank(0, 1000))
	assert.Equal(t, uint64(1), nearestRank(50, 1))
	assert.Equal(t, uint64(1000), nearestRank(100, 1000))
}

func TestPercentileHonoursRank(t *testing.T) {
	var h histogram
	for range 999 {
		h.Record(time.Millisecond)
	}
	h.Record(time.Second)
	assert.InDelta(t, float64(time.Millisecond), float64(h.Percentile(99.9)), float64(time.Millisecond)/subCount)
	assert.Equal(t, time.Second, h.Percentile(99.95))
	assert.Equal(t, time.Second, h.Percentile(100))
}

func TestNegativeRecordsAsZero(t *testing.T) {
	var h histogram
	h.Record(-time.Second)
	assert.Equal(t, time.Duration(0), h.Percentile(50))
	assert.Equal(t, time.Duration(0), h.Max())
}

func TestConcurrentRecord(t *testing.T) {
	var h histogram
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				h.Record(time.Duration(g*1000+i) * time.Microsecond)
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, uint64(8000), h.Count())
	assert.Equal(t, 7999*time.Microsecond, h.Max())
	assert.InDelta(t, float64(4000*time.Microsecond), float64(h.Percentile(50)), float64(4000*time.Microsecond)/subCount)
}
