package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"path"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrTransient marks a failure that may succeed if retried: a 5xx or throttling answer, a timeout,
// a dropped connection. S3 wraps it when its own retry budget is spent; Faulty wraps it in the
// transient, timeout and ambiguous-write faults. A transient failure of a write says nothing about
// whether the write happened: a caller that retries a PutIfAbsent after one must be ready to find
// its own object there (ErrExists with its own bytes).
var ErrTransient = errors.New("transient storage failure")

// ErrInjected marks every error Faulty makes up, so a test can tell injected failures from real
// ones.
var ErrInjected = errors.New("injected fault")

// IsTransient reports whether err is worth retrying: it wraps ErrTransient, or it has a
// Temporary() or Timeout() method that says so.
func IsTransient(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrTransient) {
		return true
	}
	var t interface{ Temporary() bool }
	if errors.As(err, &t) && t.Temporary() {
		return true
	}
	var to interface{ Timeout() bool }
	return errors.As(err, &to) && to.Timeout()
}

// Op names a Store method, for fault rules and counters.
type Op string

// The operations a FaultRule can match.
const (
	OpGet         Op = "get"
	OpRange       Op = "range" // GetRange
	OpOpen        Op = "open"
	OpPut         Op = "put"
	OpPutIfAbsent Op = "put-if-absent"
	OpList        Op = "list" // the key matched is the list prefix
	OpDelete      Op = "delete"
	OpStat        Op = "stat"
)

// FaultKind is what a firing rule does.
type FaultKind string

// The fault kinds.
const (
	// FaultTransient fails the call, without performing it, with an error wrapping ErrTransient
	// and ErrInjected (like a 503 answer).
	FaultTransient FaultKind = "transient"
	// FaultTimeout fails the call, without performing it, with an error wrapping ErrTransient and
	// ErrInjected whose Timeout() is true. It does not wrap context.DeadlineExceeded: the caller's
	// context is fine.
	FaultTimeout FaultKind = "timeout"
	// FaultNoSpace fails the call, without performing it, with an error wrapping syscall.ENOSPC
	// and ErrInjected. It is not transient.
	FaultNoSpace FaultKind = "no-space"
	// FaultLatency waits FaultRule.Latency (or until ctx ends, which fails the call with ctx's
	// error) and then performs the call normally.
	FaultLatency FaultKind = "latency"
	// FaultAmbiguousWrite performs the call on the inner store and then, whatever its outcome,
	// reports an error wrapping ErrTransient and ErrInjected, as when the response is lost or the
	// client crashes after sending. Meant for put and put-if-absent; for other operations it
	// performs the call and discards its result.
	FaultAmbiguousWrite FaultKind = "ambiguous-write"
	// FaultLoseRace, for put-if-absent only, first writes FaultRule.Competitor under the key (with
	// the inner PutIfAbsent, so an existing object is left alone), then performs the call, which
	// therefore fails with ErrExists: another writer won the race. Calls of other operations do
	// not match.
	FaultLoseRace FaultKind = "lose-race"
)

// FaultRule says when a fault fires and what it does.
//
// A rule matches a call when Ops is empty or holds the call's operation, and Key is empty or
// matches the call's key: as a glob (path.Match, where * does not cross "/") if Key holds any of
// "*?[", else as a substring. Each matching call counts; the rule fires on the Nth match when Nth
// > 0, else on each match with probability Probability (0 means every match), drawn from the
// Faulty's seeded generator. MaxFires > 0 caps how often it fires. The first rule (in Inject
// order) that fires decides the call; later rules do not see it as a match.
type FaultRule struct {
	// Ops restricts the rule to these operations; empty means all.
	Ops []Op
	// Key is a substring or glob the key must match; empty matches all.
	Key string
	// Nth, if > 0, fires the rule on the Nth matching call only (1-based).
	Nth int
	// Probability, used when Nth is 0, fires the rule on a matching call with this probability;
	// 0 means always.
	Probability float64
	// MaxFires, if > 0, caps the number of times the rule fires.
	MaxFires int
	// Kind is what happens when the rule fires.
	Kind FaultKind
	// Latency is the delay of FaultLatency.
	Latency time.Duration
	// Competitor is the payload FaultLoseRace writes first.
	Competitor []byte
}

func (r *FaultRule) matches(op Op, key string) bool {
	if r.Kind == FaultLoseRace && op != OpPutIfAbsent {
		return false
	}
	if len(r.Ops) > 0 {
		found := false
		for _, o := range r.Ops {
			if o == op {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	if r.Key == "" {
		return true
	}
	if strings.ContainsAny(r.Key, "*?[") {
		ok, err := path.Match(r.Key, key)
		return err == nil && ok
	}
	return strings.Contains(key, r.Key)
}

// FaultStats counts calls and injected faults.
type FaultStats struct {
	// Calls counts every call per operation, faulted or not.
	Calls map[Op]int64
	// Faults is the number of faults injected in total.
	Faults int64
	// ByKind counts injected faults per kind; the values sum to Faults.
	ByKind map[FaultKind]int64
	// ByOp counts injected faults per operation; the values sum to Faults.
	ByOp map[Op]int64
}

// ruleState is an injected rule and its counters.
type ruleState struct {
	FaultRule
	matched int
	fired   int
}

// Faulty is a Store that wraps another and injects faults according to rules, for tests of the
// code above storage (retries, commit conflicts, recovery from ambiguous writes).
//
// With a fixed seed and calls made one at a time, the same rules fire on the same calls in every
// run; concurrent calls draw from the generator in scheduling order, so only the counts'
// distribution is reproducible then. Faulty is safe for concurrent use.
type Faulty struct {
	inner Store

	// mu guards rules (including their match and fire counters), rng and stats. It is never held
	// while calling the inner store or sleeping.
	mu    sync.Mutex
	rules []*ruleState
	rng   *rand.Rand
	stats FaultStats
}

// NewFaulty wraps inner; seed drives the probabilistic rules. No rule is active until Inject.
func NewFaulty(inner Store, seed int64) *Faulty {
	return &Faulty{
		inner: inner,
		rng:   rand.New(rand.NewPCG(uint64(seed), 0x5eed)),
		stats: newFaultStats(),
	}
}

func newFaultStats() FaultStats {
	return FaultStats{Calls: map[Op]int64{}, ByKind: map[FaultKind]int64{}, ByOp: map[Op]int64{}}
}

// Inner returns the wrapped store.
func (f *Faulty) Inner() Store { return f.inner }

// Inject adds a rule after the existing ones.
func (f *Faulty) Inject(rule FaultRule) {
	f.mu.Lock()
	defer f.mu.Unlock()
	rule.Ops = append([]Op(nil), rule.Ops...)
	f.rules = append(f.rules, &ruleState{FaultRule: rule})
}

// Clear removes every rule; counters are kept.
func (f *Faulty) Clear() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rules = nil
}

// Stats returns a copy of the counters.
func (f *Faulty) Stats() FaultStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := newFaultStats()
	out.Faults = f.stats.Faults
	for k, v := range f.stats.Calls {
		out.Calls[k] = v
	}
	for k, v := range f.stats.ByKind {
		out.ByKind[k] = v
	}
	for k, v := range f.stats.ByOp {
		out.ByOp[k] = v
	}
	return out
}

// URL returns the inner store's URL.
func (f *Faulty) URL() string { return f.inner.URL() }

// decide counts the call and returns the rule that fires for it, if any.
func (f *Faulty) decide(op Op, key string) *FaultRule {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stats.Calls[op]++
	for _, r := range f.rules {
		if !r.matches(op, key) {
			continue
		}
		if r.MaxFires > 0 && r.fired >= r.MaxFires {
			continue
		}
		r.matched++
		fire := false
		switch {
		case r.Nth > 0:
			fire = r.matched == r.Nth
		case r.Probability > 0:
			fire = f.rng.Float64() < r.Probability
		default:
			fire = true
		}
		if !fire {
			continue
		}
		r.fired++
		f.stats.Faults++
		f.stats.ByKind[r.Kind]++
		f.stats.ByOp[op]++
		rule := r.FaultRule
		return &rule
	}
	return nil
}

// faultError is an injected failure.
type faultError struct {
	op      Op
	key     string
	kind    FaultKind
	timeout bool
	cause   error // ErrTransient or syscall.ENOSPC
}

func (e *faultError) Error() string {
	return fmt.Sprintf("storage %s %s: %v (%s): %v", e.op, e.key, ErrInjected, e.kind, e.cause)
}

func (e *faultError) Unwrap() []error { return []error{ErrInjected, e.cause} }

// Timeout reports whether the fault imitates a timeout.
func (e *faultError) Timeout() bool { return e.timeout }

// Temporary reports whether retrying may help.
func (e *faultError) Temporary() bool { return e.cause == ErrTransient }

// before applies the part of a fault that precedes the call. It returns a non-nil error when the
// call must not be performed.
func (f *Faulty) before(ctx context.Context, op Op, key string, rule *FaultRule) error {
	if rule == nil {
		return nil
	}
	switch rule.Kind {
	case FaultTransient:
		return &faultError{op: op, key: key, kind: rule.Kind, cause: ErrTransient}
	case FaultTimeout:
		return &faultError{op: op, key: key, kind: rule.Kind, cause: ErrTransient, timeout: true}
	case FaultNoSpace:
		return &faultError{op: op, key: key, kind: rule.Kind, cause: syscall.ENOSPC}
	case FaultLatency:
		t := time.NewTimer(rule.Latency)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return fmt.Errorf("storage %s %s: %w", op, key, ctx.Err())
		case <-t.C:
		}
	case FaultLoseRace:
		if op == OpPutIfAbsent {
			if err := f.inner.PutIfAbsent(ctx, key, rule.Competitor); err != nil && !errors.Is(err, ErrExists) {
				return fmt.Errorf("storage %s %s: writing the competitor: %w", op, key, err)
			}
		}
	}
	return nil
}

// after applies the part of a fault that follows the call: an ambiguous write hides the outcome.
func after(op Op, key string, rule *FaultRule, err error) error {
	if rule != nil && rule.Kind == FaultAmbiguousWrite {
		return &faultError{op: op, key: key, kind: rule.Kind, cause: ErrTransient}
	}
	return err
}

// Get reads a whole object, subject to the rules for OpGet.
func (f *Faulty) Get(ctx context.Context, key string) ([]byte, error) {
	rule := f.decide(OpGet, key)
	if err := f.before(ctx, OpGet, key, rule); err != nil {
		return nil, err
	}
	b, err := f.inner.Get(ctx, key)
	if err = after(OpGet, key, rule, err); err != nil {
		return nil, err
	}
	return b, nil
}

// GetRange reads part of an object, subject to the rules for OpRange.
func (f *Faulty) GetRange(ctx context.Context, key string, offset, length int64) ([]byte, error) {
	rule := f.decide(OpRange, key)
	if err := f.before(ctx, OpRange, key, rule); err != nil {
		return nil, err
	}
	b, err := f.inner.GetRange(ctx, key, offset, length)
	if err = after(OpRange, key, rule, err); err != nil {
		return nil, err
	}
	return b, nil
}

// Open opens an object, subject to the rules for OpOpen (faults apply to the open, not to reads).
func (f *Faulty) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	rule := f.decide(OpOpen, key)
	if err := f.before(ctx, OpOpen, key, rule); err != nil {
		return nil, err
	}
	rc, err := f.inner.Open(ctx, key)
	if aerr := after(OpOpen, key, rule, err); aerr != nil {
		if rc != nil && err == nil {
			rc.Close()
		}
		return nil, aerr
	}
	return rc, nil
}

// Put writes an object, subject to the rules for OpPut.
func (f *Faulty) Put(ctx context.Context, key string, data []byte) error {
	rule := f.decide(OpPut, key)
	if err := f.before(ctx, OpPut, key, rule); err != nil {
		return err
	}
	return after(OpPut, key, rule, f.inner.Put(ctx, key, data))
}

// PutIfAbsent writes an object if absent, subject to the rules for OpPutIfAbsent.
func (f *Faulty) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	rule := f.decide(OpPutIfAbsent, key)
	if err := f.before(ctx, OpPutIfAbsent, key, rule); err != nil {
		return err
	}
	return after(OpPutIfAbsent, key, rule, f.inner.PutIfAbsent(ctx, key, data))
}

// List lists objects, subject to the rules for OpList matched against prefix.
func (f *Faulty) List(ctx context.Context, prefix, startAfter string) ([]ObjectInfo, error) {
	rule := f.decide(OpList, prefix)
	if err := f.before(ctx, OpList, prefix, rule); err != nil {
		return nil, err
	}
	out, err := f.inner.List(ctx, prefix, startAfter)
	if err = after(OpList, prefix, rule, err); err != nil {
		return nil, err
	}
	return out, nil
}

// Delete removes an object, subject to the rules for OpDelete.
func (f *Faulty) Delete(ctx context.Context, key string) error {
	rule := f.decide(OpDelete, key)
	if err := f.before(ctx, OpDelete, key, rule); err != nil {
		return err
	}
	return after(OpDelete, key, rule, f.inner.Delete(ctx, key))
}

// Stat describes an object, subject to the rules for OpStat.
func (f *Faulty) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	rule := f.decide(OpStat, key)
	if err := f.before(ctx, OpStat, key, rule); err != nil {
		return ObjectInfo{}, err
	}
	info, err := f.inner.Stat(ctx, key)
	if err = after(OpStat, key, rule, err); err != nil {
		return ObjectInfo{}, err
	}
	return info, nil
}
