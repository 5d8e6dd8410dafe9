package stream

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/stratalake/strata/internal/stream/core"
)

// Sentinel errors of the driver. Errors wrap one of these (or a core, source, log or Delta
// sentinel) together with the query, batch, source, column or table they concern.
var (
	// ErrInvalidQuery: a Query that cannot run (a missing name or checkpoint, an unknown column,
	// an update-mode output without an aggregation). The message names the field.
	ErrInvalidQuery = errors.New("invalid streaming query")
	// ErrTransformOutput: the transform's output does not fit the query: a column the query
	// names is missing or has a type the operators cannot take, the event time is NULL in a
	// stateful query, or the output's schema changed since the query started.
	ErrTransformOutput = errors.New("transform output does not fit the query")
)

// Trigger, Limits, StartAt, OutputMode, AggFunc and WindowKind are the decision core's types; see
// package stream/core for their semantics.
type (
	Trigger    = core.Trigger
	Limits     = core.Limits
	StartAt    = core.StartAt
	OutputMode = core.OutputMode
	AggFunc    = core.AggFunc
	WindowKind = core.WindowKind
)

// The trigger kinds, output modes, aggregate functions, window kinds and start positions (see
// package stream/core).
const (
	TriggerInterval     = core.TriggerInterval
	TriggerAvailableNow = core.TriggerAvailableNow
	TriggerLowLatency   = core.TriggerLowLatency

	OutputAppend = core.OutputAppend
	OutputUpdate = core.OutputUpdate

	Count               = core.AggCount
	Sum                 = core.AggSum
	Min                 = core.AggMin
	Max                 = core.AggMax
	Avg                 = core.AggAvg
	CountDistinct       = core.AggCountDistinct
	ApproxCountDistinct = core.AggApproxCountDistinct

	WindowTumbling = core.WindowTumbling
	WindowHopping  = core.WindowHopping
	WindowSession  = core.WindowSession
	WindowGlobal   = core.WindowGlobal

	StartEarliest = core.StartEarliest
	StartLatest   = core.StartLatest
)

// Query defines a streaming query: sources, a per-batch SQL transform, optional stateful operators
// (deduplication, windowed aggregation) and Delta sinks.
//
// # How a batch flows
//
// Each micro-batch reads position ranges of the sources (offsets of log partitions, versions of
// Delta tables). The transform SQL then runs over every source partition with data, each time
// with that partition's rows under the source's name and every other source empty; the runs are
// one statement per batch (a UNION ALL of one branch per partition, each tagged with its
// partition), which keeps each output row attributed to the partition it came from, as
// per-partition watermarks need. Log sources present the columns of
// source.RawSchema (topic, partition, "offset", "timestamp", key, value as text, value_bytes); the
// SQL parses the payload itself, e.g.
//
//	SELECT value->>'event_id' AS event_id, (value->>'ts')::TIMESTAMPTZ AS ts,
//	       value->>'country' AS country, (value->>'revenue')::DECIMAL(18,2) AS revenue
//	FROM orders
//
// A Delta source presents the table's columns. The SQL may join project tables (domain.table).
// It must be one SELECT-like statement (it becomes a subquery), deterministic, and keep its
// input's row order (projections and filters do: DuckDB preserves insertion order), because
// deduplication keeps the first row of a key, float sums depend on order and a row's lateness
// depends on the rows of its partition before it; a replayed batch must produce the same rows in
// the same order. Output columns must not be named __strata_part.
//
// # From output columns to the operators (the row mapping)
//
// The transform's output columns are mapped by name:
//   - EventTime names the event-time column (TIMESTAMP, TIMESTAMPTZ, DATE, or an integer taken as
//     microseconds since the Unix epoch). Required with Dedup or an event-time window, where a
//     NULL event time fails the batch (filter or coalesce such rows in the SQL); optional for
//     stateless queries and global aggregations, where it only feeds the watermark shown in
//     metrics.
//   - Dedup.Columns form the deduplication key.
//   - Aggregate.GroupBy form the group key; each Agg reads Agg.Column ("" or "*" for count(*)).
//
// Without Aggregate, the output table receives the transform's output rows as they are (minus
// duplicates). With Aggregate, it receives one row per window and group: window_start and
// window_end (TIMESTAMPTZ, microseconds), the GroupBy columns with their output types, then one
// column per Agg (named Agg.As); a global aggregation (Global()) has no window columns.
//
// Before all of this, the quality rules (see Quarantine and Expectation) set quarantined rows
// aside, count the expectations and drop the rows an ExpectDrop expectation fails. Their columns
// are control columns: "the transform's output rows" above means the rows that remain, without
// the control columns.
//
// # Lateness
//
// With Dedup or an event-time window, a row is late when its event time is below the watermark
// of its own source partition as the rows before it left it, minus the allowed lateness: below
// (the largest event time of the partition's earlier rows) - Watermark.Delay - AllowedLateness,
// where the rows are those the operators receive (the transform's output rows that remain after
// the quality rules) in position order (offsets; for a Delta source, versions, then the rows in
// the order read). A partition's first row is never late. This does not depend on how the
// input is cut into batches, so a batch run (available-now), a stream of small batches and a
// stream stopped and resumed find the same rows late and produce the same tables (for Dedup, as
// long as the copies of a key carry the same event time, as when the key identifies the event:
// a copy whose key expired, with a later event time, passes again). In SQL, over
// a table of the transform's output with its partition and offset:
//
//	max(event_time) OVER (PARTITION BY "partition" ORDER BY "offset"
//	    ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) - delay - lateness > event_time
//
// The query watermark (the minimum over the partitions, idle ones excluded after
// Watermark.IdleTimeout) closes windows and expires dedup keys, and is a floor of every row's
// cutoff: once it has moved on without a partition (idle, added to the topic later, or after
// FlushAtEnd), that partition's rows below it are late too, as the windows they would reopen have
// closed; only then does lateness depend on timing. Late rows go, as transform output rows, to
// the late table. A global aggregation and CDC have no late rows.
//
// # Exactly-once
//
// The checkpoint (a local pebble store, package statestore) holds the write-ahead offsets log and
// the operators' state; each output commit carries the Delta txn (Name, batch id), each late
// commit (Name+".late", batch id). See core.Query for the protocol and Run for the driver.
type Query struct {
	// Name identifies the query: the txn app id of its commits and its namespace in the
	// checkpoint. Letters, digits, '_', '-' and '.'. It must stay the same across restarts.
	Name string
	// Sources are read by every batch, each under its Name as a view of the SQL.
	Sources []Source
	// SQL is the per-batch transform (one SELECT-like statement).
	SQL string
	// EventTime names the event-time output column (see the row mapping above).
	EventTime string
	// Watermark sets the allowed out-of-orderness and the idle-partition timeout.
	Watermark Watermark
	// AllowedLateness keeps windows and dedup keys open this long past the watermark: a row is
	// late only below its partition's watermark minus AllowedLateness (see Lateness above).
	AllowedLateness time.Duration
	// Dedup, if set, drops rows whose key was seen before within the watermark.
	Dedup *Dedup
	// Aggregate, if set, aggregates rows per event-time window (or globally) and group.
	Aggregate *Aggregate
	// CDC, if set, applies the rows as changes to the output table (AUTO CDC, SCD type 1 or 2;
	// see CDC). It excludes Dedup and Aggregate.
	CDC *CDC
	// Expectations are data-quality rules counted on every batch; they may drop rows or fail
	// the batch (see Expectation).
	Expectations []Expectation
	// Quarantine, if set, sets malformed rows aside in a quarantine table (see Quarantine).
	Quarantine *Quarantine
	// Output is the sink of the query's rows.
	Output Output
	// Late is where late rows go.
	Late Late
	// Trigger says when batches run (zero value: an interval trigger with interval 0, as soon as
	// data arrives) and Limits bound their size.
	Trigger Trigger
	Limits  Limits
	// StartAt says where a query that never ran starts reading (earliest by default).
	StartAt StartAt
	// AllowDataLoss skips log records that retention removed before the query read them,
	// instead of failing.
	AllowDataLoss bool
	// FlushAtEnd, with the available-now trigger, ends the run with a batch that closes every
	// window (batch mode). The query is finished afterwards: any later row is late.
	FlushAtEnd bool
	// Checkpoint is the local folder of the query's state (one running query per folder: the
	// state store locks it). Remote (s3://) locations are refused for now.
	Checkpoint string
	// PollInterval is how often the driver checks the sources for new data while it waits
	// (default 10 ms with the low-latency trigger, 100 ms otherwise).
	PollInterval time.Duration
}

// Source is one input of a query: a log topic (Topic) or a Delta table (Table).
type Source struct {
	// Name is the view name of the source in the SQL and its name in the checkpoint.
	Name string
	// Topic is the log topic read (through Deps.Log).
	Topic string
	// Partitions restricts a log source to these partitions (nil: all of them).
	Partitions []int32
	// Table is a Delta table read as a stream: a location (path or s3:// URL) or a project
	// table domain.table. Each version's added files are read in version order; a version that
	// removes or rewrites rows fails the query unless SkipChangeCommits.
	Table string
	// SkipChangeCommits ignores table versions that remove or rewrite rows.
	SkipChangeCommits bool
}

// Watermark configures event-time watermarks.
type Watermark struct {
	// Delay is how far a partition's watermark trails the largest event time it has seen: a row
	// up to Delay (plus AllowedLateness) older than its partition's earlier rows is on time.
	Delay time.Duration
	// IdleTimeout excludes a partition without data for this long from the query watermark
	// (0: never).
	IdleTimeout time.Duration
}

// Dedup configures deduplication.
type Dedup struct {
	// Columns are the output columns forming the key.
	Columns []string
}

// Window describes event-time windows.
type Window struct {
	Kind WindowKind
	// Size of tumbling and hopping windows, Slide of hopping windows, Gap of sessions.
	Size, Slide, Gap time.Duration
}

// Tumbling returns tumbling windows of the given size.
func Tumbling(size time.Duration) Window { return Window{Kind: WindowTumbling, Size: size} }

// Hopping returns hopping windows.
func Hopping(size, slide time.Duration) Window {
	return Window{Kind: WindowHopping, Size: size, Slide: slide}
}

// Session returns session windows.
func Session(gap time.Duration) Window { return Window{Kind: WindowSession, Gap: gap} }

// Global returns the global window: no event-time windowing, one group per GroupBy key over all
// time, never closed, never late, its state never expiring. It maintains a plain GROUP BY
// incrementally: each batch upserts the groups it changed into the output table (which has no
// window_start and window_end columns). It needs Output.Mode OutputUpdate, and EventTime only
// with Dedup.
func Global() Window { return Window{Kind: WindowGlobal} }

// Aggregate configures a windowed (or global) aggregation.
type Aggregate struct {
	Window  Window
	GroupBy []string
	Aggs    []Agg
}

// Agg is one aggregate: Func over the output column Column, stored as column As.
type Agg struct {
	Func AggFunc
	// Column is the aggregated output column; "" or "*" with Count means count(*).
	Column string
	// As names the result column (default func_column, e.g. sum_revenue, or count).
	As string
}

func (a Agg) name() string {
	if a.As != "" {
		return a.As
	}
	if a.Column == "" || a.Column == "*" {
		return a.Func.String()
	}
	return a.Func.String() + "_" + a.Column
}

// Output is the query's Delta sink.
type Output struct {
	// Table is a location or a project table domain.table. It is created by the first commit
	// when missing.
	Table string
	// Mode is append (rows once; aggregation results when their window closes) or update
	// (aggregations only: changed (window, group) rows upserted every batch).
	Mode OutputMode
	// PartitionBy partitions the table when the query creates it.
	PartitionBy []string
	// Properties are table properties set when the query creates the table (e.g.
	// delta.parquet.compression.codec).
	Properties map[string]string
}

// Late says where late rows go.
type Late struct {
	// Table receives late rows (default: the output table's location with "_late" appended).
	Table string
	// Drop drops late rows instead (they are still counted).
	Drop bool
}

var nameRe = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)

// micros converts a duration to the core's event-time unit.
func micros(d time.Duration) int64 { return d.Microseconds() }

func (q *Query) stateful() bool { return q.Dedup != nil || q.Aggregate != nil }

// global reports whether the query aggregates over the global window.
func (q *Query) global() bool { return q.Aggregate != nil && q.Aggregate.Window.Kind == WindowGlobal }

// needsEventTime reports whether an operator needs the event time: dedup, or an aggregation over
// event-time windows.
func (q *Query) needsEventTime() bool { return q.Dedup != nil || (q.Aggregate != nil && !q.global()) }

// validate checks what can be checked without the transform's output schema.
func (q *Query) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("query %q: %s: %w", q.Name, fmt.Sprintf(format, args...), ErrInvalidQuery)
	}
	if !nameRe.MatchString(q.Name) {
		return bad("Name must be letters, digits, '_', '-' or '.'")
	}
	if len(q.Sources) == 0 {
		return bad("no sources")
	}
	var names []string
	for _, s := range q.Sources {
		if !nameRe.MatchString(s.Name) || strings.ContainsAny(s.Name, ".-") {
			return bad("source name %q must be an SQL identifier (letters, digits, '_')", s.Name)
		}
		if slices.ContainsFunc(names, func(n string) bool { return strings.EqualFold(n, s.Name) }) {
			return bad("source name %q repeated", s.Name)
		}
		names = append(names, s.Name)
		if (s.Topic == "") == (s.Table == "") {
			return bad("source %s needs exactly one of Topic and Table", s.Name)
		}
		if s.Table != "" && s.Partitions != nil {
			return bad("source %s: Partitions applies to log topics only", s.Name)
		}
	}
	if strings.TrimSpace(q.SQL) == "" {
		return bad("empty SQL")
	}
	if q.Checkpoint == "" {
		return bad("no Checkpoint folder")
	}
	if strings.Contains(q.Checkpoint, "://") {
		return bad("Checkpoint %s: remote checkpoint locations are not supported yet; use a local folder", q.Checkpoint)
	}
	if q.Output.Table == "" {
		return bad("no Output.Table")
	}
	if err := q.validateCDC(); err != nil {
		return err
	}
	if q.needsEventTime() && q.EventTime == "" {
		return bad("a query with Dedup or an event-time window needs EventTime")
	}
	if q.global() && q.Output.Mode != OutputUpdate {
		return bad("a global aggregation is never final (its groups never close), so it needs Output.Mode OutputUpdate")
	}
	if q.Output.Mode == OutputUpdate && q.Aggregate == nil {
		return bad("update output mode needs an Aggregate")
	}
	if q.Dedup != nil && len(q.Dedup.Columns) == 0 {
		return bad("Dedup without Columns")
	}
	if a := q.Aggregate; a != nil {
		if len(a.Aggs) == 0 {
			return bad("Aggregate without Aggs")
		}
		seen := map[string]bool{colWindowStart: !q.global(), colWindowEnd: !q.global()}
		for _, g := range a.GroupBy {
			if seen[strings.ToLower(g)] {
				return bad("output column %q repeated or reserved", g)
			}
			seen[strings.ToLower(g)] = true
		}
		for _, ag := range a.Aggs {
			if (ag.Column == "" || ag.Column == "*") && ag.Func != Count {
				return bad("%s needs a Column", ag.Func)
			}
			n := strings.ToLower(ag.name())
			if seen[n] {
				return bad("output column %q repeated or reserved (set Agg.As)", ag.name())
			}
			seen[n] = true
		}
	}
	if q.Watermark.Delay < 0 || q.Watermark.IdleTimeout < 0 || q.AllowedLateness < 0 || q.PollInterval < 0 {
		return bad("negative duration")
	}
	return q.validateQuality(bad)
}

// windowSpec converts the window to the core's event-time unit.
func (w Window) spec() core.WindowSpec {
	return core.WindowSpec{Kind: w.Kind, Size: micros(w.Size), Slide: micros(w.Slide), Gap: micros(w.Gap)}
}

func (q *Query) pollInterval() time.Duration {
	switch {
	case q.PollInterval > 0:
		return q.PollInterval
	case q.Trigger.Kind == TriggerLowLatency:
		return 10 * time.Millisecond
	}
	return 100 * time.Millisecond
}

func (q Query) lateTable() string {
	if q.Late.Table != "" {
		return q.Late.Table
	}
	return strings.TrimRight(q.Output.Table, "/") + "_late"
}
