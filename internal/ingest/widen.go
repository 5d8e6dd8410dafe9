package ingest

import (
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
)

// widen returns the narrowest type that holds every value of a and of b, or an error saying
// why there is none. The rules, for columns met in several files or records:
//
//   - equal types stay; null (a column with no values yet) gives way to anything;
//   - integers widen to the wider integer (signed and unsigned to a signed type that holds
//     both, int64 with uint64 to decimal(20,0)); integers and decimals to a decimal with enough
//     integer digits and the larger scale; anything numeric with a float to double (or float if
//     both are float), and a decimal beyond 38 digits to double;
//   - date with timestamp to timestamp; timestamps to the finer unit, and to a UTC zone when
//     either has a zone (zone-less CSV text is read as UTC, so the instants agree);
//   - any other two scalars (boolean with a number, a date with a number, ...) to string, the
//     type every text can be: this is the last rung of the CSV ladder, applied across files;
//   - structs merge field by field (names matched case-insensitively, first spelling kept,
//     new fields appended), lists and maps widen their element, key and value types;
//   - a nested type against a scalar or another kind of nested type, and binary against any
//     other type, cannot widen: that is an error (ErrSchemaConflict at the caller).
func widen(a, b arrow.DataType) (arrow.DataType, error) {
	if arrow.TypeEqual(a, b) {
		return a, nil
	}
	if a.ID() == arrow.NULL {
		return b, nil
	}
	if b.ID() == arrow.NULL {
		return a, nil
	}
	an, bn := isNested(a), isNested(b)
	if an || bn {
		if a.ID() != b.ID() && !(isList(a) && isList(b)) {
			return nil, fmt.Errorf("cannot combine %s with %s", typeName(a), typeName(b))
		}
		switch at := a.(type) {
		case *arrow.StructType:
			fields, err := widenFields(at.Fields(), b.(*arrow.StructType).Fields())
			if err != nil {
				return nil, err
			}
			return arrow.StructOf(fields...), nil
		case *arrow.MapType:
			bt := b.(*arrow.MapType)
			k, err := widen(at.KeyType(), bt.KeyType())
			if err != nil {
				return nil, fmt.Errorf("map key: %w", err)
			}
			v, err := widen(at.ItemType(), bt.ItemType())
			if err != nil {
				return nil, fmt.Errorf("map value: %w", err)
			}
			m := arrow.MapOfFields(arrow.Field{Name: "key", Type: k},
				arrow.Field{Name: "value", Type: v, Nullable: at.ItemField().Nullable || bt.ItemField().Nullable})
			return m, nil
		default:
			if !isList(a) {
				return nil, fmt.Errorf("cannot combine %s with %s", typeName(a), typeName(b))
			}
			ae, be := listElem(a), listElem(b)
			e, err := widen(ae.Type, be.Type)
			if err != nil {
				return nil, fmt.Errorf("array element: %w", err)
			}
			return arrow.ListOfField(arrow.Field{Name: "element", Type: e, Nullable: ae.Nullable || be.Nullable}), nil
		}
	}
	if isBinary(a) || isBinary(b) {
		if isBinary(a) && isBinary(b) {
			return arrow.BinaryTypes.Binary, nil
		}
		return nil, fmt.Errorf("cannot combine %s with %s", typeName(a), typeName(b))
	}
	if isString(a) || isString(b) {
		return arrow.BinaryTypes.String, nil
	}
	if isNumeric(a) && isNumeric(b) {
		return widenNumeric(a, b), nil
	}
	if isTemporal(a) && isTemporal(b) {
		return widenTemporal(a, b), nil
	}
	return arrow.BinaryTypes.String, nil
}

// widenFields merges two field lists by case-insensitive name, keeping a's order and spelling
// and appending b's new fields. A field missing from one side becomes nullable.
func widenFields(a, b []arrow.Field) ([]arrow.Field, error) {
	out := make([]arrow.Field, 0, len(a)+len(b))
	idx := make(map[string]int, len(a))
	inB := make(map[string]bool, len(b))
	for _, f := range b {
		inB[strings.ToLower(f.Name)] = true
	}
	for _, f := range a {
		f.Nullable = f.Nullable || !inB[strings.ToLower(f.Name)]
		idx[strings.ToLower(f.Name)] = len(out)
		out = append(out, f)
	}
	for _, f := range b {
		i, ok := idx[strings.ToLower(f.Name)]
		if !ok {
			f.Nullable = true
			idx[strings.ToLower(f.Name)] = len(out)
			out = append(out, f)
			continue
		}
		t, err := widen(out[i].Type, f.Type)
		if err != nil {
			return nil, fmt.Errorf("field %q: %w", out[i].Name, err)
		}
		out[i].Type = t
		out[i].Nullable = out[i].Nullable || f.Nullable
	}
	return out, nil
}

func isNested(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.STRUCT, arrow.LIST, arrow.LARGE_LIST, arrow.MAP, arrow.FIXED_SIZE_LIST, arrow.LIST_VIEW, arrow.LARGE_LIST_VIEW:
		return true
	}
	return false
}

func isList(t arrow.DataType) bool {
	return t.ID() == arrow.LIST || t.ID() == arrow.LARGE_LIST
}

func listElem(t arrow.DataType) arrow.Field {
	switch t := t.(type) {
	case *arrow.ListType:
		return t.ElemField()
	case *arrow.LargeListType:
		return t.ElemField()
	}
	return arrow.Field{Type: arrow.Null, Nullable: true}
}

func isBinary(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.BINARY, arrow.LARGE_BINARY, arrow.BINARY_VIEW, arrow.FIXED_SIZE_BINARY:
		return true
	}
	return false
}

func isString(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.STRING, arrow.LARGE_STRING, arrow.STRING_VIEW:
		return true
	}
	return false
}

func isNumeric(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64,
		arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64,
		arrow.FLOAT16, arrow.FLOAT32, arrow.FLOAT64,
		arrow.DECIMAL32, arrow.DECIMAL64, arrow.DECIMAL128, arrow.DECIMAL256:
		return true
	}
	return false
}

func isTemporal(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.DATE32, arrow.DATE64, arrow.TIMESTAMP:
		return true
	}
	return false
}

// intInfo describes an integer type: signedness and bits.
func intInfo(t arrow.DataType) (signed bool, bits int, ok bool) {
	switch t.ID() {
	case arrow.INT8:
		return true, 8, true
	case arrow.INT16:
		return true, 16, true
	case arrow.INT32:
		return true, 32, true
	case arrow.INT64:
		return true, 64, true
	case arrow.UINT8:
		return false, 8, true
	case arrow.UINT16:
		return false, 16, true
	case arrow.UINT32:
		return false, 32, true
	case arrow.UINT64:
		return false, 64, true
	}
	return false, 0, false
}

// intDigits is how many decimal digits the integer type's values can need.
func intDigits(signed bool, bits int) int32 {
	switch bits {
	case 8:
		return 3
	case 16:
		return 5
	case 32:
		return 10
	}
	if signed {
		return 19
	}
	return 20
}

func signedOf(bits int) arrow.DataType {
	switch bits {
	case 8:
		return arrow.PrimitiveTypes.Int8
	case 16:
		return arrow.PrimitiveTypes.Int16
	case 32:
		return arrow.PrimitiveTypes.Int32
	}
	return arrow.PrimitiveTypes.Int64
}

func unsignedOf(bits int) arrow.DataType {
	switch bits {
	case 8:
		return arrow.PrimitiveTypes.Uint8
	case 16:
		return arrow.PrimitiveTypes.Uint16
	case 32:
		return arrow.PrimitiveTypes.Uint32
	}
	return arrow.PrimitiveTypes.Uint64
}

// decimalInfo gives a decimal type's precision and scale; integers count as decimals of scale 0.
func decimalInfo(t arrow.DataType) (prec, scale int32, ok bool) {
	if d, isDec := t.(arrow.DecimalType); isDec {
		return d.GetPrecision(), d.GetScale(), true
	}
	if signed, bits, isInt := intInfo(t); isInt {
		return intDigits(signed, bits), 0, true
	}
	return 0, 0, false
}

func isFloat(t arrow.DataType) bool {
	return t.ID() == arrow.FLOAT16 || t.ID() == arrow.FLOAT32 || t.ID() == arrow.FLOAT64
}

func widenNumeric(a, b arrow.DataType) arrow.DataType {
	if isFloat(a) || isFloat(b) {
		if a.ID() == arrow.FLOAT32 && b.ID() == arrow.FLOAT32 {
			return arrow.PrimitiveTypes.Float32
		}
		return arrow.PrimitiveTypes.Float64
	}
	as, ab, aInt := intInfo(a)
	bs, bb, bInt := intInfo(b)
	if aInt && bInt {
		switch {
		case as == bs:
			if as {
				return signedOf(max(ab, bb))
			}
			return unsignedOf(max(ab, bb))
		default:
			ub, sb := ab, bb
			if as {
				ub, sb = bb, ab
			}
			if ub < 64 {
				return signedOf(max(sb, ub*2))
			}
			return &arrow.Decimal128Type{Precision: 20, Scale: 0}
		}
	}
	ap, asc, _ := decimalInfo(a)
	bp, bsc, _ := decimalInfo(b)
	scale := max(asc, bsc)
	prec := max(ap-asc, bp-bsc) + scale
	if prec > 38 {
		return arrow.PrimitiveTypes.Float64
	}
	return &arrow.Decimal128Type{Precision: prec, Scale: scale}
}

func widenTemporal(a, b arrow.DataType) arrow.DataType {
	at, aTS := a.(*arrow.TimestampType)
	bt, bTS := b.(*arrow.TimestampType)
	switch {
	case !aTS && !bTS:
		return arrow.FixedWidthTypes.Date32
	case !aTS:
		return bt
	case !bTS:
		return at
	}
	unit := max(at.Unit, bt.Unit)
	tz := at.TimeZone
	if at.TimeZone != bt.TimeZone {
		tz = "UTC"
	}
	return &arrow.TimestampType{Unit: unit, TimeZone: tz}
}

// finalize replaces what inference could not decide by string: a column that only ever held
// nulls (like DuckDB and Spark), an empty struct (an object that only ever was {}), and an
// array whose elements were never seen. Field metadata is dropped.
func finalize(t arrow.DataType) arrow.DataType {
	switch t := t.(type) {
	case *arrow.NullType:
		return arrow.BinaryTypes.String
	case *arrow.StructType:
		if t.NumFields() == 0 {
			return arrow.BinaryTypes.String
		}
		fs := make([]arrow.Field, t.NumFields())
		for i, f := range t.Fields() {
			fs[i] = arrow.Field{Name: f.Name, Type: finalize(f.Type), Nullable: f.Nullable}
		}
		return arrow.StructOf(fs...)
	case *arrow.ListType:
		e := t.ElemField()
		return arrow.ListOfField(arrow.Field{Name: e.Name, Type: finalize(e.Type), Nullable: e.Nullable})
	case *arrow.LargeListType:
		e := t.ElemField()
		return arrow.LargeListOfField(arrow.Field{Name: e.Name, Type: finalize(e.Type), Nullable: e.Nullable})
	case *arrow.MapType:
		k, v := t.KeyField(), t.ItemField()
		return arrow.MapOfFields(arrow.Field{Name: k.Name, Type: finalize(k.Type)},
			arrow.Field{Name: v.Name, Type: finalize(v.Type), Nullable: v.Nullable})
	}
	return t
}
