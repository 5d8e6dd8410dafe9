// Package storage is Strata's object-storage layer: one small interface over a flat namespace of
// immutable-ish objects, with the single atomic primitive the Delta protocol needs, put-if-absent.
//
// Keys are slash-separated paths relative to the store's root ("_delta_log/00000000000000000000.json").
// They never start with a slash. Implementations: a local directory (Local), S3-compatible object
// storage (S3), and a fault-injecting wrapper for tests (Faulty).
package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Sentinel errors. Implementations wrap them with the key and backend detail; callers test with
// errors.Is.
var (
	// ErrNotFound: the object does not exist.
	ErrNotFound = errors.New("object not found")
	// ErrExists: PutIfAbsent found the object already there. For the Delta log this means another
	// writer won the race for that version.
	ErrExists = errors.New("object already exists")
)

// ObjectInfo describes one stored object.
type ObjectInfo struct {
	// Key is the object's path relative to the store root.
	Key string
	// Size in bytes.
	Size int64
	// ModTime is the last modification time reported by the backend.
	ModTime time.Time
}

// Store is an object store rooted at one location. All methods are safe for concurrent use and
// honour ctx: a cancelled context aborts the call with ctx.Err() (wrapped), and a write that is
// aborted leaves either the old state or the complete new object, never a partial one.
type Store interface {
	// Get reads a whole object.
	Get(ctx context.Context, key string) ([]byte, error)
	// GetRange reads length bytes starting at offset. Reading past the end returns the bytes that
	// exist (possibly none) without error.
	GetRange(ctx context.Context, key string, offset, length int64) ([]byte, error)
	// Open returns a reader positioned at the start of the object; used to stream large objects.
	Open(ctx context.Context, key string) (io.ReadCloser, error)
	// Put writes an object, replacing any existing one. The new object becomes visible atomically.
	Put(ctx context.Context, key string, data []byte) error
	// PutIfAbsent writes an object only if none exists under key, atomically with respect to every
	// other writer of the same store (other processes and machines included). It returns an error
	// wrapping ErrExists when the object is already there, in which case nothing was changed.
	PutIfAbsent(ctx context.Context, key string, data []byte) error
	// List returns the objects whose key starts with prefix and sorts lexically after startAfter
	// (use "" for all), in lexical key order. Directories are not objects and are not listed.
	List(ctx context.Context, prefix, startAfter string) ([]ObjectInfo, error)
	// Delete removes an object. Deleting a missing object is not an error.
	Delete(ctx context.Context, key string) error
	// Stat returns an object's size and modification time, or an error wrapping ErrNotFound.
	Stat(ctx context.Context, key string) (ObjectInfo, error)
	// URL is the store root as a user would write it ("/data/t", "s3://bucket/prefix").
	URL() string
}

// pathError decorates an error with the operation and key, keeping it testable with errors.Is.
func pathError(op, root, key string, err error) error {
	return fmt.Errorf("storage %s %s/%s: %w", op, root, key, err)
}
