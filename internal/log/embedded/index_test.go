package embedded

import (
	"math"
	"testing"
)

func TestDecodeIndexKeepsValidPrefix(t *testing.T) {
	const base = 100
	enc := func(es ...indexEntry) []byte {
		var b []byte
		for _, e := range es {
			b = appendIndexEntry(b, base, e)
		}
		return b
	}
	e0, e1, e2 := indexEntry{100, 0, 0}, indexEntry{110, 500, 10}, indexEntry{130, 900, 25}
	for _, c := range []struct {
		name     string
		file     []byte
		logSize  int64
		want     int
		complete bool
	}{
		{"empty", nil, 1000, 0, true},
		{"good", enc(e0, e1, e2), 1000, 3, true},
		{"torn entry", enc(e0, e1, e2)[:30], 1000, 2, false},
		{"position past the log", enc(e0, e1, e2), 900, 2, false},
		{"first not at 0", enc(e1, e2), 1000, 0, false},
		{"offsets not increasing", enc(e0, e2, e1), 1000, 2, false},
		{"zeros", make([]byte, 36), 1000, 1, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			idx, complete := decodeIndex(c.file, base, c.logSize)
			if len(idx) != c.want || complete != c.complete {
				t.Fatalf("decodeIndex = %d entries, complete %v; want %d, %v", len(idx), complete, c.want, c.complete)
			}
		})
	}
}

func TestIndexerAndLookups(t *testing.T) {
	const base = 1000
	x := newIndexer(base, 100)
	// Batches of 60 bytes and 2 records, timestamps 50, 10, 70, 20, 90, ...
	times := []int64{50, 10, 70, 20, 90, 30, 110}
	for i, ts := range times {
		h := batchHeader{base: base + int64(2*i), lastDelta: 1, count: 2, firstTime: ts, maxTime: ts, size: 60}
		x.add(int64(60*i), &h)
	}
	// Entries at batches 0, 2 (120 bytes since), 4, 6.
	wantIdx := []indexEntry{{1000, 0, 0}, {1004, 120, 4}, {1008, 240, 8}, {1012, 360, 12}}
	if len(x.idx) != len(wantIdx) {
		t.Fatalf("idx = %+v, want %+v", x.idx, wantIdx)
	}
	for i := range wantIdx {
		if x.idx[i] != wantIdx[i] {
			t.Fatalf("idx = %+v, want %+v", x.idx, wantIdx)
		}
	}
	wantT := []timeEntry{{50, 1004}, {70, 1008}, {90, 1012}}
	for i := range wantT {
		if x.tidx[i] != wantT[i] {
			t.Fatalf("tidx = %+v, want %+v", x.tidx, wantT)
		}
	}
	if x.records != 14 || x.maxTime != 110 || x.size != 420 || x.next != 1014 {
		t.Fatalf("indexer summary = %+v", x)
	}
	for _, c := range []struct{ off, pos int64 }{{0, 0}, {1000, 0}, {1003, 0}, {1004, 120}, {1011, 240}, {5000, 360}} {
		if e := lookupOffset(x.idx, c.off); e.pos != c.pos {
			t.Errorf("lookupOffset(%d) = %+v, want position %d", c.off, e, c.pos)
		}
	}
	for _, c := range []struct {
		ts  int64
		off int64
		ok  bool
	}{{10, 0, false}, {50, 0, false}, {51, 1004, true}, {70, 1004, true}, {71, 1008, true}, {math.MaxInt64, 1012, true}} {
		if off, ok := lookupTime(x.tidx, c.ts); off != c.off || ok != c.ok {
			t.Errorf("lookupTime(%d) = %d, %v; want %d, %v", c.ts, off, ok, c.off, c.ok)
		}
	}
	// Encoding and decoding round-trips; resume continues identically.
	ib, tb := x.encode()
	idx, ok := decodeIndex(ib, base, 420)
	tidx, ok2 := decodeTimeIndex(tb, base, idx)
	if !ok || !ok2 || len(idx) != 4 || len(tidx) != 3 {
		t.Fatalf("decode: %d %v %d %v", len(idx), ok, len(tidx), ok2)
	}
	y := newIndexer(base, 100)
	y.resume(idx, tidx, 2)
	for i := 4; i < len(times); i++ {
		h := batchHeader{base: base + int64(2*i), lastDelta: 1, count: 2, firstTime: times[i], maxTime: times[i], size: 60}
		y.add(int64(60*i), &h)
	}
	yb, ytb := y.encode()
	if string(yb) != string(ib) || string(ytb) != string(tb) || y.records != x.records || y.maxTime != x.maxTime {
		t.Fatalf("resumed indexer differs")
	}
}
