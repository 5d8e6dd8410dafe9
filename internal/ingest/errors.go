package ingest

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Sentinel errors of the package. Every error returned by it wraps one of these or an I/O error,
// together with the file (and, for records, the line and column) it concerns; test them with
// errors.Is.
var (
	// ErrUnknownFormat: DetectFormat could not tell the format from the extension, or the
	// override names no format. The message names the file.
	ErrUnknownFormat = errors.New("unknown input format")
	// ErrSchemaConflict: InferSchema found a column whose types in two files (or two records of
	// one file) cannot be widened to one type. The message names the column and both places.
	ErrSchemaConflict = errors.New("conflicting column types")
	// ErrSchemaMismatch: a file as a whole does not fit the target schema: it has a column the
	// target lacks, lacks a non-nullable target column, or the target has a type this package
	// cannot produce. The message names the file and the column.
	ErrSchemaMismatch = errors.New("input does not fit the target schema")
	// ErrMalformedRecord is wrapped by every *RecordError.
	ErrMalformedRecord = errors.New("malformed record")
)

// ErrorKind classifies a malformed record, in the spirit of DuckDB's reject_errors.error_type.
type ErrorKind string

// The kinds of malformed record.
const (
	// KindCast: a value does not parse as the target type, or is out of its range, or would
	// lose digits (a decimal with too many fractional digits, a timestamp finer than the unit).
	KindCast ErrorKind = "cast"
	// KindNull: a null (or a missing value) in a non-nullable column or nested field.
	KindNull ErrorKind = "null"
	// KindFieldCount: a CSV record with more or fewer fields than the header.
	KindFieldCount ErrorKind = "field count"
	// KindSyntax: the record is not well-formed: malformed JSON, a line that is not a JSON
	// object, a bad quote in CSV, a key given twice, a line over the size limit.
	KindSyntax ErrorKind = "syntax"
	// KindUnknownField: an NDJSON object (or nested object) has a key the target has no field
	// for. (A CSV header column the target lacks is a whole-file ErrSchemaMismatch instead.)
	KindUnknownField ErrorKind = "unknown field"
	// KindEncoding: text that is not valid UTF-8.
	KindEncoding ErrorKind = "encoding"
)

// maxValueLen bounds the offending value kept in a RecordError.
const maxValueLen = 64

// RecordError describes one malformed record. It wraps ErrMalformedRecord; callers get at the
// fields with errors.As. Its message has the form
//
//	orders.csv:17:3 (column "amount"): cannot parse "12,5x" as double
//
// and for Parquet, whose rows have no lines, "data.parquet:row 16:3 (column ...): ...".
type RecordError struct {
	// File is the input path as given to Open.
	File string
	// Line is the 1-based physical line where the record starts (CSV, NDJSON); 0 for Parquet.
	Line int64
	// Row is the 0-based index of the record among the file's records (data rows, not counting a
	// CSV header or blank lines), for every format.
	Row int64
	// Column is the 1-based column number: the field's position in the CSV record, the target
	// column's position for NDJSON and Parquet values, the 1-based byte offset within the line
	// for a JSON syntax error. 0 when the record as a whole is at fault.
	Column int
	// ColumnName is the column's name in the target schema, with a path into nested values
	// ("address.zip", "tags[2]"); empty when the record as a whole is at fault.
	ColumnName string
	// Value is the offending value's text, truncated to 64 bytes ("..." marks a cut).
	Value string
	// Expected is the type the value should have had, in Delta's type names ("double",
	// "decimal(10,2)", "timestamp"); empty when no single type applies.
	Expected string
	// Kind classifies the problem.
	Kind ErrorKind
	// Reason is the problem in words, without the location, e.g. `cannot parse "x" as double`.
	Reason string
}

func (e *RecordError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	b.WriteByte(':')
	if e.Line > 0 {
		b.WriteString(strconv.FormatInt(e.Line, 10))
	} else {
		b.WriteString("row ")
		b.WriteString(strconv.FormatInt(e.Row, 10))
	}
	if e.Column > 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(e.Column))
	}
	if e.ColumnName != "" {
		fmt.Fprintf(&b, " (column %q)", e.ColumnName)
	}
	b.WriteString(": ")
	b.WriteString(e.Reason)
	return b.String()
}

// Unwrap lets errors.Is(err, ErrMalformedRecord) hold.
func (e *RecordError) Unwrap() error { return ErrMalformedRecord }

// convError is a conversion failure before its location in the file is known. Path holds the
// names from the top-level column down to the failing nested value.
type convError struct {
	kind     ErrorKind
	value    string
	expected string
	reason   string
	path     []string // innermost last; element names or "[i]"
}

func (e *convError) Error() string { return e.reason }

// within prefixes the path with a parent name (a struct field or list index).
func (e *convError) within(name string) *convError {
	e.path = append([]string{name}, e.path...)
	return e
}

// pathString renders the path: fields joined by dots, list indexes as [i].
func (e *convError) pathString() string {
	var b strings.Builder
	for i, p := range e.path {
		if i > 0 && !strings.HasPrefix(p, "[") {
			b.WriteByte('.')
		}
		b.WriteString(p)
	}
	return b.String()
}

func errCast(value, expected string) *convError {
	return &convError{kind: KindCast, value: value, expected: expected,
		reason: fmt.Sprintf("cannot parse %q as %s", truncate(value), expected)}
}

func errRange(value, expected string) *convError {
	return &convError{kind: KindCast, value: value, expected: expected,
		reason: fmt.Sprintf("value %s is out of range for %s", quoteIfNeeded(truncate(value)), expected)}
}

func errLoss(value, expected, what string) *convError {
	return &convError{kind: KindCast, value: value, expected: expected,
		reason: fmt.Sprintf("value %s would lose %s as %s", quoteIfNeeded(truncate(value)), what, expected)}
}

func errNull(expected string) *convError {
	return &convError{kind: KindNull, expected: expected, reason: "null in non-nullable column of type " + expected}
}

func errEncoding(value, expected string) *convError {
	return &convError{kind: KindEncoding, value: value, expected: expected,
		reason: fmt.Sprintf("invalid UTF-8 in %q", truncate(value))}
}

// quoteIfNeeded quotes a value unless it is a plain number.
func quoteIfNeeded(s string) string {
	if _, ok := parseDecimalLiteral(s); ok {
		return s
	}
	return strconv.Quote(s)
}

// truncate cuts s to maxValueLen bytes on a rune boundary, marking the cut with "...".
func truncate(s string) string {
	if len(s) <= maxValueLen {
		return s
	}
	cut := maxValueLen
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
