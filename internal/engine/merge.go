package engine

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/table"
)

// MERGE into a Delta table:
//
//	MERGE INTO <target> [[AS] alias] USING <source> ON <condition>
//	  WHEN MATCHED [AND cond] THEN UPDATE SET ... | UPDATE SET * | DELETE
//	  WHEN NOT MATCHED [BY TARGET] [AND cond] THEN INSERT (...) VALUES (...) | INSERT *
//	  WHEN NOT MATCHED BY SOURCE [AND cond] THEN UPDATE SET ... | DELETE
//
// DuckDB executes the MERGE's clauses against a shadow of the target rows they may act on
// (dml_shadow.go, dml_rewrite.go; see mergeRun.targeted). Strata adds what DuckDB does not do:
//
//   - Spark's `UPDATE SET *` and `INSERT *` (every target column, by name, from the source) are
//     expanded to explicit column lists;
//   - the standard rule that a target row matched by more than one source row is an error (unless
//     the only MATCHED clause is an unconditional DELETE): checked before anything is written,
//     and the statement fails committing nothing;
//   - candidate files: when the ON condition equates a target column with a source column, only
//     files whose statistics may hold a key between the source's minimum and maximum key are
//     read (not with NOT MATCHED BY SOURCE clauses, which need every target row).

func init() { registerHandler(mergeHandler) }

func mergeHandler(e *Engine, st statement) func(context.Context) (*Result, error) {
	if !headIs(st, "MERGE", "INTO") {
		return nil
	}
	ref, ok, err := e.parseTarget(st, 2)
	if err != nil {
		return errRun(err)
	}
	if !ok || ref.Domain != "" && isDuckSchema(ref.Domain) {
		return nil
	}
	return func(ctx context.Context) (*Result, error) { return e.runMerge(ctx, st, ref) }
}

// ErrMergeDuplicateMatch is returned by a MERGE in which one target row is matched by several
// source rows and would be updated or deleted more than once.
var ErrMergeDuplicateMatch = errors.New("the MERGE statement attempted to update or delete the same target row more than once: " +
	"more than one source row matched the same target row, which is ambiguous; preprocess the source so that each target row matches at most one source row")

// mergeClause is one WHEN clause; token indexes refer to the statement it was parsed from.
type mergeClause struct {
	start, end int // the clause's tokens [start, end)
	matched    bool
	bySource   bool   // WHEN NOT MATCHED BY SOURCE
	cond       string // the AND condition ("" if none)
	action     string // UPDATE, DELETE, INSERT, DO (NOTHING), ERROR
	actionAt   int
}

func (c mergeClause) kind() string {
	switch {
	case c.matched:
		return "matched"
	case c.bySource:
		return "notMatchedBySource"
	}
	return "notMatched"
}

// mergeParts are the token boundaries of a MERGE statement.
type mergeParts struct {
	alias       string // the target's alias as written
	source      [2]int // token range of the source (with its alias)
	sourceAlias string // the name the source's columns are qualified with ("" if unknown)
	on          [2]int
	clauses     []mergeClause
}

// parseMerge reads a MERGE's clauses from the token after the target's name.
func parseMerge(st statement, after int) (*mergeParts, error) {
	toks := st.Tokens
	p := &mergeParts{}
	var i int
	p.alias, i = parseAlias(toks, after)
	if i >= len(toks) || !toks[i].is("USING") {
		return nil, fmt.Errorf("engine: MERGE: expected USING after the target")
	}
	onAt := findTopCase(toks, i+1, len(toks), "ON")
	if onAt < 0 {
		return nil, fmt.Errorf("engine: MERGE: expected ON after the source")
	}
	p.source = [2]int{i + 1, onAt}
	p.sourceAlias = sourceAlias(toks[i+1 : onAt])
	whenAt := findTopCase(toks, onAt+1, len(toks), "WHEN")
	if whenAt < 0 {
		return nil, fmt.Errorf("engine: MERGE: expected WHEN clauses after the ON condition")
	}
	p.on = [2]int{onAt + 1, whenAt}
	for k := whenAt; k < len(toks); {
		if toks[k].is("RETURNING") {
			return nil, fmt.Errorf("engine: MERGE ... RETURNING is not supported on Delta tables")
		}
		if !toks[k].is("WHEN") {
			return nil, fmt.Errorf("engine: MERGE: expected WHEN at %q", toks[k].Text)
		}
		end := findTopCase(toks, k+1, len(toks), "WHEN", "RETURNING")
		if end < 0 {
			end = len(toks)
		}
		c := mergeClause{start: k, end: end}
		j := k + 1
		switch {
		case j < end && toks[j].is("MATCHED"):
			c.matched = true
			j++
		case j+1 < end && toks[j].is("NOT") && toks[j+1].is("MATCHED"):
			j += 2
			if j+1 < end && toks[j].is("BY") {
				switch {
				case toks[j+1].is("SOURCE"):
					c.bySource = true
				case toks[j+1].is("TARGET"):
				default:
					return nil, fmt.Errorf("engine: MERGE: expected BY SOURCE or BY TARGET at %q", toks[j+1].Text)
				}
				j += 2
			}
		default:
			return nil, fmt.Errorf("engine: MERGE: expected MATCHED or NOT MATCHED after WHEN")
		}
		thenAt := findTopCase(toks, j, end, "THEN")
		if thenAt < 0 || thenAt+1 >= end {
			return nil, fmt.Errorf("engine: MERGE: expected THEN in %s", textBetween(st.Text, toks, k, end))
		}
		if j < thenAt {
			if !toks[j].is("AND") {
				return nil, fmt.Errorf("engine: MERGE: expected AND or THEN at %q", toks[j].Text)
			}
			c.cond = textBetween(st.Text, toks, j+1, thenAt)
		}
		c.actionAt = thenAt + 1
		c.action = strings.ToUpper(toks[thenAt+1].Text)
		p.clauses = append(p.clauses, c)
		k = end
	}
	return p, nil
}

// sourceAlias returns the name a MERGE source's columns are qualified with: its alias, or the
// table's name when it is a plain (possibly qualified) table name, or "delta_scan" for a
// delta_scan call without alias.
func sourceAlias(toks []token) string {
	n := len(toks)
	if n == 0 {
		return ""
	}
	// alias(col, ...): drop the column list.
	if toks[n-1].punct(")") {
		depth := 0
		for k := n - 1; k >= 0; k-- {
			if toks[k].punct(")") {
				depth++
			} else if toks[k].punct("(") {
				depth--
				if depth == 0 {
					if k >= 2 && toks[k-1].name() != "" && !toks[k-1].is("delta_scan") &&
						(toks[k-2].is("AS") || toks[k-2].punct(")") || toks[k-2].name() != "") {
						return toks[k-1].name()
					}
					break
				}
			}
		}
	}
	last := toks[n-1]
	if n >= 2 && last.name() != "" && toks[n-2].is("AS") {
		return last.name()
	}
	if n >= 2 && last.name() != "" && (toks[n-2].punct(")") || toks[n-2].name() != "") {
		return last.name()
	}
	if last.punct(")") && toks[0].is("delta_scan") {
		return "delta_scan"
	}
	for k, t := range toks {
		if k%2 == 0 && t.name() == "" || k%2 == 1 && !t.punct(".") {
			return ""
		}
	}
	return last.name()
}

// mergeNeedsDuplicateCheck applies Spark's rule: several source rows may match one target row only
// when the single MATCHED clause is an unconditional DELETE.
func mergeNeedsDuplicateCheck(p *mergeParts) bool {
	var matched []mergeClause
	for _, c := range p.clauses {
		if c.matched && (c.action == "UPDATE" || c.action == "DELETE") {
			matched = append(matched, c)
		}
	}
	if len(matched) == 0 {
		return false
	}
	return !(len(matched) == 1 && matched[0].action == "DELETE" && matched[0].cond == "")
}

// expandStars rewrites Spark's `UPDATE SET *` and `INSERT *` into explicit column lists over the
// target's columns, taken by name from the source.
func expandStars(st statement, p *mergeParts, schema *delta.StructType) (string, error) {
	toks := st.Tokens
	var edits []edit
	for _, c := range p.clauses {
		a := c.actionAt
		star := -1
		switch {
		case c.action == "UPDATE" && a+2 < c.end && toks[a+1].is("SET") && toks[a+2].punct("*"):
			star = a + 2
		case c.action == "INSERT" && a+1 < c.end && toks[a+1].punct("*"):
			star = a + 1
		default:
			continue
		}
		if p.sourceAlias == "" {
			return "", fmt.Errorf("engine: MERGE: %s * needs a source with an alias (USING (...) AS s)", c.action)
		}
		src := quoteIdent(p.sourceAlias) + "."
		var text string
		if c.action == "UPDATE" {
			sets := make([]string, len(schema.Fields))
			for i, f := range schema.Fields {
				sets[i] = quoteIdent(f.Name) + " = " + src + quoteIdent(f.Name)
			}
			text = strings.Join(sets, ", ")
		} else {
			cols := make([]string, len(schema.Fields))
			vals := make([]string, len(schema.Fields))
			for i, f := range schema.Fields {
				cols[i] = quoteIdent(f.Name)
				vals[i] = src + quoteIdent(f.Name)
			}
			text = "(" + strings.Join(cols, ", ") + ") VALUES (" + strings.Join(vals, ", ") + ")"
		}
		edits = append(edits, edit{Start: toks[star].Start, End: toks[star].End, Text: text})
	}
	return applyEdits(st.Text, edits), nil
}

// hasNestedColumn reports whether the table has a column of a nested type.
func hasNestedColumn(schema *delta.StructType) bool {
	for _, f := range schema.Fields {
		switch f.Type.(type) {
		case *delta.ArrayType, *delta.MapType, *delta.StructType:
			return true
		}
	}
	return false
}

// countMergeInserts counts the source rows a MERGE inserts: those matching no target row whose
// first satisfied WHEN NOT MATCHED [BY TARGET] clause is an INSERT.
func countMergeInserts(ctx context.Context, c *conn, p *mergeParts, source, on, shadow, talias string) (int64, error) {
	var anyOf []string
	var earlier []string // conditions of the earlier NOT MATCHED clauses
	for _, cl := range p.clauses {
		if cl.matched || cl.bySource {
			continue
		}
		cond := "true"
		if cl.cond != "" {
			cond = "coalesce((" + cl.cond + "), false)"
		}
		if cl.action == "INSERT" {
			term := cond
			for _, e := range earlier {
				term += " AND NOT " + e
			}
			anyOf = append(anyOf, "("+term+")")
		}
		earlier = append(earlier, cond)
	}
	if len(anyOf) == 0 {
		return 0, nil
	}
	q := "SELECT count(*) FROM " + source + " WHERE NOT EXISTS (SELECT 1 FROM " + quoteIdent(shadow) + " AS " + quoteIdent(talias) +
		" WHERE " + on + ") AND (" + strings.Join(anyOf, " OR ") + ")"
	v, err := c.queryValues(ctx, q)
	if err != nil {
		return 0, duckError(err)
	}
	return toInt64(v[0]), nil
}

// mergeKey is an ON conjunct target.column = source-expression usable for pruning.
type mergeKey struct {
	field  *delta.StructField
	source string // the source side's text
}

// mergeKeys finds the ON conjuncts of the form talias.col = salias.col (either order).
func mergeKeys(st statement, p *mergeParts, talias string, schema *delta.StructType) []mergeKey {
	if p.sourceAlias == "" {
		return nil
	}
	toks := st.Tokens
	var keys []mergeKey
	for _, cj := range splitConjuncts(toks, p.on[0], p.on[1]) {
		a, b := cj[0], cj[1]
		for a < b && toks[a].punct("(") && toks[b-1].punct(")") {
			if close, ok := matchParen(toks, a); !ok || close != b-1 {
				break
			}
			a, b = a+1, b-1
		}
		if b-a != 7 || !toks[a+3].punct("=") {
			continue
		}
		side := func(k int) (qual, col string, ok bool) {
			if toks[k].name() == "" || !toks[k+1].punct(".") || toks[k+2].name() == "" {
				return "", "", false
			}
			return toks[k].name(), toks[k+2].name(), true
		}
		q1, c1, ok1 := side(a)
		q2, c2, ok2 := side(a + 4)
		if !ok1 || !ok2 {
			continue
		}
		if strings.EqualFold(q2, talias) && strings.EqualFold(q1, p.sourceAlias) {
			q1, c1, q2, c2 = q2, c2, q1, c1
		}
		if !strings.EqualFold(q1, talias) || !strings.EqualFold(q2, p.sourceAlias) || strings.EqualFold(talias, p.sourceAlias) {
			continue
		}
		f := schema.Field(c1)
		if f == nil {
			continue
		}
		keys = append(keys, mergeKey{field: f, source: quoteIdent(q2) + "." + quoteIdent(c2)})
	}
	return keys
}

// keyRangePredicate renders min <= col <= max as a kernel predicate when the source key has the
// column's type (any integer type for an integer column) and the kernel parses DuckDB's text of
// the values the same way (integers, strings, dates); nil otherwise.
func keyRangePredicate(f *delta.StructField, typ, lo, hi string) delta.Expr {
	integer := func(t string) bool {
		switch strings.ToUpper(t) {
		case "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "HUGEINT", "UHUGEINT":
			return true
		}
		return false
	}
	if !strings.EqualFold(typ, duckType(f.Type)) && !(integer(typ) && integer(duckType(f.Type))) {
		return nil
	}
	var lit func(string) string
	switch f.Type {
	case delta.TypeLong, delta.TypeInteger, delta.TypeShort, delta.TypeByte:
		lit = func(s string) string { return s }
	case delta.TypeString:
		lit = quoteString
	case delta.TypeDate:
		lit = func(s string) string { return "DATE " + quoteString(s) }
	default:
		return nil
	}
	col := quoteIdent(f.Name)
	p, err := delta.ParsePredicate(col + " >= " + lit(lo) + " AND " + col + " <= " + lit(hi))
	if err != nil {
		return nil
	}
	return p
}

func (e *Engine) runMerge(ctx context.Context, st statement, ref *targetRef) (*Result, error) {
	t0 := time.Now()
	t, snap, duck, err := e.openWriteTarget(ctx, ref)
	if err != nil {
		return nil, err
	}
	if duck {
		return e.runDuckDB(ctx, st)
	}
	schema := snap.Schema()
	p, err := parseMerge(st, ref.End)
	if err != nil {
		return nil, err
	}
	modifies := false
	for _, cl := range p.clauses {
		modifies = modifies || cl.action == "UPDATE" || cl.action == "DELETE"
	}
	if err := checkRemovals(ref, snap, "MERGE", modifies, modifies); err != nil {
		return nil, err
	}
	effAlias := p.alias
	addAlias := ""
	if effAlias == "" {
		effAlias, addAlias = defaultAlias(ref), defaultAlias(ref)
	}
	if effAlias == "" {
		effAlias = "target"
		addAlias = effAlias
	}
	expanded, err := expandStars(st, p, schema)
	if err != nil {
		return nil, err
	}
	st1, err := newStatement(expanded)
	if err != nil {
		return nil, err
	}
	c, err := e.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	name := e.tempName("target")
	bound, scans, err := e.bindText(ctx, c, rewriteTarget(st1, ref, name, addAlias, effAlias))
	if err != nil {
		return nil, err
	}
	self, err := readsLocation(scans, t.Location(), snap.Version())
	if err != nil {
		return nil, err
	}
	bst, err := newStatement(bound)
	if err != nil {
		return nil, err
	}
	bp, err := parseMerge(bst, 3)
	if err != nil {
		return nil, err
	}
	m := &mergeRun{e: e, c: c, st: st, ref: ref, t: t, snap: snap, p: p, bst: bst, bp: bp, name: name, alias: effAlias,
		self: self, scans: scans, t0: t0}
	for _, cl := range bp.clauses {
		m.bySource = m.bySource || cl.bySource
		m.updates = m.updates || cl.action == "UPDATE"
	}
	m.source = textBetween(bst.Text, bst.Tokens, bp.source[0], bp.source[1])
	m.on = textBetween(bst.Text, bst.Tokens, bp.on[0], bp.on[1])
	if m.canTarget() {
		ok, res, err := m.targeted(ctx)
		if ok || err != nil {
			return res, err
		}
	}
	return m.whole(ctx)
}

// mergeRun is one MERGE statement being run.
type mergeRun struct {
	e        *Engine
	c        *conn
	st       statement // as written
	ref      *targetRef
	t        *table.Table
	snap     *delta.Snapshot
	p        *mergeParts // of st
	bst      statement   // bound: the target is the shadow name, references are views, * expanded
	bp       *mergeParts // of bst
	name     string      // the shadow's name
	alias    string      // the target's alias in bst
	self     bool        // the statement reads its target elsewhere than as the target
	scans    []ScanReport
	t0       time.Time
	bySource bool // has WHEN NOT MATCHED BY SOURCE clauses
	updates  bool // has UPDATE actions
	source   string
	on       string
}

// canTarget reports whether the MERGE can run targeted (dml_rewrite.go): the table can be scanned
// with row identities, the source has a name to qualify its columns with (it is materialized
// under it), and the ON condition and clauses evaluate the same every time (the source is
// evaluated once, so anything goes there).
func (m *mergeRun) canTarget() bool {
	if !scanSupported(m.snap) || m.bp.sourceAlias == "" {
		return false
	}
	rest, err := newStatement(m.bst.Text[m.bst.Tokens[m.bp.on[0]].Start:])
	return err == nil && !evaluatesOnce(rest)
}

// candidates chooses the files that may hold matching target rows: those whose statistics may
// hold a key between the source's minimum and maximum key (sv holds the source's row count, then
// per key its minimum, maximum and type), or every file when the statement reads its target or
// has NOT MATCHED BY SOURCE clauses.
func (m *mergeRun) candidates(keys []mergeKey, sv []driver.Value) ([]*delta.Add, delta.Expr, ScanReport, error) {
	snap := m.snap
	report := ScanReport{Table: m.ref.Name, Location: m.t.Location(), Version: snap.Version(), FilesTotal: len(snap.Files())}
	candidates := snap.Files()
	var filter delta.Expr
	if !m.bySource && !m.self {
		if toInt64(sv[0]) == 0 {
			candidates = nil
		} else {
			for i, k := range keys {
				lo, hi, typ := sv[1+3*i], sv[2+3*i], sv[3+3*i]
				if lo == nil || hi == nil {
					candidates, filter = nil, nil // every source key is NULL: nothing matches
					break
				}
				if kp := keyRangePredicate(k.field, fmt.Sprint(typ), fmt.Sprint(lo), fmt.Sprint(hi)); kp != nil {
					if filter == nil {
						filter = kp
					} else {
						filter = &delta.And{Left: filter, Right: kp}
					}
				}
			}
			if filter != nil {
				var keep []*delta.Add
				for _, f := range candidates {
					ok, err := mayMatch(snap, f, filter)
					if err != nil {
						return nil, nil, report, err
					}
					if ok {
						keep = append(keep, f)
					}
				}
				candidates = keep
				report.StatsUsed = true
				report.Filter = filter.String()
			}
		}
	}
	report.FilesScanned = len(candidates)
	report.FilesSkipped = report.FilesTotal - len(candidates)
	report.BytesScanned = sumSizes(candidates)
	report.BytesSkipped = sumSizes(snap.Files()) - report.BytesScanned
	return candidates, filter, report, nil
}

// sourceFacts queries the source's row count and the range of its join keys (over from, which
// names the source as the statement qualifies it).
func (m *mergeRun) sourceFacts(ctx context.Context, from string) ([]mergeKey, []driver.Value, error) {
	keys := mergeKeys(m.bst, m.bp, m.alias, m.snap.Schema())
	exprs := []string{"count(*)"}
	for _, k := range keys {
		exprs = append(exprs, "CAST(min("+k.source+") AS VARCHAR)", "CAST(max("+k.source+") AS VARCHAR)", "typeof(min("+k.source+"))")
	}
	sv, err := m.c.queryValues(ctx, "SELECT "+strings.Join(exprs, ", ")+" FROM "+from)
	if err != nil {
		return nil, nil, renameInError(duckError(err), m.name, m.ref.Name)
	}
	return keys, sv, nil
}

// duplicateCondition renders the condition under which a matched pair counts toward the duplicate
// rule (mergeNeedsDuplicateCheck): "" when every pair does.
func (m *mergeRun) duplicateCondition() string {
	var conds []string
	for _, cl := range m.bp.clauses {
		if cl.matched && (cl.action == "UPDATE" || cl.action == "DELETE") {
			if cl.cond == "" {
				return ""
			}
			conds = append(conds, "("+cl.cond+")")
		}
	}
	return strings.Join(conds, " OR ")
}

// duplicateError is the error of a MERGE in which n target rows matched several source rows.
func (m *mergeRun) duplicateError(n int64) error {
	return fmt.Errorf("engine: MERGE INTO %s: %w (%d target rows matched more than once); nothing was committed", m.ref.Name, ErrMergeDuplicateMatch, n)
}

// clauses renders the bound statement's WHEN clauses that keep returns true for, in order.
func (m *mergeRun) clauses(keep func(mergeClause) bool) string {
	var out []string
	for _, cl := range m.bp.clauses {
		if keep(cl) {
			out = append(out, textBetween(m.bst.Text, m.bst.Tokens, cl.start, cl.end))
		}
	}
	return strings.Join(out, " ")
}

// targeted runs the MERGE targeted: the source is materialized once; one join of the candidate
// files with it finds the matched pairs (the duplicate rule is checked there, before anything is
// written), from which come the target rows to load (matched rows, and unmatched rows a NOT
// MATCHED BY SOURCE clause selects) and the unmatched source rows, to which the NOT MATCHED
// clauses apply (a MERGE into an empty table ON false, which lets DuckDB evaluate them). Each
// chunk of loaded rows then gets the MATCHED and BY SOURCE clauses. ok is false (and nothing was
// done) when the source cannot be materialized faithfully (duplicate column names).
func (m *mergeRun) targeted(ctx context.Context) (ok bool, _ *Result, _ error) {
	src, ok, err := m.materializeSource(ctx)
	if !ok || err != nil {
		return ok, nil, err
	}
	keys, sv, err := m.sourceFacts(ctx, quoteIdent(src)+" AS "+quoteIdent(m.bp.sourceAlias))
	if err != nil {
		return true, nil, err
	}
	candidates, filter, report, err := m.candidates(keys, sv)
	if err != nil {
		return true, nil, err
	}
	rw, err := m.e.newRewrite(ctx, m.c, m.t, m.snap, candidates, m.name)
	if err != nil {
		return true, nil, err
	}
	rw.prints = m.updates
	pairs, err := m.matchPairs(ctx, rw, src)
	if err != nil {
		return true, nil, err
	}
	if err := m.findHits(ctx, rw, src, pairs); err != nil {
		return true, nil, err
	}
	inserted, err := m.computeInserts(ctx, rw, src, pairs)
	if err != nil {
		return true, nil, err
	}
	// The MATCHED and BY SOURCE clauses, chunk by chunk.
	acting := m.clauses(func(cl mergeClause) bool { return cl.matched || cl.bySource })
	stmt := "MERGE INTO " + quoteIdent(m.name) + " AS " + quoteIdent(m.alias) + " USING " + quoteIdent(src) + " AS " +
		quoteIdent(m.bp.sourceAlias) + " ON (" + m.on + "\n) " + acting
	rw.apply = func(ctx context.Context, _ *shadowTable) (int64, error) {
		n, err := m.c.execCount(ctx, stmt)
		if err != nil {
			return 0, m.rename(err, src)
		}
		return n, nil
	}
	res, err := rw.execute(ctx)
	if err != nil {
		return true, nil, err
	}
	deleted := res.lost - res.moved
	updated := res.affected - deleted
	if res.inserted != inserted || updated < 0 || deleted < 0 {
		rw.w.discard(ctx)
		return true, nil, fmt.Errorf("engine: MERGE INTO %s: inconsistent counts (affected %d, inserted %d of %d, lost %d, moved %d); nothing was committed",
			m.ref.Name, res.affected, res.inserted, inserted, res.lost, res.moved)
	}
	r, err := m.commit(ctx, rw, res, toInt64(sv[0]), inserted, updated, deleted,
		rewriteRead{candidates: candidates, filter: filter, self: m.self || m.bySource}, report)
	return true, r, err
}

// rename makes a DuckDB error about a query Strata derived name what the user wrote: the shadow
// is the target, the temp tables in sources are the source.
func (m *mergeRun) rename(err error, sources ...string) error {
	err = renameInError(duckError(err), m.name, m.ref.Name)
	for _, tmp := range sources {
		err = renameInError(err, tmp, m.bp.sourceAlias)
	}
	return err
}

// materializeSource evaluates the source once into a temp table and returns its name. ok is
// false when the source has two columns of the same name (which SELECT * would rename).
func (m *mergeRun) materializeSource(ctx context.Context) (src string, ok bool, err error) {
	dmlTrace("source start")
	defer dmlTrace("source end")
	src = m.e.tempName("source")
	if err := m.c.exec(ctx, "CREATE TEMP TABLE "+quoteIdent(src)+" AS SELECT * FROM "+m.source); err != nil {
		return "", true, m.e.explainError(ctx, m.c, m.snap, m.name, m.bst.Text, m.ref.Name, m.rename(err, src))
	}
	cols, err := m.c.columnNames(ctx, "SELECT * FROM "+quoteIdent(src))
	if err != nil {
		return "", true, duckError(err)
	}
	names := map[string]bool{}
	for _, n := range cols {
		if names[strings.ToLower(n)] {
			return "", false, m.c.exec(ctx, "DROP TABLE "+quoteIdent(src))
		}
		names[strings.ToLower(n)] = true
	}
	return src, true, nil
}

// matchPairs creates the temp table of matched pairs (f, r: the target row's file index and
// position; sr: the source row's row id) and applies the duplicate rule to it.
func (m *mergeRun) matchPairs(ctx context.Context, rw *rewrite, src string) (string, error) {
	dmlTrace("pairs start")
	defer dmlTrace("pairs end")
	talias, salias := quoteIdent(m.alias), quoteIdent(m.bp.sourceAlias)
	pairs := m.e.tempName("pairs")
	counted := "true"
	check := mergeNeedsDuplicateCheck(m.bp)
	if cond := m.duplicateCondition(); check && cond != "" {
		counted = "coalesce((" + cond + "), false)"
	}
	q := "CREATE TEMP TABLE " + quoteIdent(pairs) + " AS SELECT " + talias + "." + scanFileCol + " AS f, " + talias + "." + scanRowCol + " AS r, " +
		salias + ".rowid AS sr, " + counted + " AS counted FROM " + rw.scan.fromItem(m.alias) + " JOIN " +
		quoteIdent(src) + " AS " + salias + " ON (" + m.on + "\n)"
	if err := m.c.exec(ctx, q); err != nil {
		return "", rw.statementError(ctx, m.bst.Text, m.ref.Name, m.rename(err, src))
	}
	if check {
		v, err := m.c.queryValues(ctx, "SELECT count(*) FROM (SELECT 1 FROM "+quoteIdent(pairs)+" WHERE counted GROUP BY f, r HAVING count(*) > 1)")
		if err != nil {
			return "", duckError(err)
		}
		if n := toInt64(v[0]); n > 0 {
			return "", m.duplicateError(n)
		}
	}
	return pairs, nil
}

// findHits fills the rewrite's hits: the matched target rows when there are MATCHED clauses, and
// the unmatched ones a NOT MATCHED BY SOURCE clause may select.
func (m *mergeRun) findHits(ctx context.Context, rw *rewrite, src, pairs string) error {
	matched := false
	for _, cl := range m.bp.clauses {
		matched = matched || cl.matched
	}
	var hits []string
	if matched {
		hits = append(hits, "SELECT DISTINCT f, r FROM "+quoteIdent(pairs))
	}
	if m.bySource {
		var conds []string
		for _, cl := range m.bp.clauses {
			if cl.bySource {
				if cl.cond == "" {
					conds = nil
					break
				}
				conds = append(conds, "("+cl.cond+")")
			}
		}
		talias := quoteIdent(m.alias)
		bs := "SELECT " + talias + "." + scanFileCol + ", " + talias + "." + scanRowCol + " FROM " + rw.scan.fromItem(m.alias) +
			" WHERE NOT EXISTS (SELECT 1 FROM " + quoteIdent(src) + " AS " + quoteIdent(m.bp.sourceAlias) + " WHERE (" + m.on + "\n))"
		if len(conds) > 0 {
			bs += " AND coalesce((" + strings.Join(conds, " OR ") + "), false)"
		}
		hits = append(hits, bs)
	}
	if len(hits) == 0 {
		return rw.createHits(ctx, "SELECT CAST(NULL AS INTEGER), CAST(NULL AS BIGINT) WHERE false")
	}
	if err := rw.createHits(ctx, strings.Join(hits, " UNION ALL ")); err != nil {
		return rw.statementError(ctx, m.bst.Text, m.ref.Name, m.rename(err, src))
	}
	return nil
}

// computeInserts applies the NOT MATCHED clauses to the source rows no pair names, into a temp
// table the rewrite writes with its last chunk, and returns the number of rows inserted.
func (m *mergeRun) computeInserts(ctx context.Context, rw *rewrite, src, pairs string) (int64, error) {
	notMatched := m.clauses(func(cl mergeClause) bool { return !cl.matched && !cl.bySource })
	if notMatched == "" {
		return 0, nil
	}
	dmlTrace("inserts start")
	defer dmlTrace("inserts end")
	ins := m.e.tempName("new")
	if err := m.c.exec(ctx, "CREATE TEMP TABLE "+quoteIdent(ins)+" ("+columnDefs(m.snap.Schema())+")"); err != nil {
		return 0, duckError(err)
	}
	unmatched := "(SELECT q.* FROM " + quoteIdent(src) + " q ANTI JOIN " + quoteIdent(pairs) + " p ON p.sr = q.rowid)"
	q := "MERGE INTO " + quoteIdent(ins) + " AS " + quoteIdent(m.alias) + " USING " + unmatched + " AS " + quoteIdent(m.bp.sourceAlias) +
		" ON false " + notMatched
	inserted, err := m.c.execCount(ctx, q)
	if err != nil {
		return 0, rw.statementError(ctx, m.bst.Text, m.ref.Name, renameInError(m.rename(err, src), ins, m.ref.Name))
	}
	if inserted > 0 {
		rw.inserts = ins
	}
	return inserted, nil
}

// whole runs the MERGE against a shadow of every candidate row, in one chunk, as DuckDB's MERGE
// with all its clauses.
func (m *mergeRun) whole(ctx context.Context) (*Result, error) {
	e, c := m.e, m.c
	keys, sv, err := m.sourceFacts(ctx, m.source)
	if err != nil {
		return nil, err
	}
	candidates, filter, report, err := m.candidates(keys, sv)
	if err != nil {
		return nil, err
	}
	rw, err := e.newRewrite(ctx, c, m.t, m.snap, candidates, m.name)
	if err != nil {
		return nil, err
	}
	rw.single, rw.prints = true, m.updates
	// DuckDB 1.5 crashes on MERGE ... RETURNING (with several clause combinations), so the counts
	// come from the rows affected (inserted + updated + deleted) and the shadow's diff: new row ids
	// are inserted rows, missing ones deleted rows. DuckDB updates a nested-type column (LIST,
	// MAP, ...) as delete + insert, so when an UPDATE may set one, the inserted rows are counted
	// beforehand from the source and the difference is moved rows.
	ins := int64(-1)
	rw.apply = func(ctx context.Context, s *shadowTable) (int64, error) {
		if mergeNeedsDuplicateCheck(m.bp) {
			cond := "(" + m.on + ")"
			if dc := m.duplicateCondition(); dc != "" {
				cond += " AND (" + dc + ")"
			}
			q := "SELECT count(*) FROM (SELECT 1 FROM " + quoteIdent(m.name) + " AS " + quoteIdent(m.alias) + " JOIN " + m.source +
				" ON " + cond + " GROUP BY " + quoteIdent(m.alias) + ".rowid HAVING count(*) > 1)"
			v, err := c.queryValues(ctx, q)
			if err != nil {
				return 0, renameInError(duckError(err), m.name, m.ref.Name)
			}
			if n := toInt64(v[0]); n > 0 {
				return 0, m.duplicateError(n)
			}
		}
		if m.updates && hasNestedColumn(m.snap.Schema()) {
			var err error
			if ins, err = countMergeInserts(ctx, c, m.bp, m.source, m.on, m.name, m.alias); err != nil {
				return 0, err
			}
		}
		n, err := c.execCount(ctx, m.bst.Text)
		if err != nil {
			return 0, renameInError(duckError(err), m.name, m.ref.Name)
		}
		return n, nil
	}
	res, err := rw.execute(ctx)
	if err != nil {
		return nil, err
	}
	inserted, deleted := res.moved, res.lost
	if ins >= 0 {
		moved := inserted - ins
		inserted, deleted = ins, deleted-moved
	}
	updated := res.affected - inserted - deleted
	if updated < 0 || deleted < 0 {
		rw.w.discard(ctx)
		return nil, fmt.Errorf("engine: MERGE INTO %s: inconsistent counts (affected %d, inserted %d, deleted %d); nothing was committed", m.ref.Name, res.affected, inserted, deleted)
	}
	return m.commit(ctx, rw, res, toInt64(sv[0]), inserted, updated, deleted,
		rewriteRead{candidates: candidates, filter: filter, self: m.self || m.bySource}, report)
}

// commit commits a MERGE's rewrite with Spark's operation parameters and metrics.
func (m *mergeRun) commit(ctx context.Context, rw *rewrite, res *rewriteOutcome, sourceRows, inserted, updated, deleted int64, read rewriteRead, report ScanReport) (*Result, error) {
	var matchedP, notMatchedP, bySourceP []map[string]string
	for _, cl := range m.p.clauses {
		entry := map[string]string{"actionType": strings.ToLower(cl.action)}
		if cl.cond != "" {
			entry["predicate"] = cl.cond
		}
		switch cl.kind() {
		case "matched":
			matchedP = append(matchedP, entry)
		case "notMatchedBySource":
			bySourceP = append(bySourceP, entry)
		default:
			notMatchedP = append(notMatchedP, entry)
		}
	}
	op := delta.Operation{Name: "MERGE", Parameters: map[string]any{
		"predicate":                    textBetween(m.st.Text, m.st.Tokens, m.p.on[0], m.p.on[1]),
		"matchedPredicates":            nonNil(matchedP),
		"notMatchedPredicates":         nonNil(notMatchedP),
		"notMatchedBySourcePredicates": nonNil(bySourceP),
	}}
	out := &writeOutcome{target: m.ref, operation: "MERGE", version: m.snap.Version(), scans: append([]ScanReport{report}, m.scans...)}
	return m.e.commitRewrite(ctx, m.st, out, rw, res, op, read,
		func(addedBytes, removedBytes int64) map[string]any {
			return map[string]any{"numSourceRows": sourceRows, "numTargetRowsInserted": inserted, "numTargetRowsUpdated": updated,
				"numTargetRowsDeleted": deleted, "numTargetRowsCopied": res.copied, "numOutputRows": inserted + updated + res.copied,
				"numTargetFilesAdded": len(res.adds), "numTargetFilesRemoved": len(res.removes), "numTargetBytesAdded": addedBytes,
				"numTargetBytesRemoved": removedBytes, "numTargetChangeFilesAdded": 0, "executionTimeMs": sinceMillis(m.t0)}
		},
		func(v string) string {
			return fmt.Sprintf("merged into %s: %d rows inserted, %d updated, %d deleted: %s", m.ref.Name, inserted, updated, deleted, v)
		})
}

func nonNil(m []map[string]string) []map[string]string {
	if m == nil {
		return []map[string]string{}
	}
	return m
}
