// Package interop proves that Strata's tables are real Delta Lake tables, both ways, against two
// independent readers, Python's `deltalake` (delta-rs) and DuckDB:
//
//   - Strata writes, others read (strata_writes_test.go): tables built with the `strata table` CLI
//     (run in process) through create (explicit, and implicit by a first append), appends from
//     CSV, NDJSON and Parquet, overwrite, overwrite --replace-where, append --merge-schema,
//     restore, checkpoint (explicit and by delta.checkpointInterval) and vacuum; partitioned
//     (values with spaces, '/', '=', '%', ':', glob characters, unicode, nulls; string, date, long
//     and timestamp partition columns) and not; with column mapping and timestamp_ntz. Every
//     version reads back identically with delta-rs and with DuckDB reading exactly the Parquet
//     files delta-rs reports (with the partition values delta-rs parsed): same columns, same
//     types up to Arrow encoding, same rows as multisets compared value by value; and
//     `describe --json` states delta-rs's facts (version, schema, partitioning, protocol and
//     features, properties, file count, size, record count). After VACUUM, the versions that
//     need a deleted file fail in all three and the others still read the same.
//   - delta-rs writes, Strata reads (deltars_writes_test.go): tables written by
//     deltalake.write_deltalake (append, overwrite, predicate overwrite, partition_by,
//     schema_mode="merge") and DeltaTable's delete, update, merge, restore, optimize.compact,
//     create_checkpoint, automatic checkpoints, alter and vacuum, with nested, temporal, decimal
//     and binary types and change data feed, read back by `strata table scan --version N` exactly
//     as delta-rs reads every version itself, with the same facts. Versions whose protocol needs
//     a reader feature Strata does not implement must be refused with an error naming it.
//
// The comparison itself is tested in compare_test.go. The Python side runs python3 from PATH with
// the packages pinned in test/requirements.txt; their absence fails the tests (never skips
// them). Set INTEROP_KEEP_DIR to keep every table and file the tests make.
package interop

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stratalake/strata/internal/testutil"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/stratalake/strata/internal/cli"
)

// missingPackages is the exit status of the Python scripts when an import fails
// (interop_common.MISSING_PACKAGES).
const missingPackages = 3

const installHint = "run `pip install -r test/requirements.txt` (from the repository root)"

// runPython runs one of this package's scripts with python3 from PATH and returns its stdout.
// A missing python3 or package fails the test with the install hint.
func runPython(ctx context.Context, script string, args ...string) ([]byte, error) {
	py, err := exec.LookPath("python3")
	if err != nil {
		return nil, fmt.Errorf("python3 is not on PATH (%v); install Python 3, then %s", err, installHint)
	}
	abs, err := filepath.Abs(script)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, py, append([]string{abs}, args...)...)
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1", "PYTHONUTF8=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == missingPackages {
		return nil, fmt.Errorf("%s: %s; %s", script, strings.TrimSpace(stderr.String()), installHint)
	}
	if err != nil {
		return nil, fmt.Errorf("python3 %s %s: %w\nstderr:\n%s", script, strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes(), nil
}

// pythonJob runs a script in the background; wait returns its result.
type pythonJob struct {
	done chan struct{}
	out  []byte
	err  error
}

func startPython(ctx context.Context, script string, args ...string) *pythonJob {
	j := &pythonJob{done: make(chan struct{})}
	go func() {
		defer close(j.done)
		j.out, j.err = runPython(ctx, script, args...)
	}()
	return j
}

func (j *pythonJob) wait() ([]byte, error) {
	<-j.done
	return j.out, j.err
}

// cliMu serializes in-process runs of the CLI: cli.Main writes to os.Stdout and os.Stderr,
// which runStrata points at temporary files for the duration of one run.
var cliMu sync.Mutex

// strataResult is what one in-process `strata` run printed and returned.
type strataResult struct {
	args           []string
	code           int
	stdout, stderr string
}

func (r strataResult) err() error {
	if r.code == 0 {
		return nil
	}
	return fmt.Errorf("strata %s: exit %d: %s", shellJoin(r.args), r.code, strings.TrimSpace(r.stderr))
}

// runStrata runs `strata args...` in process (cli.Main) and captures its output.
func runStrata(t *testing.T, args ...string) strataResult {
	t.Helper()
	cliMu.Lock()
	defer cliMu.Unlock()
	dir := t.TempDir()
	outF, err := os.Create(filepath.Join(dir, "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	errF, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	code := func() int {
		oldOut, oldErr := os.Stdout, os.Stderr
		os.Stdout, os.Stderr = outF, errF
		defer func() { os.Stdout, os.Stderr = oldOut, oldErr }()
		return cli.Main(args)
	}()
	outF.Close()
	errF.Close()
	stdout, _ := os.ReadFile(outF.Name())
	stderr, _ := os.ReadFile(errF.Name())
	return strataResult{args: args, code: code, stdout: string(stdout), stderr: string(stderr)}
}

func shellJoin(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " '\"%=/$*?") {
			out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		} else {
			out[i] = a
		}
	}
	return strings.Join(out, " ")
}

// workDir returns a fresh directory for one test's tables and files: under $INTEROP_KEEP_DIR
// (kept after the test, to look at) when that is set, else a temporary one.
func workDir(t *testing.T) string {
	t.Helper()
	keep := os.Getenv("INTEROP_KEEP_DIR")
	if keep == "" {
		return t.TempDir()
	}
	dir := filepath.Join(keep, strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()))
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("files kept in %s", dir)
	return dir
}

// pinnedPackages returns the package versions test/requirements.txt pins.
func pinnedPackages(t *testing.T) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "requirements.txt"))
	if err != nil {
		t.Fatal(err)
	}
	pins := map[string]string{}
	for _, line := range strings.Split(string(raw), "\n") {
		if name, version, ok := strings.Cut(strings.TrimSpace(line), "=="); ok && !strings.HasPrefix(line, "#") {
			pins[name] = version
		}
	}
	return pins
}

// --- reading rows ---

// rowSet is a table's content in a form to compare: column names and type families in order,
// and every row rendered as one canonical string.
type rowSet struct {
	source string // who produced it, for messages
	names  []string
	types  []string // typeFamily of each column
	rows   []string // sorted
}

// readParquetRows reads a whole Parquet file with arrow-go's pqarrow (independent of Strata's
// own Parquet code) into a rowSet.
func readParquetRows(ctx context.Context, path, source string) (*rowSet, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	pr, err := file.NewParquetReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	defer pr.Close()
	fr, err := pqarrow.NewFileReader(pr, pqarrow.ArrowReadProperties{BatchSize: 4096}, memory.DefaultAllocator)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	tbl, err := fr.ReadTable(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	defer tbl.Release()
	rs := &rowSet{source: source}
	for _, fld := range tbl.Schema().Fields() {
		rs.names = append(rs.names, fld.Name)
		rs.types = append(rs.types, typeFamily(fld.Type))
	}
	tr := array.NewTableReader(tbl, 4096)
	defer tr.Release()
	for tr.Next() {
		rec := tr.RecordBatch()
		for i := 0; i < int(rec.NumRows()); i++ {
			vals := make([]string, rec.NumCols())
			for c := range vals {
				vals[c] = rs.names[c] + "=" + canonical(rec.Column(c), i)
			}
			rs.rows = append(rs.rows, strings.Join(vals, ", "))
		}
	}
	if err := tr.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	sort.Strings(rs.rows)
	return rs, nil
}

// typeFamily names an Arrow type up to encoding choices that carry the same values: string,
// large_string and string_view are all "string" (likewise binary and lists); a timestamp keeps
// its unit and whether it is an instant (has a zone), not the zone's spelling.
func typeFamily(dt arrow.DataType) string {
	switch t := dt.(type) {
	case *arrow.StringType, *arrow.LargeStringType, *arrow.StringViewType:
		return "string"
	case *arrow.BinaryType, *arrow.LargeBinaryType, *arrow.BinaryViewType:
		return "binary"
	case *arrow.TimestampType:
		if t.TimeZone != "" {
			return "timestamp[" + t.Unit.String() + ", instant]"
		}
		return "timestamp[" + t.Unit.String() + ", wall clock]"
	case *arrow.Decimal128Type:
		return fmt.Sprintf("decimal(%d,%d)", t.Precision, t.Scale)
	case *arrow.Decimal256Type:
		return fmt.Sprintf("decimal(%d,%d)", t.Precision, t.Scale)
	case *arrow.MapType:
		return "map<" + typeFamily(t.KeyType()) + "," + typeFamily(t.ItemType()) + ">"
	case *arrow.ListType:
		return "list<" + typeFamily(t.Elem()) + ">"
	case *arrow.LargeListType:
		return "list<" + typeFamily(t.Elem()) + ">"
	case *arrow.ListViewType:
		return "list<" + typeFamily(t.Elem()) + ">"
	case *arrow.StructType:
		parts := make([]string, t.NumFields())
		for i, f := range t.Fields() {
			parts[i] = f.Name + ":" + typeFamily(f.Type)
		}
		return "struct<" + strings.Join(parts, ",") + ">"
	case *arrow.DictionaryType:
		return typeFamily(t.ValueType)
	}
	return dt.String()
}

// canonical renders one value so that equal values from any reader render equally: numbers in
// their shortest exact form, decimals with their scale, strings quoted, binary as hex, dates as
// YYYY-MM-DD, timestamps as the UTC instant (or wall clock) with nanosecond precision, nested
// values recursively (struct fields by name in order, map entries in stored order).
func canonical(a arrow.Array, i int) string {
	if a.IsNull(i) {
		return "NULL"
	}
	switch a := a.(type) {
	case *array.Boolean:
		return strconv.FormatBool(a.Value(i))
	case *array.Int8:
		return strconv.FormatInt(int64(a.Value(i)), 10)
	case *array.Int16:
		return strconv.FormatInt(int64(a.Value(i)), 10)
	case *array.Int32:
		return strconv.FormatInt(int64(a.Value(i)), 10)
	case *array.Int64:
		return strconv.FormatInt(a.Value(i), 10)
	case *array.Uint8:
		return strconv.FormatUint(uint64(a.Value(i)), 10)
	case *array.Uint16:
		return strconv.FormatUint(uint64(a.Value(i)), 10)
	case *array.Uint32:
		return strconv.FormatUint(uint64(a.Value(i)), 10)
	case *array.Uint64:
		return strconv.FormatUint(a.Value(i), 10)
	case *array.Float32:
		return strconv.FormatFloat(float64(a.Value(i)), 'g', -1, 32)
	case *array.Float64:
		return strconv.FormatFloat(a.Value(i), 'g', -1, 64)
	case *array.Decimal128:
		return a.Value(i).ToString(a.DataType().(*arrow.Decimal128Type).Scale)
	case *array.Decimal256:
		return a.Value(i).ToString(a.DataType().(*arrow.Decimal256Type).Scale)
	case *array.String:
		return strconv.Quote(a.Value(i))
	case *array.LargeString:
		return strconv.Quote(a.Value(i))
	case *array.StringView:
		return strconv.Quote(a.Value(i))
	case *array.Binary:
		return "0x" + hex.EncodeToString(a.Value(i))
	case *array.LargeBinary:
		return "0x" + hex.EncodeToString(a.Value(i))
	case *array.BinaryView:
		return "0x" + hex.EncodeToString(a.Value(i))
	case *array.Date32:
		return a.Value(i).FormattedString()
	case *array.Date64:
		return a.Value(i).FormattedString()
	case *array.Timestamp:
		tt := a.DataType().(*arrow.TimestampType)
		return a.Value(i).ToTime(tt.Unit).UTC().Format("2006-01-02T15:04:05.999999999")
	case *array.Struct:
		st := a.DataType().(*arrow.StructType)
		parts := make([]string, a.NumField())
		for f := range parts {
			parts[f] = st.Field(f).Name + ": " + canonical(a.Field(f), i)
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case *array.Map:
		start, end := a.ValueOffsets(i)
		keys, items := a.Keys(), a.Items()
		parts := make([]string, 0, end-start)
		for j := int(start); j < int(end); j++ {
			parts = append(parts, canonical(keys, j)+" => "+canonical(items, j))
		}
		return "map{" + strings.Join(parts, ", ") + "}"
	case array.ListLike:
		start, end := a.ValueOffsets(i)
		vals := a.ListValues()
		parts := make([]string, 0, end-start)
		for j := int(start); j < int(end); j++ {
			parts = append(parts, canonical(vals, j))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case *array.Dictionary:
		return canonical(a.Dictionary(), a.GetValueIndex(i))
	}
	return a.ValueStr(i)
}

// diffRowSets describes how got differs from want (columns, types, rows as multisets), or
// returns "" when they are equal.
func diffRowSets(want, got *rowSet) string {
	var b strings.Builder
	if !slicesEqual(want.names, got.names) {
		fmt.Fprintf(&b, "columns differ:\n  %s: %v\n  %s: %v\n", want.source, want.names, got.source, got.names)
	} else if !slicesEqual(want.types, got.types) {
		for i := range want.types {
			if want.types[i] != got.types[i] {
				fmt.Fprintf(&b, "column %s: type %s in %s, %s in %s\n", want.names[i], want.types[i], want.source, got.types[i], got.source)
			}
		}
	}
	onlyWant, onlyGot := testutil.MultisetDiff(want.rows, got.rows)
	if len(onlyWant)+len(onlyGot) > 0 {
		fmt.Fprintf(&b, "rows differ (%d rows in %s, %d in %s):\n", len(want.rows), want.source, len(got.rows), got.source)
		show := func(label string, rows []string) {
			for i, r := range rows {
				if i == 15 {
					fmt.Fprintf(&b, "  ... and %d more\n", len(rows)-i)
					break
				}
				fmt.Fprintf(&b, "  only in %s: %s\n", label, r)
			}
		}
		show(want.source, onlyWant)
		show(got.source, onlyGot)
	}
	return b.String()
}

func slicesEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// --- Delta facts ---

// deltaFacts is what interop_common.table_facts reports about one version.
type deltaFacts struct {
	Version          int64             `json:"version"`
	Schema           deltaStruct       `json:"schema"`
	PartitionColumns []string          `json:"partitionColumns"`
	Configuration    map[string]string `json:"configuration"`
	MinReaderVersion int               `json:"minReaderVersion"`
	MinWriterVersion int               `json:"minWriterVersion"`
	ReaderFeatures   []string          `json:"readerFeatures"`
	WriterFeatures   []string          `json:"writerFeatures"`
	Files            []string          `json:"files"`
	NumFiles         int               `json:"numFiles"`
	MissingFiles     []string          `json:"missingFiles"`
	NumRecords       *int64            `json:"numRecords"`
	SizeInBytes      int64             `json:"sizeInBytes"`
}

// deltaStruct is a Delta schema as JSON (the protocol's schemaString form).
type deltaStruct struct {
	Fields []struct {
		Name     string          `json:"name"`
		Type     json.RawMessage `json:"type"`
		Nullable bool            `json:"nullable"`
	} `json:"fields"`
}

// deltaTypeString renders a Delta JSON type the way Strata's describe does (delta.DataType's
// String): primitive names, decimal(p,s), array<T>, map<K,V>, struct<name:T,...>.
func deltaTypeString(raw json.RawMessage) string {
	var prim string
	if json.Unmarshal(raw, &prim) == nil {
		return prim
	}
	var t struct {
		Type        string          `json:"type"`
		ElementType json.RawMessage `json:"elementType"`
		KeyType     json.RawMessage `json:"keyType"`
		ValueType   json.RawMessage `json:"valueType"`
		Fields      []struct {
			Name string          `json:"name"`
			Type json.RawMessage `json:"type"`
		} `json:"fields"`
	}
	if err := json.Unmarshal(raw, &t); err != nil {
		return "?" + string(raw)
	}
	switch t.Type {
	case "array":
		return "array<" + deltaTypeString(t.ElementType) + ">"
	case "map":
		return "map<" + deltaTypeString(t.KeyType) + "," + deltaTypeString(t.ValueType) + ">"
	case "struct":
		parts := make([]string, len(t.Fields))
		for i, f := range t.Fields {
			parts[i] = f.Name + ":" + deltaTypeString(f.Type)
		}
		return "struct<" + strings.Join(parts, ",") + ">"
	}
	return "?" + string(raw)
}

// strataDescription is the part of `strata table describe --json` compared with delta-rs.
type strataDescription struct {
	Version int64 `json:"version"`
	Schema  []struct {
		Name     string `json:"name"`
		Type     string `json:"type"`
		Nullable bool   `json:"nullable"`
	} `json:"schema"`
	PartitionColumns []string          `json:"partitionColumns"`
	MinReaderVersion int               `json:"minReaderVersion"`
	MinWriterVersion int               `json:"minWriterVersion"`
	ReaderFeatures   []string          `json:"readerFeatures"`
	WriterFeatures   []string          `json:"writerFeatures"`
	NumFiles         int               `json:"numFiles"`
	SizeInBytes      int64             `json:"sizeInBytes"`
	NumRecords       *int64            `json:"numRecords"`
	Properties       map[string]string `json:"properties"`
}

// describeVersion runs `strata table describe --json --version v` (the latest version if v < 0).
func describeVersion(t *testing.T, table string, v int64) (*strataDescription, error) {
	args := []string{"--json", "table", "describe", table}
	if v >= 0 {
		args = append(args, "--version", strconv.FormatInt(v, 10))
	}
	res := runStrata(t, args...)
	if err := res.err(); err != nil {
		return nil, err
	}
	var d strataDescription
	if err := json.Unmarshal([]byte(res.stdout), &d); err != nil {
		return nil, fmt.Errorf("describe --json: %w: %s", err, res.stdout)
	}
	return &d, nil
}

// diffFacts lists the differences between Strata's description of a version and delta-rs's.
func diffFacts(d *strataDescription, f *deltaFacts) []string {
	var diffs []string
	add := func(what string, strata, deltars any) {
		diffs = append(diffs, fmt.Sprintf("%s: strata %v, delta-rs %v", what, strata, deltars))
	}
	if d.Version != f.Version {
		add("version", d.Version, f.Version)
	}
	var sCols, dCols []string
	for _, c := range d.Schema {
		sCols = append(sCols, fmt.Sprintf("%s %s nullable=%v", c.Name, c.Type, c.Nullable))
	}
	for _, c := range f.Schema.Fields {
		dCols = append(dCols, fmt.Sprintf("%s %s nullable=%v", c.Name, deltaTypeString(c.Type), c.Nullable))
	}
	if !slicesEqual(sCols, dCols) {
		add("schema", sCols, dCols)
	}
	if !slicesEqual(nonNil(d.PartitionColumns), nonNil(f.PartitionColumns)) {
		add("partition columns", d.PartitionColumns, f.PartitionColumns)
	}
	if d.MinReaderVersion != f.MinReaderVersion || d.MinWriterVersion != f.MinWriterVersion {
		add("protocol", fmt.Sprintf("(%d,%d)", d.MinReaderVersion, d.MinWriterVersion), fmt.Sprintf("(%d,%d)", f.MinReaderVersion, f.MinWriterVersion))
	}
	if !slicesEqual(sortedCopy(d.ReaderFeatures), sortedCopy(f.ReaderFeatures)) {
		add("reader features", d.ReaderFeatures, f.ReaderFeatures)
	}
	if !slicesEqual(sortedCopy(d.WriterFeatures), sortedCopy(f.WriterFeatures)) {
		add("writer features", d.WriterFeatures, f.WriterFeatures)
	}
	if !mapsEqual(d.Properties, f.Configuration) {
		add("properties", d.Properties, f.Configuration)
	}
	if d.NumFiles != f.NumFiles {
		add("number of files", d.NumFiles, f.NumFiles)
	}
	if d.SizeInBytes != f.SizeInBytes {
		add("size in bytes", d.SizeInBytes, f.SizeInBytes)
	}
	if (d.NumRecords == nil) != (f.NumRecords == nil) || (d.NumRecords != nil && *d.NumRecords != *f.NumRecords) {
		add("number of records (from file statistics)", ptrString(d.NumRecords), ptrString(f.NumRecords))
	}
	return diffs
}

func ptrString(p *int64) string {
	if p == nil {
		return "unknown"
	}
	return strconv.FormatInt(*p, 10)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func sortedCopy(s []string) []string {
	out := append([]string{}, s...)
	sort.Strings(out)
	return out
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

// --- writing input files ---

// parquetColumn is one column of a Parquet input file: its Arrow field and its values (nil is
// null; otherwise int64/int32/float64/bool/string, decimals and dates and timestamps as text).
type parquetColumn struct {
	field  arrow.Field
	values []any
}

// writeParquet writes columns as a Parquet file with arrow-go's pqarrow (not Strata's writer),
// as a foreign tool would.
func writeParquet(t *testing.T, path string, cols ...parquetColumn) {
	t.Helper()
	fields := make([]arrow.Field, len(cols))
	arrs := make([]arrow.Array, len(cols))
	for i, c := range cols {
		fields[i] = c.field
		b := array.NewBuilder(memory.DefaultAllocator, c.field.Type)
		for _, v := range c.values {
			if v == nil {
				b.AppendNull()
				continue
			}
			switch b := b.(type) {
			case *array.Int64Builder:
				b.Append(v.(int64))
			case *array.Int32Builder:
				b.Append(v.(int32))
			case *array.Float64Builder:
				b.Append(v.(float64))
			case *array.BooleanBuilder:
				b.Append(v.(bool))
			case *array.StringBuilder:
				b.Append(v.(string))
			case *array.Decimal128Builder:
				dt := c.field.Type.(*arrow.Decimal128Type)
				n, err := decimal128.FromString(v.(string), dt.Precision, dt.Scale)
				if err != nil {
					t.Fatal(err)
				}
				b.Append(n)
			case *array.Date32Builder:
				d, err := time.Parse("2006-01-02", v.(string))
				if err != nil {
					t.Fatal(err)
				}
				b.Append(arrow.Date32FromTime(d))
			case *array.TimestampBuilder:
				ts, err := time.Parse(time.RFC3339Nano, v.(string))
				if err != nil {
					t.Fatal(err)
				}
				b.Append(arrow.Timestamp(ts.UnixMicro()))
			default:
				t.Fatalf("writeParquet: no support for %s", c.field.Type)
			}
		}
		arrs[i] = b.NewArray()
		b.Release()
	}
	schema := arrow.NewSchema(fields, nil)
	rec := array.NewRecordBatch(schema, arrs, int64(arrs[0].Len()))
	defer rec.Release()
	tbl := array.NewTableFromRecords(schema, []arrow.RecordBatch{rec})
	defer tbl.Release()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	props := parquet.NewWriterProperties(parquet.WithAllocator(memory.DefaultAllocator))
	if err := pqarrow.WriteTable(tbl, f, 1024, props, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema())); err != nil {
		t.Fatal(err)
	}
}

// versionFileRE matches a Delta log file name: commits and classic checkpoints.
var versionFileRE = regexp.MustCompile(`^(\d{20})\.(json|checkpoint\.parquet)$`)

// logCheckpoints returns the versions that have a classic checkpoint in table's _delta_log.
func logCheckpoints(t *testing.T, table string) []int64 {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(table, "_delta_log"))
	if err != nil {
		t.Fatal(err)
	}
	var out []int64
	for _, e := range entries {
		if m := versionFileRE.FindStringSubmatch(e.Name()); m != nil && m[2] != "json" {
			v, _ := strconv.ParseInt(m[1], 10, 64)
			out = append(out, v)
		}
	}
	return out
}
