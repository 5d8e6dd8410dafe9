package engine

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/table"
)

// Shadow tables. DELETE, UPDATE and MERGE run in DuckDB against a shadow table: a TEMP table with
// exactly the target's logical columns, loaded (dml_rewrite.go) with rows of the candidate files,
// one file after the other, so that the rows of the i-th file loaded own the contiguous row-id
// range [lo[i], lo[i]+n[i]). DuckDB keeps a row's rowid when it deletes other rows or updates the
// row in place, and gives inserted rows row ids past the loaded ones. After the statement:
//
//   - a file lost rows if fewer rows of its range survive than were loaded;
//   - a file had rows updated if a surviving row's fingerprint (hash of the whole row, taken
//     before the statement) changed;
//   - rows with a row id >= loaded are new.
//
// Touched files (lost or changed rows) are removed and replaced by files holding their rows that
// survive; new rows go to new files; untouched files stay referenced as they are. DuckDB
// implements an UPDATE of a nested-type column as delete + insert: the row then counts as removed
// from its file and written as a new row, which gives the same table.

// dmlTrace marks the phases of a copy-on-write statement on standard error, with the time since
// the process started, when STRATA_TRACE_DML is set (to find where a slow statement spends its
// time).
// With STRATA_TRACE_DML=sql, dmlTraceSQL prints the SQL of the main steps too.
var dmlTrace, dmlTraceSQL = func(string) {}, func(string) {}

func init() {
	if v := os.Getenv("STRATA_TRACE_DML"); v != "" {
		t0 := time.Now()
		dmlTrace = func(phase string) { fmt.Fprintf(os.Stderr, "dml %8.3fs %s\n", time.Since(t0).Seconds(), phase) }
		if v == "sql" {
			dmlTraceSQL = func(q string) { fmt.Fprintf(os.Stderr, "dml sql: %s\n", q) }
		}
	}
}

// shadowTable is the shadow of a statement's target on one connection.
type shadowTable struct {
	name   string
	t      *table.Table
	snap   *delta.Snapshot
	files  []*delta.Add // the files loaded, in load order
	lo, n  []int64      // row-id range of each file's loaded rows
	loaded int64        // rows loaded (row ids [0, loaded))
	prints []uint64     // fingerprint of each loaded row (by row id); nil without
}

// columnDefs renders the table's columns as DuckDB column definitions (top-level NOT NULL kept, so
// DuckDB enforces it).
func columnDefs(schema *delta.StructType) string {
	defs := make([]string, len(schema.Fields))
	for i, f := range schema.Fields {
		defs[i] = quoteIdent(f.Name) + " " + duckType(f.Type)
		if !f.Nullable {
			defs[i] += " NOT NULL"
		}
	}
	return strings.Join(defs, ", ")
}

// checkRowIDs verifies that DuckDB numbered the loaded rows 0..loaded-1 (the ranges are only
// meaningful then).
func (s *shadowTable) checkRowIDs(ctx context.Context, c *conn) error {
	vals, err := c.queryValues(ctx, "SELECT count(*), coalesce(min(rowid), 0), coalesce(max(rowid), -1) FROM "+quoteIdent(s.name))
	if err != nil {
		return duckError(err)
	}
	if toInt64(vals[0]) != s.loaded || toInt64(vals[1]) != 0 || toInt64(vals[2]) != s.loaded-1 {
		return fmt.Errorf("engine: shadow of %s: row ids are not 0..%d (count %v, min %v, max %v); nothing was committed",
			s.t.Location(), s.loaded-1, vals[0], vals[1], vals[2])
	}
	return nil
}

// fingerprint records a hash of every loaded row, to find the rows a statement changed.
func (s *shadowTable) fingerprint(ctx context.Context, c *conn) error {
	dmlTrace("fp start")
	defer dmlTrace("fp end")
	s.prints = make([]uint64, s.loaded)
	return s.scanRows(ctx, c, "SELECT rowid, "+s.hashExpr()+" FROM "+quoteIdent(s.name), func(rid int64, h uint64) error {
		if rid < 0 || rid >= s.loaded {
			return fmt.Errorf("engine: shadow of %s: row id %d out of range", s.t.Location(), rid)
		}
		s.prints[rid] = h
		return nil
	})
}

// hashExpr is the fingerprint of a row: DuckDB's hash of the whole row, plus the sign bits of
// its floating-point columns (hash, like equality, does not tell -0.0 from 0.0, but the rewritten
// file must).
func (s *shadowTable) hashExpr() string {
	args := []string{quoteIdent(s.name)}
	for _, f := range s.snap.Schema().Fields {
		if f.Type == delta.TypeDouble || f.Type == delta.TypeFloat {
			args = append(args, "signbit("+quoteIdent(s.name)+"."+quoteIdent(f.Name)+")")
		}
	}
	return "hash(" + strings.Join(args, ", ") + ")"
}

// scanRows streams (rowid, hash) pairs of a query (hash 0 when the query has one column).
func (s *shadowTable) scanRows(ctx context.Context, c *conn, query string, fn func(rid int64, h uint64) error) error {
	rr, err := c.query(ctx, query)
	if err != nil {
		return duckError(err)
	}
	defer rr.Release()
	for rr.Next() {
		rec := rr.RecordBatch()
		rids, ok := rec.Column(0).(*array.Int64)
		if !ok {
			return fmt.Errorf("engine: shadow scan: row ids of type %s", rec.Column(0).DataType())
		}
		var hs *array.Uint64
		if rec.NumCols() > 1 {
			if hs, ok = rec.Column(1).(*array.Uint64); !ok {
				return fmt.Errorf("engine: shadow scan: hashes of type %s", rec.Column(1).DataType())
			}
		}
		for i := 0; i < rids.Len(); i++ {
			var h uint64
			if hs != nil {
				h = hs.Value(i)
			}
			if err := fn(rids.Value(i), h); err != nil {
				return err
			}
		}
	}
	return duckError(rr.Err())
}

// shadowDiff is what a statement did to the shadow table.
type shadowDiff struct {
	survivors []int64 // per file: rows of its range still present
	changed   []int64 // per file: surviving rows whose fingerprint changed
	inserted  int64   // rows past the loaded range
	touched   []bool  // per file: lost or changed rows
}

func (d *shadowDiff) deleted(s *shadowTable) int64 {
	var n int64
	for i := range s.files {
		n += s.n[i] - d.survivors[i]
	}
	return n
}

func (d *shadowDiff) updated() int64 {
	var n int64
	for _, c := range d.changed {
		n += c
	}
	return n
}

// copied counts the rows of touched files written again unchanged.
func (d *shadowDiff) copied() int64 {
	var n int64
	for i, t := range d.touched {
		if t {
			n += d.survivors[i] - d.changed[i]
		}
	}
	return n
}

func (d *shadowDiff) touchedFiles(s *shadowTable) []*delta.Add {
	var out []*delta.Add
	for i, t := range d.touched {
		if t {
			out = append(out, s.files[i])
		}
	}
	return out
}

// diff compares the shadow table with what was loaded: one scan of its row ids (and, with
// fingerprints, of its rows' hashes), bucketed by file in Go.
func (s *shadowTable) diff(ctx context.Context, c *conn) (*shadowDiff, error) {
	dmlTrace("diff start")
	defer dmlTrace("diff end")
	d := &shadowDiff{survivors: make([]int64, len(s.files)), changed: make([]int64, len(s.files)), touched: make([]bool, len(s.files))}
	tbl := quoteIdent(s.name)
	q := "SELECT rowid FROM " + tbl
	if s.prints != nil {
		q = "SELECT rowid, " + s.hashExpr() + " FROM " + tbl
	}
	f := 0 // file of the previous row id: scans return row ids in order, so this rarely moves far
	err := s.scanRows(ctx, c, q, func(rid int64, h uint64) error {
		if rid >= s.loaded {
			d.inserted++
			return nil
		}
		if rid < 0 {
			return fmt.Errorf("engine: shadow of %s: negative row id %d", s.t.Location(), rid)
		}
		if f >= len(s.files) || rid < s.lo[f] || rid >= s.lo[f]+s.n[f] {
			f = sort.Search(len(s.files), func(i int) bool { return s.lo[i]+s.n[i] > rid })
		}
		d.survivors[f]++
		if s.prints != nil && s.prints[rid] != h {
			d.changed[f]++
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i := range s.files {
		d.touched[i] = d.survivors[i] < s.n[i] || d.changed[i] > 0
	}
	return d, nil
}

// maxSpanPredicates bounds the row-id ranges a rewrite selects with BETWEEN predicates; more
// ranges are selected with a join (a variable so that tests can take that path).
var maxSpanPredicates = 64

// --- connection helpers ---

// execCount runs a statement and returns the number of rows it affected.
func (c *conn) execCount(ctx context.Context, query string) (int64, error) {
	res, err := c.dc.(driver.ExecerContext).ExecContext(ctx, query, nil)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// queryEach runs a query and calls fn with each row's values.
func (c *conn) queryEach(ctx context.Context, query string, fn func([]driver.Value) error) error {
	rows, err := c.dc.(driver.QueryerContext).QueryContext(ctx, query, nil)
	if err != nil {
		return err
	}
	defer rows.Close()
	vals := make([]driver.Value, len(rows.Columns()))
	for {
		if err := rows.Next(vals); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if err := fn(vals); err != nil {
			return err
		}
	}
}

// columnNames returns the names of a query's result columns (without reading its rows).
func (c *conn) columnNames(ctx context.Context, query string) ([]string, error) {
	rows, err := c.dc.(driver.QueryerContext).QueryContext(ctx, "SELECT * FROM ("+query+") LIMIT 0", nil)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return rows.Columns(), nil
}

// queryValues runs a query that returns one row and returns its values.
func (c *conn) queryValues(ctx context.Context, query string) ([]driver.Value, error) {
	var out []driver.Value
	err := c.queryEach(ctx, query, func(v []driver.Value) error {
		if out == nil {
			out = append([]driver.Value(nil), v...)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if out == nil {
		return nil, fmt.Errorf("engine: %s returned no rows", abbreviate(query))
	}
	return out, nil
}

// toInt64 converts an integer value from the driver.
func toInt64(v driver.Value) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case int32:
		return int64(x)
	case int16:
		return int64(x)
	case int8:
		return int64(x)
	case int:
		return int64(x)
	case uint64:
		return int64(x)
	case uint32:
		return int64(x)
	case float64:
		return int64(x)
	case nil:
		return 0
	}
	n, _ := strconv.ParseInt(fmt.Sprint(v), 10, 64)
	return n
}
