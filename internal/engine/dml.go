package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/table"
)

// DELETE and UPDATE on Delta tables:
//
//	DELETE FROM <target> [[AS] alias] [USING from-items] [WHERE condition]
//	UPDATE <target> [[AS] alias] SET col = expr, ... [FROM from-items] [WHERE condition]
//
// where <target> is a project table domain.table, delta.`path` or delta_scan('path'). DuckDB
// executes the statement as written against a shadow table standing for the target
// (dml_shadow.go) that holds the rows the condition selects (dml_rewrite.go); Strata commits the
// result as one copy-on-write Delta transaction: the files holding deleted or updated rows are
// removed and replaced by rewritten copies (written by DuckDB, dml_copy.go), the other files
// stay. A DELETE whose condition involves partition columns only (or that has no condition)
// removes whole files without reading them, as Delta does.

func init() {
	registerHandler(deleteHandler)
	registerHandler(updateHandler)
}

// errRun returns a statement runner that fails with err.
func errRun(err error) func(context.Context) (*Result, error) {
	return func(context.Context) (*Result, error) { return nil, err }
}

func deleteHandler(e *Engine, st statement) func(context.Context) (*Result, error) {
	if !headIs(st, "DELETE", "FROM") {
		return nil
	}
	ref, ok, err := e.parseTarget(st, 2)
	if err != nil {
		return errRun(err)
	}
	if !ok || ref.Domain != "" && isDuckSchema(ref.Domain) {
		return nil
	}
	return func(ctx context.Context) (*Result, error) { return e.runDelete(ctx, st, ref) }
}

func updateHandler(e *Engine, st statement) func(context.Context) (*Result, error) {
	if !headIs(st, "UPDATE") {
		return nil
	}
	ref, ok, err := e.parseTarget(st, 1)
	if err != nil {
		return errRun(err)
	}
	if !ok || ref.Domain != "" && isDuckSchema(ref.Domain) {
		return nil
	}
	return func(ctx context.Context) (*Result, error) { return e.runUpdate(ctx, st, ref) }
}

// openWriteTarget loads the latest snapshot of a statement's target. duck is true when the
// target is a DuckDB table (domain.table naming no Delta table but a DuckDB one): DuckDB then
// runs the statement itself.
func (e *Engine) openWriteTarget(ctx context.Context, ref *targetRef) (t *table.Table, snap *delta.Snapshot, duck bool, err error) {
	t, err = e.openTable(ctx, ref.Location)
	if err != nil {
		return nil, nil, false, err
	}
	snap, err = t.Snapshot(ctx, -1)
	if errors.Is(err, delta.ErrNotATable) {
		if ref.Domain != "" {
			if e.duckTableExists(ctx, ref.Domain, ref.Table) {
				return nil, nil, true, nil
			}
			return nil, nil, false, fmt.Errorf("%w: %s (no Delta table at %s)", ErrUnknownTable, ref.Name, ref.Location)
		}
		return nil, nil, false, fmt.Errorf("engine: %s: %w", ref.Location, err)
	}
	if err != nil {
		return nil, nil, false, err
	}
	if err := snap.Protocol().CheckWritable(snap.Metadata()); err != nil {
		return nil, nil, false, fmt.Errorf("engine: %s version %d: %w", ref.Name, snap.Version(), err)
	}
	return t, snap, false, nil
}

// duckTableExists reports whether DuckDB's catalog has schema.name (a table or view).
func (e *Engine) duckTableExists(ctx context.Context, schema, name string) bool {
	c, err := e.connect(ctx)
	if err != nil {
		return false
	}
	defer c.Close()
	v, err := c.queryValues(ctx, "SELECT count(*) FROM duckdb_tables() WHERE schema_name = "+quoteString(schema)+
		" AND table_name = "+quoteString(name)+" UNION ALL SELECT count(*) FROM duckdb_views() WHERE schema_name = "+
		quoteString(schema)+" AND view_name = "+quoteString(name))
	return err == nil && toInt64(v[0]) > 0
}

// defaultAlias is the alias a statement's target gets when it has none: the table name for a
// project table (so that table.column keeps working), none for a location.
func defaultAlias(ref *targetRef) string { return ref.Table }

// pruneTarget chooses the files of snap that may hold target rows matching the statement's
// condition: it hands DuckDB's parser an equivalent SELECT (the target, the extra FROM items, the
// WHERE) and takes the filter the read path extracts for the target (file pruning by partition
// values and statistics). Without a usable filter every file is a candidate.
func (e *Engine) pruneTarget(ctx context.Context, c *conn, st statement, ref *targetRef, t *table.Table, snap *delta.Snapshot, aliasText, from, where string) ([]*delta.Add, delta.Expr, ScanReport, error) {
	target := textBetween(st.Text, st.Tokens, ref.Start, ref.End)
	if ref.Domain == "" {
		target = "delta_scan(" + quoteString(ref.Location) + ")"
	}
	var filter delta.Expr
	if where != "" {
		prefix := "SELECT 1 FROM "
		q := prefix + target + aliasText
		if from != "" {
			q += ", " + from
		}
		q += " WHERE " + where
		if qst, err := newStatement(q); err == nil {
			if refs, _, err := e.findQueryRefs(ctx, c, qst); err == nil {
				for _, r := range refs {
					if len(r.Edits) > 0 && r.Edits[0].Start == len(prefix) {
						filter = r.Filter
					}
				}
			}
		}
	}
	files, report, err := e.planScan(ctx, t, snap, filter)
	if err != nil {
		return nil, nil, ScanReport{}, err
	}
	report.Table = ref.Name
	return files, filter, report, nil
}

// aliasClause renders " AS alias" for the synthesized SELECT of pruneTarget.
func aliasClause(alias string) string {
	if alias == "" {
		return ""
	}
	return " AS " + quoteIdent(alias)
}

// bindText tokenizes text and resolves its Delta references to views on c.
func (e *Engine) bindText(ctx context.Context, c *conn, text string) (string, []ScanReport, error) {
	st, err := newStatement(text)
	if err != nil {
		return "", nil, err
	}
	return e.bindReferences(ctx, c, st)
}

func (e *Engine) runDelete(ctx context.Context, st statement, ref *targetRef) (*Result, error) {
	t0 := time.Now()
	t, snap, duck, err := e.openWriteTarget(ctx, ref)
	if err != nil {
		return nil, err
	}
	if duck {
		return e.runDuckDB(ctx, st)
	}
	clauses, err := parseDeleteClauses(st, ref.End, ref.Name)
	if err != nil {
		return nil, err
	}
	alias, using, where := clauses.alias, clauses.from, clauses.where
	effAlias := alias
	if effAlias == "" {
		effAlias = defaultAlias(ref)
	}
	c, err := e.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if err := checkRemovals(ref, snap, "DELETE", true, false); err != nil {
		return nil, err
	}
	out := &writeOutcome{target: ref, operation: "DELETE", version: snap.Version()}
	op := delta.Operation{Name: "DELETE", Parameters: map[string]any{"predicate": predicateParam(where)}}

	// Whole files: no condition, or one over partition columns only.
	if using == "" {
		var match []bool
		ok := where == ""
		var scans []ScanReport
		if ok {
			match = make([]bool, len(snap.Files()))
			for k := range match {
				match[k] = true
			}
		} else if match, scans, ok, err = e.partitionEval(ctx, c, snap, snap.Files(), effAlias, where); err != nil {
			return nil, err
		}
		if ok {
			self, err := readsLocation(scans, t.Location(), snap.Version())
			if err != nil {
				return nil, err
			}
			var removes []*delta.Add
			for k, f := range snap.Files() {
				if match[k] {
					removes = append(removes, f)
				}
			}
			deleted, err := e.countRows(ctx, c, t, snap, removes)
			if err != nil {
				return nil, err
			}
			report := ScanReport{Table: ref.Name, Location: t.Location(), Version: snap.Version(), FilesTotal: len(snap.Files()),
				PartitionsUsed: where != ""}
			out.scans = append([]ScanReport{report}, scans...)
			out.metrics = map[string]any{"numDeletedRows": deleted, "numRemovedFiles": len(removes), "numAddedFiles": 0,
				"numCopiedRows": 0, "numRemovedBytes": sumSizes(removes), "numAddedBytes": 0, "numAddedChangeFiles": 0}
			if len(removes) > 0 {
				spec := commitSpec{op: op, removes: removes, readFiles: removes, readWhole: self, rewrites: false, metrics: out.metrics}
				spec.readPreds = []delta.Expr{partitionPredicateOf(snap, where)}
				out.metrics["executionTimeMs"] = sinceMillis(t0)
				res, err := e.commit(ctx, t, snap, spec)
				if err != nil {
					return nil, err
				}
				out.version, out.committed = res.Version, true
			}
			out.message = fmt.Sprintf("deleted %d rows from %s (%d files removed): %s", deleted, ref.Name, len(removes), versionNote(out.committed, out.version))
			return out.result(st), nil
		}
	}

	// Copy-on-write.
	if err := checkRemovals(ref, snap, "DELETE", true, true); err != nil {
		return nil, err
	}
	candidates, filter, report, err := e.pruneTarget(ctx, c, st, ref, t, snap, aliasClause(alias), using, where)
	if err != nil {
		return nil, err
	}
	name := e.tempName("target")
	addAlias := ""
	if alias == "" {
		addAlias = defaultAlias(ref)
	}
	bound, scans, err := e.bindText(ctx, c, rewriteTarget(st, ref, name, addAlias, effAlias))
	if err != nil {
		return nil, err
	}
	self, err := readsLocation(scans, t.Location(), snap.Version())
	if err != nil {
		return nil, err
	}
	out.scans = append([]ScanReport{report}, scans...)
	rw, err := e.newRewrite(ctx, c, t, snap, candidates, name)
	if err != nil {
		return nil, err
	}
	if err := rw.findDMLHits(ctx, bound, name, ref.Name, parseDeleteClauses); err != nil {
		return nil, err
	}
	rw.apply = func(ctx context.Context, _ *shadowTable) (int64, error) {
		n, err := c.execCount(ctx, bound)
		if err != nil {
			return 0, renameInError(duckError(err), name, ref.Name)
		}
		return n, nil
	}
	res, err := rw.execute(ctx)
	if err != nil {
		return nil, err
	}
	if res.moved != 0 || res.changed != 0 {
		rw.w.discard(ctx)
		return nil, fmt.Errorf("engine: DELETE on %s changed or added rows (internal error); nothing was committed", ref.Name)
	}
	deleted := res.affected
	return e.commitRewrite(ctx, st, out, rw, res, op, rewriteRead{candidates: candidates, filter: filter, self: self},
		func(addedBytes, removedBytes int64) map[string]any {
			return map[string]any{"numDeletedRows": deleted, "numRemovedFiles": len(res.removes), "numAddedFiles": len(res.adds),
				"numCopiedRows": res.copied, "numRemovedBytes": removedBytes, "numAddedBytes": addedBytes, "numAddedChangeFiles": 0,
				"executionTimeMs": sinceMillis(t0)}
		},
		func(v string) string {
			return fmt.Sprintf("deleted %d rows from %s: %s", deleted, ref.Name, v)
		})
}

func (e *Engine) runUpdate(ctx context.Context, st statement, ref *targetRef) (*Result, error) {
	t0 := time.Now()
	t, snap, duck, err := e.openWriteTarget(ctx, ref)
	if err != nil {
		return nil, err
	}
	if duck {
		return e.runDuckDB(ctx, st)
	}
	clauses, err := parseUpdateClauses(st, ref.End, ref.Name)
	if err != nil {
		return nil, err
	}
	alias, from, where := clauses.alias, clauses.from, clauses.where
	effAlias := alias
	if effAlias == "" {
		effAlias = defaultAlias(ref)
	}
	c, err := e.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if err := checkRemovals(ref, snap, "UPDATE", true, true); err != nil {
		return nil, err
	}
	out := &writeOutcome{target: ref, operation: "UPDATE", version: snap.Version()}
	op := delta.Operation{Name: "UPDATE", Parameters: map[string]any{"predicate": updatePredicateParam(where)}}

	var candidates []*delta.Add
	var filter delta.Expr
	var report ScanReport
	pruned := false
	if from == "" && where != "" {
		// A condition over partition columns only selects whole partitions.
		match, _, ok, err := e.partitionEval(ctx, c, snap, snap.Files(), effAlias, where)
		if err != nil {
			return nil, err
		}
		if ok {
			pruned = true
			for k, f := range snap.Files() {
				if match[k] {
					candidates = append(candidates, f)
				}
			}
			filter = partitionPredicateOf(snap, where)
			report = ScanReport{Table: ref.Name, Location: t.Location(), Version: snap.Version(), FilesTotal: len(snap.Files()),
				FilesScanned: len(candidates), FilesSkipped: len(snap.Files()) - len(candidates), PartitionsUsed: true,
				BytesScanned: sumSizes(candidates), BytesSkipped: sumSizes(snap.Files()) - sumSizes(candidates)}
		}
	}
	if !pruned {
		candidates, filter, report, err = e.pruneTarget(ctx, c, st, ref, t, snap, aliasClause(alias), from, where)
		if err != nil {
			return nil, err
		}
	}
	name := e.tempName("target")
	addAlias := ""
	if alias == "" {
		addAlias = defaultAlias(ref)
	}
	bound, scans, err := e.bindText(ctx, c, rewriteTarget(st, ref, name, addAlias, effAlias))
	if err != nil {
		return nil, err
	}
	self, err := readsLocation(scans, t.Location(), snap.Version())
	if err != nil {
		return nil, err
	}
	out.scans = append([]ScanReport{report}, scans...)
	rw, err := e.newRewrite(ctx, c, t, snap, candidates, name)
	if err != nil {
		return nil, err
	}
	if err := rw.findDMLHits(ctx, bound, name, ref.Name, parseUpdateClauses); err != nil {
		return nil, err
	}
	rw.prints = true
	rw.apply = func(ctx context.Context, _ *shadowTable) (int64, error) {
		n, err := c.execCount(ctx, bound)
		if err != nil {
			return 0, renameInError(duckError(err), name, ref.Name)
		}
		return n, nil
	}
	res, err := rw.execute(ctx)
	if err != nil {
		return nil, err
	}
	updated := res.affected
	return e.commitRewrite(ctx, st, out, rw, res, op, rewriteRead{candidates: candidates, filter: filter, self: self},
		func(addedBytes, removedBytes int64) map[string]any {
			return map[string]any{"numUpdatedRows": updated, "numRemovedFiles": len(res.removes), "numAddedFiles": len(res.adds),
				"numCopiedRows": res.copied, "numRemovedBytes": removedBytes, "numAddedBytes": addedBytes, "numAddedChangeFiles": 0,
				"executionTimeMs": sinceMillis(t0)}
		},
		func(v string) string {
			return fmt.Sprintf("updated %d rows of %s: %s", updated, ref.Name, v)
		})
}

// rewriteRead is what a copy-on-write statement read, for conflict detection.
type rewriteRead struct {
	candidates []*delta.Add
	filter     delta.Expr // the pruning filter (nil: none)
	self       bool       // the statement depends on rows outside the candidates
}

// commitRewrite commits what a rewrite wrote and removed (nothing when it changed nothing). A
// commit that conflicts leaves the rewrite's files unreferenced and deletes them.
func (e *Engine) commitRewrite(ctx context.Context, st statement, out *writeOutcome, rw *rewrite, res *rewriteOutcome, op delta.Operation,
	read rewriteRead, metrics func(addedBytes, removedBytes int64) map[string]any, message func(string) string) (*Result, error) {
	_, addedBytes := sumWritten(res.adds)
	out.metrics = metrics(addedBytes, sumSizes(res.removes))
	if len(res.adds) > 0 || len(res.removes) > 0 {
		spec := commitSpec{op: op, removes: res.removes, adds: res.adds, readFiles: read.candidates, rewrites: len(res.removes) > 0, metrics: out.metrics}
		if read.self {
			spec.readWhole = true
		} else {
			spec.readPreds = []delta.Expr{partitionReadPredicate(rw.snap, read.filter)}
		}
		dmlTrace("commit start")
		commit, err := e.commit(ctx, rw.t, rw.snap, spec)
		dmlTrace("commit end")
		if err != nil {
			var ce *delta.ConflictError
			if errors.As(err, &ce) {
				rw.w.discard(ctx)
			}
			return nil, err
		}
		out.version, out.committed = commit.Version, true
	}
	note := versionNote(out.committed, out.version)
	if !out.committed {
		note = "no stored value changed, " + note
	}
	out.message = message(note)
	return out.result(st), nil
}

// predicateParam renders a DELETE condition as Spark's operationParameters.predicate (a JSON list).
func predicateParam(where string) []string {
	if where == "" {
		return []string{}
	}
	return []string{where}
}

// updatePredicateParam renders an UPDATE condition as Spark does (a string; "true" without one).
func updatePredicateParam(where string) string {
	if where == "" {
		return "true"
	}
	return where
}

// partitionPredicateOf parses a condition written over partition columns as a kernel predicate,
// for conflict detection; alwaysTrue when it is not one the kernel reads.
func partitionPredicateOf(snap *delta.Snapshot, where string) delta.Expr {
	if where == "" {
		return alwaysTrue
	}
	p, err := delta.ParsePredicate(where)
	if err != nil {
		return alwaysTrue
	}
	return partitionReadPredicate(snap, p)
}
