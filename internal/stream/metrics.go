package stream

import (
	"log/slog"
	"time"

	"github.com/stratalake/strata/internal/stream/core"
)

// BatchMetrics describe one completed batch: its output and state are committed.
type BatchMetrics struct {
	BatchID int64
	// Replayed is set for a batch restored from the offsets log after a restart (planned, not
	// completed, before it).
	Replayed bool
	// PlannedAt is the injected clock when the batch was planned; CommittedAt the clock once its
	// sinks committed and its state was persisted.
	PlannedAt, CommittedAt time.Time
	// Duration is CommittedAt - PlannedAt, spent as Read (sources), Transform (SQL), Operators
	// (the core) and Commit (sinks and state).
	Duration, Read, Transform, Operators, Commit time.Duration
	// Ranges are the positions read: offsets of log partitions, versions of Delta sources.
	Ranges []core.Range
	// InputRecords are the records (or table rows) read and InputBytes their key and value bytes
	// (log) or file bytes (Delta); InputRows the transform's output rows fed to the operators.
	InputRecords, InputBytes, InputRows int64
	// OutputRows were emitted to the output table (aggregation results for aggregations, retractions
	// included); LateRows were late (written to the late table unless dropped); DuplicateRows were
	// dropped by deduplication.
	OutputRows, LateRows, DuplicateRows int64
	// ChangedKeys (CDC) are the keys whose rows the batch replaced in the output table; OutputRows
	// are then the rows written for them.
	ChangedKeys int64
	// RowsPerSecond is InputRecords / Duration.
	RowsPerSecond float64
	// Watermark is the query watermark after the batch (zero time before there is one).
	Watermark time.Time
	// State is the operators' state size after the batch.
	State core.StateSize
	// EventTimeMin and EventTimeMax bound the event times of the input rows (zero without any).
	EventTimeMin, EventTimeMax time.Time
	// IngestTimeMin and IngestTimeMax bound the log timestamps of the records read (zero for Delta
	// sources).
	IngestTimeMin, IngestTimeMax time.Time
	// VisibleAt is the clock when the batch's output commit returned: from then on a snapshot of
	// the output table shows the batch (zero without an output commit).
	VisibleAt time.Time
	// OutputVersion, LateVersion and QuarantineVersion are the table versions of the batch's
	// commits (-1: no commit). SinkSkipped is set when a commit was found already landed (a replay
	// after a crash).
	OutputVersion, LateVersion, QuarantineVersion int64
	SinkSkipped                                   bool
	// Expectations count, per expectation in Query.Expectations order, the rows that passed and
	// failed it (over the rows not quarantined; see ExpectationMetrics).
	Expectations []ExpectationMetrics
	// DroppedRows were dropped by ExpectDrop expectations; QuarantinedRows were set aside in the
	// quarantine table. Neither reaches the operators (nor InputRows).
	DroppedRows, QuarantinedRows int64
}

// EventLatency returns how long after their event time the batch's rows were committed: for the
// newest row (CommittedAt - EventTimeMax) and the oldest (CommittedAt - EventTimeMin). Both are 0
// without rows.
func (m *BatchMetrics) EventLatency() (newest, oldest time.Duration) {
	if m.EventTimeMax.IsZero() {
		return 0, 0
	}
	return m.CommittedAt.Sub(m.EventTimeMax), m.CommittedAt.Sub(m.EventTimeMin)
}

// IngestLatency returns how long after they reached the log the batch's records were committed:
// for the newest record and the oldest. Both are 0 without log records.
func (m *BatchMetrics) IngestLatency() (newest, oldest time.Duration) {
	if m.IngestTimeMax.IsZero() {
		return 0, 0
	}
	return m.CommittedAt.Sub(m.IngestTimeMax), m.CommittedAt.Sub(m.IngestTimeMin)
}

// LogValue renders the metrics for log/slog.
func (m BatchMetrics) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.Int64("batch", m.BatchID),
		slog.Int64("records", m.InputRecords),
		slog.Int64("rows", m.InputRows),
		slog.Int64("output", m.OutputRows),
		slog.Int64("late", m.LateRows),
		slog.Int64("duplicates", m.DuplicateRows),
		slog.Int64("dropped", m.DroppedRows),
		slog.Int64("quarantined", m.QuarantinedRows),
		slog.Duration("duration", m.Duration),
		slog.Float64("rows_per_s", m.RowsPerSecond),
		slog.Int64("state_entries", m.State.Entries),
		slog.Int64("state_bytes", m.State.Bytes),
	}
	if !m.Watermark.IsZero() {
		attrs = append(attrs, slog.Time("watermark", m.Watermark))
	}
	if newest, oldest := m.EventLatency(); newest != 0 || oldest != 0 {
		attrs = append(attrs, slog.Duration("event_latency", newest), slog.Duration("event_latency_max", oldest))
	}
	if newest, oldest := m.IngestLatency(); newest != 0 || oldest != 0 {
		attrs = append(attrs, slog.Duration("ingest_latency", newest), slog.Duration("ingest_latency_max", oldest))
	}
	if m.OutputVersion >= 0 {
		attrs = append(attrs, slog.Int64("version", m.OutputVersion))
	}
	if len(m.Expectations) > 0 {
		var exps []any
		for _, e := range m.Expectations {
			exps = append(exps, slog.Group(e.Name, slog.String("action", e.Action.String()), slog.Int64("passed", e.Passed), slog.Int64("failed", e.Failed)))
		}
		attrs = append(attrs, slog.Group("expectations", exps...))
	}
	if m.Replayed {
		attrs = append(attrs, slog.Bool("replayed", true))
	}
	if m.SinkSkipped {
		attrs = append(attrs, slog.Bool("sink_skipped", true))
	}
	return slog.GroupValue(attrs...)
}

// Metrics are a query's totals: those of its whole life (carried across restarts by the
// checkpoint) and this run's.
type Metrics struct {
	// Batches, InputRows, OutputRows, LateRows and DuplicateRows count over the query's life.
	Batches, InputRows, OutputRows, LateRows, DuplicateRows int64
	// Watermark is the query watermark (zero time before there is one; the far future after a
	// flush).
	Watermark time.Time
	// State is the operators' state size.
	State core.StateSize
	// RunBatches, RunRecords and RunBytes count what this run processed.
	RunBatches, RunRecords, RunBytes int64
	// Expectations, DroppedRows and QuarantinedRows sum the batches of this run (they are not
	// carried across restarts): per expectation in Query.Expectations order, and the rows
	// dropped by expectations and quarantined.
	Expectations                 []ExpectationMetrics
	DroppedRows, QuarantinedRows int64
	// Last describes the last batch of this run.
	Last BatchMetrics
}

func watermarkTime(wm int64) time.Time {
	if wm == core.NoWatermark {
		return time.Time{}
	}
	return time.UnixMicro(wm).UTC() // MaxWatermark is in the year 294247
}

func microsTime(b timeBounds) (lo, hi time.Time) {
	if !b.ok {
		return time.Time{}, time.Time{}
	}
	return time.UnixMicro(b.min).UTC(), time.UnixMicro(b.max).UTC()
}
