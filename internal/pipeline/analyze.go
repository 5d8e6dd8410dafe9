package pipeline

import (
	"fmt"
	"strings"
)

// refKind says what a table reference of a query body reads.
type refKind int

const (
	// refTable is a table read whole at its current version: a pipeline table, a temporary
	// view, or a project table (domain.table).
	refTable refKind = iota + 1
	// refStream is STREAM(table): the rows a table appends, each once.
	refStream
	// refTopic is STREAM(read_topic('topic', ...)): a log topic's records, each once.
	refTopic
	// refFiles is STREAM(read_files('glob', ...)): each new landing file once.
	refFiles
)

// reference is one table reference of a query body.
type reference struct {
	kind refKind
	// name is the table as written ("silver_events", "sales.orders"), the topic, or the glob.
	name string
	// args are the named string arguments of read_topic/read_files (format, schema, ...).
	args map[string]string
	// offset is the reference's byte offset in the body (-1 when DuckDB gives none).
	offset int
	// ref is the FROM item in the tree, edited in place by substitute.
	ref node
	// alias is the FROM item's alias ("" without).
	alias string
}

// display names the reference as a user wrote it.
func (r *reference) display() string {
	switch r.kind {
	case refStream:
		return "STREAM(" + r.name + ")"
	case refTopic:
		return "STREAM(read_topic('" + r.name + "'))"
	case refFiles:
		return "STREAM(read_files('" + r.name + "'))"
	}
	return r.name
}

// body is a query body read from DuckDB's parse tree.
type body struct {
	tree node
	refs []*reference
	// ctes are the names the body defines with WITH (references to them are not tables).
	ctes map[string]bool
}

// readBody collects the table references of a parsed statement node. STREAM() must wrap a table
// name, read_topic(...) or read_files(...); read_topic and read_files must be wrapped in STREAM().
func readBody(tree node) (*body, error) {
	b := &body{tree: tree, ctes: map[string]bool{}}
	walk(tree, func(n node) bool {
		if m, ok := n["cte_map"].(node); ok {
			entries, _ := m["map"].([]any)
			for _, e := range entries {
				if en, ok := e.(node); ok {
					b.ctes[strings.ToLower(str(en, "key"))] = true
				}
			}
		}
		return true
	})
	var err error
	walk(tree, func(n node) bool {
		if err != nil || !isTableRef(n) {
			return err == nil
		}
		switch n["type"] {
		case "BASE_TABLE":
			if str(n, "catalog_name") != "" {
				return true
			}
			name := str(n, "table_name")
			if s := str(n, "schema_name"); s != "" {
				if strings.EqualFold(s, "live") { // legacy DLT: LIVE.table is a pipeline table
					s = ""
				} else {
					name = s + "." + name
				}
			} else if b.ctes[strings.ToLower(name)] {
				return true
			}
			b.refs = append(b.refs, &reference{kind: refTable, name: name, offset: location(n), ref: n, alias: str(n, "alias")})
		case "TABLE_FUNCTION":
			fn, _ := n["function"].(node)
			if fn == nil {
				return true
			}
			var r *reference
			r, err = tableFunctionRef(n, fn)
			if r != nil {
				b.refs = append(b.refs, r)
			}
			return false
		}
		return true
	})
	return b, err
}

// tableFunctionRef reads a STREAM(...), read_topic or read_files FROM item; other table functions
// (delta_scan, read_parquet, range...) are DuckDB's and the engine's business (nil, nil).
func tableFunctionRef(n, fn node) (*reference, error) {
	at := location(n)
	fname := strings.ToLower(str(fn, "function_name"))
	switch fname {
	case "read_topic", "read_files":
		return nil, &parseError{Msg: fname + "(...) reads a source incrementally and must be wrapped in STREAM(...), in a streaming table or flow", Offset: at}
	case "stream":
	default:
		return nil, nil
	}
	pos, named := functionArgs(fn)
	if len(pos) != 1 || len(named) != 0 {
		return nil, &parseError{Msg: "STREAM takes one argument: a table name, read_topic(...) or read_files(...)", Offset: at}
	}
	arg := pos[0]
	r := &reference{offset: at, ref: n, alias: str(n, "alias")}
	switch arg["class"] {
	case "COLUMN_REF":
		parts := columnNames(arg)
		if len(parts) == 2 && strings.EqualFold(parts[0], "live") {
			parts = parts[1:]
		}
		if len(parts) > 2 {
			return nil, &parseError{Msg: "STREAM(" + strings.Join(parts, ".") + "): a table is name or domain.name", Offset: at}
		}
		r.kind, r.name = refStream, strings.Join(parts, ".")
		return r, nil
	case "FUNCTION":
		inner := strings.ToLower(str(arg, "function_name"))
		ipos, inamed := functionArgs(arg)
		switch inner {
		case "read_topic":
			r.kind = refTopic
		case "read_files":
			r.kind = refFiles
		default:
			return nil, &parseError{Msg: "STREAM(" + inner + "(...)): a stream reads a table, read_topic(...) or read_files(...)", Offset: at}
		}
		if len(ipos) != 1 {
			return nil, &parseError{Msg: inner + " takes one positional argument (the topic or the file glob), then named options", Offset: at}
		}
		v, ok := constantString(ipos[0])
		if !ok || v == "" {
			return nil, &parseError{Msg: inner + ": the first argument must be a string literal", Offset: at}
		}
		r.name = v
		r.args = map[string]string{}
		for k, e := range inamed {
			s, ok := constantString(e)
			if !ok {
				return nil, &parseError{Msg: fmt.Sprintf("%s: option %s must be a string literal", inner, k), Offset: at}
			}
			r.args[k] = s
		}
		return r, nil
	}
	return nil, &parseError{Msg: "STREAM takes a table name, read_topic(...) or read_files(...)", Offset: at}
}

// substitute replaces the reference's FROM item in the tree by a base table reference to
// schema.table (schema "" for a bare name, e.g. a source view), keeping its alias; a STREAM()
// or table function without alias keeps the name the user wrote as alias when that is a table
// name, so that qualified column references (silver.x) still bind.
func (p *duckParser) substitute(r *reference, schema, table string) {
	alias := r.alias
	if alias == "" && (r.kind == refStream || r.kind == refTable) {
		parts := strings.Split(r.name, ".")
		alias = parts[len(parts)-1]
		if alias == table && schema == "" {
			alias = ""
		}
	}
	t := clone(p.baseTable)
	t["alias"] = alias
	t["schema_name"] = schema
	t["table_name"] = table
	if q, ok := t["qualified_name"].(node); ok {
		path := []any{}
		if schema != "" {
			path = append(path, schema)
		}
		q["path"] = append(path, table)
	}
	if l, ok := r.ref["query_location"]; ok {
		t["query_location"] = l
	}
	for k := range r.ref {
		delete(r.ref, k)
	}
	for k, v := range t {
		r.ref[k] = v
	}
}

// dedupSpec is the deduplication a streaming query asks for: SELECT DISTINCT ON (keys), or
// QUALIFY row_number() OVER (PARTITION BY keys ...) = 1, or SELECT DISTINCT (all columns).
type dedupSpec struct {
	keys []string
	all  bool
}

// takeDedup removes the dedup clause of the top SELECT node from the tree and returns it (nil
// without one). Keys must be plain column references; they name output columns.
func takeDedup(tree node) (*dedupSpec, error) {
	if tree["type"] != "SELECT_NODE" {
		return nil, nil
	}
	var spec *dedupSpec
	mods, _ := tree["modifiers"].([]any)
	kept := mods[:0:0]
	for _, m := range mods {
		mn, _ := m.(node)
		if mn == nil || mn["type"] != "DISTINCT_MODIFIER" {
			kept = append(kept, m)
			continue
		}
		targets, _ := mn["distinct_on_targets"].([]any)
		spec = &dedupSpec{all: len(targets) == 0}
		for _, t := range targets {
			k, err := plainColumn(t, "DISTINCT ON")
			if err != nil {
				return nil, err
			}
			spec.keys = append(spec.keys, k)
		}
	}
	tree["modifiers"] = kept
	if q, _ := tree["qualify"].(node); q != nil {
		keys, ok, err := rowNumberDedup(q)
		if err != nil {
			return nil, err
		}
		if ok {
			if spec != nil {
				return nil, &parseError{Msg: "use either DISTINCT ON or QUALIFY row_number() = 1 to deduplicate, not both", Offset: location(q)}
			}
			spec = &dedupSpec{keys: keys}
			tree["qualify"] = nil
		}
	}
	return spec, nil
}

// rowNumberDedup recognises row_number() OVER (PARTITION BY keys [ORDER BY ...]) = 1.
func rowNumberDedup(q node) ([]string, bool, error) {
	if q["class"] != "COMPARISON" || q["type"] != "COMPARE_EQUAL" {
		return nil, false, nil
	}
	l, _ := q["left"].(node)
	r, _ := q["right"].(node)
	if l == nil || l["type"] != "WINDOW_ROW_NUMBER" {
		l, r = r, l
	}
	if l == nil || l["type"] != "WINDOW_ROW_NUMBER" {
		return nil, false, nil
	}
	if v, ok := r["value"].(node); !ok || fmt.Sprint(v["value"]) != "1" {
		return nil, false, nil
	}
	parts, _ := l["partitions"].([]any)
	if len(parts) == 0 {
		return nil, false, &parseError{Msg: "QUALIFY row_number() = 1 deduplicates by its PARTITION BY columns: add PARTITION BY (keys)", Offset: location(q)}
	}
	var keys []string
	for _, p := range parts {
		k, err := plainColumn(p, "QUALIFY ... PARTITION BY")
		if err != nil {
			return nil, false, err
		}
		keys = append(keys, k)
	}
	return keys, true, nil
}

func plainColumn(v any, where string) (string, error) {
	n, _ := v.(node)
	if n == nil || n["class"] != "COLUMN_REF" {
		return "", &parseError{Msg: where + ": deduplication keys must be column names of the output", Offset: location(n)}
	}
	parts := columnNames(n)
	return parts[len(parts)-1], nil
}

// aggFuncs maps DuckDB's aggregate function names to the streaming runtime's decomposable
// aggregates (count(DISTINCT x) is count with distinct set).
var aggFuncs = map[string]string{
	"count_star": "count", "count": "count", "sum": "sum", "min": "min", "max": "max",
	"avg": "avg", "mean": "avg", "approx_count_distinct": "approx_count_distinct",
}

// knownAggregates are DuckDB aggregate names the pipeline recognises as aggregates (to tell an
// aggregation query apart); the ones outside aggFuncs force a recompute.
var knownAggregates = map[string]bool{
	"count_star": true, "count": true, "sum": true, "min": true, "max": true, "avg": true, "mean": true,
	"approx_count_distinct": true, "arg_max": true, "arg_min": true, "max_by": true, "min_by": true,
	"list": true, "array_agg": true, "string_agg": true, "median": true, "quantile": true,
	"quantile_cont": true, "quantile_disc": true, "stddev": true, "stddev_pop": true, "stddev_samp": true,
	"variance": true, "var_pop": true, "var_samp": true, "first": true, "last": true, "any_value": true,
	"bool_and": true, "bool_or": true, "bit_or": true, "bit_and": true, "histogram": true, "mode": true,
	"product": true, "fsum": true, "sumkahan": true, "entropy": true, "kurtosis": true, "skewness": true,
	"corr": true, "covar_pop": true, "covar_samp": true, "approx_quantile": true, "reservoir_quantile": true,
	"count_if": true, "countif": true, "group_concat": true, "listagg": true, "favg": true,
}

// hasAggregate says whether an expression contains an aggregate call outside window functions
// and subqueries.
func hasAggregate(e any) bool {
	found := false
	walk(e, func(n node) bool {
		if found {
			return false
		}
		if n["class"] == "WINDOW" || n["class"] == "SUBQUERY" {
			return false
		}
		if n["class"] == "FUNCTION" && knownAggregates[strings.ToLower(str(n, "function_name"))] {
			found = true
			return false
		}
		return true
	})
	return found
}

// isAggregation says whether the top node is an aggregating SELECT.
func isAggregation(tree node) bool {
	if tree["type"] != "SELECT_NODE" {
		return false
	}
	if g, _ := tree["group_expressions"].([]any); len(g) > 0 {
		return true
	}
	if tree["aggregate_handling"] == "FORCE_AGGREGATES" {
		return true
	}
	for _, s := range list(tree, "select_list") {
		if hasAggregate(s) {
			return true
		}
	}
	return false
}

func list(n node, key string) []any {
	l, _ := n[key].([]any)
	return l
}

// aggItem is one output column of an incrementally maintained aggregation.
type aggItem struct {
	name string
	// key is set for a group key; expr is then the key's expression.
	key  bool
	expr node
	// fn is the runtime aggregate (aggFuncs values) of an aggregate column, distinct for
	// count(DISTINCT), arg its argument (nil for count(*)).
	fn       string
	distinct bool
	arg      node
}

// incrementalAggregation decomposes an aggregating SELECT into group keys and decomposable
// aggregates over one FROM item. It returns ok=false with the reason when the query is outside
// what incremental maintenance covers; the caller then recomputes the view.
func incrementalAggregation(tree node) (items []aggItem, reason string) {
	if tree["type"] != "SELECT_NODE" {
		return nil, "the query is a set operation"
	}
	if len(list(tree, "modifiers")) > 0 {
		return nil, "the query has DISTINCT, ORDER BY or LIMIT"
	}
	if tree["having"] != nil {
		return nil, "the query has HAVING"
	}
	if tree["qualify"] != nil {
		return nil, "the query has QUALIFY"
	}
	if len(list(tree, "group_sets")) > 1 {
		return nil, "the query has GROUPING SETS, CUBE or ROLLUP"
	}
	if m, _ := tree["cte_map"].(node); m != nil && len(list(m, "map")) > 0 {
		return nil, "the query has WITH"
	}
	from, _ := tree["from_table"].(node)
	if from == nil || from["type"] != "BASE_TABLE" {
		return nil, "the query does not read exactly one table (joins and subqueries are recomputed)"
	}
	groups := list(tree, "group_expressions")
	groupAll := tree["aggregate_handling"] == "FORCE_AGGREGATES"
	for i, s := range list(tree, "select_list") {
		e, _ := s.(node)
		if e == nil {
			return nil, "unexpected select item"
		}
		if e["class"] == "STAR" {
			return nil, "the select list has *"
		}
		name := str(e, "alias")
		if !hasAggregate(e) {
			if name == "" {
				if e["class"] != "COLUMN_REF" {
					return nil, fmt.Sprintf("select item %d (a group key expression) needs an alias", i+1)
				}
				parts := columnNames(e)
				name = parts[len(parts)-1]
			}
			if !groupAll && !inGroups(e, groups) {
				return nil, fmt.Sprintf("select item %s is neither an aggregate nor a GROUP BY expression", name)
			}
			items = append(items, aggItem{name: name, key: true, expr: e})
			continue
		}
		fname := strings.ToLower(str(e, "function_name"))
		if e["class"] != "FUNCTION" || !knownAggregates[fname] {
			label := name
			if label == "" {
				label = fmt.Sprint(i + 1)
			}
			return nil, fmt.Sprintf("select item %s computes over aggregates (only plain aggregate calls are maintained incrementally)", label)
		}
		fn, ok := aggFuncs[fname]
		if !ok {
			return nil, fmt.Sprintf("%s is not a decomposable aggregate", fname)
		}
		if e["filter"] != nil {
			return nil, fname + " has a FILTER clause"
		}
		if o, _ := e["order_bys"].(node); o != nil && len(list(o, "orders")) > 0 {
			return nil, fname + " has ORDER BY"
		}
		args := list(e, "children")
		it := aggItem{name: name, fn: fn, distinct: e["distinct"] == true}
		switch {
		case fname == "count_star":
		case len(args) == 1:
			it.arg, _ = args[0].(node)
		default:
			return nil, fmt.Sprintf("%s takes one argument here", fname)
		}
		if it.distinct && fn != "count" {
			return nil, fname + "(DISTINCT ...) is not decomposable"
		}
		if it.arg != nil && hasAggregate(it.arg) {
			return nil, "nested aggregates"
		}
		if it.name == "" {
			return nil, fmt.Sprintf("select item %d (%s) needs an alias", i+1, fname)
		}
		items = append(items, it)
	}
	// Group keys that are not selected change the grouping: recompute.
	if !groupAll {
		for _, g := range groups {
			found := false
			for _, it := range items {
				if it.key && sameExpr(it.expr, g) {
					found = true
				}
			}
			if !found {
				return nil, "a GROUP BY expression is not in the select list"
			}
		}
	}
	return items, ""
}

// inGroups says whether a select expression is one of the GROUP BY expressions (or refers to one
// by position or alias is not supported: write GROUP BY ALL or repeat the expression).
func inGroups(e node, groups []any) bool {
	for _, g := range groups {
		if sameExpr(e, g) {
			return true
		}
	}
	return false
}

// sameExpr compares two expressions ignoring aliases and positions.
func sameExpr(a, b any) bool {
	return canonical(a) == canonical(b)
}

func canonical(v any) string {
	c := clone(v)
	walk(c, func(n node) bool {
		delete(n, "query_location")
		delete(n, "query_location_length")
		if _, ok := n["class"]; ok {
			delete(n, "alias")
		}
		return true
	})
	return fmt.Sprint(c)
}

// columnRefs returns the column references (name parts) an expression reads, outside subqueries.
func columnRefs(e any) [][]string {
	var out [][]string
	walk(e, func(n node) bool {
		if n["class"] == "SUBQUERY" {
			return false
		}
		if n["class"] == "COLUMN_REF" {
			out = append(out, columnNames(n))
		}
		return true
	})
	return out
}
