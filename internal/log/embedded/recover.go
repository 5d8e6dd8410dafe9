package embedded

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/stratalake/strata/internal/log"
)

// Recovery reports what Open repaired. A clean shutdown leaves nothing to repair; a crash may
// leave torn tails, stale indexes and compaction leftovers, all of which Open handles without
// losing a record that was acknowledged under SyncEveryBatch.
type Recovery struct {
	// Truncated lists the torn or corrupt tails cut from active segments and from the group
	// offsets file.
	Truncated []Truncation
	// RebuiltIndexes lists the segments (.log paths) whose .index/.timeindex were rebuilt or
	// completed from the log.
	RebuiltIndexes []string
	// CompletedSwaps lists the committed compaction outputs (.swap files) that Open put in place.
	CompletedSwaps []string
	// RemovedFiles lists leftovers removed: unfinished compaction outputs (.cleaned), temporary
	// files, indexes without their log, half-created or half-deleted topic directories.
	RemovedFiles []string
}

// Truncation is one tail cut by recovery.
type Truncation struct {
	File     string
	Position int64  // the file's new size: the byte where the first bad frame started
	Bytes    int64  // bytes removed
	Reason   string // why the frame at Position was refused
}

// removeTmpFiles removes the *.tmp leftovers of atomic writes in dir.
func removeTmpFiles(dir string, rec *Recovery) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("embedded log: %w", err)
	}
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), tmpSuffix) {
			path := filepath.Join(dir, e.Name())
			if err := os.Remove(path); err != nil {
				return fmt.Errorf("embedded log: remove leftover: %w", err)
			}
			rec.RemovedFiles = append(rec.RemovedFiles, path)
		}
	}
	return nil
}

// parseSwapName parses "<base>-<end>" + suffix.
func parseSwapName(name, suffix string) (base, end int64, ok bool) {
	s, found := strings.CutSuffix(name, suffix)
	if !found {
		return 0, 0, false
	}
	b, e, found := strings.Cut(s, "-")
	if !found {
		return 0, 0, false
	}
	base, ok1 := parseBase(b)
	end, ok2 := parseBase(e)
	return base, end, ok1 && ok2 && base < end
}

// finishCompaction discards unfinished compaction outputs and puts committed ones in place:
// for "<base>-<end>.log.swap" every segment file with a base in [base, end) is deleted and the
// swap renamed to "<base>.log" (its indexes are rebuilt when the segment is loaded).
func finishCompaction(dir string, rec *Recovery) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("embedded log: %w", err)
	}
	changed := false
	var swaps []string
	for _, e := range entries {
		name := e.Name()
		switch {
		case strings.HasSuffix(name, cleanedSuffix), strings.HasSuffix(name, tmpSuffix):
			path := filepath.Join(dir, name)
			if err := os.Remove(path); err != nil {
				return fmt.Errorf("embedded log: remove leftover: %w", err)
			}
			rec.RemovedFiles = append(rec.RemovedFiles, path)
			changed = true
		case strings.HasSuffix(name, swapSuffix):
			swaps = append(swaps, name)
		}
	}
	for _, name := range swaps {
		base, end, ok := parseSwapName(name, swapSuffix)
		if !ok {
			return fmt.Errorf("embedded log: %w: %s: not a <base>-<end>%s name", log.ErrCorrupt, filepath.Join(dir, name), swapSuffix)
		}
		for _, e := range entries {
			b, ok := parseBase(strings.SplitN(e.Name(), ".", 2)[0])
			if !ok || b < base || b >= end || strings.Contains(e.Name(), "-") {
				continue
			}
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("embedded log: finish compaction swap: %w", err)
			}
		}
		target := filepath.Join(dir, segName(base)+logSuffix)
		if err := os.Rename(filepath.Join(dir, name), target); err != nil {
			return fmt.Errorf("embedded log: finish compaction swap: %w", err)
		}
		rec.CompletedSwaps = append(rec.CompletedSwaps, target)
		changed = true
	}
	if changed {
		return syncDir(dir)
	}
	return nil
}

// openPartition loads a partition directory: it finishes compaction leftovers, removes orphan
// index files, loads the sealed segments and recovers the active one.
func openPartition(topicName string, id int32, dir string, opts *options, rec *Recovery) (_ *partition, err error) {
	p := &partition{topic: topicName, id: id, dir: dir, opts: opts}
	if err := finishCompaction(dir, rec); err != nil {
		return nil, fmt.Errorf("%w (%v)", err, p)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("embedded log: %v: %w", p, err)
	}
	logs := map[int64]bool{}
	for _, e := range entries {
		if b, ok := strings.CutSuffix(e.Name(), logSuffix); ok {
			if base, ok := parseBase(b); ok {
				logs[base] = true
			}
		}
	}
	removed := false
	for _, e := range entries {
		for _, suffix := range []string{indexSuffix, timeIndexSuffix} {
			if b, ok := strings.CutSuffix(e.Name(), suffix); ok {
				if base, ok := parseBase(b); ok && !logs[base] {
					path := filepath.Join(dir, e.Name())
					if err := os.Remove(path); err != nil {
						return nil, fmt.Errorf("embedded log: %v: remove orphan index: %w", p, err)
					}
					rec.RemovedFiles = append(rec.RemovedFiles, path)
					removed = true
				}
			}
		}
	}
	if removed {
		if err := syncDir(dir); err != nil {
			return nil, err
		}
	}
	if len(logs) == 0 {
		return nil, fmt.Errorf("embedded log: %v: %w: %s holds no segment", p, log.ErrCorrupt, dir)
	}
	bases := make([]int64, 0, len(logs))
	for b := range logs {
		bases = append(bases, b)
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })

	defer func() {
		if err != nil {
			for _, s := range p.segs {
				s.closeFile()
			}
		}
	}()
	for i, base := range bases[:len(bases)-1] {
		s, err := loadSealed(dir, base, bases[i+1], opts, rec)
		if err != nil {
			return nil, fmt.Errorf("embedded log: %v: %w", p, err)
		}
		p.segs = append(p.segs, s)
	}
	w, err := recoverActive(dir, bases[len(bases)-1], opts, rec)
	if err != nil {
		return nil, fmt.Errorf("embedded log: %v: %w", p, err)
	}
	p.segs = append(p.segs, w.seg)
	p.w = w
	p.hw = w.ix.next
	return p, nil
}

// readIndexFiles reads a segment's two index files; a missing file reads as empty.
func readIndexFiles(s *segment) (idx, tidx []byte, err error) {
	if idx, err = os.ReadFile(s.indexPath()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("read index: %w", err)
	}
	if tidx, err = os.ReadFile(s.timeIndexPath()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("read time index: %w", err)
	}
	return idx, tidx, nil
}

// frameAt reads and verifies the frame at pos, returning its header.
func frameAt(s *segment, pos, size int64) (batchHeader, error) {
	fr := newFrameReader(s.f, s.logPath(), pos, size, batchHeaderSize, false)
	_, h, _, err := fr.next()
	return h, err
}

// loadSealed loads a sealed segment whose successor starts at nextBase. Its index is trusted when
// well formed and its last entry points at a valid frame of that offset; the batches after that
// entry are verified. Otherwise the whole segment is verified and its indexes rebuilt. Any
// framing or checksum failure is corruption (a sealed segment was fsynced before its successor
// existed, so it has no torn tail).
func loadSealed(dir string, base, nextBase int64, opts *options, rec *Recovery) (_ *segment, err error) {
	s := &segment{base: base, dir: dir, maxTime: noTime}
	if s.f, err = openSegmentFile(s.logPath(), false); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			s.closeFile()
		}
	}()
	st, err := s.f.Stat()
	if err != nil {
		return nil, fmt.Errorf("embedded log: %w", err)
	}
	size := st.Size()
	idxB, tidxB, err := readIndexFiles(s)
	if err != nil {
		return nil, fmt.Errorf("embedded log: segment %s: %w", s.logPath(), err)
	}
	idx, idxOK := decodeIndex(idxB, base, size)
	tidx, tidxOK := decodeTimeIndex(tidxB, base, idx)

	ix := newIndexer(base, opts.indexInterval)
	start := int64(0)
	trusted := idxOK && tidxOK && len(idx) > 0 && len(tidx) == len(idx)-1
	if trusted {
		last := len(idx) - 1
		if h, err := frameAt(s, idx[last].pos, size); err != nil || h.base != idx[last].off {
			trusted = false
		} else {
			ix.resume(idx, tidx, last)
			start = idx[last].pos
		}
	}
	prevNext := base
	if start > 0 {
		prevNext = ix.next
	}
	fr := newFrameReader(s.f, s.logPath(), start, size, readChunk, true)
	for {
		pos, h, _, err := fr.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("sealed segment: %w", err)
		}
		if h.base < prevNext || h.next() > nextBase {
			return nil, corruptf(s.logPath(), pos, "batch at offset %d..%d outside the segment's range [%d, %d)", h.base, h.next(), prevNext, nextBase)
		}
		ix.add(pos, &h)
		prevNext = h.next()
	}
	s.size, s.next, s.records, s.maxTime = ix.size, ix.next, ix.records, ix.maxTime
	s.idx, s.tidx = ix.idx, ix.tidx
	if size == 0 {
		s.next = base
	}
	newIdx, newTidx := ix.encode()
	if !trusted || !bytes.Equal(newIdx, idxB) || !bytes.Equal(newTidx, tidxB) {
		if err := writeIndexFiles(s, newIdx, newTidx); err != nil {
			return nil, err
		}
		rec.RebuiltIndexes = append(rec.RebuiltIndexes, s.logPath())
	}
	return s, nil
}

// writeIndexFiles replaces a segment's two index files atomically (each one).
func writeIndexFiles(s *segment, idx, tidx []byte) error {
	if err := writeFileAtomic(s.indexPath(), idx); err != nil {
		return err
	}
	return writeFileAtomic(s.timeIndexPath(), tidx)
}

// recoverActive recovers the last segment of a partition and returns the writer state for it.
// It scans from the last index entry that points at a valid frame of its offset (index entries
// reach the file only after the data they point to was fsynced), verifies every following
// batch's framing, checksum and offset continuity, and truncates the file at the first batch
// that fails: a torn write of a crash, whose records were never acknowledged under
// SyncEveryBatch. The scanned data is then fsynced and the indexes rewritten to match.
func recoverActive(dir string, base int64, opts *options, rec *Recovery) (_ *writerState, err error) {
	s := &segment{base: base, dir: dir, maxTime: noTime}
	if s.f, err = openSegmentFile(s.logPath(), true); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			s.closeFile()
		}
	}()
	st, err := s.f.Stat()
	if err != nil {
		return nil, fmt.Errorf("embedded log: %w", err)
	}
	size := st.Size()
	idxB, tidxB, err := readIndexFiles(s)
	if err != nil {
		return nil, fmt.Errorf("embedded log: segment %s: %w", s.logPath(), err)
	}
	idx, _ := decodeIndex(idxB, base, size)
	tidx, _ := decodeTimeIndex(tidxB, base, idx)

	ix := newIndexer(base, opts.indexInterval)
	start := int64(0)
	for i := min(len(idx)-1, len(tidx)); i >= 0; i-- {
		if h, err := frameAt(s, idx[i].pos, size); err == nil && h.base == idx[i].off {
			ix.resume(idx, tidx, i)
			start = idx[i].pos
			break
		}
	}
	expected := ix.next
	if start == 0 {
		expected = base
	}
	cut, reason := int64(-1), ""
	fr := newFrameReader(s.f, s.logPath(), start, size, readChunk, true)
	for {
		pos, h, _, err := fr.next()
		if err == io.EOF {
			break
		}
		var ce *corruptError
		if errors.As(err, &ce) {
			cut, reason = pos, ce.reason
			break
		}
		if err != nil {
			return nil, err
		}
		if h.base != expected || int64(h.count) != int64(h.lastDelta)+1 {
			cut, reason = pos, fmt.Sprintf("batch at offset %d with %d records, expected offset %d", h.base, h.count, expected)
			break
		}
		ix.add(pos, &h)
		expected = h.next()
	}
	if cut >= 0 {
		if err := s.f.Truncate(cut); err != nil {
			return nil, fmt.Errorf("embedded log: truncate torn tail of %s at byte %d: %w", s.logPath(), cut, err)
		}
		rec.Truncated = append(rec.Truncated, Truncation{File: s.logPath(), Position: cut, Bytes: size - cut, Reason: reason})
		opts.logger.Warn("embedded log: truncated torn tail", "file", s.logPath(), "position", cut, "bytes", size-cut, "reason", reason)
	}
	if err := s.f.Sync(); err != nil {
		return nil, fmt.Errorf("embedded log: fsync %s: %w", s.logPath(), err)
	}
	newIdx, newTidx := ix.encode()
	if !bytes.Equal(newIdx, idxB) || !bytes.Equal(newTidx, tidxB) {
		if err := writeIndexFiles(s, newIdx, newTidx); err != nil {
			return nil, err
		}
		rec.RebuiltIndexes = append(rec.RebuiltIndexes, s.logPath())
	}
	s.size, s.next, s.records, s.maxTime = ix.size, ix.next, ix.records, ix.maxTime
	s.idx, s.tidx = ix.idx, ix.tidx
	w := &writerState{seg: s, ix: ix, idxN: len(ix.idx), tidxN: len(ix.tidx)}
	for _, f := range []**os.File{&w.idxF, &w.tidxF} {
		path := s.indexPath()
		if f == &w.tidxF {
			path = s.timeIndexPath()
		}
		if *f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644); err != nil {
			if w.idxF != nil {
				_ = w.idxF.Close()
			}
			return nil, fmt.Errorf("embedded log: open index: %w", err)
		}
	}
	return w, nil
}
