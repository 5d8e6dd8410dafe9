package parquetio

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/storage"
)

// memStore is an in-memory storage.Store for benchmarks, so that they measure encoding rather
// than the disk.
type memStore struct {
	mu   sync.Mutex // guards objs
	objs map[string][]byte
}

func newMemStore() *memStore { return &memStore{objs: map[string][]byte{}} }

func (m *memStore) Get(_ context.Context, key string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.objs[key]
	if !ok {
		return nil, fmt.Errorf("%s: %w", key, storage.ErrNotFound)
	}
	return b, nil
}

func (m *memStore) GetRange(ctx context.Context, key string, off, n int64) ([]byte, error) {
	b, err := m.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	if off >= int64(len(b)) {
		return nil, nil
	}
	return b[off:min(off+n, int64(len(b)))], nil
}

func (m *memStore) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	b, err := m.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func (m *memStore) Put(_ context.Context, key string, data []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.objs[key] = append([]byte(nil), data...)
	return nil
}

func (m *memStore) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.objs[key]; ok {
		return fmt.Errorf("%s: %w", key, storage.ErrExists)
	}
	m.objs[key] = append([]byte(nil), data...)
	return nil
}

func (m *memStore) List(_ context.Context, prefix, startAfter string) ([]storage.ObjectInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []storage.ObjectInfo
	for k, v := range m.objs {
		if strings.HasPrefix(k, prefix) && k > startAfter {
			out = append(out, storage.ObjectInfo{Key: k, Size: int64(len(v))})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

func (m *memStore) Delete(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.objs, key)
	return nil
}

func (m *memStore) Stat(ctx context.Context, key string) (storage.ObjectInfo, error) {
	b, err := m.Get(ctx, key)
	if err != nil {
		return storage.ObjectInfo{}, err
	}
	return storage.ObjectInfo{Key: key, Size: int64(len(b)), ModTime: time.Now()}, nil
}

func (m *memStore) URL() string { return "mem://" }

const benchSchema = `{"type":"struct","fields":[
 {"name":"id","type":"long","nullable":false,"metadata":{}},
 {"name":"user","type":"string","nullable":true,"metadata":{}},
 {"name":"amount","type":"double","nullable":true,"metadata":{}},
 {"name":"ts","type":"timestamp","nullable":true,"metadata":{}},
 {"name":"qty","type":"integer","nullable":true,"metadata":{}},
 {"name":"country","type":"string","nullable":true,"metadata":{}}]}`

// benchBatches builds rows rows of benchSchema in batches of 64Ki rows.
func benchBatches(b *testing.B, schema *arrow.Schema, rows int) ([]arrow.RecordBatch, int64) {
	countries := []string{"ES", "MX", "AR", "CO", "CL", "PE", "US", "FR"}
	var out []arrow.RecordBatch
	var size int64
	for start := 0; start < rows; start += DefaultBatchRows {
		n := min(DefaultBatchRows, rows-start)
		id := array.NewInt64Builder(memory.DefaultAllocator)
		user := array.NewStringBuilder(memory.DefaultAllocator)
		amount := array.NewFloat64Builder(memory.DefaultAllocator)
		ts := array.NewTimestampBuilder(memory.DefaultAllocator, schema.Field(3).Type.(*arrow.TimestampType))
		qty := array.NewInt32Builder(memory.DefaultAllocator)
		country := array.NewStringBuilder(memory.DefaultAllocator)
		for i := start; i < start+n; i++ {
			id.Append(int64(i))
			user.Append(fmt.Sprintf("user-%07d", (i*7919)%1_000_000))
			if i%50 == 0 {
				amount.AppendNull()
			} else {
				amount.Append(float64((i*31)%100000) / 100)
			}
			ts.Append(arrow.Timestamp(1_700_000_000_000_000 + int64(i)*1_000_003))
			qty.Append(int32(i % 17))
			country.Append(countries[i%len(countries)])
		}
		cols := []arrow.Array{id.NewArray(), user.NewArray(), amount.NewArray(), ts.NewArray(), qty.NewArray(), country.NewArray()}
		rec := array.NewRecordBatch(schema, cols, int64(n))
		size += arrowBytes(rec)
		out = append(out, rec)
	}
	return out, size
}

const benchRows = 2_000_000

// BenchmarkWriteDataFiles measures WriteDataFiles (statistics, file naming, Put) on 2M rows of a
// 6-column schema, unpartitioned and partitioned by a low-cardinality column. Compare with
// BenchmarkPlainParquet for the Delta overhead.
func BenchmarkWriteDataFiles(b *testing.B) {
	schema := mustSchema(b, benchSchema)
	logical := delta.ToArrowSchema(schema)
	batches, size := benchBatches(b, logical, benchRows)
	for _, part := range [][]string{nil, {"country"}} {
		b.Run(fmt.Sprintf("partitions=%v", part), func(b *testing.B) {
			b.SetBytes(size)
			b.ReportAllocs()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				rr, _ := array.NewRecordReader(logical, batches)
				files, err := WriteDataFiles(context.Background(), newMemStore(), rr, WriteOptions{Schema: schema, PartitionColumns: part})
				if err != nil {
					b.Fatal(err)
				}
				if i == 0 {
					var n int64
					for _, f := range files {
						n += f.Size
					}
					b.ReportMetric(float64(n), "file-bytes")
				}
			}
			b.ReportMetric(float64(benchRows)*float64(b.N)/time.Since(start).Seconds(), "rows/s")
		})
	}
}

// BenchmarkPlainParquet writes the same records with plain pqarrow to one in-memory file, with
// the same codec and properties.
func BenchmarkPlainParquet(b *testing.B) {
	schema := mustSchema(b, benchSchema)
	logical := delta.ToArrowSchema(schema)
	batches, size := benchBatches(b, logical, benchRows)
	c, _ := parseCodec("zstd")
	b.SetBytes(size)
	b.ReportAllocs()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		var buf bytes.Buffer
		fw, err := pqarrow.NewFileWriter(logical, &buf, writerProps(c, logical), pqarrow.DefaultWriterProps())
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range batches {
			if err := fw.WriteBuffered(r); err != nil {
				b.Fatal(err)
			}
		}
		if err := fw.Close(); err != nil {
			b.Fatal(err)
		}
		if i == 0 {
			b.ReportMetric(float64(buf.Len()), "file-bytes")
		}
	}
	b.ReportMetric(float64(benchRows)*float64(b.N)/time.Since(start).Seconds(), "rows/s")
}

// BenchmarkReadDataFile measures reading a 2M-row data file back into the table schema.
func BenchmarkReadDataFile(b *testing.B) {
	schema := mustSchema(b, benchSchema)
	logical := delta.ToArrowSchema(schema)
	batches, size := benchBatches(b, logical, benchRows)
	store := newMemStore()
	rr, _ := array.NewRecordReader(logical, batches)
	files, err := WriteDataFiles(context.Background(), store, rr, WriteOptions{Schema: schema})
	if err != nil {
		b.Fatal(err)
	}
	want := delta.PhysicalArrowSchema(schema)
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, f := range files {
			r, err := ReadDataFile(context.Background(), store, f.Key, f.Size, want, MatchByName)
			if err != nil {
				b.Fatal(err)
			}
			for {
				rec, err := r.Next(context.Background())
				if err == io.EOF {
					break
				}
				if err != nil {
					b.Fatal(err)
				}
				rec.Release()
			}
			r.Close()
		}
	}
}
