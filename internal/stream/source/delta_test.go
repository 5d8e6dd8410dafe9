package source

import (
	"context"
	"errors"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/stratalake/strata/internal/table"
)

// ids is a table.Source of one BIGINT column "id" holding the given values.
type ids []int64

func (s ids) Schema() *arrow.Schema {
	return arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64, Nullable: true}}, nil)
}

func (s ids) Open(ctx context.Context, target *arrow.Schema) (array.RecordReader, error) {
	b := array.NewInt64Builder(memory.DefaultAllocator)
	defer b.Release()
	b.AppendValues(s, nil)
	col := b.NewArray()
	defer col.Release()
	rec := array.NewRecordBatch(target, []arrow.Array{col}, int64(len(s)))
	defer rec.Release()
	return array.NewRecordReader(target, []arrow.RecordBatch{rec})
}

func readIDs(t *testing.T, src *DeltaSource, tv TableVersion) []int64 {
	t.Helper()
	rr, err := src.Read(context.Background(), tv.Version, tv.Files)
	if err != nil {
		t.Fatal(err)
	}
	defer rr.Release()
	var out []int64
	for rr.Next() {
		out = append(out, rr.RecordBatch().Column(0).(*array.Int64).Int64Values()...)
	}
	if err := rr.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDeltaSourceFollowsAppends(t *testing.T) {
	ctx := context.Background()
	tbl, err := table.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	write := func(mode table.Mode, vals ...int64) {
		t.Helper()
		if _, err := tbl.Write(ctx, ids(vals), table.WriteOptions{Mode: mode}); err != nil {
			t.Fatal(err)
		}
	}
	write(table.Append, 1, 2) // creates the table
	src, err := OpenDelta(ctx, tbl, DeltaOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v0, err := src.Latest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	write(table.Append, 3)
	write(table.Append, 4, 5)
	latest, err := src.Latest(ctx)
	if err != nil || latest != v0+2 {
		t.Fatalf("latest %d, %v", latest, err)
	}
	got, err := src.Changes(ctx, v0, latest)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Version != v0+1 || got[1].Version != v0+2 || got[0].Rows != 1 || got[1].Rows != 2 {
		t.Fatalf("changes %+v", got)
	}
	if rows := readIDs(t, src, got[1]); len(rows) != 2 || rows[0] != 4 || rows[1] != 5 {
		t.Fatalf("version 2 added %v", rows)
	}

	// An overwrite removes rows: the stream stops, naming the version, unless told to skip it.
	write(table.Overwrite, 9)
	write(table.Append, 10)
	if _, err := src.Changes(ctx, v0+2, v0+4); !errors.Is(err, ErrChangeCommit) {
		t.Fatalf("overwrite: %v, want ErrChangeCommit", err)
	}
	skip, err := OpenDelta(ctx, tbl, DeltaOptions{SkipChangeCommits: true})
	if err != nil {
		t.Fatal(err)
	}
	got, err = skip.Changes(ctx, v0+2, v0+4)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !got[0].Skipped || len(got[0].Files) != 0 || got[1].Skipped || len(got[1].Files) != 1 {
		t.Fatalf("skipping changes: %+v", got)
	}
	if rows := readIDs(t, skip, got[1]); len(rows) != 1 || rows[0] != 10 {
		t.Fatalf("the last version added %v", rows)
	}
}
