package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/google/uuid"
)

// tempPrefix marks the temporary files Local writes before publishing an object. They are never
// listed; a crash can leave one behind, which is harmless (it is never referenced).
const tempPrefix = ".strata-tmp-"

// Local is a Store over a directory of the local filesystem.
//
// Invariants: an object is visible under its key only once it is complete and synced. Put writes a
// temporary file in the same directory, fsyncs it, renames it over the key and fsyncs the directory.
// PutIfAbsent does the same but publishes with link(2), which fails if the key exists, so exactly one
// of several concurrent processes wins and no reader ever sees a half-written file.
type Local struct {
	root string // absolute, cleaned
}

// NewLocal returns a Store rooted at dir. The directory is created by the first write, so that
// merely opening (or reading) a location that holds nothing leaves no trace.
func NewLocal(dir string) (*Local, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("storage: resolve %q: %w", dir, err)
	}
	if info, err := os.Stat(abs); err == nil && !info.IsDir() {
		return nil, fmt.Errorf("storage: root %s is a file, not a directory", abs)
	}
	return &Local{root: abs}, nil
}

// URL returns the root directory.
func (l *Local) URL() string { return l.root }

// Root returns the absolute root directory.
func (l *Local) Root() string { return l.root }

func (l *Local) path(key string) (string, error) {
	if key == "" || strings.HasPrefix(key, "/") {
		return "", fmt.Errorf("invalid key %q", key)
	}
	p := filepath.Join(l.root, filepath.FromSlash(key))
	if p != l.root && !strings.HasPrefix(p, l.root+string(filepath.Separator)) {
		return "", fmt.Errorf("key %q escapes the store root", key)
	}
	return p, nil
}

func (l *Local) wrap(op, key string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		err = fmt.Errorf("%w: %v", ErrNotFound, err)
	} else if errors.Is(err, fs.ErrExist) {
		err = fmt.Errorf("%w: %v", ErrExists, err)
	}
	return pathError(op, l.root, key, err)
}

// Get reads a whole object.
func (l *Local) Get(ctx context.Context, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, pathError("get", l.root, key, err)
	}
	p, err := l.path(key)
	if err != nil {
		return nil, pathError("get", l.root, key, err)
	}
	f, size, err := openFile(p)
	if err != nil {
		return nil, l.wrap("get", key, err)
	}
	defer f.Close()
	// Read into a buffer of the stat'ed size (plus one byte to see EOF), as os.ReadFile does.
	var buf bytes.Buffer
	buf.Grow(int(size) + 1)
	_, err = buf.ReadFrom(f)
	b := buf.Bytes()
	if err != nil {
		return nil, l.wrap("get", key, err)
	}
	return b, nil
}

// errIsDir reports a key that names a directory: directories are not objects.
var errIsDir = fmt.Errorf("%w: is a directory", ErrNotFound)

// openFile opens p for reading and returns its size, refusing directories (which os.Open
// accepts).
func openFile(p string) (*os.File, int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, 0, err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	if info.IsDir() {
		f.Close()
		return nil, 0, errIsDir
	}
	return f, info.Size(), nil
}

// GetRange reads part of an object.
func (l *Local) GetRange(ctx context.Context, key string, offset, length int64) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, pathError("get", l.root, key, err)
	}
	p, err := l.path(key)
	if err != nil {
		return nil, pathError("get", l.root, key, err)
	}
	if offset < 0 || length < 0 {
		return nil, pathError("get", l.root, key, fmt.Errorf("invalid range offset %d length %d", offset, length))
	}
	f, size, err := openFile(p)
	if err != nil {
		return nil, l.wrap("get", key, err)
	}
	defer f.Close()
	// Allocate what can be read, not what was asked for: callers ask for "the rest" with huge
	// lengths.
	if offset >= size {
		return []byte{}, nil
	}
	buf := make([]byte, min(length, size-offset))
	n, err := f.ReadAt(buf, offset)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, l.wrap("get", key, err)
	}
	return buf[:n], nil
}

// Open returns a reader over the object.
func (l *Local) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, pathError("open", l.root, key, err)
	}
	p, err := l.path(key)
	if err != nil {
		return nil, pathError("open", l.root, key, err)
	}
	f, _, err := openFile(p)
	if err != nil {
		return nil, l.wrap("open", key, err)
	}
	return f, nil
}

// writeTemp writes data to a synced temporary file in the directory of p and returns its path.
func writeTemp(p string, data []byte) (string, error) {
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp := filepath.Join(dir, tempPrefix+uuid.NewString())
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return "", err
	}
	_, werr := io.Copy(f, bytes.NewReader(data))
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(tmp)
		return "", err
	}
	return tmp, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Put writes an object atomically, replacing any existing one.
func (l *Local) Put(ctx context.Context, key string, data []byte) error {
	if err := ctx.Err(); err != nil {
		return pathError("put", l.root, key, err)
	}
	p, err := l.path(key)
	if err != nil {
		return pathError("put", l.root, key, err)
	}
	tmp, err := writeTemp(p, data)
	if err != nil {
		return l.wrap("put", key, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return l.wrap("put", key, err)
	}
	if err := syncDir(filepath.Dir(p)); err != nil {
		return l.wrap("put", key, err)
	}
	return nil
}

// PutIfAbsent writes an object only if the key is free, atomically across processes.
func (l *Local) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	if err := ctx.Err(); err != nil {
		return pathError("put-if-absent", l.root, key, err)
	}
	p, err := l.path(key)
	if err != nil {
		return pathError("put-if-absent", l.root, key, err)
	}
	if _, err := os.Lstat(p); err == nil {
		return pathError("put-if-absent", l.root, key, ErrExists)
	}
	tmp, err := writeTemp(p, data)
	if err != nil {
		return l.wrap("put-if-absent", key, err)
	}
	// link(2) is the rename-no-replace primitive available on every POSIX filesystem: it fails with
	// EEXIST if p exists, and p appears complete or not at all.
	lerr := os.Link(tmp, p)
	os.Remove(tmp)
	if lerr != nil {
		return l.wrap("put-if-absent", key, lerr)
	}
	if err := syncDir(filepath.Dir(p)); err != nil {
		return l.wrap("put-if-absent", key, err)
	}
	return nil
}

// List returns objects under prefix sorted by key, skipping keys <= startAfter. It reads
// directory names only and stats just the entries it returns, so listing the tail of a long
// _delta_log costs little more than reading its names.
func (l *Local) List(ctx context.Context, prefix, startAfter string) ([]ObjectInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, pathError("list", l.root, prefix, err)
	}
	// Walk the deepest directory that contains every key with this prefix.
	dirKey := ""
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		dirKey = prefix[:i]
	}
	var out []ObjectInfo
	if err := l.listDir(ctx, dirKey, prefix, startAfter, &out); err != nil {
		return nil, l.wrap("list", prefix, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// readDirUnsorted reads a directory's entries without sorting them (List sorts its result, which
// is usually much smaller than the directory).
func readDirUnsorted(dir string) ([]fs.DirEntry, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.ReadDir(-1)
}

// listDir appends the matching objects under the directory dirKey ("" is the root).
func (l *Local) listDir(ctx context.Context, dirKey, prefix, startAfter string, out *[]ObjectInfo) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	dir := l.root
	keyPrefix := ""
	if dirKey != "" {
		dir = filepath.Join(l.root, filepath.FromSlash(dirKey))
		keyPrefix = dirKey + "/"
	}
	entries, err := readDirUnsorted(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil
		}
		return err
	}
	for _, e := range entries {
		name := e.Name()
		key := keyPrefix + name
		if e.IsDir() {
			sub := key + "/"
			// Skip directories that cannot hold a key with the prefix, or only keys <= startAfter.
			if !strings.HasPrefix(sub, prefix) && !strings.HasPrefix(prefix, sub) {
				continue
			}
			if startAfter != "" && sub < startAfter && !strings.HasPrefix(startAfter, sub) {
				continue
			}
			if err := l.listDir(ctx, key, prefix, startAfter, out); err != nil {
				return err
			}
			continue
		}
		if strings.HasPrefix(name, tempPrefix) || !strings.HasPrefix(key, prefix) || key <= startAfter {
			continue
		}
		info, err := e.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // deleted while listing
			}
			return err
		}
		if !info.Mode().IsRegular() {
			continue
		}
		*out = append(*out, ObjectInfo{Key: key, Size: info.Size(), ModTime: info.ModTime()})
	}
	return nil
}

// Delete removes an object; a missing object is not an error. Empty parent directories are left.
func (l *Local) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return pathError("delete", l.root, key, err)
	}
	p, err := l.path(key)
	if err != nil {
		return pathError("delete", l.root, key, err)
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return l.wrap("delete", key, err)
	}
	return nil
}

// Stat describes an object.
func (l *Local) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	if err := ctx.Err(); err != nil {
		return ObjectInfo{}, pathError("stat", l.root, key, err)
	}
	p, err := l.path(key)
	if err != nil {
		return ObjectInfo{}, pathError("stat", l.root, key, err)
	}
	info, err := os.Stat(p)
	if err != nil {
		return ObjectInfo{}, l.wrap("stat", key, err)
	}
	if info.IsDir() {
		return ObjectInfo{}, pathError("stat", l.root, key, fmt.Errorf("%w: is a directory", ErrNotFound))
	}
	return ObjectInfo{Key: key, Size: info.Size(), ModTime: info.ModTime()}, nil
}
