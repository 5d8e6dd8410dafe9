package reliability

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/stratalake/strata/internal/demo"
	"github.com/stratalake/strata/internal/engine"
	"github.com/stratalake/strata/internal/log"
	"github.com/stratalake/strata/internal/log/backends"
	"github.com/stratalake/strata/internal/project"
)

// The crash section: the e-commerce demo (`strata demo`: the feed producing into the embedded
// log, the pipelines in stream mode, the servers) runs as a child process that is killed with
// SIGKILL after a random delay, env.Iterations times, each start resuming the last (a new feed
// segment, the pipelines from their checkpoints). Then the pipelines are drained without the
// feed (`strata pipeline run`, a batch over everything in the log and the landing folder) and
// the project is checked in-process:
//
//   - every record of each topic's log is in its bronze table or that table's quarantine exactly
//     once, by (partition, offset), and nothing else is there (checkLogInBronze);
//   - no key twice in bronze or silver, every bronze row accounted for by silver, its late table
//     or the expectations, and the gold tables equal to a recomputation from bronze with plain
//     SQL (the checks of package demo, which test/demo runs over HTTP);
//   - every version of every Delta table of the project reads with Strata and delta-rs
//     (CheckTableVersions);
//   - a second drain changes nothing: every table but the pipeline event log keeps its version
//     and its rows (checksum), so no orphan state (a checkpoint ahead of or behind its table, a
//     half-written batch) makes the next run differ.

// crashRate is the demo's event rate. Each start produces a 5-minute warm-up at once (300 x
// rate events, see demo.Feed.Run), so the rate sets the data's size: 20 kills make about 150,000
// events, enough for every kind of anomaly of the generator, and a drain of a minute or two.
const crashRate = 25

// Kill delays: mostly short (startup, the warm-up's produce and first batches), one start in
// longKillEvery long enough for compactions, Delta checkpoints and state flushes to happen (and be
// interrupted): a view's compaction is checked every 20 of its batches, the append-only tables'
// every 30 s of a run (pipeline.DefaultCompactEvery), so the long range reaches past 30 s.
const (
	shortKillMin, shortKillMax = 300 * time.Millisecond, 6 * time.Second
	longKillMin, longKillMax   = 15 * time.Second, 40 * time.Second
	longKillEvery              = 10
)

// killDelay draws the delay before kill i (0-based): uniform in the long range for one start in
// longKillEvery (the fifth of each ten), in the short range otherwise.
func killDelay(rng *rand.Rand, i int) time.Duration {
	lo, hi := shortKillMin, shortKillMax
	if i%longKillEvery == longKillEvery/2-1 {
		lo, hi = longKillMin, longKillMax
	}
	return lo + time.Duration(rng.Int64N(int64(hi-lo)))
}

func runCrash(ctx context.Context, env Env, rep *Report) error {
	if env.Exe == "" {
		return errors.New("crash: no strata executable (Options.Exe)")
	}
	dir := filepath.Join(env.Dir, "project")
	if _, err := demo.WriteProject(dir); err != nil {
		return fmt.Errorf("crash: %w", err)
	}
	seed := env.Seed
	if seed == 0 {
		seed = 1
	}
	rng := rand.New(rand.NewPCG(seed, 0xC4A5))
	iterations := max(env.Iterations, 1)

	if err := crashLoop(ctx, env, rep, dir, seed, rng, iterations); err != nil {
		return err
	}

	// Drain: everything in the log and the landing folder, with no feed.
	env.Log.Info("crash: draining the pipelines (strata pipeline run)")
	t0 := time.Now()
	if !drain(ctx, env, rep, dir, "first drain") {
		return ctx.Err()
	}
	rep.Figure("drain_s", time.Since(t0).Round(time.Millisecond).Seconds())

	p, err := project.Load(dir)
	if err != nil {
		return fmt.Errorf("crash: %w", err)
	}
	eng, err := engine.Open(ctx, engine.Options{Project: p, MemoryLimit: "2GB"})
	if err != nil {
		return fmt.Errorf("crash: %w", err)
	}
	defer eng.Close()
	q := EngineQuerier(eng)

	produced, err := checkLogInBronze(ctx, env, rep, p, q)
	if err != nil {
		return err
	}
	if produced != nil {
		env.Log.Info("crash: checking accounting and gold against bronze")
		if err := checkDemoTables(ctx, rep, q, produced); err != nil {
			return err
		}
	} else {
		rep.Skip("accounting and gold checks: the log could not be read (see the anomalies)")
	}

	tables, err := FindDeltaTables(p.StorageRoot)
	if err != nil {
		return err
	}
	before, err := tableStates(ctx, q, tables)
	if err != nil {
		return err
	}
	env.Log.Info("crash: reading every version of every table", "tables", len(tables))
	vs, err := CheckTableVersions(ctx, env, rep, tables)
	if err != nil {
		return err
	}
	rep.Figure("tables", len(tables))
	rep.Figure("table_versions_strata", vs.Checked)
	rep.Figure("table_versions_deltars", vs.DeltaRS)
	rep.Figure("table_versions_gone", vs.Gone)
	rep.Figure("table_versions_failed", vs.Failed)

	// No orphan state: a second drain finds nothing to do.
	env.Log.Info("crash: second drain (must change nothing)")
	if !drain(ctx, env, rep, dir, "second drain") {
		return ctx.Err()
	}
	after, err := tableStates(ctx, q, tables)
	if err != nil {
		return err
	}
	rep.Add(int64(len(tables)), 0, 0)
	compareStates(rep, before, after)
	return nil
}

// crashLoop starts the demo, kills it with SIGKILL after a random delay, and repeats.
func crashLoop(ctx context.Context, env Env, rep *Report, dir string, seed uint64, rng *rand.Rand, iterations int) error {
	var delays []time.Duration
	lastDoing := map[string]int{}
	for i := range iterations {
		if err := ctx.Err(); err != nil {
			return err
		}
		delay := killDelay(rng, i)
		delays = append(delays, delay)
		cmd := exec.Command(env.Exe, "demo", "--dir", dir, "--http", "127.0.0.1:0", "--pg", "127.0.0.1:0",
			"--rate", strconv.Itoa(crashRate), "--seed", strconv.FormatUint(seed, 10), "--status-every", "1s")
		stderr := &tailBuffer{max: 64 << 10}
		cmd.Stdout = stderr
		cmd.Stderr = stderr
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("crash: start %s demo: %w", env.Exe, err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		started := time.Now()
		timer := time.NewTimer(delay)
		progress := time.NewTicker(10 * time.Second)
		died := false
	wait:
		for {
			select {
			case err := <-exited:
				rep.Anomaly("start %d: the demo exited by itself after less than %s (%v) instead of running until killed:\n%s",
					i+1, delay.Round(time.Millisecond), err, tailString(stderr.String(), 3000))
				died = true
				break wait
			case <-ctx.Done():
				timer.Stop()
				progress.Stop()
				_ = cmd.Process.Kill()
				<-exited
				return ctx.Err()
			case <-progress.C:
				env.Log.Info("crash: the demo runs", "start", i+1, "kill_in", (delay - time.Since(started)).Round(time.Second), "last_log", lastActivity(stderr.String()))
			case <-timer.C:
				break wait
			}
		}
		timer.Stop()
		progress.Stop()
		if died {
			rep.Iterations++
			continue
		}
		if err := cmd.Process.Kill(); err != nil {
			return fmt.Errorf("crash: kill the demo: %w", err)
		}
		<-exited
		rep.Fault("sigkill", 1)
		rep.Iterations++
		doing := lastActivity(stderr.String())
		lastDoing[doing]++
		env.Log.Info("crash: killed the demo", "start", i+1, "of", iterations, "after", delay.Round(time.Millisecond), "last_log", doing)
	}
	sort.Slice(delays, func(i, j int) bool { return delays[i] < delays[j] })
	pct := func(p float64) float64 {
		return delays[min(len(delays)-1, int(p*float64(len(delays))))].Round(time.Millisecond).Seconds()
	}
	long := 0
	for _, d := range delays {
		if d >= longKillMin {
			long++
		}
	}
	rep.Figure("kill_delay_s", map[string]any{"min": pct(0), "p50": pct(0.5), "p90": pct(0.9), "max": pct(1), "long_kills": long})
	rep.Figure("last_log_before_kill", lastDoing)
	return nil
}

// msgRe finds the message of a slog text line.
var msgRe = regexp.MustCompile(`msg="?([^"=]+?)"?(?: [a-z_]+=|$)`)

// lastActivity is the message of the child's last log line (what it was doing when killed, as
// far as its logging tells), or "nothing logged".
func lastActivity(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if m := msgRe.FindStringSubmatch(lines[i]); m != nil {
			return strings.TrimSpace(m[1])
		}
	}
	return "nothing logged"
}

// drain runs the pipelines once over everything available (strata pipeline run) and reports a
// failure as an anomaly. It returns false when ctx ended.
func drain(ctx context.Context, env Env, rep *Report, dir, what string) bool {
	dctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(dctx, env.Exe, "pipeline", "run", "--project", dir)
	out := &tailBuffer{max: 64 << 10}
	cmd.Stdout, cmd.Stderr = out, out
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(10 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				last := strings.TrimSpace(out.String())
				last = last[strings.LastIndex(last, "\n")+1:]
				env.Log.Info("crash: "+what+" under way", "last_line", last)
			}
		}
	}()
	err := cmd.Run()
	close(done)
	if ctx.Err() != nil {
		return false
	}
	if err != nil {
		rep.Anomaly("%s: strata pipeline run failed: %v\n%s", what, err, tailString(out.String(), 3000))
	}
	return true
}

// checkLogInBronze reads every record of each demo topic's log and checks that bronze and its
// quarantine hold each (partition, offset) exactly once and nothing else. It returns the number
// of records per topic.
func checkLogInBronze(ctx context.Context, env Env, rep *Report, p *project.Project, q demo.Querier) (map[string]int64, error) {
	l, err := backends.Open(ctx, p.Config.Log)
	if err != nil {
		rep.Anomaly("the log does not open after the crashes: %v", err)
		return nil, nil
	}
	defer l.Close()
	produced := map[string]int64{}
	for _, topic := range []string{demo.TopicEvents, demo.TopicOrders, demo.TopicCustomers} {
		ranges, n, err := readTopic(ctx, l, rep, topic)
		if err != nil {
			return nil, err
		}
		produced[topic] = n
		rep.Add(0, n, 0)
		env.Log.Info("crash: read the log", "topic", topic, "records", n)
		if ranges == nil {
			continue
		}
		if err := checkTopicInBronze(ctx, rep, q, topic, demo.BronzeTables[topic], ranges); err != nil {
			return nil, err
		}
	}
	rep.Figure("log_records", produced)
	return produced, nil
}

// offsetRange is a partition's retained offsets, [earliest, latest).
type offsetRange struct{ earliest, latest int64 }

// readTopic fetches every record of a topic and checks that each partition's offsets run
// without a gap from earliest to latest. It returns the ranges (nil when the topic cannot be
// read, an anomaly) and the number of records.
func readTopic(ctx context.Context, l log.Log, rep *Report, topic string) (map[int32]offsetRange, int64, error) {
	info, err := l.DescribeTopic(ctx, topic)
	if err != nil {
		rep.Anomaly("log topic %s: describe: %v", topic, err)
		return nil, 0, nil
	}
	ranges := map[int32]offsetRange{}
	var total int64
	for _, pi := range info.Partitions {
		next := pi.Earliest
		for next < pi.Latest {
			if err := ctx.Err(); err != nil {
				return nil, 0, err
			}
			recs, err := l.Fetch(ctx, topic, pi.Partition, next, log.FetchOptions{MaxBytes: 4 << 20})
			if err != nil {
				rep.Anomaly("log topic %s partition %d: fetch at offset %d (of %d..%d): %v", topic, pi.Partition, next, pi.Earliest, pi.Latest, err)
				return nil, total, nil
			}
			if len(recs) == 0 {
				rep.Anomaly("log topic %s partition %d: no record at offset %d below the latest offset %d", topic, pi.Partition, next, pi.Latest)
				return nil, total, nil
			}
			for _, r := range recs {
				if r.Offset != next {
					rep.Anomaly("log topic %s partition %d: offset %d where %d was expected", topic, pi.Partition, r.Offset, next)
					return nil, total, nil
				}
				next++
				total++
			}
		}
		ranges[pi.Partition] = offsetRange{pi.Earliest, pi.Latest}
	}
	return ranges, total, nil
}

// checkTopicInBronze compares a topic's offsets with those in its bronze table and quarantine
// (whose _quarantine_source is topic/partition@offset), partition by partition.
func checkTopicInBronze(ctx context.Context, rep *Report, q demo.Querier, topic, bronze string, ranges map[int32]offsetRange) error {
	quarantined, err := demo.CountRows(ctx, q, bronze+"_quarantine")
	if err != nil {
		return err
	}
	bronzeRows, err := demo.CountRows(ctx, q, bronze)
	if err != nil {
		return err
	}
	var parts []string
	if bronzeRows > 0 {
		parts = append(parts, fmt.Sprintf(`SELECT CAST("partition" AS BIGINT) AS p, CAST("offset" AS BIGINT) AS o FROM %s`, bronze))
	}
	if quarantined > 0 {
		// Anything quarantined from elsewhere than this topic gets partition -1: reported.
		parts = append(parts, fmt.Sprintf(`SELECT CASE WHEN starts_with(_quarantine_source, '%[1]s/') THEN
			TRY_CAST(split_part(split_part(_quarantine_source, '/', 2), '@', 1) AS BIGINT) ELSE -1 END AS p,
			TRY_CAST(split_part(_quarantine_source, '@', 2) AS BIGINT) AS o FROM %[2]s_quarantine`, topic, bronze))
	}
	got := map[int32][4]int64{} // rows, distinct offsets, min, max
	if len(parts) > 0 {
		rows, err := q(ctx, fmt.Sprintf(`SELECT coalesce(p, -1) AS p, CAST(count(*) AS BIGINT) AS n, CAST(count(DISTINCT o) AS BIGINT) AS d,
			CAST(min(o) AS BIGINT) AS lo, CAST(max(o) AS BIGINT) AS hi FROM (%s) GROUP BY ALL`, strings.Join(parts, " UNION ALL ")))
		if err != nil {
			return err
		}
		for _, r := range rows {
			var v [5]int64
			for i, c := range []string{"p", "n", "d", "lo", "hi"} {
				if v[i], err = demo.ToInt(r[c]); err != nil {
					return fmt.Errorf("crash: %s offsets: %w", bronze, err)
				}
			}
			got[int32(v[0])] = [4]int64{v[1], v[2], v[3], v[4]}
		}
	}
	for part, g := range got {
		if _, ok := ranges[part]; !ok {
			rep.Anomaly("%s: %d rows from partition %d, which topic %s does not have", bronze, g[0], part, topic)
		}
	}
	for part, r := range ranges {
		want := r.latest - r.earliest
		g := got[part]
		if want == 0 && g[0] == 0 {
			continue
		}
		if g[0] != want || g[1] != want || g[2] != r.earliest || g[3] != r.latest-1 {
			missing, dups := want-g[1], g[0]-g[1]
			rep.Anomaly("%s (+ quarantine): partition %d of topic %s holds offsets %d..%d (%d records) but bronze has %d rows, %d distinct offsets from %d to %d: %d missing or outside, %d duplicated",
				bronze, part, topic, r.earliest, r.latest-1, want, g[0], g[1], g[2], g[3], missing, dups)
		}
		rep.Add(1, 0, 0)
	}
	rep.Add(0, 0, quarantined)
	return nil
}

// checkDemoTables runs the demo's plain-SQL checks (package demo) with the log's record counts as
// what was produced.
func checkDemoTables(ctx context.Context, rep *Report, q demo.Querier, produced map[string]int64) error {
	checks := []struct {
		name string
		run  func() (*demo.Findings, error)
	}{
		{"no reprocessing", func() (*demo.Findings, error) { return demo.CheckNoReprocessing(ctx, q, 0) }},
		{"accounting", func() (*demo.Findings, error) {
			return demo.CheckAccounting(ctx, q, produced, demo.AccountingOptions{LossyEventLog: true})
		}},
		{"gold", func() (*demo.Findings, error) { return demo.CheckGold(ctx, q) }},
	}
	figures := map[string]int64{}
	for _, c := range checks {
		f, err := c.run()
		if err != nil {
			rep.Anomaly("%s check could not read the tables: %v", c.name, err)
			continue
		}
		rep.Add(1, 0, 0)
		for _, p := range f.Problems {
			rep.Anomaly("%s: %s", c.name, p)
		}
		for k, v := range f.Figures {
			figures[k] = v
		}
	}
	rep.Figure("demo_checks", figures)
	return nil
}

// tableState is a table's latest version and a checksum of its rows.
type tableState struct {
	version  int64
	rows     int64
	checksum string
	err      string
}

// bookkeeping are tables a run appends to whatever it does (the pipeline event log): a second
// drain may change them.
var bookkeeping = []string{filepath.Join("_strata", "pipeline_events")}

// tableStates reads each table's version, row count and row checksum (the sum of the rows'
// hashes, insensitive to file layout).
func tableStates(ctx context.Context, q demo.Querier, tables []string) (map[string]tableState, error) {
	out := map[string]tableState{}
	for _, loc := range tables {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var st tableState
		lit := "'" + strings.ReplaceAll(loc, "'", "''") + "'"
		rows, err := q(ctx, fmt.Sprintf(`SELECT CAST(count(*) AS BIGINT) AS n, CAST(coalesce(sum(hash(t) & 1099511627775), 0) AS BIGINT) AS h1,
			CAST(coalesce(bit_xor(hash(t)) >> 1, 0) AS BIGINT) AS h2 FROM delta_scan(%s) t`, lit))
		if err == nil && len(rows) == 1 {
			st.rows, _ = demo.ToInt(rows[0]["n"])
			st.checksum = fmt.Sprintf("%v/%v", rows[0]["h1"], rows[0]["h2"])
		} else if err != nil {
			st.err = err.Error()
		}
		if v, err := latestVersion(loc); err == nil {
			st.version = v
		} else {
			st.err += err.Error()
		}
		out[loc] = st
	}
	return out, nil
}

// latestVersion is the highest commit of a table's _delta_log.
func latestVersion(loc string) (int64, error) {
	entries, err := os.ReadDir(filepath.Join(loc, "_delta_log"))
	if err != nil {
		return 0, err
	}
	latest := int64(-1)
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || len(name) != 20 {
			continue
		}
		if v, err := strconv.ParseInt(name, 10, 64); err == nil {
			latest = max(latest, v)
		}
	}
	return latest, nil
}

// compareStates reports every table but the bookkeeping ones whose version or rows changed
// between two drains.
func compareStates(rep *Report, before, after map[string]tableState) {
	changed := 0
	for loc, b := range before {
		if isBookkeeping(loc) {
			continue
		}
		a, ok := after[loc]
		switch {
		case !ok:
			rep.Anomaly("%s: gone after the second drain", loc)
		case b.err != "" || a.err != "":
			rep.Anomaly("%s: unreadable around the second drain: %s %s", loc, b.err, a.err)
		case a.version != b.version || a.rows != b.rows || a.checksum != b.checksum:
			changed++
			rep.Anomaly("%s: the second drain changed it: version %d -> %d, %d -> %d rows, checksum %s -> %s (orphan state made the next run differ)",
				loc, b.version, a.version, b.rows, a.rows, b.checksum, a.checksum)
		}
	}
	rep.Figure("tables_changed_by_second_drain", changed)
}

// isBookkeeping says whether a table location is one of the bookkeeping tables.
func isBookkeeping(loc string) bool {
	for _, x := range bookkeeping {
		if strings.HasSuffix(loc, string(filepath.Separator)+x) {
			return true
		}
	}
	return false
}

// EngineQuerier runs a query on an in-process engine as a demo.Querier: integers come back as
// int64, floating point as float64, strings as string, other types as Arrow's JSON value.
func EngineQuerier(e *engine.Engine) demo.Querier {
	return func(ctx context.Context, sql string) ([]map[string]any, error) {
		res, err := e.Query(ctx, sql)
		if err != nil {
			return nil, err
		}
		if res.Records == nil {
			return nil, nil
		}
		defer res.Records.Release()
		var out []map[string]any
		for res.Records.Next() {
			rec := res.Records.RecordBatch()
			for i := range int(rec.NumRows()) {
				row := make(map[string]any, rec.NumCols())
				for c, f := range rec.Schema().Fields() {
					row[f.Name] = arrowValue(rec.Column(c), i)
				}
				out = append(out, row)
			}
		}
		if err := res.Records.Err(); err != nil {
			return nil, err
		}
		return out, nil
	}
}

func arrowValue(a arrow.Array, i int) any {
	if a.IsNull(i) {
		return nil
	}
	switch x := a.(type) {
	case *array.Int64:
		return x.Value(i)
	case *array.Int32:
		return int64(x.Value(i))
	case *array.Int16:
		return int64(x.Value(i))
	case *array.Int8:
		return int64(x.Value(i))
	case *array.Uint64:
		return x.Value(i)
	case *array.Uint32:
		return uint64(x.Value(i))
	case *array.Float64:
		return x.Value(i)
	case *array.String:
		return x.Value(i)
	case *array.LargeString:
		return x.Value(i)
	case *array.StringView:
		return x.Value(i)
	}
	return a.GetOneForMarshal(i)
}

// tailBuffer keeps the last max bytes written to it; safe for concurrent writers.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   bytes.Buffer
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b.Write(p)
	if t.b.Len() > 2*t.max {
		keep := append([]byte(nil), t.b.Bytes()[t.b.Len()-t.max:]...)
		t.b.Reset()
		t.b.Write(keep)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.b.String()
}
