// Package storagetest is a conformance suite for storage.Store implementations: every store runs
// the same tests, so Local, S3 and any wrapper behave alike where the Store contract says they do.
package storagetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"

	"github.com/stratalake/strata/internal/storage"
)

// NewStore returns an empty store for one subtest. It may register cleanups on t.
type NewStore func(t *testing.T) storage.Store

// RunStoreTests runs the conformance suite against stores made by newStore, one fresh store per
// subtest. It covers every Store method: round trips, overwrite, missing keys, ranges, listing
// order and startAfter, delete, put-if-absent (sequential and racing) and context cancellation.
//
// Keys where one object's key is a "directory" of another ("a/b" and "a/b/c") are not used here,
// since a filesystem cannot hold both; RunNestedKeyTests covers them for stores that can.
func RunStoreTests(t *testing.T, newStore NewStore) {
	tests := []struct {
		name string
		run  func(t *testing.T, s storage.Store)
	}{
		{"RoundTrip", testRoundTrip},
		{"Overwrite", testOverwrite},
		{"Missing", testMissing},
		{"GetRange", testGetRange},
		{"List", testList},
		{"ListStartAfter", testListStartAfter},
		{"Delete", testDelete},
		{"PutIfAbsent", testPutIfAbsent},
		{"PutIfAbsentRace", testPutIfAbsentRace},
		{"Cancelled", testCancelled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			if s.URL() == "" {
				t.Errorf("URL() is empty")
			}
			tc.run(t, s)
		})
	}
}

// RunNestedKeyTests checks stores where a key can be both an object and a prefix of other keys
// ("a/b" and "a/b/c"), as in object storage; a filesystem store cannot run it.
func RunNestedKeyTests(t *testing.T, newStore NewStore) {
	t.Run("NestedKeys", func(t *testing.T) {
		s := newStore(t)
		ctx := context.Background()
		keys := []string{"a/b", "a/b/c", "a/c", "a/b.x", "a/b/c/d"}
		for _, k := range keys {
			mustPut(t, s, k, []byte("v:"+k))
		}
		checkList(t, s, "", "", []string{"a/b", "a/b.x", "a/b/c", "a/b/c/d", "a/c"})
		checkList(t, s, "a/b", "", []string{"a/b", "a/b.x", "a/b/c", "a/b/c/d"})
		checkList(t, s, "a/b/", "", []string{"a/b/c", "a/b/c/d"})
		checkList(t, s, "a/", "a/b", []string{"a/b.x", "a/b/c", "a/b/c/d", "a/c"})
		for _, k := range keys {
			got, err := s.Get(ctx, k)
			if err != nil || string(got) != "v:"+k {
				t.Errorf("Get(%q) = %q, %v; want %q", k, got, err, "v:"+k)
			}
		}
		if err := s.PutIfAbsent(ctx, "a/b/c", []byte("other")); !errors.Is(err, storage.ErrExists) {
			t.Errorf("PutIfAbsent(a/b/c) on an existing key = %v, want ErrExists", err)
		}
	})
}

func mustPut(t *testing.T, s storage.Store, key string, data []byte) {
	t.Helper()
	if err := s.Put(context.Background(), key, data); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func checkGet(t *testing.T, s storage.Store, key string, want []byte) {
	t.Helper()
	ctx := context.Background()
	got, err := s.Get(ctx, key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Get(%q) = %d bytes %q, want %d bytes %q", key, len(got), trunc(got), len(want), trunc(want))
	}
	info, err := s.Stat(ctx, key)
	if err != nil {
		t.Fatalf("Stat(%q): %v", key, err)
	}
	if info.Key != key || info.Size != int64(len(want)) {
		t.Fatalf("Stat(%q) = key %q size %d, want key %q size %d", key, info.Key, info.Size, key, len(want))
	}
	if info.ModTime.IsZero() {
		t.Errorf("Stat(%q).ModTime is zero", key)
	}
	rc, err := s.Open(ctx, key)
	if err != nil {
		t.Fatalf("Open(%q): %v", key, err)
	}
	streamed, err := io.ReadAll(rc)
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("reading Open(%q): %v", key, err)
	}
	if !bytes.Equal(streamed, want) {
		t.Fatalf("Open(%q) streamed %d bytes, want %d", key, len(streamed), len(want))
	}
}

func trunc(b []byte) []byte {
	if len(b) > 32 {
		return b[:32]
	}
	return b
}

func checkList(t *testing.T, s storage.Store, prefix, startAfter string, want []string) {
	t.Helper()
	infos, err := s.List(context.Background(), prefix, startAfter)
	if err != nil {
		t.Fatalf("List(%q, %q): %v", prefix, startAfter, err)
	}
	got := make([]string, len(infos))
	for i, in := range infos {
		got[i] = in.Key
	}
	if want == nil {
		want = []string{}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("List(%q, %q) =\n  %q\nwant\n  %q", prefix, startAfter, got, want)
	}
}

func testRoundTrip(t *testing.T, s storage.Store) {
	allBytes := make([]byte, 256)
	for i := range allBytes {
		allBytes[i] = byte(i)
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	tests := []struct {
		key  string
		data []byte
	}{
		{"plain.txt", []byte("hello")},
		{"empty", []byte{}},
		{"binary.bin", allBytes},
		{"big/one-mebibyte", big},
		{"_delta_log/00000000000000000000.json", []byte(`{"commitInfo":{}}` + "\n")},
		{"part=1/x y%20z=ü.parquet", []byte("odd key")},
	}
	for _, tc := range tests {
		mustPut(t, s, tc.key, tc.data)
		checkGet(t, s, tc.key, tc.data)
	}
}

func testOverwrite(t *testing.T, s storage.Store) {
	mustPut(t, s, "k", []byte("first version, longer"))
	mustPut(t, s, "k", []byte("second"))
	checkGet(t, s, "k", []byte("second"))
	checkList(t, s, "", "", []string{"k"})
}

func testMissing(t *testing.T, s storage.Store) {
	ctx := context.Background()
	mustPut(t, s, "dir/present", []byte("x"))
	for _, key := range []string{"absent", "dir/absent", "nodir/absent"} {
		if _, err := s.Get(ctx, key); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Get(%q) = %v, want ErrNotFound", key, err)
		}
		if _, err := s.Stat(ctx, key); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Stat(%q) = %v, want ErrNotFound", key, err)
		}
		if rc, err := s.Open(ctx, key); !errors.Is(err, storage.ErrNotFound) {
			if rc != nil {
				rc.Close()
			}
			t.Errorf("Open(%q) = %v, want ErrNotFound", key, err)
		}
		for _, length := range []int64{0, 4} {
			if _, err := s.GetRange(ctx, key, 0, length); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("GetRange(%q, 0, %d) = %v, want ErrNotFound", key, length, err)
			}
		}
	}
	checkList(t, s, "absent", "", nil)
	checkList(t, s, "nodir/", "", nil)
}

func testGetRange(t *testing.T, s storage.Store) {
	ctx := context.Background()
	data := []byte("0123456789")
	mustPut(t, s, "r", data)
	mustPut(t, s, "empty", nil)
	tests := []struct {
		key            string
		offset, length int64
		want           string
	}{
		{"r", 0, 10, "0123456789"},
		{"r", 0, 3, "012"},
		{"r", 2, 5, "23456"},
		{"r", 9, 1, "9"},
		{"r", 8, 10, "89"}, // runs past the end
		{"r", 0, 100, "0123456789"},
		{"r", 10, 5, ""},    // starts at the end
		{"r", 15, 5, ""},    // starts past the end
		{"r", 3, 0, ""},     // empty range
		{"empty", 0, 5, ""}, // empty object
		{"empty", 0, 0, ""},
	}
	for _, tc := range tests {
		got, err := s.GetRange(ctx, tc.key, tc.offset, tc.length)
		if err != nil {
			t.Errorf("GetRange(%q, %d, %d): %v", tc.key, tc.offset, tc.length, err)
			continue
		}
		if string(got) != tc.want {
			t.Errorf("GetRange(%q, %d, %d) = %q, want %q", tc.key, tc.offset, tc.length, got, tc.want)
		}
	}
}

// listKeys are chosen so that lexical order differs from a naive directory walk: '-' (0x2d) and
// '.' (0x2e) sort before '/' (0x2f), so "a/b-x" and "a/b.json" come before "a/b/c"; and keys use
// characters that need escaping in URLs or that are multi-byte in UTF-8.
var listKeys = []string{
	"a/b/c",
	"a/b-x",
	"a/b.json",
	"a/c",
	"a/b/d/e",
	"p/k=v/x",
	"p/k=v w/y",
	"p/100%/z",
	"p/%2F/z",
	"p/space here",
	"u/é",
	"u/z",
	"u/日本語",
	"u/ü",
	"z",
}

func testList(t *testing.T, s storage.Store) {
	for i, k := range listKeys {
		mustPut(t, s, k, bytes.Repeat([]byte{'x'}, i))
	}
	sorted := slices.Clone(listKeys)
	slices.Sort(sorted)
	checkList(t, s, "", "", sorted)

	tests := []struct {
		prefix string
		want   []string
	}{
		{"a/", []string{"a/b-x", "a/b.json", "a/b/c", "a/b/d/e", "a/c"}},
		{"a/b", []string{"a/b-x", "a/b.json", "a/b/c", "a/b/d/e"}},
		{"a/b/", []string{"a/b/c", "a/b/d/e"}},
		{"a/b/d", []string{"a/b/d/e"}},
		{"p/k=v", []string{"p/k=v w/y", "p/k=v/x"}},
		{"p/1", []string{"p/100%/z"}},
		{"p/%", []string{"p/%2F/z"}},
		{"p/space", []string{"p/space here"}},
		{"u/", []string{"u/z", "u/é", "u/ü", "u/日本語"}},
		{"u/日", []string{"u/日本語"}},
		{"z", []string{"z"}},
		{"zz", nil},
		{"nothing/", nil},
	}
	for _, tc := range tests {
		checkList(t, s, tc.prefix, "", tc.want)
	}

	infos, err := s.List(context.Background(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range infos {
		i := slices.Index(listKeys, in.Key)
		if in.Size != int64(i) {
			t.Errorf("List: %q has size %d, want %d", in.Key, in.Size, i)
		}
		if in.ModTime.IsZero() {
			t.Errorf("List: %q has zero ModTime", in.Key)
		}
	}
}

func testListStartAfter(t *testing.T, s storage.Store) {
	var log []string
	for v := range 12 {
		k := fmt.Sprintf("_delta_log/%020d.json", v)
		log = append(log, k)
		mustPut(t, s, k, []byte("{}"))
	}
	const last = "_delta_log/_last_checkpoint"
	mustPut(t, s, last, []byte("{}"))
	mustPut(t, s, "data/part-0.parquet", []byte("x"))
	with := func(keys ...string) []string { return append(slices.Clone(keys), last) }

	tests := []struct {
		prefix, startAfter string
		want               []string
	}{
		{"_delta_log/", "", with(log...)},
		{"_delta_log/", log[9], with(log[10:]...)},
		// startAfter need not be a key: everything sorting after it is listed.
		{"_delta_log/", fmt.Sprintf("_delta_log/%020d", 5), with(log[5:]...)},
		{"_delta_log/", log[11], []string{last}},
		{"_delta_log/", last, nil},
		{"_delta_log/", "_delta_log/~", nil},
		// startAfter before the prefix lists the whole prefix.
		{"_delta_log/", "_", with(log...)},
		{"", "_delta_log/~", []string{"data/part-0.parquet"}},
		{"", "data/part-0.parquet", nil},
		{"data/", "a", []string{"data/part-0.parquet"}},
	}
	for _, tc := range tests {
		checkList(t, s, tc.prefix, tc.startAfter, tc.want)
	}
}

func testDelete(t *testing.T, s storage.Store) {
	ctx := context.Background()
	mustPut(t, s, "d/one", []byte("1"))
	mustPut(t, s, "d/two", []byte("2"))
	if err := s.Delete(ctx, "d/one"); err != nil {
		t.Fatalf("Delete(d/one): %v", err)
	}
	if _, err := s.Get(ctx, "d/one"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Get after Delete = %v, want ErrNotFound", err)
	}
	checkList(t, s, "", "", []string{"d/two"})
	for _, key := range []string{"d/one", "never", "no/such/dir"} {
		if err := s.Delete(ctx, key); err != nil {
			t.Errorf("Delete(%q) of a missing object = %v, want nil", key, err)
		}
	}
	checkGet(t, s, "d/two", []byte("2"))
}

func testPutIfAbsent(t *testing.T, s storage.Store) {
	ctx := context.Background()
	key := "_delta_log/00000000000000000001.json"
	if err := s.PutIfAbsent(ctx, key, []byte("first")); err != nil {
		t.Fatalf("PutIfAbsent on a free key: %v", err)
	}
	checkGet(t, s, key, []byte("first"))
	err := s.PutIfAbsent(ctx, key, []byte("second"))
	if !errors.Is(err, storage.ErrExists) {
		t.Fatalf("PutIfAbsent on an existing key = %v, want ErrExists", err)
	}
	// Same bytes as the stored object: still ErrExists, the store does not compare content.
	if err := s.PutIfAbsent(ctx, key, []byte("first")); !errors.Is(err, storage.ErrExists) {
		t.Fatalf("PutIfAbsent of identical bytes on an existing key = %v, want ErrExists", err)
	}
	checkGet(t, s, key, []byte("first"))
	checkList(t, s, "", "", []string{key})

	// A Put-written object blocks PutIfAbsent too, and a deleted one frees the key.
	mustPut(t, s, "p", []byte("put"))
	if err := s.PutIfAbsent(ctx, "p", []byte("x")); !errors.Is(err, storage.ErrExists) {
		t.Fatalf("PutIfAbsent over a Put object = %v, want ErrExists", err)
	}
	if err := s.Delete(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	if err := s.PutIfAbsent(ctx, "p", []byte("again")); err != nil {
		t.Fatalf("PutIfAbsent after Delete: %v", err)
	}
	checkGet(t, s, "p", []byte("again"))
	if err := s.PutIfAbsent(ctx, "empty", nil); err != nil {
		t.Fatalf("PutIfAbsent of an empty object: %v", err)
	}
	checkGet(t, s, "empty", []byte{})
}

// racers is how many goroutines race for one key.
const racers = 32

func testPutIfAbsentRace(t *testing.T, s storage.Store) {
	ctx := context.Background()
	key := "_delta_log/00000000000000000007.json"
	payload := func(i int) []byte {
		return bytes.Repeat([]byte(fmt.Sprintf("writer %02d;", i)), 1000+i)
	}
	var (
		wg      sync.WaitGroup
		start   = make(chan struct{})
		results = make([]error, racers)
	)
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i] = s.PutIfAbsent(ctx, key, payload(i))
		}()
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, err := range results {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Errorf("writers %d and %d both won", winner, i)
			}
			winner = i
		case !errors.Is(err, storage.ErrExists):
			t.Errorf("writer %d: %v, want nil or ErrExists", i, err)
		}
	}
	if winner < 0 {
		t.Fatalf("no writer won")
	}
	checkGet(t, s, key, payload(winner))
}

func testCancelled(t *testing.T, s storage.Store) {
	mustPut(t, s, "exists", []byte("data"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	calls := []struct {
		name string
		call func() error
	}{
		{"Get", func() error { _, err := s.Get(ctx, "exists"); return err }},
		{"GetRange", func() error { _, err := s.GetRange(ctx, "exists", 0, 2); return err }},
		{"Open", func() error {
			rc, err := s.Open(ctx, "exists")
			if err == nil {
				rc.Close()
			}
			return err
		}},
		{"Put", func() error { return s.Put(ctx, "new-put", []byte("x")) }},
		{"PutIfAbsent", func() error { return s.PutIfAbsent(ctx, "new-pia", []byte("x")) }},
		{"List", func() error { _, err := s.List(ctx, "", ""); return err }},
		{"Delete", func() error { return s.Delete(ctx, "exists") }},
		{"Stat", func() error { _, err := s.Stat(ctx, "exists"); return err }},
	}
	for _, c := range calls {
		if err := c.call(); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context = %v, want an error wrapping context.Canceled", c.name, err)
		}
	}
	// Nothing happened: the writes did not land and the delete did not delete.
	checkList(t, s, "", "", []string{"exists"})
}
