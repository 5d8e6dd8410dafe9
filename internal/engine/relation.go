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

// duckType renders a Delta type as a DuckDB type.
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
}

// relationSQL returns the SQL of a relation with snap's logical columns over files.
func relationSQL(spec relationSpec) (string, error) {
	snap := spec.Snapshot
	schema := snap.Schema()
	parts := map[string]bool{}
	for _, p := range snap.PartitionColumns() {
		parts[strings.ToLower(p)] = true
	}
	mapped := snap.ColumnMappingMode() != "none"
	phys := func(f *delta.StructField) string {
		if mapped {
			return f.PhysicalName()
		}
		return f.Name
	}
	// The empty typed relation that gives every data column (and the scan's bookkeeping columns)
	// to UNION ALL BY NAME, so that columns missing from every file of a group read as NULL.
	var emptyCols []string
	for _, f := range schema.Fields {
		if !parts[strings.ToLower(f.Name)] && f.Type != delta.TypeVoid {
			emptyCols = append(emptyCols, "CAST(NULL AS "+physicalType(f.Type)+") AS "+quoteIdent(phys(f)))
		}
	}
	if len(spec.Files) == 0 {
		cols := make([]string, len(schema.Fields))
		for i, f := range schema.Fields {
			cols[i] = "CAST(NULL AS " + duckType(f.Type) + ") AS " + quoteIdent(f.Name)
		}
		return "SELECT " + strings.Join(cols, ", ") + " WHERE false", nil
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
			if parts[strings.ToLower(f.Name)] {
				lit, err := literalSQL(g.values[strings.ToLower(f.Name)], f.Type)
				if err != nil {
					return "", err
				}
				cols[i] = lit + " AS " + quoteIdent(f.Name)
				continue
			}
			if f.Type == delta.TypeVoid {
				cols[i] = "CAST(NULL AS INTEGER) AS " + quoteIdent(f.Name)
				continue
			}
			cols[i] = logicalExpr("p."+quoteIdent(phys(f)), f.Type, 0) + " AS " + quoteIdent(f.Name)
		}
		quoted := make([]string, len(g.paths))
		for i, p := range g.paths {
			quoted[i] = quoteString(p)
		}
		opts := "union_by_name = true"
		empty := emptyCols
		if g.dv {
			opts += ", filename = true, file_row_number = true"
			empty = append(append([]string{}, emptyCols...), "CAST(NULL AS VARCHAR) AS filename", "CAST(NULL AS BIGINT) AS file_row_number")
		}
		from := "(SELECT * FROM read_parquet([" + strings.Join(quoted, ", ") + "], " + opts + ")"
		if len(empty) > 0 {
			from += " UNION ALL BY NAME SELECT " + strings.Join(empty, ", ") + " WHERE false"
		}
		from += ") p"
		sel := "SELECT " + strings.Join(cols, ", ") + " FROM " + from
		if g.dv {
			sel += " WHERE NOT EXISTS (SELECT 1 FROM " + quoteIdent(spec.DVTable) + " d WHERE d.file = p.filename AND d.row = p.file_row_number)"
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
