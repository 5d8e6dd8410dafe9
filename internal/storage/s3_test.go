package storage_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratalake/strata/internal/storage"
	"github.com/stratalake/strata/internal/storage/s3test"
	"github.com/stratalake/strata/internal/storage/storagetest"
)

// fastRetry keeps retry tests quick; the attempt count is the default's.
var fastRetry = storage.RetryPolicy{MaxAttempts: 6, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond, MaxElapsed: 10 * time.Second}

func s3Config(srv *s3test.Server, prefix string) storage.S3Config {
	return storage.S3Config{
		Endpoint:  srv.Endpoint,
		Region:    srv.Region,
		AccessKey: srv.AccessKey,
		SecretKey: srv.SecretKey,
		Bucket:    srv.Bucket,
		Prefix:    prefix,
		Retry:     fastRetry,
	}
}

func newS3(t *testing.T, srv *s3test.Server, prefix string) *storage.S3 {
	t.Helper()
	s, err := storage.NewS3(context.Background(), s3Config(srv, prefix))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// s3Factory returns stores on one server, each under its own prefix, so subtests start empty.
func s3Factory(t *testing.T, srv *s3test.Server) storagetest.NewStore {
	var n atomic.Int64
	return func(t *testing.T) storage.Store {
		return newS3(t, srv, fmt.Sprintf("tables/t%d", n.Add(1)))
	}
}

func TestS3Conformance(t *testing.T) {
	srv := s3test.Start(t)
	newStore := s3Factory(t, srv)
	storagetest.RunStoreTests(t, newStore)
	storagetest.RunNestedKeyTests(t, newStore)
}

// With no prefix, keys are object names at the bucket root.
func TestS3NoPrefix(t *testing.T) {
	srv := s3test.Start(t, s3test.WithBucket("root-bucket"))
	ctx := context.Background()
	s := newS3(t, srv, "")
	if s.URL() != "s3://root-bucket" {
		t.Errorf("URL() = %q", s.URL())
	}
	if err := s.Put(ctx, "a/b", []byte("x")); err != nil {
		t.Fatal(err)
	}
	// The same object is visible through a store rooted at "a".
	sub := newS3(t, srv, "/a/")
	if got, err := sub.Get(ctx, "b"); err != nil || string(got) != "x" {
		t.Fatalf("Get through prefix a = %q, %v", got, err)
	}
	if sub.URL() != "s3://root-bucket/a" {
		t.Errorf("URL() = %q", sub.URL())
	}
	// A sibling prefix that shares the leading characters is not part of the store.
	if err := s.Put(ctx, "ab/c", []byte("y")); err != nil {
		t.Fatal(err)
	}
	infos, err := sub.List(ctx, "", "")
	if err != nil || len(infos) != 1 || infos[0].Key != "b" {
		t.Fatalf("List under a = %v, %v; want [b]", infos, err)
	}
}

func TestS3ErrorsNameTheObject(t *testing.T) {
	srv := s3test.Start(t)
	s := newS3(t, srv, "root")
	_, err := s.Get(context.Background(), "missing/key")
	if !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Get = %v, want ErrNotFound", err)
	}
	want := "s3://" + srv.Bucket + "/root/missing/key"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name %s", err, want)
	}
}

func TestS3MissingBucketIsNotNotFound(t *testing.T) {
	srv := s3test.Start(t)
	cfg := s3Config(srv, "p")
	cfg.Bucket = "no-such-bucket"
	s, err := storage.NewS3(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Get(context.Background(), "k")
	if err == nil || errors.Is(err, storage.ErrNotFound) || storage.IsTransient(err) {
		t.Fatalf("Get in a missing bucket = %v, want a permanent error that is not ErrNotFound", err)
	}
}

// flaky sits in front of the S3 handler. For requests that match, it can fail the first
// failFirst of them (with 503, or as failure says) without passing them on, or pass the first ambiguous of them on and
// then answer 500 as if the response had been lost. mu guards every field below it.
type flaky struct {
	match func(r *http.Request) bool
	// failure, if set, replaces the 503 answer of a refused request.
	failure func(w http.ResponseWriter, r *http.Request)

	mu        sync.Mutex
	failFirst int    // matching requests still to refuse with 503
	ambiguous int    // matching requests still to perform and then answer 500
	before    func() // run before refusing or performing an ambiguous request
	seen      int    // matching requests seen
}

func (f *flaky) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f.match == nil || !f.match(r) {
			next.ServeHTTP(w, r)
			return
		}
		f.mu.Lock()
		f.seen++
		refuse, lose := f.failFirst > 0, false
		if refuse {
			f.failFirst--
		} else if f.ambiguous > 0 {
			f.ambiguous--
			lose = true
		}
		before := f.before
		f.mu.Unlock()
		if (refuse || lose) && before != nil {
			before()
		}
		switch {
		case refuse && f.failure != nil:
			f.failure(w, r)
		case refuse:
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>reduce your request rate</Message></Error>`)
		case lose:
			next.ServeHTTP(discardWriter{header: http.Header{}}, r) // performed, answer lost
			w.WriteHeader(http.StatusInternalServerError)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

func (f *flaky) requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.seen
}

type discardWriter struct{ header http.Header }

func (d discardWriter) Header() http.Header         { return d.header }
func (d discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d discardWriter) WriteHeader(int)             {}

func isPut(r *http.Request) bool { return r.Method == http.MethodPut }

func TestS3RetriesTransientFailures(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name      string
		match     func(*http.Request) bool
		failFirst int
		call      func(s *storage.S3) error
	}{
		{"put", isPut, 3, func(s *storage.S3) error { return s.Put(ctx, "k", []byte("v")) }},
		{"put-if-absent", isPut, 5, func(s *storage.S3) error { return s.PutIfAbsent(ctx, "k", []byte("v")) }},
		{"get", func(r *http.Request) bool { return r.Method == http.MethodGet && !r.URL.Query().Has("list-type") }, 2,
			func(s *storage.S3) error {
				if err := s.Put(ctx, "k", []byte("v")); err != nil {
					return err
				}
				b, err := s.Get(ctx, "k")
				if err == nil && string(b) != "v" {
					err = fmt.Errorf("got %q", b)
				}
				return err
			}},
		{"list", func(r *http.Request) bool { return r.URL.Query().Has("list-type") }, 4,
			func(s *storage.S3) error {
				if err := s.Put(ctx, "k", []byte("v")); err != nil {
					return err
				}
				infos, err := s.List(ctx, "", "")
				if err == nil && len(infos) != 1 {
					err = fmt.Errorf("listed %v", infos)
				}
				return err
			}},
		{"stat", func(r *http.Request) bool { return r.Method == http.MethodHead }, 2,
			func(s *storage.S3) error {
				if err := s.Put(ctx, "k", []byte("v")); err != nil {
					return err
				}
				_, err := s.Stat(ctx, "k")
				return err
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &flaky{match: tc.match, failFirst: tc.failFirst}
			srv := s3test.Start(t, s3test.WithMiddleware(f.wrap))
			cfg := s3Config(srv, "p")
			var retries atomic.Int64
			cfg.OnRetry = func(op, key string, attempt int, err error) { retries.Add(1) }
			s, err := storage.NewS3(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := tc.call(s); err != nil {
				t.Fatalf("call failed despite retries: %v", err)
			}
			if got := f.requests(); got != tc.failFirst+1 {
				t.Errorf("server saw %d matching requests, want %d", got, tc.failFirst+1)
			}
			if got := retries.Load(); got != int64(tc.failFirst) {
				t.Errorf("OnRetry called %d times, want %d", got, tc.failFirst)
			}
		})
	}
}

func TestS3GivesUpAfterMaxAttempts(t *testing.T) {
	ctx := context.Background()
	f := &flaky{match: isPut, failFirst: 1000}
	srv := s3test.Start(t, s3test.WithMiddleware(f.wrap))
	s := newS3(t, srv, "p")
	err := s.Put(ctx, "k", []byte("v"))
	if !errors.Is(err, storage.ErrTransient) || !storage.IsTransient(err) {
		t.Fatalf("Put = %v, want an error wrapping ErrTransient", err)
	}
	if got := f.requests(); got != fastRetry.MaxAttempts {
		t.Errorf("server saw %d requests, want %d", got, fastRetry.MaxAttempts)
	}
}

// A 4xx other than 408/429 is final: no retry.
func TestS3DoesNotRetryClientErrors(t *testing.T) {
	ctx := context.Background()
	var seen atomic.Int64
	srv := s3test.Start(t, s3test.WithMiddleware(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPut {
				seen.Add(1)
				w.WriteHeader(http.StatusForbidden)
				io.WriteString(w, `<Error><Code>AccessDenied</Code><Message>no</Message></Error>`)
				return
			}
			next.ServeHTTP(w, r)
		})
	}))
	s := newS3(t, srv, "p")
	err := s.Put(ctx, "k", []byte("v"))
	if err == nil || storage.IsTransient(err) {
		t.Fatalf("Put = %v, want a permanent error", err)
	}
	if seen.Load() != 1 {
		t.Errorf("server saw %d PUTs, want 1", seen.Load())
	}
}

// The first attempt of a PutIfAbsent lands but its answer is lost; the retry gets 412. The store
// reads the object back, finds its own bytes and reports success.
func TestS3AmbiguousPutIfAbsentLanded(t *testing.T) {
	ctx := context.Background()
	f := &flaky{match: isPut, ambiguous: 1}
	srv := s3test.Start(t, s3test.WithMiddleware(f.wrap))
	s := newS3(t, srv, "p")
	data := []byte(`{"commitInfo":{"txnId":"mine"}}`)
	if err := s.PutIfAbsent(ctx, "_delta_log/00000000000000000003.json", data); err != nil {
		t.Fatalf("PutIfAbsent whose first attempt landed = %v, want success", err)
	}
	if f.requests() != 2 {
		t.Errorf("server saw %d PUTs, want 2 (the lost one and the retry)", f.requests())
	}
	got, err := s.Get(ctx, "_delta_log/00000000000000000003.json")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Get = %q, %v", got, err)
	}
	// Without ambiguity, the same call is a plain ErrExists.
	if err := s.PutIfAbsent(ctx, "_delta_log/00000000000000000003.json", data); !errors.Is(err, storage.ErrExists) {
		t.Fatalf("second PutIfAbsent = %v, want ErrExists", err)
	}
}

// The first attempt fails ambiguously and, meanwhile, another writer takes the key; the retry
// gets 412 and the bytes differ, so the result is ErrExists.
func TestS3AmbiguousPutIfAbsentLostToCompetitor(t *testing.T) {
	ctx := context.Background()
	key := "_delta_log/00000000000000000004.json"
	f := &flaky{match: func(r *http.Request) bool {
		return isPut(r) && r.Header.Get("If-None-Match") == "*" && r.Header.Get("X-Competitor") == ""
	}, failFirst: 1}
	srv := s3test.Start(t, s3test.WithMiddleware(f.wrap))
	competitor := newS3(t, srv, "p")
	f.before = func() {
		// The competitor's write goes through (its requests do not match: see below).
		if err := competitor.Put(context.Background(), key, []byte("theirs")); err != nil {
			t.Errorf("competitor: %v", err)
		}
	}
	// The competitor is a Put, which has no If-None-Match header, so the flaky rule skips it.
	s := newS3(t, srv, "p")
	err := s.PutIfAbsent(ctx, key, []byte("mine"))
	if !errors.Is(err, storage.ErrExists) {
		t.Fatalf("PutIfAbsent = %v, want ErrExists", err)
	}
	got, err := s.Get(ctx, key)
	if err != nil || string(got) != "theirs" {
		t.Fatalf("Get = %q, %v; want the competitor's bytes", got, err)
	}
}

// Cancelling during the retry wait ends the call with context.Canceled.
func TestS3CancelDuringRetry(t *testing.T) {
	f := &flaky{match: isPut, failFirst: 1000}
	srv := s3test.Start(t, s3test.WithMiddleware(f.wrap))
	cfg := s3Config(srv, "p")
	cfg.Retry = storage.RetryPolicy{MaxAttempts: 100, BaseDelay: time.Hour, MaxDelay: time.Hour, MaxElapsed: 1000 * time.Hour}
	ctx, cancel := context.WithCancel(context.Background())
	cfg.OnRetry = func(string, string, int, error) { cancel() }
	s, err := storage.NewS3(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = s.PutIfAbsent(ctx, "k", []byte("v"))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("PutIfAbsent = %v, want context.Canceled", err)
	}
}

// hangUp closes the connection without an answer, as a crashed server or a reset would.
func hangUp(w http.ResponseWriter, r *http.Request) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		conn.Close()
	}
}

func conflict409(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	w.WriteHeader(http.StatusConflict)
	io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>ConditionalRequestConflict</Code><Message>conflict</Message></Error>`)
}

func TestS3RetriesOtherFailures(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name      string
		failure   func(w http.ResponseWriter, r *http.Request)
		failFirst int
		timeout   time.Duration
		wantErr   error // nil: success
		wantSeen  int
	}{
		{name: "connection closed", failure: hangUp, failFirst: 2, wantSeen: 3},
		{name: "no answer within ResponseTimeout", failFirst: 1, wantSeen: 2, timeout: 50 * time.Millisecond,
			failure: func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }},
		{name: "409 conflict, then free", failure: conflict409, failFirst: 2, wantSeen: 3},
		{name: "409 conflict that persists", failure: conflict409, failFirst: 1000, wantSeen: fastRetry.MaxAttempts, wantErr: storage.ErrExists},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &flaky{match: isPut, failFirst: tc.failFirst, failure: tc.failure}
			srv := s3test.Start(t, s3test.WithMiddleware(f.wrap))
			cfg := s3Config(srv, "p")
			cfg.ResponseTimeout = tc.timeout
			s, err := storage.NewS3(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			err = s.PutIfAbsent(ctx, "k", []byte("v"))
			if tc.wantErr == nil && err != nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("PutIfAbsent = %v, want %v", err, tc.wantErr)
			}
			if got := f.requests(); got != tc.wantSeen {
				t.Errorf("server saw %d PUTs, want %d", got, tc.wantSeen)
			}
		})
	}
}
