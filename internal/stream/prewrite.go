package stream

import (
	"context"
	"errors"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/parquetio"
)

// fileWriter writes a stateless batch's output rows into data files of the output table while the
// batch is still being read and transformed, so that Parquet encoding (one core) overlaps reading
// and the SQL. The files are invisible until commitFiles adds them, with the batch's txn, in the
// commit the core asks for; a crash before that leaves orphan files for VACUUM, and a replayed
// batch writes new ones. A stateless query's output is exactly its transform's output, in order,
// which is what makes writing before the core has seen the rows correct.
//
// Its goroutine runs parquetio.WriteDataFiles over a reader fed through a channel; add and finish
// are called from the driver's goroutine only.
type fileWriter struct {
	snap   *delta.Snapshot // the snapshot the batch's commit builds on
	target *arrow.Schema   // the table's logical schema
	skip   bool            // the batch's txn had landed already: write nothing
	ch     chan arrow.RecordBatch
	done   chan struct{}
	rows   int64

	// Set by the goroutine before done closes.
	files []parquetio.DataFile
	err   error
}

// startFiles begins the data files of batch batchID. The table is created (from schema) when
// missing; the output's columns must fit the table's schema as a write would require.
func (s *sink) startFiles(ctx context.Context, batchID int64, schema *arrow.Schema) (*fileWriter, error) {
	snap, landed, err := s.openBatch(ctx, batchID, schema)
	if err != nil {
		return nil, fmt.Errorf("stream: output table %s: %w", s.t.Location(), err)
	}
	w := &fileWriter{snap: snap, target: delta.ToArrowSchema(snap.Schema()), done: make(chan struct{})}
	if landed {
		w.skip = true
		close(w.done)
		return w, nil
	}
	wopts, err := writeOptions(snap)
	if err != nil {
		return nil, err
	}
	ch := make(chan arrow.RecordBatch, 4)
	w.ch = ch
	go func() {
		defer close(w.done)
		rr := parquetio.NewChanReader(w.target, ch)
		w.files, w.err = parquetio.WriteDataFiles(ctx, s.t.Store(), rr, wopts)
		rr.Drain() // after a failure: let add and finish return
	}()
	return w, nil
}

// openBatch returns the snapshot that batch batchID's commit builds on (the table's latest, the
// table created from schema when missing), after checking that rows of schema fit the table's
// schema; landed reports that the table has a txn of the sink's app id at batchID or later, so
// that the batch's commit is to be skipped.
func (s *sink) openBatch(ctx context.Context, batchID int64, schema *arrow.Schema) (snap *delta.Snapshot, landed bool, err error) {
	snap, err = s.snapshotOrCreate(ctx, schema)
	if err != nil {
		return nil, false, err
	}
	incoming, err := delta.FromArrowSchema(schema)
	if err != nil {
		return nil, false, err
	}
	if err := delta.CheckSchemaCompatible(snap.Schema(), incoming, false); err != nil {
		return nil, false, err
	}
	v, ok := snap.TxnVersion(s.appID)
	return snap, ok && v >= batchID, nil
}

// writeOptions returns the options of data files written to snap's table: its schema,
// partitioning and table properties.
func writeOptions(snap *delta.Snapshot) (parquetio.WriteOptions, error) {
	wopts := parquetio.WriteOptions{Schema: snap.Schema(), PartitionColumns: snap.PartitionColumns()}
	if err := wopts.ApplyTableProperties(snap.Metadata().Configuration); err != nil {
		return parquetio.WriteOptions{}, err
	}
	return wopts, nil
}

// addFiles adds new data files to tx (as data changes) and returns their rows and bytes.
func addFiles(tx *delta.Transaction, files []parquetio.DataFile) (rows, bytes int64) {
	for _, f := range files {
		tx.AddFiles(f.Add(true))
		rows += f.NumRecords
		bytes += f.Size
	}
	return rows, bytes
}

// snapshotOrCreate returns the table's latest snapshot, creating the table from schema (columns
// nullable, the sink's partitioning and properties) when it does not exist.
func (s *sink) snapshotOrCreate(ctx context.Context, schema *arrow.Schema) (*delta.Snapshot, error) {
	snap, err := s.t.Snapshot(ctx, -1)
	if !errors.Is(err, delta.ErrNotATable) {
		return snap, err
	}
	st, err := delta.FromArrowSchema(schema)
	if err != nil {
		return nil, err
	}
	for _, f := range st.Fields {
		f.Nullable = true
	}
	if _, err := s.t.Create(ctx, delta.CreateOptions{Schema: st, PartitionColumns: s.partitionBy, Properties: s.properties}); err != nil && !errors.Is(err, delta.ErrTableExists) {
		return nil, err
	}
	return s.t.Snapshot(ctx, -1)
}

// add hands output batches to the writer (conformed to the table's schema).
func (w *fileWriter) add(ctx context.Context, batches []arrow.RecordBatch) error {
	if w.skip {
		return nil
	}
	for _, b := range batches {
		c, err := conform(ctx, b, w.target)
		if err != nil {
			return err
		}
		select {
		case w.ch <- c:
			w.rows += c.NumRows()
		case <-w.done:
			c.Release()
			return w.err
		case <-ctx.Done():
			c.Release()
			return ctx.Err()
		}
	}
	return nil
}

// finish waits for the files.
func (w *fileWriter) finish() ([]parquetio.DataFile, error) {
	if w.ch != nil {
		close(w.ch)
		w.ch = nil
	}
	<-w.done
	return w.files, w.err
}

// commitFiles commits the writer's files with txn (appID, batchID), unless the txn had landed.
func (s *sink) commitFiles(ctx context.Context, batchID int64, w *fileWriter) (commitResult, error) {
	files, err := w.finish()
	if err != nil {
		return commitResult{}, fmt.Errorf("stream: write batch %d to %s: %w", batchID, s.t.Location(), err)
	}
	if w.skip {
		return commitResult{version: w.snap.Version(), skipped: true}, nil
	}
	if len(files) == 0 {
		return commitResult{version: w.snap.Version()}, nil
	}
	tx := s.t.Kernel().NewTransaction(w.snap, delta.Operation{Name: "STREAMING UPDATE", Parameters: map[string]any{
		"outputMode": "Append", "queryId": s.appID, "epochId": batchID,
	}})
	rows, bytes := addFiles(tx, files)
	tx.SetAppTransaction(s.appID, batchID)
	tx.SetMetrics(map[string]any{"numFiles": len(files), "numOutputRows": rows, "numOutputBytes": bytes})
	cr, err := tx.Commit(ctx)
	if err != nil {
		return commitResult{}, s.commitError(batchID, err)
	}
	return commitResult{version: cr.Version, rows: rows}, nil
}
