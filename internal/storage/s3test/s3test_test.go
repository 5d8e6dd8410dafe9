package s3test_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/stratalake/strata/internal/storage/s3test"
)

func put(t *testing.T, url string, body []byte, ifNoneMatch bool) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ifNoneMatch {
		req.Header.Set("If-None-Match", "*")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Errorf("PUT %s: %v", url, err)
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func get(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// The package's claim: gofakes3 decides "If-None-Match: *" atomically, so of many concurrent
// conditional PUTs of one key exactly one succeeds and its bytes are the ones stored.
func TestConditionalPutIsAtomic(t *testing.T) {
	srv := s3test.Start(t)
	const rounds, writers = 20, 48
	for round := range rounds {
		url := fmt.Sprintf("%s/%s/race/%d", srv.Endpoint, srv.Bucket, round)
		var (
			wg     sync.WaitGroup
			start  = make(chan struct{})
			status = make([]int, writers)
		)
		for i := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				status[i] = put(t, url, []byte(fmt.Sprintf("round %d writer %d", round, i)), true)
			}()
		}
		close(start)
		wg.Wait()
		winner := -1
		for i, code := range status {
			switch code {
			case http.StatusOK:
				if winner >= 0 {
					t.Fatalf("round %d: writers %d and %d both got 200", round, winner, i)
				}
				winner = i
			case http.StatusPreconditionFailed:
			default:
				t.Fatalf("round %d: writer %d got status %d", round, i, code)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: no writer won", round)
		}
		code, body := get(t, url)
		if want := fmt.Sprintf("round %d writer %d", round, winner); code != http.StatusOK || string(body) != want {
			t.Fatalf("round %d: GET = %d %q, want %q", round, code, body, want)
		}
	}
}

func TestServerBasics(t *testing.T) {
	srv := s3test.Start(t, s3test.WithBucket("other"))
	if srv.Bucket != "other" || srv.Location("/p/q/") != "s3://other/p/q" || srv.Location("") != "s3://other" {
		t.Fatalf("bucket %q, locations %q %q", srv.Bucket, srv.Location("/p/q/"), srv.Location(""))
	}
	url := srv.Endpoint + "/other/k"
	if code := put(t, url, []byte("v1"), false); code != http.StatusOK {
		t.Fatalf("PUT = %d", code)
	}
	if code := put(t, url, []byte("v2"), true); code != http.StatusPreconditionFailed {
		t.Fatalf("conditional PUT on an existing key = %d, want 412", code)
	}
	if code, body := get(t, url); code != http.StatusOK || string(body) != "v1" {
		t.Fatalf("GET = %d %q", code, body)
	}
	if len(srv.Env()) == 0 {
		t.Fatal("Env() is empty")
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := http.Get(url); err == nil {
		t.Fatal("server still answers after Close")
	}
}

func TestServeRejectsDataDir(t *testing.T) {
	if _, err := s3test.Serve("127.0.0.1:0", t.TempDir()); err == nil {
		t.Fatal("Serve with a dataDir succeeded; only the in-memory backend exists")
	}
}
