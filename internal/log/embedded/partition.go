package embedded

import (
	"fmt"
	"os"
	"sort"
	"sync"

	"github.com/stratalake/strata/internal/log"
)

// partition is one partition of a topic: its segments, its writer goroutine and the state
// readers see.
//
// Invariants: segs is never empty and ordered by base; the last segment is the active one; the
// records visible to readers are those below hw, all of them in segs, and under SyncEveryBatch
// all of them fsynced. hw only grows.
type partition struct {
	topic string
	id    int32
	dir   string
	opts  *options

	reqs       chan *writeReq // Produce calls and roll requests, served in order by the writer
	writerDone chan struct{}  // closed when the writer goroutine has returned
	w          *writerState   // owned by the writer goroutine (by recovery before it starts)

	// mu guards segs, hw, notify, failed, and the fields of the active segment that the writer
	// publishes (see segment).
	mu     sync.RWMutex
	segs   []*segment    // replaced, never modified in place, so a copy of the slice stays valid
	hw     int64         // offset after the last visible record slot
	notify chan struct{} // closed and replaced whenever hw moves (wakes waiting fetches)
	failed error         // the writer's sticky error, nil while healthy

	// cleanedTo is the offset below which the partition was compacted by this process. Owned by
	// the cleaner (Log.cleanMu).
	cleanedTo int64
}

func (p *partition) String() string { return fmt.Sprintf("topic %q partition %d", p.topic, p.id) }

// start launches the writer goroutine; recovery has set p.w and the segments.
func (p *partition) start() {
	p.reqs = make(chan *writeReq, 256)
	p.writerDone = make(chan struct{})
	p.notify = make(chan struct{})
	go p.runWriter()
}

// stop ends the writer goroutine (which fsyncs what it wrote) and closes the segment files.
// The caller guarantees that no Produce, Fetch or clean can reach the partition any more.
func (p *partition) stop() error {
	close(p.reqs)
	<-p.writerDone
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.segs {
		s.kill()
	}
	return p.w.err
}

// view returns a view of segment i of segs (the active one when last). Call with p.mu held.
func (p *partition) view(i int) segView {
	s := p.segs[i]
	v := segView{seg: s, base: s.base, size: s.size, records: s.records, maxTime: s.maxTime, idx: s.idx, tidx: s.tidx}
	if i == len(p.segs)-1 {
		v.end, v.active = p.hw, true
	} else {
		v.end = p.segs[i+1].base
	}
	s.acquire()
	return v
}

// snapshot returns views (referenced: call releaseViews) of the segments that may hold offsets >=
// from (all of them when from is at or below the earliest), with the earliest retained offset and
// the visible end.
func (p *partition) snapshot(from int64) (views []segView, earliest, hw int64) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	i := sort.Search(len(p.segs), func(i int) bool { return p.segs[i].base > from }) - 1
	i = max(i, 0)
	views = make([]segView, 0, len(p.segs)-i)
	for j := i; j < len(p.segs); j++ {
		views = append(views, p.view(j))
	}
	return views, p.segs[0].base, p.hw
}

func releaseViews(views []segView) {
	for i := range views {
		views[i].seg.release()
	}
}

// bounds returns the earliest retained offset, the visible end and the channel closed when the
// end next moves.
func (p *partition) bounds() (earliest, hw int64, notify <-chan struct{}) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.segs[0].base, p.hw, p.notify
}

// info describes the partition now.
func (p *partition) info() log.PartitionInfo {
	p.mu.RLock()
	defer p.mu.RUnlock()
	pi := log.PartitionInfo{Partition: p.id, Earliest: p.segs[0].base, Latest: p.hw}
	for _, s := range p.segs {
		pi.Bytes += s.size
		pi.Records += s.records
	}
	return pi
}

// rangeError builds the *log.OffsetRangeError for offset.
func (p *partition) rangeError(offset, earliest, hw int64) error {
	return &log.OffsetRangeError{Topic: p.topic, Partition: p.id, Offset: offset, Earliest: earliest, Latest: hw}
}

// removeSegment takes s out of the list (it must be the oldest: retention removes a prefix),
// deletes its files and kills it. The caller syncs the directory afterwards.
func (p *partition) removeOldest(s *segment) error {
	p.mu.Lock()
	if len(p.segs) < 2 || p.segs[0] != s {
		p.mu.Unlock()
		return fmt.Errorf("embedded log: %v: internal error: segment %d is not the oldest sealed one", p, s.base)
	}
	p.segs = append([]*segment(nil), p.segs[1:]...)
	p.mu.Unlock()
	err := s.removeFiles()
	s.kill()
	return err
}

// replaceSegments swaps the contiguous sealed segments old for repl (nil: just remove them).
func (p *partition) replaceSegments(old []*segment, repl *segment) error {
	p.mu.Lock()
	i := -1
	for j, s := range p.segs {
		if s == old[0] {
			i = j
			break
		}
	}
	if i < 0 || i+len(old) >= len(p.segs) {
		p.mu.Unlock()
		return fmt.Errorf("embedded log: %v: internal error: compacted segments %d.. not found", p, old[0].base)
	}
	for k, s := range old {
		if p.segs[i+k] != s {
			p.mu.Unlock()
			return fmt.Errorf("embedded log: %v: internal error: compacted segments not contiguous", p)
		}
	}
	segs := make([]*segment, 0, len(p.segs)-len(old)+1)
	segs = append(segs, p.segs[:i]...)
	if repl != nil {
		segs = append(segs, repl)
	}
	segs = append(segs, p.segs[i+len(old):]...)
	p.segs = segs
	p.mu.Unlock()
	for _, s := range old {
		s.kill()
	}
	return nil
}

// openSegmentFile opens a segment's .log for reading and, when rw, writing.
func openSegmentFile(path string, rw bool) (*os.File, error) {
	flag := os.O_RDONLY
	if rw {
		flag = os.O_RDWR
	}
	f, err := os.OpenFile(path, flag, 0)
	if err != nil {
		return nil, fmt.Errorf("embedded log: open segment: %w", err)
	}
	return f, nil
}
