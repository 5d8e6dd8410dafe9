package engine

import (
	"fmt"
	"strings"
)

// This file holds the token-level helpers of the write statements (INSERT, CREATE TABLE, DELETE,
// UPDATE, MERGE). They find clause boundaries only: every expression, query and clause body is
// handed to DuckDB as written.

// findTop returns the index of the first token of toks[from:to] that lies outside parentheses
// (relative to from) and satisfies match, or -1.
func findTop(toks []token, from, to int, match func(i int) bool) int {
	depth := 0
	for i := from; i < to && i < len(toks); i++ {
		if depth == 0 && match(i) {
			return i
		}
		switch {
		case toks[i].punct("("), toks[i].punct("["):
			depth++
		case toks[i].punct(")"), toks[i].punct("]"):
			depth--
		}
	}
	return -1
}

// findTopWord returns the index of the first top-level bare word among words in toks[from:to], or -1.
func findTopWord(toks []token, from, to int, words ...string) int {
	return findTop(toks, from, to, func(i int) bool {
		for _, w := range words {
			if toks[i].is(w) {
				return true
			}
		}
		return false
	})
}

// findTopCase is findTopWord that also skips the insides of CASE ... END (whose WHEN, THEN and AND
// belong to the expression).
func findTopCase(toks []token, from, to int, words ...string) int {
	depth, cases := 0, 0
	for i := from; i < to && i < len(toks); i++ {
		t := toks[i]
		if depth == 0 && cases == 0 {
			for _, w := range words {
				if t.is(w) {
					return i
				}
			}
		}
		switch {
		case t.punct("("), t.punct("["):
			depth++
		case t.punct(")"), t.punct("]"):
			depth--
		case depth == 0 && t.is("CASE"):
			cases++
		case depth == 0 && t.is("END") && cases > 0:
			cases--
		}
	}
	return -1
}

// textBetween returns the source text from the start of toks[from] to the end of toks[to-1] ("" when
// the range is empty).
func textBetween(src string, toks []token, from, to int) string {
	if from >= to || from >= len(toks) {
		return ""
	}
	return src[toks[from].Start:toks[to-1].End]
}

// parseAlias reads an optional table alias at token i: `AS name` or a bare name that is not a
// keyword. It returns the alias ("" if none) and the index after it.
func parseAlias(toks []token, i int) (string, int) {
	if i < len(toks) && toks[i].is("AS") && i+1 < len(toks) && toks[i+1].name() != "" {
		return toks[i+1].name(), i + 2
	}
	if i < len(toks) && (toks[i].Kind == tokQuoted || toks[i].Kind == tokIdent && !isKeyword(toks[i].Text) && !isClauseWord(toks[i].Text)) {
		return toks[i].name(), i + 1
	}
	return "", i
}

// isClauseWord lists words that start a clause of a write statement and therefore are not aliases.
func isClauseWord(w string) bool {
	switch strings.ToUpper(w) {
	case "REPLACE", "OVERWRITE", "PARTITION", "PARTITIONED", "TBLPROPERTIES", "COMMENT", "AS", "WITH",
		"FROM", "TABLE", "BY", "DEFAULT", "USING", "LOCATION", "CLUSTER", "OPTIONS", "ON", "MATCHED", "NOT":
		return true
	}
	return false
}

// isQueryStart reports whether the token at i starts a query (SELECT, WITH, VALUES, FROM, TABLE,
// or a parenthesised query).
func isQueryStart(toks []token, i int) bool {
	if i >= len(toks) {
		return false
	}
	for _, w := range []string{"SELECT", "WITH", "VALUES", "FROM", "TABLE"} {
		if toks[i].is(w) {
			return true
		}
	}
	if toks[i].punct("(") {
		j := i
		for j < len(toks) && toks[j].punct("(") {
			j++
		}
		return j < len(toks) && (toks[j].is("SELECT") || toks[j].is("WITH") || toks[j].is("VALUES") || toks[j].is("FROM"))
	}
	return false
}

// findQueryStart returns the index of the first top-level token of toks[from:] that starts a query
// and is not an operand of the expression before it (x IN (SELECT ...), EXISTS (SELECT ...)).
func findQueryStart(toks []token, from int) int {
	return findTop(toks, from, len(toks), func(i int) bool {
		if !isQueryStart(toks, i) {
			return false
		}
		if toks[i].punct("(") && i > from {
			prev := toks[i-1]
			if prev.Kind == tokPunct || prev.is("IN") || prev.is("EXISTS") || prev.is("ANY") || prev.is("ALL") ||
				prev.is("SOME") || prev.is("NOT") || prev.is("AND") || prev.is("OR") || prev.is("WHERE") {
				return false
			}
		}
		return true
	})
}

// splitConjuncts splits toks[from:to] at its top-level AND operators (not the AND of BETWEEN, nor
// ANDs inside CASE ... END) and returns each conjunct as a token range [from, to).
func splitConjuncts(toks []token, from, to int) [][2]int {
	var out [][2]int
	depth, cases, between := 0, 0, 0
	start := from
	for i := from; i < to; i++ {
		t := toks[i]
		switch {
		case t.punct("("), t.punct("["):
			depth++
		case t.punct(")"), t.punct("]"):
			depth--
		case depth > 0:
		case t.is("CASE"):
			cases++
		case t.is("END") && cases > 0:
			cases--
		case t.is("BETWEEN") && cases == 0:
			between++
		case t.is("AND") && cases == 0:
			if between > 0 {
				between--
				continue
			}
			out = append(out, [2]int{start, i})
			start = i + 1
		}
	}
	out = append(out, [2]int{start, to})
	return out
}

// tempName returns a fresh name for a temporary object of this engine.
func (e *Engine) tempName(prefix string) string {
	return fmt.Sprintf("strata_%s_%d", prefix, e.seq.Add(1))
}

// rewriteTarget returns the statement's text with the target name (tokens [ref.Start, ref.End))
// replaced by the DuckDB table name; when the statement gives the target no alias, addAlias (if
// not "") is added as one so that qualified column references keep working. Three-part column
// references domain.table.column to the target become alias.column.
func rewriteTarget(st statement, ref *targetRef, replacement, addAlias, alias string) string {
	text := quoteIdent(replacement)
	if addAlias != "" {
		text += " AS " + quoteIdent(addAlias)
	}
	edits := []edit{{Start: st.Tokens[ref.Start].Start, End: st.Tokens[ref.End-1].End, Text: text}}
	toks := st.Tokens
	if ref.Domain != "" && alias != "" {
		for i := 0; i+4 < len(toks); i++ {
			if i >= ref.Start && i < ref.End {
				continue
			}
			if strings.EqualFold(toks[i].name(), ref.Domain) && toks[i+1].punct(".") && strings.EqualFold(toks[i+2].name(), ref.Table) &&
				toks[i+3].punct(".") && toks[i+4].name() != "" && (i == 0 || !toks[i-1].punct(".")) {
				edits = append(edits, edit{Start: toks[i].Start, End: toks[i+2].End, Text: quoteIdent(alias)})
				i += 4
			}
		}
	}
	return applyEdits(st.Text, edits)
}

// newStatement tokenizes text as one statement.
func newStatement(text string) (statement, error) {
	toks, err := tokenize(text)
	if err != nil {
		return statement{}, err
	}
	return statement{Text: text, Tokens: toks}, nil
}

// duckSchemas are DuckDB's own catalog and schema names: domain.table with one of these as the
// domain names a DuckDB table, never a project table.
func isDuckSchema(name string) bool {
	switch strings.ToLower(name) {
	case "main", "temp", "memory", "system", "pg_catalog", "information_schema":
		return true
	}
	return false
}

// nonRepeatable lists the functions and clauses whose result may differ between two evaluations
// of the same statement text: random values, sequences, the clock (DuckDB fixes it per
// transaction, and a copy-on-write statement runs several), and row choices that depend on the
// order rows arrive in (LIMIT without a total order, sampling, window functions, first/any_value).
var nonRepeatable = map[string]bool{
	"random": true, "uuid": true, "gen_random_uuid": true, "uuidv4": true, "uuidv7": true, "setseed": true,
	"nextval": true, "currval": true,
	"now": true, "current_timestamp": true, "get_current_timestamp": true, "transaction_timestamp": true,
	"current_date": true, "current_time": true, "get_current_time": true, "today": true, "localtimestamp": true,
	"localtime": true, "current_localtimestamp": true, "current_localtime": true,
	"limit": true, "offset": true, "sample": true, "tablesample": true, "over": true, "qualify": true,
	"first": true, "last": true, "any_value": true, "arbitrary": true, "first_value": true, "last_value": true,
	"list": true, "array_agg": true, "string_agg": true, "group_concat": true, "listagg": true,
}

// evaluatesOnce reports whether a statement may have to be evaluated exactly once to be
// consistent: it names one of the nonRepeatable words (as a bare word, outside literals). A
// copy-on-write statement that does not is evaluated twice (once to find the rows it may change,
// once to change them) with the same outcome.
func evaluatesOnce(st statement) bool {
	for _, t := range st.Tokens {
		if t.Kind == tokIdent && nonRepeatable[strings.ToLower(t.Text)] {
			return true
		}
	}
	return false
}

// dmlClauses are the clauses of a DELETE or UPDATE that follow its target.
type dmlClauses struct {
	alias string // the target's alias as written ("" if none)
	from  string // DELETE's USING items or UPDATE's FROM items
	where string // the condition
}

// parseDeleteClauses reads `[[AS] alias] [USING items] [WHERE condition]` from token after.
func parseDeleteClauses(st statement, after int, name string) (dmlClauses, error) {
	toks := st.Tokens
	var d dmlClauses
	var i int
	d.alias, i = parseAlias(toks, after)
	if ret := findTopWord(toks, i, len(toks), "RETURNING"); ret >= 0 {
		return d, fmt.Errorf("engine: DELETE ... RETURNING is not supported on Delta table %s", name)
	}
	whereAt := findTopWord(toks, i, len(toks), "WHERE")
	if i < len(toks) && toks[i].is("USING") {
		end := whereAt
		if end < 0 {
			end = len(toks)
		}
		d.from = textBetween(st.Text, toks, i+1, end)
	} else if i < len(toks) && whereAt != i {
		return d, fmt.Errorf("engine: DELETE FROM %s: expected WHERE or USING at %q", name, toks[i].Text)
	}
	if whereAt >= 0 {
		d.where = textBetween(st.Text, toks, whereAt+1, len(toks))
	}
	return d, nil
}

// parseUpdateClauses reads `[[AS] alias] SET ... [FROM items] [WHERE condition]` from token after.
func parseUpdateClauses(st statement, after int, name string) (dmlClauses, error) {
	toks := st.Tokens
	var d dmlClauses
	var i int
	d.alias, i = parseAlias(toks, after)
	if i >= len(toks) || !toks[i].is("SET") {
		return d, fmt.Errorf("engine: UPDATE %s: expected SET", name)
	}
	if ret := findTopWord(toks, i, len(toks), "RETURNING"); ret >= 0 {
		return d, fmt.Errorf("engine: UPDATE ... RETURNING is not supported on Delta table %s", name)
	}
	fromAt := findTopWord(toks, i, len(toks), "FROM")
	whereAt := findTopWord(toks, i, len(toks), "WHERE")
	if fromAt >= 0 {
		end := whereAt
		if end < 0 {
			end = len(toks)
		}
		d.from = textBetween(st.Text, toks, fromAt+1, end)
	}
	if whereAt >= 0 {
		d.where = textBetween(st.Text, toks, whereAt+1, len(toks))
	}
	return d, nil
}

// targetTokenAfter returns the index after the token naming the temp table name in a statement
// Strata rewrote (the target of a bound DELETE, UPDATE or MERGE), or -1.
func targetTokenAfter(st statement, name string) int {
	for i, t := range st.Tokens {
		if t.Kind == tokQuoted && t.name() == name {
			return i + 1
		}
	}
	return -1
}

// hitsQuery renders the query selecting the identities of the target rows a DELETE or UPDATE may
// change: the target read as scan under the statement's alias, joined with its USING or FROM
// items, filtered by its condition.
func hitsQuery(scan *targetScan, alias string, d dmlClauses) string {
	q := quoteIdent(alias)
	if alias == "" {
		q = quoteIdent(scan.name)
	}
	from := scan.fromItem(alias)
	sel := "SELECT "
	if d.from != "" {
		sel += "DISTINCT "
		from += ", " + d.from
	}
	out := sel + q + "." + scanFileCol + ", " + q + "." + scanRowCol + " FROM " + from
	if d.where != "" {
		out += " WHERE (" + d.where + "\n)"
	}
	return out
}
