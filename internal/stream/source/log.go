package source

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/stratalake/strata/internal/log"
)

// ErrDataLoss: records a batch was planned to read are gone (retention removed them before the
// query read them).
var ErrDataLoss = errors.New("records planned for the batch are no longer in the log")

// Range is a half-open range of offsets [From, To) of one partition.
type Range struct {
	From int64 `json:"from"`
	To   int64 `json:"to"`
}

// Len is the number of offsets in the range.
func (r Range) Len() int64 { return max(r.To-r.From, 0) }

// LogOptions tune a log source.
type LogOptions struct {
	// Partitions restricts the source to these partitions (nil: all of the topic's).
	Partitions []int32
	// AllowDataLoss skips records that retention removed before the query read them (counted
	// in LogSource.Lost) instead of failing with ErrDataLoss, as Spark's failOnDataLoss=false.
	AllowDataLoss bool
	// FetchBytes bounds one fetch (default 4 MiB).
	FetchBytes int
}

// LogSource reads one topic of a log, partition by partition. Its positions are offsets.
type LogSource struct {
	l          log.Log
	topic      string
	partitions []int32
	opts       LogOptions
	// Lost counts records skipped because retention removed them (AllowDataLoss only).
	Lost int64
}

// OpenLog opens a topic as a stream source.
func OpenLog(ctx context.Context, l log.Log, topic string, opts LogOptions) (*LogSource, error) {
	ti, err := l.DescribeTopic(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("stream source: %w", err)
	}
	parts := opts.Partitions
	if parts == nil {
		for _, p := range ti.Partitions {
			parts = append(parts, p.Partition)
		}
	} else {
		known := map[int32]bool{}
		for _, p := range ti.Partitions {
			known[p.Partition] = true
		}
		for _, p := range parts {
			if !known[p] {
				return nil, fmt.Errorf("stream source: topic %s: %w %d (the topic has %d)", topic, log.ErrUnknownPartition, p, len(ti.Partitions))
			}
		}
	}
	parts = append([]int32(nil), parts...)
	sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
	if opts.FetchBytes <= 0 {
		opts.FetchBytes = 4 << 20
	}
	return &LogSource{l: l, topic: topic, partitions: parts, opts: opts}, nil
}

// Topic is the topic read.
func (s *LogSource) Topic() string { return s.topic }

// Partitions are the partitions read, in order.
func (s *LogSource) Partitions() []int32 { return s.partitions }

// Available returns each partition's retained offsets [earliest, latest).
func (s *LogSource) Available(ctx context.Context) (map[int32]Range, error) {
	out := make(map[int32]Range, len(s.partitions))
	for _, p := range s.partitions {
		earliest, latest, err := s.l.Offsets(ctx, s.topic, p)
		if err != nil {
			return nil, fmt.Errorf("stream source: %w", err)
		}
		out[p] = Range{From: earliest, To: latest}
	}
	return out, nil
}

// Read fetches the records of partition p in r, in offset order, calling fn with each fetched
// slice. Offsets missing inside the range (compaction gaps) are skipped; records removed by
// retention fail with ErrDataLoss unless AllowDataLoss.
func (s *LogSource) Read(ctx context.Context, p int32, r Range, fn func([]log.Record) error) error {
	next := r.From
	for next < r.To {
		recs, err := s.l.Fetch(ctx, s.topic, p, next, log.FetchOptions{MaxBytes: s.opts.FetchBytes, MaxRecords: int(min(r.To-next, 1<<20))})
		var oor *log.OffsetRangeError
		if errors.As(err, &oor) && next < oor.Earliest {
			lost := min(oor.Earliest, r.To) - next
			if !s.opts.AllowDataLoss {
				return fmt.Errorf("stream source: topic %s partition %d: offsets %d to %d: %w (retention removed them; the log now starts at %d)",
					s.topic, p, next, min(oor.Earliest, r.To)-1, ErrDataLoss, oor.Earliest)
			}
			s.Lost += lost
			next = oor.Earliest
			continue
		}
		if err != nil {
			return fmt.Errorf("stream source: %w", err)
		}
		if len(recs) == 0 {
			// Nothing at or after next below the range's end: the rest was compacted away.
			return nil
		}
		n := 0
		for n < len(recs) && recs[n].Offset < r.To {
			n++
		}
		if n > 0 {
			if err := fn(recs[:n]); err != nil {
				return err
			}
		}
		if n < len(recs) {
			return nil
		}
		next = recs[len(recs)-1].Offset + 1
	}
	return nil
}

// RawSchema is the Arrow schema of records as a batch presents them to SQL: value and key as
// text when they are valid UTF-8 (JSON, CSV lines), the raw bytes of a value in value_bytes
// otherwise. A key that is not valid UTF-8 (a binary key, such as a Java producer's 8-byte long)
// is NULL: it stays in the log, and a batch never fails on it.
var RawSchema = arrow.NewSchema([]arrow.Field{
	{Name: "topic", Type: arrow.BinaryTypes.String},
	{Name: "partition", Type: arrow.PrimitiveTypes.Int32},
	{Name: "offset", Type: arrow.PrimitiveTypes.Int64},
	{Name: "timestamp", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
	{Name: "key", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "value", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "value_bytes", Type: arrow.BinaryTypes.Binary, Nullable: true},
}, nil)

// RecordsToArrow converts records into one batch of RawSchema. The caller releases it.
func RecordsToArrow(recs []log.Record) arrow.RecordBatch {
	b := array.NewRecordBuilder(memory.DefaultAllocator, RawSchema)
	defer b.Release()
	topic := b.Field(0).(*array.StringBuilder)
	part := b.Field(1).(*array.Int32Builder)
	off := b.Field(2).(*array.Int64Builder)
	ts := b.Field(3).(*array.TimestampBuilder)
	key := b.Field(4).(*array.StringBuilder)
	val := b.Field(5).(*array.StringBuilder)
	raw := b.Field(6).(*array.BinaryBuilder)
	for _, r := range recs {
		topic.Append(r.Topic)
		part.Append(r.Partition)
		off.Append(r.Offset)
		ts.Append(arrow.Timestamp(r.Timestamp.UnixMicro()))
		if r.Key == nil || !utf8.Valid(r.Key) {
			key.AppendNull()
		} else {
			key.Append(string(r.Key))
		}
		switch {
		case r.Value == nil:
			val.AppendNull()
			raw.AppendNull()
		case utf8.Valid(r.Value):
			val.Append(string(r.Value))
			raw.AppendNull()
		default:
			val.AppendNull()
			raw.Append(r.Value)
		}
	}
	return b.NewRecordBatch()
}
