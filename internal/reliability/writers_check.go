package reliability

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/table"
)

// The writers section's table is (id BIGINT, p STRING, v BIGINT) partitioned by p. Every row ever
// inserted has an id no other operation inserts (ids are drawn from the inserting operation's own
// range, or, for streaming appends, from the range of the (stream, batch) it delivers, so that a
// batch delivered twice would show as a duplicated id), p never changes, and v counts what
// updates did to the row: UPDATE adds 1, a MERGE that matches it adds 10. So the content of every
// version is a function of the operations committed up to it, in log order, which the checker
// computes (writersCheck) and compares with what Strata reads.

// wRow is one row of the writers' table.
type wRow struct {
	ID int64  `json:"id"`
	P  string `json:"p"`
	V  int64  `json:"v"`
}

// wPartitions are the values of the partition column p.
var wPartitions = []string{"0", "1", "2"}

// Operation kinds of the writers section.
const (
	wAppend    = "append"    // table.Write, blind append of new rows
	wStream    = "stream"    // table.Write append with a txn (appId, version): a streaming micro-batch
	wOverwrite = "overwrite" // table.Write overwrite with replaceWhere p = '<partition>'
	wDelete    = "delete"    // SQL DELETE ... WHERE [p = X AND] id % Mod = Rem
	wUpdate    = "update"    // SQL UPDATE ... SET v = v + 1 WHERE [p = X AND] id % Mod = Rem
	wMerge     = "merge"     // SQL MERGE: probe ids matched get v + 10, fresh rows are inserted
	wOptimize  = "optimize"  // SQL OPTIMIZE [WHERE p = X]
)

// Outcomes of an operation.
const (
	wCommitted = "committed" // committed Version
	wSkipped   = "skipped"   // a streaming batch already in the table (txn version at or past it) at Version
	wUnchanged = "unchanged" // a statement that found nothing to change at Version; nothing committed
	wConflict  = "conflict"  // a *delta.ConflictError
	wGaveUp    = "gave-up"   // delta.ErrConflict after the kernel's attempts ran out under contention
	wError     = "error"     // anything else: an unclean failure
)

// wOp is one operation of a writer, as its worker recorded it (one JSON line of its record file,
// written once the operation ended).
type wOp struct {
	Op     string `json:"op"` // unique in a run; commitInfo.userMetadata of table.Write commits
	Worker string `json:"worker"`
	Kind   string `json:"kind"`
	// Partition is the overwritten partition, or the partition a DELETE, UPDATE or OPTIMIZE is
	// limited to ("" = the whole table).
	Partition string `json:"partition,omitempty"`
	// Mod and Rem are the DELETE and UPDATE predicate id % Mod = Rem.
	Mod int64 `json:"mod,omitempty"`
	Rem int64 `json:"rem,omitempty"`
	// Rows are the rows appended, written by an overwrite, delivered by a streaming batch, or
	// inserted by a MERGE (its fresh source rows).
	Rows []wRow `json:"rows,omitempty"`
	// Probes are the MERGE's source ids that may match existing rows (never inserted).
	Probes []int64 `json:"probes,omitempty"`
	// AppID and AppVersion identify a streaming batch.
	AppID      string `json:"appId,omitempty"`
	AppVersion int64  `json:"appVersion,omitempty"`
	SQL        string `json:"sql,omitempty"`

	Outcome        string `json:"outcome"`
	Version        *int64 `json:"version,omitempty"` // committed version; for skipped and unchanged, the version read
	ReadVersion    *int64 `json:"readVersion,omitempty"`
	ConflictKind   string `json:"conflictKind,omitempty"`
	WinningVersion *int64 `json:"winningVersion,omitempty"`
	Error          string `json:"error,omitempty"`
	Attempts       int    `json:"attempts,omitempty"`
	Millis         int64  `json:"millis,omitempty"`
}

// matches reports whether a DELETE or UPDATE predicate selects row r.
func (op *wOp) matches(r wRow) bool {
	return (op.Partition == "" || r.P == op.Partition) && op.Mod > 0 && r.ID%op.Mod == op.Rem
}

// wantOperation is the commitInfo.operation of a commit made by an operation of this kind.
func wantOperation(kind string) string {
	switch kind {
	case wDelete:
		return "DELETE"
	case wUpdate:
		return "UPDATE"
	case wMerge:
		return "MERGE"
	case wOptimize:
		return "OPTIMIZE"
	}
	return "WRITE"
}

// readWriterRecords reads the workers' record files. A line that does not parse is an error: the
// workers write whole lines and are never killed in this section.
func readWriterRecords(paths ...string) ([]*wOp, error) {
	var out []*wOp
	for _, p := range paths {
		f, err := os.Open(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("writers: records: %w", err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for line := 1; sc.Scan(); line++ {
			var op wOp
			if err := json.Unmarshal(sc.Bytes(), &op); err != nil {
				f.Close()
				return nil, fmt.Errorf("writers: records %s line %d: %w", p, line, err)
			}
			out = append(out, &op)
		}
		err = sc.Err()
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("writers: records %s: %w", p, err)
		}
	}
	return out, nil
}

// wFile is one add or remove action as the checker sees it.
type wFile struct {
	Key        string // decoded key relative to the table root
	P          string // partition value
	DataChange bool
	// MinID and MaxID are the add's statistics for id (nil when absent).
	MinID, MaxID *int64
}

// mayHoldIDs reports whether the file's id statistics allow an id in [lo, hi].
func (f wFile) mayHoldIDs(lo, hi int64) bool {
	return (f.MinID == nil || *f.MinID <= hi) && (f.MaxID == nil || *f.MaxID >= lo)
}

// wIDBounds reads the id bounds of an add's statistics.
func wIDBounds(stats string) (lo, hi *int64) {
	st, err := delta.ParseStats(stats)
	if err != nil || st == nil {
		return nil, nil
	}
	if n, ok := wInteger(st.MinValues["id"]); ok {
		lo = &n
	}
	if n, ok := wInteger(st.MaxValues["id"]); ok {
		hi = &n
	}
	return lo, hi
}

// wCommit is one commit file, parsed by the checker itself (not by the kernel's replay).
type wCommit struct {
	Version     int64
	Operation   string
	UserMeta    string
	ReadVersion int64 // -1 when absent
	Blind       bool
	Protocol    bool
	Metadata    bool
	Adds        []wFile
	Removes     []wFile
	Txns        []delta.Txn
}

var reWriterCommit = regexp.MustCompile(`^_delta_log/(\d{20})\.json$`)

// readWriterLog lists the table's log and parses every commit. Versions must be contiguous from
// 0 and each commit whole; a broken log is returned as an error wrapping delta.ErrCorrupt, which
// the section reports as an anomaly.
func readWriterLog(ctx context.Context, tbl *table.Table) ([]*wCommit, error) {
	store := tbl.Store()
	infos, err := store.List(ctx, delta.LogDir, "")
	if err != nil {
		return nil, fmt.Errorf("writers: list the log of %s: %w", tbl.Location(), err)
	}
	var out []*wCommit
	for _, info := range infos {
		m := reWriterCommit.FindStringSubmatch(info.Key)
		if m == nil {
			continue
		}
		v, _ := strconv.ParseInt(m[1], 10, 64)
		if v != int64(len(out)) {
			return nil, fmt.Errorf("writers: %s: %w: log versions not contiguous from 0: %s after %d commits", tbl.Location(), delta.ErrCorrupt, info.Key, len(out))
		}
		data, err := store.Get(ctx, info.Key)
		if err != nil {
			return nil, fmt.Errorf("writers: read %s of %s: %w", info.Key, tbl.Location(), err)
		}
		c, err := parseWriterCommit(tbl.Location(), v, info.Key, data)
		if err != nil {
			return nil, fmt.Errorf("writers: %s: %w: %w", tbl.Location(), delta.ErrCorrupt, err)
		}
		out = append(out, c)
	}
	return out, nil
}

// parseWriterCommit parses one commit file and checks that it is whole: newline-terminated,
// one action per line, exactly one commitInfo.
func parseWriterCommit(root string, v int64, key string, data []byte) (*wCommit, error) {
	if len(data) == 0 || data[len(data)-1] != '\n' {
		return nil, fmt.Errorf("%s: %d bytes not ending in a newline (truncated?)", key, len(data))
	}
	actions, err := delta.ParseCommit(key, data)
	if err != nil {
		return nil, err
	}
	if n := bytes.Count(data, []byte{'\n'}); n != len(actions) {
		return nil, fmt.Errorf("%s: %d lines but %d actions", key, n, len(actions))
	}
	c := &wCommit{Version: v, ReadVersion: -1}
	var info delta.CommitInfo
	for _, a := range actions {
		switch {
		case a.CommitInfo != nil:
			if info != nil {
				return nil, fmt.Errorf("%s: two commitInfo actions", key)
			}
			info = a.CommitInfo
		case a.Protocol != nil:
			c.Protocol = true
		case a.Metadata != nil:
			c.Metadata = true
		case a.Add != nil:
			k, err := delta.FileKeyForPath(root, a.Add.Path)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", key, err)
			}
			lo, hi := wIDBounds(a.Add.Stats)
			c.Adds = append(c.Adds, wFile{Key: k, P: a.Add.PartitionValues["p"], DataChange: a.Add.DataChange, MinID: lo, MaxID: hi})
		case a.Remove != nil:
			k, err := delta.FileKeyForPath(root, a.Remove.Path)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", key, err)
			}
			c.Removes = append(c.Removes, wFile{Key: k, P: a.Remove.PartitionValues["p"], DataChange: a.Remove.DataChange})
		case a.Txn != nil:
			c.Txns = append(c.Txns, *a.Txn)
		}
	}
	if info == nil {
		return nil, fmt.Errorf("%s: no commitInfo", key)
	}
	c.Operation, _ = info["operation"].(string)
	c.UserMeta, _ = info["userMetadata"].(string)
	c.Blind, _ = info["isBlindAppend"].(bool)
	if rv, ok := info["readVersion"]; ok {
		n, ok := wInteger(rv)
		if !ok || n >= v {
			return nil, fmt.Errorf("%s: readVersion %v is not a version before %d", key, rv, v)
		}
		c.ReadVersion = n
	}
	return c, nil
}

// wInteger reads a JSON integer however it was decoded.
func wInteger(v any) (int64, bool) {
	switch x := v.(type) {
	case json.Number:
		n, err := x.Int64()
		return n, err == nil
	case float64:
		return int64(x), x == math.Trunc(x)
	case int64:
		return x, true
	case int:
		return int64(x), true
	}
	return 0, false
}

// writersCheck replays a run: the log's commits file by file, and the recorded operations row by
// row in log order, under WriteSerializable semantics (blind appends that land between an
// operation's read and its commit are serialized after it, so the operation does not act on their
// rows). It reports every broken promise through anomaly.
//
// Invariants after newWritersCheck: files[v] and rows[v] are the live files and the expected
// content of version v for every v of commits; owner[v] is the operation that made commit v (nil
// for the table's creation, or when no recorded operation owns it).
type writersCheck struct {
	ops     []*wOp
	commits []*wCommit
	files   []map[string]wFile
	rows    []map[int64]wRow
	blind   []map[int64]bool // ids inserted by blind commit v (nil for other commits)
	owner   []*wOp
	at      map[*wOp]int64 // the version each committed operation owns
	anomaly func(format string, args ...any)

	// Conflicts counts the conflicts reported, by kind; GaveUp the operations that ran out of
	// commit attempts; RowsChanged the rows the committed operations inserted, deleted or
	// updated, by operation kind (how much the content checks exercised).
	Conflicts   map[string]int64
	GaveUp      int64
	RowsChanged map[string]int64
}

// newWritersCheck replays commits against ops and checks outcomes and conflicts. ops must
// include the parent's setup operation (commit 1).
func newWritersCheck(ops []*wOp, commits []*wCommit, anomaly func(string, ...any)) *writersCheck {
	c := &writersCheck{ops: ops, commits: commits, at: map[*wOp]int64{}, anomaly: anomaly,
		Conflicts: map[string]int64{}, RowsChanged: map[string]int64{}}
	c.claim()
	c.replay()
	c.checkOutcomes()
	c.checkStreams()
	c.checkConflicts()
	return c
}

// latest is the last version of the log.
func (c *writersCheck) latest() int64 { return int64(len(c.commits)) - 1 }

// claim matches every commit after the creation with the operation that made it: by
// userMetadata (table.Write commits), else by the version a SQL statement reported. A commit no
// operation owns, or an operation owning two commits, is a write that landed without being
// acknowledged, or twice.
func (c *writersCheck) claim() {
	c.owner = make([]*wOp, len(c.commits))
	byID := map[string]*wOp{}
	byVersion := map[int64][]*wOp{}
	for _, op := range c.ops {
		if prev := byID[op.Op]; prev != nil {
			c.anomaly("operation %s recorded twice", op.Op)
		}
		byID[op.Op] = op
		if op.Outcome == wCommitted && op.Version != nil && wantOperation(op.Kind) != "WRITE" {
			byVersion[*op.Version] = append(byVersion[*op.Version], op)
		}
	}
	for v, cm := range c.commits {
		if v == 0 {
			continue
		}
		var op *wOp
		if cm.UserMeta != "" {
			op = byID[cm.UserMeta]
			if op == nil {
				c.anomaly("commit %d (%s, userMetadata %q) was made by no recorded operation", v, cm.Operation, cm.UserMeta)
				continue
			}
		} else {
			cands := byVersion[int64(v)]
			if len(cands) != 1 {
				c.anomaly("commit %d (%s) is claimed by %d SQL operations, want exactly 1 (a write that landed unacknowledged or twice)", v, cm.Operation, len(cands))
				continue
			}
			op = cands[0]
		}
		if prev, dup := c.at[op]; dup {
			c.anomaly("operation %s (%s) is in the log twice: versions %d and %d", op.Op, op.Kind, prev, v)
			continue
		}
		c.at[op], c.owner[v] = int64(v), op
		if cm.Operation != wantOperation(op.Kind) {
			c.anomaly("commit %d of %s (%s) has operation %s, want %s", v, op.Op, op.Kind, cm.Operation, wantOperation(op.Kind))
		}
		blindKind := op.Kind == wAppend || op.Kind == wStream
		if cm.Blind != blindKind || (blindKind && len(cm.Removes) > 0) {
			c.anomaly("commit %d of %s (%s): isBlindAppend %v with %d removes", v, op.Op, op.Kind, cm.Blind, len(cm.Removes))
		}
		if cm.Protocol || cm.Metadata {
			c.anomaly("commit %d of %s (%s) changes the protocol or metadata; no operation of the section does", v, op.Op, op.Kind)
		}
	}
}

// hidden returns the ids inserted by blind commits after version r and before v: rows an
// operation that read r and committed v did not see, and does not act on.
func (c *writersCheck) hidden(r, v int64) map[int64]bool {
	out := map[int64]bool{}
	for u := r + 1; u < v; u++ {
		for id := range c.blind[u] {
			out[id] = true
		}
	}
	return out
}

// replay computes files[v] and rows[v] for every version.
func (c *writersCheck) replay() {
	n := len(c.commits)
	c.files = make([]map[string]wFile, 0, n)
	c.rows = make([]map[int64]wRow, 0, n)
	c.blind = make([]map[int64]bool, n)
	for v, cm := range c.commits {
		if v == 0 {
			if cm.Operation != "CREATE TABLE" || len(cm.Adds) > 0 {
				c.anomaly("commit 0 is %s with %d files, not the parent's CREATE TABLE", cm.Operation, len(cm.Adds))
			}
			c.files = append(c.files, map[string]wFile{})
			c.rows = append(c.rows, map[int64]wRow{})
			continue
		}
		files := wCopy(c.files[v-1])
		for _, r := range cm.Removes {
			if _, ok := files[r.Key]; !ok {
				c.anomaly("commit %d (%s) removes %s, which is not live at version %d", v, cm.Operation, r.Key, v-1)
			}
			delete(files, r.Key)
		}
		for _, a := range cm.Adds {
			if _, ok := files[a.Key]; ok {
				c.anomaly("commit %d (%s) adds %s, which is already live at version %d (a duplicated file)", v, cm.Operation, a.Key, v-1)
			}
			files[a.Key] = a
		}
		c.files = append(c.files, files)
		rows := wCopy(c.rows[v-1])
		if op := c.owner[v]; op != nil {
			c.applyOp(int64(v), cm, op, rows)
		}
		c.rows = append(c.rows, rows)
	}
}

// applyOp applies op, which made commit v, to rows (a copy of version v-1's content).
func (c *writersCheck) applyOp(v int64, cm *wCommit, op *wOp, rows map[int64]wRow) {
	insert := func(x wRow) {
		if _, ok := rows[x.ID]; ok {
			c.anomaly("commit %d of %s (%s) inserts row %d, which is already in the table (a duplicate)", v, op.Op, op.Kind, x.ID)
		}
		rows[x.ID] = x
		c.RowsChanged[op.Kind]++
	}
	if cm.ReadVersion < 0 && op.Kind != wAppend && op.Kind != wStream {
		c.anomaly("commit %d of %s (%s) has no readVersion", v, op.Op, op.Kind)
		return
	}
	hidden := c.hidden(cm.ReadVersion, v)
	for _, a := range cm.Adds {
		dataChange := op.Kind != wOptimize
		if a.DataChange != dataChange {
			c.anomaly("commit %d of %s (%s) adds %s with dataChange %v", v, op.Op, op.Kind, a.Key, a.DataChange)
		}
	}
	switch op.Kind {
	case wAppend, wStream:
		c.blind[v] = map[int64]bool{}
		for _, x := range op.Rows {
			insert(x)
			c.blind[v][x.ID] = true
		}
	case wOverwrite:
		for id, x := range rows {
			if x.P == op.Partition && !hidden[id] {
				delete(rows, id)
				c.RowsChanged[op.Kind]++
			}
		}
		for _, a := range cm.Adds {
			if a.P != op.Partition {
				c.anomaly("commit %d of overwrite %s of p=%s adds %s in p=%s", v, op.Op, op.Partition, a.Key, a.P)
			}
		}
		for _, x := range op.Rows {
			insert(x)
		}
	case wDelete:
		for id, x := range rows {
			if op.matches(x) && !hidden[id] {
				delete(rows, id)
				c.RowsChanged[op.Kind]++
			}
		}
	case wUpdate:
		for id, x := range rows {
			if op.matches(x) && !hidden[id] {
				x.V++
				rows[id] = x
				c.RowsChanged[op.Kind]++
			}
		}
	case wMerge:
		for _, id := range op.Probes {
			if x, ok := rows[id]; ok && !hidden[id] {
				x.V += 10
				rows[id] = x
				c.RowsChanged[op.Kind]++
			}
		}
		for _, x := range op.Rows {
			insert(x)
		}
	case wOptimize:
		for _, r := range cm.Removes {
			if op.Partition != "" && r.P != op.Partition {
				c.anomaly("commit %d of %s (OPTIMIZE WHERE p = '%s') removes %s in p=%s", v, op.Op, op.Partition, r.Key, r.P)
			}
		}
	default:
		c.anomaly("commit %d: operation %s has kind %q", v, op.Op, op.Kind)
	}
}

// checkOutcomes matches each operation's outcome with the log.
func (c *writersCheck) checkOutcomes() {
	for _, op := range c.ops {
		at, inLog := c.at[op]
		switch op.Outcome {
		case wCommitted:
			switch {
			case op.Version == nil:
				c.anomaly("%s (%s) committed without a version", op.Op, op.Kind)
			case !inLog && *op.Version > c.latest():
				c.anomaly("%s (%s) was acknowledged at version %d, but the log ends at %d (a lost write)", op.Op, op.Kind, *op.Version, c.latest())
			case !inLog:
				c.anomaly("%s (%s) was acknowledged at version %d, but it is not in the log (a lost write)", op.Op, op.Kind, *op.Version)
			case at != *op.Version:
				c.anomaly("%s (%s) was acknowledged at version %d, but the log has it at %d", op.Op, op.Kind, *op.Version, at)
			}
			continue
		case wConflict:
			c.Conflicts[op.ConflictKind]++
		case wGaveUp:
			c.GaveUp++
		case wError:
			c.anomaly("%s (%s) failed with an unclean error: %s", op.Op, op.Kind, op.Error)
		case wSkipped:
			if op.Kind != wStream {
				c.anomaly("%s (%s) reports skipped; only streaming batches may be", op.Op, op.Kind)
			}
		case wUnchanged:
			c.checkUnchanged(op)
		default:
			c.anomaly("%s (%s): unknown outcome %q", op.Op, op.Kind, op.Outcome)
		}
		if inLog {
			c.anomaly("%s (%s) reported %s but is in the log at version %d", op.Op, op.Kind, op.Outcome, at)
		}
	}
}

// checkUnchanged checks a statement that reported nothing to change: a DELETE or UPDATE must
// have had no matching row at the version it read.
func (c *writersCheck) checkUnchanged(op *wOp) {
	if op.Kind != wDelete && op.Kind != wUpdate {
		if op.Kind != wOptimize {
			c.anomaly("%s (%s) reports unchanged; only DELETE, UPDATE and OPTIMIZE may", op.Op, op.Kind)
		}
		return
	}
	if op.Version == nil || *op.Version < 0 || *op.Version > c.latest() {
		c.anomaly("%s (%s) reports nothing changed at version %v, outside the log", op.Op, op.Kind, op.Version)
		return
	}
	for id, x := range c.rows[*op.Version] {
		if op.matches(x) {
			c.anomaly("%s (%s WHERE %s) changed nothing at version %d, but row %d matches", op.Op, op.Kind, op.where(), *op.Version, id)
			return
		}
	}
}

// where renders a DELETE or UPDATE condition.
func (op *wOp) where() string {
	w := fmt.Sprintf("id %% %d = %d", op.Mod, op.Rem)
	if op.Partition != "" {
		w = fmt.Sprintf("p = '%s' AND %s", op.Partition, w)
	}
	return w
}

// checkStreams checks the idempotence of streaming batches: every commit carrying a txn is a
// streaming operation's, with its (appId, version); an appId's versions in the log are 0, 1, 2, ...
// in log order (each batch landed once, none skipped); a skipped batch had landed by the version
// its writer read.
func (c *writersCheck) checkStreams() {
	landed := map[string][]int64{}   // appId -> batch versions in log order
	landedAt := map[string][]int64{} // appId -> the table version of each
	for v, cm := range c.commits {
		op := c.owner[v]
		for _, t := range cm.Txns {
			landed[t.AppID] = append(landed[t.AppID], t.Version)
			landedAt[t.AppID] = append(landedAt[t.AppID], int64(v))
		}
		if op == nil {
			continue
		}
		want := op.Kind == wStream
		if want && (len(cm.Txns) != 1 || cm.Txns[0].AppID != op.AppID || cm.Txns[0].Version != op.AppVersion) {
			c.anomaly("commit %d of streaming batch %s (%s version %d) carries txn actions %+v", v, op.Op, op.AppID, op.AppVersion, cm.Txns)
		}
		if !want && len(cm.Txns) > 0 {
			c.anomaly("commit %d of %s (%s) carries txn actions %+v", v, op.Op, op.Kind, cm.Txns)
		}
	}
	for app, vs := range landed {
		for i, b := range vs {
			if b != int64(i) {
				c.anomaly("stream %s: batch versions in log order are %v, want 0, 1, 2, ... (a batch landed twice or out of order)", app, vs)
				break
			}
		}
	}
	for _, op := range c.ops {
		if op.Kind != wStream || op.Outcome != wSkipped {
			continue
		}
		if op.Version == nil {
			c.anomaly("%s: streaming batch %s/%d skipped without the version it read", op.Op, op.AppID, op.AppVersion)
			continue
		}
		ok := false
		for i, b := range landed[op.AppID] {
			if b >= op.AppVersion && landedAt[op.AppID][i] <= *op.Version {
				ok = true
			}
		}
		if !ok {
			c.anomaly("%s: streaming batch %s/%d was skipped as already written at version %d, but no commit up to it carries that batch", op.Op, op.AppID, op.AppVersion, *op.Version)
		}
	}
}

// wReadSet is what an operation read and removes, in the terms of Delta's WriteSerializable
// conflict rules (internal/delta/conflict.go).
type wReadSet struct {
	anyAdd    bool            // its read predicate is true: any non-blind data-changing add conflicts
	partition string          // its read predicate is p = partition ("" for none)
	readFiles map[string]bool // files read: their removal conflicts
	removes   map[string]bool // files it removes
	appID     string          // its txn appId
}

// readSetOf derives an operation's read set from the replay, given the version it read. The
// engine's candidate files are not recorded, so the read files are bounded: with over, every file
// the statement could have read (all files in its scope); without, only those it must have read.
// removes are the commit's own when it committed (cm non-nil), else, with over, its read files.
func (c *writersCheck) readSetOf(op *wOp, r int64, cm *wCommit, over bool) wReadSet {
	rs := wReadSet{readFiles: map[string]bool{}, removes: map[string]bool{}}
	inScope := func(part string) map[string]bool {
		out := map[string]bool{}
		for k, f := range c.files[r] {
			if part == "" || f.P == part {
				out[k] = true
			}
		}
		return out
	}
	switch op.Kind {
	case wStream:
		rs.appID = op.AppID
	case wOverwrite:
		rs.partition = op.Partition
		rs.readFiles = inScope(op.Partition)
		rs.removes = inScope(op.Partition)
	case wDelete, wUpdate:
		// The predicate id % m = r prunes no file by statistics: every file in scope is read.
		rs.partition, rs.anyAdd = op.Partition, op.Partition == ""
		rs.readFiles = inScope(op.Partition)
	case wMerge:
		// MERGE reads the files whose id statistics may hold a key between its source's least
		// and greatest id (internal/engine/merge.go).
		rs.anyAdd = true
		lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
		for _, id := range op.Probes {
			lo, hi = min(lo, id), max(hi, id)
		}
		for _, x := range op.Rows {
			lo, hi = min(lo, x.ID), max(hi, x.ID)
		}
		for k, f := range c.files[r] {
			if f.mayHoldIDs(lo, hi) {
				rs.readFiles[k] = true
			}
		}
	case wOptimize:
		// OPTIMIZE reads exactly the files it rewrites.
		if over {
			rs.readFiles = inScope(op.Partition)
		}
	}
	if cm != nil {
		rs.removes = map[string]bool{}
		for _, f := range cm.Removes {
			rs.removes[f.Key] = true
		}
		if op.Kind == wOptimize {
			rs.readFiles = rs.removes
		}
	} else if over {
		for k := range rs.readFiles {
			rs.removes[k] = true
		}
	}
	return rs
}

// wConflictKinds lists the rules under which commit w, landing after an operation's read,
// invalidates it. The checker's own statement of Delta's WriteSerializable rules:
//   - a protocol or metadata change conflicts;
//   - a data-changing add of a commit that is not a blind append conflicts with a read
//     predicate that holds for the file's partition (ConcurrentAppend);
//   - a remove (any dataChange) of a file the operation also removes conflicts
//     (ConcurrentDeleteDelete), of a file it read (ConcurrentDeleteRead);
//   - a txn of the operation's appId conflicts (ConcurrentTransaction).
func wConflictKinds(rs wReadSet, w *wCommit) []string {
	kinds := map[string]bool{}
	if w.Protocol {
		kinds["ProtocolChanged"] = true
	}
	if w.Metadata {
		kinds["MetadataChanged"] = true
	}
	if !w.Blind {
		for _, a := range w.Adds {
			if a.DataChange && (rs.anyAdd || (rs.partition != "" && a.P == rs.partition)) {
				kinds["ConcurrentAppend"] = true
			}
		}
	}
	for _, r := range w.Removes {
		if rs.removes[r.Key] {
			kinds["ConcurrentDeleteDelete"] = true
		}
		if rs.readFiles[r.Key] {
			kinds["ConcurrentDeleteRead"] = true
		}
	}
	for _, t := range w.Txns {
		if rs.appID != "" && t.AppID == rs.appID {
			kinds["ConcurrentTransaction"] = true
		}
	}
	out := make([]string, 0, len(kinds))
	for k := range kinds {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// checkConflicts checks every operation against the rules: a committed operation had no
// conflicting commit between its read version and its own (else an update was lost), and a
// reported conflict names a commit that conflicts under the rules, with a kind they give, and no
// earlier commit after the read already conflicted.
func (c *writersCheck) checkConflicts() {
	for _, op := range c.ops {
		switch op.Outcome {
		case wCommitted:
			v, ok := c.at[op]
			if !ok || op.Kind == wAppend {
				continue
			}
			cm := c.commits[v]
			r := cm.ReadVersion
			if r < 0 {
				continue // reported by replay
			}
			rs := c.readSetOf(op, r, cm, false)
			for u := r + 1; u < v; u++ {
				if kinds := wConflictKinds(rs, c.commits[u]); len(kinds) > 0 {
					c.anomaly("%s (%s) read version %d and committed %d, but commit %d (%s) conflicts with it (%s): a lost update",
						op.Op, op.Kind, r, v, u, c.commits[u].Operation, strings.Join(kinds, ", "))
				}
			}
		case wConflict:
			if op.ReadVersion == nil || op.WinningVersion == nil {
				c.anomaly("%s (%s): a conflict without read or winning version", op.Op, op.Kind)
				continue
			}
			r, w := *op.ReadVersion, *op.WinningVersion
			if r < 0 || w <= r || w > c.latest() {
				c.anomaly("%s (%s): a conflict with read version %d and winning version %d, outside the log 0..%d", op.Op, op.Kind, r, w, c.latest())
				continue
			}
			under := c.readSetOf(op, r, nil, false)
			for u := r + 1; u < w; u++ {
				if kinds := wConflictKinds(under, c.commits[u]); len(kinds) > 0 {
					c.anomaly("%s (%s) reported a conflict with commit %d, but the earlier commit %d (%s) already conflicts (%s)",
						op.Op, op.Kind, w, u, c.commits[u].Operation, strings.Join(kinds, ", "))
				}
			}
			if kinds := wConflictKinds(c.readSetOf(op, r, nil, true), c.commits[w]); !slices.Contains(kinds, op.ConflictKind) {
				c.anomaly("%s (%s, read version %d) reported %s with commit %d (%s), but under the rules that commit conflicts with it as %v",
					op.Op, op.Kind, r, op.ConflictKind, w, c.commits[w].Operation, kinds)
			}
		}
	}
}

// compareContent compares the rows Strata read at version v with the replay's.
func (c *writersCheck) compareContent(v int64, got []wRow) {
	want := c.rows[v]
	var missing, extra, changed []string
	seen := map[int64]bool{}
	for _, x := range got {
		if seen[x.ID] {
			extra = append(extra, fmt.Sprintf("duplicate %d", x.ID))
			continue
		}
		seen[x.ID] = true
		w, ok := want[x.ID]
		switch {
		case !ok:
			extra = append(extra, fmt.Sprintf("%d(p=%s)", x.ID, x.P))
		case w != x:
			changed = append(changed, fmt.Sprintf("%d: v=%d p=%s, want v=%d p=%s", x.ID, x.V, x.P, w.V, w.P))
		}
	}
	for id, w := range want {
		if !seen[id] {
			missing = append(missing, fmt.Sprintf("%d(p=%s)", id, w.P))
		}
	}
	if len(missing)+len(extra)+len(changed) == 0 {
		return
	}
	sort.Strings(missing)
	sort.Strings(extra)
	sort.Strings(changed)
	by := "the table's creation"
	if op := c.owner[v]; op != nil {
		by = op.Op + " (" + op.Kind + ")"
	}
	c.anomaly("version %d (commit of %s): content differs from the committed operations applied in log order: %d rows read, %d expected; missing %s; unexpected %s; changed %s",
		v, by, len(got), len(want), wClip(missing), wClip(extra), wClip(changed))
}

// scanWriterRows reads every row of version v (-1: the latest).
func scanWriterRows(ctx context.Context, tbl *table.Table, v int64) ([]wRow, error) {
	snap, err := tbl.Snapshot(ctx, v)
	if err != nil {
		return nil, fmt.Errorf("writers: load version %d of %s: %w", v, tbl.Location(), err)
	}
	if v >= 0 && snap.Version() != v {
		return nil, fmt.Errorf("writers: snapshot of version %d of %s says version %d", v, tbl.Location(), snap.Version())
	}
	sc, err := tbl.Scan(ctx, snap, table.ScanOptions{Columns: []string{"id", "p", "v"}})
	if err != nil {
		return nil, fmt.Errorf("writers: scan version %d of %s: %w", v, tbl.Location(), err)
	}
	defer sc.Release()
	var out []wRow
	for sc.Next() {
		rec := sc.RecordBatch()
		ids, ok1 := rec.Column(0).(*array.Int64)
		ps, ok2 := rec.Column(1).(*array.String)
		vs, ok3 := rec.Column(2).(*array.Int64)
		if !ok1 || !ok2 || !ok3 {
			return nil, fmt.Errorf("writers: scan version %d of %s: unexpected column types %s", v, tbl.Location(), rec.Schema())
		}
		for i := 0; i < int(rec.NumRows()); i++ {
			out = append(out, wRow{ID: ids.Value(i), P: ps.Value(i), V: vs.Value(i)})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("writers: scan version %d of %s: %w", v, tbl.Location(), err)
	}
	return out, nil
}

// checkLiveFiles compares the kernel's snapshot of version v with the replay's live files, and,
// for the latest version, stats every file it references.
func (c *writersCheck) checkLiveFiles(ctx context.Context, tbl *table.Table, v int64, stat bool) error {
	snap, err := tbl.Snapshot(ctx, v)
	if err != nil {
		c.anomaly("version %d does not load: %v", v, err)
		return nil
	}
	got := map[string]bool{}
	for _, f := range snap.Files() {
		k, err := delta.FileKeyForPath(tbl.Location(), f.Path)
		if err != nil {
			c.anomaly("version %d: %v", v, err)
			continue
		}
		got[k] = true
		if !stat {
			continue
		}
		info, err := tbl.Store().Stat(ctx, k)
		if err != nil {
			c.anomaly("version %d references %s: %v (a dangling file reference)", v, k, err)
		} else if info.Size != f.Size {
			c.anomaly("version %d references %s of %d bytes; the file has %d", v, k, f.Size, info.Size)
		}
	}
	want := c.files[v]
	same := len(got) == len(want)
	for k := range want {
		same = same && got[k]
	}
	if !same {
		c.anomaly("version %d: the kernel's snapshot has %d files, the log's commits replayed give %d (or other ones)", v, len(got), len(want))
	}
	return ctx.Err()
}

func wCopy[K comparable, V any](m map[K]V) map[K]V {
	out := make(map[K]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func wClip(s []string) string {
	if len(s) > 6 {
		return fmt.Sprintf("[%s ... %d more]", strings.Join(s[:6], ", "), len(s)-6)
	}
	return "[" + strings.Join(s, ", ") + "]"
}
