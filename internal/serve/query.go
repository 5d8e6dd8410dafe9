package serve

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"

	"github.com/stratalake/strata/internal/engine"
)

// Result formats of the SQL API.
const (
	formatJSON  = "json"
	formatCSV   = "csv"
	formatArrow = "arrow"
)

// maxQueryTimeout bounds the timeout a request may ask for.
const maxQueryTimeout = 10 * time.Minute

// column is a result column as the API lists it: its name (the key of the rows' objects) and
// its type as DuckDB names it.
type column struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// sqlAnswer is the JSON answer of a query (/api/sql, table rows, endpoints without single).
type sqlAnswer struct {
	Columns   []column          `json:"columns"`
	Rows      []json.RawMessage `json:"rows"`
	RowCount  int               `json:"row_count"`
	Truncated bool              `json:"truncated"`
	ElapsedMS float64           `json:"elapsed_ms"`
}

// rowSet is a query's answer read into memory: its columns and at most limit rows, each a JSON
// object keyed by column name in column order.
type rowSet struct {
	Columns []column
	Rows    []json.RawMessage
	// Truncated is true when the query had more rows than the limit.
	Truncated bool
	Elapsed   time.Duration
	// Scans are the table versions the query read.
	Scans []engine.ScanReport
	// empty[i] is true when every column of row i not named in the exempt set is null.
	empty []bool
}

func (rs *rowSet) answer() sqlAnswer {
	rows := rs.Rows
	if rows == nil {
		rows = []json.RawMessage{}
	}
	return sqlAnswer{Columns: rs.Columns, Rows: rows, RowCount: len(rs.Rows), Truncated: rs.Truncated, ElapsedMS: millis(rs.Elapsed)}
}

// query runs one statement with a timeout and hands its result to fn; the result is released
// after fn. Errors are *apiError: 504 when the timeout expired, 400 with the engine's message
// otherwise (the engine's errors name the problem: a table, a column, a position).
func (s *Server) query(ctx context.Context, sql string, timeout time.Duration, fn func(*engine.Result) error) error {
	qctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res, err := s.opts.Engine.Query(qctx, sql)
	if err == nil && res.Records == nil {
		err = errors.New("the statement returned no rows to read")
	}
	if err == nil {
		err = fn(res)
		if err == nil {
			err = res.Records.Err()
		}
		res.Records.Release()
	}
	if err == nil {
		return nil
	}
	var ae *apiError
	switch {
	case errors.As(err, &ae):
		return err
	case ctx.Err() != nil:
		return errorf(499, "the request was canceled: %v", ctx.Err())
	case errors.Is(qctx.Err(), context.DeadlineExceeded):
		return errorf(http.StatusGatewayTimeout, "the query did not finish within its timeout of %s", timeout)
	}
	return &apiError{code: http.StatusBadRequest, msg: err.Error(), cause: err}
}

// columnsOf lists a schema's columns with unique names: a repeated name gets a suffix _1, _2...
func columnsOf(schema *arrow.Schema) []column {
	out := make([]column, schema.NumFields())
	seen := map[string]bool{}
	for i, f := range schema.Fields() {
		name := f.Name
		for n := 1; seen[name]; n++ {
			name = f.Name + "_" + strconv.Itoa(n)
		}
		seen[name] = true
		out[i] = column{Name: name, Type: columnType(f.Type)}
	}
	return out
}

// readRows reads at most limit rows of a result as JSON objects, then stops reading (one more
// row tells whether the result was truncated). exempt names columns left out of rowSet.empty.
func readRows(res *engine.Result, limit int, exempt map[string]bool) (*rowSet, error) {
	rr := res.Records
	rs := &rowSet{Columns: columnsOf(rr.Schema()), Scans: res.Scans}
	keys := make([][]byte, len(rs.Columns))
	for i, c := range rs.Columns {
		keys[i] = append(appendJSONString(nil, c.Name), ':')
	}
	var buf []byte
read:
	for rr.Next() {
		rec := rr.RecordBatch()
		cols := rec.Columns()
		for r := 0; r < int(rec.NumRows()); r++ {
			if len(rs.Rows) == limit {
				rs.Truncated = true
				break read
			}
			buf = append(buf[:0], '{')
			empty := true
			for c, col := range cols {
				if c > 0 {
					buf = append(buf, ',')
				}
				buf = append(buf, keys[c]...)
				buf = appendJSONValue(buf, col, r)
				if !col.IsNull(r) && !exempt[rs.Columns[c].Name] {
					empty = false
				}
			}
			buf = append(buf, '}')
			rs.Rows = append(rs.Rows, json.RawMessage(bytes.Clone(buf)))
			rs.empty = append(rs.empty, empty)
		}
	}
	return rs, nil
}

// writeCSV writes at most limit rows of a result as CSV with a header line; it returns the rows
// written and whether there were more.
func writeCSV(w io.Writer, res *engine.Result, limit int) (int, bool, error) {
	rr := res.Records
	cw := csv.NewWriter(w)
	cols := columnsOf(rr.Schema())
	header := make([]string, len(cols))
	for i, c := range cols {
		header[i] = c.Name
	}
	if err := cw.Write(header); err != nil {
		return 0, false, err
	}
	n, truncated := 0, false
	rec := make([]string, len(cols))
read:
	for rr.Next() {
		batch := rr.RecordBatch()
		for r := 0; r < int(batch.NumRows()); r++ {
			if n == limit {
				truncated = true
				break read
			}
			for c, col := range batch.Columns() {
				rec[c] = textValue(col, r)
			}
			if err := cw.Write(rec); err != nil {
				return n, false, err
			}
			n++
		}
	}
	cw.Flush()
	return n, truncated, cw.Error()
}

// writeArrow writes at most limit rows of a result as an Arrow IPC stream; it returns the rows
// written and whether there were more.
func writeArrow(w io.Writer, res *engine.Result, limit int) (int, bool, error) {
	rr := res.Records
	iw := ipc.NewWriter(w, ipc.WithSchema(rr.Schema()))
	n, truncated := 0, false
	for rr.Next() {
		rec := rr.RecordBatch()
		rows := int(rec.NumRows())
		if rows == 0 {
			continue
		}
		take := min(rows, limit-n)
		if take < rows {
			truncated = true
		}
		if take > 0 {
			part := rec.NewSlice(0, int64(take))
			err := iw.Write(part)
			part.Release()
			if err != nil {
				return n, false, err
			}
			n += take
		}
		if truncated {
			break
		}
	}
	return n, truncated, iw.Close()
}

// sqlRequest is the body of POST /api/sql (GET takes the same as q, format, limit, timeout_ms).
type sqlRequest struct {
	SQL       string `json:"sql"`
	Format    string `json:"format"`
	Limit     int    `json:"limit"`
	TimeoutMS int64  `json:"timeout_ms"`
}

// parseSQLRequest reads and checks a /api/sql request.
func (s *Server) parseSQLRequest(r *http.Request) (sqlRequest, error) {
	var req sqlRequest
	if r.Method == http.MethodPost {
		dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<20))
		if err := dec.Decode(&req); err != nil {
			return req, errorf(http.StatusBadRequest, "the body must be a JSON object {\"sql\": \"...\", \"format\": \"json|csv|arrow\", \"limit\": N, \"timeout_ms\": N}: %v", err)
		}
	} else {
		q := r.URL.Query()
		req.SQL, req.Format = q.Get("q"), q.Get("format")
		limit, err := queryInt(q.Get("limit"), "limit")
		if err != nil {
			return req, err
		}
		req.Limit = int(max(min(limit, MaxRowsLimit+1), -1))
		if req.TimeoutMS, err = queryInt(q.Get("timeout_ms"), "timeout_ms"); err != nil {
			return req, err
		}
	}
	if strings.TrimSpace(req.SQL) == "" {
		return req, errorf(http.StatusBadRequest, "no SQL given (POST {\"sql\": \"...\"} or GET ?q=...)")
	}
	switch req.Format {
	case "":
		req.Format = formatJSON
	case formatJSON, formatCSV, formatArrow:
	default:
		return req, errorf(http.StatusBadRequest, "format %q is not json, csv or arrow", req.Format)
	}
	if req.Limit < 0 || req.Limit > MaxRowsLimit {
		return req, errorf(http.StatusBadRequest, "limit %d is not between 1 and %d", req.Limit, MaxRowsLimit)
	}
	if req.Limit == 0 {
		req.Limit = s.opts.MaxRows
	}
	if req.TimeoutMS < 0 || time.Duration(req.TimeoutMS)*time.Millisecond > maxQueryTimeout {
		return req, errorf(http.StatusBadRequest, "timeout_ms %d is not between 1 and %d", req.TimeoutMS, maxQueryTimeout.Milliseconds())
	}
	if err := checkReadOnly(req.SQL); err != nil {
		return req, errorf(http.StatusBadRequest, "%s", err.Error())
	}
	return req, nil
}

// handleSQL answers POST /api/sql and GET /api/sql?q=: one read-only statement, its rows as
// JSON ({columns, rows, row_count, truncated, elapsed_ms}), CSV (header line) or an Arrow IPC
// stream. CSV and Arrow answers carry the row count, truncation and time in the headers
// X-Strata-Row-Count, X-Strata-Truncated and X-Strata-Elapsed-Ms.
func (s *Server) handleSQL(w http.ResponseWriter, r *http.Request) {
	req, err := s.parseSQLRequest(r)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	timeout := s.opts.QueryTimeout
	if req.TimeoutMS > 0 {
		timeout = time.Duration(req.TimeoutMS) * time.Millisecond
	}
	s.answerQuery(w, r, req.SQL, req.Format, req.Limit, timeout)
}

// answerQuery runs a query and answers its rows in the format asked.
func (s *Server) answerQuery(w http.ResponseWriter, r *http.Request, sql, format string, limit int, timeout time.Duration) {
	start := time.Now()
	var (
		rs        *rowSet
		body      bytes.Buffer
		n         int
		truncated bool
	)
	err := s.query(r.Context(), sql, timeout, func(res *engine.Result) error {
		var err error
		switch format {
		case formatCSV:
			n, truncated, err = writeCSV(&body, res, limit)
		case formatArrow:
			n, truncated, err = writeArrow(&body, res, limit)
		default:
			rs, err = readRows(res, limit, nil)
		}
		return err
	})
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	elapsed := time.Since(start)
	if rs != nil {
		rs.Elapsed = elapsed
		writeJSON(w, http.StatusOK, rs.answer())
		return
	}
	h := w.Header()
	h.Set("X-Strata-Row-Count", strconv.Itoa(n))
	h.Set("X-Strata-Truncated", strconv.FormatBool(truncated))
	h.Set("X-Strata-Elapsed-Ms", strconv.FormatFloat(millis(elapsed), 'f', 3, 64))
	h.Set("Cache-Control", "no-store")
	if format == formatCSV {
		h.Set("Content-Type", "text/csv; charset=utf-8")
	} else {
		h.Set("Content-Type", "application/vnd.apache.arrow.stream")
	}
	h.Set("Content-Length", strconv.Itoa(body.Len()))
	w.WriteHeader(http.StatusOK)
	if _, err := body.WriteTo(w); err != nil {
		s.logger.Debug("serve: writing the answer failed", "path", r.URL.Path, "err", fmt.Sprint(err))
	}
}

// queryInt parses an integer URL parameter ("" is 0).
func queryInt(v, name string) (int64, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, errorf(http.StatusBadRequest, "%s=%q is not an integer", name, v)
	}
	return n, nil
}
