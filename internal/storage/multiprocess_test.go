package storage_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stratalake/strata/internal/storage"
	"github.com/stratalake/strata/internal/storage/s3test"
)

// The multi-process tests re-execute the test binary as writer processes. These variables carry
// the child's instructions; childEnv switches TestMain into the child role.
const (
	childEnv         = "STRATA_STORAGE_TEST_CHILD"
	childLocationEnv = "STRATA_STORAGE_TEST_LOCATION"
	childWriterEnv   = "STRATA_STORAGE_TEST_WRITER"
	childVersionsEnv = "STRATA_STORAGE_TEST_VERSIONS"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(runChild())
	}
	os.Exit(m.Run())
}

// childResult is what a writer process prints on stdout.
type childResult struct {
	Writer int
	Won    []int // versions this writer created
}

func versionKey(v int) string { return fmt.Sprintf("_delta_log/%020d.json", v) }

// payload is writer w's content for version v: a header naming both, then 8 to 72 KiB of bytes
// derived from them, so a partial or mixed-up file cannot match.
func payload(w, v int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "writer=%d version=%d\n", w, v)
	h := fnv.New64a()
	fmt.Fprintf(h, "%d/%d", w, v)
	x := h.Sum64()
	n := 8<<10 + int(x%(64<<10))
	for b.Len() < n {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b.WriteByte(byte('a' + x%26))
	}
	return b.Bytes()
}

// runChild is a writer process: once its stdin delivers the start signal, it claims versions in
// order like a Delta writer, moving to the next version when one is taken, and prints the
// versions it won.
func runChild() int {
	fail := func(format string, args ...any) int {
		fmt.Fprintf(os.Stderr, "child: "+format+"\n", args...)
		return 1
	}
	writer, err := strconv.Atoi(os.Getenv(childWriterEnv))
	if err != nil {
		return fail("writer: %v", err)
	}
	versions, err := strconv.Atoi(os.Getenv(childVersionsEnv))
	if err != nil {
		return fail("versions: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st, err := storage.Open(ctx, os.Getenv(childLocationEnv), storage.Options{S3Retry: fastRetry})
	if err != nil {
		return fail("open: %v", err)
	}
	if _, err := io.ReadFull(os.Stdin, make([]byte, 1)); err != nil {
		return fail("waiting for the start signal: %v", err)
	}
	res := childResult{Writer: writer}
	for v, tries := 0, 0; v < versions; {
		err := st.PutIfAbsent(ctx, versionKey(v), payload(writer, v))
		switch {
		case err == nil:
			res.Won = append(res.Won, v)
			v, tries = v+1, 0
		case errors.Is(err, storage.ErrExists):
			v, tries = v+1, 0
		case storage.IsTransient(err) && tries < 5:
			tries++ // a retry may find its own object: ErrExists, then the check below fails
		default:
			return fail("put-if-absent version %d: %v", v, err)
		}
	}
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		return fail("report: %v", err)
	}
	return 0
}

// raceWriters starts writers processes that race to write versions 0..versions-1 at location,
// and checks that every version exists exactly once, holds one writer's complete payload, and
// was reported won by that writer, and that the wins add up to versions.
func raceWriters(t *testing.T, location string, env []string, writers, versions int) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	type child struct {
		cmd            *exec.Cmd
		stdin          io.WriteCloser
		stdout, stderr bytes.Buffer
	}
	children := make([]*child, writers)
	for w := range writers {
		c := &child{cmd: exec.Command(exe)}
		c.cmd.Env = append(os.Environ(), env...)
		c.cmd.Env = append(c.cmd.Env,
			childEnv+"=1",
			childLocationEnv+"="+location,
			childWriterEnv+"="+strconv.Itoa(w),
			childVersionsEnv+"="+strconv.Itoa(versions),
		)
		c.cmd.Stdout, c.cmd.Stderr = &c.stdout, &c.stderr
		if c.stdin, err = c.cmd.StdinPipe(); err != nil {
			t.Fatal(err)
		}
		if err := c.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		children[w] = c
	}
	// All processes are up before any writes: release them together.
	for _, c := range children {
		c.stdin.Write([]byte{1})
		c.stdin.Close()
	}
	winner := map[int]int{} // version -> writer that reported it
	total := 0
	for w, c := range children {
		if err := c.cmd.Wait(); err != nil {
			t.Fatalf("writer %d: %v\n%s", w, err, c.stderr.String())
		}
		var res childResult
		if err := json.Unmarshal(c.stdout.Bytes(), &res); err != nil {
			t.Fatalf("writer %d: bad report %q: %v", w, c.stdout.String(), err)
		}
		total += len(res.Won)
		for _, v := range res.Won {
			if prev, dup := winner[v]; dup {
				t.Errorf("version %d reported won by writers %d and %d", v, prev, w)
			}
			winner[v] = w
		}
		t.Logf("writer %d won %d versions", w, len(res.Won))
	}
	if total != versions {
		t.Errorf("writers report %d wins in total, want %d", total, versions)
	}

	ctx := context.Background()
	st, err := storage.Open(ctx, location, storage.Options{Getenv: envOf(envMap(env))})
	if err != nil {
		t.Fatal(err)
	}
	infos, err := st.List(ctx, "_delta_log/", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != versions {
		t.Errorf("listed %d objects, want %d", len(infos), versions)
	}
	for v, info := range infos {
		if info.Key != versionKey(v) {
			t.Fatalf("object %d is %q, want %q", v, info.Key, versionKey(v))
		}
		data, err := st.Get(ctx, info.Key)
		if err != nil {
			t.Fatal(err)
		}
		var w, gotV int
		if _, err := fmt.Sscanf(string(data), "writer=%d version=%d\n", &w, &gotV); err != nil || gotV != v {
			t.Fatalf("version %d: bad header %q (%v)", v, trunc(data), err)
		}
		if !bytes.Equal(data, payload(w, v)) {
			t.Fatalf("version %d: %d bytes that are not writer %d's complete payload (%d bytes)", v, len(data), w, len(payload(w, v)))
		}
		if winner[v] != w {
			t.Errorf("version %d holds writer %d's payload, but writer %d reported winning it", v, w, winner[v])
		}
	}
}

func trunc(b []byte) string {
	if i := bytes.IndexByte(b, '\n'); i >= 0 && i < 64 {
		return string(b[:i])
	}
	return string(b[:min(len(b), 64)])
}

func envMap(env []string) map[string]string {
	m := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

const (
	mpWriters  = 6
	mpVersions = 60
)

func TestMultiProcessLocalPutIfAbsent(t *testing.T) {
	raceWriters(t, t.TempDir(), nil, mpWriters, mpVersions)
}

// The test process serves S3; the writer processes reach it over HTTP.
func TestMultiProcessS3PutIfAbsent(t *testing.T) {
	srv := s3test.Start(t)
	raceWriters(t, srv.Location("tables/mp"), srv.Env(), mpWriters, mpVersions)
}
