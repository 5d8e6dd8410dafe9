package embedded

import (
	"encoding/binary"
	"math"
	"sort"
)

// Sparse index formats; see the package doc.
const (
	indexEntrySize = 12
	timeEntrySize  = 12
)

// indexEntry maps the first offset of a batch to its byte position in the segment file. before
// counts the segment's records ahead of it. Offsets are absolute in memory, relative on disk.
type indexEntry struct {
	off    int64
	pos    int64
	before int64
}

// timeEntry says that every record of the segment before offset off has a timestamp <= maxBefore.
type timeEntry struct {
	maxBefore int64 // ms
	off       int64
}

func appendIndexEntry(b []byte, base int64, e indexEntry) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(e.off-base))
	b = binary.LittleEndian.AppendUint32(b, uint32(e.pos))
	return binary.LittleEndian.AppendUint32(b, uint32(e.before))
}

func appendTimeEntry(b []byte, base int64, e timeEntry) []byte {
	b = binary.LittleEndian.AppendUint64(b, uint64(e.maxBefore))
	return binary.LittleEndian.AppendUint32(b, uint32(e.off-base))
}

// decodeIndex decodes an .index file, keeping the longest prefix of entries that is well formed:
// offsets, positions and counts strictly increasing (counts non-decreasing) and positions below
// logSize. complete reports whether every byte of the file was such an entry.
func decodeIndex(b []byte, base, logSize int64) (idx []indexEntry, complete bool) {
	n := len(b) / indexEntrySize
	idx = make([]indexEntry, 0, n)
	for i := range n {
		e := b[i*indexEntrySize:]
		ie := indexEntry{
			off:    base + int64(binary.LittleEndian.Uint32(e)),
			pos:    int64(binary.LittleEndian.Uint32(e[4:])),
			before: int64(binary.LittleEndian.Uint32(e[8:])),
		}
		if ie.pos >= logSize {
			return idx, false
		}
		if i == 0 && (ie.pos != 0 || ie.before != 0) {
			return idx, false
		}
		if i > 0 {
			p := idx[i-1]
			if ie.off <= p.off || ie.pos <= p.pos || ie.before <= p.before {
				return idx, false
			}
		}
		idx = append(idx, ie)
	}
	return idx, len(b)%indexEntrySize == 0
}

// decodeTimeIndex decodes a .timeindex file, keeping the longest prefix that matches idx (entry i
// belongs to idx[i+1]) with non-decreasing timestamps. complete reports whether the whole file
// was such a prefix.
func decodeTimeIndex(b []byte, base int64, idx []indexEntry) (tidx []timeEntry, complete bool) {
	n := len(b) / timeEntrySize
	tidx = make([]timeEntry, 0, n)
	for i := range n {
		e := b[i*timeEntrySize:]
		te := timeEntry{
			maxBefore: int64(binary.LittleEndian.Uint64(e)),
			off:       base + int64(binary.LittleEndian.Uint32(e[8:])),
		}
		if i+1 >= len(idx) || idx[i+1].off != te.off || (i > 0 && te.maxBefore < tidx[i-1].maxBefore) {
			return tidx, false
		}
		tidx = append(tidx, te)
	}
	return tidx, len(b)%timeEntrySize == 0
}

// lookupOffset returns the last entry at or before off (the zero entry, position 0, when none).
func lookupOffset(idx []indexEntry, off int64) indexEntry {
	i := sort.Search(len(idx), func(i int) bool { return idx[i].off > off })
	if i == 0 {
		return indexEntry{}
	}
	return idx[i-1]
}

// lookupTime returns the offset of the last time entry whose maxBefore is below ts: no record
// before it has a timestamp >= ts. ok is false when the scan must start at the segment's start.
func lookupTime(tidx []timeEntry, ts int64) (off int64, ok bool) {
	i := sort.Search(len(tidx), func(i int) bool { return tidx[i].maxBefore >= ts })
	if i == 0 {
		return 0, false
	}
	return tidx[i-1].off, true
}

// indexer accumulates a segment's sparse indexes and summary as batches are appended to it, by
// the writer, by recovery and by compaction.
type indexer struct {
	base     int64
	interval int64
	idx      []indexEntry
	tidx     []timeEntry
	since    int64 // bytes appended since the last index entry
	records  int64
	maxTime  int64 // largest record timestamp so far (math.MinInt64: none)
	size     int64 // bytes appended
	next     int64 // offset after the last record slot appended (base when none)
}

func newIndexer(base, interval int64) *indexer {
	return &indexer{base: base, interval: interval, maxTime: math.MinInt64, next: base}
}

// add notes a batch appended at position pos and reports whether it got index entries (one in
// idx and, unless it is the first, one in tidx).
func (x *indexer) add(pos int64, h *batchHeader) bool {
	indexed := false
	if len(x.idx) == 0 || x.since >= x.interval {
		if len(x.idx) > 0 {
			x.tidx = append(x.tidx, timeEntry{maxBefore: x.maxTime, off: h.base})
		}
		x.idx = append(x.idx, indexEntry{off: h.base, pos: pos, before: x.records})
		x.since = 0
		indexed = true
	}
	x.since += h.size
	x.records += int64(h.count)
	x.maxTime = max(x.maxTime, h.maxTime)
	x.size = pos + h.size
	x.next = h.next()
	return indexed
}

// resume sets the indexer to continue after the index entry i of idx (already valid), whose
// time entry (when i > 0) is tidx[i-1].
func (x *indexer) resume(idx []indexEntry, tidx []timeEntry, i int) {
	x.idx = append(x.idx[:0], idx[:i+1]...)
	x.tidx = append(x.tidx[:0], tidx[:i]...)
	x.records = idx[i].before
	x.maxTime = math.MinInt64
	if i > 0 {
		x.maxTime = tidx[i-1].maxBefore
	}
	x.since = 0
	x.size = idx[i].pos
	x.next = idx[i].off
}

// encode returns the two index files' contents.
func (x *indexer) encode() (index, timeIndex []byte) {
	index = make([]byte, 0, len(x.idx)*indexEntrySize)
	for _, e := range x.idx {
		index = appendIndexEntry(index, x.base, e)
	}
	timeIndex = make([]byte, 0, len(x.tidx)*timeEntrySize)
	for _, e := range x.tidx {
		timeIndex = appendTimeEntry(timeIndex, x.base, e)
	}
	return index, timeIndex
}
