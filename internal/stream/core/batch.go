package core

import (
	"cmp"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// PartitionID names one partition of one source. A log topic has partitions 0..n-1; a Delta table
// source is a single partition 0 whose positions are table versions.
type PartitionID struct {
	// Source is the source's name as listed in Config.Sources.
	Source string
	// Partition is the partition number within the source.
	Partition int32
}

// String formats the partition as "source/partition".
func (p PartitionID) String() string {
	return p.Source + "/" + strconv.Itoa(int(p.Partition))
}

// comparePartitions orders partitions by source name, then number: the order of a Batch's ranges
// and of every per-partition iteration in the core.
func comparePartitions(a, b PartitionID) int {
	if c := strings.Compare(a.Source, b.Source); c != 0 {
		return c
	}
	return cmp.Compare(a.Partition, b.Partition)
}

// Range is the half-open interval [From, To) of positions one batch reads from one partition. A
// position is a log offset or a Delta table version. From == To means the batch reads nothing
// there. From is normally the previous batch's To; it is larger only when the source lost
// positions and Config.AllowDataLoss let the query skip them.
type Range struct {
	Partition PartitionID
	From, To  int64
}

// Empty reports whether the range reads nothing.
func (r Range) Empty() bool { return r.From >= r.To }

// Batch is one micro-batch as recorded in the offsets log before it is processed. It is immutable
// once planned: a restart re-reads exactly these ranges, and processing uses PlannedAt (not the
// clock at processing time) for every time-dependent decision, so a replay makes the same
// decisions.
type Batch struct {
	// ID numbers batches 0, 1, 2, ... without gaps. It is the version of the sink transaction
	// (Delta txn appId/version) that makes the batch's output idempotent.
	ID int64
	// PlannedAt is the injected clock when the batch was planned. It decides which partitions are
	// idle for this batch's watermark.
	PlannedAt time.Time
	// Ranges lists every partition the query knows at planning time, sorted by partition, with
	// From == To for partitions that have nothing to read.
	Ranges []Range
	// Flush marks the last batch of an available-now run with Config.FlushAtEnd: it reads nothing
	// and moves the watermark to +infinity, so every open window is emitted.
	Flush bool
	// Backlog records that Limits cut the batch short: more data was available when it was
	// planned. A low-latency trigger then starts the next batch at once, also after a restart.
	Backlog bool
}

// HasData reports whether any range reads at least one position.
func (b *Batch) HasData() bool {
	for _, r := range b.Ranges {
		if !r.Empty() {
			return true
		}
	}
	return false
}

// Positions returns the number of positions the batch reads, summed over partitions.
func (b *Batch) Positions() int64 {
	var n int64
	for _, r := range b.Ranges {
		if !r.Empty() {
			n += r.To - r.From
		}
	}
	return n
}

// rangeOf returns the batch's range for p.
func (b *Batch) rangeOf(p PartitionID) (Range, bool) {
	for _, r := range b.Ranges {
		if r.Partition == p {
			return r, true
		}
	}
	return Range{}, false
}

// String formats the batch for logs and tests: "batch 3 at 10s: s/0 [5,8) s/1 [2,2) flush".
func (b *Batch) String() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "batch %d at %s:", b.ID, fmtClock(b.PlannedAt))
	for _, r := range b.Ranges {
		fmt.Fprintf(&sb, " %s [%d,%d)", r.Partition, r.From, r.To)
	}
	if b.Flush {
		sb.WriteString(" flush")
	}
	if b.Backlog {
		sb.WriteString(" (backlog)")
	}
	return sb.String()
}

// fmtClock formats an injected clock reading relative to the Unix epoch, which is what tests use
// as their time origin; real clocks print as RFC 3339.
func fmtClock(t time.Time) string {
	if t.Before(time.Unix(0, 0).Add(365 * 24 * time.Hour)) {
		return t.Sub(time.Unix(0, 0)).String()
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// The JSON forms of the offsets and commit logs. They are versioned and human-readable, like
// Spark's checkpoint logs; a tool can print them.
type batchJSON struct {
	V         int         `json:"v"`
	ID        int64       `json:"id"`
	PlannedAt int64       `json:"plannedAtUnixNano"`
	Flush     bool        `json:"flush,omitempty"`
	Backlog   bool        `json:"backlog,omitempty"`
	Ranges    []rangeJSON `json:"ranges"`
}

type rangeJSON struct {
	Source    string `json:"source"`
	Partition int32  `json:"partition"`
	From      int64  `json:"from"`
	To        int64  `json:"to"`
}

func encodeBatch(b *Batch) []byte {
	j := batchJSON{V: 1, ID: b.ID, PlannedAt: b.PlannedAt.UnixNano(), Flush: b.Flush, Backlog: b.Backlog, Ranges: []rangeJSON{}}
	for _, r := range b.Ranges {
		j.Ranges = append(j.Ranges, rangeJSON{r.Partition.Source, r.Partition.Partition, r.From, r.To})
	}
	data, err := json.Marshal(j)
	if err != nil {
		panic(err) // plain structs always marshal
	}
	return data
}

// DecodeBatch decodes an offsets-log value (the value under an 'O' key). Tools use it to show a
// checkpoint; the Query uses it in Restore.
func DecodeBatch(data []byte) (*Batch, error) {
	var j batchJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return nil, fmt.Errorf("offsets log entry: %v: %w", err, ErrCorrupt)
	}
	if j.V != 1 {
		return nil, fmt.Errorf("offsets log entry: version %d: %w", j.V, ErrCorrupt)
	}
	b := &Batch{ID: j.ID, PlannedAt: time.Unix(0, j.PlannedAt), Flush: j.Flush, Backlog: j.Backlog}
	for i, r := range j.Ranges {
		rg := Range{Partition: PartitionID{r.Source, r.Partition}, From: r.From, To: r.To}
		if rg.From > rg.To || (i > 0 && comparePartitions(b.Ranges[i-1].Partition, rg.Partition) >= 0) {
			return nil, fmt.Errorf("offsets log entry %d: range %s [%d,%d) out of order: %w", j.ID, rg.Partition, rg.From, rg.To, ErrCorrupt)
		}
		b.Ranges = append(b.Ranges, rg)
	}
	return b, nil
}

// commitJSON is a commit-log record: the batch is complete and the state written with it is the
// state after the batch.
type commitJSON struct {
	V         int        `json:"v"`
	ID        int64      `json:"id"`
	Watermark int64      `json:"watermark"`
	Totals    totalsJSON `json:"totals"`
}

// totalsJSON carries the query's running totals across restarts.
type totalsJSON struct {
	Batches       int64 `json:"batches"`
	InputRows     int64 `json:"inputRows"`
	LateRows      int64 `json:"lateRows"`
	DuplicateRows int64 `json:"duplicateRows"`
	OutputRows    int64 `json:"outputRows"`
}

func encodeCommit(id, watermark int64, totals totalsJSON) []byte {
	data, err := json.Marshal(commitJSON{V: 1, ID: id, Watermark: watermark, Totals: totals})
	if err != nil {
		panic(err)
	}
	return data
}

func decodeCommit(data []byte) (commitJSON, error) {
	var c commitJSON
	if err := json.Unmarshal(data, &c); err != nil || c.V != 1 {
		return c, fmt.Errorf("commit log entry %q: %w", data, ErrCorrupt)
	}
	return c, nil
}
