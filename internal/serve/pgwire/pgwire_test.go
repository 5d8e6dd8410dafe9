package pgwire

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	wire "github.com/jeroenrinzema/psql-wire"

	"github.com/stratalake/strata/internal/engine"
	"github.com/stratalake/strata/internal/project"
)

// testSQL creates the test project's tables.
const testSQL = `
CREATE TABLE sales.orders AS
SELECT * FROM (VALUES
  (1::BIGINT, 'alice', 12.50::DECIMAL(12,2), TIMESTAMP '2024-01-02 03:04:05.123456', TIMESTAMPTZ '2024-01-02 03:04:05+00', 'ES', NULL::VARCHAR, 2, ['a', 'b'], DATE '2024-01-02', true, 0.25::DOUBLE),
  (2, 'bob', 7.05, TIMESTAMP '2024-01-03 10:00:00', TIMESTAMPTZ '2024-01-03 10:00:00+00', 'FR', 'gift', 1, [], DATE '2024-01-03', false, 1.5),
  (3, 'carol', NULL, NULL, NULL, 'ES', 'it''s', NULL, NULL, NULL, NULL, NULL)
) AS t(id, customer, amount, ordered_at, paid_at, country, note, qty, tags, shipped, ok, ratio);
CREATE TABLE sales.customers AS SELECT * FROM (VALUES (1::BIGINT, 'alice', 'ES'), (2, 'bob', 'FR')) AS t(id, name, country);
CREATE TABLE logistics.shipments AS SELECT 1::BIGINT AS order_id, 'dhl' AS carrier, {'city': 'Madrid', 'zip': '28001'} AS address;
`

// newTestEngine builds a project in a temporary folder with testSQL's tables and returns its
// engine.
func newTestEngine(t testing.TB) *engine.Engine {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, project.FileName), []byte("storage: ./warehouse\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := project.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.Open(ctx, engine.Options{Project: p, CacheDir: filepath.Join(dir, "cache")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	if err := e.Run(ctx, testSQL, func(*engine.Result) error { return nil }); err != nil {
		t.Fatal(err)
	}
	return e
}

// startServer serves e on a free loopback port until the test ends and returns the address.
func startServer(t testing.TB, e *engine.Engine, opts Options) (*Server, string) {
	t.Helper()
	opts.Engine = e
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	srv, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(context.Background(), ln) }()
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return srv, ln.Addr().String()
}

// testWriter sends log lines to the test log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func connString(addr, password string) string {
	host, port, _ := net.SplitHostPort(addr)
	s := fmt.Sprintf("host=%s port=%s user=strata dbname=strata sslmode=disable", host, port)
	if password != "" {
		s += " password=" + password
	}
	return s
}

func connect(t testing.TB, addr string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), connString(addr, ""))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// rowsText runs a query and renders its rows as "a|b" lines (NULL as "∅").
func rowsText(t testing.TB, conn *pgx.Conn, sql string, args ...any) string {
	t.Helper()
	rows, err := conn.Query(context.Background(), sql, args...)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		parts := make([]string, len(vals))
		for i, v := range vals {
			parts[i] = renderValue(v)
		}
		lines = append(lines, strings.Join(parts, "|"))
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return strings.Join(lines, "\n")
}

func renderValue(v any) string {
	switch v := v.(type) {
	case nil:
		return "∅"
	case time.Time:
		return v.UTC().Format("2006-01-02 15:04:05.999999")
	case pgtype.Numeric:
		b, _ := v.MarshalJSON()
		return string(b)
	case []byte:
		return fmt.Sprintf("%x", v)
	case map[string]any, []any:
		return fmt.Sprintf("%v", v)
	}
	return fmt.Sprint(v)
}

func TestQueries(t *testing.T) {
	e := newTestEngine(t)
	_, addr := startServer(t, e, Options{TrustLoopback: true})
	conn := connect(t, addr)
	ctx := context.Background()

	tests := []struct {
		name string
		sql  string
		args []any
		want string
	}{
		{"select", "SELECT id, customer FROM sales.orders ORDER BY id", nil, "1|alice\n2|bob\n3|carol"},
		{"param int", "SELECT customer FROM sales.orders WHERE id = $1", []any{int64(2)}, "bob"},
		{"param text", "SELECT id FROM sales.orders WHERE customer = $1", []any{"carol"}, "3"},
		{"param quote", "SELECT id FROM sales.orders WHERE note = $1", []any{"it's"}, "3"},
		{"param injection is a value", "SELECT count(*) FROM sales.orders WHERE customer = $1", []any{"x' OR '1'='1"}, "0"},
		{"param timestamp", "SELECT id FROM sales.orders WHERE ordered_at > $1 ORDER BY id", []any{time.Date(2024, 1, 2, 12, 0, 0, 0, time.UTC)}, "2"},
		{"param decimal", "SELECT id FROM sales.orders WHERE amount > $1", []any{10}, "1"},
		{"param bool", "SELECT id FROM sales.orders WHERE ok = $1", []any{false}, "2"},
		{"param date", "SELECT id FROM sales.orders WHERE shipped = $1", []any{time.Date(2024, 1, 3, 0, 0, 0, 0, time.UTC)}, "2"},
		{"param null", "SELECT count(*) FROM sales.orders WHERE note = $1", []any{nil}, "0"},
		{"param untyped", "SELECT $1::INTEGER + 1", []any{41}, "42"},
		{"two params", "SELECT id FROM sales.orders WHERE country = $1 AND id > $2", []any{"ES", 1}, "3"},
		{"nulls", "SELECT note, amount, ordered_at, qty, tags, ok FROM sales.orders WHERE id = 3", nil, "it's|∅|∅|∅|∅|∅"},
		{"decimal", "SELECT amount FROM sales.orders WHERE id <= 2 ORDER BY id", nil, "12.50\n7.05"},
		{"timestamps", "SELECT ordered_at, paid_at, shipped FROM sales.orders WHERE id = 1", nil,
			"2024-01-02 03:04:05.123456|2024-01-02 03:04:05|2024-01-02 00:00:00"},
		{"nested as json", "SELECT tags, address FROM sales.orders, logistics.shipments WHERE id = 1", nil,
			"[a b]|map[city:Madrid zip:28001]"},
		{"join", "SELECT o.id, c.country FROM sales.orders o JOIN sales.customers c ON c.name = o.customer ORDER BY 1", nil, "1|ES\n2|FR"},
		{"aggregate", "SELECT country, count(*), sum(amount) FROM sales.orders GROUP BY 1 ORDER BY 1", nil, "ES|2|12.50\nFR|1|7.05"},
		{"other types", `SELECT INTERVAL '1 day 2 hours', TIME '10:11:12', '\x01\x02'::BLOB, 3::UTINYINT, 4::HUGEINT, 2.5::FLOAT, 'x'::ENUM('x', 'y')`, nil,
			"{7200000000 1 0 true}|{36672000000 true}|0102|3|4|2.5|x"},
		{"bytea param", "SELECT octet_length($1::BLOB)", []any{[]byte{1, 2, 3}}, "3"},
		{"many rows", "SELECT count(*), sum(x) FROM (SELECT range AS x FROM range(5000))", nil, "5000|12497500"},
		{"version", "SELECT version()", nil, "PostgreSQL 15.0 (Strata dev)"},
		{"session functions", "SELECT current_database(), current_schema(), current_user", nil, "strata|public|strata"},
		{"show", "SHOW transaction isolation level", nil, "read committed"},
		{"information_schema", "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position",
			[]any{"sales", "customers"}, "id|bigint\nname|text\ncountry|text"},
		{"information_schema tables", "SELECT table_schema || '.' || table_name FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1",
			nil, "logistics.shipments\nsales.customers\nsales.orders"},
		{"pg_catalog", "SELECT n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid WHERE c.relname = 'orders' AND a.attnum <= 3 ORDER BY a.attnum",
			nil, "sales|orders|id|bigint\nsales|orders|customer|text\nsales|orders|amount|numeric(12,2)"},
		{"regclass", "SELECT relname FROM pg_class WHERE oid = 'sales.orders'::regclass", nil, "orders"},
		{"pg_type", "SELECT typname FROM pg_type WHERE oid = $1", []any{1700}, "numeric"},
		{"engine statement", "SHOW TABLES", nil, ""},
		{"time travel with param", "SELECT count(*) FROM sales.orders AT (VERSION => 0) WHERE id >= $1", []any{2}, "2"},
	}
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeCacheStatement, pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeExec} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/%s", mode, tt.name), func(t *testing.T) {
				if tt.name == "bytea param" && mode == pgx.QueryExecModeSimpleProtocol {
					t.Skip("pgx writes bytea as '\\x..', which DuckDB's BLOB cast reads as text")
				}
				args := append([]any{mode}, tt.args...)
				got := rowsText(t, conn, tt.sql, args...)
				if tt.name == "engine statement" {
					if !strings.Contains(got, "sales|orders") {
						t.Errorf("SHOW TABLES = %q, want it to list sales.orders", got)
					}
					return
				}
				if got != tt.want {
					t.Errorf("%s\n got %q\nwant %q", tt.sql, got, tt.want)
				}
			})
		}
	}
	_ = ctx
}

// TestColumnTypes checks the Postgres types result columns are announced with, in both
// protocols.
func TestColumnTypes(t *testing.T) {
	e := newTestEngine(t)
	_, addr := startServer(t, e, Options{TrustLoopback: true})
	conn := connect(t, addr)
	want := map[string]uint32{
		"id": pgtype.Int8OID, "customer": pgtype.TextOID, "amount": pgtype.NumericOID,
		"ordered_at": pgtype.TimestampOID, "paid_at": pgtype.TimestamptzOID, "qty": pgtype.Int4OID,
		"tags": pgtype.JSONOID, "shipped": pgtype.DateOID, "ok": pgtype.BoolOID, "ratio": pgtype.Float8OID,
	}
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeCacheStatement, pgx.QueryExecModeSimpleProtocol} {
		rows, err := conn.Query(context.Background(), "SELECT * FROM sales.orders", mode)
		if err != nil {
			t.Fatal(err)
		}
		fds := rows.FieldDescriptions()
		rows.Close()
		for _, fd := range fds {
			if w, ok := want[fd.Name]; ok && fd.DataTypeOID != w {
				t.Errorf("%s: column %s has OID %d, want %d", mode, fd.Name, fd.DataTypeOID, w)
			}
		}
		if len(fds) != 12 {
			t.Errorf("%s: %d columns, want 12", mode, len(fds))
		}
	}
	// Scanning into Go types through the extended protocol (binary format).
	var (
		id       int64
		amount   pgtype.Numeric
		ordered  time.Time
		paid     time.Time
		shipped  time.Time
		ok       bool
		ratio    float64
		qty      int32
		customer string
		note     *string
	)
	err := conn.QueryRow(context.Background(), "SELECT id, amount, ordered_at, paid_at, shipped, ok, ratio, qty, customer, note FROM sales.orders WHERE id = $1", 1).
		Scan(&id, &amount, &ordered, &paid, &shipped, &ok, &ratio, &qty, &customer, &note)
	if err != nil {
		t.Fatal(err)
	}
	f, _ := amount.Float64Value()
	if id != 1 || f.Float64 != 12.5 || !ok || ratio != 0.25 || qty != 2 || customer != "alice" || note != nil {
		t.Errorf("scanned %v %v %v %v %v %v %v %v", id, f.Float64, ok, ratio, qty, customer, note, amount)
	}
	if want := time.Date(2024, 1, 2, 3, 4, 5, 123456000, time.UTC); !ordered.Equal(want) {
		t.Errorf("ordered_at = %v, want %v", ordered, want)
	}
	if want := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC); !paid.Equal(want) {
		t.Errorf("paid_at = %v, want %v", paid, want)
	}
	if want := time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC); !shipped.Equal(want) {
		t.Errorf("shipped = %v, want %v", shipped, want)
	}
}

// TestErrors checks that errors reach clients as ErrorResponses with a SQLSTATE naming their
// kind and the engine's message, and that the connection stays usable.
func TestErrors(t *testing.T) {
	e := newTestEngine(t)
	_, addr := startServer(t, e, Options{TrustLoopback: true})
	conn := connect(t, addr)
	tests := []struct {
		name, sql, code, msg string
		args                 []any
	}{
		{"unknown table", "SELECT * FROM sales.nope", "42P01", "sales.nope", nil},
		{"unknown table with param", "SELECT * FROM sales.nope WHERE id = $1", "42P01", "sales.nope", []any{1}},
		{"unknown column", "SELECT nope FROM sales.orders", "42703", "nope", nil},
		{"syntax error", "SELEC 1", "42601", "SELEC", nil},
		{"unknown function", "SELECT no_such_function(1)", "42883", "no_such_function", nil},
		{"bad param", "SELECT * FROM sales.orders WHERE id = $1", "22P02", "x", []any{"x"}},
		{"multiple statements prepared", "SELECT 1; SELECT 2", "42601", "multiple commands", []any{1}},
	}
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeCacheStatement, pgx.QueryExecModeSimpleProtocol} {
		for _, tt := range tests {
			if tt.name == "multiple statements prepared" && mode == pgx.QueryExecModeSimpleProtocol {
				continue
			}
			t.Run(fmt.Sprintf("%s/%s", mode, tt.name), func(t *testing.T) {
				args := append([]any{mode}, tt.args...)
				_, err := conn.Exec(context.Background(), tt.sql, args...)
				var pgErr *pgconn.PgError
				if !errors.As(err, &pgErr) {
					t.Fatalf("%s: got %v, want a PgError", tt.sql, err)
				}
				if pgErr.Code != tt.code || !strings.Contains(pgErr.Message, tt.msg) {
					t.Errorf("%s: got %s %q, want %s containing %q", tt.sql, pgErr.Code, pgErr.Message, tt.code, tt.msg)
				}
				if got := rowsText(t, conn, "SELECT 1"); got != "1" {
					t.Errorf("after the error: SELECT 1 = %q", got)
				}
			})
		}
	}
}

// TestSessionStatements checks what tools send besides queries: transactions, SET, SHOW,
// empty queries, several statements in one simple query.
func TestSessionStatements(t *testing.T) {
	e := newTestEngine(t)
	_, addr := startServer(t, e, Options{TrustLoopback: true})
	conn := connect(t, addr)
	ctx := context.Background()

	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st := conn.PgConn().TxStatus(); st != 'T' {
		t.Errorf("TxStatus in a transaction = %c, want T", st)
	}
	var n int
	if err := tx.QueryRow(ctx, "SELECT count(*) FROM sales.orders").Scan(&n); err != nil || n != 3 {
		t.Errorf("count in transaction = %d, %v", n, err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if st := conn.PgConn().TxStatus(); st != 'I' {
		t.Errorf("TxStatus after commit = %c, want I", st)
	}

	for _, tt := range []struct{ sql, tag string }{
		{"SET extra_float_digits = 3", "SET"},
		{"SET application_name TO 'grafana'", "SET"},
		{"SET SESSION TIME ZONE 'UTC'", "SET"},
		{"SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED", "SET"},
		{"RESET extra_float_digits", "RESET"},
		{"BEGIN READ ONLY", "BEGIN"},
		{"ROLLBACK", "ROLLBACK"},
		{"DISCARD ALL", "DISCARD ALL"},
		{"DEALLOCATE ALL", "DEALLOCATE ALL"},
	} {
		tag, err := conn.Exec(ctx, tt.sql)
		if err != nil || tag.String() != tt.tag {
			t.Errorf("%s: tag %q, err %v; want %q", tt.sql, tag, err, tt.tag)
		}
	}
	if _, err := conn.Exec(ctx, "SET application_name = 'grafana'"); err != nil {
		t.Fatal(err)
	}
	if got := rowsText(t, conn, "SHOW application_name"); got != "grafana" {
		t.Errorf("SHOW application_name = %q", got)
	}

	// Several statements in one simple query: each result in order, the last one's rows.
	results, err := conn.PgConn().Exec(ctx, "SELECT 1 AS a; SELECT id FROM sales.orders WHERE id = 2; SHOW TimeZone").ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range results {
		got = append(got, fmt.Sprintf("%s:%d", r.CommandTag, len(r.Rows)))
	}
	if strings.Join(got, ",") != "SELECT 1:1,SELECT 1:1,SHOW:1" {
		t.Errorf("multi-statement results = %v", got)
	}
	// An error stops the statements that follow it.
	results, err = conn.PgConn().Exec(ctx, "SELECT 1; SELECT * FROM sales.nope; SELECT 3").ReadAll()
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "42P01" || len(results) != 1 {
		t.Errorf("multi-statement with an error: %d results, err %v", len(results), err)
	}
	// Empty queries are answered EmptyQueryResponse (pgconn reports an empty command tag).
	for _, q := range []string{";", "-- nothing", "  "} {
		results, err := conn.PgConn().Exec(ctx, q).ReadAll()
		if err != nil || len(results) != 1 || results[0].CommandTag.String() != "" || results[0].FieldDescriptions != nil {
			t.Errorf("empty query %q: %v, %v", q, results, err)
		}
	}
	if got := rowsText(t, conn, "SELECT 42"); got != "42" {
		t.Errorf("after the empty query: %q", got)
	}
}

// TestWrites runs writes through the server and reads them back.
func TestWrites(t *testing.T) {
	e := newTestEngine(t)
	_, addr := startServer(t, e, Options{TrustLoopback: true})
	conn := connect(t, addr)
	ctx := context.Background()
	for _, tt := range []struct {
		sql  string
		args []any
		tag  string
	}{
		{"CREATE TABLE sales.refunds AS SELECT 1::BIGINT AS order_id, 2.5::DECIMAL(10,2) AS amount", nil, "SELECT 1"},
		{"INSERT INTO sales.refunds VALUES ($1, $2)", []any{int64(2), "3.75"}, "INSERT 0 1"},
		{"UPDATE sales.refunds SET amount = amount + 1 WHERE order_id = $1", []any{1}, "UPDATE 1"},
		{"DELETE FROM sales.refunds WHERE order_id = 99", nil, "DELETE 0"},
	} {
		tag, err := conn.Exec(ctx, tt.sql, tt.args...)
		if err != nil {
			t.Fatalf("%s: %v", tt.sql, err)
		}
		if tag.String() != tt.tag {
			t.Errorf("%s: tag %q, want %q", tt.sql, tag, tt.tag)
		}
	}
	if got := rowsText(t, conn, "SELECT order_id, amount FROM sales.refunds ORDER BY 1"); got != "1|3.50\n2|3.75" {
		t.Errorf("refunds = %q", got)
	}
}

// TestCatalogRefresh checks that a table created after the server started is listed once the
// catalog refreshes, and that a statement over it is described.
func TestCatalogRefresh(t *testing.T) {
	e := newTestEngine(t)
	srv, addr := startServer(t, e, Options{TrustLoopback: true})
	conn := connect(t, addr)
	ctx := context.Background()
	if got := rowsText(t, conn, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'analytics'"); got != "0" {
		t.Fatalf("analytics tables before = %q", got)
	}
	if err := e.Run(ctx, "CREATE TABLE analytics.daily AS SELECT DATE '2024-01-01' AS day, 3 AS orders", func(*engine.Result) error { return nil }); err != nil {
		t.Fatal(err)
	}
	srv.catalog.expire()
	if got := rowsText(t, conn, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'analytics'"); got != "daily" {
		t.Errorf("analytics tables after = %q", got)
	}
	if got := rowsText(t, conn, "SELECT orders FROM analytics.daily WHERE day = $1", time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)); got != "3" {
		t.Errorf("query on the new table = %q", got)
	}

	// A prepared statement whose table gained a column since it was described fails with
	// Postgres's "cached plan must not change result type"; pgx then prepares it again.
	const q = "SELECT * FROM sales.customers WHERE id = $1"
	if got := rowsText(t, conn, q, 1); got != "1|alice|ES" {
		t.Fatalf("before the change: %q", got)
	}
	if err := e.Run(ctx, "CREATE OR REPLACE TABLE sales.customers AS SELECT 1::BIGINT AS id, 'alice' AS name, 'ES' AS country, 'gold' AS tier", func(*engine.Result) error { return nil }); err != nil {
		t.Fatal(err)
	}
	_, err := conn.Exec(ctx, q, 1)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "0A000" || pgErr.Message != "cached plan must not change result type" {
		t.Errorf("stale prepared statement: got %v, want 0A000 cached plan must not change result type", err)
	}
	if got := rowsText(t, conn, q, 1); got != "1|alice|ES|gold" {
		t.Errorf("after the change: %q", got)
	}
}

// TestConcurrentClients runs many clients at once.
func TestConcurrentClients(t *testing.T) {
	e := newTestEngine(t)
	_, addr := startServer(t, e, Options{TrustLoopback: true})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := pgx.Connect(context.Background(), connString(addr, ""))
			if err != nil {
				errs <- err
				return
			}
			defer conn.Close(context.Background())
			for j := 0; j < 5; j++ {
				var name string
				id := 1 + (i+j)%2
				if err := conn.QueryRow(context.Background(), "SELECT customer FROM sales.orders WHERE id = $1", id).Scan(&name); err != nil {
					errs <- err
					return
				}
				if want := map[int]string{1: "alice", 2: "bob"}[id]; name != want {
					errs <- fmt.Errorf("id %d: got %q, want %q", id, name, want)
					return
				}
				var n int
				if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM information_schema.columns WHERE table_name = 'orders'").Scan(&n); err != nil || n != 12 {
					errs <- fmt.Errorf("columns of orders: %d, %v", n, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestQueryTimeout checks that a statement running past QueryTimeout is cancelled with
// SQLSTATE 57014 and that the connection stays usable.
func TestQueryTimeout(t *testing.T) {
	e := newTestEngine(t)
	_, addr := startServer(t, e, Options{TrustLoopback: true, QueryTimeout: 200 * time.Millisecond})
	conn := connect(t, addr)
	_, err := conn.Exec(context.Background(), "SELECT count(*) FROM range(100000000000) a WHERE a.range % 7 = 3")
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "57014" {
		t.Fatalf("long statement: got %v, want SQLSTATE 57014", err)
	}
	if !strings.Contains(pgErr.Message, "statement timeout") {
		t.Errorf("message %q does not name the timeout", pgErr.Message)
	}
	if got := rowsText(t, conn, "SELECT 7"); got != "7" {
		t.Errorf("after the timeout: %q", got)
	}
}

// TestCancelRequest checks that a CancelRequest (psql's Ctrl-C, pgx's context cancellation)
// cancels the statement running on the connection it names, which stays usable.
func TestCancelRequest(t *testing.T) {
	e := newTestEngine(t)
	srv, addr := startServer(t, e, Options{TrustLoopback: true, QueryTimeout: 10 * time.Minute})
	ctx := context.Background()
	pc, err := pgconn.Connect(ctx, connString(addr, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := pc.Exec(ctx, "SELECT count(*) FROM range(100000000000) a WHERE a.range % 7 = 3").ReadAll()
		done <- err
	}()
	waitFor(t, "the statement to start", func() bool { return runningStatements(srv) == 1 })
	if err := pc.CancelRequest(ctx); err != nil {
		t.Fatal(err)
	}
	err = <-done
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "57014" || !strings.Contains(pgErr.Message, "user request") {
		t.Fatalf("cancelled statement: got %v, want SQLSTATE 57014 (user request)", err)
	}
	res, err := pc.Exec(ctx, "SELECT 8").ReadAll()
	if err != nil || len(res) != 1 || string(res[0].Rows[0][0]) != "8" {
		t.Errorf("after the cancel: %v, %v", res, err)
	}
}

// runningStatements counts the server's connections running a statement.
func runningStatements(srv *Server) int {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	n := 0
	for c := range srv.conns {
		c.mu.Lock()
		if c.stmt != nil {
			n++
		}
		c.mu.Unlock()
	}
	return n
}

// TestAuthentication checks passwords: required when TrustLoopback is off, refused when wrong;
// and that other users and databases are refused.
func TestAuthentication(t *testing.T) {
	e := newTestEngine(t)
	_, addr := startServer(t, e, Options{Password: "s3cret"})
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, connString(addr, "s3cret"))
	if err != nil {
		t.Fatalf("right password: %v", err)
	}
	conn.Close(ctx)
	for _, cs := range []string{connString(addr, "wrong"), connString(addr, "")} {
		_, err = pgx.Connect(ctx, cs)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "28P01" {
			t.Errorf("%s: got %v, want SQLSTATE 28P01", cs, err)
		}
	}
	host, port, _ := net.SplitHostPort(addr)
	_, err = pgx.Connect(ctx, fmt.Sprintf("host=%s port=%s user=other dbname=strata password=s3cret sslmode=disable", host, port))
	if err == nil || !strings.Contains(err.Error(), "other") {
		t.Errorf("other user: %v", err)
	}
	_, err = pgx.Connect(ctx, fmt.Sprintf("host=%s port=%s user=strata dbname=other password=s3cret sslmode=disable", host, port))
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "3D000" {
		t.Errorf("other database: %v", err)
	}

	// TrustLoopback lets loopback clients in without the password.
	_, trusted := startServer(t, e, Options{Password: "s3cret", TrustLoopback: true})
	conn, err = pgx.Connect(ctx, connString(trusted, ""))
	if err != nil {
		t.Fatalf("trusted loopback: %v", err)
	}
	conn.Close(ctx)
}

// psql runs Debian's psql against addr and returns its output; the test is skipped when psql
// is not installed.
func psql(t *testing.T, addr, password string, args ...string) (string, error) {
	t.Helper()
	bin, err := exec.LookPath("psql")
	if err != nil {
		t.Skip("psql is not installed (apt-get install postgresql-client)")
	}
	host, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(bin, append([]string{"-X", "-h", host, "-p", port, "-U", "strata", "-d", "strata", "-v", "ON_ERROR_STOP=1"}, args...)...)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+password, "PGCONNECT_TIMEOUT=10", "PGSSLMODE=prefer")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	return out.String(), err
}

func TestPsql(t *testing.T) {
	if _, err := exec.LookPath("psql"); err != nil {
		t.Skip("psql is not installed (apt-get install postgresql-client)")
	}
	e := newTestEngine(t)
	_, addr := startServer(t, e, Options{TrustLoopback: true})
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"select", []string{"-c", "SELECT id, customer, amount FROM sales.orders ORDER BY id"},
			[]string{" id | customer | amount ", "  1 | alice    |  12.50", "  3 | carol    |       ", "(3 rows)"}},
		{"unaligned", []string{"-A", "-t", "-c", "SELECT customer, paid_at FROM sales.orders WHERE id = 1"},
			[]string{"alice|2024-01-02 03:04:05+00"}},
		{"list tables", []string{"-c", `\dt`},
			[]string{"logistics | shipments | table | strata", "sales     | customers | table | strata", "sales     | orders    | table | strata"}},
		{"list domain tables", []string{"-c", `\dt sales.*`},
			[]string{"sales  | customers | table | strata", "sales  | orders    | table | strata", "(2 rows)"}},
		{"describe table", []string{"-c", `\d sales.orders`},
			[]string{`Table "sales.orders"`, "id         | bigint", "amount     | numeric(12,2)", "paid_at    | timestamp with time zone", "tags       | json"}},
		{"list schemas", []string{"-c", `\dn`}, []string{"logistics | strata", "sales     | strata"}},
		{"list databases", []string{"-c", `\l`}, []string{"strata | strata | UTF8"}},
		{"multiple statements", []string{"-c", "SELECT 1 AS one; SELECT 2 AS two"}, []string{" one ", " two "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := psql(t, addr, "", tt.args...)
			if err != nil {
				t.Fatalf("psql %v: %v\n%s", tt.args, err, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("psql %v: output lacks %q:\n%s", tt.args, w, out)
				}
			}
		})
	}
	t.Run("error", func(t *testing.T) {
		out, err := psql(t, addr, "", "-c", "SELECT * FROM sales.nope")
		if err == nil || !strings.Contains(out, "ERROR:") || !strings.Contains(out, "sales.nope") {
			t.Errorf("unknown table: err %v, output:\n%s", err, out)
		}
	})
}

func TestPsqlPassword(t *testing.T) {
	if _, err := exec.LookPath("psql"); err != nil {
		t.Skip("psql is not installed (apt-get install postgresql-client)")
	}
	e := newTestEngine(t)
	_, addr := startServer(t, e, Options{Password: "s3cret"})
	out, err := psql(t, addr, "wrong", "-c", "SELECT 1")
	if err == nil || !strings.Contains(out, "password") {
		t.Errorf("wrong password: err %v, output:\n%s", err, out)
	}
	out, err = psql(t, addr, "s3cret", "-A", "-t", "-c", "SELECT 41 + 1")
	if err != nil || strings.TrimSpace(out) != "42" {
		t.Errorf("right password: err %v, output:\n%s", err, out)
	}
}

// TestToolCatalogQueries runs catalog queries in the shapes the tools this endpoint serves send
// (psql's describe commands, pgjdbc's DatabaseMetaData behind Metabase, SQLAlchemy's inspector
// behind Superset, Grafana's query editor), through the extended protocol.
func TestToolCatalogQueries(t *testing.T) {
	e := newTestEngine(t)
	_, addr := startServer(t, e, Options{TrustLoopback: true})
	conn := connect(t, addr)
	tests := []struct {
		name, sql string
		args      []any
		want      string
	}{
		{"psql find relation", `SELECT c.oid::text <> '', n.nspname, c.relname FROM pg_catalog.pg_class c
			LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
			WHERE c.relname OPERATOR(pg_catalog.~) '^(ord.*)$' COLLATE pg_catalog.default
			  AND n.nspname OPERATOR(pg_catalog.~) '^(sales)$' COLLATE pg_catalog.default ORDER BY 2, 3`, nil, "true|sales|orders"},
		{"psql schemas", `SELECT n.nspname, pg_catalog.pg_get_userbyid(n.nspowner) FROM pg_catalog.pg_namespace n
			WHERE n.nspname !~ '^pg_' AND n.nspname <> 'information_schema' ORDER BY 1`, nil, "logistics|strata\npublic|strata\nsales|strata"},
		{"case-insensitive regex", `SELECT relname FROM pg_class WHERE relname ~* 'ORD' ORDER BY 1`, nil, "orders"},
		{"unnamed function in FROM", `SELECT s[i] FROM generate_series(1, 2) AS i, pg_catalog.string_to_array('a,b', ',') s ORDER BY 1`, nil, "a\nb"},
		{"search path", `SELECT CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END FROM
			generate_series(array_lower(string_to_array(current_setting('search_path'), ','), 1),
			                array_upper(string_to_array(current_setting('search_path'), ','), 1)) AS i,
			string_to_array(current_setting('search_path'), ',') s ORDER BY 1`, nil, "public\nstrata"},
		{"parse_ident", `SELECT column_name FROM information_schema.columns WHERE CASE WHEN array_length(parse_ident('sales.customers'), 1) = 2
			THEN quote_ident(table_schema) = (parse_ident('sales.customers'))[1] AND quote_ident(table_name) = (parse_ident('sales.customers'))[2]
			ELSE false END ORDER BY ordinal_position`, nil, "id\nname\ncountry"},
		{"jdbc tables", `SELECT n.nspname, c.relname, CASE n.nspname ~ '^pg_' OR n.nspname = 'information_schema' WHEN true THEN 'SYSTEM'
			WHEN false THEN CASE c.relkind WHEN 'r' THEN 'TABLE' ELSE NULL END END, d.description
			FROM pg_catalog.pg_namespace n, pg_catalog.pg_class c
			LEFT JOIN pg_catalog.pg_description d ON (c.oid = d.objoid AND d.objsubid = 0 AND d.classoid = 'pg_class'::regclass)
			WHERE c.relnamespace = n.oid AND n.nspname LIKE $1 AND c.relname LIKE '%' ORDER BY 2`, []any{"sales"}, "sales|customers|TABLE|∅\nsales|orders|TABLE|∅"},
		{"jdbc columns", `SELECT * FROM (SELECT n.nspname, c.relname, a.attname, a.atttypid, a.attnotnull, a.atttypmod, a.attlen,
			row_number() OVER (PARTITION BY a.attrelid ORDER BY a.attnum) AS attnum, nullif(a.attidentity, '') AS attidentity,
			pg_catalog.pg_get_expr(def.adbin, def.adrelid) AS adsrc, dsc.description, t.typbasetype, t.typtype
			FROM pg_catalog.pg_namespace n JOIN pg_catalog.pg_class c ON (c.relnamespace = n.oid)
			JOIN pg_catalog.pg_attribute a ON (a.attrelid = c.oid) JOIN pg_catalog.pg_type t ON (a.atttypid = t.oid)
			LEFT JOIN pg_catalog.pg_attrdef def ON (a.attrelid = def.adrelid AND a.attnum = def.adnum)
			LEFT JOIN pg_catalog.pg_description dsc ON (c.oid = dsc.objoid AND a.attnum = dsc.objsubid)
			WHERE c.relkind IN ('r', 'p', 'v', 'f', 'm') AND a.attnum > 0 AND NOT a.attisdropped
			  AND n.nspname LIKE 'sales' AND c.relname LIKE 'customers') c WHERE true ORDER BY nspname, c.relname, attnum`,
			nil, "sales|customers|id|20|false|-1|8|1|∅|∅|∅|0|b\nsales|customers|name|25|false|-1|-1|2|∅|∅|∅|0|b\nsales|customers|country|25|false|-1|-1|3|∅|∅|∅|0|b"},
		{"jdbc primary keys", `SELECT ct.relname, a.attname, (information_schema._pg_expandarray(i.indkey)).n AS key_seq
			FROM pg_catalog.pg_class ct JOIN pg_catalog.pg_attribute a ON (ct.oid = a.attrelid)
			JOIN pg_catalog.pg_index i ON (a.attrelid = i.indrelid) WHERE ct.relname = E'orders' AND i.indisprimary`, nil, ""},
		{"sqlalchemy columns", `SELECT pg_catalog.pg_attribute.attname AS name,
			pg_catalog.format_type(pg_catalog.pg_attribute.atttypid, pg_catalog.pg_attribute.atttypmod) AS format_type,
			(SELECT json_build_object('always', pg_catalog.pg_attribute.attidentity = 'a', 'start', pg_catalog.pg_sequence.seqstart)
			   FROM pg_catalog.pg_sequence WHERE pg_catalog.pg_attribute.attidentity != ''
			   AND pg_catalog.pg_sequence.seqrelid = CAST(CAST(pg_catalog.pg_get_serial_sequence(CAST(CAST(pg_catalog.pg_attribute.attrelid AS REGCLASS) AS TEXT), pg_catalog.pg_attribute.attname) AS REGCLASS) AS OID)) AS identity_options
			FROM pg_catalog.pg_class JOIN pg_catalog.pg_attribute ON pg_catalog.pg_class.oid = pg_catalog.pg_attribute.attrelid AND pg_catalog.pg_attribute.attnum > 0
			JOIN pg_catalog.pg_namespace ON pg_catalog.pg_namespace.oid = pg_catalog.pg_class.relnamespace
			WHERE pg_catalog.pg_class.relkind = ANY (ARRAY['r', 'p', 'f', 'v', 'm']) AND pg_catalog.pg_namespace.nspname = 'sales'
			  AND pg_catalog.pg_class.relname IN ('orders') AND pg_catalog.pg_attribute.attnum IN (3, 5)
			ORDER BY pg_catalog.pg_class.relname, pg_catalog.pg_attribute.attnum`, nil, "amount|numeric(12,2)|∅\npaid_at|timestamp with time zone|∅"},
		{"table sizes", "SELECT pg_total_relation_size('sales.orders'::regclass) > 0, pg_size_pretty(2048::BIGINT)", nil, "true|2048 bytes"},
		{"settings", "SELECT current_setting('TimeZone'), set_config('search_path', 'sales', false)", nil, "UTC|sales"},
		{"arrays are postgres arrays", "SELECT current_schemas(true)", nil, "[pg_catalog public]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rowsText(t, conn, tt.sql, tt.args...); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
	// The catalog only answers queries.
	_, err := conn.Exec(context.Background(), "DELETE FROM pg_catalog.pg_class")
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "42501" {
		t.Errorf("writing the catalog: got %v, want SQLSTATE 42501", err)
	}
	if err := conn.Ping(context.Background()); err != nil {
		t.Errorf("ping: %v", err)
	}
}

// TestDisconnectCancels checks that a statement is cancelled when its client goes away: the
// connection's handler ends although the statement would run for ten minutes.
func TestDisconnectCancels(t *testing.T) {
	e := newTestEngine(t)
	srv, addr := startServer(t, e, Options{TrustLoopback: true, QueryTimeout: 10 * time.Minute})
	ctx := context.Background()
	pc, err := pgconn.Connect(ctx, connString(addr, ""))
	if err != nil {
		t.Fatal(err)
	}
	go pc.Exec(ctx, "SELECT count(*) FROM range(100000000000) a WHERE a.range % 7 = 3").ReadAll()
	waitFor(t, "the statement to start", func() bool { return runningStatements(srv) == 1 })
	pc.Conn().Close()
	waitFor(t, "the connection's handler to end", func() bool {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		return len(srv.conns) == 0
	})
}

// waitFor polls cond until it holds, failing the test after a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRewriteCatalogSQL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"SELECT * FROM pg_catalog.pg_class", "SELECT * FROM pg_class"},
		{"SELECT pg_catalog.format_type(a.atttypid, NULL)", "SELECT format_type(a.atttypid, NULL)"},
		{"SELECT 'pg_catalog.pg_class'", "SELECT 'pg_catalog.pg_class'"},
		{`SELECT * FROM "pg_catalog"."pg_type"`, `SELECT * FROM "pg_type"`},
		{"SELECT * FROM information_schema.tables", "SELECT * FROM " + infoSchema + ".tables"},
		{"SELECT * FROM information_schema.sequences", "SELECT * FROM information_schema.sequences"},
		{"WHERE c.relname OPERATOR(pg_catalog.~) '^(t)$' COLLATE pg_catalog.default", "WHERE c.relname  ~  '^(t)$' "},
		{"WHERE x ~* 'AB'", "WHERE x ~ '(?i)AB'"},
		{"WHERE c.oid = 'sales.orders'::regclass", "WHERE c.oid = strata_regclass('sales.orders')"},
		{"WHERE c.oid = 'sales.orders'::pg_catalog.regclass::oid", "WHERE c.oid = strata_regclass('sales.orders')::oid"},
		{"SELECT c.oid::regclass", "SELECT c.oid::regclass"},
		{"SELECT current_user, current_schema, user, x.user", "SELECT current_user(), current_schema(), user(), x.user"},
		{"SELECT current_schema()", "SELECT current_schema()"},
		{"FROM pg_catalog.generate_series(0, 3) s, t", "FROM generate_series(0, 3) s(s), t"},
		{"FROM generate_series(0, 3) AS i WHERE", "FROM generate_series(0, 3) AS i(i) WHERE"},
		{"FROM string_to_array('a,b', ',') s", "FROM (SELECT string_to_array('a,b', ',') AS s) s"},
		{"SELECT generate_series(1, 3) s", "SELECT generate_series(1, 3) s"},
		{"SELECT json_build_object('a', 1)", "SELECT json_object('a', 1)"},
	}
	for _, tt := range tests {
		if got := rewriteCatalogSQL(tt.in, lex(tt.in)); got != tt.want {
			t.Errorf("rewriteCatalogSQL(%q)\n got %q\nwant %q", tt.in, got, tt.want)
		}
	}
}

func TestRoutesToCatalog(t *testing.T) {
	tests := []struct {
		sql  string
		want bool
	}{
		{"SELECT * FROM sales.orders", false},
		{"SELECT version FROM sales.orders", false},
		{"SELECT version()", true},
		{"SELECT * FROM pg_class", true},
		{"SELECT * FROM sales.pg_class", false},
		{"SELECT * FROM information_schema.columns", true},
		{"SELECT 'pg_catalog'", false},
		{"SELECT current_user", true},
		{"SELECT 'x'::regclass", true},
		{"SELECT quote_ident(customer) FROM sales.orders", false},
		{"DESCRIBE HISTORY sales.orders", false},
	}
	for _, tt := range tests {
		if got := routesToCatalog(lex(tt.sql)); got != tt.want {
			t.Errorf("routesToCatalog(%q) = %v, want %v", tt.sql, got, tt.want)
		}
	}
}

func TestParamLiterals(t *testing.T) {
	tests := []struct {
		text    string
		oid     uint32
		want    string
		wantErr bool
	}{
		{"42", oidInt8, "CAST(42 AS BIGINT)", false},
		{"42; DROP TABLE x", oidInt8, "", true},
		{"x' OR '1'='1", oidText, "'x'' OR ''1''=''1'", false},
		{"x' OR '1'='1", 0, "'x'' OR ''1''=''1'", false},
		{"12.50", oidNumeric, "12.50", false},
		{"1 + 1", oidNumeric, "", true},
		{"NaN", oidFloat8, "CAST('NaN' AS DOUBLE)", false},
		{"on", oidBool, "TRUE", false},
		{"maybe", oidBool, "", true},
		{"2024-01-02 03:04:05+00", oidTimestamptz, "CAST('2024-01-02 03:04:05+00' AS TIMESTAMPTZ)", false},
		{"2024-01-02", oidDate, "CAST('2024-01-02' AS DATE)", false},
		{`\x0aff`, oidBytea, "from_hex('0aff')", false},
		{"{\"a\": 1}", oidJSON, "CAST('{\"a\": 1}' AS JSON)", false},
	}
	for _, tt := range tests {
		got, err := textLiteral(tt.text, tt.oid)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("textLiteral(%q, %d) = %q, %v; want %q (error %v)", tt.text, tt.oid, got, err, tt.want, tt.wantErr)
		}
	}
	// $n tokens are replaced; a $1 inside a string or a comment is not a parameter.
	src := "SELECT '$1', $1 /* $2 */, $2 -- $1\n"
	got, err := bindParams(pgtype.NewMap(), src, lex(src), []wire.Parameter{
		wire.NewParameter(pgtype.NewMap(), wire.TextFormat, []byte("a")),
		wire.NewParameter(pgtype.NewMap(), wire.TextFormat, nil),
	}, []uint32{oidText, oidInt4})
	if want := "SELECT '$1', 'a' /* $2 */, NULL -- $1\n"; err != nil || got != want {
		t.Errorf("bindParams = %q, %v; want %q", got, err, want)
	}
	if _, err := bindParams(pgtype.NewMap(), "SELECT $3", lex("SELECT $3"), nil, nil); err == nil {
		t.Error("bindParams with a missing parameter: no error")
	}
}

func TestSessionSettings(t *testing.T) {
	tests := []struct {
		sql, name, value string
		ok               bool
	}{
		{"SET extra_float_digits = 3", "extra_float_digits", "3", true},
		{"SET SESSION search_path TO public, sales", "search_path", "public, sales", true},
		{"SET LOCAL statement_timeout = '5s'", "statement_timeout", "5s", true},
		{"SET TIME ZONE 'UTC'", "timezone", "UTC", true},
		{"SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", "", "", true},
		{"SET x.y = 'z'", "x.y", "z", true},
		{"SET", "", "", false},
	}
	for _, tt := range tests {
		name, value, ok := parseSet(lex(tt.sql))
		if name != tt.name || value != tt.value || ok != tt.ok {
			t.Errorf("parseSet(%q) = %q, %q, %v; want %q, %q, %v", tt.sql, name, value, ok, tt.name, tt.value, tt.ok)
		}
	}
}

func TestPatchServerVersion(t *testing.T) {
	msg := func(k, v string) []byte {
		body := k + "\x00" + v + "\x00"
		return append([]byte{'S', 0, 0, 0, byte(4 + len(body))}, body...)
	}
	got, ok := patchServerVersion(msg("server_version", "150000"))
	if !ok || !bytes.Equal(got, msg("server_version", "15.0")) {
		t.Errorf("patchServerVersion = %q, %v", got, ok)
	}
	if _, ok := patchServerVersion(msg("server_encoding", "UTF8")); ok {
		t.Error("patched another parameter")
	}
}

func TestPgColumnName(t *testing.T) {
	for in, want := range map[string]string{
		`"version"()`:           "version",
		"current_database()":    "current_database",
		"main.list_value(1, 2)": "list_value",
		"(1 + 1)":               "?column?",
		"Result data type":      "Result data type",
		"relname":               "relname",
	} {
		if got := pgColumnName(in); got != want {
			t.Errorf("pgColumnName(%q) = %q, want %q", in, got, want)
		}
	}
}
