package embedded

import (
	"context"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/stratalake/strata/internal/log"
)

const defaultFetchBytes = 1 << 20

// Fetch returns records of a partition from offset on, in offset order, skipping offsets whose
// records were removed, within opts: MaxBytes counts key and value bytes (one record is returned
// however large), MaxRecords records. At the end (or when only removed offsets remain) it waits
// up to MaxWait for a Produce; cancelling ctx ends the wait with ctx.Err(), closing the log with
// ErrClosed, deleting the topic with ErrUnknownTopic. Fetched records own their bytes. Every
// batch read is checked against its CRC: a mismatch is ErrCorrupt naming the file and position.
func (l *Log) Fetch(ctx context.Context, topicName string, partition int32, offset int64, opts log.FetchOptions) ([]log.Record, error) {
	t, p, err := l.acquirePartition(ctx, topicName, partition)
	if err != nil {
		return nil, err
	}
	defer t.ops.Done()
	maxBytes := opts.MaxBytes
	if maxBytes <= 0 {
		maxBytes = defaultFetchBytes
	}
	var timer *time.Timer
	for {
		earliest, hw, notify := p.bounds()
		if offset < earliest || offset > hw {
			return nil, p.rangeError(offset, earliest, hw)
		}
		if offset < hw {
			recs, err := p.read(offset, maxBytes, opts.MaxRecords)
			if err != nil || len(recs) > 0 {
				return recs, err
			}
		}
		if opts.MaxWait <= 0 {
			return nil, nil
		}
		if timer == nil {
			timer = time.NewTimer(opts.MaxWait)
			defer timer.Stop()
		}
		select {
		case <-notify:
		case <-timer.C:
			return nil, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-t.gone:
			if l.isClosed() {
				return nil, log.ErrClosed
			}
			return nil, fmt.Errorf("embedded log: topic %q: %w (deleted while fetching)", t.name, log.ErrUnknownTopic)
		}
	}
}

func (l *Log) isClosed() bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.closed
}

// read returns the visible records at or after offset within the bounds (none when every
// visible offset from there on was removed).
func (p *partition) read(offset int64, maxBytes, maxRecords int) ([]log.Record, error) {
	views, _, _ := p.snapshot(offset)
	defer releaseViews(views)
	var out []log.Record
	bytes := 0
	hw := views[len(views)-1].end
	for i := range views {
		v := &views[i]
		if v.size == 0 || v.end <= offset {
			continue
		}
		fr, _ := v.frames(offset, false, readChunk)
		for {
			pos, h, frame, err := fr.next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("embedded log: %v: fetch at offset %d: %w", p, offset, err)
			}
			if h.next() <= offset {
				continue
			}
			if out == nil {
				out = make([]log.Record, 0, fetchCapacity(&h, hw-offset, maxBytes, maxRecords))
			}
			stop := false
			err = forEachRecord(fr.file, pos, &h, frame, func(r *rawRecord) bool {
				off := h.base + int64(r.delta)
				if off < offset {
					return true
				}
				kv := len(r.key) + len(r.value)
				if len(out) > 0 && bytes+kv > maxBytes {
					stop = true
					return false
				}
				out = append(out, log.Record{
					Topic: p.topic, Partition: p.id, Offset: off, Key: r.key, Value: r.value,
					Headers: decodeHeaders(r.headers), Timestamp: time.UnixMilli(r.timeMs),
				})
				bytes += kv
				if maxRecords > 0 && len(out) >= maxRecords {
					stop = true
					return false
				}
				return true
			})
			if err != nil {
				return nil, fmt.Errorf("embedded log: %v: fetch at offset %d: %w", p, offset, err)
			}
			if stop {
				return out, nil
			}
		}
	}
	return out, nil
}

// fetchCapacity estimates how many records a fetch returns, from the first batch's mean record
// size, so that the result is allocated once.
func fetchCapacity(h *batchHeader, available int64, maxBytes, maxRecords int) int {
	mean := max((h.size-batchHeaderSize)/int64(h.count), 1)
	n := min(int64(maxBytes)/mean+1, available, 1<<16)
	if maxRecords > 0 {
		n = min(n, int64(maxRecords))
	}
	return int(max(n, 1))
}

// Offsets returns the earliest retained offset and the next offset to be written (visible).
func (l *Log) Offsets(ctx context.Context, topicName string, partition int32) (earliest, latest int64, err error) {
	t, p, err := l.acquirePartition(ctx, topicName, partition)
	if err != nil {
		return 0, 0, err
	}
	defer t.ops.Done()
	earliest, latest, _ = p.bounds()
	return earliest, latest, nil
}

// OffsetForTime returns the first offset whose record's timestamp is at or after ts (records
// keep milliseconds, so ts is rounded up to the next millisecond), or the latest offset when no
// record qualifies. It skips the segments whose newest record is older than ts, and inside a
// segment starts from the time index.
func (l *Log) OffsetForTime(ctx context.Context, topicName string, partition int32, ts time.Time) (int64, error) {
	t, p, err := l.acquirePartition(ctx, topicName, partition)
	if err != nil {
		return 0, err
	}
	defer t.ops.Done()
	target := ts.UnixMilli()
	if time.UnixMilli(target).Before(ts) {
		target++
	}
	views, _, hw := p.snapshot(math.MinInt64)
	defer releaseViews(views)
	for i := range views {
		v := &views[i]
		if v.records == 0 || v.maxTime < target {
			continue
		}
		start := v.base
		if off, ok := lookupTime(v.tidx, target); ok {
			start = off
		}
		fr, _ := v.frames(start, true, readChunk)
		for {
			pos, h, frame, err := fr.next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return 0, fmt.Errorf("embedded log: %v: offset for time: %w", p, err)
			}
			if h.maxTime < target {
				continue
			}
			found := int64(-1)
			err = forEachRecord(fr.file, pos, &h, frame, func(r *rawRecord) bool {
				if r.timeMs >= target {
					found = h.base + int64(r.delta)
					return false
				}
				return true
			})
			if err != nil {
				return 0, fmt.Errorf("embedded log: %v: offset for time: %w", p, err)
			}
			if found >= 0 {
				return found, nil
			}
		}
	}
	return hw, nil
}
