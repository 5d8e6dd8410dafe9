package parquetio

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/stratalake/strata/internal/testutil"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/storage"
)

// allTypesSchema is a table schema with every Delta type, nested ones included.
const allTypesSchema = `{"type":"struct","fields":[
 {"name":"id","type":"long","nullable":false,"metadata":{}},
 {"name":"b","type":"byte","nullable":true,"metadata":{}},
 {"name":"s","type":"short","nullable":true,"metadata":{}},
 {"name":"i","type":"integer","nullable":true,"metadata":{}},
 {"name":"f","type":"float","nullable":true,"metadata":{}},
 {"name":"d","type":"double","nullable":true,"metadata":{}},
 {"name":"dec9","type":"decimal(9,2)","nullable":true,"metadata":{}},
 {"name":"dec18","type":"decimal(18,4)","nullable":true,"metadata":{}},
 {"name":"dec38","type":"decimal(38,10)","nullable":true,"metadata":{}},
 {"name":"str","type":"string","nullable":true,"metadata":{}},
 {"name":"bin","type":"binary","nullable":true,"metadata":{}},
 {"name":"bool","type":"boolean","nullable":true,"metadata":{}},
 {"name":"date","type":"date","nullable":true,"metadata":{}},
 {"name":"ts","type":"timestamp","nullable":true,"metadata":{}},
 {"name":"ntz","type":"timestamp_ntz","nullable":true,"metadata":{}},
 {"name":"st","type":{"type":"struct","fields":[
   {"name":"x","type":"integer","nullable":true,"metadata":{}},
   {"name":"inner","type":{"type":"struct","fields":[{"name":"y","type":"string","nullable":true,"metadata":{}}]},"nullable":true,"metadata":{}}]},
  "nullable":true,"metadata":{}},
 {"name":"arr","type":{"type":"array","elementType":"integer","containsNull":true},"nullable":true,"metadata":{}},
 {"name":"arrst","type":{"type":"array","elementType":{"type":"struct","fields":[{"name":"a","type":"long","nullable":true,"metadata":{}}]},"containsNull":true},"nullable":true,"metadata":{}},
 {"name":"m","type":{"type":"map","keyType":"string","valueType":"double","valueContainsNull":true},"nullable":true,"metadata":{}},
 {"name":"marr","type":{"type":"map","keyType":"integer","valueType":{"type":"array","elementType":"string","containsNull":true},"valueContainsNull":true},"nullable":true,"metadata":{}}
]}`

// allTypesRows are rows for allTypesSchema as Arrow JSON (timestamps in microseconds).
const allTypesRows = `[
{"id":1,"b":-128,"s":32767,"i":-5,"f":1.5,"d":-2.25,"dec9":"1234567.89","dec18":"-12345678901234.5678","dec38":"1234567890123456789012345678.0123456789",
 "str":"hello","bin":"AAEC","bool":true,"date":18628,"ts":1609459200123456,"ntz":-1,
 "st":{"x":7,"inner":{"y":"deep"}},"arr":[1,null,3],"arrst":[{"a":1},null,{"a":null}],
 "m":[{"key":"k1","value":1.5},{"key":"k2","value":null}],"marr":[{"key":1,"value":["a",null]},{"key":2,"value":null}]},
{"id":2,"b":null,"s":null,"i":null,"f":null,"d":null,"dec9":null,"dec18":null,"dec38":null,"str":null,"bin":null,"bool":null,
 "date":null,"ts":null,"ntz":null,"st":null,"arr":null,"arrst":null,"m":null,"marr":null},
{"id":3,"b":127,"s":-32768,"i":2147483647,"f":-0.5,"d":1e300,"dec9":"-0.01","dec18":"0.0001","dec38":"-1",
 "str":"日本語😈","bin":"","bool":false,"date":-719162,"ts":-62135596800000000,"ntz":253402300799999999,
 "st":{"x":null,"inner":null},"arr":[],"arrst":[],"m":[],"marr":[]}
]`

func mustSchema(t testing.TB, s string) *delta.StructType {
	t.Helper()
	st, err := delta.ParseSchema(s)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// recordFromJSON builds a record of schema from Arrow JSON rows.
func recordFromJSON(t testing.TB, schema *arrow.Schema, rows string) arrow.RecordBatch {
	t.Helper()
	rec, _, err := array.RecordFromJSON(memory.DefaultAllocator, schema, strings.NewReader(rows))
	if err != nil {
		t.Fatalf("record from JSON: %v", err)
	}
	return rec
}

func newStore(t testing.TB) *storage.Local {
	t.Helper()
	s, err := storage.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func reader(t testing.TB, recs ...arrow.RecordBatch) array.RecordReader {
	t.Helper()
	rr, err := array.NewRecordReader(recs[0].Schema(), recs)
	if err != nil {
		t.Fatal(err)
	}
	return rr
}

// readAll reads a whole data file into one record conforming to want.
func readAll(t testing.TB, store storage.Store, key string, want *arrow.Schema, mode MatchMode) arrow.RecordBatch {
	t.Helper()
	ctx := context.Background()
	r, err := ReadDataFile(ctx, store, key, 0, want, mode)
	if err != nil {
		t.Fatalf("open %s: %v", key, err)
	}
	defer r.Close()
	var recs []arrow.RecordBatch
	for {
		rec, err := r.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("read %s: %v", key, err)
		}
		if !rec.Schema().Equal(want) {
			t.Fatalf("batch schema %s, want %s", rec.Schema(), want)
		}
		recs = append(recs, rec)
	}
	return concat(t, want, recs)
}

func concat(t testing.TB, schema *arrow.Schema, recs []arrow.RecordBatch) arrow.RecordBatch {
	t.Helper()
	tbl := array.NewTableFromRecords(schema, recs)
	defer tbl.Release()
	for _, r := range recs {
		r.Release()
	}
	cols := make([]arrow.Array, schema.NumFields())
	for i := range cols {
		chunks := tbl.Column(i).Data().Chunks()
		if len(chunks) == 0 {
			cols[i] = array.MakeArrayOfNull(memory.DefaultAllocator, schema.Field(i).Type, 0)
			continue
		}
		c, err := array.Concatenate(chunks, memory.DefaultAllocator)
		if err != nil {
			t.Fatal(err)
		}
		cols[i] = c
	}
	return array.NewRecordBatch(schema, cols, tbl.NumRows())
}

// jsonRows renders a record's rows as Arrow JSON values, one string per row, for comparisons
// that ignore field names.
func jsonRows(t testing.TB, rec arrow.RecordBatch) []string {
	t.Helper()
	var b strings.Builder
	if err := array.RecordToJSON(rec, &b); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if line == "" {
			continue
		}
		// Re-encode field values positionally so that renamed columns compare equal.
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatal(err)
		}
		var vals []string
		for _, f := range rec.Schema().Fields() {
			vals = append(vals, string(m[f.Name]))
		}
		out = append(out, strings.Join(vals, "|"))
	}
	return out
}

// conformanceDir is the vendored conformance tables (testdata/conformance/delta).
func conformanceDir(t testing.TB) string {
	t.Helper()
	return testutil.ConformanceDir(t)
}
