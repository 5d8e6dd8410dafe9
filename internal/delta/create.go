package delta

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"
)

// CreateOptions describe a new table.
type CreateOptions struct {
	Schema           *StructType
	PartitionColumns []string
	// Properties become metaData.configuration (delta.* table properties included).
	Properties  map[string]string
	Name        string
	Description string
}

// NewTableMetadata validates a new table's definition and returns the protocol and metadata of its
// version 0. The protocol is the least one the definition needs: (1,2) by default; table features
// (3,7) when a reader feature is needed (timestamp_ntz columns, deletion vectors, v2 checkpoints);
// legacy (2,5) for column mapping, (1,4) for change data feed. Column mapping (property
// delta.columnMapping.mode = name|id) assigns every field an id and a physical name.
func NewTableMetadata(opts CreateOptions, nowMillis int64) (*Protocol, *Metadata, error) {
	if opts.Schema == nil || len(opts.Schema.Fields) == 0 {
		return nil, nil, fmt.Errorf("%w: a table needs at least one column", ErrInvalidArgument)
	}
	if err := validateSchema(opts.Schema); err != nil {
		return nil, nil, err
	}
	for _, p := range opts.PartitionColumns {
		f := opts.Schema.Field(p)
		if f == nil {
			return nil, nil, fmt.Errorf("%w: partition column %q is not in the schema", ErrInvalidArgument, p)
		}
		switch f.Type.(type) {
		case *StructType, *ArrayType, *MapType:
			return nil, nil, fmt.Errorf("%w: partition column %q has type %s; partition columns must be of a primitive type", ErrInvalidArgument, p, f.Type)
		}
	}
	if len(opts.PartitionColumns) > 0 && len(opts.PartitionColumns) == len(opts.Schema.Fields) {
		return nil, nil, fmt.Errorf("%w: every column is a partition column; a table needs at least one data column", ErrInvalidArgument)
	}
	props := map[string]string{}
	for k, v := range opts.Properties {
		props[k] = v
	}
	for k, v := range props {
		if err := checkPropertyValue(k, v); err != nil {
			return nil, nil, err
		}
	}
	schema := opts.Schema
	mode := strings.ToLower(props["delta.columnMapping.mode"])
	switch mode {
	case "", "none":
	case "name", "id":
		var maxID int64
		schema, maxID = assignColumnMapping(opts.Schema, 0)
		props["delta.columnMapping.maxColumnId"] = strconv.FormatInt(maxID, 10)
	default:
		return nil, nil, fmt.Errorf("%w: delta.columnMapping.mode must be none, name or id, got %q", ErrInvalidArgument, mode)
	}
	proto := minimalProtocol(schema, props)
	// Partition columns are stored with their logical names.
	parts := make([]string, len(opts.PartitionColumns))
	for i, p := range opts.PartitionColumns {
		parts[i] = schema.Field(p).Name
	}
	md := &Metadata{
		ID:               uuid.NewString(),
		Format:           Format{Provider: "parquet", Options: map[string]string{}},
		SchemaString:     schema.SchemaString(),
		PartitionColumns: parts,
		CreatedTime:      &nowMillis,
		Configuration:    props,
	}
	if opts.Name != "" {
		md.Name = &opts.Name
	}
	if opts.Description != "" {
		md.Description = &opts.Description
	}
	return proto, md, nil
}

func minimalProtocol(schema *StructType, props map[string]string) *Protocol {
	var readerFeatures, writerFeatures []string
	reader, writer := 1, 2
	isTrue := func(k string) bool { return strings.EqualFold(props[k], "true") }
	if ContainsType(schema, func(t DataType) bool { return t == TypeTimestampNTZ }) {
		readerFeatures = append(readerFeatures, "timestampNtz")
	}
	if isTrue("delta.enableDeletionVectors") {
		readerFeatures = append(readerFeatures, "deletionVectors")
	}
	if strings.EqualFold(props["delta.checkpointPolicy"], "v2") {
		readerFeatures = append(readerFeatures, "v2Checkpoint")
	}
	cm := strings.ToLower(props["delta.columnMapping.mode"])
	if cm == "name" || cm == "id" {
		if len(readerFeatures) > 0 {
			readerFeatures = append(readerFeatures, "columnMapping")
		} else {
			reader, writer = 2, 5
		}
	}
	if isTrue("delta.enableChangeDataFeed") {
		writer = max(writer, 4)
		writerFeatures = append(writerFeatures, "changeDataFeed")
	}
	if isTrue("delta.enableInCommitTimestamps") {
		writerFeatures = append(writerFeatures, "inCommitTimestamp")
		writer = 7
	}
	if len(readerFeatures) > 0 {
		reader, writer = 3, 7
	}
	if writer < 7 {
		return &Protocol{MinReaderVersion: reader, MinWriterVersion: writer}
	}
	// With table features, list every feature the legacy versions implied that we rely on.
	all := append([]string{"appendOnly", "invariants"}, writerFeatures...)
	all = append(all, readerFeatures...)
	slices.Sort(all)
	all = slices.Compact(all)
	p := &Protocol{MinReaderVersion: reader, MinWriterVersion: 7, WriterFeatures: all}
	if reader == 3 {
		slices.Sort(readerFeatures)
		p.ReaderFeatures = readerFeatures
	}
	return p
}

func validateSchema(st *StructType) error {
	seen := map[string]bool{}
	for _, f := range st.Fields {
		if f.Name == "" {
			return fmt.Errorf("%w: empty column name", ErrInvalidArgument)
		}
		k := strings.ToLower(f.Name)
		if seen[k] {
			return fmt.Errorf("%w: duplicate column %q (column names are case-insensitive)", ErrInvalidArgument, f.Name)
		}
		seen[k] = true
		if sub, ok := f.Type.(*StructType); ok {
			if err := validateSchema(sub); err != nil {
				return fmt.Errorf("in column %q: %w", f.Name, err)
			}
		}
	}
	return nil
}

// assignColumnMapping returns a copy of st whose fields (nested ones included) carry column-mapping
// ids above maxID and physical names "col-<uuid>", plus the new maximum id. Fields that already
// have both keep them.
func assignColumnMapping(st *StructType, maxID int64) (*StructType, int64) {
	var walkType func(t DataType) DataType
	var walkStruct func(s *StructType) *StructType
	walkStruct = func(s *StructType) *StructType {
		out := &StructType{Fields: make([]*StructField, len(s.Fields))}
		for i, f := range s.Fields {
			nf := *f
			nf.Metadata = map[string]json.RawMessage{}
			for k, v := range f.Metadata {
				nf.Metadata[k] = v
			}
			if _, ok := f.FieldID(); !ok {
				maxID++
				nf.Metadata[MetaColumnMappingID] = json.RawMessage(strconv.FormatInt(maxID, 10))
			} else if id, _ := f.FieldID(); id > maxID {
				maxID = id
			}
			if _, ok := f.Metadata[MetaColumnMappingPhysicalName]; !ok {
				name, _ := json.Marshal("col-" + uuid.NewString())
				nf.Metadata[MetaColumnMappingPhysicalName] = name
			}
			nf.Type = walkType(f.Type)
			out.Fields[i] = &nf
		}
		return out
	}
	walkType = func(t DataType) DataType {
		switch t := t.(type) {
		case *StructType:
			return walkStruct(t)
		case *ArrayType:
			return &ArrayType{ElementType: walkType(t.ElementType), ContainsNull: t.ContainsNull}
		case *MapType:
			return &MapType{KeyType: walkType(t.KeyType), ValueType: walkType(t.ValueType), ValueContainsNull: t.ValueContainsNull}
		}
		return t
	}
	res := walkStruct(st)
	return res, maxID
}

// MergeSchemas returns the table schema extended with the columns of incoming that it lacks (added
// as nullable, nested struct fields included), for mergeSchema writes. A column present in both
// with a different type is an error wrapping ErrSchemaMismatch naming the column and both types,
// unless the incoming type widens safely into the table's (byte < short < int < long, float <
// double). Under column mapping the new fields get ids and physical names; maxColumnID is the
// table's delta.columnMapping.maxColumnId (0 without mapping) and the new maximum is returned.
//
// With inferred set (incoming types guessed from text, values converted on read), a column present
// in both keeps the table's type.
func MergeSchemas(table, incoming *StructType, columnMapping, inferred bool, maxColumnID int64) (*StructType, []string, int64, error) {
	var added []string
	merged, err := mergeStruct("", table, incoming, inferred, &added)
	if err != nil {
		return nil, nil, 0, err
	}
	if columnMapping && len(added) > 0 {
		merged, maxColumnID = assignColumnMapping(merged, maxColumnID)
	}
	return merged, added, maxColumnID, nil
}

func mergeStruct(prefix string, table, incoming *StructType, inferred bool, added *[]string) (*StructType, error) {
	out := &StructType{Fields: make([]*StructField, 0, len(table.Fields))}
	for _, f := range table.Fields {
		nf := *f
		if inc := incoming.Field(f.Name); inc != nil {
			t, err := mergeType(prefix+f.Name, f.Type, inc.Type, inferred, added)
			if err != nil {
				return nil, err
			}
			nf.Type = t
		}
		out.Fields = append(out.Fields, &nf)
	}
	for _, f := range incoming.Fields {
		if table.Field(f.Name) == nil {
			nf := *f
			nf.Nullable = true
			nf.Metadata = nil
			out.Fields = append(out.Fields, &nf)
			*added = append(*added, prefix+f.Name)
		}
	}
	return out, nil
}

func mergeType(path string, table, incoming DataType, inferred bool, added *[]string) (DataType, error) {
	switch t := table.(type) {
	case *StructType:
		if in, ok := incoming.(*StructType); ok {
			return mergeStruct(path+".", t, in, inferred, added)
		}
	case *ArrayType:
		if in, ok := incoming.(*ArrayType); ok {
			et, err := mergeType(path+".element", t.ElementType, in.ElementType, inferred, added)
			if err != nil {
				return nil, err
			}
			return &ArrayType{ElementType: et, ContainsNull: t.ContainsNull}, nil
		}
	case *MapType:
		if in, ok := incoming.(*MapType); ok {
			kt, err := mergeType(path+".key", t.KeyType, in.KeyType, inferred, added)
			if err != nil {
				return nil, err
			}
			vt, err := mergeType(path+".value", t.ValueType, in.ValueType, inferred, added)
			if err != nil {
				return nil, err
			}
			return &MapType{KeyType: kt, ValueType: vt, ValueContainsNull: t.ValueContainsNull}, nil
		}
	default:
		if TypesEqual(table, incoming) || WidensTo(incoming, table) {
			return table, nil
		}
	}
	if inferred {
		return table, nil
	}
	return nil, fmt.Errorf("%w: column %s has type %s in the table but %s in the data", ErrSchemaMismatch, path, table, incoming)
}

// WidensTo reports whether values of type from convert to type to without loss.
func WidensTo(from, to DataType) bool {
	rank := map[DataType]int{TypeByte: 1, TypeShort: 2, TypeInteger: 3, TypeLong: 4}
	if rf, ok := rank[from]; ok {
		if rt, ok := rank[to]; ok {
			return rf <= rt
		}
		if d, ok := to.(*DecimalType); ok {
			digits := map[int]int{1: 3, 2: 5, 3: 10, 4: 19}[rf]
			return d.Precision-d.Scale >= digits
		}
		if to == TypeDouble {
			return rf <= 3
		}
	}
	if from == TypeFloat && to == TypeDouble {
		return true
	}
	if f, ok := from.(*DecimalType); ok {
		if t, ok := to.(*DecimalType); ok {
			return t.Scale >= f.Scale && t.Precision-t.Scale >= f.Precision-f.Scale
		}
	}
	if from == TypeDate && to == TypeTimestampNTZ {
		return true
	}
	return TypesEqual(from, to)
}

// CheckSchemaCompatible enforces the table schema on incoming data: every incoming column must exist
// in the table (case-insensitively) with an equal or safely widening type, recursively. Violations
// wrap ErrSchemaMismatch and name the column and both types (or say that the column is missing from
// the table and that mergeSchema would add it).
//
// With inferred set (the incoming types were guessed from text such as CSV or JSON, and each value
// will be converted to the table's type as it is read, failing on the first value that does not
// convert), only the column names are checked, recursively through structs.
func CheckSchemaCompatible(table, incoming *StructType, inferred bool) error {
	return checkStruct("", table, incoming, inferred)
}

func checkStruct(prefix string, table, incoming *StructType, inferred bool) error {
	for _, f := range incoming.Fields {
		tf := table.Field(f.Name)
		if tf == nil {
			return fmt.Errorf("%w: column %s%s (%s) is not in the table schema; use --merge-schema to add it",
				ErrSchemaMismatch, prefix, f.Name, f.Type)
		}
		if err := checkType(prefix+tf.Name, tf.Type, f.Type, inferred); err != nil {
			return err
		}
	}
	return nil
}

func checkType(path string, table, incoming DataType, inferred bool) error {
	switch t := table.(type) {
	case *StructType:
		if in, ok := incoming.(*StructType); ok {
			return checkStruct(path+".", t, in, inferred)
		}
	case *ArrayType:
		if in, ok := incoming.(*ArrayType); ok {
			return checkType(path+".element", t.ElementType, in.ElementType, inferred)
		}
	case *MapType:
		if in, ok := incoming.(*MapType); ok {
			if err := checkType(path+".key", t.KeyType, in.KeyType, inferred); err != nil {
				return err
			}
			return checkType(path+".value", t.ValueType, in.ValueType, inferred)
		}
	default:
		if WidensTo(incoming, table) {
			return nil
		}
	}
	if inferred {
		return nil
	}
	return fmt.Errorf("%w: column %s has type %s in the table but %s in the data", ErrSchemaMismatch, path, table, incoming)
}
