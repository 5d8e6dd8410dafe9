// Package ingest reads user input files (CSV, TSV, NDJSON and Parquet, each optionally gzip- or
// zstd-compressed) into Arrow record batches shaped exactly like a table schema.
//
// It has three entry points. DetectFormat names a file's format from its extension. InferSchema
// reads a sample of one or more files and proposes an Arrow schema for them; the table layer
// compares it with the table's schema to decide about schema evolution. Open streams one file as
// record batches in a target schema, converting every value and diverting every record it cannot
// convert (a malformed record) either to an error or, with a Quarantine, to a reject sink.
//
// # Malformed records
//
// A malformed record is one input record (a CSV record, an NDJSON line, a Parquet row) that cannot
// become a row of the target schema: a value that does not parse as the target type or overflows
// it, a null in a non-nullable column, malformed JSON, a CSV record with the wrong number of
// fields, invalid UTF-8 in text, or a JSON key that the target has no column for. Each one is
// described by a *RecordError that names the file, the line (1-based physical line; for Parquet
// the 0-based row index), the column, the offending value and the expected type. Without a
// quarantine (the default, like Spark's FAILFAST and DuckDB's default) the first one ends the
// read with that error. With a quarantine the record goes to the sink with its reason and the
// read goes on (like DuckDB's store_rejects); nothing is dropped silently: when Next has
// returned io.EOF, Stats().RowsRead == RowsEmitted + RowsQuarantined.
//
// Structural problems of a whole file (an unknown format, a header naming a column the target
// lacks, a missing non-nullable column, an unreadable Parquet footer) are not malformed records:
// Open returns them as errors wrapping ErrSchemaMismatch or the underlying I/O error.
//
// # Memory
//
// Readers stream: CSV and NDJSON are read through a buffered reader and a batch holds at most
// Options.BatchRows rows (and is cut early after about Options.BatchBytes of input); Parquet is
// read one record batch at a time through pqarrow. A compressed Parquet file is first
// decompressed to a temporary file, because Parquet needs random access.
package ingest
