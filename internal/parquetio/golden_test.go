package parquetio

import (
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the golden tables need America/Los_Angeles

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/scalar"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/storage"
)

// canonical renders row i of arr as a string that ignores field names and Arrow type details that
// differ between equal values (timestamp unit and zone, integer width).
func canonical(arr arrow.Array, i int) string {
	if arr.IsNull(i) {
		return "null"
	}
	switch a := arr.(type) {
	case *array.Timestamp:
		unit := a.DataType().(*arrow.TimestampType).Unit
		v := int64(a.Value(i))
		switch unit {
		case arrow.Second:
			v *= 1e6
		case arrow.Millisecond:
			v *= 1e3
		case arrow.Nanosecond:
			v = v / 1e3
		}
		return "ts:" + strconv.FormatInt(v, 10)
	case *array.Decimal128:
		return a.Value(i).ToString(a.DataType().(*arrow.Decimal128Type).Scale)
	case *array.Float32:
		return strconv.FormatFloat(float64(a.Value(i)), 'g', -1, 32)
	case *array.Float64:
		return strconv.FormatFloat(a.Value(i), 'g', -1, 64)
	case *array.String:
		return strconv.Quote(a.Value(i))
	case *array.Binary:
		return "0x" + hex.EncodeToString(a.Value(i))
	case *array.Struct:
		parts := make([]string, a.NumField())
		for j := range parts {
			parts[j] = canonical(a.Field(j), i)
		}
		return "{" + strings.Join(parts, ",") + "}"
	case *array.Map:
		s, e := a.ValueOffsets(i)
		var parts []string
		for j := s; j < e; j++ {
			parts = append(parts, canonical(a.Keys(), int(j))+":"+canonical(a.Items(), int(j)))
		}
		return "map{" + strings.Join(parts, ",") + "}"
	case array.ListLike:
		s, e := a.ValueOffsets(i)
		var parts []string
		for j := s; j < e; j++ {
			parts = append(parts, canonical(a.ListValues(), int(j)))
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	sc, err := scalar.GetScalar(arr, i)
	if err != nil {
		return "?" + err.Error()
	}
	return sc.String()
}

func canonicalRows(cols []arrow.Array, n int) []string {
	out := make([]string, n)
	for i := 0; i < n; i++ {
		parts := make([]string, len(cols))
		for c, col := range cols {
			parts[c] = canonical(col, i)
		}
		out[i] = strings.Join(parts, " | ")
	}
	return out
}

// goldenTable is a conformance table with expected content: its live files at the latest version.
type goldenTable struct {
	name, root string
	schema     *delta.StructType
	partCols   []string
	mode       MatchMode
	files      []*delta.Add
	expected   []string // expected Parquet files
}

func loadGoldenTables(t *testing.T) []goldenTable {
	base := conformanceDir(t)
	var out []goldenTable
	for _, group := range []string{"golden", "dat"} {
		entries, _ := os.ReadDir(filepath.Join(base, group))
		for _, e := range entries {
			dir := filepath.Join(base, group, e.Name())
			exp := filepath.Join(dir, "expected")
			if group == "dat" {
				exp = filepath.Join(exp, "latest")
			}
			expFiles, _ := filepath.Glob(filepath.Join(exp, "*.parquet"))
			if len(expFiles) == 0 {
				continue
			}
			gt := goldenTable{name: group + "/" + e.Name(), root: filepath.Join(dir, "delta"), expected: expFiles}
			logs, _ := filepath.Glob(filepath.Join(gt.root, "_delta_log", "*.json"))
			sort.Strings(logs)
			live := map[string]*delta.Add{}
			var order []string
			ok := true
			for _, l := range logs {
				name := filepath.Base(l)
				if len(name) != 25 {
					continue
				}
				b, err := os.ReadFile(l)
				if err != nil {
					t.Fatal(err)
				}
				acts, err := delta.ParseCommit(name, b)
				if err != nil {
					t.Fatal(err)
				}
				for _, a := range acts {
					switch {
					case a.Metadata != nil:
						s, err := a.Metadata.Schema()
						if err != nil {
							ok = false
							break
						}
						gt.schema, gt.partCols = s, a.Metadata.PartitionColumns
						gt.mode = MatchByName
						if a.Metadata.Configuration["delta.columnMapping.mode"] == "id" {
							gt.mode = MatchByID
						}
					case a.Add != nil:
						p, _ := a.Add.DecodedPath()
						if _, seen := live[p]; !seen {
							order = append(order, p)
						}
						live[p] = a.Add
					case a.Remove != nil:
						p, _ := a.Remove.DecodedPath()
						live[p] = nil
					}
				}
			}
			if !ok || gt.schema == nil {
				continue
			}
			for _, p := range order {
				if a := live[p]; a != nil {
					if a.DeletionVector != nil {
						ok = false
					}
					gt.files = append(gt.files, a)
				}
			}
			if ok {
				out = append(out, gt)
			}
		}
	}
	return out
}

// writerZones names the session time zone of the writers of tables whose zone-less timestamp
// partition values were written in local time (ParsePartitionValue reads them as UTC).
var writerZones = map[string]string{"golden/data-reader-partition-values": "America/Los_Angeles"}

// inZone reinterprets a timestamp parsed as UTC wall-clock time as wall-clock time in zone.
func inZone(t *testing.T, ts *scalar.Timestamp, zone string) scalar.Scalar {
	loc, err := time.LoadLocation(zone)
	if err != nil {
		t.Fatal(err)
	}
	u := time.UnixMicro(int64(ts.Value)).UTC()
	l := time.Date(u.Year(), u.Month(), u.Day(), u.Hour(), u.Minute(), u.Second(), u.Nanosecond(), loc)
	return scalar.NewTimestampScalar(arrow.Timestamp(l.UnixMicro()), ts.Type)
}

// TestReadGoldenTables reads every live data file of the conformance tables that have expected
// content (partition values added from the log) and compares the rows with the expected Parquet
// files, decoded independently with plain pqarrow.
func TestReadGoldenTables(t *testing.T) {
	tables := loadGoldenTables(t)
	if len(tables) < 20 {
		t.Fatalf("only %d golden tables found", len(tables))
	}
	for _, gt := range tables {
		t.Run(gt.name, func(t *testing.T) {
			isPart := map[string]bool{}
			for _, c := range gt.partCols {
				isPart[strings.ToLower(c)] = true
			}
			var dataFields []*delta.StructField
			for _, f := range gt.schema.Fields {
				if !isPart[strings.ToLower(f.Name)] {
					dataFields = append(dataFields, f)
				}
			}
			want := delta.PhysicalArrowSchema(&delta.StructType{Fields: dataFields})
			store, err := storage.NewLocal(gt.root)
			if err != nil {
				t.Fatal(err)
			}
			// Tables with column-mapping ids are read both by physical name and by field id.
			modes := []MatchMode{gt.mode}
			if _, ok := gt.schema.Fields[0].FieldID(); ok && gt.mode == MatchByName {
				modes = append(modes, MatchByID)
			}
			for _, mode := range modes {
				var got []string
				for _, add := range gt.files {
					key, _ := add.DecodedPath()
					rec := readAll(t, store, key, want, mode)
					n := int(rec.NumRows())
					cols := make([]arrow.Array, len(gt.schema.Fields))
					di := 0
					for i, f := range gt.schema.Fields {
						if !isPart[strings.ToLower(f.Name)] {
							cols[i] = rec.Column(di)
							di++
							continue
						}
						raw := add.PartitionValues[f.PhysicalName()]
						sc, err := delta.ParsePartitionValue(raw, f.Type)
						if err != nil {
							t.Fatal(err)
						}
						if zone := writerZones[gt.name]; zone != "" && f.Type == delta.TypeTimestamp && !strings.ContainsAny(raw, "TZ") && sc.IsValid() {
							sc = inZone(t, sc.(*scalar.Timestamp), zone)
						}
						arr, err := scalar.MakeArrayFromScalar(sc, n, memory.DefaultAllocator)
						if err != nil {
							t.Fatal(err)
						}
						defer arr.Release()
						cols[i] = arr
					}
					got = append(got, canonicalRows(cols, n)...)
					rec.Release()
				}
				var exp []string
				for _, f := range gt.expected {
					b, err := os.ReadFile(f)
					if err != nil {
						t.Fatal(err)
					}
					sc, recs, err := Decode(b, nil)
					if err != nil {
						t.Fatal(err)
					}
					for _, r := range recs {
						cols := make([]arrow.Array, len(gt.schema.Fields))
						for i, f := range gt.schema.Fields {
							idx := sc.FieldIndices(f.Name)
							if len(idx) == 0 {
								t.Fatalf("expected file has no column %q (%s)", f.Name, sc)
							}
							cols[i] = r.Column(idx[0])
						}
						exp = append(exp, canonicalRows(cols, int(r.NumRows()))...)
						r.Release()
					}
				}
				sort.Strings(got)
				sort.Strings(exp)
				if len(got) != len(exp) {
					t.Fatalf("match by %s: %d rows read, %d expected", mode, len(got), len(exp))
				}
				for i := range got {
					if got[i] != exp[i] {
						t.Fatalf("match by %s: row %d differs:\n got  %s\n want %s", mode, i, got[i], exp[i])
					}
				}
			}
		})
	}
}

// TestReadEdgeINT96 reads INT96 timestamps at the ends of the calendar (a delta-rs conformance
// table written by Databricks), which do not fit Arrow nanoseconds.
func TestReadEdgeINT96(t *testing.T) {
	root := filepath.Join(conformanceDir(t), "delta-rs", "table_with_edge_timestamps")
	store, err := storage.NewLocal(root)
	if err != nil {
		t.Fatal(err)
	}
	want := arrow.NewSchema([]arrow.Field{
		{Name: "BIG_DATE", Type: delta.ToArrowType(delta.TypeTimestamp), Nullable: true},
		{Name: "normal_date", Type: delta.ToArrowType(delta.TypeTimestampNTZ), Nullable: true},
		{Name: "SOME_VALUE", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	}, nil)
	files, _ := filepath.Glob(filepath.Join(root, "*.parquet"))
	if len(files) != 2 {
		t.Fatalf("files: %v", files)
	}
	var got []string
	for _, f := range files {
		rec := readAll(t, store, filepath.Base(f), want, MatchByName)
		for i := 0; i < int(rec.NumRows()); i++ {
			big := rec.Column(0).(*array.Timestamp).Value(i).ToTime(arrow.Microsecond).UTC().Format("2006-01-02T15:04:05")
			normal := rec.Column(1).(*array.Timestamp).Value(i).ToTime(arrow.Microsecond).UTC().Format("2006-01-02T15:04:05")
			got = append(got, fmt.Sprintf("%s %s %d", big, normal, rec.Column(2).(*array.Int64).Value(i)))
		}
		rec.Release()
	}
	sort.Strings(got)
	want2 := []string{"9999-12-30T00:00:00 2022-02-01T00:00:00 2", "9999-12-31T00:00:00 2022-01-01T00:00:00 1"}
	if strings.Join(got, "\n") != strings.Join(want2, "\n") {
		t.Errorf("got %q, want %q", got, want2)
	}
}
