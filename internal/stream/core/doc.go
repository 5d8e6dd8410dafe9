// Package core is the decision core of Strata's streaming runtime: micro-batch streaming from
// log topics (per-partition offsets) and Delta tables (versions) into Delta tables, exactly-once.
//
// It follows etcd's raft: every decision is made by a deterministic state machine that does no
// I/O, starts no goroutines and reads no clock. Time comes in through Tick and through the
// PlannedAt of each batch; data comes in as rows the driver has read and reduced; what must be
// written (offsets log, operator state, commit records) and emitted (output rows, late rows) goes
// out through Ready, as explicit key/value mutations. The driver, written above this package, does
// the I/O in the order documented on Query, which is what makes the query exactly-once.
//
// The parts, each usable on its own:
//
//   - Planner: the next micro-batch (ranges of positions per partition) from committed positions,
//     available ends, the trigger (interval, available-now, low-latency) and limits; or when to
//     wait; or that an available-now run is done. It re-plans an in-flight batch exactly.
//   - Tracker: per-partition event-time watermarks, the query watermark as their minimum over
//     active partitions, idle partitions excluded after a timeout, never decreasing; and each
//     row's lateness cutoff, from the watermark of the row's own partition.
//   - WindowSpec and Sessions: tumbling, hopping and session windows over event time.
//   - Aggregator: windowed aggregation (count, sum, min, max, avg, count distinct, approx count
//     distinct) over a small Value model, in append or update output mode.
//   - Deduplicator: first occurrence of a key within the watermark.
//   - Query: all of the above as one machine with the Step / Ready / Advance contract.
//
// Lateness is decided per row, from the rows of the row's partition before it, so that it does
// not depend on how the input is cut into batches: a row is late iff its event time is below
// max(W_p, wm) - AllowedLateness, where W_p is its partition's largest earlier event time minus
// the delay and wm the query watermark at the start of its batch (a floor that only matters once
// the query watermark has moved on without the partition: idle, added late, or after a flush).
// The query watermark alone closes windows and expires dedup state; a row on time under the rule
// can never reach closed or expired state (see Tracker). A batch run, a stream of small batches
// and a stream interrupted and resumed thus produce the same output and late rows, as long as
// every partition was known from the first batch, none was excluded as idle, and (for dedup) the
// copies of a key carry the same event time.
//
// Event times, window sizes, the watermark delay and allowed lateness are int64s in one unit the
// driver chooses (Strata's driver uses microseconds since the Unix epoch). Processing time (the
// clock, trigger intervals, idle timeouts) is time.Time and time.Duration.
//
// State is held in memory and persisted as key/values (the key layout is documented on Mutation);
// Restore rebuilds a Query from a full scan of them. A query whose state does not fit
// in memory is not supported yet.
package core
