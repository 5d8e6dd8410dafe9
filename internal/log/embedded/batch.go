package embedded

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"

	"github.com/stratalake/strata/internal/log"
)

// Record batch framing; see the package doc for the layout.
const (
	batchMagic      = 1
	batchHeaderSize = 41

	offCRC       = 0
	offLength    = 4
	offMagic     = 8
	offBase      = 9
	offLastDelta = 17
	offCount     = 21
	offFirstTime = 25
	offMaxTime   = 33

	// maxFrameBytes is the largest frame a reader accepts whatever the options: a length field
	// beyond it is corruption, not a big batch.
	maxFrameBytes = maxMaxBatch + batchHeaderSize
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// batchHeader is the decoded fixed part of a frame.
type batchHeader struct {
	base      int64
	lastDelta uint32
	count     uint32
	firstTime int64 // ms
	maxTime   int64 // ms
	size      int64 // bytes of the whole frame, header included
}

// next is the offset after the batch's last record slot.
func (h *batchHeader) next() int64 { return h.base + int64(h.lastDelta) + 1 }

// corruptError locates stored data that fails its checksum or framing. It wraps log.ErrCorrupt.
type corruptError struct {
	file   string
	pos    int64
	reason string
}

func (e *corruptError) Error() string {
	return fmt.Sprintf("%v: %s at byte %d: %s", log.ErrCorrupt, e.file, e.pos, e.reason)
}

func (e *corruptError) Unwrap() error { return log.ErrCorrupt }

func corruptf(file string, pos int64, format string, args ...any) error {
	return &corruptError{file: file, pos: pos, reason: fmt.Sprintf(format, args...)}
}

// errFraming is the reason of a header that cannot be a frame; parseBatchHeader wraps it.
var errFraming = errors.New("bad frame")

// parseBatchHeader decodes and sanity-checks the first batchHeaderSize bytes of a frame. It does
// not verify the CRC (the rest of the frame may not be read yet).
func parseBatchHeader(b []byte) (batchHeader, error) {
	if len(b) < batchHeaderSize {
		return batchHeader{}, fmt.Errorf("%w: %d header bytes, need %d", errFraming, len(b), batchHeaderSize)
	}
	h := batchHeader{
		base:      int64(binary.LittleEndian.Uint64(b[offBase:])),
		lastDelta: binary.LittleEndian.Uint32(b[offLastDelta:]),
		count:     binary.LittleEndian.Uint32(b[offCount:]),
		firstTime: int64(binary.LittleEndian.Uint64(b[offFirstTime:])),
		maxTime:   int64(binary.LittleEndian.Uint64(b[offMaxTime:])),
		size:      8 + int64(binary.LittleEndian.Uint32(b[offLength:])),
	}
	switch {
	case b[offMagic] != batchMagic:
		return h, fmt.Errorf("%w: magic %d, want %d", errFraming, b[offMagic], batchMagic)
	case h.size < batchHeaderSize || h.size > maxFrameBytes:
		return h, fmt.Errorf("%w: frame length %d outside [%d, %d]", errFraming, h.size, batchHeaderSize, maxFrameBytes)
	case h.count == 0 || int64(h.count) > int64(h.lastDelta)+1:
		return h, fmt.Errorf("%w: %d records for %d offsets", errFraming, h.count, int64(h.lastDelta)+1)
	case h.base < 0 || h.base > math.MaxInt64-int64(h.lastDelta)-1:
		return h, fmt.Errorf("%w: base offset %d", errFraming, h.base)
	}
	return h, nil
}

// checkCRC reports whether a whole frame matches its checksum.
func checkCRC(frame []byte) bool {
	return crc32.Checksum(frame[offLength:], castagnoli) == binary.LittleEndian.Uint32(frame[offCRC:])
}

// sealFrame sets a frame's base offset and then its CRC. The writer calls it once the offset is
// known; compaction calls it for rebuilt batches.
func sealFrame(frame []byte, base int64) {
	binary.LittleEndian.PutUint64(frame[offBase:], uint64(base))
	binary.LittleEndian.PutUint32(frame[offCRC:], crc32.Checksum(frame[offLength:], castagnoli))
}

// batchBuilder encodes records into one frame. The zero value is not usable; use newBatch.
type batchBuilder struct {
	buf       []byte
	count     uint32
	lastDelta uint32
	firstTime int64
	maxTime   int64
	kvBytes   int // bytes of keys and values, for MaxBytes accounting
}

// newBatch starts a frame whose records' timestamps are relative to firstTime (ms).
func newBatch(firstTime int64, sizeHint int) *batchBuilder {
	b := &batchBuilder{buf: make([]byte, batchHeaderSize, batchHeaderSize+sizeHint), firstTime: firstTime, maxTime: math.MinInt64}
	return b
}

// add appends one record at offset delta (strictly greater than the previous one's).
func (b *batchBuilder) add(delta uint32, timeMs int64, key, value []byte, headers []log.Header) {
	buf := b.buf
	buf = binary.AppendUvarint(buf, uint64(delta))
	buf = binary.AppendVarint(buf, timeMs-b.firstTime)
	buf = appendBytes(buf, key)
	buf = appendBytes(buf, value)
	buf = binary.AppendUvarint(buf, uint64(len(headers)))
	for _, h := range headers {
		buf = binary.AppendUvarint(buf, uint64(len(h.Key)))
		buf = append(buf, h.Key...)
		buf = appendBytes(buf, h.Value)
	}
	b.buf = buf
	b.note(delta, timeMs)
	b.kvBytes += len(key) + len(value)
}

// addRaw appends an already encoded record (a rawRecord's bytes) of the same firstTime.
func (b *batchBuilder) addRaw(r *rawRecord) {
	b.buf = append(b.buf, r.raw...)
	b.note(r.delta, r.timeMs)
}

func (b *batchBuilder) note(delta uint32, timeMs int64) {
	b.count++
	b.lastDelta = delta
	b.maxTime = max(b.maxTime, timeMs)
}

// finish fills the header (base offset 0 and no CRC until sealFrame) and returns the frame.
func (b *batchBuilder) finish() []byte {
	h := b.buf[:batchHeaderSize]
	binary.LittleEndian.PutUint32(h[offLength:], uint32(len(b.buf)-8))
	h[offMagic] = batchMagic
	binary.LittleEndian.PutUint32(h[offLastDelta:], b.lastDelta)
	binary.LittleEndian.PutUint32(h[offCount:], b.count)
	binary.LittleEndian.PutUint64(h[offFirstTime:], uint64(b.firstTime))
	binary.LittleEndian.PutUint64(h[offMaxTime:], uint64(b.maxTime))
	return b.buf
}

func appendBytes(buf, b []byte) []byte {
	if b == nil {
		return binary.AppendVarint(buf, -1)
	}
	buf = binary.AppendVarint(buf, int64(len(b)))
	return append(buf, b...)
}

// rawRecord is one decoded record. Key, value and raw alias the frame.
type rawRecord struct {
	delta   uint32
	timeMs  int64
	key     []byte // nil: no key
	value   []byte // nil: tombstone
	headers []byte // encoded headers (count included); decode with decodeHeaders
	raw     []byte // the record's whole encoding, for compaction's byte-for-byte copy
}

// forEachRecord decodes the records of a CRC-checked frame in order and calls fn for each; fn
// returning false stops the walk. Structural errors are reported as corruption at pos (the
// frame's position in file).
func forEachRecord(file string, pos int64, h *batchHeader, frame []byte, fn func(r *rawRecord) bool) error {
	p := frame[batchHeaderSize:]
	var r rawRecord
	var n uint32
	prev := int64(-1)
	for len(p) > 0 {
		start := p
		var err error
		var d uint64
		if d, p, err = uvarint(p); err != nil {
			return corruptf(file, pos, "record %d of batch at offset %d: delta: %v", n, h.base, err)
		}
		if int64(d) <= prev || d > uint64(h.lastDelta) {
			return corruptf(file, pos, "record %d of batch at offset %d: delta %d after %d (last %d)", n, h.base, d, prev, h.lastDelta)
		}
		prev = int64(d)
		var td int64
		if td, p, err = varint(p); err != nil {
			return corruptf(file, pos, "record %d of batch at offset %d: timestamp: %v", n, h.base, err)
		}
		if r.key, p, err = readBytes(p); err != nil {
			return corruptf(file, pos, "record %d of batch at offset %d: key: %v", n, h.base, err)
		}
		if r.value, p, err = readBytes(p); err != nil {
			return corruptf(file, pos, "record %d of batch at offset %d: value: %v", n, h.base, err)
		}
		hstart := p
		var hc uint64
		if hc, p, err = uvarint(p); err != nil {
			return corruptf(file, pos, "record %d of batch at offset %d: header count: %v", n, h.base, err)
		}
		for i := uint64(0); i < hc; i++ {
			var kl uint64
			if kl, p, err = uvarint(p); err == nil && kl > uint64(len(p)) {
				err = errors.New("header key runs past the frame")
			}
			if err == nil {
				p = p[kl:]
				_, p, err = readBytes(p)
			}
			if err != nil {
				return corruptf(file, pos, "record %d of batch at offset %d: header %d: %v", n, h.base, i, err)
			}
		}
		r.delta = uint32(d)
		r.timeMs = h.firstTime + td
		r.headers = hstart[:len(hstart)-len(p)]
		r.raw = start[:len(start)-len(p)]
		n++
		if !fn(&r) {
			return nil
		}
	}
	if n != h.count || uint32(prev) != h.lastDelta {
		return corruptf(file, pos, "batch at offset %d: %d records ending at delta %d, header says %d ending at %d", h.base, n, prev, h.count, h.lastDelta)
	}
	return nil
}

// decodeHeaders decodes a rawRecord's headers (nil when there are none). The values alias enc.
func decodeHeaders(enc []byte) []log.Header {
	hc, p, _ := uvarint(enc)
	if hc == 0 {
		return nil
	}
	hs := make([]log.Header, hc)
	for i := range hs {
		kl, q, _ := uvarint(p)
		hs[i].Key = string(q[:kl])
		hs[i].Value, p, _ = readBytes(q[kl:])
	}
	return hs
}

var errShort = errors.New("runs past the frame")

func uvarint(p []byte) (uint64, []byte, error) {
	v, n := binary.Uvarint(p)
	if n <= 0 {
		return 0, p, errShort
	}
	return v, p[n:], nil
}

func varint(p []byte) (int64, []byte, error) {
	v, n := binary.Varint(p)
	if n <= 0 {
		return 0, p, errShort
	}
	return v, p[n:], nil
}

// readBytes reads a varint-length-prefixed byte string; length -1 is nil, 0 is empty non-nil.
func readBytes(p []byte) ([]byte, []byte, error) {
	l, p, err := varint(p)
	switch {
	case err != nil:
		return nil, p, err
	case l == -1:
		return nil, p, nil
	case l < -1 || l > int64(len(p)):
		return nil, p, fmt.Errorf("length %d with %d bytes left", l, len(p))
	}
	return p[:l:l], p[l:], nil
}
