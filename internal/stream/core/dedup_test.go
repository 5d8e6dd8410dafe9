package core

import (
	"fmt"
	"math"
	"testing"
	"unsafe"
)

// TestDedupKeyHeldOnce: each key in a Deduplicator's state is held once in memory: the expiry
// heap's entry shares its bytes with the key of the seen map (the dedup state of a stream with a
// 10-minute watermark holds millions of keys: a second copy of each cost tens of bytes per key).
func TestDedupKeyHeldOnce(t *testing.T) {
	d, err := NewDeduplicator(DedupSpec{})
	if err != nil {
		t.Fatal(err)
	}
	var rows []Row
	for i := range 100 {
		rows = append(rows, Row{Partition: PartitionID{"t", 0}, EventTime: int64(i), Key: []byte(fmt.Sprintf("event-%08d", i%60))})
	}
	out, err := d.Step(StepInput{Rows: rows, ExpireBefore: math.MinInt64})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Rows) != 60 || out.Duplicates != 40 || len(d.seen) != 60 || len(d.byTime) != 60 {
		t.Fatalf("passed %d, duplicates %d, state %d/%d; want 60, 40, 60/60", len(out.Rows), out.Duplicates, len(d.seen), len(d.byTime))
	}
	data := map[string]*byte{}
	for k := range d.seen {
		data[k] = unsafe.StringData(k)
	}
	for _, e := range d.byTime {
		if p, ok := data[e.key]; !ok || p != unsafe.StringData(e.key) {
			t.Errorf("key %q: the heap holds its own copy", e.key)
		}
	}
}
