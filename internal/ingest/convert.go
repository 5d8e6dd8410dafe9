package ingest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/decimal256"
)

// This file converts text (CSV fields, Parquet strings) and JSON values (NDJSON) into values of
// a target Arrow type, by the rules in the package documentation. Conversion is two-phase so
// that a malformed record never leaves half a row in the builders: a record's values are first
// converted into cells (which can fail), and only when every value of the record converted are
// the cells appended (which cannot fail).

// cell holds one converted value until its record is known to be good.
type cell struct {
	null bool
	i    int64
	u    uint64
	f    float64
	s    string
	b    []byte
	d128 decimal128.Num
	d256 decimal256.Num
	kids []cell // list elements, struct fields in target order, or map key/value pairs
}

// converter turns one non-null value into a cell of its target type and appends cells.
type converter interface {
	// text converts a CSV field (never a null value).
	text(s string, c *cell) *convError
	// json converts a valid JSON value, trimmed, never the literal null.
	json(raw []byte, c *cell) *convError
	// put appends a non-null cell to a builder of the target type.
	put(b array.Builder, c *cell)
}

// fieldConv converts the values of one field, enforcing its nullability.
type fieldConv struct {
	name     string
	nullable bool
	expected string
	conv     converter
}

func (f *fieldConv) fromText(s string, c *cell) *convError {
	c.null = false
	return f.conv.text(s, c)
}

func (f *fieldConv) fromJSON(raw []byte, c *cell) *convError {
	if raw[0] == 'n' { // null
		return f.setNull(c)
	}
	c.null = false
	return f.conv.json(raw, c)
}

func (f *fieldConv) setNull(c *cell) *convError {
	if !f.nullable {
		return errNull(f.expected)
	}
	c.null = true
	return nil
}

func (f *fieldConv) put(b array.Builder, c *cell) {
	if c.null {
		b.AppendNull()
		return
	}
	f.conv.put(b, c)
}

// newFieldConv builds the converter for a field, or reports why its type is not supported.
func newFieldConv(f arrow.Field) (*fieldConv, error) {
	c, err := newConverter(f.Type)
	if err != nil {
		return nil, fmt.Errorf("column %q: %w", f.Name, err)
	}
	return &fieldConv{name: f.Name, nullable: f.Nullable, expected: typeName(f.Type), conv: c}, nil
}

func newConverter(dt arrow.DataType) (converter, error) {
	exp := typeName(dt)
	switch t := dt.(type) {
	case *arrow.NullType:
		return nullConv{exp}, nil
	case *arrow.BooleanType:
		return boolConv{exp}, nil
	case *arrow.Int8Type:
		return intConv{exp, 8, func(b array.Builder, v int64) { b.(*array.Int8Builder).Append(int8(v)) }}, nil
	case *arrow.Int16Type:
		return intConv{exp, 16, func(b array.Builder, v int64) { b.(*array.Int16Builder).Append(int16(v)) }}, nil
	case *arrow.Int32Type:
		return intConv{exp, 32, func(b array.Builder, v int64) { b.(*array.Int32Builder).Append(int32(v)) }}, nil
	case *arrow.Int64Type:
		return intConv{exp, 64, func(b array.Builder, v int64) { b.(*array.Int64Builder).Append(v) }}, nil
	case *arrow.Uint8Type:
		return uintConv{exp, 8, func(b array.Builder, v uint64) { b.(*array.Uint8Builder).Append(uint8(v)) }}, nil
	case *arrow.Uint16Type:
		return uintConv{exp, 16, func(b array.Builder, v uint64) { b.(*array.Uint16Builder).Append(uint16(v)) }}, nil
	case *arrow.Uint32Type:
		return uintConv{exp, 32, func(b array.Builder, v uint64) { b.(*array.Uint32Builder).Append(uint32(v)) }}, nil
	case *arrow.Uint64Type:
		return uintConv{exp, 64, func(b array.Builder, v uint64) { b.(*array.Uint64Builder).Append(v) }}, nil
	case *arrow.Float32Type:
		return floatConv{exp, 32}, nil
	case *arrow.Float64Type:
		return floatConv{exp, 64}, nil
	case *arrow.Decimal128Type:
		return decimal128Conv{exp, t.Precision, t.Scale}, nil
	case *arrow.Decimal256Type:
		return decimal256Conv{exp, t.Precision, t.Scale}, nil
	case *arrow.StringType, *arrow.LargeStringType:
		return stringConv{exp}, nil
	case *arrow.BinaryType, *arrow.LargeBinaryType:
		return binaryConv{exp}, nil
	case *arrow.Date32Type:
		return dateConv{exp, false}, nil
	case *arrow.Date64Type:
		return dateConv{exp, true}, nil
	case *arrow.TimestampType:
		return timestampConv{exp, t.Unit}, nil
	case *arrow.ListType:
		return newListConv(exp, t.ElemField())
	case *arrow.LargeListType:
		return newListConv(exp, t.ElemField())
	case *arrow.MapType:
		k, err := newFieldConv(t.KeyField())
		if err != nil {
			return nil, err
		}
		k.nullable = false
		v, err := newFieldConv(t.ItemField())
		if err != nil {
			return nil, err
		}
		return &mapConv{exp, k, v}, nil
	case *arrow.StructType:
		return newStructConv(exp, t.Fields())
	}
	return nil, fmt.Errorf("%w: cannot convert into arrow type %s", ErrSchemaMismatch, dt)
}

// --- scalars ---------------------------------------------------------------------------------

// scalarJSON routes a JSON scalar through a text parser: strings always, numbers when the type
// is numeric. Anything else is a cast error.
func scalarJSON(raw []byte, c *cell, numeric bool, expected string, text func(string, *cell) *convError) *convError {
	switch {
	case raw[0] == '"':
		return text(decodeJSONString(raw), c)
	case numeric && isJSONNumber(raw):
		return text(string(raw), c)
	}
	return errCast(string(raw), expected)
}

type nullConv struct{ expected string }

func (n nullConv) text(s string, c *cell) *convError { return errCast(s, n.expected) }
func (n nullConv) json(raw []byte, c *cell) *convError {
	return errCast(string(raw), n.expected)
}
func (nullConv) put(b array.Builder, c *cell) { b.AppendNull() }

type boolConv struct{ expected string }

func (k boolConv) text(s string, c *cell) *convError {
	v, ok := parseBoolText(s)
	if !ok {
		return errCast(s, k.expected)
	}
	c.i = 0
	if v {
		c.i = 1
	}
	return nil
}

func (k boolConv) json(raw []byte, c *cell) *convError {
	switch raw[0] {
	case 't':
		c.i = 1
		return nil
	case 'f':
		c.i = 0
		return nil
	}
	return scalarJSON(raw, c, false, k.expected, k.text)
}

func (boolConv) put(b array.Builder, c *cell) { b.(*array.BooleanBuilder).Append(c.i == 1) }

type intConv struct {
	expected string
	bits     int
	appendFn func(array.Builder, int64)
}

func (k intConv) text(s string, c *cell) *convError {
	v, err := parseIntText(s, k.bits, k.expected)
	c.i = v
	return err
}

func (k intConv) json(raw []byte, c *cell) *convError {
	return scalarJSON(raw, c, true, k.expected, k.text)
}

func (k intConv) put(b array.Builder, c *cell) { k.appendFn(b, c.i) }

type uintConv struct {
	expected string
	bits     int
	appendFn func(array.Builder, uint64)
}

func (k uintConv) text(s string, c *cell) *convError {
	v, err := parseUintText(s, k.bits, k.expected)
	c.u = v
	return err
}

func (k uintConv) json(raw []byte, c *cell) *convError {
	return scalarJSON(raw, c, true, k.expected, k.text)
}

func (k uintConv) put(b array.Builder, c *cell) { k.appendFn(b, c.u) }

type floatConv struct {
	expected string
	bits     int
}

func (k floatConv) text(s string, c *cell) *convError {
	v, err := parseFloatText(s, k.bits, k.expected)
	c.f = v
	return err
}

func (k floatConv) json(raw []byte, c *cell) *convError {
	return scalarJSON(raw, c, true, k.expected, k.text)
}

func (k floatConv) put(b array.Builder, c *cell) {
	if k.bits == 32 {
		b.(*array.Float32Builder).Append(float32(c.f))
		return
	}
	b.(*array.Float64Builder).Append(c.f)
}

type decimal128Conv struct {
	expected    string
	prec, scale int32
}

func (k decimal128Conv) text(s string, c *cell) *convError {
	v, err := parseDecimal128Text(s, k.prec, k.scale, k.expected)
	c.d128 = v
	return err
}

func (k decimal128Conv) json(raw []byte, c *cell) *convError {
	return scalarJSON(raw, c, true, k.expected, k.text)
}

func (decimal128Conv) put(b array.Builder, c *cell) { b.(*array.Decimal128Builder).Append(c.d128) }

type decimal256Conv struct {
	expected    string
	prec, scale int32
}

func (k decimal256Conv) text(s string, c *cell) *convError {
	v, err := parseDecimal256Text(s, k.prec, k.scale, k.expected)
	c.d256 = v
	return err
}

func (k decimal256Conv) json(raw []byte, c *cell) *convError {
	return scalarJSON(raw, c, true, k.expected, k.text)
}

func (decimal256Conv) put(b array.Builder, c *cell) { b.(*array.Decimal256Builder).Append(c.d256) }

type stringConv struct{ expected string }

func (k stringConv) text(s string, c *cell) *convError {
	if !utf8.ValidString(s) {
		return errEncoding(s, k.expected)
	}
	c.s = s
	return nil
}

func (k stringConv) json(raw []byte, c *cell) *convError {
	switch raw[0] {
	case '"':
		c.s = decodeJSONString(raw)
	case '{', '[':
		c.s = compactJSON(raw)
	default:
		c.s = string(raw)
	}
	return nil
}

func (stringConv) put(b array.Builder, c *cell) {
	switch b := b.(type) {
	case *array.StringBuilder:
		b.Append(c.s)
	case *array.LargeStringBuilder:
		b.Append(c.s)
	}
}

type binaryConv struct{ expected string }

func (k binaryConv) text(s string, c *cell) *convError {
	v, err := parseBinaryText(strings.TrimSpace(s), k.expected)
	c.b = v
	return err
}

func (k binaryConv) json(raw []byte, c *cell) *convError {
	return scalarJSON(raw, c, false, k.expected, k.text)
}

func (binaryConv) put(b array.Builder, c *cell) { b.(*array.BinaryBuilder).Append(c.b) }

type dateConv struct {
	expected string
	date64   bool
}

func (k dateConv) text(s string, c *cell) *convError {
	v, err := parseDateText(s, k.expected)
	c.i = v
	return err
}

func (k dateConv) json(raw []byte, c *cell) *convError {
	return scalarJSON(raw, c, false, k.expected, k.text)
}

func (k dateConv) put(b array.Builder, c *cell) {
	if k.date64 {
		b.(*array.Date64Builder).Append(arrow.Date64(c.i * 86400000))
		return
	}
	b.(*array.Date32Builder).Append(arrow.Date32(c.i))
}

type timestampConv struct {
	expected string
	unit     arrow.TimeUnit
}

func (k timestampConv) text(s string, c *cell) *convError {
	v, err := parseTimestampText(s, k.unit, k.expected)
	c.i = v
	return err
}

func (k timestampConv) json(raw []byte, c *cell) *convError {
	return scalarJSON(raw, c, false, k.expected, k.text)
}

func (timestampConv) put(b array.Builder, c *cell) {
	b.(*array.TimestampBuilder).Append(arrow.Timestamp(c.i))
}

// --- nested ----------------------------------------------------------------------------------

// nestedText parses a CSV field holding JSON text for a nested type.
func nestedText(s string, c *cell, expected string, open byte, conv converter) *convError {
	raw := []byte(strings.TrimSpace(s))
	if !utf8.Valid(raw) {
		return errEncoding(s, expected)
	}
	if len(raw) == 0 || raw[0] != open || !json.Valid(raw) {
		return errCast(s, expected)
	}
	return conv.json(raw, c)
}

type listConv struct {
	expected string
	elem     *fieldConv
}

func newListConv(exp string, elem arrow.Field) (converter, error) {
	e, err := newFieldConv(elem)
	if err != nil {
		return nil, err
	}
	return &listConv{exp, e}, nil
}

func (k *listConv) text(s string, c *cell) *convError {
	return nestedText(s, c, k.expected, '[', k)
}

func (k *listConv) json(raw []byte, c *cell) *convError {
	if raw[0] != '[' {
		return errCast(string(raw), k.expected)
	}
	c.kids = c.kids[:0]
	return eachElement(raw, func(i int, val []byte) *convError {
		c.kids = append(c.kids, cell{})
		if err := k.elem.fromJSON(val, &c.kids[len(c.kids)-1]); err != nil {
			return err.within("[" + strconv.Itoa(i) + "]")
		}
		return nil
	})
}

func (k *listConv) put(b array.Builder, c *cell) {
	lb := b.(interface {
		Append(bool)
		ValueBuilder() array.Builder
	})
	lb.Append(true)
	vb := lb.ValueBuilder()
	for i := range c.kids {
		k.elem.put(vb, &c.kids[i])
	}
}

type mapConv struct {
	expected  string
	key, item *fieldConv
}

func (k *mapConv) text(s string, c *cell) *convError {
	return nestedText(s, c, k.expected, '{', k)
}

func (k *mapConv) json(raw []byte, c *cell) *convError {
	if raw[0] != '{' {
		return errCast(string(raw), k.expected)
	}
	c.kids = c.kids[:0]
	return eachMember(raw, func(rawKey, val []byte) *convError {
		key := decodeJSONString(rawKey)
		c.kids = append(c.kids, cell{}, cell{})
		kc, vc := &c.kids[len(c.kids)-2], &c.kids[len(c.kids)-1]
		if err := k.key.fromText(key, kc); err != nil {
			return err.within("key " + strconv.Quote(key))
		}
		if err := k.item.fromJSON(val, vc); err != nil {
			return err.within("[" + strconv.Quote(key) + "]")
		}
		return nil
	})
}

func (k *mapConv) put(b array.Builder, c *cell) {
	mb := b.(*array.MapBuilder)
	mb.Append(true)
	kb, ib := mb.KeyBuilder(), mb.ItemBuilder()
	for i := 0; i+1 < len(c.kids); i += 2 {
		k.key.put(kb, &c.kids[i])
		k.item.put(ib, &c.kids[i+1])
	}
}

// structConv converts a JSON object into a struct, matching keys to fields case-insensitively.
// It also converts whole NDJSON lines, whose target is the table schema as one struct.
type structConv struct {
	expected string
	fields   []*fieldConv
	byName   map[string]int // lower-cased field name -> index
	exact    map[string]int // field name -> index
}

func newStructConv(exp string, fields []arrow.Field) (*structConv, error) {
	s := &structConv{expected: exp, byName: make(map[string]int, len(fields)), exact: make(map[string]int, len(fields))}
	for i, f := range fields {
		fc, err := newFieldConv(f)
		if err != nil {
			return nil, err
		}
		s.fields = append(s.fields, fc)
		lower := strings.ToLower(f.Name)
		if _, dup := s.byName[lower]; dup {
			return nil, fmt.Errorf("%w: fields %q differ only in case", ErrSchemaMismatch, f.Name)
		}
		s.byName[lower] = i
		s.exact[f.Name] = i
	}
	return s, nil
}

func (k *structConv) text(s string, c *cell) *convError {
	return nestedText(s, c, k.expected, '{', k)
}

// lookup finds a field by key, exactly or else case-insensitively.
func (k *structConv) lookup(key string) (int, bool) {
	if i, ok := k.exact[key]; ok {
		return i, true
	}
	i, ok := k.byName[strings.ToLower(key)]
	return i, ok
}

// lookupRaw finds a field by a raw JSON key (quotes included), without allocating when the key
// is spelled exactly like the field; it also returns the decoded key.
func (k *structConv) lookupRaw(rawKey []byte) (int, bool, string) {
	inner := rawKey[1 : len(rawKey)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		if i, ok := k.exact[string(inner)]; ok {
			return i, true, k.fields[i].name
		}
	}
	key := decodeJSONString(rawKey)
	i, ok := k.lookup(key)
	return i, ok, key
}

func (k *structConv) json(raw []byte, c *cell) *convError {
	if raw[0] != '{' {
		return errCast(string(raw), k.expected)
	}
	if cap(c.kids) < len(k.fields) {
		c.kids = make([]cell, len(k.fields))
	}
	c.kids = c.kids[:len(k.fields)]
	var seen []bool
	if len(k.fields) <= 64 {
		var small [64]bool
		seen = small[:len(k.fields)]
	} else {
		seen = make([]bool, len(k.fields))
	}
	err := eachMember(raw, func(rawKey, val []byte) *convError {
		i, ok, key := k.lookupRaw(rawKey)
		if !ok {
			return &convError{kind: KindUnknownField, value: truncate(string(val)),
				reason: fmt.Sprintf("unknown field %q: the target has no such column", key), path: []string{key}}
		}
		f := k.fields[i]
		if seen[i] {
			return &convError{kind: KindSyntax, value: key,
				reason: fmt.Sprintf("key %q given twice", key), path: []string{f.name}}
		}
		seen[i] = true
		if err := f.fromJSON(val, &c.kids[i]); err != nil {
			return err.within(f.name)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i, f := range k.fields {
		if !seen[i] {
			if err := f.setNull(&c.kids[i]); err != nil {
				return err.within(f.name)
			}
		}
	}
	return nil
}

func (k *structConv) put(b array.Builder, c *cell) {
	sb := b.(*array.StructBuilder)
	sb.Append(true)
	for i, f := range k.fields {
		f.put(sb.FieldBuilder(i), &c.kids[i])
	}
}

// typeName names an Arrow type the way the table (Delta) names it, so that errors speak the
// user's types: long, integer, double, decimal(10,2), timestamp, array<string>.
func typeName(dt arrow.DataType) string {
	switch t := dt.(type) {
	case *arrow.NullType:
		return "void"
	case *arrow.BooleanType:
		return "boolean"
	case *arrow.Int8Type:
		return "byte"
	case *arrow.Int16Type:
		return "short"
	case *arrow.Int32Type:
		return "integer"
	case *arrow.Int64Type:
		return "long"
	case *arrow.Float32Type:
		return "float"
	case *arrow.Float64Type:
		return "double"
	case *arrow.Decimal128Type:
		return fmt.Sprintf("decimal(%d,%d)", t.Precision, t.Scale)
	case *arrow.Decimal256Type:
		return fmt.Sprintf("decimal(%d,%d)", t.Precision, t.Scale)
	case *arrow.StringType, *arrow.LargeStringType, *arrow.StringViewType:
		return "string"
	case *arrow.BinaryType, *arrow.LargeBinaryType, *arrow.BinaryViewType:
		return "binary"
	case *arrow.Date32Type, *arrow.Date64Type:
		return "date"
	case *arrow.TimestampType:
		if t.TimeZone == "" {
			return "timestamp_ntz"
		}
		return "timestamp"
	case *arrow.ListType:
		return "array<" + typeName(t.Elem()) + ">"
	case *arrow.LargeListType:
		return "array<" + typeName(t.Elem()) + ">"
	case *arrow.MapType:
		return "map<" + typeName(t.KeyType()) + "," + typeName(t.ItemType()) + ">"
	case *arrow.StructType:
		parts := make([]string, t.NumFields())
		for i, f := range t.Fields() {
			parts[i] = f.Name + ":" + typeName(f.Type)
		}
		return "struct<" + strings.Join(parts, ",") + ">"
	}
	return dt.String()
}
