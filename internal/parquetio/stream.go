package parquetio

import (
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// WriteStream writes every batch of r to w as one Parquet file (used to export scans), compressed
// with zstd, without float statistics (see noFloatStats). It returns the number of rows written.
// It does not release r.
func WriteStream(w io.Writer, r array.RecordReader) (int64, error) {
	props := parquet.NewWriterProperties(append(noFloatStats(r.Schema()), parquet.WithCompression(compress.Codecs.Zstd))...)
	fw, err := pqarrow.NewFileWriter(r.Schema(), w, props, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		return 0, fmt.Errorf("parquetio: %w", err)
	}
	var rows int64
	for r.Next() {
		rec := r.RecordBatch()
		if err := fw.WriteBuffered(rec); err != nil {
			fw.Close()
			return rows, fmt.Errorf("parquetio: %w", err)
		}
		rows += rec.NumRows()
	}
	if err := r.Err(); err != nil {
		fw.Close()
		return rows, err
	}
	if err := fw.Close(); err != nil {
		return rows, fmt.Errorf("parquetio: %w", err)
	}
	return rows, nil
}
