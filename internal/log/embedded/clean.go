package embedded

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"

	"github.com/stratalake/strata/internal/log"
)

// Clean applies retention and compaction to every topic now, as of the log's clock, and returns
// when done (see the package doc for the rules). Cancelling ctx stops it between segments;
// whatever was removed by then stays removed and counted.
func (l *Log) Clean(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return l.clean(ctx, true)
}

// clean runs one cleaning pass. force compacts every compacted partition; otherwise only those
// with at least half of their bytes written since their last compaction.
func (l *Log) clean(ctx context.Context, force bool) error {
	l.cleanMu.Lock()
	defer l.cleanMu.Unlock()
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return log.ErrClosed
	}
	topics := make([]*topic, 0, len(l.topics))
	for _, t := range l.topics {
		t.ops.Add(1)
		topics = append(topics, t)
	}
	l.mu.RUnlock()
	defer func() {
		for _, t := range topics {
			t.ops.Done()
		}
	}()
	sort.Slice(topics, func(i, j int) bool { return topics[i].name < topics[j].name })
	var errs []error
	for _, t := range topics {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		errs = append(errs, l.cleanTopic(ctx, t, force))
	}
	return errors.Join(errs...)
}

// cleanTopic cleans a topic's partitions and adds what they removed to its counters.
func (l *Log) cleanTopic(ctx context.Context, t *topic, force bool) error {
	cfg := t.cfg
	if cfg.Retention == (log.Retention{}) && !cfg.Compact {
		return nil
	}
	now := l.opts.clock()
	var delta log.Removal
	var errs []error
	for _, p := range t.parts {
		hold := int64(math.MaxInt64)
		if !cfg.DeleteUncommitted {
			if n, ok := l.groups.minCommitted(t.name, p.id); ok {
				hold = n
			}
		}
		var err error
		if cfg.Retention.Time > 0 {
			err = p.retainByTime(ctx, now.Add(-cfg.Retention.Time).UnixMilli(), hold, &delta)
		}
		if err == nil && cfg.Retention.Bytes > 0 {
			err = p.retainBySize(ctx, cfg.Retention.Bytes, hold, &delta)
		}
		if err == nil && cfg.Compact {
			err = p.compactIfDirty(ctx, now.Add(-cfg.TombstoneRetention).UnixMilli(), hold, force, &delta)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("embedded log: clean %v: %w", p, err))
		}
	}
	errs = append(errs, t.addRemoved(delta))
	return errors.Join(errs...)
}

// requestRoll asks the writer to seal the active segment if it is still the one at base and
// holds records, and reports whether it did.
func (p *partition) requestRoll(ctx context.Context, base int64) (bool, error) {
	r := &writeReq{roll: true, rollBase: base, done: make(chan writeResult, 1)}
	select {
	case p.reqs <- r:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	select {
	case res := <-r.done:
		return res.rolled, res.err
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// retainByTime removes the oldest segments while their newest record is older than cutoff (ms)
// and all their records are below hold. The active segment, when entirely expired, is sealed
// first (once per pass) and then considered like the others.
func (p *partition) retainByTime(ctx context.Context, cutoff, hold int64, rm *log.Removal) error {
	mayRoll := true
	for {
		views, _, _ := p.snapshot(math.MinInt64)
		rolled, err := p.expire(ctx, views, cutoff, hold, mayRoll, rm)
		releaseViews(views)
		if err != nil || !rolled {
			return err
		}
		mayRoll = false
	}
}

// expire is one retainByTime walk over views; rolled reports that it sealed the active segment
// and the walk must be redone.
func (p *partition) expire(ctx context.Context, views []segView, cutoff, hold int64, mayRoll bool, rm *log.Removal) (rolled bool, err error) {
	removed := false
	defer func() {
		if removed {
			if serr := syncDir(p.dir); err == nil {
				err = serr
			}
		}
	}()
	for i := range views {
		v := &views[i]
		if v.maxTime >= cutoff || (v.active && v.records == 0) {
			return false, nil
		}
		if v.end > hold {
			for j := i; j < len(views) && views[j].maxTime < cutoff; j++ {
				n, err := views[j].countFrom(hold)
				if err != nil {
					return false, err
				}
				rm.HeldBack += n
			}
			return false, nil
		}
		if v.active {
			if !mayRoll {
				return false, nil
			}
			return p.requestRoll(ctx, v.base)
		}
		if err := ctx.Err(); err != nil {
			return false, err
		}
		if err := p.removeOldest(v.seg); err != nil {
			return false, err
		}
		removed = true
		rm.ByTime += v.records
		rm.Bytes += v.size
	}
	return false, nil
}

// retainBySize removes the oldest sealed segments while the partition is larger than limit and
// all their records are below hold.
func (p *partition) retainBySize(ctx context.Context, limit, hold int64, rm *log.Removal) (err error) {
	views, _, _ := p.snapshot(math.MinInt64)
	defer releaseViews(views)
	total := int64(0)
	for _, v := range views {
		total += v.size
	}
	removed := false
	defer func() {
		if removed {
			if serr := syncDir(p.dir); err == nil {
				err = serr
			}
		}
	}()
	for i := 0; i < len(views)-1 && total > limit; i++ {
		v := &views[i]
		if v.end > hold {
			for j := i; j < len(views)-1 && total > limit; j++ {
				n, err := views[j].countFrom(hold)
				if err != nil {
					return err
				}
				rm.HeldBack += n
				total -= views[j].size
			}
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := p.removeOldest(v.seg); err != nil {
			return err
		}
		removed = true
		rm.BySize += v.records
		rm.Bytes += v.size
		total -= v.size
	}
	return nil
}
