package ingest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
)

var benchTarget = schemaOf(
	required("id", arrow.PrimitiveTypes.Int64),
	nullable("name", arrow.BinaryTypes.String),
	nullable("amount", &arrow.Decimal128Type{Precision: 12, Scale: 2}),
	nullable("score", arrow.PrimitiveTypes.Float64),
	nullable("at", tsUTC),
	nullable("ok", arrow.FixedWidthTypes.Boolean),
)

// benchFile writes n rows of benchTarget's shape as CSV or NDJSON.
func benchFile(b *testing.B, format Format, n int) string {
	b.Helper()
	path := filepath.Join(b.TempDir(), "bench."+string(format))
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	if format == FormatCSV {
		fmt.Fprintln(w, "id,name,amount,score,at,ok")
	}
	for i := 0; i < n; i++ {
		at := fmt.Sprintf("2024-%02d-%02d %02d:%02d:%02d.%06d", i%12+1, i%28+1, i%24, i%60, i%60, i%1000000)
		if format == FormatCSV {
			fmt.Fprintf(w, "%d,customer number %d,%d.%02d,%g,%s,%t\n", i, i, i%100000, i%100, float64(i)/7, at, i%2 == 0)
		} else {
			fmt.Fprintf(w, `{"id": %d, "name": "customer number %d", "amount": %d.%02d, "score": %g, "at": %q, "ok": %t}`+"\n",
				i, i, i%100000, i%100, float64(i)/7, at, i%2 == 0)
		}
	}
	w.Flush()
	f.Close()
	return path
}

func benchRead(b *testing.B, format Format) {
	const n = 100_000
	path := benchFile(b, format, n)
	st, _ := os.Stat(path)
	b.SetBytes(st.Size())
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r, err := Open(context.Background(), path, benchTarget, Options{})
		if err != nil {
			b.Fatal(err)
		}
		for {
			rec, err := r.Next(context.Background())
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			rec.Release()
		}
		if r.Stats().RowsEmitted != n {
			b.Fatalf("stats %+v", r.Stats())
		}
		r.Close()
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
}

func BenchmarkReadCSV(b *testing.B)    { benchRead(b, FormatCSV) }
func BenchmarkReadNDJSON(b *testing.B) { benchRead(b, FormatNDJSON) }
