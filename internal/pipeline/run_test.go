package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/stratalake/strata/internal/engine"
	"github.com/stratalake/strata/internal/gen"
	"github.com/stratalake/strata/internal/log"
	"github.com/stratalake/strata/internal/log/backends"
	"github.com/stratalake/strata/internal/project"
)

const ordersPipeline = `
CREATE OR REFRESH STREAMING TABLE bronze.orders
AS SELECT * FROM STREAM(read_topic('orders', format => 'json', schema => 'order_id BIGINT, user_id BIGINT, amount DECIMAL(10,2), ts TIMESTAMPTZ'));

CREATE MATERIALIZED VIEW gold.user_totals AS
SELECT user_id, count(*) AS orders, sum(amount) AS revenue, max(amount) AS largest, count(DISTINCT order_id % 7) AS buckets
FROM bronze.orders
GROUP BY user_id;
`

// produceOrders appends n orders for the given users (round robin) to the orders topic.
func produceOrders(t *testing.T, l log.Log, first, n int, users []int) {
	t.Helper()
	var recs []log.Record
	for i := first; i < first+n; i++ {
		u := users[i%len(users)]
		v, _ := json.Marshal(map[string]any{"order_id": i, "user_id": u, "amount": fmt.Sprintf("%d.%02d", i%97, i%100),
			"ts": time.Date(2026, 1, 1, 0, 0, i, 0, time.UTC).Format(time.RFC3339)})
		recs = append(recs, log.Record{Key: []byte(fmt.Sprint(u)), Value: v})
	}
	if _, err := l.Produce(context.Background(), "orders", recs); err != nil {
		t.Fatal(err)
	}
}

func openPipeline(t *testing.T, proj *project.Project, eng *engine.Engine) *Pipeline {
	t.Helper()
	ctx := context.Background()
	pl, err := Load(ctx, proj, eng)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pl.Validate(ctx); err != nil {
		t.Fatal(err)
	}
	return pl
}

// TestIncrementalViewTouchesOnlyChangedGroups: after 1,000 orders over 100 users, a stream run
// over 10 new orders of 2 users must rewrite 2 groups of gold.user_totals (the event log's
// rows_out of its batch), not 100, and leave the view equal to its query over all input.
func TestIncrementalViewTouchesOnlyChangedGroups(t *testing.T) {
	ctx := context.Background()
	proj, eng := newTestProject(t, map[string]string{"orders.sql": ordersPipeline})
	l, err := backends.Open(ctx, proj.Config.Log)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.CreateTopic(ctx, "orders", log.TopicConfig{Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	users := make([]int, 100)
	for i := range users {
		users[i] = i + 1
	}
	produceOrders(t, l, 0, 1000, users)
	pl := openPipeline(t, proj, eng)
	if got := pl.Execution(pl.Node("gold.user_totals")); got != ModeIncremental {
		t.Fatalf("gold.user_totals runs as %s, want incremental", got)
	}
	sum, err := pl.Run(ctx, RunOptions{Mode: Batch, Log: l})
	if err != nil {
		t.Fatal(err)
	}
	if f := flow(sum, "gold.user_totals"); f.RowsOut != 100 {
		t.Fatalf("first run wrote %d groups, want 100", f.RowsOut)
	}
	produceOrders(t, l, 1000, 10, []int{7, 42})
	sum, err = pl.Run(ctx, RunOptions{Mode: Stream, Log: l, IdleStop: 300 * time.Millisecond, PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if f := flow(sum, "gold.user_totals"); f.RowsIn != 10 || f.RowsOut != 2 {
		t.Fatalf("stream run: %d rows in, %d groups written, want 10 and 2", f.RowsIn, f.RowsOut)
	}
	// The event log says the same, batch by batch.
	n := queryInt(t, eng, "SELECT sum(rows_out)::BIGINT FROM _strata.pipeline_events WHERE flow = 'gold.user_totals' AND event = 'batch' AND mode = 'stream'")
	if n != 2 {
		t.Fatalf("event log: stream batches of gold.user_totals wrote %d groups, want 2", n)
	}
	// And the view equals its query over everything.
	diff := queryInt(t, eng, `SELECT count(*) FROM (
		(SELECT * FROM gold.user_totals EXCEPT ALL
		 SELECT user_id, count(*), sum(amount), max(amount), count(DISTINCT order_id % 7) FROM bronze.orders GROUP BY user_id)
		UNION ALL
		(SELECT user_id, count(*), sum(amount), max(amount), count(DISTINCT order_id % 7) FROM bronze.orders GROUP BY user_id
		 EXCEPT ALL SELECT * FROM gold.user_totals))`)
	if diff != 0 {
		t.Fatalf("gold.user_totals differs from its query in %d rows", diff)
	}
}

func flow(s *Summary, name string) *FlowSummary {
	for _, f := range s.Flows {
		if f.Name == name {
			return f
		}
	}
	return &FlowSummary{}
}

func queryInt(t *testing.T, eng *engine.Engine, q string) int64 {
	t.Helper()
	res, err := eng.Query(context.Background(), q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer res.Records.Release()
	for res.Records.Next() {
		rec := res.Records.RecordBatch()
		if rec.NumRows() > 0 {
			switch c := rec.Column(0).(type) {
			case *array.Int64:
				return c.Value(0)
			}
			t.Fatalf("%s returned %s", q, rec.Column(0).DataType())
		}
	}
	t.Fatalf("%s returned no row", q)
	return 0
}

// TestTopicQuarantine: records that are not JSON, not objects, or hold a field of the wrong type
// go to the streaming table's quarantine with the reason and their topic/partition@offset; the
// others reach the table; nothing is lost.
func TestTopicQuarantine(t *testing.T) {
	ctx := context.Background()
	proj, eng := newTestProject(t, map[string]string{"orders.sql": ordersPipeline})
	l, err := backends.Open(ctx, proj.Config.Log)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.CreateTopic(ctx, "orders", log.TopicConfig{Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	produceOrders(t, l, 0, 5, []int{1, 2})
	bad := []string{`{"order_id": 99, "user_id": 1, "amount": "lots", "ts": "2026-01-01T00:00:00Z"}`, `{"order_id": 100,`, `[1, 2]`, "\xff\xfe"}
	var recs []log.Record
	for _, b := range bad {
		recs = append(recs, log.Record{Value: []byte(b)})
	}
	if _, err := l.Produce(ctx, "orders", recs); err != nil {
		t.Fatal(err)
	}
	produceOrders(t, l, 5, 5, []int{1, 2})
	pl := openPipeline(t, proj, eng)
	sum, err := pl.Run(ctx, RunOptions{Mode: Batch, Log: l})
	if err != nil {
		t.Fatal(err)
	}
	if f := flow(sum, "bronze.orders"); f.RowsIn != 14 || f.RowsQuarantined != 4 {
		t.Fatalf("bronze.orders: %d in, %d quarantined, want 14 and 4", f.RowsIn, f.RowsQuarantined)
	}
	if n := queryInt(t, eng, "SELECT count(*) FROM bronze.orders"); n != 10 {
		t.Fatalf("bronze.orders holds %d rows, want 10", n)
	}
	loc, _ := proj.TableLocation("bronze", "orders")
	res, err := eng.Query(ctx, "SELECT "+colSource+", "+colReason+" FROM delta_scan('"+loc+"_quarantine') ORDER BY "+colSource)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Records.Release()
	var got []string
	for res.Records.Next() {
		rec := res.Records.RecordBatch()
		for i := 0; i < int(rec.NumRows()); i++ {
			got = append(got, rec.Column(0).ValueStr(i)+" "+rec.Column(1).ValueStr(i))
		}
	}
	want := []string{
		"orders/0@5 amount: cannot read \"lots\" as DECIMAL(10,2)",
		"orders/0@6 invalid JSON",
		"orders/0@7 not a JSON object",
		"orders/0@8 value is not UTF-8 text",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("quarantine:\n got %q\nwant %q", got, want)
	}
}

// TestLargeBatchKeepsArrivalOrder: DuckDB may return a large transform's rows out of their input
// order (seen with the medallion example: the row groups of a 400,000-event batch came back
// rotated, and 244,000 in-order events were judged late). Lateness is decided in arrival order,
// so the runtime orders the output by the source position the pipeline carries through the
// query. 400,000 generated events, in time order, in one partition and one batch: no late row.
func TestLargeBatchKeepsArrivalOrder(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "..", "examples", "medallion", "pipelines", "medallion.sql"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	proj, eng := newTestProject(t, map[string]string{"medallion.sql": string(src)})
	l, err := backends.Open(ctx, proj.Config.Log)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.CreateTopic(ctx, "events", log.TopicConfig{Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	const n = 400_000
	g, err := gen.New(gen.Config{Seed: 5, Start: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), Rate: gen.RateFor(n, 1), Users: 10_000})
	if err != nil {
		t.Fatal(err)
	}
	for done := 0; done < n; {
		recs := make([]log.Record, 0, 10_000)
		for ; len(recs) < cap(recs) && done < n; done++ {
			ev := g.Next()
			recs = append(recs, log.Record{Value: gen.AppendJSON(nil, &ev)})
		}
		if _, err := l.Produce(ctx, "events", recs); err != nil {
			t.Fatal(err)
		}
	}
	pl := openPipeline(t, proj, eng)
	sum, err := pl.Run(ctx, RunOptions{Mode: Batch, Log: l, Refresh: []string{"bronze.events", "silver.events"}})
	if err != nil {
		t.Fatal(err)
	}
	if f := flow(sum, "silver.events"); f.RowsLate != 0 || f.RowsIn != n {
		t.Fatalf("silver.events: %d rows in, %d late; want %d and 0", f.RowsIn, f.RowsLate, n)
	}
}
