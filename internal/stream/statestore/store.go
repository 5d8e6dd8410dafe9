// Package statestore keeps the durable state of streaming queries in a local pebble database: the
// write-ahead offsets log, the commit log and the operators' state that the decision core
// (package stream/core) hands out as key/value mutations.
//
// One Store (one folder) holds any number of queries, each under its own namespace: every key of
// query q is stored as q's name, a 0x00 byte, then the core's key. Queries never see each other's
// keys, and Scan strips the namespace again, which is what core.Query.Restore expects.
//
// Durability: Apply writes one set of mutations as one pebble batch committed with fsync, so a
// set is either wholly on disk or not at all after a crash (pebble's write-ahead log replays whole
// batches). That atomicity is what the core's exactly-once contract needs from its store.
package statestore

import (
	"bytes"
	"errors"
	"fmt"
	"iter"
	"os"
	"strings"

	"github.com/cockroachdb/pebble/v2"

	"github.com/stratalake/strata/internal/stream/core"
)

// ErrInvalidNamespace: a namespace that is empty or contains a 0x00 byte.
var ErrInvalidNamespace = errors.New("statestore: namespace must be non-empty and free of NUL bytes")

// Store is a pebble database in a local folder. It is safe for concurrent use; pebble's lock file
// keeps a second process (or a second Open in this one) out of the folder while it is open.
type Store struct {
	dir string
	db  *pebble.DB
}

// Open opens (creating if needed) the store in dir, a local folder. Remote locations (s3://...)
// are refused: the store needs a local file system with fsync.
func Open(dir string) (*Store, error) {
	if strings.Contains(dir, "://") {
		return nil, fmt.Errorf("statestore: %s: the state store needs a local folder (remote checkpoint locations are not supported yet)", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("statestore: %w", err)
	}
	db, err := pebble.Open(dir, &pebble.Options{Logger: quietLogger{}})
	if err != nil {
		return nil, fmt.Errorf("statestore: open %s: %w", dir, err)
	}
	return &Store{dir: dir, db: db}, nil
}

// Dir is the store's folder.
func (s *Store) Dir() string { return s.dir }

// Close closes the database. Pending Applies have returned already (they are synchronous).
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("statestore: close %s: %w", s.dir, err)
	}
	return nil
}

func prefix(ns string) ([]byte, error) {
	if ns == "" || strings.IndexByte(ns, 0) >= 0 {
		return nil, fmt.Errorf("%w: %q", ErrInvalidNamespace, ns)
	}
	return append([]byte(ns), 0), nil
}

// Apply writes the mutations of namespace ns as one atomic batch and syncs it to disk before
// returning. An empty set writes nothing.
func (s *Store) Apply(ns string, muts []core.Mutation) error {
	p, err := prefix(ns)
	if err != nil {
		return err
	}
	if len(muts) == 0 {
		return nil
	}
	b := s.db.NewBatch()
	defer b.Close()
	key := make([]byte, 0, 64)
	for _, m := range muts {
		key = append(append(key[:0], p...), m.Key...)
		if m.Delete {
			err = b.Delete(key, nil)
		} else {
			err = b.Set(key, m.Value, nil)
		}
		if err != nil {
			return fmt.Errorf("statestore: %s: batch key %q: %w", s.dir, m.Key, err)
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("statestore: %s: commit: %w", s.dir, err)
	}
	return nil
}

// Scan returns every key/value of namespace ns in key order, with the namespace stripped from the
// keys. The yielded slices are valid only until the next iteration step. The scan reads a
// consistent snapshot; an iteration error is reported by the returned function, to call once the
// sequence has been consumed.
func (s *Store) Scan(ns string) (seq iter.Seq2[[]byte, []byte], errf func() error) {
	p, err := prefix(ns)
	if err != nil {
		return func(func([]byte, []byte) bool) {}, func() error { return err }
	}
	var scanErr error
	seq = func(yield func([]byte, []byte) bool) {
		it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: upperBound(p)})
		if err != nil {
			scanErr = fmt.Errorf("statestore: %s: scan: %w", s.dir, err)
			return
		}
		defer func() {
			if err := it.Close(); err != nil && scanErr == nil {
				scanErr = fmt.Errorf("statestore: %s: scan: %w", s.dir, err)
			}
		}()
		for ok := it.First(); ok; ok = it.Next() {
			v, err := it.ValueAndErr()
			if err != nil {
				scanErr = fmt.Errorf("statestore: %s: scan key %q: %w", s.dir, it.Key(), err)
				return
			}
			if !yield(it.Key()[len(p):], v) {
				return
			}
		}
		if err := it.Error(); err != nil {
			scanErr = fmt.Errorf("statestore: %s: scan: %w", s.dir, err)
		}
	}
	return seq, func() error { return scanErr }
}

// Size returns the number of keys and the bytes of keys and values of namespace ns (a full scan).
func (s *Store) Size(ns string) (keys, bytes int64, err error) {
	seq, errf := s.Scan(ns)
	for k, v := range seq {
		keys++
		bytes += int64(len(k) + len(v))
	}
	return keys, bytes, errf()
}

// Drop deletes every key of namespace ns (a query started afresh), synced.
func (s *Store) Drop(ns string) error {
	p, err := prefix(ns)
	if err != nil {
		return err
	}
	if err := s.db.DeleteRange(p, upperBound(p), pebble.Sync); err != nil {
		return fmt.Errorf("statestore: %s: drop %q: %w", s.dir, ns, err)
	}
	return nil
}

// upperBound returns the smallest key greater than every key starting with p (p ends in 0x00, so
// incrementing its last byte is enough).
func upperBound(p []byte) []byte {
	u := bytes.Clone(p)
	u[len(u)-1]++
	return u
}

// quietLogger drops pebble's informational messages; errors surface through return values.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf("pebble: "+format, args...))
}
