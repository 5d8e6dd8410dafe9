package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// The checks below are the demo's correctness promises written as plain SQL over the project's
// tables: they run the same statements whether the tables are reached over the HTTP API
// (test/demo) or through an in-process engine (the reliability harness, internal/reliability).
// A check returns Findings: each Problem is a broken promise, in one sentence naming the table;
// an error means the check itself could not run (a query failed).

// Querier runs one SQL query over the demo project's tables and returns its rows, each a map
// from column name to value. Values may be Go numbers, strings, json.Number (a decoded HTTP
// answer) or nil; the checks cast the columns they read to BIGINT or DOUBLE, so any of these
// decode. An unknown table must fail with an error whose text contains "unknown table" (the
// engine's engine.ErrUnknownTable, and the HTTP API's message for it).
type Querier func(ctx context.Context, sql string) ([]map[string]any, error)

// Findings are what a check found: Problems (broken promises, empty when the check passed),
// Notes (one line per table or stream checked, saying what was compared) and Figures (counts by
// name, for reports).
type Findings struct {
	Problems []string
	Notes    []string
	Figures  map[string]int64
}

func (f *Findings) problem(format string, args ...any) {
	f.Problems = append(f.Problems, fmt.Sprintf(format, args...))
}

func (f *Findings) note(format string, args ...any) {
	f.Notes = append(f.Notes, fmt.Sprintf(format, args...))
}

func (f *Findings) figure(name string, v int64) {
	if f.Figures == nil {
		f.Figures = map[string]int64{}
	}
	f.Figures[name] = v
}

// Stream is one of the demo's sales streams: its topic, its bronze table (whose quarantine is
// Bronze+"_quarantine"), its silver table (whose late table is Silver+"_late"), the silver key,
// Parsed, a plain-SQL SELECT of bronze parsed as the silver flow parses it (with "partition" and
// "offset"), and Valid, the plain-SQL predicate over Parsed of a row that passes silver's DROP
// ROW expectations.
type Stream struct {
	Topic, Bronze, Silver, Key, Parsed, Valid string
	// TS is the event-time column (the watermark's): with Key and ingested_at it identifies a
	// bronze row in the late table.
	TS string
}

// Streams are the sales streams (events, orders), in that order.
var Streams = []Stream{
	{
		Topic: TopicEvents, Bronze: "sales.bronze_events", Silver: "sales.silver_events", Key: "event_id", TS: "event_ts",
		Parsed: `SELECT raw->>'event_id' AS event_id, raw->>'event_type' AS event_type, TRY_CAST(raw->>'user_id' AS BIGINT) AS user_id,
			raw->>'session_id' AS session_id, TRY_CAST(raw->>'event_ts' AS TIMESTAMPTZ) AS event_ts, TRY_CAST(raw->>'date' AS DATE) AS date,
			raw->>'product_id' AS product_id, TRY_CAST(raw->>'quantity' AS INTEGER) AS quantity,
			TRY_CAST(raw->>'revenue' AS DECIMAL(12, 2)) AS revenue, ingested_at, "partition", "offset" FROM sales.bronze_events`,
		Valid: `event_ts IS NOT NULL AND user_id IS NOT NULL AND event_type IN ('page_view', 'add_to_cart', 'order', 'payment', 'refund') AND revenue IS NOT NULL`,
	},
	{
		Topic: TopicOrders, Bronze: "sales.bronze_orders", Silver: "sales.silver_orders", Key: "order_id", TS: "ordered_at",
		Parsed: `SELECT raw->>'order_id' AS order_id, TRY_CAST(raw->>'user_id' AS BIGINT) AS user_id, raw->>'country' AS country,
			TRY_CAST(raw->>'ordered_at' AS TIMESTAMPTZ) AS ordered_at, TRY_CAST(TRY_CAST(raw->>'ordered_at' AS TIMESTAMPTZ) AS DATE) AS date,
			TRY_CAST(raw->>'total' AS DECIMAL(12, 2)) AS total, ingested_at, "partition", "offset" FROM sales.bronze_orders`,
		Valid: `ordered_at IS NOT NULL AND user_id IS NOT NULL AND total IS NOT NULL AND total >= 0`,
	},
}

// BronzeTables maps each demo topic to the bronze table its records land in (each also has a
// quarantine table, the name plus "_quarantine", for records that are not valid JSON).
var BronzeTables = map[string]string{
	TopicEvents:    "sales.bronze_events",
	TopicOrders:    "sales.bronze_orders",
	TopicCustomers: "customers.bronze_changes",
}

// CountRows counts a table's rows; a table not created yet (a late or quarantine table before its
// first row) has none.
func CountRows(ctx context.Context, q Querier, table string) (int64, error) {
	n, err := QueryInt(ctx, q, "SELECT CAST(count(*) AS BIGINT) AS n FROM "+table)
	if err != nil && strings.Contains(err.Error(), "unknown table") {
		return 0, nil
	}
	return n, err
}

// QueryInt runs a query answering one row of one column and returns it as an integer (0 for
// NULL).
func QueryInt(ctx context.Context, q Querier, sql string) (int64, error) {
	rows, err := q(ctx, sql)
	if err != nil {
		return 0, err
	}
	if len(rows) != 1 || len(rows[0]) != 1 {
		return 0, fmt.Errorf("demo: %s: want one value, got %d rows", sql, len(rows))
	}
	for _, v := range rows[0] {
		return ToInt(v)
	}
	return 0, nil
}

// ToInt converts a value a Querier returns to an integer: Go integers and floats, json.Number,
// decimal strings and big integers; nil is 0.
func ToInt(v any) (int64, error) {
	switch x := v.(type) {
	case nil:
		return 0, nil
	case int64:
		return x, nil
	case int32:
		return int64(x), nil
	case int:
		return int64(x), nil
	case int16:
		return int64(x), nil
	case int8:
		return int64(x), nil
	case uint64:
		return int64(x), nil
	case uint32:
		return int64(x), nil
	case float64:
		return int64(x), nil
	case *big.Int:
		return x.Int64(), nil
	case json.Number:
		return parseInt(x.String())
	case string:
		return parseInt(x)
	}
	return 0, fmt.Errorf("demo: not a number: %T %v", v, v)
}

func parseInt(s string) (int64, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("demo: not a number: %q", s)
	}
	return int64(f), nil
}

// BronzeCounts returns, per demo topic, the rows of its bronze table plus its quarantine table:
// once the pipelines have drained, the number of records the topic holds.
func BronzeCounts(ctx context.Context, q Querier) (map[string]int64, error) {
	out := map[string]int64{}
	for topic, table := range BronzeTables {
		n, err := CountRows(ctx, q, table)
		if err != nil {
			return nil, err
		}
		quarantined, err := CountRows(ctx, q, table+"_quarantine")
		if err != nil {
			return nil, err
		}
		out[topic] = n + quarantined
	}
	return out, nil
}

// CheckNoReprocessing checks that no log record was processed twice: bronze holds each
// (partition, offset) once and silver each key once (a restart that reprocessed from zero would
// double them). With minStreamRuns > 0 it also checks that the pipeline event log shows at least
// that many stream runs (one per start that committed a batch).
func CheckNoReprocessing(ctx context.Context, q Querier, minStreamRuns int64) (*Findings, error) {
	f := &Findings{}
	for _, c := range []struct{ table, keys string }{
		{"sales.bronze_events", `"partition", "offset"`},
		{"sales.bronze_orders", `"partition", "offset"`},
		{"sales.silver_events", "event_id"},
		{"sales.silver_orders", "order_id"},
	} {
		sql := fmt.Sprintf(`SELECT CAST(count(*) AS BIGINT) FROM (SELECT %s FROM %s GROUP BY ALL HAVING count(*) > 1)`, c.keys, c.table)
		n, err := QueryInt(ctx, q, sql)
		if err != nil {
			return nil, err
		}
		f.figure("duplicated_keys."+c.table, n)
		if n != 0 {
			f.problem("%s: %d duplicated keys (%s)", c.table, n, c.keys)
		}
	}
	runs, err := QueryInt(ctx, q, `SELECT CAST(count(DISTINCT run_id) AS BIGINT) FROM _strata.pipeline_events WHERE event = 'batch' AND mode = 'stream'`)
	if err != nil {
		return nil, err
	}
	f.figure("stream_runs", runs)
	if runs < minStreamRuns {
		f.problem("the event log shows %d stream runs, want at least %d", runs, minStreamRuns)
	}
	return f, nil
}

// AccountingOptions tune CheckAccounting.
type AccountingOptions struct {
	// RequireLate makes a stream without a late row a problem (the demo's feed sends some late
	// on purpose: a run of minutes has some).
	RequireLate bool
	// LossyEventLog accepts an event log that undercounts: the pipeline event log is flushed
	// every second, so a run killed with SIGKILL loses the events of the batches it committed
	// in its last second. Its counts must then not exceed the tables', and the shortfall is a
	// figure (event_log_missing.*), not a problem. Without it, the counts must be equal.
	LossyEventLog bool
}

// CheckAccounting checks that every produced record is accounted for: per sales stream, bronze
// plus its quarantine holds produced[topic] records; by plain SQL, every valid bronze row is in
// silver (by key) or in the late table, every silver row comes from a valid bronze row, and the
// rest are duplicates; and the pipeline event log's counts of dropped, late and duplicate rows
// agree with the tables (see AccountingOptions.LossyEventLog).
func CheckAccounting(ctx context.Context, q Querier, produced map[string]int64, opts AccountingOptions) (*Findings, error) {
	f := &Findings{}
	for _, s := range Streams {
		bronze, err := CountRows(ctx, q, s.Bronze)
		if err != nil {
			return nil, err
		}
		quarantined, err := CountRows(ctx, q, s.Bronze+"_quarantine")
		if err != nil {
			return nil, err
		}
		if bronze+quarantined != produced[s.Topic] {
			f.problem("%s: %d in bronze + %d quarantined != %d generated", s.Topic, bronze, quarantined, produced[s.Topic])
		}
		invalid, err := QueryInt(ctx, q, fmt.Sprintf("SELECT CAST(count(*) AS BIGINT) FROM (%s) WHERE NOT coalesce(%s, false)", s.Parsed, s.Valid))
		if err != nil {
			return nil, err
		}
		valid := bronze - invalid
		accepted, err := CountRows(ctx, q, s.Silver)
		if err != nil {
			return nil, err
		}
		late, err := CountRows(ctx, q, s.Silver+"_late")
		if err != nil {
			return nil, err
		}
		if late == 0 && opts.RequireLate {
			f.problem("%s: no late row: the demo sends some late on purpose", s.Silver)
		}
		// Plain SQL: no valid bronze row lost between bronze and silver, no silver row from nowhere.
		notLate := ""
		if late > 0 {
			notLate = fmt.Sprintf(`AND NOT EXISTS (SELECT 1 FROM %[1]s_late l WHERE l.%[2]s = b.%[2]s AND l.%[3]s = b.%[3]s AND l.ingested_at = b.ingested_at)`,
				s.Silver, s.Key, s.TS)
		}
		if accepted > 0 || valid > 0 {
			silverKeys := "(SELECT NULL AS k WHERE false)"
			if accepted > 0 {
				silverKeys = fmt.Sprintf("(SELECT %s AS k FROM %s)", s.Key, s.Silver)
			}
			lost, err := QueryInt(ctx, q, fmt.Sprintf(`SELECT CAST(count(*) AS BIGINT) FROM (%s) b WHERE %s
				AND NOT EXISTS (SELECT 1 FROM %s sk WHERE sk.k = b.%s) %s`, s.Parsed, s.Valid, silverKeys, s.Key, notLate))
			if err != nil {
				return nil, err
			}
			if lost != 0 {
				f.problem("%s: %d valid bronze rows are neither in silver (by %s) nor in the late table", s.Silver, lost, s.Key)
			}
			f.figure(s.Topic+".lost", lost)
		}
		if accepted > 0 {
			unknown, err := QueryInt(ctx, q, fmt.Sprintf(`SELECT CAST(count(*) AS BIGINT) FROM %[1]s s WHERE NOT EXISTS
				(SELECT 1 FROM (%[2]s) b WHERE %[3]s AND b.%[4]s = s.%[4]s)`, s.Silver, s.Parsed, s.Valid, s.Key))
			if err != nil {
				return nil, err
			}
			if unknown != 0 {
				f.problem("%s: %d rows whose %s is in no valid bronze row", s.Silver, unknown, s.Key)
			}
		}
		duplicatesSQL := valid - accepted - late
		if duplicatesSQL < 0 {
			f.problem("%s: accepted %d + late %d > %d valid bronze rows", s.Silver, accepted, late, valid)
		}
		rows, err := q(ctx, fmt.Sprintf(`SELECT CAST(sum(rows_in) AS BIGINT) AS rows_in, CAST(sum(rows_dropped) AS BIGINT) AS dropped,
			CAST(sum(rows_duplicate) AS BIGINT) AS duplicates, CAST(sum(rows_late) AS BIGINT) AS late, CAST(sum(rows_out) AS BIGINT) AS rows_out
			FROM _strata.pipeline_events WHERE event = 'batch' AND flow = '%s'`, s.Silver))
		if err != nil {
			return nil, err
		}
		if len(rows) != 1 {
			return nil, fmt.Errorf("demo: the event log's sums for %s: %d rows", s.Silver, len(rows))
		}
		var dropped, duplicates, lateLogged int64
		for name, dst := range map[string]*int64{"dropped": &dropped, "duplicates": &duplicates, "late": &lateLogged} {
			if *dst, err = ToInt(rows[0][name]); err != nil {
				return nil, fmt.Errorf("demo: the event log's %s for %s: %w", name, s.Silver, err)
			}
		}
		if opts.LossyEventLog {
			for _, c := range []struct {
				what          string
				logged, table int64
			}{{"dropped", dropped, invalid}, {"late", lateLogged, late}, {"duplicates", duplicates, duplicatesSQL}} {
				if c.logged > c.table {
					f.problem("%s: the event log counts %d %s rows, more than the tables' %d", s.Silver, c.logged, c.what, c.table)
				}
				f.figure(s.Topic+".event_log_missing."+c.what, c.table-c.logged)
			}
		} else {
			if dropped != invalid {
				f.problem("%s: the event log dropped %d rows, plain SQL finds %d invalid bronze rows", s.Silver, dropped, invalid)
			}
			if lateLogged != late {
				f.problem("%s: the event log counted %d late rows, the late table holds %d", s.Silver, lateLogged, late)
			}
			if accepted+duplicates+late != valid {
				f.problem("%s: accepted %d + deduplicated %d + late %d != %d valid bronze rows", s.Silver, accepted, duplicates, late, valid)
			}
		}
		distinct, err := QueryInt(ctx, q, fmt.Sprintf("SELECT CAST(count(DISTINCT %s) AS BIGINT) FROM (%s) WHERE %s", s.Key, s.Parsed, s.Valid))
		if err != nil {
			return nil, err
		}
		if accepted > distinct {
			f.problem("%s: %d rows for %d distinct keys", s.Silver, accepted, distinct)
		}
		for name, v := range map[string]int64{"bronze": bronze, "quarantined": quarantined, "accepted": accepted, "dropped": invalid,
			"duplicates": duplicatesSQL, "late": late} {
			f.figure(s.Topic+"."+name, v)
		}
		f.note("%s: generated %d = bronze %d + quarantined %d; bronze = accepted %d + dropped by expectations %d + deduplicated %d + late %d",
			s.Topic, produced[s.Topic], bronze, quarantined, accepted, invalid, duplicates, late)
	}
	return f, nil
}

// GoldCheck is one gold table and its recomputation from bronze: Gold selects the table's
// columns, Recomputed the same columns computed from bronze with plain SQL.
type GoldCheck struct {
	Table, Gold, Recomputed string
}

// GoldChecks returns the recomputations of the gold tables from bronze (parse, validate, drop the
// late deliveries found in the late table, keep one row per key, aggregate). lateEvents and
// lateOrders say whether sales.silver_events_late and sales.silver_orders_late exist (a late
// table is created with its first row).
func GoldChecks(lateEvents, lateOrders bool) []GoldCheck {
	silverOrders := fmt.Sprintf(`(SELECT DISTINCT ON (order_id) * FROM (%s) b WHERE %s
		AND NOT EXISTS (SELECT 1 FROM sales.silver_orders_late l WHERE l.order_id = b.order_id AND l.ordered_at = b.ordered_at AND l.ingested_at = b.ingested_at)
		ORDER BY order_id, "partition", "offset")`, Streams[1].Parsed, Streams[1].Valid)
	silverEvents := fmt.Sprintf(`(SELECT DISTINCT ON (event_id) * FROM (%s) b WHERE %s
		AND NOT EXISTS (SELECT 1 FROM sales.silver_events_late l WHERE l.event_id = b.event_id AND l.event_ts = b.event_ts AND l.ingested_at = b.ingested_at)
		ORDER BY event_id, "partition", "offset")`, Streams[0].Parsed, Streams[0].Valid)
	if !lateOrders {
		silverOrders = fmt.Sprintf(`(SELECT DISTINCT ON (order_id) * FROM (%s) b WHERE %s ORDER BY order_id, "partition", "offset")`, Streams[1].Parsed, Streams[1].Valid)
	}
	if !lateEvents {
		// No late event yet: nothing to exclude.
		silverEvents = fmt.Sprintf(`(SELECT DISTINCT ON (event_id) * FROM (%s) b WHERE %s ORDER BY event_id, "partition", "offset")`, Streams[0].Parsed, Streams[0].Valid)
	}
	return []GoldCheck{
		{"analytics.orders_daily_agg",
			"SELECT date, country, total_orders, total_revenue, round(avg_order_value, 6) AS a FROM analytics.orders_daily_agg",
			"SELECT date, country, count(*), sum(total), round(avg(total), 6) FROM " + silverOrders + " GROUP BY date, country"},
		{"analytics.revenue_per_minute",
			"SELECT minute, country, orders, revenue FROM analytics.revenue_per_minute",
			"SELECT time_bucket(INTERVAL '1 minute', ordered_at), country, count(*), sum(total) FROM " + silverOrders + " GROUP BY ALL"},
		{"analytics.user_stats",
			"SELECT user_id, date, total_events, total_revenue, sessions FROM analytics.user_stats",
			"SELECT user_id, date, count(*), sum(revenue), count(DISTINCT session_id) FROM " + silverEvents + " GROUP BY user_id, date"},
		{"analytics.product_sales_hourly",
			"SELECT hour, product_id, units, revenue, order_lines FROM analytics.product_sales_hourly",
			"SELECT time_bucket(INTERVAL '1 hour', event_ts), product_id, sum(quantity), sum(revenue), count(*) FROM " + silverEvents + " WHERE event_type = 'order' GROUP BY ALL"},
	}
}

// CheckGold compares each gold table with its recomputation from bronze (GoldChecks) row for
// row, EXCEPT ALL both ways; an empty gold table is a problem too.
func CheckGold(ctx context.Context, q Querier) (*Findings, error) {
	f := &Findings{}
	_, err := q(ctx, "SELECT 1 FROM sales.silver_events_late LIMIT 1")
	lateEvents := err == nil
	_, err = q(ctx, "SELECT 1 FROM sales.silver_orders_late LIMIT 1")
	lateOrders := err == nil
	for _, c := range GoldChecks(lateEvents, lateOrders) {
		rows, err := QueryInt(ctx, q, "SELECT CAST(count(*) AS BIGINT) FROM "+c.Table)
		if err != nil {
			return nil, err
		}
		onlyGold, err := QueryInt(ctx, q, fmt.Sprintf("SELECT CAST(count(*) AS BIGINT) FROM (%s EXCEPT ALL %s)", c.Gold, c.Recomputed))
		if err != nil {
			return nil, err
		}
		onlyRecomputed, err := QueryInt(ctx, q, fmt.Sprintf("SELECT CAST(count(*) AS BIGINT) FROM (%s EXCEPT ALL %s)", c.Recomputed, c.Gold))
		if err != nil {
			return nil, err
		}
		f.figure(c.Table+".rows", rows)
		if rows == 0 || onlyGold != 0 || onlyRecomputed != 0 {
			f.problem("%s (%d rows): %d rows only in gold, %d only in the recomputation from bronze", c.Table, rows, onlyGold, onlyRecomputed)
		} else {
			f.note("%s: %d rows, equal to the recomputation from bronze", c.Table, rows)
		}
	}
	return f, nil
}
