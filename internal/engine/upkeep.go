package engine

// Delta upkeep in SQL, with Spark's syntax and result columns:
//
//	DESCRIBE HISTORY <target> [LIMIT n]
//	DESCRIBE DETAIL <target>
//	SHOW TABLES [{IN | FROM} <domain>] [[LIKE] 'pattern']
//	VACUUM <target> [RETAIN n HOURS] [DRY RUN] [FORCE]
//	RESTORE [TABLE] <target> [TO] {VERSION AS OF n | TIMESTAMP AS OF <constant expression>}
//
// <target> is what parseTarget reads: domain.table, delta.`path` or delta_scan('path'). DESC is
// accepted for DESCRIBE. VACUUM's FORCE keyword allows a retention shorter than the table's
// delta.deletedFileRetentionDuration (Spark's spark.databricks.delta.retentionDurationCheck.enabled
// = false): each statement runs on its own DuckDB connection, so a per-statement keyword is the one
// switch that cannot leak from one user's session into another's. Errors name the table and, where
// one is involved, the version.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/dustin/go-humanize"
	"golang.org/x/sync/errgroup"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/storage"
	"github.com/stratalake/strata/internal/table"
)

func init() { registerHandler(upkeepStatement) }

// upkeepStatement recognises the upkeep statements. A statement with a recognised head but a
// malformed rest is Strata's (its error says what is expected); only VACUUM of something that is
// not a Delta target is left to DuckDB, which has its own VACUUM [ANALYZE] [table].
func upkeepStatement(e *Engine, st statement) func(context.Context) (*Result, error) {
	describe := headIs(st, "DESCRIBE") || headIs(st, "DESC")
	switch {
	case describe && len(st.Tokens) > 1 && st.Tokens[1].is("HISTORY"):
		return func(ctx context.Context) (*Result, error) { return e.describeHistory(ctx, st) }
	case describe && len(st.Tokens) > 1 && st.Tokens[1].is("DETAIL"):
		return func(ctx context.Context) (*Result, error) { return e.describeDetail(ctx, st) }
	case headIs(st, "SHOW", "TABLES"):
		return func(ctx context.Context) (*Result, error) { return e.showTables(ctx, st) }
	case headIs(st, "RESTORE"):
		return func(ctx context.Context) (*Result, error) { return e.restore(ctx, st) }
	case headIs(st, "VACUUM"):
		if !e.looksLikeTarget(st, 1) {
			return nil
		}
		return func(ctx context.Context) (*Result, error) { return e.vacuum(ctx, st) }
	}
	return nil
}

// looksLikeTarget reports whether the tokens at i name a Delta target, or a two-part name (which
// is a project table even when the engine has no project: the statement then fails saying so).
func (e *Engine) looksLikeTarget(st statement, i int) bool {
	if _, ok, _ := e.parseTarget(st, i); ok {
		return true
	}
	toks := st.Tokens
	return i+2 < len(toks) && toks[i].name() != "" && toks[i+1].punct(".") && toks[i+2].name() != "" &&
		!(i+3 < len(toks) && toks[i+3].punct("."))
}

// --- parsing helpers ---

// syntaxError reports a malformed Strata statement DuckDB-style: the message, then the line
// holding token i (the statement's end when i is past the last token) with a caret under it.
func syntaxError(st statement, i int, format string, args ...any) error {
	pos := len(st.Text)
	near := "end of input"
	if i < len(st.Tokens) {
		pos = st.Tokens[i].Start
		near = strconv.Quote(st.Tokens[i].Text)
	}
	msg := fmt.Sprintf("Parser Error: %s (at or near %s)", fmt.Sprintf(format, args...), near)
	return &QueryError{Type: "Parser", Msg: msg + "\n\n" + positionLine(st.Text, pos)}
}

// positionLine renders the line of src holding byte offset pos, numbered from 1, with a caret
// under pos, as DuckDB does ("LINE 2: VACUUM t RETAIN x\n                       ^").
func positionLine(src string, pos int) string {
	pos = min(max(pos, 0), len(src))
	line := strings.Count(src[:pos], "\n") + 1
	start := strings.LastIndexByte(src[:pos], '\n') + 1
	end := strings.IndexByte(src[pos:], '\n')
	if end < 0 {
		end = len(src)
	} else {
		end += pos
	}
	prefix := fmt.Sprintf("LINE %d: ", line)
	return prefix + src[start:end] + "\n" + strings.Repeat(" ", len(prefix)+len([]rune(src[start:pos]))) + "^"
}

// target reads the statement's table at token i and returns it with the index after it.
func (e *Engine) target(st statement, i int, what string) (*targetRef, int, error) {
	ref, ok, err := e.parseTarget(st, i)
	if err != nil {
		return nil, 0, err
	}
	if ok {
		return ref, ref.End, nil
	}
	toks := st.Tokens
	if e.opts.Project == nil && i+2 < len(toks) && toks[i].name() != "" && toks[i+1].punct(".") && toks[i+2].name() != "" {
		return nil, 0, fmt.Errorf("%s.%s: %w: domain.table names need a project (a strata.yaml; pass --project DIR), or name the table by location: delta.`/path/to/table`",
			toks[i].name(), toks[i+2].name(), ErrNoProject)
	}
	return nil, 0, syntaxError(st, i, "%s needs a table: domain.table, delta.`path` or delta_scan('path')", what)
}

// expectEnd fails unless token i is past the statement's last token.
func expectEnd(st statement, i int, usage string) error {
	if i < len(st.Tokens) {
		return syntaxError(st, i, "unexpected %s; the statement is %s", st.Tokens[i].Text, usage)
	}
	return nil
}

// latest opens a target and loads its latest snapshot. A project table that does not exist is
// ErrUnknownTable; a local project table that does not exist is not created as a side effect.
func (e *Engine) latest(ctx context.Context, ref *targetRef) (*table.Table, *delta.Snapshot, error) {
	if ref.Domain != "" && !storage.IsRemote(ref.Location) {
		if _, err := os.Stat(ref.Location); errors.Is(err, fs.ErrNotExist) {
			return nil, nil, fmt.Errorf("%w: %s (no Delta table at %s)", ErrUnknownTable, ref.Name, ref.Location)
		}
	}
	t, err := e.openTable(ctx, ref.Location)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", ref.Name, err)
	}
	snap, err := t.Snapshot(ctx, -1)
	if errors.Is(err, delta.ErrNotATable) && ref.Domain != "" {
		return nil, nil, fmt.Errorf("%w: %s (no Delta table at %s)", ErrUnknownTable, ref.Name, ref.Location)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", ref.Name, err)
	}
	return t, snap, nil
}

// --- DESCRIBE HISTORY ---

// historySchema is DESCRIBE HISTORY's result: Spark's columns, less the Databricks-only ones
// (userId, userName, job, notebook, clusterId). Parameters and metrics are maps of strings, as
// commitInfo stores them.
var historySchema = arrow.NewSchema([]arrow.Field{
	{Name: "version", Type: arrow.PrimitiveTypes.Int64},
	{Name: "timestamp", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
	{Name: "operation", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "operationParameters", Type: arrow.MapOf(arrow.BinaryTypes.String, arrow.BinaryTypes.String), Nullable: true},
	{Name: "readVersion", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "isBlindAppend", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
	{Name: "operationMetrics", Type: arrow.MapOf(arrow.BinaryTypes.String, arrow.BinaryTypes.String), Nullable: true},
	{Name: "userMetadata", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "engineInfo", Type: arrow.BinaryTypes.String, Nullable: true},
}, nil)

func (e *Engine) describeHistory(ctx context.Context, st statement) (*Result, error) {
	const usage = "DESCRIBE HISTORY <table> [LIMIT n]"
	ref, i, err := e.target(st, 2, "DESCRIBE HISTORY")
	if err != nil {
		return nil, err
	}
	limit := 0
	if i < len(st.Tokens) && st.Tokens[i].is("LIMIT") {
		if i+1 >= len(st.Tokens) || st.Tokens[i+1].Kind != tokNumber {
			return nil, syntaxError(st, i+1, "LIMIT takes a positive integer")
		}
		n, err := strconv.Atoi(st.Tokens[i+1].Text)
		if err != nil || n <= 0 {
			return nil, syntaxError(st, i+1, "LIMIT takes a positive integer")
		}
		limit, i = n, i+2
	}
	if err := expectEnd(st, i, usage); err != nil {
		return nil, err
	}
	t, _, err := e.latest(ctx, ref)
	if err != nil {
		return nil, err
	}
	entries, err := t.Kernel().History(ctx, limit)
	if err != nil {
		return nil, fmt.Errorf("%s: history: %w", ref.Name, err)
	}
	b := array.NewRecordBuilder(memory.DefaultAllocator, historySchema)
	defer b.Release()
	for _, h := range entries {
		b.Field(0).(*array.Int64Builder).Append(h.Version)
		b.Field(1).(*array.TimestampBuilder).Append(arrow.Timestamp(h.Timestamp.UnixMicro()))
		appendString(b.Field(2), h.Operation)
		appendStringMap(b.Field(3), h.OperationParameters)
		if h.ReadVersion != nil {
			b.Field(4).(*array.Int64Builder).Append(*h.ReadVersion)
		} else {
			b.Field(4).AppendNull()
		}
		if h.IsBlindAppend != nil {
			b.Field(5).(*array.BooleanBuilder).Append(*h.IsBlindAppend)
		} else {
			b.Field(5).AppendNull()
		}
		appendStringMap(b.Field(6), h.OperationMetrics)
		appendString(b.Field(7), h.UserMetadata)
		appendString(b.Field(8), h.EngineInfo)
	}
	return tableResult(st, b.NewRecordBatch(), fmt.Sprintf("%s: %d commits", ref.Name, len(entries)),
		map[string]any{"table": ref.Name, "location": t.Location(), "commits": len(entries)})
}

// appendString appends s, or null when s is empty.
func appendString(b array.Builder, s string) {
	if s == "" {
		b.AppendNull()
		return
	}
	b.(*array.StringBuilder).Append(s)
}

// appendStringMap appends m as a MAP<VARCHAR, VARCHAR> with sorted keys (null when m is nil);
// values that are not strings are rendered as JSON.
func appendStringMap(b array.Builder, m map[string]any) {
	mb := b.(*array.MapBuilder)
	if m == nil {
		mb.AppendNull()
		return
	}
	mb.Append(true)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	kb, vb := mb.KeyBuilder().(*array.StringBuilder), mb.ItemBuilder().(*array.StringBuilder)
	for _, k := range keys {
		kb.Append(k)
		vb.Append(jsonText(m[k]))
	}
}

// jsonText renders a commitInfo value as text: strings as they are, anything else as JSON.
func jsonText(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	out, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(out)
}

// tableResult wraps one record batch as a query result (the reader owns rec).
func tableResult(st statement, rec arrow.RecordBatch, message string, fields map[string]any) (*Result, error) {
	defer rec.Release()
	rr, err := array.NewRecordReader(rec.Schema(), []arrow.RecordBatch{rec})
	if err != nil {
		return nil, err
	}
	return &Result{Statement: st.Text, Records: rr, Message: message, Fields: fields}, nil
}

// --- DESCRIBE DETAIL ---

// detailSchema is DESCRIBE DETAIL's one row, with Spark's columns.
var detailSchema = arrow.NewSchema([]arrow.Field{
	{Name: "format", Type: arrow.BinaryTypes.String},
	{Name: "id", Type: arrow.BinaryTypes.String},
	{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "description", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "location", Type: arrow.BinaryTypes.String},
	{Name: "createdAt", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, Nullable: true},
	{Name: "lastModified", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, Nullable: true},
	{Name: "partitionColumns", Type: arrow.ListOf(arrow.BinaryTypes.String)},
	{Name: "numFiles", Type: arrow.PrimitiveTypes.Int64},
	{Name: "sizeInBytes", Type: arrow.PrimitiveTypes.Int64},
	{Name: "properties", Type: arrow.MapOf(arrow.BinaryTypes.String, arrow.BinaryTypes.String)},
	{Name: "minReaderVersion", Type: arrow.PrimitiveTypes.Int32},
	{Name: "minWriterVersion", Type: arrow.PrimitiveTypes.Int32},
	{Name: "tableFeatures", Type: arrow.ListOf(arrow.BinaryTypes.String)},
}, nil)

func (e *Engine) describeDetail(ctx context.Context, st statement) (*Result, error) {
	ref, i, err := e.target(st, 2, "DESCRIBE DETAIL")
	if err != nil {
		return nil, err
	}
	if err := expectEnd(st, i, "DESCRIBE DETAIL <table>"); err != nil {
		return nil, err
	}
	t, snap, err := e.latest(ctx, ref)
	if err != nil {
		return nil, err
	}
	md, p := snap.Metadata(), snap.Protocol()
	b := array.NewRecordBuilder(memory.DefaultAllocator, detailSchema)
	defer b.Release()
	b.Field(0).(*array.StringBuilder).Append("delta")
	b.Field(1).(*array.StringBuilder).Append(md.ID)
	name := ref.Name
	if ref.Domain == "" {
		name = ""
		if md.Name != nil {
			name = *md.Name
		}
	}
	appendString(b.Field(2), name)
	description := ""
	if md.Description != nil {
		description = *md.Description
	}
	appendString(b.Field(3), description)
	b.Field(4).(*array.StringBuilder).Append(t.Location())
	if md.CreatedTime != nil {
		b.Field(5).(*array.TimestampBuilder).Append(arrow.Timestamp(*md.CreatedTime * 1000))
	} else {
		b.Field(5).AppendNull()
	}
	if ts, err := snap.Timestamp(ctx); err == nil {
		b.Field(6).(*array.TimestampBuilder).Append(arrow.Timestamp(ts.UnixMicro()))
	} else {
		b.Field(6).AppendNull()
	}
	appendStringList(b.Field(7), md.PartitionColumns)
	b.Field(8).(*array.Int64Builder).Append(int64(len(snap.Files())))
	b.Field(9).(*array.Int64Builder).Append(snap.SizeInBytes())
	props := make(map[string]any, len(md.Configuration))
	for k, v := range md.Configuration {
		props[k] = v
	}
	appendStringMap(b.Field(10), props)
	b.Field(11).(*array.Int32Builder).Append(int32(p.MinReaderVersion))
	b.Field(12).(*array.Int32Builder).Append(int32(p.MinWriterVersion))
	features := TableFeatures(p)
	appendStringList(b.Field(13), features)
	return tableResult(st, b.NewRecordBatch(), fmt.Sprintf("%s at version %d", ref.Name, snap.Version()),
		map[string]any{"table": ref.Name, "location": t.Location(), "version": snap.Version()})
}

func appendStringList(b array.Builder, items []string) {
	lb := b.(*array.ListBuilder)
	lb.Append(true)
	vb := lb.ValueBuilder().(*array.StringBuilder)
	for _, s := range items {
		vb.Append(s)
	}
}

// TableFeatures lists the features a protocol enables, sorted, as Spark's DESCRIBE DETAIL does: the
// named reader and writer features of a table-features protocol (reader 3 / writer 7), and for a
// legacy protocol the features its versions imply (writer 2: appendOnly, invariants; 3:
// checkConstraints; 4: changeDataFeed, generatedColumns; 5: columnMapping; 6: identityColumns).
func TableFeatures(p *delta.Protocol) []string {
	set := map[string]bool{}
	for _, f := range p.ReaderFeatures {
		set[f] = true
	}
	for _, f := range p.WriterFeatures {
		set[f] = true
	}
	implied := []struct {
		writer int
		names  []string
	}{
		{2, []string{"appendOnly", "invariants"}},
		{3, []string{"checkConstraints"}},
		{4, []string{"changeDataFeed", "generatedColumns"}},
		{5, []string{"columnMapping"}},
		{6, []string{"identityColumns"}},
	}
	if p.MinWriterVersion < 7 {
		for _, im := range implied {
			if p.MinWriterVersion >= im.writer {
				for _, n := range im.names {
					set[n] = true
				}
			}
		}
	}
	out := make([]string, 0, len(set))
	for f := range set {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

// --- SHOW TABLES ---

var showTablesSchema = arrow.NewSchema([]arrow.Field{
	{Name: "domain", Type: arrow.BinaryTypes.String},
	{Name: "table", Type: arrow.BinaryTypes.String},
	{Name: "location", Type: arrow.BinaryTypes.String},
	{Name: "version", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "numFiles", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "sizeInBytes", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
}, nil)

// TableInfo is one project table as SHOW TABLES lists it. Version, NumFiles and SizeInBytes are
// those of the latest snapshot; Err is set (and they are zero) when the table cannot be read.
type TableInfo struct {
	Domain, Table, Location string
	Version                 int64
	NumFiles                int
	SizeInBytes             int64
	// SchemaString is the table's Delta schema (JSON) at Version: equal strings mean equal
	// columns, so a caller can tell a schema change from a data change without describing it.
	SchemaString string
	Err          error
}

// ListTables lists the project's tables: the folders <storage>/<domain>/<table> that hold a
// _delta_log, sorted by domain and table, restricted to one domain when domain is not "". It lists
// the storage root through the storage layer (local or s3://) and loads each table's latest
// snapshot. Without a project it returns ErrNoProject.
func (e *Engine) ListTables(ctx context.Context, domain string) ([]TableInfo, error) {
	p := e.opts.Project
	if p == nil {
		return nil, fmt.Errorf("engine: SHOW TABLES lists a project's tables: %w (pass --project DIR or run where a strata.yaml is)", ErrNoProject)
	}
	root := p.StorageRoot
	if !storage.IsRemote(root) {
		if _, err := os.Stat(root); errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
	}
	store, err := storage.Open(ctx, root, e.opts.Storage)
	if err != nil {
		return nil, fmt.Errorf("engine: list tables under %s: %w", root, err)
	}
	prefix := ""
	if domain != "" {
		prefix = domain + "/"
	}
	objects, err := store.List(ctx, prefix, "")
	if err != nil {
		return nil, fmt.Errorf("engine: list tables under %s: %w", root, err)
	}
	seen := map[string]bool{}
	var out []TableInfo
	for _, o := range objects {
		parts := strings.SplitN(o.Key, "/", 4)
		if len(parts) < 4 || parts[2]+"/" != delta.LogDir {
			continue
		}
		key := parts[0] + "/" + parts[1]
		if seen[key] {
			continue
		}
		seen[key] = true
		loc, err := p.TableLocation(parts[0], parts[1])
		if err != nil {
			continue // not addressable as domain.table
		}
		out = append(out, TableInfo{Domain: parts[0], Table: parts[1], Location: loc})
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i := range out {
		g.Go(func() error {
			info := &out[i]
			t, err := e.openTable(gctx, info.Location)
			if err == nil {
				var snap *delta.Snapshot
				if snap, err = t.Snapshot(gctx, -1); err == nil {
					info.Version, info.NumFiles, info.SizeInBytes = snap.Version(), len(snap.Files()), snap.SizeInBytes()
					if md := snap.Metadata(); md != nil {
						info.SchemaString = md.SchemaString
					}
				}
			}
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				info.Err = fmt.Errorf("%s.%s: %w", info.Domain, info.Table, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Domain != out[j].Domain {
			return out[i].Domain < out[j].Domain
		}
		return out[i].Table < out[j].Table
	})
	return out, nil
}

func (e *Engine) showTables(ctx context.Context, st statement) (*Result, error) {
	const usage = "SHOW TABLES [IN domain] [[LIKE] 'pattern']"
	toks := st.Tokens
	i := 2
	domain := ""
	if i < len(toks) && (toks[i].is("IN") || toks[i].is("FROM")) {
		if i+1 >= len(toks) || toks[i+1].name() == "" {
			return nil, syntaxError(st, i+1, "SHOW TABLES %s needs a domain name", toks[i].Text)
		}
		domain, i = toks[i+1].name(), i+2
	}
	pattern := ""
	if i < len(toks) && toks[i].is("LIKE") {
		i++
		if i >= len(toks) || toks[i].Kind != tokString {
			return nil, syntaxError(st, i, "LIKE takes a quoted pattern ('orders*' or 'a*|b*')")
		}
	}
	if i < len(toks) && toks[i].Kind == tokString {
		pattern, i = toks[i].Value, i+1
	}
	if err := expectEnd(st, i, usage); err != nil {
		return nil, err
	}
	tables, err := e.ListTables(ctx, domain)
	if err != nil {
		return nil, err
	}
	b := array.NewRecordBuilder(memory.DefaultAllocator, showTablesSchema)
	defer b.Release()
	n := 0
	for _, ti := range tables {
		if pattern != "" && !matchTablePattern(pattern, ti.Table) {
			continue
		}
		n++
		b.Field(0).(*array.StringBuilder).Append(ti.Domain)
		b.Field(1).(*array.StringBuilder).Append(ti.Table)
		b.Field(2).(*array.StringBuilder).Append(ti.Location)
		if ti.Err != nil {
			b.Field(3).AppendNull()
			b.Field(4).AppendNull()
			b.Field(5).AppendNull()
			continue
		}
		b.Field(3).(*array.Int64Builder).Append(ti.Version)
		b.Field(4).(*array.Int64Builder).Append(int64(ti.NumFiles))
		b.Field(5).(*array.Int64Builder).Append(ti.SizeInBytes)
	}
	return tableResult(st, b.NewRecordBatch(), fmt.Sprintf("%d tables", n), map[string]any{"tables": n})
}

// matchTablePattern applies Spark's SHOW TABLES pattern: '*' matches any characters, '|' separates
// alternatives, and the match is case-insensitive over the whole name.
func matchTablePattern(pattern, name string) bool {
	for _, alt := range strings.Split(pattern, "|") {
		parts := strings.Split(strings.TrimSpace(alt), "*")
		for k, p := range parts {
			parts[k] = regexp.QuoteMeta(p)
		}
		re, err := regexp.Compile("(?i)^" + strings.Join(parts, ".*") + "$")
		if err == nil && re.MatchString(name) {
			return true
		}
	}
	return false
}

// --- VACUUM ---

var vacuumDryRunSchema = arrow.NewSchema([]arrow.Field{
	{Name: "path", Type: arrow.BinaryTypes.String},
	{Name: "sizeInBytes", Type: arrow.PrimitiveTypes.Int64},
	{Name: "modificationTime", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
}, nil)

func (e *Engine) vacuum(ctx context.Context, st statement) (*Result, error) {
	const usage = "VACUUM <table> [RETAIN n HOURS] [DRY RUN] [FORCE]"
	ref, i, err := e.target(st, 1, "VACUUM")
	if err != nil {
		return nil, err
	}
	toks := st.Tokens
	var retainHours *float64
	dryRun, force := false, false
	for i < len(toks) {
		switch {
		case toks[i].is("RETAIN") && retainHours == nil:
			if i+2 >= len(toks) || toks[i+1].Kind != tokNumber || !(toks[i+2].is("HOURS") || toks[i+2].is("HOUR")) {
				return nil, syntaxError(st, i+1, "RETAIN takes a number of hours: RETAIN 168 HOURS")
			}
			h, err := strconv.ParseFloat(toks[i+1].Text, 64)
			if err != nil || h < 0 {
				return nil, syntaxError(st, i+1, "RETAIN takes a non-negative number of hours")
			}
			retainHours = &h
			i += 3
		case toks[i].is("DRY") && !dryRun:
			if i+1 >= len(toks) || !toks[i+1].is("RUN") {
				return nil, syntaxError(st, i+1, "expected DRY RUN")
			}
			dryRun = true
			i += 2
		case toks[i].is("FORCE") && !force:
			force = true
			i++
		default:
			return nil, expectEnd(st, i, usage)
		}
	}
	t, snap, err := e.latest(ctx, ref)
	if err != nil {
		return nil, err
	}
	minRetention := delta.DeletedFileRetention(snap.Metadata())
	retention := minRetention
	if retainHours != nil {
		retention = time.Duration(*retainHours * float64(time.Hour))
	}
	if retention < minRetention && !force {
		return nil, fmt.Errorf("%s version %d: %w: RETAIN %s HOURS is shorter than the table's delta.deletedFileRetentionDuration (%s hours): "+
			"files that readers of recent versions still need could be deleted; add FORCE (VACUUM %s RETAIN %s HOURS FORCE) to vacuum anyway",
			ref.Name, snap.Version(), delta.ErrInvalidArgument, formatHours(retention), formatHours(minRetention), ref.Name, formatHours(retention))
	}
	plan, err := t.Kernel().PlanVacuum(ctx, snap, retention, true)
	if err != nil {
		return nil, fmt.Errorf("%s version %d: %w", ref.Name, snap.Version(), err)
	}
	fields := map[string]any{
		"table": ref.Name, "location": t.Location(), "version": snap.Version(), "dryRun": dryRun,
		"retentionHours": retention.Hours(), "numFiles": len(plan.Files), "sizeInBytes": plan.Bytes,
	}
	if dryRun {
		b := array.NewRecordBuilder(memory.DefaultAllocator, vacuumDryRunSchema)
		defer b.Release()
		base := strings.TrimSuffix(t.Location(), "/")
		for _, f := range plan.Files {
			b.Field(0).(*array.StringBuilder).Append(base + "/" + f.Key)
			b.Field(1).(*array.Int64Builder).Append(f.Size)
			b.Field(2).(*array.TimestampBuilder).Append(arrow.Timestamp(f.ModTime.UnixMicro()))
		}
		msg := fmt.Sprintf("%s version %d: VACUUM would delete %d files (%s) unreferenced for more than %s hours",
			ref.Name, snap.Version(), len(plan.Files), humanize.IBytes(uint64(plan.Bytes)), formatHours(retention))
		return tableResult(st, b.NewRecordBatch(), msg, fields)
	}
	deleted := 0
	if len(plan.Files) > 0 {
		deleted, err = t.Kernel().Vacuum(ctx, snap, plan)
		if err != nil {
			return nil, fmt.Errorf("%s version %d: vacuum (deleted %d of %d files): %w", ref.Name, snap.Version(), deleted, len(plan.Files), err)
		}
	}
	fields["numDeletedFiles"] = deleted
	msg := fmt.Sprintf("vacuumed %s: deleted %d files (%s) unreferenced for more than %s hours", ref.Name, deleted,
		humanize.IBytes(uint64(plan.Bytes)), formatHours(retention))
	return &Result{Statement: st.Text, Message: msg, Fields: fields}, nil
}

// formatHours renders a duration in hours without needless decimals ("168", "0.5").
func formatHours(d time.Duration) string { return strconv.FormatFloat(d.Hours(), 'f', -1, 64) }

// --- RESTORE ---

// restoreSchema is RESTORE's one row: Spark's metrics.
var restoreSchema = arrow.NewSchema([]arrow.Field{
	{Name: "table_size_after_restore", Type: arrow.PrimitiveTypes.Int64},
	{Name: "num_of_files_after_restore", Type: arrow.PrimitiveTypes.Int64},
	{Name: "num_removed_files", Type: arrow.PrimitiveTypes.Int64},
	{Name: "num_restored_files", Type: arrow.PrimitiveTypes.Int64},
	{Name: "removed_files_size", Type: arrow.PrimitiveTypes.Int64},
	{Name: "restored_files_size", Type: arrow.PrimitiveTypes.Int64},
}, nil)

// restoreMetrics maps restoreSchema's columns to the operationMetrics of the RESTORE commit.
var restoreMetrics = []string{"tableSizeAfterRestore", "numOfFilesAfterRestore", "numRemovedFiles", "numRestoredFiles", "removedFilesSize", "restoredFilesSize"}

func (e *Engine) restore(ctx context.Context, st statement) (*Result, error) {
	const usage = "RESTORE [TABLE] <table> [TO] VERSION AS OF n | TIMESTAMP AS OF 'timestamp'"
	toks := st.Tokens
	i := 1
	if i < len(toks) && toks[i].is("TABLE") {
		i++
	}
	ref, i, err := e.target(st, i, "RESTORE")
	if err != nil {
		return nil, err
	}
	if i < len(toks) && toks[i].is("TO") {
		i++
	}
	if i+2 >= len(toks) || !(toks[i].is("VERSION") || toks[i].is("TIMESTAMP")) || !toks[i+1].is("AS") || !toks[i+2].is("OF") {
		return nil, syntaxError(st, i, "expected VERSION AS OF n or TIMESTAMP AS OF 'timestamp'; the statement is %s", usage)
	}
	byVersion := toks[i].is("VERSION")
	i += 3
	if i >= len(toks) {
		return nil, syntaxError(st, i, "expected the version or timestamp to restore")
	}
	var version int64
	var ts time.Time
	if byVersion {
		if toks[i].Kind != tokNumber {
			return nil, syntaxError(st, i, "VERSION AS OF takes a non-negative integer")
		}
		if version, err = strconv.ParseInt(toks[i].Text, 10, 64); err != nil || version < 0 {
			return nil, syntaxError(st, i, "VERSION AS OF takes a non-negative integer")
		}
		if err := expectEnd(st, i+1, usage); err != nil {
			return nil, err
		}
	} else if !balanced(toks[i:]) {
		return nil, syntaxError(st, i, "TIMESTAMP AS OF takes one constant expression")
	} else if ts, err = e.evalTimestamp(ctx, st.Text[toks[i].Start:]); err != nil {
		return nil, fmt.Errorf("%s: RESTORE TIMESTAMP AS OF %s: %w", ref.Name, st.Text[toks[i].Start:], err)
	}
	t, cur, err := e.latest(ctx, ref)
	if err != nil {
		return nil, err
	}
	if byVersion && version > cur.Version() {
		return nil, fmt.Errorf("%s: %w: version %d does not exist; the latest version is %d", ref.Name, delta.ErrVersionNotFound, version, cur.Version())
	}
	if !byVersion {
		target, err := t.SnapshotAt(ctx, ts)
		if err != nil {
			return nil, fmt.Errorf("%s: restore to %s: %w", ref.Name, ts.Format(time.RFC3339Nano), err)
		}
		version = target.Version()
	}
	if version == cur.Version() {
		return nil, fmt.Errorf("%s: %w: the table is already at version %d; nothing to restore", ref.Name, delta.ErrInvalidArgument, version)
	}
	tx, err := t.Kernel().Restore(ctx, cur, version)
	if err != nil {
		return nil, fmt.Errorf("%s: restore to version %d: %w", ref.Name, version, err)
	}
	res, err := tx.Commit(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: restore to version %d (read version %d): %w", ref.Name, version, cur.Version(), err)
	}
	metrics := map[string]int64{}
	if actions, err := t.Kernel().ReadCommit(ctx, res.Version); err == nil {
		for _, a := range actions {
			if m, ok := a.CommitInfo["operationMetrics"].(map[string]any); ok {
				for k, v := range m {
					if n, err := strconv.ParseInt(jsonText(v), 10, 64); err == nil {
						metrics[k] = n
					}
				}
			}
		}
	}
	b := array.NewRecordBuilder(memory.DefaultAllocator, restoreSchema)
	defer b.Release()
	fields := map[string]any{"table": ref.Name, "location": t.Location(), "version": res.Version, "restoredVersion": version}
	for k, name := range restoreMetrics {
		b.Field(k).(*array.Int64Builder).Append(metrics[name])
		fields[restoreSchema.Field(k).Name] = metrics[name]
	}
	msg := fmt.Sprintf("restored %s to version %d: version %d (%d files restored, %d removed)", ref.Name, version, res.Version,
		metrics["numRestoredFiles"], metrics["numRemovedFiles"])
	return tableResult(st, b.NewRecordBatch(), msg, fields)
}

// balanced reports whether the parentheses of toks pair up, none closing one it did not open (so
// the text cannot close the expression it is embedded in).
func balanced(toks []token) bool {
	depth := 0
	for _, t := range toks {
		switch {
		case t.punct("("):
			depth++
		case t.punct(")"):
			if depth--; depth < 0 {
				return false
			}
		}
	}
	return depth == 0
}

// evalTimestamp evaluates a constant SQL expression (a string such as '2026-01-01 10:00', a
// TIMESTAMP literal, now() - INTERVAL 1 HOUR) with DuckDB, in UTC, as an instant.
func (e *Engine) evalTimestamp(ctx context.Context, expr string) (time.Time, error) {
	c, err := e.connect(ctx)
	if err != nil {
		return time.Time{}, err
	}
	defer c.Close()
	out, err := c.queryString(ctx, "SELECT CAST(epoch_us(CAST(("+expr+"\n) AS TIMESTAMPTZ)) AS VARCHAR)")
	if err != nil {
		return time.Time{}, duckError(err)
	}
	us, err := strconv.ParseInt(out, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("not a timestamp: %s", out)
	}
	return time.UnixMicro(us).UTC(), nil
}

// --- script text, for the CLI and the shell ---

// ScriptStatement is one statement of a script.
type ScriptStatement struct {
	// Text is the statement without its terminating semicolon.
	Text string
	// Line is the 1-based line of the script on which the statement starts.
	Line int
}

// FirstLine returns the statement's first line (for error messages).
func (s ScriptStatement) FirstLine() string {
	line, _, _ := strings.Cut(s.Text, "\n")
	return strings.TrimSpace(line)
}

// SplitScript splits a script into its statements at top-level semicolons (not those inside
// strings, quoted identifiers, comments or parentheses); the last statement may lack its
// semicolon. An unterminated string, quoted identifier or comment is a *SyntaxError with its
// position.
func SplitScript(script string) ([]ScriptStatement, error) {
	stmts, err := splitStatements(script)
	if err != nil {
		return nil, err
	}
	out := make([]ScriptStatement, len(stmts))
	for i, st := range stmts {
		out[i] = ScriptStatement{Text: st.Text, Line: strings.Count(script[:st.Offset], "\n") + 1}
	}
	return out, nil
}

// CompleteStatements splits text typed so far (in an interactive shell) into the statements it
// completes, each ended by a top-level semicolon, and the rest, which needs more input: text after
// the last such semicolon, including an unterminated string or comment. Lines are counted from 1
// at the start of text.
func CompleteStatements(text string) (complete []ScriptStatement, rest string) {
	scan := text
	if _, err := tokenize(scan); err != nil {
		var se *SyntaxError
		if !errors.As(err, &se) {
			return nil, text
		}
		scan = text[:se.Pos] // everything before the unterminated token is well formed
	}
	toks, err := tokenize(scan)
	if err != nil {
		return nil, text
	}
	end, depth := -1, 0
	for _, t := range toks {
		switch {
		case t.punct("("):
			depth++
		case t.punct(")"):
			depth--
		case t.punct(";") && depth <= 0:
			end, depth = t.End, 0
		}
	}
	if end < 0 {
		return nil, text
	}
	stmts, err := SplitScript(text[:end])
	if err != nil {
		return nil, text
	}
	return stmts, text[end:]
}
