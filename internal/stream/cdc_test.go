package stream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/log"
	"github.com/stratalake/strata/internal/storage"
	"github.com/stratalake/strata/internal/stream/core"
)

// dbzChange is one Debezium-like change record of the CDC tests: op c (create), u (update) or
// d (delete), the row before and after (after is null for deletes), the source's commit time
// ts_ms, and n, the record's production index (what "first received" means to the reference).
type dbzChange struct {
	N    int
	ID   int64
	Op   string
	Name string // "" is NULL
	City string
	TS   int64
}

func (c dbzChange) json() []byte {
	str := func(s string) string {
		if s == "" {
			return "null"
		}
		return strconv.Quote(s)
	}
	row := fmt.Sprintf(`{"id":%d,"name":%s,"city":%s}`, c.ID, str(c.Name), str(c.City))
	before, after := row, row
	switch c.Op {
	case "c":
		before = "null"
	case "d":
		after = "null"
	}
	return fmt.Appendf(nil, `{"op":%q,"before":%s,"after":%s,"ts_ms":%d,"n":%d}`, c.Op, before, after, c.TS, c.N)
}

// genChanges returns the n-th chunk of a change stream over a few dozen keys: per key, changes
// with increasing ts_ms, delivered out of order (a change may overtake a few others), with exact
// re-deliveries and conflicting repeats of a (key, ts_ms) pair, and enough repetition of names
// and cities that consecutive changes are often equal.
func genChanges(r *rand.Rand, next *int, ts map[int64]int64, n int) []dbzChange {
	names := []string{"ana", "bo", "cy", ""}
	cities := []string{"Madrid", "Lyon", ""}
	var out []dbzChange
	for len(out) < n {
		id := int64(1 + r.IntN(30))
		ts[id] += int64(1 + r.IntN(1000))
		c := dbzChange{ID: id, Op: "u", Name: names[r.IntN(len(names))], City: cities[r.IntN(len(cities))], TS: ts[id]}
		switch x := r.IntN(10); {
		case x == 0:
			c.Op, c.Name, c.City = "d", "", ""
		case x == 1:
			c.Op = "c"
		case x == 2:
			c.TS -= int64(1 + r.IntN(3000)) // late: older than changes already delivered
		}
		out = append(out, c)
		switch r.IntN(12) {
		case 0:
			out = append(out, c) // re-delivered
		case 1:
			d := c
			d.Name = "conflict" // the same (key, ts_ms) with other content: the first wins
			out = append(out, d)
		}
	}
	// Local reordering: swap neighbours.
	for i := range out {
		if j := i + r.IntN(4); j < len(out) && r.IntN(3) == 0 {
			out[i], out[j] = out[j], out[i]
		}
	}
	for i := range out {
		out[i].N = *next
		*next++
	}
	return out
}

// dbzSQL is the transform of the CDC tests: the Debezium envelope mapped to changes.
const dbzSQL = `SELECT coalesce(value->'after'->>'id', value->'before'->>'id')::BIGINT AS id,
	value->'after'->>'name' AS name, value->'after'->>'city' AS city,
	value->>'op' = 'd' AS __del, (value->>'ts_ms')::BIGINT AS ts_ms, epoch_ms((value->>'ts_ms')::BIGINT) AS changed_at,
	value->>'op' AS op
FROM customers`

// cdcReferenceSQL computes, with plain DuckDB over the NDJSON file of every change produced, what
// the CDC query must have written: the changes deduplicated on (id, ts_ms) keeping the first
// produced, then for type 1 the row of the greatest ts_ms per key unless it is a delete, and for
// type 2 the history: a version starts at an upsert that does not repeat the previous change's
// name and city, and ends at the change that follows its last upsert.
func cdcReferenceSQL(input string, scd int) string {
	changes := `WITH raw AS (
	SELECT * FROM read_json(` + sqlString(input) + `, format = 'newline_delimited',
		columns = {op: 'VARCHAR', before: 'JSON', after: 'JSON', ts_ms: 'BIGINT', n: 'BIGINT'})),
ch AS (
	SELECT coalesce(after->>'id', before->>'id')::BIGINT AS id, after->>'name' AS name, after->>'city' AS city,
		op = 'd' AS del, ts_ms, epoch_ms(ts_ms) AS changed_at, n
	FROM raw),
d AS (SELECT * FROM ch QUALIFY row_number() OVER (PARTITION BY id, ts_ms ORDER BY n) = 1)
`
	if scd == 1 {
		return changes + `,
latest AS (SELECT id, arg_max({'name': name, 'city': city, 'del': del, 'ts_ms': ts_ms}, ts_ms) AS r FROM d GROUP BY id)
SELECT id, r.name, r.city, r.ts_ms, epoch_ms(r.ts_ms)::VARCHAR FROM latest WHERE NOT r.del`
	}
	return changes + `,
w AS (
	SELECT *, lag(del) OVER k AS pdel, lag(name) OVER k AS pname, lag(city) OVER k AS pcity, lead(changed_at) OVER k AS next_at
	FROM d WINDOW k AS (PARTITION BY id ORDER BY ts_ms)),
v AS (
	SELECT *, sum(CASE WHEN NOT del AND (pdel IS NULL OR pdel OR pname IS DISTINCT FROM name OR pcity IS DISTINCT FROM city)
		THEN 1 ELSE 0 END) OVER (PARTITION BY id ORDER BY ts_ms) AS version
	FROM w)
SELECT id, arg_min_null(name, ts_ms), arg_min_null(city, ts_ms), min(changed_at)::VARCHAR, min(changed_at)::VARCHAR,
	(CASE WHEN count(*) FILTER (next_at IS NULL) > 0 THEN NULL ELSE max(next_at) END)::VARCHAR
FROM v WHERE NOT del GROUP BY id, version`
}

// cdcTargetSQL reads a CDC output table in the reference's column order.
func cdcTargetSQL(table string, scd int) string {
	if scd == 1 {
		return "SELECT id, name, city, ts_ms, changed_at::VARCHAR FROM delta_scan(" + sqlString(table) + ")"
	}
	return "SELECT id, name, city, changed_at::VARCHAR, __START_AT::VARCHAR, __END_AT::VARCHAR FROM delta_scan(" + sqlString(table) + ")"
}

// errInjected is the failure the CDC test's store injects.
var errInjected = errors.New("injected failure")

// failCommit is a store that fails the fail-th Delta commit written through it: before the commit
// file is written (the commit is lost) or after (the commit landed, but the writer sees an error,
// as if it had crashed right after it).
type failCommit struct {
	storage.Store
	fail  atomic.Int64
	after bool
}

func (s *failCommit) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	if strings.HasPrefix(key, "_delta_log/") && strings.HasSuffix(key, ".json") && s.fail.Add(-1) == 0 {
		if s.after {
			if err := s.Store.PutIfAbsent(ctx, key, data); err != nil {
				return err
			}
		}
		return errInjected
	}
	return s.Store.PutIfAbsent(ctx, key, data)
}

// TestCDCDebezium streams Debezium-like change records (out of order, re-delivered, conflicting
// repeats, deletes, NULL columns) from an embedded-log topic through AUTO CDC queries of SCD type 1
// (sequence ts_ms, a BIGINT; op excluded) and type 2 (sequence changed_at, a TIMESTAMP, kept as a
// normal column; op and ts_ms excluded), in rounds of small batches. In some rounds the output commit of a batch
// fails, once after landing (the replay must find its txn and skip it) and once before (the
// replay must write it). After every round each output table, read back with the engine, must
// equal the plain-DuckDB reference over every change produced so far.
func TestCDCDebezium(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	e := openEngine(t)
	l := openEmbedded(t, filepath.Join(dir, "log"))
	defer l.Close()
	if err := l.CreateTopic(ctx, "customers", log.TopicConfig{Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	seed := envInt("STRATA_STREAM_CDC_SEED", time.Now().UnixNano()%1_000_000_007)
	t.Logf("seed %d (STRATA_STREAM_CDC_SEED)", seed)
	r := rand.New(rand.NewPCG(uint64(seed), 5))

	queries := []Query{}
	for _, scd := range []int{1, 2} {
		q := Query{
			Name:       fmt.Sprintf("customers_scd%d", scd),
			Sources:    []Source{{Name: "customers", Topic: "customers"}},
			SQL:        dbzSQL,
			CDC:        &CDC{Keys: []string{"id"}, Sequence: "ts_ms", Delete: "__del", SCDType: scd, Except: []string{"op"}},
			Output:     Output{Table: filepath.Join(dir, fmt.Sprintf("scd%d", scd))},
			Trigger:    Trigger{Kind: TriggerAvailableNow},
			Limits:     Limits{MaxRecords: 40},
			Checkpoint: filepath.Join(dir, fmt.Sprintf("ckpt%d", scd)),
		}
		if scd == 2 {
			// Without ts_ms, consecutive changes with equal name and city are one version.
			q.CDC.Sequence, q.CDC.Except = "changed_at", []string{"op", "ts_ms"}
		}
		queries = append(queries, q)
	}

	input := filepath.Join(dir, "changes.ndjson")
	var all []dbzChange
	next, ts := 0, map[int64]int64{}
	for round := range 5 {
		chunk := genChanges(r, &next, ts, 150)
		all = append(all, chunk...)
		recs := make([]log.Record, len(chunk))
		var file []byte
		for i, c := range chunk {
			recs[i] = log.Record{Partition: -1, Key: []byte(strconv.FormatInt(c.ID, 10)), Value: c.json()}
		}
		for _, c := range all {
			file = append(append(file, c.json()...), '\n')
		}
		if _, err := l.Produce(ctx, "customers", recs); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(input, file, 0o644); err != nil {
			t.Fatal(err)
		}
		for k, q := range queries {
			scd := k + 1
			var batches []BatchMetrics
			deps := Deps{Engine: e, Log: l, OnBatch: func(b BatchMetrics) { batches = append(batches, b) }}
			inject := round == 1 || round == 3
			if inject {
				// Fail the second commit of this run to the output table (the first creates the
				// table in round 0 only, so this is always a batch's commit).
				deps.WrapStore = func(loc string, s storage.Store) storage.Store {
					if loc != q.Output.Table {
						return s
					}
					fc := &failCommit{Store: s, after: round == 1}
					fc.fail.Store(2)
					return fc
				}
				if _, err := Run(ctx, q, deps); !errors.Is(err, errInjected) {
					t.Fatalf("round %d scd%d: run with a failing commit: %v", round, scd, err)
				}
				deps.WrapStore = nil
			}
			if _, err := Run(ctx, q, deps); err != nil {
				t.Fatalf("round %d scd%d: %v", round, scd, err)
			}
			var changed, out int64
			replays, skipped := 0, 0
			for _, b := range batches {
				changed += b.ChangedKeys
				out += b.OutputRows
				if b.Replayed {
					replays++
				}
				if b.SinkSkipped {
					skipped++
				}
				if b.LateRows != 0 || b.LateVersion >= 0 {
					t.Errorf("round %d scd%d: batch %d has late rows: %+v", round, scd, b.BatchID, b)
				}
			}
			if changed == 0 || out == 0 || len(batches) < 2 {
				t.Errorf("round %d scd%d: %d batches changed %d keys, wrote %d rows", round, scd, len(batches), changed, out)
			}
			if inject && replays != 1 {
				t.Errorf("round %d scd%d: %d replayed batches, want 1", round, scd, replays)
			}
			if want := 0; round == 1 {
				want = 1
				if skipped != want {
					t.Errorf("round %d scd%d: %d replayed commits skipped, want %d", round, scd, skipped, want)
				}
			} else if skipped != 0 {
				t.Errorf("round %d scd%d: %d commits skipped, want none", round, scd, skipped)
			}
			got := queryRows(t, e, cdcTargetSQL(q.Output.Table, scd))
			want := queryRows(t, e, cdcReferenceSQL(input, scd))
			if len(want) == 0 {
				t.Fatalf("round %d scd%d: the reference is empty", round, scd)
			}
			diffRows(t, fmt.Sprintf("round %d scd%d output", round, scd), got, want)
			t.Logf("round %d scd%d: %d changes so far, %d batches (%d replayed, %d skipped) changed %d keys and wrote %d rows; %d rows in the table",
				round, scd, len(all), len(batches), replays, skipped, changed, out, len(got))
			if t.Failed() {
				t.FailNow()
			}
		}
	}
	// The type 2 history has versions that ended, and open ones.
	if n := queryRows(t, e, "SELECT count(*) FILTER (__END_AT IS NULL) > 0 AND count(*) FILTER (__END_AT IS NOT NULL) > 0 FROM delta_scan("+sqlString(queries[1].Output.Table)+")"); n[0] != "true" {
		t.Errorf("history without ended or open versions")
	}
}

// TestCDCQueryErrors checks what a CDC query refuses: invalid definitions (ErrInvalidQuery),
// columns that do not fit (ErrTransformOutput), and a change with a NULL key, which fails its
// batch and commits nothing.
func TestCDCQueryErrors(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	base := func() Query {
		return Query{
			Name:       "cdc",
			Sources:    []Source{{Name: "customers", Topic: "customers"}},
			SQL:        dbzSQL,
			CDC:        &CDC{Keys: []string{"id"}, Sequence: "ts_ms", Delete: "__del"},
			Output:     Output{Table: filepath.Join(dir, "out")},
			Trigger:    Trigger{Kind: TriggerAvailableNow},
			Checkpoint: filepath.Join(dir, "ckpt"),
		}
	}
	for _, c := range []struct {
		name string
		mut  func(q *Query)
		want string
	}{
		{"aggregate", func(q *Query) {
			q.Aggregate = &Aggregate{Window: Tumbling(time.Minute), Aggs: []Agg{{Func: Count}}}
			q.EventTime = "changed_at"
		}, "Dedup or Aggregate"},
		{"dedup", func(q *Query) { q.Dedup = &Dedup{Columns: []string{"id"}}; q.EventTime = "changed_at" }, "Dedup or Aggregate"},
		{"mode", func(q *Query) { q.Output.Mode = OutputUpdate }, "implied"},
		{"no keys", func(q *Query) { q.CDC.Keys = nil }, "no Keys"},
		{"no sequence", func(q *Query) { q.CDC.Sequence = "" }, "Sequence"},
		{"scd type", func(q *Query) { q.CDC.SCDType = 3 }, "SCDType"},
		{"sequence is a key", func(q *Query) { q.CDC.Keys = []string{"id", "TS_MS"} }, "is a key"},
		{"delete is a key", func(q *Query) { q.CDC.Delete = "id" }, "Delete"},
		{"key excluded", func(q *Query) { q.CDC.Except = []string{"id"} }, "cannot be excluded"},
	} {
		q := base()
		c.mut(&q)
		if err := q.validate(); !errors.Is(err, ErrInvalidQuery) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v", c.name, err)
		}
	}

	e := openEngine(t)
	l := openEmbedded(t, filepath.Join(dir, "log"))
	defer l.Close()
	if err := l.CreateTopic(ctx, "customers", log.TopicConfig{Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		mut  func(q *Query)
		want string
	}{
		{"unknown key", func(q *Query) { q.CDC.Keys = []string{"nope"} }, `"nope"`},
		{"delete not boolean", func(q *Query) { q.CDC.Delete = "op" }, "BOOLEAN"},
		{"reserved", func(q *Query) {
			q.SQL = "SELECT 1 AS id, 2 AS ts_ms, 3 AS __start_at FROM customers"
			q.CDC = &CDC{Keys: []string{"id"}, Sequence: "ts_ms", SCDType: 2}
		}, "reserved"},
		{"unsupported type", func(q *Query) {
			q.SQL = "SELECT 1 AS id, 2 AS ts_ms, [1, 2] AS tags FROM customers"
			q.CDC = &CDC{Keys: []string{"id"}, Sequence: "ts_ms"}
		}, `"tags"`},
	} {
		q := base()
		c.mut(&q)
		if _, err := Run(ctx, q, Deps{Engine: e, Log: l}); !errors.Is(err, ErrTransformOutput) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v", c.name, err)
		}
	}

	good := dbzChange{ID: 1, Op: "c", Name: "ana", City: "Lyon", TS: 10}
	recs := []log.Record{{Partition: 0, Value: good.json()}, {Partition: 0, Value: []byte(`{"op":"c","before":null,"after":{"name":"x"},"ts_ms":11}`)}}
	if _, err := l.Produce(ctx, "customers", recs); err != nil {
		t.Fatal(err)
	}
	q := base()
	_, err := Run(ctx, q, Deps{Engine: e, Log: l})
	if !errors.Is(err, ErrTransformOutput) || !errors.Is(err, core.ErrCDCNull) || !strings.Contains(err.Error(), `key column "id" is NULL`) ||
		!strings.Contains(err.Error(), "customers/0: output row 1") {
		t.Errorf("NULL key: %v", err)
	}
	if _, err := os.Stat(filepath.Join(q.Output.Table, "_delta_log")); err == nil {
		t.Errorf("a batch with a NULL key committed")
	}
	// Filtered in the SQL, the same input runs.
	q.SQL = "SELECT * FROM (" + dbzSQL + ") WHERE id IS NOT NULL"
	q.Checkpoint = filepath.Join(dir, "ckpt2")
	if _, err := Run(ctx, q, Deps{Engine: e, Log: l}); err != nil {
		t.Fatal(err)
	}
	if got := queryRows(t, e, "SELECT id, name, city, ts_ms FROM delta_scan("+sqlString(q.Output.Table)+")"); strings.Join(got, "|") != "1\tana\tLyon\t10" {
		t.Errorf("output %v", got)
	}
	// The checkpoint belongs to this definition: a restart as type 2 is refused.
	q.CDC.SCDType = 2
	if _, err := Run(ctx, q, Deps{Engine: e, Log: l}); !errors.Is(err, core.ErrIncompatibleState) {
		t.Errorf("restart as SCD type 2: %v, want ErrIncompatibleState", err)
	}
}

// TestCDCKeyPruner checks the file pruning of the CDC sink against hand-made statistics: a file
// may hold a key when the key lies within its bounds, or, for strings, when its maximum is a
// truncated prefix of the key.
func TestCDCKeyPruner(t *testing.T) {
	file := func(stats string) *delta.Add { return &delta.Add{Path: "f", Stats: stats} }
	ints := &keyPruner{path: []string{"id"}, typ: delta.TypeLong, kind: core.KindInt,
		keys: []core.Value{core.Int(3), core.Int(10), core.Int(42)}}
	strs := &keyPruner{path: []string{"id"}, typ: delta.TypeString, kind: core.KindString,
		keys: []core.Value{core.String("apple"), core.String("pearl")}}
	for _, c := range []struct {
		p     *keyPruner
		stats string
		want  bool
	}{
		{ints, `{"numRecords":5,"minValues":{"id":4},"maxValues":{"id":9}}`, false},
		{ints, `{"numRecords":5,"minValues":{"id":4},"maxValues":{"id":10}}`, true},
		{ints, `{"numRecords":5,"minValues":{"id":43},"maxValues":{"id":99}}`, false},
		{ints, `{"numRecords":5,"minValues":{"id":-5},"maxValues":{"id":2}}`, false},
		{ints, `{"numRecords":5,"minValues":{"id":42},"maxValues":{"id":42}}`, true},
		{ints, `{"numRecords":0}`, false},
		{ints, `{"numRecords":5}`, true},
		{ints, ``, true},
		{ints, `{"numRecords":5,"minValues":{"id":"x"},"maxValues":{"id":9}}`, true},
		{strs, `{"numRecords":5,"minValues":{"id":"b"},"maxValues":{"id":"o"}}`, false},
		{strs, `{"numRecords":5,"minValues":{"id":"b"},"maxValues":{"id":"p"}}`, true},   // "p" may be a truncated maximum
		{strs, `{"numRecords":5,"minValues":{"id":"b"},"maxValues":{"id":"pea"}}`, true}, // a truncated maximum
		{strs, `{"numRecords":5,"minValues":{"id":"a"},"maxValues":{"id":"apple"}}`, true},
		{strs, `{"numRecords":5,"minValues":{"id":"q"},"maxValues":{"id":"z"}}`, false},
		{nil, `{"numRecords":0}`, true},
	} {
		if got := c.p.mayHold(file(c.stats)); got != c.want {
			t.Errorf("keys %v, stats %s: may hold %t, want %t", c.p, c.stats, got, c.want)
		}
	}
}

// TestCDCRewritesOnlyTouchedFiles checks the copy-on-write sink's file pruning end to end: three
// batches insert keys of disjoint ranges (one data file each); a fourth batch that updates one key
// of the second range and deletes one of the third must read and remove exactly those two files
// (the first one's statistics rule it out), and the table must hold every other row unchanged. It runs with a BIGINT key and with a VARCHAR key.
func TestCDCRewritesOnlyTouchedFiles(t *testing.T) {
	for _, key := range []struct{ name, expr string }{
		{"bigint", "(coalesce(value->'after'->>'id', value->'before'->>'id'))::BIGINT"},
		{"varchar", "'k' || lpad(coalesce(value->'after'->>'id', value->'before'->>'id'), 3, '0')"},
	} {
		t.Run(key.name, func(t *testing.T) {
			ctx := testCtx(t)
			dir := t.TempDir()
			e := openEngine(t)
			l := openEmbedded(t, filepath.Join(dir, "log"))
			defer l.Close()
			if err := l.CreateTopic(ctx, "customers", log.TopicConfig{Partitions: 1}); err != nil {
				t.Fatal(err)
			}
			produce := func(cs ...dbzChange) {
				recs := make([]log.Record, len(cs))
				for i, c := range cs {
					recs[i] = log.Record{Partition: 0, Value: c.json()}
				}
				if _, err := l.Produce(ctx, "customers", recs); err != nil {
					t.Fatal(err)
				}
			}
			var inserts []dbzChange
			for id := int64(1); id <= 30; id++ {
				inserts = append(inserts, dbzChange{ID: id, Op: "c", Name: "n" + strconv.FormatInt(id, 10), City: "Lyon", TS: 100 + id})
			}
			produce(inserts...)
			q := Query{
				Name:       "customers",
				Sources:    []Source{{Name: "customers", Topic: "customers"}},
				SQL:        strings.Replace(dbzSQL, "coalesce(value->'after'->>'id', value->'before'->>'id')::BIGINT", key.expr, 1),
				CDC:        &CDC{Keys: []string{"id"}, Sequence: "ts_ms", Delete: "__del", Except: []string{"op", "changed_at"}},
				Output:     Output{Table: filepath.Join(dir, "out")},
				Trigger:    Trigger{Kind: TriggerAvailableNow},
				Limits:     Limits{MaxRecords: 10},
				Checkpoint: filepath.Join(dir, "ckpt"),
			}
			var batches []BatchMetrics
			deps := Deps{Engine: e, Log: l, OnBatch: func(b BatchMetrics) { batches = append(batches, b) }}
			if _, err := Run(ctx, q, deps); err != nil {
				t.Fatal(err)
			}
			if len(batches) != 3 {
				t.Fatalf("%d batches, want 3", len(batches))
			}
			produce(dbzChange{ID: 15, Op: "u", Name: "new", City: "Madrid", TS: 500}, dbzChange{ID: 22, Op: "d", TS: 500})
			batches = nil
			reads := &readRecorder{}
			deps.WrapStore = func(loc string, s storage.Store) storage.Store {
				if loc != q.Output.Table {
					return s
				}
				reads.Store = s
				return reads
			}
			if _, err := Run(ctx, q, deps); err != nil {
				t.Fatal(err)
			}
			if n := len(reads.files()); n != 2 {
				t.Errorf("the update read %d data files %v, want 2", n, reads.files())
			}
			if len(batches) != 1 || batches[0].ChangedKeys != 2 || batches[0].OutputRows != 1 {
				t.Fatalf("batches %+v, want one changing 2 keys and writing 1 row", batches)
			}
			commit, err := os.ReadFile(filepath.Join(q.Output.Table, "_delta_log", fmt.Sprintf("%020d.json", batches[0].OutputVersion)))
			if err != nil {
				t.Fatal(err)
			}
			var adds, removes int
			for _, line := range strings.Split(string(commit), "\n") {
				adds += strings.Count(line[:min(len(line), 8)], `{"add"`)
				removes += strings.Count(line[:min(len(line), 11)], `{"remove"`)
			}
			if adds != 1 || removes != 2 {
				t.Errorf("the update commit adds %d files and removes %d, want 1 and 2:\n%s", adds, removes, commit)
			}
			got := queryRows(t, e, "SELECT count(*), count(*) FILTER (name = 'new' AND city = 'Madrid' AND ts_ms = 500), count(DISTINCT id) FROM delta_scan("+sqlString(q.Output.Table)+")")
			if got[0] != "29\t1\t29" {
				t.Errorf("rows, updated rows, distinct keys: %s, want 29 1 29", got[0])
			}
		})
	}
}

// readRecorder is a store that records the data files read through it.
type readRecorder struct {
	storage.Store
	mu   sync.Mutex // guards read
	read map[string]bool
}

func (s *readRecorder) note(key string) {
	if strings.HasSuffix(key, ".parquet") && !strings.HasPrefix(key, "_delta_log/") {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.read == nil {
			s.read = map[string]bool{}
		}
		s.read[key] = true
	}
}

func (s *readRecorder) files() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.read))
}

func (s *readRecorder) Get(ctx context.Context, key string) ([]byte, error) {
	s.note(key)
	return s.Store.Get(ctx, key)
}

func (s *readRecorder) GetRange(ctx context.Context, key string, offset, length int64) ([]byte, error) {
	s.note(key)
	return s.Store.GetRange(ctx, key, offset, length)
}

func (s *readRecorder) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	s.note(key)
	return s.Store.Open(ctx, key)
}
