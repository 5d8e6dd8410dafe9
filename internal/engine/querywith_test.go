package engine

import (
	"context"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/stratalake/strata/internal/project"
)

// TestQueryWith runs SQL over an Arrow input joined to a project table, the way the streaming
// runtime runs a batch's query.
func TestQueryWith(t *testing.T) {
	ctx := context.Background()
	p, err := project.Init(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e, err := Open(ctx, Options{Project: p, CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if err := e.Run(ctx, "CREATE TABLE dim.users AS SELECT * FROM (VALUES (1, 'ES'), (2, 'FR')) v(id, country)", func(*Result) error { return nil }); err != nil {
		t.Fatal(err)
	}
	// Several columns, of which the query projects one and filters on another: DuckDB's Arrow
	// scan mishandles pushed-down projections and filters, which QueryWith must not expose.
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "topic", Type: arrow.BinaryTypes.String},
		{Name: "offset", Type: arrow.PrimitiveTypes.Int64},
		{Name: "value", Type: arrow.BinaryTypes.String},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	for i, v := range []string{`{"user":1,"amount":10}`, `{"user":2,"amount":5}`, `{"user":1,"amount":1}`, `not json`, `{"user":2,"amount":100}`} {
		b.Field(0).(*array.StringBuilder).Append("orders")
		b.Field(1).(*array.Int64Builder).Append(int64(i))
		b.Field(2).(*array.StringBuilder).Append(v)
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	input, err := array.NewRecordReader(schema, []arrow.RecordBatch{rec})
	if err != nil {
		t.Fatal(err)
	}
	defer input.Release()
	res, err := e.QueryWith(ctx, `SELECT u.country, sum((value->>'amount')::INT) AS amount, count(*) AS n
		FROM batch JOIN dim.users u ON u.id = (value->>'user')::INT
		WHERE json_valid(value) AND "offset" < 4 GROUP BY ALL ORDER BY 1`, map[string]array.RecordReader{"batch": input})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Records.Release()
	var got []string
	for res.Records.Next() {
		r := res.Records.RecordBatch()
		for i := 0; i < int(r.NumRows()); i++ {
			got = append(got, r.Column(0).ValueStr(i)+"="+r.Column(1).ValueStr(i)+"/"+r.Column(2).ValueStr(i))
		}
	}
	if err := res.Records.Err(); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, " ") != "ES=11/2 FR=5/1" {
		t.Errorf("rows %v", got)
	}
	if len(res.Scans) != 1 || res.Scans[0].Table != "dim.users" {
		t.Errorf("scans %+v", res.Scans)
	}
}
