package engine

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/parquetio"
	"github.com/stratalake/strata/internal/table"
)

// INSERT into a Delta table:
//
//	INSERT INTO [TABLE] <target> [PARTITION (col = value, ...)] [BY NAME] [(cols)] <query | VALUES ...>
//	INSERT INTO [TABLE] <target> REPLACE WHERE <predicate> <query>
//	INSERT OVERWRITE [TABLE] <target> [PARTITION (col = value, ...)] [REPLACE WHERE <predicate>] <query>
//
// DuckDB does the INSERT's semantics (column lists, BY NAME, VALUES, casts, NULL for missing
// columns, NOT NULL checks) against a TEMP table shaped like the target; Strata writes that
// table's rows as data files and commits them: an append (a blind append unless the query reads
// the target itself), an overwrite of the whole table, or a replacement of the rows matching the
// REPLACE WHERE predicate (every row written must match it). A predicate over partition columns
// replaces whole files; any other predicate deletes the matching rows copy-on-write. A static
// PARTITION spec sets those columns for every row (the query provides the others) and, with
// OVERWRITE, replaces those partitions only.

func init() { registerHandler(insertHandler) }

func insertHandler(e *Engine, st statement) func(context.Context) (*Result, error) {
	if !headIs(st, "INSERT") || len(st.Tokens) < 3 {
		return nil
	}
	toks := st.Tokens
	i := 1
	overwrite := false
	switch {
	case toks[1].is("INTO"):
		i = 2
	case toks[1].is("OVERWRITE"):
		overwrite, i = true, 2
	case toks[1].is("OR") && len(toks) > 4 && toks[3].is("INTO"):
		ref, ok, err := e.parseTarget(st, 4)
		if err != nil || !ok || ref.Domain != "" && isDuckSchema(ref.Domain) {
			return nil
		}
		return func(ctx context.Context) (*Result, error) {
			_, _, duck, err := e.openWriteTarget(ctx, ref)
			if err != nil {
				return nil, err
			}
			if duck {
				return e.runDuckDB(ctx, st)
			}
			return nil, fmt.Errorf("engine: INSERT OR %s is not supported on Delta table %s (it has no primary key); use MERGE", strings.ToUpper(toks[2].Text), ref.Name)
		}
	default:
		return nil
	}
	if i < len(toks) && toks[i].is("TABLE") {
		i++
	}
	ref, ok, err := e.parseTarget(st, i)
	if err != nil {
		return errRun(err)
	}
	if !ok || ref.Domain != "" && isDuckSchema(ref.Domain) {
		return nil
	}
	return func(ctx context.Context) (*Result, error) { return e.runInsert(ctx, st, ref, overwrite) }
}

// staticPartition is one col = value of a PARTITION spec.
type staticPartition struct {
	field *delta.StructField
	value string // SQL text of the value
}

func (e *Engine) runInsert(ctx context.Context, st statement, ref *targetRef, overwrite bool) (*Result, error) {
	t0 := time.Now()
	t, snap, duck, err := e.openWriteTarget(ctx, ref)
	if err != nil {
		return nil, err
	}
	if duck {
		return e.runDuckDB(ctx, st)
	}
	schema := snap.Schema()
	toks := st.Tokens
	i := ref.End
	verb := "INSERT INTO"
	if overwrite {
		verb = "INSERT OVERWRITE"
	}

	// PARTITION (col = value, ...)
	var static []staticPartition
	if i+1 < len(toks) && toks[i].is("PARTITION") && toks[i+1].punct("(") {
		close, ok := matchParen(toks, i+1)
		if !ok {
			return nil, fmt.Errorf("engine: %s %s: unbalanced PARTITION spec", verb, ref.Name)
		}
		for k := i + 2; k < close; {
			end := findTop(toks, k, close, func(j int) bool { return toks[j].punct(",") })
			if end < 0 {
				end = close
			}
			f := schema.Field(toks[k].name())
			if f == nil || !isPartitionColumn(snap, f.Name) {
				return nil, fmt.Errorf("engine: %s %s: %q is not a partition column", verb, ref.Name, toks[k].Text)
			}
			if k+2 < end && toks[k+1].punct("=") {
				static = append(static, staticPartition{field: f, value: textBetween(st.Text, toks, k+2, end)})
			}
			k = end + 1
		}
		i = close + 1
	}
	// REPLACE WHERE predicate
	var replaceWhere string
	if i+1 < len(toks) && toks[i].is("REPLACE") && toks[i+1].is("WHERE") {
		q := findQueryStart(toks, i+2)
		if q < 0 {
			return nil, fmt.Errorf("engine: %s %s REPLACE WHERE: expected a query after the predicate", verb, ref.Name)
		}
		replaceWhere = textBetween(st.Text, toks, i+2, q)
		i = q
	}
	if i >= len(toks) {
		return nil, fmt.Errorf("engine: %s %s: expected a query or VALUES", verb, ref.Name)
	}
	if len(static) > 0 {
		if replaceWhere != "" {
			return nil, fmt.Errorf("engine: %s %s: give either a PARTITION spec or REPLACE WHERE, not both", verb, ref.Name)
		}
		if !isQueryStart(toks, i) {
			return nil, fmt.Errorf("engine: %s %s: with a static PARTITION spec, the query gives the other columns in order (no column list or BY NAME)", verb, ref.Name)
		}
		if overwrite {
			conds := make([]string, len(static))
			for k, sp := range static {
				conds[k] = quoteIdent(sp.field.Name) + " = " + sp.value
			}
			replaceWhere = strings.Join(conds, " AND ")
		}
	}
	rest := st.Text[toks[i].Start:]
	if err := checkRemovals(ref, snap, verb, overwrite || replaceWhere != "", false); err != nil {
		return nil, err
	}

	c, err := e.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	x := e.tempName("insert")
	if err := c.exec(ctx, "CREATE TEMP TABLE "+quoteIdent(x)+" ("+columnDefs(schema)+")"); err != nil {
		return nil, duckError(err)
	}
	head := "INSERT INTO " + quoteIdent(x) + " "
	if len(static) > 0 {
		var cols []string
		for _, f := range schema.Fields {
			isStatic := false
			for _, sp := range static {
				isStatic = isStatic || sp.field == f
			}
			if !isStatic {
				cols = append(cols, quoteIdent(f.Name))
			}
		}
		head += "(" + strings.Join(cols, ", ") + ") "
	}
	bound, scans, err := e.bindText(ctx, c, head+rest)
	if err != nil {
		return nil, err
	}
	self, err := readsLocation(scans, t.Location(), snap.Version())
	if err != nil {
		return nil, err
	}
	if _, err := c.execCount(ctx, bound); err != nil {
		return nil, renameInError(duckError(err), x, ref.Name)
	}
	if len(static) > 0 {
		sets := make([]string, len(static))
		for k, sp := range static {
			sets[k] = quoteIdent(sp.field.Name) + " = CAST(" + sp.value + " AS " + duckType(sp.field.Type) + ")"
		}
		if err := c.exec(ctx, "UPDATE "+quoteIdent(x)+" SET "+strings.Join(sets, ", ")); err != nil {
			return nil, duckError(err)
		}
	}
	out := &writeOutcome{target: ref, operation: "WRITE", version: snap.Version(), scans: scans}
	mode := "Append"
	if overwrite || replaceWhere != "" {
		mode = "Overwrite"
	}
	op := delta.Operation{Name: "WRITE", Parameters: map[string]any{"mode": mode, "partitionBy": nonNilStrings(snap.PartitionColumns())}}
	alias := defaultAlias(ref)
	if alias == "" {
		alias = "target"
	}

	if replaceWhere != "" {
		op.Parameters["predicate"] = []string{replaceWhere}
		// Every row written must match the predicate.
		check, checkScans, err := e.bindText(ctx, c, "SELECT count(*) FROM "+quoteIdent(x)+" AS "+quoteIdent(alias)+" WHERE NOT coalesce(("+replaceWhere+"\n), false)")
		if err != nil {
			return nil, err
		}
		if s2, err := readsLocation(checkScans, t.Location(), snap.Version()); err != nil {
			return nil, err
		} else if s2 {
			self = true
		}
		v, err := c.queryValues(ctx, check)
		if err != nil {
			return nil, duckError(err)
		}
		if n := toInt64(v[0]); n > 0 {
			return nil, fmt.Errorf("engine: %s %s REPLACE WHERE %s: %d of the rows written do not match the predicate; nothing was committed",
				verb, ref.Name, replaceWhere, n)
		}
		match, pscans, ok, err := e.partitionEval(ctx, c, snap, snap.Files(), alias, replaceWhere)
		if err != nil {
			return nil, err
		}
		if !ok {
			if err := checkRemovals(ref, snap, verb+" REPLACE WHERE", true, true); err != nil {
				return nil, err
			}
			return e.replaceRows(ctx, c, st, out, t, snap, op, x, alias, replaceWhere, self, t0)
		}
		if s2, err := readsLocation(pscans, t.Location(), snap.Version()); err != nil {
			return nil, err
		} else if s2 {
			self = true
		}
		var removes []*delta.Add
		for k, f := range snap.Files() {
			if match[k] {
				removes = append(removes, f)
			}
		}
		files, err := e.writeQuery(ctx, c, t, schema, snap.PartitionColumns(), snap.Metadata().Configuration, "SELECT * FROM "+quoteIdent(x))
		if err != nil {
			return nil, err
		}
		spec := commitSpec{op: op, removes: removes, adds: files, readFiles: removes, readWhole: self,
			readPreds: []delta.Expr{partitionPredicateOf(snap, replaceWhere)}}
		return e.finishInsert(ctx, st, out, t, snap, spec, files, t0, verb)
	}

	files, err := e.writeQuery(ctx, c, t, schema, snap.PartitionColumns(), snap.Metadata().Configuration, "SELECT * FROM "+quoteIdent(x))
	if err != nil {
		return nil, err
	}
	spec := commitSpec{op: op, adds: files, readWhole: self}
	if overwrite {
		spec.removes, spec.readWhole = snap.Files(), true
	}
	return e.finishInsert(ctx, st, out, t, snap, spec, files, t0, verb)
}

// finishInsert commits an INSERT's files (and removals).
func (e *Engine) finishInsert(ctx context.Context, st statement, out *writeOutcome, t *table.Table, snap *delta.Snapshot, spec commitSpec, files []parquetio.DataFile, t0 time.Time, verb string) (*Result, error) {
	rows, bytes := sumWritten(files)
	spec.metrics = map[string]any{"numFiles": len(files), "numOutputRows": rows, "numOutputBytes": bytes}
	if spec.op.Parameters["mode"] == "Overwrite" {
		spec.metrics["numRemovedFiles"] = len(spec.removes)
		spec.metrics["numRemovedBytes"] = sumSizes(spec.removes)
	}
	spec.metrics["executionTimeMs"] = sinceMillis(t0)
	out.metrics = spec.metrics
	ref := out.target
	if len(spec.adds) > 0 || len(spec.removes) > 0 {
		res, err := e.commit(ctx, t, snap, spec)
		if err != nil {
			return nil, err
		}
		out.version, out.committed = res.Version, true
	}
	if verb == "INSERT INTO" && spec.op.Parameters["mode"] == "Append" {
		out.message = fmt.Sprintf("inserted %d rows into %s: %s", rows, ref.Name, versionNote(out.committed, out.version))
	} else {
		out.message = fmt.Sprintf("wrote %d rows to %s, replacing %d files: %s", rows, ref.Name, len(spec.removes), versionNote(out.committed, out.version))
	}
	return out.result(st), nil
}

// replaceRows replaces the rows matching a predicate that is not over partition columns alone:
// copy-on-write, as DELETE ... WHERE predicate followed by the insert, in one commit.
func (e *Engine) replaceRows(ctx context.Context, c *conn, st statement, out *writeOutcome, t *table.Table, snap *delta.Snapshot, op delta.Operation, x, alias, pred string, self bool, t0 time.Time) (*Result, error) {
	ref := out.target
	candidates, filter, report, err := e.pruneTarget(ctx, c, st, &targetRef{Name: ref.Name, Location: ref.Location}, t, snap, aliasClause(alias), "", pred)
	if err != nil {
		return nil, err
	}
	name := e.tempName("target")
	del, scans, err := e.bindText(ctx, c, "DELETE FROM "+quoteIdent(name)+" AS "+quoteIdent(alias)+" WHERE "+pred)
	if err != nil {
		return nil, err
	}
	if s2, err := readsLocation(scans, t.Location(), snap.Version()); err != nil {
		return nil, err
	} else if s2 {
		self = true
	}
	rw, err := e.newRewrite(ctx, c, t, snap, candidates, name)
	if err != nil {
		return nil, err
	}
	if err := rw.findDMLHits(ctx, del, name, ref.Name, parseDeleteClauses); err != nil {
		return nil, err
	}
	rw.inserts = x
	rw.apply = func(ctx context.Context, _ *shadowTable) (int64, error) {
		n, err := c.execCount(ctx, del)
		return n, duckError(err)
	}
	res, err := rw.execute(ctx)
	if err != nil {
		return nil, err
	}
	deleted, written := res.affected, res.inserted
	out.scans = append([]ScanReport{report}, out.scans...)
	return e.commitRewrite(ctx, st, out, rw, res, op, rewriteRead{candidates: candidates, filter: filter, self: self},
		func(addedBytes, removedBytes int64) map[string]any {
			return map[string]any{"numFiles": len(res.adds), "numOutputRows": written + res.copied, "numOutputBytes": addedBytes,
				"numRemovedFiles": len(res.removes), "numRemovedBytes": removedBytes, "numDeletedRows": deleted, "numCopiedRows": res.copied,
				"executionTimeMs": sinceMillis(t0)}
		},
		func(v string) string {
			return fmt.Sprintf("wrote %d rows to %s, replacing %d rows: %s", written, ref.Name, deleted, v)
		})
}

func isPartitionColumn(snap *delta.Snapshot, name string) bool {
	for _, p := range snap.PartitionColumns() {
		if strings.EqualFold(p, name) {
			return true
		}
	}
	return false
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
