package engine

import (
	"encoding/hex"
	"fmt"
	"sort"
	"strings"

	"github.com/apache/arrow-go/v18/arrow/scalar"

	"github.com/stratalake/strata/internal/delta"
)

// This file turns a Delta snapshot into the SQL of a DuckDB relation with the table's logical
// schema, following the Delta semantics of internal/table's scan: partition values from the add
// actions (not from paths), physical column names under column mapping, deletion vectors, columns
// missing from older files read as NULL, and every column cast to the table's type.

// DuckType renders a Delta type as the DuckDB type the engine reads its values as: nested types
// with their logical field names, and void (an all-NULL column; DuckDB has no void type) as
// INTEGER. A type it does not know renders as VARCHAR.
func DuckType(t delta.DataType) string { return duckType(t) }

// duckType renders a Delta type as a DuckDB type (see DuckType).
func duckType(t delta.DataType) string {
	switch t := t.(type) {
	case *delta.PrimitiveType:
		switch t {
		case delta.TypeString:
			return "VARCHAR"
		case delta.TypeLong:
			return "BIGINT"
		case delta.TypeInteger:
			return "INTEGER"
		case delta.TypeShort:
			return "SMALLINT"
		case delta.TypeByte:
			return "TINYINT"
		case delta.TypeFloat:
			return "FLOAT"
		case delta.TypeDouble:
			return "DOUBLE"
		case delta.TypeBoolean:
			return "BOOLEAN"
		case delta.TypeBinary:
			return "BLOB"
		case delta.TypeDate:
			return "DATE"
		case delta.TypeTimestamp:
			return "TIMESTAMPTZ"
		case delta.TypeTimestampNTZ:
			return "TIMESTAMP"
		case delta.TypeVoid:
			return "INTEGER" // an all-NULL column; DuckDB has no void type
		}
	case *delta.DecimalType:
		return fmt.Sprintf("DECIMAL(%d,%d)", t.Precision, t.Scale)
	case *delta.ArrayType:
		return duckType(t.ElementType) + "[]"
	case *delta.MapType:
		return "MAP(" + duckType(t.KeyType) + ", " + duckType(t.ValueType) + ")"
	case *delta.StructType:
		parts := make([]string, len(t.Fields))
		for i, f := range t.Fields {
			parts[i] = quoteIdent(f.Name) + " " + duckType(f.Type)
		}
		return "STRUCT(" + strings.Join(parts, ", ") + ")"
	}
	return "VARCHAR"
}

// physicalType renders the type as stored in data files: nested field names are physical names
// under column mapping.
func physicalType(t delta.DataType) string {
	switch t := t.(type) {
	case *delta.ArrayType:
		return physicalType(t.ElementType) + "[]"
	case *delta.MapType:
		return "MAP(" + physicalType(t.KeyType) + ", " + physicalType(t.ValueType) + ")"
	case *delta.StructType:
		parts := make([]string, len(t.Fields))
		for i, f := range t.Fields {
			parts[i] = quoteIdent(f.PhysicalName()) + " " + physicalType(f.Type)
		}
		return "STRUCT(" + strings.Join(parts, ", ") + ")"
	}
	return duckType(t)
}

// hasRenames reports whether a nested type has a field whose physical name differs from its name.
func hasRenames(t delta.DataType) bool {
	return delta.ContainsType(t, func(d delta.DataType) bool {
		st, ok := d.(*delta.StructType)
		if !ok {
			return false
		}
		for _, f := range st.Fields {
			if f.PhysicalName() != f.Name {
				return true
			}
		}
		return false
	})
}

// logicalExpr converts expr, a value of the physical type of t, to the logical type: nested
// fields renamed from physical to logical names, then cast.
func logicalExpr(expr string, t delta.DataType, depth int) string {
	if !hasRenames(t) {
		return "CAST(" + expr + " AS " + duckType(t) + ")"
	}
	v := fmt.Sprintf("x%d", depth)
	switch t := t.(type) {
	case *delta.StructType:
		parts := make([]string, len(t.Fields))
		for i, f := range t.Fields {
			parts[i] = quoteIdent(f.Name) + " := " + logicalExpr("struct_extract("+expr+", "+quoteString(f.PhysicalName())+")", f.Type, depth+1)
		}
		return "CASE WHEN " + expr + " IS NULL THEN NULL ELSE struct_pack(" + strings.Join(parts, ", ") + ") END"
	case *delta.ArrayType:
		return "list_transform(" + expr + ", " + v + " -> " + logicalExpr(v, t.ElementType, depth+1) + ")"
	case *delta.MapType:
		return "map_from_entries(list_transform(map_entries(" + expr + "), " + v + " -> struct_pack(key := " +
			logicalExpr(v+".key", t.KeyType, depth+1) + ", value := " + logicalExpr(v+".value", t.ValueType, depth+1) + ")))"
	}
	return "CAST(" + expr + " AS " + duckType(t) + ")"
}

// literalSQL renders a partition value as a typed DuckDB literal.
func literalSQL(s scalar.Scalar, t delta.DataType) (string, error) {
	dt := duckType(t)
	if s == nil || !s.IsValid() {
		return "CAST(NULL AS " + dt + ")", nil
	}
	if b, ok := s.(*scalar.Binary); ok {
		return "unhex(" + quoteString(hex.EncodeToString(b.Data())) + ")", nil
	}
	text, err := delta.FormatPartitionValue(s)
	if err != nil {
		return "", err
	}
	return "CAST(" + quoteString(text) + " AS " + dt + ")", nil
}

// scanFile is one data file to read: its local path (or URL DuckDB reads), its add action and, if
// it has a deletion vector, the deleted row positions.
type scanFile struct {
	Path    string
	Add     *delta.Add
	Deleted []uint64 // sorted; nil without a deletion vector
}

// relationSpec is everything relationSQL needs.
type relationSpec struct {
	Snapshot *delta.Snapshot
	Files    []scanFile
	// DVTable is the name of the temp table holding (file, row) pairs of deleted rows; it must
	// exist when some file has Deleted rows.
	DVTable string
	// PartTable, if set, names a temp table holding each file's partition values: a column file
	// (the path) and, for the i-th partition column, a VARCHAR column v<i> with the value as
	// partitionText renders it. The relation then reads all files at once and joins it, instead
	// of reading each group of files with the same partition values on its own (see
	// maxUnionGroups).
	PartTable string
}

// maxUnionGroups is the most groups of files (distinct partition values, with or without deletion
// vectors) that relationSQL reads as a UNION ALL of one read_parquet per group, each with its
// partition values as literals. Beyond it, DuckDB would take seconds to bind the branches (about
// 3 ms each), so the relation reads every file in one read_parquet and joins the partition values
// by file name (relationSpec.PartTable), which costs a hash probe per row instead.
var maxUnionGroups = 32

// relationGroups counts the groups relationSQL would read files in.
func relationGroups(files []scanFile) int {
	seen := map[string]bool{}
	for _, f := range files {
		seen[fmt.Sprintf("%v|%s", f.Deleted != nil, canonicalPartitionKey(f.Add.PartitionValues))] = true
	}
	return len(seen)
}

// partitionText renders a typed partition value for a PartTable row: NULL as nil, binary in hex,
// anything else as delta.FormatPartitionValue does (which CAST reads back).
func partitionText(s scalar.Scalar) (any, error) {
	if s == nil || !s.IsValid() {
		return nil, nil
	}
	if b, ok := s.(*scalar.Binary); ok {
		return hex.EncodeToString(b.Data()), nil
	}
	return delta.FormatPartitionValue(s)
}

// relationSQL returns the SQL of a relation with snap's logical columns over files.
func relationSQL(spec relationSpec) (string, error) {
	snap := spec.Snapshot
	schema := snap.Schema()
	parts := map[string]bool{}
	for _, p := range snap.PartitionColumns() {
		parts[strings.ToLower(p)] = true
	}
	if len(spec.Files) == 0 {
		cols := make([]string, len(schema.Fields))
		for i, f := range schema.Fields {
			cols[i] = "CAST(NULL AS " + duckType(f.Type) + ") AS " + quoteIdent(f.Name)
		}
		return "SELECT " + strings.Join(cols, ", ") + " WHERE false", nil
	}
	mapped := snap.ColumnMappingMode() != "none"
	phys := func(f *delta.StructField) string {
		if mapped {
			return f.PhysicalName()
		}
		return f.Name
	}
	// In id mode, top-level columns are found in the files by Parquet field id (read_parquet's
	// schema parameter, which also reads the columns a file lacks as NULL); nested fields by
	// physical name, which is what the files hold.
	byID := snap.ColumnMappingMode() == "id"
	var idSchema []string
	for _, f := range schema.Fields {
		if parts[strings.ToLower(f.Name)] || f.Type == delta.TypeVoid {
			continue
		}
		id, ok := f.FieldID()
		if !ok {
			byID = false
			break
		}
		idSchema = append(idSchema, fmt.Sprintf("%d: {name: %s, type: %s, default_value: NULL}", id, quoteString(phys(f)), quoteString(physicalType(f.Type))))
	}
	if len(idSchema) == 0 {
		byID = false
	}
	// Otherwise by name, with an empty typed relation that gives every data column (and the
	// scan's bookkeeping columns) to UNION ALL BY NAME, so that columns missing from every file
	// read as NULL.
	var emptyCols []string
	for _, f := range schema.Fields {
		if !parts[strings.ToLower(f.Name)] && f.Type != delta.TypeVoid {
			emptyCols = append(emptyCols, "CAST(NULL AS "+physicalType(f.Type)+") AS "+quoteIdent(phys(f)))
		}
	}
	// readFiles is the FROM item "(...) p" reading paths, with each row's file as column
	// __strata_file (a name no data column has: DuckDB's default, filename, could be one) when
	// withFile, and its position in the file (file_row_number) when withRow.
	readFiles := func(paths []string, withFile, withRow bool) string {
		quoted := make([]string, len(paths))
		for i, p := range paths {
			quoted[i] = quoteString(p)
		}
		fileOpts := ""
		var fileCols []string
		if withFile {
			fileOpts += ", filename = '__strata_file'"
			fileCols = append(fileCols, "CAST(NULL AS VARCHAR) AS __strata_file")
		}
		if withRow {
			fileOpts += ", file_row_number = true"
			fileCols = append(fileCols, "CAST(NULL AS BIGINT) AS file_row_number")
		}
		if byID {
			return "(SELECT * FROM read_parquet([" + strings.Join(quoted, ", ") + "], schema = MAP {" + strings.Join(idSchema, ", ") + "}" + fileOpts + ")) p"
		}
		from := "(SELECT * FROM read_parquet([" + strings.Join(quoted, ", ") + "], union_by_name = true" + fileOpts + ")"
		if empty := append(append([]string{}, emptyCols...), fileCols...); len(empty) > 0 {
			from += " UNION ALL BY NAME SELECT " + strings.Join(empty, ", ") + " WHERE false"
		}
		return from + ") p"
	}
	// dataCol is the select item of a data column (nil for partition columns).
	dataCol := func(f *delta.StructField) string {
		if f.Type == delta.TypeVoid {
			return "CAST(NULL AS INTEGER) AS " + quoteIdent(f.Name)
		}
		return logicalExpr("p."+quoteIdent(phys(f)), f.Type, 0) + " AS " + quoteIdent(f.Name)
	}
	dvFilter := " WHERE NOT EXISTS (SELECT 1 FROM " + quoteIdent(spec.DVTable) + " d WHERE d.file = p.__strata_file AND d.row = p.file_row_number)"

	if spec.PartTable != "" {
		anyDV := false
		paths := make([]string, len(spec.Files))
		for i, f := range spec.Files {
			paths[i] = f.Path
			anyDV = anyDV || f.Deleted != nil
		}
		cols := make([]string, len(schema.Fields))
		var values []string
		for i, f := range schema.Fields {
			if !parts[strings.ToLower(f.Name)] {
				cols[i] = dataCol(f)
				continue
			}
			v := fmt.Sprintf("v%d", len(values))
			conv := "CAST(" + v + " AS " + duckType(f.Type) + ")"
			if f.Type == delta.TypeBinary {
				conv = "unhex(" + v + ")"
			}
			values = append(values, conv+" AS "+v)
			cols[i] = "m." + v + " AS " + quoteIdent(f.Name)
		}
		sel := "SELECT " + strings.Join(cols, ", ") + " FROM " + readFiles(paths, true, anyDV) +
			" JOIN (SELECT file, " + strings.Join(values, ", ") + " FROM " + quoteIdent(spec.PartTable) + ") m ON m.file = p.__strata_file"
		if anyDV {
			sel += dvFilter
		}
		return sel, nil
	}

	// Group files by partition values and by whether they have deletion vectors.
	type group struct {
		key    string
		values map[string]scalar.Scalar
		dv     bool
		paths  []string
	}
	groups := map[string]*group{}
	var order []string
	for _, f := range spec.Files {
		vals, err := delta.TypedPartitionValues(schema, snap.PartitionColumns(), snap.ColumnMappingMode(), f.Add.PartitionValues)
		if err != nil {
			return "", err
		}
		dv := f.Deleted != nil
		key := fmt.Sprintf("%v|%s", dv, canonicalPartitionKey(f.Add.PartitionValues))
		g, ok := groups[key]
		if !ok {
			g = &group{key: key, values: vals, dv: dv}
			groups[key] = g
			order = append(order, key)
		}
		g.paths = append(g.paths, f.Path)
	}
	sort.Strings(order)
	var selects []string
	for _, key := range order {
		g := groups[key]
		cols := make([]string, len(schema.Fields))
		for i, f := range schema.Fields {
			if !parts[strings.ToLower(f.Name)] {
				cols[i] = dataCol(f)
				continue
			}
			lit, err := literalSQL(g.values[strings.ToLower(f.Name)], f.Type)
			if err != nil {
				return "", err
			}
			cols[i] = lit + " AS " + quoteIdent(f.Name)
		}
		sel := "SELECT " + strings.Join(cols, ", ") + " FROM " + readFiles(g.paths, g.dv, g.dv)
		if g.dv {
			sel += dvFilter
		}
		selects = append(selects, sel)
	}
	return strings.Join(selects, "\nUNION ALL\n"), nil
}

func canonicalPartitionKey(pv delta.PartitionValues) string {
	keys := make([]string, 0, len(pv))
	for k := range pv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%q=%q;", k, pv[k])
	}
	return b.String()
}
