// Package httpingest is the log's HTTP front door for applications and devices:
//
//	POST /v1/topics/{topic}/records[?key_field=F][&timestamp_field=F][&partition=N]
//
// The body is NDJSON (one JSON object per line; blank lines are skipped) or a JSON array of
// objects (Content-Type application/json, or a body whose first non-blank byte is '['). Each
// object becomes one record whose value is the object's JSON text as sent. key_field names a
// top-level field whose value (a string as is, any other scalar as its JSON text) becomes the
// record key, which picks the partition; timestamp_field names a field holding the event time
// (RFC 3339 text or epoch milliseconds) used as the record timestamp.
//
// A request is validated whole before anything is written: one malformed object (bad JSON, not an
// object, a missing or null key field, an unparsable timestamp) rejects the request with 400 and
// every problem's line and column, and no record is produced. A valid request is written with one
// Produce call and answered 200 only after the log acknowledged it (durable under the backend's
// policy), with the offsets each partition received: a 200 answer is the acknowledgement of
// every record of the request, and any other answer acknowledges none (a 504 or 500 from a
// failed Produce may leave some written: the client retries, and consumers deduplicate).
//
// # Back-pressure
//
// The handler bounds the requests in flight (being read, parsed or written) and the body bytes
// they hold (Options.MaxInFlight, Options.MaxInFlightBytes). A request beyond either bound is
// answered at once 429 Too Many Requests with a Retry-After header (whole seconds) and a JSON
// error body, and nothing of it is written; the client waits and sends it again. A request is
// admitted or refused on arrival and never queues, so an overloaded endpoint answers quickly
// instead of hanging, and the memory requests hold stays bounded (about three times
// MaxInFlightBytes: the body, the parsed records and the log's encoded batch).
package httpingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/stratalake/strata/internal/log"
)

// Options tune the handler. Zero values take the defaults.
type Options struct {
	// MaxBodyBytes bounds a request body (default 32 MiB); a larger body is refused with 413.
	MaxBodyBytes int64
	// MaxErrors bounds the problems listed in a 400 answer (default 100); the count is exact.
	MaxErrors int
	// Timeout bounds the Produce of one request (default 30 s).
	Timeout time.Duration
	// MaxInFlight bounds the requests in flight, from their arrival to their answer (default
	// DefaultMaxInFlight); one more is answered 429.
	MaxInFlight int
	// MaxInFlightBytes bounds the body bytes held by the requests in flight (default
	// DefaultMaxInFlightBytes, and never below MaxBodyBytes, so that every body the endpoint
	// accepts can be admitted once the others are done). A request whose Content-Length does
	// not fit in what is left is answered 429 before its body is read; one without a
	// Content-Length is counted as it is read, and answered 429 when it outgrows what is left.
	MaxInFlightBytes int64
	// RetryAfter is the wait a 429 answer asks for (default DefaultRetryAfter), sent in the
	// Retry-After header rounded up to whole seconds.
	RetryAfter time.Duration
}

// Defaults of Options.
const (
	DefaultMaxBodyBytes     = 32 << 20
	DefaultMaxInFlight      = 64
	DefaultMaxInFlightBytes = 128 << 20
	DefaultRetryAfter       = time.Second
)

// Handler serves the ingest endpoint over a log. It is safe for concurrent use.
type Handler struct {
	log  log.Log
	opts Options
	// slots holds one token per request in flight; its capacity is MaxInFlight.
	slots chan struct{}

	mu sync.Mutex // guards bytes
	// bytes is the body bytes reserved by the requests in flight, at most MaxInFlightBytes.
	bytes int64
}

// New returns the ingest handler of l. It serves only POST /v1/topics/{topic}/records; mount it
// on a mux at /v1/topics/.
func New(l log.Log, opts Options) *Handler {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.MaxErrors <= 0 {
		opts.MaxErrors = 100
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.MaxInFlight <= 0 {
		opts.MaxInFlight = DefaultMaxInFlight
	}
	if opts.MaxInFlightBytes <= 0 {
		opts.MaxInFlightBytes = DefaultMaxInFlightBytes
	}
	opts.MaxInFlightBytes = max(opts.MaxInFlightBytes, opts.MaxBodyBytes)
	if opts.RetryAfter <= 0 {
		opts.RetryAfter = DefaultRetryAfter
	}
	return &Handler{log: l, opts: opts, slots: make(chan struct{}, opts.MaxInFlight)}
}

// reserve takes n bytes of the in-flight budget, or reports that they do not fit.
func (h *Handler) reserve(n int64) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.bytes+n > h.opts.MaxInFlightBytes {
		return false
	}
	h.bytes += n
	return true
}

// release gives n bytes back to the in-flight budget.
func (h *Handler) release(n int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.bytes -= n
}

// errBusy: a body without a Content-Length outgrew the in-flight byte budget while being read.
var errBusy = errors.New("httpingest: in-flight byte budget exhausted")

// budgetReader reserves the in-flight budget for the bytes it reads; held counts what it holds
// (the handler gives it back when the request ends).
type budgetReader struct {
	h    *Handler
	r    io.Reader
	held int64
}

func (b *budgetReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if n > 0 {
		if !b.h.reserve(int64(n)) {
			return 0, errBusy
		}
		b.held += int64(n)
	}
	return n, err
}

// busy answers 429 with Retry-After: the request was refused whole, before anything was written.
func (h *Handler) busy(w http.ResponseWriter, why string) {
	secs := int((h.opts.RetryAfter + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	writeJSON(w, http.StatusTooManyRequests, ErrorResponse{
		Error:             why + "; nothing was written: retry after " + strconv.Itoa(secs) + " s",
		RetryAfterSeconds: secs})
}

// Problem is one rejected object of a request.
type Problem struct {
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	Message string `json:"message"`
}

// ErrorResponse is the body of every answer other than 200.
type ErrorResponse struct {
	Error string `json:"error"`
	// Problems lists the rejected objects of a 400 answer (at most Options.MaxErrors).
	Problems []Problem `json:"problems,omitempty"`
	// Rejected counts every rejected object (Problems may list fewer).
	Rejected int `json:"rejected,omitempty"`
	// RetryAfterSeconds is the wait a 429 answer asks for, as its Retry-After header says.
	RetryAfterSeconds int `json:"retry_after_s,omitempty"`
}

// PartitionOffsets are the offsets one partition gave a request's records.
type PartitionOffsets struct {
	Partition   int32 `json:"partition"`
	FirstOffset int64 `json:"first_offset"`
	LastOffset  int64 `json:"last_offset"`
	Records     int   `json:"records"`
}

// Response is the body of a 200 answer: the acknowledgement that the log holds every record of
// the request durably, Records of them, at the offsets of Partitions.
type Response struct {
	Topic      string             `json:"topic"`
	Records    int                `json:"records"`
	Partitions []PartitionOffsets `json:"partitions"`
}

// ServeHTTP answers one request: 200 with a Response once the log holds its records durably,
// 429 with Retry-After beyond the in-flight bounds, another 4xx for a request that can never
// succeed as sent, and 5xx only when the log failed (see the package doc).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	topic, ok := topicOf(r.URL.Path)
	if !ok {
		writeJSON(w, http.StatusNotFound, ErrorResponse{Error: "not found: the endpoint is POST /v1/topics/{topic}/records"})
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, ErrorResponse{Error: "method " + r.Method + " not allowed: use POST"})
		return
	}
	q := r.URL.Query()
	partition := int32(-1)
	if p := q.Get("partition"); p != "" {
		n, err := strconv.ParseInt(p, 10, 32)
		if err != nil || n < 0 {
			writeJSON(w, http.StatusBadRequest, ErrorResponse{Error: fmt.Sprintf("partition %q: want a partition number", p)})
			return
		}
		partition = int32(n)
	}
	if r.ContentLength > h.opts.MaxBodyBytes {
		writeJSON(w, http.StatusRequestEntityTooLarge, ErrorResponse{Error: fmt.Sprintf("body of %d bytes larger than %d bytes; nothing was written", r.ContentLength, h.opts.MaxBodyBytes)})
		return
	}
	select {
	case h.slots <- struct{}{}:
		defer func() { <-h.slots }()
	default:
		h.busy(w, fmt.Sprintf("%d requests in flight, the endpoint's bound", h.opts.MaxInFlight))
		return
	}
	body := io.Reader(http.MaxBytesReader(w, r.Body, h.opts.MaxBodyBytes))
	if r.ContentLength > 0 {
		if !h.reserve(r.ContentLength) {
			h.busy(w, fmt.Sprintf("a body of %d bytes does not fit in the %d bytes the requests in flight may hold", r.ContentLength, h.opts.MaxInFlightBytes))
			return
		}
		defer h.release(r.ContentLength)
	} else {
		br := &budgetReader{h: h, r: body}
		defer func() { h.release(br.held) }()
		body = br
	}
	data, err := io.ReadAll(body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.Is(err, errBusy) {
			h.busy(w, fmt.Sprintf("the body outgrew the %d bytes the requests in flight may hold", h.opts.MaxInFlightBytes))
			return
		}
		if errors.As(err, &tooLarge) {
			writeJSON(w, http.StatusRequestEntityTooLarge, ErrorResponse{Error: fmt.Sprintf("body larger than %d bytes; nothing was written", h.opts.MaxBodyBytes)})
			return
		}
		writeJSON(w, http.StatusBadRequest, ErrorResponse{Error: "reading the body: " + err.Error()})
		return
	}
	recs, problems, rejected := Parse(data, ParseOptions{Array: IsJSONArray(r.Header.Get("Content-Type"), data),
		KeyField: q.Get("key_field"), TimestampField: q.Get("timestamp_field"), MaxProblems: h.opts.MaxErrors})
	if rejected > 0 {
		writeJSON(w, http.StatusBadRequest, ErrorResponse{
			Error:    fmt.Sprintf("%d of the request's objects are malformed; nothing was written", rejected),
			Problems: problems, Rejected: rejected})
		return
	}
	if len(recs) == 0 {
		writeJSON(w, http.StatusBadRequest, ErrorResponse{Error: "the body holds no records"})
		return
	}
	for i := range recs {
		recs[i].Partition = partition
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.opts.Timeout)
	defer cancel()
	out, err := h.log.Produce(ctx, topic, recs)
	if err != nil {
		writeJSON(w, statusOf(err), ErrorResponse{Error: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, summarize(topic, out))
}

// topicOf extracts the topic of /v1/topics/{topic}/records.
func topicOf(path string) (string, bool) {
	rest, ok := strings.CutPrefix(path, "/v1/topics/")
	if !ok {
		return "", false
	}
	topic, ok := strings.CutSuffix(rest, "/records")
	if !ok || topic == "" || strings.Contains(topic, "/") {
		return "", false
	}
	return topic, true
}

func statusOf(err error) int {
	switch {
	case errors.Is(err, log.ErrUnknownTopic), errors.Is(err, log.ErrUnknownPartition):
		return http.StatusNotFound
	case errors.Is(err, log.ErrRecordTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, log.ErrInvalidConfig):
		return http.StatusBadRequest
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

func summarize(topic string, recs []log.Record) Response {
	resp := Response{Topic: topic, Records: len(recs), Partitions: []PartitionOffsets{}}
	at := map[int32]int{}
	for _, r := range recs {
		i, ok := at[r.Partition]
		if !ok {
			i = len(resp.Partitions)
			at[r.Partition] = i
			resp.Partitions = append(resp.Partitions, PartitionOffsets{Partition: r.Partition, FirstOffset: r.Offset, LastOffset: r.Offset})
		}
		po := &resp.Partitions[i]
		po.FirstOffset = min(po.FirstOffset, r.Offset)
		po.LastOffset = max(po.LastOffset, r.Offset)
		po.Records++
	}
	return resp
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// IsJSONArray tells a JSON-array body from NDJSON: by a first non-blank byte '[', or by
// Content-Type application/json on a body that does not start with '{'.
func IsJSONArray(contentType string, body []byte) bool {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) > 0 && trimmed[0] == '[' {
		return true
	}
	ct, _, _ := strings.Cut(contentType, ";")
	return strings.TrimSpace(strings.ToLower(ct)) == "application/json" && len(trimmed) > 0 && trimmed[0] != '{'
}
