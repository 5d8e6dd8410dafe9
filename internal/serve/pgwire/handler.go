package pgwire

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"runtime/debug"
	"sort"
	"strings"
	"sync"

	"github.com/apache/arrow-go/v18/arrow/array"
	wire "github.com/jeroenrinzema/psql-wire"
	"github.com/jeroenrinzema/psql-wire/codes"
	psqlerr "github.com/jeroenrinzema/psql-wire/errors"

	"github.com/stratalake/strata/internal/engine"
)

// writeBatchRows is how many rows are handed to psql-wire at once.
const writeBatchRows = 512

// parse is psql-wire's ParseFn: it turns a simple query (possibly several statements) or an
// extended-protocol Parse (one statement) into prepared statements whose result columns are
// known before they execute.
//
// A simple query's statements run here, in order, so that their columns are known: all but
// the last are read whole, the last is streamed when psql-wire executes it. An extended
// statement is described without running it when possible (prepared on the catalog's
// replicas of the project tables); otherwise a read without parameters runs now and its
// result is kept for the first Execute, and a query with parameters is run with NULL
// parameters and LIMIT 0.
func (s *Server) parse(ctx context.Context, q wire.Query) (_ wire.PreparedStatements, err error) {
	defer recoverInternal(s, &err)
	sess := sessionOf(ctx)
	if sess == nil {
		return nil, errors.New("pgwire: statement outside a session")
	}
	sess.releasePending()
	if q.SimpleQuery {
		return s.parseSimple(ctx, sess, q.Query)
	}
	st, err := s.parseExtended(ctx, sess, q.Query, q.ParameterOIDs)
	if err != nil {
		return nil, err
	}
	return wire.Prepared(st), nil
}

// recoverInternal turns a panic while handling a statement into an internal error for the
// client (and a log line), so that one bad statement cannot take the server down.
func recoverInternal(s *Server, err *error) {
	if r := recover(); r != nil {
		s.log.Error("pgwire: panic while handling a statement", "panic", r, "stack", string(debug.Stack()))
		*err = psqlerr.WithCode(fmt.Errorf("internal error: %v", r), codes.Internal)
	}
}

// statement builds a prepared statement whose function cannot panic out of psql-wire.
func (s *Server) statement(fn wire.PreparedStatementFn, opts ...wire.PreparedOptionFn) *wire.PreparedStatement {
	return wire.NewStatement(func(ctx context.Context, w wire.DataWriter, params []wire.Parameter) (err error) {
		defer recoverInternal(s, &err)
		return fn(ctx, w, params)
	}, opts...)
}

// emptyQueryResponse is the EmptyQueryResponse message.
var emptyQueryResponse = []byte{'I', 0, 0, 0, 4}

// emptyStatement answers a query with no statement (only comments or semicolons) with an
// EmptyQueryResponse, as Postgres does. psql-wire sends one only for a query of white space
// and its DataWriter cannot, so the message is written to the connection directly: psql-wire
// writes every message as it is made, so it lands in order.
func emptyStatement() *wire.PreparedStatement {
	return wire.NewStatement(func(ctx context.Context, w wire.DataWriter, _ []wire.Parameter) error {
		if sess := sessionOf(ctx); sess != nil {
			_, err := sess.conn.Write(emptyQueryResponse)
			return err
		}
		return w.Empty()
	})
}

// failedStatement reports err when executed (a simple query's statement that failed while
// parsing: the statements before it are still sent).
func failedStatement(err error) *wire.PreparedStatement {
	return wire.NewStatement(func(context.Context, wire.DataWriter, []wire.Parameter) error { return err })
}

func (s *Server) parseSimple(ctx context.Context, sess *session, text string) (wire.PreparedStatements, error) {
	stmts, err := engine.SplitScript(text)
	if err != nil {
		return nil, pgError(nil, err)
	}
	if len(stmts) == 0 {
		return wire.Prepared(emptyStatement()), nil
	}
	var out wire.PreparedStatements
	for i, st := range stmts {
		ps, err := s.prepareSimple(ctx, sess, st.Text, i < len(stmts)-1)
		if err != nil {
			out = append(out, failedStatement(err))
			break
		}
		out = append(out, ps)
	}
	return out, nil
}

// prepareSimple runs one statement of a simple query. With materialize, its rows are read
// whole now (a later statement of the same query may depend on its effects); otherwise they
// are streamed when the statement executes.
func (s *Server) prepareSimple(ctx context.Context, sess *session, text string, materialize bool) (*wire.PreparedStatement, error) {
	toks := lex(text)
	if _, run, ok := sess.localStatement(toks); ok {
		res, err := run()
		if err != nil {
			return nil, err
		}
		return localStatement(res), nil
	}
	res, err := s.open(ctx, sess, text, toks, nil, nil)
	if err != nil {
		return nil, err
	}
	cols, oids := res.columns()
	if materialize {
		rows, tag, err := res.readAll(oids)
		res.release()
		if err != nil {
			return nil, err
		}
		return s.statement(func(_ context.Context, w wire.DataWriter, _ []wire.Parameter) error {
			if err := wire.WriteRows(w, rows); err != nil {
				return err
			}
			return w.Complete(tag)
		}, wire.WithColumns(cols)), nil
	}
	held := sess.hold(res)
	return s.statement(func(ctx context.Context, w wire.DataWriter, _ []wire.Parameter) error {
		r := held.take()
		if r == nil {
			return errors.New("pgwire: the statement's result was released before it was sent")
		}
		defer r.release()
		return r.write(ctx, w, oids)
	}, wire.WithColumns(cols)), nil
}

// localStatement sends a session statement's result.
func localStatement(res *localResult) *wire.PreparedStatement {
	return wire.NewStatement(func(_ context.Context, w wire.DataWriter, _ []wire.Parameter) error {
		if err := wire.WriteRows(w, res.Rows); err != nil {
			return err
		}
		return w.Complete(res.Tag)
	}, wire.WithColumns(res.Columns))
}

func (s *Server) parseExtended(ctx context.Context, sess *session, text string, clientOIDs []uint32) (*wire.PreparedStatement, error) {
	stmts, err := engine.SplitScript(text)
	if err != nil {
		return nil, pgError(nil, err)
	}
	if len(stmts) > 1 {
		return nil, syntaxError("cannot insert multiple commands into a prepared statement")
	}
	if len(stmts) == 0 {
		return emptyStatement(), nil
	}
	text = stmts[0].Text
	toks := lex(text)
	if cols, run, ok := sess.localStatement(toks); ok {
		return s.statement(func(_ context.Context, w wire.DataWriter, _ []wire.Parameter) error {
			res, err := run()
			if err != nil {
				return err
			}
			if err := wire.WriteRows(w, res.Rows); err != nil {
				return err
			}
			return w.Complete(res.Tag)
		}, wire.WithColumns(cols)), nil
	}
	oids := make([]uint32, maxParam(toks))
	for i := range oids {
		if i < len(clientOIDs) {
			oids[i] = clientOIDs[i]
		}
	}
	var described []describedColumn
	var prefetch *heldResult
	if routesToCatalog(toks) {
		if err := s.catalog.ensureFresh(ctx); err != nil {
			return nil, pgError(ctx, err)
		}
		d, err := s.catalog.describe(ctx, rewriteCatalogSQL(text, toks), true)
		if err != nil {
			return nil, pgError(nil, err)
		}
		mergeParams(oids, d.Params)
		described = d.Columns
	} else {
		described, prefetch, err = s.describeEngine(ctx, sess, text, toks, oids)
		if err != nil {
			return nil, err
		}
	}
	cols, expected := columnsOf(described)
	fn := func(ctx context.Context, w wire.DataWriter, params []wire.Parameter) error {
		var res *openResult
		if prefetch != nil {
			res = prefetch.take()
			prefetch = nil
		}
		if res == nil {
			var err error
			res, err = s.open(ctx, sess, text, toks, params, oids)
			if err != nil {
				return err
			}
		}
		defer res.release()
		err := res.write(ctx, w, expected)
		if errors.Is(err, errResultChanged) {
			s.catalog.expire() // the statement was described from a stale catalog
		}
		return err
	}
	return s.statement(fn, wire.WithColumns(cols), wire.WithParameters(oids)), nil
}

// mergeParams fills the parameter OIDs the client left undecided with those DuckDB inferred.
func mergeParams(oids, inferred []uint32) {
	for i := range oids {
		if oids[i] == 0 && i < len(inferred) {
			oids[i] = inferred[i]
		}
	}
}

// describeEngine learns the result columns of a statement the engine will run, and the types
// of its parameters (filled into oids where the client left them open). For a read without
// parameters that cannot be described otherwise it runs the statement and returns the open
// result, held for the first Execute.
func (s *Server) describeEngine(ctx context.Context, sess *session, text string, toks []token, oids []uint32) ([]describedColumn, *heldResult, error) {
	fresh := s.catalog.ensureFresh(ctx) == nil
	if fresh {
		if d, err := s.catalog.describe(ctx, text, false); err == nil {
			mergeParams(oids, d.Params)
			if describableOnCatalog(toks) {
				return d.Columns, nil, nil
			}
		}
	}
	if !isReadOnly(toks) {
		return nil, nil, nil // a command: it returns no rows
	}
	if len(oids) == 0 {
		res, err := s.open(ctx, sess, text, toks, nil, nil)
		if err != nil {
			return nil, nil, err
		}
		return res.described(), sess.hold(res), nil
	}
	if !isQuery(toks) {
		return nil, nil, nil
	}
	probe := "SELECT * FROM (" + nullParams(text, toks) + "\n) AS strata_describe LIMIT 0"
	res, err := s.open(ctx, sess, probe, lex(probe), nil, nil)
	if err != nil {
		return nil, nil, err
	}
	defer res.release()
	return res.described(), nil, nil
}

// columnsOf turns described columns into psql-wire's columns and their OIDs (nil: no rows).
func columnsOf(described []describedColumn) (wire.Columns, []uint32) {
	if described == nil {
		return nil, nil
	}
	cols := make(wire.Columns, len(described))
	oids := make([]uint32, len(described))
	for i, d := range described {
		cols[i] = column(d.Name, d.OID)
		oids[i] = d.OID
	}
	return cols, oids
}

// column is a result column of type oid.
func column(name string, oid uint32) wire.Column {
	width := int16(-1)
	if t, ok := pgTypeByOID(oid); ok {
		width = t.Len
	}
	return wire.Column{Name: name, Oid: oid, Width: width}
}

// openResult is a statement that ran: its rows (nil for a command) or its command tag. It
// holds the statement's context until released.
type openResult struct {
	records array.RecordReader
	tag     string
	ctx     context.Context // the statement's: tells why it was cancelled
	done    func()
	once    sync.Once
	// pgNames names columns as Postgres does (catalog results: "version", not "\"version\"()").
	pgNames bool
}

func (r *openResult) release() {
	r.once.Do(func() {
		if r.records != nil {
			r.records.Release()
		}
		r.done()
	})
}

// columns returns the result's columns as sent, typed from its Arrow schema.
func (r *openResult) columns() (wire.Columns, []uint32) {
	return columnsOf(r.described())
}

func (r *openResult) described() []describedColumn {
	if r.records == nil {
		return nil
	}
	fields := r.records.Schema().Fields()
	out := make([]describedColumn, len(fields))
	for i, f := range fields {
		name, oid := f.Name, oidForArrow(f.Type)
		if r.pgNames {
			name, oid = pgColumnName(name), oidForCatalogArrow(f.Type)
		}
		out[i] = describedColumn{Name: name, OID: oid}
	}
	return out
}

var functionColumnRE = regexp.MustCompile(`^(?:[A-Za-z_]+\.)*"?([A-Za-z_][A-Za-z0-9_]*)"?\(.*\)$`)

// pgColumnName names a result column as Postgres would: a function call by the function's
// name, another expression "?column?". DuckDB names columns by their expression's text (or
// their alias, kept as is).
func pgColumnName(name string) string {
	if m := functionColumnRE.FindStringSubmatch(name); m != nil {
		return m[1]
	}
	if strings.ContainsAny(name, "()'[]") || strings.Contains(name, "::") {
		return "?column?"
	}
	return name
}

// open runs a statement on the catalog or the engine, with params substituted, and returns its
// open result. Errors are Postgres errors.
func (s *Server) open(ctx context.Context, sess *session, text string, toks []token, params []wire.Parameter, oids []uint32) (*openResult, error) {
	bound := text
	if len(params) > 0 || maxParam(toks) > 0 {
		var err error
		bound, err = bindParams(wire.TypeMap(ctx), text, toks, params, oids)
		if err != nil {
			return nil, pgError(nil, err)
		}
		toks = lex(bound)
	}
	sctx, done := sess.conn.statementContext()
	s.log.Debug("pgwire: statement", "sql", bound, "catalog", routesToCatalog(toks))
	if routesToCatalog(toks) {
		if !isReadOnly(toks) || firstWords(toks, 1)[0] == "explain" && !isQuery(toks[1:]) {
			done()
			return nil, errCatalogWrite
		}
		if err := s.catalog.ensureFresh(sctx); err != nil {
			err = pgError(sctx, err)
			done()
			return nil, err
		}
		rr, err := s.catalog.query(sctx, rewriteCatalogSQL(bound, toks))
		if err != nil {
			err = pgError(sctx, err)
			done()
			return nil, err
		}
		return &openResult{records: rr, ctx: sctx, done: done, pgNames: true}, nil
	}
	res, err := s.opts.Engine.Query(sctx, bound)
	if err != nil {
		err = pgError(sctx, err)
		done()
		return nil, err
	}
	if res.Records == nil {
		return &openResult{tag: commandTag(toks, res), ctx: sctx, done: done}, nil
	}
	return &openResult{records: res.Records, ctx: sctx, done: done}, nil
}

// write sends the result: its rows, typed as expected (nil: as its schema says; a command's
// rows are counted, not sent), then its command tag.
func (r *openResult) write(ctx context.Context, w wire.DataWriter, expected []uint32) error {
	if r.records == nil {
		return w.Complete(r.tag)
	}
	n := 0
	rows := make([][]any, 0, writeBatchRows)
	for r.records.Next() {
		rec := r.records.RecordBatch()
		if len(w.Columns()) == 0 {
			n += int(rec.NumRows()) // described as returning no rows
			continue
		}
		if int(rec.NumCols()) != len(expected) {
			return errResultChanged
		}
		get := make([]func(int) any, rec.NumCols())
		for c := range get {
			get[c] = valueFunc(rec.Column(c), expected[c], false)
		}
		for i := 0; i < int(rec.NumRows()); i++ {
			row := make([]any, len(get))
			for c, g := range get {
				row[c] = g(i)
			}
			rows = append(rows, row)
			if len(rows) == writeBatchRows {
				if err := wire.WriteRows(w, rows); err != nil {
					return err
				}
				n += len(rows)
				rows = rows[:0]
			}
		}
		if err := wire.WriteRows(w, rows); err != nil {
			return err
		}
		n += len(rows)
		rows = rows[:0]
	}
	if err := r.records.Err(); err != nil {
		return pgError(r.ctx, err)
	}
	return w.Complete(fmt.Sprintf("SELECT %d", n))
}

// readAll reads the whole result (values cloned) and returns its rows and command tag.
func (r *openResult) readAll(oids []uint32) ([][]any, string, error) {
	if r.records == nil {
		return nil, r.tag, nil
	}
	var rows [][]any
	for r.records.Next() {
		rec := r.records.RecordBatch()
		get := make([]func(int) any, rec.NumCols())
		for c := range get {
			get[c] = valueFunc(rec.Column(c), oids[c], true)
		}
		for i := 0; i < int(rec.NumRows()); i++ {
			row := make([]any, len(get))
			for c, g := range get {
				row[c] = g(i)
			}
			rows = append(rows, row)
		}
	}
	if err := r.records.Err(); err != nil {
		return nil, "", pgError(r.ctx, err)
	}
	return rows, fmt.Sprintf("SELECT %d", len(rows)), nil
}

// commandTag is the CommandComplete tag of a statement the engine ran as a command, with the
// row count clients read (INSERT 0 n, UPDATE n, DELETE n, MERGE n, SELECT n for CREATE TABLE
// AS).
func commandTag(toks []token, res *engine.Result) string {
	words := firstWords(toks, 3)
	if len(words) == 0 {
		return "OK"
	}
	rows := affectedRows(res)
	switch words[0] {
	case "insert":
		return fmt.Sprintf("INSERT 0 %d", rows)
	case "update":
		return fmt.Sprintf("UPDATE %d", rows)
	case "delete":
		return fmt.Sprintf("DELETE %d", rows)
	case "merge":
		return fmt.Sprintf("MERGE %d", rows)
	case "create", "replace":
		for _, t := range toks {
			if t.word() == "as" {
				return fmt.Sprintf("SELECT %d", rows)
			}
		}
	}
	n := 2
	if len(words) < n {
		n = len(words)
	}
	return strings.ToUpper(strings.Join(words[:n], " "))
}

// affectedRows reads the number of rows a write statement touched from its Delta operation
// metrics.
func affectedRows(res *engine.Result) int64 {
	if res == nil || res.Fields == nil {
		return 0
	}
	metrics, _ := res.Fields["metrics"].(map[string]any)
	keys := make([]string, 0, len(metrics))
	for k := range metrics {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var total int64
	for _, k := range []string{"numOutputRows", "numUpdatedRows", "numDeletedRows", "numTargetRowsInserted", "numTargetRowsUpdated", "numTargetRowsDeleted"} {
		if v, ok := metrics[k]; ok {
			total += toInt64(v)
			if k == "numOutputRows" {
				return total
			}
		}
	}
	return total
}

func toInt64(v any) int64 {
	switch v := v.(type) {
	case int:
		return int64(v)
	case int64:
		return v
	case float64:
		return int64(v)
	case string:
		var n int64
		fmt.Sscan(v, &n)
		return n
	}
	var n int64
	fmt.Sscan(fmt.Sprint(v), &n)
	return n
}
