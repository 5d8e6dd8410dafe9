package storage_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/stratalake/strata/internal/storage"
)

// memStore is an in-memory Store for tests where the backend does not matter and fsync would only
// slow them down (the Faulty tests). It passes the conformance suite (TestMemStoreConformance).
type memStore struct {
	mu   sync.Mutex // guards objs
	objs map[string]memObject
}

type memObject struct {
	data []byte
	mod  time.Time
}

func newMemStore() *memStore { return &memStore{objs: map[string]memObject{}} }

func memErr(op, key string, err error) error { return fmt.Errorf("mem %s %s: %w", op, key, err) }

func (m *memStore) get(ctx context.Context, op, key string) (memObject, error) {
	if err := ctx.Err(); err != nil {
		return memObject{}, memErr(op, key, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.objs[key]
	if !ok {
		return memObject{}, memErr(op, key, storage.ErrNotFound)
	}
	return o, nil
}

func (m *memStore) Get(ctx context.Context, key string) ([]byte, error) {
	o, err := m.get(ctx, "get", key)
	return bytes.Clone(o.data), err
}

func (m *memStore) GetRange(ctx context.Context, key string, offset, length int64) ([]byte, error) {
	o, err := m.get(ctx, "get", key)
	if err != nil {
		return nil, err
	}
	if offset >= int64(len(o.data)) {
		return []byte{}, nil
	}
	return bytes.Clone(o.data[offset:min(int64(len(o.data)), offset+length)]), nil
}

func (m *memStore) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	o, err := m.get(ctx, "open", key)
	if err != nil {
		return nil, err
	}
	return io.NopCloser(bytes.NewReader(o.data)), nil
}

func (m *memStore) put(ctx context.Context, op, key string, data []byte, ifAbsent bool) error {
	if err := ctx.Err(); err != nil {
		return memErr(op, key, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.objs[key]; ok && ifAbsent {
		return memErr(op, key, storage.ErrExists)
	}
	m.objs[key] = memObject{data: bytes.Clone(data), mod: time.Now()}
	return nil
}

func (m *memStore) Put(ctx context.Context, key string, data []byte) error {
	return m.put(ctx, "put", key, data, false)
}

func (m *memStore) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	return m.put(ctx, "put-if-absent", key, data, true)
}

func (m *memStore) List(ctx context.Context, prefix, startAfter string) ([]storage.ObjectInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, memErr("list", prefix, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []storage.ObjectInfo
	for k, o := range m.objs {
		if strings.HasPrefix(k, prefix) && k > startAfter {
			out = append(out, storage.ObjectInfo{Key: k, Size: int64(len(o.data)), ModTime: o.mod})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

func (m *memStore) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return memErr("delete", key, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.objs, key)
	return nil
}

func (m *memStore) Stat(ctx context.Context, key string) (storage.ObjectInfo, error) {
	o, err := m.get(ctx, "stat", key)
	if err != nil {
		return storage.ObjectInfo{}, err
	}
	return storage.ObjectInfo{Key: key, Size: int64(len(o.data)), ModTime: o.mod}, nil
}

func (m *memStore) URL() string { return "mem://" }
