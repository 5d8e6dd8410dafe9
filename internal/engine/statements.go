package engine

import (
	"context"
)

// Strata executes some statements itself: those that write Delta tables (CREATE TABLE ... AS,
// INSERT, INSERT OVERWRITE, DELETE, UPDATE, MERGE) and Delta upkeep that DuckDB has no syntax for
// (OPTIMIZE, VACUUM, RESTORE, DESCRIBE HISTORY, DESCRIBE DETAIL, SHOW TABLES). Each is recognised
// by its first tokens (its head) and handled in its own file; everything else goes to DuckDB.

// statementHandler recognises a statement by its tokens and returns how to run it, or nil.
type statementHandler func(e *Engine, st statement) func(context.Context) (*Result, error)

// handlers is tried in order; files register theirs in init functions.
var handlers []statementHandler

func registerHandler(h statementHandler) { handlers = append(handlers, h) }

// strataStatement returns the handler of a statement Strata executes itself, or nil when DuckDB
// runs the statement.
func (e *Engine) strataStatement(st statement) func(context.Context) (*Result, error) {
	for _, h := range handlers {
		if run := h(e, st); run != nil {
			return run
		}
	}
	return nil
}

// headIs reports whether the statement starts with the given words (case-insensitive).
func headIs(st statement, words ...string) bool {
	if len(st.Tokens) < len(words) {
		return false
	}
	for i, w := range words {
		if !st.Tokens[i].is(w) {
			return false
		}
	}
	return true
}

// targetRef is the Delta table a Strata statement writes or maintains, as named in it: a project
// table domain.table, or a location given as delta.`path` (Spark's form) or delta_scan('path').
type targetRef struct {
	Name       string // as written
	Location   string
	Domain     string
	Table      string
	Start, End int // token indexes [Start, End) of the name in the statement
}

// parseTarget reads a table name at token i: domain.table (a project table), delta.`path` or
// delta.'path', or delta_scan('path'). ok is false when the tokens are not one of these; for
// domain.table without a project it returns an error.
func (e *Engine) parseTarget(st statement, i int) (*targetRef, bool, error) {
	toks := st.Tokens
	if i+2 < len(toks) && toks[i].is("delta") && toks[i+1].punct(".") && (toks[i+2].Kind == tokQuoted || toks[i+2].Kind == tokString) {
		loc := toks[i+2].Value
		return &targetRef{Name: loc, Location: loc, Start: i, End: i + 3}, true, nil
	}
	if i+3 < len(toks) && toks[i].is("delta_scan") && toks[i+1].punct("(") && toks[i+2].Kind == tokString && toks[i+3].punct(")") {
		loc := toks[i+2].Value
		return &targetRef{Name: loc, Location: loc, Start: i, End: i + 4}, true, nil
	}
	if i+2 < len(toks) && toks[i].name() != "" && toks[i+1].punct(".") && toks[i+2].name() != "" &&
		!(i+3 < len(toks) && toks[i+3].punct(".")) {
		if e.opts.Project == nil {
			return nil, false, nil // DuckDB's own schema.table
		}
		domain, tbl := toks[i].name(), toks[i+2].name()
		loc, err := e.opts.Project.TableLocation(domain, tbl)
		if err != nil {
			return nil, false, nil
		}
		return &targetRef{Name: domain + "." + tbl, Location: loc, Domain: domain, Table: tbl, Start: i, End: i + 3}, true, nil
	}
	return nil, false, nil
}
