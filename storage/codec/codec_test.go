package codec

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var allCodecs = []Codec{None, Gzip, Snappy, LZ4, Zstd}

func testInputs() map[string][]byte {
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 200_000)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	return map[string][]byte{
		"empty":      {},
		"small":      []byte("hello kafka"),
		"repetitive": bytes.Repeat([]byte("0123456789abcdef"), 50_000),
		"random":     random,
	}
}

func TestRoundTrip(t *testing.T) {
	for _, c := range allCodecs {
		for name, in := range testInputs() {
			t.Run(c.String()+"/"+name, func(t *testing.T) {
				comp, err := Compress(c, in, nil)
				require.NoError(t, err)

				out, err := Decompress(c, comp, nil)
				require.NoError(t, err)
				assert.True(t, bytes.Equal(in, out), "round trip differs")

				// Output is appended after what dst already holds, and a
				// reused buffer keeps working.
				prefixed, err := Decompress(c, comp, []byte("prefix"))
				require.NoError(t, err)
				assert.Equal(t, "prefix", string(prefixed[:6]))
				assert.True(t, bytes.Equal(in, prefixed[6:]))

				again, err := Decompress(c, comp, out[:0])
				require.NoError(t, err)
				assert.True(t, bytes.Equal(in, again))

				cprefixed, err := Compress(c, in, []byte("xy"))
				require.NoError(t, err)
				assert.True(t, bytes.Equal(comp, cprefixed[2:]), "compression is deterministic and appends")
			})
		}
	}
}

func TestSnappyXerialVector(t *testing.T) {
	// Built by hand per the xerial format: magic, version 1, compatible
	// version 1, then [int32 BE length][raw snappy block] chunks.
	vector := []byte{
		0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0x00,
		0, 0, 0, 1, // version
		0, 0, 0, 1, // minimum compatible version
		// chunk 1: "hello " as one literal
		0, 0, 0, 8,
		0x06, 0x14, 'h', 'e', 'l', 'l', 'o', ' ',
		// chunk 2: "world" as one literal
		0, 0, 0, 7,
		0x05, 0x10, 'w', 'o', 'r', 'l', 'd',
		// chunk 3: literal "abc" then a copy of length 6 at offset 3
		0, 0, 0, 7,
		0x09, 0x08, 'a', 'b', 'c', 0x09, 0x03,
	}
	out, err := Decompress(Snappy, vector, nil)
	require.NoError(t, err)
	assert.Equal(t, "hello worldabcabcabc", string(out))

	headerOnly, err := Decompress(Snappy, vector[:16], nil)
	require.NoError(t, err)
	assert.Empty(t, headerOnly)

	for name, bad := range map[string][]byte{
		"truncated length": vector[:18],
		"chunk past end":   vector[:22],
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Decompress(Snappy, bad, nil)
			assert.ErrorIs(t, err, ErrCorrupt)
		})
	}
}

func TestLimits(t *testing.T) {
	in := bytes.Repeat([]byte{'z'}, 100_000)
	for _, c := range allCodecs {
		t.Run(c.String(), func(t *testing.T) {
			comp, err := Compress(c, in, nil)
			require.NoError(t, err)
			_, err = DecompressLimit(c, comp, nil, 1000)
			assert.ErrorIs(t, err, ErrTooLarge)
			out, err := DecompressLimit(c, comp, nil, len(in))
			require.NoError(t, err)
			assert.Len(t, out, len(in))
		})
	}
}

func TestErrors(t *testing.T) {
	_, err := Decompress(Codec(5), []byte{1}, nil)
	assert.ErrorIs(t, err, ErrUnsupportedCodec)
	_, err = Compress(Codec(-1), []byte{1}, nil)
	assert.ErrorIs(t, err, ErrUnsupportedCodec)

	garbage := []byte("definitely not compressed data at all")
	for _, c := range []Codec{Gzip, Snappy, LZ4, Zstd} {
		t.Run(c.String(), func(t *testing.T) {
			out, err := Decompress(c, garbage, []byte("keep"))
			require.Error(t, err)
			assert.Equal(t, "keep", string(out), "dst is returned unextended on error")
		})
	}

	// A snappy block whose varint claims 4 GiB from five bytes.
	_, err = Decompress(Snappy, []byte{0xff, 0xff, 0xff, 0xff, 0x0f}, nil)
	assert.Error(t, err)
}

func FuzzDecompress(f *testing.F) {
	for _, c := range allCodecs {
		for _, in := range [][]byte{nil, []byte("seed"), bytes.Repeat([]byte("ab"), 300)} {
			comp, err := Compress(c, in, nil)
			require.NoError(f, err)
			f.Add(int8(c), comp)
		}
	}
	f.Add(int8(Snappy), append(append([]byte{}, xerialMagic...), 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, 1, 0))
	f.Fuzz(func(t *testing.T, c int8, src []byte) {
		// A small limit keeps hostile size claims from slowing the fuzzer.
		out, err := DecompressLimit(Codec(c), src, nil, 1<<20)
		if err == nil {
			assert.LessOrEqual(t, len(out), 1<<20)
		}
	})
}
