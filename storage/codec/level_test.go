package codec

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every level Kafka accepts, and a few outside (clamped), round-trips.
func TestCompressLevelRoundTrip(t *testing.T) {
	src := bytes.Repeat([]byte("kafkad compression level "), 4000)
	cases := map[Codec][]int{
		Gzip:   {GzipDefaultLevel, GzipMinLevel, 5, GzipMaxLevel, 42},
		LZ4:    {LZ4MinLevel, 2, LZ4DefaultLevel, LZ4MaxLevel, 0},
		Zstd:   {ZstdMinLevel, 1, ZstdDefaultLevel, 7, ZstdMaxLevel},
		Snappy: {0},
		None:   {0},
	}
	for c, levels := range cases {
		for _, level := range levels {
			t.Run(fmt.Sprintf("%s/%d", c, level), func(t *testing.T) {
				out, err := CompressLevel(c, level, src, []byte("prefix"))
				require.NoError(t, err)
				require.Equal(t, "prefix", string(out[:6]))
				back, err := Decompress(c, out[6:], nil)
				require.NoError(t, err)
				assert.Equal(t, src, back)
			})
		}
	}
}

// Higher gzip levels compress repetitive data at least as well.
func TestGzipLevelsDiffer(t *testing.T) {
	var src []byte
	for i := range 20000 {
		src = fmt.Appendf(src, "record-%d-%d;", i, i%97)
	}
	fast, err := CompressLevel(Gzip, 1, src, nil)
	require.NoError(t, err)
	best, err := CompressLevel(Gzip, 9, src, nil)
	require.NoError(t, err)
	assert.Less(t, len(best), len(fast))
}
