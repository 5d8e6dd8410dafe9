// Package stream runs streaming queries: micro-batches from log topics and Delta tables, through
// a per-batch DuckDB SQL transform and the stateful operators of the decision core
// (package stream/core), into Delta tables, exactly once.
//
// The decision core decides everything (which offsets form the next batch, when a window closes,
// what state to persist) and does no I/O; this package is its driver, in the style of etcd's raft:
// it reads the sources (package stream/source over package log and Delta tables), runs the SQL
// (engine.QueryWith), maps the output rows onto the core's rows (see Query for the mapping),
// commits the core's output to the sinks (package table and the Delta kernel), and keeps the
// core's write-ahead offsets log and state in a local pebble store (package stream/statestore).
//
// # Exactly once
//
// Per batch, in this order: the planned batch is written ahead (synced) before anything of it is
// read; the output commit carries the Delta txn (query name, batch id) and the late-rows commit
// (name+".late", batch id), each skipped when the table already has that txn version; then the
// operators' state and the batch's commit record are written as one synced pebble batch. After a
// crash anywhere, the core restores the last completed batch's state and re-plans the in-flight
// batch exactly; the replay reads the same ranges and produces the same rows, and a sink commit
// that had landed is skipped. The tests kill a child process at random moments (and right after
// output commits) and compare with an uninterrupted run (crash_test.go).
//
// # Sinks
//
//   - Append (stateless queries, dedup, and aggregations emitting closed windows): one Delta
//     commit of the batch's rows with the txn. Stateless queries write their data files while
//     the batch is still being read and transformed (fileWriter) and commit them at the end.
//   - Update (aggregations): a copy-on-write upsert of the changed (window, group) rows in one
//     commit with the txn (sink.upsertWindows), without MERGE: a MERGE statement's commit cannot
//     carry a txn action. Files are chosen by their window_start statistics; rows of windows that
//     the watermark closed and rows of open windows go to separate files, so that a batch
//     rewrites about the open windows only.
//   - Late rows (event time below the watermark minus the allowed lateness) are appended to the
//     late table as transform output rows, unless the query drops them; they are always counted.
//
// # Triggers and wake-ups
//
// The core plans with an injected clock (Deps.Clock). Between batches the driver sleeps until the
// core's next wake-up (an interval boundary, the end of a low-latency fill delay, a partition
// becoming idle) or the next poll of the sources' available positions (Query.PollInterval: 10 ms
// for the low-latency trigger, 100 ms otherwise), whichever comes first. An available-now run
// reads the positions once and stops when the core says it is done.
//
// # Checkpoint folder
//
// <Checkpoint>/state is the pebble store (keys under the query's name). One running query per
// folder: pebble locks it.
//
// # Metrics
//
// Every completed batch yields a BatchMetrics (Deps.OnBatch, and one Info log record through
// Deps.Logger): records and rows, rows per second, duration with its read, transform, operators
// and commit parts, event-time and ingest-time latency to commit, the watermark, the state size,
// late and duplicate rows. Run returns the query's Metrics (life totals carried by the checkpoint,
// and this run's).
package stream
