package embedded

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Group-commit bounds: the writer takes at most this many queued requests, or this many bytes of
// frames, into one write and one fsync.
const (
	maxGroupRequests = 1024
	maxGroupBytes    = 8 << 20
)

// writeReq is one request to a partition's writer: a produce (frame set) or a roll.
type writeReq struct {
	// frame is the encoded batch of a Produce call, without base offset and CRC: the writer
	// seals it once it assigned the offsets. count is its number of records (offsets).
	frame []byte
	count int

	// roll asks to seal the active segment if its base is rollBase and it holds records.
	roll     bool
	rollBase int64

	base int64            // set by the writer: the first offset assigned
	done chan writeResult // buffered (1): the writer never blocks on it
}

type writeResult struct {
	base   int64 // produce: first offset assigned
	rolled bool  // roll: whether the segment was sealed
	err    error
}

// writerState is the writer goroutine's view of the active segment, ahead of what it published.
type writerState struct {
	seg           *segment
	ix            *indexer // the active segment's indexes and summary, including unpublished writes
	idxF, tidxF   *os.File // append handles of the active segment's index files
	idxN, tidxN   int      // entries of ix already appended to them
	dirty         bool     // written, not yet fsynced (SyncInterval)
	err           error    // sticky: once set, every request fails with it
	buf           []byte   // reused write buffer
	pendingFrames int64    // bytes of the current run, not yet written
}

// runWriter serves the partition's requests until reqs is closed.
func (p *partition) runWriter() {
	defer close(p.writerDone)
	var timer *time.Timer
	var timerC <-chan time.Time
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		select {
		case r, ok := <-p.reqs:
			if !ok {
				p.shutdownWriter()
				return
			}
			group := []*writeReq{r}
			bytes := len(r.frame)
			closed := false
		drain:
			for len(group) < maxGroupRequests && bytes < maxGroupBytes {
				select {
				case r, ok := <-p.reqs:
					if !ok {
						closed = true
						break drain
					}
					group = append(group, r)
					bytes += len(r.frame)
				default:
					break drain
				}
			}
			p.writeGroup(group)
			if closed {
				p.shutdownWriter()
				return
			}
			if p.w.dirty && timerC == nil {
				timer = time.NewTimer(p.opts.syncEvery)
				timerC = timer.C
			}
		case <-timerC:
			timerC = nil
			if p.w.dirty && p.w.err == nil {
				p.syncActive()
			}
		}
	}
}

// writeGroup appends the produce requests of group in order, in as few writes as segment rolls
// allow, and serves its roll requests in their place.
func (p *partition) writeGroup(group []*writeReq) {
	w := p.w
	var run []*writeReq // produce requests for the active segment, not yet written
	w.pendingFrames = 0
	for _, r := range group {
		if w.err != nil {
			r.done <- writeResult{err: w.err}
			continue
		}
		if r.roll {
			run = p.flush(run)
			if w.err != nil {
				r.done <- writeResult{err: w.err}
				continue
			}
			res := writeResult{}
			if w.seg.base == r.rollBase && w.ix.size > 0 {
				res.err = p.roll()
				res.rolled = res.err == nil
			}
			r.done <- res
			continue
		}
		if size := w.ix.size + w.pendingFrames; size > 0 && size+int64(len(r.frame)) > p.opts.segmentBytes {
			run = p.flush(run)
			if w.err == nil {
				_ = p.roll()
			}
			if w.err != nil {
				r.done <- writeResult{err: w.err}
				continue
			}
		}
		run = append(run, r)
		w.pendingFrames += int64(len(r.frame))
	}
	p.flush(run)
}

// flush writes run to the active segment, fsyncs it under SyncEveryBatch, publishes it and
// answers its requests. It returns run emptied for reuse.
func (p *partition) flush(run []*writeReq) []*writeReq {
	if len(run) == 0 {
		return run
	}
	w := p.w
	defer func() { w.pendingFrames = 0 }()
	if w.err != nil {
		for _, r := range run {
			r.done <- writeResult{err: w.err}
		}
		return run[:0]
	}
	next, pos := w.ix.next, w.ix.size
	data := run[0].frame
	if len(run) > 1 {
		w.buf = w.buf[:0]
	}
	for _, r := range run {
		sealFrame(r.frame, next)
		r.base = next
		next += int64(r.count)
		if len(run) > 1 {
			w.buf = append(w.buf, r.frame...)
		}
	}
	if len(run) > 1 {
		data = w.buf
	}
	_, err := w.seg.f.WriteAt(data, pos)
	if err == nil && p.opts.syncEveryBatch() {
		err = w.seg.f.Sync()
	}
	if err != nil {
		err = fmt.Errorf("embedded log: %v: write %s at byte %d: %w", p, w.seg.logPath(), pos, err)
		_ = w.seg.f.Truncate(pos) // best effort: recovery truncates a torn tail anyway
		p.fail(err)
		for _, r := range run {
			r.done <- writeResult{err: err}
		}
		return run[:0]
	}
	for _, r := range run {
		h, herr := parseBatchHeader(r.frame)
		if herr != nil {
			panic(fmt.Sprintf("embedded log: writer built a bad frame: %v", herr))
		}
		w.ix.add(pos, &h)
		pos += h.size
	}
	if p.opts.syncEveryBatch() {
		if err := p.appendIndexFiles(); err != nil {
			p.fail(err) // the data is durable: answer this run, fail the next ones
		}
	} else {
		w.dirty = true
	}
	p.publish()
	for _, r := range run {
		r.done <- writeResult{base: r.base}
	}
	return run[:0]
}

// publish makes what the writer appended visible to readers and wakes waiting fetches.
func (p *partition) publish() {
	w := p.w
	p.mu.Lock()
	s := w.seg
	s.size, s.next, s.records, s.maxTime = w.ix.size, w.ix.next, w.ix.records, w.ix.maxTime
	s.idx, s.tidx = w.ix.idx, w.ix.tidx
	if w.ix.next != p.hw {
		p.hw = w.ix.next
		close(p.notify)
		p.notify = make(chan struct{})
	}
	p.mu.Unlock()
}

// appendIndexFiles appends the index entries not yet in the index files. Only call it once the
// log bytes the entries point to are fsynced.
func (p *partition) appendIndexFiles() error {
	w := p.w
	if len(w.ix.idx) > w.idxN {
		var b []byte
		for _, e := range w.ix.idx[w.idxN:] {
			b = appendIndexEntry(b, w.ix.base, e)
		}
		if _, err := w.idxF.Write(b); err != nil {
			return fmt.Errorf("embedded log: %v: append %s: %w", p, w.seg.indexPath(), err)
		}
		w.idxN = len(w.ix.idx)
	}
	if len(w.ix.tidx) > w.tidxN {
		var b []byte
		for _, e := range w.ix.tidx[w.tidxN:] {
			b = appendTimeEntry(b, w.ix.base, e)
		}
		if _, err := w.tidxF.Write(b); err != nil {
			return fmt.Errorf("embedded log: %v: append %s: %w", p, w.seg.timeIndexPath(), err)
		}
		w.tidxN = len(w.ix.tidx)
	}
	return nil
}

// syncActive fsyncs the active segment (SyncInterval) and then appends its pending index entries.
func (p *partition) syncActive() {
	w := p.w
	if err := w.seg.f.Sync(); err != nil {
		p.fail(fmt.Errorf("embedded log: %v: fsync %s: %w", p, w.seg.logPath(), err))
		return
	}
	w.dirty = false
	if err := p.appendIndexFiles(); err != nil {
		p.fail(err)
	}
}

// roll seals the active segment (fsyncing it and its indexes) and starts a new one at the next
// offset. Everything written must have been flushed.
func (p *partition) roll() error {
	w := p.w
	old := w.seg
	if err := old.f.Sync(); err != nil {
		return p.fail(fmt.Errorf("embedded log: %v: fsync %s: %w", p, old.logPath(), err))
	}
	w.dirty = false
	if err := p.appendIndexFiles(); err != nil {
		return p.fail(err)
	}
	for _, f := range []*os.File{w.idxF, w.tidxF} {
		err := f.Sync()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return p.fail(fmt.Errorf("embedded log: %v: seal index of segment %d: %w", p, old.base, err))
		}
	}
	w.idxF, w.tidxF = nil, nil

	base := w.ix.next
	seg, idxF, tidxF, err := createSegment(p.dir, base)
	if err == nil {
		err = syncDir(p.dir)
	}
	if err != nil {
		return p.fail(fmt.Errorf("embedded log: %v: start segment %d: %w", p, base, err))
	}
	p.mu.Lock()
	p.segs = append(append(make([]*segment, 0, len(p.segs)+1), p.segs...), seg)
	p.mu.Unlock()
	w.seg, w.idxF, w.tidxF, w.idxN, w.tidxN = seg, idxF, tidxF, 0, 0
	w.ix = newIndexer(base, p.opts.indexInterval)
	return nil
}

// createSegment creates the empty files of a new active segment and opens them.
func createSegment(dir string, base int64) (seg *segment, idxF, tidxF *os.File, err error) {
	name := filepath.Join(dir, segName(base))
	files := make([]*os.File, 0, 3)
	defer func() {
		if err != nil {
			for _, f := range files {
				_ = f.Close()
			}
		}
	}()
	for _, suffix := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
		flag := os.O_RDWR | os.O_CREATE | os.O_EXCL
		if suffix != logSuffix {
			flag = os.O_WRONLY | os.O_CREATE | os.O_EXCL | os.O_APPEND
		}
		f, err := os.OpenFile(name+suffix, flag, 0o644)
		if err != nil {
			return nil, nil, nil, err
		}
		files = append(files, f)
	}
	seg = &segment{base: base, dir: dir, f: files[0], next: base, maxTime: noTime}
	return seg, files[1], files[2], nil
}

// fail records the writer's sticky error and returns it.
func (p *partition) fail(err error) error {
	if p.w.err == nil {
		p.w.err = err
		p.opts.logger.Error("embedded log: partition writer failed; produce to it will fail until the log is reopened", "partition", p.String(), "err", err)
		p.mu.Lock()
		p.failed = err
		p.mu.Unlock()
	}
	return p.w.err
}

// shutdownWriter fsyncs what was written and closes the index files.
func (p *partition) shutdownWriter() {
	w := p.w
	if w.dirty && w.err == nil {
		p.syncActive()
	}
	var errs []error
	for _, f := range []*os.File{w.idxF, w.tidxF} {
		if f != nil {
			errs = append(errs, f.Close())
		}
	}
	if err := errors.Join(errs...); err != nil && w.err == nil {
		w.err = err
	}
}
