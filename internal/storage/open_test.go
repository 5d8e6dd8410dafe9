package storage_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stratalake/strata/internal/storage"
	"github.com/stratalake/strata/internal/storage/s3test"
)

func envOf(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

func TestOpenS3(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		location string
		opts     storage.Options
		env      map[string]string
		// want
		url, bucket, prefix, endpoint, region string
	}{
		{
			name: "aws default", location: "s3://bkt/tables/orders",
			url: "s3://bkt/tables/orders", bucket: "bkt", prefix: "tables/orders",
			endpoint: "https://s3.us-east-1.amazonaws.com", region: "us-east-1",
		},
		{
			name: "aws region from env", location: "s3://bkt", env: map[string]string{"AWS_DEFAULT_REGION": "eu-west-3"},
			url: "s3://bkt", bucket: "bkt", prefix: "", endpoint: "https://s3.eu-west-3.amazonaws.com", region: "eu-west-3",
		},
		{
			name: "AWS_REGION wins over AWS_DEFAULT_REGION", location: "s3://bkt/p/",
			env: map[string]string{"AWS_DEFAULT_REGION": "eu-west-3", "AWS_REGION": "ap-south-1"},
			url: "s3://bkt/p", bucket: "bkt", prefix: "p", endpoint: "https://s3.ap-south-1.amazonaws.com", region: "ap-south-1",
		},
		{
			name: "generic endpoint env", location: "s3a://bkt/p",
			env: map[string]string{"AWS_ENDPOINT_URL": "http://minio.local:9000"},
			url: "s3://bkt/p", bucket: "bkt", prefix: "p", endpoint: "http://minio.local:9000", region: "us-east-1",
		},
		{
			name: "S3 endpoint env wins", location: "s3://bkt/p",
			env: map[string]string{"AWS_ENDPOINT_URL": "http://a:1", "AWS_ENDPOINT_URL_S3": "https://b:2"},
			url: "s3://bkt/p", bucket: "bkt", prefix: "p", endpoint: "https://b:2", region: "us-east-1",
		},
		{
			name: "option wins", location: "s3://bkt/p", opts: storage.Options{S3Endpoint: "http://c:3", S3Region: "r1"},
			env: map[string]string{"AWS_ENDPOINT_URL": "http://a:1", "AWS_ENDPOINT_URL_S3": "https://b:2", "AWS_REGION": "r2"},
			url: "s3://bkt/p", bucket: "bkt", prefix: "p", endpoint: "http://c:3", region: "r1",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Getenv = envOf(tc.env)
			st, err := storage.Open(ctx, tc.location, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			s, ok := st.(*storage.S3)
			if !ok {
				t.Fatalf("Open(%q) = %T, want *storage.S3", tc.location, st)
			}
			got := [5]string{s.URL(), s.Bucket(), s.Prefix(), s.Endpoint(), s.Region()}
			want := [5]string{tc.url, tc.bucket, tc.prefix, tc.endpoint, tc.region}
			if got != want {
				t.Errorf("Open(%q) = %q, want %q", tc.location, got, want)
			}
			if !storage.IsRemote(tc.location) {
				t.Errorf("IsRemote(%q) = false", tc.location)
			}
		})
	}
}

func TestOpenLocal(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	tests := []struct{ location, wantRoot string }{
		{filepath.Join(dir, "plain"), filepath.Join(dir, "plain")},
		{"file://" + filepath.ToSlash(filepath.Join(dir, "url")), filepath.Join(dir, "url")},
		{"file://localhost" + filepath.ToSlash(filepath.Join(dir, "host")), filepath.Join(dir, "host")},
	}
	for _, tc := range tests {
		st, err := storage.Open(ctx, tc.location, storage.Options{})
		if err != nil {
			t.Fatalf("Open(%q): %v", tc.location, err)
		}
		l, ok := st.(*storage.Local)
		if !ok || l.Root() != tc.wantRoot {
			t.Errorf("Open(%q) = %T %v, want Local at %s", tc.location, st, st.URL(), tc.wantRoot)
		}
		if storage.IsRemote(tc.location) {
			t.Errorf("IsRemote(%q) = true", tc.location)
		}
	}
}

func TestOpenRejects(t *testing.T) {
	for _, loc := range []string{"", "s3://", "s3:///prefix", "gs://bucket/p", "file://remote-host/x", "file://relative", "https://example.com/x"} {
		if st, err := storage.Open(context.Background(), loc, storage.Options{Getenv: envOf(nil)}); err == nil {
			t.Errorf("Open(%q) = %v, want an error", loc, st.URL())
		}
	}
}

// Open with only the environment a child process would get reaches a real server.
func TestOpenS3EndToEnd(t *testing.T) {
	srv := s3test.Start(t)
	env := map[string]string{}
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	ctx := context.Background()
	st, err := storage.Open(ctx, srv.Location("e2e"), storage.Options{Getenv: envOf(env)})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutIfAbsent(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if got, err := st.Get(ctx, "k"); err != nil || string(got) != "v" {
		t.Fatalf("Get = %q, %v", got, err)
	}
}

func TestJoinKey(t *testing.T) {
	tests := []struct {
		parts []string
		want  string
	}{
		{nil, ""},
		{[]string{"a"}, "a"},
		{[]string{"t/", "/_delta_log", "0.json"}, "t/_delta_log/0.json"},
		{[]string{"", "a", "", "b/c"}, "a/b/c"},
		{[]string{"/"}, ""},
	}
	for _, tc := range tests {
		if got := storage.JoinKey(tc.parts...); got != tc.want {
			t.Errorf("JoinKey(%q) = %q, want %q", tc.parts, got, tc.want)
		}
	}
}
