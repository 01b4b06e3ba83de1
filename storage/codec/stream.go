package codec

import (
	"bytes"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/pierrec/lz4/v4"
)

// gzip and lz4 only come as streaming readers; pooling the reader together
// with the bytes.Reader feeding it keeps a call allocation-free once warm.

type gzipReader struct {
	src bytes.Reader
	zr  gzip.Reader
}

var gzipReaders = sync.Pool{New: func() any { return new(gzipReader) }}

func gunzip(src, dst []byte, limit int) ([]byte, error) {
	r := gzipReaders.Get().(*gzipReader)
	defer gzipReaders.Put(r)
	r.src.Reset(src)
	if err := r.zr.Reset(&r.src); err != nil {
		return dst, fmt.Errorf("%w: gzip: %w", ErrCorrupt, err)
	}
	out, err := readInto(&r.zr, dst, limit)
	if err != nil {
		return dst, fmt.Errorf("gzip: %w", err)
	}
	return out, nil
}

type lz4Reader struct {
	src bytes.Reader
	zr  *lz4.Reader
}

var lz4Readers = sync.Pool{New: func() any { return &lz4Reader{zr: lz4.NewReader(nil)} }}

func unlz4(src, dst []byte, limit int) ([]byte, error) {
	r := lz4Readers.Get().(*lz4Reader)
	defer lz4Readers.Put(r)
	r.src.Reset(src)
	r.zr.Reset(&r.src)
	out, err := readInto(r.zr, dst, limit)
	// Drop the reference to the caller's bytes while pooled.
	r.src.Reset(nil)
	r.zr.Reset(nil)
	if err != nil {
		return dst, fmt.Errorf("lz4: %w", err)
	}
	return out, nil
}

// readInto appends everything r yields to dst, failing once more than limit
// bytes were produced. On error dst is returned unextended.
func readInto(r io.Reader, dst []byte, limit int) ([]byte, error) {
	start := len(dst)
	for {
		if len(dst) == cap(dst) {
			dst = append(dst, 0)[:len(dst)] // let append pick the growth
		}
		n, err := r.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if len(dst)-start > limit {
			return dst[:start], ErrTooLarge
		}
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst[:start], fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
	}
}

// appendWriter is an io.Writer appending to a slice, so compressors can
// write straight into the caller's dst.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

type gzipWriter struct {
	out appendWriter
	zw  *gzip.Writer
}

var gzipWriters = sync.Pool{New: func() any {
	w := new(gzipWriter)
	w.zw = gzip.NewWriter(&w.out)
	return w
}}

func gzipCompress(src, dst []byte) ([]byte, error) {
	w := gzipWriters.Get().(*gzipWriter)
	defer gzipWriters.Put(w)
	return w.compress(src, dst)
}

type lz4Writer struct {
	out appendWriter
	zw  *lz4.Writer
}

var lz4Writers = sync.Pool{New: func() any {
	w := new(lz4Writer)
	w.zw = lz4.NewWriter(&w.out)
	// 64 KiB blocks as the Java client uses; the 4 MiB default would make
	// every small batch pay for a large block buffer.
	_ = w.zw.Apply(lz4.BlockSizeOption(lz4.Block64Kb))
	return w
}}

func lz4Compress(src, dst []byte) ([]byte, error) {
	w := lz4Writers.Get().(*lz4Writer)
	defer lz4Writers.Put(w)
	return w.compress(src, dst)
}
