package bench

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/parquetio"
	"github.com/stratalake/strata/internal/storage"
	"github.com/stratalake/strata/internal/table"
)

// Sizes of the `go test -bench` benchmarks: small by default so that a -bench run is quick; the
// full-size figures come from `strata bench delta`.
var (
	flagCommits   = flag.Int("bench.commits", 200, "commits of the snapshot-load benchmark tables")
	flagRows      = flag.Int64("bench.rows", 200_000, "rows of the append benchmarks")
	flagAppenders = flag.Int("bench.appenders", DefaultAppenders, "concurrent appenders of BenchmarkConcurrentCommits")
	flagTable     = flag.String("bench.table", "", "an existing table for BenchmarkSnapshotLoadTable (e.g. one kept by 'strata bench delta --keep')")
)

// workerEnv makes the test binary act as a commit-phase worker process (see TestRunWithProcesses).
const workerEnv = "STRATA_BENCH_TEST_WORKER"

func TestMain(m *testing.M) {
	if os.Getenv(workerEnv) == "1" {
		i := slices.Index(os.Args, "--worker")
		if i < 0 || i+1 >= len(os.Args) {
			fmt.Fprintln(os.Stderr, "worker: no --worker argument")
			os.Exit(2)
		}
		out, err := RunWorkerJSON(context.Background(), os.Args[i+1])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(string(out))
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// BenchmarkSnapshotLoad times loading the latest snapshot of a table with -bench.commits commits,
// with a checkpoint every 10 versions and without checkpoints.
func BenchmarkSnapshotLoad(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	cp := filepath.Join(dir, "checkpointed")
	build, err := BuildCheckpointedTable(ctx, cp, *flagCommits, 1, DefaultCheckpointInterval, nopTracker{})
	if err != nil {
		b.Fatal(err)
	}
	nc := filepath.Join(dir, "no-checkpoint")
	if _, err := BuildNoCheckpointTable(ctx, nc, cp, *flagCommits, nopTracker{}); err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct{ name, dir string }{{"checkpointed", cp}, {"no-checkpoint", nc}} {
		b.Run(tc.name, func(b *testing.B) {
			store, err := storage.NewLocal(tc.dir)
			if err != nil {
				b.Fatal(err)
			}
			var files int
			for b.Loop() {
				snap, err := delta.NewTable(store, parquetio.Codec{}).Snapshot(ctx, -1)
				if err != nil {
					b.Fatal(err)
				}
				files = len(snap.Files())
			}
			b.ReportMetric(float64(files), "files")
			b.ReportMetric(float64(*flagCommits), "commits")
			b.ReportMetric(build.CommitsPerSec, "build-commits/s")
		})
	}
}

// BenchmarkSnapshotLoadTable times loading the latest snapshot of the table at -bench.table, for
// profiling loads of full-size tables:
//
//	go test ./internal/bench -run '^$' -bench SnapshotLoadTable -bench.table /tmp/b/snapshot-checkpointed -cpuprofile cpu.out
func BenchmarkSnapshotLoadTable(b *testing.B) {
	if *flagTable == "" {
		b.Skip("no -bench.table")
	}
	store, err := storage.NewLocal(*flagTable)
	if err != nil {
		b.Fatal(err)
	}
	var files int
	for b.Loop() {
		snap, err := delta.NewTable(store, parquetio.Codec{}).Snapshot(context.Background(), -1)
		if err != nil {
			b.Fatal(err)
		}
		files = len(snap.Files())
	}
	b.ReportMetric(float64(files), "files")
}

// BenchmarkAppend times appending -bench.rows rows with table.Write (unpartitioned and
// partitioned) and writing them to one plain Parquet file; b.SetBytes is the input Arrow size, so
// MB/s is input throughput.
func BenchmarkAppend(b *testing.B) {
	ctx := context.Background()
	recs := GenerateRows(0, *flagRows, DefaultBatchRows, 1)
	defer ReleaseAll(recs)
	in := ArrowBytes(recs)
	for _, tc := range []struct {
		name  string
		write func(dir string) (*WriteFigures, error)
	}{
		{"delta", func(dir string) (*WriteFigures, error) { return WriteDelta(ctx, dir, recs, nil, nopTracker{}) }},
		{"delta-partitioned", func(dir string) (*WriteFigures, error) {
			return WriteDelta(ctx, dir, recs, []string{LowCardinalityColumn}, nopTracker{})
		}},
		{"plain", func(dir string) (*WriteFigures, error) {
			return WritePlainParquet(ctx, filepath.Join(dir, "plain.parquet"), recs, nopTracker{})
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(in)
			var out int64
			var elapsed time.Duration
			n := 0
			for b.Loop() {
				b.StopTimer()
				dir, err := os.MkdirTemp(b.TempDir(), "w")
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				w, err := tc.write(dir)
				if err != nil {
					b.Fatal(err)
				}
				out, elapsed, n = out+w.OutputBytes, elapsed+w.Elapsed.D(), n+1
			}
			b.ReportMetric(float64(*flagRows)*float64(n)/elapsed.Seconds(), "rows/s")
			b.ReportMetric(float64(out)/1e6/elapsed.Seconds(), "parquet-MB/s")
		})
	}
}

// BenchmarkConcurrentCommits runs -bench.appenders blind appenders on one table for b.N commits in
// all and reports commits/s, attempts per commit and commit latency percentiles.
func BenchmarkConcurrentCommits(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	kt, err := openKernel(dir)
	if err != nil {
		b.Fatal(err)
	}
	if err := createTable(ctx, kt, nil, nil); err != nil {
		b.Fatal(err)
	}
	n := *flagAppenders
	b.ResetTimer()
	start := time.Now()
	results := make([]*AppenderResult, n)
	errs := make(chan error, n)
	for i := range n {
		go func() {
			var err error
			results[i], err = RunWorker(ctx, WorkerSpec{Table: dir, ID: i, Start: start, Until: start.Add(time.Hour),
				MaxCommits: (b.N + n - 1) / n, Rows: DefaultAppendRows})
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	r := aggregate("goroutines", dir, start, time.Now(), results)
	if r.Failures > 0 {
		b.Fatalf("%d appends failed, first: %s", r.Failures, r.FirstError)
	}
	b.ReportMetric(r.CommitsPerSec, "commits/s")
	b.ReportMetric(r.AttemptsPerCommit, "attempts/commit")
	b.ReportMetric(float64(r.CommitLatency.Median.D().Microseconds())/1e3, "p50-ms")
	b.ReportMetric(float64(r.CommitLatency.P99.D().Microseconds())/1e3, "p99-ms")
}

// TestRun runs every phase at a tiny size and checks the figures describe what was done (not how
// fast: no timing is asserted).
func TestRun(t *testing.T) {
	dir := t.TempDir()
	rep, err := Run(context.Background(), Config{Dir: dir, Commits: 23, CheckpointInterval: 5, SnapshotRuns: 2,
		Rows: 3000, BatchRows: 1000, Partitioned: true, Appenders: 2, CommitsPerAppender: 3, CommitDuration: time.Minute, AppendRows: 10})
	if err != nil {
		t.Fatal(err)
	}
	s := rep.Snapshot
	for _, tl := range []TableLoad{s.Checkpointed, s.NoCheckpoint} {
		if tl.Load.Version != 22 || tl.Load.Files != 22 || tl.Load.Runs.N != 2 {
			t.Errorf("%s: loaded version %d with %d files in %d runs, want version 22, 22 files, 2 runs", tl.Dir, tl.Load.Version, tl.Load.Files, tl.Load.Runs.N)
		}
	}
	if cp := s.Checkpointed; cp.Load.CheckpointVersion != 20 || cp.Build.Checkpoints != 4 || cp.Build.PostCommitErrors != 0 {
		t.Errorf("checkpointed: last checkpoint %d, %d checkpoints, %d post-commit errors; want 20, 4, 0",
			cp.Load.CheckpointVersion, cp.Build.Checkpoints, cp.Build.PostCommitErrors)
	}
	if sw := s.Checkpointed.Build.SingleWriter; sw == nil || sw.Commits != 2 {
		t.Errorf("single-writer tail = %+v, want 2 commits", sw)
	}
	if s.NoCheckpoint.Load.CheckpointVersion != -1 || s.NoCheckpoint.Load.LogObjects != 23 {
		t.Errorf("no-checkpoint: checkpoint %d, %d log objects; want -1, 23", s.NoCheckpoint.Load.CheckpointVersion, s.NoCheckpoint.Load.LogObjects)
	}

	a := rep.Append
	if a.Rows != 3000 || a.Batches != 3 || a.Plain.Files != 1 || a.Delta.Files != 1 || a.Partitioned == nil || a.Partitioned.Files < 2 {
		t.Errorf("append report = %+v", a)
	}
	for _, path := range []string{a.Delta.Path, a.Partitioned.Path} {
		assertRows(t, path, 3000)
	}

	c := rep.Commits
	if g := c.Goroutines; g.Commits != 6 || g.Failures != 0 || g.FinalVersion != 6 || g.AttemptsPerCommit < 1 || g.CommitLatency.N != 6 {
		t.Errorf("commit round = %+v, want 6 commits, version 6, no failure", g)
	}
	if c.Processes != nil {
		t.Errorf("processes round ran without a worker command")
	}
}

// TestRunWithProcesses runs the commit phase with worker processes (this test binary, see
// TestMain).
func TestRunWithProcesses(t *testing.T) {
	t.Setenv(workerEnv, "1")
	rep, err := Run(context.Background(), Config{Dir: t.TempDir(), Only: PhaseCommits, Appenders: 2, CommitsPerAppender: 2,
		CommitDuration: time.Minute, AppendRows: 5, WorkerCommand: []string{os.Args[0], "-test.run=^$"}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Snapshot != nil || rep.Append != nil {
		t.Errorf("Only=commits ran other phases")
	}
	p := rep.Commits.Processes
	if p == nil || p.Commits != 4 || p.FinalVersion != 4 || p.Failures != 0 {
		t.Fatalf("processes round = %+v, want 4 commits", p)
	}
	if g := rep.Commits.Goroutines; g.Commits != 4 {
		t.Errorf("goroutines round made %d commits, want 4", g.Commits)
	}
}

func assertRows(t *testing.T, dir string, want int64) {
	t.Helper()
	tb, err := table.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := tb.Snapshot(context.Background(), -1)
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := snap.NumRecords(); !ok || n != want {
		t.Errorf("%s holds %d rows (known %v), want %d", dir, n, ok, want)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"no dir", Config{}},
		{"unknown phase", Config{Dir: "x", Only: "nope"}},
		{"one commit", Config{Dir: "x", Commits: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Run(context.Background(), tc.cfg); err == nil {
				t.Errorf("Run(%+v) succeeded, want an error", tc.cfg)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		var out []time.Duration
		for _, n := range ns {
			out = append(out, time.Duration(n)*time.Millisecond)
		}
		return out
	}
	for _, tc := range []struct {
		name                  string
		in                    []time.Duration
		min, med, p90, p99, m time.Duration
	}{
		{"empty", nil, 0, 0, 0, 0, 0},
		{"one", ms(7), 7 * time.Millisecond, 7 * time.Millisecond, 7 * time.Millisecond, 7 * time.Millisecond, 7 * time.Millisecond},
		{"ten unsorted", ms(10, 1, 9, 2, 8, 3, 7, 4, 6, 5), time.Millisecond, 5 * time.Millisecond, 9 * time.Millisecond, 10 * time.Millisecond, 10 * time.Millisecond},
		{"hundred", ms(seq(100)...), time.Millisecond, 50 * time.Millisecond, 90 * time.Millisecond, 99 * time.Millisecond, 100 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := slices.Clone(tc.in)
			s := Summarize(tc.in)
			if s.N != len(tc.in) || s.Min.D() != tc.min || s.Median.D() != tc.med || s.P90.D() != tc.p90 || s.P99.D() != tc.p99 || s.Max.D() != tc.m {
				t.Errorf("Summarize = %+v, want min %v median %v p90 %v p99 %v max %v", s, tc.min, tc.med, tc.p90, tc.p99, tc.m)
			}
			if !slices.Equal(in, tc.in) {
				t.Errorf("Summarize modified its input")
			}
		})
	}
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i + 1
	}
	return out
}

func TestMillisJSON(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{1500 * time.Microsecond, "1.5"},
		{2 * time.Second, "2000"},
		{1234567 * time.Nanosecond, "1.235"},
	} {
		got, err := Millis(tc.d).MarshalJSON()
		if err != nil || string(got) != tc.want {
			t.Errorf("Millis(%v) = %s, %v; want %s", tc.d, got, err, tc.want)
		}
	}
}

func TestGenerateRowsDeterministic(t *testing.T) {
	a, b := GenerateRows(5, 2500, 1000, 7), GenerateRows(5, 2500, 1000, 7)
	defer ReleaseAll(a)
	defer ReleaseAll(b)
	if len(a) != 3 || CountRows(a) != 2500 || !a[0].Schema().Equal(Schema()) {
		t.Fatalf("got %d batches, %d rows", len(a), CountRows(a))
	}
	for i := range a {
		for c := 0; c < int(a[i].NumCols()); c++ {
			if !array.Equal(a[i].Column(c), b[i].Column(c)) {
				t.Fatalf("batch %d column %d differs between two generations with the same seed", i, c)
			}
		}
	}
	if got := a[0].Column(0).ValueStr(0); got != "5" {
		t.Errorf("first id = %s, want 5", got)
	}
	if ArrowBytes(a) <= 0 {
		t.Errorf("ArrowBytes = %d", ArrowBytes(a))
	}
}
