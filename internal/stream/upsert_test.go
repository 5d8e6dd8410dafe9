package stream

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/stream/core"
	"github.com/stratalake/strata/internal/table"
)

// TestFilePruner checks the file pruning of the copy-on-write sinks against hand-made statistics
// of a real table (columns a BIGINT, s STRING, f DOUBLE, partitioned by p STRING): a file may hold
// a key unless, for some column, no key's value can be in it (outside its min/max; a NULL only
// where it counts NULLs), and every doubt (no statistics, a partition column, a NaN, keys of mixed
// kinds) means it may.
func TestFilePruner(t *testing.T) {
	ctx := testCtx(t)
	tbl, err := table.Open(ctx, filepath.Join(t.TempDir(), "t"))
	if err != nil {
		t.Fatal(err)
	}
	schema := &delta.StructType{Fields: []*delta.StructField{
		{Name: "a", Type: delta.TypeLong, Nullable: true},
		{Name: "s", Type: delta.TypeString, Nullable: true},
		{Name: "f", Type: delta.TypeDouble, Nullable: true},
		{Name: "p", Type: delta.TypeString, Nullable: true},
	}}
	if _, err := tbl.Create(ctx, delta.CreateOptions{Schema: schema, PartitionColumns: []string{"p"}}); err != nil {
		t.Fatal(err)
	}
	snap, err := tbl.Snapshot(ctx, -1)
	if err != nil {
		t.Fatal(err)
	}
	null := core.Null()
	const (
		cA = 0
		cS = 1
		cF = 2
		cP = 3
	)
	for _, c := range []struct {
		name  string
		cols  []int
		keys  [][]core.Value
		stats string
		want  bool
	}{
		{"a within bounds", []int{cA}, [][]core.Value{{core.Int(3)}, {core.Int(10)}},
			`{"numRecords":5,"minValues":{"a":4},"maxValues":{"a":10}}`, true},
		{"a between keys", []int{cA}, [][]core.Value{{core.Int(3)}, {core.Int(10)}},
			`{"numRecords":5,"minValues":{"a":4},"maxValues":{"a":9}}`, false},
		{"empty file", []int{cA}, [][]core.Value{{core.Int(3)}},
			`{"numRecords":0}`, false},
		{"no statistics", []int{cA}, [][]core.Value{{core.Int(3)}}, ``, true},
		{"no bounds", []int{cA}, [][]core.Value{{core.Int(3)}}, `{"numRecords":5}`, true},
		{"second column rules out", []int{cA, cS}, [][]core.Value{{core.Int(3), core.String("x")}},
			`{"numRecords":5,"minValues":{"a":1,"s":"y"},"maxValues":{"a":9,"s":"z"},"nullCount":{"a":0,"s":0}}`, false},
		{"both columns may", []int{cA, cS}, [][]core.Value{{core.Int(3), core.String("x")}},
			`{"numRecords":5,"minValues":{"a":1,"s":"w"},"maxValues":{"a":9,"s":"z"},"nullCount":{"a":0,"s":0}}`, true},
		{"NULL key, file without NULLs", []int{cS}, [][]core.Value{{null}, {core.String("x")}},
			`{"numRecords":5,"minValues":{"s":"y"},"maxValues":{"s":"z"},"nullCount":{"s":0}}`, false},
		{"NULL key, file with NULLs", []int{cS}, [][]core.Value{{null}, {core.String("x")}},
			`{"numRecords":5,"minValues":{"s":"y"},"maxValues":{"s":"z"},"nullCount":{"s":2}}`, true},
		{"NULL key, NULLs not counted", []int{cS}, [][]core.Value{{null}},
			`{"numRecords":5,"minValues":{"s":"y"},"maxValues":{"s":"z"}}`, true},
		{"only NULL keys, file without NULLs", []int{cS}, [][]core.Value{{null}},
			`{"numRecords":5,"minValues":{"s":"y"},"maxValues":{"s":"z"},"nullCount":{"s":0}}`, false},
		{"truncated string maximum", []int{cS}, [][]core.Value{{core.String("pearl")}},
			`{"numRecords":5,"minValues":{"s":"b"},"maxValues":{"s":"pea"}}`, true},
		{"NaN key", []int{cF}, [][]core.Value{{core.Float(math.NaN())}},
			`{"numRecords":5,"minValues":{"f":1.0},"maxValues":{"f":2.0}}`, true},
		{"float key", []int{cF}, [][]core.Value{{core.Float(3)}},
			`{"numRecords":5,"minValues":{"f":1.0},"maxValues":{"f":2.0}}`, false},
		{"keys of mixed kinds", []int{cA}, [][]core.Value{{core.Int(3)}, {core.String("3")}},
			`{"numRecords":5,"minValues":{"a":4},"maxValues":{"a":9}}`, true},
		{"partition column", []int{cP}, [][]core.Value{{core.String("x")}},
			`{"numRecords":5,"minValues":{"p":"y"},"maxValues":{"p":"z"}}`, true},
		{"bounds of another type", []int{cA}, [][]core.Value{{core.Int(3)}},
			`{"numRecords":5,"minValues":{"a":"x"},"maxValues":{"a":9}}`, true},
	} {
		p := newFilePruner(snap, c.cols, c.keys)
		if got := p.mayHold(&delta.Add{Path: "f", Stats: c.stats}); got != c.want {
			t.Errorf("%s: keys %v, stats %s: may hold %t, want %t", c.name, c.keys, c.stats, got, c.want)
		}
	}
}
