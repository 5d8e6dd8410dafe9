package parquetio

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/scalar"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/metadata"
	"github.com/apache/arrow-go/v18/parquet/schema"
	"github.com/google/uuid"

	"github.com/stratalake/strata/internal/delta"
)

// This file describes data files written by another Parquet writer (DuckDB's COPY, for the SQL
// engine) the way WriteDataFiles describes its own: the same file names, and the same Delta
// statistics (the same columns, chosen by PlanStats as WriteDataFiles chooses them, and the same
// 32-character string truncation), read from the file's footer instead of accumulated from the
// rows. What a footer cannot say (the null count of an array or map column, bounds a writer left
// out) is reported by FileStats.Missing, for the caller to compute from the file's rows.

// DataFileName returns a data file name as WriteDataFiles names its files:
// "part-<part, 5 digits>-<uuid>-c000.<codec>.parquet", where codec is the extension of the
// compression codec (a name WriteOptions.Codec accepts; none for uncompressed files).
func DataFileName(part int, codecName string) (string, error) {
	c, err := parseCodec(codecName)
	if err != nil {
		return "", err
	}
	name := fmt.Sprintf("part-%05d-%s-c000", part, uuid.NewString())
	if c.ext != "" {
		name += "." + c.ext
	}
	return name + ".parquet", nil
}

// StatsPlan lists the columns whose statistics the data files of a table carry, chosen as
// WriteDataFiles chooses them (see WriteOptions.NumIndexedCols and StatsColumns): leaves of the
// data schema (partition and void columns excluded), a struct counting as its leaves and an
// array or map as one leaf. A StatsPlan is immutable and safe for concurrent use.
type StatsPlan struct {
	leaves []statLeaf
}

// StatsLeaf is one column of a StatsPlan.
type StatsLeaf struct {
	// Path holds the physical names from the top-level column down to the leaf.
	Path []string
	// Type is the leaf's Delta type.
	Type delta.DataType
	// MinMax is set for the types whose minimum and maximum the statistics record (numbers,
	// decimals, dates, timestamps, strings); the others get a null count only.
	MinMax bool
}

// PlanStats returns the statistics plan of the data files of a table with the given schema and
// partition columns, under opts' NumIndexedCols and StatsColumns (the other fields are ignored).
func PlanStats(schema *delta.StructType, partitionColumns []string, opts WriteOptions) (*StatsPlan, error) {
	part := map[string]bool{}
	for _, p := range partitionColumns {
		if schema.Field(p) == nil {
			return nil, fmt.Errorf("%w: partition column %q is not in the schema", delta.ErrInvalidArgument, p)
		}
		part[strings.ToLower(p)] = true
	}
	var data []*delta.StructField
	for _, f := range schema.Fields {
		if !part[strings.ToLower(f.Name)] && f.Type != delta.TypeVoid {
			data = append(data, f)
		}
	}
	leaves, err := planStats(data, opts.NumIndexedCols, opts.StatsColumns)
	if err != nil {
		return nil, err
	}
	return &StatsPlan{leaves: leaves}, nil
}

// Leaves returns the plan's columns, in statistics order.
func (p *StatsPlan) Leaves() []StatsLeaf {
	out := make([]StatsLeaf, len(p.leaves))
	for i, l := range p.leaves {
		out[i] = StatsLeaf{Path: append([]string(nil), l.path...), Type: l.typ, MinMax: l.minMax}
	}
	return out
}

// FileStats are the statistics of one data file, by plan leaf. The zero value is not usable; get
// one from StatsPlan.ReadFooterStats. Not safe for concurrent use.
type FileStats struct {
	plan *StatsPlan
	// NumRecords is the file's row count.
	NumRecords int64
	leaves     []footerLeaf
}

// footerLeaf is what is known of one leaf: its null count (nullsKnown) and, for MinMax leaves, its
// bounds (boundsKnown; lo and hi nil when the leaf holds no value).
type footerLeaf struct {
	nulls       int64
	nullsKnown  bool
	lo, hi      scalar.Scalar
	boundsKnown bool
}

// ReadFooterStats reads the statistics of a data file from its footer. The file's columns must
// be the table's physical columns (as PhysicalArrowSchema names them); a leaf the file lacks, or
// whose footer statistics are absent, unusable or of an unexpected physical type, is left
// missing (see Missing). It reads the footer only.
func (p *StatsPlan) ReadFooterStats(r parquet.ReaderAtSeeker) (*FileStats, error) {
	pf, err := file.NewParquetReader(r)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidParquet, err)
	}
	defer pf.Close()
	md := pf.MetaData()
	s := &FileStats{plan: p, NumRecords: md.NumRows, leaves: make([]footerLeaf, len(p.leaves))}
	sc := md.Schema
	for i, l := range p.leaves {
		col := leafColumn(sc, l.path)
		if col < 0 {
			continue
		}
		s.leaves[i] = readLeafStats(md, col, l)
	}
	return s, nil
}

// leafColumn returns the index of the Parquet leaf column at path (physical names), or -1 when the
// file has no primitive column there (an array or map leaf is a group in Parquet).
func leafColumn(sc *schema.Schema, path []string) int {
	var node schema.Node = sc.Root()
	for _, name := range path {
		g, ok := node.(*schema.GroupNode)
		if !ok {
			return -1
		}
		k := g.FieldIndexByName(name)
		if k < 0 {
			return -1
		}
		node = g.Field(k)
	}
	if _, ok := node.(*schema.PrimitiveNode); !ok {
		return -1
	}
	return sc.ColumnIndexByNode(node)
}

// readLeafStats combines the row groups' statistics of one column.
func readLeafStats(md *metadata.FileMetaData, col int, l statLeaf) footerLeaf {
	var out footerLeaf
	nullsKnown, boundsKnown := true, l.minMax
	var nulls int64
	var lo, hi scalar.Scalar
	for g := 0; g < md.NumRowGroups(); g++ {
		rg := md.RowGroup(g)
		if rg.NumRows() == 0 {
			continue
		}
		cc, err := rg.ColumnChunk(col)
		if err != nil {
			return out
		}
		st, err := cc.Statistics()
		if err != nil || st == nil || !st.HasNullCount() {
			return out
		}
		nulls += st.NullCount()
		if !boundsKnown || st.NullCount() >= rg.NumRows() {
			continue // no bounds wanted, or no value in this row group
		}
		if !st.HasMinMax() {
			boundsKnown = false
			continue
		}
		glo, ghi, ok := footerBounds(st, l.typ)
		if !ok {
			boundsKnown = false
			continue
		}
		if lo == nil || lessScalar(glo, lo) {
			lo = glo
		}
		if hi == nil || lessScalar(hi, ghi) {
			hi = ghi
		}
	}
	out.nulls, out.nullsKnown = nulls, nullsKnown
	if boundsKnown {
		out.lo, out.hi, out.boundsKnown = lo, hi, true
	}
	return out
}

// footerBounds converts a row group's min and max to scalars of the leaf's Arrow type. ok is
// false when the physical type is not the one Delta's type is stored as, or a floating-point
// bound is NaN.
func footerBounds(st metadata.TypedStatistics, t delta.DataType) (lo, hi scalar.Scalar, ok bool) {
	at := delta.ToArrowType(t)
	switch s := st.(type) {
	case *metadata.Int32Statistics:
		mk := func(v int32) scalar.Scalar {
			switch at.(type) {
			case *arrow.Int8Type:
				return scalar.NewInt8Scalar(int8(v))
			case *arrow.Int16Type:
				return scalar.NewInt16Scalar(int16(v))
			case *arrow.Int32Type:
				return scalar.NewInt32Scalar(v)
			case *arrow.Date32Type:
				return scalar.NewDate32Scalar(arrow.Date32(v))
			case *arrow.Decimal128Type:
				return scalar.NewDecimal128Scalar(decimal128.FromI64(int64(v)), at)
			}
			return nil
		}
		lo, hi = mk(s.Min()), mk(s.Max())
	case *metadata.Int64Statistics:
		unit := timestampUnit(st.Descr())
		mk := func(v int64) scalar.Scalar {
			switch at := at.(type) {
			case *arrow.Int64Type:
				return scalar.NewInt64Scalar(v)
			case *arrow.TimestampType:
				if unit < 0 {
					return nil
				}
				return scalar.NewTimestampScalar(arrow.Timestamp(toMicros(v, unit)), at)
			case *arrow.Decimal128Type:
				return scalar.NewDecimal128Scalar(decimal128.FromI64(v), at)
			}
			return nil
		}
		lo, hi = mk(s.Min()), mk(s.Max())
	case *metadata.Float32Statistics:
		if _, isF := at.(*arrow.Float32Type); !isF || math.IsNaN(float64(s.Min())) || math.IsNaN(float64(s.Max())) {
			return nil, nil, false
		}
		lo, hi = scalar.NewFloat32Scalar(s.Min()), scalar.NewFloat32Scalar(s.Max())
	case *metadata.Float64Statistics:
		if _, isF := at.(*arrow.Float64Type); !isF || math.IsNaN(s.Min()) || math.IsNaN(s.Max()) {
			return nil, nil, false
		}
		lo, hi = scalar.NewFloat64Scalar(s.Min()), scalar.NewFloat64Scalar(s.Max())
	case *metadata.ByteArrayStatistics:
		if _, isS := at.(*arrow.StringType); !isS {
			return nil, nil, false
		}
		lo, hi = scalar.NewStringScalar(string(s.Min())), scalar.NewStringScalar(string(s.Max()))
	case *metadata.FixedLenByteArrayStatistics:
		dt, isD := at.(*arrow.Decimal128Type)
		if !isD {
			return nil, nil, false
		}
		l, ok1 := decimalFromBigEndian(s.Min())
		h, ok2 := decimalFromBigEndian(s.Max())
		if !ok1 || !ok2 {
			return nil, nil, false
		}
		lo, hi = scalar.NewDecimal128Scalar(l, dt), scalar.NewDecimal128Scalar(h, dt)
	}
	if lo == nil || hi == nil {
		return nil, nil, false
	}
	return lo, hi, true
}

// timestampUnit returns the unit of an INT64 timestamp column (-1 when it is not one).
func timestampUnit(c *schema.Column) arrow.TimeUnit {
	var unit schema.TimeUnitType = -1
	switch ts := c.LogicalType().(type) {
	case schema.TimestampLogicalType:
		unit = ts.TimeUnit()
	case *schema.TimestampLogicalType:
		unit = ts.TimeUnit()
	}
	if unit >= 0 {
		switch unit {
		case schema.TimeUnitMillis:
			return arrow.Millisecond
		case schema.TimeUnitMicros:
			return arrow.Microsecond
		case schema.TimeUnitNanos:
			return arrow.Nanosecond
		}
	}
	switch c.ConvertedType() {
	case schema.ConvertedTypes.TimestampMillis:
		return arrow.Millisecond
	case schema.ConvertedTypes.TimestampMicros:
		return arrow.Microsecond
	}
	return -1
}

// toMicros converts a timestamp of unit u to microseconds (nanoseconds rounded down, which keeps
// a minimum a lower bound; a maximum rounded down stays an upper bound at microsecond precision,
// the precision of Delta timestamps).
func toMicros(v int64, u arrow.TimeUnit) int64 {
	switch u {
	case arrow.Millisecond:
		return v * 1000
	case arrow.Nanosecond:
		q := v / 1000
		if v%1000 != 0 && v < 0 {
			q--
		}
		return q
	}
	return v
}

// decimalFromBigEndian decodes a big-endian two's-complement unscaled decimal of up to 16 bytes.
func decimalFromBigEndian(b []byte) (decimal128.Num, bool) {
	if len(b) == 0 || len(b) > 16 {
		return decimal128.Num{}, false
	}
	var buf [16]byte
	fill := byte(0)
	if b[0]&0x80 != 0 {
		fill = 0xff
	}
	for i := 0; i < 16-len(b); i++ {
		buf[i] = fill
	}
	copy(buf[16-len(b):], b)
	hi := int64(binary.BigEndian.Uint64(buf[:8]))
	lo := binary.BigEndian.Uint64(buf[8:])
	return decimal128.New(hi, lo), true
}

// lessScalar orders two non-null scalars of the same type.
func lessScalar(a, b scalar.Scalar) bool {
	switch a := a.(type) {
	case *scalar.Int8:
		return a.Value < b.(*scalar.Int8).Value
	case *scalar.Int16:
		return a.Value < b.(*scalar.Int16).Value
	case *scalar.Int32:
		return a.Value < b.(*scalar.Int32).Value
	case *scalar.Int64:
		return a.Value < b.(*scalar.Int64).Value
	case *scalar.Date32:
		return a.Value < b.(*scalar.Date32).Value
	case *scalar.Timestamp:
		return a.Value < b.(*scalar.Timestamp).Value
	case *scalar.Float32:
		return a.Value < b.(*scalar.Float32).Value
	case *scalar.Float64:
		return a.Value < b.(*scalar.Float64).Value
	case *scalar.Decimal128:
		return a.Value.Less(b.(*scalar.Decimal128).Value)
	case *scalar.String:
		return a.String() < b.(*scalar.String).String()
	}
	return false
}

// Missing returns the plan leaves (indexes into StatsPlan.Leaves) whose null count, or whose
// bounds (for a MinMax leaf that holds a value), the footer did not give: the caller computes them
// from the file's rows and sets them with SetNullCount and SetBounds.
func (s *FileStats) Missing() []int {
	var out []int
	for i, l := range s.leaves {
		min := s.plan.leaves[i].minMax
		if !l.nullsKnown || min && !l.boundsKnown && l.nulls < s.NumRecords {
			out = append(out, i)
		}
	}
	return out
}

// SetNullCount records the null count of leaf i.
func (s *FileStats) SetNullCount(i int, n int64) {
	s.leaves[i].nulls, s.leaves[i].nullsKnown = n, true
}

// SetBounds records the minimum and maximum of leaf i (nil, nil when it holds no value; NaN is
// not a bound). The scalars must have the Arrow type of the leaf's Delta type
// (delta.ToArrowType).
func (s *FileStats) SetBounds(i int, lo, hi scalar.Scalar) {
	s.leaves[i].lo, s.leaves[i].hi, s.leaves[i].boundsKnown = lo, hi, true
}

// JSON renders the statistics as the add action's stats string, exactly as WriteDataFiles would
// for a file holding the same rows: numRecords; nullCount for every leaf whose count is known;
// minValues and maxValues for MinMax leaves with known bounds that JSON can carry (not NaN nor
// infinite), strings truncated to delta.DefaultStatsStringPrefix characters.
func (s *FileStats) JSON() (string, error) {
	st := &delta.Stats{NumRecords: s.NumRecords}
	for i, l := range s.plan.leaves {
		fl := &s.leaves[i]
		if fl.nullsKnown {
			st.NullCount = setPath(st.NullCount, l.path, fl.nulls)
		}
		if !l.minMax || !fl.boundsKnown || fl.lo == nil || fl.hi == nil {
			continue
		}
		if v, ok := delta.StatsValue(fl.lo); ok {
			if str, isStr := v.(string); isStr && l.typ == delta.TypeString {
				v = delta.TruncateMinString(str, delta.DefaultStatsStringPrefix)
			}
			st.MinValues = setPath(st.MinValues, l.path, v)
		}
		if v, ok := delta.StatsValue(fl.hi); ok {
			if str, isStr := v.(string); isStr && l.typ == delta.TypeString {
				v = delta.TruncateMaxString(str, delta.DefaultStatsStringPrefix)
			}
			st.MaxValues = setPath(st.MaxValues, l.path, v)
		}
	}
	return st.JSON()
}

// DecimalScalar returns the decimal scalar of Delta type t for an unscaled value (for callers
// that compute bounds as big integers).
func DecimalScalar(unscaled *big.Int, t *delta.DecimalType) (scalar.Scalar, error) {
	n := decimal128.FromBigInt(unscaled)
	if n.BigInt().Cmp(unscaled) != 0 {
		return nil, fmt.Errorf("%w: %s does not fit %s", delta.ErrInvalidArgument, unscaled, t)
	}
	return scalar.NewDecimal128Scalar(n, delta.ToArrowType(t)), nil
}
