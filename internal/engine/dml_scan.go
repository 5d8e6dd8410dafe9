package engine

import (
	"context"
	"database/sql/driver"
	"fmt"
	"strconv"
	"strings"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/table"
)

// A copy-on-write statement needs to know where each row of its target lives, so that it can
// load only the rows it may change (dml_rewrite.go) and copy the others. targetScan reads a
// snapshot's candidate files like relationSQL does (partition values from the add actions,
// physical column names, deletion vectors, columns a file lacks read as NULL, every column cast
// to the table's type), plus two identity columns:
//
//   - __strata_file: the file's index in targetScan.files;
//   - __strata_row: the row's position in its file (Parquet's file_row_number, which deletion
//     vectors count too).
//
// Every file is read by one read_parquet (DuckDB's file_index says which), and the partition
// values come from a small temp table joined on the file index.

// Names of the identity columns of a targetScan.
const (
	scanFileCol = "__strata_file"
	scanRowCol  = "__strata_row"
)

// targetScan reads candidate files with row identities. It lives on one connection.
type targetScan struct {
	snap  *delta.Snapshot
	files []*delta.Add
	paths []string // what DuckDB reads for each file
	meta  string   // temp table (f INTEGER, v0 ...): each file's typed partition values; "" when unpartitioned
	dv    string   // temp table (f INTEGER, r BIGINT) of rows deletion vectors remove; "" when none
	name  string   // the alias of the relation over all the files (fromItem)
}

// scanSupported reports whether a table can be read by a targetScan: no data column may take the
// name of an identity column or of the DuckDB virtual columns it reads.
func scanSupported(snap *delta.Snapshot) bool {
	for _, f := range snap.Schema().Fields {
		for _, n := range []string{f.Name, f.PhysicalName()} {
			switch strings.ToLower(n) {
			case scanFileCol, scanRowCol, "file_index", "file_row_number", "filename":
				return false
			}
		}
	}
	return true
}

// newTargetScan prepares a scan of files (remote files are fetched into the cache, pinned by c's
// lease) and creates its temp tables on c.
func (e *Engine) newTargetScan(ctx context.Context, c *conn, t *table.Table, snap *delta.Snapshot, files []*delta.Add) (*targetScan, error) {
	s := &targetScan{snap: snap, files: files}
	var err error
	if s.paths, err = e.localPaths(ctx, c, t, files); err != nil {
		return nil, err
	}
	if len(snap.PartitionColumns()) > 0 && len(files) > 0 {
		if err := s.createMeta(ctx, c, e.tempName("files")); err != nil {
			return nil, err
		}
	}
	if hasDV(files) {
		if err := s.createDV(ctx, c, t, e.tempName("deleted")); err != nil {
			return nil, err
		}
	}
	s.name = e.tempName("scan")
	return s, nil
}

// fromItem renders the FROM item reading all the files, aliased alias (the scan's own name when
// alias is "").
func (s *targetScan) fromItem(alias string) string {
	if alias == "" {
		alias = s.name
	}
	return "(" + s.sql(nil) + ") AS " + quoteIdent(alias)
}

// partitionFields returns the table's partition columns in schema order.
func partitionFields(snap *delta.Snapshot) []*delta.StructField {
	var out []*delta.StructField
	for _, f := range snap.Schema().Fields {
		if isPartitionColumn(snap, f.Name) {
			out = append(out, f)
		}
	}
	return out
}

// createMeta creates the table of the files' typed partition values: the values are appended as
// text (partitionText) and cast once.
func (s *targetScan) createMeta(ctx context.Context, c *conn, name string) error {
	parts := partitionFields(s.snap)
	raw := name + "_text"
	cols := []string{"f INTEGER"}
	typed := []string{"f"}
	for i, p := range parts {
		v := fmt.Sprintf("v%d", i)
		cols = append(cols, v+" VARCHAR")
		conv := "CAST(" + v + " AS " + duckType(p.Type) + ")"
		if p.Type == delta.TypeBinary {
			conv = "unhex(" + v + ")"
		}
		typed = append(typed, conv+" AS "+v)
	}
	if err := c.exec(ctx, "CREATE TEMP TABLE "+quoteIdent(raw)+" ("+strings.Join(cols, ", ")+")"); err != nil {
		return duckError(err)
	}
	app, err := duckdb.NewAppender(c.dc, "temp", "main", raw)
	if err != nil {
		return fmt.Errorf("engine: partition values: %w", err)
	}
	schema := s.snap.Schema()
	row := make([]driver.Value, len(cols))
	for i, f := range s.files {
		vals, err := delta.TypedPartitionValues(schema, s.snap.PartitionColumns(), s.snap.ColumnMappingMode(), f.PartitionValues)
		if err != nil {
			app.Close()
			return err
		}
		row[0] = int32(i)
		for k, p := range parts {
			if row[k+1], err = partitionText(vals[strings.ToLower(p.Name)]); err != nil {
				app.Close()
				return err
			}
		}
		if err := app.AppendRow(row...); err != nil {
			app.Close()
			return fmt.Errorf("engine: partition values of %s: %w", f.Path, err)
		}
	}
	if err := app.Close(); err != nil {
		return fmt.Errorf("engine: partition values: %w", err)
	}
	if err := c.exec(ctx, "CREATE TEMP TABLE "+quoteIdent(name)+" AS SELECT "+strings.Join(typed, ", ")+" FROM "+quoteIdent(raw)); err != nil {
		return duckError(err)
	}
	s.meta = name
	return c.exec(ctx, "DROP TABLE "+quoteIdent(raw))
}

// createDV creates the table of the rows the files' deletion vectors remove.
func (s *targetScan) createDV(ctx context.Context, c *conn, t *table.Table, name string) error {
	deleted, err := readDeletionVectors(ctx, t, s.files)
	if err != nil {
		return err
	}
	if err := c.exec(ctx, "CREATE TEMP TABLE "+quoteIdent(name)+" (f INTEGER, r BIGINT)"); err != nil {
		return duckError(err)
	}
	app, err := duckdb.NewAppender(c.dc, "temp", "main", name)
	if err != nil {
		return fmt.Errorf("engine: deletion vectors: %w", err)
	}
	for i, rows := range deleted {
		for _, r := range rows {
			if err := app.AppendRow(int32(i), int64(r)); err != nil {
				app.Close()
				return fmt.Errorf("engine: deletion vectors: %w", err)
			}
		}
	}
	if err := app.Close(); err != nil {
		return fmt.Errorf("engine: deletion vectors: %w", err)
	}
	s.dv = name
	return nil
}

// sql returns the relation over the files with the given indexes (all of them when idx is nil):
// the table's logical columns in order, then __strata_file and __strata_row.
func (s *targetScan) sql(idx []int) string {
	schema := s.snap.Schema()
	if idx == nil {
		idx = make([]int, len(s.files))
		for i := range idx {
			idx[i] = i
		}
	}
	if len(idx) == 0 {
		cols := make([]string, 0, len(schema.Fields)+2)
		for _, f := range schema.Fields {
			cols = append(cols, "CAST(NULL AS "+duckType(f.Type)+") AS "+quoteIdent(f.Name))
		}
		cols = append(cols, "CAST(NULL AS INTEGER) AS "+scanFileCol, "CAST(NULL AS BIGINT) AS "+scanRowCol)
		return "SELECT " + strings.Join(cols, ", ") + " WHERE false"
	}
	mapped := s.snap.ColumnMappingMode() != "none"
	phys := func(f *delta.StructField) string {
		if mapped {
			return f.PhysicalName()
		}
		return f.Name
	}
	// The file index of the i-th path read is idx[i].
	fileExpr := "CAST(file_index AS INTEGER)"
	sequential := true
	for i, k := range idx {
		sequential = sequential && k == i
	}
	if !sequential {
		lits := make([]string, len(idx))
		for i, k := range idx {
			lits[i] = strconv.Itoa(k)
		}
		fileExpr = "CAST([" + strings.Join(lits, ", ") + "][CAST(file_index AS BIGINT) + 1] AS INTEGER)"
	}
	paths := make([]string, len(idx))
	for i, k := range idx {
		paths[i] = quoteString(s.paths[k])
	}
	ids := fileExpr + " AS " + scanFileCol + ", file_row_number AS " + scanRowCol
	// Data columns: by field id in id mode (read_parquet's schema, which reads the columns a file
	// lacks as NULL), else by name with an empty typed relation that gives UNION ALL BY NAME every
	// column.
	var idSchema, empty []string
	byID := s.snap.ColumnMappingMode() == "id"
	for _, f := range schema.Fields {
		if isPartitionColumn(s.snap, f.Name) || f.Type == delta.TypeVoid {
			continue
		}
		empty = append(empty, "CAST(NULL AS "+physicalType(f.Type)+") AS "+quoteIdent(phys(f)))
		id, ok := f.FieldID()
		if !ok {
			byID = false
		}
		idSchema = append(idSchema, fmt.Sprintf("%d: {name: %s, type: %s, default_value: NULL}", id, quoteString(phys(f)), quoteString(physicalType(f.Type))))
	}
	list := "[" + strings.Join(paths, ", ") + "]"
	var from string
	switch {
	case byID && len(idSchema) > 0:
		from = "(SELECT " + ids + ", * FROM read_parquet(" + list + ", schema = MAP {" + strings.Join(idSchema, ", ") + "})) p"
	default:
		empty = append(empty, "CAST(NULL AS INTEGER) AS "+scanFileCol, "CAST(NULL AS BIGINT) AS "+scanRowCol)
		from = "(SELECT " + ids + ", * FROM read_parquet(" + list + ", union_by_name = true) UNION ALL BY NAME SELECT " +
			strings.Join(empty, ", ") + " WHERE false) p"
	}
	cols := make([]string, 0, len(schema.Fields)+2)
	part := 0
	for _, f := range schema.Fields {
		switch {
		case isPartitionColumn(s.snap, f.Name):
			cols = append(cols, fmt.Sprintf("m.v%d AS %s", part, quoteIdent(f.Name)))
			part++
		case f.Type == delta.TypeVoid:
			cols = append(cols, "CAST(NULL AS INTEGER) AS "+quoteIdent(f.Name))
		default:
			cols = append(cols, logicalExpr("p."+quoteIdent(phys(f)), f.Type, 0)+" AS "+quoteIdent(f.Name))
		}
	}
	cols = append(cols, "p."+scanFileCol, "p."+scanRowCol)
	q := "SELECT " + strings.Join(cols, ", ") + " FROM " + from
	if s.meta != "" {
		q += " JOIN " + quoteIdent(s.meta) + " m ON m.f = p." + scanFileCol
	}
	if s.dv != "" {
		q += " WHERE NOT EXISTS (SELECT 1 FROM " + quoteIdent(s.dv) + " d WHERE d.f = p." + scanFileCol + " AND d.r = p." + scanRowCol + ")"
	}
	return q
}
