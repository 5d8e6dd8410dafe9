package engine

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/scalar"
	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/parquetio"
)

// The output of a rewrite's chunk (dml_rewrite.go): the query that yields the rows of a group of
// rewritten files (rows read from the files, survivors of the shadow, new rows), and the
// partition ids by which the copyWriter sends them to their partitions.

// spanPredicate selects the shadow rows of the given files (positions in s.files) and, when
// from >= 0, the rows appended to it (row ids >= from). It returns a FROM item and WHERE
// condition over the shadow aliased "s".
func (r *rewrite) spanPredicate(ctx context.Context, s *shadowTable, files []int, from int64) (fromItem, where string, err error) {
	var spans [][2]int64
	for _, i := range files {
		if s.n[i] == 0 {
			continue
		}
		lo, hi := s.lo[i], s.lo[i]+s.n[i]-1
		if k := len(spans); k > 0 && spans[k-1][1]+1 == lo {
			spans[k-1][1] = hi
		} else {
			spans = append(spans, [2]int64{lo, hi})
		}
	}
	var conds []string
	if from >= 0 {
		conds = append(conds, "s.rowid >= "+strconv.FormatInt(from, 10))
	}
	fromItem = quoteIdent(s.name) + " s"
	if len(spans) <= maxSpanPredicates {
		for _, sp := range spans {
			conds = append(conds, fmt.Sprintf("s.rowid BETWEEN %d AND %d", sp[0], sp[1]))
		}
	} else {
		// Many ranges: a temp table of them, joined (ASOF: each row pairs with the range that
		// starts at or before it).
		spanTable := r.e.tempName("spans")
		if err := r.c.exec(ctx, "CREATE TEMP TABLE "+quoteIdent(spanTable)+" (lo BIGINT, hi BIGINT)"); err != nil {
			return "", "", duckError(err)
		}
		app, err := duckdb.NewAppender(r.c.dc, "temp", "main", spanTable)
		if err != nil {
			return "", "", fmt.Errorf("engine: shadow spans: %w", err)
		}
		for _, sp := range spans {
			if err := app.AppendRow(sp[0], sp[1]); err != nil {
				app.Close()
				return "", "", fmt.Errorf("engine: shadow spans: %w", err)
			}
		}
		if err := app.Close(); err != nil {
			return "", "", fmt.Errorf("engine: shadow spans: %w", err)
		}
		fromItem += " ASOF LEFT JOIN " + quoteIdent(spanTable) + " sp ON s.rowid >= sp.lo"
		conds = append(conds, "s.rowid <= sp.hi")
	}
	if len(conds) == 0 {
		conds = []string{"false"}
	}
	return fromItem, "(" + strings.Join(conds, " OR ") + ")", nil
}

// partitionIDs numbers the partitions a chunk's output may fall in (the partition values of its
// touched files, of its surviving and appended shadow rows and, withInserts, of the inserts) in
// a temp table (pid, partition columns), and returns their values by id. nil for an
// unpartitioned table.
func (r *rewrite) partitionIDs(ctx context.Context, s *shadowTable, d *shadowDiff, withInserts bool) (map[int64]delta.PartitionValues, error) {
	parts := partitionFields(r.snap)
	if len(parts) == 0 {
		return nil, nil
	}
	names := make([]string, len(parts))
	for i, p := range parts {
		names[i] = quoteIdent(p.Name)
	}
	var sources []string
	var touched []int
	if d != nil {
		for i, t := range d.touched {
			if t {
				touched = append(touched, i)
			}
		}
	}
	if r.hits != "" && r.scan.meta != "" && len(touched) > 0 {
		// Rows read from the touched files keep their file's partition values.
		var fs, vs []string
		for _, i := range touched {
			fs = append(fs, strconv.Itoa(r.fileIndex(s.files[i])))
		}
		for k := range parts {
			vs = append(vs, fmt.Sprintf("v%d AS %s", k, names[k]))
		}
		sources = append(sources, "SELECT "+strings.Join(vs, ", ")+" FROM "+quoteIdent(r.scan.meta)+" WHERE f IN ("+strings.Join(fs, ", ")+")")
	}
	if s != nil {
		from, where, err := r.spanPredicate(ctx, s, touched, boolIndex(d.inserted > 0, s.loaded))
		if err != nil {
			return nil, err
		}
		sources = append(sources, "SELECT "+qualified("s", names)+" FROM "+from+" WHERE "+where)
	}
	if withInserts {
		sources = append(sources, "SELECT "+strings.Join(names, ", ")+" FROM "+quoteIdent(r.inserts))
	}
	if r.pmap != "" {
		if err := r.c.exec(ctx, "DROP TABLE "+quoteIdent(r.pmap)); err != nil {
			return nil, duckError(err)
		}
		r.pmap = ""
	}
	pmap := r.e.tempName("partitions")
	q := "CREATE TEMP TABLE " + quoteIdent(pmap) + " AS SELECT CAST(row_number() OVER () AS INTEGER) AS " + pidCol + ", * FROM (SELECT DISTINCT " +
		strings.Join(names, ", ") + " FROM (" + strings.Join(sources, " UNION ALL ") + "))"
	if err := r.c.exec(ctx, q); err != nil {
		return nil, duckError(err)
	}
	r.pmap = pmap
	rr, err := r.c.query(ctx, "SELECT * FROM "+quoteIdent(pmap))
	if err != nil {
		return nil, duckError(err)
	}
	defer rr.Release()
	out := map[int64]delta.PartitionValues{}
	for rr.Next() {
		rec := rr.RecordBatch()
		cols := make([]arrow.Array, len(parts))
		for k, p := range parts {
			col, err := conformColumn(ctx, rec.Column(k+1), p.Type)
			if err != nil {
				return nil, fmt.Errorf("engine: partition values of %s: %w", r.t.Location(), err)
			}
			defer col.Release()
			cols[k] = col
		}
		for i := 0; i < int(rec.NumRows()); i++ {
			sc, err := scalar.GetScalar(rec.Column(0), i)
			if err != nil {
				return nil, err
			}
			pid := int64(sc.(*scalar.Int32).Value)
			pv := delta.PartitionValues{}
			for k, p := range parts {
				v, err := scalar.GetScalar(cols[k], i)
				if err != nil {
					return nil, err
				}
				if pv[p.PhysicalName()], err = delta.FormatPartitionValue(v); err != nil {
					return nil, err
				}
			}
			out[pid] = pv
		}
	}
	return out, duckError(rr.Err())
}

// fileIndex returns f's index in r.files.
func (r *rewrite) fileIndex(f *delta.Add) int {
	if r.index == nil {
		r.index = make(map[*delta.Add]int, len(r.files))
		for i, g := range r.files {
			r.index[g] = i
		}
	}
	return r.index[f]
}

// qualified renders names qualified by alias, comma-separated.
func qualified(alias string, names []string) string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = alias + "." + n
	}
	return strings.Join(out, ", ")
}

// writeGroup writes one group of touched files (positions in s.files): the rows of those files
// the statement did not load (targeted mode), the survivors of their loaded rows, the rows
// appended to the shadow when moved >= 0 (row ids from moved on) and, withInserts, the inserts
// table. It returns the files written and the number of inserted rows they hold.
func (r *rewrite) writeGroup(ctx context.Context, s *shadowTable, grp []int, pids map[int64]delta.PartitionValues, moved int64, withInserts bool) ([]parquetio.DataFile, int64, error) {
	dmlTrace("write start")
	defer dmlTrace("write end")
	schema := r.snap.Schema()
	var parts []string
	var nInserts int64
	if s != nil && (len(grp) > 0 || moved >= 0) {
		if r.hits != "" && len(grp) > 0 {
			idx := make([]int, len(grp))
			for k, i := range grp {
				idx[k] = r.fileIndex(s.files[i])
			}
			parts = append(parts, "SELECT "+logicalColumns(schema, "t")+" FROM ("+r.scan.sql(idx)+") t ANTI JOIN "+r.hitsOf(idx)+
				" h ON h.f = t."+scanFileCol+" AND h.r = t."+scanRowCol)
		}
		from, where, err := r.spanPredicate(ctx, s, grp, moved)
		if err != nil {
			return nil, 0, err
		}
		parts = append(parts, "SELECT "+logicalColumns(schema, "s")+" FROM "+from+" WHERE "+where)
	}
	if withInserts {
		v, err := r.c.queryValues(ctx, "SELECT count(*) FROM "+quoteIdent(r.inserts))
		if err != nil {
			return nil, 0, duckError(err)
		}
		nInserts = toInt64(v[0])
		parts = append(parts, "SELECT "+logicalColumns(schema, "i")+" FROM "+quoteIdent(r.inserts)+" i")
	}
	if len(parts) == 0 {
		return nil, 0, nil
	}
	query := strings.Join(parts, " UNION ALL ")
	if r.w.partitioned() {
		if pids == nil {
			// Inserts written alone: number their partitions.
			var err error
			if pids, err = r.partitionIDs(ctx, nil, nil, true); err != nil {
				return nil, 0, err
			}
		}
		var on []string
		for _, p := range partitionFields(r.snap) {
			on = append(on, "pm."+quoteIdent(p.Name)+" IS NOT DISTINCT FROM u."+quoteIdent(p.Name))
		}
		query = "SELECT u.*, pm." + pidCol + " FROM (" + query + ") u JOIN " + quoteIdent(r.pmap) + " pm ON " + strings.Join(on, " AND ")
	}
	files, err := r.w.write(ctx, r.c, query, pids)
	if err != nil {
		return files, 0, fmt.Errorf("engine: write %s: %w; nothing was committed", r.t.Location(), err)
	}
	return files, nInserts, nil
}

// conformColumn returns col as the Arrow type of Delta type t (cast when DuckDB's layout
// differs, e.g. string views).
func conformColumn(ctx context.Context, col arrow.Array, t delta.DataType) (arrow.Array, error) {
	want := delta.ToArrowType(t)
	if parquetio.SameLayout(col.DataType(), want) {
		col.Retain()
		return col, nil
	}
	return compute.CastArray(ctx, col, compute.SafeCastOptions(want))
}
