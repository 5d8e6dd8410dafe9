package ingest

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
)

// timestampUTC is the type InferSchema gives CSV timestamps (Delta's timestamp).
var timestampUTC = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}

// InferSchema reads a sample of each file and proposes one Arrow schema for all of them.
//
// Per format:
//
//   - CSV/TSV: the header names the columns (without one, column0, column1, ...). Each column's
//     type is the first rung of the ladder boolean < long < decimal(38,0) < double < date <
//     timestamp < string that every non-null value of the sample fits, DuckDB's sniffer rule:
//     boolean is only true/false (any case), long a base-10 integer, decimal(38,0) an integer
//     too big for long (exact, where a double would round), double any other number (also inf,
//     nan), date YYYY-MM-DD, timestamp YYYY-MM-DD hh:mm:ss[.ffffff] with a space or a T and an
//     optional zone (Z, ±hh:mm, ±hhmm, ±hh). A timestamp is Arrow Timestamp(us, "UTC") whether
//     or not the text had a zone: zone-less text is read as UTC, not as local time, so that the
//     same file loads the same anywhere. Integers with a leading zero ("007", zip codes, ids)
//     stay strings, as in DuckDB. A column with no non-null value in the sample is string.
//     Records with the wrong number of fields or bad quoting are skipped here (Open reports them).
//   - NDJSON: keys become columns in order of first appearance; objects are structs, arrays
//     lists, true/false boolean, integers long (decimal(38,0) beyond long, double beyond 38
//     digits), numbers with a fraction or exponent double, strings string. Strings are never
//     given a temporal type, even when every one looks like a date: JSON has no date type, so
//     such a column is a guess from text (ids, versions, free text that happens to parse),
//     and a wrong temporal guess fails later files; the table can declare the column a date or
//     timestamp, and Open converts the strings then. Spark made the same call (inferTimestamp
//     off by default). Keys seen only with null, arrays only ever empty and objects only ever
//     {} become string. Lines that are not JSON objects are skipped here (Open reports them);
//     a file that is one JSON array document is an error, as only newline-delimited JSON is read.
//   - Parquet: the file's own schema, through pqarrow (field metadata dropped).
//
// Several files (of any formats) give the union of their columns, matched by name
// case-insensitively (first spelling and position kept, new columns appended), with types
// widened as widen describes; a column missing from some file is nullable. Types that cannot
// widen (a struct in one file, a number in another) give an error wrapping ErrSchemaConflict
// that names the column and both files (or both lines of one NDJSON file). Inferred fields are
// nullable, except Parquet's required fields present in every file.
//
// InferSchema reads at most opts.SampleRows records per file; ctx cancels it between records.
func InferSchema(ctx context.Context, files []string, opts Options) (*arrow.Schema, error) {
	var acc schemaAcc
	for i, path := range files {
		format, err := DetectFormat(path, string(opts.Format))
		if err != nil {
			return nil, err
		}
		o, err := opts.resolved(format)
		if err != nil {
			return nil, err
		}
		var fields []originField
		switch format {
		case FormatCSV, FormatTSV:
			fields, err = inferCSV(ctx, path, o)
		case FormatNDJSON:
			fields, err = inferNDJSON(ctx, path, o)
		case FormatParquet:
			fields, err = inferParquet(ctx, path, o)
		}
		if err != nil {
			return nil, err
		}
		if err := acc.addFile(fields, i == 0); err != nil {
			return nil, err
		}
	}
	if len(acc.cols) == 0 {
		// Found by FuzzCSV: an empty file gave a schema of no columns, which Open then refused.
		return nil, fmt.Errorf("ingest: %s: no columns to infer a schema from (no header, no records)",
			strings.Join(files, ", "))
	}
	out := make([]arrow.Field, len(acc.cols))
	for i, c := range acc.cols {
		out[i] = arrow.Field{Name: c.field.Name, Type: finalize(c.field.Type), Nullable: c.field.Nullable}
	}
	return arrow.NewSchema(out, nil), nil
}

// originField is a column with the place its type came from ("a.csv", "b.json:17").
type originField struct {
	field  arrow.Field
	origin string
}

// schemaAcc accumulates the union of columns.
type schemaAcc struct {
	cols    []originField
	byLower map[string]int
}

// add merges one column into the accumulator.
func (s *schemaAcc) add(f arrow.Field, origin string) error {
	if s.byLower == nil {
		s.byLower = map[string]int{}
	}
	lower := strings.ToLower(f.Name)
	i, ok := s.byLower[lower]
	if !ok {
		s.byLower[lower] = len(s.cols)
		s.cols = append(s.cols, originField{field: f, origin: origin})
		return nil
	}
	old := &s.cols[i]
	t, err := widen(old.field.Type, f.Type)
	if err != nil {
		return fmt.Errorf("%w: column %q is %s in %s but %s in %s (%v)", ErrSchemaConflict,
			old.field.Name, typeName(old.field.Type), old.origin, typeName(f.Type), origin, err)
	}
	if !arrow.TypeEqual(t, old.field.Type) && old.field.Type.ID() == arrow.NULL {
		old.origin = origin
	}
	old.field.Type = t
	old.field.Nullable = old.field.Nullable || f.Nullable
	return nil
}

// addFile merges one file's columns; columns absent from it (or from all files before it)
// become nullable.
func (s *schemaAcc) addFile(fields []originField, first bool) error {
	present := make(map[string]bool, len(fields))
	for _, f := range fields {
		present[strings.ToLower(f.field.Name)] = true
	}
	if !first {
		for i := range s.cols {
			if !present[strings.ToLower(s.cols[i].field.Name)] {
				s.cols[i].field.Nullable = true
			}
		}
	}
	for _, f := range fields {
		if _, ok := s.byLower[strings.ToLower(f.field.Name)]; !ok && !first {
			f.field.Nullable = true
		}
		if err := s.add(f.field, f.origin); err != nil {
			return err
		}
	}
	return nil
}

// --- CSV -------------------------------------------------------------------------------------

// Candidate types of the CSV ladder, in ladder order.
const (
	candBool uint8 = 1 << iota
	candLong
	candDecimal
	candDouble
	candDate
	candTimestamp
	candAll = candBool | candLong | candDecimal | candDouble | candDate | candTimestamp
)

// classifyText returns the candidate types a non-null CSV value fits.
func classifyText(s string) uint8 {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0
	}
	var m uint8
	if lt := strings.ToLower(t); lt == "true" || lt == "false" {
		return candBool
	}
	if !isNumberStart(t[0]) {
		return 0
	}
	if !hasLeadingZero(t) {
		if _, err := strconv.ParseInt(t, 10, 64); err == nil {
			m |= candLong | candDecimal | candDouble
		} else if d := strings.TrimLeft(t, "+-"); isDigits(d) && len(d) <= 38 && len(t)-len(d) <= 1 {
			m |= candDecimal | candDouble
		} else if !strings.ContainsAny(t, "xX_") {
			if _, err := strconv.ParseFloat(t, 64); err == nil {
				m |= candDouble
			}
		}
	}
	if m == 0 && isDigit(t[0]) {
		// A timestamp finer than microseconds is a string here: Open would refuse to truncate it.
		if in, ok := parseInstant(t); ok && in.nsec%1000 == 0 {
			if in.dateOnly {
				m |= candDate | candTimestamp
			} else {
				m |= candTimestamp
			}
		}
	}
	return m
}

func isNumberStart(c byte) bool {
	switch {
	case isDigit(c), c == '-', c == '+', c == '.':
		return true
	case c == 'i', c == 'I', c == 'n', c == 'N': // inf, nan
		return true
	}
	return false
}

// hasLeadingZero reports a number written with a redundant leading zero ("007", "-01.5").
func hasLeadingZero(t string) bool {
	t = strings.TrimLeft(t, "+-")
	return len(t) >= 2 && t[0] == '0' && isDigit(t[1])
}

// ladderType is the type of a CSV column given the candidates left.
func ladderType(mask uint8) arrow.DataType {
	switch {
	case mask&candBool != 0:
		return arrow.FixedWidthTypes.Boolean
	case mask&candLong != 0:
		return arrow.PrimitiveTypes.Int64
	case mask&candDecimal != 0:
		return &arrow.Decimal128Type{Precision: 38, Scale: 0}
	case mask&candDouble != 0:
		return arrow.PrimitiveTypes.Float64
	case mask&candDate != 0:
		return arrow.FixedWidthTypes.Date32
	case mask&candTimestamp != 0:
		return timestampUTC
	}
	return arrow.BinaryTypes.String
}

// newCSVReader configures encoding/csv the one way both inference and reading use it:
// RFC 4180 quoting (no lazy quotes: a stray quote is a malformed record), any number of fields
// per record (the count is checked by the caller, so a bad record does not stop the file).
func newCSVReader(r io.Reader, o Options) *csv.Reader {
	cr := csv.NewReader(r)
	cr.Comma = o.Delimiter
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	return cr
}

// csvHeader turns a header record into column names: empty names become column<i>, and names
// equal but for case are an error.
func csvHeader(path string, rec []string) ([]string, error) {
	names := make([]string, len(rec))
	seen := make(map[string]int, len(rec))
	for i, n := range rec {
		if !utf8.ValidString(n) {
			return nil, fmt.Errorf("%w: %s: header column %d is not valid UTF-8", ErrSchemaMismatch, path, i+1)
		}
		if strings.TrimSpace(n) == "" {
			n = "column" + strconv.Itoa(i)
		}
		if j, dup := seen[strings.ToLower(n)]; dup {
			return nil, fmt.Errorf("%w: %s: header columns %d and %d are both named %q", ErrSchemaConflict, path, j+1, i+1, n)
		}
		seen[strings.ToLower(n)] = i
		names[i] = n
	}
	return names, nil
}

func inferCSV(ctx context.Context, path string, o Options) ([]originField, error) {
	in, err := openText(path)
	if err != nil {
		return nil, err
	}
	defer in.Close()
	cr := newCSVReader(in, o)
	var (
		names []string
		masks []uint8
		seen  []bool
	)
	first := true
	for rows := 0; o.SampleRows < 0 || rows < o.SampleRows; {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			if first && !o.NoHeader {
				return nil, fmt.Errorf("ingest: %s: first record: %w", path, err)
			}
			rows++
			continue // a malformed record: Open reports it
		}
		if err != nil {
			return nil, fmt.Errorf("ingest: %s: %w", path, err)
		}
		if first {
			first = false
			if o.NoHeader {
				names = make([]string, len(rec))
				for i := range rec {
					names[i] = "column" + strconv.Itoa(i)
				}
			} else {
				if names, err = csvHeader(path, rec); err != nil {
					return nil, err
				}
			}
			masks = make([]uint8, len(names))
			seen = make([]bool, len(names))
			for i := range masks {
				masks[i] = candAll
			}
			if !o.NoHeader {
				continue
			}
		}
		rows++
		if rows%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		if len(rec) != len(names) {
			continue
		}
		for i, v := range rec {
			if o.isNull(v) {
				continue
			}
			seen[i] = true
			masks[i] &= classifyText(v)
		}
	}
	out := make([]originField, len(names))
	for i, n := range names {
		t := arrow.DataType(arrow.Null)
		if seen[i] {
			t = ladderType(masks[i])
		}
		out[i] = originField{field: arrow.Field{Name: n, Type: t, Nullable: true}, origin: path}
	}
	return out, nil
}

// --- NDJSON ----------------------------------------------------------------------------------

// errJSONArrayDocument reports a .json file holding one JSON array instead of one object per line.
func errJSONArrayDocument(path string) error {
	return fmt.Errorf("%w: %s is a JSON array document; ingest reads newline-delimited JSON (one object per line)",
		ErrSchemaMismatch, path)
}

func inferNDJSON(ctx context.Context, path string, o Options) ([]originField, error) {
	in, err := openText(path)
	if err != nil {
		return nil, err
	}
	defer in.Close()
	lr := newLineReader(in.Reader, o.MaxLineBytes)
	var acc schemaAcc
	first := true
	for rows := 0; o.SampleRows < 0 || rows < o.SampleRows; {
		line, lineNo, tooLong, err := lr.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("ingest: %s:%d: %w", path, lineNo, err)
		}
		raw := trimJSONSpace(line)
		if len(raw) == 0 && !tooLong {
			continue
		}
		if first && len(raw) > 0 && raw[0] == '[' {
			return nil, errJSONArrayDocument(path)
		}
		first = false
		rows++
		if rows%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		if tooLong || raw[0] != '{' || !utf8.Valid(raw) || !json.Valid(raw) {
			continue // a malformed record: Open reports it
		}
		origin := path + ":" + strconv.FormatInt(lineNo, 10)
		var lineCols []arrow.Field
		seenKey := map[string]int{}
		var cerr error
		eachMember(raw, func(rawKey, val []byte) *convError {
			key := decodeJSONString(rawKey)
			t, err := jsonType(val)
			if err != nil {
				cerr = fmt.Errorf("%w: %s: column %q: %v", ErrSchemaConflict, origin, key, err)
				return &convError{}
			}
			if j, dup := seenKey[strings.ToLower(key)]; dup {
				w, err := widen(lineCols[j].Type, t)
				if err != nil {
					cerr = fmt.Errorf("%w: %s: keys %q and %q: %v", ErrSchemaConflict, origin, lineCols[j].Name, key, err)
					return &convError{}
				}
				lineCols[j].Type = w
				return nil
			}
			seenKey[strings.ToLower(key)] = len(lineCols)
			lineCols = append(lineCols, arrow.Field{Name: key, Type: t, Nullable: true})
			return nil
		})
		if cerr != nil {
			return nil, cerr
		}
		for _, f := range lineCols {
			if err := acc.add(f, origin); err != nil {
				return nil, err
			}
		}
	}
	for i := range acc.cols {
		acc.cols[i].field.Nullable = true
	}
	return acc.cols, nil
}

// jsonType infers the type of one valid JSON value.
func jsonType(raw []byte) (arrow.DataType, error) {
	switch raw[0] {
	case 'n':
		return arrow.Null, nil
	case 't', 'f':
		return arrow.FixedWidthTypes.Boolean, nil
	case '"':
		return arrow.BinaryTypes.String, nil
	case '[':
		var elem arrow.DataType = arrow.Null
		var err error
		eachElement(raw, func(i int, val []byte) *convError {
			var t arrow.DataType
			if t, err = jsonType(val); err != nil {
				return &convError{}
			}
			if elem, err = widen(elem, t); err != nil {
				err = fmt.Errorf("array element %d: %w", i, err)
				return &convError{}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		return arrow.ListOfField(arrow.Field{Name: "element", Type: elem, Nullable: true}), nil
	case '{':
		var fields []arrow.Field
		idx := map[string]int{}
		var err error
		eachMember(raw, func(rawKey, val []byte) *convError {
			key := decodeJSONString(rawKey)
			var t arrow.DataType
			if t, err = jsonType(val); err != nil {
				err = fmt.Errorf("field %q: %w", key, err)
				return &convError{}
			}
			if j, dup := idx[strings.ToLower(key)]; dup {
				if fields[j].Type, err = widen(fields[j].Type, t); err != nil {
					err = fmt.Errorf("field %q: %w", key, err)
					return &convError{}
				}
				return nil
			}
			idx[strings.ToLower(key)] = len(fields)
			fields = append(fields, arrow.Field{Name: key, Type: t, Nullable: true})
			return nil
		})
		if err != nil {
			return nil, err
		}
		return arrow.StructOf(fields...), nil
	}
	return jsonNumberType(string(raw)), nil
}

// jsonNumberType: integers are long, or decimal(38,0) beyond long, or double beyond 38 digits;
// anything with a fraction or exponent is double.
func jsonNumberType(s string) arrow.DataType {
	if strings.ContainsAny(s, ".eE") {
		return arrow.PrimitiveTypes.Float64
	}
	if _, err := strconv.ParseInt(s, 10, 64); err == nil {
		return arrow.PrimitiveTypes.Int64
	}
	if len(strings.TrimLeft(s, "-")) <= 38 {
		return &arrow.Decimal128Type{Precision: 38, Scale: 0}
	}
	return arrow.PrimitiveTypes.Float64
}

// --- Parquet ---------------------------------------------------------------------------------

func inferParquet(ctx context.Context, path string, o Options) ([]originField, error) {
	pf, err := openParquet(path)
	if err != nil {
		return nil, err
	}
	defer pf.Close()
	sc, err := pf.arrowSchema(o)
	if err != nil {
		return nil, err
	}
	out := make([]originField, sc.NumFields())
	for i, f := range sc.Fields() {
		out[i] = originField{field: arrow.Field{Name: f.Name, Type: stripMetadata(f.Type), Nullable: f.Nullable}, origin: path}
	}
	return out, nil
}

// stripMetadata drops field metadata (Parquet field ids) from nested fields.
func stripMetadata(t arrow.DataType) arrow.DataType {
	switch t := t.(type) {
	case *arrow.StructType:
		fs := make([]arrow.Field, t.NumFields())
		for i, f := range t.Fields() {
			fs[i] = arrow.Field{Name: f.Name, Type: stripMetadata(f.Type), Nullable: f.Nullable}
		}
		return arrow.StructOf(fs...)
	case *arrow.ListType:
		e := t.ElemField()
		return arrow.ListOfField(arrow.Field{Name: e.Name, Type: stripMetadata(e.Type), Nullable: e.Nullable})
	case *arrow.LargeListType:
		e := t.ElemField()
		return arrow.LargeListOfField(arrow.Field{Name: e.Name, Type: stripMetadata(e.Type), Nullable: e.Nullable})
	case *arrow.MapType:
		k, v := t.KeyField(), t.ItemField()
		return arrow.MapOfFields(arrow.Field{Name: k.Name, Type: stripMetadata(k.Type)},
			arrow.Field{Name: v.Name, Type: stripMetadata(v.Type), Nullable: v.Nullable})
	}
	return t
}
