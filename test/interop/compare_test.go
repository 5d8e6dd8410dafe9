package interop

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
)

// TestRowComparisonSeesDifferences guards the comparison the interop tests rely on: equal
// content compares equal whatever the row order, and each kind of difference a reader could
// introduce is reported.
func TestRowComparisonSeesDifferences(t *testing.T) {
	tsNaive := &arrow.TimestampType{Unit: arrow.Microsecond}
	base := func() []parquetColumn {
		return []parquetColumn{
			col("id", arrow.PrimitiveTypes.Int64, false, int64(1), int64(2), int64(2)),
			col("d", arrow.PrimitiveTypes.Float64, true, math.NaN(), 0.0, 0.0),
			col("amt", dec10, true, "1.50", nil, nil),
			col("s", arrow.BinaryTypes.String, true, "a", "", ""),
			col("ts", tsUTC, true, "2024-01-01T00:00:00Z", nil, nil),
		}
	}
	tests := []struct {
		name   string
		change func(cols []parquetColumn) []parquetColumn
		want   string // substring of the difference; "" means equal
	}{
		{"same", func(c []parquetColumn) []parquetColumn { return c }, ""},
		{"row order", func(c []parquetColumn) []parquetColumn {
			for i := range c {
				v := c[i].values
				v[0], v[2] = v[2], v[0]
			}
			return c
		}, ""},
		{"negative zero", func(c []parquetColumn) []parquetColumn { c[1].values[1] = math.Copysign(0, -1); return c }, "d=-0"},
		{"decimal digits", func(c []parquetColumn) []parquetColumn { c[2].values[0] = "1.51"; return c }, "amt=1.51"},
		{"null vs empty string", func(c []parquetColumn) []parquetColumn { c[3].values[1] = nil; return c }, "s=NULL"},
		{"duplicate row lost", func(c []parquetColumn) []parquetColumn {
			for i := range c {
				c[i].values = c[i].values[:2]
			}
			return c
		}, "rows differ (3 rows in a, 2 in b)"},
		{"instant vs wall clock", func(c []parquetColumn) []parquetColumn { c[4].field.Type = tsNaive; return c }, "column ts: type timestamp[us, instant] in a, timestamp[us, wall clock] in b"},
		{"column order", func(c []parquetColumn) []parquetColumn { c[0], c[1] = c[1], c[0]; return c }, "columns differ"},
	}
	dir := t.TempDir()
	writeParquet(t, filepath.Join(dir, "a.parquet"), base()...)
	a, err := readParquetRows(t.Context(), filepath.Join(dir, "a.parquet"), "a")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_")+".parquet")
			writeParquet(t, p, tt.change(base())...)
			b, err := readParquetRows(t.Context(), p, "b")
			if err != nil {
				t.Fatal(err)
			}
			d := diffRowSets(a, b)
			if tt.want == "" && d != "" {
				t.Errorf("want equal, got:\n%s", d)
			}
			if tt.want != "" && !strings.Contains(d, tt.want) {
				t.Errorf("want a difference mentioning %q, got:\n%s", tt.want, d)
			}
		})
	}
}
