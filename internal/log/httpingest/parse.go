package httpingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/stratalake/strata/internal/log"
)

// ParseOptions say how JSON objects become records.
type ParseOptions struct {
	// Array reads the input as one JSON array of objects instead of NDJSON.
	Array bool
	// KeyField names the top-level field whose value is the record key ("" for no key).
	KeyField string
	// TimestampField names the field holding the event time ("" for the append time).
	TimestampField string
	// MaxProblems bounds the problems returned (0: 100); rejected counts them all.
	MaxProblems int
}

// Parse turns NDJSON or a JSON array of objects into records (see the package doc for the rules).
// When rejected > 0 the input must be refused whole: problems lists the first of them with
// their line and column, and recs is incomplete.
func Parse(input []byte, o ParseOptions) (recs []log.Record, problems []Problem, rejected int) {
	if o.MaxProblems <= 0 {
		o.MaxProblems = 100
	}
	p := parser{keyField: o.KeyField, timeField: o.TimestampField, maxProblems: o.MaxProblems}
	recs = p.parse(input, o.Array)
	return recs, p.problems, p.rejected
}

// parser turns a request body into records, collecting every problem with its line and column.
type parser struct {
	keyField    string
	timeField   string
	maxProblems int

	problems []Problem
	rejected int
}

func (p *parser) reject(line, col int, format string, args ...any) {
	p.rejected++
	if len(p.problems) < p.maxProblems {
		p.problems = append(p.problems, Problem{Line: line, Column: col, Message: fmt.Sprintf(format, args...)})
	}
}

// parse reads the body as NDJSON or as one JSON array.
func (p *parser) parse(body []byte, array bool) []log.Record {
	if array {
		return p.parseArray(body)
	}
	var recs []log.Record
	line := 0
	for rest := body; len(rest) > 0; {
		line++
		var text []byte
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			text, rest = rest[:i], rest[i+1:]
		} else {
			text, rest = rest, nil
		}
		text = bytes.TrimRight(text, "\r")
		if len(bytes.TrimSpace(text)) == 0 {
			continue
		}
		if !json.Valid(text) {
			col := 1
			var se *json.SyntaxError
			if err := json.Unmarshal(text, new(any)); errors.As(err, &se) {
				// Offset counts the bytes read through the offending one: its 1-based column.
				// At the end of the input the problem is just past it.
				col = int(se.Offset)
				if col >= len(text) && strings.Contains(se.Error(), "unexpected end") {
					col = len(text) + 1
				}
				p.reject(line, max(col, 1), "malformed JSON: %v", err)
			} else {
				p.reject(line, 1, "malformed JSON")
			}
			continue
		}
		if rec, ok := p.record(text, line, 1+len(text)-len(bytes.TrimLeft(text, " \t"))); ok {
			recs = append(recs, rec)
		}
	}
	return recs
}

// parseArray reads a JSON array of objects; lines and columns point into the body.
func (p *parser) parseArray(body []byte) []log.Record {
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('[') {
		line, col := position(body, dec.InputOffset())
		p.reject(line, col, "expected a JSON array of objects")
		return nil
	}
	var recs []log.Record
	for dec.More() {
		start := dec.InputOffset()
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			off := dec.InputOffset()
			var se *json.SyntaxError
			if errors.As(err, &se) {
				off = se.Offset + 1 // the decoder counts the bytes before the offending one
			}
			line, col := position(body, off)
			p.reject(line, col, "malformed JSON: %v", err)
			return nil // the rest of the array cannot be located
		}
		// start is the offset before the separator and blanks; skip them for the position.
		for start < int64(len(body)) && (body[start] == ',' || body[start] == ' ' || body[start] == '\t' || body[start] == '\r' || body[start] == '\n') {
			start++
		}
		line, col := position(body, start)
		if rec, ok := p.record(raw, line, col); ok {
			recs = append(recs, rec)
		}
	}
	if _, err := dec.Token(); err != nil {
		line, col := position(body, dec.InputOffset())
		p.reject(line, col, "malformed JSON array: %v", err)
		return nil
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		line, col := position(body, dec.InputOffset())
		p.reject(line, col, "unexpected data after the JSON array")
	}
	return recs
}

// record validates one JSON value (already well-formed) and makes its record.
func (p *parser) record(text []byte, line, col int) (log.Record, bool) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(text, &obj); err != nil {
		p.reject(line, col, "a record must be a JSON object")
		return log.Record{}, false
	}
	rec := log.Record{Value: append([]byte(nil), bytes.TrimSpace(text)...)}
	if p.keyField != "" {
		raw, ok := obj[p.keyField]
		if !ok || string(raw) == "null" {
			p.reject(line, col, "key field %q is missing or null", p.keyField)
			return log.Record{}, false
		}
		key, ok := scalarText(raw)
		if !ok {
			p.reject(line, col, "key field %q must be a string, number or boolean", p.keyField)
			return log.Record{}, false
		}
		rec.Key = []byte(key)
	}
	if p.timeField != "" {
		raw, ok := obj[p.timeField]
		if !ok || string(raw) == "null" {
			p.reject(line, col, "timestamp field %q is missing or null", p.timeField)
			return log.Record{}, false
		}
		ts, err := parseTime(raw)
		if err != nil {
			p.reject(line, col, "timestamp field %q: %v", p.timeField, err)
			return log.Record{}, false
		}
		rec.Timestamp = ts
	}
	return rec, true
}

// scalarText renders a JSON scalar as a key: strings unquoted, numbers and booleans as written.
func scalarText(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "", false
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", false
		}
		return s, true
	case '{', '[':
		return "", false
	}
	return string(raw), true
}

// parseTime reads RFC 3339 text or epoch milliseconds.
func parseTime(raw json.RawMessage) (time.Time, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999"} {
			if t, err := time.Parse(layout, s); err == nil {
				return t.UTC(), nil
			}
		}
		return time.Time{}, fmt.Errorf("cannot parse %q as an RFC 3339 time", s)
	}
	ms, err := strconv.ParseInt(string(bytes.TrimSpace(raw)), 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("want RFC 3339 text or epoch milliseconds, got %s", raw)
	}
	return time.UnixMilli(ms).UTC(), nil
}

// position converts a byte offset of body into a 1-based line and column.
func position(body []byte, off int64) (line, col int) {
	off = min(max(off, 0), int64(len(body)))
	before := body[:off]
	line = 1 + bytes.Count(before, []byte{'\n'})
	col = int(off) - (bytes.LastIndexByte(before, '\n') + 1) + 1
	return line, col
}
