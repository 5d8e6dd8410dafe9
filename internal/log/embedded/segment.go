package embedded

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// File name suffixes of a partition directory.
const (
	logSuffix       = ".log"
	indexSuffix     = ".index"
	timeIndexSuffix = ".timeindex"
	cleanedSuffix   = ".log.cleaned" // <base>-<end>.log.cleaned: compaction output being written
	swapSuffix      = ".log.swap"    // <base>-<end>.log.swap: compaction output committed
	tmpSuffix       = ".tmp"         // a file being written atomically

	readChunk = 64 << 10 // read-ahead of scans

	noTime = math.MinInt64 // maxTime of a segment without records
)

// segment is one .log file of a partition and its in-memory summary and indexes.
//
// The last segment of a partition is the active one: only the partition's writer goroutine
// appends to it, and it changes size, next, records, maxTime, idx and tidx only under
// partition.mu. Every other segment is sealed: those fields never change again (compaction
// builds a new segment rather than editing one). Readers copy the fields they need into a
// segView under partition.mu.RLock.
//
// A segment removed from its partition (retention, compaction) is killed: its file stays open
// for the readers that hold a reference (refs) and is closed when the last one releases it.
type segment struct {
	base int64
	dir  string   // the partition directory
	f    *os.File // read handle; the active segment's writer writes through it too

	size    int64        // bytes of verified batches (readers never go past it)
	next    int64        // offset after the last record slot (base when empty)
	records int64        // records held
	maxTime int64        // largest record timestamp, ms (math.MinInt64 when empty)
	idx     []indexEntry // elements are never modified once appended
	tidx    []timeEntry

	refs      atomic.Int64
	dead      atomic.Bool
	closeOnce sync.Once
}

func segName(base int64) string { return fmt.Sprintf("%020d", base) }

func (s *segment) logPath() string { return filepath.Join(s.dir, segName(s.base)+logSuffix) }
func (s *segment) indexPath() string {
	return filepath.Join(s.dir, segName(s.base)+indexSuffix)
}
func (s *segment) timeIndexPath() string {
	return filepath.Join(s.dir, segName(s.base)+timeIndexSuffix)
}

// acquire takes a reference; the caller got s from its partition's list under partition.mu.
func (s *segment) acquire() { s.refs.Add(1) }

// release drops a reference, closing the file of a killed segment when it was the last.
func (s *segment) release() {
	if s.refs.Add(-1) == 0 && s.dead.Load() {
		s.closeFile()
	}
}

// kill marks a segment removed from its partition's list; its file closes with the last reader.
func (s *segment) kill() {
	s.dead.Store(true)
	if s.refs.Load() == 0 {
		s.closeFile()
	}
}

func (s *segment) closeFile() {
	s.closeOnce.Do(func() { _ = s.f.Close() })
}

// removeFiles deletes the segment's files, .log first so that a crash never leaves a log whose
// index was deleted (an index without its log is a leftover that Open removes).
func (s *segment) removeFiles() error {
	return removeSegmentFiles(s.dir, s.base)
}

func removeSegmentFiles(dir string, base int64) error {
	for _, suffix := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
		if err := os.Remove(filepath.Join(dir, segName(base)+suffix)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("embedded log: remove segment: %w", err)
		}
	}
	return nil
}

// parseBase parses a 20-digit base offset file-name prefix.
func parseBase(s string) (int64, bool) {
	if len(s) != 20 || strings.TrimLeft(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// segView is a consistent copy of a segment's summary, taken under partition.mu. end is the
// offset after the last slot the view covers: the next segment's base for a sealed segment, the
// partition's visible end for the active one. The holder of a view holds a reference to seg.
type segView struct {
	seg     *segment
	base    int64
	size    int64
	end     int64
	records int64
	maxTime int64
	idx     []indexEntry
	tidx    []timeEntry
	active  bool
}

func (v *segView) file() string { return v.seg.logPath() }

// frames returns a reader of the view's frames starting at the index entry at or before off.
func (v *segView) frames(off int64, reuse bool, chunk int) (*frameReader, indexEntry) {
	e := lookupOffset(v.idx, off)
	return newFrameReader(v.seg.f, v.file(), e.pos, v.size, chunk, reuse), e
}

// countFrom counts the view's records at offsets >= n.
func (v *segView) countFrom(n int64) (int64, error) {
	if n <= v.base {
		return v.records, nil
	}
	if n >= v.end {
		return 0, nil
	}
	fr, e := v.frames(n, true, readChunk)
	before := e.before
	for {
		pos, h, frame, err := fr.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, err
		}
		if h.next() <= n {
			before += int64(h.count)
			continue
		}
		if h.base < n {
			err := forEachRecord(fr.file, pos, &h, frame, func(r *rawRecord) bool {
				if h.base+int64(r.delta) < n {
					before++
					return true
				}
				return false
			})
			if err != nil {
				return 0, err
			}
		}
		break
	}
	return v.records - before, nil
}
