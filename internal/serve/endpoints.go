package serve

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/stratalake/strata/internal/engine"
	"github.com/stratalake/strata/internal/project"
)

// Parameter types of serving endpoints.
const (
	paramBigint    = "BIGINT"
	paramDouble    = "DOUBLE"
	paramVarchar   = "VARCHAR"
	paramDate      = "DATE"
	paramTimestamp = "TIMESTAMP"
)

var paramTypes = map[string]bool{paramBigint: true, paramDouble: true, paramVarchar: true, paramDate: true, paramTimestamp: true}

// wildcardRe finds the {name} segments of an endpoint path ({name...} and {$} included).
var wildcardRe = regexp.MustCompile(`\{([^{}]*)\}`)

// endpoint is a checked serve.endpoints entry. Invariants: every path wildcard and every SQL
// placeholder is a declared param, every param appears in the SQL, every type is one of
// paramTypes, and the SQL is a read-only statement.
type endpoint struct {
	cfg project.ServeEndpoint
	// params maps each parameter to its type (upper case).
	params map[string]string
	// names are the parameters sorted (the order in which they are parsed and reported).
	names []string
	// inPath says which parameters are path segments; the others are read from the query string.
	inPath       map[string]bool
	placeholders []placeholder
}

// notReadyRetryAfter is the Retry-After, in seconds, of an endpoint whose table does not exist yet.
const notReadyRetryAfter = 5

// newEndpoint checks an endpoint's path, params and SQL.
func newEndpoint(cfg project.ServeEndpoint) (*endpoint, error) {
	e := &endpoint{cfg: cfg, params: map[string]string{}, inPath: map[string]bool{}}
	if !strings.HasPrefix(cfg.Path, "/") || strings.ContainsAny(cfg.Path, " \t\n?#") {
		return nil, fmt.Errorf("path %q must start with / and hold no spaces, ? or #", cfg.Path)
	}
	for name, typ := range cfg.Params {
		if !isIdentifier(name) {
			return nil, fmt.Errorf("param %q: names are identifiers (letters, digits, _)", name)
		}
		t := strings.ToUpper(strings.TrimSpace(typ))
		if !paramTypes[t] {
			return nil, fmt.Errorf("param %s: type %q is not BIGINT, DOUBLE, VARCHAR, DATE or TIMESTAMP", name, typ)
		}
		e.params[name] = t
		e.names = append(e.names, name)
	}
	sort.Strings(e.names)
	for _, m := range wildcardRe.FindAllStringSubmatch(cfg.Path, -1) {
		name := strings.TrimSuffix(m[1], "...")
		if name == "$" {
			continue
		}
		if _, ok := e.params[name]; !ok {
			return nil, fmt.Errorf("path segment {%s} is not declared in params (add %s: BIGINT, DOUBLE, VARCHAR, DATE or TIMESTAMP)", name, name)
		}
		e.inPath[name] = true
	}
	if strings.TrimSpace(cfg.SQL) == "" {
		return nil, errors.New("sql is empty")
	}
	if err := checkReadOnly(cfg.SQL); err != nil {
		return nil, fmt.Errorf("sql: %w", err)
	}
	phs, err := findPlaceholders(cfg.SQL)
	if err != nil {
		return nil, fmt.Errorf("sql: %w", err)
	}
	used := map[string]bool{}
	for _, p := range phs {
		if _, ok := e.params[p.name]; !ok {
			return nil, fmt.Errorf("sql: placeholder {%s} is not a declared param", p.name)
		}
		used[p.name] = true
	}
	for _, name := range e.names {
		if !used[name] {
			return nil, fmt.Errorf("param %s is not used in the sql (write {%s} where its value goes)", name, name)
		}
	}
	e.placeholders = phs
	return e, nil
}

// sqlLiteral parses a parameter value as its type and returns it as a SQL literal that stands
// for exactly that value (numbers in parentheses when negative, strings quoted with single
// quotes doubled, typed DATE and TIMESTAMP literals), so no value can change the statement.
func sqlLiteral(typ, raw string) (string, error) {
	switch typ {
	case paramBigint:
		v, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			return "", errors.New("not a whole number within BIGINT's range")
		}
		if v < 0 {
			return "(" + strconv.FormatInt(v, 10) + ")", nil
		}
		return strconv.FormatInt(v, 10), nil
	case paramDouble:
		v, err := strconv.ParseFloat(raw, 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return "", errors.New("not a finite number")
		}
		return "CAST(" + strconv.FormatFloat(v, 'g', -1, 64) + " AS DOUBLE)", nil
	case paramVarchar:
		if !utf8.ValidString(raw) || strings.ContainsRune(raw, 0) {
			return "", errors.New("not valid UTF-8 text")
		}
		return "'" + strings.ReplaceAll(raw, "'", "''") + "'", nil
	case paramDate:
		t, err := time.Parse(time.DateOnly, raw)
		if err != nil {
			return "", errors.New("not a date (YYYY-MM-DD)")
		}
		return "DATE '" + t.Format(time.DateOnly) + "'", nil
	case paramTimestamp:
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999", time.DateOnly} {
			if t, err := time.Parse(layout, raw); err == nil {
				return "TIMESTAMP '" + t.UTC().Format("2006-01-02 15:04:05.999999") + "'", nil
			}
		}
		return "", errors.New("not a timestamp (RFC 3339, such as 2026-01-02T15:04:05Z)")
	}
	return "", fmt.Errorf("unknown type %s", typ)
}

// endpointHandler answers a project endpoint: the SQL with each parameter substituted as a
// literal of its type (400 naming the parameter when a value does not parse). With single, the
// first row as an object plus as_of, elapsed_ms, versions (the table versions read) and source,
// or 404 when there is no row or every column not named after a parameter is null (an aggregate
// over no rows); without, /api/sql's JSON shape.
//
// The answer comes from the server's hot store (hotStore: in-memory copies of the tables the
// endpoint reads) when their copies are loaded, else from the engine; the X-Strata-Source header
// says which ("cache" or "engine"). A request with Cache-Control: no-cache goes to the engine,
// which reads the tables' latest versions.
//
// An endpoint whose table does not exist yet answers 503 with Retry-After (notReadyRetryAfter
// seconds).
func (s *Server) endpointHandler(e *endpoint) http.Handler {
	exempt := map[string]bool{}
	for _, name := range e.names {
		exempt[name] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		literals := map[string]string{}
		var given []string
		for _, name := range e.names {
			var raw string
			if e.inPath[name] {
				raw = r.PathValue(name)
			} else if q := r.URL.Query(); q.Has(name) {
				raw = q.Get(name)
			} else {
				writeError(w, http.StatusBadRequest, fmt.Sprintf("missing parameter %s (%s) in the query string", name, e.params[name]))
				return
			}
			lit, err := sqlLiteral(e.params[name], raw)
			if err != nil {
				writeError(w, http.StatusBadRequest, fmt.Sprintf("parameter %s: %q is %v (%s expected)", name, raw, err, e.params[name]))
				return
			}
			literals[name] = lit
			given = append(given, name+"="+raw)
		}
		sql := substitute(e.cfg.SQL, e.placeholders, literals)
		limit, ex := s.opts.MaxRows, map[string]bool(nil)
		if e.cfg.Single {
			limit, ex = 1, exempt
		}
		rs, versions, source, err := s.endpointRows(r, e, sql, limit, ex)
		w.Header().Set("X-Strata-Source", source)
		if errors.Is(err, engine.ErrUnknownTable) {
			// A declared endpoint's table that does not exist yet is one its pipeline has not
			// written (a platform starting up), not a bad request: come back later.
			w.Header().Set("Retry-After", strconv.Itoa(notReadyRetryAfter))
			writeError(w, http.StatusServiceUnavailable, "not ready: "+err.Error())
			return
		}
		if err != nil {
			s.writeErr(w, r, err)
			return
		}
		if !e.cfg.Single {
			rs.Elapsed = time.Since(start)
			writeJSON(w, http.StatusOK, rs.answer())
			return
		}
		if len(rs.Rows) == 0 || rs.empty[0] {
			writeError(w, http.StatusNotFound, fmt.Sprintf("no data for %s", strings.Join(given, ", ")))
			return
		}
		b := append([]byte(nil), rs.Rows[0][:len(rs.Rows[0])-1]...) // the row without its closing brace
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = append(b, `"as_of":`...)
		b = appendJSONString(b, rfc3339(s.opts.Clock()))
		b = append(b, `,"elapsed_ms":`...)
		b = strconv.AppendFloat(b, millis(time.Since(start)), 'f', -1, 64)
		b = append(b, `,"source":`...)
		b = appendJSONString(b, source)
		b = append(b, `,"versions":{`...)
		tables := make([]string, 0, len(versions))
		for t := range versions {
			tables = append(tables, t)
		}
		sort.Strings(tables)
		for i, t := range tables {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, t)
			b = append(b, ':')
			b = strconv.AppendInt(b, versions[t], 10)
		}
		b = append(b, "}}\n"...)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		w.Write(b)
	})
}

// endpointRows runs an endpoint's SQL (parameters substituted), reading at most limit rows as
// readRows does, on the hot store when it can answer, else through the engine. It returns the
// rows, the versions of the tables read, and the source (sourceCache or sourceEngine). Errors
// are *apiError.
func (s *Server) endpointRows(r *http.Request, e *endpoint, sql string, limit int, exempt map[string]bool) (*rowSet, map[string]int64, string, error) {
	if !noCache(r) {
		rs, versions, ok, err := s.cache.query(r.Context(), e, sql, s.opts.QueryTimeout, limit, exempt)
		if err != nil || ok {
			return rs, versions, sourceCache, err
		}
	}
	var rs *rowSet
	err := s.query(r.Context(), sql, s.opts.QueryTimeout, func(res *engine.Result) error {
		var err error
		rs, err = readRows(res, limit, exempt)
		return err
	})
	if err != nil {
		return nil, nil, sourceEngine, err
	}
	versions := map[string]int64{}
	for _, sc := range rs.Scans {
		versions[sc.Table] = sc.Version
	}
	return rs, versions, sourceEngine, nil
}

// noCache says whether a request asks for an answer from the tables' latest versions
// (Cache-Control: no-cache), bypassing the hot store.
func noCache(r *http.Request) bool {
	for _, v := range r.Header.Values("Cache-Control") {
		for _, d := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(d), "no-cache") {
				return true
			}
		}
	}
	return false
}
