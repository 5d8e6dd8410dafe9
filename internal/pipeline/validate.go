package pipeline

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/stream"
	"github.com/stratalake/strata/internal/stream/source"
	"github.com/stratalake/strata/internal/table"
)

// Warning is something validation could not check (e.g. a landing folder with no file yet, so
// the files' columns are unknown).
type Warning struct {
	Pos Pos
	Msg string
}

func (w Warning) String() string { return w.Pos.String() + ": " + w.Msg }

// Validate compiles every node and type-checks it: DuckDB binds each compiled query over empty
// inputs with the schemas of its inputs (source records, existing tables, or the schemas computed
// for the pipeline's tables before it), so an unknown column, a wrong type or a non-boolean
// expectation is found before anything runs. It returns every error found (joined, wrapping
// ErrInvalid) and the warnings. After a successful Validate the pipeline can run.
func (p *Pipeline) Validate(ctx context.Context) ([]Warning, error) {
	var errs []error
	var warns []Warning
	failed := map[*Node]bool{}
	for _, n := range p.Nodes {
		skip := false
		for _, d := range n.Deps {
			if failed[d] {
				skip = true
			}
		}
		if n.Kind() == Flow && failed[n.Target] {
			skip = true
		}
		if skip {
			failed[n] = true
			continue
		}
		b := &binding{validate: true, placeholders: map[string]*Node{}}
		info, err := p.compile(ctx, n, b)
		if err != nil {
			errs = append(errs, err)
			failed[n] = true
			continue
		}
		n.info = info
		w, err := p.typeCheck(ctx, n, b)
		warns = append(warns, w...)
		if err != nil {
			errs = append(errs, err)
			failed[n] = true
		}
	}
	if err := ctx.Err(); err != nil {
		return warns, fmt.Errorf("pipeline: validate: %w", err) // not an invalid pipeline: stopped
	}
	if len(errs) > 0 {
		return warns, invalid(errs)
	}
	// Compile again bound to the stored tables, for running.
	for _, n := range p.Nodes {
		schema := n.info.schema
		info, err := p.compile(ctx, n, &binding{})
		if err != nil {
			return warns, err
		}
		info.schema = schema
		n.info = info
	}
	return warns, nil
}

// typeCheck binds a compiled node over empty inputs and records its output schema (nil when an
// input's schema is unknown: then the check is skipped with a warning).
func (p *Pipeline) typeCheck(ctx context.Context, n *Node, b *binding) ([]Warning, error) {
	info := n.info
	st := n.Stmt
	inputs := map[string]*arrow.Schema{}
	for name, dep := range b.placeholders {
		if dep.info == nil || dep.info.schema == nil {
			return []Warning{{st.Pos, fmt.Sprintf("not type-checked: the columns of %s are not known yet", dep.Name)}}, nil
		}
		inputs[name] = dep.info.schema
	}
	switch info.mode {
	case ModeView:
		sql, err := p.parser.deparse(ctx, info.view)
		if err != nil {
			return nil, err
		}
		s, err := p.bind(ctx, sql, inputs)
		if err != nil {
			return nil, p.bindError(st, err)
		}
		info.schema = s
		return nil, nil
	case ModeTarget:
		// The schema comes from its flow (compiled after it).
		return nil, nil
	case ModeRecompute:
		s, err := p.bind(ctx, info.sql, inputs)
		if err != nil {
			return nil, p.bindError(st, err)
		}
		info.schema = s
		return nil, nil
	}
	// Streaming queries: the source's schema under src0.
	q := info.query
	src := q.Sources[0]
	switch {
	case src.Topic != "":
		inputs[srcName] = stream.WithPosition(source.RawSchema)
	default:
		owner := n
		if info.fusedOnto != "" {
			owner = p.Node(info.fusedOnto)
		}
		s, warn, err := p.sourceSchema(ctx, owner, src.Table)
		if err != nil {
			return nil, err
		}
		if s == nil {
			return []Warning{{st.Pos, warn}}, nil
		}
		inputs[srcName] = stream.WithPosition(s)
	}
	if info.mode == ModeIncremental {
		ts, err := p.bind(ctx, q.SQL, inputs)
		if err != nil {
			return nil, p.bindError(st, err)
		}
		delete(inputs, srcName)
		dep := n.Inputs[0].Node
		inputs[placeholder(dep)] = dep.info.schema
		if _, err := p.bind(ctx, info.sql, inputs); err != nil {
			return nil, p.bindError(st, err)
		}
		// The stored columns: the query's order, the runtime's aggregate types.
		var fields []arrow.Field
		for _, c := range info.columns {
			var dt arrow.DataType = arrow.PrimitiveTypes.Int64
			if c.source != "*" {
				i := ts.FieldIndices(c.source)
				if i == nil {
					return nil, fmt.Errorf("pipeline: %s: internal error: no column %s in the transform", n.Name, c.source)
				}
				dt = ts.Field(i[0]).Type
			}
			if c.agg {
				if dt, err = stream.AggregateType(c.fn, dt); err != nil {
					return nil, &ValidationError{st.QueryPos, fmt.Sprintf("%s: %v", c.name, err)}
				}
			}
			fields = append(fields, arrow.Field{Name: c.name, Type: dt, Nullable: true})
		}
		info.schema = arrow.NewSchema(fields, nil)
		return nil, nil
	}
	base := q.SQL
	if info.mode == ModeStream {
		base = info.base
	}
	if info.undeclared != "" {
		s0, err := p.bind(ctx, info.undeclared, inputs)
		if err != nil {
			return nil, p.bindError(st, err)
		}
		if err := checkDeclared(st, withoutControl(s0)); err != nil {
			return nil, err
		}
	}
	s, err := p.bind(ctx, base, inputs)
	if err != nil {
		return nil, p.bindError(st, err)
	}
	for _, e := range st.Expectations {
		es, err := p.bind(ctx, "SELECT ("+e.Expr+") AS expectation FROM ("+base+")", inputs)
		if err != nil {
			return nil, bindErrorAt(e.ExprPos, err)
		}
		if t := es.Field(0).Type; t.ID() != arrow.BOOL {
			return nil, &ValidationError{e.ExprPos, fmt.Sprintf("expectation %s is not a boolean expression (it is %s)", e.Name, t)}
		}
	}
	out := withoutControl(s)
	for _, col := range []string{q.EventTime} {
		if col != "" && out.FieldIndices(col) == nil {
			return nil, &ValidationError{st.Watermarks[0].Pos, fmt.Sprintf("the WATERMARK column %s is not in the output of %s: select it (under the same name)", col, n.Name)}
		}
	}
	if q.Dedup != nil {
		for _, k := range q.Dedup.Columns {
			if out.FieldIndices(k) == nil {
				return nil, &ValidationError{st.QueryPos, fmt.Sprintf("the deduplication key %s is not an output column of %s", k, n.Name)}
			}
		}
	}
	if info.mode == ModeCDC {
		for _, k := range st.CDC.Keys {
			if out.FieldIndices(k) == nil {
				return nil, &ValidationError{st.CDC.SourcePos, fmt.Sprintf("the key %s is not a column of the changes", k)}
			}
		}
		fields := []arrow.Field{}
		for _, f := range out.Fields() {
			if f.Name != colDelete && f.Name != colSequence {
				fields = append(fields, f)
			}
		}
		if st.CDC.SCDType == 2 {
			seq := s.Field(s.FieldIndices(colSequence)[0]).Type
			fields = append(fields, arrow.Field{Name: stream.ColumnStartAt, Type: seq, Nullable: true}, arrow.Field{Name: stream.ColumnEndAt, Type: seq, Nullable: true})
		}
		info.targetSchema = arrow.NewSchema(fields, nil)
	}
	info.schema = out
	return nil, nil
}

// checkDeclared checks that a query produces exactly the columns its table declares.
func checkDeclared(st *Statement, out *arrow.Schema) error {
	declared := map[string]bool{}
	for _, c := range st.Columns {
		declared[strings.ToLower(c.Name)] = true
		if out.FieldIndices(c.Name) == nil {
			return &ValidationError{c.Pos, fmt.Sprintf("column %s is declared but the query does not produce it", c.Name)}
		}
	}
	for _, f := range out.Fields() {
		if !declared[strings.ToLower(f.Name)] {
			return &ValidationError{st.QueryPos, fmt.Sprintf("the query produces column %s, which the column list of %s does not declare", f.Name, st.Name)}
		}
	}
	return nil
}

// withoutControl drops the compiled SQL's control columns.
func withoutControl(s *arrow.Schema) *arrow.Schema {
	var fields []arrow.Field
	for _, f := range s.Fields() {
		if !strings.HasPrefix(f.Name, "__strata_") && f.Name != colReason && f.Name != colRaw && f.Name != colSource {
			fields = append(fields, f)
		}
	}
	return arrow.NewSchema(fields, nil)
}

// sourceSchema is the schema a Delta stream source presents: a pipeline table's computed schema,
// an existing table's, or (for a file intake not created yet) the first landing file's.
func (p *Pipeline) sourceSchema(ctx context.Context, n *Node, location string) (*arrow.Schema, string, error) {
	for _, in := range n.Inputs {
		if in.Node != nil && in.Node.Location == location {
			if in.Node.info == nil || in.Node.info.schema == nil {
				return nil, fmt.Sprintf("not type-checked: the columns of %s are not known yet", in.Node.Name), nil
			}
			return in.Node.info.schema, "", nil
		}
	}
	if tableExists(location) {
		t, err := table.Open(ctx, location)
		if err != nil {
			return nil, "", err
		}
		snap, err := t.Snapshot(ctx, -1)
		if err != nil {
			return nil, "", fmt.Errorf("pipeline: %s: %w", location, err)
		}
		return delta.ToArrowSchema(snap.Schema()), "", nil
	}
	if fi := n.info.intake; fi != nil && fi.Table == location {
		var in *Input
		for _, i := range n.Inputs {
			if i.kind == refFiles {
				in = i
			}
		}
		s, err := p.filesSchema(ctx, fi)
		if err != nil {
			return nil, "", &ValidationError{in.Pos, err.Error()}
		}
		if s == nil {
			return nil, fmt.Sprintf("not type-checked: no file matches %s yet (give schema => '...' to check it now)", in.Name), nil
		}
		return s, "", nil
	}
	return nil, "", fmt.Errorf("pipeline: %s: no table at %s", n.Name, location)
}

// bind returns the schema of a query over empty inputs.
func (p *Pipeline) bind(ctx context.Context, sql string, inputs map[string]*arrow.Schema) (*arrow.Schema, error) {
	readers := map[string]array.RecordReader{}
	for name, s := range inputs {
		r, err := array.NewRecordReader(s, nil)
		if err != nil {
			return nil, err
		}
		readers[name] = r
	}
	defer func() {
		for _, r := range readers {
			r.Release()
		}
	}()
	res, err := p.eng.QueryWith(ctx, "SELECT * FROM ("+sql+"\n) LIMIT 0", readers)
	if err != nil {
		return nil, err
	}
	defer res.Records.Release()
	return res.Records.Schema(), nil
}

var (
	columnNotFound = regexp.MustCompile(`(?i)column "?([^"\s]+)"? (?:not found|does not exist)`)
	quotedName     = regexp.MustCompile(`"([^"]+)"`)
)

// bindError places a DuckDB binder error in the statement: at the first occurrence of the name
// it complains about in the query text, else at the query's start.
func (p *Pipeline) bindError(st *Statement, err error) error {
	msg := cleanDuckError(err)
	pos := st.QueryPos
	name := ""
	if m := columnNotFound.FindStringSubmatch(msg); m != nil {
		name = m[1]
	} else if m := quotedName.FindStringSubmatch(msg); m != nil {
		name = m[1]
	}
	if name != "" {
		if i := findIdent(st.Query, name); i >= 0 {
			pos = st.PosAt(i)
		}
	}
	return &ValidationError{pos, msg}
}

func bindErrorAt(pos Pos, err error) error { return &ValidationError{pos, cleanDuckError(err)} }

// cleanDuckError keeps the first line of DuckDB's message (its LINE/caret lines point into the
// generated SQL, not the user's file) and the candidate list.
func cleanDuckError(err error) string {
	var msg string
	for e := err; e != nil; e = errors.Unwrap(e) {
		msg = e.Error()
	}
	msg = err.Error()
	lines := strings.Split(msg, "\n")
	out := []string{strings.TrimSpace(lines[0])}
	for _, l := range lines[1:] {
		if strings.HasPrefix(strings.TrimSpace(l), "Candidate") {
			out = append(out, strings.TrimSpace(l))
		}
	}
	return strings.Join(out, " ")
}

// findIdent returns the byte offset of name as a whole word in s, case-insensitively, or -1.
func findIdent(s, name string) int {
	ls, ln := strings.ToLower(s), strings.ToLower(name)
	for i := 0; ; {
		j := strings.Index(ls[i:], ln)
		if j < 0 {
			return -1
		}
		j += i
		before := j == 0 || !isWordByte(ls[j-1])
		after := j+len(ln) >= len(ls) || !isWordByte(ls[j+len(ln)])
		if before && after {
			return j
		}
		i = j + 1
	}
}

func isWordByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// filesSchema is the schema a file intake's table will have: the schema option's columns, or the
// first matching file's as DuckDB reads it, plus the intake's _file columns. nil: no file yet.
func (p *Pipeline) filesSchema(ctx context.Context, fi *FileIntake) (*arrow.Schema, error) {
	var q string
	if fi.Schema != "" {
		cols, err := parseColumnList(fi.Schema)
		if err != nil {
			return nil, fmt.Errorf("read_files schema: %w", err)
		}
		var sel []string
		for _, c := range cols {
			sel = append(sel, "CAST(NULL AS "+c.typ+") AS "+quoteIdent(c.name))
		}
		q = "SELECT " + strings.Join(sel, ", ")
	} else {
		matches, err := filepath.Glob(fi.Pattern)
		if err != nil {
			return nil, fmt.Errorf("read_files %s: %w", fi.Pattern, err)
		}
		if len(matches) == 0 {
			return nil, nil
		}
		format := fi.Format
		if format == "" {
			format = strings.TrimPrefix(strings.ToLower(filepath.Ext(matches[0])), ".")
		}
		switch format {
		case "csv", "tsv", "txt":
			q = "SELECT * FROM read_csv(" + quoteString(matches[0]) + ")"
		case "json", "ndjson", "jsonl":
			q = "SELECT * FROM read_json(" + quoteString(matches[0]) + ")"
		case "parquet":
			q = "SELECT * FROM read_parquet(" + quoteString(matches[0]) + ")"
		default:
			return nil, fmt.Errorf("read_files: unknown format %q (csv, json, parquet)", format)
		}
	}
	return p.bind(ctx, "SELECT *, ''::VARCHAR AS _file, 0::BIGINT AS _file_row, now() AS _file_modified FROM ("+q+")", nil)
}
