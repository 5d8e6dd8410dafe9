package parquetio

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"regexp"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/scalar"

	"github.com/stratalake/strata/internal/delta"
)

// TestFooterStatsMatchWriter writes files with WriteDataFiles and checks that the statistics read
// back from their footers are the ones WriteDataFiles computed from the rows, once the leaves the
// footer cannot describe (Missing: arrays and maps, floats whose footer bounds are absent) are
// filled in, and that only such leaves are missing.
func TestFooterStatsMatchWriter(t *testing.T) {
	mapped := `{"type":"struct","fields":[
	 {"name":"id","type":"long","nullable":true,"metadata":{"delta.columnMapping.id":1,"delta.columnMapping.physicalName":"col-a1"}},
	 {"name":"p","type":"string","nullable":true,"metadata":{"delta.columnMapping.id":2,"delta.columnMapping.physicalName":"col-b2"}},
	 {"name":"st","type":{"type":"struct","fields":[
	   {"name":"x","type":"integer","nullable":true,"metadata":{"delta.columnMapping.id":4,"delta.columnMapping.physicalName":"col-d4"}}]},
	  "nullable":true,"metadata":{"delta.columnMapping.id":3,"delta.columnMapping.physicalName":"col-c3"}}]}`
	tests := []struct {
		name     string
		schema   string
		rows     string
		parts    []string
		opts     WriteOptions
		mayMiss  []string // leaves (dotted physical paths) the footer may not describe
		mustMiss []string // leaves it cannot describe
	}{
		{name: "all types", schema: allTypesSchema, rows: allTypesRows,
			mayMiss: []string{"f", "d"}, mustMiss: []string{"arr", "arrst", "m", "marr"}},
		{name: "string truncation", schema: `{"type":"struct","fields":[{"name":"s","type":"string","nullable":true,"metadata":{}}]}`,
			rows: `[{"s":"` + strings.Repeat("x", 40) + `"},{"s":"` + strings.Repeat("x", 31) + `a"},{"s":null}]`},
		{name: "floats with NaN and infinities", schema: `{"type":"struct","fields":[{"name":"a","type":"double","nullable":true,"metadata":{}},{"name":"b","type":"float","nullable":true,"metadata":{}},{"name":"c","type":"double","nullable":true,"metadata":{}}]}`,
			rows: `[{"a":"NaN","b":"-Inf","c":"NaN"},{"a":2.5,"b":1.25,"c":null},{"a":-1,"b":"NaN","c":"NaN"}]`, mayMiss: []string{"a", "b", "c"}},
		{name: "all nulls", schema: `{"type":"struct","fields":[{"name":"a","type":"long","nullable":true,"metadata":{}}]}`, rows: `[{"a":null},{"a":null}]`},
		{name: "nested nulls", schema: `{"type":"struct","fields":[{"name":"st","type":{"type":"struct","fields":[{"name":"x","type":"integer","nullable":true,"metadata":{}},{"name":"l","type":{"type":"array","elementType":"integer","containsNull":true},"nullable":true,"metadata":{}}]},"nullable":true,"metadata":{}}]}`,
			rows: `[{"st":null},{"st":{"x":null,"l":[1]}},{"st":{"x":5,"l":null}},{"st":{"x":9,"l":[]}}]`, mustMiss: []string{"st.l"}},
		{name: "indexed columns", schema: allTypesSchema, rows: allTypesRows, opts: WriteOptions{NumIndexedCols: 4}},
		{name: "stats columns", schema: allTypesSchema, rows: allTypesRows, opts: WriteOptions{StatsColumns: []string{"st.inner", "date", "arr"}},
			mustMiss: []string{"arr"}},
		{name: "no statistics", schema: allTypesSchema, rows: allTypesRows, opts: WriteOptions{NumIndexedCols: NoIndexedCols}},
		{name: "column mapping, partitioned", schema: mapped, parts: []string{"p"},
			rows: `[{"id":5,"p":"a","st":{"x":3}},{"id":-2,"p":"a","st":null},{"id":9,"p":"a","st":{"x":null}}]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			schema := mustSchema(t, tc.schema)
			rec := recordFromJSON(t, delta.ToArrowSchema(schema), tc.rows)
			defer rec.Release()
			opts := tc.opts
			opts.Schema, opts.PartitionColumns = schema, tc.parts
			store := newStore(t)
			files, err := WriteDataFiles(context.Background(), store, reader(t, rec), opts)
			if err != nil {
				t.Fatal(err)
			}
			if len(files) != 1 {
				t.Fatalf("%d files", len(files))
			}
			plan, err := PlanStats(schema, tc.parts, opts)
			if err != nil {
				t.Fatal(err)
			}
			data, err := store.Get(context.Background(), files[0].Key)
			if err != nil {
				t.Fatal(err)
			}
			fs, err := plan.ReadFooterStats(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			want, err := delta.ParseStats(files[0].Stats)
			if err != nil {
				t.Fatal(err)
			}
			leaves := plan.Leaves()
			missing := map[string]bool{}
			for _, i := range fs.Missing() {
				l := leaves[i]
				dotted := strings.Join(l.Path, ".")
				missing[dotted] = true
				ok := false
				for _, m := range append(append([]string(nil), tc.mayMiss...), tc.mustMiss...) {
					ok = ok || m == dotted
				}
				if !ok {
					t.Errorf("leaf %s missing from the footer statistics", dotted)
				}
				// Fill it in from what the writer computed.
				if n, ok := nullCountAt(t, files[0].Stats, l.Path); ok {
					fs.SetNullCount(i, n)
				}
				if l.MinMax {
					lo, _ := want.MinValue(l.Path, l.Type)
					hi, _ := want.MaxValue(l.Path, l.Type)
					if lo == nil || hi == nil {
						// JSON carries no infinite bound: a float leaf with one side known has an
						// infinity on the other (both sides are unknown when every value is NaN).
						lo, hi = infiniteBounds(l.Type, lo, hi)
					}
					fs.SetBounds(i, lo, hi)
				}
			}
			for _, m := range tc.mustMiss {
				if !missing[m] {
					t.Errorf("leaf %s should be missing (the footer cannot describe it)", m)
				}
			}
			got, err := fs.JSON()
			if err != nil {
				t.Fatal(err)
			}
			if got != files[0].Stats {
				t.Errorf("footer statistics\n got  %s\n want %s", got, files[0].Stats)
			}
		})
	}
}

// nullCountAt reads nullCount at path from a stats JSON.
func nullCountAt(t *testing.T, stats string, path []string) (int64, bool) {
	t.Helper()
	var m struct {
		NullCount map[string]any `json:"nullCount"`
	}
	if err := json.Unmarshal([]byte(stats), &m); err != nil {
		t.Fatal(err)
	}
	var cur any = m.NullCount
	for _, p := range path {
		obj, ok := cur.(map[string]any)
		if !ok {
			return 0, false
		}
		cur = obj[p]
	}
	n, ok := cur.(float64)
	return int64(n), ok
}

func TestDataFileName(t *testing.T) {
	for codec, pattern := range map[string]string{
		"":             `^part-00007-[0-9a-f-]{36}-c000\.zstd\.parquet$`,
		"snappy":       `^part-00007-[0-9a-f-]{36}-c000\.snappy\.parquet$`,
		"uncompressed": `^part-00007-[0-9a-f-]{36}-c000\.parquet$`,
		"GZIP":         `^part-00007-[0-9a-f-]{36}-c000\.gz\.parquet$`,
	} {
		name, err := DataFileName(7, codec)
		if err != nil || !regexp.MustCompile(pattern).MatchString(name) {
			t.Errorf("DataFileName(7, %q) = %q, %v; want %s", codec, name, err, pattern)
		}
	}
	if _, err := DataFileName(0, "lzo"); err == nil {
		t.Error("DataFileName accepted an unknown codec")
	}
}

func TestPlanStatsRejectsUnknownPartitionColumn(t *testing.T) {
	schema := mustSchema(t, `{"type":"struct","fields":[{"name":"a","type":"long","nullable":true,"metadata":{}}]}`)
	if _, err := PlanStats(schema, []string{"nope"}, WriteOptions{}); err == nil {
		t.Error("PlanStats accepted a partition column the schema lacks")
	}
}

// infiniteBounds fills the missing side of a float leaf's bounds with the infinity on that side;
// it returns nil, nil when both are missing or the leaf is not a float.
func infiniteBounds(t delta.DataType, lo, hi scalar.Scalar) (scalar.Scalar, scalar.Scalar) {
	if (lo == nil) == (hi == nil) {
		return nil, nil
	}
	inf := func(sign int) scalar.Scalar {
		switch t {
		case delta.TypeFloat:
			return scalar.NewFloat32Scalar(float32(math.Inf(sign)))
		case delta.TypeDouble:
			return scalar.NewFloat64Scalar(math.Inf(sign))
		}
		return nil
	}
	if lo == nil {
		lo = inf(-1)
	} else {
		hi = inf(1)
	}
	if lo == nil || hi == nil {
		return nil, nil
	}
	return lo, hi
}
