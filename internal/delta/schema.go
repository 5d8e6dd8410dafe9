package delta

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// DataType is a Delta column type: a *PrimitiveType, *DecimalType, *StructType, *ArrayType or
// *MapType. Types serialize to and from the schema JSON of the protocol's "Schema Serialization
// Format" (Spark's JSON schema).
type DataType interface {
	// String renders the type as the protocol names it ("long", "decimal(10,2)", "struct<...>").
	String() string
	isDataType()
}

// PrimitiveType is one of the protocol's primitive type names.
type PrimitiveType struct{ Name string }

// The primitive types of the protocol.
var (
	TypeString       = &PrimitiveType{"string"}
	TypeLong         = &PrimitiveType{"long"}
	TypeInteger      = &PrimitiveType{"integer"}
	TypeShort        = &PrimitiveType{"short"}
	TypeByte         = &PrimitiveType{"byte"}
	TypeFloat        = &PrimitiveType{"float"}
	TypeDouble       = &PrimitiveType{"double"}
	TypeBoolean      = &PrimitiveType{"boolean"}
	TypeBinary       = &PrimitiveType{"binary"}
	TypeDate         = &PrimitiveType{"date"}
	TypeTimestamp    = &PrimitiveType{"timestamp"}
	TypeTimestampNTZ = &PrimitiveType{"timestamp_ntz"}
	TypeVoid         = &PrimitiveType{"void"}
)

var primitives = map[string]*PrimitiveType{}

func init() {
	for _, t := range []*PrimitiveType{TypeString, TypeLong, TypeInteger, TypeShort, TypeByte, TypeFloat,
		TypeDouble, TypeBoolean, TypeBinary, TypeDate, TypeTimestamp, TypeTimestampNTZ, TypeVoid} {
		primitives[t.Name] = t
	}
}

func (t *PrimitiveType) String() string { return t.Name }
func (*PrimitiveType) isDataType()      {}

// DecimalType is decimal(precision, scale), precision up to 38.
type DecimalType struct{ Precision, Scale int }

func (t *DecimalType) String() string { return fmt.Sprintf("decimal(%d,%d)", t.Precision, t.Scale) }
func (*DecimalType) isDataType()      {}

// ArrayType is a list of elements of one type.
type ArrayType struct {
	ElementType  DataType
	ContainsNull bool
}

func (t *ArrayType) String() string { return "array<" + t.ElementType.String() + ">" }
func (*ArrayType) isDataType()      {}

// MapType maps keys of one type to values of another.
type MapType struct {
	KeyType           DataType
	ValueType         DataType
	ValueContainsNull bool
}

func (t *MapType) String() string {
	return "map<" + t.KeyType.String() + "," + t.ValueType.String() + ">"
}
func (*MapType) isDataType() {}

// StructField is one named column of a struct. Metadata keeps every key of the log verbatim (raw
// JSON values) so that a schema read and written back is unchanged.
type StructField struct {
	Name     string
	Type     DataType
	Nullable bool
	Metadata map[string]json.RawMessage
}

// StructType is an ordered list of fields; the table schema is a StructType. Field names are unique
// regardless of case.
type StructType struct {
	Fields []*StructField
}

func (t *StructType) String() string {
	parts := make([]string, len(t.Fields))
	for i, f := range t.Fields {
		parts[i] = f.Name + ":" + f.Type.String()
	}
	return "struct<" + strings.Join(parts, ",") + ">"
}
func (*StructType) isDataType() {}

// Field returns the field with the given name, matched case-insensitively as Spark does, or nil.
func (t *StructType) Field(name string) *StructField {
	for _, f := range t.Fields {
		if f.Name == name {
			return f
		}
	}
	for _, f := range t.Fields {
		if strings.EqualFold(f.Name, name) {
			return f
		}
	}
	return nil
}

// FieldIndex returns the index of the named field (case-insensitive), or -1.
func (t *StructType) FieldIndex(name string) int {
	for i, f := range t.Fields {
		if strings.EqualFold(f.Name, name) {
			return i
		}
	}
	return -1
}

// Column-mapping metadata keys.
const (
	MetaColumnMappingID           = "delta.columnMapping.id"
	MetaColumnMappingPhysicalName = "delta.columnMapping.physicalName"
)

// PhysicalName returns the column's physical name under column mapping, or its logical name when
// the field carries none.
func (f *StructField) PhysicalName() string {
	if raw, ok := f.Metadata[MetaColumnMappingPhysicalName]; ok {
		var s string
		if json.Unmarshal(raw, &s) == nil && s != "" {
			return s
		}
	}
	return f.Name
}

// FieldID returns the column-mapping id, and whether the field has one.
func (f *StructField) FieldID() (int64, bool) {
	raw, ok := f.Metadata[MetaColumnMappingID]
	if !ok {
		return 0, false
	}
	var n int64
	if err := json.Unmarshal(raw, &n); err != nil {
		return 0, false
	}
	return n, true
}

// --- JSON ---

type jsonField struct {
	Name     string                     `json:"name"`
	Type     json.RawMessage            `json:"type"`
	Nullable bool                       `json:"nullable"`
	Metadata map[string]json.RawMessage `json:"metadata"`
}

type jsonComplex struct {
	Type              string          `json:"type"`
	Fields            []jsonField     `json:"fields,omitempty"`
	ElementType       json.RawMessage `json:"elementType,omitempty"`
	ContainsNull      *bool           `json:"containsNull,omitempty"`
	KeyType           json.RawMessage `json:"keyType,omitempty"`
	ValueType         json.RawMessage `json:"valueType,omitempty"`
	ValueContainsNull *bool           `json:"valueContainsNull,omitempty"`
}

var decimalRe = regexp.MustCompile(`^decimal\(\s*(\d+)\s*,\s*(\d+)\s*\)$`)

// ParseSchema decodes a schemaString from a metaData action. The top level must be a struct.
func ParseSchema(schemaString string) (*StructType, error) {
	t, err := parseType(json.RawMessage(schemaString))
	if err != nil {
		return nil, fmt.Errorf("%w: schema: %v", ErrCorrupt, err)
	}
	st, ok := t.(*StructType)
	if !ok {
		return nil, fmt.Errorf("%w: schema: top level is %s, not a struct", ErrCorrupt, t)
	}
	return st, nil
}

// ParseTypeName parses a primitive or decimal type name ("long", "decimal(10,2)").
func ParseTypeName(name string) (DataType, error) {
	if p, ok := primitives[name]; ok {
		return p, nil
	}
	if m := decimalRe.FindStringSubmatch(name); m != nil {
		p, _ := strconv.Atoi(m[1])
		s, _ := strconv.Atoi(m[2])
		if p < 1 || p > 38 || s > p {
			return nil, fmt.Errorf("invalid decimal type %q", name)
		}
		return &DecimalType{Precision: p, Scale: s}, nil
	}
	if name == "decimal" {
		return &DecimalType{Precision: 10, Scale: 0}, nil
	}
	return nil, fmt.Errorf("unknown type %q", name)
}

func parseType(raw json.RawMessage) (DataType, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var name string
		if err := json.Unmarshal(raw, &name); err != nil {
			return nil, err
		}
		return ParseTypeName(name)
	}
	var c jsonComplex
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	switch c.Type {
	case "struct":
		st := &StructType{Fields: make([]*StructField, 0, len(c.Fields))}
		for _, jf := range c.Fields {
			ft, err := parseType(jf.Type)
			if err != nil {
				return nil, fmt.Errorf("field %q: %w", jf.Name, err)
			}
			st.Fields = append(st.Fields, &StructField{Name: jf.Name, Type: ft, Nullable: jf.Nullable, Metadata: jf.Metadata})
		}
		return st, nil
	case "array":
		et, err := parseType(c.ElementType)
		if err != nil {
			return nil, fmt.Errorf("array element: %w", err)
		}
		return &ArrayType{ElementType: et, ContainsNull: c.ContainsNull == nil || *c.ContainsNull}, nil
	case "map":
		kt, err := parseType(c.KeyType)
		if err != nil {
			return nil, fmt.Errorf("map key: %w", err)
		}
		vt, err := parseType(c.ValueType)
		if err != nil {
			return nil, fmt.Errorf("map value: %w", err)
		}
		return &MapType{KeyType: kt, ValueType: vt, ValueContainsNull: c.ValueContainsNull == nil || *c.ValueContainsNull}, nil
	case "variant":
		return nil, fmt.Errorf("%w: variantType (column of type variant)", ErrUnsupportedFeature)
	default:
		return nil, fmt.Errorf("unknown type %q", c.Type)
	}
}

// MarshalJSON renders the schema as the protocol's schemaString JSON.
func (t *StructType) MarshalJSON() ([]byte, error) { return marshalType(t) }

func marshalType(t DataType) ([]byte, error) {
	switch t := t.(type) {
	case *PrimitiveType, *DecimalType:
		return json.Marshal(t.String())
	case *StructType:
		c := jsonComplex{Type: "struct", Fields: make([]jsonField, 0, len(t.Fields))}
		for _, f := range t.Fields {
			ft, err := marshalType(f.Type)
			if err != nil {
				return nil, err
			}
			md := f.Metadata
			if md == nil {
				md = map[string]json.RawMessage{}
			}
			c.Fields = append(c.Fields, jsonField{Name: f.Name, Type: ft, Nullable: f.Nullable, Metadata: md})
		}
		if c.Fields == nil {
			c.Fields = []jsonField{}
		}
		return json.Marshal(c)
	case *ArrayType:
		et, err := marshalType(t.ElementType)
		if err != nil {
			return nil, err
		}
		cn := t.ContainsNull
		return json.Marshal(jsonComplex{Type: "array", ElementType: et, ContainsNull: &cn})
	case *MapType:
		kt, err := marshalType(t.KeyType)
		if err != nil {
			return nil, err
		}
		vt, err := marshalType(t.ValueType)
		if err != nil {
			return nil, err
		}
		vcn := t.ValueContainsNull
		return json.Marshal(jsonComplex{Type: "map", KeyType: kt, ValueType: vt, ValueContainsNull: &vcn})
	}
	return nil, fmt.Errorf("unknown data type %T", t)
}

// SchemaString renders the schema as a schemaString for a metaData action.
func (t *StructType) SchemaString() string {
	b, err := marshalType(t)
	if err != nil {
		panic(fmt.Sprintf("delta: marshal schema: %v", err)) // types built by this package always marshal
	}
	return string(b)
}

// TypesEqual reports whether two types are structurally identical (names, nullability of nested
// elements and field order included; metadata ignored).
func TypesEqual(a, b DataType) bool {
	switch a := a.(type) {
	case *PrimitiveType:
		b, ok := b.(*PrimitiveType)
		return ok && a.Name == b.Name
	case *DecimalType:
		b, ok := b.(*DecimalType)
		return ok && *a == *b
	case *ArrayType:
		b, ok := b.(*ArrayType)
		return ok && TypesEqual(a.ElementType, b.ElementType)
	case *MapType:
		b, ok := b.(*MapType)
		return ok && TypesEqual(a.KeyType, b.KeyType) && TypesEqual(a.ValueType, b.ValueType)
	case *StructType:
		b, ok := b.(*StructType)
		if !ok || len(a.Fields) != len(b.Fields) {
			return false
		}
		for i := range a.Fields {
			if !strings.EqualFold(a.Fields[i].Name, b.Fields[i].Name) || !TypesEqual(a.Fields[i].Type, b.Fields[i].Type) {
				return false
			}
		}
		return true
	}
	return false
}

// ContainsType reports whether t or any type nested in it satisfies pred.
func ContainsType(t DataType, pred func(DataType) bool) bool {
	if pred(t) {
		return true
	}
	switch t := t.(type) {
	case *StructType:
		for _, f := range t.Fields {
			if ContainsType(f.Type, pred) {
				return true
			}
		}
	case *ArrayType:
		return ContainsType(t.ElementType, pred)
	case *MapType:
		return ContainsType(t.KeyType, pred) || ContainsType(t.ValueType, pred)
	}
	return false
}
