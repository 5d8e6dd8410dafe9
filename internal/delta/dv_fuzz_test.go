package delta

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// dvFuzzSeeds returns serialized RoaringBitmapArrays to seed the fuzzers: the protocol's and
// delta-kernel-rs's inline examples, the bitmaps of the conformance DV files when they are found,
// and encodings of varied sets.
func dvFuzzSeeds(f *testing.F) (bitmaps, files [][]byte) {
	for _, ex := range []struct {
		s string
		n int
	}{
		{"wi5b=000010000siXQKl0rr91000f55c8Xg0@@D72lkbi5=-{L", 40},
		{"^Bg9^0rr910000000000iXQKl0rr91000f55c8Xg0@@D72lkbi5=-{L", 44},
		{"^Bg9^0rr910000000000iXQKl0rr91000625c8Xg0rri41POJ5", 38},
	} {
		b, err := Z85DecodeLen(ex.s, ex.n)
		if err != nil {
			f.Fatal(err)
		}
		bitmaps = append(bitmaps, b)
	}
	dir, _ := filepath.Glob(filepath.Join("..", "..", "..", "shared", "conformance", "delta", "*", "*", "deletion_vector_*.bin"))
	for _, p := range dir {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		files = append(files, b)
		if len(b) > 9 {
			bitmaps = append(bitmaps, b[5:len(b)-4])
		}
	}
	for _, rows := range []*DeletedRows{
		nil,
		NewDeletedRows(0),
		NewDeletedRows(1, 1<<32|1, 1<<16|1),
		NewDeletedRowRange(10, 20).Union(NewDeletedRowRange(30, 40)),
		NewDeletedRowRange(0, 5000),
		NewDeletedRows(1<<63 - 1),
	} {
		b, err := EncodeDeletionVector(rows)
		if err != nil {
			f.Fatal(err)
		}
		bitmaps = append(bitmaps, b)
		df, err := EncodeDeletionVectorFile([16]byte{1}, "", rows, NewDeletedRows(7))
		if err != nil {
			f.Fatal(err)
		}
		files = append(files, df.Data)
	}
	return bitmaps, files
}

// FuzzDecodeDeletionVector: decoding never panics, fails only with ErrCorrupt, and what decodes
// re-encodes to the same set.
func FuzzDecodeDeletionVector(f *testing.F) {
	bitmaps, _ := dvFuzzSeeds(f)
	for _, b := range bitmaps {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rows, err := DecodeDeletionVector(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if m, ok := rows.Max(); ok && m >= 1<<63 {
			t.Fatalf("decoded row %d at or above 2^63", m)
		}
		enc, err := EncodeDeletionVector(rows)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		back, err := DecodeDeletionVector(enc)
		if err != nil {
			t.Fatalf("decode of re-encoded set: %v", err)
		}
		if !back.Equal(rows) {
			t.Fatalf("round trip changed %v into %v", rows, back)
		}
		if c := rows.Cardinality(); c <= 1<<16 {
			n := uint64(0)
			prev := uint64(0)
			for r := range rows.All() {
				if n > 0 && r <= prev {
					t.Fatalf("rows not increasing: %d after %d", r, prev)
				}
				if !rows.Contains(r) {
					t.Fatalf("Contains(%d) is false for a yielded row", r)
				}
				prev = r
				n++
			}
			if n != c {
				t.Fatalf("Cardinality %d, iteration yields %d", c, n)
			}
		}
	})
}

// FuzzDecodeStoredDV: reading one DV out of arbitrary file bytes never panics and fails only with
// ErrCorrupt or ErrUnsupportedFeature.
func FuzzDecodeStoredDV(f *testing.F) {
	_, files := dvFuzzSeeds(f)
	for _, b := range files {
		if len(b) >= 5 {
			f.Add(b, int32(1), int32(len(b)-9))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, offset, size int32) {
		var body []byte
		if offset >= 0 && int(offset) <= len(data) {
			body = data[offset:]
		}
		_, err := decodeStoredDV("fuzz.bin", data, body, int64(offset), size)
		if err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupportedFeature) {
			t.Fatalf("error %v wraps neither ErrCorrupt nor ErrUnsupportedFeature", err)
		}
	})
}

// FuzzZ85Decode: decoding never panics, and what decodes re-encodes to the same string.
func FuzzZ85Decode(f *testing.F) {
	for _, s := range []string{"HelloWorld", "", "#####", "%nSc0", "wi5b=000010000siXQKl0rr91000f55c8Xg0@@D72lkbi5=-{L", "ab^-aqEH.-t@S}K{vb[*k^"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := Z85Decode(s)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if enc := Z85Encode(b); enc != s {
			t.Fatalf("Z85Encode(Z85Decode(%q)) = %q", s, enc)
		}
	})
}
