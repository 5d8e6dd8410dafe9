package ingest

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
)

// fuzzRead reads path with a quarantine and returns the stats and the rejects; it fails the
// test on any error other than a whole-file one from Open.
func fuzzRead(t *testing.T, path string, target *arrow.Schema, opts Options) (Stats, []Rejected, bool) {
	t.Helper()
	q := &memQuarantine{}
	opts.Quarantine = q
	r, err := Open(context.Background(), path, target, opts)
	if err != nil {
		return Stats{}, nil, false
	}
	defer r.Close()
	for {
		rec, err := r.Next(context.Background())
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("Next with a quarantine: %v", err)
		}
		if !rec.Schema().Equal(target) {
			t.Fatalf("schema %v", rec.Schema())
		}
		rec.Release()
	}
	st := r.Stats()
	if st.RowsRead != st.RowsEmitted+st.RowsQuarantined || int64(len(q.got)) != st.RowsQuarantined {
		t.Fatalf("stats %+v with %d rejects", st, len(q.got))
	}
	return st, q.got, true
}

// checkStrict reads path strictly: it must succeed exactly when the quarantined read had no
// rejects, and otherwise stop at the first reject's record.
func checkStrict(t *testing.T, path string, target *arrow.Schema, opts Options, rejects []Rejected) {
	t.Helper()
	res := readFile(t, path, target, opts)
	if len(rejects) == 0 {
		if res.err != nil {
			t.Fatalf("strict read failed where the quarantine got nothing: %v", res.err)
		}
		return
	}
	var re *RecordError
	if !errors.As(res.err, &re) {
		t.Fatalf("strict read: %v, want a RecordError like %+v", res.err, rejects[0])
	}
	if re.Line != rejects[0].Line || re.Reason != rejects[0].Reason {
		t.Fatalf("strict read stopped at %+v, the quarantine first got %+v", re, rejects[0])
	}
}

func FuzzCSV(f *testing.F) {
	for _, p := range []string{"testdata/malformed.csv", "testdata/orders.csv", "testdata/types.csv"} {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("a,b,c\n1,\"x\ny\",2\n\"unterminated\n"))
	f.Add([]byte("a,b,c\n\r\n1,2,3\r\n,,\n"))
	f.Fuzz(fuzzCSVOne)
}

var fuzzCSVTarget = schemaOf(required("a", arrow.PrimitiveTypes.Int64), nullable("b", arrow.BinaryTypes.String),
	nullable("c", &arrow.Decimal128Type{Precision: 12, Scale: 3}))

// fuzzCSVOne checks one input of FuzzCSV.
func fuzzCSVOne(t *testing.T, data []byte) {
	target := fuzzCSVTarget
	{
		dir := t.TempDir()
		// 1. A fixed header and schema: every record is emitted or quarantined, in order.
		path := filepath.Join(dir, "f.csv")
		body := append([]byte("a,b,c\n"), data...)
		os.WriteFile(path, body, 0o644)
		st, rejects, ok := fuzzRead(t, path, target, Options{BatchRows: 3})
		if !ok {
			t.Fatalf("Open failed on a file with a good header")
		}
		// encoding/csv, run directly, counts the same records (a bad one counts once).
		cr := csv.NewReader(bytes.NewReader(body))
		cr.FieldsPerRecord = -1
		records := int64(-1) // the header
		for {
			_, err := cr.Read()
			if err == io.EOF {
				break
			}
			var pe *csv.ParseError
			if err != nil && !errors.As(err, &pe) {
				t.Fatal(err)
			}
			records++
		}
		if st.RowsRead != records {
			t.Fatalf("read %d records, encoding/csv sees %d", st.RowsRead, records)
		}
		lines := int64(bytes.Count(body, []byte("\n")) + 1)
		var last int64
		for _, r := range rejects {
			if r.Line <= last || r.Line > lines || r.Reason == "" || r.Kind == "" {
				t.Fatalf("reject %+v after line %d (file has %d lines)", r, last, lines)
			}
			last = r.Line
		}
		checkStrict(t, path, target, Options{BatchRows: 3}, rejects)

		// 2. The fuzzed file as is, read with the schema inferred from it.
		raw := filepath.Join(dir, "g.csv")
		os.WriteFile(raw, data, 0o644)
		sc, err := InferSchema(context.Background(), []string{raw}, Options{SampleRows: -1})
		if err != nil {
			return
		}
		_, rejects, ok = fuzzRead(t, raw, sc, Options{})
		if !ok {
			t.Fatalf("Open refused the schema inferred from the same file")
		}
		for _, r := range rejects {
			if r.Kind != KindSyntax && r.Kind != KindFieldCount && r.Kind != KindEncoding {
				t.Fatalf("inferred schema %v rejects %+v", sc, r)
			}
		}
	}
}

func FuzzNDJSON(f *testing.F) {
	for _, p := range []string{"testdata/malformed.ndjson", "testdata/events.ndjson"} {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"a": 1, "s": {"x": [1, 2.5e3]}, "l": [{"y": "z"}], "m": {"k": 1}}` + "\n\n" + `{"A": null}` + "\r\n"))
	f.Add([]byte("{\"b\": \"\\u00e9\\\"\"}\n{\"a\": 1e400}\n{"))
	f.Fuzz(fuzzNDJSONOne)
}

var fuzzNDJSONTarget = schemaOf(
	nullable("a", arrow.PrimitiveTypes.Int64),
	nullable("b", arrow.BinaryTypes.String),
	nullable("d", &arrow.Decimal128Type{Precision: 10, Scale: 2}),
	nullable("s", arrow.StructOf(nullable("x", arrow.ListOf(arrow.PrimitiveTypes.Float64)))),
	nullable("l", arrow.ListOf(arrow.StructOf(nullable("y", arrow.BinaryTypes.String)))),
	nullable("m", arrow.MapOf(arrow.BinaryTypes.String, arrow.PrimitiveTypes.Int32)),
	nullable("t", tsUTC),
)

// fuzzNDJSONOne checks one input of FuzzNDJSON.
func fuzzNDJSONOne(t *testing.T, data []byte) {
	target := fuzzNDJSONTarget
	{
		if len(bytes.TrimLeft(data, " \t\r\n")) > 0 && bytes.TrimLeft(data, " \t\r\n")[0] == '[' {
			return // a JSON array document: refused by Open, tested elsewhere
		}
		dir := t.TempDir()
		path := filepath.Join(dir, "f.ndjson")
		os.WriteFile(path, data, 0o644)
		st, rejects, ok := fuzzRead(t, path, target, Options{BatchRows: 3, MaxLineBytes: 256})
		if !ok {
			t.Fatalf("Open failed")
		}
		// Every non-blank line is one record: emitted, or quarantined with that very line.
		lines := bytes.Split(data, []byte("\n"))
		var nonBlank int64
		for _, l := range lines {
			if len(trimJSONSpace(l)) > 0 {
				nonBlank++
			}
		}
		if st.RowsRead != nonBlank {
			t.Fatalf("read %d records, the input has %d non-blank lines", st.RowsRead, nonBlank)
		}
		var last int64
		for _, r := range rejects {
			if r.Line <= last || r.Line > int64(len(lines)) || r.Reason == "" {
				t.Fatalf("reject %+v after line %d", r, last)
			}
			want := string(bytes.TrimSuffix(lines[r.Line-1], []byte("\r")))
			if len(want) > 256 {
				want = want[:256]
			}
			if r.Raw != want {
				t.Fatalf("reject of line %d has raw %q, the line is %q", r.Line, r.Raw, want)
			}
			last = r.Line
		}
		checkStrict(t, path, target, Options{BatchRows: 3, MaxLineBytes: 256}, rejects)

		// The schema inferred from the file knows every key in it.
		sc, err := InferSchema(context.Background(), []string{path}, Options{SampleRows: -1})
		if err != nil {
			return
		}
		_, rejects, ok = fuzzRead(t, path, sc, Options{})
		if !ok {
			t.Fatalf("Open refused the schema inferred from the same file")
		}
		for _, r := range rejects {
			if r.Kind == KindUnknownField {
				t.Fatalf("inferred schema %v rejects %+v", sc, r)
			}
		}
	}
}
