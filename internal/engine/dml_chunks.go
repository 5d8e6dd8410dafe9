package engine

import (
	"context"
	"fmt"
	"runtime"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"golang.org/x/sync/errgroup"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/parquetio"
	"github.com/stratalake/strata/internal/table"
)

// Parallel data file writing for INSERT and CREATE TABLE ... AS (copy-on-write statements write
// with DuckDB instead, dml_copy.go). Encoding Parquet (parquetio, in Go) is the costly part of
// such a statement, and one writer uses one core. A query's rows are therefore cut into chunks of
// consecutive rows (every insertChunkRows rows), and the chunks are encoded concurrently (at most
// writeWorkers at a time), each into its own files.

// writeWorkers bounds the chunks encoded at once.
func writeWorkers() int { return max(1, min(runtime.GOMAXPROCS(0), 8)) }

// chunker assigns the rows of a batch, from position start on, to a chunk: it returns the chunk
// and the end of that chunk's rows in the batch. Chunks must come in increasing order.
type chunker func(rec arrow.RecordBatch, start int) (chunk, end int, err error)

// countChunker cuts a stream every rows rows.
func countChunker(rows int64) chunker {
	var seen int64
	return func(rec arrow.RecordBatch, start int) (int, int, error) {
		k := int(seen / rows)
		end := min(int64(rec.NumRows()), int64(start)+(int64(k)+1)*rows-seen)
		seen += end - int64(start)
		return k, int(end), nil
	}
}

// insertChunkRows is the number of rows of an insert's chunk.
const insertChunkRows = 1 << 20

// writeChunks runs query on c and writes its rows as data files of t, chunk by chunk, encoding
// chunks concurrently. With dropFirst the query's first column (the row ids the chunker reads)
// is not written; the other columns are the table's logical columns in order. Files are
// returned in chunk order. On error, files already written are orphans.
func (e *Engine) writeChunks(ctx context.Context, c *conn, t *table.Table, schema *delta.StructType, partCols []string, conf map[string]string,
	query string, chunks chunker, dropFirst bool) ([]parquetio.DataFile, error) {
	rr, err := c.query(ctx, query)
	if err != nil {
		return nil, duckError(err)
	}
	defer rr.Release()
	inSchema := rr.Schema()
	first := 0
	if dropFirst {
		first = 1
		inSchema = arrow.NewSchema(inSchema.Fields()[1:], nil)
	}
	want := delta.ToArrowSchema(schema)
	wopts := parquetio.WriteOptions{Schema: schema, PartitionColumns: partCols}
	if err := wopts.ApplyTableProperties(conf); err != nil {
		return nil, err
	}

	g, gctx := errgroup.WithContext(ctx)
	sem := make(chan struct{}, writeWorkers())
	var results []*[]parquetio.DataFile // per chunk, filled by its writer
	var cur chan arrow.RecordBatch      // the current chunk's writer input
	curChunk := -1
	closeCur := func() {
		if cur != nil {
			close(cur)
			cur = nil
		}
	}
	start := func(k int) error {
		select {
		case sem <- struct{}{}:
		case <-gctx.Done():
			return gctx.Err()
		}
		ch := make(chan arrow.RecordBatch, 4)
		reader := parquetio.NewChanReader(inSchema, ch)
		cur, curChunk = ch, k
		out := new([]parquetio.DataFile)
		results = append(results, out)
		g.Go(func() error {
			defer func() { <-sem }()
			defer reader.Drain()
			in, err := newConformReader(gctx, reader, want)
			if err != nil {
				return err
			}
			files, err := parquetio.WriteDataFiles(gctx, t.Store(), in, wopts)
			*out = files
			in.Release()
			return err
		})
		return nil
	}
	dispatch := func() error {
		defer closeCur()
		for rr.Next() {
			rec := rr.RecordBatch()
			n := int(rec.NumRows())
			for pos := 0; pos < n; {
				k, end, err := chunks(rec, pos)
				if err != nil {
					return err
				}
				if end <= pos {
					return fmt.Errorf("engine: chunked write: empty chunk at row %d", pos)
				}
				if k != curChunk {
					if k < curChunk {
						return fmt.Errorf("engine: chunked write: rows out of order (chunk %d after %d)", k, curChunk)
					}
					closeCur()
					if err := start(k); err != nil {
						return err
					}
				}
				cols := make([]arrow.Array, int(rec.NumCols())-first)
				for j := range cols {
					cols[j] = array.NewSlice(rec.Column(j+first), int64(pos), int64(end))
				}
				piece := array.NewRecordBatch(inSchema, cols, int64(end-pos))
				for _, col := range cols {
					col.Release()
				}
				select {
				case cur <- piece:
				case <-gctx.Done():
					piece.Release()
					return gctx.Err()
				}
				pos = end
			}
		}
		return duckError(rr.Err())
	}
	derr := dispatch()
	werr := g.Wait()
	var files []parquetio.DataFile
	for _, r := range results {
		files = append(files, *r...)
	}
	if derr == nil {
		derr = werr
	}
	if derr != nil {
		return files, fmt.Errorf("engine: write %s: %w; nothing was committed", t.Location(), duckError(derr))
	}
	return files, nil
}
