package parquetio

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"

	"github.com/stratalake/strata/internal/delta"
)

// conform converts arr, read from the file as field have, into the wanted field's type. The result
// is a new reference the caller releases; arr is not released.
func conform(arr arrow.Array, have, want arrow.Field, mode MatchMode) (arrow.Array, error) {
	wt := want.Type
	if wt.ID() == arrow.NULL || arr.DataType().ID() == arrow.NULL {
		return array.MakeArrayOfNull(memory.DefaultAllocator, wt, arr.Len()), nil
	}
	switch wt := wt.(type) {
	case *arrow.StructType:
		src, ok := arr.(*array.Struct)
		if !ok {
			return nil, mismatch(have, want)
		}
		return conformStruct(src, wt, mode)
	case *arrow.ListType:
		switch src := arr.(type) {
		case *array.List:
			return conformList(src, src.DataType().(*arrow.ListType).ElemField(), wt, mode)
		case *array.LargeList:
			return castArray(arr, wt, have, want)
		}
		return nil, mismatch(have, want)
	case *arrow.MapType:
		switch src := arr.(type) {
		case *array.Map:
			return conformMap(src, src.ListValues().(*array.Struct), wt, mode)
		case *array.List:
			// A repeated key/value group without the MAP annotation reads as a list of structs.
			if ent, ok := src.ListValues().(*array.Struct); ok && ent.NumField() == 2 {
				return conformMap(src, ent, wt, mode)
			}
		}
		return nil, mismatch(have, want)
	}
	return conformPrimitive(arr, have, want)
}

func mismatch(have, want arrow.Field) error {
	return fmt.Errorf("%w: file has %s for %s, wanted %s", delta.ErrSchemaMismatch, have.Type, want.Name, want.Type)
}

// validity returns arr's validity bitmap realigned to offset 0 (nil when it has no nulls).
func validity(arr arrow.Array) *memory.Buffer {
	if arr.NullN() == 0 {
		return nil
	}
	d := arr.Data()
	bm := d.Buffers()[0]
	if d.Offset() == 0 {
		bm.Retain()
		return bm
	}
	out := memory.NewResizableBuffer(memory.DefaultAllocator)
	out.Resize(int(bitutil.BytesForBits(int64(arr.Len()))))
	bitutil.CopyBitmap(bm.Bytes(), d.Offset(), arr.Len(), out.Bytes(), 0)
	return out
}

func conformStruct(src *array.Struct, wt *arrow.StructType, mode MatchMode) (arrow.Array, error) {
	st := src.DataType().(*arrow.StructType)
	children := make([]arrow.ArrayData, wt.NumFields())
	defer func() {
		for _, c := range children {
			if c != nil {
				c.Release()
			}
		}
	}()
	for i, wf := range wt.Fields() {
		var c arrow.Array
		if j := matchArrowField(wf, st.Fields(), mode); j >= 0 {
			var err error
			if c, err = conform(src.Field(j), st.Field(j), wf, mode); err != nil {
				return nil, err
			}
		} else {
			c = array.MakeArrayOfNull(memory.DefaultAllocator, wf.Type, src.Len())
		}
		children[i] = c.Data()
		children[i].Retain()
		c.Release()
	}
	bm := validity(src)
	if bm != nil {
		defer bm.Release()
	}
	d := array.NewData(wt, src.Len(), []*memory.Buffer{bm}, children, src.NullN(), 0)
	defer d.Release()
	return array.MakeFromData(d), nil
}

func conformList(src *array.List, haveElem arrow.Field, wt *arrow.ListType, mode MatchMode) (arrow.Array, error) {
	vals, err := conform(src.ListValues(), haveElem, wt.ElemField(), mode)
	if err != nil {
		return nil, err
	}
	defer vals.Release()
	d := src.Data()
	d2 := array.NewData(wt, d.Len(), d.Buffers(), []arrow.ArrayData{vals.Data()}, d.NullN(), d.Offset())
	defer d2.Release()
	return array.MakeFromData(d2), nil
}

func conformMap(src arrow.Array, entries *array.Struct, wt *arrow.MapType, mode MatchMode) (arrow.Array, error) {
	est := entries.DataType().(*arrow.StructType)
	keys, err := conform(entries.Field(0), est.Field(0), wt.KeyField(), mode)
	if err != nil {
		return nil, err
	}
	defer keys.Release()
	items, err := conform(entries.Field(1), est.Field(1), wt.ItemField(), mode)
	if err != nil {
		return nil, err
	}
	defer items.Release()
	ebm := validity(entries)
	if ebm != nil {
		defer ebm.Release()
	}
	ed := array.NewData(wt.Elem(), entries.Len(), []*memory.Buffer{ebm}, []arrow.ArrayData{keys.Data(), items.Data()}, entries.NullN(), 0)
	defer ed.Release()
	d := src.Data()
	md := array.NewData(wt, d.Len(), d.Buffers()[:2], []arrow.ArrayData{ed}, d.NullN(), d.Offset())
	defer md.Release()
	return array.MakeFromData(md), nil
}

// conformPrimitive converts a primitive column.
func conformPrimitive(arr arrow.Array, have, want arrow.Field) (arrow.Array, error) {
	ht, wt := arr.DataType(), want.Type
	if arrow.TypeEqual(ht, wt) {
		arr.Retain()
		return arr, nil
	}
	switch wt := wt.(type) {
	case *arrow.TimestampType:
		switch src := arr.(type) {
		case *array.Timestamp:
			unit := ht.(*arrow.TimestampType).Unit
			return convertTimestamps(src, unit, wt), nil
		case *array.Date32:
			// date -> timestamp_ntz (type widening): midnight of the day.
			return mapFixed64(arr, wt, func(i int) int64 { return int64(src.Value(i)) * 86_400_000_000 }), nil
		}
	case *arrow.StringType:
		if ht.ID() == arrow.BINARY {
			return relabel(arr, wt), nil
		}
	case *arrow.BinaryType:
		if ht.ID() == arrow.STRING {
			return relabel(arr, wt), nil
		}
	}
	return castArray(arr, want.Type, have, want)
}

// castArray converts with arrow's safe casts (overflow and precision loss are errors).
func castArray(arr arrow.Array, to arrow.DataType, have, want arrow.Field) (arrow.Array, error) {
	out, err := compute.CastArray(context.Background(), arr, compute.SafeCastOptions(to))
	if err != nil {
		return nil, fmt.Errorf("%w: cannot convert %s to %s for %s: %v", delta.ErrSchemaMismatch, have.Type, want.Type, want.Name, err)
	}
	return out, nil
}

// relabel returns arr with another type of the same physical layout (binary <-> string).
func relabel(arr arrow.Array, t arrow.DataType) arrow.Array {
	d := arr.Data()
	d2 := array.NewData(t, d.Len(), d.Buffers(), nil, d.NullN(), d.Offset())
	defer d2.Release()
	return array.MakeFromData(d2)
}

// convertTimestamps converts timestamp values of unit to the wanted type's unit (flooring when
// dropping precision) and relabels the time zone.
func convertTimestamps(src *array.Timestamp, unit arrow.TimeUnit, wt *arrow.TimestampType) arrow.Array {
	if unit == wt.Unit {
		return relabel(src, wt)
	}
	mul, div := unitFactor(unit, wt.Unit)
	return mapFixed64(src, wt, func(i int) int64 {
		v := int64(src.Value(i))
		if div > 1 {
			q := v / div
			if v%div != 0 && v < 0 {
				q--
			}
			return q
		}
		return v * mul
	})
}

// unitFactor returns the multiplier or divisor from one time unit to another.
func unitFactor(from, to arrow.TimeUnit) (mul, div int64) {
	scale := map[arrow.TimeUnit]int64{arrow.Second: 1, arrow.Millisecond: 1e3, arrow.Microsecond: 1e6, arrow.Nanosecond: 1e9}
	f, t := scale[from], scale[to]
	if t >= f {
		return t / f, 1
	}
	return 1, f / t
}

// mapFixed64 builds an array of a 64-bit type (timestamp) from arr's validity and f(i).
func mapFixed64(arr arrow.Array, t arrow.DataType, f func(i int) int64) arrow.Array {
	n := arr.Len()
	buf := memory.NewResizableBuffer(memory.DefaultAllocator)
	buf.Resize(n * 8)
	vals := arrow.Int64Traits.CastFromBytes(buf.Bytes())
	for i := 0; i < n; i++ {
		if arr.IsValid(i) {
			vals[i] = f(i)
		}
	}
	bm := validity(arr)
	d := array.NewData(t, n, []*memory.Buffer{bm, buf}, nil, arr.NullN(), 0)
	buf.Release()
	if bm != nil {
		bm.Release()
	}
	defer d.Release()
	return array.MakeFromData(d)
}

// int96Column reads a top-level INT96 column directly, converting Impala/Spark INT96 timestamps
// (nanoseconds of the day and a Julian day) to microseconds without going through nanoseconds,
// so that dates far from 1970 (Spark writes 0001-01-01 and 9999-12-31) keep their values.
// Calendar rebasing of pre-1582 values written by Spark 2 is not applied.
type int96Column struct {
	pf       *file.Reader
	col      int
	rg       int   // next row group to open
	left     int64 // rows left in the current row group
	rdr      *file.Int96ColumnChunkReader
	optional bool
	vals     []parquet.Int96
	defs     []int16
}

func newInt96Column(pf *file.Reader, col int) (*int96Column, error) {
	c := &int96Column{pf: pf, col: col}
	descr := pf.MetaData().Schema.Column(col)
	if descr.MaxRepetitionLevel() > 0 || descr.MaxDefinitionLevel() > 1 {
		return nil, fmt.Errorf("nested INT96 column")
	}
	c.optional = descr.MaxDefinitionLevel() == 1
	return c, nil
}

// julianEpochDay is the Julian day number of 1970-01-01.
const julianEpochDay = 2_440_588

func (c *int96Column) next(n int64, wt *arrow.TimestampType) (arrow.Array, error) {
	b := array.NewTimestampBuilder(memory.DefaultAllocator, wt)
	defer b.Release()
	b.Reserve(int(n))
	mul, div := unitFactor(arrow.Microsecond, wt.Unit)
	for n > 0 {
		if c.left == 0 {
			if c.rg >= c.pf.NumRowGroups() {
				return nil, fmt.Errorf("INT96 column ends early")
			}
			rg := c.pf.RowGroup(c.rg)
			cr, err := rg.Column(c.col)
			if err != nil {
				return nil, err
			}
			c.rdr = cr.(*file.Int96ColumnChunkReader)
			c.left = rg.NumRows()
			c.rg++
			continue
		}
		want := min(n, c.left, DefaultBatchRows)
		if int64(len(c.vals)) < want {
			c.vals = make([]parquet.Int96, want)
			c.defs = make([]int16, want)
		}
		var defs []int16
		if c.optional {
			defs = c.defs[:want]
		}
		total, _, err := c.rdr.ReadBatch(want, c.vals[:want], defs, nil)
		if err != nil {
			return nil, err
		}
		if total == 0 {
			return nil, fmt.Errorf("INT96 column ends early")
		}
		vi := 0
		for i := int64(0); i < total; i++ {
			if c.optional && defs[i] == 0 {
				b.AppendNull()
				continue
			}
			v := c.vals[vi]
			vi++
			nanos := int64(binary.LittleEndian.Uint64(v[:8]))
			days := int64(binary.LittleEndian.Uint32(v[8:])) - julianEpochDay
			us := days*86_400_000_000 + nanos/1000
			if div > 1 {
				q := us / div
				if us%div != 0 && us < 0 {
					q--
				}
				us = q
			} else {
				us *= mul
			}
			b.Append(arrow.Timestamp(us))
		}
		n -= total
		c.left -= total
	}
	return b.NewArray(), nil
}
