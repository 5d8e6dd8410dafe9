package core

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"maps"
	"math/big"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The changes of these tests have Row.Values [key, seq, del, name, city]; the target columns are
// key, seq (unless a case leaves the sequence out), name, city.

// tc is one change of a test: key, sequence, delete flag, name and city ("-" is NULL).
type tc struct {
	key  string
	seq  int64
	del  bool
	name string
	city string
}

func (c tc) String() string {
	if c.del {
		return fmt.Sprintf("%s@%d:del", c.key, c.seq)
	}
	return fmt.Sprintf("%s@%d:%s,%s", c.key, c.seq, c.name, c.city)
}

func nullable(s string) Value {
	if s == "-" {
		return Null()
	}
	return String(s)
}

// up and del build changes.
func up(key string, seq int64, name, city string) tc {
	return tc{key: key, seq: seq, name: name, city: city}
}
func del(key string, seq int64) tc { return tc{key: key, seq: seq, del: true} }

// seqValue maps a test sequence number to a value of the given kind (the order is kept).
func seqValue(kind Kind, seq int64) Value {
	switch kind {
	case KindString:
		return String(fmt.Sprintf("s%06d", seq))
	case KindDecimal:
		return Decimal(big.NewInt(seq*10+5), 1) // seq.5
	case KindFloat:
		return Float(float64(seq) / 4)
	}
	return Int(seq)
}

func (c tc) row(kind Kind) Row {
	d := Int(0)
	if c.del {
		d = Int(1)
	}
	return Row{Partition: PartitionID{"src", 0}, EventTime: NoWatermark,
		Values: []Value{String(c.key), seqValue(kind, c.seq), d, nullable(c.name), nullable(c.city)}}
}

func cdcSpec(scd int, ignoreNull, seqInTarget bool) CDCSpec {
	s := CDCSpec{KeyColumns: []int{0}, Sequence: 1, Delete: 2, Columns: []int{0, 1, 3, 4}, SCDType: scd, IgnoreNullUpdates: ignoreNull}
	if !seqInTarget {
		s.Columns = []int{0, 3, 4}
	}
	return s
}

// cdcTarget is a target table kept by applying CDCOutputs: key -> its rows, formatted.
type cdcTarget map[string][]string

func (t cdcTarget) apply(keys []CDCKeyRows) {
	for _, k := range keys {
		id := fmtKey(k.Key)
		if len(k.Rows) == 0 {
			delete(t, id)
			continue
		}
		rows := make([]string, len(k.Rows))
		for i, r := range k.Rows {
			rows[i] = fmtValues(r)
		}
		t[id] = rows
	}
}

func (t cdcTarget) String() string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(t)) {
		for _, r := range t[k] {
			fmt.Fprintf(&b, "%s\n", r)
		}
	}
	return b.String()
}

func TestCDCCases(t *testing.T) {
	type batch struct {
		changes []tc
		emitted string // the emitted keys, space-separated
		dups    int64
	}
	cases := []struct {
		name        string
		scd         int
		ignoreNull  bool
		noSeqColumn bool
		batches     []batch
		want        string // the target, one row a line
	}{{
		name: "scd1 in order",
		scd:  1,
		batches: []batch{
			{changes: []tc{up("a", 1, "x", "c1"), up("b", 1, "y", "c1"), up("a", 2, "x2", "c2")}, emitted: `"a" "b"`},
			{changes: []tc{up("b", 5, "y5", "c5")}, emitted: `"b"`},
		},
		want: `"a" 2 "x2" "c2"
"b" 5 "y5" "c5"
`,
	}, {
		name: "scd1 out of order",
		scd:  1,
		batches: []batch{
			{changes: []tc{up("a", 3, "x3", "c3"), up("a", 1, "x1", "c1")}, emitted: `"a"`},
			{changes: []tc{up("a", 2, "x2", "c2")}},
		},
		want: `"a" 3 "x3" "c3"
`,
	}, {
		name: "scd1 duplicate: the first received wins",
		scd:  1,
		batches: []batch{
			{changes: []tc{up("a", 1, "first", "c"), up("a", 1, "second", "c")}, emitted: `"a"`, dups: 1},
			{changes: []tc{up("a", 1, "third", "c")}, dups: 1},
		},
		want: `"a" 1 "first" "c"
`,
	}, {
		name: "scd1 delete then a late older upsert stays deleted",
		scd:  1,
		batches: []batch{
			{changes: []tc{up("a", 1, "x", "c"), up("b", 1, "y", "c")}, emitted: `"a" "b"`},
			{changes: []tc{del("a", 3)}, emitted: `"a"`},
			{changes: []tc{up("a", 2, "late", "c")}},
			{changes: []tc{del("z", 9), up("z", 4, "older", "c")}}, // a tombstone for a key never seen
		},
		want: `"b" 1 "y" "c"
`,
	}, {
		name: "scd1 upsert after delete",
		scd:  1,
		batches: []batch{
			{changes: []tc{up("a", 1, "x", "c"), del("a", 2)}},
			{changes: []tc{up("a", 3, "back", "c")}, emitted: `"a"`},
		},
		want: `"a" 3 "back" "c"
`,
	}, {
		name:        "scd1 without the sequence column: an equal newer upsert changes nothing",
		scd:         1,
		noSeqColumn: true,
		batches: []batch{
			{changes: []tc{up("a", 1, "x", "c")}, emitted: `"a"`},
			{changes: []tc{up("a", 2, "x", "c")}},
			{changes: []tc{up("a", 3, "y", "c")}, emitted: `"a"`},
		},
		want: `"a" "y" "c"
`,
	}, {
		name:       "scd1 ignore null updates",
		scd:        1,
		ignoreNull: true,
		batches: []batch{
			{changes: []tc{up("a", 1, "x", "c1"), up("a", 2, "-", "c2")}, emitted: `"a"`},
			// Out of order: a late change fills a column the newer ones left NULL, and no more.
			{changes: []tc{up("b", 5, "-", "c5"), up("b", 3, "y3", "c3")}, emitted: `"b"`},
			{changes: []tc{up("b", 4, "y4", "-")}, emitted: `"b"`},
			{changes: []tc{up("b", 4, "dup", "dup")}, dups: 1},
			// After a delete there is no previous value to keep.
			{changes: []tc{up("c", 1, "z", "c1"), del("c", 2), up("c", 3, "-", "c3")}, emitted: `"c"`},
			{changes: []tc{up("c", 0, "older", "c0")}},
		},
		want: `"a" 2 "x" "c2"
"b" 5 "y4" "c5"
"c" 3 NULL "c3"
`,
	}, {
		name: "scd2 in order",
		scd:  2,
		batches: []batch{
			{changes: []tc{up("a", 1, "x1", "c"), up("a", 2, "x2", "c")}, emitted: `"a"`},
			{changes: []tc{up("a", 3, "x3", "c")}, emitted: `"a"`},
		},
		want: `"a" 1 "x1" "c" 1 2
"a" 2 "x2" "c" 2 3
"a" 3 "x3" "c" 3 NULL
`,
	}, {
		name: "scd2 out of order re-splits the history",
		scd:  2,
		batches: []batch{
			{changes: []tc{up("a", 3, "x3", "c"), up("a", 1, "x1", "c")}, emitted: `"a"`},
			{changes: []tc{up("a", 2, "x2", "c")}, emitted: `"a"`},
		},
		want: `"a" 1 "x1" "c" 1 2
"a" 2 "x2" "c" 2 3
"a" 3 "x3" "c" 3 NULL
`,
	}, {
		name: "scd2 delete in the middle of the history",
		scd:  2,
		batches: []batch{
			{changes: []tc{up("a", 1, "x1", "c"), up("a", 4, "x4", "c")}, emitted: `"a"`},
			{changes: []tc{del("a", 2)}, emitted: `"a"`},
			{changes: []tc{del("a", 3)}}, // a delete after a delete changes no row
			{changes: []tc{del("a", 2), up("a", 2, "dup", "c")}, dups: 2},
		},
		want: `"a" 1 "x1" "c" 1 2
"a" 4 "x4" "c" 4 NULL
`,
	}, {
		name:        "scd2 equal consecutive versions merge",
		scd:         2,
		noSeqColumn: true,
		batches: []batch{
			{changes: []tc{up("a", 1, "x", "c"), up("a", 2, "x", "c"), up("a", 4, "y", "c")}, emitted: `"a"`},
			{changes: []tc{up("a", 5, "y", "c")}}, // extends the open version: nothing changes
			// A late change between the two equal ones splits them again.
			{changes: []tc{up("a", 3, "z", "c")}, emitted: `"a"`},
		},
		want: `"a" "x" "c" 1 3
"a" "z" "c" 3 4
"a" "y" "c" 4 NULL
`,
	}, {
		name: "scd2 merged versions keep the first one's sequence column",
		scd:  2,
		batches: []batch{
			{changes: []tc{up("a", 1, "x", "c"), up("a", 2, "x", "c")}, emitted: `"a"`},
			{changes: []tc{del("a", 7)}, emitted: `"a"`},
		},
		want: `"a" 1 "x" "c" 1 7
`,
	}, {
		name:       "scd2 ignore null updates",
		scd:        2,
		ignoreNull: true,
		batches: []batch{
			// (NULL, c1) after (x, c1) is (x, c1): the same version.
			{changes: []tc{up("a", 1, "x", "c1"), up("a", 2, "-", "c1")}, emitted: `"a"`},
			{changes: []tc{up("a", 3, "y", "-")}, emitted: `"a"`},
			{changes: []tc{del("a", 4), up("a", 5, "-", "c5")}, emitted: `"a"`},
		},
		want: `"a" 1 "x" "c1" 1 3
"a" 3 "y" "c1" 3 4
"a" 5 NULL "c5" 5 NULL
`,
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			op, err := NewCDCOperator(cdcSpec(c.scd, c.ignoreNull, !c.noSeqColumn))
			if err != nil {
				t.Fatal(err)
			}
			target := cdcTarget{}
			for i, b := range c.batches {
				var in StepInput
				for _, ch := range b.changes {
					in.Rows = append(in.Rows, ch.row(KindInt))
				}
				out, err := op.Step(in)
				if err != nil {
					t.Fatalf("batch %d: %v", i, err)
				}
				var keys []string
				for _, k := range out.Keys {
					keys = append(keys, fmtValues(k.Key))
				}
				if got := strings.Join(keys, " "); got != b.emitted {
					t.Errorf("batch %d %v: emitted keys %q, want %q", i, b.changes, got, b.emitted)
				}
				if out.Duplicates != b.dups {
					t.Errorf("batch %d: %d duplicates, want %d", i, out.Duplicates, b.dups)
				}
				target.apply(out.Keys)
			}
			if got := target.String(); got != c.want {
				t.Errorf("target:\n%swant:\n%s", got, c.want)
			}
		})
	}
}

func TestCDCErrors(t *testing.T) {
	op, err := NewCDCOperator(cdcSpec(2, false, true))
	if err != nil {
		t.Fatal(err)
	}
	nullKey := up("a", 1, "x", "c").row(KindInt)
	nullKey.Values[0] = Null()
	if _, err := op.Step(StepInput{Rows: []Row{nullKey}}); !errors.Is(err, ErrCDCNull) {
		t.Errorf("NULL key: %v, want ErrCDCNull", err)
	}
	nullSeq := up("a", 1, "x", "c").row(KindInt)
	nullSeq.Values[1] = Null()
	if _, err := op.Step(StepInput{Rows: []Row{nullSeq}}); !errors.Is(err, ErrCDCNull) || !strings.Contains(err.Error(), `"a"`) {
		t.Errorf("NULL sequence: %v, want ErrCDCNull naming the key", err)
	}
	op, _ = NewCDCOperator(cdcSpec(2, false, true))
	mixed := []Row{up("a", 1, "x", "c").row(KindInt), up("a", 2, "x", "c").row(KindString)}
	if _, err := op.Step(StepInput{Rows: mixed}); !errors.Is(err, ErrKindMismatch) {
		t.Errorf("sequences of two kinds: %v, want ErrKindMismatch", err)
	}
	short := Row{Values: []Value{String("a")}}
	if _, err := op.Step(StepInput{Rows: []Row{short}}); !errors.Is(err, ErrProtocol) {
		t.Errorf("short row: %v, want ErrProtocol", err)
	}

	for _, bad := range []CDCSpec{
		{KeyColumns: []int{0}, Sequence: 1, Delete: 2, Columns: []int{0, 1}, SCDType: 3},
		{Sequence: 1, Delete: 2, Columns: []int{0, 1}, SCDType: 1},
		{KeyColumns: []int{0}, Sequence: 1, Delete: 1, Columns: []int{0, 1}, SCDType: 1},
		{KeyColumns: []int{0}, Sequence: 1, Delete: 2, Columns: []int{0, 2}, SCDType: 1},
		{KeyColumns: []int{3}, Sequence: 1, Delete: 2, Columns: []int{0, 1}, SCDType: 1},
		{KeyColumns: []int{0}, Sequence: 0, Delete: -1, Columns: []int{0}, SCDType: 1},
	} {
		if _, err := NewCDCOperator(bad); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%+v: %v, want ErrInvalidConfig", bad, err)
		}
	}
	// State written under type 2 does not load under type 1.
	op, _ = NewCDCOperator(cdcSpec(2, false, true))
	out, err := op.Step(StepInput{Rows: []Row{up("a", 1, "x", "c").row(KindInt), up("a", 2, "y", "c").row(KindInt)}})
	if err != nil {
		t.Fatal(err)
	}
	op1, _ := NewCDCOperator(cdcSpec(1, false, true))
	if err := op1.Load(out.Mutations[0].Key, out.Mutations[0].Value); !errors.Is(err, ErrIncompatibleState) {
		t.Errorf("type 2 state loaded as type 1: %v, want ErrIncompatibleState", err)
	}
	if err := op1.Load(out.Mutations[0].Key, out.Mutations[0].Value[:5]); !errors.Is(err, ErrCorrupt) {
		t.Errorf("truncated state: %v, want ErrCorrupt", err)
	}

	spec := cdcSpec(1, false, true)
	cfg := Config{AppID: "q", Sources: []string{"src"}, CDC: &spec, Dedup: &DedupSpec{KeyColumns: []int{0}}}
	if _, err := NewQuery(cfg); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("cdc with dedup: %v, want ErrInvalidConfig", err)
	}
}

// cdcReference computes the target of a change stream (in arrival order) the straightforward
// way: drop repeated (key, sequence) pairs keeping the first, sort each key's changes by
// sequence, then fold them as CDCSpec says.
func cdcReference(changes []tc, kind Kind, scd int, ignoreNull, seqInTarget bool) cdcTarget {
	byKey := map[string][]tc{}
	seen := map[string]bool{}
	for _, c := range changes {
		id := fmt.Sprintf("%s/%d", c.key, c.seq)
		if seen[id] {
			continue
		}
		seen[id] = true
		byKey[c.key] = append(byKey[c.key], c)
	}
	target := cdcTarget{}
	for key, cs := range byKey {
		slices.SortFunc(cs, func(a, b tc) int { return int(a.seq - b.seq) })
		vals := func(c tc) []Value {
			if seqInTarget {
				return []Value{String(c.key), seqValue(kind, c.seq), nullable(c.name), nullable(c.city)}
			}
			return []Value{String(c.key), nullable(c.name), nullable(c.city)}
		}
		// Effective values: a NULL keeps the previous change's value when it is an upsert.
		eff := make([][]Value, len(cs))
		for i, c := range cs {
			if c.del {
				continue
			}
			eff[i] = vals(c)
			if ignoreNull && i > 0 && !cs[i-1].del {
				for j := range eff[i] {
					if eff[i][j].IsNull() {
						eff[i][j] = eff[i-1][j]
					}
				}
			}
		}
		id := fmtKey([]Value{String(key)})
		last := len(cs) - 1
		if scd == 1 {
			if !cs[last].del {
				target[id] = []string{fmtValues(eff[last])}
			}
			continue
		}
		var rows []string
		for i := 0; i <= last; i++ {
			if cs[i].del {
				continue
			}
			j := i // the version runs from i to j
			for j < last && !cs[j+1].del && sameExceptSeq(eff[j], eff[j+1], seqInTarget) {
				j++
			}
			end := Null()
			if j < last {
				end = seqValue(kind, cs[j+1].seq)
			}
			rows = append(rows, fmtValues(append(slices.Clone(eff[i]), seqValue(kind, cs[i].seq), end)))
			i = j
		}
		if len(rows) > 0 {
			target[id] = rows
		}
	}
	return target
}

func sameExceptSeq(a, b []Value, seqInTarget bool) bool {
	for j := range a {
		if seqInTarget && j == 1 {
			continue
		}
		if a[j].String() != b[j].String() {
			return false
		}
	}
	return true
}

var cdcSeed = flag.Int64("cdc-seed", 0, "seed of TestCDCRandom and TestCDCQueryRandom (0: pick one and print it)")

func pickSeed(t *testing.T) int64 {
	seed := *cdcSeed
	if seed == 0 {
		seed = time.Now().UnixNano() % 1_000_000_007
	}
	t.Logf("seed %d (rerun with -cdc-seed=%d)", seed, seed)
	return seed
}

// randomChanges returns n changes over a few keys and sequences, so that duplicates (with the same
// or other content), out-of-order arrivals, deletes and equal consecutive versions are common.
func randomChanges(r *rand.Rand, n int) []tc {
	keys := 1 + r.IntN(6)
	seqs := 2 + r.IntN(3*n/keys+1)
	names := []string{"x", "y", "-"}
	cities := []string{"c1", "c2", "-"}
	out := make([]tc, n)
	for i := range out {
		c := tc{key: "k" + strconv.Itoa(r.IntN(keys)), seq: int64(r.IntN(seqs)), del: r.IntN(5) == 0}
		if !c.del {
			c.name, c.city = names[r.IntN(len(names))], cities[r.IntN(len(cities))]
		}
		out[i] = c
	}
	return out
}

// TestCDCRandom is the operator's property test: random change sets, applied in random batch
// splits with a restore from the persisted state at random points, give the same target as the
// same changes sorted by sequence in one batch, and as cdcReference. Every emitted key must carry
// rows different from what the target held, and the operator's Size must match its persisted
// key/values.
func TestCDCRandom(t *testing.T) {
	seed := pickSeed(t)
	for i := range int64(300) {
		r := rand.New(rand.NewPCG(uint64(seed+i), 11))
		kind := []Kind{KindInt, KindString, KindDecimal, KindFloat}[r.IntN(4)]
		scd, ignoreNull, seqInTarget := 1+r.IntN(2), r.IntN(2) == 0, r.IntN(3) != 0
		spec := cdcSpec(scd, ignoreNull, seqInTarget)
		changes := randomChanges(r, 1+r.IntN(60))
		desc := fmt.Sprintf("seed %d: scd%d ignoreNull=%t seqInTarget=%t %s changes %v", seed+i, scd, ignoreNull, seqInTarget, kind, changes)

		want := cdcReference(changes, kind, scd, ignoreNull, seqInTarget).String()

		// Sorted by (key, sequence), stably: the first received of a repeated pair stays first.
		sorted := slices.Clone(changes)
		slices.SortStableFunc(sorted, func(a, b tc) int {
			if c := strings.Compare(a.key, b.key); c != 0 {
				return c
			}
			return int(a.seq - b.seq)
		})
		one, _ := NewCDCOperator(spec)
		var in StepInput
		for _, c := range sorted {
			in.Rows = append(in.Rows, c.row(kind))
		}
		out, err := one.Step(in)
		if err != nil {
			t.Fatalf("%s: %v", desc, err)
		}
		oneTarget := cdcTarget{}
		oneTarget.apply(out.Keys)
		if got := oneTarget.String(); got != want {
			t.Fatalf("%s\nsorted in one batch:\n%swant:\n%s", desc, got, want)
		}

		// In arrival order, in random batches, restoring from the store at random.
		op, _ := NewCDCOperator(spec)
		store := map[string][]byte{}
		target := cdcTarget{}
		for rest := changes; len(rest) > 0; {
			n := 1 + r.IntN(len(rest))
			var in StepInput
			for _, c := range rest[:n] {
				in.Rows = append(in.Rows, c.row(kind))
			}
			rest = rest[n:]
			out, err := op.Step(in)
			if err != nil {
				t.Fatalf("%s: %v", desc, err)
			}
			for _, k := range out.Keys {
				var rows []string
				for _, row := range k.Rows {
					rows = append(rows, fmtValues(row))
				}
				if slices.Equal(rows, target[fmtKey(k.Key)]) {
					t.Fatalf("%s: key %s emitted with unchanged rows %v", desc, fmtKey(k.Key), rows)
				}
			}
			target.apply(out.Keys)
			for _, m := range out.Mutations {
				if m.Delete {
					delete(store, string(m.Key))
				} else {
					store[string(m.Key)] = bytes.Clone(m.Value)
				}
			}
			var size StateSize
			for k, v := range store {
				size.Entries++
				size.Bytes += int64(len(k) + len(v))
			}
			if op.Size() != size {
				t.Fatalf("%s: size %+v, persisted %+v", desc, op.Size(), size)
			}
			if r.IntN(3) == 0 {
				op, _ = NewCDCOperator(spec)
				for k, v := range store {
					if err := op.Load([]byte(k), v); err != nil {
						t.Fatalf("%s: load: %v", desc, err)
					}
				}
			}
		}
		if got := target.String(); got != want {
			t.Fatalf("%s\nin random batches:\n%swant:\n%s", desc, got, want)
		}
	}
}

// TestCDCQueryRandom runs CDC through the whole core Query with the test driver: random changes on
// one log partition, small batches, crashes at every step of the protocol (after the write-ahead,
// after the sink commit, after the state write) and, on a second driver, a restart after every
// batch. The sink applies each batch's keys once (a replayed batch finds its txn), and the final
// target must equal cdcReference.
func TestCDCQueryRandom(t *testing.T) {
	seed := pickSeed(t)
	for i := range int64(40) {
		r := rand.New(rand.NewPCG(uint64(seed+i), 12))
		scd, ignoreNull := 1+r.IntN(2), r.IntN(2) == 0
		spec := cdcSpec(scd, ignoreNull, true)
		changes := randomChanges(r, 20+r.IntN(80))
		desc := fmt.Sprintf("seed %d: scd%d ignoreNull=%t", seed+i, scd, ignoreNull)
		want := cdcReference(changes, KindInt, scd, ignoreNull, true).String()
		for _, restoreEach := range []bool{false, true} {
			cfg := Config{AppID: "cdc", Sources: []string{"src"}, CDC: &spec, Limits: Limits{MaxRecords: int64(1 + r.IntN(15))}}
			h, err := newHarness(cfg, restoreEach)
			if err != nil {
				t.Fatal(err)
			}
			target := cdcTarget{}
			applied := int64(-1)
			var outRows, dups int64
			h.onCommit = func(rd Ready) {
				if rd.Commit.BatchID <= applied {
					return // the txn of a replayed batch landed before the crash
				}
				applied = rd.Commit.BatchID
				target.apply(rd.CDC)
				if len(rd.Rows) > 0 || len(rd.Results) > 0 || len(rd.Late) > 0 {
					t.Errorf("%s: a CDC batch has rows, results or late rows", desc)
				}
				outRows += rd.Metrics.OutputRows
				dups += rd.Metrics.DuplicateRows
			}
			p := h.partition(PartitionID{"src", 0})
			for rest := changes; len(rest) > 0; {
				n := 1 + r.IntN(len(rest))
				for _, c := range rest[:n] {
					p.positions = append(p.positions, []logRecord{{key: c.key, t: NoWatermark, vals: c.row(KindInt).Values}})
				}
				rest = rest[n:]
				crash := []string{"", "write-ahead", "sink", "persist"}[r.IntN(4)]
				h.now = h.now.Add(time.Second)
				if err := h.drive(crash); err != nil {
					t.Fatalf("%s: %v\n%s", desc, err, h.out.String())
				}
			}
			if got := target.String(); got != want {
				t.Fatalf("%s restoreEach=%t changes %v\ngot:\n%swant:\n%s", desc, restoreEach, changes, got, want)
			}
			m := h.q.Metrics()
			if m.InputRows != int64(len(changes)) {
				t.Errorf("%s: %d input rows, want %d", desc, m.InputRows, len(changes))
			}
			if restoreEach {
				continue
			}
			// A restart with another CDC definition is refused.
			other := cdcSpec(3-scd, ignoreNull, true)
			q, _ := NewQuery(Config{AppID: "cdc", Sources: []string{"src"}, CDC: &other})
			if err := q.Restore(h.scan()); !errors.Is(err, ErrIncompatibleState) {
				t.Errorf("%s: restore under another CDC spec: %v, want ErrIncompatibleState", desc, err)
			}
		}
	}
}
