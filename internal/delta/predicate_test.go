package delta

import (
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/scalar"
)

func TestParsePredicate(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{in: "p = '1'", want: "p = '1'"},
		{in: "country IN ('ES', 'FR') AND d >= DATE '2024-01-01'", want: "(country IN ('ES', 'FR') AND d >= DATE '2024-01-01')"},
		{in: "a <> 3 OR NOT (b IS NULL)", want: "(a != 3 OR NOT (b IS NULL))"},
		{in: "x BETWEEN 1 AND 5", want: "(x >= 1 AND x <= 5)"},
		{in: "`my col` == 'it''s'", want: "`my col` = 'it''s'"},
		{in: "y NOT IN (1, NULL)", want: "y NOT IN (1, NULL)"},
		{in: "p = ", err: "column 5: expected a column or a value"},
		{in: "p = 'x", err: "column 5: unterminated string"},
		{in: "1 = 2", err: "a comparison needs one column and one literal"},
		{in: "p ~ 3", err: "unexpected character"},
		{in: "(p = 1", err: "expected )"},
	}
	for _, tt := range tests {
		e, err := ParsePredicate(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParsePredicate(%q) error = %v, want containing %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParsePredicate(%q): %v", tt.in, err)
			continue
		}
		if got := e.String(); got != tt.want {
			t.Errorf("ParsePredicate(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestEvalPartition(t *testing.T) {
	vals := map[string]scalar.Scalar{
		"country": scalar.NewStringScalar("ES"),
		"n":       scalar.NewInt64Scalar(7),
		"d":       mustPartition(t, "2024-03-01", TypeDate),
		"nul":     scalar.MakeNullScalar(ToArrowType(TypeString)),
	}
	tests := []struct {
		pred string
		want bool
	}{
		{"country = 'ES'", true},
		{"country = 'FR'", false},
		{"country IN ('FR', 'ES')", true},
		{"country NOT IN ('FR', 'ES')", false},
		{"n > 5 AND n <= 7", true},
		{"n BETWEEN 8 AND 10", false},
		{"5 < n", true},
		{"d >= DATE '2024-01-01'", true},
		{"d < '2024-03-01'", false},
		{"nul = 'x'", false},
		{"NOT (nul = 'x')", false}, // unknown stays unknown under NOT
		{"nul IS NULL", true},
		{"country IS NOT NULL", true},
		{"nul = 'x' OR n = 7", true},
		{"country NOT IN ('FR', NULL)", false}, // NULL in a NOT IN list makes it unknown
		{"n = 'seven'", false},                 // a literal that does not fit the type never matches
	}
	for _, tt := range tests {
		e, err := ParsePredicate(tt.pred)
		if err != nil {
			t.Fatalf("%s: %v", tt.pred, err)
		}
		if got := e.EvalPartition(vals); got != tt.want {
			t.Errorf("%s = %v, want %v", tt.pred, got, tt.want)
		}
	}
}

func mustPartition(t *testing.T, raw string, dt DataType) scalar.Scalar {
	t.Helper()
	s, err := ParsePartitionValue(raw, dt)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestParseDDLSchema(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{in: "id BIGINT NOT NULL, name VARCHAR, ts TIMESTAMP", want: "id BIGINT NOT NULL, name STRING, ts TIMESTAMP"},
		{in: "a DECIMAL(10,2), b INT[], c MAP<STRING, DOUBLE>, d STRUCT<x: INT, y: ARRAY<DATE>>",
			want: "a DECIMAL(10,2), b ARRAY<INT>, c MAP<STRING, DOUBLE>, d STRUCT<x: INT, y: ARRAY<DATE>>"},
		{in: "t1 TIMESTAMP WITHOUT TIME ZONE, t2 timestamp_ntz, t3 TIMESTAMPTZ, s smallint, b tinyint, f real",
			want: "t1 TIMESTAMP_NTZ, t2 TIMESTAMP_NTZ, t3 TIMESTAMP, s SMALLINT, b TINYINT, f FLOAT"},
		{in: "`weird name` STRING COMMENT 'a note', c CHAR(3)", want: "`weird name` STRING, c STRING"},
		{in: "id BIGINT, ID INT", err: "duplicate column"},
		{in: "id WIDGET", err: `at character 4 (near "WIDGET"): unknown type "WIDGET" (in column "id")`},
		{in: "a DECIMAL(40,2)", err: "out of range"},
		{in: "a INT b INT", err: "expected , between columns"},
		{in: "", err: "has no columns"},
	}
	for _, tt := range tests {
		st, err := ParseDDLSchema(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseDDLSchema(%q) error = %v, want containing %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseDDLSchema(%q): %v", tt.in, err)
			continue
		}
		if got := DDLString(st); got != tt.want {
			t.Errorf("ParseDDLSchema(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestLastCheckpointChecksum(t *testing.T) {
	// The test vector of the protocol's "JSON checksum" section.
	doc := `{"k0":"'v 0'", "checksum": "adsaskfljadfkjadfkj", "k1":{"k2": 2, "k3": ["v3", [1, 2], {"k4": "v4", "k5": ["v5", "v6", "v7"]}]}}`
	got, err := lastCheckpointChecksum([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if want := "6a92d155a59bf2eecbd4b4ec7fd1f875"; got != want {
		t.Errorf("checksum = %s, want %s", got, want)
	}
}

func TestParseInterval(t *testing.T) {
	tests := map[string]string{
		"interval 7 days": "168h0m0s", "interval 1 hour": "1h0m0s", "30 days": "720h0m0s", "168h": "168h0m0s",
		"7d": "168h0m0s", "2w": "336h0m0s", "interval 1 day 12 hours": "36h0m0s", "INTERVAL 90 MINUTES": "1h30m0s",
	}
	for in, want := range tests {
		d, err := ParseInterval(in)
		if err != nil || d.String() != want {
			t.Errorf("ParseInterval(%q) = %v, %v; want %s", in, d, err, want)
		}
	}
	for _, bad := range []string{"", "seven days", "interval 3 fortnights", "7"} {
		if _, err := ParseInterval(bad); err == nil {
			t.Errorf("ParseInterval(%q) succeeded", bad)
		}
	}
}
