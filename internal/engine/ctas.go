package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/parquetio"
)

// CREATE TABLE for Delta tables:
//
//	CREATE [OR REPLACE] TABLE [IF NOT EXISTS] <target> [(column definitions)] [USING DELTA]
//	  [PARTITIONED BY (cols)] [COMMENT 'text'] [TBLPROPERTIES ('key' = 'value', ...)] [AS query]
//	REPLACE TABLE <target> ... (the same clauses)
//
// where <target> is domain.table of the project or delta.`path`. With a query (CTAS) the schema
// is the query's (DuckDB's types mapped to Delta's; columns nullable) and the table is created
// with its data in one commit, version 0. Column definitions (Spark or DuckDB type names) create
// an empty table. OR REPLACE replaces the schema, properties and data of an existing table in
// one commit (the table keeps its id and history); IF NOT EXISTS does nothing when the table
// exists.

func init() { registerHandler(createTableHandler) }

// createTable is a parsed CREATE TABLE.
type createTable struct {
	ref         *targetRef
	replace     bool // OR REPLACE, or REPLACE TABLE
	orReplace   bool // CREATE OR REPLACE (creates when missing)
	ifNotExists bool
	columns     string // column definitions text
	partitionBy []string
	properties  map[string]string
	comment     string
	query       string // the AS query ("" without)
}

func createTableHandler(e *Engine, st statement) func(context.Context) (*Result, error) {
	ct := &createTable{}
	var i int
	switch {
	case headIs(st, "CREATE", "TABLE"):
		i = 2
	case headIs(st, "CREATE", "OR", "REPLACE", "TABLE"):
		ct.replace, ct.orReplace, i = true, true, 4
	case headIs(st, "REPLACE", "TABLE"):
		ct.replace, i = true, 2
	default:
		return nil
	}
	toks := st.Tokens
	if i+2 < len(toks) && toks[i].is("IF") && toks[i+1].is("NOT") && toks[i+2].is("EXISTS") {
		ct.ifNotExists = true
		i += 3
	}
	ref, ok, err := e.parseTarget(st, i)
	if err != nil {
		return errRun(err)
	}
	if !ok || ref.Domain != "" && isDuckSchema(ref.Domain) {
		return nil
	}
	ct.ref = ref
	if err := parseCreateTable(st, ref.End, ct); err != nil {
		return errRun(err)
	}
	return func(ctx context.Context) (*Result, error) {
		if ref.Domain != "" && e.duckSchemaExists(ctx, ref.Domain) {
			return e.runDuckDB(ctx, st)
		}
		return e.runCreateTable(ctx, st, ct)
	}
}

// duckSchemaExists reports whether DuckDB has a schema of that name (made with CREATE SCHEMA).
func (e *Engine) duckSchemaExists(ctx context.Context, name string) bool {
	c, err := e.connect(ctx)
	if err != nil {
		return false
	}
	defer c.Close()
	v, err := c.queryValues(ctx, "SELECT count(*) FROM duckdb_schemas() WHERE schema_name = "+quoteString(name))
	return err == nil && toInt64(v[0]) > 0
}

// parseCreateTable reads the clauses after the table name.
func parseCreateTable(st statement, i int, ct *createTable) error {
	toks := st.Tokens
	name := ct.ref.Name
	if i < len(toks) && toks[i].punct("(") {
		close, ok := matchParen(toks, i)
		if !ok {
			return fmt.Errorf("engine: CREATE TABLE %s: unbalanced column definitions", name)
		}
		ct.columns = textBetween(st.Text, toks, i+1, close)
		i = close + 1
	}
	for i < len(toks) {
		switch {
		case toks[i].is("AS"):
			if i+1 >= len(toks) {
				return fmt.Errorf("engine: CREATE TABLE %s: expected a query after AS", name)
			}
			ct.query = st.Text[toks[i+1].Start:]
			i = len(toks)
		case toks[i].is("USING"):
			if i+1 >= len(toks) || !toks[i+1].is("DELTA") {
				return fmt.Errorf("engine: CREATE TABLE %s: Strata tables are Delta tables (USING DELTA)", name)
			}
			i += 2
		case toks[i].is("PARTITIONED") && i+2 < len(toks) && toks[i+1].is("BY") && toks[i+2].punct("("):
			close, ok := matchParen(toks, i+2)
			if !ok {
				return fmt.Errorf("engine: CREATE TABLE %s: unbalanced PARTITIONED BY", name)
			}
			for k := i + 3; k < close; k++ {
				switch {
				case toks[k].name() != "" && (k+1 == close || toks[k+1].punct(",")):
					ct.partitionBy = append(ct.partitionBy, toks[k].name())
				case toks[k].punct(","):
				default:
					return fmt.Errorf("engine: CREATE TABLE %s: PARTITIONED BY takes column names, got %q", name, toks[k].Text)
				}
			}
			i = close + 1
		case toks[i].is("COMMENT") && i+1 < len(toks) && toks[i+1].Kind == tokString:
			ct.comment = toks[i+1].Value
			i += 2
		case toks[i].is("TBLPROPERTIES") && i+1 < len(toks) && toks[i+1].punct("("):
			close, ok := matchParen(toks, i+1)
			if !ok {
				return fmt.Errorf("engine: CREATE TABLE %s: unbalanced TBLPROPERTIES", name)
			}
			props, err := parseProperties(st, i+2, close)
			if err != nil {
				return fmt.Errorf("engine: CREATE TABLE %s: %w", name, err)
			}
			ct.properties = props
			i = close + 1
		default:
			return fmt.Errorf("engine: CREATE TABLE %s: unexpected %q (Strata takes column definitions, USING DELTA, PARTITIONED BY, COMMENT, TBLPROPERTIES and AS query)", name, toks[i].Text)
		}
	}
	if ct.columns == "" && ct.query == "" {
		return fmt.Errorf("engine: CREATE TABLE %s: give column definitions or AS query", name)
	}
	if ct.columns != "" && ct.query != "" {
		return fmt.Errorf("engine: CREATE TABLE %s: give column definitions or AS query, not both", name)
	}
	return nil
}

// parseProperties reads 'key' = 'value' pairs (keys may also be dotted names, values bare words
// or numbers; the = is optional) from toks[from:to].
func parseProperties(st statement, from, to int) (map[string]string, error) {
	toks := st.Tokens
	props := map[string]string{}
	for k := from; k < to; {
		end := findTop(toks, k, to, func(j int) bool { return toks[j].punct(",") })
		if end < 0 {
			end = to
		}
		j := k
		var key string
		if toks[j].Kind == tokString {
			key = toks[j].Value
			j++
		} else {
			for j < end && (toks[j].name() != "" || toks[j].punct(".")) {
				if toks[j].punct(".") {
					key += "."
				} else {
					key += toks[j].name()
				}
				j++
			}
		}
		if j < end && toks[j].punct("=") {
			j++
		}
		if key == "" || j != end-1 {
			return nil, fmt.Errorf("TBLPROPERTIES: expected 'key' = 'value' at %q", textBetween(st.Text, toks, k, end))
		}
		props[key] = toks[j].Value
		if toks[j].Kind != tokString {
			props[key] = toks[j].Text
		}
		k = end + 1
	}
	return props, nil
}

func (ct *createTable) operation() string {
	verb := "CREATE TABLE"
	switch {
	case ct.orReplace:
		verb = "CREATE OR REPLACE TABLE"
	case ct.replace:
		verb = "REPLACE TABLE"
	}
	if ct.query != "" {
		verb += " AS SELECT"
	}
	return verb
}

func (e *Engine) runCreateTable(ctx context.Context, st statement, ct *createTable) (*Result, error) {
	t0 := time.Now()
	ref := ct.ref
	t, err := e.openTable(ctx, ref.Location)
	if err != nil {
		return nil, err
	}
	snap, err := t.Snapshot(ctx, -1)
	exists := err == nil
	if err != nil && !errors.Is(err, delta.ErrNotATable) {
		return nil, err
	}
	out := &writeOutcome{target: ref, operation: ct.operation(), version: -1}
	switch {
	case exists && ct.ifNotExists:
		out.version = snap.Version()
		out.message = fmt.Sprintf("table %s already exists: %s", ref.Name, versionNote(false, snap.Version()))
		return out.result(st), nil
	case exists && !ct.replace:
		return nil, fmt.Errorf("engine: CREATE TABLE %s: %w at %s (version %d); use CREATE OR REPLACE TABLE or IF NOT EXISTS", ref.Name, delta.ErrTableExists, ref.Location, snap.Version())
	case !exists && ct.replace && !ct.orReplace:
		return nil, fmt.Errorf("%w: REPLACE TABLE %s: there is no table at %s (use CREATE OR REPLACE TABLE)", ErrUnknownTable, ref.Name, ref.Location)
	}
	if exists {
		out.version = snap.Version()
		if err := snap.Protocol().CheckWritable(snap.Metadata()); err != nil {
			return nil, fmt.Errorf("engine: %s version %d: %w", ref.Name, snap.Version(), err)
		}
	}
	c, err := e.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()

	var schema *delta.StructType
	var query string
	if ct.columns != "" {
		if schema, err = delta.ParseDDLSchema(ct.columns); err != nil {
			return nil, fmt.Errorf("engine: CREATE TABLE %s: %w", ref.Name, err)
		}
	} else {
		bound, scans, err := e.bindText(ctx, c, ct.query)
		if err != nil {
			return nil, err
		}
		out.scans = scans
		if self, err := readsLocation(scans, t.Location(), out.version); err != nil {
			return nil, err
		} else if self && !exists {
			return nil, fmt.Errorf("engine: CREATE TABLE %s reads itself", ref.Name)
		}
		rr, err := c.query(ctx, "SELECT * FROM (\n"+bound+"\n) LIMIT 0")
		if err != nil {
			return nil, duckError(err)
		}
		arrowSchema := rr.Schema()
		rr.Release()
		if schema, err = delta.FromArrowSchema(arrowSchema); err != nil {
			return nil, fmt.Errorf("engine: CREATE TABLE %s AS: %w (cast the column to a type Delta has)", ref.Name, err)
		}
		for _, f := range schema.Fields {
			f.Nullable = true
		}
		cols := make([]string, len(schema.Fields))
		for i, f := range schema.Fields {
			cols[i] = "CAST(" + quoteIdent(arrowSchema.Field(i).Name) + " AS " + duckType(f.Type) + ") AS " + quoteIdent(f.Name)
		}
		query = "SELECT " + strings.Join(cols, ", ") + " FROM (\n" + bound + "\n)"
	}
	proto, md, err := delta.NewTableMetadata(delta.CreateOptions{Schema: schema, PartitionColumns: ct.partitionBy, Properties: ct.properties,
		Description: ct.comment}, t.Kernel().Now().UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("engine: CREATE TABLE %s: %w", ref.Name, err)
	}
	spec := commitSpec{op: delta.Operation{Name: out.operation, Parameters: map[string]any{
		"isManaged": "false", "description": ct.comment, "partitionBy": nonNilStrings(md.PartitionColumns), "properties": md.Configuration,
	}}, metadata: md, protocol: proto}
	if exists {
		md.ID = snap.Metadata().ID
		spec.protocol = mergeProtocols(snap.Protocol(), proto)
		spec.removes = snap.Files()
		spec.readWhole = true
	}
	var files []parquetio.DataFile
	if query != "" {
		written, err := md.Schema()
		if err != nil {
			return nil, err
		}
		files, err = e.writeQuery(ctx, c, t, written, md.PartitionColumns, md.Configuration, query)
		if err != nil {
			return nil, err
		}
		spec.adds = files
		rows, bytes := sumWritten(files)
		spec.metrics = map[string]any{"numFiles": len(files), "numOutputRows": rows, "numOutputBytes": bytes}
		if exists {
			spec.metrics["numRemovedFiles"] = len(spec.removes)
			spec.metrics["numRemovedBytes"] = sumSizes(spec.removes)
		}
		spec.metrics["executionTimeMs"] = sinceMillis(t0)
	}
	out.metrics = spec.metrics
	res, err := e.commit(ctx, t, snap, spec)
	if err != nil {
		if !exists && ct.ifNotExists && errors.Is(err, delta.ErrTableExists) {
			out.message = fmt.Sprintf("table %s already exists", ref.Name)
			return out.result(st), nil
		}
		return nil, err
	}
	out.version, out.committed = res.Version, true
	rows, _ := sumWritten(files)
	verb := "created"
	if exists {
		verb = "replaced"
	}
	if ct.query != "" {
		out.message = fmt.Sprintf("%s %s with %d rows: version %d", verb, ref.Name, rows, res.Version)
	} else {
		out.message = fmt.Sprintf("%s %s: version %d", verb, ref.Name, res.Version)
	}
	return out.result(st), nil
}

// legacyWriterFeatures are the writer features each legacy writer version implies (the
// protocol's "Table Features" section).
var legacyWriterFeatures = map[int][]string{
	2: {"appendOnly", "invariants"},
	3: {"appendOnly", "invariants", "checkConstraints"},
	4: {"appendOnly", "invariants", "checkConstraints", "changeDataFeed", "generatedColumns"},
	5: {"appendOnly", "invariants", "checkConstraints", "changeDataFeed", "generatedColumns", "columnMapping"},
	6: {"appendOnly", "invariants", "checkConstraints", "changeDataFeed", "generatedColumns", "columnMapping", "identityColumns"},
}

func writerFeatureSet(p *delta.Protocol) []string {
	if p.MinWriterVersion >= 7 {
		return p.WriterFeatures
	}
	return legacyWriterFeatures[p.MinWriterVersion]
}

func readerFeatureSet(p *delta.Protocol) []string {
	switch p.MinReaderVersion {
	case 3:
		return p.ReaderFeatures
	case 2:
		return []string{"columnMapping"}
	}
	return nil
}

// mergeProtocols returns the protocol a table replaced in place needs: old when it already
// supports everything new asks for (nil: no protocol action), else one supporting both (protocols
// never go down).
func mergeProtocols(old, new *delta.Protocol) *delta.Protocol {
	subset := func(a, b []string) bool {
		for _, x := range a {
			if !slices.Contains(b, x) {
				return false
			}
		}
		return true
	}
	if old.MinReaderVersion >= new.MinReaderVersion && old.MinWriterVersion >= new.MinWriterVersion &&
		subset(readerFeatureSet(new), readerFeatureSet(old)) && subset(writerFeatureSet(new), writerFeatureSet(old)) {
		return nil
	}
	if old.MinWriterVersion < 7 && new.MinWriterVersion < 7 {
		return &delta.Protocol{MinReaderVersion: max(old.MinReaderVersion, new.MinReaderVersion), MinWriterVersion: max(old.MinWriterVersion, new.MinWriterVersion)}
	}
	out := &delta.Protocol{MinReaderVersion: max(old.MinReaderVersion, new.MinReaderVersion), MinWriterVersion: 7}
	readers := append(slices.Clone(readerFeatureSet(old)), readerFeatureSet(new)...)
	if new.MinReaderVersion == 3 || old.MinReaderVersion == 3 {
		out.MinReaderVersion = 3
		slices.Sort(readers)
		out.ReaderFeatures = slices.Compact(readers)
	}
	writers := append(slices.Clone(writerFeatureSet(old)), writerFeatureSet(new)...)
	writers = append(writers, readers...)
	slices.Sort(writers)
	out.WriterFeatures = slices.Compact(writers)
	return out
}
