package storage

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// RetryPolicy bounds the retries an S3 store makes on transient failures (5xx, 429/SlowDown, 408,
// timeouts, connection errors). Attempt n (0-based) waits a random duration in [d/2, d] before the
// next one, where d = min(MaxDelay, BaseDelay·2ⁿ). Retrying stops after MaxAttempts attempts, when
// the next wait would take the total past MaxElapsed, or when ctx is done. Zero fields take the
// defaults of DefaultRetryPolicy.
type RetryPolicy struct {
	// MaxAttempts is the number of attempts including the first (default 6).
	MaxAttempts int
	// BaseDelay is the wait after the first failed attempt, before jitter (default 100ms).
	BaseDelay time.Duration
	// MaxDelay caps one wait (default 2s).
	MaxDelay time.Duration
	// MaxElapsed caps the time spent on one call, waits included (default 30s).
	MaxElapsed time.Duration
}

// DefaultRetryPolicy is used for the zero fields of S3Config.Retry.
var DefaultRetryPolicy = RetryPolicy{
	MaxAttempts: 6,
	BaseDelay:   100 * time.Millisecond,
	MaxDelay:    2 * time.Second,
	MaxElapsed:  30 * time.Second,
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = DefaultRetryPolicy.MaxAttempts
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = DefaultRetryPolicy.BaseDelay
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = DefaultRetryPolicy.MaxDelay
	}
	if p.MaxDelay < p.BaseDelay {
		p.MaxDelay = p.BaseDelay
	}
	if p.MaxElapsed <= 0 {
		p.MaxElapsed = DefaultRetryPolicy.MaxElapsed
	}
	return p
}

// delay returns the jittered wait after failed attempt n (0-based).
func (p RetryPolicy) delay(n int) time.Duration {
	d := p.BaseDelay
	for i := 0; i < n && d < p.MaxDelay; i++ {
		d *= 2
	}
	d = min(d, p.MaxDelay)
	half := d / 2
	return half + rand.N(d-half+1)
}

// S3Config configures an S3 store.
type S3Config struct {
	// Endpoint is the server, as "host:port" or a URL ("http://127.0.0.1:9000"). A URL's scheme
	// decides TLS: "http" implies Insecure. Empty means AWS, s3.<Region>.amazonaws.com.
	Endpoint string
	// Region is the bucket's region (default "us-east-1"). Setting it avoids a location lookup.
	Region string
	// AccessKey, SecretKey and SessionToken are static credentials; all empty means anonymous
	// requests.
	AccessKey, SecretKey, SessionToken string
	// Bucket is the bucket name; required.
	Bucket string
	// Prefix is the store root inside the bucket; a key k is stored as "<Prefix>/<k>" (or "k" when
	// Prefix is empty). Leading and trailing slashes are ignored.
	Prefix string
	// Insecure selects plain HTTP instead of HTTPS.
	Insecure bool
	// VirtualHosted selects virtual-hosted-style addressing (bucket.host), AWS's preferred style;
	// Open sets it when no endpoint is configured. The default is path-style (host/bucket), which
	// self-hosted servers (MinIO, versitygw, gofakes3) expect.
	VirtualHosted bool
	// Retry bounds retries on transient failures; zero fields take DefaultRetryPolicy's values.
	Retry RetryPolicy
	// ResponseTimeout bounds the wait for a response's headers after a request is sent, so a hung
	// server turns into a retryable timeout (default 30s). Reading a body is bounded only by ctx.
	ResponseTimeout time.Duration
	// Transport, if set, replaces the HTTP transport (tests wrap it to inject failures);
	// ResponseTimeout is then the transport's business.
	Transport http.RoundTripper
	// OnRetry, if set, is called before each retry wait with the operation, the key, the 1-based
	// number of the attempt that failed and its error. It must not block.
	OnRetry func(op, key string, attempt int, err error)
}

// S3 is a Store over a bucket prefix of S3-compatible object storage, through minio-go.
//
// Invariants and behaviour:
//   - PutIfAbsent is a conditional PUT with "If-None-Match: *"; the server decides atomically,
//     so it is safe across processes and machines as long as the server honours the header
//     (AWS since 2024, MinIO, versitygw, gofakes3). 412 PreconditionFailed maps to ErrExists.
//   - Retries are this type's own loop (minio-go's internal retry is disabled with MaxRetries=1):
//     minio-go retries inside one call, which would hide from PutIfAbsent that an earlier attempt
//     may have landed. Every method retries transient failures under S3Config.Retry; once the
//     budget is spent the error wraps ErrTransient. (Even with MaxRetries=1, minio-go waits up to
//     200ms, its DefaultRetryUnit with jitter, after a failure it deems retryable before
//     returning it; that wait adds to ours.)
//   - An ambiguous PutIfAbsent (an attempt failed after the request may have reached the
//     server, then a retry got 412) reads the object back: identical bytes mean our first attempt
//     landed and the call succeeds; different bytes mean another writer won, ErrExists. (A
//     competitor that wrote byte-identical content is indistinguishable, and harmless.)
//   - 409 ConditionalRequestConflict (AWS: a concurrent operation on the key) is retried as AWS
//     advises; if it persists past the budget the call returns ErrExists.
//   - Objects are written with one PUT (no multipart), so the size limit is 5 GiB.
//   - Keys ending in "/" (directory markers made by other tools) are not listed.
//
// NewS3 makes no request; a wrong bucket or credentials show up on the first call.
type S3 struct {
	core   minio.Core
	cfg    S3Config // normalised: Prefix trimmed, Retry with defaults
	prefix string   // Prefix without surrounding slashes
	url    string   // "s3://bucket" or "s3://bucket/prefix"
	server string   // resolved endpoint URL, "https://s3.us-east-1.amazonaws.com"
}

// NewS3 returns a store for cfg. ctx is unused today (no request is made) and kept for a later
// bucket check.
func NewS3(ctx context.Context, cfg S3Config) (*S3, error) {
	_ = ctx
	if cfg.Bucket == "" {
		return nil, errors.New("storage: s3: bucket is required")
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	endpoint := cfg.Endpoint
	if endpoint == "" {
		endpoint = "s3." + cfg.Region + ".amazonaws.com"
	}
	if strings.Contains(endpoint, "://") {
		u, err := url.Parse(endpoint)
		if err != nil {
			return nil, fmt.Errorf("storage: s3 endpoint %q: %w", cfg.Endpoint, err)
		}
		switch u.Scheme {
		case "http":
			cfg.Insecure = true
		case "https":
		default:
			return nil, fmt.Errorf("storage: s3 endpoint %q: scheme must be http or https", cfg.Endpoint)
		}
		if u.Path != "" && u.Path != "/" {
			return nil, fmt.Errorf("storage: s3 endpoint %q: a path is not supported", cfg.Endpoint)
		}
		endpoint = u.Host
	}
	cfg.Prefix = strings.Trim(cfg.Prefix, "/")
	cfg.Retry = cfg.Retry.withDefaults()
	if cfg.ResponseTimeout <= 0 {
		cfg.ResponseTimeout = 30 * time.Second
	}

	transport := cfg.Transport
	if transport == nil {
		tr, err := minio.DefaultTransport(!cfg.Insecure)
		if err != nil {
			return nil, fmt.Errorf("storage: s3 transport: %w", err)
		}
		tr.ResponseHeaderTimeout = cfg.ResponseTimeout
		transport = tr
	}
	lookup := minio.BucketLookupPath
	if cfg.VirtualHosted {
		lookup = minio.BucketLookupDNS
	}
	core, err := minio.NewCore(endpoint, &minio.Options{
		Creds:        credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, cfg.SessionToken),
		Secure:       !cfg.Insecure,
		Transport:    transport,
		Region:       cfg.Region,
		BucketLookup: lookup,
		MaxRetries:   1, // retries are ours, see the type comment
	})
	if err != nil {
		return nil, fmt.Errorf("storage: s3 client for %s: %w", endpoint, err)
	}
	u := "s3://" + cfg.Bucket
	if cfg.Prefix != "" {
		u += "/" + cfg.Prefix
	}
	scheme := "https://"
	if cfg.Insecure {
		scheme = "http://"
	}
	return &S3{core: *core, cfg: cfg, prefix: cfg.Prefix, url: u, server: scheme + endpoint}, nil
}

// Endpoint returns the server's base URL as resolved from the configuration
// ("http://127.0.0.1:9000", "https://s3.us-east-1.amazonaws.com").
func (s *S3) Endpoint() string { return s.server }

// Region returns the region requests are signed for.
func (s *S3) Region() string { return s.cfg.Region }

// URL returns "s3://bucket/prefix".
func (s *S3) URL() string { return s.url }

// Bucket returns the bucket name.
func (s *S3) Bucket() string { return s.cfg.Bucket }

// Prefix returns the store root inside the bucket, without surrounding slashes.
func (s *S3) Prefix() string { return s.prefix }

// objectName maps a store key to the bucket's object name.
func (s *S3) objectName(key string) string {
	if s.prefix == "" {
		return key
	}
	return s.prefix + "/" + key
}

func checkKey(key string) error {
	if key == "" || strings.HasPrefix(key, "/") {
		return fmt.Errorf("invalid key %q", key)
	}
	return nil
}

// errClass sorts S3 errors by what a caller should do with them.
type errClass int

const (
	classFatal        errClass = iota // give up
	classTransient                    // retry; the request may have been applied
	classNotFound                     // NoSuchKey
	classPrecondition                 // 412: If-None-Match failed
	classConflict                     // 409 ConditionalRequestConflict: retry, nothing applied
	classBadRange                     // 416: range starts at or past the end
)

// retryableCodes are S3 error codes worth retrying whatever their status.
var retryableCodes = map[string]bool{
	"InternalError": true, "ServiceUnavailable": true, "SlowDown": true, "SlowDownRead": true,
	"SlowDownWrite": true, "RequestTimeout": true, "Throttling": true, "ThrottlingException": true,
	"RequestLimitExceeded": true, "RequestThrottled": true,
}

func classify(err error) errClass {
	var er minio.ErrorResponse
	if errors.As(err, &er) && (er.StatusCode != 0 || er.Code != "") {
		switch {
		case er.Code == "NoSuchKey":
			return classNotFound
		case er.StatusCode == http.StatusPreconditionFailed || er.Code == "PreconditionFailed":
			return classPrecondition
		case er.Code == "ConditionalRequestConflict":
			return classConflict
		case er.StatusCode == http.StatusRequestedRangeNotSatisfiable || er.Code == "InvalidRange":
			return classBadRange
		case retryableCodes[er.Code], er.StatusCode >= 500,
			er.StatusCode == http.StatusTooManyRequests, er.StatusCode == http.StatusRequestTimeout:
			return classTransient
		case er.StatusCode == http.StatusNotFound && er.Code != "NoSuchBucket":
			return classNotFound
		}
		return classFatal
	}
	if errors.Is(err, context.Canceled) {
		return classFatal
	}
	// TLS misconfiguration does not heal by retrying.
	var (
		unknownAuthority x509.UnknownAuthorityError
		certInvalid      x509.CertificateInvalidError
		hostname         x509.HostnameError
		recordHeader     tls.RecordHeaderError
	)
	if errors.As(err, &unknownAuthority) || errors.As(err, &certInvalid) || errors.As(err, &hostname) || errors.As(err, &recordHeader) {
		return classFatal
	}
	var ne net.Error
	switch {
	case errors.As(err, &ne), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.EPIPE), errors.Is(err, context.DeadlineExceeded):
		// context.DeadlineExceeded here is a transport timeout; the caller's own deadline is
		// checked before classification.
		return classTransient
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return classTransient
	}
	return classFatal
}

// attemptResult is what one attempt of a retried operation reports.
type attemptResult struct {
	class errClass
	err   error
}

// retry runs attempt until it succeeds, fails with an error that is not retryable, or the retry
// budget or ctx runs out. It returns nil, the non-retryable error (unwrapped, for the caller to
// classify), or an error wrapping ErrTransient (and the last error) when the budget is spent, or
// one wrapping ctx.Err() when ctx ended. retryOn adds classes worth retrying beyond
// classTransient; onFail sees every failed attempt.
func (s *S3) retry(ctx context.Context, op, key string, retryOn map[errClass]bool, onFail func(errClass, error), attempt func(ctx context.Context) error) error {
	p := s.cfg.Retry
	start := time.Now()
	var last error
	for n := 0; ; n++ {
		if err := ctx.Err(); err != nil {
			if last != nil {
				return fmt.Errorf("%w (last error: %v)", err, last)
			}
			return err
		}
		err := attempt(ctx)
		if err == nil {
			return nil
		}
		if cerr := ctx.Err(); cerr != nil {
			return fmt.Errorf("%w (last error: %v)", cerr, err)
		}
		c := classify(err)
		if onFail != nil {
			onFail(c, err)
		}
		if c != classTransient && !retryOn[c] {
			return err
		}
		last = err
		if n+1 >= p.MaxAttempts {
			return fmt.Errorf("%w: gave up after %d attempts: %w", ErrTransient, n+1, err)
		}
		wait := p.delay(n)
		if time.Since(start)+wait > p.MaxElapsed {
			return fmt.Errorf("%w: gave up after %d attempts in %v: %w", ErrTransient, n+1, time.Since(start).Round(time.Millisecond), err)
		}
		if s.cfg.OnRetry != nil {
			s.cfg.OnRetry(op, key, n+1, err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-t.C:
		}
	}
}

// fail wraps err for op on key, mapping NoSuchKey to ErrNotFound and 412 to ErrExists.
func (s *S3) fail(op, key string, err error) error {
	switch classify(err) {
	case classNotFound:
		err = fmt.Errorf("%w: %v", ErrNotFound, err)
	case classPrecondition:
		err = fmt.Errorf("%w: %v", ErrExists, err)
	}
	return pathError(op, s.url, key, err)
}

// readObject GETs key (a range when length >= 0) and reads the whole body.
func (s *S3) readObject(ctx context.Context, op, key string, offset, length int64) ([]byte, error) {
	if err := checkKey(key); err != nil {
		return nil, pathError(op, s.url, key, err)
	}
	var data []byte
	err := s.retry(ctx, op, key, nil, nil, func(ctx context.Context) error {
		opts := minio.GetObjectOptions{}
		if length >= 0 {
			if err := opts.SetRange(offset, offset+length-1); err != nil {
				return err
			}
		}
		rc, _, _, err := s.core.GetObject(ctx, s.cfg.Bucket, s.objectName(key), opts)
		if err != nil {
			return err
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		if err != nil {
			return err
		}
		data = b
		return nil
	})
	if err != nil {
		return nil, err
	}
	if data == nil {
		data = []byte{}
	}
	return data, nil
}

// Get reads a whole object.
func (s *S3) Get(ctx context.Context, key string) ([]byte, error) {
	b, err := s.readObject(ctx, "get", key, 0, -1)
	if err != nil {
		return nil, s.fail("get", key, err)
	}
	return b, nil
}

// GetRange reads length bytes at offset with a Range request. A range starting at or past the
// end (S3's 416) yields no bytes and no error.
func (s *S3) GetRange(ctx context.Context, key string, offset, length int64) ([]byte, error) {
	if offset < 0 || length < 0 {
		return nil, pathError("get", s.url, key, fmt.Errorf("invalid range offset %d length %d", offset, length))
	}
	if length == 0 {
		if _, err := s.Stat(ctx, key); err != nil {
			return nil, err
		}
		return []byte{}, nil
	}
	b, err := s.readObject(ctx, "get", key, offset, length)
	if err != nil {
		if classify(err) == classBadRange {
			return []byte{}, nil
		}
		return nil, s.fail("get", key, err)
	}
	if int64(len(b)) > length { // a server that ignored the Range header
		if offset >= int64(len(b)) {
			return []byte{}, nil
		}
		b = b[offset:min(int64(len(b)), offset+length)]
	}
	return b, nil
}

// Open starts a GET and returns its body. Only the request is retried; a failure while reading
// surfaces from Read. Cancelling ctx aborts the stream.
func (s *S3) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := checkKey(key); err != nil {
		return nil, pathError("open", s.url, key, err)
	}
	var rc io.ReadCloser
	err := s.retry(ctx, "open", key, nil, nil, func(ctx context.Context) error {
		r, _, _, err := s.core.GetObject(ctx, s.cfg.Bucket, s.objectName(key), minio.GetObjectOptions{})
		if err != nil {
			return err
		}
		rc = r
		return nil
	})
	if err != nil {
		return nil, s.fail("open", key, err)
	}
	return rc, nil
}

// put sends one PUT of data, conditional on absence when ifAbsent. It passes the payload's MD5
// (the server verifies it) and SHA-256 (signed), and turns off minio-go's streaming signature:
// minio-go then signs a plain request instead of streaming an aws-chunked body, which some
// S3-compatible servers mishandle (gofakes3 rejects an empty aws-chunked body).
func (s *S3) put(ctx context.Context, key string, data []byte, ifAbsent bool) error {
	sum := md5.Sum(data)
	sha := sha256.Sum256(data)
	opts := minio.PutObjectOptions{ContentType: "application/octet-stream", DisableMultipart: true, DisableContentSha256: true}
	if ifAbsent {
		opts.SetMatchETagExcept("*")
	}
	_, err := s.core.PutObject(ctx, s.cfg.Bucket, s.objectName(key), bytes.NewReader(data), int64(len(data)),
		base64.StdEncoding.EncodeToString(sum[:]), hex.EncodeToString(sha[:]), opts)
	return err
}

// Put writes an object, replacing any existing one. S3 makes it visible atomically.
func (s *S3) Put(ctx context.Context, key string, data []byte) error {
	if err := checkKey(key); err != nil {
		return pathError("put", s.url, key, err)
	}
	err := s.retry(ctx, "put", key, nil, nil, func(ctx context.Context) error {
		return s.put(ctx, key, data, false)
	})
	if err != nil {
		return s.fail("put", key, err)
	}
	return nil
}

// PutIfAbsent writes an object only if none exists under key, with a conditional PUT. See the
// type comment for how an ambiguous first attempt is resolved.
func (s *S3) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	const op = "put-if-absent"
	if err := checkKey(key); err != nil {
		return pathError(op, s.url, key, err)
	}
	mayHaveLanded := false
	onFail := func(c errClass, err error) {
		if c == classTransient {
			mayHaveLanded = true
		}
	}
	err := s.retry(ctx, op, key, map[errClass]bool{classConflict: true}, onFail, func(ctx context.Context) error {
		return s.put(ctx, key, data, true)
	})
	if err == nil {
		return nil
	}
	switch c := classify(err); {
	case c == classPrecondition && mayHaveLanded:
		got, gerr := s.readObject(ctx, op, key, 0, -1)
		if gerr != nil {
			return pathError(op, s.url, key, fmt.Errorf("412 after an ambiguous attempt, and reading the object back failed: %w", gerr))
		}
		if bytes.Equal(got, data) {
			return nil // our earlier attempt landed
		}
		return pathError(op, s.url, key, fmt.Errorf("%w: %v", ErrExists, err))
	case c == classConflict: // also when the budget ran out on 409s (classify sees through ErrTransient)
		return pathError(op, s.url, key, fmt.Errorf("%w: conditional write kept conflicting: %v", ErrExists, err))
	}
	return s.fail(op, key, err)
}

// List returns the objects under prefix after startAfter, in lexical (byte) order, reading every
// page. A page that fails transiently is retried from the last key received.
func (s *S3) List(ctx context.Context, prefix, startAfter string) ([]ObjectInfo, error) {
	root := ""
	if s.prefix != "" {
		root = s.prefix + "/"
	}
	var out []ObjectInfo
	after := ""
	if startAfter != "" {
		after = root + startAfter
	}
	err := s.retry(ctx, "list", prefix, nil, nil, func(ctx context.Context) error {
		ctx, cancel := context.WithCancel(ctx) // stops minio-go's iterator when we return early
		defer cancel()
		for obj := range s.core.ListObjectsIter(ctx, s.cfg.Bucket, minio.ListObjectsOptions{
			Prefix:     root + prefix,
			StartAfter: after,
			Recursive:  true,
		}) {
			if obj.Err != nil {
				return obj.Err
			}
			after = obj.Key
			key, ok := strings.CutPrefix(obj.Key, root)
			if !ok || key == "" || strings.HasSuffix(key, "/") || key <= startAfter || !strings.HasPrefix(key, prefix) {
				continue
			}
			out = append(out, ObjectInfo{Key: key, Size: obj.Size, ModTime: obj.LastModified})
		}
		return nil
	})
	if err != nil {
		return nil, s.fail("list", prefix, err)
	}
	// S3 already lists in UTF-8 byte order; sorting guards against servers that do not.
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// Delete removes an object; a missing object is not an error.
func (s *S3) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return pathError("delete", s.url, key, err)
	}
	err := s.retry(ctx, "delete", key, nil, nil, func(ctx context.Context) error {
		return s.core.RemoveObject(ctx, s.cfg.Bucket, s.objectName(key), minio.RemoveObjectOptions{})
	})
	if err != nil && classify(err) != classNotFound {
		return s.fail("delete", key, err)
	}
	return nil
}

// Stat returns an object's size and modification time (HEAD).
func (s *S3) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	if err := checkKey(key); err != nil {
		return ObjectInfo{}, pathError("stat", s.url, key, err)
	}
	var info minio.ObjectInfo
	err := s.retry(ctx, "stat", key, nil, nil, func(ctx context.Context) error {
		i, err := s.core.StatObject(ctx, s.cfg.Bucket, s.objectName(key), minio.StatObjectOptions{})
		info = i
		return err
	})
	if err != nil {
		return ObjectInfo{}, s.fail("stat", key, err)
	}
	return ObjectInfo{Key: key, Size: info.Size, ModTime: info.LastModified}, nil
}
