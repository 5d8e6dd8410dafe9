package core

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// This file is a test driver: it follows the Query contract exactly (write ahead, sink commit with
// an idempotent txn check, atomic state write, Advance, read, Step) against in-memory sources,
// sinks and key/value store, and can crash (discard the Query) at every step and restart from the
// store. The real driver lives elsewhere; this one is what the scenario and randomized tests run.

// logRecord is one record of a fake source.
type logRecord struct {
	key  string
	t    int64
	vals []Value
}

// fakePartition holds positions; a log position holds one record, a Delta-like position (a table
// version) any number.
type fakePartition struct {
	start     int64 // first position not removed by retention
	positions [][]logRecord
}

type fakeSource struct {
	delta bool // positions are versions: report their costs
	parts map[int32]*fakePartition
}

// fakeSink is a Delta table with txn-based idempotence: appends (append mode, plain rows, late
// rows) or upserts by (window, key) (update mode).
type fakeSink struct {
	txn    int64
	upsert bool
	rows   []string
	table  map[string]string

	// The committed rows and results, structured, for the randomized test.
	rawRows    []Row
	rawResults []Result
	rawTable   map[string]Result
}

func newFakeSink(upsert bool) *fakeSink {
	return &fakeSink{txn: -1, upsert: upsert, table: map[string]string{}, rawTable: map[string]Result{}}
}

func (s *fakeSink) contents() []string {
	if !s.upsert {
		return slices.Clone(s.rows)
	}
	return slices.Sorted(maps.Values(s.table))
}

type harness struct {
	cfg     Config
	q       *Query
	now     time.Time
	store   map[string][]byte
	sources map[string]*fakeSource
	sink    *fakeSink
	late    *fakeSink

	// restoreEachBatch restarts the query from the store after every completed batch.
	restoreEachBatch bool
	// Counters of what the driver did, for tests.
	restarts, skippedCommits int

	// onCommit, if set, sees every processed batch's Ready before its sink commit (replays too);
	// onRead every batch read.
	onCommit func(rd Ready)
	onRead   func(b *Batch, rows []Row)

	out strings.Builder
}

func newHarness(cfg Config, restoreEachBatch bool) (*harness, error) {
	q, err := NewQuery(cfg)
	if err != nil {
		return nil, err
	}
	h := &harness{cfg: cfg, q: q, now: time.Unix(0, 0), store: map[string][]byte{}, sources: map[string]*fakeSource{},
		restoreEachBatch: restoreEachBatch}
	h.sink = newFakeSink(cfg.Aggregate != nil && cfg.Aggregate.Mode == OutputUpdate)
	h.late = newFakeSink(false)
	for _, s := range cfg.Sources {
		h.sources[s] = &fakeSource{parts: map[int32]*fakePartition{0: {}}}
	}
	return h, nil
}

func (h *harness) printf(format string, args ...any) { fmt.Fprintf(&h.out, format, args...) }

func (h *harness) partition(id PartitionID) *fakePartition {
	src := h.sources[id.Source]
	if src == nil {
		panic("unknown source " + id.Source)
	}
	p := src.parts[id.Partition]
	if p == nil {
		p = &fakePartition{}
		src.parts[id.Partition] = p
	}
	return p
}

func (h *harness) status(source string) SourceStatus {
	src := h.sources[source]
	st := SourceStatus{Source: source}
	for _, n := range slices.Sorted(maps.Keys(src.parts)) {
		p := src.parts[n]
		ps := PartitionStatus{Partition: n, Start: p.start, End: int64(len(p.positions)), BytesPerPosition: 100}
		if src.delta {
			for _, recs := range p.positions {
				ps.Costs = append(ps.Costs, Cost{Records: int64(len(recs)), Bytes: 100 * int64(len(recs))})
			}
		}
		st.Partitions = append(st.Partitions, ps)
	}
	return st
}

func (h *harness) read(b *Batch) []Row {
	var rows []Row
	for _, r := range b.Ranges {
		p := h.partition(r.Partition)
		for pos := r.From; pos < r.To; pos++ {
			if pos < p.start {
				panic(fmt.Sprintf("batch %d reads removed position %d of %s", b.ID, pos, r.Partition))
			}
			for _, rec := range p.positions[pos] {
				rows = append(rows, Row{Partition: r.Partition, EventTime: rec.t, Key: []byte(rec.key), Values: rec.vals})
			}
		}
	}
	return rows
}

func (h *harness) apply(ms []Mutation) {
	for _, m := range ms {
		if m.Delete {
			delete(h.store, string(m.Key))
		} else {
			h.store[string(m.Key)] = bytes.Clone(m.Value)
		}
	}
}

func (h *harness) scan() iter.Seq2[[]byte, []byte] {
	return func(yield func([]byte, []byte) bool) {
		// Sorted, as a pebble scan is; Restore must not depend on it, so reverse it.
		keys := slices.Sorted(maps.Keys(h.store))
		slices.Reverse(keys)
		for _, k := range keys {
			if !yield([]byte(k), h.store[k]) {
				return
			}
		}
	}
}

// restart discards the Query and rebuilds it from the store, then tells it the time and the
// sources' status as a restarted driver would.
func (h *harness) restart() error {
	q, err := NewQuery(h.cfg)
	if err != nil {
		return err
	}
	if err := q.Restore(h.scan()); err != nil {
		return err
	}
	h.q = q
	h.restarts++
	return h.feed()
}

func (h *harness) feed() error {
	h.q.Tick(h.now)
	for _, s := range h.cfg.Sources {
		if err := h.q.Step(h.status(s)); err != nil {
			return err
		}
	}
	return nil
}

// commit writes a processed batch's output to the sinks, skipping what the txn says is there.
func (h *harness) commit(rd Ready) {
	c := rd.Commit
	if h.sink.txn >= c.BatchID {
		h.skippedCommits++
		h.printf("  sink: batch %d already committed (txn %s=%d), skipped\n", c.BatchID, c.AppID, h.sink.txn)
	} else {
		for _, r := range rd.Results {
			k := fmt.Sprintf("%s %q", r.Window, r.Key)
			if r.Retract {
				if _, ok := h.sink.table[k]; !ok {
					panic("retract of a row the sink does not have: " + k)
				}
				delete(h.sink.table, k)
				delete(h.sink.rawTable, k)
				continue
			}
			line := fmtResult(r)
			if h.sink.upsert {
				h.sink.table[k] = line
				h.sink.rawTable[k] = r
			} else {
				h.sink.rows = append(h.sink.rows, line)
				h.sink.rawResults = append(h.sink.rawResults, r)
			}
		}
		for _, r := range rd.Rows {
			h.sink.rows = append(h.sink.rows, fmtRow(r))
			h.sink.rawRows = append(h.sink.rawRows, r)
		}
		h.sink.txn = c.BatchID
	}
	if h.late.txn < c.BatchID {
		for _, r := range rd.Late {
			h.late.rows = append(h.late.rows, fmtRow(r))
			h.late.rawRows = append(h.late.rawRows, r)
		}
		h.late.txn = c.BatchID
	}
}

// drive runs one wake-up of the driver loop at h.now. crashAt ("write-ahead", "sink", "persist")
// discards the Query right after that step of the first batch and restarts it.
func (h *harness) drive(crashAt string) error {
	if err := h.feed(); err != nil {
		return err
	}
	crashed := false
	crash := func(what string, id int64) error {
		crashed = true
		h.printf("  crash after %s of batch %d; restart\n", what, id)
		return h.restart()
	}
	for {
		h.q.Tick(h.now)
		rd, err := h.q.Ready()
		if err != nil {
			return err
		}
		if rd.Empty() {
			break
		}
		h.apply(rd.WriteAhead)
		if rd.Read != nil && crashAt == "write-ahead" && !crashed {
			if err := crash("write-ahead", rd.Read.ID); err != nil {
				return err
			}
			continue
		}
		if rd.Commit != nil {
			h.printOutput(rd)
			h.commit(rd)
			if h.onCommit != nil {
				h.onCommit(rd)
			}
			if crashAt == "sink" && !crashed {
				if err := crash("sink commit", rd.Commit.BatchID); err != nil {
					return err
				}
				continue
			}
		}
		h.apply(rd.Persist)
		if rd.Commit != nil && crashAt == "persist" && !crashed {
			if err := crash("state write", rd.Commit.BatchID); err != nil {
				return err
			}
			continue
		}
		if err := h.q.Advance(); err != nil {
			return err
		}
		if rd.Commit != nil && h.restoreEachBatch {
			if err := h.restart(); err != nil {
				return err
			}
			continue // the restarted query plans on its own
		}
		if rd.Read != nil {
			verb := "batch"
			if len(rd.WriteAhead) == 0 {
				verb = "replay"
			}
			h.printf("%s %s\n", verb, strings.TrimPrefix(rd.Read.String(), "batch "))
			rows := h.read(rd.Read)
			if h.onRead != nil {
				h.onRead(rd.Read, rows)
			}
			if err := h.q.Step(BatchData{BatchID: rd.Read.ID, Rows: rows}); err != nil {
				return err
			}
		}
	}
	switch at, ok := h.q.WakeAt(); {
	case h.q.Done():
		h.printf("done\n")
	case ok:
		h.printf("wait until %s (%s)\n", fmtClock(at), h.q.Waiting())
	default:
		h.printf("wait for data (%s)\n", h.q.Waiting())
	}
	return nil
}

func (h *harness) printOutput(rd Ready) {
	for _, r := range rd.Results {
		h.printf("  %s\n", fmtResult(r))
	}
	for _, r := range rd.Rows {
		h.printf("  row %s\n", fmtRow(r))
	}
	for _, r := range rd.Late {
		h.printf("  late %s\n", fmtRow(r))
	}
	m := rd.Metrics
	h.printf("  wm=%s in=%d out=%d late=%d", fmtWatermark(m.Watermark), m.InputRows, m.OutputRows, m.LateRows)
	if m.DuplicateRows > 0 {
		h.printf(" dups=%d", m.DuplicateRows)
	}
	if m.SkippedPositions > 0 {
		h.printf(" skipped=%d", m.SkippedPositions)
	}
	h.printf(" state=%d/%dB", m.State.Entries, m.State.Bytes)
	if len(m.Partitions) > 1 {
		h.printf(" [")
		for i, p := range m.Partitions {
			if i > 0 {
				h.printf(" ")
			}
			h.printf("%s:%s", p.Partition, fmtWatermark(p.Watermark))
			if p.Idle {
				h.printf(":idle")
			}
		}
		h.printf("]")
	}
	h.printf("\n")
}

func fmtWatermark(wm int64) string {
	switch wm {
	case NoWatermark:
		return "none"
	case MaxWatermark:
		return "max"
	}
	return strconv.FormatInt(wm, 10)
}

func fmtValues(vs []Value) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = v.String()
	}
	return strings.Join(s, " ")
}

func fmtResult(r Result) string {
	if r.Retract {
		return fmt.Sprintf("retract %s %q", r.Window, r.Key)
	}
	return fmt.Sprintf("%s %q: %s", r.Window, r.Key, fmtValues(r.Values))
}

func fmtRow(r Row) string {
	s := fmt.Sprintf("%s %q@%d", r.Partition, r.Key, r.EventTime)
	if len(r.Values) > 0 {
		s += ": " + fmtValues(r.Values)
	}
	return s
}

// describeStore prints the persisted key/values, decoded.
func describeStore(store map[string][]byte) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(store)) {
		v := store[k]
		switch k[0] {
		case sectionOffsets:
			bt, err := DecodeBatch(v)
			if err != nil {
				fmt.Fprintf(&b, "offsets: %v\n", err)
				continue
			}
			fmt.Fprintf(&b, "offsets %s\n", bt)
		case sectionCommits:
			fmt.Fprintf(&b, "commit %d: %s\n", binary.BigEndian.Uint64([]byte(k[1:])), v)
		case sectionAggregate:
			fmt.Fprintf(&b, "aggregate [%d,%d) %q: %d bytes\n", orderedInt64([]byte(k[1:9])), orderedInt64([]byte(k[9:17])), k[17:], len(v))
		case sectionDedup:
			fmt.Fprintf(&b, "dedup %q: %d\n", k[1:], orderedInt64(v))
		default:
			fmt.Fprintf(&b, "%s: %s\n", k, v)
		}
	}
	return b.String()
}

// parseValue reads a value literal: null, "text", 1.5 (float), 1.50d (decimal), 42 (int).
func parseValue(s string) (Value, error) {
	switch {
	case s == "null":
		return Null(), nil
	case strings.HasPrefix(s, `"`):
		u, err := strconv.Unquote(s)
		return String(u), err
	case strings.HasSuffix(s, "d"):
		return ParseDecimal(strings.TrimSuffix(s, "d"))
	case strings.ContainsAny(s, ".eN"):
		f, err := strconv.ParseFloat(s, 64)
		return Float(f), err
	}
	i, err := strconv.ParseInt(s, 10, 64)
	return Int(i), err
}

func parsePartition(s string) (PartitionID, error) {
	src, part, ok := strings.Cut(s, "/")
	n, err := strconv.Atoi(part)
	if !ok || err != nil {
		return PartitionID{}, fmt.Errorf("partition %q: want source/number", s)
	}
	return PartitionID{src, int32(n)}, nil
}

// produce appends records given as lines "source/partition key eventtime value...". Each line is
// one position of a log source; for a Delta-like source all lines of one call for a partition
// form one version.
func (h *harness) produce(input string) error {
	versions := map[PartitionID][]logRecord{}
	var order []PartitionID
	for _, line := range strings.Split(strings.TrimSpace(input), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			return fmt.Errorf("record %q: want partition key time values...", line)
		}
		id, err := parsePartition(f[0])
		if err != nil {
			return err
		}
		if h.sources[id.Source] == nil {
			return fmt.Errorf("unknown source %q", id.Source)
		}
		t, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil {
			return err
		}
		rec := logRecord{key: f[1], t: t}
		for _, vs := range f[3:] {
			v, err := parseValue(vs)
			if err != nil {
				return fmt.Errorf("value %q: %w", vs, err)
			}
			rec.vals = append(rec.vals, v)
		}
		p := h.partition(id)
		if h.sources[id.Source].delta {
			if _, ok := versions[id]; !ok {
				order = append(order, id)
			}
			versions[id] = append(versions[id], rec)
			continue
		}
		p.positions = append(p.positions, []logRecord{rec})
	}
	for _, id := range order {
		p := h.partition(id)
		p.positions = append(p.positions, versions[id])
	}
	return nil
}

var errUsage = errors.New("usage")

// parseDuration accepts Go durations and bare numbers of seconds.
func parseDuration(s string) (time.Duration, error) {
	if n, err := strconv.Atoi(s); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	return time.ParseDuration(s)
}

// parseAgg reads "count(*)", "sum(0)", "approx_count_distinct(1)".
func parseAgg(s string) (AggSpec, error) {
	name, arg, ok := strings.Cut(strings.TrimSuffix(s, ")"), "(")
	if !ok {
		return AggSpec{}, fmt.Errorf("aggregate %q: %w", s, errUsage)
	}
	var spec AggSpec
	for f := AggCount; f <= AggApproxCountDistinct; f++ {
		if f.String() == name {
			spec.Func = f
		}
	}
	if spec.Func == 0 {
		return spec, fmt.Errorf("aggregate %q: unknown function", s)
	}
	if arg == "*" {
		spec.Column = -1
		return spec, nil
	}
	n, err := strconv.Atoi(arg)
	spec.Column = n
	return spec, err
}

func parseWindow(s string) (WindowSpec, error) {
	f := strings.Split(s, ":")
	nums := make([]int64, len(f)-1)
	for i := range nums {
		n, err := strconv.ParseInt(f[i+1], 10, 64)
		if err != nil {
			return WindowSpec{}, err
		}
		nums[i] = n
	}
	switch {
	case f[0] == "tumbling" && len(nums) == 1:
		return Tumbling(nums[0]), nil
	case f[0] == "hopping" && len(nums) == 2:
		return Hopping(nums[0], nums[1]), nil
	case f[0] == "session" && len(nums) == 1:
		return Session(nums[0]), nil
	}
	return WindowSpec{}, fmt.Errorf("window %q: %w", s, errUsage)
}

func parseTrigger(s string) (Trigger, error) {
	kind, arg, _ := strings.Cut(s, ":")
	var d time.Duration
	if arg != "" {
		var err error
		if d, err = parseDuration(arg); err != nil {
			return Trigger{}, err
		}
	}
	switch kind {
	case "interval":
		return Trigger{Kind: TriggerInterval, Interval: d}, nil
	case "available-now":
		return Trigger{Kind: TriggerAvailableNow}, nil
	case "low-latency":
		return Trigger{Kind: TriggerLowLatency, MaxDelay: d}, nil
	}
	return Trigger{}, fmt.Errorf("trigger %q: %w", s, errUsage)
}

// parseConfig builds a Config from scenario arguments:
//
//	sources=(a,b) trigger=interval:10s|available-now|low-latency:5s max-records=N max-bytes=N
//	start=latest allow-data-loss delay=N idle=30s lateness=N drop-late window=tumbling:10|
//	hopping:10:5|session:5 aggs=(count(*),sum(0)) mode=update dedup[=(0,1)] flush retain=N
func parseConfig(args map[string][]string) (Config, error) {
	cfg := Config{AppID: "app", Sources: []string{"s"}}
	var err error
	var window *WindowSpec
	var aggs []AggSpec
	mode := OutputAppend
	num := func(v []string) int64 {
		n, e := strconv.ParseInt(v[0], 10, 64)
		if e != nil && err == nil {
			err = e
		}
		return n
	}
	dur := func(v []string) time.Duration {
		d, e := parseDuration(v[0])
		if e != nil && err == nil {
			err = e
		}
		return d
	}
	for _, k := range slices.Sorted(maps.Keys(args)) {
		v := args[k]
		switch k {
		case "sources":
			cfg.Sources = v
		case "trigger":
			cfg.Trigger, err = parseTrigger(v[0])
		case "max-records":
			cfg.Limits.MaxRecords = num(v)
		case "max-bytes":
			cfg.Limits.MaxBytes = num(v)
		case "start":
			if v[0] == "latest" {
				cfg.StartAt = StartLatest
			}
		case "allow-data-loss":
			cfg.AllowDataLoss = true
		case "delay":
			cfg.Watermark.Delay = num(v)
		case "idle":
			cfg.Watermark.IdleTimeout = dur(v)
		case "lateness":
			cfg.AllowedLateness = num(v)
		case "drop-late":
			cfg.DropLate = true
		case "window":
			var w WindowSpec
			w, err = parseWindow(v[0])
			window = &w
		case "aggs":
			for _, a := range v {
				spec, e := parseAgg(a)
				if e != nil {
					err = e
				}
				aggs = append(aggs, spec)
			}
		case "mode":
			if v[0] == "update" {
				mode = OutputUpdate
			}
		case "dedup":
			cfg.Dedup = &DedupSpec{}
			for _, c := range v {
				if c == "" {
					continue
				}
				n, e := strconv.Atoi(c)
				if e != nil {
					err = e
				}
				cfg.Dedup.KeyColumns = append(cfg.Dedup.KeyColumns, n)
			}
		case "flush":
			cfg.FlushAtEnd = true
		case "retain":
			cfg.RetainBatches = int(num(v))
		default:
			return cfg, fmt.Errorf("unknown argument %q: %w", k, errUsage)
		}
		if err != nil {
			return cfg, err
		}
	}
	if window != nil {
		cfg.Aggregate = &AggregateSpec{Window: *window, Aggs: aggs, Mode: mode}
	}
	return cfg, nil
}

func sortedLines(s []string) []string {
	s = slices.Clone(s)
	sort.Strings(s)
	return s
}
