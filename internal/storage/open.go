package storage

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// Options tune Open. The zero value reads everything S3 needs from the standard AWS environment
// variables.
type Options struct {
	// S3Endpoint overrides AWS_ENDPOINT_URL_S3 and AWS_ENDPOINT_URL ("http://127.0.0.1:9000"; an
	// http:// endpoint means plain HTTP). With no endpoint at all, AWS's regional endpoint is used.
	S3Endpoint string
	// S3Region overrides AWS_REGION and AWS_DEFAULT_REGION (default "us-east-1").
	S3Region string
	// S3AccessKey, S3SecretKey and S3SessionToken override AWS_ACCESS_KEY_ID,
	// AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN when S3AccessKey is set.
	S3AccessKey, S3SecretKey, S3SessionToken string
	// S3Retry bounds retries; zero fields take DefaultRetryPolicy's values.
	S3Retry RetryPolicy
	// S3Transport, if set, replaces the HTTP transport of S3 stores.
	S3Transport http.RoundTripper
	// Getenv reads the environment; nil means os.Getenv. Tests set it to avoid touching the
	// process environment.
	Getenv func(string) string
}

// Open returns the store for location:
//   - "s3://bucket/prefix" (or "s3a://"): an S3 store, configured from opts and the AWS
//     environment variables (endpoint: opts.S3Endpoint, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL;
//     credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, none meaning
//     anonymous; region: AWS_REGION, AWS_DEFAULT_REGION, "us-east-1"). With no endpoint the store
//     talks to AWS with virtual-hosted-style addressing, otherwise path-style. Credentials from
//     instance roles or profile files are not read.
//   - "file:///abs/path" or a plain path: a Local store, creating the directory.
//
// ctx bounds any network call made while opening (none today).
func Open(ctx context.Context, location string, opts Options) (Store, error) {
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	scheme, rest, hasScheme := strings.Cut(location, "://")
	if !hasScheme {
		if location == "" {
			return nil, fmt.Errorf("storage: empty location")
		}
		return NewLocal(location)
	}
	switch strings.ToLower(scheme) {
	case "file":
		u, err := url.Parse(location)
		if err != nil {
			return nil, fmt.Errorf("storage: location %q: %w", location, err)
		}
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("storage: location %q: file URLs must name a local path (file:///path)", location)
		}
		if u.Path == "" || !filepath.IsAbs(filepath.FromSlash(u.Path)) {
			return nil, fmt.Errorf("storage: location %q: file URLs need an absolute path", location)
		}
		return NewLocal(filepath.FromSlash(u.Path))
	case "s3", "s3a":
		bucket, prefix, _ := strings.Cut(rest, "/")
		if bucket == "" {
			return nil, fmt.Errorf("storage: location %q: no bucket", location)
		}
		cfg := S3Config{
			Endpoint: firstNonEmpty(opts.S3Endpoint, getenv("AWS_ENDPOINT_URL_S3"), getenv("AWS_ENDPOINT_URL")),
			Region:   firstNonEmpty(opts.S3Region, getenv("AWS_REGION"), getenv("AWS_DEFAULT_REGION"), "us-east-1"),
			Bucket:   bucket,
			Prefix:   prefix,
			Retry:    opts.S3Retry,

			Transport: opts.S3Transport,
		}
		if opts.S3AccessKey != "" {
			cfg.AccessKey, cfg.SecretKey, cfg.SessionToken = opts.S3AccessKey, opts.S3SecretKey, opts.S3SessionToken
		} else {
			cfg.AccessKey = getenv("AWS_ACCESS_KEY_ID")
			cfg.SecretKey = getenv("AWS_SECRET_ACCESS_KEY")
			cfg.SessionToken = getenv("AWS_SESSION_TOKEN")
		}
		cfg.VirtualHosted = cfg.Endpoint == ""
		s, err := NewS3(ctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("storage: open %s: %w", location, err)
		}
		return s, nil
	}
	return nil, fmt.Errorf("storage: location %q: unsupported scheme %q (want s3:// or file://)", location, scheme)
}

// IsRemote reports whether location names object storage (s3:// or s3a://) rather than a local
// path.
func IsRemote(location string) bool {
	scheme, _, ok := strings.Cut(location, "://")
	if !ok {
		return false
	}
	switch strings.ToLower(scheme) {
	case "s3", "s3a":
		return true
	}
	return false
}

// JoinKey joins key parts with "/", dropping empty parts and the slashes around each part:
// JoinKey("t/", "/_delta_log", "0.json") == "t/_delta_log/0.json". Slashes inside a part are kept.
func JoinKey(parts ...string) string {
	var b strings.Builder
	for _, p := range parts {
		p = strings.Trim(p, "/")
		if p == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('/')
		}
		b.WriteString(p)
	}
	return b.String()
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
