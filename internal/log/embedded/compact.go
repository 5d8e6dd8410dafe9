package embedded

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"

	"github.com/stratalake/strata/internal/log"
)

// compactIfDirty compacts the partition when force is set or when at least half of its bytes
// were written since its last compaction. It seals the active segment first when it holds
// records, so that every record written before the call is compacted.
func (p *partition) compactIfDirty(ctx context.Context, tombCutoff, hold int64, force bool, rm *log.Removal) error {
	views, _, _ := p.snapshot(math.MinInt64)
	var total, dirty int64
	for _, v := range views {
		total += v.size
		if v.end > p.cleanedTo {
			dirty += v.size
		}
	}
	active := views[len(views)-1]
	releaseViews(views)
	if !force && (dirty == 0 || 2*dirty < total) {
		return nil
	}
	if active.records > 0 {
		if _, err := p.requestRoll(ctx, active.base); err != nil {
			return err
		}
	}
	views, _, _ = p.snapshot(math.MinInt64)
	defer releaseViews(views)
	sealed := views[:len(views)-1]
	if len(sealed) == 0 {
		return nil
	}
	if err := p.compact(ctx, sealed, tombCutoff, hold, rm); err != nil {
		return err
	}
	p.cleanedTo = sealed[len(sealed)-1].end
	return nil
}

// segPlan is what compaction will do to one sealed segment.
type segPlan struct {
	v         *segView
	remove    int64 // records to remove
	keepBytes int64 // bytes of the segment after compaction
}

// compact rewrites the sealed segments keeping, for every key, the record with the highest
// offset (a tombstone only while it is not older than tombCutoff), and no removal at or after
// hold. Adjacent segments are merged while the result fits in SegmentBytes.
func (p *partition) compact(ctx context.Context, sealed []segView, tombCutoff, hold int64, rm *log.Removal) error {
	// Pass 1: the latest offset of every key. Keys are kept exactly (not hashed), so memory
	// grows with the distinct keys of the sealed segments.
	latest := map[string]int64{}
	for i := range sealed {
		err := eachRecord(&sealed[i], func(off int64, r *rawRecord) {
			if r.key != nil {
				latest[string(r.key)] = off
			}
		})
		if err != nil {
			return err
		}
	}
	// removable reports whether a record is superseded or an expired tombstone; the held-back
	// rule is applied by the callers.
	removable := func(off int64, r *rawRecord) bool {
		if r.key == nil {
			return false
		}
		return latest[string(r.key)] > off || (r.value == nil && r.timeMs < tombCutoff)
	}

	// Pass 2: plan each segment.
	plans := make([]segPlan, len(sealed))
	for i := range sealed {
		pl := &plans[i]
		pl.v = &sealed[i]
		fr := newFrameReader(pl.v.seg.f, pl.v.file(), 0, pl.v.size, readChunk, true)
		for {
			pos, h, frame, err := fr.next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return err
			}
			var kept, keptBytes int64
			err = forEachRecord(fr.file, pos, &h, frame, func(r *rawRecord) bool {
				off := h.base + int64(r.delta)
				switch {
				case !removable(off, r):
				case off >= hold:
					rm.HeldBack++
				default:
					pl.remove++
					return true
				}
				kept++
				keptBytes += int64(len(r.raw))
				return true
			})
			if err != nil {
				return err
			}
			switch {
			case kept == int64(h.count):
				pl.keepBytes += h.size
			case kept > 0:
				pl.keepBytes += batchHeaderSize + keptBytes
			}
		}
	}

	// Group adjacent segments up to SegmentBytes (and a span that relative offsets can address),
	// then rewrite the groups that remove records or merge segments.
	var group []segPlan
	var groupBytes int64
	flush := func() error {
		g := group
		group, groupBytes = nil, 0
		if len(g) == 0 || (len(g) == 1 && g[0].remove == 0) {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		return p.rewrite(g, func(off int64, r *rawRecord) bool { return off < hold && removable(off, r) }, rm)
	}
	for _, pl := range plans {
		if len(group) > 0 && (groupBytes+pl.keepBytes > p.opts.segmentBytes || pl.v.end-group[0].v.base > math.MaxUint32) {
			if err := flush(); err != nil {
				return err
			}
		}
		group = append(group, pl)
		groupBytes += pl.keepBytes
	}
	return flush()
}

// eachRecord calls fn for every record of a view, in offset order.
func eachRecord(v *segView, fn func(off int64, r *rawRecord)) error {
	fr := newFrameReader(v.seg.f, v.file(), 0, v.size, readChunk, true)
	for {
		pos, h, frame, err := fr.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		err = forEachRecord(fr.file, pos, &h, frame, func(r *rawRecord) bool {
			fn(h.base+int64(r.delta), r)
			return true
		})
		if err != nil {
			return err
		}
	}
}

// compactionHook, set only by tests, is called at the named steps of a rewrite; an error it
// returns stops the rewrite there and leaves the files as a crash at that step would.
var compactionHook func(step string) error

func hook(step string) error {
	if compactionHook == nil {
		return nil
	}
	return compactionHook(step)
}

// rewrite replaces a group of adjacent sealed segments by one segment without the records drop
// selects (see the package doc for the crash-safe swap).
func (p *partition) rewrite(group []segPlan, drop func(off int64, r *rawRecord) bool, rm *log.Removal) (err error) {
	base, end := group[0].v.base, group[len(group)-1].v.end
	name := segName(base) + "-" + segName(end)
	cleaned := filepath.Join(p.dir, name+cleanedSuffix)
	swap := filepath.Join(p.dir, name+swapSuffix)
	f, err := os.OpenFile(cleaned, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("compaction output: %w", err)
	}
	committed, crashed := false, false
	defer func() {
		if f != nil {
			_ = f.Close()
		}
		if err != nil && !committed && !crashed {
			_ = os.Remove(cleaned)
		}
	}()
	step := func(name string) error {
		err := hook(name)
		crashed = err != nil
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	ix := newIndexer(base, p.opts.indexInterval)
	var removed, oldBytes, pos int64
	old := make([]*segment, len(group))
	for i, pl := range group {
		old[i] = pl.v.seg
		oldBytes += pl.v.size
		fr := newFrameReader(pl.v.seg.f, pl.v.file(), 0, pl.v.size, readChunk, true)
		for {
			fpos, h, frame, err := fr.next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return err
			}
			b := newBatch(h.firstTime, len(frame))
			err = forEachRecord(fr.file, fpos, &h, frame, func(r *rawRecord) bool {
				if drop(h.base+int64(r.delta), r) {
					removed++
				} else {
					b.addRaw(r)
				}
				return true
			})
			if err != nil {
				return err
			}
			if b.count == 0 {
				continue
			}
			out := frame
			if b.count != h.count {
				out = b.finish()
				sealFrame(out, h.base)
			}
			oh, herr := parseBatchHeader(out)
			if herr != nil {
				panic(fmt.Sprintf("embedded log: compaction built a bad frame: %v", herr))
			}
			ix.add(pos, &oh)
			if _, err := bw.Write(out); err != nil {
				return fmt.Errorf("compaction output %s: %w", cleaned, err)
			}
			pos += oh.size
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("compaction output %s: %w", cleaned, err)
	}

	var repl *segment
	if pos == 0 {
		// Nothing survives: remove the group's segments. A crash part way leaves some of them,
		// holding only records that a later record supersedes: harmless, and cleaned next time.
		_ = f.Close()
		f = nil
		if err := os.Remove(cleaned); err != nil {
			return fmt.Errorf("compaction: %w", err)
		}
		for _, s := range old {
			if err := s.removeFiles(); err != nil {
				return err
			}
		}
		if err := syncDir(p.dir); err != nil {
			return err
		}
	} else {
		if err := f.Sync(); err != nil {
			return fmt.Errorf("compaction: fsync %s: %w", cleaned, err)
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("compaction: close %s: %w", cleaned, err)
		}
		f = nil
		if err := step("written"); err != nil {
			return err
		}
		if err := os.Rename(cleaned, swap); err != nil {
			return fmt.Errorf("compaction: commit: %w", err)
		}
		if err := syncDir(p.dir); err != nil {
			return err
		}
		committed = true // from here on a crash is finished by Open
		if err := step("committed"); err != nil {
			return err
		}
		for i, s := range old {
			if err := s.removeFiles(); err != nil {
				return err
			}
			if i == 0 {
				if err := step("removed-one"); err != nil {
					return err
				}
			}
		}
		repl = &segment{base: base, dir: p.dir, size: ix.size, next: end, records: ix.records, maxTime: ix.maxTime, idx: ix.idx, tidx: ix.tidx}
		if err := os.Rename(swap, repl.logPath()); err != nil {
			return fmt.Errorf("compaction: put %s in place: %w", swap, err)
		}
		idxB, tidxB := ix.encode()
		if err := writeIndexFiles(repl, idxB, tidxB); err != nil {
			return err
		}
		if repl.f, err = openSegmentFile(repl.logPath(), false); err != nil {
			return err
		}
	}
	if err := p.replaceSegments(old, repl); err != nil {
		return err
	}
	rm.ByCompaction += removed
	rm.Bytes += oldBytes - pos
	return nil
}
