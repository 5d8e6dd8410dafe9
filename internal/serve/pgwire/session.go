package pgwire

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	wire "github.com/jeroenrinzema/psql-wire"
	"github.com/jeroenrinzema/psql-wire/codes"
	psqlerr "github.com/jeroenrinzema/psql-wire/errors"
)

type sessionKey struct{}

// session is one client connection's state: its settings (SET/SHOW), whether it is inside a
// transaction block, and the results of simple-query statements run ahead of being sent.
type session struct {
	srv  *Server
	conn *trackedConn

	mu       sync.Mutex // guards settings, inTx, pending
	settings map[string]string
	inTx     bool
	// pending holds results opened ahead of being sent and not taken yet.
	pending map[*heldResult]struct{}
}

// heldResult is a statement result opened ahead of being sent (a simple query's statement, or
// an extended statement run to describe it). Whoever takes it owns it; one never taken is
// released by the session's next statement or by its end.
type heldResult struct {
	sess *session
	mu   sync.Mutex // guards res
	res  *openResult
}

// take hands the result over (nil when it was released); the caller must release it.
func (h *heldResult) take() *openResult {
	h.mu.Lock()
	res := h.res
	h.res = nil
	h.mu.Unlock()
	h.sess.forget(h)
	return res
}

// drop releases the result unless it was taken.
func (h *heldResult) drop() {
	if res := h.take(); res != nil {
		res.release()
	}
}

func newSession(s *Server, c *trackedConn, params wire.Parameters) *session {
	sess := &session{srv: s, conn: c, settings: map[string]string{}, pending: map[*heldResult]struct{}{}}
	for k, v := range params {
		switch strings.ToLower(string(k)) {
		case "application_name", "datestyle", "timezone", "client_encoding", "extra_float_digits", "search_path":
			sess.settings[strings.ToLower(string(k))] = v
		}
	}
	return sess
}

func sessionOf(ctx context.Context) *session {
	sess, _ := ctx.Value(sessionKey{}).(*session)
	return sess
}

func (s *session) inTransaction() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inTx
}

// hold keeps a result opened ahead of being sent.
func (s *session) hold(res *openResult) *heldResult {
	h := &heldResult{sess: s, res: res}
	s.mu.Lock()
	s.pending[h] = struct{}{}
	s.mu.Unlock()
	return h
}

func (s *session) forget(h *heldResult) {
	s.mu.Lock()
	delete(s.pending, h)
	s.mu.Unlock()
}

// releasePending releases the held results nobody took.
func (s *session) releasePending() {
	s.mu.Lock()
	hs := make([]*heldResult, 0, len(s.pending))
	for h := range s.pending {
		hs = append(hs, h)
	}
	s.mu.Unlock()
	for _, h := range hs {
		h.drop()
	}
}

func (s *session) close() { s.releasePending() }

// setting returns a setting's value for SHOW: the session's if SET, else the server default.
func (s *session) setting(name string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.settings[name]; ok {
		return v, true
	}
	if name == "session_authorization" {
		return s.srv.opts.User, true
	}
	v, ok := pgSettings[name]
	return v, ok
}

// localResult is the outcome of a session statement: a command tag and, for SHOW, rows.
type localResult struct {
	Tag     string
	Columns wire.Columns
	Rows    [][]any
}

// localStatement recognizes a session statement and returns how to run it: run applies its
// effect and returns its result (called when the statement executes). ok is false for a
// statement that is not a session statement.
func (s *session) localStatement(toks []token) (columns wire.Columns, run func() (*localResult, error), ok bool) {
	if len(toks) == 0 {
		return nil, nil, false
	}
	w := toks[0].word()
	second := ""
	if len(toks) > 1 {
		second = toks[1].word()
	}
	tag := func(t string, effect func()) (wire.Columns, func() (*localResult, error), bool) {
		return nil, func() (*localResult, error) {
			if effect != nil {
				s.mu.Lock()
				effect()
				s.mu.Unlock()
			}
			return &localResult{Tag: t}, nil
		}, true
	}
	switch w {
	case "begin":
		return tag("BEGIN", func() { s.inTx = true })
	case "start":
		if second == "transaction" {
			return tag("START TRANSACTION", func() { s.inTx = true })
		}
	case "commit", "end":
		if second == "prepared" {
			return nil, nil, false
		}
		return tag("COMMIT", func() { s.inTx = false })
	case "rollback", "abort":
		if second == "to" || second == "prepared" {
			return tag("ROLLBACK", nil)
		}
		return tag("ROLLBACK", func() { s.inTx = false })
	case "savepoint":
		return tag("SAVEPOINT", nil)
	case "release":
		return tag("RELEASE", nil)
	case "discard":
		return tag("DISCARD "+strings.ToUpper(second), func() {
			if second == "all" {
				s.settings = map[string]string{}
			}
		})
	case "deallocate":
		if second == "all" || (second == "prepare" && len(toks) > 2 && toks[2].word() == "all") {
			return tag("DEALLOCATE ALL", nil)
		}
		return tag("DEALLOCATE", nil)
	case "listen", "unlisten", "notify":
		return tag(strings.ToUpper(w), nil)
	case "set":
		name, value, ok := parseSet(toks)
		if !ok {
			return nil, nil, false
		}
		return tag("SET", func() {
			if name != "" {
				s.settings[name] = value
			}
		})
	case "reset":
		if len(toks) < 2 {
			return nil, nil, false
		}
		name := settingName(toks[1:])
		return tag("RESET", func() {
			if name == "all" {
				s.settings = map[string]string{}
			} else {
				delete(s.settings, name)
			}
		})
	case "show":
		return s.showStatement(toks)
	}
	return nil, nil, false
}

// showStatement answers SHOW name for Postgres settings (and SHOW ALL, SHOW TRANSACTION
// ISOLATION LEVEL); other SHOW statements (SHOW TABLES, DuckDB's SHOW table) are not session
// statements.
func (s *session) showStatement(toks []token) (wire.Columns, func() (*localResult, error), bool) {
	if len(toks) < 2 {
		return nil, nil, false
	}
	name := settingName(toks[1:])
	switch name {
	case "transaction isolation level":
		name = "transaction_isolation"
	case "time zone":
		name = "timezone"
	case "all":
		cols := wire.Columns{textColumn("name"), textColumn("setting"), textColumn("description")}
		return cols, func() (*localResult, error) {
			names := make([]string, 0, len(pgSettings))
			for n := range pgSettings {
				names = append(names, n)
			}
			sort.Strings(names)
			res := &localResult{Tag: "SHOW", Columns: cols}
			for _, n := range names {
				v, _ := s.setting(n)
				res.Rows = append(res.Rows, []any{n, v, ""})
			}
			return res, nil
		}, true
	}
	s.mu.Lock()
	_, set := s.settings[name]
	s.mu.Unlock()
	if _, known := pgSettings[name]; !known && !set && name != "session_authorization" {
		return nil, nil, false
	}
	cols := wire.Columns{textColumn(name)}
	return cols, func() (*localResult, error) {
		v, ok := s.setting(name)
		if !ok {
			return nil, psqlerr.WithCode(fmt.Errorf("unrecognized configuration parameter %q", name), codes.UndefinedObject)
		}
		return &localResult{Tag: "SHOW", Columns: cols, Rows: [][]any{{v}}}, nil
	}, true
}

// settingName reads a setting name: a word, dotted words, or TRANSACTION ISOLATION LEVEL /
// TIME ZONE.
func settingName(toks []token) string {
	if len(toks) == 0 {
		return ""
	}
	if len(toks) >= 3 && toks[0].word() == "transaction" && toks[1].word() == "isolation" && toks[2].word() == "level" {
		return "transaction isolation level"
	}
	if len(toks) >= 2 && toks[0].word() == "time" && toks[1].word() == "zone" {
		return "time zone"
	}
	var parts []string
	for i, t := range toks {
		if i%2 == 1 {
			if !t.is(".") {
				break
			}
			continue
		}
		if t.name() == "" {
			break
		}
		parts = append(parts, t.name())
	}
	return strings.Join(parts, ".")
}

// parseSet reads SET [SESSION | LOCAL] name {= | TO} value, SET TIME ZONE value, and SET
// TRANSACTION / SET SESSION CHARACTERISTICS (accepted, no effect: name ""). ok is false for
// text that is not a SET the session understands.
func parseSet(toks []token) (name, value string, ok bool) {
	i := 1
	if i < len(toks) && (toks[i].word() == "session" || toks[i].word() == "local") {
		if toks[i].word() == "session" && i+1 < len(toks) && toks[i+1].word() == "characteristics" {
			return "", "", true
		}
		i++
	}
	if i >= len(toks) {
		return "", "", false
	}
	if toks[i].word() == "transaction" {
		return "", "", true
	}
	if toks[i].word() == "time" && i+1 < len(toks) && toks[i+1].word() == "zone" {
		return "timezone", settingValue(toks[i+2:]), true
	}
	name = settingName(toks[i:])
	if name == "" {
		return "", "", false
	}
	for i < len(toks) && !toks[i].is("=") && toks[i].word() != "to" {
		i++
	}
	if i >= len(toks) {
		return "", "", false
	}
	return name, settingValue(toks[i+1:]), true
}

// settingValue renders the value list of a SET: strings unquoted, items joined by ", ".
func settingValue(toks []token) string {
	var parts []string
	cur := ""
	for _, t := range toks {
		if t.is(",") {
			parts = append(parts, cur)
			cur = ""
			continue
		}
		switch t.Kind {
		case tokString, tokQuoted:
			cur += t.Value
		default:
			cur += t.Text
		}
	}
	return strings.Join(append(parts, cur), ", ")
}

// textColumn is a result column of type text.
func textColumn(name string) wire.Column {
	return wire.Column{Name: name, Oid: oidText, Width: -1}
}
