// Package storage keeps partition logs on disk: bytes-in, bytes-out Kafka
// v2 record batches in segment files, sparse offset and time indexes,
// recovery after a crash, retention, idempotent-producer state and the log
// side of transactions (markers, last stable offset, aborted transaction
// index). It has
// no network code, no etcd and no protocol decoding beyond the batch
// format. A Log is one partition; a Manager owns all logs of a broker.
//
// # Directory layout
//
// Each log dir holds one directory per partition, named
// "<topic>-<partition>" (the last '-' separates, topics may contain '-').
// A partition directory holds:
//
//	00000000000000000000.log        segment: record batches
//	00000000000000000000.index      sparse offset index of that segment
//	00000000000000000000.timeindex  sparse time index of that segment
//	00000000000000000000.txnindex   aborted transactions whose marker is in that segment
//	00000000000000001234.snapshot   producer state as of offset 1234
//	log-start-offset                persisted log start offset
//	leader-epoch-checkpoint         first offset of each leader epoch
//	partition.metadata              topic id
//	cleaner-offset-checkpoint       first dirty offset of a compacted log
//	.kafka_cleanshutdown            present only between Close and Open
//	*.tmp                           half-written files, deleted on Open
//	*.cleaned, *.swap               the log cleaner's segments in the making
//	*.deleted                       files of a removed segment waiting out
//	                                file.delete.delay.ms; deleted on Open
//
// With preallocate, the active segment's .log file is grown to
// segment.bytes when the segment is created and cut back to its batches
// when it is rolled or the log closed; after a crash, recovery cuts the
// zero-filled tail like any torn write.
//
// Next to the partition directories a log dir may hold, as in Kafka:
//
//	<topic>-<partition>.<32 hex>-future  a replica being moved into this
//	                                     log dir (logmove.go: resumed on
//	                                     Open, or completed when the
//	                                     current log is already gone)
//	<topic>-<partition>.<n>-delete       a deleted or moved-away log, removed
//	                                     on Open
//	meta.properties, .lock               the dir's directory.id and lock
//
// Segment and snapshot files are named by a 20-digit zero-padded offset:
// a segment's base offset (its first offset), a snapshot's log end offset
// when it was taken. All integers below are big-endian.
//
// # .log: record batches, back to back
//
// Batches are stored exactly as produced, after Append rewrote baseOffset,
// partitionLeaderEpoch and (for LogAppendTime, or to fix a wrong
// maxTimestamp) maxTimestamp, attributes and crc. A fetch returns these
// bytes unchanged. Batch v2 layout (61-byte header, then records):
//
//	 0 baseOffset           int64
//	 8 batchLength          int32   bytes after this field (size = 12 + batchLength)
//	12 partitionLeaderEpoch int32
//	16 magic                int8    always 2
//	17 crc                  uint32  CRC-32C (Castagnoli) of bytes 21..end
//	21 attributes           int16   bits 0-2 codec (0 none, 1 gzip, 2 snappy,
//	                                3 lz4, 4 zstd), bit 3 LogAppendTime,
//	                                bit 4 transactional, bit 5 control
//	23 lastOffsetDelta      int32   recordCount - 1
//	27 baseTimestamp        int64
//	35 maxTimestamp         int64   largest record timestamp, or the append time
//	43 producerId           int64   -1 when not idempotent
//	51 producerEpoch        int16
//	53 baseSequence         int32
//	57 recordCount          int32
//	61 records              (compressed as a whole when codec != 0)
//
// Each record: varint length, int8 attributes, varlong timestampDelta,
// varint offsetDelta, varint keyLength (-1 = null) + key, varint
// valueLength (-1 = null) + value, varint headerCount, then per header
// varint keyLength + key, varint valueLength (-1 = null) + value. Varints
// are zigzag encoded. baseOffset and partitionLeaderEpoch are outside the
// CRC, so assigning them needs no recomputation. Offsets inside a segment
// increase strictly; a segment never holds an offset more than MaxInt32
// above its base, and never grows past 2 GiB (index positions are int32).
//
// # Transactions and control batches
//
// A batch with the transactional bit opens its producer's transaction
// (Log.Append), unless one is open; the producer's next non-transactional
// batch is refused until a marker ends it. Clients may not send control
// batches. The transaction coordinator ends a transaction through
// Log.AppendMarker, which writes Kafka's EndTransactionMarker, a 78-byte
// control batch:
//
//	header     attributes 0x30 (transactional | control, no compression,
//	           plus 0x08 for LogAppendTime topics), lastOffsetDelta 0,
//	           baseTimestamp = maxTimestamp = append time, the marker's
//	           producerId and producerEpoch, baseSequence -1, recordCount 1
//	record     varint length 16, attributes 0, timestampDelta 0,
//	           offsetDelta 0, key (length 4): version int16 0, type int16
//	           (0 ABORT, 1 COMMIT), value (length 6): version int16 0,
//	           coordinatorEpoch int32, header count 0
//
// A marker with an epoch older than the producer's is refused, as is one
// whose coordinator epoch is older than the last the producer saw. A newer
// epoch (transactions v2, KIP-890) becomes the producer's and forgets its
// batches. Replicas and recovery decode the marker from the control batch
// and apply it without checks, so every replica tracks the same open
// transactions. The first unstable offset is the smallest first offset of
// an open transaction (at least the log start offset, since an open
// transaction outlives its deleted batches), or the log end offset. The
// last stable offset (LastStableOffset) is the smaller of it and the high
// watermark, and no higher than the first offset of a transaction whose
// marker the high watermark has not passed yet (kept in memory only: after
// a restart the high watermark starts at what the ISR has).
//
// # .txnindex: aborted transactions, 34-byte entries
//
// Kafka's TransactionIndex, one per segment, written when an ABORT marker
// ends a transaction; the file exists only once a segment has an entry.
//
//	 0 version          int16  0
//	 2 producerId       int64
//	10 firstOffset      int64  first offset of the aborted transaction
//	18 lastOffset       int64  offset of its ABORT marker, in this segment
//	26 lastStableOffset int64  the first unstable offset right after it:
//	                           the first offset of another producer's open
//	                           transaction, else lastOffset+1
//
// Entries are in marker order and all of them are kept in memory (loaded
// on open), since read_committed fetches ask for them on every fetch
// (Log.AbortedTransactions, Kafka's collectAbortedTxns: from the segment
// holding the fetch offset on, until an entry's lastStableOffset reaches
// the upper bound). On open, bytes that are not whole valid entries
// (version, non-negative offsets, firstOffset <= lastOffset, lastOffset in
// the segment and increasing) mark the file torn: it is rebuilt from the
// log as after a crash. Entries whose marker is at or past the log end are
// dropped, by Open and by TruncateTo.
//
// # .index: offset index, 8-byte entries
//
//	0 relativeOffset int32  baseOffset of a batch minus the segment base
//	4 position       int32  byte position of that batch in the .log
//
// Sparse: an entry is added for a batch once more than index.interval.bytes
// were appended since the previous entry (never for the first batch of a
// segment). Offsets and positions increase. A lookup takes the last entry
// at or below the target and scans batch headers forward from its
// position. Unlike Kafka, the entry names the batch's first offset, not its
// last; lookups work the same way.
//
// # .timeindex: time index, 12-byte entries
//
//	0 timestamp      int64  largest maxTimestamp of the segment so far
//	8 relativeOffset int32  base offset of the first batch reaching it
//
// An entry is added alongside offset index entries, only when the
// timestamp grew, so timestamps increase strictly. When a segment stops
// being active (roll, Close, recovery of an inactive segment) a final
// entry with the segment's largest timestamp is added even if the index is
// full, so after a restart the last entry is the segment's largest
// timestamp, which retention.ms and ListOffsets(-3) use.
//
// Both indexes are plain files written with pwrite and searched with
// pread (the page cache keeps hot parts in memory); a segment rolls when
// either holds segment.index.bytes worth of entries.
//
// # .snapshot: producer state
//
//	 0 version       int16   2 (1 is still read)
//	 2 crc           uint32  CRC-32C of bytes 6..end
//	 6 producerCount int32
//	10 producers, each:
//	     producerId            int64
//	     producerEpoch         int16
//	     lastTimestamp         int64
//	     coordinatorEpoch      int32   not in v1 (read as -1)
//	     currentTxnFirstOffset int64   -1 when no transaction is open; not in v1
//	     lastMarkerOffset      int64   offset of its last marker, -1; not in v1
//	     batchCount            int8    0..5, oldest first, each:
//	       firstSequence int32
//	       lastSequence  int32
//	       firstOffset   int64
//	       lastOffset    int64
//	       maxTimestamp  int64
//
// Written (temp file, fsync, rename, dir fsync) at every roll, at the new
// segment's base offset, and on Close at the log end offset; the newest
// two are kept, and the one at the active segment's base offset.
// lastMarkerOffset keeps a producer whose epoch a marker bumped (so it has
// no batches) known, and fenced, for as long as that marker is in the log:
// producers are forgotten when the log start offset passes their last
// batch and marker, unless their transaction is open. Unlike Kafka's, which keeps only each producer's last
// batch, all five remembered batches are stored so retries still
// deduplicate after a restart. On Open the newest readable snapshot at or
// below the log end offset is loaded, then batch headers after it are
// replayed (producer fields are in the header, so only control batches are
// read whole, for their marker); with no snapshot the whole log is
// replayed.
//
// # log-start-offset, partition.metadata
//
// log-start-offset is text, "0\n<offset>\n" (format version, offset),
// replaced atomically before any segment below it is deleted.
// partition.metadata is Kafka's text format,
// "version: 0\ntopic_id: <id>\n", the 16-byte id in unpadded base64url.
//
// # leader-epoch-checkpoint
//
// Kafka's LeaderEpochCheckpointFile, text: the format version, the entry
// count, then one "<epoch> <startOffset>" line per leader epoch, the
// first offset written under that epoch, epochs and offsets strictly
// increasing:
//
//	0
//	2
//	1 0
//	4 1234
//
// Batches carry their leader epoch (partitionLeaderEpoch), so the file is
// a cache: Append stamps the leader's epoch, AppendReplica keeps the
// leader's, and an entry is added when a batch starts a new epoch (an
// older epoch first drops the entries after it, as Kafka's assign does).
// The file is replaced atomically only when entries change: before the
// batches starting an epoch are written (so it covers every batch on
// disk), after TruncateTo has cut and fsynced the segments (entries at or
// past the new end go), and when the log start offset moves (entries at
// or below it collapse into one starting at the log start, Kafka's
// truncateFromStart). On Open, entries at or past the log end (lost in a
// crash) are dropped and crash recovery adds epochs newer than the last
// entry from the batches it rescans; a missing or malformed file is
// rebuilt from the batch headers of every segment.
//
// # Truncation and replicas
//
// TruncateTo cuts whole batches: later segments are deleted first (newest
// first), then the segment holding the cut is truncated with its indexes
// and fsynced, so a crash part way leaves a longer prefix of the log,
// never a gap. Producer snapshots past the new end are deleted and
// producer state is reloaded from the newest remaining one.
// AppendReplica writes a leader's batches unchanged (offsets, epochs,
// timestamps); the first must start at the log end offset.
//
// # Recovery
//
// Close flushes everything and writes .kafka_cleanshutdown; Open removes
// it (durably) before accepting appends. With the marker, segments are
// trusted after cheap checks: whole index entries, the last offset index
// entry pointing at a batch with that offset, a clean chain of batch
// headers after it in the last segment, and a time index entry within the
// segment. Without it (a crash) the last segment is recovered: every batch
// is read sequentially and its length, magic, CRC and offsets checked; the
// file is truncated at the first bad batch (logged with offset and
// position) and both indexes are rebuilt. Earlier segments were fsynced
// when they rolled; any of them with a missing or inconsistent index is
// recovered the same way, and if that truncates it, every later segment is
// deleted, as Kafka does. A recovered segment's .txnindex (and a torn one)
// is rebuilt by the producer state replay, which then starts from a
// snapshot at or below that segment's base offset (or from the first
// segment): an abort entry needs the transaction's first offset, which
// only the state before the marker knows.
//
// # Log cleaner (compaction)
//
// Logs with cleanup.policy compact are cleaned as Kafka's LogCleaner
// does (cleaner.go, cleanerseg.go, cleanermanager.go). The dirty section
// runs from the first dirty offset (cleaner-offset-checkpoint, text
// "0\n<offset>\n"; kept per partition rather than Kafka's one per log
// dir; lowered by TruncateTo) to the first uncleanable offset: the
// smallest of the active segment's base, the last stable offset under
// the high watermark (Log.SetHighWatermark), and the first segment whose
// largest timestamp is within min.compaction.lag.ms, rounded down to a
// segment base. A pass maps each key of the dirty section to its last
// offset (records of aborted transactions skipped; the map stops at a
// whole batch when log.cleaner.dedupe.buffer.size is reached, and that
// is where the pass ends), then rewrites every segment below that end,
// in groups fitting segment.bytes and segment.index.bytes, into one
// segment per group. Offsets never change: removed records leave gaps.
//
// A batch keeps its header (base offset, last offset delta, leader
// epoch, producer, sequence, attributes, codec; maxTimestamp becomes
// that of the kept records) and the kept records' bytes, recompressed
// with the batch's codec. Kept: the latest record of each key (records
// past the map's end all stay, records without a key go, as in Kafka);
// each producer's last data batch (or last marker), empty if need be, so
// producer state rebuilt from the log has its epoch and sequence; the
// last batch of each group, empty if need be, so a cleaned segment ends
// where its old segments did. Batches of aborted transactions go; a
// marker stays while any batch of its transaction does. Tombstones and
// markers with no data left follow KIP-534: the first cleaning that keeps
// one sets attribute bit 6 (0x40) on its batch and makes baseTimestamp
// the delete horizon, now + delete.retention.ms (record timestamp deltas
// are re-encoded so record timestamps stay the same); a cleaning after
// the horizon drops them.
//
// A cleaned group is written as <base>.log.cleaned (and .index.cleaned,
// .timeindex.cleaned, .txnindex.cleaned), fsynced, renamed to .swap
// (indexes first, the .log last: a .log.swap commits the swap), swapped
// into the segment list under the writer lock and exclusive segMu, the
// old segment files are deleted, then the .swap files renamed to their
// final names. A cleaned segment always has all three index files (an
// empty .txnindex included), so an index without its .swap name is the
// new one. Open first deletes .cleaned files, completes each .log.swap
// (deleting the segments whose base offsets lie within its offset range,
// renaming the index .swap files left over the old ones, then the
// .log.swap into place) and deletes stray index .swap files.
//
// # Concurrency
//
// See Log: one mutex serializes writers; readers use pread on published
// bytes under a shared lock that only segment removal, truncation and
// close take exclusively. file.delete.delay.ms is not needed for that and
// segment files are deleted at once.
package storage
