package engine

import (
	"context"
	"database/sql/driver"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/parquetio"
	"github.com/stratalake/strata/internal/table"
)

// The copy-on-write executor. A statement (DELETE, UPDATE, MERGE, INSERT ... REPLACE WHERE)
// runs in DuckDB against a shadow of its target (dml_shadow.go), in one of two modes:
//
//   - targeted: the statement first finds the rows it may change (its hits: a temp table of
//     (file, row) pairs, computed from the target's candidate files and whatever else it reads),
//     and the shadow holds those rows only. A file whose hits the statement deleted or changed is
//     rewritten from its other rows, read from the file, plus the survivors of its hits;
//   - whole files: the shadow holds every row of the candidate files (statements whose
//     conditions cannot be evaluated twice with the same outcome, such as random(); tables that
//     targetScan cannot read).
//
// Either way the candidate files are processed in chunks whose shadows fit a share of DuckDB's
// memory (dmlChunkBytes), each chunk loaded, changed by the statement, diffed, written and
// dropped before the next (single: one chunk, for a statement that must see every candidate row
// at once). Within a chunk the rewritten files are written in groups of about the table's target
// file size (at least minWriteGroupBytes: a COPY costs some milliseconds however small), each
// group by one DuckDB COPY (dml_copy.go), which writes a file per partition (an unpartitioned
// table's files are closed at the target size). New rows that the statement computed
// apart (MERGE's inserts) are written with the last group. Nothing is committed here: the caller
// commits the files once, or discards them.

// dmlChunkBytes, when positive, bounds the estimated bytes (of Parquet data) loaded into one
// shadow; otherwise the bound is a sixteenth of DuckDB's memory_limit (rows take several times
// their Parquet size in memory), at least 16 MiB (a variable so that tests can force small
// chunks).
var dmlChunkBytes int64

// minWriteGroupBytes is the least input (bytes of the files rewritten) of one COPY.
const minWriteGroupBytes = 64 << 20

// rewrite is one copy-on-write statement's execution. Fields are set by its creator; execute
// runs it once.
type rewrite struct {
	e      *Engine
	c      *conn
	t      *table.Table
	snap   *delta.Snapshot
	files  []*delta.Add // candidate files
	scan   *targetScan  // nil when the table cannot be read with row identities
	shadow string       // the shadow table's name, which the statement's bound text names
	// hits names the temp table (f INTEGER, r BIGINT) of rows to load (files by their index in
	// files, rows by position); "" loads whole files.
	hits string
	// single loads every candidate file in one chunk.
	single bool
	// prints fingerprints the loaded rows (statements that update).
	prints bool
	// apply runs the statement on the loaded shadow and returns the rows it affected.
	apply func(ctx context.Context, s *shadowTable) (int64, error)
	// inserts names a temp table of new rows (the table's logical columns), "" if none.
	inserts string
	w       *copyWriter

	pmap  string             // temp table of the current partition ids (partitionIDs)
	index map[*delta.Add]int // file -> index in files (fileIndex)
}

// rewriteOutcome is what a rewrite did.
type rewriteOutcome struct {
	adds     []parquetio.DataFile
	removes  []*delta.Add
	affected int64 // rows the statement reported affected, over all chunks
	lost     int64 // loaded rows the statement removed from the shadows (deleted, or moved)
	moved    int64 // rows the statement added to the shadows (DuckDB updates nested columns as delete + insert)
	changed  int64 // surviving loaded rows whose values changed
	copied   int64 // rows of removed files written again unchanged
	inserted int64 // rows of the inserts table written

	insertsDone bool // the inserts table was written
}

// newRewrite prepares a rewrite of files of t: the DuckDB writer and, when the table allows it,
// the scan with row identities.
func (e *Engine) newRewrite(ctx context.Context, c *conn, t *table.Table, snap *delta.Snapshot, files []*delta.Add, shadow string) (*rewrite, error) {
	w, err := newCopyWriter(t, snap)
	if err != nil {
		return nil, err
	}
	r := &rewrite{e: e, c: c, t: t, snap: snap, files: files, shadow: shadow, w: w}
	// loadChunk needs DuckDB to insert rows in the order of its ORDER BY (the default; set on this
	// connection in case the database's default was changed).
	if err := c.exec(ctx, "SET SESSION preserve_insertion_order = true"); err != nil {
		return nil, duckError(err)
	}
	if scanSupported(snap) {
		if r.scan, err = e.newTargetScan(ctx, c, t, snap, files); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// targeted reports whether the rewrite can load hits (the statement then fills r.hits).
func (r *rewrite) targeted() bool { return r.scan != nil }

// createHits creates the hits table from query, which selects (file index, row position) pairs
// (no duplicates).
func (r *rewrite) createHits(ctx context.Context, query string) error {
	r.hits = r.e.tempName("hits")
	dmlTraceSQL(query)
	if err := r.c.exec(ctx, "CREATE TEMP TABLE "+quoteIdent(r.hits)+" AS SELECT CAST(f AS INTEGER) AS f, CAST(r AS BIGINT) AS r FROM ("+query+") h(f, r)"); err != nil {
		return duckError(err)
	}
	return nil
}

// hitsOf renders the hits of the files with indexes idx as a FROM item (a join then builds its
// hash table from those only).
func (r *rewrite) hitsOf(idx []int) string {
	if len(idx) == len(r.files) {
		return quoteIdent(r.hits)
	}
	lits := make([]string, len(idx))
	for i, k := range idx {
		lits[i] = strconv.Itoa(k)
	}
	return "(SELECT f, r FROM " + quoteIdent(r.hits) + " WHERE f IN (" + strings.Join(lits, ", ") + "))"
}

// chunkBudget is the estimated bytes one shadow may hold.
func (r *rewrite) chunkBudget(ctx context.Context) int64 {
	if dmlChunkBytes > 0 {
		return dmlChunkBytes
	}
	limit := int64(0)
	if v, err := r.c.queryString(ctx, "SELECT current_setting('memory_limit')"); err == nil {
		limit = parseByteSize(v)
	}
	return max(16<<20, limit/16)
}

var byteSizeRE = regexp.MustCompile(`^\s*([0-9.]+)\s*([KMGTP]?i?B)\s*$`)

// parseByteSize reads DuckDB's rendering of a memory size ("1.0 GiB", "953.6 MiB"); 0 if it
// cannot.
func parseByteSize(s string) int64 {
	m := byteSizeRE.FindStringSubmatch(s)
	if m == nil {
		return 0
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0
	}
	unit := map[string]float64{"B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12, "PB": 1e15,
		"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40, "PiB": 1 << 50}[m[2]]
	return int64(v * unit)
}

// chunkPlan is the files of one chunk (indexes into r.files, ascending) and, in targeted mode,
// their hit counts.
type chunkPlan struct {
	idx  []int
	hits []int64
}

// planChunks groups the files to load into chunks of about budget bytes each.
func (r *rewrite) planChunks(ctx context.Context, budget int64) ([]chunkPlan, error) {
	var idx []int
	var hits []int64
	if r.hits != "" {
		err := r.c.queryEach(ctx, "SELECT f, count(*) FROM "+quoteIdent(r.hits)+" GROUP BY f ORDER BY f", func(v []driver.Value) error {
			idx = append(idx, int(toInt64(v[0])))
			hits = append(hits, toInt64(v[1]))
			return nil
		})
		if err != nil {
			return nil, duckError(err)
		}
	} else {
		for i := range r.files {
			idx = append(idx, i)
		}
	}
	if r.single {
		// Even without files: the statement runs once (a MERGE inserts into an empty shadow).
		return []chunkPlan{{idx: idx, hits: hits}}, nil
	}
	if len(idx) == 0 {
		return nil, nil
	}
	var out []chunkPlan
	var cur chunkPlan
	var acc int64
	for k, i := range idx {
		f := r.files[i]
		est := f.Size
		if hits != nil {
			if rows, ok := fileRows(f); ok && rows > 0 {
				est = f.Size * min(hits[k], rows) / rows
			}
		}
		if len(cur.idx) > 0 && acc+est > budget {
			out = append(out, cur)
			cur, acc = chunkPlan{}, 0
		}
		cur.idx = append(cur.idx, i)
		if hits != nil {
			cur.hits = append(cur.hits, hits[k])
		}
		acc += est
	}
	return append(out, cur), nil
}

// execute runs the rewrite. On error the files it wrote are deleted and nothing else remains
// (the temp tables die with the connection).
func (r *rewrite) execute(ctx context.Context) (_ *rewriteOutcome, err error) {
	defer r.w.close()
	defer func() {
		if err != nil {
			r.w.discard(ctx)
		}
	}()
	dmlTrace("rewrite start")
	defer dmlTrace("rewrite end")
	out := &rewriteOutcome{}
	chunks, err := r.planChunks(ctx, r.chunkBudget(ctx))
	if err != nil {
		return nil, err
	}
	insertsLeft := r.inserts != ""
	if insertsLeft {
		if err := r.checkNestedNulls(ctx, r.inserts); err != nil {
			return nil, err
		}
	}
	for k, ch := range chunks {
		last := k == len(chunks)-1
		if err := r.runChunk(ctx, ch, last && insertsLeft, out); err != nil {
			return nil, err
		}
	}
	if insertsLeft && !out.insertsDone {
		// No chunk wrote them (no file was rewritten).
		files, n, err := r.writeGroup(ctx, nil, nil, nil, -1, true)
		if err != nil {
			return nil, err
		}
		out.adds = append(out.adds, files...)
		out.inserted, out.insertsDone = n, true
	}
	return out, nil
}

// runChunk loads, changes, diffs and writes one chunk.
func (r *rewrite) runChunk(ctx context.Context, ch chunkPlan, withInserts bool, out *rewriteOutcome) error {
	s, err := r.loadChunk(ctx, ch)
	if err != nil {
		return err
	}
	defer r.c.exec(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS "+quoteIdent(r.shadow))
	if r.prints {
		if err := s.fingerprint(ctx, r.c); err != nil {
			return err
		}
	}
	dmlTrace("statement start")
	n, err := r.apply(ctx, s)
	if err != nil {
		return err
	}
	out.affected += n
	dmlTrace("statement end")
	if err := r.checkNestedNulls(ctx, r.shadow); err != nil {
		return err
	}
	d, err := s.diff(ctx, r.c)
	if err != nil {
		return err
	}
	out.lost += d.deleted(s)
	out.moved += d.inserted
	out.changed += d.updated()
	// The touched files, in load order, in groups of about the target file size.
	var groups [][]int // positions in s.files
	var acc int64
	for i, t := range d.touched {
		if !t {
			continue
		}
		out.removes = append(out.removes, s.files[i])
		size := s.files[i].Size
		if len(groups) == 0 || acc+size > max(r.w.target, minWriteGroupBytes) {
			groups = append(groups, nil)
			acc = 0
		}
		groups[len(groups)-1] = append(groups[len(groups)-1], i)
		acc += size
	}
	withMoved := d.inserted > 0
	if len(groups) == 0 && (withMoved || withInserts) {
		groups = [][]int{nil}
	}
	if len(groups) == 0 {
		return nil
	}
	pids, err := r.partitionIDs(ctx, s, d, withInserts)
	if err != nil {
		return err
	}
	for g, grp := range groups {
		lastGroup := g == len(groups)-1
		files, n, err := r.writeGroup(ctx, s, grp, pids, boolIndex(lastGroup && withMoved, s.loaded), lastGroup && withInserts)
		if err != nil {
			return err
		}
		out.adds = append(out.adds, files...)
		var rows int64
		for _, f := range files {
			rows += f.NumRecords
		}
		if lastGroup && withInserts {
			out.inserted, out.insertsDone = n, true
		}
		// Copied rows: written rows that are neither changed, moved nor inserted.
		var changed int64
		for _, i := range grp {
			changed += d.changed[i]
		}
		rows -= changed
		if lastGroup {
			rows -= d.inserted
			if withInserts {
				rows -= n
			}
		}
		out.copied += rows
	}
	return nil
}

// boolIndex returns v when ok, -1 otherwise.
func boolIndex(ok bool, v int64) int64 {
	if ok {
		return v
	}
	return -1
}

// loadChunk creates the shadow and loads a chunk's rows into it, file by file in index order.
func (r *rewrite) loadChunk(ctx context.Context, ch chunkPlan) (*shadowTable, error) {
	dmlTrace("load start")
	defer dmlTrace("load end")
	s := &shadowTable{name: r.shadow, t: r.t, snap: r.snap}
	if err := r.c.exec(ctx, "CREATE TEMP TABLE "+quoteIdent(s.name)+" ("+columnDefs(r.snap.Schema())+")"); err != nil {
		return nil, fmt.Errorf("engine: shadow of %s: %w", r.t.Location(), duckError(err))
	}
	cols := logicalColumns(r.snap.Schema(), "t")
	for _, i := range ch.idx {
		s.files = append(s.files, r.files[i])
	}
	if r.hits != "" {
		// One statement, ordered by file: the rows of each file get consecutive row ids, in
		// file order (DuckDB inserts the rows of INSERT ... SELECT ... ORDER BY in that order
		// under preserve_insertion_order).
		q := "INSERT INTO " + quoteIdent(s.name) + " SELECT " + cols + " FROM (" + r.scan.sql(ch.idx) + ") t SEMI JOIN " + r.hitsOf(ch.idx) +
			" h ON h.f = t." + scanFileCol + " AND h.r = t." + scanRowCol + " ORDER BY t." + scanFileCol
		dmlTraceSQL(q)
		n, err := r.c.execCount(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("engine: load %s version %d: %w", r.t.Location(), r.snap.Version(), duckError(err))
		}
		for _, h := range ch.hits {
			s.lo = append(s.lo, s.loaded)
			s.n = append(s.n, h)
			s.loaded += h
		}
		if n != s.loaded {
			return nil, fmt.Errorf("engine: shadow of %s: loaded %d rows, %d expected; nothing was committed", r.t.Location(), n, s.loaded)
		}
	} else {
		for _, i := range ch.idx {
			var rel string
			var err error
			if r.scan != nil {
				rel = r.scan.sql([]int{i})
			} else if rel, err = r.e.relationFor(ctx, r.c, r.t, r.snap, []*delta.Add{r.files[i]}); err != nil {
				return nil, err
			}
			n, err := r.c.execCount(ctx, "INSERT INTO "+quoteIdent(s.name)+" SELECT "+cols+" FROM ("+rel+") t")
			if err != nil {
				return nil, fmt.Errorf("engine: load %s of %s version %d: %w", r.files[i].Path, r.t.Location(), r.snap.Version(), duckError(err))
			}
			s.lo = append(s.lo, s.loaded)
			s.n = append(s.n, n)
			s.loaded += n
		}
	}
	if err := s.checkRowIDs(ctx, r.c); err != nil {
		return nil, err
	}
	return s, nil
}

// logicalColumns lists the table's columns qualified by alias, in order.
func logicalColumns(schema *delta.StructType, alias string) string {
	cols := make([]string, len(schema.Fields))
	for i, f := range schema.Fields {
		cols[i] = quoteIdent(alias) + "." + quoteIdent(f.Name)
	}
	return strings.Join(cols, ", ")
}

// checkNestedNulls fails with delta.ErrSchemaMismatch when a row of table (the shadow, or new
// rows) holds NULL in a nested field the schema declares non-nullable: DuckDB's NOT NULL
// constraints only reach top-level columns, and DuckDB's Parquet writer checks nothing. Rows read
// from the table's files are valid, so a shadow's rows are the only ones to check.
func (r *rewrite) checkNestedNulls(ctx context.Context, table string) error {
	var conds []string
	for _, f := range r.snap.Schema().Fields {
		if v := nullViolation(quoteIdent(f.Name), f.Type, 0); v != "" {
			conds = append(conds, "coalesce("+v+", false)")
		}
	}
	if len(conds) == 0 {
		return nil
	}
	v, err := r.c.queryValues(ctx, "SELECT count(*) FROM "+quoteIdent(table)+" WHERE "+strings.Join(conds, " OR "))
	if err != nil {
		return duckError(err)
	}
	if n := toInt64(v[0]); n > 0 {
		return fmt.Errorf("engine: %s: %w: %d rows hold NULL in a nested field that is not nullable; nothing was committed",
			r.t.Location(), delta.ErrSchemaMismatch, n)
	}
	return nil
}

// nullViolation renders a condition that is true when expr, a non-NULL value of type t, holds
// NULL where t's nested fields, elements or values may not; "" when t allows every NULL.
func nullViolation(expr string, t delta.DataType, depth int) string {
	v := fmt.Sprintf("n%d", depth)
	var parts []string
	switch t := t.(type) {
	case *delta.StructType:
		for _, f := range t.Fields {
			field := "struct_extract(" + expr + ", " + quoteString(f.Name) + ")"
			if !f.Nullable {
				parts = append(parts, field+" IS NULL")
			}
			if sub := nullViolation(field, f.Type, depth+1); sub != "" {
				parts = append(parts, "coalesce("+sub+", false)")
			}
		}
	case *delta.ArrayType:
		if !t.ContainsNull {
			parts = append(parts, "len(list_filter("+expr+", "+v+" -> "+v+" IS NULL)) > 0")
		}
		if sub := nullViolation(v, t.ElementType, depth+1); sub != "" {
			parts = append(parts, "len(list_filter("+expr+", "+v+" -> coalesce("+sub+", false))) > 0")
		}
	case *delta.MapType:
		if !t.ValueContainsNull {
			parts = append(parts, "len(list_filter(map_values("+expr+"), "+v+" -> "+v+" IS NULL)) > 0")
		}
		if sub := nullViolation(v, t.KeyType, depth+1); sub != "" {
			parts = append(parts, "len(list_filter(map_keys("+expr+"), "+v+" -> coalesce("+sub+", false))) > 0")
		}
		if sub := nullViolation(v, t.ValueType, depth+1); sub != "" {
			parts = append(parts, "len(list_filter(map_values("+expr+"), "+v+" -> coalesce("+sub+", false))) > 0")
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "(" + expr + " IS NOT NULL AND (" + strings.Join(parts, " OR ") + "))"
}

// findDMLHits fills the hits of a DELETE or UPDATE (parse reads its clauses) from its bound text,
// where the target is the shadow: the rows its condition (with its USING or FROM items) selects.
// It leaves whole files to load when the table cannot be scanned with row identities, when the
// statement has no condition (every row is hit), and when evaluating it twice may give different
// rows (then in a single chunk, as the statement must see its rows at once).
func (r *rewrite) findDMLHits(ctx context.Context, bound, shadow, name string, parse func(statement, int, string) (dmlClauses, error)) error {
	bst, err := newStatement(bound)
	if err != nil {
		return err
	}
	if evaluatesOnce(bst) {
		r.single = true
		return nil
	}
	after := targetTokenAfter(bst, shadow)
	if !r.targeted() || after < 0 {
		return nil
	}
	d, err := parse(bst, after, name)
	if err != nil {
		return err
	}
	if d.from == "" && d.where == "" {
		return nil
	}
	dmlTrace("hits start")
	defer dmlTrace("hits end")
	if err := r.createHits(ctx, hitsQuery(r.scan, d.alias, d)); err != nil {
		return r.statementError(ctx, bound, name, err)
	}
	return nil
}

// statementError returns the error DuckDB reports for the statement itself (bound, whose target is
// the shadow) when the query Strata derived from it failed with err (see explainError).
func (r *rewrite) statementError(ctx context.Context, bound, name string, err error) error {
	return r.e.explainError(ctx, r.c, r.snap, r.shadow, bound, name, renameInError(err, r.scan.name, name))
}

// explainError returns the error DuckDB reports when it plans a statement (bound, whose target is
// the temp table shadow, renamed name in the message) against an empty shadow: a query Strata
// derived from the statement failed with err, and the user should rather see an error about what
// they wrote. err is returned when the statement plans.
func (e *Engine) explainError(ctx context.Context, c *conn, snap *delta.Snapshot, shadow, bound, name string, err error) error {
	if cerr := c.exec(ctx, "CREATE TEMP TABLE "+quoteIdent(shadow)+" ("+columnDefs(snap.Schema())+")"); cerr != nil {
		return err
	}
	defer c.exec(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS "+quoteIdent(shadow))
	if perr := c.exec(ctx, "EXPLAIN "+bound); perr != nil {
		return renameInError(duckError(perr), shadow, name)
	}
	return err
}
