// Package embedded is the single-machine backend of Strata's event log: [log.Log] over durable
// segment files in a local directory. It is the default log of a Strata project and the source
// of truth of its Kappa architecture, so it favours correctness and clear errors over features.
//
// # Directory layout
//
//	<dir>/LOCK                                   flock(2)ed by the one process that has the log open
//	<dir>/topics/<topic>/topic.json              the topic's config (written once, atomically)
//	<dir>/topics/<topic>/removed.json            the topic's removal counters (atomic rewrite)
//	<dir>/topics/<topic>/<partition>/<base>.log        record batches (base: 20-digit first offset)
//	<dir>/topics/<topic>/<partition>/<base>.index      sparse offset -> byte position
//	<dir>/topics/<topic>/<partition>/<base>.timeindex  sparse max-timestamp-so-far -> offset
//	<dir>/groups/offsets.log                     consumer-group commits, append-only, CRC-framed
//
// "Written atomically" means: write a temporary file, fsync it, rename it over the target, fsync
// the directory. A topic is created in a directory named "~creating~..." and renamed into place
// once complete; a deleted topic is renamed to "~deleted~..." before its files are removed. "~"
// is not a legal topic-name character, so Open recognises and removes both kinds of leftovers.
//
// # Segment file format (.log)
//
// A segment is a sequence of record batches, one batch per Produce call per partition. All
// integers are little-endian.
//
//	offset size field
//	0      4    crc          CRC-32C (Castagnoli) of bytes [4, 8+length): every byte of the frame but itself
//	4      4    length       bytes that follow this field (header rest + records)
//	8      1    magic        1
//	9      8    baseOffset   offset of the batch's first record slot
//	17     4    lastDelta    offset of the last record minus baseOffset
//	21     4    count        number of records (1 <= count <= lastDelta+1; less after compaction)
//	25     8    firstTime    timestamp of the batch's first record, milliseconds since the epoch
//	33     8    maxTime      largest record timestamp of the batch, milliseconds
//	41     ...  records
//
// Each record is: uvarint offsetDelta (strictly increasing within the batch), varint
// timestampDelta (from firstTime; timestamps need not grow), varint key length (-1: nil key) and
// the key, varint value length (-1: nil value, a tombstone) and the value, uvarint header count,
// then per header uvarint key length, key, varint value length (-1: nil) and value.
// Timestamps are kept in milliseconds, as Kafka does: a produced Timestamp is truncated to the
// millisecond and the returned record carries the truncated value.
//
// Compaction rewrites a batch in place: same baseOffset and firstTime, the surviving records
// copied byte for byte (their deltas are relative to those two fields), count, lastDelta and
// maxTime recomputed. A batch with no survivor disappears. So offsets never change, and a gap
// between two batches, or inside one, is an offset whose record was removed.
//
// # Index formats
//
// .index holds 12-byte entries: uint32 offset relative to the segment's base, uint32 byte
// position of the batch starting there, uint32 number of records of the segment before it. An
// entry is written for the first batch of a segment and then for the first batch written after
// at least IndexIntervalBytes of batches since the previous entry.
//
// .timeindex holds 12-byte entries, one per .index entry but the first: int64 the largest
// timestamp of every record of the segment before that batch, uint32 the batch's relative offset.
// OffsetForTime starts its scan at the last entry whose timestamp is below the time asked for:
// no record before it can qualify.
//
// Both indexes are derived data: a missing, short or inconsistent index is rebuilt from the .log
// file on Open (see [Recovery]). An index entry reaches the index file only after the log bytes it
// points to were fsynced, so the last valid entry of the active segment marks durable data.
//
// # Durability
//
// Each partition has one writer goroutine. Produce calls to a partition queue for it; it takes
// every call queued (group commit), assigns consecutive offsets in queue order, writes all their
// batches with one write, then, under [SyncEveryBatch] (the default), one fsync covers them all
// before any of them returns or becomes visible to Fetch. Under [SyncInterval] a call returns
// and its records become visible after the write, and the fsync follows within the interval (a
// machine crash may lose the last interval; a process crash loses nothing written). A segment
// is always fsynced before it is sealed and the next one is created.
//
// Open recovers each partition: compaction leftovers are finished or discarded, sealed
// segments are checked against their indexes (and their tails verified), and the active (last)
// segment is scanned from its last trusted index entry: every batch's framing, CRC and offsets
// are verified and a torn or corrupt tail is truncated (a crash in the middle of a write leaves
// one; under SyncEveryBatch no acknowledged record is in it). Corruption inside a sealed segment
// is reported as [log.ErrCorrupt] naming the file and byte position, on Open or when read.
//
// # Retention, compaction and the held-back rule
//
// Retention removes whole segments from the oldest on: by time, while the segment's newest
// timestamp is older than now - Retention.Time (the active segment is sealed first when it is
// entirely expired); by size, while the partition is larger than Retention.Bytes (the active
// segment is never removed by size, so a partition keeps at most Bytes plus one segment).
// Compaction (Compact topics) seals the active segment when it holds records, builds the map of
// every key's latest offset over the sealed segments, and rewrites them keeping the latest record
// per key and tombstones younger than TombstoneRetention (measured from the tombstone's own
// timestamp), merging adjacent small segments up to SegmentBytes. A rewrite is crash-safe: the
// survivors go to "<base>-<end>.log.cleaned", which is fsynced and renamed to
// "<base>-<end>.log.swap" (the commit point); then the segments in [base, end) are deleted and
// the swap file renamed to "<base>.log". Open deletes a .cleaned file and finishes a .swap.
// Compacted topics refuse records without a key (ErrInvalidConfig), as Kafka does.
//
// A partition is held back at the lowest offset N committed for it by any consumer group (a
// group that has no commit for the partition holds nothing back): retention removes a segment
// only when all its records are below N, and compaction removes no record at or after N, unless
// the topic says DeleteUncommitted. Removal.HeldBack adds, at each Clean, the records at or after
// N that would otherwise have been removed then; a record held back over several Cleans is
// counted at each. Removal counters are persisted after each Clean that changes them.
//
// Clean does this at once for every topic. The background cleaner (every CleanInterval) does
// the same, except that it compacts a partition only when at least half of its bytes were
// written since its last compaction.
//
// # Concurrency and lock order
//
// Locks are taken in this order, never the reverse: Log.adminMu (topic creation and deletion,
// Close), Log.cleanMu (one cleaning pass at a time), Log.mu (the topic map), partition.mu (a
// partition's segment list and visible end). topic.removedMu and groupStore.mu are leaves. No
// goroutine holds partition.mu while it waits for the partition's writer goroutine. Readers never
// block the writer for longer than a slice copy; a segment removed while being read stays
// readable through its open file until the last reader releases it.
//
// # Resources
//
// Every segment keeps its .log file open (plus the two index files of each active segment) and
// its sparse indexes in memory: about 3 KiB per MiB of log at the default index interval.
// Compaction holds every distinct key of the partition's sealed segments in memory (exact keys,
// no hashing, so no collision can ever drop a record). Each partition has one writer goroutine.
//
// The package relies on POSIX file semantics (rename over an existing file, unlink of an open
// file); it is built and tested on Linux.
package embedded
