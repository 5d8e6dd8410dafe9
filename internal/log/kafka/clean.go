package kafka

import (
	"context"
	"errors"
	"reflect"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// retentionInput is what the retention planner knows of one partition.
type retentionInput struct {
	earliest, latest int64
	// timeCutoff: the records below it are older than the time limit (the first offset whose
	// time-index timestamp is at or after now-Time); -1: no time limit.
	timeCutoff int64
	// sizeLimit: the partition may hold at most this many bytes; 0: no size limit.
	sizeLimit int64
	// commitLimit: the lowest offset any group committed for the partition; -1: none did.
	commitLimit int64
	// holdBack: the held-back rule applies (the topic is not DeleteUncommitted).
	holdBack bool
	// compact: the topic is compacted, so batches may hold fewer records than offsets.
	compact bool
	// batches are the partition's record batches from earliest on, covering [earliest, scannedTo).
	batches   []batchInfo
	scannedTo int64
}

// retentionPlan is what Clean does to one partition and what it counts.
type retentionPlan struct {
	// deleteTo is the new log start (earliest: nothing to delete).
	deleteTo int64
	// byTime, bySize: records removed because of the time limit (counted first) and of the
	// size limit; bytes: bytes of the batches that end below deleteTo.
	byTime, bySize, bytes int64
	// heldBack: records the retention would remove now but keeps for a group.
	heldBack int64
	// compacted: offsets in [earliest, deleteTo) that no longer held a record.
	compacted int64
	// gap: offsets in [deleteTo, latest) holding no record (only for compacted topics whose
	// batches cover the whole partition).
	gap int64
}

// planRetention decides how far a partition's log start moves and counts what that removes. Only
// the size limit needs batches (covering [earliest, latest)); counts use batches where they
// cover the range and offset arithmetic elsewhere (exact for uncompacted partitions).
func planRetention(in retentionInput) retentionPlan {
	e, l := in.earliest, max(in.latest, in.earliest)
	cut, timeCut := e, e
	if in.timeCutoff >= 0 {
		timeCut = min(max(in.timeCutoff, e), l)
		cut = timeCut
	}
	if in.sizeLimit > 0 {
		cut = max(cut, sizeCutoff(in.batches, e, in.sizeLimit))
	}
	held := cut
	if in.holdBack && in.commitLimit >= 0 {
		held = min(max(in.commitLimit, e), cut)
	}
	p := retentionPlan{deleteTo: held}
	count := func(a, b int64) int64 {
		if a >= b {
			return 0
		}
		if b <= in.scannedTo {
			return countRecords(in.batches, a, b)
		}
		return b - a
	}
	split := min(timeCut, held)
	p.byTime = count(e, split)
	p.bySize = count(split, held)
	p.heldBack = count(held, cut)
	for _, b := range in.batches {
		if b.last < held {
			p.bytes += b.bytes
		}
	}
	if in.compact {
		p.compacted = (held - e) - p.byTime - p.bySize
		if l <= in.scannedTo {
			p.gap = (l - held) - count(held, l)
		}
	}
	return p
}

// sizeCutoff returns the offset the log must start at for the batches from earliest on to hold at
// most limit bytes: whole batches are removed, oldest first, while the partition is larger than
// limit.
func sizeCutoff(batches []batchInfo, earliest, limit int64) int64 {
	var total int64
	for _, b := range batches {
		total += b.bytes
	}
	cut := earliest
	for _, b := range batches {
		if total <= limit {
			break
		}
		total -= b.bytes
		cut = max(cut, b.last+1)
	}
	return cut
}

// countRecords counts the records of batches in [a, b). A batch that holds as many records as
// its offset span is dense and counted exactly; a compacted one counts at most its records.
func countRecords(batches []batchInfo, a, b int64) int64 {
	var n int64
	for _, bt := range batches {
		if bt.last < a || bt.first >= b {
			continue
		}
		overlap := min(bt.last, b-1) - max(bt.first, a) + 1
		if span := bt.last - bt.first + 1; bt.records >= span {
			n += overlap
		} else {
			n += min(overlap, bt.records)
		}
	}
	return n
}

// Clean applies Strata's retention to every topic Strata created, now, as of the Log's clock
// (see the package doc): it reads the committed offsets of every group, computes each partition's
// cut-off, deletes records below it with DeleteRecords, and records what it removed and held
// back in the state topic. It cannot make the broker compact; it estimates what compaction
// removed. It fails, removing nothing from the topics not yet cleaned, when the groups'
// offsets cannot be read. Errors of single topics are joined. Only one Clean runs at a time
// per Log.
func (l *Log) Clean(ctx context.Context) error {
	if err := l.check("clean"); err != nil {
		return err
	}
	l.cleanMu.Lock()
	defer l.cleanMu.Unlock()
	if err := l.state.refresh(ctx, l); err != nil {
		return err
	}
	ms, err := l.loadMetadata(ctx, nil)
	if err != nil {
		return err
	}
	committed, err := l.groupOffsets(ctx)
	if err != nil {
		return err
	}
	limits := commitLimits(committed)
	now := l.opts.now()
	names := make([]string, 0, len(ms))
	for name, m := range ms {
		if !isInternal(m) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	var errs []error
	for _, name := range names {
		m := ms[name]
		st := l.state.get(name, m.id)
		if st == nil {
			continue // not Strata's: the broker's alone
		}
		if err := l.cleanTopic(ctx, m, st, limits[name], now); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// cleanTopic applies the retention of one topic and writes its state when it changed.
func (l *Log) cleanTopic(ctx context.Context, m *topicMeta, st *topicState, limits map[int32]int64, now time.Time) error {
	cfg := st.Config
	if cfg.RetentionTime <= 0 && cfg.RetentionBytes <= 0 && !cfg.Compact {
		return nil
	}
	parts := make([]int32, m.partitions())
	for i := range parts {
		parts[i] = int32(i)
	}
	earliest, latest, err := l.bounds(ctx, m.name, parts)
	if err != nil {
		return err
	}
	var timeCut map[int32]int64
	if cfg.RetentionTime > 0 {
		if ts := now.Add(-cfg.RetentionTime).UnixMilli(); ts > 0 {
			if timeCut, err = l.listOffsets(ctx, m.name, parts, ts, readUncommitted); err != nil {
				return err
			}
		}
	}

	next := st.clone()
	plans := make(map[int32]retentionPlan)
	deletes := make(kadm.Offsets)
	var heldBack int64
	for _, p := range parts {
		e, lt := earliest[p], latest[p]
		next.observeEarliest(p, e)
		ps := next.partition(p)
		in := retentionInput{earliest: e, latest: lt, timeCutoff: -1, commitLimit: -1,
			holdBack: !cfg.DeleteUncommitted, compact: cfg.Compact, scannedTo: e}
		if timeCut != nil {
			if in.timeCutoff = timeCut[p]; in.timeCutoff < 0 {
				in.timeCutoff = lt // no record that recent: all are older
			}
		}
		in.sizeLimit = cfg.RetentionBytes
		if c, ok := limits[p]; ok {
			in.commitLimit = c
		}
		full := cfg.Compact || cfg.RetentionBytes > 0
		if full && lt > e {
			if in.batches, err = l.scanBatches(ctx, m, p, e, lt); err != nil {
				return err
			}
			in.scannedTo = lt
		}
		plan := planRetention(in)
		if !full && plan.deleteTo > e {
			// Read what goes, for its bytes (and nothing else: held-back records are not read).
			if in.batches, err = l.scanBatches(ctx, m, p, e, plan.deleteTo); err != nil {
				return err
			}
			in.scannedTo = plan.deleteTo
			plan = planRetention(in)
		}
		heldBack += plan.heldBack
		if cfg.Compact && lt <= in.scannedTo {
			ps.Gap = plan.gap
		}
		if plan.deleteTo > e {
			plans[p] = plan
			if deletes[m.name] == nil {
				deletes[m.name] = make(map[int32]kadm.Offset)
			}
			deletes[m.name][p] = kadm.Offset{Topic: m.name, Partition: p, At: plan.deleteTo, LeaderEpoch: -1}
		}
	}
	next.Removed.HeldBack += heldBack

	var errs []error
	if len(deletes) > 0 {
		resp, err := l.adm.DeleteRecords(ctx, deletes)
		if err != nil && len(resp) == 0 {
			errs = append(errs, l.wrap(err, "delete records of topic %s", m.name))
		}
		for p, plan := range plans {
			r, err := resp.On(m.name, p, nil)
			if err == nil {
				err = r.Err
			}
			if err != nil {
				errs = append(errs, l.wrap(err, "delete records of topic %s partition %d below %d", m.name, p, plan.deleteTo))
				continue
			}
			ps := next.partition(p)
			next.Removed.ByTime += plan.byTime
			next.Removed.BySize += plan.bySize
			next.Removed.Bytes += plan.bytes
			ps.Compacted += plan.compacted
			ps.Earliest = max(r.LowWatermark, plan.deleteTo)
		}
	}
	if !reflect.DeepEqual(next, st) {
		if err := l.state.put(ctx, l, m.name, next); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// cleanLoop runs Clean every clean interval until the Log closes.
func (l *Log) cleanLoop() {
	t := time.NewTicker(l.opts.cleanInterval)
	defer t.Stop()
	for {
		select {
		case <-l.ctx.Done():
			return
		case <-t.C:
			if err := l.Clean(l.ctx); err != nil && l.opts.onCleanError != nil && !l.closed.Load() {
				l.opts.onCleanError(err)
			}
		}
	}
}
