package httpingest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stratalake/strata/internal/log"
	"github.com/stratalake/strata/internal/log/embedded"
	"github.com/stratalake/strata/internal/log/httpingest"
)

func newServer(t *testing.T) (*httptest.Server, log.Log) {
	t.Helper()
	ctx := context.Background()
	l, err := embedded.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if err := l.CreateTopic(ctx, "events", log.TopicConfig{Partitions: 3}); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/v1/topics/", httpingest.New(l, httpingest.Options{MaxBodyBytes: 1 << 16}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, l
}

func post(t *testing.T, srv *httptest.Server, path, contentType, body string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(srv.URL+path, contentType, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatalf("answer %d is not JSON: %s", resp.StatusCode, data)
	}
	return resp.StatusCode, out
}

// records returns every record of the topic, partition by partition.
func records(t *testing.T, l log.Log, topic string) []log.Record {
	t.Helper()
	ctx := context.Background()
	ti, err := l.DescribeTopic(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	var all []log.Record
	for _, p := range ti.Partitions {
		recs, err := l.Fetch(ctx, topic, p.Partition, p.Earliest, log.FetchOptions{MaxBytes: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, recs...)
	}
	return all
}

func TestIngest(t *testing.T) {
	for _, tc := range []struct {
		name, path, contentType, body string
		status                        int
		records                       int      // records in the topic afterwards
		problems                      []string // "line:column" of each reported problem
		keys                          []string // sorted keys of the written records
		errContains                   string
	}{
		{name: "ndjson", path: "/v1/topics/events/records", contentType: "application/x-ndjson",
			body: "{\"user\":1,\"v\":\"a\"}\n\n{\"user\":2}\r\n{\"user\":3}", status: 200, records: 3},
		{name: "json array", path: "/v1/topics/events/records", contentType: "application/json",
			body: `[{"user":1},{"user":2}]`, status: 200, records: 2},
		{name: "array sniffed without content type", path: "/v1/topics/events/records", contentType: "text/plain",
			body: " \n[{\"user\":1}]", status: 200, records: 1},
		{name: "key field", path: "/v1/topics/events/records?key_field=user", contentType: "application/x-ndjson",
			body: "{\"user\":\"u1\"}\n{\"user\":7}\n", status: 200, records: 2, keys: []string{"7", "u1"}},
		{name: "malformed lines rejected whole", path: "/v1/topics/events/records", contentType: "application/x-ndjson",
			body: "{\"user\":1}\n{\"user\":\n[1,2]\n{\"user\":4}\n{bad}\n", status: 400, records: 0, problems: []string{"2:9", "3:1", "5:2"}},
		{name: "missing key field", path: "/v1/topics/events/records?key_field=user", contentType: "application/x-ndjson",
			body: "{\"user\":1}\n{\"other\":2}\n{\"user\":null}\n", status: 400, records: 0, problems: []string{"2:1", "3:1"}},
		{name: "malformed array", path: "/v1/topics/events/records", contentType: "application/json",
			body: "[{\"a\":1},\n {\"a\":}]", status: 400, records: 0, problems: []string{"2:7"}},
		{name: "array of non-objects", path: "/v1/topics/events/records", contentType: "application/json",
			body: "[{\"a\":1},\n 2]", status: 400, records: 0, problems: []string{"2:2"}},
		{name: "bad timestamp", path: "/v1/topics/events/records?timestamp_field=ts", contentType: "application/x-ndjson",
			body: "{\"ts\":\"2026-01-01T00:00:00Z\"}\n{\"ts\":\"yesterday\"}\n", status: 400, records: 0, problems: []string{"2:1"}},
		{name: "unknown topic", path: "/v1/topics/nope/records", contentType: "application/x-ndjson",
			body: "{\"a\":1}\n", status: 404, errContains: "unknown topic"},
		{name: "bad partition", path: "/v1/topics/events/records?partition=9", contentType: "application/x-ndjson",
			body: "{\"a\":1}\n", status: 404, errContains: "partition"},
		{name: "empty body", path: "/v1/topics/events/records", contentType: "application/x-ndjson",
			body: "\n\n", status: 400, errContains: "no records"},
		{name: "too large", path: "/v1/topics/events/records", contentType: "application/x-ndjson",
			body: strings.Repeat("{\"a\":1}\n", 10000), status: 413, errContains: "larger than"},
		{name: "wrong path", path: "/v1/topics/events", contentType: "application/x-ndjson",
			body: "{\"a\":1}\n", status: 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, l := newServer(t)
			status, out := post(t, srv, tc.path, tc.contentType, tc.body)
			if status != tc.status {
				t.Fatalf("status %d, want %d: %v", status, tc.status, out)
			}
			if tc.errContains != "" && !strings.Contains(out["error"].(string), tc.errContains) {
				t.Errorf("error %q does not contain %q", out["error"], tc.errContains)
			}
			if tc.problems != nil {
				var got []string
				for _, p := range out["problems"].([]any) {
					m := p.(map[string]any)
					got = append(got, jsonInt(m["line"])+":"+jsonInt(m["column"]))
				}
				if strings.Join(got, " ") != strings.Join(tc.problems, " ") {
					t.Errorf("problems at %v, want %v (%v)", got, tc.problems, out["problems"])
				}
			}
			if tc.status == 404 && tc.errContains == "" {
				return
			}
			recs := records(t, l, "events")
			if len(recs) != tc.records {
				t.Fatalf("topic holds %d records, want %d", len(recs), tc.records)
			}
			if tc.status == 200 && int(out["records"].(float64)) != tc.records {
				t.Errorf("answer says %v records, want %d", out["records"], tc.records)
			}
			if tc.keys != nil {
				var keys []string
				for _, r := range recs {
					keys = append(keys, string(r.Key))
				}
				if strings.Join(sorted(keys), ",") != strings.Join(tc.keys, ",") {
					t.Errorf("keys %v, want %v", keys, tc.keys)
				}
			}
			for _, r := range recs {
				if !json.Valid(r.Value) {
					t.Errorf("record value %q is not the JSON object sent", r.Value)
				}
			}
		})
	}
}

func TestIngestKeepsValuesAndTimestamps(t *testing.T) {
	srv, l := newServer(t)
	body := "{\"id\":1, \"ts\": \"2026-03-01T10:00:00.123Z\"}\n{\"id\":2,\"ts\":1767225600000}\n"
	status, out := post(t, srv, "/v1/topics/events/records?partition=1&timestamp_field=ts", "application/x-ndjson", body)
	if status != 200 {
		t.Fatalf("status %d: %v", status, out)
	}
	recs := records(t, l, "events")
	if len(recs) != 2 || recs[0].Partition != 1 || recs[0].Offset != 0 || recs[1].Offset != 1 {
		t.Fatalf("records %+v", recs)
	}
	if string(recs[0].Value) != `{"id":1, "ts": "2026-03-01T10:00:00.123Z"}` {
		t.Errorf("value %q: want the object as sent", recs[0].Value)
	}
	if got := recs[0].Timestamp.UTC().Format("2006-01-02T15:04:05.000Z"); got != "2026-03-01T10:00:00.123Z" {
		t.Errorf("timestamp %s", got)
	}
	if got := recs[1].Timestamp.UnixMilli(); got != 1767225600000 {
		t.Errorf("timestamp %d", got)
	}
}

func TestIngestMethod(t *testing.T) {
	srv, _ := newServer(t)
	resp, err := http.Get(srv.URL + "/v1/topics/events/records")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
		t.Errorf("GET: status %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

func jsonInt(v any) string { return fmt.Sprint(int(v.(float64))) }

func sorted(xs []string) []string {
	out := append([]string(nil), xs...)
	sort.Strings(out)
	return out
}

// gatedLog is the real log with a gate before Produce: each call announces itself on entered,
// then waits for a token on release (or its context). It holds requests in flight for as long
// as a test wants, without sleeping.
type gatedLog struct {
	log.Log
	entered chan struct{}
	release chan struct{}
}

func (g *gatedLog) Produce(ctx context.Context, topic string, recs []log.Record) ([]log.Record, error) {
	g.entered <- struct{}{}
	select {
	case <-g.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return g.Log.Produce(ctx, topic, recs)
}

// answer is one request's outcome.
type answer struct {
	status     int
	retryAfter string
	body       map[string]any
	err        error
}

func postAsync(url, body string, chunked bool) <-chan answer {
	out := make(chan answer, 1)
	go func() {
		var rd io.Reader = strings.NewReader(body)
		if chunked {
			rd = io.MultiReader(rd) // hides the length: the client sends the body chunked
		}
		resp, err := http.Post(url, "application/x-ndjson", rd)
		if err != nil {
			out <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		a := answer{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After")}
		a.err = json.Unmarshal(data, &a.body)
		out <- a
	}()
	return out
}

// ndjson returns n small objects as NDJSON, each about 20 bytes.
func ndjson(n int, tag string) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "{\"%s\":%d}\n", tag, i)
	}
	return b.String()
}

// TestIngestBackPressure holds requests inside Produce and checks that requests beyond the
// in-flight bounds are answered 429 with Retry-After and a JSON error, write nothing, and that
// the endpoint admits requests again once the held ones are done.
func TestIngestBackPressure(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts httpingest.Options
		// held requests block in Produce; then over is refused, and fits (if set) is admitted.
		held        []string
		over        string
		overChunked bool
		fits        string
		wantRetry   string
	}{
		{name: "request count", opts: httpingest.Options{MaxInFlight: 2, RetryAfter: 2500 * time.Millisecond},
			held: []string{ndjson(3, "a"), ndjson(4, "b")}, over: ndjson(1, "c"), wantRetry: "3"},
		{name: "bytes by content length", opts: httpingest.Options{MaxInFlight: 10, MaxBodyBytes: 4000, MaxInFlightBytes: 5000},
			held: []string{ndjson(350, "a")}, over: ndjson(350, "b"), fits: ndjson(10, "c"), wantRetry: "1"},
		{name: "bytes of a chunked body", opts: httpingest.Options{MaxInFlight: 10, MaxBodyBytes: 4000, MaxInFlightBytes: 5000},
			held: []string{ndjson(350, "a")}, over: ndjson(350, "b"), overChunked: true, fits: ndjson(10, "c"), wantRetry: "1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			real, err := embedded.Open(ctx, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { real.Close() })
			if err := real.CreateTopic(ctx, "events", log.TopicConfig{Partitions: 1}); err != nil {
				t.Fatal(err)
			}
			g := &gatedLog{Log: real, entered: make(chan struct{}), release: make(chan struct{})}
			srv := httptest.NewServer(httpingest.New(g, tc.opts))
			t.Cleanup(srv.Close)
			url := srv.URL + "/v1/topics/events/records"

			var held []<-chan answer
			want := 0
			for _, body := range tc.held {
				held = append(held, postAsync(url, body, false))
				<-g.entered // the request holds its slot and its bytes now
				want += strings.Count(body, "\n")
			}
			a := <-postAsync(url, tc.over, tc.overChunked)
			if a.err != nil || a.status != http.StatusTooManyRequests {
				t.Fatalf("request over the bound: status %d, %v, %v; want 429", a.status, a.body, a.err)
			}
			if a.retryAfter != tc.wantRetry || a.body["error"] == "" || jsonInt(a.body["retry_after_s"]) != tc.wantRetry {
				t.Errorf("429 answer: Retry-After %q, body %v; want Retry-After %s and the same retry_after_s", a.retryAfter, a.body, tc.wantRetry)
			}
			if tc.fits != "" {
				// A smaller request is admitted beside the held ones: it reaches Produce.
				held = append(held, postAsync(url, tc.fits, false))
				<-g.entered
				want += strings.Count(tc.fits, "\n")
			}
			for range held {
				g.release <- struct{}{}
			}
			for _, h := range held {
				if a := <-h; a.status != http.StatusOK {
					t.Fatalf("held request: status %d, %v, %v", a.status, a.body, a.err)
				}
			}
			// Everything held is done: the refused request is admitted now.
			again := postAsync(url, tc.over, tc.overChunked)
			<-g.entered
			g.release <- struct{}{}
			if a := <-again; a.status != http.StatusOK || int(a.body["records"].(float64)) != strings.Count(tc.over, "\n") {
				t.Fatalf("refused request sent again once the others are done: status %d, %v, %v", a.status, a.body, a.err)
			}
			want += strings.Count(tc.over, "\n")
			if got := len(records(t, real, "events")); got != want {
				t.Errorf("the topic holds %d records, want %d: those of the 200 answers only", got, want)
			}
		})
	}
}
