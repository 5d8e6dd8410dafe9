package delta

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"iter"
	"math"
	"math/bits"
	"net/url"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/google/uuid"

	"github.com/stratalake/strata/internal/storage"
)

// DeletionVector is the DeletionVectorDescriptor of an add or remove action: where to find the set
// of row indexes (0-based positions in the data file) that are logically deleted.
type DeletionVector struct {
	// StorageType is "u" (file relative to the table, named from a UUID), "i" (inline, Z85 in
	// PathOrInlineDV) or "p" (absolute path).
	StorageType    string `json:"storageType"`
	PathOrInlineDV string `json:"pathOrInlineDv"`
	// Offset of the DV inside its file; nil for inline DVs (read as 0 otherwise).
	Offset      *int32 `json:"offset,omitempty"`
	SizeInBytes int32  `json:"sizeInBytes"`
	Cardinality int64  `json:"cardinality"`
}

// UniqueID identifies the DV for log reconciliation: storageType + pathOrInlineDv, plus "@offset"
// when an offset is present.
func (dv *DeletionVector) UniqueID() string {
	id := dv.StorageType + dv.PathOrInlineDV
	if dv.Offset != nil {
		id += "@" + strconv.FormatInt(int64(*dv.Offset), 10)
	}
	return id
}

// The storage types of a DeletionVector (its StorageType field).
const (
	// DVStorageUUID: the DV is in a file of the table directory whose name is derived from a UUID:
	// PathOrInlineDV is "<random prefix><Z85 UUID, 20 characters>".
	DVStorageUUID = "u"
	// DVStorageInline: PathOrInlineDV is the Z85-encoded serialized bitmap itself.
	DVStorageInline = "i"
	// DVStoragePath: PathOrInlineDV is the absolute path (a URI, percent-encoded like add.path) of
	// the DV file.
	DVStoragePath = "p"
)

// Constants of the serialized formats (PROTOCOL.md "Deletion Vector Format").
const (
	// dvMagicPortable starts (little-endian) a RoaringBitmapArray in the portable 64-bit format, the
	// one the protocol specifies and every current writer produces.
	dvMagicPortable = 1681511377
	// dvMagicNative starts a RoaringBitmapArray in Delta Spark's older "native" layout: an int32
	// bitmap count, then per bitmap an int32 byte size and a 32-bit roaring bitmap whose key is its
	// index. Delta Spark reads it little-endian; the protocol's inline example (Example 3) holds it
	// with big-endian framing (the magic, count and sizes; the roaring bitmaps inside are always
	// little-endian). Strata reads all three layouts and writes only the portable one.
	dvMagicNative = 1681511376
	// dvFileVersion is byte 0 of a DV file.
	dvFileVersion = 1
	// dvMaxKey is the largest bucket key: Delta requires the most significant bit of every key to
	// be 0, so row indexes are below 2^63.
	dvMaxKey = math.MaxInt32
	// dvSmallOffset: when a DV starts this close to the beginning of its file, ReadDeletionVector
	// fetches the version byte and the DV in one range read instead of two.
	dvSmallOffset = 64 << 10
)

// Constants of the standard 32-bit roaring format
// (https://github.com/RoaringBitmap/RoaringFormatSpec).
const (
	roaringCookieRuns    = 12347 // low 16 bits of the cookie when run containers may be present
	roaringCookieNoRuns  = 12346 // the whole cookie when there are no run containers
	roaringNoOffsetLimit = 4     // with the run cookie, offsets are stored only from this many containers
	roaringArrayMax      = 4096  // containers with more values are bitmaps (unless runs)
	roaringBitmapBytes   = 8192  // a bitmap container: 65536 bits
)

// Validate checks the descriptor against the protocol: a known storage type, non-negative sizes and
// cardinality, no offset on an inline DV, an offset of at least 1 (byte 0 of a DV file is its
// version) on a stored one, a decodable UUID and a safe prefix for "u", a non-empty path for "p", and
// for "i" a Z85 string whose length matches sizeInBytes. Errors wrap ErrCorrupt and name the problem.
func (dv *DeletionVector) Validate() error {
	if dv.SizeInBytes < 0 {
		return dvErrorf(dv, "negative sizeInBytes %d", dv.SizeInBytes)
	}
	if dv.Cardinality < 0 {
		return dvErrorf(dv, "negative cardinality %d", dv.Cardinality)
	}
	switch dv.StorageType {
	case DVStorageInline:
		if dv.Offset != nil {
			return dvErrorf(dv, "inline deletion vector has offset %d; the protocol requires none", *dv.Offset)
		}
		if want := (int(dv.SizeInBytes) + 3) / 4 * 5; len(dv.PathOrInlineDV) != want {
			return dvErrorf(dv, "inline data has %d characters, sizeInBytes %d needs %d",
				len(dv.PathOrInlineDV), dv.SizeInBytes, want)
		}
		return nil
	case DVStorageUUID, DVStoragePath:
		if dv.Offset != nil && *dv.Offset < 1 {
			return dvErrorf(dv, "offset %d is before the first deletion vector of a file (1)", *dv.Offset)
		}
		if dv.StorageType == DVStoragePath {
			if dv.PathOrInlineDV == "" {
				return dvErrorf(dv, "empty absolute path")
			}
			return nil
		}
		_, err := dv.RelativePath()
		return err
	default:
		return dvErrorf(dv, "unknown storageType %q (want %q, %q or %q)",
			dv.StorageType, DVStorageUUID, DVStorageInline, DVStoragePath)
	}
}

// dvErrorf returns an ErrCorrupt error naming the descriptor.
func dvErrorf(dv *DeletionVector, format string, args ...any) error {
	return fmt.Errorf("%w: deletion vector %s: %s", ErrCorrupt, dv.describe(), fmt.Sprintf(format, args...))
}

// describe names the descriptor in error messages: its storage type and path (abbreviated when
// inline), plus its offset.
func (dv *DeletionVector) describe() string {
	p := dv.PathOrInlineDV
	if dv.StorageType == DVStorageInline && len(p) > 24 {
		p = p[:20] + "..."
	}
	s := fmt.Sprintf("%s:%q", dv.StorageType, p)
	if dv.Offset != nil {
		s += "@" + strconv.FormatInt(int64(*dv.Offset), 10)
	}
	return s
}

// offset returns the descriptor's offset, 0 when absent.
func (dv *DeletionVector) offset() int64 {
	if dv.Offset == nil {
		return 0
	}
	return int64(*dv.Offset)
}

// RelativePath returns the path, relative to the table root, of the file holding a "u" deletion
// vector: "<prefix>/deletion_vector_<uuid>.bin", or "deletion_vector_<uuid>.bin" without a prefix,
// where the UUID is the Z85 decoding of the last 20 characters of PathOrInlineDV and the prefix is
// whatever comes before them. The result is a storage key (not percent-encoded). It fails with
// ErrInvalidArgument for another storage type, and with ErrCorrupt when the UUID does not decode or
// the prefix would lead outside the table directory.
func (dv *DeletionVector) RelativePath() (string, error) {
	if dv.StorageType != DVStorageUUID {
		return "", fmt.Errorf("%w: deletion vector %s has no relative path (storageType is not %q)",
			ErrInvalidArgument, dv.describe(), DVStorageUUID)
	}
	s := dv.PathOrInlineDV
	if len(s) < z85UUIDLen {
		return "", dvErrorf(dv, "pathOrInlineDv has %d characters, need at least %d for the UUID", len(s), z85UUIDLen)
	}
	prefix := s[:len(s)-z85UUIDLen]
	id, err := z85DecodeUUID(s[len(s)-z85UUIDLen:])
	if err != nil {
		return "", fmt.Errorf("deletion vector %s: %w", dv.describe(), err)
	}
	name := dvFileName(id)
	if prefix == "" {
		return name, nil
	}
	p := prefix + "/" + name
	if strings.HasPrefix(p, "/") || path.Clean(p) != p || strings.HasPrefix(p, "../") {
		return "", dvErrorf(dv, "random prefix %q does not name a directory inside the table", prefix)
	}
	return p, nil
}

// dvFileName is the base name of a DV file: deletion_vector_<uuid>.bin.
func dvFileName(id uuid.UUID) string { return "deletion_vector_" + id.String() + ".bin" }

// AbsolutePath returns where a stored deletion vector lives. For "p" it is PathOrInlineDV as
// written in the log (an absolute, percent-encoded URI; tableRoot is not used and the caller resolves
// it). For "u" it is tableRoot joined with RelativePath by one slash (tableRoot as the caller spells
// it: a directory, a file: URI or an s3:// URL). An inline DV has no path: ErrInvalidArgument.
func (dv *DeletionVector) AbsolutePath(tableRoot string) (string, error) {
	switch dv.StorageType {
	case DVStoragePath:
		if dv.PathOrInlineDV == "" {
			return "", dvErrorf(dv, "empty absolute path")
		}
		return dv.PathOrInlineDV, nil
	case DVStorageUUID:
		rel, err := dv.RelativePath()
		if err != nil {
			return "", err
		}
		return strings.TrimSuffix(tableRoot, "/") + "/" + rel, nil
	case DVStorageInline:
		return "", fmt.Errorf("%w: inline deletion vector has no path", ErrInvalidArgument)
	default:
		return "", dv.Validate()
	}
}

// DeletedRows is a decoded deletion vector: the set of row indexes (0-based positions in a data
// file) that are logically deleted. Every index is below 2^63.
//
// A DeletedRows is immutable and safe for concurrent use. The nil *DeletedRows is the empty set, so
// a file without a deletion vector can use nil.
type DeletedRows struct {
	bm *roaring64.Bitmap // never nil for a non-nil DeletedRows; never modified after construction
}

// NewDeletedRows returns the set of the given row indexes (in any order, duplicates allowed).
func NewDeletedRows(rows ...uint64) *DeletedRows {
	bm := roaring64.New()
	bm.AddMany(rows)
	bm.RunOptimize()
	return &DeletedRows{bm: bm}
}

// NewDeletedRowRange returns the set of row indexes in [start, end); empty when end <= start.
func NewDeletedRowRange(start, end uint64) *DeletedRows {
	bm := roaring64.New()
	if end > start {
		bm.AddRange(start, end)
	}
	bm.RunOptimize()
	return &DeletedRows{bm: bm}
}

// Union returns a new set holding the rows of d and of other (either may be nil). This is how a
// writer extends a file's existing deletion vector with newly deleted rows.
func (d *DeletedRows) Union(other *DeletedRows) *DeletedRows {
	bm := roaring64.New()
	if d != nil {
		bm.Or(d.bm)
	}
	if other != nil {
		bm.Or(other.bm)
	}
	bm.RunOptimize()
	return &DeletedRows{bm: bm}
}

// Contains reports whether row is deleted.
func (d *DeletedRows) Contains(row uint64) bool { return d != nil && d.bm.Contains(row) }

// Cardinality is the number of deleted rows.
func (d *DeletedRows) Cardinality() uint64 {
	if d == nil {
		return 0
	}
	return d.bm.GetCardinality()
}

// IsEmpty reports whether no row is deleted.
func (d *DeletedRows) IsEmpty() bool { return d == nil || d.bm.IsEmpty() }

// Max returns the largest deleted row index; ok is false when the set is empty. A reader checks it
// against the data file's numRecords.
func (d *DeletedRows) Max() (row uint64, ok bool) {
	if d.IsEmpty() {
		return 0, false
	}
	return d.bm.Maximum(), true
}

// All yields the deleted row indexes in increasing order.
func (d *DeletedRows) All() iter.Seq[uint64] {
	return func(yield func(uint64) bool) {
		if d == nil {
			return
		}
		it := d.bm.Iterator()
		for it.HasNext() {
			if !yield(it.Next()) {
				return
			}
		}
	}
}

// ToArray returns the deleted row indexes in increasing order (nil when empty).
func (d *DeletedRows) ToArray() []uint64 {
	if d.IsEmpty() {
		return nil
	}
	return d.bm.ToArray()
}

// Equal reports whether d and other hold the same rows (nil equals empty).
func (d *DeletedRows) Equal(other *DeletedRows) bool {
	if d.IsEmpty() || other.IsEmpty() {
		return d.IsEmpty() && other.IsEmpty()
	}
	return d.bm.Equals(other.bm)
}

// String lists up to 20 row indexes, for test failures and debugging.
func (d *DeletedRows) String() string {
	var b strings.Builder
	b.WriteByte('{')
	n := 0
	for r := range d.All() {
		if n == 20 {
			fmt.Fprintf(&b, " ... (%d rows)", d.Cardinality())
			break
		}
		if n > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strconv.FormatUint(r, 10))
		n++
	}
	b.WriteByte('}')
	return b.String()
}

// DecodeDeletionVector decodes a serialized RoaringBitmapArray, magic number included: the bytes of
// an inline DV after Z85 decoding, or the bitmapData of one DV in a DV file. It reads the portable
// format the protocol specifies (magic 1681511377) and, for compatibility, Delta Spark's native
// layout (magic 1681511376, little- or big-endian framing). Every structure is checked: bucket keys
// strictly increasing with the high bit clear, each 32-bit bitmap well formed (container keys
// increasing, array values increasing, bitmap cardinalities matching their bits, runs ordered and
// disjoint), and no bytes left over. Errors wrap ErrCorrupt, name the problem and give its byte
// position in data. It never panics, whatever data holds.
func DecodeDeletionVector(data []byte) (*DeletedRows, error) {
	portable, card, err := dvToPortable(data)
	if err != nil {
		return nil, fmt.Errorf("%w: deletion vector bitmap (%d bytes): %w", ErrCorrupt, len(data), err)
	}
	bm := roaring64.New()
	if _, err := bm.ReadPortableFrom(bytes.NewReader(portable)); err != nil {
		return nil, fmt.Errorf("%w: deletion vector bitmap (%d bytes): %w", ErrCorrupt, len(data), err)
	}
	if got := bm.GetCardinality(); got != card {
		// The checks in dvToPortable make this unreachable; kept so that a disagreement between them
		// and the roaring library can never go unnoticed.
		return nil, fmt.Errorf("%w: deletion vector bitmap (%d bytes): %d rows by structure, %d decoded",
			ErrCorrupt, len(data), card, got)
	}
	return &DeletedRows{bm: bm}, nil
}

// dvToPortable checks a serialized RoaringBitmapArray (magic included) and returns its bitmap in the
// portable 64-bit format (without magic), re-framing the native layouts, plus its cardinality.
func dvToPortable(data []byte) ([]byte, uint64, error) {
	if len(data) < 4 {
		return nil, 0, fmt.Errorf("truncated: %d bytes, need 4 for the magic number", len(data))
	}
	switch {
	case binary.LittleEndian.Uint32(data) == dvMagicPortable:
		card, err := dvCheckPortable(data, 4)
		if err != nil {
			return nil, 0, err
		}
		return data[4:], card, nil
	case binary.LittleEndian.Uint32(data) == dvMagicNative:
		return dvNativeToPortable(data, binary.LittleEndian)
	case binary.BigEndian.Uint32(data) == dvMagicNative:
		return dvNativeToPortable(data, binary.BigEndian)
	default:
		return nil, 0, fmt.Errorf("bad magic number %d (%#08x little-endian), want %d",
			binary.LittleEndian.Uint32(data), binary.LittleEndian.Uint32(data), dvMagicPortable)
	}
}

// dvCheckPortable validates the portable 64-bit bitmap that starts at data[pos] and runs to the end of
// data (a uint64 bucket count, then per bucket a uint32 key and a 32-bit roaring bitmap, all
// little-endian), and returns its cardinality.
func dvCheckPortable(data []byte, pos int) (uint64, error) {
	if len(data)-pos < 8 {
		return 0, fmt.Errorf("truncated at byte %d: need 8 bytes for the bucket count, have %d", pos, len(data)-pos)
	}
	n := binary.LittleEndian.Uint64(data[pos:])
	// Each bucket takes at least 12 bytes (its key and an empty bitmap's 8), which bounds n before
	// anything trusts it.
	if n > uint64(len(data)-pos-8)/12 {
		return 0, fmt.Errorf("bucket count %d at byte %d does not fit in the %d bytes that follow", n, pos, len(data)-pos-8)
	}
	pos += 8
	var card uint64
	var prev uint32
	for i := uint64(0); i < n; i++ {
		if len(data)-pos < 4 {
			return 0, fmt.Errorf("truncated at byte %d: need 4 bytes for the key of bucket %d", pos, i)
		}
		key := binary.LittleEndian.Uint32(data[pos:])
		if key > dvMaxKey {
			return 0, fmt.Errorf("bucket %d at byte %d has key %#x with the high bit set (row indexes must be below 2^63)", i, pos, key)
		}
		if i > 0 && key <= prev {
			return 0, fmt.Errorf("bucket %d at byte %d has key %d, not above the previous key %d", i, pos, key, prev)
		}
		prev = key
		pos += 4
		size, c, err := dvCheckRoaring32(data[pos:])
		if err != nil {
			return 0, fmt.Errorf("bucket %d (key %d) at byte %d: %w", i, key, pos, err)
		}
		pos += size
		card += c
	}
	if pos != len(data) {
		return 0, fmt.Errorf("%d trailing bytes after the last bucket, at byte %d", len(data)-pos, pos)
	}
	return card, nil
}

// dvNativeToPortable validates a RoaringBitmapArray in the native layout (magic, int32 bitmap count,
// then per bitmap an int32 size and the bitmap; the key of a bitmap is its index) with its framing
// in the given byte order, and returns the same bitmap in the portable format plus its cardinality.
func dvNativeToPortable(data []byte, order binary.ByteOrder) ([]byte, uint64, error) {
	pos := 4
	if len(data)-pos < 4 {
		return nil, 0, fmt.Errorf("truncated at byte %d: need 4 bytes for the bitmap count, have %d", pos, len(data)-pos)
	}
	n := int64(int32(order.Uint32(data[pos:])))
	if n < 0 || n > int64(len(data)-pos-4)/12 {
		return nil, 0, fmt.Errorf("bitmap count %d at byte %d does not fit in the %d bytes that follow", n, pos, len(data)-pos-4)
	}
	pos += 4
	out := make([]byte, 8, len(data)+8)
	binary.LittleEndian.PutUint64(out, uint64(n))
	var card uint64
	for i := int64(0); i < n; i++ {
		if len(data)-pos < 4 {
			return nil, 0, fmt.Errorf("truncated at byte %d: need 4 bytes for the size of bitmap %d", pos, i)
		}
		size := int64(int32(order.Uint32(data[pos:])))
		if size < 0 || size > int64(len(data)-pos-4) {
			return nil, 0, fmt.Errorf("bitmap %d at byte %d declares %d bytes, %d follow", i, pos, size, len(data)-pos-4)
		}
		pos += 4
		got, c, err := dvCheckRoaring32(data[pos : pos+int(size)])
		if err != nil {
			return nil, 0, fmt.Errorf("bitmap %d at byte %d: %w", i, pos, err)
		}
		if int64(got) != size {
			return nil, 0, fmt.Errorf("bitmap %d at byte %d declares %d bytes but holds %d", i, pos, size, got)
		}
		out = binary.LittleEndian.AppendUint32(out, uint32(i))
		out = append(out, data[pos:pos+int(size)]...)
		pos += int(size)
		card += c
	}
	if pos != len(data) {
		return nil, 0, fmt.Errorf("%d trailing bytes after the last bitmap, at byte %d", len(data)-pos, pos)
	}
	return out, card, nil
}

// dvCheckRoaring32 validates the standard 32-bit roaring bitmap at the start of b and returns its
// length in bytes and its cardinality. Positions in errors are relative to b. Offsets stored in
// the bitmap's header are skipped, not checked, as the reference readers do.
func dvCheckRoaring32(b []byte) (size int, card uint64, err error) {
	pos := 0
	need := func(n int, what string) error {
		if len(b)-pos < n {
			return fmt.Errorf("truncated at byte %d: need %d bytes for %s, have %d", pos, n, what, len(b)-pos)
		}
		return nil
	}
	if err := need(4, "the roaring cookie"); err != nil {
		return 0, 0, err
	}
	cookie := binary.LittleEndian.Uint32(b)
	pos += 4
	var n int
	var runFlags []byte
	switch {
	case cookie&0xFFFF == roaringCookieRuns:
		n = int(cookie>>16) + 1
		if err := need((n+7)/8, "the run-container flags"); err != nil {
			return 0, 0, err
		}
		runFlags = b[pos : pos+(n+7)/8]
		pos += (n + 7) / 8
	case cookie == roaringCookieNoRuns:
		if err := need(4, "the container count"); err != nil {
			return 0, 0, err
		}
		c := binary.LittleEndian.Uint32(b[pos:])
		if c > 1<<16 {
			return 0, 0, fmt.Errorf("container count %d at byte %d exceeds 65536", c, pos)
		}
		n = int(c)
		pos += 4
	default:
		return 0, 0, fmt.Errorf("bad roaring cookie %#x at byte 0", cookie)
	}
	if err := need(4*n, "the container headers"); err != nil {
		return 0, 0, err
	}
	header := b[pos : pos+4*n]
	pos += 4 * n
	if runFlags == nil || n >= roaringNoOffsetLimit {
		if err := need(4*n, "the container offsets"); err != nil {
			return 0, 0, err
		}
		pos += 4 * n
	}
	for i := 0; i < n; i++ {
		key := binary.LittleEndian.Uint16(header[4*i:])
		hcard := int(binary.LittleEndian.Uint16(header[4*i+2:])) + 1
		if i > 0 {
			if prev := binary.LittleEndian.Uint16(header[4*i-4:]); key <= prev {
				return 0, 0, fmt.Errorf("container %d has key %d, not above the previous key %d", i, key, prev)
			}
		}
		switch {
		case runFlags != nil && runFlags[i/8]&(1<<(i%8)) != 0:
			if err := need(2, fmt.Sprintf("the run count of container %d", i)); err != nil {
				return 0, 0, err
			}
			runs := int(binary.LittleEndian.Uint16(b[pos:]))
			pos += 2
			if runs == 0 {
				return 0, 0, fmt.Errorf("run container %d (key %d) at byte %d has no runs", i, key, pos-2)
			}
			if err := need(4*runs, fmt.Sprintf("the %d runs of container %d", runs, i)); err != nil {
				return 0, 0, err
			}
			end := 0 // one past the last value of the previous run
			for r := 0; r < runs; r++ {
				start := int(binary.LittleEndian.Uint16(b[pos+4*r:]))
				length := int(binary.LittleEndian.Uint16(b[pos+4*r+2:])) + 1
				if r > 0 && start < end {
					return 0, 0, fmt.Errorf("run %d of container %d (key %d) starts at %d, inside or before the previous run", r, i, key, start)
				}
				if start+length > 1<<16 {
					return 0, 0, fmt.Errorf("run %d of container %d (key %d) runs past 65535", r, i, key)
				}
				end = start + length
				card += uint64(length)
			}
			pos += 4 * runs
		case hcard > roaringArrayMax:
			if err := need(roaringBitmapBytes, fmt.Sprintf("bitmap container %d", i)); err != nil {
				return 0, 0, err
			}
			ones := 0
			for j := 0; j < roaringBitmapBytes; j += 8 {
				ones += bits.OnesCount64(binary.LittleEndian.Uint64(b[pos+j:]))
			}
			if ones != hcard {
				return 0, 0, fmt.Errorf("bitmap container %d (key %d) at byte %d has %d bits set, its header says %d", i, key, pos, ones, hcard)
			}
			pos += roaringBitmapBytes
			card += uint64(hcard)
		default:
			if err := need(2*hcard, fmt.Sprintf("array container %d", i)); err != nil {
				return 0, 0, err
			}
			for j := 1; j < hcard; j++ {
				if binary.LittleEndian.Uint16(b[pos+2*j:]) <= binary.LittleEndian.Uint16(b[pos+2*j-2:]) {
					return 0, 0, fmt.Errorf("array container %d (key %d) at byte %d: values not strictly increasing at index %d", i, key, pos, j)
				}
			}
			pos += 2 * hcard
			card += uint64(hcard)
		}
	}
	return pos, card, nil
}

// decodeInlineDV decodes an "i" deletion vector.
func decodeInlineDV(dv *DeletionVector) (*DeletedRows, error) {
	data, err := Z85DecodeLen(dv.PathOrInlineDV, int(dv.SizeInBytes))
	if err != nil {
		return nil, fmt.Errorf("deletion vector %s: %w", dv.describe(), err)
	}
	rows, err := DecodeDeletionVector(data)
	if err != nil {
		return nil, fmt.Errorf("deletion vector %s: %w", dv.describe(), err)
	}
	return rows, nil
}

// decodeStoredDV decodes the DV of size bytes at offset in a DV file. head holds the file's first
// bytes (at least its version byte unless the file is empty); body holds the file's bytes from
// offset on, at least 4+size+4 of them unless the file is too short. name is the file's key.
func decodeStoredDV(name string, head, body []byte, offset int64, size int32) (*DeletedRows, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%w: deletion vector file %s at offset %d: %s", ErrCorrupt, name, offset, fmt.Sprintf(format, args...))
	}
	if len(head) == 0 {
		return nil, fail("the file is empty")
	}
	if head[0] != dvFileVersion {
		return nil, fmt.Errorf("%w: deletion vector file %s: format version %d (Strata reads version %d)",
			ErrUnsupportedFeature, name, head[0], dvFileVersion)
	}
	if offset < 1 {
		return nil, fail("offset is before the first deletion vector (1)")
	}
	if len(body) < 4 {
		return nil, fail("truncated: %d bytes left, need 4 for the size", len(body))
	}
	dataSize := int32(binary.BigEndian.Uint32(body))
	if dataSize != size {
		return nil, fail("the file gives the size %d, the descriptor's sizeInBytes is %d", dataSize, size)
	}
	if int64(len(body)) < 4+int64(size)+4 {
		return nil, fail("truncated: %d bytes left, the size, %d bytes of bitmap and the checksum need %d",
			len(body), size, 4+int64(size)+4)
	}
	bitmap := body[4 : 4+int(size)]
	stored := binary.BigEndian.Uint32(body[4+int(size):])
	if computed := crc32.ChecksumIEEE(bitmap); computed != stored {
		return nil, fail("checksum mismatch: stored CRC-32 %#08x, computed %#08x", stored, computed)
	}
	rows, err := DecodeDeletionVector(bitmap)
	if err != nil {
		return nil, fmt.Errorf("deletion vector file %s at offset %d: %w", name, offset, err)
	}
	return rows, nil
}

// ReadDeletionVector reads and decodes the deletion vector dv describes. store is rooted at the
// table root. An inline DV is decoded without touching store. A "u" DV is read from RelativePath; a
// "p" DV from its absolute path, which must lie under store.URL() (a directory, a file: URI or an
// s3:// URL; s3a:// and s3n:// count as s3://), else the error wraps ErrUnsupportedFeature and names
// the path. A nil dv means no deleted rows (nil result, nil error). store may be nil when dv is
// inline; for a stored DV a nil store is an ErrInvalidArgument.
//
// The descriptor is validated first; then the file's version byte, the size recorded before the DV
// (which must equal sizeInBytes), the CRC-32 after it and the bitmap itself are checked, and the
// decoded cardinality must equal the descriptor's. Every such failure wraps ErrCorrupt (a version
// byte other than 1: ErrUnsupportedFeature) and names the file and offset. A missing file wraps both
// ErrCorrupt and storage.ErrNotFound. Cancelling ctx aborts the read with ctx's error.
func ReadDeletionVector(ctx context.Context, store storage.Store, dv *DeletionVector) (*DeletedRows, error) {
	if dv == nil {
		return nil, nil
	}
	if err := dv.Validate(); err != nil {
		return nil, err
	}
	var rows *DeletedRows
	var err error
	where := "deletion vector " + dv.describe()
	if dv.StorageType == DVStorageInline {
		rows, err = decodeInlineDV(dv)
	} else {
		if store == nil {
			return nil, fmt.Errorf("%w: deletion vector %s is stored in a file and no store was given",
				ErrInvalidArgument, dv.describe())
		}
		var key string
		if dv.StorageType == DVStorageUUID {
			key, err = dv.RelativePath()
		} else {
			key, err = dvStoreKey(store.URL(), dv.PathOrInlineDV)
		}
		if err != nil {
			return nil, err
		}
		where = fmt.Sprintf("deletion vector file %s at offset %d", key, dv.offset())
		rows, err = readStoredDV(ctx, store, key, dv.offset(), dv.SizeInBytes)
	}
	if err != nil {
		return nil, err
	}
	if got := rows.Cardinality(); got != uint64(dv.Cardinality) {
		return nil, fmt.Errorf("%w: %s holds %d rows, the descriptor's cardinality is %d",
			ErrCorrupt, where, got, dv.Cardinality)
	}
	return rows, nil
}

// readStoredDV fetches and decodes the DV at offset in the DV file under key: one range read when
// the DV is near the start of the file, else one for the version byte and one for the DV.
func readStoredDV(ctx context.Context, store storage.Store, key string, offset int64, size int32) (*DeletedRows, error) {
	get := func(off, n int64) ([]byte, error) {
		b, err := store.GetRange(ctx, key, off, n)
		if err != nil {
			if ctx.Err() == nil && errors.Is(err, storage.ErrNotFound) {
				return nil, fmt.Errorf("%w: deletion vector file %s is missing: %w", ErrCorrupt, key, err)
			}
			return nil, fmt.Errorf("delta: read deletion vector file %s: %w", key, err)
		}
		return b, nil
	}
	span := 4 + int64(size) + 4
	var head, body []byte
	if offset <= dvSmallOffset {
		b, err := get(0, offset+span)
		if err != nil {
			return nil, err
		}
		head = b
		if int64(len(b)) > offset {
			body = b[offset:]
		}
	} else {
		var err error
		if head, err = get(0, 1); err != nil {
			return nil, err
		}
		if body, err = get(offset, span); err != nil {
			return nil, err
		}
	}
	return decodeStoredDV(key, head, body, offset, size)
}

// dvLocation is a location split for comparison: scheme (lower case, "file" for a plain path; s3a and
// s3n folded into s3), host, and a cleaned absolute path.
type dvLocation struct{ scheme, host, path string }

// parseDVLocation splits a location. A string with a scheme is parsed as a URI (percent-escapes
// decoded); one without is a filesystem path, decoded only when decode is set (DV paths are
// percent-encoded like add.path; a store root is not).
func parseDVLocation(s string, decode bool) (dvLocation, error) {
	hasScheme := strings.Contains(s, "://") || strings.HasPrefix(strings.ToLower(s), "file:")
	if !hasScheme && !decode {
		return dvLocation{scheme: "file", path: dvCleanAbs(filepath.ToSlash(s))}, nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return dvLocation{}, err
	}
	if u.Opaque != "" {
		return dvLocation{}, fmt.Errorf("opaque URI %q", s)
	}
	loc := dvLocation{scheme: strings.ToLower(u.Scheme), host: strings.ToLower(u.Host), path: dvCleanAbs(u.Path)}
	switch loc.scheme {
	case "":
		loc.scheme = "file"
	case "s3a", "s3n":
		loc.scheme = "s3"
	}
	if loc.scheme == "file" && loc.host == "localhost" {
		loc.host = ""
	}
	return loc, nil
}

// dvCleanAbs cleans a slash path and makes it absolute.
func dvCleanAbs(p string) string { return path.Clean("/" + p) }

// dvStoreKey maps the absolute path of a "p" deletion vector to a key of the store rooted at
// storeURL.
func dvStoreKey(storeURL, dvPath string) (string, error) {
	root, err := parseDVLocation(storeURL, false)
	if err != nil {
		return "", fmt.Errorf("%w: table root %q: %v", ErrInvalidArgument, storeURL, err)
	}
	p, err := parseDVLocation(dvPath, true)
	if err != nil {
		return "", fmt.Errorf("%w: deletion vector path %q: %v", ErrCorrupt, dvPath, err)
	}
	prefix := root.path
	if prefix != "/" {
		prefix += "/"
	}
	if p.scheme != root.scheme || p.host != root.host || !strings.HasPrefix(p.path, prefix) || len(p.path) == len(prefix) {
		return "", fmt.Errorf("%w: deletion vector path %q is outside the table root %q",
			ErrUnsupportedFeature, dvPath, storeURL)
	}
	return p.path[len(prefix):], nil
}

// EncodeDeletionVector serializes rows as a RoaringBitmapArray in the portable format, magic number
// included: the bytes an inline DV encodes and a DV file stores (Delta Spark writes the same bytes
// for the same rows). nil is the empty set. It fails with ErrInvalidArgument when a row index is
// 2^63 or more, or the result would exceed 2^31-1 bytes.
func EncodeDeletionVector(rows *DeletedRows) ([]byte, error) {
	if m, ok := rows.Max(); ok && m > math.MaxInt64 {
		return nil, fmt.Errorf("%w: deletion vector row index %d is 2^63 or more", ErrInvalidArgument, m)
	}
	bm := roaring64.New()
	if rows != nil {
		bm = rows.bm.Clone()
	}
	bm.RunOptimize()
	var buf bytes.Buffer
	buf.Grow(4 + int(bm.GetSerializedSizeInBytes()))
	var magic [4]byte
	binary.LittleEndian.PutUint32(magic[:], dvMagicPortable)
	buf.Write(magic[:])
	if _, err := bm.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("delta: serialize deletion vector: %w", err)
	}
	if buf.Len() > math.MaxInt32 {
		return nil, fmt.Errorf("%w: deletion vector of %d bytes exceeds 2^31-1", ErrInvalidArgument, buf.Len())
	}
	return buf.Bytes(), nil
}

// NewInlineDeletionVector returns an inline ("i") descriptor holding rows: the Z85 encoding of
// EncodeDeletionVector's bytes (zero-padded to a multiple of 4), their unpadded length as
// sizeInBytes, and the cardinality.
func NewInlineDeletionVector(rows *DeletedRows) (*DeletionVector, error) {
	data, err := EncodeDeletionVector(rows)
	if err != nil {
		return nil, err
	}
	return &DeletionVector{
		StorageType:    DVStorageInline,
		PathOrInlineDV: Z85Encode(data),
		SizeInBytes:    int32(len(data)),
		Cardinality:    int64(rows.Cardinality()),
	}, nil
}

// DeletionVectorFile is an encoded DV file, ready to be written: EncodeDeletionVectorFile builds it,
// the caller stores Data under Path (relative to the table root, normally with PutIfAbsent) and then
// commits add actions carrying Descriptors.
type DeletionVectorFile struct {
	// Path is the file's key relative to the table root: "<prefix>/deletion_vector_<uuid>.bin".
	Path string
	// Data is the whole file: the version byte, then per DV its big-endian size, its bitmap and the
	// big-endian CRC-32 of the bitmap.
	Data []byte
	// Descriptors has one "u" descriptor per encoded DV, in input order, with its offset in Data.
	Descriptors []*DeletionVector
}

// EncodeDeletionVectorFile lays out a DV file holding the given sets, in order, named from id and the
// random prefix (ASCII letters and digits only; "" for none). It does no I/O. It fails with
// ErrInvalidArgument for no sets, a bad prefix, a row index of 2^63 or more, or a file past 2^31-1
// bytes (offsets are int32).
func EncodeDeletionVectorFile(id uuid.UUID, prefix string, sets ...*DeletedRows) (*DeletionVectorFile, error) {
	if len(sets) == 0 {
		return nil, fmt.Errorf("%w: a deletion vector file holds at least one deletion vector", ErrInvalidArgument)
	}
	for _, c := range prefix {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return nil, fmt.Errorf("%w: deletion vector prefix %q: only ASCII letters and digits are allowed", ErrInvalidArgument, prefix)
		}
	}
	f := &DeletionVectorFile{Path: dvFileName(id), Data: []byte{dvFileVersion}}
	if prefix != "" {
		f.Path = prefix + "/" + f.Path
	}
	encodedID := prefix + z85EncodeUUID(id)
	for i, rows := range sets {
		bitmap, err := EncodeDeletionVector(rows)
		if err != nil {
			return nil, fmt.Errorf("deletion vector %d of %s: %w", i, f.Path, err)
		}
		offset := len(f.Data)
		if int64(offset)+4+int64(len(bitmap))+4 > math.MaxInt32 {
			return nil, fmt.Errorf("%w: deletion vector file %s would exceed 2^31-1 bytes", ErrInvalidArgument, f.Path)
		}
		f.Data = binary.BigEndian.AppendUint32(f.Data, uint32(len(bitmap)))
		f.Data = append(f.Data, bitmap...)
		f.Data = binary.BigEndian.AppendUint32(f.Data, crc32.ChecksumIEEE(bitmap))
		off := int32(offset)
		f.Descriptors = append(f.Descriptors, &DeletionVector{
			StorageType:    DVStorageUUID,
			PathOrInlineDV: encodedID,
			Offset:         &off,
			SizeInBytes:    int32(len(bitmap)),
			Cardinality:    int64(rows.Cardinality()),
		})
	}
	return f, nil
}
