package core

import "fmt"

// Row is one input row as the stateful operators see it: the driver has already read it from its
// source partition and reduced it to a group key, an event time and the column values the
// aggregates refer to.
type Row struct {
	// Partition is the source partition the row was read from; it feeds that partition's
	// watermark and must be a partition the batch reads.
	Partition PartitionID
	// EventTime is in the query's event-time unit (see WatermarkSpec).
	EventTime int64
	// Key is the group key (aggregation) or, when DedupSpec.KeyColumns is empty, the dedup key.
	Key []byte
	// Values are the row's columns, indexed by AggSpec.Column and DedupSpec.KeyColumns.
	Values []Value
}

// StepInput is one micro-batch as an operator sees it: its rows, each with its lateness cutoff,
// and the expiry cutoff after the batch. Cutoffs are NoWatermark before a watermark exists.
//
// Query fills it from its Tracker: LateBefore[i] = max(W_p, wm) - AllowedLateness, where W_p is
// the watermark of Rows[i]'s partition from the rows of that partition before it and wm the
// query watermark at the start of the batch (see Tracker, Lateness); ExpireBefore = the query
// watermark after the batch - AllowedLateness. Whoever fills it must keep the invariant the
// operators rely on: every LateBefore[i] is >= the ExpireBefore of the operator's previous Step
// (the cutoffs never let an on-time row reach state that was dropped).
type StepInput struct {
	// Rows are the batch's rows in the order the driver read them (partition by partition, in
	// position order); operators process them in this order.
	Rows []Row
	// LateBefore holds one cutoff per row, parallel to Rows; nil means no row is late. Rows[i]
	// is late iff Rows[i].EventTime < LateBefore[i]. A late row is never applied to state; it
	// goes to the late output, counted. Its length must be len(Rows) when it is not nil.
	LateBefore []int64
	// ExpireBefore is the cutoff after the batch: state that only rows before it could still
	// change is final: windows with End <= ExpireBefore close and dedup entries with an event
	// time < ExpireBefore are dropped. The next batch's LateBefore cutoffs are all >= this
	// ExpireBefore (the query watermark never decreases), so no on-time row can ever reach
	// dropped state.
	ExpireBefore int64
}

// late reports whether Rows[i] is late.
func (in *StepInput) late(i int) bool {
	return in.LateBefore != nil && in.Rows[i].EventTime < in.LateBefore[i]
}

// check returns ErrProtocol when LateBefore is not parallel to Rows.
func (in *StepInput) check() error {
	if in.LateBefore != nil && len(in.LateBefore) != len(in.Rows) {
		return fmt.Errorf("step input with %d rows and %d lateness cutoffs: %w", len(in.Rows), len(in.LateBefore), ErrProtocol)
	}
	return nil
}

// StepOutput is what an operator produced for one batch.
type StepOutput struct {
	// Rows are the rows a deduplicator let through, in input order.
	Rows []Row
	// Results are the aggregation's output rows, sorted: retractions first, then by window start,
	// window end and key.
	Results []Result
	// Late are the late input rows, in input order.
	Late []Row
	// Duplicates counts rows a deduplicator dropped as repeats.
	Duplicates int64
	// Mutations are the operator's state writes for this batch, sorted by key, one per key.
	Mutations []Mutation
}

// Result is one output row of an aggregation.
type Result struct {
	Window Window
	Key    []byte
	// Values holds one value per AggSpec, in AggregateSpec.Aggs order.
	Values []Value
	// Retract is set (update mode, session windows only) when a row this query emitted earlier for
	// Window and Key is superseded because the session grew or merged: the sink deletes the row
	// with these window bounds and key. Values is nil then.
	Retract bool
}

// StateSize is the size of an operator's persisted state.
type StateSize struct {
	// Entries is the number of keys; Bytes the sum of key and value lengths.
	Entries, Bytes int64
}
