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
// policy), with the offsets each partition received.
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
}

// Handler serves the ingest endpoint over a log.
type Handler struct {
	log  log.Log
	opts Options
}

// New returns the ingest handler of l. It serves only POST /v1/topics/{topic}/records; mount it
// on a mux at /v1/topics/.
func New(l log.Log, opts Options) *Handler {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 32 << 20
	}
	if opts.MaxErrors <= 0 {
		opts.MaxErrors = 100
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	return &Handler{log: l, opts: opts}
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
}

// PartitionOffsets are the offsets one partition gave a request's records.
type PartitionOffsets struct {
	Partition   int32 `json:"partition"`
	FirstOffset int64 `json:"first_offset"`
	LastOffset  int64 `json:"last_offset"`
	Records     int   `json:"records"`
}

// Response is the body of a 200 answer.
type Response struct {
	Topic      string             `json:"topic"`
	Records    int                `json:"records"`
	Partitions []PartitionOffsets `json:"partitions"`
}

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
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.opts.MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeJSON(w, http.StatusRequestEntityTooLarge, ErrorResponse{Error: fmt.Sprintf("body larger than %d bytes; nothing was written", h.opts.MaxBodyBytes)})
			return
		}
		writeJSON(w, http.StatusBadRequest, ErrorResponse{Error: "reading the body: " + err.Error()})
		return
	}
	recs, problems, rejected := Parse(body, ParseOptions{Array: IsJSONArray(r.Header.Get("Content-Type"), body),
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
