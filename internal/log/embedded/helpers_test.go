package embedded

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stratalake/strata/internal/log"
)

// copyDir copies a log directory (regular files and directories), skipping the LOCK file.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if info.Name() == lockFileName {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
	if err != nil {
		t.Fatalf("copy %s to %s: %v", src, dst, err)
	}
}

func partDir(dir, topic string, p int) string {
	return filepath.Join(dir, topicsDirName, topic, fmt.Sprint(p))
}

// filesWithSuffix lists a directory's files ending in suffix, sorted.
func filesWithSuffix(t *testing.T, dir, suffix string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), suffix) {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	sort.Strings(out)
	return out
}

// frameStarts returns the position of every frame of a segment file and, last, its size.
func frameStarts(t *testing.T, path string) []int64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	fr := newFrameReader(f, path, 0, st.Size(), readChunk, true)
	var out []int64
	for {
		pos, _, _, err := fr.next()
		if err == io.EOF {
			return append(out, st.Size())
		}
		if err != nil {
			t.Fatalf("frameStarts(%s): %v", path, err)
		}
		out = append(out, pos)
	}
}

func mustCreate(t *testing.T, l *Log, name string, cfg log.TopicConfig) {
	t.Helper()
	if err := l.CreateTopic(context.Background(), name, cfg); err != nil {
		t.Fatalf("CreateTopic(%q): %v", name, err)
	}
}

func mustProduce(t *testing.T, l *Log, topic string, recs ...log.Record) []log.Record {
	t.Helper()
	out, err := l.Produce(context.Background(), topic, recs)
	if err != nil {
		t.Fatalf("Produce(%q): %v", topic, err)
	}
	return out
}

// readAll fetches every retained record of a partition.
func readAll(t *testing.T, l *Log, topic string, p int32) []log.Record {
	t.Helper()
	ctx := context.Background()
	earliest, latest, err := l.Offsets(ctx, topic, p)
	if err != nil {
		t.Fatalf("Offsets: %v", err)
	}
	var all []log.Record
	for off := earliest; off < latest; {
		recs, err := l.Fetch(ctx, topic, p, off, log.FetchOptions{MaxRecords: 5})
		if err != nil {
			t.Fatalf("Fetch(%q, %d, %d): %v", topic, p, off, err)
		}
		if len(recs) == 0 {
			break
		}
		all = append(all, recs...)
		off = recs[len(recs)-1].Offset + 1
	}
	return all
}

// sameRecs compares offsets, keys, values (with nil-ness) and timestamps.
func sameRecs(t *testing.T, got, want []log.Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d", len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Offset != w.Offset || (g.Key == nil) != (w.Key == nil) || !bytes.Equal(g.Key, w.Key) ||
			(g.Value == nil) != (w.Value == nil) || !bytes.Equal(g.Value, w.Value) || !g.Timestamp.Equal(w.Timestamp) {
			t.Fatalf("record %d = @%d %q=%q %v, want @%d %q=%q %v", i, g.Offset, g.Key, g.Value, g.Timestamp, w.Offset, w.Key, w.Value, w.Timestamp)
		}
	}
}

func closeLog(t *testing.T, l *Log) {
	t.Helper()
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}
