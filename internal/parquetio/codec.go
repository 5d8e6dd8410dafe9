package parquetio

import "github.com/apache/arrow-go/v18/arrow"

// Codec implements delta.ParquetCodec with Decode and Encode; the kernel uses it for checkpoints.
type Codec struct{}

// Decode reads the named top-level columns of a Parquet file (all when columns is nil).
func (Codec) Decode(data []byte, columns []string) (*arrow.Schema, []arrow.RecordBatch, error) {
	return Decode(data, columns)
}

// Encode writes record batches as one Parquet file.
func (Codec) Encode(schema *arrow.Schema, recs []arrow.RecordBatch, codec string) ([]byte, error) {
	return Encode(schema, recs, codec)
}
