package codec

import (
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Compression levels as Kafka's compression.<codec>.level configs (KIP-390)
// take them. Snappy and none have no level.
const (
	GzipMinLevel     = 1
	GzipMaxLevel     = 9
	GzipDefaultLevel = -1 // the deflate library's default (6)
	LZ4MinLevel      = 1
	LZ4MaxLevel      = 17
	LZ4DefaultLevel  = 9
	ZstdMinLevel     = -131072
	ZstdMaxLevel     = 22
	ZstdDefaultLevel = 3
)

// CompressLevel is Compress at a Kafka compression level. gzip levels are
// deflate's own. lz4 and zstd map Kafka's range onto what the Go
// libraries offer: lz4 level 1 is the fast compressor and 2-17 the
// high-compression one at depth min(level, 9); zstd levels fall into the
// encoder's four speeds as the zstd library documents. A level outside
// the codec's range is clamped.
func CompressLevel(c Codec, level int, src, dst []byte) ([]byte, error) {
	switch c {
	case Gzip:
		return gzipCompressLevel(level, src, dst)
	case LZ4:
		return lz4CompressLevel(level, src, dst)
	case Zstd:
		return zstdEncoder(zstd.EncoderLevelFromZstd(level)).EncodeAll(src, dst), nil
	default:
		return Compress(c, src, dst)
	}
}

// One pool of writers per level, so a writer's tables never need
// rebuilding for another level.
var gzipLevelWriters [GzipMaxLevel + 1]sync.Pool

func gzipCompressLevel(level int, src, dst []byte) ([]byte, error) {
	if level < GzipMinLevel || level > GzipMaxLevel {
		return gzipCompress(src, dst) // the default level
	}
	pool := &gzipLevelWriters[level]
	w, _ := pool.Get().(*gzipWriter)
	if w == nil {
		w = new(gzipWriter)
		zw, err := gzip.NewWriterLevel(&w.out, level)
		if err != nil {
			return dst, fmt.Errorf("codec: gzip: %w", err)
		}
		w.zw = zw
	}
	defer pool.Put(w)
	return w.compress(src, dst)
}

func (w *gzipWriter) compress(src, dst []byte) ([]byte, error) {
	return compressWith(w.zw, &w.out, "gzip", src, dst)
}

func (w *lz4Writer) compress(src, dst []byte) ([]byte, error) {
	return compressWith(w.zw, &w.out, "lz4", src, dst)
}

// resetWriter is a streaming compressor that can be pointed at a new
// output, as gzip's and lz4's writers can.
type resetWriter interface {
	io.WriteCloser
	Reset(io.Writer)
}

// compressWith appends src compressed by zw to dst, through out.
func compressWith(zw resetWriter, out *appendWriter, name string, src, dst []byte) ([]byte, error) {
	out.b = dst
	zw.Reset(out)
	if _, err := zw.Write(src); err != nil {
		return dst, fmt.Errorf("codec: %s: %w", name, err)
	}
	if err := zw.Close(); err != nil {
		return dst, fmt.Errorf("codec: %s: %w", name, err)
	}
	res := out.b
	out.b = nil
	return res, nil
}

var lz4LevelWriters [10]sync.Pool // index 0: fast, 1-9: high compression

func lz4CompressLevel(level int, src, dst []byte) ([]byte, error) {
	depth := min(max(level, 1), 9)
	if depth == 1 {
		return lz4Compress(src, dst) // the fast compressor
	}
	pool := &lz4LevelWriters[depth]
	w, _ := pool.Get().(*lz4Writer)
	if w == nil {
		w = new(lz4Writer)
		w.zw = lz4.NewWriter(&w.out)
		hc := lz4.CompressionLevel(1 << (8 + depth))
		if err := w.zw.Apply(lz4.BlockSizeOption(lz4.Block64Kb), lz4.CompressionLevelOption(hc)); err != nil {
			return dst, fmt.Errorf("codec: lz4: %w", err)
		}
	}
	defer pool.Put(w)
	return w.compress(src, dst)
}

// zstd encoders are large; one per speed, built on first use, each safe
// for concurrent EncodeAll.
var (
	zstdLevelOnce [zstd.SpeedBestCompression + 1]sync.Once
	zstdLevelEnc  [zstd.SpeedBestCompression + 1]*zstd.Encoder
)

func zstdEncoder(level zstd.EncoderLevel) *zstd.Encoder {
	if level == zstd.SpeedDefault {
		zstdEncOnce.Do(func() { zstdEnc, _ = zstd.NewWriter(nil) })
		return zstdEnc
	}
	zstdLevelOnce[level].Do(func() {
		// NewWriter(nil) with valid options cannot fail.
		zstdLevelEnc[level], _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(level))
	})
	return zstdLevelEnc[level]
}
