package pgwire

import "strings"

// routesToCatalog reports whether a statement reads the system catalogs and so runs on the
// catalog database: it names pg_catalog or information_schema, one of the emulated pg_*
// tables, calls one of the emulated functions (version(), current_database(), format_type(),
// ...), or uses CURRENT_USER and its kin.
func routesToCatalog(toks []token) bool {
	for i, t := range toks {
		name := t.name()
		if name == "" || (i > 0 && toks[i-1].is(".")) {
			continue
		}
		switch name {
		case "pg_catalog", "information_schema":
			return true
		case "regclass", "regtype", "regnamespace", "regproc", "regprocedure", "regrole":
			if i > 0 && toks[i-1].is("::") {
				return true
			}
		case "current_user", "session_user", "current_role", "current_catalog", "current_schema":
			if t.Kind == tokIdent {
				return true
			}
		}
		if !catalogNames[name] {
			continue
		}
		if strings.HasPrefix(name, "pg_") && isCatalogTable(name) {
			return true
		}
		if i+1 < len(toks) && toks[i+1].is("(") {
			return true
		}
	}
	return false
}

func isCatalogTable(name string) bool {
	for _, t := range pgCatalogTables {
		if t.Name == name {
			return true
		}
	}
	return false
}

// rewriteCatalogSQL adapts Postgres catalog SQL to the catalog database:
//   - pg_catalog.x becomes x (the emulation is first on the search path; DuckDB's own
//     functions follow);
//   - information_schema.x becomes the emulation's table when it has one;
//   - OPERATOR(pg_catalog.op) becomes op, and COLLATE clauses are dropped;
//   - x ~* 'p' (which DuckDB lacks) becomes x ~ '(?i)p'; ~ itself matches anywhere in the
//     catalog database, as in Postgres (a macro replaces DuckDB's full-match function);
//   - 'name'::regclass (and regtype, regnamespace) becomes a lookup of the name's OID;
//   - a function in FROM with an alias gets Postgres's naming: FROM generate_series(...) s
//     names the column s (DuckDB: s(s)), and a scalar function there (string_to_array(...) s)
//     becomes a one-row subquery;
//   - functions DuckDB names otherwise are renamed (json_build_object -> json_object);
//   - CURRENT_USER, SESSION_USER, CURRENT_ROLE, CURRENT_CATALOG, CURRENT_SCHEMA and USER
//     written without parentheses become calls.
//
// It works on tokens, so text inside strings, quoted identifiers and comments is untouched.
func rewriteCatalogSQL(src string, toks []token) string {
	var edits []edit
	del := func(from, to int) { edits = append(edits, edit{Start: toks[from].Start, End: toks[to].End}) }
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		next := func(k int) token {
			if i+k < len(toks) {
				return toks[i+k]
			}
			return token{Kind: -1}
		}
		switch {
		case t.word() == "operator" && next(1).is("("):
			// OPERATOR(pg_catalog.~) or OPERATOR(~)
			j := i + 2
			for j < len(toks) && !toks[j].is(")") && j < i+6 {
				j++
			}
			if j < len(toks) && toks[j].is(")") {
				op := toks[j-1].Text
				edits = append(edits, edit{Start: t.Start, End: toks[j].End, Text: " " + op + " "})
				i = j
			}
		case t.word() == "collate":
			j := i + 1
			if j < len(toks) && toks[j].name() != "" {
				for j+2 < len(toks) && toks[j+1].is(".") && toks[j+2].name() != "" {
					j += 2
				}
				del(i, j)
				i = j
			}
		case t.name() == "pg_catalog" && next(1).is(".") && next(2).name() != "" && (i == 0 || !toks[i-1].is(".")):
			del(i, i+1)
			i++
		case t.name() == "information_schema" && next(1).is(".") && infoSchemaNames[next(2).name()] && (i == 0 || !toks[i-1].is(".")):
			edits = append(edits, edit{Start: t.Start, End: t.End, Text: infoSchema})
		case t.is("::"):
			// ::[pg_catalog.]regclass after a string literal
			j := i + 1
			if j+1 < len(toks) && toks[j].name() == "pg_catalog" && toks[j+1].is(".") {
				j += 2
			}
			if j >= len(toks) || i == 0 || toks[i-1].Kind != tokString {
				continue
			}
			fn := map[string]string{"regclass": "strata_regclass", "regtype": "strata_regtype", "regnamespace": "strata_regnamespace"}[toks[j].name()]
			if fn == "" {
				continue
			}
			lit := toks[i-1] // string literals are never edited otherwise: no overlap
			edits = append(edits, edit{Start: lit.Start, End: toks[j].End, Text: fn + "(" + lit.Text + ")"})
			i = j
		case (t.is("~*") || t.is("!~*")) && next(1).Kind == tokString:
			// DuckDB has no ~*: a case-insensitive regular expression instead.
			op := strings.TrimSuffix(t.Text, "*")
			edits = append(edits, edit{Start: t.Start, End: next(1).End, Text: op + " " + quoteString("(?i)"+next(1).Value)})
			i++
		case t.Kind == tokIdent && next(1).is("(") && inFromClause(toks, i):
			// A function in FROM with an alias: FROM f(...) s names the column s in Postgres and
			// the row in DuckDB (say s(s)); a scalar function there (string_to_array(...) s)
			// is a one-row subquery in DuckDB.
			j := matchParen(toks, i+1)
			if j < 0 {
				continue
			}
			k := j + 1
			if k < len(toks) && toks[k].word() == "as" {
				k++
			}
			if k >= len(toks) || toks[k].Kind != tokIdent || isKeyword(toks[k].word()) || (k+1 < len(toks) && toks[k+1].is("(")) {
				continue
			}
			alias := toks[k].Text
			switch t.word() {
			case "generate_series", "unnest", "generate_subscripts", "range":
				edits = append(edits, edit{Start: toks[k].End, End: toks[k].End, Text: "(" + alias + ")"})
			case "string_to_array", "parse_ident", "current_schemas", "regexp_split_to_array":
				edits = append(edits, edit{Start: t.Start, End: t.Start, Text: "(SELECT "},
					edit{Start: toks[j].End, End: toks[j].End, Text: " AS " + alias + ")"})
			}
		case t.Kind == tokIdent && next(1).is("(") && functionRenames[t.word()] != "":
			edits = append(edits, edit{Start: t.Start, End: t.End, Text: functionRenames[t.word()]})
		case t.Kind == tokIdent && !next(1).is("(") && (i == 0 || !toks[i-1].is(".")):
			switch t.word() {
			case "current_user", "session_user", "current_role", "current_catalog", "current_schema", "user":
				edits = append(edits, edit{Start: t.Start, End: t.End, Text: t.word() + "()"})
			}
		}
	}
	// A regclass edit starts at a literal that precedes its "::" token; keep edits ordered.
	sortEdits(edits)
	return applyEdits(src, edits)
}

// functionRenames are Postgres functions catalog queries call that DuckDB has under another
// name.
var functionRenames = map[string]string{
	"json_build_object":  "json_object",
	"jsonb_build_object": "json_object",
	"json_agg":           "json_group_array",
	"jsonb_agg":          "json_group_array",
}

// inFromClause reports whether the function call at toks[i] is a FROM item: preceded (past a
// schema qualifier) by FROM, JOIN, LATERAL or a comma after such.
func inFromClause(toks []token, i int) bool {
	j := i - 1
	if j >= 1 && toks[j].is(".") {
		j -= 2
	}
	if j < 0 {
		return false
	}
	switch toks[j].word() {
	case "from", "join", "lateral":
		return true
	}
	if !toks[j].is(",") {
		return false
	}
	// A comma: look back for FROM before any SELECT at the same depth.
	depth := 0
	for k := j - 1; k >= 0; k-- {
		switch {
		case toks[k].is(")"):
			depth++
		case toks[k].is("("):
			if depth == 0 {
				return false
			}
			depth--
		case depth == 0 && toks[k].word() == "from":
			return true
		case depth == 0 && toks[k].word() == "select":
			return false
		}
	}
	return false
}

// matchParen returns the index of the parenthesis closing toks[open], or -1.
func matchParen(toks []token, open int) int {
	depth := 0
	for k := open; k < len(toks); k++ {
		switch {
		case toks[k].is("("):
			depth++
		case toks[k].is(")"):
			depth--
			if depth == 0 {
				return k
			}
		}
	}
	return -1
}

// isKeyword reports words that may follow a FROM item and are no alias.
func isKeyword(w string) bool {
	switch w {
	case "where", "join", "left", "right", "inner", "outer", "full", "cross", "on", "using", "group", "order",
		"limit", "offset", "union", "except", "intersect", "having", "window", "natural", "with", "lateral":
		return true
	}
	return false
}

// sortEdits orders edits by start (insertion sort: the list is almost sorted).
func sortEdits(edits []edit) {
	for i := 1; i < len(edits); i++ {
		for j := i; j > 0 && edits[j].Start < edits[j-1].Start; j-- {
			edits[j], edits[j-1] = edits[j-1], edits[j]
		}
	}
}

// firstWords returns the lower-cased first n bare words of a statement (fewer if it has
// fewer leading words), skipping leading parentheses.
func firstWords(toks []token, n int) []string {
	var out []string
	for _, t := range toks {
		if t.is("(") && len(out) == 0 {
			continue
		}
		w := t.word()
		if w == "" {
			break
		}
		out = append(out, w)
		if len(out) == n {
			break
		}
	}
	return out
}

// isQuery reports whether a statement is a query whose result can be wrapped as a subquery
// (SELECT, WITH, VALUES, FROM-first, TABLE, or a parenthesized one).
func isQuery(toks []token) bool {
	if len(toks) > 0 && toks[0].is("(") {
		return true
	}
	w := firstWords(toks, 1)
	if len(w) == 0 {
		return false
	}
	switch w[0] {
	case "select", "with", "values", "from", "table":
		return true
	}
	return false
}

// isReadOnly reports whether a statement only reads: a query, or SHOW, DESCRIBE, EXPLAIN,
// SUMMARIZE (including the engine's DESCRIBE HISTORY / DETAIL and SHOW TABLES).
func isReadOnly(toks []token) bool {
	if isQuery(toks) {
		return true
	}
	w := firstWords(toks, 1)
	if len(w) == 0 {
		return false
	}
	switch w[0] {
	case "show", "describe", "desc", "explain", "summarize", "pivot", "unpivot":
		return true
	}
	return false
}

// describableOnCatalog reports whether a statement over project tables can be described by
// preparing it on the catalog's replicas: a query or a plain DESCRIBE. The engine's own
// statements (SHOW TABLES, DESCRIBE HISTORY, OPTIMIZE, ...) and writes cannot: their results
// differ from what DuckDB would return.
func describableOnCatalog(toks []token) bool {
	if isQuery(toks) {
		return true
	}
	w := firstWords(toks, 2)
	if len(w) >= 1 && (w[0] == "describe" || w[0] == "desc") {
		return len(w) < 2 || (w[1] != "history" && w[1] != "detail")
	}
	return false
}
