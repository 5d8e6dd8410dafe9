package embedded

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stratalake/strata/internal/log"
)

// tailFixture writes five batches (of 1 to 5 records) to partition 0 of topic "t" in dir, one
// segment, an index entry per batch, closes the log and returns the records.
func tailFixture(t *testing.T, dir string, opts ...Option) []log.Record {
	t.Helper()
	l := openTest(t, dir, append([]Option{IndexIntervalBytes(1), CleanInterval(0)}, opts...)...)
	mustCreate(t, l, "t", log.TopicConfig{})
	var all []log.Record
	for b := range 5 {
		var recs []log.Record
		for i := range b + 1 {
			recs = append(recs, log.Record{
				Partition: 0, Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "batch %d record %d", b, i),
				Headers:   []log.Header{{Key: "h", Value: []byte("x")}},
				Timestamp: time.UnixMilli(int64(1_700_000_000_000 + 1000*b)),
			})
		}
		all = append(all, mustProduce(t, l, "t", recs...)...)
	}
	closeLog(t, l)
	return all
}

// TestTornTailEveryByte cuts the last batch of the active segment at every byte: recovery
// truncates it away, keeps the four batches before, and the log goes on from there.
func TestTornTailEveryByte(t *testing.T) {
	src := t.TempDir()
	all := tailFixture(t, src)
	logPath := filepath.Join(partDir(src, "t", 0), segName(0)+logSuffix)
	starts := frameStarts(t, logPath)
	lastStart, size := starts[len(starts)-2], starts[len(starts)-1]
	for cut := lastStart; cut < size; cut++ {
		t.Run(fmt.Sprint(cut), func(t *testing.T) {
			t.Parallel() // each cut works on a copy of its own
			tornTailCut(t, src, all, cut, lastStart, size)
		})
	}
}

// tornTailCut is TestTornTailEveryByte for one cut.
func tornTailCut(t *testing.T, src string, all []log.Record, cut, lastStart, size int64) {
	t.Helper()
	kept := all[:10] // batches of 1+2+3+4 records
	dir := t.TempDir()
	copyDir(t, src, dir)
	path := filepath.Join(partDir(dir, "t", 0), segName(0)+logSuffix)
	if err := os.Truncate(path, cut); err != nil {
		t.Fatal(err)
	}
	l, err := Open(context.Background(), dir, CleanInterval(0))
	if err != nil {
		t.Fatalf("cut at %d: Open: %v", cut, err)
	}
	rec := l.Recovery()
	if cut > lastStart {
		want := []Truncation{{File: path, Position: lastStart, Bytes: cut - lastStart}}
		if len(rec.Truncated) != 1 || rec.Truncated[0].File != want[0].File || rec.Truncated[0].Position != lastStart || rec.Truncated[0].Bytes != cut-lastStart {
			t.Fatalf("cut at %d: Truncated = %+v, want %+v", cut, rec.Truncated, want)
		}
	} else if len(rec.Truncated) != 0 {
		t.Fatalf("cut at a frame boundary: Truncated = %+v", rec.Truncated)
	}
	sameRecs(t, readAll(t, l, "t", 0), kept)
	if got, err := l.OffsetForTime(context.Background(), "t", 0, time.UnixMilli(1_700_000_004_000)); err != nil || got != 10 {
		t.Fatalf("cut at %d: OffsetForTime past the kept batches = %d, %v; want 10", cut, got, err)
	}
	out := mustProduce(t, l, "t", log.Record{Partition: 0, Value: []byte("after")})
	if out[0].Offset != 10 {
		t.Fatalf("cut at %d: next record at offset %d, want 10", cut, out[0].Offset)
	}
	closeLog(t, l)
	// The repaired log reopens cleanly, with no further repair.
	l, err = Open(context.Background(), dir, CleanInterval(0))
	if err != nil {
		t.Fatalf("cut at %d: second Open: %v", cut, err)
	}
	if r := l.Recovery(); len(r.Truncated)+len(r.RebuiltIndexes) != 0 {
		t.Fatalf("cut at %d: second Open repaired again: %+v", cut, r)
	}
	sameRecs(t, readAll(t, l, "t", 0), append(slices.Clone(kept), out...))
	closeLog(t, l)
}

// TestCorruptTail: a checksum failure or garbage in the active segment's tail is cut off.
func TestCorruptTail(t *testing.T) {
	src := t.TempDir()
	all := tailFixture(t, src)
	logPath := filepath.Join(partDir(src, "t", 0), segName(0)+logSuffix)
	starts := frameStarts(t, logPath)
	lastStart, size := starts[len(starts)-2], starts[len(starts)-1]
	for _, c := range []struct {
		name   string
		damage func(b []byte) []byte
		keep   int
		pos    int64
		reason string
	}{
		{"flipped payload byte", func(b []byte) []byte { b[size-3] ^= 0x40; return b }, 10, lastStart, "checksum"},
		{"flipped header byte", func(b []byte) []byte { b[lastStart+offMaxTime] ^= 1; return b }, 10, lastStart, "checksum"},
		{"zeros appended", func(b []byte) []byte { return append(b, make([]byte, 4096)...) }, 15, size, "magic"},
		{"garbage appended", func(b []byte) []byte { return append(b, []byte("garbage after the last batch")...) }, 15, size, ""},
		{"duplicate batch appended", func(b []byte) []byte { return append(b, b[lastStart:]...) }, 15, size, "expected offset"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			copyDir(t, src, dir)
			path := filepath.Join(partDir(dir, "t", 0), segName(0)+logSuffix)
			data, _ := os.ReadFile(path)
			if err := os.WriteFile(path, c.damage(data), 0o644); err != nil {
				t.Fatal(err)
			}
			l := openTest(t, dir, CleanInterval(0))
			tr := l.Recovery().Truncated
			if len(tr) != 1 || tr[0].File != path || tr[0].Position != c.pos || !strings.Contains(tr[0].Reason, c.reason) {
				t.Fatalf("Truncated = %+v, want one at %s byte %d (%s)", tr, path, c.pos, c.reason)
			}
			sameRecs(t, readAll(t, l, "t", 0), all[:c.keep])
			if st, _ := os.Stat(path); st.Size() != c.pos {
				t.Fatalf("file is %d bytes after recovery, want %d", st.Size(), c.pos)
			}
		})
	}
}

// sealedFixture writes 60 single-record batches with small segments (so there are sealed ones)
// and returns the records.
func sealedFixture(t *testing.T, dir string) []log.Record {
	t.Helper()
	l := openTest(t, dir, SegmentBytes(1024), IndexIntervalBytes(200), CleanInterval(0))
	mustCreate(t, l, "t", log.TopicConfig{})
	var all []log.Record
	for i := range 60 {
		all = append(all, mustProduce(t, l, "t", log.Record{Partition: 0, Key: fmt.Appendf(nil, "k%d", i), Value: bytes.Repeat([]byte{byte('a' + i%26)}, 40), Timestamp: time.UnixMilli(int64(1_000_000 + i*10))})...)
	}
	closeLog(t, l)
	return all
}

// TestSealedCorruption: corruption inside a sealed segment is never repaired silently: in the
// batches Open verifies (after the last index entry) it fails Open, elsewhere the fetch that
// reads it fails, both with ErrCorrupt naming the file and the batch's byte position.
func TestSealedCorruption(t *testing.T) {
	src := t.TempDir()
	sealedFixture(t, src)
	first := filepath.Join(partDir(src, "t", 0), segName(0)+logSuffix)
	starts := frameStarts(t, first)
	if len(filesWithSuffix(t, partDir(src, "t", 0), logSuffix)) < 3 {
		t.Fatal("fixture has fewer than three segments")
	}

	t.Run("read", func(t *testing.T) {
		dir := t.TempDir()
		copyDir(t, src, dir)
		path := filepath.Join(partDir(dir, "t", 0), segName(0)+logSuffix)
		data, _ := os.ReadFile(path)
		data[starts[1]+batchHeaderSize+2] ^= 0xff // second batch's payload
		os.WriteFile(path, data, 0o644)
		l := openTest(t, dir, CleanInterval(0))
		_, err := l.Fetch(context.Background(), "t", 0, 0, log.FetchOptions{})
		want := fmt.Sprintf("%s at byte %d", path, starts[1])
		if !errors.Is(err, log.ErrCorrupt) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), `topic "t" partition 0`) {
			t.Fatalf("Fetch = %v, want ErrCorrupt naming the topic, partition and %q", err, want)
		}
		// Offsets before the damaged batch still read.
		recs, err := l.Fetch(context.Background(), "t", 0, 0, log.FetchOptions{MaxRecords: 1})
		if err != nil || len(recs) != 1 {
			t.Fatalf("Fetch of the intact first batch = %v, %v", recs, err)
		}
	})
	t.Run("open", func(t *testing.T) {
		dir := t.TempDir()
		copyDir(t, src, dir)
		path := filepath.Join(partDir(dir, "t", 0), segName(0)+logSuffix)
		data, _ := os.ReadFile(path)
		last := starts[len(starts)-2]
		data[last+batchHeaderSize+2] ^= 0xff // the last batch: verified by Open
		os.WriteFile(path, data, 0o644)
		_, err := Open(context.Background(), dir, CleanInterval(0))
		want := fmt.Sprintf("%s at byte %d", path, last)
		if !errors.Is(err, log.ErrCorrupt) || !strings.Contains(err.Error(), want) {
			t.Fatalf("Open = %v, want ErrCorrupt naming %q", err, want)
		}
	})
	t.Run("truncated", func(t *testing.T) {
		dir := t.TempDir()
		copyDir(t, src, dir)
		path := filepath.Join(partDir(dir, "t", 0), segName(0)+logSuffix)
		os.Truncate(path, starts[len(starts)-1]-5)
		_, err := Open(context.Background(), dir, CleanInterval(0))
		if !errors.Is(err, log.ErrCorrupt) || !strings.Contains(err.Error(), path) {
			t.Fatalf("Open of a short sealed segment = %v, want ErrCorrupt naming it", err)
		}
	})
}

// TestIndexRebuilt: missing, garbage and short indexes are rebuilt from the log, identical to
// the ones the writer made, and lookups work.
func TestIndexRebuilt(t *testing.T) {
	src := t.TempDir()
	all := sealedFixture(t, src)
	pdir := partDir(src, "t", 0)
	orig := map[string][]byte{}
	for _, suffix := range []string{indexSuffix, timeIndexSuffix} {
		for _, p := range filesWithSuffix(t, pdir, suffix) {
			orig[filepath.Base(p)], _ = os.ReadFile(p)
		}
	}
	logs := filesWithSuffix(t, pdir, logSuffix)
	for _, c := range []struct {
		name   string
		damage func(path string)
	}{
		{"missing", func(path string) { os.Remove(path) }},
		{"empty", func(path string) { os.WriteFile(path, nil, 0o644) }},
		{"garbage", func(path string) { os.WriteFile(path, bytes.Repeat([]byte{0xa5}, 100), 0o644) }},
		{"zeros", func(path string) { os.WriteFile(path, make([]byte, 48), 0o644) }},
		{"short", func(path string) {
			b, _ := os.ReadFile(path)
			os.WriteFile(path, b[:len(b)/2], 0o644)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			copyDir(t, src, dir)
			pd := partDir(dir, "t", 0)
			for _, suffix := range []string{indexSuffix, timeIndexSuffix} {
				for _, p := range filesWithSuffix(t, pd, suffix) {
					c.damage(p)
				}
			}
			l := openTest(t, dir, SegmentBytes(1024), IndexIntervalBytes(200), CleanInterval(0))
			rebuilt := l.Recovery().RebuiltIndexes
			for _, lp := range logs {
				if want := filepath.Join(pd, filepath.Base(lp)); !slices.Contains(rebuilt, want) {
					t.Errorf("RebuiltIndexes %v lacks %s", rebuilt, want)
				}
			}
			for name, b := range orig {
				got, err := os.ReadFile(filepath.Join(pd, name))
				if err != nil || !bytes.Equal(got, b) {
					t.Errorf("%s after rebuild differs from the original (%d vs %d bytes, %v)", name, len(got), len(b), err)
				}
			}
			sameRecs(t, readAll(t, l, "t", 0), all)
			for _, i := range []int{0, 17, 33, 59} {
				recs, err := l.Fetch(context.Background(), "t", 0, int64(i), log.FetchOptions{MaxRecords: 1})
				if err != nil || len(recs) != 1 || recs[0].Offset != int64(i) {
					t.Fatalf("Fetch(%d) = %v, %v", i, recs, err)
				}
				if got, err := l.OffsetForTime(context.Background(), "t", 0, all[i].Timestamp); err != nil || got != int64(i) {
					t.Fatalf("OffsetForTime(record %d) = %d, %v", i, got, err)
				}
			}
		})
	}
}

// TestCompactionCrashSteps stops a compaction at each step of its rewrite, as a crash would, and
// checks that the next Open finishes or discards it without losing a record.
func TestCompactionCrashSteps(t *testing.T) {
	for _, c := range []struct {
		step      string
		compacted bool // the compaction committed: Open finishes it
	}{
		{"written", false},
		{"committed", true},
		{"removed-one", true},
	} {
		t.Run(c.step, func(t *testing.T) {
			dir := t.TempDir()
			opts := []Option{SegmentBytes(512), IndexIntervalBytes(100), CleanInterval(0)}
			l, err := Open(context.Background(), dir, opts...)
			if err != nil {
				t.Fatal(err)
			}
			mustCreate(t, l, "t", log.TopicConfig{Compact: true})
			var all []log.Record
			latest := map[string]log.Record{}
			for i := range 40 {
				r := mustProduce(t, l, "t", log.Record{Partition: 0, Key: fmt.Appendf(nil, "k%d", i%4), Value: fmt.Appendf(nil, "value %d", i)})
				all = append(all, r...)
				latest[string(r[0].Key)] = r[0]
			}
			segsBefore := len(filesWithSuffix(t, partDir(dir, "t", 0), logSuffix))
			compactionHook = func(step string) error {
				if step == c.step {
					return errors.New("simulated crash at " + step)
				}
				return nil
			}
			err = l.Clean(context.Background())
			compactionHook = nil
			if err == nil || !strings.Contains(err.Error(), "simulated crash") {
				t.Fatalf("Clean = %v, want the simulated crash", err)
			}
			// The log still reads everything in this process (it keeps the old segments open).
			sameRecs(t, readAll(t, l, "t", 0), all)
			closeLog(t, l)

			l, err = Open(context.Background(), dir, opts...)
			if err != nil {
				t.Fatalf("Open after the crash: %v", err)
			}
			defer l.Close()
			rec := l.Recovery()
			var want []log.Record
			if c.compacted {
				if len(rec.CompletedSwaps) != 1 {
					t.Fatalf("CompletedSwaps = %v, want one", rec.CompletedSwaps)
				}
				for _, r := range all {
					if latest[string(r.Key)].Offset == r.Offset {
						want = append(want, r)
					}
				}
			} else {
				if len(rec.RemovedFiles) != 1 || !strings.HasSuffix(rec.RemovedFiles[0], cleanedSuffix) {
					t.Fatalf("RemovedFiles = %v, want the .cleaned file", rec.RemovedFiles)
				}
				want = all
			}
			sameRecs(t, readAll(t, l, "t", 0), want)
			if n := len(filesWithSuffix(t, partDir(dir, "t", 0), ".swap")) + len(filesWithSuffix(t, partDir(dir, "t", 0), ".cleaned")); n != 0 {
				t.Fatalf("%d compaction files left after Open", n)
			}
			// A compaction after the recovery completes the job and the log goes on.
			if err := l.Clean(context.Background()); err != nil {
				t.Fatalf("Clean after recovery: %v", err)
			}
			var survivors []log.Record
			for _, r := range all {
				if latest[string(r.Key)].Offset == r.Offset {
					survivors = append(survivors, r)
				}
			}
			sameRecs(t, readAll(t, l, "t", 0), survivors)
			if n := len(filesWithSuffix(t, partDir(dir, "t", 0), logSuffix)); n >= segsBefore {
				t.Fatalf("%d segments after compaction, %d before: nothing merged", n, segsBefore)
			}
			if out := mustProduce(t, l, "t", log.Record{Partition: 0, Key: []byte("k"), Value: []byte("v")}); out[0].Offset != 40 {
				t.Fatalf("next offset %d, want 40", out[0].Offset)
			}
		})
	}
}

// TestLeftoversRemoved: half-created and half-deleted topics, temporary files and orphan indexes
// are removed by Open.
func TestLeftoversRemoved(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, CleanInterval(0))
	mustCreate(t, l, "t", log.TopicConfig{})
	mustProduce(t, l, "t", log.Record{Partition: 0, Value: []byte("v")})
	closeLog(t, l)
	topics := filepath.Join(dir, topicsDirName)
	pd := partDir(dir, "t", 0)
	leftovers := []string{
		filepath.Join(topics, creatingPrefix+"123", "0", segName(0)+logSuffix),
		filepath.Join(topics, deletedPrefix+"456", topicFileName),
		filepath.Join(topics, "t", topicFileName+tmpSuffix),
		filepath.Join(pd, segName(0)+indexSuffix+tmpSuffix),
		filepath.Join(pd, segName(500)+indexSuffix),
		filepath.Join(pd, segName(500)+timeIndexSuffix),
		filepath.Join(dir, groupsDirName, offsetsFileName+tmpSuffix),
	}
	for _, p := range leftovers {
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte("leftover"), 0o644)
	}
	l = openTest(t, dir, CleanInterval(0))
	for _, p := range leftovers {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("leftover %s still there (%v)", p, err)
		}
	}
	if n := len(l.Recovery().RemovedFiles); n != len(leftovers) {
		t.Errorf("RemovedFiles = %v, want %d entries", l.Recovery().RemovedFiles, len(leftovers))
	}
	if names, _ := l.ListTopics(context.Background()); !slices.Equal(names, []string{"t"}) {
		t.Fatalf("topics = %v", names)
	}
	if recs := readAll(t, l, "t", 0); len(recs) != 1 {
		t.Fatalf("records = %v", recs)
	}
}

// TestReopenKeepsEverything: topics, configs, records, commits, removal counters and offsets
// survive a close and an open, under both sync policies.
func TestReopenKeepsEverything(t *testing.T) {
	for _, sync := range []Option{SyncEveryBatch(), SyncInterval(time.Hour)} {
		dir := t.TempDir()
		now := time.Now()
		opts := []Option{sync, SegmentBytes(256), CleanInterval(0)}
		l, err := Open(context.Background(), dir, opts...)
		if err != nil {
			t.Fatal(err)
		}
		cfg := log.TopicConfig{Partitions: 2, Retention: log.Retention{Time: time.Hour}, TombstoneRetention: time.Minute, DeleteUncommitted: true}
		mustCreate(t, l, "t", cfg)
		mustCreate(t, l, "c", log.TopicConfig{Compact: true})
		for i := range 10 {
			mustProduce(t, l, "t", log.Record{Partition: 1, Value: []byte("old"), Timestamp: now.Add(-2 * time.Hour)})
			mustProduce(t, l, "c", log.Record{Partition: 0, Key: []byte("k"), Value: fmt.Appendf(nil, "%d", i)})
		}
		kept := mustProduce(t, l, "t", log.Record{Partition: 0, Value: []byte("new")})
		if err := l.CommitOffsets(context.Background(), "g", "t", map[int32]int64{0: 1, 1: 4}); err != nil {
			t.Fatal(err)
		}
		if err := l.Clean(context.Background()); err != nil {
			t.Fatal(err)
		}
		before, _ := l.DescribeTopic(context.Background(), "t")
		beforeC, _ := l.DescribeTopic(context.Background(), "c")
		cRecs := readAll(t, l, "c", 0)
		closeLog(t, l)

		l, err = Open(context.Background(), dir, opts...)
		if err != nil {
			t.Fatal(err)
		}
		if r := l.Recovery(); len(r.Truncated)+len(r.RebuiltIndexes)+len(r.RemovedFiles)+len(r.CompletedSwaps) != 0 {
			t.Fatalf("Open after a clean Close repaired something: %+v", r)
		}
		after, _ := l.DescribeTopic(context.Background(), "t")
		afterC, _ := l.DescribeTopic(context.Background(), "c")
		if fmt.Sprint(before) != fmt.Sprint(after) || fmt.Sprint(beforeC) != fmt.Sprint(afterC) {
			t.Fatalf("DescribeTopic changed across reopen:\n%+v\n%+v\n%+v\n%+v", before, after, beforeC, afterC)
		}
		if after.Removed.ByTime != 10 || after.Partitions[1].Earliest != 10 || after.Partitions[1].Latest != 10 {
			t.Fatalf("retention state not kept: %+v", after)
		}
		if beforeC.Removed.ByCompaction != 9 {
			t.Fatalf("compaction removed %d records, want 9", beforeC.Removed.ByCompaction)
		}
		sameRecs(t, readAll(t, l, "t", 0), kept)
		sameRecs(t, readAll(t, l, "c", 0), cRecs)
		got, err := l.CommittedOffsets(context.Background(), "g", "t")
		if err != nil || got[0] != 1 || got[1] != 4 || len(got) != 2 {
			t.Fatalf("commits after reopen = %v, %v", got, err)
		}
		if out := mustProduce(t, l, "t", log.Record{Partition: 1, Value: []byte("x")}); out[0].Offset != 10 {
			t.Fatalf("next offset in the emptied partition = %d, want 10", out[0].Offset)
		}
		closeLog(t, l)
	}
}

// TestGroupsFileTornTail: a torn last commit is dropped, the commits before it are kept.
func TestGroupsFileTornTail(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(context.Background(), dir, CleanInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, l, "t", log.TopicConfig{Partitions: 2})
	ctx := context.Background()
	l.CommitOffsets(ctx, "g1", "t", map[int32]int64{0: 3})
	l.CommitOffsets(ctx, "g2", "t", map[int32]int64{1: 4})
	l.CommitOffsets(ctx, "g1", "t", map[int32]int64{0: 5, 1: 6})
	closeLog(t, l)
	path := filepath.Join(dir, groupsDirName, offsetsFileName)
	data, _ := os.ReadFile(path)
	last := len(encodeCommit("g1", "t", map[int32]int64{0: 5, 1: 6}))
	for cut := len(data) - 1; cut > len(data)-last; cut-- {
		d := t.TempDir()
		copyDir(t, dir, d)
		p := filepath.Join(d, groupsDirName, offsetsFileName)
		os.Truncate(p, int64(cut))
		l := openTest(t, d, CleanInterval(0))
		if tr := l.Recovery().Truncated; len(tr) != 1 || tr[0].File != p {
			t.Fatalf("cut at %d: Truncated = %+v", cut, tr)
		}
		got, _ := l.CommittedOffsets(ctx, "g1", "t")
		if len(got) != 1 || got[0] != 3 {
			t.Fatalf("cut at %d: g1 = %v, want the first commit only", cut, got)
		}
		if got, _ := l.CommittedOffsets(ctx, "g2", "t"); got[1] != 4 {
			t.Fatalf("cut at %d: g2 = %v", cut, got)
		}
		closeLog(t, l)
	}
}

// TestGroupsRewrite: the rewritten offsets file holds the same state.
func TestGroupsRewrite(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, CleanInterval(0))
	mustCreate(t, l, "t", log.TopicConfig{Partitions: 3})
	ctx := context.Background()
	for i := range 50 {
		if err := l.CommitOffsets(ctx, fmt.Sprintf("g%d", i%3), "t", map[int32]int64{int32(i % 3): int64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	g := l.groups
	g.mu.Lock()
	sizeBefore := g.size
	err := g.rewrite()
	sizeAfter := g.size
	g.mu.Unlock()
	if err != nil || sizeAfter >= sizeBefore {
		t.Fatalf("rewrite: %v, %d -> %d bytes", err, sizeBefore, sizeAfter)
	}
	if err := l.CommitOffsets(ctx, "g9", "t", map[int32]int64{2: 99}); err != nil {
		t.Fatal(err)
	}
	want := map[string]map[int32]int64{}
	for _, grp := range []string{"g0", "g1", "g2", "g9"} {
		want[grp], _ = l.CommittedOffsets(ctx, grp, "t")
	}
	closeLog(t, l)
	l = openTest(t, dir, CleanInterval(0))
	for grp, w := range want {
		got, _ := l.CommittedOffsets(ctx, grp, "t")
		if fmt.Sprint(got) != fmt.Sprint(w) {
			t.Fatalf("%s after rewrite and reopen = %v, want %v", grp, got, w)
		}
	}
}

// TestDirLocked: a directory is opened by one Log at a time.
func TestDirLocked(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, CleanInterval(0))
	if _, err := Open(context.Background(), dir, CleanInterval(0)); err == nil || !strings.Contains(err.Error(), "locked") {
		t.Fatalf("second Open = %v, want a lock error", err)
	}
	closeLog(t, l)
	l2 := openTest(t, dir, CleanInterval(0))
	closeLog(t, l2)
}
