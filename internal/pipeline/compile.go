package pipeline

import (
	"context"

	"fmt"
	"github.com/apache/arrow-go/v18/arrow"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/stratalake/strata/internal/stream"
)

// Execution modes of a node.
const (
	// ModeStream: a streaming table, each input row processed once (stream.Query, append).
	ModeStream = "stream"
	// ModeIncremental: an aggregate materialized view maintained by the runtime's global
	// aggregation (stream.Query, update mode: only changed groups are rewritten).
	ModeIncremental = "incremental"
	// ModeRecompute: a materialized view recomputed whole when an input changed.
	ModeRecompute = "recompute"
	// ModeView: a temporary view, inlined where it is read.
	ModeView = "view"
	// ModeCDC: an AUTO CDC flow (stream.Query with the CDC operator).
	ModeCDC = "cdc"
	// ModeTarget: a streaming table written by an AUTO CDC flow.
	ModeTarget = "target"
)

// Control columns the compiled SQL adds; the runtime strips them from the tables it writes.
const (
	colReason   = "_quarantine_reason" // the quarantine table's columns
	colRaw      = "_quarantine_value"
	colSource   = "_quarantine_source"
	colExpect   = "__strata_expect_"
	colAggArg   = "__strata_arg_"
	colDelete   = "__strata_cdc_delete"
	colSequence = "__strata_cdc_sequence"
	srcName     = "src0"
)

// nodeInfo is what compiling a node decided.
type nodeInfo struct {
	mode string
	// reason says why a materialized view is recomputed.
	reason string
	// query is the streaming query (stream, incremental, cdc modes), without Checkpoint.
	query *stream.Query
	// sql is the recompute query (recompute mode) bound to the stored tables.
	sql string
	// view is a temporary view's tree, its references bound (inlined where read), and
	// placeholders the placeholder views it reads when bound for validation.
	view         node
	placeholders map[string]*Node
	// intake copies landing files for a read_files source (nil without one).
	intake *FileIntake
	// dedup, watermark describe the stream's stateful part (for status and lineage).
	dedup []string
	// base is a streaming table's SQL before the expectation columns are added; undeclared its
	// SQL before the declared columns' casts (when it declares columns).
	base, undeclared string
	// columns are an incremental view's output columns in the query's order.
	columns []viewColumn
	// fusedOnto names the upstream streaming table whose source this one reads through the
	// upstream's query (see fusable).
	fusedOnto string
	// schema is the node's output schema (set by Validate; nil when unknown); targetSchema a
	// flow's target's.
	schema, targetSchema *arrow.Schema
}

// viewColumn is one output column of an incrementally maintained view: a group key (source is
// the transform's column) or an aggregate of the transform's column source ("*": count(*)).
type viewColumn struct {
	name, source string
	agg          bool
	fn           stream.AggFunc
}

// binding says how a compiled query names the pipeline's tables: at run time by their
// domain.table names, at validation time by placeholder views over empty inputs (the tables may
// not exist yet).
type binding struct {
	validate bool
	// placeholders collects, in validate mode, the placeholder view of each table read.
	placeholders map[string]*Node
}

func placeholder(n *Node) string {
	return "__strata_table_" + strings.ReplaceAll(n.Name, ".", "__")
}

// queryName is a node's streaming query name (its txn app id and checkpoint namespace).
func queryName(n *Node) string { return "pipeline." + n.Name }

// checkpointDir is where a node's streaming query keeps its state.
func (p *Pipeline) checkpointDir(n *Node) string {
	return filepath.Join(p.Project.Dir, ".strata", "checkpoints", n.Name)
}

// compile builds a node's execution. Nodes must be compiled in p.Nodes order (views before
// their readers).
func (p *Pipeline) compile(ctx context.Context, n *Node, b *binding) (*nodeInfo, error) {
	st := n.Stmt
	switch {
	case st.Kind == TemporaryView:
		tree := clone(n.body.tree)
		vb := &binding{validate: b.validate, placeholders: map[string]*Node{}}
		if err := p.bindRefs(ctx, n, tree, vb, nil); err != nil {
			return nil, err
		}
		for k, v := range vb.placeholders {
			b.placeholders[k] = v
		}
		return &nodeInfo{mode: ModeView, view: tree, placeholders: vb.placeholders}, nil
	case st.Kind == Flow:
		return p.compileFlow(ctx, n, b)
	case st.Kind == StreamingTable && n.body == nil:
		info := &nodeInfo{mode: ModeTarget}
		if f := n.Flows[0].info; f != nil {
			info.schema = f.targetSchema
		}
		return info, nil
	case st.Kind == StreamingTable:
		return p.compileStream(ctx, n, b)
	default:
		return p.compileView(ctx, n, b)
	}
}

// bindRefs substitutes the references of tree (a clone of n.body.tree, whose references are
// found again by position) as binding b says; streams are replaced by stream(ref).
func (p *Pipeline) bindRefs(ctx context.Context, n *Node, tree node, b *binding, stream func(in *Input, r *reference) error) error {
	cb, err := readBody(tree)
	if err != nil {
		return err
	}
	if len(cb.refs) != len(n.Inputs) {
		return fmt.Errorf("pipeline: %s: internal error: %d references, %d inputs", n.Name, len(cb.refs), len(n.Inputs))
	}
	for i, r := range cb.refs {
		in := n.Inputs[i]
		switch {
		case in.Stream():
			if stream == nil {
				return &ValidationError{in.Pos, fmt.Sprintf("%s is not read as a stream here", in.ref.display())}
			}
			if err := stream(in, r); err != nil {
				return err
			}
		case in.Node != nil && in.Node.Kind() == TemporaryView:
			if in.Node.info == nil {
				return fmt.Errorf("pipeline: %s: view %s not compiled", n.Name, in.Node.Name)
			}
			p.parser.substituteQuery(r, clone(in.Node.info.view), viewAlias(r))
			for k, v := range in.Node.info.placeholders { // the view's own inputs
				if b.placeholders != nil {
					b.placeholders[k] = v
				}
			}
		case in.Node != nil && b.validate:
			b.placeholders[placeholder(in.Node)] = in.Node
			p.parser.substitute(r, "", placeholder(in.Node))
		case in.Node != nil:
			p.parser.substitute(r, in.Node.Domain, in.Node.Table)
		default: // a project table outside the pipeline
			d, t, _ := strings.Cut(in.Name, ".")
			p.parser.substitute(r, d, t)
		}
	}
	return nil
}

func viewAlias(r *reference) string {
	if r.alias != "" {
		return r.alias
	}
	parts := strings.Split(r.name, ".")
	return parts[len(parts)-1]
}

// compileStream compiles a streaming table: one STREAM() source, an optional dedup (DISTINCT ON
// or QUALIFY row_number() = 1, within the source's WATERMARK), expectations.
func (p *Pipeline) compileStream(ctx context.Context, n *Node, b *binding) (*nodeInfo, error) {
	st := n.Stmt
	var streams []*Input
	for _, in := range n.Inputs {
		if in.Stream() {
			streams = append(streams, in)
		}
	}
	switch {
	case len(streams) == 0:
		return nil, &ValidationError{st.QueryPos, fmt.Sprintf("streaming table %s reads no STREAM(...): read a source with STREAM(table), STREAM(read_topic(...)) or STREAM(read_files(...)), or declare a materialized view", n.Name)}
	case len(streams) > 1:
		return nil, &ValidationError{streams[1].Pos, fmt.Sprintf("streaming table %s reads %d streams: one stream per streaming table (declare one per source and union them in a materialized view)", n.Name, len(streams))}
	}
	tree := clone(n.body.tree)
	if isAggregation(tree) {
		return nil, &ValidationError{st.QueryPos, fmt.Sprintf("streaming table %s aggregates: aggregations are declared as materialized views (maintained incrementally over append-only inputs)", n.Name)}
	}
	dedup, err := takeDedup(tree)
	if err != nil {
		return nil, p.bodyError(st, err)
	}
	info := &nodeInfo{mode: ModeStream}
	q := &stream.Query{Name: queryName(n), Output: stream.Output{Table: n.Location, Mode: stream.OutputAppend, PartitionBy: st.PartitionBy}}
	if len(st.Properties) > 0 {
		q.Output.Properties = map[string]string{}
		for _, kv := range st.Properties {
			q.Output.Properties[kv[0]] = kv[1]
		}
	}
	src := streams[0]
	var quarantine bool
	err = p.bindRefs(ctx, n, tree, b, func(in *Input, r *reference) error {
		if len(st.Watermarks) > 0 {
			if up := fusable(in); up != nil {
				// Read the upstream's source through its query (see fusable).
				source, sql := up.info.query.Sources[0], upstreamSQL(up)
				q.Sources = append(q.Sources, source)
				pt, err := p.parser.parse(ctx, sql)
				if err != nil {
					return fmt.Errorf("pipeline: %s: fused source SQL: %w", n.Name, err)
				}
				p.parser.substituteQuery(r, pt, viewAlias(r))
				info.fusedOnto = up.Name
				return nil
			}
		}
		source, parse, quar, err := p.sourceFor(ctx, n, in)
		if err != nil {
			return err
		}
		if in.kind == refFiles {
			if info.intake, err = p.intakeFor(n, in); err != nil {
				return err
			}
		}
		q.Sources = append(q.Sources, source)
		quarantine = quar
		if parse == "" {
			p.parser.substitute(r, "", srcName)
			if r.alias == "" {
				r.ref["alias"] = viewAlias(r)
			}
			return nil
		}
		pt, err := p.parser.parse(ctx, parse)
		if err != nil {
			return fmt.Errorf("pipeline: %s: source SQL: %w", n.Name, err)
		}
		p.parser.substituteQuery(r, pt, viewAlias(r))
		return nil
	})
	if err != nil {
		return nil, err
	}
	if tree["type"] == "SELECT_NODE" && !selectsStar(tree) {
		// Carry the control columns through an explicit select list: the quarantine's, and
		// the source position the runtime orders rows by (see stream.PositionColumn).
		alias := viewAlias(src.ref)
		cols := []string{stream.PositionColumn}
		if quarantine {
			cols = append(cols, colReason, colRaw, colSource)
		}
		for _, c := range cols {
			tree["select_list"] = append(list(tree, "select_list"), p.parser.columnRef(alias, c))
		}
	}
	if quarantine {
		q.Quarantine = &stream.Quarantine{Reason: colReason, Columns: []string{colRaw, colSource}}
	}
	sql, err := p.parser.deparse(ctx, tree)
	if err != nil {
		return nil, fmt.Errorf("pipeline: %s: %w", n.Name, err)
	}
	exps := st.Expectations
	if len(st.Columns) > 0 {
		info.undeclared = sql
		sql, exps = withDeclaredColumns(sql, st.Columns, exps, quarantine, tree["type"] == "SELECT_NODE")
	}
	info.base = sql
	sql, q.Expectations = withExpectations(sql, exps)
	q.SQL = sql
	if len(st.Watermarks) > 1 {
		return nil, &ValidationError{st.Watermarks[1].Pos, "one WATERMARK per streaming table (on its stream)"}
	}
	if len(st.Watermarks) == 1 {
		w := st.Watermarks[0]
		col := w.Column
		if i := strings.LastIndexByte(col, '.'); i >= 0 {
			col = col[i+1:]
		}
		q.EventTime = col
		q.Watermark = stream.Watermark{Delay: w.Delay}
	}
	if dedup != nil {
		if dedup.all {
			return nil, &ValidationError{st.QueryPos, "SELECT DISTINCT over a stream: name the key with SELECT DISTINCT ON (key, ...) (rows are deduplicated by key within the watermark)"}
		}
		if q.EventTime == "" {
			return nil, &ValidationError{st.QueryPos, fmt.Sprintf("deduplication over a stream needs a WATERMARK on its source (STREAM(...) WATERMARK ts DELAY OF INTERVAL 10 MINUTES): without it the state of seen keys would grow forever")}
		}
		q.Dedup = &stream.Dedup{Columns: dedup.keys}
		info.dedup = dedup.keys
	}
	q.Late = stream.Late{Table: n.Location + "_late"}
	info.query = q
	return info, nil
}

// fusable returns the upstream streaming table a STREAM() input can be fused with, or nil.
//
// Event-time lateness is decided per source partition, in position order (see package
// stream/core): that is what makes a batch run, a stream run and an interrupted run agree on
// which rows are late. A streaming table that reads another one's Delta table sees one partition
// whose row order depends on how the upstream was batched (its versions interleave the upstream's
// own source partitions). When the upstream is a stateless streaming table (a projection and
// filters of its source, no dedup), the downstream reads the upstream's source directly, through
// the upstream's query (its rows, minus the ones its DROP expectations and its quarantine
// remove): same rows, but in the source's partitions and order. The upstream table is still
// written by its own query; lineage still shows it as the input.
func fusable(in *Input) *Node {
	up := in.Node
	if in.kind != refStream || up == nil || up.info == nil || up.info.mode != ModeStream {
		return nil
	}
	uq := up.info.query
	if uq.Dedup != nil || uq.Aggregate != nil || len(uq.Sources) != 1 {
		return nil
	}
	for _, e := range uq.Expectations {
		if e.Action == stream.ExpectFail {
			return nil // the upstream stops on a failure; a fused reader would not
		}
	}
	return up
}

// upstreamSQL is the fused reader's view of an upstream streaming table: its query over its
// source, without the rows its DROP expectations and its quarantine remove.
func upstreamSQL(up *Node) string {
	var where []string
	cols := "*"
	if up.info.query.Quarantine != nil {
		where = append(where, colReason+" IS NULL")
		cols = "* EXCLUDE (" + colReason + ", " + colRaw + ", " + colSource + ")"
	}
	for _, e := range up.Stmt.Expectations {
		if e.Action == ActionDrop {
			where = append(where, "COALESCE(CAST(("+e.Expr+") AS BOOLEAN), false)")
		}
	}
	sql := "SELECT " + cols + " FROM (" + up.info.base + "\n) AS __strata_upstream"
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	return sql
}

// selectsStar says whether the select list has a * (which carries the control columns along).
func selectsStar(tree node) bool {
	for _, s := range list(tree, "select_list") {
		if e, _ := s.(node); e != nil && (e["class"] == "STAR") {
			return true
		}
	}
	return false
}

// withDeclaredColumns projects the query onto the declared columns, in their order, cast to
// their types; a NOT NULL column adds an expectation that fails the update on a NULL.
// (Validate checks that the query produces exactly the declared columns.)
func withDeclaredColumns(sql string, cols []ColumnDef, exps []Expectation, quarantine, position bool) (string, []Expectation) {
	var sel []string
	for _, c := range cols {
		item := quoteIdent(c.Name)
		if c.Type != "" {
			item = "CAST(" + item + " AS " + c.Type + ") AS " + quoteIdent(c.Name)
		}
		sel = append(sel, item)
		if c.NotNull {
			exps = append(exps, Expectation{Name: c.Name + "_not_null", Expr: quoteIdent(c.Name) + " IS NOT NULL", ExprPos: c.Pos, Action: ActionFail, Pos: c.Pos})
		}
	}
	if quarantine {
		sel = append(sel, colReason, colRaw, colSource)
	}
	if position {
		sel = append(sel, stream.PositionColumn)
	}
	return "SELECT " + strings.Join(sel, ", ") + " FROM (" + sql + "\n) AS __strata_declared", exps
}

// withExpectations wraps the query with one BOOLEAN column per expectation (NULL counts as a
// failure, as WHERE would drop the row).
func withExpectations(sql string, exps []Expectation) (string, []stream.Expectation) {
	if len(exps) == 0 {
		return sql, nil
	}
	var cols []string
	var out []stream.Expectation
	for i, e := range exps {
		col := fmt.Sprintf("%s%d", colExpect, i)
		cols = append(cols, fmt.Sprintf("COALESCE(CAST((%s) AS BOOLEAN), false) AS %s", e.Expr, col))
		act := stream.ExpectKeep
		switch e.Action {
		case ActionDrop:
			act = stream.ExpectDrop
		case ActionFail:
			act = stream.ExpectFail
		}
		out = append(out, stream.Expectation{Name: e.Name, Column: col, Action: act})
	}
	return "SELECT *, " + strings.Join(cols, ", ") + " FROM (" + sql + "\n) AS __strata_rows", out
}

var identRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// sourceFor returns the runtime source of a stream input and, for topics and files, the SQL
// presenting its rows under the source's name (src0), and whether it yields quarantine columns.
func (p *Pipeline) sourceFor(ctx context.Context, n *Node, in *Input) (stream.Source, string, bool, error) {
	r := in.ref
	switch in.kind {
	case refStream:
		if in.Node != nil {
			return stream.Source{Name: srcName, Table: in.Node.Location}, "", false, nil
		}
		d, t, _ := strings.Cut(in.Name, ".")
		loc, err := p.Project.TableLocation(d, t)
		if err != nil {
			return stream.Source{}, "", false, &ValidationError{in.Pos, err.Error()}
		}
		return stream.Source{Name: srcName, Table: loc}, "", false, nil
	case refTopic:
		sql, quar, err := topicSQL(r.args)
		if err != nil {
			return stream.Source{}, "", false, &ValidationError{in.Pos, err.Error()}
		}
		return stream.Source{Name: srcName, Topic: r.name}, sql, quar, nil
	case refFiles:
		fi, err := p.intakeFor(n, in)
		if err != nil {
			return stream.Source{}, "", false, err
		}
		return stream.Source{Name: srcName, Table: fi.Table}, "SELECT * EXCLUDE (_file, _file_row, _file_modified) FROM " + srcName, false, nil
	}
	return stream.Source{}, "", false, fmt.Errorf("pipeline: %s is not a stream", in.Name)
}

// topicSQL presents a topic's records (source.RawSchema under the name src0) to the user's
// query. format 'json' with schema => 'col TYPE, ...' parses the value into those columns;
// 'json' without schema keeps the record's columns with value as JSON; 'text' (the default) keeps
// them with value as text. Records that cannot be read (not UTF-8, invalid JSON, a field of the
// wrong type) get a reason in __strata_reason and go to the quarantine.
func topicSQL(args map[string]string) (string, bool, error) {
	format := strings.ToLower(args["format"])
	for k := range args {
		if k != "format" && k != "schema" {
			return "", false, fmt.Errorf("read_topic: unknown option %s (format, schema)", k)
		}
	}
	meta := "topic, \"partition\", \"offset\", \"timestamp\", key, " + stream.PositionColumn
	source := `topic || '/' || "partition" || '@' || "offset"`
	switch format {
	case "", "text":
		if args["schema"] != "" {
			return "", false, fmt.Errorf("read_topic: schema needs format => 'json'")
		}
		return "SELECT " + meta + ", value, value_bytes FROM " + srcName, false, nil
	case "json":
	default:
		return "", false, fmt.Errorf("read_topic: unknown format %q (json or text)", format)
	}
	notJSON := "CASE WHEN value IS NULL AND value_bytes IS NULL THEN 'no value (a tombstone)' WHEN value IS NULL THEN 'value is not UTF-8 text' WHEN NOT json_valid(value) THEN 'invalid JSON' END"
	if args["schema"] == "" {
		return "SELECT " + meta + ", TRY_CAST(value AS JSON) AS value, " + notJSON + " AS " + colReason +
			", value AS " + colRaw + ", " + source + " AS " + colSource + " FROM " + srcName, true, nil
	}
	cols, err := parseColumnList(args["schema"])
	if err != nil {
		return "", false, fmt.Errorf("read_topic: schema: %w", err)
	}
	sel, checks := jsonColumns("value", cols)
	reason := "CASE WHEN value IS NULL AND value_bytes IS NULL THEN 'no value (a tombstone)' WHEN value IS NULL THEN 'value is not UTF-8 text' WHEN NOT json_valid(value) THEN 'invalid JSON' " +
		"WHEN json_type(value) <> 'OBJECT' THEN 'not a JSON object' " + checks + " END"
	return "SELECT " + sel + ", " + reason + " AS " + colReason + ", value AS " + colRaw + ", " +
		source + " AS " + colSource + ", " + stream.PositionColumn + " FROM " + srcName, true, nil
}

// jsonColumns returns the select items reading cols from the JSON text expression doc, and the
// CASE branches naming a field that cannot be read as its type.
func jsonColumns(doc string, cols []columnSpec) (string, string) {
	var sel, checks []string
	for _, c := range cols {
		path := quoteString("$." + quoteIdent(c.name))
		raw := "json_extract(" + doc + ", " + path + ")"
		var val string
		if c.nested {
			val = "TRY_CAST(" + raw + " AS " + c.typ + ")"
		} else {
			val = "TRY_CAST(json_extract_string(" + doc + ", " + path + ") AS " + c.typ + ")"
		}
		sel = append(sel, "CASE WHEN json_valid("+doc+") THEN "+val+" END AS "+quoteIdent(c.name))
		checks = append(checks, "WHEN "+raw+" IS NOT NULL AND json_type("+raw+") <> 'NULL' AND "+val+" IS NULL THEN "+
			quoteString(c.name+": cannot read ")+" || CAST("+raw+" AS VARCHAR) || "+quoteString(" as "+c.typ))
	}
	return strings.Join(sel, ", "), strings.Join(checks, " ")
}

type columnSpec struct {
	name, typ string
	nested    bool
}

// parseColumnList splits "a INT, b STRUCT(x INT, y VARCHAR), c VARCHAR[]" into columns (types
// are checked by DuckDB when the SQL runs).
func parseColumnList(s string) ([]columnSpec, error) {
	var out []columnSpec
	depth, start := 0, 0
	var parts []string
	for i, r := range s {
		switch r {
		case '(', '<', '[':
			depth++
		case ')', '>', ']':
			depth--
		case ',':
			if depth == 0 {
				parts = append(parts, s[start:i])
				start = i + 1
			}
		}
	}
	parts = append(parts, s[start:])
	for _, part := range parts {
		part = strings.TrimSpace(part)
		name, typ, ok := strings.Cut(part, " ")
		name = strings.Trim(name, `"`)
		typ = strings.TrimSpace(typ)
		if !ok || name == "" || typ == "" {
			return nil, fmt.Errorf("%q is not \"name TYPE\"", part)
		}
		u := strings.ToUpper(typ)
		nested := strings.HasPrefix(u, "STRUCT") || strings.HasPrefix(u, "MAP") || strings.HasSuffix(u, "]") || strings.HasPrefix(u, "LIST") || u == "JSON"
		out = append(out, columnSpec{name: name, typ: typ, nested: nested})
	}
	return out, nil
}

// intakeFor returns the file intake of a read_files input (one per node).
func (p *Pipeline) intakeFor(n *Node, in *Input) (*FileIntake, error) {
	r := in.ref
	pattern := r.name
	if !filepath.IsAbs(pattern) && !strings.Contains(pattern, "://") {
		pattern = filepath.Join(p.Project.Dir, pattern)
	}
	fi := &FileIntake{Name: n.Name, Pattern: pattern, Engine: p.eng, Options: map[string]string{}}
	for k, v := range r.args {
		switch k {
		case "format":
			fi.Format = strings.ToLower(v)
		case "schema":
			fi.Schema = v
		default:
			fi.Options[k] = v
		}
	}
	loc, err := p.Project.TableLocation("_strata", "files_"+n.Domain+"__"+n.Table)
	if err != nil {
		return nil, &ValidationError{in.Pos, err.Error()}
	}
	fi.Table = loc
	fi.Quarantine = n.Location + "_quarantine_files"
	return fi, nil
}

// compileView compiles a materialized view: incremental when it is a decomposable aggregation
// over one append-only pipeline streaming table, recomputed otherwise.
func (p *Pipeline) compileView(ctx context.Context, n *Node, b *binding) (*nodeInfo, error) {
	tree := clone(n.body.tree)
	reason := ""
	var items []aggItem
	switch {
	case !isAggregation(tree):
		reason = "the query is not an aggregation"
	default:
		items, reason = incrementalAggregation(tree)
		if reason == "" && len(n.Inputs) == 1 {
			in := n.Inputs[0]
			switch {
			case in.Node == nil:
				reason = fmt.Sprintf("its input %s is not a table of the pipeline (its changes may not be appends)", in.Name)
			case in.Node.Kind() != StreamingTable || in.Node.body == nil:
				reason = fmt.Sprintf("its input %s is not append-only (a %s)", in.Node.Name, describeKind(in.Node))
			}
		} else if reason == "" {
			reason = "it does not read exactly one table"
		}
	}
	whole := clone(n.body.tree)
	if err := p.bindRefs(ctx, n, whole, b, nil); err != nil {
		return nil, err
	}
	wholeSQL, err := p.parser.deparse(ctx, whole)
	if err != nil {
		return nil, fmt.Errorf("pipeline: %s: %w", n.Name, err)
	}
	if reason != "" {
		return &nodeInfo{mode: ModeRecompute, reason: reason, sql: wholeSQL}, nil
	}
	in := n.Inputs[0]
	// The transform: the group keys and the aggregates' arguments, per input row.
	var sel []any
	var columns []viewColumn
	agg := &stream.Aggregate{Window: stream.Global()}
	for i, it := range items {
		if it.key {
			columns = append(columns, viewColumn{name: it.name, source: it.name})
			e := clone(it.expr)
			e["alias"] = it.name
			sel = append(sel, e)
			agg.GroupBy = append(agg.GroupBy, it.name)
			continue
		}
		a := stream.Agg{As: it.name, Column: "*"}
		switch it.fn {
		case "count":
			a.Func = stream.Count
			if it.distinct {
				a.Func = stream.CountDistinct
			}
		case "sum":
			a.Func = stream.Sum
		case "min":
			a.Func = stream.Min
		case "max":
			a.Func = stream.Max
		case "avg":
			a.Func = stream.Avg
		case "approx_count_distinct":
			a.Func = stream.ApproxCountDistinct
		}
		if it.arg != nil {
			e := clone(it.arg)
			a.Column = fmt.Sprintf("%s%d", colAggArg, i)
			e["alias"] = a.Column
			sel = append(sel, e)
		}
		agg.Aggs = append(agg.Aggs, a)
		columns = append(columns, viewColumn{name: it.name, source: a.Column, agg: true, fn: a.Func})
	}
	if len(sel) == 0 { // count(*) alone
		sel = append(sel, p.parser.constantOne())
	}
	tree["select_list"] = sel
	tree["group_expressions"] = []any{}
	tree["group_sets"] = []any{}
	tree["aggregate_handling"] = "STANDARD_HANDLING"
	from := tree["from_table"].(node)
	alias := str(from, "alias")
	if alias == "" {
		alias = viewAlias(in.ref)
	}
	p.parser.substitute(&reference{ref: from, alias: alias, kind: refTable, name: alias}, "", srcName)
	from["alias"] = alias
	sql, err := p.parser.deparse(ctx, tree)
	if err != nil {
		return nil, fmt.Errorf("pipeline: %s: %w", n.Name, err)
	}
	q := &stream.Query{
		Name:      queryName(n),
		Sources:   []stream.Source{{Name: srcName, Table: in.Node.Location}},
		SQL:       sql,
		Aggregate: agg,
		Output:    stream.Output{Table: n.Location, Mode: stream.OutputUpdate, PartitionBy: n.Stmt.PartitionBy},
	}
	return &nodeInfo{mode: ModeIncremental, query: q, sql: wholeSQL, columns: columns}, nil
}

func describeKind(n *Node) string {
	if n.Kind() == StreamingTable && n.body == nil {
		return "table written by AUTO CDC"
	}
	return n.Kind().String()
}

// compileFlow compiles an AUTO CDC flow into its target: a streaming query with the runtime's CDC
// operator. A topic source carrying Debezium envelopes ({"op", "before", "after", "ts_ms"},
// optionally inside {"payload": ...}) is unpacked: the row is after (before for deletes), and
// op and ts_ms are columns beside the row's; other JSON values are the row themselves. The row's
// columns come from read_topic's schema option or from the target's declared columns.
func (p *Pipeline) compileFlow(ctx context.Context, n *Node, b *binding) (*nodeInfo, error) {
	cdc, target := n.Stmt.CDC, n.Target
	in := n.Inputs[0]
	q := &stream.Query{Name: queryName(n), Output: stream.Output{Table: target.Location, PartitionBy: target.Stmt.PartitionBy}}
	var srcSQL string
	quarantine := false
	switch in.kind {
	case refTopic:
		schema := in.ref.args["schema"]
		if schema == "" {
			var defs []string
			for _, c := range target.Stmt.Columns {
				if c.Type == "" {
					defs = nil
					break
				}
				defs = append(defs, quoteIdent(c.Name)+" "+c.Type)
			}
			schema = strings.Join(defs, ", ")
		}
		if schema == "" {
			return nil, &ValidationError{cdc.SourcePos, fmt.Sprintf("AUTO CDC from a topic needs the row's columns: read_topic('%s', format => 'json', schema => 'id BIGINT, ...') or typed columns on CREATE STREAMING TABLE %s (...)", in.Name, target.Stmt.Name)}
		}
		cols, err := parseColumnList(schema)
		if err != nil {
			return nil, &ValidationError{cdc.SourcePos, "read_topic schema: " + err.Error()}
		}
		sel, checks := jsonColumns("__row", cols)
		env := "CASE WHEN json_valid(value) THEN CASE WHEN json_extract_string(value, '$.payload.op') IS NOT NULL THEN json_extract(value, '$.payload') ELSE CAST(value AS JSON) END END"
		row := "CASE WHEN json_extract_string(__env, '$.op') IS NULL THEN __env " +
			"WHEN coalesce(json_type(json_extract(__env, '$.after')), 'NULL') <> 'NULL' THEN json_extract(__env, '$.after') " +
			"ELSE json_extract(__env, '$.before') END"
		reason := "CASE WHEN value IS NULL AND value_bytes IS NULL THEN 'no value (a tombstone)' WHEN value IS NULL THEN 'value is not UTF-8 text' WHEN NOT json_valid(value) THEN 'invalid JSON' " +
			"WHEN coalesce(json_type(__row), 'NULL') <> 'OBJECT' THEN 'no row in the change (after/before)' " + checks + " END"
		srcSQL = "SELECT " + sel + ", json_extract_string(__env, '$.op') AS op, TRY_CAST(json_extract_string(__env, '$.ts_ms') AS BIGINT) AS ts_ms, " + stream.PositionColumn + ", " +
			reason + " AS " + colReason + ", value AS " + colRaw + `, topic || '/' || "partition" || '@' || "offset" AS ` + colSource +
			" FROM (SELECT *, " + row + " AS __row FROM (SELECT *, " + env + " AS __env FROM " + srcName + "))"
		q.Sources = []stream.Source{{Name: srcName, Topic: in.Name}}
		quarantine = true
	case refStream:
		source, _, _, err := p.sourceFor(ctx, n, in)
		if err != nil {
			return nil, err
		}
		q.Sources = []stream.Source{source}
		srcSQL = "SELECT * FROM " + srcName
	default:
		return nil, &ValidationError{cdc.SourcePos, "AUTO CDC reads STREAM(table) or STREAM(read_topic(...))"}
	}
	cols := "*" // with quarantine columns, which the runtime strips
	switch {
	case len(cdc.Columns) > 0:
		var names []string
		have := map[string]bool{}
		for _, c := range cdc.Columns {
			names = append(names, quoteIdent(c))
			have[strings.ToLower(c)] = true
		}
		for _, k := range cdc.Keys {
			if !have[strings.ToLower(k)] {
				names = append([]string{quoteIdent(k)}, names...)
			}
		}
		cols = strings.Join(names, ", ") + ", " + stream.PositionColumn
		if quarantine {
			cols += ", " + colReason + ", " + colRaw + ", " + colSource
		}
	case len(cdc.ExceptColumns) > 0:
		var except []string
		for _, c := range cdc.ExceptColumns {
			except = append(except, quoteIdent(c))
		}
		cols = "* EXCLUDE (" + strings.Join(except, ", ") + ")"
	}
	del := "false"
	if cdc.DeleteWhen != "" {
		del = "COALESCE(CAST((" + cdc.DeleteWhen + ") AS BOOLEAN), false)"
	}
	q.SQL = "SELECT " + cols + ", " + del + " AS " + colDelete + ", (" + cdc.SequenceBy + ") AS " + colSequence +
		" FROM (" + srcSQL + ") AS " + quoteIdent(viewAlias(in.ref))
	if quarantine {
		q.Quarantine = &stream.Quarantine{Reason: colReason, Columns: []string{colRaw, colSource}}
	}
	scd := cdc.SCDType
	if scd == 0 {
		scd = 1
	}
	// The sequence is computed into a control column the operator reads but does not write
	// (the user keeps the source column, or drops it with COLUMNS * EXCEPT).
	q.CDC = &stream.CDC{Keys: cdc.Keys, Sequence: colSequence, Delete: colDelete, SCDType: scd, IgnoreNullUpdates: cdc.IgnoreNullUpdates, Except: []string{colSequence}}
	return &nodeInfo{mode: ModeCDC, query: q}, nil
}
