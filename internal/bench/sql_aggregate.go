package bench

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"
)

// userStatsSQL is the seed's batch layer (user_stats_batch: events, revenue and distinct sessions
// per user per day) in SQL, with %s standing for the events relation.
const userStatsSQL = "SELECT user_id, date, count(*) AS total_events, sum(revenue) AS total_revenue, count(DISTINCT session_id) AS sessions FROM %s GROUP BY ALL"

// AggregateReport compares the user_stats aggregation through Strata with plain DuckDB over the
// same Parquet files. Every timing is a whole query with every result row read as Arrow record
// batches, in this process, DuckDB's defaults for threads and memory on both sides.
type AggregateReport struct {
	// Query is the statement Strata runs; DuckDBQuery and DuckDBHiveQuery the plain DuckDB
	// baselines (file lists abbreviated).
	Query           string `json:"query"`
	DuckDBQuery     string `json:"duckdbQuery"`
	DuckDBHiveQuery string `json:"duckdbHiveQuery"`
	// ResultRows is the number of (user_id, date) groups.
	ResultRows int64 `json:"resultRows"`
	// Strata is `strata sql`'s engine on bench.events (Delta log replay, reference resolution
	// through DuckDB's parser, a view over the snapshot's files, then the query).
	Strata Summary `json:"strata"`
	// DuckDB reads the same files with read_parquet(..., hive_partitioning = false), the date
	// supplied as a constant per partition from the Delta log, as the engine supplies it.
	DuckDB Summary `json:"duckdb"`
	// DuckDBHive reads the same files in one read_parquet with hive_partitioning = true (date
	// parsed from the paths): what a DuckDB user would type.
	DuckDBHive Summary `json:"duckdbHive"`
	// Ratio and RatioHive are Strata's median over each baseline's median.
	Ratio     float64 `json:"ratio"`
	RatioHive float64 `json:"ratioHive"`
	// StrataCPU, DuckDBCPU and DuckDBHiveCPU summarize the CPU time (user + system, all threads
	// of the process, Go and DuckDB) of the same runs: on a busy machine they show the work done
	// where the elapsed times mostly show waiting for a core. CPURatio and CPURatioHive compare
	// the medians.
	StrataCPU     Summary `json:"strataCpu"`
	DuckDBCPU     Summary `json:"duckdbCpu"`
	DuckDBHiveCPU Summary `json:"duckdbHiveCpu"`
	CPURatio      float64 `json:"cpuRatio"`
	CPURatioHive  float64 `json:"cpuRatioHive"`
	// Resolve is the time of `SELECT * FROM bench.events LIMIT 0` through Strata: what resolving
	// the table reference costs per query, independent of the data.
	Resolve Summary `json:"resolve"`
	// GoalRatio is issue 3's goal for Ratio against the faster baseline; GoalMet says whether it
	// was met.
	GoalRatio float64 `json:"goalRatio"`
	GoalMet   bool    `json:"goalMet"`
	// Check is the cross-check of the three results: count, sum(total_events),
	// sum(total_revenue), sum(sessions).
	Check string `json:"check"`
}

// literalRelation is the events relation as the engine builds it: per date partition, the
// partition's files read with hive_partitioning = false and the date supplied as a constant.
func literalRelation(files []DataFileRef) string {
	byDate := map[string][]string{}
	for _, f := range files {
		byDate[f.Date] = append(byDate[f.Date], f.Path)
	}
	dates := make([]string, 0, len(byDate))
	for d := range byDate {
		dates = append(dates, d)
	}
	sort.Strings(dates)
	arms := make([]string, len(dates))
	for i, d := range dates {
		arms[i] = "SELECT *, CAST(" + sqlString(d) + " AS DATE) AS date FROM read_parquet(" + sqlList(byDate[d]) + ", hive_partitioning = false)"
	}
	return "(" + strings.Join(arms, "\nUNION ALL\n") + ")"
}

func filePaths(files []DataFileRef) []string {
	out := make([]string, len(files))
	for i, f := range files {
		out[i] = f.Path
	}
	return out
}

func runAggregate(ctx context.Context, c SQLConfig, et *EventsTable) (*AggregateReport, error) {
	obs := c.Observer
	limits := SQLLimits{Threads: c.Limits.Threads}
	strata, err := c.Driver.OpenStrata(ctx, c.Dir, limits)
	if err != nil {
		return nil, err
	}
	defer strata.Close()
	duck, err := c.Driver.OpenDuckDB(ctx, limits)
	if err != nil {
		return nil, err
	}
	defer duck.Close()

	rep := &AggregateReport{GoalRatio: AggregateGoalRatio}
	rep.Query = fmt.Sprintf(userStatsSQL, et.Name)
	duckSQL := fmt.Sprintf(userStatsSQL, literalRelation(et.Files))
	hiveSQL := fmt.Sprintf(userStatsSQL, "read_parquet("+sqlList(filePaths(et.Files))+", hive_partitioning = true)")
	rep.DuckDBQuery = fmt.Sprintf(userStatsSQL, "(SELECT *, CAST('<date>' AS DATE) AS date FROM read_parquet([<files of the date>], hive_partitioning = false) UNION ALL ... one arm per date)")
	rep.DuckDBHiveQuery = fmt.Sprintf(userStatsSQL, fmt.Sprintf("read_parquet([<the %d files>], hive_partitioning = true)", len(et.Files)))
	systems := []struct {
		name string
		sess SQLSession
		sql  string
		out  *[]time.Duration
		cpu  *[]time.Duration
	}{
		{"strata", strata, rep.Query, new([]time.Duration), new([]time.Duration)},
		{"duckdb", duck, duckSQL, new([]time.Duration), new([]time.Duration)},
		{"duckdb-hive", duck, hiveSQL, new([]time.Duration), new([]time.Duration)},
	}

	// Cross-check (this also warms the page cache).
	var checks []string
	for _, s := range systems {
		o, err := s.sess.Run(ctx, "SELECT count(*), sum(total_events), sum(total_revenue), sum(sessions) FROM ("+s.sql+")", 1)
		if err != nil {
			return nil, fmt.Errorf("bench: aggregate check on %s: %w", s.name, err)
		}
		if len(o.Values) != 1 {
			return nil, fmt.Errorf("bench: aggregate check on %s returned %d rows", s.name, len(o.Values))
		}
		checks = append(checks, strings.Join(o.Values[0], " / "))
	}
	if checks[0] != checks[1] || checks[0] != checks[2] {
		return nil, fmt.Errorf("bench: the aggregation differs: strata %s, duckdb %s, duckdb-hive %s", checks[0], checks[1], checks[2])
	}
	rep.Check = "groups / sum(total_events) / sum(total_revenue) / sum(sessions) = " + checks[0] + " on all three"
	obs.Logf("aggregate: the three agree: %s", checks[0])

	// One warm-up run each, then Runs timed runs in rotating order.
	tr := obs.Start("aggregate runs", int64(len(systems)*(c.Runs+1)), "queries")
	for round := -1; round < c.Runs; round++ {
		for k := range systems {
			s := systems[(k+max(round, 0))%len(systems)]
			c0, t0 := cpuTime(), time.Now()
			o, err := s.sess.Run(ctx, s.sql, 0)
			d, cpu := time.Since(t0), cpuTime()-c0
			tr.Add(1)
			if err != nil {
				tr.Done()
				return nil, fmt.Errorf("bench: aggregate on %s: %w", s.name, err)
			}
			if rep.ResultRows == 0 {
				rep.ResultRows = o.Rows
			} else if o.Rows != rep.ResultRows {
				tr.Done()
				return nil, fmt.Errorf("bench: aggregate on %s returned %d rows, another run %d", s.name, o.Rows, rep.ResultRows)
			}
			if round >= 0 {
				*s.out = append(*s.out, d)
				*s.cpu = append(*s.cpu, cpu)
				obs.Logf("aggregate run %d: %s %s (CPU %s)", round+1, s.name, FormatDuration(d), FormatDuration(cpu))
			}
		}
	}
	tr.Done()
	rep.Strata, rep.DuckDB, rep.DuckDBHive = Summarize(*systems[0].out), Summarize(*systems[1].out), Summarize(*systems[2].out)
	rep.Ratio = ratio(rep.Strata.Median, rep.DuckDB.Median)
	rep.RatioHive = ratio(rep.Strata.Median, rep.DuckDBHive.Median)
	rep.GoalMet = max(rep.Ratio, rep.RatioHive) <= AggregateGoalRatio
	rep.StrataCPU, rep.DuckDBCPU, rep.DuckDBHiveCPU = Summarize(*systems[0].cpu), Summarize(*systems[1].cpu), Summarize(*systems[2].cpu)
	rep.CPURatio = ratio(rep.StrataCPU.Median, rep.DuckDBCPU.Median)
	rep.CPURatioHive = ratio(rep.StrataCPU.Median, rep.DuckDBHiveCPU.Median)

	var resolve []time.Duration
	for i := 0; i < c.Runs; i++ {
		t0 := time.Now()
		if _, err := strata.Run(ctx, "SELECT * FROM "+et.Name+" LIMIT 0", 0); err != nil {
			return nil, fmt.Errorf("bench: resolve: %w", err)
		}
		resolve = append(resolve, time.Since(t0))
	}
	rep.Resolve = Summarize(resolve)
	obs.Logf("aggregate: strata median %s, duckdb %s (%.2fx), duckdb-hive %s (%.2fx); CPU %.2fx and %.2fx; resolving the reference %s",
		rep.Strata.Median, rep.DuckDB.Median, rep.Ratio, rep.DuckDBHive.Median, rep.RatioHive, rep.CPURatio, rep.CPURatioHive, rep.Resolve.Median)
	return rep, nil
}
