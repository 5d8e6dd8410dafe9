package reliability

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/engine"
	"github.com/stratalake/strata/internal/table"
)

// A writer worker (`strata bench reliability --worker writer`) reads its instructions from these
// environment variables. S3 settings come from the AWS variables (s3test.Server.Env).
const (
	wEnvLocation = "STRATA_WRITERS_LOCATION" // table location: a folder or an s3:// URL
	wEnvWorker   = "STRATA_WRITERS_WORKER"   // worker number, 0..writers-1
	wEnvWriters  = "STRATA_WRITERS_WRITERS"  // number of workers (for MERGE probe ids)
	wEnvSeed     = "STRATA_WRITERS_SEED"     // the run's seed
	wEnvOps      = "STRATA_WRITERS_OPS"      // operations at most
	wEnvDuration = "STRATA_WRITERS_DURATION" // start no operation after this long (Go duration)
	wEnvRecords  = "STRATA_WRITERS_RECORDS"  // the worker's JSON-lines record file
	wEnvStreams  = "STRATA_WRITERS_STREAMS"  // number of streams (appIds) shared by the workers
	wEnvCache    = "STRATA_WRITERS_CACHE"    // the engine's cache folder
)

// wRowID is the id of row k of operation i of worker w: every operation inserts ids of its own.
func wRowID(w, i, k int) int64 { return int64(w+1)*1_000_000 + int64(i)*100 + int64(k) }

// wStreamRows are the rows of batch b of stream s: the same whoever delivers the batch.
func wStreamRows(s int, b int64) []wRow {
	out := make([]wRow, 2)
	for k := range out {
		out[k] = wRow{ID: 50_000_000 + int64(s)*100_000 + b*10 + int64(k), P: wPartitions[(int(b)+k+s)%len(wPartitions)]}
	}
	return out
}

// wStreamApp names stream s.
func wStreamApp(s int) string { return fmt.Sprintf("reliability-stream-%d", s) }

// wWorkerConfig is a worker's view of its environment.
type wWorkerConfig struct {
	location       string
	worker, nw     int
	seed           uint64
	ops, streams   int
	duration       time.Duration
	records, cache string
}

func wWorkerConfigFromEnv() (wWorkerConfig, error) {
	cfg := wWorkerConfig{location: os.Getenv(wEnvLocation), records: os.Getenv(wEnvRecords), cache: os.Getenv(wEnvCache)}
	if cfg.location == "" || cfg.records == "" {
		return cfg, fmt.Errorf("writer worker: %s and %s are required", wEnvLocation, wEnvRecords)
	}
	ints := []struct {
		name string
		dst  *int
	}{{wEnvWorker, &cfg.worker}, {wEnvWriters, &cfg.nw}, {wEnvOps, &cfg.ops}, {wEnvStreams, &cfg.streams}}
	for _, x := range ints {
		n, err := strconv.Atoi(os.Getenv(x.name))
		if err != nil {
			return cfg, fmt.Errorf("writer worker: %s: %w", x.name, err)
		}
		*x.dst = n
	}
	var err error
	if cfg.seed, err = strconv.ParseUint(os.Getenv(wEnvSeed), 10, 64); err != nil {
		return cfg, fmt.Errorf("writer worker: %s: %w", wEnvSeed, err)
	}
	if cfg.duration, err = time.ParseDuration(os.Getenv(wEnvDuration)); err != nil {
		return cfg, fmt.Errorf("writer worker: %s: %w", wEnvDuration, err)
	}
	if cfg.nw < 1 || cfg.streams < 1 {
		return cfg, fmt.Errorf("writer worker: %s and %s must be positive", wEnvWriters, wEnvStreams)
	}
	return cfg, nil
}

// runWriterWorker is one writer of the writers section: it opens the table and a SQL engine,
// prints "ready" on stdout, waits for one byte on stdin (so that every worker starts at once),
// then runs random operations (seeded by the run's seed and its number) until it has run its
// count or its time is up, appending one JSON line per operation to its record file.
func runWriterWorker(ctx context.Context) error {
	cfg, err := wWorkerConfigFromEnv()
	if err != nil {
		return err
	}
	// The parent bounds the run; this is a safety net against a worker that hangs.
	ctx, cancel := context.WithTimeout(ctx, cfg.duration+5*time.Minute)
	defer cancel()
	tbl, err := table.Open(ctx, cfg.location)
	if err != nil {
		return fmt.Errorf("writer worker %d: %w", cfg.worker, err)
	}
	eng, err := engine.Open(ctx, engine.Options{Threads: 1, CacheDir: cfg.cache})
	if err != nil {
		return fmt.Errorf("writer worker %d: %w", cfg.worker, err)
	}
	defer eng.Close()
	out, err := os.OpenFile(cfg.records, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("writer worker %d: %w", cfg.worker, err)
	}
	defer out.Close()
	if _, err := os.Stdout.WriteString("ready\n"); err != nil {
		return fmt.Errorf("writer worker %d: %w", cfg.worker, err)
	}
	if _, err := io.ReadFull(os.Stdin, make([]byte, 1)); err != nil {
		return fmt.Errorf("writer worker %d: waiting for the start signal: %w", cfg.worker, err)
	}
	w := &wWorker{cfg: cfg, tbl: tbl, eng: eng, rng: rand.New(rand.NewPCG(cfg.seed, uint64(cfg.worker)+1)),
		name: fmt.Sprintf("w%d", cfg.worker), loc: strings.ReplaceAll(tbl.Location(), "`", "``")}
	deadline := time.Now().Add(cfg.duration)
	for i := 0; i < cfg.ops && time.Now().Before(deadline); i++ {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("writer worker %d: %w", cfg.worker, err)
		}
		op := w.run(ctx, i)
		b, err := json.Marshal(op)
		if err != nil {
			return err
		}
		if _, err := out.Write(append(b, '\n')); err != nil {
			return fmt.Errorf("writer worker %d: record: %w", cfg.worker, err)
		}
		if err := wSleep(ctx, time.Duration(w.rng.IntN(30))*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

// wWorker is a running writer.
type wWorker struct {
	cfg  wWorkerConfig
	tbl  *table.Table
	eng  *engine.Engine
	rng  *rand.Rand
	name string
	loc  string // the table location, escaped for delta.`...`
}

// run draws and runs operation i and returns its record.
func (w *wWorker) run(ctx context.Context, i int) *wOp {
	op := &wOp{Op: fmt.Sprintf("%s-%03d", w.name, i), Worker: w.name}
	rng := w.rng
	part := func() string { return wPartitions[rng.IntN(len(wPartitions))] }
	scope := func() string {
		if rng.IntN(2) == 0 {
			return ""
		}
		return part()
	}
	// Time between reading the table and committing, for table.Write (a slow source).
	think := time.Duration(rng.IntN(60)) * time.Millisecond
	start := time.Now()
	switch x := rng.IntN(100); {
	case x < 22:
		op.Kind = wAppend
		for k := range 1 + rng.IntN(4) {
			op.Rows = append(op.Rows, wRow{ID: wRowID(w.cfg.worker, i, k), P: part()})
		}
		w.write(ctx, op, table.WriteOptions{Mode: table.Append}, think)
	case x < 36:
		op.Kind = wStream
		w.stream(ctx, op, rng.IntN(w.cfg.streams), think)
	case x < 46:
		op.Kind, op.Partition = wOverwrite, part()
		for k := range 1 + rng.IntN(3) {
			op.Rows = append(op.Rows, wRow{ID: wRowID(w.cfg.worker, i, k), P: op.Partition})
		}
		w.write(ctx, op, table.WriteOptions{Mode: table.Overwrite, ReplaceWhere: fmt.Sprintf("p = '%s'", op.Partition)}, think)
	case x < 58:
		op.Kind, op.Partition = wDelete, scope()
		op.Mod = int64(5 + rng.IntN(5))
		op.Rem = int64(rng.IntN(int(op.Mod)))
		op.SQL = fmt.Sprintf("DELETE FROM delta.`%s` WHERE %s", w.loc, op.where())
		w.sql(ctx, op)
	case x < 74:
		op.Kind, op.Partition = wUpdate, scope()
		op.Mod = int64(2 + rng.IntN(5))
		op.Rem = int64(rng.IntN(int(op.Mod)))
		op.SQL = fmt.Sprintf("UPDATE delta.`%s` SET v = v + 1 WHERE %s", w.loc, op.where())
		w.sql(ctx, op)
	case x < 90:
		op.Kind = wMerge
		w.merge(ctx, op, i)
	default:
		op.Kind, op.Partition = wOptimize, scope()
		op.SQL = fmt.Sprintf("OPTIMIZE delta.`%s`", w.loc)
		if op.Partition != "" {
			op.SQL += fmt.Sprintf(" WHERE p = '%s'", op.Partition)
		}
		w.sql(ctx, op)
	}
	op.Millis = time.Since(start).Milliseconds()
	return op
}

// write runs an append or overwrite through table.Write.
func (w *wWorker) write(ctx context.Context, op *wOp, opts table.WriteOptions, think time.Duration) {
	opts.UserMetadata = op.Op
	res, err := w.tbl.Write(ctx, wRowSource{rows: op.Rows, delay: think}, opts)
	wRecordOutcome(op, res, err)
}

// stream delivers a batch of stream s with its txn: usually the next batch, sometimes (a
// retried micro-batch) one the table already has, which must be skipped.
func (w *wWorker) stream(ctx context.Context, op *wOp, s int, think time.Duration) {
	op.AppID = wStreamApp(s)
	snap, err := w.tbl.Snapshot(ctx, -1)
	if err != nil {
		wRecordOutcome(op, nil, err)
		return
	}
	cur, ok := snap.TxnVersion(op.AppID)
	switch {
	case !ok:
		op.AppVersion = 0
	case w.rng.IntN(5) == 0:
		op.AppVersion = w.rng.Int64N(cur + 1)
	default:
		op.AppVersion = cur + 1
	}
	op.Rows = wStreamRows(s, op.AppVersion)
	res, err := w.tbl.Write(ctx, wRowSource{rows: op.Rows, delay: think},
		table.WriteOptions{Mode: table.Append, AppID: op.AppID, AppVersion: op.AppVersion, UserMetadata: op.Op})
	wRecordOutcome(op, res, err)
}

// merge runs a MERGE whose source holds probe ids (existing or not; matched ones get v + 10)
// and fresh rows of its own (inserted).
func (w *wWorker) merge(ctx context.Context, op *wOp, i int) {
	// Probes: ids of the table as this worker sees it now (most will still be there when the
	// MERGE reads), and one that may or may not exist.
	seen := map[int64]bool{}
	if live, err := scanWriterRows(ctx, w.tbl, -1); err == nil && len(live) > 0 {
		for range 1 + w.rng.IntN(3) {
			if id := live[w.rng.IntN(len(live))].ID; !seen[id] {
				seen[id] = true
				op.Probes = append(op.Probes, id)
			}
		}
	}
	if id := wRowID(w.rng.IntN(w.cfg.nw), w.rng.IntN(i+1), w.rng.IntN(4)); !seen[id] && id/100 != wRowID(w.cfg.worker, i, 0)/100 {
		op.Probes = append(op.Probes, id)
	}
	var values []string
	for _, id := range op.Probes {
		values = append(values, fmt.Sprintf("(%d, '0', false)", id))
	}
	for k := range 1 + w.rng.IntN(2) {
		r := wRow{ID: wRowID(w.cfg.worker, i, k), P: wPartitions[w.rng.IntN(len(wPartitions))]}
		op.Rows = append(op.Rows, r)
		values = append(values, fmt.Sprintf("(%d, '%s', true)", r.ID, r.P))
	}
	op.SQL = fmt.Sprintf("MERGE INTO delta.`%s` t USING (SELECT CAST(id AS BIGINT) AS id, p, fresh FROM (VALUES %s) AS s(id, p, fresh)) s "+
		"ON t.id = s.id WHEN MATCHED THEN UPDATE SET v = t.v + 10 WHEN NOT MATCHED AND s.fresh THEN INSERT (id, p, v) VALUES (s.id, s.p, 0)",
		w.loc, strings.Join(values, ", "))
	w.sql(ctx, op)
}

// sql runs op.SQL through the engine, as a user would, and records what it reported.
func (w *wWorker) sql(ctx context.Context, op *wOp) {
	var fields map[string]any
	err := w.eng.Run(ctx, op.SQL, func(res *engine.Result) error {
		fields = res.Fields
		return nil
	})
	if err != nil {
		wRecordOutcome(op, nil, err)
		return
	}
	committed, ok1 := fields["committed"].(bool)
	version, ok2 := wInteger(fields["version"])
	if !ok1 || !ok2 {
		op.Outcome, op.Error = wError, fmt.Sprintf("the statement reported no commit outcome: %v", fields)
		return
	}
	op.Version = &version
	op.Outcome = wCommitted
	if !committed {
		op.Outcome = wUnchanged
	}
}

// wRecordOutcome fills op's outcome from a table.Write result (nil for SQL errors).
func wRecordOutcome(op *wOp, res *table.WriteResult, err error) {
	var ce *delta.ConflictError
	switch {
	case err == nil && res.Skipped:
		op.Outcome, op.Version = wSkipped, &res.Version
	case err == nil:
		op.Outcome, op.Version = wCommitted, &res.Version
		if res.Commit != nil {
			op.Attempts = res.Commit.Attempts
		}
	case errors.As(err, &ce):
		op.Outcome, op.ConflictKind = wConflict, ce.Kind
		op.ReadVersion, op.WinningVersion = &ce.ReadVersion, &ce.WinningVersion
		op.Error = err.Error()
	case errors.Is(err, delta.ErrConflict):
		op.Outcome, op.Error = wGaveUp, err.Error()
	default:
		op.Outcome, op.Error = wError, err.Error()
	}
}

// wRowSource is a table.Source over rows in memory; Open waits for delay first (a slow
// producer, widening the window between a write's read and its commit).
type wRowSource struct {
	rows  []wRow
	delay time.Duration
}

// wSchema is the writers' table schema.
func wSchema() *delta.StructType {
	return &delta.StructType{Fields: []*delta.StructField{
		{Name: "id", Type: delta.TypeLong, Nullable: true},
		{Name: "p", Type: delta.TypeString, Nullable: true},
		{Name: "v", Type: delta.TypeLong, Nullable: true},
	}}
}

// Schema is the Arrow form of wSchema.
func (s wRowSource) Schema() *arrow.Schema { return delta.ToArrowSchema(wSchema()) }

// Open returns the rows as one batch laid out as target (columns matched by name).
func (s wRowSource) Open(ctx context.Context, target *arrow.Schema) (array.RecordReader, error) {
	if err := wSleep(ctx, s.delay); err != nil {
		return nil, err
	}
	cols := make([]arrow.Array, 0, target.NumFields())
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	for _, f := range target.Fields() {
		switch strings.ToLower(f.Name) {
		case "id", "v":
			if f.Type.ID() != arrow.INT64 {
				return nil, fmt.Errorf("writers: column %s has type %s, want int64", f.Name, f.Type)
			}
			b := array.NewInt64Builder(memory.DefaultAllocator)
			for _, r := range s.rows {
				if strings.EqualFold(f.Name, "id") {
					b.Append(r.ID)
				} else {
					b.Append(r.V)
				}
			}
			cols = append(cols, b.NewArray())
			b.Release()
		case "p":
			if f.Type.ID() != arrow.STRING {
				return nil, fmt.Errorf("writers: column p has type %s, want string", f.Type)
			}
			b := array.NewStringBuilder(memory.DefaultAllocator)
			for _, r := range s.rows {
				b.Append(r.P)
			}
			cols = append(cols, b.NewArray())
			b.Release()
		default:
			return nil, fmt.Errorf("writers: no column %q", f.Name)
		}
	}
	rec := array.NewRecordBatch(target, cols, int64(len(s.rows)))
	defer rec.Release()
	return array.NewRecordReader(target, []arrow.RecordBatch{rec})
}

// wSleep waits for d or until ctx ends.
func wSleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
