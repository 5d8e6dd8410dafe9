package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/stratalake/strata/internal/delta"
)

// dmlEdgeRows selects rows with edge values of every Delta type: NULLs, NaN, infinities and
// negative zero, strings longer than the 32-character statistics prefix and than DuckDB's
// 256-byte footer statistics, multi-byte characters, decimals of every physical width, nested
// structs, lists and maps. Row 0 is the marker row the tests delete.
const dmlEdgeRows = `SELECT range::BIGINT AS id,
	CASE WHEN range % 5 = 0 THEN 'p' || (range % 2) END AS part,
	(range % 120 - 60)::TINYINT AS i8, (range * 300 - 1500)::SMALLINT AS i16, CASE WHEN range % 7 = 3 THEN NULL ELSE (range * 1000003)::INTEGER END AS i32,
	CASE range % 9 WHEN 1 THEN 'nan'::DOUBLE WHEN 2 THEN 'inf'::DOUBLE WHEN 3 THEN -0.0::DOUBLE WHEN 4 THEN NULL ELSE range / 7 END AS f64,
	CASE range % 11 WHEN 1 THEN '-inf'::FLOAT WHEN 2 THEN 'nan'::FLOAT ELSE (range / 3)::FLOAT END AS f32,
	(range * 1.25)::DECIMAL(9,2) AS d9, (range * -7.125)::DECIMAL(18,4) AS d18, (range * 12345678901234.5)::DECIMAL(38,10) AS d38,
	CASE range % 6 WHEN 0 THEN repeat('ü', 40) || range WHEN 1 THEN repeat('z', 300) WHEN 2 THEN '' WHEN 3 THEN NULL ELSE 'v' || range END AS s,
	CASE WHEN range % 4 = 0 THEN NULL ELSE ('\x00\xff' || range)::BLOB END AS bin, range % 2 = 0 AS flag,
	DATE '1970-01-01' + (range * 97 - 3000)::INTEGER AS day,
	TIMESTAMPTZ '2024-03-01 10:00:00+00' + to_microseconds(range * 1000003) AS ts, TIMESTAMP '1969-12-31 23:59:59' + to_microseconds(range * 999) AS ntz,
	CASE WHEN range % 8 = 0 THEN NULL ELSE {'x': CASE WHEN range % 3 = 0 THEN NULL ELSE range::INTEGER END, 'inner': {'y': 'y' || range}} END AS st,
	CASE WHEN range % 10 = 0 THEN NULL ELSE [range::INTEGER, NULL] END AS arr,
	CASE WHEN range % 12 = 0 THEN NULL ELSE MAP {'k': range / 2} END AS m
FROM range(60)`

// TestCopyWriterStatistics: a file DuckDB writes for a rewrite carries the statistics parquetio
// computes for the same rows, under every statistics and column-mapping setting, and readers
// (Strata, delta-rs) read it as the rows it was given.
func TestCopyWriterStatistics(t *testing.T) {
	cases := []struct {
		name  string
		props string
		part  bool
	}{
		{"plain", "", false},
		{"column mapping by name, partitioned", "'delta.columnMapping.mode' = 'name'", true},
		{"column mapping by id", "'delta.columnMapping.mode' = 'id'", false},
		{"indexed columns", "'delta.dataSkippingNumIndexedCols' = '5'", false},
		{"stats columns", "'delta.dataSkippingStatsColumns' = 'st.inner,arr,s,f64'", true},
		{"snappy", "'delta.parquet.compression.codec' = 'snappy'", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := newDMLEnv(t, Options{})
			clauses := ""
			if tc.part {
				clauses += " PARTITIONED BY (part)"
			}
			if tc.props != "" {
				clauses += " TBLPROPERTIES (" + tc.props + ")"
			}
			// The same rows, written by parquetio (CTAS) and by DuckDB (a DELETE of the marker
			// row rewrites every file of the other table).
			env.run("CREATE TABLE sales.ref" + clauses + " AS SELECT * FROM (" + dmlEdgeRows + ") WHERE id <> 0")
			env.run("CREATE TABLE sales.dml" + clauses + " AS " + dmlEdgeRows)
			env.run("CREATE TABLE mirror AS " + dmlEdgeRows)
			env.same("sales.dml", "mirror", "DELETE FROM sales.dml WHERE id = 0")
			info, adds, _ := env.commit(env.loc("sales.dml"), env.snapshot("sales.dml").Version())
			if metric(info, "numDeletedRows") != "1" || len(adds) == 0 {
				t.Fatalf("the DELETE did not rewrite the table: %v", info)
			}
			// Statistics by partition, with physical names (which differ between the tables
			// under column mapping) replaced by logical ones.
			statsOf := func(name string) map[string]string {
				out := map[string]string{}
				snap := env.snapshot(name)
				logical := logicalNames(snap.Schema())
				for _, f := range snap.Files() {
					var parts []string
					for k, v := range f.PartitionValues {
						parts = append(parts, logical[k]+"="+v)
					}
					sort.Strings(parts)
					key := strings.Join(parts, ",")
					if _, dup := out[key]; dup {
						t.Fatalf("%s: two files in partition %s", name, key)
					}
					out[key] = renameStats(t, f.Stats, logical)
					if strings.Contains(tc.props, "snappy") != strings.HasSuffix(f.Path, ".snappy.parquet") {
						t.Errorf("%s: file %s does not carry the codec's extension", name, f.Path)
					}
				}
				return out
			}
			want, got := statsOf("sales.ref"), statsOf("sales.dml")
			keys := make([]string, 0, len(want))
			for k := range want {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				if got[k] != want[k] {
					t.Errorf("partition %s: statistics of the DuckDB-written file\n got  %s\n want %s", k, got[k], want[k])
				}
			}
			if len(got) != len(want) {
				t.Errorf("%d files, want %d", len(got), len(want))
			}
			env.checkDeltaRS(env.loc("sales.dml"))
		})
	}
}

// TestDMLChunks runs statements of every kind with one file per chunk, and with both load modes
// (targeted and whole files), against the mirror.
func TestDMLChunks(t *testing.T) {
	defer func(n int64) { dmlChunkBytes = n }(dmlChunkBytes)
	dmlChunkBytes = 1
	env := newDMLEnv(t, Options{})
	const tbl, mir = "sales.t", "mirror"
	env.run("CREATE TABLE sales.t (id BIGINT, p STRING, v DOUBLE, tags INT[]) PARTITIONED BY (p)")
	env.run("CREATE TABLE mirror (id BIGINT, p VARCHAR, v DOUBLE, tags INT[])")
	for i := 0; i < 4; i++ {
		env.same(tbl, mir, fmt.Sprintf("INSERT INTO sales.t SELECT range + %d, ['a', 'b', NULL][range %% 3 + 1], range / 3, [range::INTEGER] FROM range(40)", i*100))
	}
	for _, stmt := range []string{
		"UPDATE sales.t SET v = v + 1 WHERE id % 7 = 1",
		"UPDATE sales.t SET p = 'moved' WHERE id % 11 = 2",
		"UPDATE sales.t SET tags = list_append(tags, 5) WHERE id % 13 = 3",
		"DELETE FROM sales.t WHERE id % 5 = 4",
		"DELETE FROM sales.t WHERE random() < 0 OR id % 17 = 0",
		"UPDATE sales.t SET v = v * 2 + 1",
		"MERGE INTO sales.t t USING (SELECT range * 3 AS id, 'm' AS p, 1.5 AS v, [9] AS tags FROM range(150)) s ON t.id = s.id " +
			"WHEN MATCHED AND t.id % 2 = 0 THEN DELETE WHEN MATCHED THEN UPDATE SET v = s.v, tags = s.tags WHEN NOT MATCHED THEN INSERT *",
		"MERGE INTO sales.t t USING (SELECT range * 7 AS id FROM range(20)) s ON t.id = s.id " +
			"WHEN NOT MATCHED BY SOURCE AND t.id % 3 = 0 THEN UPDATE SET v = 0 WHEN NOT MATCHED BY SOURCE AND t.id % 3 = 1 THEN DELETE",
		"MERGE INTO sales.t t USING (SELECT range AS id FROM range(5)) s ON t.id = s.id AND random() >= 0 WHEN MATCHED THEN DELETE",
		// Two source columns of one name: not materialized (whole files).
		"MERGE INTO sales.t t USING (SELECT range * 3 AS id, range AS id FROM range(40)) s ON t.id = s.id WHEN MATCHED THEN UPDATE SET v = 7",
		// Only inserts, and only BY SOURCE clauses.
		"MERGE INTO sales.t t USING (SELECT range + 1000 AS id, 'n' AS p FROM range(3)) s ON t.id = s.id WHEN NOT MATCHED THEN INSERT (id, p) VALUES (s.id, s.p)",
		"MERGE INTO sales.t t USING (SELECT 1 AS id) s ON t.id = s.id WHEN NOT MATCHED BY SOURCE AND t.p = 'n' THEN DELETE",
	} {
		env.same(tbl, mir, stmt)
	}
	env.checkDeltaRS(env.loc(tbl))
}

// TestDMLWithoutRowIdentities: a table with a column named like the virtual columns the targeted
// mode reads (file_row_number) is rewritten with whole files.
func TestDMLWithoutRowIdentities(t *testing.T) {
	env := newDMLEnv(t, Options{})
	env.run("CREATE TABLE sales.t AS SELECT range AS id, range * 2 AS file_row_number FROM range(30)")
	env.run("CREATE TABLE mirror AS SELECT range AS id, range * 2 AS file_row_number FROM range(30)")
	if scanSupported(env.snapshot("sales.t")) {
		t.Fatal("scanSupported accepts a table with a file_row_number column")
	}
	env.same("sales.t", "mirror", "UPDATE sales.t SET file_row_number = -1 WHERE id % 4 = 0")
	env.same("sales.t", "mirror", "DELETE FROM sales.t WHERE id % 3 = 0")
	env.same("sales.t", "mirror", "MERGE INTO sales.t t USING (SELECT 5 AS id UNION ALL SELECT 500) s ON t.id = s.id WHEN MATCHED THEN DELETE WHEN NOT MATCHED THEN INSERT (id) VALUES (s.id)")
}

// logicalNames maps the physical names of a schema's fields (nested ones too) to their names.
func logicalNames(st *delta.StructType) map[string]string {
	out := map[string]string{}
	var walk func(t delta.DataType)
	walk = func(t delta.DataType) {
		switch t := t.(type) {
		case *delta.StructType:
			for _, f := range t.Fields {
				out[f.PhysicalName()] = f.Name
				walk(f.Type)
			}
		case *delta.ArrayType:
			walk(t.ElementType)
		case *delta.MapType:
			walk(t.KeyType)
			walk(t.ValueType)
		}
	}
	walk(st)
	return out
}

// renameStats renames the keys of a stats JSON by names and renders it canonically (keys
// sorted, numbers as written).
func renameStats(t *testing.T, stats string, names map[string]string) string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(stats))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("stats %s: %v", stats, err)
	}
	var rename func(v any, top bool) any
	rename = func(v any, top bool) any {
		m, ok := v.(map[string]any)
		if !ok {
			return v
		}
		out := map[string]any{}
		for k, x := range m {
			if n, ok := names[k]; ok && !top {
				k = n
			}
			out[k] = rename(x, false)
		}
		return out
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(rename(v, true)); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(b.String())
}

// TestDMLNestedNotNull: a rewrite that puts NULL into a nested field the schema declares
// non-nullable fails with delta.ErrSchemaMismatch and commits nothing (DuckDB's Parquet writer
// checks nothing, and DuckDB's NOT NULL only reaches top-level columns).
func TestDMLNestedNotNull(t *testing.T) {
	env := newDMLEnv(t, Options{})
	env.run("CREATE TABLE sales.n (id BIGINT NOT NULL, s STRUCT<x: INT NOT NULL, y: STRING>, l ARRAY<INT>, m MAP<STRING, STRING>)")
	env.run("INSERT INTO sales.n VALUES (1, {'x': 1, 'y': 'a'}, [1], MAP {'k': 'v'}), (2, NULL, NULL, NULL)")
	for _, stmt := range []string{
		"UPDATE sales.n SET s = {'x': NULL, 'y': 'b'} WHERE id = 1",
		"MERGE INTO sales.n t USING (SELECT 3 AS id) src ON t.id = src.id WHEN NOT MATCHED THEN INSERT (id, s) VALUES (src.id, {'x': NULL, 'y': 'c'})",
		"UPDATE sales.n SET id = NULL WHERE id = 2",
	} {
		v := env.snapshot("sales.n").Version()
		_, err := env.try(stmt)
		if err == nil {
			t.Errorf("%s: no error", stmt)
		} else if !strings.Contains(stmt, "id = NULL") && !errors.Is(err, delta.ErrSchemaMismatch) {
			t.Errorf("%s: %v, want delta.ErrSchemaMismatch", stmt, err)
		}
		if env.snapshot("sales.n").Version() != v {
			t.Errorf("%s: a failed statement committed", stmt)
		}
	}
	env.run("UPDATE sales.n SET s = NULL WHERE id = 1")
	env.run("UPDATE sales.n SET s = {'x': 5, 'y': NULL} WHERE id = 2")
	if got := strings.Join(env.rows("SELECT id, s FROM sales.n"), ";"); got != "1|NULL;2|{'x': 5, 'y': NULL}" {
		t.Errorf("rows %s", got)
	}
}

// TestNullViolation runs nullViolation's conditions for arrays and maps whose elements and values
// may not be NULL.
func TestNullViolation(t *testing.T) {
	env := newDMLEnv(t, Options{})
	schema, err := delta.ParseSchema(`{"type":"struct","fields":[
	 {"name":"l","type":{"type":"array","elementType":"integer","containsNull":false},"nullable":true,"metadata":{}},
	 {"name":"m","type":{"type":"map","keyType":"string","valueType":{"type":"struct","fields":[{"name":"z","type":"integer","nullable":false,"metadata":{}}]},"valueContainsNull":true},"nullable":true,"metadata":{}}]}`)
	if err != nil {
		t.Fatal(err)
	}
	c, err := env.e.connect(env.ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rows := "(VALUES ([1, 2], MAP {'a': {'z': 1}}), (NULL, NULL), ([3, NULL], MAP {'b': NULL}), ([], MAP {'c': {'z': NULL}})) v(l, m)"
	for i, want := range []int64{1, 1} { // [3, NULL] for l; {'z': NULL} for m
		f := schema.Fields[i]
		cond := nullViolation(quoteIdent(f.Name), f.Type, 0)
		v, err := c.queryValues(env.ctx, "SELECT count(*) FROM "+rows+" WHERE coalesce("+cond+", false)")
		if err != nil {
			t.Fatalf("%s: %v", cond, err)
		}
		if toInt64(v[0]) != want {
			t.Errorf("%s: %v rows violate, want %d", cond, v[0], want)
		}
	}
}
