package cli

import (
	"bytes"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/dustin/go-humanize"

	"github.com/stratalake/strata/internal/parquetio"
)

func newTabWriter(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0) }

func humanBytes(n int64) string { return humanize.IBytes(uint64(max(n, 0))) }

// writeRows renders the reader's rows in format (table, csv, ndjson, parquet), stopping after limit
// rows when limit > 0. It returns the number of rows written.
func writeRows(w io.Writer, r array.RecordReader, format string, limit int64) (int64, error) {
	if limit > 0 {
		r = &limitReader{RecordReader: r, left: limit}
	}
	switch format {
	case "parquet":
		return parquetio.WriteStream(w, r)
	case "csv":
		cw := csv.NewWriter(w)
		header := make([]string, r.Schema().NumFields())
		for i, f := range r.Schema().Fields() {
			header[i] = f.Name
		}
		if err := cw.Write(header); err != nil {
			return 0, err
		}
		var n int64
		for r.Next() {
			rec := r.RecordBatch()
			row := make([]string, rec.NumCols())
			for i := 0; i < int(rec.NumRows()); i++ {
				for c := range row {
					row[c] = textValue(rec.Column(c), i, "")
				}
				if err := cw.Write(row); err != nil {
					return n, err
				}
				n++
			}
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			return n, err
		}
		return n, r.Err()
	case "ndjson", "json":
		var n int64
		bw := &bytes.Buffer{}
		for r.Next() {
			rec := r.RecordBatch()
			for i := 0; i < int(rec.NumRows()); i++ {
				bw.Reset()
				bw.WriteByte('{')
				for c, f := range rec.Schema().Fields() {
					if c > 0 {
						bw.WriteByte(',')
					}
					k, _ := json.Marshal(f.Name)
					bw.Write(k)
					bw.WriteByte(':')
					v, err := json.Marshal(jsonValue(rec.Column(c), i))
					if err != nil {
						return n, err
					}
					bw.Write(v)
				}
				bw.WriteString("}\n")
				if _, err := w.Write(bw.Bytes()); err != nil {
					return n, err
				}
				n++
			}
		}
		return n, r.Err()
	case "table":
		tw := newTabWriter(w)
		names := make([]string, r.Schema().NumFields())
		for i, f := range r.Schema().Fields() {
			names[i] = f.Name
		}
		fmt.Fprintln(tw, strings.Join(names, "\t"))
		var n int64
		for r.Next() {
			rec := r.RecordBatch()
			row := make([]string, rec.NumCols())
			for i := 0; i < int(rec.NumRows()); i++ {
				for c := range row {
					row[c] = strings.NewReplacer("\t", " ", "\n", " ").Replace(textValue(rec.Column(c), i, "NULL"))
				}
				fmt.Fprintln(tw, strings.Join(row, "\t"))
				n++
			}
		}
		if err := tw.Flush(); err != nil {
			return n, err
		}
		fmt.Fprintf(w, "(%d rows)\n", n)
		return n, r.Err()
	}
	return 0, usageError{fmt.Errorf("unknown format %q (want table, csv, ndjson or parquet)", format)}
}

// limitReader stops a RecordReader after a number of rows.
type limitReader struct {
	array.RecordReader
	left int64
	cur  arrow.RecordBatch
}

func (l *limitReader) Next() bool {
	if l.cur != nil {
		l.cur.Release()
		l.cur = nil
	}
	if l.left <= 0 || !l.RecordReader.Next() {
		return false
	}
	rec := l.RecordReader.RecordBatch()
	if rec.NumRows() > l.left {
		l.cur = rec.NewSlice(0, l.left)
		l.left = 0
		return true
	}
	l.left -= rec.NumRows()
	rec.Retain()
	l.cur = rec
	return true
}

func (l *limitReader) RecordBatch() arrow.RecordBatch { return l.cur }
func (l *limitReader) Record() arrow.RecordBatch      { return l.cur }

// textValue renders one value for human and CSV output.
func textValue(a arrow.Array, i int, null string) string {
	if a.IsNull(i) {
		return null
	}
	switch a := a.(type) {
	case *array.Timestamp:
		return formatTimestamp(a, i)
	case *array.Date32:
		return a.Value(i).FormattedString()
	case *array.Binary:
		return "\\x" + fmt.Sprintf("%X", a.Value(i))
	case *array.Decimal128:
		return a.Value(i).ToString(a.DataType().(*arrow.Decimal128Type).Scale)
	case *array.Float64:
		return strconv.FormatFloat(a.Value(i), 'g', -1, 64)
	case *array.Float32:
		return strconv.FormatFloat(float64(a.Value(i)), 'g', -1, 32)
	case *array.String:
		return a.Value(i)
	case *array.Struct, *array.List, *array.Map:
		b, _ := json.Marshal(jsonValue(a, i))
		return string(b)
	}
	return a.ValueStr(i)
}

func formatTimestamp(a *array.Timestamp, i int) string {
	t := a.DataType().(*arrow.TimestampType)
	tm := a.Value(i).ToTime(t.Unit).UTC()
	layout := "2006-01-02 15:04:05.999999"
	if t.TimeZone != "" {
		return tm.Format(layout) + "Z"
	}
	return tm.Format(layout)
}

// jsonValue converts one value to what encoding/json renders well: numbers stay numbers (decimals
// as exact JSON numbers), timestamps become RFC 3339 strings, binary base64, nested types objects
// and arrays.
func jsonValue(a arrow.Array, i int) any {
	if a.IsNull(i) {
		return nil
	}
	switch a := a.(type) {
	case *array.Timestamp:
		t := a.DataType().(*arrow.TimestampType)
		tm := a.Value(i).ToTime(t.Unit).UTC()
		if t.TimeZone != "" {
			return tm.Format(time.RFC3339Nano)
		}
		return tm.Format("2006-01-02T15:04:05.999999")
	case *array.Date32:
		return a.Value(i).FormattedString()
	case *array.Decimal128:
		return json.Number(a.Value(i).ToString(a.DataType().(*arrow.Decimal128Type).Scale))
	case *array.Binary:
		return base64.StdEncoding.EncodeToString(a.Value(i))
	case *array.Struct:
		out := map[string]any{}
		st := a.DataType().(*arrow.StructType)
		for f := 0; f < a.NumField(); f++ {
			out[st.Field(f).Name] = jsonValue(a.Field(f), i)
		}
		return out
	case *array.Map:
		start, end := a.ValueOffsets(i)
		keys, items := a.Keys(), a.Items()
		out := map[string]any{}
		for j := int(start); j < int(end); j++ {
			out[textValue(keys, j, "null")] = jsonValue(items, j)
		}
		return out
	case *array.List:
		start, end := a.ValueOffsets(i)
		vals := a.ListValues()
		out := make([]any, 0, end-start)
		for j := int(start); j < int(end); j++ {
			out = append(out, jsonValue(vals, j))
		}
		return out
	case *array.Float64:
		f := a.Value(i)
		if f != f || f > 1.7976931348623157e308 || f < -1.7976931348623157e308 {
			return strconv.FormatFloat(f, 'g', -1, 64) // NaN and infinities have no JSON number
		}
		return f
	case *array.Float32:
		f := float64(a.Value(i))
		if f != f || f > 3.4028234663852886e38 || f < -3.4028234663852886e38 {
			return strconv.FormatFloat(f, 'g', -1, 32)
		}
		return json.Number(strconv.FormatFloat(f, 'g', -1, 32))
	}
	return a.GetOneForMarshal(i)
}
