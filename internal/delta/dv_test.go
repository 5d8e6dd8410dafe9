package delta

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stratalake/strata/internal/testutil"

	"github.com/google/uuid"

	"github.com/stratalake/strata/internal/storage"
)

// dvProtocolRows are the row indexes of PROTOCOL.md's inline example (JSON Example 3).
var dvProtocolRows = []uint64{3, 4, 7, 11, 18, 29}

func dvInt32(v int32) *int32 { return &v }

// dvConformanceDir finds shared/conformance/delta in an ancestor of the working directory (the
// repository's parent holds shared/, here and in CI) or in $STRATA_CONFORMANCE.
func dvConformanceDir(t *testing.T) string {
	t.Helper()
	return testutil.ConformanceDir(t)
}

// dvTempStore returns a Local store in a fresh temporary directory.
func dvTempStore(t *testing.T) *storage.Local {
	t.Helper()
	s, err := storage.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// dvWantCorrupt fails unless err wraps ErrCorrupt and mentions every one of parts.
func dvWantCorrupt(t *testing.T, err error, parts ...string) {
	t.Helper()
	dvWantError(t, err, ErrCorrupt, parts...)
}

func dvWantError(t *testing.T, err, sentinel error, parts ...string) {
	t.Helper()
	if !errors.Is(err, sentinel) {
		t.Fatalf("error %v, want one wrapping %q", err, sentinel)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not mention %q", err, p)
		}
	}
}

func dvMustEncode(t *testing.T, rows *DeletedRows) []byte {
	t.Helper()
	b, err := EncodeDeletionVector(rows)
	if err != nil {
		t.Fatalf("EncodeDeletionVector(%v): %v", rows, err)
	}
	return b
}

func TestDeletionVectorRelativePath(t *testing.T) {
	tests := []struct {
		name    string
		dv      DeletionVector
		want    string
		wantErr error
		message string
	}{
		{
			name: "protocol example 1, with prefix",
			dv:   DeletionVector{StorageType: "u", PathOrInlineDV: "ab^-aqEH.-t@S}K{vb[*k^", Offset: dvInt32(4), SizeInBytes: 40, Cardinality: 6},
			want: "ab/deletion_vector_d2c639aa-8816-431a-aaf6-d3fe2512ff61.bin",
		},
		{
			name: "no prefix (table-with-dv-small)",
			dv:   DeletionVector{StorageType: "u", PathOrInlineDV: "vBn[lx{q8@P<9BNH/isA", Offset: dvInt32(1), SizeInBytes: 36, Cardinality: 2},
			want: "deletion_vector_61d16c75-6994-46b7-a15b-8b538852e50e.bin",
		},
		{
			name:    "inline has none",
			dv:      DeletionVector{StorageType: "i", PathOrInlineDV: "wi5b=000010000siXQKl0rr91000f55c8Xg0@@D72lkbi5=-{L", SizeInBytes: 40},
			wantErr: ErrInvalidArgument,
			message: "no relative path",
		},
		{
			name:    "absolute has none",
			dv:      DeletionVector{StorageType: "p", PathOrInlineDV: "s3://mytable/deletion_vector_d2c639aa-8816-431a-aaf6-d3fe2512ff61.bin"},
			wantErr: ErrInvalidArgument,
			message: "no relative path",
		},
		{
			name:    "too short for a UUID",
			dv:      DeletionVector{StorageType: "u", PathOrInlineDV: "vBn[lx{q8@P<9BNH/is"},
			wantErr: ErrCorrupt,
			message: "19 characters",
		},
		{
			name:    "not Z85",
			dv:      DeletionVector{StorageType: "u", PathOrInlineDV: "vBn[lx{q8@P<9BNH/is~"},
			wantErr: ErrCorrupt,
			message: "invalid character '~'",
		},
		{
			name:    "prefix escaping the table",
			dv:      DeletionVector{StorageType: "u", PathOrInlineDV: "../vBn[lx{q8@P<9BNH/isA"},
			wantErr: ErrCorrupt,
			message: `random prefix "../"`,
		},
		{
			name:    "absolute prefix",
			dv:      DeletionVector{StorageType: "u", PathOrInlineDV: "/etc/vBn[lx{q8@P<9BNH/isA"},
			wantErr: ErrCorrupt,
			message: `random prefix "/etc/"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.dv.RelativePath()
			if tt.wantErr != nil {
				dvWantError(t, err, tt.wantErr, tt.message)
				return
			}
			if err != nil {
				t.Fatalf("RelativePath: %v", err)
			}
			if got != tt.want {
				t.Errorf("RelativePath = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDeletionVectorAbsolutePath(t *testing.T) {
	rel := DeletionVector{StorageType: "u", PathOrInlineDV: "ab^-aqEH.-t@S}K{vb[*k^", Offset: dvInt32(4), SizeInBytes: 40, Cardinality: 6}
	abs := DeletionVector{StorageType: "p", PathOrInlineDV: "s3://mytable/deletion_vector_d2c639aa-8816-431a-aaf6-d3fe2512ff61.bin", Offset: dvInt32(4), SizeInBytes: 40, Cardinality: 6}
	// PROTOCOL.md: relative to s3://mytable/ the first resolves to this path.
	for _, root := range []string{"s3://mytable/", "s3://mytable"} {
		got, err := rel.AbsolutePath(root)
		if err != nil {
			t.Fatal(err)
		}
		if want := "s3://mytable/ab/deletion_vector_d2c639aa-8816-431a-aaf6-d3fe2512ff61.bin"; got != want {
			t.Errorf("AbsolutePath(%q) = %q, want %q", root, got, want)
		}
	}
	got, err := abs.AbsolutePath("/somewhere/else")
	if err != nil {
		t.Fatal(err)
	}
	if got != abs.PathOrInlineDV {
		t.Errorf("AbsolutePath of a p DV = %q, want the path as written %q", got, abs.PathOrInlineDV)
	}
	inline := DeletionVector{StorageType: "i", PathOrInlineDV: "wi5b=000010000siXQKl0rr91000f55c8Xg0@@D72lkbi5=-{L", SizeInBytes: 40, Cardinality: 6}
	_, err = inline.AbsolutePath("s3://mytable")
	dvWantError(t, err, ErrInvalidArgument, "inline")
	bad := DeletionVector{StorageType: "x", PathOrInlineDV: "whatever"}
	_, err = bad.AbsolutePath("s3://mytable")
	dvWantCorrupt(t, err, `unknown storageType "x"`)
}

func TestDeletionVectorValidate(t *testing.T) {
	tests := []struct {
		name    string
		dv      DeletionVector
		message string // "" when valid
	}{
		{"protocol example 1", DeletionVector{StorageType: "u", PathOrInlineDV: "ab^-aqEH.-t@S}K{vb[*k^", Offset: dvInt32(4), SizeInBytes: 40, Cardinality: 6}, ""},
		{"protocol example 2", DeletionVector{StorageType: "p", PathOrInlineDV: "s3://mytable/deletion_vector_d2c639aa-8816-431a-aaf6-d3fe2512ff61.bin", Offset: dvInt32(4), SizeInBytes: 40, Cardinality: 6}, ""},
		{"protocol example 3", DeletionVector{StorageType: "i", PathOrInlineDV: "wi5b=000010000siXQKl0rr91000f55c8Xg0@@D72lkbi5=-{L", SizeInBytes: 40, Cardinality: 6}, ""},
		{"unknown storage type", DeletionVector{StorageType: "x", PathOrInlineDV: "vBn[lx{q8@P<9BNH/isA"}, `unknown storageType "x"`},
		{"upper-case storage type", DeletionVector{StorageType: "U", PathOrInlineDV: "vBn[lx{q8@P<9BNH/isA"}, `unknown storageType "U"`},
		{"empty storage type", DeletionVector{PathOrInlineDV: "vBn[lx{q8@P<9BNH/isA"}, `unknown storageType ""`},
		{"negative cardinality", DeletionVector{StorageType: "u", PathOrInlineDV: "vBn[lx{q8@P<9BNH/isA", Offset: dvInt32(1), SizeInBytes: 36, Cardinality: -1}, "negative cardinality"},
		{"negative size", DeletionVector{StorageType: "u", PathOrInlineDV: "vBn[lx{q8@P<9BNH/isA", Offset: dvInt32(1), SizeInBytes: -36}, "negative sizeInBytes"},
		{"offset 0", DeletionVector{StorageType: "u", PathOrInlineDV: "vBn[lx{q8@P<9BNH/isA", Offset: dvInt32(0), SizeInBytes: 36}, "offset 0"},
		{"inline with offset", DeletionVector{StorageType: "i", PathOrInlineDV: "wi5b=000010000siXQKl0rr91000f55c8Xg0@@D72lkbi5=-{L", Offset: dvInt32(1), SizeInBytes: 40}, "has offset 1"},
		{"inline shorter than sizeInBytes", DeletionVector{StorageType: "i", PathOrInlineDV: "wi5b=000010000siXQKl0rr91000f55c8Xg0@@D72lkbi5=-{L", SizeInBytes: 44}, "50 characters, sizeInBytes 44 needs 55"},
		{"empty absolute path", DeletionVector{StorageType: "p", Offset: dvInt32(1)}, "empty absolute path"},
		{"bad UUID", DeletionVector{StorageType: "u", PathOrInlineDV: "short", Offset: dvInt32(1)}, "5 characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.dv.Validate()
			if tt.message == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			dvWantCorrupt(t, err, tt.message)
			// ReadDeletionVector validates first, before any I/O.
			_, err = ReadDeletionVector(context.Background(), dvTempStore(t), &tt.dv)
			dvWantCorrupt(t, err, tt.message)
		})
	}
}

// TestReadInlineDeletionVector decodes the inline examples of the protocol and of other readers.
// Inline DVs need no store, so nil is passed.
func TestReadInlineDeletionVector(t *testing.T) {
	tests := []struct {
		name string
		dv   DeletionVector
		want []uint64
	}{
		{
			// PROTOCOL.md JSON Example 3. Its 40 bytes are RoaringBitmapArray's native layout with
			// big-endian framing (magic 1681511376), not the portable layout the text describes;
			// the rows are the ones the protocol states.
			name: "protocol example 3",
			dv:   DeletionVector{StorageType: "i", PathOrInlineDV: "wi5b=000010000siXQKl0rr91000f55c8Xg0@@D72lkbi5=-{L", SizeInBytes: 40, Cardinality: 6},
			want: dvProtocolRows,
		},
		{
			// The same rows in the portable format, from delta-kernel-rs's deletion_vector.rs tests.
			name: "portable, aligned",
			dv:   DeletionVector{StorageType: "i", PathOrInlineDV: "^Bg9^0rr910000000000iXQKl0rr91000f55c8Xg0@@D72lkbi5=-{L", SizeInBytes: 44, Cardinality: 6},
			want: dvProtocolRows,
		},
		{
			// 38 bytes padded to 40 by the encoder: sizeInBytes drops the padding. Rows 1, 3, 5 read
			// by hand from the decoded bytes (one bucket, key 0, one array container 1,3,5).
			name: "portable, padded",
			dv:   DeletionVector{StorageType: "i", PathOrInlineDV: "^Bg9^0rr910000000000iXQKl0rr91000625c8Xg0rri41POJ5", SizeInBytes: 38, Cardinality: 3},
			want: []uint64{1, 3, 5},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, err := ReadDeletionVector(context.Background(), nil, &tt.dv)
			if err != nil {
				t.Fatalf("ReadDeletionVector: %v", err)
			}
			if got := rows.ToArray(); !slices.Equal(got, tt.want) {
				t.Errorf("rows %v, want %v", got, tt.want)
			}
			for _, r := range []uint64{0, 1, 2, 8, 17, 55, 200, 1 << 32} {
				if rows.Contains(r) != slices.Contains(tt.want, r) {
					t.Errorf("Contains(%d) = %v", r, rows.Contains(r))
				}
			}
			// A wrong cardinality is refused.
			wrong := tt.dv
			wrong.Cardinality++
			_, err = ReadDeletionVector(context.Background(), nil, &wrong)
			dvWantCorrupt(t, err, "cardinality", "holds")
		})
	}
}

// TestDecodeNativeLayouts reads the protocol example's rows in the three framings Strata accepts.
func TestDecodeNativeLayouts(t *testing.T) {
	be, err := Z85DecodeLen("wi5b=000010000siXQKl0rr91000f55c8Xg0@@D72lkbi5=-{L", 40)
	if err != nil {
		t.Fatal(err)
	}
	if binary.BigEndian.Uint32(be) != dvMagicNative {
		t.Fatalf("protocol example starts %x, not the big-endian native magic", be[:4])
	}
	// The little-endian framing Delta Spark's NativeRoaringBitmapArraySerializationFormat writes:
	// the same fields with their bytes reversed; the 32-bit roaring bitmap is unchanged.
	le := slices.Clone(be)
	for _, off := range []int{0, 4, 8} {
		binary.LittleEndian.PutUint32(le[off:], binary.BigEndian.Uint32(be[off:]))
	}
	portable := dvMustEncode(t, NewDeletedRows(dvProtocolRows...))
	for name, data := range map[string][]byte{"native big-endian": be, "native little-endian": le, "portable": portable} {
		rows, err := DecodeDeletionVector(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := rows.ToArray(); !slices.Equal(got, dvProtocolRows) {
			t.Errorf("%s: rows %v, want %v", name, got, dvProtocolRows)
		}
	}
	// A native bitmap whose declared size disagrees with its content.
	bad := slices.Clone(le)
	binary.LittleEndian.PutUint32(bad[8:], 26)
	_, err = DecodeDeletionVector(bad)
	dvWantCorrupt(t, err, "truncated")
	bad = append(slices.Clone(le), 0, 0)
	binary.LittleEndian.PutUint32(bad[8:], 30)
	_, err = DecodeDeletionVector(bad)
	dvWantCorrupt(t, err, "declares 30 bytes but holds 28")
	bad = slices.Clone(le)
	binary.LittleEndian.PutUint32(bad[4:], math.MaxUint32) // -1 bitmaps
	_, err = DecodeDeletionVector(bad)
	dvWantCorrupt(t, err, "bitmap count -1")
}

// TestDecodeEmptyBuckets reads the layout Delta Spark's RoaringBitmapArray writes when its first
// rows are at or above 2^32: its array of bitmaps is dense, so the lower buckets are written empty.
func TestDecodeEmptyBuckets(t *testing.T) {
	le32 := binary.LittleEndian.AppendUint32
	emptyRoaring := le32(le32(nil, roaringCookieNoRuns), 0)
	five := le32(le32(le32(le32(nil, roaringCookieNoRuns), 1), 0), 16) // key 0, cardinality 1, offset 16
	five = binary.LittleEndian.AppendUint16(five, 5)

	portable := le32(nil, dvMagicPortable)
	portable = binary.LittleEndian.AppendUint64(portable, 3)
	portable = append(le32(portable, 0), emptyRoaring...)
	portable = append(le32(portable, 1), emptyRoaring...)
	portable = append(le32(portable, 2), five...)

	native := le32(le32(nil, dvMagicNative), 3)
	native = append(le32(native, uint32(len(emptyRoaring))), emptyRoaring...)
	native = append(le32(native, uint32(len(emptyRoaring))), emptyRoaring...)
	native = append(le32(native, uint32(len(five))), five...)

	for name, data := range map[string][]byte{"portable": portable, "native": native} {
		rows, err := DecodeDeletionVector(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := rows.ToArray(); !slices.Equal(got, []uint64{2<<32 | 5}) {
			t.Errorf("%s: rows %v, want [%d]", name, got, uint64(2<<32|5))
		}
	}
}

// TestEncodeDeletionVectorMatchesReference checks that our bytes are the ones other writers produce
// for the same rows: delta-kernel-rs's portable inline example (from Spark).
func TestEncodeDeletionVectorMatchesReference(t *testing.T) {
	want, err := Z85DecodeLen("^Bg9^0rr910000000000iXQKl0rr91000f55c8Xg0@@D72lkbi5=-{L", 44)
	if err != nil {
		t.Fatal(err)
	}
	got := dvMustEncode(t, NewDeletedRows(dvProtocolRows...))
	if !bytes.Equal(got, want) {
		t.Errorf("EncodeDeletionVector(%v) = %x, want %x", dvProtocolRows, got, want)
	}
	dv, err := NewInlineDeletionVector(NewDeletedRows(dvProtocolRows...))
	if err != nil {
		t.Fatal(err)
	}
	wantDV := DeletionVector{StorageType: "i", PathOrInlineDV: "^Bg9^0rr910000000000iXQKl0rr91000f55c8Xg0@@D72lkbi5=-{L", SizeInBytes: 44, Cardinality: 6}
	if *dv != wantDV {
		t.Errorf("NewInlineDeletionVector = %+v, want %+v", *dv, wantDV)
	}
	padded, err := NewInlineDeletionVector(NewDeletedRows(1, 3, 5))
	if err != nil {
		t.Fatal(err)
	}
	wantDV = DeletionVector{StorageType: "i", PathOrInlineDV: "^Bg9^0rr910000000000iXQKl0rr91000625c8Xg0rri41POJ5", SizeInBytes: 38, Cardinality: 3}
	if *padded != wantDV {
		t.Errorf("NewInlineDeletionVector(1,3,5) = %+v, want %+v", *padded, wantDV)
	}
}

// dvLogRef is one deletion vector descriptor found in a table's _delta_log JSON commits.
type dvLogRef struct {
	commit string // file name
	action string // "add" or "remove"
	dv     *DeletionVector
}

// dvLogRefs scans a table's JSON commits for add and remove actions with a deletion vector. It
// parses the lines itself so that this test depends only on the DV code.
func dvLogRefs(t *testing.T, table string) []dvLogRef {
	t.Helper()
	commits, err := filepath.Glob(filepath.Join(table, "_delta_log", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	var refs []dvLogRef
	for _, c := range commits {
		f, err := os.Open(c)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<24)
		for sc.Scan() {
			var line struct {
				Add    *struct{ DeletionVector *DeletionVector } `json:"add"`
				Remove *struct{ DeletionVector *DeletionVector } `json:"remove"`
			}
			if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
				t.Fatalf("%s: %v", c, err)
			}
			if line.Add != nil && line.Add.DeletionVector != nil {
				refs = append(refs, dvLogRef{filepath.Base(c), "add", line.Add.DeletionVector})
			}
			if line.Remove != nil && line.Remove.DeletionVector != nil {
				refs = append(refs, dvLogRef{filepath.Base(c), "remove", line.Remove.DeletionVector})
			}
		}
		f.Close()
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return refs
}

// TestReadConformanceDeletionVectors reads back every DV referenced by the JSON commits of the
// conformance tables that have DVs, and checks the descriptor's cardinality and, where it could be
// derived independently of this code, the exact row indexes.
//
// The checkpoints of delta-rs/table_with_deletion_logs (versions 10 and 20) hold the same descriptor
// as its commit 4 (Q6Kt3y1b)0MgZSWwPunr, offset 1, 36 bytes, cardinality 2: read with pyarrow), so
// the JSON commits cover every DV of these tables. No conformance table has a "p" or "i" DV.
func TestReadConformanceDeletionVectors(t *testing.T) {
	root := dvConformanceDir(t)
	tests := []struct {
		table string
		refs  int                 // descriptors in the JSON commits
		rows  map[string][]uint64 // pathOrInlineDv -> deleted rows, where known independently
	}{
		{
			// Commit 1 is DELETE WHERE value IN (0, 9) over the one data file, whose column value
			// holds 0..9 in row order (read with pyarrow), so rows 0 and 9 are deleted.
			table: "kernel-data/table-with-dv-small",
			refs:  1,
			rows:  map[string][]uint64{"vBn[lx{q8@P<9BNH/isA": {0, 9}},
		},
		{
			// No commitInfo; part-00000's stats say numRecords 5 and the metadata says DVs are
			// present. Rows 0, 1, 2 read by hand from the hex dump of the file (one array
			// container: 0000 0100 0200).
			table: "kernel-data/with-short-dv",
			refs:  1,
			rows:  map[string][]uint64{"U5OWRz5k%CFT.Td}yCPW": {0, 1, 2}},
		},
		{
			// Commit 3 is DELETE WHERE id = 12, commit 4 DELETE WHERE id = 89, over one data file
			// whose column id is row index + 10 (read with pyarrow: ids 10..109 in row order).
			table: "delta-rs/table_with_deletion_logs",
			refs:  3, // commit 3's add, commit 4's remove (same DV) and add
			rows: map[string][]uint64{
				"J.Dy=B})x<YARTP5LcO1": {2},
				"Q6Kt3y1b)0MgZSWwPunr": {2, 79},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.table, func(t *testing.T) {
			dir := filepath.Join(root, filepath.FromSlash(tt.table))
			store, err := storage.NewLocal(dir) // read only: nothing is written
			if err != nil {
				t.Fatal(err)
			}
			refs := dvLogRefs(t, dir)
			if len(refs) != tt.refs {
				t.Fatalf("found %d deletion vectors in the log, want %d", len(refs), tt.refs)
			}
			seen := map[string]bool{}
			for _, ref := range refs {
				rows, err := ReadDeletionVector(context.Background(), store, ref.dv)
				if err != nil {
					t.Fatalf("%s %s: %v", ref.commit, ref.action, err)
				}
				if rows.Cardinality() != uint64(ref.dv.Cardinality) {
					t.Errorf("%s %s: %d rows, descriptor says %d", ref.commit, ref.action, rows.Cardinality(), ref.dv.Cardinality)
				}
				want, ok := tt.rows[ref.dv.PathOrInlineDV]
				if !ok {
					t.Fatalf("%s: no expected rows for %q", ref.commit, ref.dv.PathOrInlineDV)
				}
				seen[ref.dv.PathOrInlineDV] = true
				if got := rows.ToArray(); !slices.Equal(got, want) {
					t.Errorf("%s %s %s: rows %v, want %v", ref.commit, ref.action, ref.dv.PathOrInlineDV, got, want)
				}
			}
			if len(seen) != len(tt.rows) {
				t.Errorf("read %d distinct deletion vectors, expected %d", len(seen), len(tt.rows))
			}
		})
	}
}

// TestEncodeDeletionVectorFileMatchesConformance re-encodes the rows of each conformance DV file and
// checks that the file bytes and the descriptor are exactly the ones Spark (Databricks Runtime)
// wrote.
func TestEncodeDeletionVectorFileMatchesConformance(t *testing.T) {
	root := dvConformanceDir(t)
	tests := []struct {
		file string
		dv   DeletionVector
		rows []uint64
	}{
		{"kernel-data/table-with-dv-small/deletion_vector_61d16c75-6994-46b7-a15b-8b538852e50e.bin",
			DeletionVector{StorageType: "u", PathOrInlineDV: "vBn[lx{q8@P<9BNH/isA", Offset: dvInt32(1), SizeInBytes: 36, Cardinality: 2}, []uint64{0, 9}},
		{"kernel-data/with-short-dv/deletion_vector_ae7177f2-6d17-4ea8-819b-8d62fa2c5469.bin",
			DeletionVector{StorageType: "u", PathOrInlineDV: "U5OWRz5k%CFT.Td}yCPW", Offset: dvInt32(1), SizeInBytes: 38, Cardinality: 3}, []uint64{0, 1, 2}},
		{"delta-rs/table_with_deletion_logs/deletion_vector_8e4ca8be-7615-43cf-bc06-5d131148683f.bin",
			DeletionVector{StorageType: "u", PathOrInlineDV: "J.Dy=B})x<YARTP5LcO1", Offset: dvInt32(1), SizeInBytes: 34, Cardinality: 1}, []uint64{2}},
		{"delta-rs/table_with_deletion_logs/deletion_vector_a2084964-69d4-4e1e-95f5-9bbd6571d5c3.bin",
			DeletionVector{StorageType: "u", PathOrInlineDV: "Q6Kt3y1b)0MgZSWwPunr", Offset: dvInt32(1), SizeInBytes: 36, Cardinality: 2}, []uint64{2, 79}},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.file), func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(tt.file)))
			if err != nil {
				t.Fatal(err)
			}
			name := filepath.Base(tt.file)
			id := uuid.MustParse(strings.TrimSuffix(strings.TrimPrefix(name, "deletion_vector_"), ".bin"))
			f, err := EncodeDeletionVectorFile(id, "", NewDeletedRows(tt.rows...))
			if err != nil {
				t.Fatal(err)
			}
			if f.Path != name {
				t.Errorf("Path %q, want %q", f.Path, name)
			}
			if !bytes.Equal(f.Data, want) {
				t.Errorf("Data\n %x\nwant\n %x", f.Data, want)
			}
			if len(f.Descriptors) != 1 {
				t.Fatalf("%d descriptors, want 1", len(f.Descriptors))
			}
			if got := f.Descriptors[0]; got.UniqueID() != tt.dv.UniqueID() || got.SizeInBytes != tt.dv.SizeInBytes || got.Cardinality != tt.dv.Cardinality {
				t.Errorf("descriptor %+v (%s), want %+v (%s)", *got, got.UniqueID(), tt.dv, tt.dv.UniqueID())
			}
		})
	}
}

// dvRoundTripSets are the sets the round-trip tests encode and decode.
func dvRoundTripSets(t *testing.T) map[string]*DeletedRows {
	seed := uint64(time.Now().UnixNano())
	t.Logf("random set seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	random := make([]uint64, 2000)
	for i := range random {
		random[i] = rng.Uint64N(1 << 36)
	}
	var everyOther []uint64 // 100000 values: bitmap containers
	for r := uint64(0); r < 200000; r += 2 {
		everyOther = append(everyOther, r)
	}
	runs := NewDeletedRowRange(10, 20).
		Union(NewDeletedRowRange(30, 40)).
		Union(NewDeletedRowRange(65530, 65600)). // crosses a container boundary
		Union(NewDeletedRowRange(1<<20, 1<<20+100000))
	return map[string]*DeletedRows{
		"nil":                 nil,
		"empty":               NewDeletedRows(),
		"single row 0":        NewDeletedRows(0),
		"protocol rows":       NewDeletedRows(dvProtocolRows...),
		"unsorted duplicates": NewDeletedRows(9, 0, 9, 5, 0),
		"dense":               NewDeletedRows(everyOther...),
		"one long run":        NewDeletedRowRange(0, 70000),
		"runs":                runs,
		"beyond 2^32":         NewDeletedRows(1<<32, 1<<32+7, 5<<32+1, 1<<40, 3),
		"largest rows":        NewDeletedRows(1<<62, 1<<63-1, 0),
		"random sparse":       NewDeletedRows(random...),
		"array and bitmap and runs in buckets 0 and 2": NewDeletedRows(everyOther...).
			Union(NewDeletedRowRange(2<<32, 2<<32+5000)).
			Union(NewDeletedRows(2<<32+70000, 2<<32+70002)),
	}
}

func TestDeletionVectorRoundTrip(t *testing.T) {
	ctx := context.Background()
	for name, rows := range dvRoundTripSets(t) {
		t.Run(name, func(t *testing.T) {
			want := rows.ToArray()
			check := func(how string, got *DeletedRows) {
				t.Helper()
				if !got.Equal(rows) || !slices.Equal(got.ToArray(), want) {
					t.Errorf("%s: got %v, want %v", how, got, rows)
				}
				if got.Cardinality() != uint64(len(want)) {
					t.Errorf("%s: Cardinality %d, want %d", how, got.Cardinality(), len(want))
				}
			}
			data := dvMustEncode(t, rows)
			decoded, err := DecodeDeletionVector(data)
			if err != nil {
				t.Fatalf("DecodeDeletionVector: %v", err)
			}
			check("bytes", decoded)
			if again := dvMustEncode(t, decoded); !bytes.Equal(again, data) {
				t.Errorf("re-encoding the decoded set changed the bytes")
			}

			inline, err := NewInlineDeletionVector(rows)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ReadDeletionVector(ctx, nil, inline)
			if err != nil {
				t.Fatalf("inline: %v", err)
			}
			check("inline", got)

			store := dvTempStore(t)
			f, err := EncodeDeletionVectorFile(uuid.New(), "xy", rows)
			if err != nil {
				t.Fatal(err)
			}
			if err := store.Put(ctx, f.Path, f.Data); err != nil {
				t.Fatal(err)
			}
			got, err = ReadDeletionVector(ctx, store, f.Descriptors[0])
			if err != nil {
				t.Fatalf("file: %v", err)
			}
			check("file", got)
		})
	}
}

// TestDeletionVectorFileManyDVs puts every round-trip set in one file, so that later DVs sit past
// the single-read window, and reads each back through its descriptor.
func TestDeletionVectorFileManyDVs(t *testing.T) {
	ctx := context.Background()
	sets := dvRoundTripSets(t)
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range sets {
			if !yield(n) {
				return
			}
		}
	})
	var list []*DeletedRows
	for _, n := range names {
		list = append(list, sets[n])
	}
	id := uuid.MustParse("d2c639aa-8816-431a-aaf6-d3fe2512ff61")
	f, err := EncodeDeletionVectorFile(id, "ab", list...)
	if err != nil {
		t.Fatal(err)
	}
	if f.Path != "ab/deletion_vector_d2c639aa-8816-431a-aaf6-d3fe2512ff61.bin" {
		t.Errorf("Path %q", f.Path)
	}
	if len(f.Data) <= dvSmallOffset {
		t.Fatalf("file of %d bytes does not exercise offsets past %d", len(f.Data), dvSmallOffset)
	}
	store := dvTempStore(t)
	if err := store.PutIfAbsent(ctx, f.Path, f.Data); err != nil {
		t.Fatal(err)
	}
	next := int32(1)
	for i, dv := range f.Descriptors {
		if dv.PathOrInlineDV != "ab^-aqEH.-t@S}K{vb[*k^" || dv.StorageType != "u" {
			t.Errorf("descriptor %d: %+v", i, *dv)
		}
		if *dv.Offset != next {
			t.Errorf("descriptor %d: offset %d, want %d", i, *dv.Offset, next)
		}
		next += 4 + dv.SizeInBytes + 4
		got, err := ReadDeletionVector(ctx, store, dv)
		if err != nil {
			t.Fatalf("%s (offset %d): %v", names[i], *dv.Offset, err)
		}
		if !got.Equal(list[i]) {
			t.Errorf("%s (offset %d): got %v, want %v", names[i], *dv.Offset, got, list[i])
		}
	}
	if int(next) != len(f.Data) {
		t.Errorf("descriptors end at %d, file has %d bytes", next, len(f.Data))
	}
	if last := f.Descriptors[len(f.Descriptors)-1]; *last.Offset <= dvSmallOffset {
		t.Errorf("last offset %d does not exercise the two-read path (offsets past %d)", *last.Offset, dvSmallOffset)
	}
}

// TestReadAbsolutePathDeletionVector reads "p" DVs spelled in the ways a table can hold them.
func TestReadAbsolutePathDeletionVector(t *testing.T) {
	ctx := context.Background()
	store := dvTempStore(t)
	f, err := EncodeDeletionVectorFile(uuid.New(), "", NewDeletedRows(dvProtocolRows...))
	if err != nil {
		t.Fatal(err)
	}
	key := "dv dir/" + f.Path // a space, percent-encoded in the log
	if err := store.Put(ctx, key, f.Data); err != nil {
		t.Fatal(err)
	}
	root := filepath.ToSlash(store.URL())
	escaped := (&url.URL{Path: root + "/" + key}).EscapedPath()
	for _, p := range []string{
		"file://" + escaped,
		"file:" + escaped,
		"file://localhost" + escaped,
		escaped,
	} {
		dv := *f.Descriptors[0]
		dv.StorageType = "p"
		dv.PathOrInlineDV = p
		rows, err := ReadDeletionVector(ctx, store, &dv)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		if !slices.Equal(rows.ToArray(), dvProtocolRows) {
			t.Errorf("%s: rows %v", p, rows)
		}
	}
	outside := *f.Descriptors[0]
	outside.StorageType = "p"
	outside.PathOrInlineDV = "s3://mytable/deletion_vector_d2c639aa-8816-431a-aaf6-d3fe2512ff61.bin"
	_, err = ReadDeletionVector(ctx, store, &outside)
	dvWantError(t, err, ErrUnsupportedFeature, outside.PathOrInlineDV, "outside the table root")
}

func TestDVStoreKey(t *testing.T) {
	tests := []struct {
		root, path, want string // want "" when outside
	}{
		{"s3://bucket/tables/t", "s3://bucket/tables/t/deletion_vector_x.bin", "deletion_vector_x.bin"},
		{"s3://bucket/tables/t/", "s3a://bucket/tables/t/ab/deletion_vector_x.bin", "ab/deletion_vector_x.bin"},
		{"s3://bucket", "s3://bucket/deletion_vector_x.bin", "deletion_vector_x.bin"},
		{"s3://bucket/tables/t", "s3://bucket/tables/t/a%20b/x.bin", "a b/x.bin"},
		{"/data/t", "file:/data/t/x.bin", "x.bin"},
		{"/data/t", "file:///data/t/x.bin", "x.bin"},
		{"/data/t", "/data/t/sub/x.bin", "sub/x.bin"},
		{"file:///data/t", "/data/t/x.bin", "x.bin"},
		{"/data/t", "/data/t/../t/x.bin", "x.bin"},
		{"/data/a b", "file:/data/a%20b/x.bin", "x.bin"},
		{"s3://bucket/tables/t", "s3://other/tables/t/x.bin", ""},
		{"s3://bucket/tables/t", "s3://bucket/tables/tt/x.bin", ""},
		{"s3://bucket/tables/t", "s3://bucket/tables/t", ""},
		{"s3://bucket/tables/t", "gs://bucket/tables/t/x.bin", ""},
		{"/data/t", "s3://bucket/data/t/x.bin", ""},
		{"/data/t", "/data/t/../u/x.bin", ""},
		{"/data/t", "file://otherhost/data/t/x.bin", ""},
	}
	for _, tt := range tests {
		got, err := dvStoreKey(tt.root, tt.path)
		if tt.want == "" {
			if !errors.Is(err, ErrUnsupportedFeature) || !strings.Contains(err.Error(), tt.path) {
				t.Errorf("dvStoreKey(%q, %q) = %q, %v; want an ErrUnsupportedFeature naming the path", tt.root, tt.path, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("dvStoreKey(%q, %q) = %q, %v; want %q", tt.root, tt.path, got, err, tt.want)
		}
	}
}

// dvPatch returns a copy of b with v written little-endian at off (v's width: 2, 4 or 8 bytes).
func dvPatch(b []byte, off int, width int, v uint64) []byte {
	c := slices.Clone(b)
	switch width {
	case 2:
		binary.LittleEndian.PutUint16(c[off:], uint16(v))
	case 4:
		binary.LittleEndian.PutUint32(c[off:], uint32(v))
	default:
		binary.LittleEndian.PutUint64(c[off:], v)
	}
	return c
}

// TestDecodeDeletionVectorCorrupt damages valid encodings one field at a time. The byte positions
// follow the portable layout: magic 0-3, bucket count 4-11, then per bucket a 4-byte key and a
// 32-bit roaring bitmap (cookie, container count, 4-byte headers, 4-byte offsets, containers).
func TestDecodeDeletionVectorCorrupt(t *testing.T) {
	small := dvMustEncode(t, NewDeletedRows(3, 4, 7)) // one bucket, one array container at 32
	if len(small) != 38 || binary.LittleEndian.Uint32(small[16:]) != roaringCookieNoRuns {
		t.Fatalf("unexpected layout of {3,4,7}: %x", small)
	}
	twoBuckets := dvMustEncode(t, NewDeletedRows(1, 1<<32|1)) // bucket keys at 12 and 34
	twoContainers := dvMustEncode(t, NewDeletedRows(1, 1<<16|1))
	var even []uint64
	for r := uint64(0); r < 1<<16; r += 2 {
		even = append(even, r)
	}
	bitmap := dvMustEncode(t, NewDeletedRows(even...)) // bitmap container at 32
	run := dvMustEncode(t, NewDeletedRowRange(10, 20).Union(NewDeletedRowRange(30, 40)))
	// run: cookie with runs at 16, run flags at 20, header 21-24, run count 25, runs at 27 and 31.
	if binary.LittleEndian.Uint16(run[16:]) != roaringCookieRuns || binary.LittleEndian.Uint16(run[25:]) != 2 {
		t.Fatalf("unexpected layout of two runs: %x", run)
	}
	tests := []struct {
		name    string
		data    []byte
		message string
	}{
		{"empty", nil, "truncated: 0 bytes"},
		{"bad magic", dvPatch(small, 0, 4, 1681511378), "bad magic number 1681511378"},
		{"magic of a plain roaring bitmap", small[16:], "bad magic number"},
		{"truncated bucket count", small[:8], "need 8 bytes for the bucket count"},
		{"bucket count too large", dvPatch(small, 4, 8, 1<<40), "bucket count 1099511627776"},
		{"truncated container", small[:len(small)-1], "truncated"},
		{"truncated header", small[:26], "truncated"},
		{"trailing bytes", append(slices.Clone(small), 0), "1 trailing bytes"},
		{"high-bit key", dvPatch(small, 12, 4, 0x80000000), "high bit set"},
		{"all-ones key", dvPatch(small, 12, 4, math.MaxUint32), "high bit set"},
		{"bucket keys out of order", dvPatch(twoBuckets, 34, 4, 0), "bucket 1 at byte 34 has key 0, not above the previous key 0"},
		{"bad roaring cookie", dvPatch(small, 16, 4, 12345), "bad roaring cookie 0x3039"},
		{"too many containers", dvPatch(small, 20, 4, 70000), "container count 70000"},
		{"container keys out of order", dvPatch(twoContainers, 28, 2, 0), "container 1 has key 0"},
		{"array not increasing", dvPatch(small, 34, 2, 3), "values not strictly increasing"},
		{"array cardinality too large", dvPatch(small, 26, 2, 3), "truncated"},
		{"bitmap bits disagree with header", dvPatch(bitmap, 32, 2, 0x5557), "32769 bits set, its header says 32768"},
		{"empty run container", dvPatch(run, 25, 2, 0)[:27], "has no runs"},
		{"run past 65535", dvPatch(dvPatch(run, 31, 2, 65000), 33, 2, 999), "runs past 65535"},
		{"overlapping runs", dvPatch(run, 31, 2, 15), "starts at 15, inside or before the previous run"},
		{"runs out of order", dvPatch(run, 31, 2, 0), "starts at 0"},
		{"truncated runs", run[:len(run)-2], "truncated"},
		{"native magic, truncated", []byte{0xd0, 0xd3, 0x39, 0x64, 1}, "need 4 bytes for the bitmap count"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, err := DecodeDeletionVector(tt.data)
			if err == nil {
				t.Fatalf("decoded %v, want an error", rows)
			}
			dvWantCorrupt(t, err, tt.message)
		})
	}
	// The control cases decode.
	for _, b := range [][]byte{small, twoBuckets, twoContainers, bitmap, run} {
		if _, err := DecodeDeletionVector(b); err != nil {
			t.Errorf("valid bitmap %x...: %v", b[:min(len(b), 40)], err)
		}
	}
}

// TestReadDeletionVectorCorrupt damages a stored DV file and its descriptor.
func TestReadDeletionVectorCorrupt(t *testing.T) {
	ctx := context.Background()
	id := uuid.MustParse("61d16c75-6994-46b7-a15b-8b538852e50e")
	f, err := EncodeDeletionVectorFile(id, "", NewDeletedRows(3, 4, 7))
	if err != nil {
		t.Fatal(err)
	}
	good := f.Data // version, size at 1, bitmap at 5..42, CRC at 43
	descriptor := *f.Descriptors[0]
	withCRC := func(b []byte) []byte { // recompute the checksum after damaging the bitmap
		binary.BigEndian.PutUint32(b[len(b)-4:], crc32.ChecksumIEEE(b[5:len(b)-4]))
		return b
	}
	tests := []struct {
		name     string
		data     []byte // nil: no file
		dv       func(DeletionVector) DeletionVector
		sentinel error
		message  []string
	}{
		{"checksum mismatch", func() []byte { b := slices.Clone(good); b[40] ^= 1; return b }(), nil, ErrCorrupt,
			[]string{f.Path, "offset 1", "checksum mismatch"}},
		{"damaged checksum", func() []byte { b := slices.Clone(good); b[len(b)-1] ^= 0xff; return b }(), nil, ErrCorrupt,
			[]string{f.Path, "checksum mismatch"}},
		{"truncated checksum", good[:len(good)-2], nil, ErrCorrupt, []string{f.Path, "truncated"}},
		{"truncated bitmap", good[:20], nil, ErrCorrupt, []string{f.Path, "truncated"}},
		{"only the version byte", good[:1], nil, ErrCorrupt, []string{f.Path, "truncated"}},
		{"empty file", []byte{}, nil, ErrCorrupt, []string{f.Path, "empty"}},
		{"version 2", append([]byte{2}, good[1:]...), nil, ErrUnsupportedFeature, []string{f.Path, "version 2"}},
		{"bad magic under a good checksum", withCRC(dvPatch(good, 5, 4, 7)), nil, ErrCorrupt,
			[]string{f.Path, "offset 1", "bad magic number 7"}},
		{"high-bit key under a good checksum", withCRC(dvPatch(good, 17, 4, 0x80000000)), nil, ErrCorrupt,
			[]string{f.Path, "high bit"}},
		{"sizeInBytes disagrees with the file", good, func(d DeletionVector) DeletionVector { d.SizeInBytes = 37; return d }, ErrCorrupt,
			[]string{f.Path, "size 38", "sizeInBytes is 37"}},
		{"wrong cardinality", good, func(d DeletionVector) DeletionVector { d.Cardinality = 4; return d }, ErrCorrupt,
			[]string{f.Path, "offset 1", "holds 3 rows", "cardinality is 4"}},
		{"offset past the end", good, func(d DeletionVector) DeletionVector { d.Offset = dvInt32(100); return d }, ErrCorrupt,
			[]string{f.Path, "offset 100", "truncated"}},
		{"offset past the end of a large read", good, func(d DeletionVector) DeletionVector { d.Offset = dvInt32(1 << 20); return d }, ErrCorrupt,
			[]string{f.Path, "truncated"}},
		{"absent offset", good, func(d DeletionVector) DeletionVector { d.Offset = nil; return d }, ErrCorrupt,
			[]string{f.Path, "offset 0"}},
		{"missing file", nil, nil, storage.ErrNotFound, []string{f.Path, "missing"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := dvTempStore(t)
			if tt.data != nil {
				if err := store.Put(ctx, f.Path, tt.data); err != nil {
					t.Fatal(err)
				}
			}
			dv := descriptor
			if tt.dv != nil {
				dv = tt.dv(dv)
			}
			rows, err := ReadDeletionVector(ctx, store, &dv)
			if err == nil {
				t.Fatalf("read %v, want an error", rows)
			}
			dvWantError(t, err, tt.sentinel, tt.message...)
			if tt.sentinel == storage.ErrNotFound && !errors.Is(err, ErrCorrupt) {
				t.Errorf("a missing DV file should also be ErrCorrupt: %v", err)
			}
		})
	}
	// The undamaged file reads.
	store := dvTempStore(t)
	if err := store.Put(ctx, f.Path, good); err != nil {
		t.Fatal(err)
	}
	rows, err := ReadDeletionVector(ctx, store, &descriptor)
	if err != nil || !slices.Equal(rows.ToArray(), []uint64{3, 4, 7}) {
		t.Fatalf("undamaged file: %v, %v", rows, err)
	}
	// A cancelled context aborts the read with the context's error, not ErrCorrupt.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = ReadDeletionVector(cctx, store, &descriptor)
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrCorrupt) {
		t.Errorf("cancelled read: %v, want context.Canceled and not ErrCorrupt", err)
	}
}

func TestInlineDeletionVectorCorrupt(t *testing.T) {
	good, err := NewInlineDeletionVector(NewDeletedRows(1, 3, 5)) // 38 bytes, 2 of padding
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		dv      func(DeletionVector) DeletionVector
		message string
	}{
		{"non-zero padding", func(d DeletionVector) DeletionVector {
			b, _ := Z85Decode(d.PathOrInlineDV)
			b[len(b)-1] = 1
			d.PathOrInlineDV = Z85Encode(b)
			return d
		}, "padding byte 1"},
		{"not Z85", func(d DeletionVector) DeletionVector { d.PathOrInlineDV = "~" + d.PathOrInlineDV[1:]; return d }, "invalid character '~'"},
		{"bad magic", func(d DeletionVector) DeletionVector {
			b, _ := Z85Decode(d.PathOrInlineDV)
			b[0] = 0
			d.PathOrInlineDV = Z85Encode(b)
			return d
		}, "bad magic"},
		{"sizeInBytes cuts the bitmap", func(d DeletionVector) DeletionVector { d.SizeInBytes = 37; return d }, "truncated"},
		{"wrong cardinality", func(d DeletionVector) DeletionVector { d.Cardinality = 2; return d }, "cardinality is 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dv := tt.dv(*good)
			_, err := ReadDeletionVector(context.Background(), nil, &dv)
			dvWantCorrupt(t, err, tt.message)
		})
	}
}

func TestDeletedRows(t *testing.T) {
	var none *DeletedRows
	if none.Contains(0) || none.Cardinality() != 0 || !none.IsEmpty() || none.ToArray() != nil {
		t.Errorf("nil DeletedRows is not the empty set")
	}
	if _, ok := none.Max(); ok {
		t.Errorf("nil DeletedRows has a maximum")
	}
	for range none.All() {
		t.Errorf("nil DeletedRows yields a row")
	}
	if !none.Equal(NewDeletedRows()) || none.Equal(NewDeletedRows(1)) || NewDeletedRows(1).Equal(none) {
		t.Errorf("Equal with nil is wrong")
	}
	if rows, err := ReadDeletionVector(context.Background(), nil, nil); rows != nil || err != nil {
		t.Errorf("ReadDeletionVector(nil descriptor) = %v, %v; want nil, nil", rows, err)
	}

	rows := NewDeletedRows(5, 1<<33, 2)
	if m, ok := rows.Max(); !ok || m != 1<<33 {
		t.Errorf("Max = %d, %v", m, ok)
	}
	var first []uint64
	for r := range rows.All() {
		first = append(first, r)
		if len(first) == 2 {
			break
		}
	}
	if !slices.Equal(first, []uint64{2, 5}) {
		t.Errorf("All with break yielded %v", first)
	}
	if u := rows.Union(nil).Union(NewDeletedRows(3)); !slices.Equal(u.ToArray(), []uint64{2, 3, 5, 1 << 33}) {
		t.Errorf("Union = %v", u)
	}
	if !slices.Equal(rows.ToArray(), []uint64{2, 5, 1 << 33}) {
		t.Errorf("Union changed its receiver: %v", rows)
	}
	if r := NewDeletedRowRange(7, 7); !r.IsEmpty() {
		t.Errorf("empty range holds %v", r)
	}
	if s := NewDeletedRowRange(0, 100).String(); !strings.HasSuffix(s, "... (100 rows)}") || !strings.HasPrefix(s, "{0 1 2") {
		t.Errorf("String = %q", s)
	}
}

func TestEncodeDeletionVectorErrors(t *testing.T) {
	_, err := EncodeDeletionVector(NewDeletedRows(1 << 63))
	dvWantError(t, err, ErrInvalidArgument, "9223372036854775808")
	_, err = NewInlineDeletionVector(NewDeletedRows(math.MaxUint64))
	dvWantError(t, err, ErrInvalidArgument, "2^63")
	_, err = EncodeDeletionVectorFile(uuid.New(), "", NewDeletedRows(1), NewDeletedRows(1<<63))
	dvWantError(t, err, ErrInvalidArgument, "deletion vector 1 of deletion_vector_")
	_, err = EncodeDeletionVectorFile(uuid.New(), "")
	dvWantError(t, err, ErrInvalidArgument, "at least one")
	for _, p := range []string{"a/b", "..", "é", "a b", "a-b"} {
		_, err = EncodeDeletionVectorFile(uuid.New(), p, NewDeletedRows(1))
		dvWantError(t, err, ErrInvalidArgument, "prefix")
	}
}
