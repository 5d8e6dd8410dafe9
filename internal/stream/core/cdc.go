package core

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// sectionCDC is the key section of the CDC operator's state: 'C' + the canonical key encoding
// (encodeCDCKey) -> the key's values and changes (CDCOperator.encodeKey).
const sectionCDC byte = 'C'

// ErrCDCNull: a change of a CDC query has a NULL key column or a NULL sequence. Such a change
// cannot be ordered or attributed to a key; it is never applied silently, the batch fails.
var ErrCDCNull = errors.New("CDC change with a NULL key or sequence")

// CDCSpec describes AUTO CDC: applying a stream of changes (upserts and deletes of keyed rows,
// ordered per key by a sequence column) to a keyed target, as slowly changing dimension type 1
// (the target holds each key's latest row) or type 2 (the target holds each key's history).
//
// Each Row is one change. Row.Values holds the key columns, the sequence column, the delete
// flag and the target row's columns at the indexes below; Row.EventTime and Row.Key are ignored.
//
// # Semantics
//
// A key's changes are ordered by their sequence values (Compare), never by arrival. A change
// whose (key, sequence) equals one already received is a duplicate and is ignored: the first one
// received wins. A NULL key value or NULL sequence fails the batch (ErrCDCNull); sequences of one
// key that do not compare (different kinds) fail it with ErrKindMismatch.
//
// Type 1: the target holds, per key, the Columns of the change with the greatest sequence,
// unless that change is a delete, then no row. A change older than the key's newest one changes
// nothing, so the state keeps per key only the newest change, deletes included: tombstones are
// kept indefinitely (a delete followed by a late, older upsert leaves the key deleted).
//
// Type 2: the key's changes c_1..c_n sorted by sequence; each upsert c_i yields a history row with
// its Columns plus __START_AT = seq(c_i) and __END_AT = seq(c_i+1) (the next change, upsert or
// delete; NULL when c_i is the last); deletes yield no row. Consecutive upserts whose Columns are
// all equal (NULL equal to NULL; the Sequence column, if among Columns, excluded) form one
// version, with the first one's values and __START_AT and the last one's __END_AT. The state
// keeps every change of the key, so an out-of-order arrival re-splits the history exactly as if
// the changes had arrived in sequence order.
//
// IgnoreNullUpdates: a NULL column of an upsert keeps the key's previous value: the value of the
// key's row as of the preceding change in sequence order, none (NULL) when that change is a
// delete or there is none. For type 2 the filled values are the version's values (and take part
// in the equality of consecutive versions); for type 1 the state then keeps the key's changes
// since its last delete, because a late change may fill columns that newer changes left NULL.
type CDCSpec struct {
	// KeyColumns are the Row.Values columns forming the key (at least one). Each must also be
	// one of Columns, so that a target row carries its key.
	KeyColumns []int
	// Sequence is the Row.Values column ordering a key's changes.
	Sequence int
	// Delete is the Row.Values column of the delete flag (an Int, as the driver maps BOOLEAN:
	// non-zero deletes the key; 0 and NULL upsert), or -1 when every change is an upsert.
	Delete int
	// Columns are the Row.Values columns forming a target row, in target order. The Sequence
	// column may be among them (a normal column) or not; Delete may not.
	Columns []int
	// SCDType is 1 or 2.
	SCDType int
	// IgnoreNullUpdates: see the semantics above.
	IgnoreNullUpdates bool
}

func (s *CDCSpec) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("cdc: %s: %w", fmt.Sprintf(format, args...), ErrInvalidConfig)
	}
	if s.SCDType != 1 && s.SCDType != 2 {
		return bad("SCD type %d (1 or 2)", s.SCDType)
	}
	if len(s.KeyColumns) == 0 {
		return bad("no key columns")
	}
	if s.Sequence < 0 || s.Delete < -1 {
		return bad("sequence column %d, delete column %d", s.Sequence, s.Delete)
	}
	if len(s.Columns) == 0 {
		return bad("no target columns")
	}
	seen := map[int]bool{}
	for _, c := range s.Columns {
		if c < 0 || seen[c] {
			return bad("target column %d negative or repeated", c)
		}
		seen[c] = true
	}
	keys := map[int]bool{}
	for _, c := range s.KeyColumns {
		if !seen[c] || keys[c] {
			return bad("key column %d repeated or not a target column", c)
		}
		keys[c] = true
	}
	if s.Delete >= 0 && (seen[s.Delete] || s.Delete == s.Sequence) {
		return bad("delete column %d is a target or the sequence column", s.Delete)
	}
	if keys[s.Sequence] {
		return bad("sequence column %d is a key column", s.Sequence)
	}
	return nil
}

// minValues is the number of Row.Values a change needs.
func (s *CDCSpec) minValues() int {
	n := max(s.Sequence, s.Delete) + 1
	for _, c := range s.Columns {
		n = max(n, c+1)
	}
	return n
}

// cdcFingerprint is the persisted identity of a CDCSpec (see Config.fingerprint).
type cdcFingerprint struct {
	Keys              []int `json:"keys"`
	Sequence          int   `json:"sequence"`
	Delete            int   `json:"delete"`
	Columns           []int `json:"columns"`
	SCDType           int   `json:"scdType"`
	IgnoreNullUpdates bool  `json:"ignoreNullUpdates,omitempty"`
}

func (s *CDCSpec) fingerprint() *cdcFingerprint {
	if s == nil {
		return nil
	}
	return &cdcFingerprint{Keys: s.KeyColumns, Sequence: s.Sequence, Delete: s.Delete, Columns: s.Columns,
		SCDType: s.SCDType, IgnoreNullUpdates: s.IgnoreNullUpdates}
}

// validateCDC checks the CDC part of a Config: a valid spec, and no other stateful operator.
func (c *Config) validateCDC() error {
	if c.CDC == nil {
		return nil
	}
	if c.Dedup != nil || c.Aggregate != nil {
		return fmt.Errorf("cdc cannot be combined with dedup or aggregate: %w", ErrInvalidConfig)
	}
	return c.CDC.validate()
}

// cloneCDCSpec returns a copy of s that shares nothing with it (nil for nil).
func cloneCDCSpec(s *CDCSpec) *CDCSpec {
	if s == nil {
		return nil
	}
	c := *s
	c.KeyColumns, c.Columns = slices.Clone(s.KeyColumns), slices.Clone(s.Columns)
	return &c
}

// CDCKeyRows is one key whose target rows a batch changed, with its complete new set of rows.
type CDCKeyRows struct {
	// Key holds the key's values, in CDCSpec.KeyColumns order.
	Key []Value
	// Rows are the key's target rows after the batch (none when the key is deleted): each holds
	// the values of CDCSpec.Columns, then, for type 2, __START_AT and __END_AT (sequence values;
	// __END_AT NULL for the current version). Type 2 rows are sorted by __START_AT.
	Rows [][]Value
}

// CDCOutput is what the CDC operator produced for one batch.
type CDCOutput struct {
	// Keys are the keys whose target rows changed, sorted by key (column by column: by kind, then
	// by Compare). Keys whose target rows did not change (a duplicate, a superseded old change)
	// are not in it.
	Keys []CDCKeyRows
	// Rows is the number of target rows in Keys.
	Rows int64
	// Duplicates counts changes ignored as repeats of a (key, sequence) already received. Type 1
	// without IgnoreNullUpdates only recognizes repeats of a key's newest change; older changes
	// are superseded either way.
	Duplicates int64
	// Mutations are the operator's state writes, sorted by key, one per key.
	Mutations []Mutation
}

// CDCOperator is the AUTO CDC operator (see CDCSpec for the semantics).
//
// Invariants: every key in keys has at least one change; its changes are sorted by strictly
// increasing sequence; with type 1 and without IgnoreNullUpdates a key has exactly one change
// (its newest); with type 1 and IgnoreNullUpdates only the first change may be a delete (the
// key's last delete, changes before it are dropped); after each Step the persisted key/values
// (section 'C', one per key: the canonical key encoding -> the key's values and changes) are
// exactly the encodings of keys, so Load over a scan of them rebuilds an operator that behaves
// identically.
//
// Cost: a change costs a map lookup and, for type 2 (and type 1 with IgnoreNullUpdates), a
// binary search and an insertion into the key's change list; each key a batch touches is folded
// twice (before and after) to find out whether its target rows changed. All state is in memory.
type CDCOperator struct {
	spec   CDCSpec
	seqCol int // the position of Sequence within Columns, or -1
	keys   map[string]*cdcKey
	size   StateSize
}

// cdcKey is the state of one key.
type cdcKey struct {
	key     []Value
	changes []cdcChange
	stored  int64 // the persisted key and value length (0: not persisted)
}

// cdcChange is one change of a key: its sequence, whether it deletes, and (upserts) the values
// of CDCSpec.Columns.
type cdcChange struct {
	seq  Value
	del  bool
	vals []Value
}

// NewCDCOperator returns an empty CDC operator.
func NewCDCOperator(spec CDCSpec) (*CDCOperator, error) {
	if err := spec.validate(); err != nil {
		return nil, err
	}
	spec = *cloneCDCSpec(&spec)
	return &CDCOperator{spec: spec, seqCol: slices.Index(spec.Columns, spec.Sequence), keys: map[string]*cdcKey{}}, nil
}

// Size returns the size of the persisted state.
func (c *CDCOperator) Size() StateSize { return c.size }

func cdcStateKey(enc []byte) []byte { return append([]byte{sectionCDC}, enc...) }

// encodeCDCKey is the identity of a key: its values' canonical encodings, length-prefixed, so
// that equal values (1.5 and 1.50, -0 and +0) are one key.
func encodeCDCKey(key []Value) []byte {
	var k []byte
	for _, v := range key {
		k = appendBytes(k, appendCanonical(nil, v))
	}
	return k
}

// change reads the change of row r (index i of the batch).
func (c *CDCOperator) change(i int, r Row) (key []Value, ch cdcChange, err error) {
	if len(r.Values) < c.spec.minValues() {
		return nil, ch, fmt.Errorf("change %d of the batch (%s) has %d values, cdc reads %d: %w", i, r.Partition, len(r.Values), c.spec.minValues(), ErrProtocol)
	}
	key = make([]Value, len(c.spec.KeyColumns))
	for k, col := range c.spec.KeyColumns {
		if key[k] = r.Values[col]; key[k].IsNull() {
			return nil, ch, fmt.Errorf("change %d of the batch (%s): key column %d is NULL: %w", i, r.Partition, col, ErrCDCNull)
		}
	}
	ch.seq = r.Values[c.spec.Sequence]
	if ch.seq.IsNull() {
		return nil, ch, fmt.Errorf("change %d of the batch (%s), key %s: the sequence is NULL: %w", i, r.Partition, fmtKey(key), ErrCDCNull)
	}
	if c.spec.Delete >= 0 {
		switch d := r.Values[c.spec.Delete]; d.Kind() {
		case KindNull:
		case KindInt:
			ch.del = d.AsInt() != 0
		default:
			return nil, ch, fmt.Errorf("change %d of the batch (%s), key %s: delete flag %s is not a boolean: %w", i, r.Partition, fmtKey(key), d, ErrKindMismatch)
		}
	}
	if !ch.del {
		ch.vals = make([]Value, len(c.spec.Columns))
		for k, col := range c.spec.Columns {
			ch.vals[k] = r.Values[col]
		}
	}
	return key, ch, nil
}

func fmtKey(key []Value) string {
	s := make([]string, len(key))
	for i, v := range key {
		s[i] = v.String()
	}
	return "(" + strings.Join(s, ", ") + ")"
}

// cdcTouch is a key changed by the current Step.
type cdcTouch struct {
	enc    string
	k      *cdcKey
	before []byte // the encoding of the key's target rows before the Step
	isNew  bool
}

// Step applies one batch of changes in their order (the order only decides which of two changes
// with equal key and sequence wins) and returns the keys whose target rows changed. An error
// (ErrCDCNull, ErrKindMismatch, ErrProtocol) leaves the operator partially updated; its owner
// must be discarded.
func (c *CDCOperator) Step(in StepInput) (CDCOutput, error) {
	var out CDCOutput
	touched := map[string]*cdcTouch{}
	var order []*cdcTouch
	for i, r := range in.Rows {
		key, ch, err := c.change(i, r)
		if err != nil {
			return out, err
		}
		enc := string(encodeCDCKey(key))
		k := c.keys[enc]
		t := touched[enc]
		if t == nil {
			t = &cdcTouch{enc: enc, k: k}
			if k == nil {
				k = &cdcKey{key: key}
				t.k, t.isNew, t.before = k, true, encodeRows(nil)
			} else {
				t.before = encodeRows(c.target(k))
			}
		}
		applied, dup, err := c.apply(k, ch)
		if err != nil {
			return out, fmt.Errorf("key %s: %w", fmtKey(key), err)
		}
		if dup {
			out.Duplicates++
		}
		if applied && touched[enc] == nil {
			touched[enc] = t
			order = append(order, t)
			if t.isNew {
				c.keys[enc] = k
			}
		}
	}
	slices.SortFunc(order, func(a, b *cdcTouch) int { return compareKeys(a.k.key, b.k.key) })
	var ms mutationSet
	for _, t := range order {
		rows := c.target(t.k)
		if !bytes.Equal(encodeRows(rows), t.before) {
			out.Keys = append(out.Keys, CDCKeyRows{Key: t.k.key, Rows: rows})
			out.Rows += int64(len(rows))
		}
		sk, v := cdcStateKey([]byte(t.enc)), c.encodeKey(t.k)
		ms.put(sk, v)
		if t.k.stored == 0 {
			c.size.Entries++
		}
		c.size.Bytes += int64(len(sk)+len(v)) - t.k.stored
		t.k.stored = int64(len(sk) + len(v))
	}
	out.Mutations = ms.sorted()
	return out, nil
}

// apply adds one change to a key's state: applied reports that the state changed, dup that the
// change repeats a (key, sequence) received before.
func (c *CDCOperator) apply(k *cdcKey, ch cdcChange) (applied, dup bool, err error) {
	i, found, err := searchChanges(k.changes, ch.seq)
	if err != nil {
		return false, false, err
	}
	if found {
		return false, true, nil
	}
	switch {
	case c.spec.SCDType == 1 && !c.spec.IgnoreNullUpdates:
		if len(k.changes) > 0 && i == 0 {
			return false, false, nil // older than the key's newest change: superseded
		}
		k.changes = []cdcChange{ch}
	case c.spec.SCDType == 1:
		if len(k.changes) > 0 && k.changes[0].del && i == 0 {
			return false, false, nil // older than the key's last delete
		}
		k.changes = slices.Insert(k.changes, i, ch)
		if ch.del {
			k.changes = slices.Clone(k.changes[i:])
		}
	default:
		k.changes = slices.Insert(k.changes, i, ch)
	}
	return true, false, nil
}

// searchChanges finds where seq belongs in changes (sorted by sequence).
func searchChanges(changes []cdcChange, seq Value) (int, bool, error) {
	var cerr error
	i, found := slices.BinarySearchFunc(changes, seq, func(ch cdcChange, s Value) int {
		c, err := Compare(ch.seq, s)
		if err != nil && cerr == nil {
			cerr = fmt.Errorf("sequence %s against %s: %w", s, ch.seq, err)
		}
		return c
	})
	return i, found, cerr
}

// target returns the key's target rows (see CDCSpec).
func (c *CDCOperator) target(k *cdcKey) [][]Value {
	if c.spec.SCDType == 1 {
		var row []Value
		for _, ch := range k.changes {
			switch {
			case ch.del:
				row = nil
			case row == nil || !c.spec.IgnoreNullUpdates:
				row = slices.Clone(ch.vals)
			default:
				for j, v := range ch.vals {
					if !v.IsNull() {
						row[j] = v
					}
				}
			}
		}
		if row == nil {
			return nil
		}
		return [][]Value{row}
	}
	var rows [][]Value
	var prev []Value // the effective values of the previous change when it is an upsert
	var open []Value // the row of the version still open
	n := len(c.spec.Columns)
	for _, ch := range k.changes {
		if ch.del {
			if open != nil {
				open[n+1] = ch.seq
			}
			prev, open = nil, nil
			continue
		}
		eff := ch.vals
		if c.spec.IgnoreNullUpdates && prev != nil {
			eff = slices.Clone(ch.vals)
			for j, v := range eff {
				if v.IsNull() {
					eff[j] = prev[j]
				}
			}
		}
		if prev != nil && c.sameVersion(prev, eff) {
			prev = eff
			continue
		}
		if open != nil {
			open[n+1] = ch.seq
		}
		open = append(append(make([]Value, 0, n+2), eff...), ch.seq, Null())
		rows = append(rows, open)
		prev = eff
	}
	return rows
}

// sameVersion reports whether two upserts' values are equal, the sequence column excluded.
func (c *CDCOperator) sameVersion(a, b []Value) bool {
	for j := range a {
		if j != c.seqCol && !valuesEqual(a[j], b[j]) {
			return false
		}
	}
	return true
}

// valuesEqual is SQL's IS NOT DISTINCT FROM within one column: NULL equals NULL, 1.5 equals
// 1.50, -0 equals +0, NaN equals NaN.
func valuesEqual(a, b Value) bool {
	if a.IsNull() || b.IsNull() {
		return a.IsNull() && b.IsNull()
	}
	return a.kind == b.kind && bytes.Equal(appendCanonical(nil, a), appendCanonical(nil, b))
}

// encodeRows is the exact encoding of a key's target rows, to tell whether they changed.
func encodeRows(rows [][]Value) []byte {
	b := appendUvarint(nil, uint64(len(rows)))
	for _, r := range rows {
		for _, v := range r {
			b = appendValue(b, v)
		}
	}
	return b
}

// compareKeys orders keys column by column: by kind, then by Compare.
func compareKeys(a, b []Value) int {
	for i := range min(len(a), len(b)) {
		if a[i].kind != b[i].kind {
			if a[i].kind < b[i].kind {
				return -1
			}
			return 1
		}
		if c, _ := Compare(a[i], b[i]); c != 0 {
			return c
		}
	}
	return len(a) - len(b)
}

// encodeKey is a key's persisted value: the key's values, then its changes (a delete flag byte,
// the sequence and, for upserts, the values), each value in the exact codec.
func (c *CDCOperator) encodeKey(k *cdcKey) []byte {
	b := appendUvarint(nil, uint64(len(k.key)))
	for _, v := range k.key {
		b = appendValue(b, v)
	}
	b = appendUvarint(b, uint64(len(k.changes)))
	for _, ch := range k.changes {
		if ch.del {
			b = append(b, 1)
			b = appendValue(b, ch.seq)
			continue
		}
		b = append(b, 0)
		b = appendValue(b, ch.seq)
		b = appendUvarint(b, uint64(len(ch.vals)))
		for _, v := range ch.vals {
			b = appendValue(b, v)
		}
	}
	return b
}

// Load adds one persisted key (a key/value of the 'C' section) while rebuilding the operator from
// a full scan. Keys may come in any order.
func (c *CDCOperator) Load(key, value []byte) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("cdc state %q: %s: %w", key, fmt.Sprintf(format, args...), ErrCorrupt)
	}
	// Restore may load keys before it compares the configuration's fingerprint: state that does
	// not fit this spec is as likely written under another definition as corrupt.
	misfit := func(format string, args ...any) error {
		return fmt.Errorf("cdc state %q: %s (written under another CDC definition, or corrupt): %w, %w",
			key, fmt.Sprintf(format, args...), ErrIncompatibleState, ErrCorrupt)
	}
	if len(key) < 2 || key[0] != sectionCDC {
		return bad("not a cdc key")
	}
	enc := string(key[1:])
	if _, ok := c.keys[enc]; ok {
		return bad("loaded twice")
	}
	d := &decoder{b: value}
	k := &cdcKey{key: make([]Value, d.uvarint())}
	if d.err == nil && len(k.key) != len(c.spec.KeyColumns) {
		return misfit("%d key values, the query has %d key columns", len(k.key), len(c.spec.KeyColumns))
	}
	for i := range k.key {
		k.key[i] = d.value()
	}
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b)) {
		return bad("%d changes in %d bytes", n, len(d.b))
	}
	for range n {
		var ch cdcChange
		switch flag := d.byte(); flag {
		case 0:
		case 1:
			ch.del = true
		default:
			if d.err == nil {
				return bad("change flag %d", flag)
			}
		}
		ch.seq = d.value()
		if !ch.del {
			m := d.uvarint()
			if d.err == nil && m != uint64(len(c.spec.Columns)) {
				return misfit("%d values, the query has %d target columns", m, len(c.spec.Columns))
			}
			ch.vals = make([]Value, m)
			for i := range ch.vals {
				ch.vals[i] = d.value()
			}
		}
		k.changes = append(k.changes, ch)
		if d.err != nil {
			break
		}
	}
	if err := d.done(); err != nil {
		return bad("%v", err)
	}
	if string(encodeCDCKey(k.key)) != enc {
		return bad("key values %s do not match the key", fmtKey(k.key))
	}
	if err := c.checkChanges(k.changes); err != nil {
		return misfit("%v", err)
	}
	c.keys[enc] = k
	k.stored = int64(len(key) + len(value))
	c.size.Entries++
	c.size.Bytes += k.stored
	return nil
}

// checkChanges verifies the invariants of a loaded key's change list.
func (c *CDCOperator) checkChanges(changes []cdcChange) error {
	if len(changes) == 0 {
		return errors.New("no changes")
	}
	if c.spec.SCDType == 1 && !c.spec.IgnoreNullUpdates && len(changes) != 1 {
		return fmt.Errorf("%d changes for a type 1 key", len(changes))
	}
	for i, ch := range changes {
		if ch.seq.IsNull() {
			return errors.New("NULL sequence")
		}
		if i > 0 {
			if c.spec.SCDType == 1 && ch.del {
				return errors.New("a delete after the first change of a type 1 key")
			}
			if cmp, err := Compare(changes[i-1].seq, ch.seq); err != nil || cmp >= 0 {
				return fmt.Errorf("changes not sorted by sequence at %d", i)
			}
		}
	}
	return nil
}

// stepCDC runs the CDC operator of a Query over one batch: its keys go to the Ready, its counts
// to the metrics, and its mutations are returned for the batch's Persist.
func (q *Query) stepCDC(in StepInput, rd *Ready, m *BatchMetrics) ([]Mutation, error) {
	out, err := q.cdc.Step(in)
	if err != nil {
		return nil, fmt.Errorf("batch %d: cdc: %w", m.BatchID, err)
	}
	rd.CDC = out.Keys
	m.OutputRows = out.Rows
	m.DuplicateRows = out.Duplicates
	return out.Mutations, nil
}
