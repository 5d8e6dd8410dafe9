package pgwire

import (
	"encoding/hex"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	wire "github.com/jeroenrinzema/psql-wire"
	"github.com/jeroenrinzema/psql-wire/codes"
	psqlerr "github.com/jeroenrinzema/psql-wire/errors"
)

// Parameters of the extended protocol reach the engine as SQL literals substituted for the
// $n tokens of the statement (the engine takes SQL text only). A literal is always built from
// the parameter's value, quoted or validated, never from its text as SQL: a parameter cannot
// change the statement. Its type comes from the parameter's OID (the client's, else the one
// the statement was described with); a parameter of undecided type (OID 0) becomes a string
// literal, which DuckDB casts to what the context asks for.

var (
	integerRE = regexp.MustCompile(`^[+-]?[0-9]+$`)
	numericRE = regexp.MustCompile(`^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$`)
)

// bindParams returns src with every $n token replaced by the literal of params[n-1], typed by
// oids[n-1] (0 or absent: undecided).
func bindParams(tm *pgtype.Map, src string, toks []token, params []wire.Parameter, oids []uint32) (string, error) {
	var edits []edit
	for _, t := range toks {
		if t.Kind != tokParam {
			continue
		}
		n := atoiSmall(t.Value)
		if n < 1 || n > len(params) {
			return "", psqlerr.WithCode(fmt.Errorf("bind message supplies %d parameters, but the statement uses $%d", len(params), n), codes.ProtocolViolation)
		}
		var oid uint32
		if n <= len(oids) {
			oid = oids[n-1]
		}
		lit, err := paramLiteral(tm, params[n-1], oid)
		if err != nil {
			return "", fmt.Errorf("parameter $%d: %w", n, err)
		}
		edits = append(edits, edit{Start: t.Start, End: t.End, Text: lit})
	}
	return applyEdits(src, edits), nil
}

// nullParams returns src with every $n token replaced by NULL (to learn a statement's result
// columns without values).
func nullParams(src string, toks []token) string {
	var edits []edit
	for _, t := range toks {
		if t.Kind == tokParam {
			edits = append(edits, edit{Start: t.Start, End: t.End, Text: "NULL"})
		}
	}
	return applyEdits(src, edits)
}

// paramLiteral returns the SQL literal of one parameter value.
func paramLiteral(tm *pgtype.Map, p wire.Parameter, oid uint32) (string, error) {
	v := p.Value()
	if v == nil {
		return "NULL", nil
	}
	if p.Format() == wire.BinaryFormat {
		if oid == oidBytea {
			return "from_hex(" + quoteString(hex.EncodeToString(v)) + ")", nil
		}
		text, err := binaryToText(tm, oid, v)
		if err != nil {
			return "", err
		}
		return textLiteral(text, oid)
	}
	return textLiteral(string(v), oid)
}

// binaryToText decodes a binary-format value of type oid and renders it in Postgres's text
// format (timestamps in UTC).
func binaryToText(tm *pgtype.Map, oid uint32, v []byte) (string, error) {
	typ, ok := tm.TypeForOID(oid)
	if !ok {
		return "", invalidParam("a binary value of unknown type (OID %d)", oid)
	}
	val, err := typ.Codec.DecodeValue(tm, oid, pgtype.BinaryFormatCode, v)
	if err != nil {
		return "", invalidParam("%v", err)
	}
	switch val := val.(type) {
	case time.Time:
		switch oid {
		case oidDate:
			return val.Format("2006-01-02"), nil
		case oidTimestamptz:
			return val.UTC().Format("2006-01-02 15:04:05.999999") + "+00", nil
		}
		return val.Format("2006-01-02 15:04:05.999999"), nil
	case string:
		return val, nil
	}
	b, err := tm.Encode(oid, pgtype.TextFormatCode, val, nil)
	if err != nil {
		return "", invalidParam("%v", err)
	}
	return string(b), nil
}

// textLiteral returns the SQL literal of a text-format value of type oid.
func textLiteral(text string, oid uint32) (string, error) {
	switch oid {
	case oidBool:
		switch strings.ToLower(strings.TrimSpace(text)) {
		case "t", "true", "y", "yes", "on", "1":
			return "TRUE", nil
		case "f", "false", "n", "no", "off", "0":
			return "FALSE", nil
		}
		return "", invalidParam("invalid input syntax for type boolean: %q", text)
	case oidInt2, oidInt4, oidInt8, oidOID:
		s := strings.TrimSpace(text)
		if !integerRE.MatchString(s) {
			return "", invalidParam("invalid input syntax for type %s: %q", typeName(oid), text)
		}
		return "CAST(" + s + " AS " + duckCastType(oid) + ")", nil
	case oidFloat4, oidFloat8:
		s := strings.TrimSpace(text)
		f, err := strconv.ParseFloat(s, 64)
		if err != nil && !math.IsInf(f, 0) {
			return "", invalidParam("invalid input syntax for type %s: %q", typeName(oid), text)
		}
		return "CAST(" + quoteString(s) + " AS " + duckCastType(oid) + ")", nil
	case oidNumeric:
		s := strings.TrimSpace(text)
		if strings.EqualFold(s, "nan") || strings.EqualFold(s, "infinity") || strings.EqualFold(s, "-infinity") {
			return "CAST(" + quoteString(s) + " AS DOUBLE)", nil
		}
		if !numericRE.MatchString(s) {
			return "", invalidParam("invalid input syntax for type numeric: %q", text)
		}
		return s, nil
	case oidBytea:
		b, err := decodeByteaText(text)
		if err != nil {
			return "", err
		}
		return "from_hex(" + quoteString(hex.EncodeToString(b)) + ")", nil
	}
	if t := duckCastType(oid); t != "" {
		return "CAST(" + quoteString(text) + " AS " + t + ")", nil
	}
	return quoteString(text), nil
}

// decodeByteaText decodes bytea's text format: hex (\x0a0b) or escape (\\ and \ooo octals).
func decodeByteaText(s string) ([]byte, error) {
	if strings.HasPrefix(s, `\x`) {
		b, err := hex.DecodeString(s[2:])
		if err != nil {
			return nil, invalidParam("invalid hexadecimal data for type bytea")
		}
		return b, nil
	}
	var out []byte
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			out = append(out, s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == '\\' {
			out = append(out, '\\')
			i++
			continue
		}
		if i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				out = append(out, byte(v))
				i += 3
				continue
			}
		}
		return nil, invalidParam("invalid input syntax for type bytea")
	}
	return out, nil
}

func typeName(oid uint32) string {
	if t, ok := pgTypeByOID(oid); ok {
		return t.Format
	}
	return fmt.Sprintf("OID %d", oid)
}

func invalidParam(format string, args ...any) error {
	return psqlerr.WithCode(fmt.Errorf(format, args...), codes.InvalidTextRepresentation)
}
