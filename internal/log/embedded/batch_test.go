package embedded

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"testing"

	"github.com/stratalake/strata/internal/log"
)

type testRecord struct {
	delta   uint32
	timeMs  int64
	key     []byte
	value   []byte
	headers []log.Header
}

func buildFrame(t *testing.T, base int64, recs []testRecord) []byte {
	t.Helper()
	b := newBatch(recs[0].timeMs, 0)
	for _, r := range recs {
		b.add(r.delta, r.timeMs, r.key, r.value, r.headers)
	}
	frame := b.finish()
	sealFrame(frame, base)
	return frame
}

// TestFrameRoundTrip encodes batches and decodes them back, field by field.
func TestFrameRoundTrip(t *testing.T) {
	for _, c := range []struct {
		name string
		base int64
		recs []testRecord
	}{
		{"one", 0, []testRecord{{0, 1000, []byte("k"), []byte("v"), nil}}},
		{"nil key and tombstone", 7, []testRecord{{0, 5, nil, []byte("v"), nil}, {1, 5, []byte("k"), nil, nil}}},
		{"empty key and value", 9, []testRecord{{0, 5, []byte{}, []byte{}, nil}}},
		{"timestamps out of order and negative", 1 << 40, []testRecord{{0, 1000, nil, []byte("a"), nil}, {1, -5000, nil, []byte("b"), nil}, {2, math.MaxInt64 / 2, nil, []byte("c"), nil}}},
		{"headers", 3, []testRecord{{0, 1, []byte("k"), []byte("v"), []log.Header{{Key: "a", Value: []byte("1")}, {Key: "a", Value: nil}, {Key: "", Value: []byte{}}}}}},
		{"gaps (compacted)", 100, []testRecord{{2, 1, []byte("k"), []byte("v"), nil}, {9, 2, []byte("k2"), []byte("v"), nil}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			frame := buildFrame(t, c.base, c.recs)
			h, err := parseBatchHeader(frame)
			if err != nil {
				t.Fatalf("parseBatchHeader: %v", err)
			}
			last := c.recs[len(c.recs)-1]
			maxTime := int64(math.MinInt64)
			for _, r := range c.recs {
				maxTime = max(maxTime, r.timeMs)
			}
			want := batchHeader{base: c.base, lastDelta: last.delta, count: uint32(len(c.recs)), firstTime: c.recs[0].timeMs, maxTime: maxTime, size: int64(len(frame))}
			if h != want {
				t.Fatalf("header = %+v, want %+v", h, want)
			}
			if !checkCRC(frame) {
				t.Fatal("CRC mismatch on a fresh frame")
			}
			i := 0
			err = forEachRecord("f", 0, &h, frame, func(r *rawRecord) bool {
				w := c.recs[i]
				if r.delta != w.delta || r.timeMs != w.timeMs || (r.key == nil) != (w.key == nil) || !bytes.Equal(r.key, w.key) ||
					(r.value == nil) != (w.value == nil) || !bytes.Equal(r.value, w.value) {
					t.Fatalf("record %d = %+v, want %+v", i, r, w)
				}
				hs := decodeHeaders(r.headers)
				if len(hs) != len(w.headers) {
					t.Fatalf("record %d: %d headers, want %d", i, len(hs), len(w.headers))
				}
				for j := range hs {
					if hs[j].Key != w.headers[j].Key || (hs[j].Value == nil) != (w.headers[j].Value == nil) || !bytes.Equal(hs[j].Value, w.headers[j].Value) {
						t.Fatalf("record %d header %d = %+v, want %+v", i, j, hs[j], w.headers[j])
					}
				}
				i++
				return true
			})
			if err != nil || i != len(c.recs) {
				t.Fatalf("forEachRecord: %d records, %v", i, err)
			}
			// A copy of the raw records rebuilds the same frame.
			b := newBatch(h.firstTime, 0)
			_ = forEachRecord("f", 0, &h, frame, func(r *rawRecord) bool { b.addRaw(r); return true })
			again := b.finish()
			sealFrame(again, c.base)
			if !bytes.Equal(again, frame) {
				t.Fatal("raw copy does not rebuild the frame")
			}
		})
	}
}

// TestFrameCorruptionDetected flips every bit of a frame: each flip is caught by the header
// checks or the CRC.
func TestFrameCorruptionDetected(t *testing.T) {
	frame := buildFrame(t, 42, []testRecord{{0, 1, []byte("key"), []byte("value"), []log.Header{{Key: "h", Value: []byte("x")}}}, {1, 2, nil, nil, nil}})
	for i := range len(frame) * 8 {
		bad := bytes.Clone(frame)
		bad[i/8] ^= 1 << (i % 8)
		h, err := parseBatchHeader(bad)
		if err == nil && h.size == int64(len(bad)) && checkCRC(bad) {
			t.Fatalf("flipping bit %d of byte %d went unnoticed", i%8, i/8)
		}
	}
}

func TestParseBatchHeaderRefuses(t *testing.T) {
	good := buildFrame(t, 5, []testRecord{{0, 1, nil, []byte("v"), nil}, {1, 1, nil, []byte("w"), nil}})
	for _, c := range []struct {
		name  string
		patch func(b []byte)
	}{
		{"short", nil},
		{"magic", func(b []byte) { b[offMagic] = 2 }},
		{"length below header", func(b []byte) { binary.LittleEndian.PutUint32(b[offLength:], 10) }},
		{"length huge", func(b []byte) { binary.LittleEndian.PutUint32(b[offLength:], math.MaxUint32) }},
		{"zero records", func(b []byte) { binary.LittleEndian.PutUint32(b[offCount:], 0) }},
		{"more records than offsets", func(b []byte) { binary.LittleEndian.PutUint32(b[offCount:], 3) }},
		{"negative base", func(b []byte) { binary.LittleEndian.PutUint64(b[offBase:], uint64(1)<<63) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := bytes.Clone(good)
			if c.patch == nil {
				b = b[:batchHeaderSize-1]
			} else {
				c.patch(b)
			}
			if _, err := parseBatchHeader(b); !errors.Is(err, errFraming) {
				t.Fatalf("parseBatchHeader = %v, want a framing error", err)
			}
		})
	}
}

// TestForEachRecordRefusesBadPayload: a payload that passes the CRC (rebuilt with a fresh one)
// but disagrees with its header is corruption, reported with file and position.
func TestForEachRecordRefusesBadPayload(t *testing.T) {
	frame := buildFrame(t, 5, []testRecord{{0, 1, nil, []byte("v"), nil}, {1, 1, nil, []byte("w"), nil}})
	for _, c := range []struct {
		name  string
		patch func(b []byte) []byte
	}{
		{"count too high", func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[offCount:], 2)
			binary.LittleEndian.PutUint32(b[offLastDelta:], 4)
			return b
		}},
		{"truncated record", func(b []byte) []byte { return b[:len(b)-2] }},
		{"trailing garbage", func(b []byte) []byte { return append(b, 0x80) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := c.patch(bytes.Clone(frame))
			binary.LittleEndian.PutUint32(b[offLength:], uint32(len(b)-8))
			h, err := parseBatchHeader(b)
			if err != nil {
				t.Fatalf("parseBatchHeader: %v", err)
			}
			err = forEachRecord("seg.log", 77, &h, b, func(*rawRecord) bool { return true })
			var ce *corruptError
			if !errors.As(err, &ce) || !errors.Is(err, log.ErrCorrupt) || ce.file != "seg.log" || ce.pos != 77 {
				t.Fatalf("forEachRecord = %v, want corruption at seg.log byte 77", err)
			}
		})
	}
}

func TestMurmur2KafkaVectors(t *testing.T) {
	// From Kafka's UtilsTest.testMurmur2.
	for in, want := range map[string]int32{
		"21":                         -973932308,
		"foobar":                     -790332482,
		"a-little-bit-long-string":   -985981536,
		"a-little-bit-longer-string": -1486304829,
		"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
		"abc": 479470107,
	} {
		if got := murmur2([]byte(in)); got != want {
			t.Errorf("murmur2(%q) = %d, want %d", in, got, want)
		}
	}
}
