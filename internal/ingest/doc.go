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
// # Conversions
//
// CSV fields, NDJSON values and Parquet string columns are converted by one set of rules, so a
// value means the same in every format (text = a CSV field or a JSON string; spaces around
// non-string text are trimmed):
//
//	boolean            text true/false/t/f/1/0 (any case); JSON true/false
//	byte..long, uint*  text or JSON number: a base-10 integer in range; no fraction or exponent
//	float, double      text or JSON number; also inf, infinity, nan; beyond the range is an error
//	decimal(p,s)       text or JSON number, exactly from its digits (never through a float);
//	                   more significant fractional digits than s, or more than p digits, is an
//	                   error (DuckDB and Spark round; ingest does not change numbers silently)
//	string             text as is (must be UTF-8); a JSON number, true/false or a nested
//	                   object/array becomes its (compacted) JSON text
//	binary             text in standard base64, padded or not
//	date               text YYYY-MM-DD
//	timestamp(_ntz)    text YYYY-MM-DD, or YYYY-MM-DD hh:mm:ss[.f] with a space or a T, up to 9
//	                   fractional digits, optional zone Z, ±hh, ±hhmm, ±hh:mm; a zone-less time
//	                   is UTC; digits finer than the column's unit must be zero
//	array, struct, map in CSV, the field holds JSON text; in JSON, an array / an object
//	void               only null
//
// Numbers in JSON strings are accepted where a number is wanted, because JSON producers quote
// 64-bit integers and decimals (protobuf's JSON mapping does). Struct fields are matched to
// JSON keys case-insensitively; a key the struct lacks makes the record malformed
// (KindUnknownField), a missing key is null, a key given twice (in any case) is malformed.
// Other Parquet columns are converted with arrow-go's compute cast with safe options.
//
// # Memory
//
// Readers stream: CSV and NDJSON are read through a buffered reader and a batch holds at most
// Options.BatchRows rows (and is cut early after about Options.BatchBytes of input); Parquet is
// read one record batch at a time through pqarrow. A compressed Parquet file is first
// decompressed to a temporary file, because Parquet needs random access.
package ingest
