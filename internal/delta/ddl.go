package delta

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// ParseDDLSchema parses a column list in SQL DDL form, as `strata table create --schema` takes it:
//
//	id BIGINT NOT NULL, name VARCHAR, amount DECIMAL(10,2), tags ARRAY<STRING>,
//	attrs MAP<STRING, INT>, address STRUCT<city: STRING, zip: INT> COMMENT 'postal'
//
// Type names follow Spark SQL and accept DuckDB's spellings: BIGINT/LONG/INT8, INT/INTEGER/INT4,
// SMALLINT/SHORT/INT2, TINYINT/BYTE/INT1, DOUBLE/FLOAT8, FLOAT/REAL/FLOAT4, BOOLEAN/BOOL,
// STRING/VARCHAR/TEXT/CHAR(n), BINARY/BLOB/BYTEA, DATE, TIMESTAMP/TIMESTAMPTZ (an instant, Delta's
// timestamp), TIMESTAMP_NTZ (a wall-clock time), DECIMAL(p,s)/NUMERIC(p,s), ARRAY<T> or T[],
// MAP<K,V>, STRUCT<name: T, ...>. Errors name the column (1-based character position) and the
// offending text.
func ParseDDLSchema(s string) (*StructType, error) {
	p := &ddlParser{src: s}
	st := &StructType{}
	for {
		p.skipSpace()
		if p.eof() {
			break
		}
		f, err := p.field(false)
		if err != nil {
			return nil, err
		}
		st.Fields = append(st.Fields, f)
		p.skipSpace()
		if p.eof() {
			break
		}
		if !p.consume(",") {
			return nil, p.errorf("expected , between columns")
		}
	}
	if len(st.Fields) == 0 {
		return nil, fmt.Errorf("%w: schema %q has no columns", ErrInvalidArgument, s)
	}
	if err := validateSchema(st); err != nil {
		return nil, err
	}
	return st, nil
}

type ddlParser struct {
	src string
	pos int
}

func (p *ddlParser) eof() bool { return p.pos >= len(p.src) }

func (p *ddlParser) skipSpace() {
	for p.pos < len(p.src) && unicode.IsSpace(rune(p.src[p.pos])) {
		p.pos++
	}
}

func (p *ddlParser) errorf(format string, args ...any) error {
	near := p.src[p.pos:]
	if len(near) > 20 {
		near = near[:20] + "..."
	}
	return fmt.Errorf("%w: schema: at character %d (near %q): %s", ErrInvalidArgument, p.pos+1, near, fmt.Sprintf(format, args...))
}

func (p *ddlParser) consume(tok string) bool {
	p.skipSpace()
	if strings.HasPrefix(p.src[p.pos:], tok) {
		p.pos += len(tok)
		return true
	}
	return false
}

// consumeWord consumes a case-insensitive keyword followed by a non-identifier character.
func (p *ddlParser) consumeWord(w string) bool {
	p.skipSpace()
	rest := p.src[p.pos:]
	if len(rest) >= len(w) && strings.EqualFold(rest[:len(w)], w) &&
		(len(rest) == len(w) || !isIdentChar(rune(rest[len(w)]))) {
		p.pos += len(w)
		return true
	}
	return false
}

func isIdentChar(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' }

func (p *ddlParser) ident() (string, error) {
	p.skipSpace()
	if p.eof() {
		return "", p.errorf("expected a column name")
	}
	if q := p.src[p.pos]; q == '`' || q == '"' {
		end := strings.IndexByte(p.src[p.pos+1:], q)
		if end < 0 {
			return "", p.errorf("unterminated quoted name")
		}
		name := p.src[p.pos+1 : p.pos+1+end]
		p.pos += end + 2
		return name, nil
	}
	start := p.pos
	for p.pos < len(p.src) && isIdentChar(rune(p.src[p.pos])) {
		p.pos++
	}
	if start == p.pos {
		return "", p.errorf("expected a name")
	}
	return p.src[start:p.pos], nil
}

func (p *ddlParser) field(nested bool) (*StructField, error) {
	name, err := p.ident()
	if err != nil {
		return nil, err
	}
	if nested {
		p.consume(":")
	}
	t, err := p.typ()
	if err != nil {
		return nil, fmt.Errorf("%w (in column %q)", err, name)
	}
	f := &StructField{Name: name, Type: t, Nullable: true}
	for {
		switch {
		case p.consumeWord("NOT"):
			if !p.consumeWord("NULL") {
				return nil, p.errorf("expected NULL after NOT")
			}
			f.Nullable = false
		case p.consumeWord("NULL"):
			f.Nullable = true
		case p.consumeWord("COMMENT"):
			p.skipSpace()
			if p.eof() || p.src[p.pos] != '\'' {
				return nil, p.errorf("expected a quoted comment")
			}
			end := strings.IndexByte(p.src[p.pos+1:], '\'')
			if end < 0 {
				return nil, p.errorf("unterminated comment")
			}
			c, _ := json.Marshal(p.src[p.pos+1 : p.pos+1+end])
			p.pos += end + 2
			f.Metadata = map[string]json.RawMessage{"comment": c}
		default:
			return f, nil
		}
	}
}

var ddlTypes = map[string]DataType{
	"BIGINT": TypeLong, "LONG": TypeLong, "INT8": TypeLong, "INT64": TypeLong,
	"INT": TypeInteger, "INTEGER": TypeInteger, "INT4": TypeInteger, "INT32": TypeInteger,
	"SMALLINT": TypeShort, "SHORT": TypeShort, "INT2": TypeShort, "INT16": TypeShort,
	"TINYINT": TypeByte, "BYTE": TypeByte, "INT1": TypeByte,
	"DOUBLE": TypeDouble, "FLOAT8": TypeDouble,
	"FLOAT": TypeFloat, "REAL": TypeFloat, "FLOAT4": TypeFloat,
	"BOOLEAN": TypeBoolean, "BOOL": TypeBoolean,
	"STRING": TypeString, "VARCHAR": TypeString, "TEXT": TypeString, "CHAR": TypeString, "BPCHAR": TypeString,
	"BINARY": TypeBinary, "BLOB": TypeBinary, "BYTEA": TypeBinary, "VARBINARY": TypeBinary,
	"DATE":      TypeDate,
	"TIMESTAMP": TypeTimestamp, "TIMESTAMPTZ": TypeTimestamp, "TIMESTAMP_LTZ": TypeTimestamp,
	"TIMESTAMP_NTZ": TypeTimestampNTZ,
}

func (p *ddlParser) typ() (DataType, error) {
	p.skipSpace()
	start := p.pos
	word, err := p.ident()
	if err != nil {
		return nil, p.errorf("expected a type")
	}
	upper := strings.ToUpper(word)
	var t DataType
	switch upper {
	case "DECIMAL", "NUMERIC", "DEC":
		prec, scale := 10, 0
		if p.consume("(") {
			n, err := p.number()
			if err != nil {
				return nil, err
			}
			prec = n
			if p.consume(",") {
				if scale, err = p.number(); err != nil {
					return nil, err
				}
			}
			if !p.consume(")") {
				return nil, p.errorf("expected ) in DECIMAL")
			}
		}
		if prec < 1 || prec > 38 || scale < 0 || scale > prec {
			p.pos = start
			return nil, p.errorf("DECIMAL(%d,%d) is out of range (precision 1..38, scale 0..precision)", prec, scale)
		}
		t = &DecimalType{Precision: prec, Scale: scale}
	case "ARRAY":
		if !p.consume("<") {
			return nil, p.errorf("expected < after ARRAY")
		}
		et, err := p.typ()
		if err != nil {
			return nil, err
		}
		if !p.consume(">") {
			return nil, p.errorf("expected > to close ARRAY")
		}
		t = &ArrayType{ElementType: et, ContainsNull: true}
	case "MAP":
		if !p.consume("<") {
			return nil, p.errorf("expected < after MAP")
		}
		kt, err := p.typ()
		if err != nil {
			return nil, err
		}
		if !p.consume(",") {
			return nil, p.errorf("expected , in MAP<K, V>")
		}
		vt, err := p.typ()
		if err != nil {
			return nil, err
		}
		if !p.consume(">") {
			return nil, p.errorf("expected > to close MAP")
		}
		t = &MapType{KeyType: kt, ValueType: vt, ValueContainsNull: true}
	case "STRUCT", "ROW":
		if !p.consume("<") {
			return nil, p.errorf("expected < after STRUCT")
		}
		st := &StructType{}
		for {
			f, err := p.field(true)
			if err != nil {
				return nil, err
			}
			st.Fields = append(st.Fields, f)
			if p.consume(">") {
				break
			}
			if !p.consume(",") {
				return nil, p.errorf("expected , or > in STRUCT")
			}
		}
		t = st
	case "TIMESTAMP":
		// TIMESTAMP WITH TIME ZONE / WITHOUT TIME ZONE.
		save := p.pos
		if p.consumeWord("WITHOUT") && p.consumeWord("TIME") && p.consumeWord("ZONE") {
			t = TypeTimestampNTZ
		} else {
			p.pos = save
			if p.consumeWord("WITH") && p.consumeWord("TIME") && p.consumeWord("ZONE") {
				t = TypeTimestamp
			} else {
				p.pos = save
				t = TypeTimestamp
			}
		}
	default:
		known, ok := ddlTypes[upper]
		if !ok {
			p.pos = start
			return nil, p.errorf("unknown type %q", word)
		}
		t = known
		if p.consume("(") { // VARCHAR(20), CHAR(3): the length is not enforced by Delta
			if _, err := p.number(); err != nil {
				return nil, err
			}
			if !p.consume(")") {
				return nil, p.errorf("expected )")
			}
		}
	}
	for p.consume("[]") { // DuckDB's list syntax
		t = &ArrayType{ElementType: t, ContainsNull: true}
	}
	return t, nil
}

func (p *ddlParser) number() (int, error) {
	p.skipSpace()
	start := p.pos
	for p.pos < len(p.src) && p.src[p.pos] >= '0' && p.src[p.pos] <= '9' {
		p.pos++
	}
	n, err := strconv.Atoi(p.src[start:p.pos])
	if err != nil {
		return 0, p.errorf("expected a number")
	}
	return n, nil
}

// DDLString renders a schema back in the DDL form ParseDDLSchema reads (Spark's type names).
func DDLString(st *StructType) string {
	parts := make([]string, len(st.Fields))
	for i, f := range st.Fields {
		parts[i] = quoteIdent(f.Name) + " " + ddlType(f.Type)
		if !f.Nullable {
			parts[i] += " NOT NULL"
		}
	}
	return strings.Join(parts, ", ")
}

func ddlType(t DataType) string {
	switch t := t.(type) {
	case *PrimitiveType:
		return map[string]string{"string": "STRING", "long": "BIGINT", "integer": "INT", "short": "SMALLINT",
			"byte": "TINYINT", "float": "FLOAT", "double": "DOUBLE", "boolean": "BOOLEAN", "binary": "BINARY",
			"date": "DATE", "timestamp": "TIMESTAMP", "timestamp_ntz": "TIMESTAMP_NTZ", "void": "VOID"}[t.Name]
	case *DecimalType:
		return fmt.Sprintf("DECIMAL(%d,%d)", t.Precision, t.Scale)
	case *ArrayType:
		return "ARRAY<" + ddlType(t.ElementType) + ">"
	case *MapType:
		return "MAP<" + ddlType(t.KeyType) + ", " + ddlType(t.ValueType) + ">"
	case *StructType:
		parts := make([]string, len(t.Fields))
		for i, f := range t.Fields {
			parts[i] = quoteIdent(f.Name) + ": " + ddlType(f.Type)
			if !f.Nullable {
				parts[i] += " NOT NULL"
			}
		}
		return "STRUCT<" + strings.Join(parts, ", ") + ">"
	}
	return t.String()
}
