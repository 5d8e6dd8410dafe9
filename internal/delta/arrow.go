package delta

import (
	"fmt"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
)

// ArrowFieldIDKey is the Arrow field-metadata key under which pqarrow reads and writes Parquet
// field ids (used by column mapping in id mode).
const ArrowFieldIDKey = "PARQUET:field_id"

// ToArrowType maps a Delta type to the Arrow type Strata uses in memory. Timestamps are
// microseconds, "UTC" for timestamp and zone-less for timestamp_ntz; decimals are Decimal128.
func ToArrowType(t DataType) arrow.DataType {
	return toArrowType(t, false)
}

func toArrowType(t DataType, physical bool) arrow.DataType {
	switch t := t.(type) {
	case *PrimitiveType:
		switch t {
		case TypeString:
			return arrow.BinaryTypes.String
		case TypeLong:
			return arrow.PrimitiveTypes.Int64
		case TypeInteger:
			return arrow.PrimitiveTypes.Int32
		case TypeShort:
			return arrow.PrimitiveTypes.Int16
		case TypeByte:
			return arrow.PrimitiveTypes.Int8
		case TypeFloat:
			return arrow.PrimitiveTypes.Float32
		case TypeDouble:
			return arrow.PrimitiveTypes.Float64
		case TypeBoolean:
			return arrow.FixedWidthTypes.Boolean
		case TypeBinary:
			return arrow.BinaryTypes.Binary
		case TypeDate:
			return arrow.FixedWidthTypes.Date32
		case TypeTimestamp:
			return &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
		case TypeTimestampNTZ:
			return &arrow.TimestampType{Unit: arrow.Microsecond}
		case TypeVoid:
			return arrow.Null
		}
	case *DecimalType:
		return &arrow.Decimal128Type{Precision: int32(t.Precision), Scale: int32(t.Scale)}
	case *ArrayType:
		return arrow.ListOfField(arrow.Field{Name: "element", Type: toArrowType(t.ElementType, physical), Nullable: t.ContainsNull})
	case *MapType:
		m := arrow.MapOfFields(
			arrow.Field{Name: "key", Type: toArrowType(t.KeyType, physical)},
			arrow.Field{Name: "value", Type: toArrowType(t.ValueType, physical), Nullable: t.ValueContainsNull})
		return m
	case *StructType:
		return arrow.StructOf(toArrowFields(t, physical)...)
	}
	panic(fmt.Sprintf("delta: no arrow type for %v", t))
}

func toArrowFields(st *StructType, physical bool) []arrow.Field {
	fs := make([]arrow.Field, len(st.Fields))
	for i, f := range st.Fields {
		name := f.Name
		var md arrow.Metadata
		if physical {
			name = f.PhysicalName()
			if id, ok := f.FieldID(); ok {
				md = arrow.NewMetadata([]string{ArrowFieldIDKey}, []string{strconv.FormatInt(id, 10)})
			}
		}
		fs[i] = arrow.Field{Name: name, Type: toArrowType(f.Type, physical), Nullable: f.Nullable, Metadata: md}
	}
	return fs
}

// ToArrowSchema maps a table schema to an Arrow schema with the logical (display) column names.
func ToArrowSchema(st *StructType) *arrow.Schema {
	return arrow.NewSchema(toArrowFields(st, false), nil)
}

// PhysicalArrowSchema maps a table schema to the Arrow schema of its data files: physical column
// names (which equal the logical ones without column mapping) and, where the schema has column
// mapping ids, Parquet field ids in the field metadata.
func PhysicalArrowSchema(st *StructType) *arrow.Schema {
	return arrow.NewSchema(toArrowFields(st, true), nil)
}

// FromArrowType maps an Arrow type to the Delta type that holds it. Unsigned integers widen to the
// next signed type; large/view strings and binaries map to string/binary; timestamps of any unit
// map to timestamp (with a zone) or timestamp_ntz (without).
func FromArrowType(t arrow.DataType) (DataType, error) {
	switch t := t.(type) {
	case *arrow.StringType, *arrow.LargeStringType, *arrow.StringViewType:
		return TypeString, nil
	case *arrow.BinaryType, *arrow.LargeBinaryType, *arrow.BinaryViewType, *arrow.FixedSizeBinaryType:
		return TypeBinary, nil
	case *arrow.Int64Type, *arrow.Uint32Type:
		return TypeLong, nil
	case *arrow.Int32Type, *arrow.Uint16Type:
		return TypeInteger, nil
	case *arrow.Int16Type, *arrow.Uint8Type:
		return TypeShort, nil
	case *arrow.Int8Type:
		return TypeByte, nil
	case *arrow.Uint64Type:
		return &DecimalType{Precision: 20, Scale: 0}, nil
	case *arrow.Float16Type, *arrow.Float32Type:
		return TypeFloat, nil
	case *arrow.Float64Type:
		return TypeDouble, nil
	case *arrow.BooleanType:
		return TypeBoolean, nil
	case *arrow.Date32Type, *arrow.Date64Type:
		return TypeDate, nil
	case *arrow.TimestampType:
		if t.TimeZone == "" {
			return TypeTimestampNTZ, nil
		}
		return TypeTimestamp, nil
	case *arrow.Decimal128Type:
		return &DecimalType{Precision: int(t.Precision), Scale: int(t.Scale)}, nil
	case *arrow.Decimal64Type:
		return &DecimalType{Precision: int(t.Precision), Scale: int(t.Scale)}, nil
	case *arrow.Decimal32Type:
		return &DecimalType{Precision: int(t.Precision), Scale: int(t.Scale)}, nil
	case *arrow.NullType:
		return TypeVoid, nil
	case *arrow.ListType:
		et, err := FromArrowType(t.Elem())
		if err != nil {
			return nil, err
		}
		return &ArrayType{ElementType: et, ContainsNull: t.ElemField().Nullable}, nil
	case *arrow.LargeListType:
		et, err := FromArrowType(t.Elem())
		if err != nil {
			return nil, err
		}
		return &ArrayType{ElementType: et, ContainsNull: t.ElemField().Nullable}, nil
	case *arrow.MapType:
		kt, err := FromArrowType(t.KeyType())
		if err != nil {
			return nil, err
		}
		vt, err := FromArrowType(t.ItemType())
		if err != nil {
			return nil, err
		}
		return &MapType{KeyType: kt, ValueType: vt, ValueContainsNull: t.ItemField().Nullable}, nil
	case *arrow.StructType:
		st := &StructType{}
		for _, f := range t.Fields() {
			ft, err := FromArrowType(f.Type)
			if err != nil {
				return nil, fmt.Errorf("field %q: %w", f.Name, err)
			}
			st.Fields = append(st.Fields, &StructField{Name: f.Name, Type: ft, Nullable: f.Nullable})
		}
		return st, nil
	case *arrow.DictionaryType:
		return FromArrowType(t.ValueType)
	}
	return nil, fmt.Errorf("%w: arrow type %s has no Delta equivalent", ErrSchemaMismatch, t)
}

// FromArrowSchema maps an Arrow schema to a Delta table schema.
func FromArrowSchema(s *arrow.Schema) (*StructType, error) {
	st, err := FromArrowType(arrow.StructOf(s.Fields()...))
	if err != nil {
		return nil, err
	}
	return st.(*StructType), nil
}
