package pipeline

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/stratalake/strata/internal/table"
)

// EventsTable is the project table holding the pipeline event log.
const EventsTable = "_strata.pipeline_events"

// Event kinds of the event log.
const (
	EventRunStart    = "run_start"
	EventRunEnd      = "run_end"
	EventFlowStart   = "flow_start"
	EventFlowEnd     = "flow_end"
	EventBatch       = "batch"
	EventExpectation = "expectation"
	EventRefresh     = "refresh"
	EventIntake      = "intake"
)

// Event is one row of the pipeline event log (_strata.pipeline_events). Counts that do not apply
// to an event kind are zero.
type Event struct {
	Time  time.Time
	RunID string
	// Mode is the run's mode (batch or stream).
	Mode  string
	Event string
	// Flow is the node (domain.table, or the flow name for AUTO CDC flows); Table the table
	// written.
	Flow, Table string
	// Execution is the node's execution: stream, incremental, recompute, cdc.
	Execution string
	BatchID   int64
	// RowsIn were read; RowsOut written (for an incremental view: the changed groups).
	RowsIn, RowsOut                                       int64
	RowsDropped, RowsQuarantined, RowsLate, RowsDuplicate int64
	// DurationMS is the batch or run duration; LatencyMS the newest input row's event-time
	// latency at commit (0 when unknown).
	DurationMS, LatencyMS float64
	// Expectation, Passed and Failed are set on expectation events.
	Expectation    string
	Passed, Failed int64
	// Version is the table version committed (-1: none).
	Version int64
	// Status is ok, failed or stopped; Message says more (the error, the recompute reason).
	Status, Message string
	// DataTime (not stored in the table) is how recent the batch's input is: the log timestamp
	// of the newest record read from a topic, else the newest event time (watermark column) of
	// its rows; zero when unknown (a view's batch: its inputs' data time applies).
	DataTime time.Time
	// StateEntries and StateBytes (not stored in the table) are a streaming query's operator state
	// after the batch (dedup keys, aggregation groups, CDC keys): entries, and the bytes of their
	// keys and values; the memory they take is larger by a per-entry overhead.
	StateEntries, StateBytes int64
}

var eventSchema = arrow.NewSchema([]arrow.Field{
	{Name: "timestamp", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, Nullable: true},
	{Name: "run_id", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "mode", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "event", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "flow", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "table_name", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "execution", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "batch_id", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "rows_in", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "rows_out", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "rows_dropped", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "rows_quarantined", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "rows_late", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "rows_duplicate", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "duration_ms", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "latency_ms", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "expectation", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "passed", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "failed", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "version", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "status", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "message", Type: arrow.BinaryTypes.String, Nullable: true},
}, nil)

// eventLog buffers events and appends them to the events table. Safe for concurrent use.
type eventLog struct {
	location string
	mu       sync.Mutex
	pending  []Event
	// onEvent, if set, sees every event as it is recorded.
	onEvent func(Event)
}

func (l *eventLog) add(e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	l.mu.Lock()
	l.pending = append(l.pending, e)
	f := l.onEvent
	l.mu.Unlock()
	if f != nil {
		f(e)
	}
}

// flush appends the buffered events as one commit.
func (l *eventLog) flush(ctx context.Context) error {
	l.mu.Lock()
	evs := l.pending
	l.pending = nil
	l.mu.Unlock()
	if len(evs) == 0 {
		return nil
	}
	rec := eventsRecord(evs)
	defer rec.Release()
	t, err := table.Open(ctx, l.location)
	if err != nil {
		return fmt.Errorf("pipeline: event log: %w", err)
	}
	if _, err := t.Write(ctx, &recordSource{rec: rec}, table.WriteOptions{Mode: table.Append}); err != nil {
		l.mu.Lock()
		l.pending = append(evs, l.pending...)
		l.mu.Unlock()
		return fmt.Errorf("pipeline: event log: %w", err)
	}
	return nil
}

func eventsRecord(evs []Event) arrow.RecordBatch {
	b := array.NewRecordBuilder(memory.DefaultAllocator, eventSchema)
	defer b.Release()
	str := func(i int, s string, nullable bool) {
		fb := b.Field(i).(*array.StringBuilder)
		if s == "" && nullable {
			fb.AppendNull()
		} else {
			fb.Append(s)
		}
	}
	i64 := func(i int, v int64, null bool) {
		fb := b.Field(i).(*array.Int64Builder)
		if null {
			fb.AppendNull()
		} else {
			fb.Append(v)
		}
	}
	for _, e := range evs {
		b.Field(0).(*array.TimestampBuilder).Append(arrow.Timestamp(e.Time.UnixMicro()))
		str(1, e.RunID, false)
		str(2, e.Mode, false)
		str(3, e.Event, false)
		str(4, e.Flow, true)
		str(5, e.Table, true)
		str(6, e.Execution, true)
		i64(7, e.BatchID, e.Event != EventBatch && e.Event != EventExpectation)
		i64(8, e.RowsIn, false)
		i64(9, e.RowsOut, false)
		i64(10, e.RowsDropped, false)
		i64(11, e.RowsQuarantined, false)
		i64(12, e.RowsLate, false)
		i64(13, e.RowsDuplicate, false)
		b.Field(14).(*array.Float64Builder).Append(e.DurationMS)
		if e.LatencyMS > 0 {
			b.Field(15).(*array.Float64Builder).Append(e.LatencyMS)
		} else {
			b.Field(15).AppendNull()
		}
		str(16, e.Expectation, true)
		i64(17, e.Passed, e.Event != EventExpectation)
		i64(18, e.Failed, e.Event != EventExpectation)
		i64(19, e.Version, e.Version < 0)
		str(20, e.Status, true)
		str(21, e.Message, true)
	}
	return b.NewRecordBatch()
}

// recordSource is a table.Source over one record batch of the target's schema.
type recordSource struct{ rec arrow.RecordBatch }

func (s *recordSource) Schema() *arrow.Schema { return s.rec.Schema() }

func (s *recordSource) Open(ctx context.Context, target *arrow.Schema) (array.RecordReader, error) {
	if !target.Equal(s.rec.Schema()) {
		return nil, fmt.Errorf("pipeline: the table's schema %s differs from the data's %s", target, s.rec.Schema())
	}
	return array.NewRecordReader(target, []arrow.RecordBatch{s.rec})
}
