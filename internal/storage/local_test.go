package storage_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stratalake/strata/internal/storage"
	"github.com/stratalake/strata/internal/storage/storagetest"
)

func newLocal(t *testing.T) storage.Store {
	s, err := storage.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestLocalConformance(t *testing.T) {
	storagetest.RunStoreTests(t, newLocal)
}

// A crash between writing the temporary file and publishing it leaves the temporary file behind;
// it must stay invisible and must not block the key.
func TestLocalLeftoverTempFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := storage.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "_delta_log"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "_delta_log", ".strata-tmp-crashed"), []byte("half"), 0o644); err != nil {
		t.Fatal(err)
	}
	infos, err := s.List(ctx, "", "")
	if err != nil || len(infos) != 0 {
		t.Fatalf("List = %v, %v; want nothing", infos, err)
	}
	if err := s.PutIfAbsent(ctx, "_delta_log/0.json", []byte("v0")); err != nil {
		t.Fatal(err)
	}
	infos, err = s.List(ctx, "_delta_log/", "")
	if err != nil || len(infos) != 1 || infos[0].Key != "_delta_log/0.json" {
		t.Fatalf("List = %v, %v; want just _delta_log/0.json", infos, err)
	}
}

func TestLocalDirectoryIsNotAnObject(t *testing.T) {
	ctx := context.Background()
	s := newLocal(t)
	if err := s.Put(ctx, "a/b/c", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "a/b"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Get of a directory = %v, want ErrNotFound", err)
	}
	if rc, err := s.Open(ctx, "a/b"); !errors.Is(err, storage.ErrNotFound) {
		if rc != nil {
			rc.Close()
		}
		t.Errorf("Open of a directory = %v, want ErrNotFound", err)
	}
	if _, err := s.GetRange(ctx, "a/b", 0, 1); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("GetRange of a directory = %v, want ErrNotFound", err)
	}
}

func TestLocalInvalidKeys(t *testing.T) {
	ctx := context.Background()
	s := newLocal(t)
	for _, key := range []string{"", "/abs", "../escape", "a/../../escape"} {
		if err := s.Put(ctx, key, []byte("x")); err == nil {
			t.Errorf("Put(%q) succeeded, want an error", key)
		}
	}
}

// GetRange must not allocate the requested length up front: "the rest of the object" is often
// asked for with a huge length.
func TestLocalGetRangeHugeLength(t *testing.T) {
	ctx := context.Background()
	s := newLocal(t)
	if err := s.Put(ctx, "k", []byte("0123456789")); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetRange(ctx, "k", 4, 1<<62)
	if err != nil || string(got) != "456789" {
		t.Fatalf("GetRange(4, 1<<62) = %q, %v; want 456789", got, err)
	}
	if _, err := s.GetRange(ctx, "k", -1, 2); err == nil {
		t.Errorf("GetRange with a negative offset succeeded")
	}
	if _, err := s.GetRange(ctx, "k", 0, -2); err == nil {
		t.Errorf("GetRange with a negative length succeeded")
	}
}
