package engine

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/storage"
)

// This file is the read-through cache of remote data files. DuckDB cannot read S3 here (its
// httpfs extension cannot be downloaded, and a single binary should not depend on a download), so
// before a statement runs, the engine copies the data files it needs (after pruning) from the
// table's store into a local directory, and DuckDB reads them there.

// Cache defaults.
const (
	// DefaultCacheBytes bounds the cache when Options.CacheBytes is 0.
	DefaultCacheBytes int64 = 2 << 30
	// cachePartSize is the size of one ranged GET.
	cachePartSize int64 = 8 << 20
	// cacheParallel bounds the ranged GETs one statement has in flight (and so the memory its
	// fetches buffer: cacheParallel * cachePartSize).
	cacheParallel = 8
	// cacheStaleTemp: temporary files older than this are leftovers of a crashed fetch.
	cacheStaleTemp = time.Hour
)

// ErrCacheTooSmall: the remote files one statement reads do not fit in the cache's bound.
var ErrCacheTooSmall = errors.New("remote files exceed the cache bound")

// cacheFile is one immutable remote file a statement needs: its key in the store and its size
// (from the Delta log).
type cacheFile struct {
	Key  string
	Size int64
}

// fileCache is a directory of local copies of immutable remote files, bounded in bytes, evicting
// the least recently used files that no running statement holds.
//
// Invariants:
//   - a file named <hash>.parquet in dir is complete: fetches write a temporary file (.fetch-*) in
//     dir and rename it into place, so readers (DuckDB, other processes) never see a partial
//     file. Its size is checked against the size the Delta log gives before every use; a file of
//     the wrong size (or one another process evicted) is fetched again;
//   - size is the sum of the sizes of entries plus the bytes reserved by fetches in flight, and
//     is kept at or under limit by evicting unpinned entries, least recently used first; only
//     pinned entries (files of running statements) and fetches in flight can hold it over;
//   - an entry with pins > 0 is never deleted by this process, and is not in lru.
//
// Engines of one process that name the same directory share one fileCache (see cacheFor), kept
// for the life of the process. Several processes may share dir too. Writes are safe
// (temporary file plus rename; the same key always has the same content, since data files are
// immutable). Each process keeps its own index of the files, built from the directory on first
// use; a file is touched (mtime) whenever a statement uses it, and eviction re-reads the mtime
// first, so a file another process used since this one last did moves to the back of the queue
// instead of being deleted. That is best effort: a process cannot see another's pins.
type fileCache struct {
	dir      string
	partSize int64 // bytes per ranged GET (cachePartSize)
	parallel int   // ranged GETs in flight per statement (cacheParallel)

	mu      sync.Mutex              // guards the fields below
	limit   int64                   // the bound, in bytes
	loaded  bool                    // dir has been scanned into entries
	entries map[string]*cacheEntry  // by file name
	lru     *list.List              // unpinned entries, least recently used at the front
	size    int64                   // bytes of entries plus reservations
	flights map[string]*cacheFlight // fetches in progress, by file name
	now     func() time.Time        // clock, for mtimes
	// getHook, set by tests before use, is called before each ranged GET (part is its index).
	getHook func(key string, part int)
}

// cacheEntry is one complete file in the cache.
type cacheEntry struct {
	name string
	size int64
	pins int           // statements holding the file
	used time.Time     // last use known to this process (the file's mtime)
	elem *list.Element // in lru while pins == 0, else nil
}

// cacheFlight is one fetch in progress; waiters block on done, then read err.
type cacheFlight struct {
	done chan struct{}
	err  error
}

// caches holds the process's caches by directory, so that engines sharing a directory share one
// index and one set of pins.
var (
	cachesMu sync.Mutex
	caches   = map[string]*fileCache{}
)

// cacheFor returns the process's cache of dir (default: strata-cache under os.TempDir()),
// created on first use. Engines naming the same directory share it; its bound is the smallest
// any of them asked for (default DefaultCacheBytes).
func cacheFor(dir string, limit int64) (*fileCache, error) {
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "strata-cache")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("engine: cache directory %s: %w", dir, err)
	}
	if limit <= 0 {
		limit = DefaultCacheBytes
	}
	cachesMu.Lock()
	defer cachesMu.Unlock()
	c, ok := caches[abs]
	if !ok {
		c = newFileCache(abs, limit)
		caches[abs] = c
		return c, nil
	}
	c.mu.Lock()
	if limit < c.limit {
		c.limit = limit
		c.evictLocked()
	}
	c.mu.Unlock()
	return c, nil
}

// newFileCache returns a cache over dir bounded by limit bytes. Nothing touches the disk until
// the first acquire.
func newFileCache(dir string, limit int64) *fileCache {
	return &fileCache{
		dir:      dir,
		partSize: cachePartSize,
		parallel: cacheParallel,
		limit:    limit,
		entries:  map[string]*cacheEntry{},
		lru:      list.New(),
		flights:  map[string]*cacheFlight{},
		now:      time.Now,
	}
}

// cacheName is the local file name of a remote file: a hash of the store's URL and the key (so
// names are flat, of fixed length, and free of characters DuckDB would read as a glob).
func cacheName(storeURL, key string) string {
	sum := sha256.Sum256([]byte(storeURL + "\n" + key))
	return hex.EncodeToString(sum[:20]) + ".parquet"
}

// path returns the local path of a cache file name.
func (c *fileCache) path(name string) string { return filepath.Join(c.dir, name) }

// cacheLease is the set of files one statement holds pinned; release unpins them. Files the
// statement reads several times (several references to one table) are pinned once.
type cacheLease struct {
	c *fileCache

	mu       sync.Mutex             // guards the fields below
	entries  map[string]*cacheEntry // by name
	bytes    int64                  // size of entries
	released bool
}

// newLease returns an empty lease on c.
func (c *fileCache) newLease() *cacheLease {
	return &cacheLease{c: c, entries: map[string]*cacheEntry{}}
}

// release unpins the lease's files (idempotent) and evicts what the bound no longer allows.
func (l *cacheLease) release() {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.released {
		return
	}
	l.released = true
	l.c.mu.Lock()
	defer l.c.mu.Unlock()
	for _, e := range l.entries {
		l.c.unpinLocked(e)
	}
	l.entries = nil
	l.c.evictLocked()
}

// acquire returns local paths holding the files of store (one per file, in order), fetching those
// the cache lacks, and pins them until the lease is released. Up to c.parallel ranged GETs of
// c.partSize bytes are in flight at once. When the lease's files and these (each counted once)
// exceed the cache's bound, acquire fails with ErrCacheTooSmall before fetching anything; files
// of other statements may hold the cache over its bound while they run. Cancelling ctx aborts
// the fetches in flight: files being fetched are left out of the cache (no partial file remains)
// and acquire returns ctx's error. On error the files of this call are not pinned (those of
// earlier calls stay pinned until release). A lease is used by one statement: its calls must not
// run concurrently.
func (l *cacheLease) acquire(ctx context.Context, store storage.Store, files []cacheFile) ([]string, error) {
	c := l.c
	if err := c.load(); err != nil {
		return nil, err
	}
	url := store.URL()
	paths := make([]string, len(files))
	todo := map[string]cacheFile{} // files to pin, by name
	l.mu.Lock()
	if l.released {
		l.mu.Unlock()
		return nil, fmt.Errorf("engine: cache lease used after release")
	}
	total := l.bytes
	for i, f := range files {
		name := cacheName(url, f.Key)
		paths[i] = c.path(name)
		if _, held := l.entries[name]; held {
			continue
		}
		if _, dup := todo[name]; !dup {
			todo[name] = f
			total += f.Size
		}
	}
	l.mu.Unlock()
	c.mu.Lock()
	limit := c.limit
	c.mu.Unlock()
	if total > limit {
		return nil, fmt.Errorf("engine: %s: %w: the statement's remote data files total %d bytes, more than the cache at %s holds (Options.CacheBytes = %d)",
			url, ErrCacheTooSmall, total, c.dir, limit)
	}
	var mu sync.Mutex // guards pinned and firstErr
	pinned := map[string]*cacheEntry{}
	// Pin what the cache already has first, so that fetching the rest cannot evict it.
	var missing []string
	for name, f := range todo {
		if e := c.pinPresent(name, f.Size); e != nil {
			pinned[name] = e
		} else {
			missing = append(missing, name)
		}
	}
	var firstErr error
	if len(missing) > 0 {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		// c.parallel workers fetch files (so at most that many temporary files are open), sharing
		// c.parallel slots for ranged GETs (so a large file's parts also go in parallel).
		sem := make(chan struct{}, c.parallel)
		queue := make(chan string, len(missing))
		for _, name := range missing {
			queue <- name
		}
		close(queue)
		var wg sync.WaitGroup
		for w := 0; w < min(c.parallel, len(missing)); w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for name := range queue {
					if ctx.Err() != nil {
						return
					}
					e, err := c.pinFetched(ctx, store, todo[name], name, sem)
					mu.Lock()
					if err != nil && firstErr == nil {
						firstErr = err
						cancel()
					} else if err == nil {
						pinned[name] = e
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if firstErr == nil && ctx.Err() != nil {
			firstErr = fmt.Errorf("engine: fetch from %s: %w", url, ctx.Err())
		}
	}
	if firstErr != nil {
		c.mu.Lock()
		for _, e := range pinned {
			c.unpinLocked(e)
		}
		c.evictLocked()
		c.mu.Unlock()
		return nil, firstErr
	}
	l.mu.Lock()
	for name, e := range pinned {
		l.entries[name] = e
		l.bytes += e.size
	}
	l.mu.Unlock()
	return paths, nil
}

// pinPresent pins the entry name if the cache has it complete on disk, and returns it; nil if it
// must be fetched.
func (c *fileCache) pinPresent(name string, size int64) *cacheEntry {
	c.mu.Lock()
	e := c.entries[name]
	if e == nil {
		c.mu.Unlock()
		return nil
	}
	c.pinLocked(e)
	c.mu.Unlock()
	if st, err := os.Stat(c.path(name)); err == nil && st.Mode().IsRegular() && st.Size() == size {
		c.touch(e)
		return e
	}
	// Evicted by another process, or not the file the log describes: forget it and fetch again.
	c.mu.Lock()
	c.unpinLocked(e)
	if c.entries[name] == e {
		c.dropLocked(e) // even if other statements hold it: the file is not what they need either
	}
	c.mu.Unlock()
	return nil
}

// touch records a use of e now (its mtime, so other processes see it).
func (c *fileCache) touch(e *cacheEntry) {
	now := c.now()
	_ = os.Chtimes(c.path(e.name), now, now)
	c.mu.Lock()
	e.used = now
	c.mu.Unlock()
}

// pinFetched returns the pinned entry of f, fetching it unless another statement of this process
// is fetching it already (then it waits for that fetch). sem bounds the statement's ranged GETs.
func (c *fileCache) pinFetched(ctx context.Context, store storage.Store, f cacheFile, name string, sem chan struct{}) (*cacheEntry, error) {
	for {
		if e := c.pinPresent(name, f.Size); e != nil {
			return e, nil
		}
		c.mu.Lock()
		if c.entries[name] != nil {
			c.mu.Unlock()
			continue // another statement just added it
		}
		if fl := c.flights[name]; fl != nil {
			c.mu.Unlock()
			select {
			case <-fl.done:
			case <-ctx.Done():
				return nil, fmt.Errorf("engine: fetch %s/%s: %w", store.URL(), f.Key, ctx.Err())
			}
			if fl.err != nil && !errors.Is(fl.err, context.Canceled) && !errors.Is(fl.err, context.DeadlineExceeded) {
				return nil, fl.err
			}
			continue // done (pin it), or the fetching statement was cancelled (fetch it here)
		}
		fl := &cacheFlight{done: make(chan struct{})}
		c.flights[name] = fl
		c.size += f.Size // reserve the space before writing it
		c.evictLocked()
		c.mu.Unlock()

		err := c.fetch(ctx, store, f, name, sem)

		c.mu.Lock()
		delete(c.flights, name)
		c.size -= f.Size
		var e *cacheEntry
		if err == nil {
			e = c.addLocked(name, f.Size, c.now())
			c.pinLocked(e)
		}
		fl.err = err
		close(fl.done)
		c.evictLocked()
		c.mu.Unlock()
		if err != nil {
			return nil, err
		}
		return e, nil
	}
}

// fetch copies f from store to the cache file name: ranged GETs of c.partSize bytes in
// parallel (bounded by sem) into a temporary file, renamed into place once complete and of the
// expected size. If another process has put the file there meanwhile, it is used as is.
func (c *fileCache) fetch(ctx context.Context, store storage.Store, f cacheFile, name string, sem chan struct{}) (err error) {
	dst := c.path(name)
	if st, err := os.Stat(dst); err == nil && st.Size() == f.Size {
		return nil
	}
	tmp, err := os.CreateTemp(c.dir, ".fetch-*")
	if err != nil {
		return fmt.Errorf("engine: cache: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	nparts := int((f.Size + c.partSize - 1) / c.partSize)
	errs := make(chan error, nparts)
	for p := 0; p < nparts; p++ {
		go func(p int) {
			off := int64(p) * c.partSize
			n := min(c.partSize, f.Size-off)
			ask := n
			if p == nparts-1 {
				ask++ // one byte more than the log says is left: finding it means the object is larger
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				errs <- ctx.Err()
				return
			}
			defer func() { <-sem }()
			if c.getHook != nil {
				c.getHook(f.Key, p)
			}
			data, err := store.GetRange(ctx, f.Key, off, ask)
			if err != nil {
				errs <- err
				return
			}
			if int64(len(data)) != n {
				errs <- fmt.Errorf("%w: %s/%s holds %s bytes, the Delta log says %d", delta.ErrCorrupt, store.URL(), f.Key, sizeFrom(off, len(data), ask), f.Size)
				return
			}
			if _, err := tmp.WriteAt(data, off); err != nil {
				errs <- err
				return
			}
			errs <- nil
		}(p)
	}
	var first error
	for p := 0; p < nparts; p++ {
		if e := <-errs; e != nil && first == nil {
			first = e
			cancel()
		}
	}
	if first != nil {
		return fmt.Errorf("engine: fetch %s/%s: %w", store.URL(), f.Key, first)
	}
	if nparts == 0 {
		// An empty object: make sure it is empty, as the log says.
		data, err := store.GetRange(ctx, f.Key, 0, 1)
		if err != nil {
			return fmt.Errorf("engine: fetch %s/%s: %w", store.URL(), f.Key, err)
		}
		if len(data) != 0 {
			return fmt.Errorf("engine: fetch %s/%s: %w: the object is larger than the 0 bytes the Delta log says", store.URL(), f.Key, delta.ErrCorrupt)
		}
	}
	if err := tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("engine: cache: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("engine: cache: %w", err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return fmt.Errorf("engine: cache: %w", err)
	}
	return nil
}

// sizeFrom describes the object size a short or long ranged read reveals.
func sizeFrom(off int64, got int, asked int64) string {
	if int64(got) == asked {
		return fmt.Sprintf("more than %d", off+int64(got)-1)
	}
	return fmt.Sprint(off + int64(got))
}

// addLocked records a complete, unpinned file as the most recently used entry (replacing a
// stale entry of the same name).
func (c *fileCache) addLocked(name string, size int64, used time.Time) *cacheEntry {
	if old := c.entries[name]; old != nil {
		c.dropLocked(old)
	}
	e := &cacheEntry{name: name, size: size, used: used}
	e.elem = c.lru.PushBack(e)
	c.entries[name] = e
	c.size += size
	return e
}

// pinLocked adds a statement's hold on e, taking it out of the eviction queue.
func (c *fileCache) pinLocked(e *cacheEntry) {
	if e.elem != nil {
		c.lru.Remove(e.elem)
		e.elem = nil
	}
	e.pins++
}

// unpinLocked drops a statement's hold on e; the last one puts it back in the eviction queue, as
// the most recently used.
func (c *fileCache) unpinLocked(e *cacheEntry) {
	e.pins--
	if e.pins == 0 && c.entries[e.name] == e {
		e.elem = c.lru.PushBack(e)
	}
}

// dropLocked forgets an entry (the file itself is left alone).
func (c *fileCache) dropLocked(e *cacheEntry) {
	if e.elem != nil {
		c.lru.Remove(e.elem)
		e.elem = nil
	}
	delete(c.entries, e.name)
	c.size -= e.size
}

// evictLocked deletes unpinned entries, least recently used first, until the cache is within its
// bound or no unpinned entry is left. An entry whose file another process used since this one
// last did (a newer mtime) is moved to the back instead, once per call.
func (c *fileCache) evictLocked() {
	n := c.lru.Len() // each entry once: those moved to the back lie beyond the first n
	for el, seen := c.lru.Front(), 0; el != nil && seen < n && c.size > c.limit; seen++ {
		next := el.Next()
		e := el.Value.(*cacheEntry)
		st, err := os.Stat(c.path(e.name))
		if err == nil && st.ModTime().After(e.used) {
			e.used = st.ModTime()
			c.lru.MoveToBack(el)
		} else {
			if err == nil || !errors.Is(err, os.ErrNotExist) {
				os.Remove(c.path(e.name))
			}
			c.dropLocked(e)
		}
		el = next
	}
}

// load scans the directory once (creating it if needed): complete cache files become entries,
// least recently used (oldest mtime) first, and temporary files of fetches that crashed long ago
// are removed. The bound is then enforced.
func (c *fileCache) load() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.loaded {
		return nil
	}
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return fmt.Errorf("engine: cache directory: %w", err)
	}
	des, err := os.ReadDir(c.dir)
	if err != nil {
		return fmt.Errorf("engine: cache directory: %w", err)
	}
	type found struct {
		name string
		size int64
		mod  time.Time
	}
	var files []found
	for _, de := range des {
		info, err := de.Info()
		if err != nil || !info.Mode().IsRegular() {
			continue
		}
		switch {
		case strings.HasPrefix(de.Name(), ".fetch-"):
			if c.now().Sub(info.ModTime()) > cacheStaleTemp {
				os.Remove(c.path(de.Name()))
			}
		case strings.HasSuffix(de.Name(), ".parquet") && len(de.Name()) == 48:
			files = append(files, found{de.Name(), info.Size(), info.ModTime()})
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].mod.Before(files[j].mod) }) // oldest first
	for _, f := range files {
		c.addLocked(f.name, f.size, f.mod)
	}
	c.loaded = true
	c.evictLocked()
	return nil
}

// usage returns the bytes the cache holds (entries and reservations) and the number of files.
func (c *fileCache) usage() (int64, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.size, len(c.entries)
}
