package core

import (
	"cmp"
	"container/heap"
	"fmt"
	"slices"
)

// DedupSpec describes deduplication within the watermark: the first on-time row of each dedup key
// passes, later rows with the same key are dropped while the key's state lives. A row is late,
// counted and routed to the late output, when its event time is below its lateness cutoff (the
// watermark of its partition from the rows before it, minus the allowed lateness: see Tracker).
// The state of a key is dropped once its first row's event time falls below the query watermark
// minus the allowed lateness; from then on a row with that key and the same event time is late
// (the cutoffs never fall below that one), so when duplicates carry the same event time (the key
// identifies the event) the result does not depend on how the input was cut into batches: the
// rows that pass are exactly one per key among the on-time rows. A row with an expired key and a
// later event time passes again as a new first occurrence.
type DedupSpec struct {
	// KeyColumns are the Row.Values columns whose values form the dedup key; empty means Row.Key.
	KeyColumns []int
}

func (s *DedupSpec) validate() error {
	for _, c := range s.KeyColumns {
		if c < 0 {
			return fmt.Errorf("dedup key column %d: %w", c, ErrInvalidConfig)
		}
	}
	return nil
}

// Deduplicator is the dedup operator.
//
// Invariants: every key in state has the event time of its first on-time row, which is
// >= the last ExpireBefore; byTime holds exactly the keys of seen, ordered by (event time, key),
// each sharing its bytes with the key of seen (state is held in memory once per key); the
// persisted 'D' entries are exactly seen.
type Deduplicator struct {
	spec   DedupSpec
	seen   map[string]int64
	byTime expiryHeap
	size   StateSize
}

// NewDeduplicator returns an empty dedup operator.
func NewDeduplicator(spec DedupSpec) (*Deduplicator, error) {
	if err := spec.validate(); err != nil {
		return nil, err
	}
	spec.KeyColumns = slices.Clone(spec.KeyColumns)
	return &Deduplicator{spec: spec, seen: map[string]int64{}}, nil
}

// Size returns the size of the persisted state.
func (d *Deduplicator) Size() StateSize { return d.size }

func (d *Deduplicator) key(r Row) ([]byte, error) {
	if len(d.spec.KeyColumns) == 0 {
		return r.Key, nil
	}
	var k []byte
	for _, c := range d.spec.KeyColumns {
		if c >= len(r.Values) {
			return nil, fmt.Errorf("row of %s at %d has %d values, dedup key needs column %d: %w", r.Partition, r.EventTime, len(r.Values), c, ErrProtocol)
		}
		// Length-prefixed canonical values: (1, "23") and (12, "3") differ; NULLs are equal.
		var enc []byte
		if !r.Values[c].IsNull() {
			enc = appendCanonical(nil, r.Values[c])
		}
		k = appendBytes(k, enc)
	}
	return k, nil
}

func dedupKey(key []byte) []byte { return append([]byte{sectionDedup}, key...) }

// Step passes the first on-time row of each key, drops repeats, routes late rows (those below
// their in.LateBefore cutoff), then drops the state of keys whose event time is below
// in.ExpireBefore.
func (d *Deduplicator) Step(in StepInput) (StepOutput, error) {
	var out StepOutput
	if err := in.check(); err != nil {
		return out, err
	}
	var ms mutationSet
	added := map[string]bool{}
	for i, r := range in.Rows {
		if in.late(i) {
			out.Late = append(out.Late, r)
			continue
		}
		k, err := d.key(r)
		if err != nil {
			return out, err
		}
		if _, dup := d.seen[string(k)]; dup {
			out.Duplicates++
			continue
		}
		ks := string(k) // one copy, shared by seen, byTime and added: the key is held once
		d.seen[ks] = r.EventTime
		heap.Push(&d.byTime, expiry{r.EventTime, ks})
		added[ks] = true
		sk, v := dedupKey(k), appendOrderedInt64(nil, r.EventTime)
		ms.put(sk, v)
		d.size.Entries++
		d.size.Bytes += int64(len(sk) + len(v))
		out.Rows = append(out.Rows, r)
	}
	for len(d.byTime) > 0 && d.byTime[0].time < in.ExpireBefore {
		e := heap.Pop(&d.byTime).(expiry)
		delete(d.seen, e.key)
		sk := dedupKey([]byte(e.key))
		if added[e.key] {
			ms.forget(sk) // never reached the store
		} else {
			ms.del(sk)
		}
		d.size.Entries--
		d.size.Bytes -= int64(len(sk) + 8)
	}
	out.Mutations = ms.sorted()
	return out, nil
}

// Load adds one persisted key (a key/value of the 'D' section) while rebuilding the operator from
// a full scan.
func (d *Deduplicator) Load(key, value []byte) error {
	if len(key) < 1 || key[0] != sectionDedup || len(value) != 8 {
		return fmt.Errorf("dedup state %q=%q: %w", key, value, ErrCorrupt)
	}
	k := string(key[1:])
	if _, ok := d.seen[k]; ok {
		return fmt.Errorf("dedup state %q loaded twice: %w", key, ErrCorrupt)
	}
	t := orderedInt64(value)
	d.seen[k] = t
	heap.Push(&d.byTime, expiry{t, k})
	d.size.Entries++
	d.size.Bytes += int64(len(key) + len(value))
	return nil
}

type expiry struct {
	time int64
	key  string
}

// expiryHeap is a min-heap by (time, key): keys expire in a deterministic order.
type expiryHeap []expiry

// Len, Less, Swap, Push and Pop implement heap.Interface.
func (h expiryHeap) Len() int { return len(h) }
func (h expiryHeap) Less(i, j int) bool {
	if c := cmp.Compare(h[i].time, h[j].time); c != 0 {
		return c < 0
	}
	return h[i].key < h[j].key
}
func (h expiryHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)   { *h = append(*h, x.(expiry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
