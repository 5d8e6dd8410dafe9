package engine

import (
	"testing"

	"github.com/stratalake/strata/internal/delta"
)

func TestParseByteSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"953.6 MiB", 999_922_073},
		{"1.0 GiB", 1 << 30},
		{"1.5 GiB", 3 << 29},
		{"512 KB", 512_000},
		{"7B", 7},
		{"", 0},
		{"lots", 0},
	} {
		if got := parseByteSize(tc.in); got != tc.want {
			t.Errorf("parseByteSize(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func TestEvaluatesOnce(t *testing.T) {
	for _, tc := range []struct {
		sql  string
		want bool
	}{
		{"DELETE FROM t WHERE id = 1", false},
		{"DELETE FROM t WHERE random() < 0.5", true},
		{"UPDATE t SET ts = now() WHERE id = 1", true},
		{"UPDATE t SET ts = current_timestamp", true},
		{"DELETE FROM t WHERE id IN (SELECT id FROM u LIMIT 3)", true},
		{"DELETE FROM t WHERE id IN (SELECT id FROM u USING SAMPLE 10%)", true},
		{"UPDATE t SET v = (SELECT first(v) FROM u)", true},
		{"DELETE FROM t WHERE c = 'random()'", false}, // a literal
		{"DELETE FROM t WHERE \"now\" = 1", false},    // a quoted column
		{"UPDATE t SET rank = row_number() OVER ()", true},
	} {
		st, err := newStatement(tc.sql)
		if err != nil {
			t.Fatal(err)
		}
		if got := evaluatesOnce(st); got != tc.want {
			t.Errorf("evaluatesOnce(%s) = %v, want %v", tc.sql, got, tc.want)
		}
	}
}

func TestDMLClauses(t *testing.T) {
	for _, tc := range []struct {
		sql, alias, from, where string
		update                  bool
	}{
		{sql: `DELETE FROM x WHERE id = 1`, where: "id = 1"},
		{sql: `DELETE FROM x AS y USING u, v WHERE y.id = u.id`, alias: "y", from: "u, v", where: "y.id = u.id"},
		{sql: `DELETE FROM x y`, alias: "y"},
		{sql: `UPDATE x SET a = 1, b = (SELECT 1 FROM z WHERE z.q = 2) WHERE id = 3`, where: "id = 3", update: true},
		{sql: `UPDATE x AS t SET a = f.a FROM f WHERE t.id = f.id AND f.b > 0`, alias: "t", from: "f", where: "t.id = f.id AND f.b > 0", update: true},
	} {
		st, err := newStatement(tc.sql)
		if err != nil {
			t.Fatal(err)
		}
		parse, after := parseDeleteClauses, 3
		if tc.update {
			parse, after = parseUpdateClauses, 2
		}
		d, err := parse(st, after, "x")
		if err != nil {
			t.Fatalf("%s: %v", tc.sql, err)
		}
		if d.alias != tc.alias || d.from != tc.from || d.where != tc.where {
			t.Errorf("%s: got alias %q from %q where %q", tc.sql, d.alias, d.from, d.where)
		}
	}
	st, _ := newStatement("DELETE FROM x WHERE id = 1 RETURNING *")
	if _, err := parseDeleteClauses(st, 3, "x"); err == nil {
		t.Error("DELETE ... RETURNING accepted")
	}
}

func TestFieldIDSpec(t *testing.T) {
	schema, err := delta.ParseSchema(`{"type":"struct","fields":[
	 {"name":"a","type":"long","nullable":true,"metadata":{"delta.columnMapping.id":1,"delta.columnMapping.physicalName":"col-a"}},
	 {"name":"s","type":{"type":"struct","fields":[{"name":"x","type":"integer","nullable":true,"metadata":{"delta.columnMapping.id":3,"delta.columnMapping.physicalName":"col-x"}}]},
	  "nullable":true,"metadata":{"delta.columnMapping.id":2,"delta.columnMapping.physicalName":"col-s"}},
	 {"name":"l","type":{"type":"array","elementType":{"type":"struct","fields":[{"name":"y","type":"string","nullable":true,"metadata":{"delta.columnMapping.id":5,"delta.columnMapping.physicalName":"col-y"}}]},"containsNull":true},
	  "nullable":true,"metadata":{"delta.columnMapping.id":4,"delta.columnMapping.physicalName":"col-l"}},
	 {"name":"plain","type":"string","nullable":true,"metadata":{}}]}`)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"1", "{'__duckdb_field_id': 2, 'col-x': 3}", "{'__duckdb_field_id': 4, 'element': {'col-y': 5}}", ""}
	for i, f := range schema.Fields {
		if got := fieldIDSpec(f); got != want[i] {
			t.Errorf("%s: %q, want %q", f.Name, got, want[i])
		}
	}
	// physicalExpr renames nested fields only where names differ.
	if got := physicalExpr("u.a", schema.Fields[0].Type, 0); got != "u.a" {
		t.Errorf("physicalExpr of a primitive: %s", got)
	}
	if got := physicalExpr("u.s", schema.Fields[1].Type, 0); got != `CASE WHEN u.s IS NULL THEN NULL ELSE struct_pack("col-x" := struct_extract(u.s, 'x')) END` {
		t.Errorf("physicalExpr of a struct: %s", got)
	}
}
