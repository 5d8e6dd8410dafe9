package stream

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/stratalake/strata/internal/engine"
	"github.com/stratalake/strata/internal/log"
	"github.com/stratalake/strata/internal/log/embedded"
	"github.com/stratalake/strata/internal/log/kafka"
	"github.com/stratalake/strata/internal/storage"
)

// childEnv selects the child mode of the test binary: its value is a childConfig in JSON.
const childEnv = "STRATA_STREAM_CHILD"

// childConfig is what a child process runs: the crash tests' query against one log backend.
type childConfig struct {
	Backend    string   `json:"backend"` // embedded or kafka
	LogDir     string   `json:"logDir,omitempty"`
	Brokers    []string `json:"brokers,omitempty"`
	Dir        string   `json:"dir"` // the query's folder: checkpoint and tables
	Name       string   `json:"name"`
	Mode       string   `json:"mode"`  // append or update
	Drain      bool     `json:"drain"` // available-now with a final flush, instead of running forever
	MaxRecords int64    `json:"maxRecords"`
	// CommitKill is the probability that the child kills itself right after a commit to its
	// output table lands, before the batch's state is persisted: the narrowest window of the
	// protocol, which random kills seldom hit.
	CommitKill float64 `json:"commitKill,omitempty"`
	Seed       uint64  `json:"seed,omitempty"`
}

func (c childConfig) query() Query {
	mode := OutputAppend
	if c.Mode == "update" {
		mode = OutputUpdate
	}
	q := revenueQuery(c.Name, c.Dir, mode)
	q.Limits = Limits{MaxRecords: c.MaxRecords}
	if c.Drain {
		q.Trigger = Trigger{Kind: TriggerAvailableNow}
		q.FlushAtEnd = true
	}
	return q
}

func openChildLog(ctx context.Context, c childConfig) (log.Log, error) {
	if c.Backend == "kafka" {
		return kafka.Open(ctx, c.Brokers, kafka.WithCleanInterval(0))
	}
	return embedded.Open(ctx, c.LogDir, embedded.CleanInterval(0))
}

// childMain runs the query of a crash test until it is done (drain) or killed. It prints one line
// per committed batch, which the parent counts.
func childMain(cfgJSON string) int {
	var c childConfig
	if err := json.Unmarshal([]byte(cfgJSON), &c); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	ctx := context.Background()
	e, err := engine.Open(ctx, engine.Options{CacheDir: filepath.Join(c.Dir, "cache")})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	defer e.Close()
	l, err := openChildLog(ctx, c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	defer l.Close()
	w := bufio.NewWriter(os.Stdout)
	q := c.query()
	// "started" once the query has restored its state and is about to plan.
	deps := Deps{Engine: e, Log: l, Logger: slog.New(startedHandler{w})}
	if c.CommitKill > 0 {
		rng := rand.New(rand.NewPCG(c.Seed, uint64(os.Getpid())))
		deps.WrapStore = func(loc string, s storage.Store) storage.Store {
			if loc != q.Output.Table {
				return s
			}
			return &killAfterCommit{Store: s, kill: func() bool { return rng.Float64() < c.CommitKill }}
		}
	}
	deps.OnBatch = func(b BatchMetrics) {
		fmt.Fprintf(w, "batch %d records=%d replayed=%t skipped=%t\n", b.BatchID, b.InputRecords, b.Replayed, b.SinkSkipped)
		w.Flush()
	}
	_, err = Run(ctx, q, deps)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	return 0
}

// startedHandler prints "started" when the driver logs that the query started.
type startedHandler struct{ w *bufio.Writer }

func (h startedHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h startedHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h startedHandler) WithGroup(string) slog.Handler            { return h }
func (h startedHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "stream query started" {
		fmt.Fprintln(h.w, "started")
		h.w.Flush()
	}
	return nil
}

// killAfterCommit is a store that SIGKILLs its own process right after a Delta commit file was
// written, when kill says so.
type killAfterCommit struct {
	storage.Store
	kill func() bool
}

func (s *killAfterCommit) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	err := s.Store.PutIfAbsent(ctx, key, data)
	if err == nil && strings.HasPrefix(key, "_delta_log/") && strings.HasSuffix(key, ".json") && s.kill() {
		fmt.Println("commit-kill")
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	}
	return err
}

// child is a running child process and what it has reported.
type child struct {
	cmd     *exec.Cmd
	stderr  strings.Builder
	mu      sync.Mutex // guards lines
	lines   []string
	started chan struct{} // closed when the child reports its query started
	done    chan struct{} // closed when its output is read to the end
}

func startChild(t *testing.T, c childConfig) *child {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := json.Marshal(c)
	ch := &child{cmd: exec.Command(exe, "-test.run=^$"), started: make(chan struct{}), done: make(chan struct{})}
	ch.cmd.Env = append(os.Environ(), childEnv+"="+string(cfg))
	ch.cmd.Stderr = &ch.stderr
	out, err := ch.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(ch.done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if sc.Text() == "started" {
				close(ch.started)
			}
			ch.mu.Lock()
			ch.lines = append(ch.lines, sc.Text())
			ch.mu.Unlock()
		}
	}()
	return ch
}

func (ch *child) report() (started bool, batches, replayed, skipped int, commitKill bool) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	for _, l := range ch.lines {
		switch {
		case l == "started":
			started = true
		case l == "commit-kill":
			commitKill = true
		case strings.HasPrefix(l, "batch "):
			batches++
			if strings.Contains(l, "replayed=true") {
				replayed++
			}
			if strings.Contains(l, "skipped=true") {
				skipped++
			}
		}
	}
	return
}

func envInt(name string, def int64) int64 {
	if v, err := strconv.ParseInt(os.Getenv(name), 10, 64); err == nil {
		return v
	}
	return def
}

func TestExactlyOnceCrashEmbedded(t *testing.T) { testExactlyOnceCrash(t, "embedded", "append") }

func TestExactlyOnceCrashKafka(t *testing.T) { testExactlyOnceCrash(t, "kafka", "update") }

// testExactlyOnceCrash is the exactly-once test. A child process runs the windowed revenue
// query (dedup by event id, one-minute tumbling sum and count per country) from a topic into a
// Delta table, continuously, in small batches; the parent produces the input in chunks and
// SIGKILLs the child at a random moment after each chunk (during startup, reading, the sink
// commit, the state write: wherever it happens to be), then restarts it. Finally a child drains
// the topic with an available-now run. The output must equal, row for row, the output of one
// uninterrupted available-now run over the same input with a fresh checkpoint, and count every
// distinct event exactly once.
//
// The seed (printed; STRATA_STREAM_CRASH_SEED reproduces it) fixes the events and the kill times;
// STRATA_STREAM_CRASH_ITERATIONS sets the number of kills (default 15).
func testExactlyOnceCrash(t *testing.T, backend, mode string) {
	seed := envInt("STRATA_STREAM_CRASH_SEED", time.Now().UnixNano()%1_000_000_007)
	kills := int(envInt("STRATA_STREAM_CRASH_ITERATIONS", 15))
	t.Logf("seed %d, %d kills (STRATA_STREAM_CRASH_SEED, STRATA_STREAM_CRASH_ITERATIONS)", seed, kills)
	rng := rand.New(rand.NewPCG(uint64(seed), 1))
	ctx := testCtx(t)
	dir := t.TempDir()

	const perChunk = 800
	evs := genEvents(t, uint64(seed), perChunk*(kills+1), 5, 0.03)
	cfg := childConfig{Backend: backend, Dir: filepath.Join(dir, "crashed"), Name: "crashed", Mode: mode, MaxRecords: 100}

	// The log: an embedded folder that parent and child open in turn (it is locked while open), or
	// an in-process Kafka cluster the children connect to.
	var produceChunk func(evs []testEvent)
	var parentLog func() log.Log
	switch backend {
	case "embedded":
		cfg.LogDir = filepath.Join(dir, "log")
		l := openEmbedded(t, cfg.LogDir)
		if err := l.CreateTopic(ctx, "events", log.TopicConfig{Partitions: 3}); err != nil {
			t.Fatal(err)
		}
		l.Close()
		produceChunk = func(evs []testEvent) {
			l := openEmbedded(t, cfg.LogDir)
			defer l.Close()
			produce(t, l, "events", evs)
		}
		parentLog = func() log.Log { return openEmbedded(t, cfg.LogDir) }
	case "kafka":
		cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
		if err != nil {
			t.Fatal(err)
		}
		defer cluster.Close()
		cfg.Brokers = cluster.ListenAddrs()
		kl, err := kafka.Open(ctx, cfg.Brokers, kafka.WithCleanInterval(0))
		if err != nil {
			t.Fatal(err)
		}
		defer kl.Close()
		if err := kl.CreateTopic(ctx, "events", log.TopicConfig{Partitions: 3}); err != nil {
			t.Fatal(err)
		}
		produceChunk = func(evs []testEvent) { produce(t, kl, "events", evs) }
		parentLog = func() log.Log { return nopClose{kl} }
	}

	var startupKills, midKills, commitKills, batches, replayed, skipped int
	for i := range kills {
		produceChunk(evs[i*perChunk : (i+1)*perChunk])
		run := cfg
		if i%3 == 2 {
			run.CommitKill, run.Seed = 0.5, uint64(seed)+uint64(i)
		}
		ch := startChild(t, run)
		// A child takes 100 ms or more to start its query, then works through its backlog in
		// batches of 25 ms or more for a few hundred ms. A quarter of the kills come at random
		// during the first 300 ms (mostly while it starts); the others at random during the 400
		// ms after its query started, most of them inside a batch.
		if rng.IntN(4) == 0 {
			time.Sleep(time.Duration(rng.Int64N(int64(300 * time.Millisecond))))
		} else {
			select {
			case <-ch.started:
			case <-ch.done:
			case <-time.After(time.Minute):
			}
			time.Sleep(time.Duration(rng.Int64N(int64(400 * time.Millisecond))))
		}
		if err := ch.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
			t.Fatal(err)
		}
		werr := ch.cmd.Wait()
		<-ch.done
		if ws, ok := ch.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
			t.Fatalf("child %d ended before the kill: %v\n%s", i, werr, ch.stderr.String())
		}
		_, b, r, s, ck := ch.report()
		switch {
		case ck:
			commitKills++
		case b == 0:
			startupKills++
		default:
			midKills++
		}
		batches, replayed, skipped = batches+b, replayed+r, skipped+s
	}
	produceChunk(evs[kills*perChunk:])
	drain := cfg
	drain.Drain = true
	ch := startChild(t, drain)
	waitErr := make(chan error, 1)
	go func() { waitErr <- ch.cmd.Wait() }()
	select {
	case err := <-waitErr:
		if err != nil {
			t.Fatalf("draining child: %v\n%s", err, ch.stderr.String())
		}
	case <-time.After(2 * time.Minute):
		ch.cmd.Process.Kill()
		t.Fatalf("draining child did not finish\n%s", ch.stderr.String())
	}
	<-ch.done
	_, b, r, s, _ := ch.report()
	batches, replayed, skipped = batches+b, replayed+r, skipped+s
	t.Logf("%s/%s: %d kills (%d before the first committed batch, %d later at random, %d by the child itself right after an output commit), "+
		"%d batches committed, %d replayed after a kill, %d replayed commits found already landed",
		backend, mode, kills, startupKills, midKills, commitKills, batches, replayed, skipped)

	// One uninterrupted run over the same input.
	e := openEngine(t)
	l := parentLog()
	defer l.Close()
	ref := cfg
	ref.Dir, ref.Name, ref.Drain = filepath.Join(dir, "reference"), "reference", true
	if _, err := Run(ctx, ref.query(), Deps{Engine: e, Log: l}); err != nil {
		t.Fatal(err)
	}
	got, want := windowRows(t, e, cfg.query().Output.Table), windowRows(t, e, ref.query().Output.Table)
	if len(want) == 0 {
		t.Fatal("the reference run wrote nothing")
	}
	diffRows(t, "output after crashes vs one uninterrupted run", got, want)
	ids := map[string]bool{}
	for _, ev := range evs {
		ids[ev.ID] = true
	}
	counted := queryRows(t, e, "SELECT sum(events), count(*), count(DISTINCT (window_start, country)) FROM delta_scan("+sqlString(cfg.query().Output.Table)+")")
	if w := fmt.Sprintf("%d\t%d\t%d", len(ids), len(want), len(want)); counted[0] != w {
		t.Errorf("events counted, rows, distinct windows: %s, want %s", counted[0], w)
	}
	if _, err := os.Stat(filepath.Join(cfg.query().lateTable(), "_delta_log")); err == nil {
		t.Errorf("late rows were written: %v", queryRows(t, e, "SELECT event_id FROM delta_scan("+sqlString(cfg.query().lateTable())+")"))
	}
}

// nopClose keeps a shared log open when a test closes its handle.
type nopClose struct{ log.Log }

func (nopClose) Close() error { return nil }
