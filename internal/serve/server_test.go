package serve

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stratalake/strata/internal/engine"
	"github.com/stratalake/strata/internal/project"
)

// gatedFS is the web UI's files with a gate on slow.txt: each Stat of it announces itself on
// entered and waits for a token on release. It holds API requests in flight without sleeping.
type gatedFS struct {
	fstest.MapFS
	entered, release chan struct{}
}

func (g gatedFS) Stat(name string) (fs.FileInfo, error) {
	if name == "slow.txt" {
		g.entered <- struct{}{}
		<-g.release
	}
	return g.MapFS.Stat(name)
}

type extrasAnswer struct {
	status     int
	retryAfter string
	body       string
}

func get(t *testing.T, url string) extrasAnswer {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Error(err)
		return extrasAnswer{}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return extrasAnswer{resp.StatusCode, resp.Header.Get("Retry-After"), string(b)}
}

// TestExtendInFlightAndMounts: beyond MaxInFlight the API answers 429 with Retry-After and a
// JSON error; /healthz and mounted handlers are not counted; requests are admitted again once
// the held ones are done. Bad mount prefixes are configuration errors.
func TestExtendInFlightAndMounts(t *testing.T) {
	ctx := context.Background()
	eng, err := engine.Open(ctx, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	dir := t.TempDir()
	p := &project.Project{Dir: dir, File: filepath.Join(dir, "strata.yaml"), StorageRoot: dir,
		Config: project.Config{Serve: project.ServeConfig{Endpoints: []project.ServeEndpoint{{Path: "/api/users/{id}", SQL: "SELECT {id} AS id", Params: map[string]string{"id": "BIGINT"}}}}}}
	gfs := gatedFS{MapFS: fstest.MapFS{"index.html": {Data: []byte("<html></html>")}, "slow.txt": {Data: []byte("slow")}},
		entered: make(chan struct{}), release: make(chan struct{})}

	for _, prefix := range []string{"/api/", "/api/users/", "v1/", "/v1", "/"} {
		srv, err := New(Options{Project: p, Engine: eng, Assets: gfs})
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Extend(Extras{Mounts: map[string]http.Handler{prefix: http.NotFoundHandler()}}); !errors.Is(err, ErrConfig) {
			t.Errorf("mount %q: %v, want ErrConfig", prefix, err)
		}
	}

	srv, err := New(Options{Project: p, Engine: eng, Assets: gfs})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	mounted := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "mounted "+r.URL.Path) })
	if err := srv.Extend(Extras{MaxInFlight: 2, RetryAfter: 1500 * time.Millisecond, Mounts: map[string]http.Handler{"/v1/topics/": mounted}}); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()

	held := make(chan extrasAnswer, 2)
	for range 2 {
		go func() { held <- get(t, hs.URL+"/slow.txt") }()
		<-gfs.entered
	}
	a := get(t, hs.URL+"/api/users/7")
	var body map[string]any
	if a.status != http.StatusTooManyRequests || a.retryAfter != "2" || json.Unmarshal([]byte(a.body), &body) != nil ||
		!strings.Contains(body["error"].(string), "in flight") || body["retry_after_s"] != float64(2) {
		t.Errorf("a request over the bound: %+v, want 429 with Retry-After 2 and a JSON error", a)
	}
	if a := get(t, hs.URL+"/healthz"); a.status != http.StatusOK {
		t.Errorf("/healthz at the bound: %+v, want 200 (not counted)", a)
	}
	if a := get(t, hs.URL+"/v1/topics/events/records"); a.status != http.StatusOK || a.body != "mounted /v1/topics/events/records" {
		t.Errorf("mounted handler at the bound: %+v", a)
	}
	gfs.release <- struct{}{}
	gfs.release <- struct{}{}
	for range 2 {
		if a := <-held; a.status != http.StatusOK || a.body != "slow" {
			t.Errorf("held request: %+v", a)
		}
	}
	if a := get(t, hs.URL+"/api/users/7"); a.status != http.StatusOK || !strings.Contains(a.body, `"id":7`) {
		t.Errorf("the refused request sent again: %+v, want 200", a)
	}
}
