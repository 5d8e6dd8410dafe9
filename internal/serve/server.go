package serve

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// This file holds what the composition layer (package platform) adds to a Server before it
// serves: handlers mounted beside the API, such as the log's ingest endpoint, and the bound on
// the API requests in flight (back-pressure).

// Defaults of Extras.
const (
	// DefaultMaxInFlight bounds the API requests in flight when Extras.MaxInFlight is 0: far
	// above what a dashboard or a few services send at once, low enough that queries queued
	// in DuckDB finish well inside DefaultQueryTimeout instead of failing with 504.
	DefaultMaxInFlight = 64
	// DefaultRetryAfter is the wait a 429 answer asks for when Extras.RetryAfter is 0.
	DefaultRetryAfter = time.Second
)

// Extras are what a server serves beside its API.
type Extras struct {
	// Mounts route every request whose path starts with a prefix (ending in "/", such as
	// "/v1/topics/") to its handler. A mounted handler answers its own requests, with its own
	// bounds: the in-flight bound below does not count them. A prefix may not overlap /api/,
	// /healthz, /metrics or a project endpoint.
	Mounts map[string]http.Handler
	// MaxInFlight bounds the requests in flight to the API, the project's endpoints and the
	// web UI's files (0: DefaultMaxInFlight; negative: no bound). One more is answered at once
	// 429 Too Many Requests with a Retry-After header and a JSON error, and runs nothing. The
	// event stream (GET /api/events, long-lived), /healthz and /metrics are not counted, so
	// that monitoring works under load.
	MaxInFlight int
	// RetryAfter is the wait a 429 answer asks for (0: DefaultRetryAfter), sent in the
	// Retry-After header rounded up to whole seconds.
	RetryAfter time.Duration
}

// Extend adds x to the server's handler. Call it at most once, after New and before Serve or
// Handler; it is not safe concurrently with requests. Errors wrap ErrConfig and name the prefix
// at fault.
func (s *Server) Extend(x Extras) error {
	api := s.handler
	if x.MaxInFlight == 0 {
		x.MaxInFlight = DefaultMaxInFlight
	}
	if x.RetryAfter <= 0 {
		x.RetryAfter = DefaultRetryAfter
	}
	if x.MaxInFlight > 0 {
		api = s.limitInFlight(api, x.MaxInFlight, x.RetryAfter)
	}
	if len(x.Mounts) == 0 {
		s.handler = api
		return nil
	}
	mux := http.NewServeMux()
	for prefix, h := range x.Mounts {
		if err := s.checkMount(prefix); err != nil {
			return err
		}
		if err := register(mux, prefix, s.instrument(h)); err != nil {
			return fmt.Errorf("serve: %w: mount %s: %w", ErrConfig, prefix, err)
		}
	}
	if err := register(mux, "/", api); err != nil {
		return fmt.Errorf("serve: %w: %w", ErrConfig, err)
	}
	s.handler = mux
	return nil
}

// checkMount refuses a prefix that is not a path ending in "/" or that overlaps a built-in route
// or a project endpoint.
func (s *Server) checkMount(prefix string) error {
	if !strings.HasPrefix(prefix, "/") || !strings.HasSuffix(prefix, "/") || prefix == "/" {
		return fmt.Errorf("serve: %w: mount %q: want a path prefix such as /v1/topics/", ErrConfig, prefix)
	}
	taken := []string{"/api/", "/healthz", "/metrics"}
	for _, e := range s.endpoints {
		taken = append(taken, e.cfg.Path)
	}
	for _, t := range taken {
		if strings.HasPrefix(t, prefix) || strings.HasPrefix(prefix, t) {
			return fmt.Errorf("serve: %w: mount %s overlaps the route %s", ErrConfig, prefix, t)
		}
	}
	return nil
}

// unbounded says whether a request is left out of the in-flight bound: the long-lived event
// stream and the monitoring routes.
func unbounded(r *http.Request) bool {
	switch r.URL.Path {
	case "/api/events", "/healthz", "/metrics":
		return true
	}
	return false
}

// limitInFlight answers 429 with Retry-After to a request that finds max others in flight.
// Refused requests are counted in the HTTP metrics under the route "throttled".
func (s *Server) limitInFlight(next http.Handler, limit int, retryAfter time.Duration) http.Handler {
	slots := make(chan struct{}, limit)
	secs := int((retryAfter + time.Second - 1) / time.Second)
	body, err := json.Marshal(map[string]any{
		"error":         fmt.Sprintf("the server has %d requests in flight, its bound: retry after %d s", limit, secs),
		"retry_after_s": secs,
	})
	if err != nil {
		panic(err) // a map of a string and an int always encodes
	}
	body = append(body, '\n')
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if unbounded(r) {
			next.ServeHTTP(w, r)
			return
		}
		select {
		case slots <- struct{}{}:
		default:
			s.httpRequests.WithLabelValues("throttled", strconv.Itoa(http.StatusTooManyRequests)).Inc()
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "no-store")
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			w.WriteHeader(http.StatusTooManyRequests)
			w.Write(body)
			return
		}
		defer func() { <-slots }()
		next.ServeHTTP(w, r)
	})
}
