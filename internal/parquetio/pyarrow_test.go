package parquetio

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/stratalake/strata/internal/delta"
)

// pyarrowScript reads each Strata-written file with pyarrow, prints its Arrow schema, and writes
// the table back with pyarrow's own Parquet writer, for the Go side to compare.
const pyarrowScript = `
import sys
import pyarrow.parquet as pq
args = sys.argv[1:]
for src, dst in zip(args[0::2], args[1::2]):
    t = pq.read_table(src)
    s = t.schema.to_string(show_field_metadata=False, show_schema_metadata=False)
    print(src + "\t" + s.replace("\n", "; "))
    pq.write_table(t, dst)
`

// TestPyarrowReadsWrittenFiles checks that pyarrow, an independent reader, sees the files
// WriteDataFiles writes with the intended logical types (timestamps in microseconds with and
// without UTC adjustment, decimals, dates, nested structs, lists and maps) and the same values.
// It is skipped when python3 with pyarrow is not installed (pip install pyarrow).
func TestPyarrowReadsWrittenFiles(t *testing.T) {
	if err := exec.Command("python3", "-c", "import pyarrow").Run(); err != nil {
		t.Fatal("python3 with pyarrow is required: pip install -r test/requirements.txt")
	}
	ctx := context.Background()
	schema := mustSchema(t, allTypesSchema)
	logical := delta.ToArrowSchema(schema)
	in := recordFromJSON(t, logical, allTypesRows)
	defer in.Release()
	store := newStore(t)
	plain, err := WriteDataFiles(ctx, store, reader(t, in), WriteOptions{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	parted, err := WriteDataFiles(ctx, store, reader(t, in), WriteOptions{Schema: schema, PartitionColumns: []string{"bool"}, Codec: "gzip"})
	if err != nil {
		t.Fatal(err)
	}
	mapped, err := WriteDataFiles(ctx, store, reader(t, in), WriteOptions{Schema: withColumnMapping(schema), Codec: "snappy"})
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	var args []string
	var files []DataFile
	for _, f := range append(append(plain, parted...), mapped...) {
		files = append(files, f)
		args = append(args, filepath.Join(store.Root(), filepath.FromSlash(f.Key)), filepath.Join(out, filepath.Base(f.Key)))
	}
	cmd := exec.Command("python3", append([]string{"-c", pyarrowScript}, args...)...)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("pyarrow: %v", err)
	}
	schemas := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(stdout)), "\n") {
		src, s, _ := strings.Cut(line, "\t")
		schemas[src] = s
	}
	wantTypes := []string{
		"id: int64 not null", "b: int8", "s: int16", "i: int32", "f: float", "d: double",
		"dec9: decimal128(9, 2)", "dec18: decimal128(18, 4)", "dec38: decimal128(38, 10)",
		"str: string", "bin: binary", "date: date32[day]", "ts: timestamp[us, tz=UTC]", "ntz: timestamp[us]",
		"st: struct<x: int32, inner: struct<y: string>>", "arr: list<element: int32>",
		"arrst: list<element: struct<a: int64>>", "m: map<string, double", "marr: map<int32, list<element: string>",
	}
	nUnmapped := len(plain) + len(parted)
	for i, f := range files {
		s := schemas[args[2*i]]
		if i >= nUnmapped {
			// Column mapping: physical names, same logical types.
			for _, w := range []string{"col-", "timestamp[us, tz=UTC]", "timestamp[us]", "decimal128(38, 10)", "date32[day]", "map<int32, list<element: string>"} {
				if !strings.Contains(s, w) {
					t.Errorf("%s: pyarrow schema %q lacks %q", f.Key, s, w)
				}
			}
			continue
		}
		for _, w := range wantTypes {
			if f.PartitionValues != nil && strings.HasPrefix(w, "bool") {
				continue
			}
			if !strings.Contains(s, w) {
				t.Errorf("%s: pyarrow schema %q lacks %q", f.Key, s, w)
			}
		}
		if len(f.PartitionValues) > 0 && strings.Contains(s, "bool:") {
			t.Errorf("%s: partition column stored in the file: %s", f.Key, s)
		}
	}

	// Values: pyarrow's rewrite of each file, decoded here, holds the input rows.
	var want []string
	cols := make([]arrow.Array, in.NumCols())
	copy(cols, in.Columns())
	want = canonicalRows(cols, int(in.NumRows()))
	sort.Strings(want)
	for _, group := range [][]DataFile{plain, mapped} {
		var got []string
		for _, f := range group {
			b, err := os.ReadFile(filepath.Join(out, filepath.Base(f.Key)))
			if err != nil {
				t.Fatal(err)
			}
			sc, recs, err := Decode(b, nil)
			if err != nil {
				t.Fatal(err)
			}
			if int64(sc.NumFields()) != in.NumCols() {
				t.Fatalf("pyarrow rewrite has %d columns", sc.NumFields())
			}
			for _, r := range recs {
				got = append(got, canonicalRows(r.Columns(), int(r.NumRows()))...)
				r.Release()
			}
		}
		sort.Strings(got)
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("pyarrow values differ:\n got  %v\n want %v", got, want)
		}
	}
}
