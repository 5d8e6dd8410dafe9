package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/engine"
	"github.com/stratalake/strata/internal/table"
)

// This file is the landing-file intake of STREAM(read_files(...)): it copies each new file's rows,
// once, into a hidden append-only Delta table, which a streaming query then reads as a Delta
// stream source.

// FileIntake copies new files matching Pattern into an append-only Delta table, each file once,
// in the manner of Auto Loader. What has been taken is remembered in the tables themselves, not
// in the FileIntake value: the intake table holds one txn action per file taken (app id
// "intake:"+Name+":"+<hash of the file's path relative to the pattern's base folder>, version 0),
// and the quarantine table one per file quarantined (same app id, version = the file's
// modification time in milliseconds). A new FileIntake value over the same tables (a restart, a
// crash) therefore takes nothing twice.
//
// Invariants, for each file the pattern matches (by its relative path):
//   - its rows are appended to Table at most once, all of them in one Delta commit, each row with
//     _file (the relative path), _file_row (its 0-based position among the rows DuckDB reads from
//     the file, in file order: a CSV header is not a row) and _file_modified;
//   - a file modified after being taken is not taken again (Auto Loader's default): its identity
//     is its relative path, not its content;
//   - a file that cannot be read or cast to the intake schema is not taken: it gets one row in
//     Quarantine and is not read again until its modification time moves forward (it is then
//     retried: taken if it now reads, quarantined again otherwise);
//   - a file whose size or modification time changes between the listing and the end of its read
//     (still being written) is neither taken nor quarantined by that Poll; a later Poll takes it.
//     A writer that pauses mid-file can still get a partial file quarantined (it is retried once
//     it changes again); writing to a hidden name (".x" or "_x") and renaming is safe.
//
// The intake schema is Schema when set; otherwise the data columns of Table when it exists;
// otherwise the schema DuckDB infers from the first file taken, which then becomes Table's
// schema. Types DuckDB infers that Delta has no type for (TIME, INTERVAL, ...) are kept as
// strings. Every file is cast to the intake schema by column name: case-insensitively for CSV
// and Parquet, exactly for JSON keys (as DuckDB's read_json matches them), by position for CSV
// read with header=false (CSV files have a header row unless Options sets header). A column the
// file lacks is NULL; a column the intake schema lacks is ignored (not taken: declare it in
// Schema to keep it); a value that does not convert quarantines the file. Changing Schema to one
// incompatible with an existing Table makes Poll fail (no schema evolution).
//
// Listing follows path/filepath.Glob semantics per path segment, plus "**" as a whole segment
// matching any number of folders; files and folders whose names start with "." or "_" are
// ignored unless the pattern segment itself starts with that character (as Spark's file sources
// do: temporary files, _SUCCESS markers). Files are taken in the byte order of their relative
// paths, so a late file whose name sorts before files already taken is still taken.
//
// Poll is not meant to run concurrently on the same tables: a second concurrent Poll fails with a
// Delta commit conflict on the same file rather than taking it twice.
type FileIntake struct {
	// Name is the intake's name, used in txn app ids and messages.
	Name string
	// Pattern is the absolute glob of the landing files (local files).
	Pattern string
	// Format is "csv", "json" (newline-delimited or an array, as DuckDB's read_json detects) or
	// "parquet"; "" picks it from each file's extension (.csv .tsv .txt, .json .ndjson .jsonl,
	// .parquet .parq, optionally followed by .gz or .zst).
	Format string
	// Schema is an optional DuckDB column list ("id BIGINT, name VARCHAR"); "" infers the schema
	// from the first file taken and keeps it in Table's schema.
	Schema string
	// Options are passed to read_csv / read_json / read_parquet as named parameters. Only the
	// parameters of intakeOptionKinds are allowed (not those that would change the schema or
	// drop rows, such as columns, types, all_varchar or ignore_errors); values are checked
	// against the parameter's kind (boolean, integer, string).
	Options map[string]string
	// Table is the location of the intake table (created on first use, append-only).
	Table string
	// Quarantine is the location of the quarantine table (created on first use): one row per
	// file that could not be read (file, reason, size, modified, quarantined_at).
	Quarantine string
	// Engine reads the files (DuckDB).
	Engine *engine.Engine
	// OnFile, if set, is called after each file Poll deals with, in order: rows >= 0 when the
	// file was taken (its row count), -1 when it was quarantined. It is called serially, from
	// Poll's goroutine.
	OnFile func(path string, rows int64)
}

// IntakeResult says what one Poll did.
type IntakeResult struct {
	// Files and Rows count the files taken by this Poll and the rows they appended.
	Files, Rows int64
	// QuarantinedFiles counts the files this Poll put in quarantine.
	QuarantinedFiles int64
	// Taken lists the relative paths of the files taken, in the order taken.
	Taken []string
}

// Columns the intake adds to every row. A file's own columns of these names are ignored.
const (
	intakeColFile     = "_file"
	intakeColRow      = "_file_row"
	intakeColModified = "_file_modified"
)

// intakePrefetchBytes bounds the Arrow data of one file copied into Go memory before its commit
// starts (a variable for tests). A file that fits is read whole and re-stat'ed before anything is
// written; a larger one streams into the commit, its re-stat (and any late error) then failing
// the write, which leaves orphan data files for VACUUM (and, when that file was the first one,
// the intake table created with its schema). DuckDB itself materializes a query's result before
// engine.Query returns (duckdb-go does not stream), so DuckDB's read and cast errors always come
// before the commit starts.
var intakePrefetchBytes int64 = 64 << 20

// intakeFile is one listed file.
type intakeFile struct {
	abs, rel string
	size     int64
	modified time.Time
}

// intakeReadError marks a failure to read one file (as opposed to a failure of the tables).
type intakeReadError struct {
	rel     string
	err     error
	changed bool // the file changed while being read
}

func (e *intakeReadError) Error() string { return e.rel + ": " + e.err.Error() }
func (e *intakeReadError) Unwrap() error { return e.err }

var intakeErrChanged = errors.New("file changed while being read")

// Poll lists the files, and takes, in path order, every file not taken before: reads it with
// DuckDB (engine.Query over read_csv/read_json/read_parquet of that one file, cast to the intake
// schema), adds columns _file (the path relative to the pattern's base folder), _file_row
// (BIGINT, 0-based row in the file) and _file_modified (TIMESTAMPTZ), and appends the rows as one
// Delta commit carrying txn ("intake:"+Name+":"+<hash of the relative path>, 0). A file whose txn
// is already in the table's snapshot is skipped; so is one quarantined at its current
// modification time. A file that cannot be read or cast goes to Quarantine (one row, with its
// own txn) and Poll continues with the next file. Files modified after being taken are not
// taken again. A file that changed while being read is skipped and taken by a later Poll.
//
// Poll returns an error (with what it did so far in IntakeResult) for an invalid definition
// (wrapping delta.ErrInvalidArgument), a failure of the tables' storage or commits, or ctx's
// cancellation; a file's commit is atomic, so cancellation leaves every file taken or not.
func (fi *FileIntake) Poll(ctx context.Context) (IntakeResult, error) {
	var res IntakeResult
	if err := fi.intakeValidate(); err != nil {
		return res, err
	}
	files, err := intakeList(fi.Pattern)
	if err != nil {
		return res, fmt.Errorf("intake %s: list %s: %w", fi.Name, fi.Pattern, err)
	}
	intake, err := table.Open(ctx, fi.Table)
	if err != nil {
		return res, fmt.Errorf("intake %s: %w", fi.Name, err)
	}
	quarantine, err := table.Open(ctx, fi.Quarantine)
	if err != nil {
		return res, fmt.Errorf("intake %s: %w", fi.Name, err)
	}
	tsnap, err := intakeSnapshot(ctx, intake)
	if err != nil {
		return res, fmt.Errorf("intake %s: %w", fi.Name, err)
	}
	qsnap, err := intakeSnapshot(ctx, quarantine)
	if err != nil {
		return res, fmt.Errorf("intake %s: %w", fi.Name, err)
	}

	// The intake schema, when known before reading a file.
	var schema *delta.StructType
	if fi.Schema != "" {
		if schema, err = intakeParseSchema(ctx, fi.Engine, fi.Schema); err != nil {
			return res, fmt.Errorf("intake %s: schema %q: %w", fi.Name, fi.Schema, err)
		}
	} else if tsnap != nil {
		schema = intakeDataColumns(tsnap.Schema())
	}

	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		appID := fi.intakeAppID(f.rel)
		if tsnap != nil {
			if _, ok := tsnap.TxnVersion(appID); ok {
				continue // taken before
			}
		}
		if qsnap != nil {
			if v, ok := qsnap.TxnVersion(appID); ok && v >= intakeMillis(f.modified) {
				continue // quarantined at this modification time
			}
		}
		rows, taken, err := fi.intakeTake(ctx, intake, f, appID, &schema)
		var rerr *intakeReadError
		switch {
		case err != nil && ctx.Err() != nil:
			return res, fmt.Errorf("intake %s: %s: %w", fi.Name, f.rel, ctx.Err())
		case errors.As(err, &rerr) && rerr.changed:
			continue // still being written: a later Poll takes it
		case errors.As(err, &rerr):
			if err := fi.intakeQuarantine(ctx, quarantine, f, appID, rerr); err != nil {
				return res, err
			}
			if schema == nil {
				// A file that failed while streaming into the commit may have created the table.
				if snap, err := intakeSnapshot(ctx, intake); err != nil {
					return res, fmt.Errorf("intake %s: %w", fi.Name, err)
				} else if snap != nil {
					schema = intakeDataColumns(snap.Schema())
				}
			}
			res.QuarantinedFiles++
			if fi.OnFile != nil {
				fi.OnFile(f.rel, -1)
			}
			continue
		case err != nil:
			return res, err
		}
		if !taken {
			continue // a concurrent intake took it
		}
		res.Files++
		res.Rows += rows
		res.Taken = append(res.Taken, f.rel)
		if fi.OnFile != nil {
			fi.OnFile(f.rel, rows)
		}
	}
	return res, nil
}

// intakeValidate checks the definition.
func (fi *FileIntake) intakeValidate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("intake %s: %w: "+format, append([]any{fi.Name, delta.ErrInvalidArgument}, args...)...)
	}
	switch {
	case fi.Name == "":
		return bad("no name")
	case fi.Engine == nil:
		return bad("no engine")
	case fi.Table == "" || fi.Quarantine == "":
		return bad("the intake and quarantine tables need locations")
	case !filepath.IsAbs(fi.Pattern):
		return bad("pattern %q is not an absolute path", fi.Pattern)
	}
	formats := []string{"csv", "json", "parquet"}
	if fi.Format != "" {
		f := strings.ToLower(fi.Format)
		if _, ok := intakeOptionKinds[f]; !ok {
			return bad("format %q: want csv, json or parquet", fi.Format)
		}
		formats = []string{f}
	}
	for name, value := range fi.Options {
		known := false
		for _, f := range formats {
			if kind, ok := intakeOptionKinds[f][strings.ToLower(name)]; ok {
				known = true
				if _, err := intakeOptionSQL(kind, value); err != nil {
					return bad("option %s: %v", name, err)
				}
			}
		}
		if !known {
			return bad("option %s is not allowed for format %s (allowed: %s)", name, strings.Join(formats, "/"), intakeAllowed(formats))
		}
	}
	return nil
}

// intakeAppID is the txn app id of a file: the intake's name and a hash of the relative path
// (paths can be long and hold any character).
func (fi *FileIntake) intakeAppID(rel string) string {
	sum := sha256.Sum256([]byte(rel))
	return "intake:" + fi.Name + ":" + hex.EncodeToString(sum[:16])
}

func intakeMillis(t time.Time) int64 { return max(t.UnixMilli(), 0) }

// intakeSnapshot returns the table's latest snapshot, or nil when it does not exist yet.
func intakeSnapshot(ctx context.Context, t *table.Table) (*delta.Snapshot, error) {
	snap, err := t.Snapshot(ctx, -1)
	if errors.Is(err, delta.ErrNotATable) {
		return nil, nil
	}
	return snap, err
}

// intakeDataColumns returns the columns of an intake table's schema other than those the intake
// adds.
func intakeDataColumns(st *delta.StructType) *delta.StructType {
	out := &delta.StructType{}
	for _, f := range st.Fields {
		if !intakeReserved(f.Name) {
			out.Fields = append(out.Fields, f)
		}
	}
	return out
}

func intakeReserved(name string) bool {
	switch strings.ToLower(name) {
	case intakeColFile, intakeColRow, intakeColModified:
		return true
	}
	return false
}

// --- listing ---

// intakeList returns the regular files matching pattern, sorted by their paths relative to the
// pattern's base folder (its longest leading part without wildcards), with "/" separators.
func intakeList(pattern string) ([]intakeFile, error) {
	segs := strings.Split(filepath.ToSlash(filepath.Clean(pattern)), "/")
	n := 0
	for n < len(segs)-1 && !intakeHasMeta(segs[n]) {
		n++
	}
	base := filepath.FromSlash(strings.Join(segs[:n], "/"))
	if base == "" {
		base = string(filepath.Separator)
	}
	pat := segs[n:]
	for _, p := range pat {
		if p != "**" {
			if _, err := path.Match(p, ""); err != nil {
				return nil, fmt.Errorf("%w: %v", delta.ErrInvalidArgument, err)
			}
		}
	}
	var files []intakeFile
	err := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == base && errors.Is(err, fs.ErrNotExist) {
				return fs.SkipAll // no landing folder yet: no files
			}
			return err
		}
		if p == base {
			return nil
		}
		r, err := filepath.Rel(base, p)
		if err != nil {
			return err
		}
		rel := strings.Split(filepath.ToSlash(r), "/")
		if d.IsDir() {
			if !intakeMatchPrefix(pat, rel) {
				return fs.SkipDir
			}
			return nil
		}
		if !intakeMatch(pat, rel) {
			return nil
		}
		info, err := os.Stat(p)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed since the listing
			}
			return err
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		files = append(files, intakeFile{abs: p, rel: strings.Join(rel, "/"), size: info.Size(), modified: info.ModTime()})
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(files, func(i, j int) bool { return files[i].rel < files[j].rel })
	return files, nil
}

func intakeHasMeta(s string) bool { return strings.ContainsAny(s, `*?[\`) }

// intakeSegment matches one path segment against one pattern segment; names starting with "."
// or "_" match only a pattern starting with the same character.
func intakeSegment(pat, name string) bool {
	if (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) && (pat == "" || pat[0] != name[0]) {
		return false
	}
	ok, _ := path.Match(pat, name)
	return ok
}

// intakeMatch reports whether the path segments match the pattern segments ("**" matches any
// number of segments).
func intakeMatch(pat, segs []string) bool {
	if len(pat) == 0 {
		return len(segs) == 0
	}
	if pat[0] == "**" {
		for i := 0; i <= len(segs); i++ {
			if i > 0 && !intakeSegment("*", segs[i-1]) {
				return false // ** does not enter hidden folders
			}
			if intakeMatch(pat[1:], segs[i:]) {
				return true
			}
		}
		return false
	}
	return len(segs) > 0 && intakeSegment(pat[0], segs[0]) && intakeMatch(pat[1:], segs[1:])
}

// intakeMatchPrefix reports whether files under the folder of these segments may match.
func intakeMatchPrefix(pat, segs []string) bool {
	if len(segs) == 0 {
		return len(pat) > 0
	}
	if len(pat) == 0 {
		return false
	}
	if pat[0] == "**" {
		return intakeSegment("*", segs[0]) || intakeMatchPrefix(pat[1:], segs)
	}
	return intakeSegment(pat[0], segs[0]) && intakeMatchPrefix(pat[1:], segs[1:])
}

// --- reading ---

// intakeFormat returns the format of a file: the intake's, or its extension's.
func (fi *FileIntake) intakeFormat(rel string) (string, error) {
	if fi.Format != "" {
		return strings.ToLower(fi.Format), nil
	}
	name := strings.ToLower(path.Base(rel))
	for _, c := range []string{".gz", ".zst", ".gzip", ".zstd"} {
		name = strings.TrimSuffix(name, c)
	}
	switch path.Ext(name) {
	case ".csv", ".tsv", ".txt":
		return "csv", nil
	case ".json", ".ndjson", ".jsonl":
		return "json", nil
	case ".parquet", ".parq":
		return "parquet", nil
	}
	return "", fmt.Errorf("cannot tell the format from the extension %q; set the format", path.Ext(name))
}

// intakeOptionKind is the kind of value a reader parameter takes.
type intakeOptionKind int

const (
	intakeBool intakeOptionKind = iota
	intakeInt
	intakeString
)

// intakeOptionKinds are the reader parameters Options may set, per format.
var intakeOptionKinds = map[string]map[string]intakeOptionKind{
	"csv": {
		"header": intakeBool, "delim": intakeString, "sep": intakeString, "quote": intakeString,
		"escape": intakeString, "comment": intakeString, "nullstr": intakeString, "skip": intakeInt,
		"dateformat": intakeString, "timestampformat": intakeString, "decimal_separator": intakeString,
		"new_line": intakeString, "compression": intakeString, "encoding": intakeString,
		"strict_mode": intakeBool, "null_padding": intakeBool, "allow_quoted_nulls": intakeBool,
		"max_line_size": intakeInt, "sample_size": intakeInt,
	},
	"json": {
		"format": intakeString, "compression": intakeString, "dateformat": intakeString,
		"timestampformat": intakeString, "maximum_object_size": intakeInt, "sample_size": intakeInt,
	},
	"parquet": {
		"binary_as_string": intakeBool,
	},
}

func intakeAllowed(formats []string) string {
	seen := map[string]bool{}
	var names []string
	for _, f := range formats {
		for n := range intakeOptionKinds[f] {
			if !seen[n] {
				seen[n] = true
				names = append(names, n)
			}
		}
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// intakeOptionSQL renders an option value as a DuckDB literal of its kind.
func intakeOptionSQL(kind intakeOptionKind, value string) (string, error) {
	switch kind {
	case intakeBool:
		b, err := strconv.ParseBool(strings.TrimSpace(value))
		if err != nil {
			return "", fmt.Errorf("%q is not a boolean", value)
		}
		return strconv.FormatBool(b), nil
	case intakeInt:
		n, err := strconv.ParseInt(strings.TrimSpace(value), 10, 64)
		if err != nil {
			return "", fmt.Errorf("%q is not an integer", value)
		}
		return strconv.FormatInt(n, 10), nil
	}
	return quoteString(value), nil
}

// intakeReadCall renders the DuckDB table function call reading one file, with the options that
// apply to its format and extra parameters.
func (fi *FileIntake) intakeReadCall(format string, f intakeFile, extra ...string) string {
	fn := map[string]string{"csv": "read_csv", "json": "read_json", "parquet": "read_parquet"}[format]
	args := []string{quoteString(f.abs)}
	names := make([]string, 0, len(fi.Options))
	for n := range fi.Options {
		names = append(names, n)
	}
	sort.Strings(names)
	hasDelim, hasHeader := false, false
	for _, n := range names {
		kind, ok := intakeOptionKinds[format][strings.ToLower(n)]
		if !ok {
			continue // an option of another format (Format "" with mixed files)
		}
		v, _ := intakeOptionSQL(kind, fi.Options[n])
		args = append(args, strings.ToLower(n)+" = "+v)
		hasDelim = hasDelim || strings.EqualFold(n, "delim") || strings.EqualFold(n, "sep")
		hasHeader = hasHeader || strings.EqualFold(n, "header")
	}
	if format == "csv" && !hasDelim && strings.Contains(strings.ToLower(path.Base(f.rel)), ".tsv") {
		args = append(args, `delim = '\t'`)
	}
	if format == "csv" && !hasHeader {
		// Not left to DuckDB's guess, which could differ between files of one landing folder.
		args = append(args, "header = true")
	}
	args = append(args, extra...)
	return fn + "(" + strings.Join(args, ", ") + ")"
}

// intakeHeaderless reports whether CSV files are read without a header row (matched to the
// schema by position).
func (fi *FileIntake) intakeHeaderless() bool {
	for n, v := range fi.Options {
		if strings.EqualFold(n, "header") {
			b, err := strconv.ParseBool(strings.TrimSpace(v))
			return err == nil && !b
		}
	}
	return false
}

// intakeColumns returns the Arrow schema DuckDB gives the file's rows without a schema (the
// columns of its header, its keys, its Parquet schema, with inferred types).
func (fi *FileIntake) intakeColumns(ctx context.Context, format string, f intakeFile) (*arrow.Schema, error) {
	r, err := fi.Engine.Query(ctx, "SELECT * FROM "+fi.intakeReadCall(format, f)+" LIMIT 0")
	if err != nil {
		return nil, err
	}
	defer r.Records.Release()
	for r.Records.Next() {
	}
	if err := r.Records.Err(); err != nil {
		return nil, err
	}
	return r.Records.Schema(), nil
}

// intakeQuery returns the SQL reading file f cast to the intake schema (data columns only, in
// the schema's order and with its names).
func (fi *FileIntake) intakeQuery(ctx context.Context, format string, f intakeFile, schema *delta.StructType, fileCols *arrow.Schema) (string, error) {
	if format == "json" {
		// read_json extracts the given keys itself: missing keys are NULL, others ignored.
		cols := make([]string, len(schema.Fields))
		for i, c := range schema.Fields {
			cols[i] = quoteString(c.Name) + ": " + quoteString(intakeDuckType(c.Type))
		}
		return "SELECT * FROM " + fi.intakeReadCall(format, f, "columns = {"+strings.Join(cols, ", ")+"}"), nil
	}
	var err error
	if fileCols == nil {
		if fileCols, err = fi.intakeColumns(ctx, format, f); err != nil {
			return "", err
		}
	}
	// The file column each schema column reads ("" for none).
	source := make([]string, len(schema.Fields))
	for i, c := range schema.Fields {
		if format == "csv" && fi.intakeHeaderless() {
			if i < fileCols.NumFields() {
				source[i] = fileCols.Field(i).Name
			}
			continue
		}
		for _, fc := range fileCols.Fields() {
			if strings.EqualFold(fc.Name, c.Name) {
				source[i] = fc.Name
				break
			}
		}
	}
	var extra []string
	if format == "csv" {
		// Typed by the CSV reader itself, so that a bad value is reported with its line.
		var types []string
		for i, c := range schema.Fields {
			if source[i] != "" {
				types = append(types, quoteString(source[i])+": "+quoteString(intakeDuckType(c.Type)))
			}
		}
		if len(types) > 0 {
			extra = append(extra, "types = {"+strings.Join(types, ", ")+"}")
		}
	}
	items := make([]string, len(schema.Fields))
	for i, c := range schema.Fields {
		expr := "NULL"
		if source[i] != "" {
			expr = quoteIdent(source[i])
		}
		items[i] = "CAST(" + expr + " AS " + intakeDuckType(c.Type) + ") AS " + quoteIdent(c.Name)
	}
	return "SELECT " + strings.Join(items, ", ") + " FROM " + fi.intakeReadCall(format, f, extra...), nil
}

// intakeTake reads file f and appends its rows to the intake table in one commit carrying the
// file's txn. *schema is the intake schema; when nil it is inferred from f and set. It returns
// an *intakeReadError when the file could not be read (or changed meanwhile), and taken=false
// when the txn had landed already (a concurrent intake).
func (fi *FileIntake) intakeTake(ctx context.Context, t *table.Table, f intakeFile, appID string, schema **delta.StructType) (rows int64, taken bool, err error) {
	readErr := func(err error) error {
		return &intakeReadError{rel: f.rel, err: err, changed: intakeChanged(f)}
	}
	format, err := fi.intakeFormat(f.rel)
	if err != nil {
		return 0, false, readErr(err)
	}
	var fileCols *arrow.Schema
	s := *schema
	if s == nil {
		if fileCols, err = fi.intakeColumns(ctx, format, f); err != nil {
			return 0, false, readErr(err)
		}
		if s, err = intakeInferred(fileCols); err != nil {
			return 0, false, readErr(err)
		}
	}
	q, err := fi.intakeQuery(ctx, format, f, s, fileCols)
	if err != nil {
		return 0, false, readErr(err)
	}
	r, err := fi.Engine.Query(ctx, q)
	if err != nil {
		return 0, false, readErr(err)
	}
	full := &delta.StructType{Fields: append(append([]*delta.StructField{}, s.Fields...),
		&delta.StructField{Name: intakeColFile, Type: delta.TypeString, Nullable: true},
		&delta.StructField{Name: intakeColRow, Type: delta.TypeLong, Nullable: true},
		&delta.StructField{Name: intakeColModified, Type: delta.TypeTimestamp, Nullable: true})}
	src := &intakeSource{file: f, schema: delta.ToArrowSchema(full), records: r.Records}
	defer src.release()
	if err := src.prefetch(ctx); err != nil {
		return 0, false, err
	}
	wr, err := t.Write(ctx, src, table.WriteOptions{
		AppID: appID, AppVersion: 0,
		CreateProperties: map[string]string{"delta.appendOnly": "true"},
		UserMetadata:     "intake " + fi.Name + ": " + f.rel,
	})
	if err != nil {
		var rerr *intakeReadError
		if errors.As(err, &rerr) {
			return 0, false, rerr
		}
		if *schema == nil && errors.Is(err, delta.ErrInvalidArgument) {
			return 0, false, readErr(fmt.Errorf("the schema inferred from it cannot be a table's: %w", err))
		}
		return 0, false, fmt.Errorf("intake %s: take %s: %w", fi.Name, f.rel, err)
	}
	if *schema == nil {
		*schema = s
	}
	if wr.Skipped {
		return 0, false, nil
	}
	return wr.RowsWritten, true, nil
}

// intakeChanged reports whether a file's size or modification time differs from its listing
// (or it is gone).
func intakeChanged(f intakeFile) bool {
	info, err := os.Stat(f.abs)
	return err != nil || info.Size() != f.size || !info.ModTime().Equal(f.modified)
}

// intakeSource is the table.Source of one file's rows: DuckDB's Arrow result plus the columns
// the intake adds. Its batches come in the file's order (DuckDB preserves insertion order), which
// numbers _file_row.
type intakeSource struct {
	file     intakeFile
	schema   *arrow.Schema // data columns, then _file, _file_row, _file_modified
	records  array.RecordReader
	buffered []arrow.RecordBatch // read ahead, decorated
	done     bool                // records is exhausted (and the file re-stat'ed)
	next     int64               // _file_row of the next row
}

func (s *intakeSource) Schema() *arrow.Schema { return s.schema }

func (s *intakeSource) release() {
	for _, b := range s.buffered {
		b.Release()
	}
	s.buffered = nil
	s.records.Release()
}

// prefetch reads ahead up to intakePrefetchBytes; when that reaches the end, the read's errors
// and the re-stat are known before anything is written.
func (s *intakeSource) prefetch(ctx context.Context) error {
	var size int64
	for size < intakePrefetchBytes {
		b, err := s.read(ctx)
		if err != nil {
			return err
		}
		if b == nil {
			return nil
		}
		for _, c := range b.Columns() {
			size += intakeDataSize(c.Data())
		}
		s.buffered = append(s.buffered, b)
	}
	return nil
}

// intakeDataSize is the size of an array's buffers (shared buffers counted each time).
func intakeDataSize(d arrow.ArrayData) int64 {
	var n int64
	for _, b := range d.Buffers() {
		if b != nil {
			n += int64(b.Len())
		}
	}
	for _, c := range d.Children() {
		n += intakeDataSize(c)
	}
	return n
}

// read returns the next decorated batch, or nil at the end (once the file is known unchanged).
func (s *intakeSource) read(ctx context.Context) (arrow.RecordBatch, error) {
	if s.done {
		return nil, nil
	}
	for s.records.Next() {
		b := s.records.RecordBatch()
		if b.NumRows() == 0 {
			continue
		}
		return s.decorate(ctx, b)
	}
	if err := s.records.Err(); err != nil {
		return nil, &intakeReadError{rel: s.file.rel, err: err, changed: intakeChanged(s.file)}
	}
	s.done = true
	if intakeChanged(s.file) {
		return nil, &intakeReadError{rel: s.file.rel, err: intakeErrChanged, changed: true}
	}
	return nil, nil
}

// decorate returns b's data columns conformed to the schema, with the intake's columns added.
func (s *intakeSource) decorate(ctx context.Context, b arrow.RecordBatch) (arrow.RecordBatch, error) {
	n := int(b.NumRows())
	nd := s.schema.NumFields() - 3
	cols := make([]arrow.Array, 0, s.schema.NumFields())
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	for i := 0; i < nd; i++ {
		c, err := intakeConformColumn(ctx, b.Column(i), s.schema.Field(i))
		if err != nil {
			return nil, &intakeReadError{rel: s.file.rel, err: err, changed: intakeChanged(s.file)}
		}
		cols = append(cols, c)
	}
	mem := memory.DefaultAllocator
	fb := array.NewStringBuilder(mem)
	rb := array.NewInt64Builder(mem)
	mb := array.NewTimestampBuilder(mem, s.schema.Field(nd+2).Type.(*arrow.TimestampType))
	defer fb.Release()
	defer rb.Release()
	defer mb.Release()
	mod := arrow.Timestamp(s.file.modified.UnixMicro())
	for i := 0; i < n; i++ {
		fb.Append(s.file.rel)
		rb.Append(s.next + int64(i))
		mb.Append(mod)
	}
	s.next += int64(n)
	cols = append(cols, fb.NewArray(), rb.NewArray(), mb.NewArray())
	out := array.NewRecordBatch(s.schema, cols, int64(n))
	return out, nil
}

// Open returns the file's rows in target, the table's schema, matched by name.
func (s *intakeSource) Open(ctx context.Context, target *arrow.Schema) (array.RecordReader, error) {
	return &intakeReader{ctx: ctx, src: s, target: target}, nil
}

// intakeReader streams an intakeSource's buffered batches, then the rest of its records.
type intakeReader struct {
	ctx    context.Context
	src    *intakeSource
	target *arrow.Schema
	cur    arrow.RecordBatch
	err    error
	refs   atomic.Int64 // references beyond the first
}

func (r *intakeReader) Schema() *arrow.Schema { return r.target }

func (r *intakeReader) Next() bool {
	if r.cur != nil {
		r.cur.Release()
		r.cur = nil
	}
	if r.err != nil {
		return false
	}
	var b arrow.RecordBatch
	if len(r.src.buffered) > 0 {
		b = r.src.buffered[0]
		r.src.buffered = r.src.buffered[1:]
	} else if b, r.err = r.src.read(r.ctx); r.err != nil || b == nil {
		return false
	}
	r.cur, r.err = intakeConform(r.ctx, b, r.target)
	b.Release()
	return r.err == nil
}

func (r *intakeReader) RecordBatch() arrow.RecordBatch { return r.cur }
func (r *intakeReader) Record() arrow.RecordBatch      { return r.cur }
func (r *intakeReader) Err() error                     { return r.err }
func (r *intakeReader) Retain()                        { r.refs.Add(1) }
func (r *intakeReader) Release() {
	if r.refs.Add(-1) >= 0 {
		return
	}
	if r.cur != nil {
		r.cur.Release()
		r.cur = nil
	}
}

// intakeConform returns b with target's columns, matched by name (case-insensitively), cast where
// the type differs, NULL where b lacks the column. The caller releases the result.
func intakeConform(ctx context.Context, b arrow.RecordBatch, target *arrow.Schema) (arrow.RecordBatch, error) {
	if b.Schema().Equal(target) {
		b.Retain()
		return b, nil
	}
	n := b.NumRows()
	cols := make([]arrow.Array, 0, target.NumFields())
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	for _, f := range target.Fields() {
		j := -1
		for k, g := range b.Schema().Fields() {
			if g.Name == f.Name || (j < 0 && strings.EqualFold(g.Name, f.Name)) {
				j = k
			}
		}
		if j < 0 {
			cols = append(cols, array.MakeArrayOfNull(memory.DefaultAllocator, f.Type, int(n)))
			continue
		}
		c, err := intakeConformColumn(ctx, b.Column(j), f)
		if err != nil {
			return nil, err
		}
		cols = append(cols, c)
	}
	return array.NewRecordBatch(target, cols, n), nil
}

// intakeConformColumn returns col as f's type (retained as is when it already is).
func intakeConformColumn(ctx context.Context, col arrow.Array, f arrow.Field) (arrow.Array, error) {
	if arrow.TypeEqual(col.DataType(), f.Type) {
		col.Retain()
		return col, nil
	}
	c, err := compute.CastArray(ctx, col, compute.SafeCastOptions(f.Type))
	if err != nil {
		return nil, fmt.Errorf("column %s: %s to %s: %w", f.Name, col.DataType(), f.Type, err)
	}
	return c, nil
}

// --- schemas ---

// intakeParseSchema turns a DuckDB column list into a Delta schema, letting DuckDB check the
// types. A type Delta cannot hold is an error.
func intakeParseSchema(ctx context.Context, eng *engine.Engine, cols string) (*delta.StructType, error) {
	items, err := intakeSplitColumns(cols)
	if err != nil {
		return nil, err
	}
	sel := make([]string, len(items))
	seen := map[string]bool{}
	for i, it := range items {
		if intakeReserved(it[0]) {
			return nil, fmt.Errorf("%w: column %s is reserved for the intake", delta.ErrInvalidArgument, it[0])
		}
		if seen[strings.ToLower(it[0])] {
			return nil, fmt.Errorf("%w: column %s appears twice", delta.ErrInvalidArgument, it[0])
		}
		seen[strings.ToLower(it[0])] = true
		sel[i] = "CAST(NULL AS " + it[1] + ") AS " + quoteIdent(it[0])
	}
	r, err := eng.Query(ctx, "SELECT "+strings.Join(sel, ", ")+" LIMIT 0")
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err() // stopped, not an invalid schema
		}
		return nil, fmt.Errorf("%w: %v", delta.ErrInvalidArgument, err)
	}
	defer r.Records.Release()
	st := &delta.StructType{}
	for i, f := range r.Records.Schema().Fields() {
		if _, changed := intakeNormalize(f.Type); changed {
			return nil, fmt.Errorf("%w: column %s: type %s has no Delta equivalent", delta.ErrInvalidArgument, f.Name, items[i][1])
		}
		dt, err := delta.FromArrowType(f.Type)
		if err != nil {
			return nil, fmt.Errorf("%w: column %s: type %s: %v", delta.ErrInvalidArgument, f.Name, items[i][1], err)
		}
		st.Fields = append(st.Fields, &delta.StructField{Name: f.Name, Type: dt, Nullable: true})
	}
	return st, nil
}

// intakeSplitColumns splits "a BIGINT, \"b c\" DECIMAL(10, 2)" into (name, type) pairs.
func intakeSplitColumns(s string) ([][2]string, error) {
	var parts []string
	depth, start := 0, 0
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '(':
			depth++
		case c == ')':
			depth--
		case c == ',' && depth == 0:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	parts = append(parts, s[start:])
	out := make([][2]string, 0, len(parts))
	for _, p := range parts {
		p = strings.TrimSpace(p)
		var name, typ string
		if strings.HasPrefix(p, `"`) {
			end := 1
			for end < len(p) {
				if p[end] == '"' {
					if end+1 < len(p) && p[end+1] == '"' {
						end += 2
						continue
					}
					break
				}
				end++
			}
			if end >= len(p) {
				return nil, fmt.Errorf("%w: unterminated quoted name in %q", delta.ErrInvalidArgument, p)
			}
			name, typ = strings.ReplaceAll(p[1:end], `""`, `"`), strings.TrimSpace(p[end+1:])
		} else {
			i := strings.IndexAny(p, " \t\r\n")
			if i < 0 {
				return nil, fmt.Errorf("%w: column %q has no type", delta.ErrInvalidArgument, p)
			}
			name, typ = p[:i], strings.TrimSpace(p[i:])
		}
		if name == "" || typ == "" {
			return nil, fmt.Errorf("%w: column definition %q: want name TYPE", delta.ErrInvalidArgument, p)
		}
		out = append(out, [2]string{name, typ})
	}
	return out, nil
}

// intakeInferred returns the intake schema inferred from a file's columns: types Delta cannot
// hold become strings, the intake's own columns are left out.
func intakeInferred(cols *arrow.Schema) (*delta.StructType, error) {
	st := &delta.StructType{}
	for _, f := range cols.Fields() {
		if intakeReserved(f.Name) {
			continue
		}
		t, _ := intakeNormalize(f.Type)
		dt, err := delta.FromArrowType(t)
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", f.Name, err)
		}
		if dt == delta.TypeVoid {
			dt = delta.TypeString // a column of NULLs only: a string until told otherwise
		}
		st.Fields = append(st.Fields, &delta.StructField{Name: f.Name, Type: dt, Nullable: true})
	}
	if len(st.Fields) == 0 {
		return nil, fmt.Errorf("the file has no columns")
	}
	return st, nil
}

// intakeNormalize replaces the Arrow types DuckDB produces that have no Delta equivalent (times,
// intervals, durations, UUIDs and other extension types) by strings, recursively; changed says
// whether it did.
func intakeNormalize(t arrow.DataType) (arrow.DataType, bool) {
	switch t := t.(type) {
	case arrow.ExtensionType:
		return arrow.BinaryTypes.String, true
	case *arrow.Time32Type, *arrow.Time64Type, *arrow.DurationType, *arrow.MonthIntervalType,
		*arrow.DayTimeIntervalType, *arrow.MonthDayNanoIntervalType:
		return arrow.BinaryTypes.String, true
	case *arrow.ListType:
		et, ch := intakeNormalize(t.Elem())
		if !ch {
			return t, false
		}
		return arrow.ListOfField(arrow.Field{Name: "element", Type: et, Nullable: true}), true
	case *arrow.LargeListType:
		et, ch := intakeNormalize(t.Elem())
		return arrow.ListOfField(arrow.Field{Name: "element", Type: et, Nullable: true}), ch
	case *arrow.FixedSizeListType:
		et, _ := intakeNormalize(t.Elem())
		return arrow.ListOfField(arrow.Field{Name: "element", Type: et, Nullable: true}), true
	case *arrow.MapType:
		kt, ch1 := intakeNormalize(t.KeyType())
		vt, ch2 := intakeNormalize(t.ItemType())
		if !ch1 && !ch2 {
			return t, false
		}
		return arrow.MapOf(kt, vt), true
	case *arrow.StructType:
		fields := make([]arrow.Field, t.NumFields())
		changed := false
		for i, f := range t.Fields() {
			ft, ch := intakeNormalize(f.Type)
			changed = changed || ch
			f.Type = ft
			fields[i] = f
		}
		if !changed {
			return t, false
		}
		return arrow.StructOf(fields...), true
	case *arrow.Decimal256Type:
		return &arrow.Decimal128Type{Precision: min(t.Precision, 38), Scale: min(t.Scale, 38)}, true
	}
	return t, false
}

// intakeDuckType renders a Delta type as a DuckDB type: the engine's rendering, except that the
// intake reads a void column (an all-NULL column of a table it did not create) as VARCHAR, as it
// infers a column of NULLs only.
func intakeDuckType(t delta.DataType) string {
	if t == delta.TypeVoid {
		return "VARCHAR"
	}
	return engine.DuckType(t)
}

// --- quarantine ---

// intakeQuarantine appends one row for file f to the quarantine table, with the txn (appID,
// the file's modification time in milliseconds).
func (fi *FileIntake) intakeQuarantine(ctx context.Context, q *table.Table, f intakeFile, appID string, rerr *intakeReadError) error {
	mem := memory.DefaultAllocator
	ts := &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "file", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "reason", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "size", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "modified", Type: ts, Nullable: true},
		{Name: "quarantined_at", Type: ts, Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	b.Field(0).(*array.StringBuilder).Append(f.rel)
	b.Field(1).(*array.StringBuilder).Append(f.rel + ": " + intakeReason(rerr.err))
	b.Field(2).(*array.Int64Builder).Append(f.size)
	b.Field(3).(*array.TimestampBuilder).Append(arrow.Timestamp(f.modified.UnixMicro()))
	b.Field(4).(*array.TimestampBuilder).Append(arrow.Timestamp(time.Now().UnixMicro()))
	rec := b.NewRecordBatch()
	defer rec.Release()
	_, err := q.Write(ctx, &intakeRecords{schema: schema, rec: rec}, table.WriteOptions{
		AppID: appID, AppVersion: intakeMillis(f.modified),
		UserMetadata: "intake " + fi.Name + ": quarantine " + f.rel,
	})
	if err != nil {
		return fmt.Errorf("intake %s: quarantine %s: %w", fi.Name, f.rel, err)
	}
	return nil
}

// intakeReason condenses a read error to one line: DuckDB's message up to its first blank line
// (the part naming the line, column and value) without its advice, its lines joined by "; ".
func intakeReason(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "\n\n"); i >= 0 {
		msg = msg[:i]
	}
	var lines []string
	for _, l := range strings.Split(msg, "\n") {
		// DuckDB's advice ("Try setting 'ignore_errors' ...") is about parameters the intake sets.
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "Try setting") {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "; ")
}

// intakeRecords is a table.Source over one record batch.
type intakeRecords struct {
	schema *arrow.Schema
	rec    arrow.RecordBatch
}

func (s *intakeRecords) Schema() *arrow.Schema { return s.schema }

func (s *intakeRecords) Open(ctx context.Context, target *arrow.Schema) (array.RecordReader, error) {
	c, err := intakeConform(ctx, s.rec, target)
	if err != nil {
		return nil, err
	}
	defer c.Release()
	return array.NewRecordReader(target, []arrow.RecordBatch{c})
}
