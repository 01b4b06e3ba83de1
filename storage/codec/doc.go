// Package codec compresses and decompresses the records section of Kafka
// v2 record batches.
//
// The codec number is the low three bits of a batch's attributes: 0 none,
// 1 gzip, 2 snappy, 3 lz4, 4 zstd. The formats are the ones Kafka clients
// write:
//
//   - gzip: RFC 1952, possibly several members back to back.
//   - snappy: either a raw snappy block (franz-go, librdkafka) or the xerial
//     framing written by the Java client and kafka-python:
//     "\x82SNAPPY\x00" | int32 BE version (1) | int32 BE min compatible
//     version (1) | repeated [int32 BE chunk length][raw snappy block].
//     Decompress detects the magic and accepts both; Compress writes raw
//     blocks, which every client reads.
//   - lz4: the LZ4 frame format (not the legacy Kafka 0.8 framing).
//   - zstd: RFC 8878 frames.
//
// Readers, writers and the zstd decoder/encoder are pooled or shared, so a
// call allocates nothing beyond growing dst. Output is bounded by
// MaxDecompressedSize (or an explicit limit) so a small hostile input cannot
// claim gigabytes of memory.
package codec
