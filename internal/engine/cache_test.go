package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/storage"
	"github.com/stratalake/strata/internal/storage/s3test"
	"github.com/stratalake/strata/internal/table"
	"github.com/stratalake/strata/internal/testutil"
)

// remoteTables are conformance tables copied to S3 by the tests: deletion vectors (one in a
// checkpoint), partition values of many types, column mapping, a classic checkpoint.
var remoteTables = []string{
	"kernel-data/table-with-dv-small",
	"delta-rs/table_with_deletion_logs",
	"golden/data-reader-partition-values/delta",
	"delta-rs/table_with_column_mapping",
	"delta-rs/simple_table_with_checkpoint",
	"golden/snapshot-vacuumed/delta", // versions whose data files are gone
}

// s3Fixture is an S3 server holding copies of remoteTables, counting GETs of data files.
type s3Fixture struct {
	srv  *s3test.Server
	opts storage.Options
	gets atomic.Int64 // successful GET requests for data files (not the log)
}

// statusWriter records the status code of a response.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

func startS3(t *testing.T) *s3Fixture {
	t.Helper()
	fx := &s3Fixture{}
	fx.srv = s3test.Start(t, s3test.WithMiddleware(func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
			h.ServeHTTP(sw, r)
			if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, ".parquet") && !strings.Contains(r.URL.Path, "_delta_log") && sw.code < 300 {
				fx.gets.Add(1)
			}
		})
	}))
	fx.opts = storage.Options{S3Endpoint: fx.srv.Endpoint, S3AccessKey: fx.srv.AccessKey, S3SecretKey: fx.srv.SecretKey,
		S3Region: fx.srv.Region, Getenv: func(string) string { return "" }}
	root := testutil.ConformanceDir(t)
	for _, name := range remoteTables {
		fx.upload(t, filepath.Join(root, name), fx.location(name))
	}
	return fx
}

// location is where table name lives on the server.
func (fx *s3Fixture) location(name string) string {
	return fx.srv.Location("conformance/" + strings.TrimSuffix(name, "/delta"))
}

// upload copies every file under dir to location.
func (fx *s3Fixture) upload(t *testing.T, dir, location string) {
	t.Helper()
	ctx := context.Background()
	store, err := storage.Open(ctx, location, fx.opts)
	if err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return store.Put(ctx, filepath.ToSlash(rel), data)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// dataBytes is the size of the data files of a table's latest snapshot.
func dataBytes(t *testing.T, location string) int64 {
	t.Helper()
	tb, err := table.Open(context.Background(), location)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := tb.Snapshot(context.Background(), -1)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, f := range snap.Files() {
		n += f.Size
	}
	return n
}

// queryText runs a query and renders its rows as sorted text (the column names first).
func queryText(ctx context.Context, e *Engine, query string) ([]string, error) {
	res, err := e.Query(ctx, query)
	if err != nil {
		return nil, err
	}
	defer res.Records.Release()
	return renderRecords(res.Records)
}

func renderRecords(rr array.RecordReader) ([]string, error) {
	var names []string
	for _, f := range rr.Schema().Fields() {
		names = append(names, f.Name+":"+f.Type.String())
	}
	var out []string
	for rr.Next() {
		rec := rr.RecordBatch()
		for i := 0; i < int(rec.NumRows()); i++ {
			row := make([]string, rec.NumCols())
			for c := range row {
				row[c] = "NULL"
				if rec.Column(c).IsValid(i) {
					row[c] = rec.Column(c).ValueStr(i)
				}
			}
			out = append(out, strings.Join(row, "|"))
		}
	}
	if err := rr.Err(); err != nil {
		return nil, err
	}
	sort.Strings(out)
	return append([]string{strings.Join(names, ",")}, out...), nil
}

// cacheFiles lists the files in a cache directory with their total size.
func cacheFiles(t *testing.T, dir string) ([]string, int64) {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var names []string
	var total int64
	for _, de := range des {
		info, err := de.Info()
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, de.Name())
		total += info.Size()
	}
	return names, total
}

func sameRows(a, b []string) bool { return strings.Join(a, "\n") == strings.Join(b, "\n") }

// TestRemoteQueryThroughCache reads conformance tables copied to S3 and compares every version's
// rows with the local copy's; a second pass must be served from the cache (no GET of a data
// file), and a cache with tiny parts must fetch each file with several ranged GETs and read the
// same rows.
func TestRemoteQueryThroughCache(t *testing.T) {
	ctx := context.Background()
	fx := startS3(t)
	root := testutil.ConformanceDir(t)
	e, err := Open(ctx, Options{Storage: fx.opts, CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	type probe struct{ local, remote string }
	var probes []probe
	for _, name := range remoteTables {
		local := filepath.Join(root, name)
		tb, err := table.Open(ctx, local)
		if err != nil {
			t.Fatal(err)
		}
		snap, err := tb.Snapshot(ctx, -1)
		if err != nil {
			t.Fatal(err)
		}
		for v := int64(0); v <= snap.Version(); v++ {
			probes = append(probes, probe{
				fmt.Sprintf("SELECT * FROM delta_scan(%s) AT (VERSION => %d)", quoteString(local), v),
				fmt.Sprintf("SELECT * FROM delta_scan(%s) AT (VERSION => %d)", quoteString(fx.location(name)), v),
			})
		}
	}
	want := map[string][]string{}
	for _, p := range probes {
		rows, err := queryText(ctx, e, p.local)
		if err != nil {
			continue // a version whose files were removed: the remote read must fail too
		}
		want[p.remote] = rows
	}
	run := func(e *Engine) {
		t.Helper()
		for _, p := range probes {
			got, err := queryText(ctx, e, p.remote)
			w, ok := want[p.remote]
			switch {
			case !ok && err == nil:
				t.Errorf("%s: read %d rows, but the local copy cannot be read", p.remote, len(got)-1)
			case !ok && !errors.Is(err, storage.ErrNotFound):
				t.Errorf("%s: %v, want an error wrapping storage.ErrNotFound", p.remote, err)
			case ok && err != nil:
				t.Errorf("%s: %v", p.remote, err)
			case ok && !sameRows(got, w):
				t.Errorf("%s:\n got  %v\n want %v", p.remote, got, w)
			}
		}
	}
	run(e)
	first := fx.gets.Load()
	if first == 0 {
		t.Fatal("no data file was fetched from S3")
	}
	run(e)
	if n := fx.gets.Load() - first; n != 0 {
		t.Errorf("second pass made %d GETs of data files, want 0 (all cached)", n)
	}

	// Several ranged GETs per file.
	e2, err := Open(ctx, Options{Storage: fx.opts, CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close()
	e2.cache.partSize = 700
	var parts atomic.Int64
	e2.cache.getHook = func(string, int) { parts.Add(1) }
	before := fx.gets.Load()
	q := fmt.Sprintf("SELECT * FROM delta_scan(%s)", quoteString(fx.location("delta-rs/table_with_deletion_logs")))
	got, err := queryText(ctx, e2, q)
	if err != nil {
		t.Fatal(err)
	}
	local, err := queryText(ctx, e2, fmt.Sprintf("SELECT * FROM delta_scan(%s)", quoteString(filepath.Join(root, "delta-rs/table_with_deletion_logs"))))
	if err != nil {
		t.Fatal(err)
	}
	if !sameRows(got, local) {
		t.Errorf("read in 700-byte parts:\n got  %v\n want %v", got, local)
	}
	tb, _ := table.Open(ctx, filepath.Join(root, "delta-rs/table_with_deletion_logs"))
	snap, _ := tb.Snapshot(ctx, -1)
	wantParts := int64(0)
	for _, f := range snap.Files() {
		wantParts += (f.Size + 699) / 700
	}
	if parts.Load() != wantParts || fx.gets.Load()-before != wantParts {
		t.Errorf("%d ranged GETs (%d seen by the server), want %d (files of %d bytes in 700-byte parts)", parts.Load(), fx.gets.Load()-before, wantParts, dataBytes(t, tb.Location()))
	}
}

// TestCacheBound checks that the cache stays within its bound when queries read more than it
// holds, that a statement whose files alone exceed it fails with ErrCacheTooSmall, and that
// concurrent queries read correct data while their files evict each other's.
func TestCacheBound(t *testing.T) {
	ctx := context.Background()
	fx := startS3(t)
	root := testutil.ConformanceDir(t)
	a, b := "delta-rs/table_with_deletion_logs", "golden/data-reader-partition-values/delta"
	sizeA, sizeB := dataBytes(t, filepath.Join(root, a)), dataBytes(t, filepath.Join(root, b))
	limit := max(sizeA, sizeB) + min(sizeA, sizeB)/2 // holds either table, never both
	dir := t.TempDir()
	e, err := Open(ctx, Options{Storage: fx.opts, CacheDir: dir, CacheBytes: limit})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	qa := fmt.Sprintf("SELECT * FROM delta_scan(%s)", quoteString(fx.location(a)))
	qb := fmt.Sprintf("SELECT * FROM delta_scan(%s)", quoteString(fx.location(b)))
	wantA, err := queryText(ctx, e, fmt.Sprintf("SELECT * FROM delta_scan(%s)", quoteString(filepath.Join(root, a))))
	if err != nil {
		t.Fatal(err)
	}
	wantB, err := queryText(ctx, e, fmt.Sprintf("SELECT * FROM delta_scan(%s)", quoteString(filepath.Join(root, b))))
	if err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		size, _ := e.cache.usage()
		_, onDisk := cacheFiles(t, dir)
		if size > limit || onDisk > limit {
			t.Errorf("%s: the cache holds %d bytes (%d on disk), over its bound of %d", when, size, onDisk, limit)
		}
	}
	for i := 0; i < 3; i++ {
		for _, q := range []struct {
			sql  string
			want []string
		}{{qa, wantA}, {qb, wantB}} {
			got, err := queryText(ctx, e, q.sql)
			if err != nil {
				t.Fatal(err)
			}
			if !sameRows(got, q.want) {
				t.Fatalf("%s: wrong rows", q.sql)
			}
			check(q.sql)
		}
	}

	// One table read twice in a statement counts once; both tables in one statement do not fit.
	_, err = queryText(ctx, e, fmt.Sprintf("SELECT count(*) FROM delta_scan(%s) x, delta_scan(%s) y", quoteString(fx.location(a)), quoteString(fx.location(a))))
	if err != nil {
		t.Errorf("one table read twice in a statement: %v", err)
	}
	_, err = queryText(ctx, e, fmt.Sprintf("SELECT count(*) FROM delta_scan(%s) x, delta_scan(%s) y", quoteString(fx.location(a)), quoteString(fx.location(b))))
	if !errors.Is(err, ErrCacheTooSmall) {
		t.Errorf("a statement reading %d + %d bytes through a cache of %d: %v, want ErrCacheTooSmall", sizeA, sizeB, limit, err)
	}
	check("after a refused statement")
	small, err := Open(ctx, Options{Storage: fx.opts, CacheDir: t.TempDir(), CacheBytes: sizeA - 1})
	if err != nil {
		t.Fatal(err)
	}
	defer small.Close()
	if _, err := queryText(ctx, small, qa); !errors.Is(err, ErrCacheTooSmall) {
		t.Errorf("a statement reading %d bytes through a cache of %d: %v, want ErrCacheTooSmall", sizeA, sizeA-1, err)
	}

	// Concurrent statements, each table in turn: every result is right, whatever was evicted.
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 4; i++ {
				q, want := qa, wantA
				if (g+i)%2 == 1 {
					q, want = qb, wantB
				}
				got, err := queryText(ctx, e, q)
				if err != nil {
					errs <- err
					return
				}
				if !sameRows(got, want) {
					errs <- fmt.Errorf("goroutine %d, query %d: wrong rows for %s", g, i, q)
					return
				}
			}
		}(g)
	}
	// And a result held open (its files pinned) while the others evict.
	res, err := e.Query(ctx, qa)
	if err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got, err := renderRecords(res.Records)
	res.Records.Release()
	if err != nil || !sameRows(got, wantA) {
		t.Errorf("result held open during evictions: %v, rows equal: %v", err, sameRows(got, wantA))
	}
	check("after the concurrent queries")
	if _, n := e.cache.usage(); n == 0 {
		t.Error("the cache forgot every file")
	}
}

// TestCacheCancelledFetch cancels a query while its data files are being fetched (the S3 GETs
// hang until then): the query fails with the context's error and the cache holds no file, partial
// or not.
func TestCacheCancelledFetch(t *testing.T) {
	fx := startS3(t)
	dir := t.TempDir()
	loc := fx.location("delta-rs/table_with_deletion_logs")
	var faulty *storage.Faulty
	e, err := Open(context.Background(), Options{Storage: fx.opts, CacheDir: dir, WrapStore: func(_ string, s storage.Store) storage.Store {
		faulty = storage.NewFaulty(s, 1)
		return faulty
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if _, err := e.openTable(context.Background(), loc); err != nil {
		t.Fatal(err)
	}
	// Every ranged GET of a data file hangs until its context ends.
	faulty.Inject(storage.FaultRule{Ops: []storage.Op{storage.OpRange}, Key: "part-", Kind: storage.FaultLatency, Latency: time.Hour})
	started := make(chan struct{}, 1000)
	e.cache.getHook = func(string, int) { started <- struct{}{} }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := queryText(ctx, e, fmt.Sprintf("SELECT * FROM delta_scan(%s)", quoteString(loc)))
		done <- err
	}()
	<-started
	cancel()
	err = <-done
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled query: %v, want context.Canceled", err)
	}
	if names, _ := cacheFiles(t, dir); len(names) != 0 {
		t.Errorf("the cache directory holds %v after a cancelled fetch", names)
	}
	if size, n := e.cache.usage(); size != 0 || n != 0 {
		t.Errorf("the cache counts %d bytes in %d files after a cancelled fetch", size, n)
	}
	// The same query then works.
	faulty.Clear()
	e.cache.getHook = nil
	if _, err := queryText(context.Background(), e, fmt.Sprintf("SELECT * FROM delta_scan(%s)", quoteString(loc))); err != nil {
		t.Fatal(err)
	}
}

// memFiles is a local store holding files named f0.parquet ... with distinct contents.
func memFiles(t *testing.T, n int, size int) (storage.Store, []cacheFile, [][]byte) {
	t.Helper()
	store, err := storage.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var files []cacheFile
	var contents [][]byte
	for i := 0; i < n; i++ {
		data := bytes.Repeat([]byte{byte(i)}, size+i)
		key := fmt.Sprintf("p=%d/f%d.parquet", i%3, i)
		if err := store.Put(context.Background(), key, data); err != nil {
			t.Fatal(err)
		}
		files = append(files, cacheFile{Key: key, Size: int64(len(data))})
		contents = append(contents, data)
	}
	return store, files, contents
}

func checkContents(t *testing.T, paths []string, contents [][]byte) {
	t.Helper()
	for i, p := range paths {
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, contents[i]) {
			t.Errorf("%s: %d bytes, not the %d bytes of the object", p, len(got), len(contents[i]))
		}
	}
}

// TestCacheSharedDirectory runs two caches over one directory, as two processes would: fetching
// the same files at once, each gets complete files; files one evicts are fetched again by the
// other; a new cache over the directory adopts its files, oldest evicted first, within its bound.
func TestCacheSharedDirectory(t *testing.T) {
	ctx := context.Background()
	store, files, contents := memFiles(t, 12, 3000)
	dir := t.TempDir()
	p1, p2 := newFileCache(dir, 1<<20), newFileCache(dir, 1<<20)
	p1.partSize, p2.partSize = 1024, 1000
	var wg sync.WaitGroup
	for _, c := range []*fileCache{p1, p2, p1, p2} {
		wg.Add(1)
		go func(c *fileCache) {
			defer wg.Done()
			lease := c.newLease()
			paths, err := lease.acquire(ctx, store, files)
			if err != nil {
				t.Error(err)
				return
			}
			defer lease.release()
			checkContents(t, paths, contents)
		}(c)
	}
	wg.Wait()
	names, _ := cacheFiles(t, dir)
	if len(names) != len(files) {
		t.Errorf("%d files in the directory, want %d: %v", len(names), len(files), names)
	}

	// p2 shrinks and evicts everything; p1 still believes it has the files and must fetch them.
	// (The first pass only learns that p1 used the files since p2 last did.)
	p2.mu.Lock()
	p2.limit = 0
	p2.evictLocked()
	p2.evictLocked()
	p2.mu.Unlock()
	if names, _ := cacheFiles(t, dir); len(names) != 0 {
		t.Fatalf("after evicting everything: %v", names)
	}
	lease := p1.newLease()
	paths, err := lease.acquire(ctx, store, files)
	if err != nil {
		t.Fatal(err)
	}
	checkContents(t, paths, contents)
	lease.release()

	// A new cache adopts the files; with room for half of them it keeps the most recent half.
	for i, f := range files {
		ts := time.Date(2026, 1, 1, 0, i, 0, 0, time.UTC)
		if err := os.Chtimes(filepath.Join(dir, cacheName(store.URL(), f.Key)), ts, ts); err != nil {
			t.Fatal(err)
		}
	}
	var half int64
	for _, f := range files[len(files)/2:] {
		half += f.Size
	}
	p3 := newFileCache(dir, half)
	if err := p3.load(); err != nil {
		t.Fatal(err)
	}
	size, n := p3.usage()
	if size != half || n != len(files)-len(files)/2 {
		t.Errorf("adopted %d files of %d bytes, want %d of %d", n, size, len(files)-len(files)/2, half)
	}
	for i, f := range files {
		_, err := os.Stat(filepath.Join(dir, cacheName(store.URL(), f.Key)))
		if kept := err == nil; kept != (i >= len(files)/2) {
			t.Errorf("file %d (mtime minute %d) kept: %v", i, i, kept)
		}
	}
}

// TestCacheIntegrity checks that an object whose size is not the one the log gives is refused
// (larger or smaller), leaving nothing in the cache, and that a cached file of the wrong size is
// fetched again.
func TestCacheIntegrity(t *testing.T) {
	ctx := context.Background()
	store, files, contents := memFiles(t, 1, 5000)
	for _, size := range []int64{files[0].Size - 1, files[0].Size + 1, 0} {
		dir := t.TempDir()
		c := newFileCache(dir, 1<<20)
		c.partSize = 1000
		_, err := c.newLease().acquire(ctx, store, []cacheFile{{Key: files[0].Key, Size: size}})
		if !errors.Is(err, delta.ErrCorrupt) {
			t.Errorf("object of %d bytes, log says %d: %v, want ErrCorrupt", files[0].Size, size, err)
		}
		if names, _ := cacheFiles(t, dir); len(names) != 0 {
			t.Errorf("left %v", names)
		}
	}
	dir := t.TempDir()
	c := newFileCache(dir, 1<<20)
	lease := c.newLease()
	paths, err := lease.acquire(ctx, store, files)
	if err != nil {
		t.Fatal(err)
	}
	lease.release()
	if err := os.WriteFile(paths[0], []byte("truncated"), 0o644); err != nil {
		t.Fatal(err)
	}
	lease = c.newLease()
	paths, err = lease.acquire(ctx, store, files)
	if err != nil {
		t.Fatal(err)
	}
	defer lease.release()
	checkContents(t, paths, contents)
	if size, n := c.usage(); size != files[0].Size || n != 1 {
		t.Errorf("usage %d bytes in %d files, want %d in 1", size, n, files[0].Size)
	}
}

// TestCachePins checks that files a statement holds are never evicted, even when that holds the
// cache over its bound, and that releasing them brings it back under.
func TestCachePins(t *testing.T) {
	ctx := context.Background()
	store, files, contents := memFiles(t, 4, 1000)
	dir := t.TempDir()
	c := newFileCache(dir, files[0].Size+files[1].Size+files[2].Size/2) // room for two files
	a := c.newLease()
	if _, err := a.acquire(ctx, store, files[:2]); err != nil {
		t.Fatal(err)
	}
	b := c.newLease()
	pathsB, err := b.acquire(ctx, store, files[2:])
	if err != nil {
		t.Fatal(err)
	}
	if _, n := c.usage(); n != 4 {
		t.Errorf("%d files cached while four are held, want 4", n)
	}
	a.release()
	size, n := c.usage()
	if size > c.limit || n != 2 {
		t.Errorf("after releasing two files: %d bytes in %d files, bound %d", size, n, c.limit)
	}
	checkContents(t, pathsB, contents[2:])
	b.release()
	// Reading a held file again does not fetch it: the store is not asked.
	faulty := storage.NewFaulty(store, 1)
	if _, err := c.newLease().acquire(ctx, faulty, files[2:]); err != nil {
		t.Fatal(err)
	}
	if calls := faulty.Stats().Calls[storage.OpRange]; calls != 0 {
		t.Errorf("%d ranged GETs for cached files", calls)
	}
	if _, err := c.newLease().acquire(ctx, faulty, files[:1]); err != nil {
		t.Fatal(err)
	}
	if calls := faulty.Stats().Calls[storage.OpRange]; calls != 1 {
		t.Errorf("%d ranged GETs for one evicted file of %d bytes, want 1", calls, files[0].Size)
	}
}
