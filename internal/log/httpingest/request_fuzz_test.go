package httpingest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/stratalake/strata/internal/log"
	"github.com/stratalake/strata/internal/log/embedded"
	"github.com/stratalake/strata/internal/log/httpingest"
)

// expectedObjects splits a body the way the endpoint's documentation says, independently of the
// parser: the elements of a JSON array, or the non-blank lines of NDJSON; each is the record
// value it must become (its text as sent, without surrounding blanks). ok is false when the split
// cannot be done (the array is not valid JSON), in which case the request must be refused.
func expectedObjects(body []byte, array bool) (values [][]byte, ok bool) {
	if array {
		var elems []json.RawMessage
		if err := json.Unmarshal(body, &elems); err != nil {
			return nil, false
		}
		for _, e := range elems {
			values = append(values, bytes.TrimSpace(e))
		}
		return values, true
	}
	for line := range bytes.SplitSeq(body, []byte{'\n'}) {
		if v := bytes.TrimSpace(bytes.TrimRight(line, "\r")); len(v) > 0 {
			values = append(values, v)
		}
	}
	return values, true
}

// keyOf is the documented key of an object: a string field as is, any other scalar as its JSON
// text; ok is false when the field is missing, null, an object or an array.
func keyOf(value []byte, field string) (key []byte, ok bool) {
	var obj map[string]json.RawMessage
	if json.Unmarshal(value, &obj) != nil {
		return nil, false
	}
	raw, found := obj[field]
	raw = bytes.TrimSpace(raw)
	if !found || len(raw) == 0 || string(raw) == "null" || raw[0] == '{' || raw[0] == '[' {
		return nil, false
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return nil, false
		}
		return []byte(s), true
	}
	return raw, true
}

// FuzzRequest posts arbitrary bodies to the ingest handler over a real embedded log. The handler
// never panics; it answers 200 or a 4xx whose JSON body has an error message (a 400 for
// malformed objects lists each problem with a 1-based line and column and counts them); a refused
// request writes nothing; an accepted one writes exactly one record per object of the body, in
// order, whose value is the object's text and whose key follows key_field. Parse agrees with the
// handler.
func FuzzRequest(f *testing.F) {
	for _, s := range []struct {
		body              string
		json              bool
		keyField, tsField string
	}{
		{`{"a":1}` + "\n" + `{"a":2}` + "\n", false, "", ""},
		{"\r\n  \n" + `  {"id":"x","ts":"2024-01-02T03:04:05Z"}` + "\r\n", false, "id", "ts"},
		{`{"id":7,"ts":1700000000000}` + "\n" + `{"id":true,"ts":"2024-01-02 03:04:05"}`, false, "id", "ts"},
		{`[{"a":1}, {"a":2},` + "\n" + `{"b":[1,2]}]`, false, "", ""},
		{` {"a":1}`, true, "a", ""},
		{`[]`, true, "", ""},
		{``, false, "", ""},
		{`{"a":1}` + "\n" + `{"a":` + "\n" + `[1]` + "\n" + `"s"`, false, "", ""},
		{`{"id":null}` + "\n" + `{"id":{"x":1}}` + "\n" + `{"ts":"yesterday"}`, false, "id", "ts"},
		{`[{"a":1} {"a":2}]`, false, "", ""},
		{`[{"a":1}] trailing`, false, "", ""},
		{`[1, "x", null]`, true, "", ""},
		{"{\"a\":\"\xff\"}", false, "a", ""},
		{`{"a":1,"a":2}`, false, "a", ""},
	} {
		f.Add([]byte(s.body), s.json, s.keyField, s.tsField)
	}
	ctx := context.Background()
	l, err := embedded.Open(ctx, f.TempDir(), embedded.CleanInterval(0))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { l.Close() })
	if err := l.CreateTopic(ctx, "events", log.TopicConfig{Partitions: 1}); err != nil {
		f.Fatal(err)
	}
	h := httpingest.New(l, httpingest.Options{MaxBodyBytes: 1 << 20, MaxErrors: 3})
	f.Fuzz(func(t *testing.T, body []byte, asJSON bool, keyField, tsField string) {
		_, end, err := l.Offsets(ctx, "events", 0)
		if err != nil {
			t.Fatal(err)
		}
		q := url.Values{}
		if keyField != "" {
			q.Set("key_field", keyField)
		}
		if tsField != "" {
			q.Set("timestamp_field", tsField)
		}
		req := httptest.NewRequest(http.MethodPost, "/v1/topics/events/records?"+q.Encode(), bytes.NewReader(body))
		ct := "application/x-ndjson"
		if asJSON {
			ct = "application/json"
		}
		req.Header.Set("Content-Type", ct)
		rw := httptest.NewRecorder()
		h.ServeHTTP(rw, req)

		array := httpingest.IsJSONArray(ct, body)
		recs, problems, rejected := httpingest.Parse(body, httpingest.ParseOptions{Array: array, KeyField: keyField, TimestampField: tsField, MaxProblems: 3})
		if (rejected > 0) != (len(problems) > 0) || len(problems) > 3 || len(problems) > rejected {
			t.Fatalf("Parse: %d problems listed for %d rejected", len(problems), rejected)
		}
		_, after, err := l.Offsets(ctx, "events", 0)
		if err != nil {
			t.Fatal(err)
		}
		if rw.Code != http.StatusOK {
			if rw.Code < 400 || rw.Code > 499 {
				t.Fatalf("status %d for body %q: %s", rw.Code, body, rw.Body.Bytes())
			}
			var er httpingest.ErrorResponse
			if err := json.Unmarshal(rw.Body.Bytes(), &er); err != nil || er.Error == "" {
				t.Fatalf("status %d answer %q is not an error with a message (%v)", rw.Code, rw.Body.Bytes(), err)
			}
			if er.Rejected != rejected || len(er.Problems) != len(problems) {
				t.Fatalf("answer rejects %d listing %d, Parse rejects %d listing %d", er.Rejected, len(er.Problems), rejected, len(problems))
			}
			for _, p := range er.Problems {
				if p.Line < 1 || p.Column < 1 || p.Message == "" {
					t.Fatalf("problem without position or message: %+v", p)
				}
			}
			if rejected == 0 && len(recs) > 0 {
				t.Fatalf("status %d (%s) for a body Parse accepts with %d records", rw.Code, er.Error, len(recs))
			}
			if after != end {
				t.Fatalf("refused request wrote %d records", after-end)
			}
			return
		}
		if rejected > 0 {
			t.Fatalf("200 for a body Parse rejects: %+v", problems)
		}
		values, ok := expectedObjects(body, array)
		if !ok {
			t.Fatalf("200 for an array body that is not valid JSON: %q", body)
		}
		var resp httpingest.Response
		if err := json.Unmarshal(rw.Body.Bytes(), &resp); err != nil || resp.Records != len(values) {
			t.Fatalf("answer %s for %d objects (%v)", rw.Body.Bytes(), len(values), err)
		}
		if after-end != int64(len(values)) {
			t.Fatalf("log grew by %d records for %d objects", after-end, len(values))
		}
		var got []log.Record
		for off := end; off < after; {
			rs, err := l.Fetch(ctx, "events", 0, off, log.FetchOptions{MaxBytes: 1 << 22})
			if err != nil || len(rs) == 0 {
				t.Fatalf("Fetch at %d: %d records, %v", off, len(rs), err)
			}
			got = append(got, rs...)
			off = rs[len(rs)-1].Offset + 1
		}
		for i, v := range values {
			if !bytes.Equal(got[i].Value, v) {
				t.Fatalf("record %d: value %q, want %q", i, got[i].Value, v)
			}
			if !bytes.Equal(got[i].Value, recs[i].Value) {
				t.Fatalf("record %d: stored %q, Parse says %q", i, got[i].Value, recs[i].Value)
			}
			if tsField != "" && got[i].Timestamp.UnixMilli() != recs[i].Timestamp.UnixMilli() {
				t.Fatalf("record %d: timestamp %v, Parse says %v", i, got[i].Timestamp, recs[i].Timestamp)
			}
			if keyField != "" {
				if k, ok := keyOf(v, keyField); !ok || !bytes.Equal(got[i].Key, k) {
					t.Fatalf("record %d: key %q, want %q (documented: %v)", i, got[i].Key, k, ok)
				}
			}
		}
	})
}
