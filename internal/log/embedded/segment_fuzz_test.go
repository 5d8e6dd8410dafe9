package embedded

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stratalake/strata/internal/log"
)

// fuzzRecord is one record as a batch stores it: offset delta, absolute time, key, value and
// headers. Nil and empty keys and values are distinct.
type fuzzRecord struct {
	delta   uint32
	timeMs  int64
	key     []byte
	value   []byte
	headers []log.Header
}

// encodeFuzzBatch encodes recs (deltas increasing) as one frame sealed at base.
func encodeFuzzBatch(base, firstTime int64, recs []fuzzRecord) []byte {
	b := newBatch(firstTime, 64)
	for _, r := range recs {
		b.add(r.delta, r.timeMs, r.key, r.value, r.headers)
	}
	frame := b.finish()
	sealFrame(frame, base)
	return frame
}

// fuzzBatches are the record sets of the seed batches: nil and empty keys and values, headers,
// timestamps before firstTime, offset gaps (as compaction leaves them).
var fuzzBatches = [][]fuzzRecord{
	{{delta: 0, timeMs: 1_700_000_000_000, key: []byte("k"), value: []byte("v")}},
	{
		{delta: 0, timeMs: 5, key: nil, value: nil},
		{delta: 1, timeMs: -3, key: []byte{}, value: []byte{}, headers: []log.Header{{Key: "", Value: nil}, {Key: "h", Value: []byte("x")}}},
		{delta: 2, timeMs: 1 << 40, key: bytes.Repeat([]byte("K"), 200), value: bytes.Repeat([]byte{0xff}, 300)},
	},
	{{delta: 0, timeMs: 10, value: []byte("a")}, {delta: 3, timeMs: 11, value: []byte("b")}, {delta: 7, timeMs: 9, value: []byte("c")}},
}

// decodeFrames reads data as a segment file and decodes every frame's records, stopping at the
// first error, which it returns with the position of the failing frame.
func decodeFrames(t *testing.T, data []byte, chunk int, reuse bool) (frames [][]fuzzRecord, heads []batchHeader, failPos int64, err error) {
	t.Helper()
	fr := newFrameReader(bytes.NewReader(data), "fuzz.log", 0, int64(len(data)), chunk, reuse)
	for {
		pos, h, frame, err := fr.next()
		if err == io.EOF {
			return frames, heads, -1, nil
		}
		if err != nil {
			return frames, heads, pos, err
		}
		if int64(len(frame)) != h.size {
			t.Fatalf("frame at %d: %d bytes, header says %d", pos, len(frame), h.size)
		}
		var recs []fuzzRecord
		err = forEachRecord("fuzz.log", pos, &h, frame, func(r *rawRecord) bool {
			recs = append(recs, fuzzRecord{
				delta: r.delta, timeMs: r.timeMs, key: bytes.Clone(r.key), value: bytes.Clone(r.value),
				headers: decodeHeaders(bytes.Clone(r.headers)),
			})
			return true
		})
		if err != nil {
			return frames, heads, pos, err
		}
		frames = append(frames, recs)
		heads = append(heads, h)
	}
}

// sameFuzzRecords compares record sets, telling nil from empty keys and values.
func sameFuzzRecords(a, b []fuzzRecord) bool {
	if len(a) != len(b) {
		return false
	}
	eq := func(x, y []byte) bool { return (x == nil) == (y == nil) && bytes.Equal(x, y) }
	for i := range a {
		x, y := a[i], b[i]
		if x.delta != y.delta || x.timeMs != y.timeMs || !eq(x.key, y.key) || !eq(x.value, y.value) || len(x.headers) != len(y.headers) {
			return false
		}
		for j := range x.headers {
			if x.headers[j].Key != y.headers[j].Key || !eq(x.headers[j].Value, y.headers[j].Value) {
				return false
			}
		}
	}
	return true
}

// resealFrames returns a copy of data in which every frame that parses as a header and fits has
// a correct CRC, so that the fuzzer reaches record decoding without having to forge checksums.
func resealFrames(data []byte) []byte {
	out := bytes.Clone(data)
	for pos := 0; pos+batchHeaderSize <= len(out); {
		h, err := parseBatchHeader(out[pos:])
		if err != nil || int64(pos)+h.size > int64(len(out)) {
			break
		}
		frame := out[pos : pos+int(h.size)]
		binary.LittleEndian.PutUint32(frame[offCRC:], crc32.Checksum(frame[offLength:], castagnoli))
		pos += int(h.size)
	}
	return out
}

// FuzzBatchDecode: reading arbitrary bytes as a segment file never panics; every failure is a
// *corruptError wrapping log.ErrCorrupt at a frame boundary; every decoded frame holds exactly the
// records its header promises (count, increasing deltas ending at lastDelta); the result does not
// depend on the read-ahead size or buffer reuse; and re-encoding the decoded records with the
// package's batch builder decodes to the same records. When seal is set, frame checksums are
// fixed up first so that mutations reach the record decoder.
func FuzzBatchDecode(f *testing.F) {
	var all []byte
	base := int64(0)
	for _, recs := range fuzzBatches {
		frame := encodeFuzzBatch(base, 1000, recs)
		f.Add(frame, false)
		all = append(all, frame...)
		base += int64(recs[len(recs)-1].delta) + 1
	}
	f.Add(all, false)
	f.Add(all[:len(all)-1], false)
	f.Add(append(bytes.Clone(all), 0, 0, 0), true)
	f.Add([]byte{}, false)
	f.Add(make([]byte, batchHeaderSize), true)
	f.Fuzz(func(t *testing.T, data []byte, seal bool) {
		if seal {
			data = resealFrames(data)
		}
		frames, heads, failPos, err := decodeFrames(t, data, 4096, false)
		if err != nil {
			var ce *corruptError
			if !errors.As(err, &ce) || !errors.Is(err, log.ErrCorrupt) {
				t.Fatalf("error %v is not a corruptError wrapping log.ErrCorrupt", err)
			}
			if ce.pos != failPos {
				t.Fatalf("corruption reported at byte %d for the frame at %d: %v", ce.pos, failPos, err)
			}
			if ce.reason == "" {
				t.Fatalf("corruption without a reason: %v", err)
			}
		}
		// The same bytes read through a tiny, reused read-ahead buffer decode the same.
		frames2, _, failPos2, err2 := decodeFrames(t, data, 7, true)
		if (err == nil) != (err2 == nil) || failPos != failPos2 || len(frames) != len(frames2) {
			t.Fatalf("chunked read differs: %d frames, fail at %d (%v) vs %d frames, fail at %d (%v)", len(frames), failPos, err, len(frames2), failPos2, err2)
		}
		for i, recs := range frames {
			if !sameFuzzRecords(recs, frames2[i]) {
				t.Fatalf("frame %d decodes differently through a reused buffer", i)
			}
			h := heads[i]
			if uint32(len(recs)) != h.count || len(recs) == 0 || recs[len(recs)-1].delta != h.lastDelta {
				t.Fatalf("frame %d: %d records ending at delta %d, header says %d ending at %d", i, len(recs), recs[len(recs)-1].delta, h.count, h.lastDelta)
			}
			for j := 1; j < len(recs); j++ {
				if recs[j].delta <= recs[j-1].delta {
					t.Fatalf("frame %d: delta %d after %d", i, recs[j].delta, recs[j-1].delta)
				}
			}
			re := encodeFuzzBatch(h.base, h.firstTime, recs)
			back, _, _, err := decodeFrames(t, re, 4096, false)
			if err != nil {
				t.Fatalf("frame %d: re-encoded batch does not decode: %v", i, err)
			}
			if len(back) != 1 || !sameFuzzRecords(back[0], recs) {
				t.Fatalf("frame %d: re-encoded batch decodes to other records", i)
			}
		}
	})
}

// recoverFixture writes five batches (1 to 5 records, offsets 0 to 14) to partition 0 of topic
// "t" under dir, an index entry per batch, and returns the produced records.
func recoverFixture(f *testing.F, dir string) []log.Record {
	ctx := context.Background()
	l, err := Open(ctx, dir, IndexIntervalBytes(1), CleanInterval(0))
	if err != nil {
		f.Fatal(err)
	}
	if err := l.CreateTopic(ctx, "t", log.TopicConfig{}); err != nil {
		f.Fatal(err)
	}
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
		out, err := l.Produce(ctx, "t", recs)
		if err != nil {
			f.Fatal(err)
		}
		all = append(all, out...)
	}
	if err := l.Close(); err != nil {
		f.Fatal(err)
	}
	return all
}

// FuzzRecoverTail appends arbitrary bytes to the active segment of a closed log and reopens it.
// Recovery never panics or fails; the segment afterwards is a prefix of the damaged file that
// keeps every original batch; it is cut exactly where the first frame that is not a valid
// continuation starts (a torn, corrupt or misnumbered batch), so any valid batches the tail holds
// are kept and nothing after the cut is; the log serves the original records followed by the
// records of the kept tail frames.
func FuzzRecoverTail(f *testing.F) {
	src := f.TempDir()
	orig := recoverFixture(f, src)
	next := int64(len(orig))
	good := encodeFuzzBatch(next, 1_700_000_010_000, fuzzBatches[1])
	for _, tail := range [][]byte{
		nil,
		make([]byte, 64),
		[]byte("garbage after the last batch"),
		good,
		good[:len(good)-1],
		append(bytes.Clone(good), 1, 2, 3),
		append(bytes.Clone(good), encodeFuzzBatch(next+3, 5, fuzzBatches[0])...),
		encodeFuzzBatch(next-1, 5, fuzzBatches[0]), // misnumbered: overlaps the last batch
		encodeFuzzBatch(next, 5, fuzzBatches[2]),   // gapped offsets: not a fresh append
	} {
		f.Add(tail)
	}
	f.Fuzz(func(t *testing.T, tail []byte) {
		dir := t.TempDir()
		copyDir(t, src, dir)
		path := filepath.Join(partDir(dir, "t", 0), segName(0)+logSuffix)
		before, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		origSize := int64(len(before))
		damaged := append(before, tail...)
		if err := os.WriteFile(path, damaged, 0o644); err != nil {
			t.Fatal(err)
		}
		l, err := Open(context.Background(), dir, CleanInterval(0))
		if err != nil {
			t.Fatalf("Open after appending %d bytes: %v", len(tail), err)
		}
		defer l.Close()
		after, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		size := int64(len(after))
		if size < origSize || !bytes.Equal(after, damaged[:size]) {
			t.Fatalf("recovered segment (%d bytes) is not a prefix of the damaged one keeping the %d original bytes", size, origSize)
		}
		// Walk the kept tail frames; each must be a valid fresh batch continuing the offsets.
		expected := next
		var kept []log.Record
		fr := newFrameReader(bytes.NewReader(after), path, origSize, size, 4096, false)
		for {
			pos, h, frame, err := fr.next()
			if err == io.EOF {
				break
			}
			if err != nil || h.base != expected || int64(h.count) != int64(h.lastDelta)+1 {
				t.Fatalf("kept tail frame at %d is not a valid continuation at offset %d: %v", pos, expected, err)
			}
			if err := forEachRecord(path, pos, &h, frame, func(r *rawRecord) bool {
				kept = append(kept, log.Record{Topic: "t", Offset: h.base + int64(r.delta), Key: bytes.Clone(r.key), Value: bytes.Clone(r.value),
					Headers: decodeHeaders(bytes.Clone(r.headers)), Timestamp: time.UnixMilli(r.timeMs)})
				return true
			}); err != nil {
				t.Fatalf("kept tail frame at %d: %v", pos, err)
			}
			expected = h.next()
		}
		tr := l.Recovery().Truncated
		if size < int64(len(damaged)) {
			// The cut frame must be invalid as a continuation.
			fr := newFrameReader(bytes.NewReader(damaged), path, size, int64(len(damaged)), 4096, false)
			_, h, _, err := fr.next()
			if err == nil && h.base == expected && int64(h.count) == int64(h.lastDelta)+1 {
				t.Fatalf("recovery cut a valid continuation batch at byte %d", size)
			}
			if len(tr) != 1 || tr[0].File != path || tr[0].Position != size || tr[0].Bytes != int64(len(damaged))-size || tr[0].Reason == "" {
				t.Fatalf("Truncated = %+v, want one cut of %s at byte %d", tr, path, size)
			}
		} else if len(tr) != 0 {
			t.Fatalf("nothing cut, but Truncated = %+v", tr)
		}
		got := readAll(t, l, "t", 0)
		want := append(append([]log.Record(nil), orig...), kept...)
		if len(got) != len(want) {
			t.Fatalf("log serves %d records, want %d original and %d from the kept tail", len(got), len(orig), len(kept))
		}
		for i := range want {
			g, w := got[i], want[i]
			if g.Offset != w.Offset || !bytes.Equal(g.Key, w.Key) || !bytes.Equal(g.Value, w.Value) || !g.Timestamp.Equal(w.Timestamp) || len(g.Headers) != len(w.Headers) {
				t.Fatalf("record %d: got offset %d key %q value %q at %v, want offset %d key %q value %q at %v",
					i, g.Offset, g.Key, g.Value, g.Timestamp, w.Offset, w.Key, w.Value, w.Timestamp)
			}
		}
	})
}
