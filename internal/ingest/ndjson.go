package ingest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
)

// The NDJSON reader splits lines itself and checks each with encoding/json (json.Valid, and
// json.Unmarshal for the offset of a syntax error), then walks the valid text (jsonscan.go)
// converting values straight to the target types. arrow-go's array.JSONReader was not used: it
// reports neither line nor column, stops the whole read at the first bad line, leaves a half
// appended row in its builders when a line fails midway, reads numbers for decimal columns
// through float64, and rejects keys that differ from the schema only in case.

// ndjsonReader reads an NDJSON file in a target schema.
type ndjsonReader struct {
	*batchState
	in      *inputFile
	lr      *lineReader
	rowConv *structConv // the target schema as one struct: a line is one of its values
	cell    cell
}

func openNDJSON(file string, target *arrow.Schema, o Options) (*ndjsonReader, error) {
	sc, err := newStructConv("struct", target.Fields())
	if err != nil {
		return nil, fmt.Errorf("ingest: %s: %w", file, err)
	}
	in, err := openText(file)
	if err != nil {
		return nil, err
	}
	if isJSONArrayDocument(in.Reader) {
		in.Close()
		return nil, errJSONArrayDocument(file)
	}
	return &ndjsonReader{batchState: newBatchState(file, target, o), in: in,
		lr: newLineReader(in.Reader, o.MaxLineBytes), rowConv: sc}, nil
}

// isJSONArrayDocument peeks at the first non-blank byte.
func isJSONArrayDocument(r *bufio.Reader) bool {
	b, _ := r.Peek(4096)
	i := skipWS(b, 0)
	return i < len(b) && b[i] == '['
}

func (r *ndjsonReader) Schema() *arrow.Schema { return r.target }
func (r *ndjsonReader) Stats() Stats          { return r.stats }

func (r *ndjsonReader) Close() error {
	r.release()
	if r.in != nil {
		err := r.in.Close()
		r.in = nil
		return err
	}
	return nil
}

func (r *ndjsonReader) Next(ctx context.Context) (arrow.RecordBatch, error) {
	if r.err != nil {
		return nil, r.err
	}
	if r.rb == nil {
		return nil, fmt.Errorf("ingest: %s: read after close", r.file)
	}
	for n := 0; !r.full(); n++ {
		if n%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		line, lineNo, tooLong, err := r.lr.next()
		if err == io.EOF {
			r.err = io.EOF
			break
		}
		if err != nil {
			r.err = fmt.Errorf("ingest: %s:%d: %w", r.file, lineNo, err)
			return nil, r.err
		}
		raw := trimJSONSpace(line)
		if len(raw) == 0 && !tooLong {
			continue // blank lines are not records
		}
		r.stats.RowsRead++
		row := r.row
		r.row++
		if e := r.convert(raw, lineNo, row, tooLong); e != nil {
			if err := r.reject(ctx, e, string(line)); err != nil {
				r.err = err
				return nil, err
			}
			continue
		}
		for i, f := range r.rowConv.fields {
			f.put(r.rb.Field(i), &r.cell.kids[i])
		}
		r.rows++
		r.bytes += len(line)
	}
	if rec := r.flush(); rec != nil {
		return rec, nil
	}
	return nil, r.err
}

// convert checks one line and converts it into r.cell.
func (r *ndjsonReader) convert(raw []byte, lineNo, row int64, tooLong bool) *RecordError {
	value := string(raw)
	if tooLong {
		value += "..." // only a prefix was kept
	}
	bad := func(kind ErrorKind, col int, reason string) *RecordError {
		return &RecordError{File: r.file, Line: lineNo, Row: row, Column: col, Kind: kind,
			Value: truncate(value), Reason: reason}
	}
	switch {
	case tooLong:
		return bad(KindSyntax, 0, fmt.Sprintf("line longer than %d bytes", r.opts.MaxLineBytes))
	case !utf8.Valid(raw):
		return bad(KindEncoding, 0, "invalid UTF-8")
	case !json.Valid(raw):
		var v json.RawMessage
		err := json.Unmarshal(raw, &v)
		var se *json.SyntaxError
		col := 0
		if errors.As(err, &se) {
			col = int(se.Offset)
		}
		return bad(KindSyntax, col, fmt.Sprintf("malformed JSON: %v", err))
	case raw[0] != '{':
		return bad(KindSyntax, 1, "line is not a JSON object")
	}
	if ce := r.rowConv.json(raw, &r.cell); ce != nil {
		col := 0
		if len(ce.path) > 0 {
			if i, ok := r.rowConv.lookup(ce.path[0]); ok {
				col = i + 1
			}
		}
		return recordError(r.file, lineNo, row, col, "", ce)
	}
	return nil
}

// lineReader splits a stream into lines, numbering them from 1 and bounding their length.
type lineReader struct {
	r    *bufio.Reader
	max  int
	line int64
	buf  []byte
}

func newLineReader(r *bufio.Reader, max int) *lineReader {
	return &lineReader{r: r, max: max}
}

// next returns the next line without its line ending ("\n" or "\r\n"), its number, and whether
// its content was longer than the bound (then only the first max bytes are returned and the
// rest is skipped). The returned slice is valid until the next call. At the end it returns
// io.EOF.
func (l *lineReader) next() (line []byte, lineNo int64, tooLong bool, err error) {
	l.buf = l.buf[:0]
	over := false // the line has more than max+2 bytes: too long whatever its ending
	for {
		chunk, err := l.r.ReadSlice('\n')
		if !over {
			if room := l.max + 2 - len(l.buf); len(chunk) > room {
				l.buf = append(l.buf, chunk[:room]...)
				over = true
			} else {
				l.buf = append(l.buf, chunk...)
			}
		}
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF:
			if len(l.buf) == 0 {
				return nil, l.line + 1, false, io.EOF
			}
		case err != nil:
			return nil, l.line + 1, false, err
		}
		l.line++
		b := l.buf
		if !over {
			b = bytes.TrimSuffix(b, []byte("\n"))
			b = bytes.TrimSuffix(b, []byte("\r"))
		}
		if over || len(b) > l.max {
			return b[:l.max], l.line, true, nil
		}
		return b, l.line, false, nil
	}
}

// trimJSONSpace trims JSON whitespace around a line.
func trimJSONSpace(b []byte) []byte {
	i := skipWS(b, 0)
	j := len(b)
	for j > i {
		switch b[j-1] {
		case ' ', '\t', '\n', '\r':
			j--
			continue
		}
		break
	}
	return b[i:j]
}
