package delta

import (
	"encoding/json"
	"strings"
	"testing"
)

// skipSchema is the table of the data-skipping tests: partitioned by p (string) and d (date).
const skipSchema = "p STRING, d DATE, n BIGINT, i INT, x DOUBLE, f FLOAT, s STRING, ts TIMESTAMP, tn TIMESTAMP_NTZ, dec DECIMAL(10,2), b BOOLEAN, arr ARRAY<INT>"

func TestFileFilterMayMatch(t *testing.T) {
	schema, err := ParseDDLSchema(skipSchema)
	if err != nil {
		t.Fatal(err)
	}
	parts := []string{"p", "d"}
	pv := PartitionValues{"p": "a", "d": "2024-01-01"}
	// file builds an add with the default partition values and the given statistics.
	file := func(stats string) *Add { return &Add{Path: "f.parquet", PartitionValues: pv, Stats: stats} }
	withParts := func(p, d string) *Add {
		return &Add{Path: "f.parquet", PartitionValues: PartitionValues{"p": p, "d": d}}
	}
	const (
		nStats   = `{"numRecords":10,"minValues":{"n":1,"i":1},"maxValues":{"n":10,"i":10},"nullCount":{"n":2,"i":0}}`
		nAllNull = `{"numRecords":10,"nullCount":{"n":10}}`
		nSingle  = `{"numRecords":10,"minValues":{"n":5},"maxValues":{"n":5},"nullCount":{"n":0}}`
		xStats   = `{"numRecords":10,"minValues":{"x":1.5,"f":0.1},"maxValues":{"x":3.0,"f":0.1},"nullCount":{"x":0,"f":0}}`
		sStats   = `{"numRecords":10,"minValues":{"s":"abc"},"maxValues":{"s":"abc"},"nullCount":{"s":0}}`
		tsStats  = `{"numRecords":10,"minValues":{"ts":"2024-01-01T00:00:00.000Z","tn":"2024-01-01T00:00:00.000"},"maxValues":{"ts":"2024-01-01T23:00:00.000Z","tn":"2024-01-01T23:00:00.000"},"nullCount":{"ts":0}}`
		decStats = `{"numRecords":10,"minValues":{"dec":1.00},"maxValues":{"dec":2.00},"nullCount":{"dec":0}}`
		wide     = `{"numRecords":10,"minValues":{"n":1},"maxValues":{"n":10},"nullCount":{"n":0},"tightBounds":false}`
	)
	tests := []struct {
		name string
		pred string // ParsePredicate syntax
		expr Expr   // used instead of pred when set
		file *Add
		want bool
	}{
		// Integer bounds.
		{name: "eq inside", pred: "n = 5", file: file(nStats), want: true},
		{name: "eq below min", pred: "n = 0", file: file(nStats), want: false},
		{name: "eq above max", pred: "n = 11", file: file(nStats), want: false},
		{name: "gt max", pred: "n > 10", file: file(nStats), want: false},
		{name: "ge max", pred: "n >= 10", file: file(nStats), want: true},
		{name: "lt min", pred: "n < 1", file: file(nStats), want: false},
		{name: "le min", pred: "n <= 1", file: file(nStats), want: true},
		{name: "literal first", pred: "11 <= n", file: file(nStats), want: false},
		{name: "fraction inside", pred: "n = 2.5", file: file(nStats), want: true},
		{name: "fraction above", pred: "n > 10.5", file: file(nStats), want: false},
		{name: "fraction just below max", pred: "n > 9.5", file: file(nStats), want: true},
		{name: "string literal on int", pred: "n = '11'", file: file(nStats), want: false},
		{name: "non-integer string on int", pred: "n = '5.5'", file: file(nStats), want: true},
		{name: "double literal on int", expr: cmp("n", "=", "1000", "double"), file: file(nStats), want: false},
		{name: "double literal inside", expr: cmp("n", ">", "9.5", "double"), file: file(nStats), want: true},
		{name: "int column narrower", pred: "i BETWEEN 20 AND 30", file: file(nStats), want: false},
		{name: "not equal, range", pred: "n != 5", file: file(nStats), want: true},
		{name: "not equal, single value", pred: "n != 5", file: file(nSingle), want: false},
		{name: "not equal, other value", pred: "n <> 4", file: file(nSingle), want: true},
		{name: "wide bounds are bounds", pred: "n > 10", file: file(wide), want: false},
		{name: "wide bounds inside", pred: "n = 3", file: file(wide), want: true},

		// Nulls.
		{name: "is null, some nulls", pred: "n IS NULL", file: file(nStats), want: true},
		{name: "is null, no nulls", pred: "i IS NULL", file: file(nStats), want: false},
		{name: "is not null, all null", pred: "n IS NOT NULL", file: file(nAllNull), want: false},
		{name: "comparison, all null", pred: "n = 5", file: file(nAllNull), want: false},
		{name: "is null, all null", pred: "n IS NULL", file: file(nAllNull), want: true},
		{name: "is null, no stats", pred: "n IS NULL", file: file(""), want: true},
		{name: "comparison with NULL", pred: "n = NULL", file: file(nStats), want: false},
		{name: "in with null, match", pred: "n IN (5, NULL)", file: file(nStats), want: true},
		{name: "in with null, no match", pred: "n IN (50, NULL)", file: file(nStats), want: false},
		{name: "not in with null", pred: "n NOT IN (50, NULL)", file: file(nStats), want: false},
		{name: "not in, single value listed", pred: "n NOT IN (4, 5)", file: file(nSingle), want: false},
		{name: "not in, single value not listed", pred: "n NOT IN (4, 6)", file: file(nSingle), want: true},
		{name: "in outside", pred: "n IN (20, 30)", file: file(nStats), want: false},

		// Negation is pushed down.
		{name: "not gt", pred: "NOT (n > 3)", file: file(nStats), want: true},
		{name: "not le", pred: "NOT (n <= 10)", file: file(nStats), want: false},
		{name: "not between", pred: "n NOT BETWEEN 0 AND 20", file: file(nStats), want: false},
		{name: "not between partly", pred: "n NOT BETWEEN 0 AND 5", file: file(nStats), want: true},
		{name: "not or", pred: "NOT (n < 5 OR n > 0)", file: file(nStats), want: false},
		{name: "not is null", pred: "NOT (i IS NULL)", file: file(nStats), want: true},
		{name: "not not", pred: "NOT (NOT (n > 10))", file: file(nStats), want: false},
		{name: "not in list negated", pred: "NOT (n NOT IN (5))", file: file(nStats), want: true},
		{name: "not false", pred: "NOT (FALSE)", file: file(nStats), want: true},
		{name: "false", pred: "FALSE", file: file(nStats), want: false},

		// AND / OR.
		{name: "and, one side impossible", pred: "n = 5 AND n > 10", file: file(nStats), want: false},
		{name: "or, one side possible", pred: "n = 50 OR n = 5", file: file(nStats), want: true},
		{name: "or, neither", pred: "n = 50 OR i = 50", file: file(nStats), want: false},
		{name: "or with unknown column", pred: "n = 50 OR zz = 1", file: file(nStats), want: true},
		{name: "and with unknown column", pred: "n = 50 AND zz = 1", file: file(nStats), want: false},

		// Partition values.
		{name: "partition eq", pred: "p = 'a'", file: withParts("a", "2024-01-01"), want: true},
		{name: "partition ne", pred: "p = 'b'", file: withParts("a", "2024-01-01"), want: false},
		{name: "partition null eq", pred: "p = 'a'", file: withParts("", "2024-01-01"), want: false},
		{name: "partition is null", pred: "p IS NULL", file: withParts("", "2024-01-01"), want: true},
		{name: "partition is not null", pred: "p IS NOT NULL", file: withParts("", "2024-01-01"), want: false},
		{name: "partition not equal", pred: "p != 'a'", file: withParts("a", "2024-01-01"), want: false},
		{name: "partition date string", pred: "d = '2024-01-01'", file: withParts("a", "2024-01-01"), want: true},
		{name: "partition date literal", pred: "d = DATE '2024-01-02'", file: withParts("a", "2024-01-01"), want: false},
		{name: "partition date range", pred: "d > '2023-12-31' AND d < '2024-01-02'", file: withParts("a", "2024-01-01"), want: true},
		{name: "partition bad literal", pred: "d = 'yesterday'", file: withParts("a", "2024-01-01"), want: true},
		{name: "partition and stats", pred: "p = 'a' AND n > 10", file: file(nStats), want: false},
		{name: "partition number vs string", pred: "p = 1", file: withParts("1", "2024-01-01"), want: true},

		// Floating point: NaN is above every number and never in the statistics.
		{name: "double gt max may be NaN", pred: "x > 5", file: file(xStats), want: true},
		{name: "double ge max may be NaN", pred: "x >= 5", file: file(xStats), want: true},
		{name: "double lt min", pred: "x < 1", file: file(xStats), want: false},
		{name: "double eq above max", pred: "x = 5", file: file(xStats), want: false},
		{name: "double eq NaN", expr: cmp("x", "=", "NaN", "double"), file: file(xStats), want: true},
		{name: "double ne", pred: "x != 2", file: file(xStats), want: true},
		{name: "float eq 0.1", pred: "f = 0.1", file: file(xStats), want: true},
		{name: "float eq 0.1 double", expr: cmp("f", "=", "0.1", "double"), file: file(xStats), want: true},
		{name: "float lt 0.1", pred: "f < 0.1", file: file(xStats), want: false},
		{name: "float le 0.1", pred: "f <= 0.1", file: file(xStats), want: true},
		{name: "float eq 0.2", pred: "f = 0.2", file: file(xStats), want: false},

		// Strings: bounds are prefixes.
		{name: "string eq", pred: "s = 'abc'", file: file(sStats), want: true},
		{name: "string above truncated max", pred: "s = 'abcz'", file: file(sStats), want: true},
		{name: "string above max", pred: "s = 'abd'", file: file(sStats), want: false},
		{name: "string below min", pred: "s < 'abc'", file: file(sStats), want: false},
		{name: "string gt max extension", pred: "s > 'abc'", file: file(sStats), want: true},
		{name: "string ne single value", pred: "s != 'abc'", file: file(sStats), want: true},
		{name: "string vs number", pred: "s = 5", file: file(sStats), want: true},

		// Timestamps: maxima are widened by 999 µs.
		{name: "ts within ms of max", pred: "ts = TIMESTAMP '2024-01-01 23:00:00.0005'", file: file(tsStats), want: true},
		{name: "ts after max", pred: "ts > '2024-01-01 23:00:00.001'", file: file(tsStats), want: false},
		{name: "ts with offset", pred: "ts > '2024-01-02T00:00:00.0005+01:00'", file: file(tsStats), want: true},
		{name: "ts with offset after", pred: "ts > '2024-01-02T01:30:00+01:00'", file: file(tsStats), want: false},
		{name: "ts vs date", pred: "ts >= DATE '2024-01-02'", file: file(tsStats), want: false},
		{name: "ts nanoseconds", pred: "ts > '2024-01-01 23:00:00.0009999'", file: file(tsStats), want: true},
		{name: "ntz", pred: "tn < '2024-01-01'", file: file(tsStats), want: false},
		{name: "ntz with offset not converted", pred: "tn < '2024-01-01T00:00:00+05:00'", file: file(tsStats), want: true},

		// Decimals are exact.
		{name: "decimal inside", pred: "dec = 1.5", file: file(decStats), want: true},
		{name: "decimal above", pred: "dec > 2", file: file(decStats), want: false},
		{name: "decimal fine", pred: "dec > 1.999", file: file(decStats), want: true},
		{name: "decimal string off scale", pred: "dec = '2.005'", file: file(decStats), want: true},
		{name: "decimal string", pred: "dec = '2.50'", file: file(decStats), want: false},

		// Everything unknown may match.
		{name: "unknown column", pred: "zz = 1", file: file(nStats), want: true},
		{name: "no stats", pred: "n = 50", file: file(""), want: true},
		{name: "bad stats", pred: "n = 50", file: file("{not json"), want: true},
		{name: "column without stats", pred: "ts = '2030-01-01'", file: file(nStats), want: true},
		{name: "nested column", pred: "arr = 1", file: file(nStats), want: true},
		{name: "empty file", pred: "n = 5", file: file(`{"numRecords":0}`), want: false},
		{name: "boolean without stats", pred: "b = TRUE", file: file(nStats), want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := tt.expr
			if e == nil {
				var err error
				if e, err = ParsePredicate(tt.pred); err != nil {
					t.Fatal(err)
				}
			}
			got, err := NewFileFilter(schema, parts, "none", e).MayMatch(tt.file)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("%s on stats %s partitions %v: may match = %v, want %v", e, tt.file.Stats, tt.file.PartitionValues, got, tt.want)
			}
		})
	}
}

func cmp(col, op, text, kind string) Expr {
	return &Comparison{Op: op, Left: &Column{Name: col}, Right: &Literal{Text: text, Kind: kind}}
}

// TestFileFilterColumnMapping: statistics and partition values are keyed by physical names.
func TestFileFilterColumnMapping(t *testing.T) {
	field := func(name, phys, typ string) map[string]any {
		return map[string]any{"name": name, "type": typ, "nullable": true,
			"metadata": map[string]any{MetaColumnMappingPhysicalName: phys, MetaColumnMappingID: 1}}
	}
	b, _ := json.Marshal(map[string]any{"type": "struct", "fields": []any{
		field("Part", "col-aaa", "string"), field("Amount", "col-bbb", "long")}})
	schema, err := ParseSchema(string(b))
	if err != nil {
		t.Fatal(err)
	}
	f := &Add{Path: "f", PartitionValues: PartitionValues{"col-aaa": "x"},
		Stats: `{"numRecords":3,"minValues":{"col-bbb":10},"maxValues":{"col-bbb":20},"nullCount":{"col-bbb":0}}`}
	tests := []struct {
		pred string
		want bool
	}{
		{"amount = 15", true},
		{"Amount > 20", false},
		{"part = 'x' AND amount < 10", false},
		{"part = 'y'", false},
		{"part = 'x'", true},
	}
	for _, tt := range tests {
		e, err := ParsePredicate(tt.pred)
		if err != nil {
			t.Fatal(err)
		}
		ff := NewFileFilter(schema, []string{"Part"}, "name", e)
		got, err := ff.MayMatch(f)
		if err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("%s: may match = %v, want %v", tt.pred, got, tt.want)
		}
	}
}

func TestFileFilterCorruptPartition(t *testing.T) {
	schema, err := ParseDDLSchema(skipSchema)
	if err != nil {
		t.Fatal(err)
	}
	e, _ := ParsePredicate("d = '2024-01-01'")
	_, err = NewFileFilter(schema, []string{"p", "d"}, "none", e).MayMatch(&Add{Path: "f", PartitionValues: PartitionValues{"p": "a", "d": "not a date"}})
	if err == nil || !strings.Contains(err.Error(), "not a date") {
		t.Fatalf("error = %v, want one naming the bad partition value", err)
	}
}

func TestFileFilterUses(t *testing.T) {
	schema, err := ParseDDLSchema(skipSchema)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		pred        string
		parts, data bool
	}{
		{"p = 'a'", true, false},
		{"n = 1", false, true},
		{"p = 'a' OR n = 1", true, true},
		{"zz = 1", false, false},
	}
	for _, tt := range tests {
		e, _ := ParsePredicate(tt.pred)
		p, d := NewFileFilter(schema, []string{"p", "d"}, "none", e).Uses()
		if p != tt.parts || d != tt.data {
			t.Errorf("%s: Uses() = %v, %v; want %v, %v", tt.pred, p, d, tt.parts, tt.data)
		}
	}
	if p, d := NewFileFilter(schema, nil, "none", nil).Uses(); p || d {
		t.Errorf("nil predicate uses columns")
	}
}

func TestNegationNormalForm(t *testing.T) {
	tests := []struct{ in, want string }{
		{"NOT (a < 1)", "a >= 1"},
		{"NOT (a = 1 AND b != 2)", "(a != 1 OR b = 2)"},
		{"NOT (a IN (1, 2) OR b IS NULL)", "(a NOT IN (1, 2) AND b IS NOT NULL)"},
		{"NOT (NOT (a > 1))", "a > 1"},
		{"a NOT BETWEEN 1 AND 2", "(a < 1 OR a > 2)"},
		{"NOT TRUE", "false"},
	}
	for _, tt := range tests {
		e, err := ParsePredicate(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := negationNormalForm(e, false).String(); got != tt.want {
			t.Errorf("nnf(%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
}
