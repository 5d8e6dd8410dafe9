package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/klauspost/compress/zstd"
)

// nullable and required make schema fields tersely.
func nullable(name string, t arrow.DataType) arrow.Field {
	return arrow.Field{Name: name, Type: t, Nullable: true}
}

func required(name string, t arrow.DataType) arrow.Field {
	return arrow.Field{Name: name, Type: t}
}

func schemaOf(fields ...arrow.Field) *arrow.Schema { return arrow.NewSchema(fields, nil) }

var (
	tsUTC = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	tsNTZ = &arrow.TimestampType{Unit: arrow.Microsecond}
	dec38 = &arrow.Decimal128Type{Precision: 38, Scale: 0}
)

// result is what reading a whole file gave.
type result struct {
	rows    []string // each row as a JSON object
	batches []int    // rows per batch
	stats   Stats
	err     error
}

// readFile opens path and reads it to the end (or the first error), checking that every batch
// has exactly the target schema and that no Arrow memory leaks.
func readFile(t *testing.T, path string, target *arrow.Schema, opts Options) result {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	opts.Allocator = mem
	ctx := context.Background()
	r, err := Open(ctx, path, target, opts)
	if err != nil {
		return result{err: err}
	}
	defer r.Close()
	var res result
	for {
		rec, err := r.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			res.err = err
			break
		}
		if !rec.Schema().Equal(target) {
			t.Fatalf("batch schema %v, want %v", rec.Schema(), target)
		}
		if rec.NumRows() == 0 {
			t.Fatalf("empty batch")
		}
		res.batches = append(res.batches, int(rec.NumRows()))
		for i := 0; i < int(rec.NumRows()); i++ {
			res.rows = append(res.rows, rowJSON(rec, i))
		}
		rec.Release()
	}
	res.stats = r.Stats()
	if res.err == nil {
		if got := res.stats.RowsEmitted + res.stats.RowsQuarantined; got != res.stats.RowsRead {
			t.Errorf("stats %+v: emitted + quarantined != read", res.stats)
		}
		if int64(len(res.rows)) != res.stats.RowsEmitted {
			t.Errorf("stats %+v: %d rows seen", res.stats, len(res.rows))
		}
	}
	return res
}

// writeTemp writes content to name in a fresh temporary directory and returns its path.
func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// compressCopy writes src compressed (".gz" or ".zst") to a temporary file named after src.
func compressCopy(t *testing.T, src, ext string) string {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	switch ext {
	case ".gz":
		zw := gzip.NewWriter(&buf)
		zw.Write(data)
		zw.Close()
	case ".zst":
		zw, _ := zstd.NewWriter(&buf)
		zw.Write(data)
		zw.Close()
	}
	p := filepath.Join(t.TempDir(), filepath.Base(src)+ext)
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// memQuarantine keeps rejected records in memory.
type memQuarantine struct{ got []Rejected }

func (m *memQuarantine) Write(_ context.Context, r Rejected) error {
	m.got = append(m.got, r)
	return nil
}

// readRejects parses a FileQuarantine's lines.
func readRejects(t *testing.T, path string) []rejectedLine {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []rejectedLine
	for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var r rejectedLine
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("quarantine line %q: %v", line, err)
		}
		out = append(out, r)
	}
	return out
}

func newGzipWriter(w io.Writer) *gzip.Writer { return gzip.NewWriter(w) }

func readString(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
