package ingest

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
)

func TestFileQuarantine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.ndjson")
	q, err := NewFileQuarantine(path)
	if err != nil {
		t.Fatal(err)
	}
	fixed := time.Date(2024, 5, 6, 7, 8, 9, 10, time.FixedZone("x", 3600))
	q.now = func() time.Time { return fixed }
	ctx := context.Background()
	// Safe for concurrent use: several readers may share one quarantine.
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 25; j++ {
				q.Write(ctx, Rejected{File: fmt.Sprintf("f%d.csv", i), Line: int64(j + 2), Row: int64(j), Column: 2,
					ColumnName: "b", Kind: KindCast, Reason: "r", Raw: "a,\"b\n\""})
			}
		}()
	}
	wg.Wait()
	if q.Count() != 200 {
		t.Errorf("count %d", q.Count())
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if err := q.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := q.Write(ctx, Rejected{}); err == nil {
		t.Errorf("Write after Close succeeded")
	}
	got := readRejects(t, path)
	if len(got) != 200 {
		t.Fatalf("%d lines", len(got))
	}
	want := rejectedLine{File: got[0].File, Line: got[0].Line, Row: got[0].Line - 2, Column: "b", ColumnNumber: 2, Kind: "cast",
		Reason: "r", Raw: "a,\"b\n\"", TS: "2024-05-06T06:08:09.00000001Z"}
	if got[0] != want {
		t.Errorf("line %+v, want %+v", got[0], want)
	}

	// A second quarantine on the same path appends.
	q2, err := NewFileQuarantine(path)
	if err != nil {
		t.Fatal(err)
	}
	q2.Write(ctx, Rejected{File: "late.csv"})
	q2.Close()
	if got := readRejects(t, path); len(got) != 201 || got[200].File != "late.csv" {
		t.Errorf("after append: %d lines", len(got))
	}
}

// failingQuarantine refuses every record.
type failingQuarantine struct{}

var errQuarantineFull = errors.New("quarantine full")

func (failingQuarantine) Write(context.Context, Rejected) error { return errQuarantineFull }

// TestQuarantineFailureStopsTheRead: a record that cannot be quarantined is not dropped.
func TestQuarantineFailureStopsTheRead(t *testing.T) {
	files := map[string]string{
		"x.csv":    "order_id,customer,amount\n1,a,x\n",
		"x.ndjson": `{"order_id": "x"}` + "\n",
	}
	for name, content := range files {
		res := readFile(t, writeTemp(t, name, content), ordersTarget, Options{Quarantine: failingQuarantine{}})
		if !errors.Is(res.err, errQuarantineFull) {
			t.Errorf("%s: err = %v, want the quarantine's error", name, res.err)
		}
	}
	pq := writeParquet(t, "p.parquet", schemaOf(nullable("v", arrow.PrimitiveTypes.Int64)), `[{"v": 1000}]`, 10)
	res := readFile(t, pq, schemaOf(nullable("v", arrow.PrimitiveTypes.Int8)), Options{Quarantine: failingQuarantine{}})
	if !errors.Is(res.err, errQuarantineFull) {
		t.Errorf("parquet: err = %v, want the quarantine's error", res.err)
	}
}
