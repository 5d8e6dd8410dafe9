package stream

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/log"
	"github.com/stratalake/strata/internal/stream/core"
	"github.com/stratalake/strata/internal/stream/source"
	"github.com/stratalake/strata/internal/table"
)

// input is one source as the driver uses it: its current status for the planner, and the Arrow
// rows of a planned range.
type input interface {
	// name is the source's name (its view name and core source name).
	name() string
	// schema is the Arrow schema of the rows read.
	schema() *arrow.Schema
	// status reports what the source holds now.
	status(ctx context.Context) (core.SourceStatus, error)
	// read returns the rows of positions [r.From, r.To) of r's partition, in position order.
	read(ctx context.Context, r core.Range) (*partData, error)
	// completed tells the input that a batch read up to r.To (exclusive) is done.
	completed(r core.Range)
}

// partData is what a batch read from one partition.
type partData struct {
	batches []arrow.RecordBatch
	rows    int64
	bytes   int64
	// ingest bounds the log append (or producer) timestamps of the records, in microseconds.
	ingest timeBounds
}

func (d *partData) release() {
	for _, b := range d.batches {
		b.Release()
	}
	d.batches = nil
}

// logInput reads a log topic.
type logInput struct {
	src  string
	ls   *source.LogSource
	bpp  int64 // estimated bytes per record
	done bool
}

func openLogInput(ctx context.Context, l log.Log, s Source, allowDataLoss bool) (*logInput, error) {
	if l == nil {
		return nil, fmt.Errorf("source %s: topic %s: Deps.Log is nil: %w", s.Name, s.Topic, ErrInvalidQuery)
	}
	ls, err := source.OpenLog(ctx, l, s.Topic, source.LogOptions{Partitions: s.Partitions, AllowDataLoss: allowDataLoss})
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", s.Name, err)
	}
	in := &logInput{src: s.Name, ls: ls}
	if ti, err := l.DescribeTopic(ctx, s.Topic); err == nil {
		var recs, bytes int64
		for _, p := range ti.Partitions {
			recs += p.Records
			bytes += p.Bytes
		}
		if recs > 0 && bytes > 0 {
			in.bpp = max(bytes/recs, 1)
		}
	}
	return in, nil
}

func (in *logInput) name() string          { return in.src }
func (in *logInput) schema() *arrow.Schema { return source.RawSchema }
func (in *logInput) completed(core.Range)  {}

func (in *logInput) status(ctx context.Context) (core.SourceStatus, error) {
	av, err := in.ls.Available(ctx)
	if err != nil {
		return core.SourceStatus{}, fmt.Errorf("source %s: %w", in.src, err)
	}
	st := core.SourceStatus{Source: in.src}
	for _, p := range in.ls.Partitions() {
		r := av[p]
		st.Partitions = append(st.Partitions, core.PartitionStatus{Partition: p, Start: r.From, End: r.To, BytesPerPosition: in.bpp})
	}
	return st, nil
}

func (in *logInput) read(ctx context.Context, r core.Range) (*partData, error) {
	d := &partData{}
	err := in.ls.Read(ctx, r.Partition.Partition, source.Range{From: r.From, To: r.To}, func(recs []log.Record) error {
		for i := range recs {
			d.ingest.add(recs[i].Timestamp.UnixMicro())
			d.bytes += int64(len(recs[i].Key) + len(recs[i].Value))
		}
		rb := source.RecordsToArrow(recs)
		d.rows += rb.NumRows()
		d.batches = append(d.batches, rb)
		return nil
	})
	if err != nil {
		d.release()
		return nil, fmt.Errorf("source %s: read %s [%d,%d): %w", in.src, r.Partition, r.From, r.To, err)
	}
	return d, nil
}

// deltaInput reads a Delta table as a stream: its single partition 0 has the table's versions as
// positions (End = latest version + 1).
//
// Costs: the planner bounds batches by rows only where it knows each version's row count. The
// input learns them once it knows where the query reads (after its first batch): from then on
// every status reports the row and byte counts of the versions not yet read.
type deltaInput struct {
	src    string
	ds     *source.DeltaSource
	sch    *arrow.Schema
	known  map[int64]source.TableVersion // versions whose changes were read
	readTo int64                         // the To of the last completed range; -1 before
}

func openDeltaInput(ctx context.Context, t *table.Table, s Source) (*deltaInput, error) {
	ds, err := source.OpenDelta(ctx, t, source.DeltaOptions{SkipChangeCommits: s.SkipChangeCommits})
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", s.Name, err)
	}
	snap, err := t.Snapshot(ctx, -1)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", s.Name, err)
	}
	return &deltaInput{src: s.Name, ds: ds, sch: delta.ToArrowSchema(snap.Schema()), known: map[int64]source.TableVersion{}, readTo: -1}, nil
}

func (in *deltaInput) name() string          { return in.src }
func (in *deltaInput) schema() *arrow.Schema { return in.sch }

func (in *deltaInput) completed(r core.Range) {
	in.readTo = r.To
	for v := range in.known {
		if v < r.To {
			delete(in.known, v)
		}
	}
}

// changes returns the changes of versions [from, to), from the cache where it can.
func (in *deltaInput) changes(ctx context.Context, from, to int64) ([]source.TableVersion, error) {
	out := make([]source.TableVersion, 0, to-from)
	for v := from; v < to; {
		if tv, ok := in.known[v]; ok {
			out = append(out, tv)
			v++
			continue
		}
		end := v + 1
		for end < to {
			if _, ok := in.known[end]; ok {
				break
			}
			end++
		}
		tvs, err := in.ds.Changes(ctx, v-1, end-1)
		if err != nil {
			return nil, fmt.Errorf("source %s: %w", in.src, err)
		}
		for _, tv := range tvs {
			in.known[tv.Version] = tv
		}
		out = append(out, tvs...)
		v = end
	}
	return out, nil
}

func (in *deltaInput) status(ctx context.Context) (core.SourceStatus, error) {
	latest, err := in.ds.Latest(ctx)
	if err != nil {
		return core.SourceStatus{}, fmt.Errorf("source %s: %w", in.src, err)
	}
	ps := core.PartitionStatus{Partition: 0, Start: 0, End: latest + 1}
	if in.readTo >= 0 && in.readTo <= latest {
		tvs, err := in.changes(ctx, in.readTo, latest+1)
		if err != nil {
			return core.SourceStatus{}, err
		}
		ps.CostsFrom = in.readTo
		for _, tv := range tvs {
			c := core.Cost{Records: max(tv.Rows, 1)}
			for _, f := range tv.Files {
				c.Bytes += f.Size
			}
			ps.Costs = append(ps.Costs, c)
		}
	}
	return core.SourceStatus{Source: in.src, Partitions: []core.PartitionStatus{ps}}, nil
}

func (in *deltaInput) read(ctx context.Context, r core.Range) (*partData, error) {
	tvs, err := in.changes(ctx, r.From, r.To)
	if err != nil {
		return nil, err
	}
	var files []*delta.Add
	d := &partData{}
	for _, tv := range tvs {
		files = append(files, tv.Files...)
		for _, f := range tv.Files {
			d.bytes += f.Size
		}
	}
	if len(files) == 0 {
		return d, nil
	}
	rr, err := in.ds.Read(ctx, r.To-1, files)
	if err != nil {
		return nil, fmt.Errorf("source %s: read versions [%d,%d): %w", in.src, r.From, r.To, err)
	}
	defer rr.Release()
	for rr.Next() {
		rb := rr.RecordBatch()
		rb.Retain()
		d.batches = append(d.batches, rb)
		d.rows += rb.NumRows()
	}
	if err := rr.Err(); err != nil {
		d.release()
		return nil, fmt.Errorf("source %s: read versions [%d,%d): %w", in.src, r.From, r.To, err)
	}
	return d, nil
}

var identRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// resolveTable turns a project table name (domain.table, when the engine has a project) into its
// location; anything else is a location already (a path, relative or not, or a URL).
func resolveTable(deps *Deps, name string) (string, error) {
	if strings.Contains(name, "://") || strings.ContainsAny(name, "/\\") {
		return name, nil
	}
	dom, tbl, ok := strings.Cut(name, ".")
	if !ok || strings.Contains(tbl, ".") {
		return name, nil
	}
	p := deps.project()
	if p == nil || !identRe.MatchString(dom) || !identRe.MatchString(tbl) {
		return name, nil // a relative path
	}
	return p.TableLocation(dom, tbl)
}

// emptyReader returns a reader with no batches in schema.
func emptyReader(schema *arrow.Schema) array.RecordReader {
	rr, err := array.NewRecordReader(schema, nil)
	if err != nil {
		panic(err) // a nil batch list always makes a reader
	}
	return rr
}

// sortedRanges returns the batch's non-empty ranges in partition order (source name, partition).
func sortedRanges(b *core.Batch) []core.Range {
	var out []core.Range
	for _, r := range b.Ranges {
		if !r.Empty() {
			out = append(out, r)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].Partition, out[j].Partition
		if a.Source != b.Source {
			return a.Source < b.Source
		}
		return a.Partition < b.Partition
	})
	return out
}
