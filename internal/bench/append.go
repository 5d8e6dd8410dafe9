package bench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/table"
)

// AppendReport compares appending rows to a Delta table with writing the same rows to one plain
// Parquet file. MB means 10^6 bytes.
type AppendReport struct {
	Rows      int64 `json:"rows"`
	Columns   int   `json:"columns"`
	Batches   int   `json:"batches"`
	BatchRows int   `json:"batchRows"`
	// ArrowBytes is the in-memory size of the input batches.
	ArrowBytes int64  `json:"arrowBytes"`
	Codec      string `json:"codec"`
	// Generate is the time it took to build the batches (not part of any write figure).
	Generate Millis `json:"generateMs"`
	// Delta is table.Write into a new unpartitioned table; Plain is pqarrow writing one file;
	// Partitioned (optional) is table.Write into a table partitioned by country.
	Delta       WriteFigures  `json:"delta"`
	Plain       WriteFigures  `json:"plain"`
	Partitioned *WriteFigures `json:"partitioned,omitempty"`
	// DeltaOverhead is Delta's elapsed time over Plain's (1.0 = no overhead); DeltaCPUOverhead the
	// same for CPU time.
	DeltaOverhead       float64 `json:"deltaOverhead"`
	DeltaCPUOverhead    float64 `json:"deltaCPUOverhead"`
	PartitionedOverhead float64 `json:"partitionedOverhead,omitempty"`
}

// WriteFigures is the throughput of one write.
type WriteFigures struct {
	Method  string `json:"method"`
	Path    string `json:"path"`
	Elapsed Millis `json:"elapsedMs"`
	// CPU is the CPU time (user + system, all threads) the process used during the write: on a
	// busy machine it shows the work done when Elapsed mostly shows waiting for a core.
	CPU   Millis `json:"cpuMs"`
	Files int    `json:"files"`
	// OutputBytes is the size of the Parquet files written.
	OutputBytes    int64   `json:"outputBytes"`
	RowsPerSec     float64 `json:"rowsPerSec"`
	OutputMBPerSec float64 `json:"outputMBPerSec"`
	InputMBPerSec  float64 `json:"inputMBPerSec"`
}

func (w *WriteFigures) rates(rows, inBytes int64) {
	s := w.Elapsed.D().Seconds()
	if s <= 0 {
		return
	}
	w.RowsPerSec = roundTo(float64(rows)/s, 0)
	w.OutputMBPerSec = roundTo(float64(w.OutputBytes)/1e6/s, 1)
	w.InputMBPerSec = roundTo(float64(inBytes)/1e6/s, 1)
}

// RunAppend generates cfg.Rows rows once, then times table.Write of them into a new table under
// cfg.Dir ("append-delta"), pqarrow writing them to one Parquet file ("append-plain.parquet")
// with the same codec and encoding settings, and, with cfg.Partitioned, table.Write into a table
// partitioned by country ("append-partitioned").
func RunAppend(ctx context.Context, cfg Config) (*AppendReport, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	obs := c.Observer
	obs.Logf("append: generating %d rows of %d columns in memory", c.Rows, len(Schema().Fields()))
	t0 := time.Now()
	recs := GenerateRows(0, c.Rows, c.BatchRows, 1)
	defer ReleaseAll(recs)
	rep := &AppendReport{Rows: c.Rows, Columns: len(Schema().Fields()), Batches: len(recs), BatchRows: c.BatchRows,
		ArrowBytes: ArrowBytes(recs), Codec: "zstd", Generate: Millis(time.Since(t0))}
	obs.Logf("append: generated %.1f MB of Arrow data in %s", float64(rep.ArrowBytes)/1e6, rep.Generate)

	step := func(desc string, f func(Tracker) (*WriteFigures, error)) (*WriteFigures, error) {
		tr := obs.Start(desc, c.Rows, "rows")
		w, err := f(tr)
		tr.Done()
		if err != nil {
			return nil, err
		}
		w.rates(c.Rows, rep.ArrowBytes)
		obs.Logf("append: %s: %s (CPU %s), %.0f rows/s, %.1f MB/s of Parquet (%d files, %.1f MB)",
			w.Method, w.Elapsed, w.CPU, w.RowsPerSec, w.OutputMBPerSec, w.Files, float64(w.OutputBytes)/1e6)
		return w, nil
	}
	w, err := step("writing Delta table", func(tr Tracker) (*WriteFigures, error) {
		return WriteDelta(ctx, filepath.Join(c.Dir, "append-delta"), recs, nil, tr)
	})
	if err != nil {
		return nil, err
	}
	rep.Delta = *w
	w, err = step("writing plain Parquet", func(tr Tracker) (*WriteFigures, error) {
		return WritePlainParquet(ctx, filepath.Join(c.Dir, "append-plain.parquet"), recs, tr)
	})
	if err != nil {
		return nil, err
	}
	rep.Plain = *w
	if rep.Plain.Elapsed > 0 {
		rep.DeltaOverhead = roundTo(float64(rep.Delta.Elapsed)/float64(rep.Plain.Elapsed), 2)
	}
	if rep.Plain.CPU > 0 {
		rep.DeltaCPUOverhead = roundTo(float64(rep.Delta.CPU)/float64(rep.Plain.CPU), 2)
	}
	if c.Partitioned {
		w, err = step("writing partitioned Delta table", func(tr Tracker) (*WriteFigures, error) {
			return WriteDelta(ctx, filepath.Join(c.Dir, "append-partitioned"), recs, []string{LowCardinalityColumn}, tr)
		})
		if err != nil {
			return nil, err
		}
		rep.Partitioned = w
		if rep.Plain.Elapsed > 0 {
			rep.PartitionedOverhead = roundTo(float64(w.Elapsed)/float64(rep.Plain.Elapsed), 2)
		}
	}
	return rep, nil
}

// WriteDelta creates a table with the benchmark schema in dir (partitioned by partitionBy), then
// times one table.Write appending recs. Creating the table is not timed. tr counts rows as the
// writer consumes them. Rates are left for the caller.
func WriteDelta(ctx context.Context, dir string, recs []arrow.RecordBatch, partitionBy []string, tr Tracker) (*WriteFigures, error) {
	t, err := table.Open(ctx, dir)
	if err != nil {
		return nil, err
	}
	if _, err := t.Create(ctx, delta.CreateOptions{Schema: DeltaSchema(), PartitionColumns: partitionBy}); err != nil {
		return nil, err
	}
	method := "table.Write"
	if len(partitionBy) > 0 {
		method += fmt.Sprintf(" (partitioned by %v)", partitionBy)
	}
	src := &RecordSource{Batches: recs, OnBatch: tr.Add}
	c0, t0 := cpuTime(), time.Now()
	res, err := t.Write(ctx, src, table.WriteOptions{Mode: table.Append})
	el, cpu := time.Since(t0), cpuTime()-c0
	if err != nil {
		return nil, fmt.Errorf("bench: append to %s: %w", dir, err)
	}
	if res.RowsWritten != CountRows(recs) {
		return nil, fmt.Errorf("bench: append to %s wrote %d rows, want %d", dir, res.RowsWritten, CountRows(recs))
	}
	return &WriteFigures{Method: method, Path: dir, Elapsed: Millis(el), CPU: Millis(cpu), Files: res.FilesAdded, OutputBytes: res.BytesWritten}, nil
}

// PlainWriterProperties are the Parquet settings of the plain baseline: the codec and encodings
// Strata's data files use (zstd, decimals as integers, data page v1, row groups of at most 1Mi
// rows), so that the comparison measures what Delta adds, not a choice of encoding.
func PlainWriterProperties() *parquet.WriterProperties {
	return parquet.NewWriterProperties(
		parquet.WithCompression(compress.Codecs.Zstd),
		parquet.WithStoreDecimalAsInteger(true),
		parquet.WithDataPageVersion(parquet.DataPageV1),
		parquet.WithMaxRowGroupLength(1<<20),
		parquet.WithAllocator(memory.DefaultAllocator),
	)
}

// WritePlainParquet times writing recs to one Parquet file at path with pqarrow and
// PlainWriterProperties, fsync included (Strata's store syncs its files too). tr counts rows.
func WritePlainParquet(ctx context.Context, path string, recs []arrow.RecordBatch, tr Tracker) (*WriteFigures, error) {
	c0, t0 := cpuTime(), time.Now()
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("bench: create %s: %w", path, err)
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	fw, err := pqarrow.NewFileWriter(Schema(), bw, PlainWriterProperties(), pqarrow.NewArrowWriterProperties(pqarrow.WithAllocator(memory.DefaultAllocator)))
	if err != nil {
		return nil, fmt.Errorf("bench: parquet writer for %s: %w", path, err)
	}
	for _, r := range recs {
		if err := ctx.Err(); err != nil {
			fw.Close()
			return nil, err
		}
		if err := fw.WriteBuffered(r); err != nil {
			fw.Close()
			return nil, fmt.Errorf("bench: write %s: %w", path, err)
		}
		tr.Add(r.NumRows())
	}
	if err := fw.Close(); err != nil {
		return nil, fmt.Errorf("bench: close parquet writer of %s: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
		return nil, fmt.Errorf("bench: write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("bench: sync %s: %w", path, err)
	}
	el, cpu := time.Since(t0), cpuTime()-c0
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("bench: stat %s: %w", path, err)
	}
	return &WriteFigures{Method: "pqarrow, one file", Path: path, Elapsed: Millis(el), CPU: Millis(cpu), Files: 1, OutputBytes: info.Size()}, nil
}

// RecordSource is a table.Source over record batches held in memory. The batches must have
// Schema's column types; Open relabels them with the table's target schema. The source does not
// take ownership of the batches, and it can be opened any number of times.
type RecordSource struct {
	Batches []arrow.RecordBatch
	// OnBatch, if set, is called with the row count of each batch as the writer reads it.
	OnBatch func(rows int64)
}

// Schema is the benchmark schema (see Schema).
func (s *RecordSource) Schema() *arrow.Schema {
	if len(s.Batches) > 0 {
		return s.Batches[0].Schema()
	}
	return Schema()
}

// Open returns a reader over the batches in the target schema.
func (s *RecordSource) Open(ctx context.Context, target *arrow.Schema) (array.RecordReader, error) {
	recs := make([]arrow.RecordBatch, len(s.Batches))
	for i, r := range s.Batches {
		if r.NumCols() != int64(target.NumFields()) {
			for _, done := range recs[:i] {
				done.Release()
			}
			return nil, fmt.Errorf("bench: batch %d has %d columns, the table %d", i, r.NumCols(), target.NumFields())
		}
		if r.Schema().Equal(target) {
			r.Retain()
			recs[i] = r
		} else {
			recs[i] = array.NewRecordBatch(target, r.Columns(), r.NumRows())
		}
	}
	rr, err := array.NewRecordReader(target, recs)
	ReleaseAll(recs)
	if err != nil {
		return nil, fmt.Errorf("bench: record reader: %w", err)
	}
	if s.OnBatch == nil {
		return rr, nil
	}
	return &countingReader{RecordReader: rr, onBatch: s.OnBatch}, nil
}

// countingReader reports the rows of each batch it yields.
type countingReader struct {
	array.RecordReader
	onBatch func(int64)
}

func (r *countingReader) Next() bool {
	if !r.RecordReader.Next() {
		return false
	}
	r.onBatch(r.RecordReader.RecordBatch().NumRows())
	return true
}
