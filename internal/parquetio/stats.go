package parquetio

import (
	"fmt"
	"math"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/scalar"

	"github.com/stratalake/strata/internal/delta"
)

// statLeaf is one column that gets statistics: a leaf of the data schema (a primitive, an array
// or a map), reached from top-level physical column col through struct children fieldIdx.
type statLeaf struct {
	path     []string // physical names, outermost first
	col      int
	fieldIdx []int
	typ      delta.DataType
	minMax   bool // Spark's skipping-eligible types: numbers, decimals, dates, timestamps, strings
}

// planStats chooses the columns that get statistics, as Spark's StatisticsCollection does: the
// columns named by statsColumns if any, else the first numIndexed leaves (0: the default 32; -1:
// all; below -1: none), where a struct counts as its leaves and an array or map as one leaf.
// fields are the data columns (partition columns excluded) in table order.
func planStats(fields []*delta.StructField, numIndexed int, statsColumns []string) ([]statLeaf, error) {
	var out []statLeaf
	var add func(f *delta.StructField, col int, path []string, idx []int)
	add = func(f *delta.StructField, col int, path []string, idx []int) {
		path = append(append([]string(nil), path...), f.PhysicalName())
		if st, ok := f.Type.(*delta.StructType); ok {
			for i, c := range st.Fields {
				add(c, col, path, append(append([]int(nil), idx...), i))
			}
			return
		}
		out = append(out, statLeaf{path: path, col: col, fieldIdx: idx, typ: f.Type, minMax: minMaxEligible(f.Type)})
	}
	if len(statsColumns) > 0 {
		sel := map[string]bool{} // lower-cased logical dotted paths selected
		for _, c := range statsColumns {
			parts, err := splitColumnPath(c)
			if err != nil {
				return nil, err
			}
			if !pathExists(fields, parts) {
				return nil, fmt.Errorf("%w: stats column %q is not a data column of the table", delta.ErrInvalidArgument, c)
			}
			sel[strings.ToLower(strings.Join(parts, "\x00"))] = true
		}
		var walk func(f *delta.StructField, col int, logical []string, path []string, idx []int)
		walk = func(f *delta.StructField, col int, logical []string, path []string, idx []int) {
			logical = append(append([]string(nil), logical...), strings.ToLower(f.Name))
			if sel[strings.Join(logical, "\x00")] {
				add(f, col, path, idx)
				return
			}
			if st, ok := f.Type.(*delta.StructType); ok {
				path = append(append([]string(nil), path...), f.PhysicalName())
				for i, c := range st.Fields {
					walk(c, col, logical, path, append(append([]int(nil), idx...), i))
				}
			}
		}
		for i, f := range fields {
			walk(f, i, nil, nil, nil)
		}
		return out, nil
	}
	switch {
	case numIndexed == 0:
		numIndexed = DefaultNumIndexedCols
	case numIndexed == -1:
		numIndexed = math.MaxInt
	case numIndexed < -1:
		return nil, nil
	}
	for i, f := range fields {
		add(f, i, nil, nil)
	}
	if len(out) > numIndexed {
		out = out[:numIndexed]
	}
	return out, nil
}

func minMaxEligible(t delta.DataType) bool {
	if _, ok := t.(*delta.DecimalType); ok {
		return true
	}
	switch t {
	case delta.TypeByte, delta.TypeShort, delta.TypeInteger, delta.TypeLong, delta.TypeFloat, delta.TypeDouble,
		delta.TypeDate, delta.TypeTimestamp, delta.TypeTimestampNTZ, delta.TypeString:
		return true
	}
	return false
}

// splitColumnPath splits "a.b" or "`a.b`.c" into its parts.
func splitColumnPath(s string) ([]string, error) {
	var parts []string
	var cur strings.Builder
	quoted := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '`' && quoted && i+1 < len(s) && s[i+1] == '`':
			cur.WriteByte('`')
			i++
		case c == '`':
			quoted = !quoted
		case c == '.' && !quoted:
			parts = append(parts, strings.TrimSpace(cur.String()))
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	if quoted {
		return nil, fmt.Errorf("%w: unbalanced backquote in stats column %q", delta.ErrInvalidArgument, s)
	}
	parts = append(parts, strings.TrimSpace(cur.String()))
	for _, p := range parts {
		if p == "" {
			return nil, fmt.Errorf("%w: empty name in stats column %q", delta.ErrInvalidArgument, s)
		}
	}
	return parts, nil
}

func pathExists(fields []*delta.StructField, parts []string) bool {
	st := &delta.StructType{Fields: fields}
	for i, p := range parts {
		f := st.Field(p)
		if f == nil {
			return false
		}
		if i == len(parts)-1 {
			return true
		}
		next, ok := f.Type.(*delta.StructType)
		if !ok {
			return false
		}
		st = next
	}
	return false
}

// statsAcc accumulates the statistics of one file. Not safe for concurrent use.
type statsAcc struct {
	leaves []statLeaf
	acc    []leafStats
}

// leafStats holds one leaf's running null count and bounds. Which bound fields are used depends
// on the Arrow type: integers, dates and timestamps in minI/maxI, floats in minF/maxF (NaN never
// counted), decimals in minD/maxD, strings (owned copies) in minS/maxS.
type leafStats struct {
	nulls      int64
	has        bool
	minI, maxI int64
	minF, maxF float64
	minD, maxD decimal128.Num
	minS, maxS string
}

func newStatsAcc(leaves []statLeaf) *statsAcc {
	return &statsAcc{leaves: leaves, acc: make([]leafStats, len(leaves))}
}

// update adds a batch of the file's physical data columns.
func (s *statsAcc) update(rec arrow.RecordBatch) {
	for i, l := range s.leaves {
		arr := rec.Column(l.col)
		var valid []bool
		for _, fi := range l.fieldIdx {
			st := arr.(*array.Struct)
			if st.NullN() > 0 {
				nv := make([]bool, st.Len())
				for r := range nv {
					nv[r] = st.IsValid(r) && (valid == nil || valid[r])
				}
				valid = nv
			}
			arr = st.Field(fi)
		}
		s.acc[i].update(arr, valid, l.minMax)
	}
}

func (ls *leafStats) update(arr arrow.Array, valid []bool, minMax bool) {
	n := arr.Len()
	present := func(i int) bool { return (valid == nil || valid[i]) && arr.IsValid(i) }
	if valid == nil {
		ls.nulls += int64(arr.NullN())
	} else {
		for i := 0; i < n; i++ {
			if !present(i) {
				ls.nulls++
			}
		}
	}
	if !minMax {
		return
	}
	allValid := valid == nil && arr.NullN() == 0
	switch a := arr.(type) {
	case *array.Int8:
		updateInts(ls, a.Int8Values(), allValid, present)
	case *array.Int16:
		updateInts(ls, a.Int16Values(), allValid, present)
	case *array.Int32:
		updateInts(ls, a.Int32Values(), allValid, present)
	case *array.Int64:
		updateInts(ls, a.Int64Values(), allValid, present)
	case *array.Date32:
		updateInts(ls, a.Date32Values(), allValid, present)
	case *array.Timestamp:
		updateInts(ls, a.TimestampValues(), allValid, present)
	case *array.Float32:
		updateFloats(ls, a.Float32Values(), present)
	case *array.Float64:
		updateFloats(ls, a.Float64Values(), present)
	case *array.Decimal128:
		for i := 0; i < n; i++ {
			if !allValid && !present(i) {
				continue
			}
			v := a.Value(i)
			if !ls.has {
				ls.minD, ls.maxD, ls.has = v, v, true
				continue
			}
			if v.Less(ls.minD) {
				ls.minD = v
			}
			if ls.maxD.Less(v) {
				ls.maxD = v
			}
		}
	case *array.String:
		lo, hi := -1, -1
		for i := 0; i < n; i++ {
			if !allValid && !present(i) {
				continue
			}
			if lo < 0 {
				lo, hi = i, i
				continue
			}
			v := a.Value(i)
			if v < a.Value(lo) {
				lo = i
			}
			if v > a.Value(hi) {
				hi = i
			}
		}
		if lo < 0 {
			return
		}
		if !ls.has {
			ls.minS, ls.maxS, ls.has = strings.Clone(a.Value(lo)), strings.Clone(a.Value(hi)), true
			return
		}
		if v := a.Value(lo); v < ls.minS {
			ls.minS = strings.Clone(v)
		}
		if v := a.Value(hi); v > ls.maxS {
			ls.maxS = strings.Clone(v)
		}
	}
}

type integer interface {
	~int8 | ~int16 | ~int32 | ~int64
}

func updateInts[T integer](ls *leafStats, vals []T, allValid bool, present func(int) bool) {
	if len(vals) == 0 {
		return
	}
	var lo, hi T
	found := false
	if allValid {
		lo, hi, found = vals[0], vals[0], true
		for _, v := range vals[1:] {
			if v < lo {
				lo = v
			}
			if v > hi {
				hi = v
			}
		}
	} else {
		for i, v := range vals {
			if !present(i) {
				continue
			}
			if !found {
				lo, hi, found = v, v, true
				continue
			}
			if v < lo {
				lo = v
			}
			if v > hi {
				hi = v
			}
		}
	}
	if !found {
		return
	}
	if !ls.has {
		ls.minI, ls.maxI, ls.has = int64(lo), int64(hi), true
		return
	}
	ls.minI = min(ls.minI, int64(lo))
	ls.maxI = max(ls.maxI, int64(hi))
}

func updateFloats[T float32 | float64](ls *leafStats, vals []T, present func(int) bool) {
	for i, v := range vals {
		f := float64(v)
		if math.IsNaN(f) || !present(i) {
			continue
		}
		if !ls.has {
			ls.minF, ls.maxF, ls.has = f, f, true
			continue
		}
		if f < ls.minF {
			ls.minF = f
		}
		if f > ls.maxF {
			ls.maxF = f
		}
	}
}

// json renders the statistics of a file of rows rows as the add action's stats string.
func (s *statsAcc) json(rows int64) (string, error) {
	st := &delta.Stats{NumRecords: rows}
	for i, l := range s.leaves {
		ls := &s.acc[i]
		st.NullCount = setPath(st.NullCount, l.path, ls.nulls)
		if !l.minMax || !ls.has {
			continue
		}
		lo, hi := ls.bounds(l.typ)
		if v, ok := delta.StatsValue(lo); ok {
			if str, isStr := v.(string); isStr && l.typ == delta.TypeString {
				v = delta.TruncateMinString(str, delta.DefaultStatsStringPrefix)
			}
			st.MinValues = setPath(st.MinValues, l.path, v)
		}
		if v, ok := delta.StatsValue(hi); ok {
			if str, isStr := v.(string); isStr && l.typ == delta.TypeString {
				v = delta.TruncateMaxString(str, delta.DefaultStatsStringPrefix)
			}
			st.MaxValues = setPath(st.MaxValues, l.path, v)
		}
	}
	return st.JSON()
}

// bounds returns the min and max as scalars of the leaf's Arrow type.
func (ls *leafStats) bounds(t delta.DataType) (lo, hi scalar.Scalar) {
	at := delta.ToArrowType(t)
	switch at := at.(type) {
	case *arrow.Int8Type:
		return scalar.NewInt8Scalar(int8(ls.minI)), scalar.NewInt8Scalar(int8(ls.maxI))
	case *arrow.Int16Type:
		return scalar.NewInt16Scalar(int16(ls.minI)), scalar.NewInt16Scalar(int16(ls.maxI))
	case *arrow.Int32Type:
		return scalar.NewInt32Scalar(int32(ls.minI)), scalar.NewInt32Scalar(int32(ls.maxI))
	case *arrow.Int64Type:
		return scalar.NewInt64Scalar(ls.minI), scalar.NewInt64Scalar(ls.maxI)
	case *arrow.Date32Type:
		return scalar.NewDate32Scalar(arrow.Date32(ls.minI)), scalar.NewDate32Scalar(arrow.Date32(ls.maxI))
	case *arrow.TimestampType:
		return scalar.NewTimestampScalar(arrow.Timestamp(ls.minI), at), scalar.NewTimestampScalar(arrow.Timestamp(ls.maxI), at)
	case *arrow.Float32Type:
		return scalar.NewFloat32Scalar(float32(ls.minF)), scalar.NewFloat32Scalar(float32(ls.maxF))
	case *arrow.Float64Type:
		return scalar.NewFloat64Scalar(ls.minF), scalar.NewFloat64Scalar(ls.maxF)
	case *arrow.Decimal128Type:
		return scalar.NewDecimal128Scalar(ls.minD, at), scalar.NewDecimal128Scalar(ls.maxD, at)
	case *arrow.StringType:
		return scalar.NewStringScalar(ls.minS), scalar.NewStringScalar(ls.maxS)
	}
	return nil, nil
}

// setPath stores v at the nested path of m (creating m and intermediate objects).
func setPath(m map[string]any, path []string, v any) map[string]any {
	if m == nil {
		m = map[string]any{}
	}
	cur := m
	for _, p := range path[:len(path)-1] {
		next, ok := cur[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			cur[p] = next
		}
		cur = next
	}
	cur[path[len(path)-1]] = v
	return m
}
