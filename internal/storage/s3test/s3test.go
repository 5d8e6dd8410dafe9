// Package s3test runs an S3-compatible server in process, for tests of code that talks to S3.
//
// The server is gofakes3 with its in-memory backend (s3mem): nothing touches the disk, and the
// data lives as long as the server. It listens on 127.0.0.1 on a random port and speaks plain
// HTTP with path-style addressing; it accepts any credentials (requests are not authenticated).
//
// Conditional PUT: gofakes3's s3mem backend checks "If-None-Match: *" and stores the object under
// one backend-wide lock, so concurrent conditional PUTs of one key have exactly one winner; the
// package's tests verify this under concurrency, so no serialising middleware is added.
//
// Multi-process tests: the test process calls Start (or Serve) and hands Env() to the child
// processes, which connect over HTTP.
package s3test

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// Default identity of a server; credentials are not checked but clients need some.
const (
	DefaultBucket    = "strata-test"
	DefaultRegion    = "us-east-1"
	DefaultAccessKey = "strata-test-key"
	DefaultSecretKey = "strata-test-secret"
)

// Server is a running S3 server. Its fields are fixed once it is returned.
type Server struct {
	// Endpoint is the base URL, "http://127.0.0.1:<port>".
	Endpoint string
	// Addr is the listening address, "127.0.0.1:<port>".
	Addr string
	// Bucket is the bucket created at start.
	Bucket string
	// Region, AccessKey and SecretKey are what clients should use.
	Region, AccessKey, SecretKey string

	srv       *http.Server
	closeOnce sync.Once
	closeErr  error
	done      chan struct{} // closed when Serve's goroutine returns
}

// Option configures a server.
type Option func(*config)

type config struct {
	bucket     string
	middleware func(http.Handler) http.Handler
}

// WithBucket names the bucket created at start (default DefaultBucket).
func WithBucket(name string) Option { return func(c *config) { c.bucket = name } }

// WithMiddleware wraps the S3 handler, e.g. to inject failures in front of it.
func WithMiddleware(mw func(http.Handler) http.Handler) Option {
	return func(c *config) { c.middleware = mw }
}

// Start serves on a random loopback port and stops the server when tb's test ends. It fails tb
// if the server cannot start.
func Start(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	s, err := Serve("127.0.0.1:0", "", opts...)
	if err != nil {
		tb.Fatalf("s3test: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// Serve starts a server on addr ("127.0.0.1:0" for a random port) with its bucket created, and
// returns once it accepts connections. dataDir must be empty: only the in-memory backend is built
// in (gofakes3's on-disk backends would add dependencies this project does not carry). The
// caller must Close the server.
func Serve(addr, dataDir string, opts ...Option) (*Server, error) {
	if dataDir != "" {
		return nil, fmt.Errorf("s3test: dataDir %q: only the in-memory backend is available", dataDir)
	}
	cfg := config{bucket: DefaultBucket}
	for _, o := range opts {
		o(&cfg)
	}
	backend := s3mem.New()
	if err := backend.CreateBucket(cfg.bucket); err != nil {
		return nil, fmt.Errorf("s3test: create bucket %s: %w", cfg.bucket, err)
	}
	var h http.Handler = gofakes3.New(backend).Server()
	if cfg.middleware != nil {
		h = cfg.middleware(h)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("s3test: listen %s: %w", addr, err)
	}
	s := &Server{
		Endpoint:  "http://" + ln.Addr().String(),
		Addr:      ln.Addr().String(),
		Bucket:    cfg.bucket,
		Region:    DefaultRegion,
		AccessKey: DefaultAccessKey,
		SecretKey: DefaultSecretKey,
		srv:       &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second},
		done:      make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		s.srv.Serve(ln)
	}()
	return s, nil
}

// Close stops the server at once, cutting requests in flight (a graceful shutdown would wait for
// connections the client opened but never used). It is idempotent.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.closeErr = s.srv.Close()
		<-s.done
	})
	return s.closeErr
}

// Location returns "s3://<bucket>/<prefix>" (or "s3://<bucket>" for an empty prefix).
func (s *Server) Location(prefix string) string {
	prefix = strings.Trim(prefix, "/")
	if prefix == "" {
		return "s3://" + s.Bucket
	}
	return "s3://" + s.Bucket + "/" + prefix
}

// Env returns the AWS environment variables ("NAME=value") that point a client at this server,
// for child processes.
func (s *Server) Env() []string {
	return []string{
		"AWS_ENDPOINT_URL_S3=" + s.Endpoint,
		"AWS_ACCESS_KEY_ID=" + s.AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + s.SecretKey,
		"AWS_REGION=" + s.Region,
	}
}
