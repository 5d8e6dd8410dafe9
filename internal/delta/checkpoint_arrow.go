package delta

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// checkpointColumns are the top-level checkpoint columns replay needs.
var checkpointColumns = []string{"protocol", "metaData", "add", "remove", "txn", "domainMetadata", "checkpointMetadata", "sidecar"}

// structView gives by-name access to the children of a struct array. Checkpoints written by
// different engines differ in which optional fields exist and in integer widths, so every accessor
// tolerates a missing field (returning ok=false) and any integer type.
type structView struct {
	arr    *array.Struct
	fields map[string]arrow.Array
	subs   map[string]*structView // cached views of struct children
}

func newStructView(a arrow.Array) *structView {
	s, ok := a.(*array.Struct)
	if !ok {
		return nil
	}
	v := &structView{arr: s, fields: map[string]arrow.Array{}}
	st := s.DataType().(*arrow.StructType)
	for i, f := range st.Fields() {
		v.fields[f.Name] = s.Field(i)
	}
	return v
}

func (v *structView) valid(i int) bool { return v != nil && v.arr.IsValid(i) }

func (v *structView) sub(name string) *structView {
	if v == nil {
		return nil
	}
	if sv, ok := v.subs[name]; ok {
		return sv
	}
	sv := newStructView(v.fields[name])
	if v.subs == nil {
		v.subs = map[string]*structView{}
	}
	v.subs[name] = sv
	return sv
}

func (v *structView) str(name string, i int) (string, bool) {
	a := v.fields[name]
	if a == nil || a.IsNull(i) {
		return "", false
	}
	switch a := a.(type) {
	case *array.String:
		return a.Value(i), true
	case *array.LargeString:
		return a.Value(i), true
	case *array.StringView:
		return a.Value(i), true
	case *array.Binary:
		return string(a.Value(i)), true
	case *array.LargeBinary:
		return string(a.Value(i)), true
	}
	return "", false
}

func (v *structView) i64(name string, i int) (int64, bool) {
	a := v.fields[name]
	if a == nil || a.IsNull(i) {
		return 0, false
	}
	switch a := a.(type) {
	case *array.Int64:
		return a.Value(i), true
	case *array.Int32:
		return int64(a.Value(i)), true
	case *array.Int16:
		return int64(a.Value(i)), true
	case *array.Int8:
		return int64(a.Value(i)), true
	case *array.Uint64:
		return int64(a.Value(i)), true
	case *array.Uint32:
		return int64(a.Value(i)), true
	case *array.Timestamp:
		return int64(a.Value(i)), true
	}
	return 0, false
}

func (v *structView) optI64(name string, i int) *int64 {
	if n, ok := v.i64(name, i); ok {
		return &n
	}
	return nil
}

func (v *structView) boolean(name string, i int) (bool, bool) {
	a, ok := v.fields[name].(*array.Boolean)
	if !ok || a.IsNull(i) {
		return false, false
	}
	return a.Value(i), true
}

// strMap reads a map<string,string> (null values allowed) at row i.
func (v *structView) strMap(name string, i int) (map[string]string, bool) {
	a, ok := v.fields[name].(*array.Map)
	if !ok || a.IsNull(i) {
		return nil, false
	}
	start, end := a.ValueOffsets(i)
	if start == end {
		return map[string]string{}, true
	}
	keys, items := a.Keys(), a.Items()
	out := make(map[string]string, end-start)
	for j := int(start); j < int(end); j++ {
		k := stringAt(keys, j)
		if items.IsNull(j) {
			out[k] = ""
		} else {
			out[k] = stringAt(items, j)
		}
	}
	return out, true
}

func stringAt(a arrow.Array, i int) string {
	switch a := a.(type) {
	case *array.String:
		return a.Value(i)
	case *array.LargeString:
		return a.Value(i)
	case *array.Binary:
		return string(a.Value(i))
	}
	return fmt.Sprint(a.GetOneForMarshal(i))
}

func (v *structView) strList(name string, i int) ([]string, bool) {
	a, ok := v.fields[name].(*array.List)
	if !ok || a.IsNull(i) {
		return nil, false
	}
	start, end := a.ValueOffsets(i)
	vals := a.ListValues()
	out := make([]string, 0, end-start)
	for j := int(start); j < int(end); j++ {
		out = append(out, stringAt(vals, j))
	}
	return out, true
}

// json renders the field at row i as JSON (used for stats_parsed when no stats string exists).
func (v *structView) json(name string, i int) (string, bool) {
	a := v.fields[name]
	if a == nil || a.IsNull(i) {
		return "", false
	}
	b, err := json.Marshal(a.GetOneForMarshal(i))
	if err != nil {
		return "", false
	}
	return string(b), true
}

func (v *structView) deletionVector(i int) *DeletionVector {
	dv := v.sub("deletionVector")
	if !dv.valid(i) {
		return nil
	}
	out := &DeletionVector{}
	out.StorageType, _ = dv.str("storageType", i)
	out.PathOrInlineDV, _ = dv.str("pathOrInlineDv", i)
	if off, ok := dv.i64("offset", i); ok {
		o := int32(off)
		out.Offset = &o
	}
	size, _ := dv.i64("sizeInBytes", i)
	out.SizeInBytes = int32(size)
	out.Cardinality, _ = dv.i64("cardinality", i)
	return out
}

// actionsFromRecord converts checkpoint rows to actions. name is used in error messages.
//
// A damaged checkpoint can decode into arrays whose offsets point past their children (arrow-go's
// Parquet reader does not validate nested offsets, and its accessors panic on them: FuzzCheckpoint
// found a map whose entries lay beyond its keys). Such a panic while reading the arrays is a
// corrupt checkpoint, reported as ErrCorrupt like any other.
func actionsFromRecord(name string, rec arrow.RecordBatch) (out []Action, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("%w: %s: inconsistent arrays: %v", ErrCorrupt, name, r)
		}
	}()
	cols := map[string]*structView{}
	for i, f := range rec.Schema().Fields() {
		if sv := newStructView(rec.Column(i)); sv != nil {
			cols[f.Name] = sv
		}
	}
	n := int(rec.NumRows())
	out = make([]Action, 0, n)
	for i := 0; i < n; i++ {
		if c := cols["add"]; c.valid(i) {
			a := &Add{}
			a.Path, _ = c.str("path", i)
			if a.Path == "" {
				return nil, fmt.Errorf("%w: %s row %d: add without path", ErrCorrupt, name, i)
			}
			pv, _ := c.strMap("partitionValues", i)
			a.PartitionValues = pv
			if a.PartitionValues == nil {
				a.PartitionValues = PartitionValues{}
			}
			a.Size, _ = c.i64("size", i)
			a.ModificationTime, _ = c.i64("modificationTime", i)
			a.DataChange, _ = c.boolean("dataChange", i)
			if s, ok := c.str("stats", i); ok {
				a.Stats = s
			} else if s, ok := c.json("stats_parsed", i); ok {
				a.Stats = s
			}
			if tags, _ := c.strMap("tags", i); len(tags) > 0 {
				a.Tags = tags
			}
			a.DeletionVector = c.deletionVector(i)
			a.BaseRowID = c.optI64("baseRowId", i)
			a.DefaultRowCommitVersion = c.optI64("defaultRowCommitVersion", i)
			if s, ok := c.str("clusteringProvider", i); ok {
				a.ClusteringProvider = &s
			}
			out = append(out, Action{Add: a})
			continue
		}
		if c := cols["remove"]; c.valid(i) {
			r := &Remove{}
			r.Path, _ = c.str("path", i)
			if r.Path == "" {
				return nil, fmt.Errorf("%w: %s row %d: remove without path", ErrCorrupt, name, i)
			}
			r.DeletionTimestamp = c.optI64("deletionTimestamp", i)
			r.DataChange, _ = c.boolean("dataChange", i)
			if b, ok := c.boolean("extendedFileMetadata", i); ok {
				r.ExtendedFileMetadata = &b
			}
			if pv, ok := c.strMap("partitionValues", i); ok {
				r.PartitionValues = pv
			}
			r.Size = c.optI64("size", i)
			r.DeletionVector = c.deletionVector(i)
			r.BaseRowID = c.optI64("baseRowId", i)
			r.DefaultRowCommitVersion = c.optI64("defaultRowCommitVersion", i)
			out = append(out, Action{Remove: r})
			continue
		}
		if c := cols["metaData"]; c.valid(i) {
			m := &Metadata{}
			m.ID, _ = c.str("id", i)
			if s, ok := c.str("name", i); ok {
				m.Name = &s
			}
			if s, ok := c.str("description", i); ok {
				m.Description = &s
			}
			if f := c.sub("format"); f.valid(i) {
				m.Format.Provider, _ = f.str("provider", i)
				m.Format.Options, _ = f.strMap("options", i)
			}
			m.SchemaString, _ = c.str("schemaString", i)
			if m.SchemaString == "" {
				return nil, fmt.Errorf("%w: %s row %d: metaData without schemaString", ErrCorrupt, name, i)
			}
			m.PartitionColumns, _ = c.strList("partitionColumns", i)
			m.CreatedTime = c.optI64("createdTime", i)
			m.Configuration, _ = c.strMap("configuration", i)
			if m.Configuration == nil {
				m.Configuration = map[string]string{}
			}
			if m.PartitionColumns == nil {
				m.PartitionColumns = []string{}
			}
			out = append(out, Action{Metadata: m})
			continue
		}
		if c := cols["protocol"]; c.valid(i) {
			p := &Protocol{}
			r, _ := c.i64("minReaderVersion", i)
			w, _ := c.i64("minWriterVersion", i)
			p.MinReaderVersion, p.MinWriterVersion = int(r), int(w)
			p.ReaderFeatures, _ = c.strList("readerFeatures", i)
			p.WriterFeatures, _ = c.strList("writerFeatures", i)
			out = append(out, Action{Protocol: p})
			continue
		}
		if c := cols["txn"]; c.valid(i) {
			t := &Txn{}
			t.AppID, _ = c.str("appId", i)
			t.Version, _ = c.i64("version", i)
			t.LastUpdated = c.optI64("lastUpdated", i)
			out = append(out, Action{Txn: t})
			continue
		}
		if c := cols["domainMetadata"]; c.valid(i) {
			d := &DomainMetadata{}
			d.Domain, _ = c.str("domain", i)
			d.Configuration, _ = c.str("configuration", i)
			d.Removed, _ = c.boolean("removed", i)
			out = append(out, Action{DomainMetadata: d})
			continue
		}
		if c := cols["checkpointMetadata"]; c.valid(i) {
			m := &CheckpointMetadata{}
			m.Version, _ = c.i64("version", i)
			m.Tags, _ = c.strMap("tags", i)
			out = append(out, Action{CheckpointMetadata: m})
			continue
		}
		if c := cols["sidecar"]; c.valid(i) {
			s := &Sidecar{}
			s.Path, _ = c.str("path", i)
			s.SizeInBytes, _ = c.i64("sizeInBytes", i)
			s.ModificationTime, _ = c.i64("modificationTime", i)
			s.Tags, _ = c.strMap("tags", i)
			out = append(out, Action{Sidecar: s})
			continue
		}
	}
	return out, nil
}

// --- writing ---

var (
	strMapType = arrow.MapOfFields(arrow.Field{Name: "key", Type: arrow.BinaryTypes.String},
		arrow.Field{Name: "value", Type: arrow.BinaryTypes.String, Nullable: true})
	strListType = arrow.ListOfField(arrow.Field{Name: "element", Type: arrow.BinaryTypes.String, Nullable: true})
	dvType      = arrow.StructOf(
		arrow.Field{Name: "storageType", Type: arrow.BinaryTypes.String, Nullable: true},
		arrow.Field{Name: "pathOrInlineDv", Type: arrow.BinaryTypes.String, Nullable: true},
		arrow.Field{Name: "offset", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		arrow.Field{Name: "sizeInBytes", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		arrow.Field{Name: "cardinality", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	)
)

func nf(name string, t arrow.DataType) arrow.Field {
	return arrow.Field{Name: name, Type: t, Nullable: true}
}

// checkpointSchema is the Arrow schema of the checkpoints Strata writes (the protocol's "Checkpoint
// Schema", with stats as JSON strings). v2 adds the checkpointMetadata and sidecar columns.
func checkpointSchema(v2 bool) *arrow.Schema {
	fields := []arrow.Field{
		nf("txn", arrow.StructOf(nf("appId", arrow.BinaryTypes.String), nf("version", arrow.PrimitiveTypes.Int64),
			nf("lastUpdated", arrow.PrimitiveTypes.Int64))),
		nf("add", arrow.StructOf(nf("path", arrow.BinaryTypes.String), nf("partitionValues", strMapType),
			nf("size", arrow.PrimitiveTypes.Int64), nf("modificationTime", arrow.PrimitiveTypes.Int64),
			nf("dataChange", arrow.FixedWidthTypes.Boolean), nf("stats", arrow.BinaryTypes.String),
			nf("tags", strMapType), nf("deletionVector", dvType), nf("baseRowId", arrow.PrimitiveTypes.Int64),
			nf("defaultRowCommitVersion", arrow.PrimitiveTypes.Int64), nf("clusteringProvider", arrow.BinaryTypes.String))),
		nf("remove", arrow.StructOf(nf("path", arrow.BinaryTypes.String), nf("deletionTimestamp", arrow.PrimitiveTypes.Int64),
			nf("dataChange", arrow.FixedWidthTypes.Boolean), nf("extendedFileMetadata", arrow.FixedWidthTypes.Boolean),
			nf("partitionValues", strMapType), nf("size", arrow.PrimitiveTypes.Int64), nf("deletionVector", dvType),
			nf("baseRowId", arrow.PrimitiveTypes.Int64), nf("defaultRowCommitVersion", arrow.PrimitiveTypes.Int64))),
		nf("metaData", arrow.StructOf(nf("id", arrow.BinaryTypes.String), nf("name", arrow.BinaryTypes.String),
			nf("description", arrow.BinaryTypes.String),
			nf("format", arrow.StructOf(nf("provider", arrow.BinaryTypes.String), nf("options", strMapType))),
			nf("schemaString", arrow.BinaryTypes.String), nf("partitionColumns", strListType),
			nf("configuration", strMapType), nf("createdTime", arrow.PrimitiveTypes.Int64))),
		nf("protocol", arrow.StructOf(nf("minReaderVersion", arrow.PrimitiveTypes.Int32), nf("minWriterVersion", arrow.PrimitiveTypes.Int32),
			nf("readerFeatures", strListType), nf("writerFeatures", strListType))),
		nf("domainMetadata", arrow.StructOf(nf("domain", arrow.BinaryTypes.String), nf("configuration", arrow.BinaryTypes.String),
			nf("removed", arrow.FixedWidthTypes.Boolean))),
	}
	if v2 {
		fields = append(fields,
			nf("checkpointMetadata", arrow.StructOf(nf("version", arrow.PrimitiveTypes.Int64), nf("tags", strMapType))),
			nf("sidecar", arrow.StructOf(nf("path", arrow.BinaryTypes.String), nf("sizeInBytes", arrow.PrimitiveTypes.Int64),
				nf("modificationTime", arrow.PrimitiveTypes.Int64), nf("tags", strMapType))))
	}
	return arrow.NewSchema(fields, nil)
}

// recordFromActions builds one checkpoint record batch. Each action fills its own column; the
// other columns of its row are null.
func recordFromActions(schema *arrow.Schema, actions []Action) (arrow.RecordBatch, error) {
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	col := map[string]*array.StructBuilder{}
	for i, f := range schema.Fields() {
		col[f.Name] = b.Field(i).(*array.StructBuilder)
	}
	for _, a := range actions {
		filled := ""
		switch {
		case a.Txn != nil:
			filled = "txn"
			appendStruct(col["txn"], a.Txn.AppID, a.Txn.Version, a.Txn.LastUpdated)
		case a.Add != nil:
			filled = "add"
			x := a.Add
			appendStruct(col["add"], x.Path, map[string]string(x.PartitionValues), x.Size, x.ModificationTime, x.DataChange,
				optStr(x.Stats), x.Tags, x.DeletionVector, x.BaseRowID, x.DefaultRowCommitVersion, x.ClusteringProvider)
		case a.Remove != nil:
			filled = "remove"
			x := a.Remove
			var pv map[string]string
			if x.PartitionValues != nil {
				pv = x.PartitionValues
			}
			appendStruct(col["remove"], x.Path, x.DeletionTimestamp, x.DataChange, x.ExtendedFileMetadata, pv, x.Size,
				x.DeletionVector, x.BaseRowID, x.DefaultRowCommitVersion)
		case a.Metadata != nil:
			filled = "metaData"
			x := a.Metadata
			appendStruct(col["metaData"], x.ID, x.Name, x.Description, formatValue{x.Format}, x.SchemaString,
				stringList(x.PartitionColumns), x.Configuration, x.CreatedTime)
		case a.Protocol != nil:
			filled = "protocol"
			x := a.Protocol
			var rf, wf any
			if x.MinReaderVersion >= 3 {
				rf = stringList(nonNil(x.ReaderFeatures))
			}
			if x.MinWriterVersion >= 7 {
				wf = stringList(nonNil(x.WriterFeatures))
			}
			appendStruct(col["protocol"], int32(x.MinReaderVersion), int32(x.MinWriterVersion), rf, wf)
		case a.DomainMetadata != nil:
			filled = "domainMetadata"
			x := a.DomainMetadata
			appendStruct(col["domainMetadata"], x.Domain, x.Configuration, x.Removed)
		case a.CheckpointMetadata != nil:
			filled = "checkpointMetadata"
			appendStruct(col["checkpointMetadata"], a.CheckpointMetadata.Version, a.CheckpointMetadata.Tags)
		case a.Sidecar != nil:
			filled = "sidecar"
			x := a.Sidecar
			appendStruct(col["sidecar"], x.Path, x.SizeInBytes, x.ModificationTime, x.Tags)
		default:
			continue
		}
		if col[filled] == nil {
			return nil, fmt.Errorf("delta: checkpoint schema has no %s column", filled)
		}
		for name, sb := range col {
			if name != filled {
				sb.AppendNull()
			}
		}
	}
	return b.NewRecordBatch(), nil
}

type formatValue struct{ f Format }
type stringList []string

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func optStr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// appendStruct appends one valid struct whose fields take the given values in order.
func appendStruct(sb *array.StructBuilder, values ...any) {
	sb.Append(true)
	for i, v := range values {
		appendValue(sb.FieldBuilder(i), v)
	}
}

func appendValue(b array.Builder, v any) {
	switch v := v.(type) {
	case nil:
		b.AppendNull()
	case string:
		b.(*array.StringBuilder).Append(v)
	case *string:
		if v == nil {
			b.AppendNull()
		} else {
			b.(*array.StringBuilder).Append(*v)
		}
	case int64:
		b.(*array.Int64Builder).Append(v)
	case *int64:
		if v == nil {
			b.AppendNull()
		} else {
			b.(*array.Int64Builder).Append(*v)
		}
	case int32:
		b.(*array.Int32Builder).Append(v)
	case bool:
		b.(*array.BooleanBuilder).Append(v)
	case *bool:
		if v == nil {
			b.AppendNull()
		} else {
			b.(*array.BooleanBuilder).Append(*v)
		}
	case map[string]string:
		mb := b.(*array.MapBuilder)
		if v == nil {
			mb.AppendNull()
			return
		}
		mb.Append(true)
		kb, ib := mb.KeyBuilder().(*array.StringBuilder), mb.ItemBuilder().(*array.StringBuilder)
		for _, k := range sortedKeys(v) {
			kb.Append(k)
			if v[k] == "" {
				ib.AppendNull()
			} else {
				ib.Append(v[k])
			}
		}
	case stringList:
		lb := b.(*array.ListBuilder)
		lb.Append(true)
		vb := lb.ValueBuilder().(*array.StringBuilder)
		for _, s := range v {
			vb.Append(s)
		}
	case formatValue:
		sb := b.(*array.StructBuilder)
		opts := v.f.Options
		if opts == nil {
			opts = map[string]string{}
		}
		appendStruct(sb, v.f.Provider, opts)
	case *DeletionVector:
		sb := b.(*array.StructBuilder)
		if v == nil {
			sb.AppendNull()
			return
		}
		var off any
		if v.Offset != nil {
			off = *v.Offset
		}
		appendStruct(sb, v.StorageType, v.PathOrInlineDV, off, v.SizeInBytes, v.Cardinality)
	default:
		panic(fmt.Sprintf("delta: checkpoint builder: unexpected value %T", v))
	}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys) // keeps checkpoints reproducible
	return keys
}
