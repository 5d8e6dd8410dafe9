package storage_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stratalake/strata/internal/storage"
	"github.com/stratalake/strata/internal/storage/storagetest"
)

func TestMemStoreConformance(t *testing.T) {
	storagetest.RunStoreTests(t, func(t *testing.T) storage.Store { return newMemStore() })
	storagetest.RunNestedKeyTests(t, func(t *testing.T) storage.Store { return newMemStore() })
}

// With no rules, Faulty is transparent.
func TestFaultyConformance(t *testing.T) {
	storagetest.RunStoreTests(t, func(t *testing.T) storage.Store {
		return storage.NewFaulty(newLocal(t), 1)
	})
}

func TestFaultKinds(t *testing.T) {
	ctx := context.Background()
	const key = "_delta_log/00000000000000000001.json"
	mine, theirs := []byte("mine"), []byte("theirs")
	tests := []struct {
		name string
		rule storage.FaultRule
		// wantErr checks the PutIfAbsent error.
		wantErr func(error) bool
		// stored is the object's content afterwards; nil means absent.
		stored []byte
	}{
		{
			name: "transient",
			rule: storage.FaultRule{Kind: storage.FaultTransient},
			wantErr: func(err error) bool {
				return errors.Is(err, storage.ErrTransient) && errors.Is(err, storage.ErrInjected) && storage.IsTransient(err)
			},
		},
		{
			name: "timeout",
			rule: storage.FaultRule{Kind: storage.FaultTimeout},
			wantErr: func(err error) bool {
				var to interface{ Timeout() bool }
				return errors.Is(err, storage.ErrTransient) && errors.As(err, &to) && to.Timeout() &&
					!errors.Is(err, context.DeadlineExceeded)
			},
		},
		{
			name: "no space",
			rule: storage.FaultRule{Kind: storage.FaultNoSpace},
			wantErr: func(err error) bool {
				return errors.Is(err, syscall.ENOSPC) && errors.Is(err, storage.ErrInjected) && !storage.IsTransient(err)
			},
		},
		{
			name:    "latency",
			rule:    storage.FaultRule{Kind: storage.FaultLatency, Latency: time.Millisecond},
			wantErr: func(err error) bool { return err == nil },
			stored:  mine,
		},
		{
			name: "ambiguous write",
			rule: storage.FaultRule{Kind: storage.FaultAmbiguousWrite},
			wantErr: func(err error) bool {
				return errors.Is(err, storage.ErrTransient) && errors.Is(err, storage.ErrInjected)
			},
			stored: mine, // the write happened although an error was reported
		},
		{
			name:    "lose race",
			rule:    storage.FaultRule{Kind: storage.FaultLoseRace, Competitor: theirs},
			wantErr: func(err error) bool { return errors.Is(err, storage.ErrExists) && !errors.Is(err, storage.ErrInjected) },
			stored:  theirs,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inner := newLocal(t)
			f := storage.NewFaulty(inner, 7)
			tc.rule.Ops = []storage.Op{storage.OpPutIfAbsent}
			tc.rule.Nth = 1
			f.Inject(tc.rule)
			err := f.PutIfAbsent(ctx, key, mine)
			if !tc.wantErr(err) {
				t.Fatalf("PutIfAbsent = %v", err)
			}
			got, gerr := inner.Get(ctx, key)
			switch {
			case tc.stored == nil && !errors.Is(gerr, storage.ErrNotFound):
				t.Fatalf("object = %q, %v; want absent", got, gerr)
			case tc.stored != nil && string(got) != string(tc.stored):
				t.Fatalf("object = %q, %v; want %q", got, gerr, tc.stored)
			}
			st := f.Stats()
			if st.Faults != 1 || st.ByKind[tc.rule.Kind] != 1 || st.ByOp[storage.OpPutIfAbsent] != 1 || st.Calls[storage.OpPutIfAbsent] != 1 {
				t.Errorf("stats = %+v, want one %s fault on put-if-absent", st, tc.rule.Kind)
			}
			// The rule fired on the first match only; the next call sees the plain store.
			err = f.PutIfAbsent(ctx, "other", mine)
			if err != nil {
				t.Errorf("second PutIfAbsent = %v", err)
			}
		})
	}
}

// Each operation can be faulted, and an ambiguous write also works for Put.
func TestFaultEveryOp(t *testing.T) {
	ctx := context.Background()
	f := storage.NewFaulty(newLocal(t), 1)
	if err := f.Inner().Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	f.Inject(storage.FaultRule{Kind: storage.FaultTransient})
	calls := map[storage.Op]func() error{
		storage.OpGet:         func() error { _, err := f.Get(ctx, "k"); return err },
		storage.OpRange:       func() error { _, err := f.GetRange(ctx, "k", 0, 1); return err },
		storage.OpOpen:        func() error { _, err := f.Open(ctx, "k"); return err },
		storage.OpPut:         func() error { return f.Put(ctx, "k", []byte("w")) },
		storage.OpPutIfAbsent: func() error { return f.PutIfAbsent(ctx, "n", []byte("w")) },
		storage.OpList:        func() error { _, err := f.List(ctx, "", ""); return err },
		storage.OpDelete:      func() error { return f.Delete(ctx, "k") },
		storage.OpStat:        func() error { _, err := f.Stat(ctx, "k"); return err },
	}
	for op, call := range calls {
		if err := call(); !errors.Is(err, storage.ErrTransient) {
			t.Errorf("%s = %v, want a transient fault", op, err)
		}
	}
	st := f.Stats()
	if st.Faults != int64(len(calls)) || st.ByKind[storage.FaultTransient] != st.Faults {
		t.Errorf("stats = %+v", st)
	}
	for op := range calls {
		if st.ByOp[op] != 1 || st.Calls[op] != 1 {
			t.Errorf("op %s: %d faults in %d calls, want 1 in 1", op, st.ByOp[op], st.Calls[op])
		}
	}
	// Nothing was performed: k still holds v.
	if got, err := f.Inner().Get(ctx, "k"); err != nil || string(got) != "v" {
		t.Fatalf("k = %q, %v", got, err)
	}

	f.Clear()
	f.Inject(storage.FaultRule{Ops: []storage.Op{storage.OpPut}, Kind: storage.FaultAmbiguousWrite})
	if err := f.Put(ctx, "k", []byte("new")); !errors.Is(err, storage.ErrTransient) {
		t.Fatalf("ambiguous Put = %v", err)
	}
	if got, _ := f.Get(ctx, "k"); string(got) != "new" {
		t.Fatalf("after an ambiguous Put, k = %q, want new", got)
	}
}

func TestFaultMatching(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		rule  storage.FaultRule
		keys  []string // PutIfAbsent in this order
		fired []string // keys whose call failed
	}{
		{"substring", storage.FaultRule{Key: "_delta_log/"}, []string{"a", "_delta_log/1.json", "x/_delta_log/2.json"}, []string{"_delta_log/1.json", "x/_delta_log/2.json"}},
		{"glob does not cross slash", storage.FaultRule{Key: "_delta_log/*.json"}, []string{"_delta_log/1.json", "_delta_log/x/2.json", "_delta_log/3.crc"}, []string{"_delta_log/1.json"}},
		{"nth", storage.FaultRule{Key: "log", Nth: 3}, []string{"log1", "data", "log2", "log3", "log4"}, []string{"log3"}},
		{"max fires", storage.FaultRule{MaxFires: 2}, []string{"a", "b", "c", "d"}, []string{"a", "b"}},
		{"other op", storage.FaultRule{Ops: []storage.Op{storage.OpGet}}, []string{"a", "b"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := storage.NewFaulty(newLocal(t), 1)
			tc.rule.Kind = storage.FaultTransient
			f.Inject(tc.rule)
			var fired []string
			for _, k := range tc.keys {
				if err := f.PutIfAbsent(ctx, k, []byte("x")); err != nil {
					fired = append(fired, k)
				}
			}
			if !slices.Equal(fired, tc.fired) {
				t.Errorf("fired on %q, want %q", fired, tc.fired)
			}
			if st := f.Stats(); st.Faults != int64(len(tc.fired)) {
				t.Errorf("Faults = %d, want %d", st.Faults, len(tc.fired))
			}
		})
	}
}

// The first rule that fires decides; rules are tried in Inject order.
func TestFaultRuleOrder(t *testing.T) {
	ctx := context.Background()
	f := storage.NewFaulty(newLocal(t), 1)
	f.Inject(storage.FaultRule{Key: "a", Kind: storage.FaultNoSpace})
	f.Inject(storage.FaultRule{Kind: storage.FaultTransient})
	if err := f.Put(ctx, "a", nil); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("Put(a) = %v, want ENOSPC", err)
	}
	if err := f.Put(ctx, "b", nil); !errors.Is(err, storage.ErrTransient) || errors.Is(err, syscall.ENOSPC) {
		t.Errorf("Put(b) = %v, want transient", err)
	}
	st := f.Stats()
	if st.Faults != 2 || st.ByKind[storage.FaultNoSpace] != 1 || st.ByKind[storage.FaultTransient] != 1 {
		t.Errorf("stats = %+v", st)
	}
}

// firedCalls runs n Stat calls against a Faulty with one probabilistic rule and returns the
// indexes of those that failed.
func firedCalls(t *testing.T, seed int64, n int, p float64) []int {
	ctx := context.Background()
	f := storage.NewFaulty(newMemStore(), seed)
	f.Inject(storage.FaultRule{Probability: p, Kind: storage.FaultTransient})
	var fired []int
	for i := range n {
		if _, err := f.Stat(ctx, "k"); errors.Is(err, storage.ErrInjected) {
			fired = append(fired, i)
		}
	}
	if st := f.Stats(); st.Faults != int64(len(fired)) || st.Calls[storage.OpStat] != int64(n) {
		t.Errorf("stats = %+v, want %d faults in %d calls", st, len(fired), n)
	}
	return fired
}

func TestFaultProbabilityIsSeeded(t *testing.T) {
	const n, p = 1000, 0.3
	a, b := firedCalls(t, 42, n, p), firedCalls(t, 42, n, p)
	if !slices.Equal(a, b) {
		t.Fatalf("same seed, different faults")
	}
	if c := firedCalls(t, 43, n, p); slices.Equal(a, c) {
		t.Fatalf("different seeds, same faults")
	}
	// With this seed the count is fixed; the bounds only catch a broken probability.
	if len(a) < 200 || len(a) > 400 {
		t.Fatalf("%d of %d calls faulted with p=%v", len(a), n, p)
	}
}

func TestFaultLatencyHonoursContext(t *testing.T) {
	f := storage.NewFaulty(newLocal(t), 1)
	f.Inject(storage.FaultRule{Kind: storage.FaultLatency, Latency: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := f.Put(ctx, "k", []byte("v")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Put = %v, want context.Canceled", err)
	}
	if _, err := f.Inner().Stat(context.Background(), "k"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("the delayed write happened: %v", err)
	}
}

// Concurrent callers: every injected error is counted once, and the counters add up.
func TestFaultyConcurrent(t *testing.T) {
	ctx := context.Background()
	f := storage.NewFaulty(newMemStore(), 99)
	f.Inject(storage.FaultRule{Ops: []storage.Op{storage.OpPut}, Probability: 0.2, Kind: storage.FaultTransient})
	f.Inject(storage.FaultRule{Ops: []storage.Op{storage.OpGet}, Probability: 0.1, Kind: storage.FaultTimeout})
	f.Inject(storage.FaultRule{Ops: []storage.Op{storage.OpPutIfAbsent}, Probability: 0.3, Kind: storage.FaultAmbiguousWrite})
	const workers, perWorker = 8, 50
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		injected int64
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := int64(0)
			for i := range perWorker {
				key := fmt.Sprintf("w%d/%d", w, i)
				for _, err := range []error{
					f.Put(ctx, key, []byte("x")),
					func() error { _, err := f.Get(ctx, key); return err }(),
					f.PutIfAbsent(ctx, key+"-pia", []byte("y")),
				} {
					if errors.Is(err, storage.ErrInjected) {
						n++
					} else if err != nil && !errors.Is(err, storage.ErrNotFound) {
						t.Errorf("unexpected error: %v", err)
					}
				}
			}
			mu.Lock()
			injected += n
			mu.Unlock()
		}()
	}
	wg.Wait()
	st := f.Stats()
	if st.Faults != injected {
		t.Errorf("Faults = %d, callers saw %d injected errors", st.Faults, injected)
	}
	var byKind, byOp int64
	for _, v := range st.ByKind {
		byKind += v
	}
	for _, v := range st.ByOp {
		byOp += v
	}
	if byKind != st.Faults || byOp != st.Faults {
		t.Errorf("ByKind sums to %d, ByOp to %d, Faults = %d", byKind, byOp, st.Faults)
	}
	for _, op := range []storage.Op{storage.OpPut, storage.OpGet, storage.OpPutIfAbsent} {
		if st.Calls[op] != workers*perWorker {
			t.Errorf("Calls[%s] = %d, want %d", op, st.Calls[op], workers*perWorker)
		}
	}
}
