package concurrency

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/storage"
	"github.com/stratalake/strata/internal/table"
)

// fileRef is one add or remove action of a commit, as the checker sees it.
type fileRef struct {
	Key        string // decoded key relative to the table root
	P          string // partition value
	DataChange bool
}

// commitEntry is one commit file, parsed and checked by the checker itself.
type commitEntry struct {
	Version     int64
	Key         string
	Size        int64
	Operation   string
	Op          string // commitInfo.userMetadata: the op id of the operation that made it
	ReadVersion int64  // commitInfo.readVersion, -1 when absent
	Blind       bool   // commitInfo.isBlindAppend
	TxnID       string
	Protocol    bool
	Metadata    bool
	Adds        []fileRef
	Removes     []fileRef
}

// history is the table's log as the checker reconstructs it from the commit files, without the
// kernel's replay: per version, the live files and the rows the workers' operations say the table
// holds. It grows as the log grows (extend), so the crash test checks each new commit once.
type history struct {
	tbl     *table.Table
	commits []*commitEntry
	files   []map[string]fileRef // live files per version, by key
	rows    []map[int64]row      // expected content per version, by id
	opAt    map[string]int64     // op id -> the version it committed
	txnIDs  map[string]int64     // commitInfo.txnId -> version

	// checkpointsChecked holds the checkpoint versions already compared with files.
	checkpointsChecked map[int64]bool
	// verifiedScan holds the versions whose scan already matched rows.
	verifiedScan map[int64]bool
}

func newHistory(tbl *table.Table) *history {
	return &history{tbl: tbl, opAt: map[string]int64{}, txnIDs: map[string]int64{},
		checkpointsChecked: map[int64]bool{}, verifiedScan: map[int64]bool{}}
}

// latest is the newest version seen.
func (h *history) latest() int64 { return int64(len(h.commits)) - 1 }

var reCommitKey = regexp.MustCompile(`^_delta_log/(\d{20})\.json$`)

// extend lists the log, checks that the commit versions are exactly 0..N with the versions
// already seen unchanged, and parses, checks and replays every new commit against ops. Problems
// that make further replay meaningless are fatal.
func (h *history) extend(ctx context.Context, t *testing.T, ops map[string]*opRecord) {
	t.Helper()
	store := h.tbl.Store()
	infos, err := store.List(ctx, delta.LogDir, "")
	if err != nil {
		t.Fatalf("list log: %v", err)
	}
	var commits []storage.ObjectInfo
	for _, info := range infos {
		m := reCommitKey.FindStringSubmatch(info.Key)
		if m == nil {
			continue
		}
		v, _ := strconv.ParseInt(m[1], 10, 64)
		if v != int64(len(commits)) {
			t.Fatalf("log versions are not contiguous from 0: found %s after %d commits", info.Key, len(commits))
		}
		commits = append(commits, info)
	}
	if len(commits) < len(h.commits) {
		t.Fatalf("log shrank from %d to %d commits", len(h.commits), len(commits))
	}
	for v, c := range h.commits {
		if commits[v].Size != c.Size {
			t.Fatalf("commit %d changed size from %d to %d bytes after it was checked", v, c.Size, commits[v].Size)
		}
	}
	for v := len(h.commits); v < len(commits); v++ {
		data, err := store.Get(ctx, commits[v].Key)
		if err != nil {
			t.Fatalf("read commit %d: %v", v, err)
		}
		e, err := parseCommitEntry(h.tbl.Location(), int64(v), commits[v].Key, data)
		if err != nil {
			t.Fatalf("commit %d: %v", v, err)
		}
		if prev, dup := h.txnIDs[e.TxnID]; dup {
			t.Errorf("commits %d and %d have the same txnId %s", prev, v, e.TxnID)
		}
		h.txnIDs[e.TxnID] = e.Version
		h.apply(t, e, ops)
	}
}

// parseCommitEntry parses a commit file completely and checks that it is whole: newline-terminated,
// every line an action, exactly one commitInfo, and operation metrics that count its file actions.
func parseCommitEntry(root string, v int64, key string, data []byte) (*commitEntry, error) {
	if len(data) == 0 || data[len(data)-1] != '\n' {
		return nil, fmt.Errorf("%s: %d bytes not ending in a newline (truncated?)", key, len(data))
	}
	lines := bytes.Split(data[:len(data)-1], []byte{'\n'})
	for i, l := range lines {
		if !json.Valid(l) || len(bytes.TrimSpace(l)) == 0 || l[0] != '{' {
			return nil, fmt.Errorf("%s line %d is not one JSON object: %.80q", key, i+1, l)
		}
	}
	actions, err := delta.ParseCommit(key, data)
	if err != nil {
		return nil, err
	}
	if len(lines) != len(actions) {
		return nil, fmt.Errorf("%s: %d lines but %d actions", key, len(lines), len(actions))
	}
	e := &commitEntry{Version: v, Key: key, Size: int64(len(data)), ReadVersion: -1}
	var info delta.CommitInfo
	for _, a := range actions {
		switch {
		case a.CommitInfo != nil:
			if info != nil {
				return nil, fmt.Errorf("%s: two commitInfo actions", key)
			}
			info = a.CommitInfo
		case a.Protocol != nil:
			e.Protocol = true
		case a.Metadata != nil:
			e.Metadata = true
		case a.Add != nil:
			k, err := delta.FileKeyForPath(root, a.Add.Path)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", key, err)
			}
			e.Adds = append(e.Adds, fileRef{Key: k, P: a.Add.PartitionValues["p"], DataChange: a.Add.DataChange})
		case a.Remove != nil:
			k, err := delta.FileKeyForPath(root, a.Remove.Path)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", key, err)
			}
			e.Removes = append(e.Removes, fileRef{Key: k, P: a.Remove.PartitionValues["p"], DataChange: a.Remove.DataChange})
		}
	}
	if info == nil {
		return nil, fmt.Errorf("%s: no commitInfo", key)
	}
	e.Operation, _ = info["operation"].(string)
	e.Op, _ = info["userMetadata"].(string)
	e.Blind, _ = info["isBlindAppend"].(bool)
	e.TxnID, _ = info["txnId"].(string)
	if e.TxnID == "" {
		return nil, fmt.Errorf("%s: commitInfo has no txnId", key)
	}
	if rv, ok := info["readVersion"]; ok {
		if e.ReadVersion, ok = integer(rv); !ok {
			return nil, fmt.Errorf("%s: readVersion %v (%T) is not an integer", key, rv, rv)
		}
		if e.ReadVersion >= v {
			return nil, fmt.Errorf("%s: readVersion %d is not before the commit's version", key, e.ReadVersion)
		}
	}
	metrics, _ := info["operationMetrics"].(map[string]any)
	metric := func(name string, want int) error {
		s, ok := metrics[name].(string)
		if !ok {
			return nil
		}
		if s != strconv.Itoa(want) {
			return fmt.Errorf("%s: operationMetrics.%s = %s but the commit holds %d such actions (half-written commit?)", key, name, s, want)
		}
		return nil
	}
	switch e.Operation {
	case "WRITE":
		err = errors.Join(metric("numFiles", len(e.Adds)), metric("numRemovedFiles", len(e.Removes)))
	case "RESTORE":
		err = errors.Join(metric("numRestoredFiles", len(e.Adds)), metric("numRemovedFiles", len(e.Removes)))
	}
	if err != nil {
		return nil, err
	}
	return e, nil
}

// integer reads a JSON integer however the kernel decoded it (json.Number, float64 or an integer
// type).
func integer(v any) (int64, bool) {
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

// apply replays commit e on top of the last version: file-level (the log's own adds and removes)
// and row-level (the operation's rows, under WriteSerializable semantics), checking that the
// commit matches the operation that made it.
func (h *history) apply(t *testing.T, e *commitEntry, ops map[string]*opRecord) {
	t.Helper()
	v := e.Version
	h.commits = append(h.commits, e)
	if v == 0 {
		if e.Operation != "CREATE TABLE" || !e.Protocol || !e.Metadata || len(e.Adds) > 0 {
			t.Fatalf("commit 0 is not the parent's CREATE TABLE (operation %q)", e.Operation)
		}
		h.files = append(h.files, map[string]fileRef{})
		h.rows = append(h.rows, map[int64]row{})
		return
	}
	if e.Protocol || e.Metadata {
		t.Errorf("commit %d (%s) changes the protocol or metadata; no operation of this test does", v, e.Op)
	}
	// Files: removes first, then adds, each against the previous version.
	files := copyMap(h.files[v-1])
	for _, r := range e.Removes {
		if _, ok := files[r.Key]; !ok {
			t.Errorf("commit %d (%s) removes %s, which is not live at version %d", v, e.Op, r.Key, v-1)
		}
		delete(files, r.Key)
	}
	for _, a := range e.Adds {
		if _, ok := files[a.Key]; ok {
			t.Errorf("commit %d (%s) adds %s, which is already live at version %d", v, e.Op, a.Key, v-1)
		}
		files[a.Key] = a
	}
	h.files = append(h.files, files)

	op := ops[e.Op]
	if op == nil {
		t.Fatalf("commit %d (operation %s, userMetadata %q) was made by no operation any worker recorded", v, e.Operation, e.Op)
	}
	if prev, dup := h.opAt[e.Op]; dup {
		t.Fatalf("operation %s is in the log twice: versions %d and %d", e.Op, prev, v)
	}
	h.opAt[e.Op] = v
	if e.ReadVersion < 0 {
		t.Fatalf("commit %d (%s) has no readVersion", v, e.Op)
	}
	r := e.ReadVersion
	rows := copyMap(h.rows[v-1])
	switch op.Kind {
	case kindAppend:
		if e.Operation != "WRITE" || !e.Blind || len(e.Removes) > 0 {
			t.Errorf("commit %d of append %s: operation %s, isBlindAppend %v, %d removes; want a blind WRITE", v, op.Op, e.Operation, e.Blind, len(e.Removes))
		}
		for _, x := range op.Rows {
			if _, ok := rows[x.ID]; ok {
				t.Errorf("commit %d of append %s: row %d is already in the table", v, op.Op, x.ID)
			}
			rows[x.ID] = x
		}
	case kindOverwrite:
		if e.Operation != "WRITE" || e.Blind {
			t.Errorf("commit %d of overwrite %s: operation %s, isBlindAppend %v; want a non-blind WRITE", v, op.Op, e.Operation, e.Blind)
		}
		// It removes exactly the files of its partition in the snapshot it read.
		want := map[string]bool{}
		for k, f := range h.files[r] {
			if f.P == op.Partition {
				want[k] = true
			}
		}
		if got := refKeys(e.Removes); !equalSets(got, want) {
			t.Errorf("commit %d of overwrite %s of p=%s read at %d removes %v, want the partition's files at %d: %v", v, op.Op, op.Partition, r, sortedKeys(got), r, sortedKeys(want))
		}
		for _, a := range e.Adds {
			if a.P != op.Partition {
				t.Errorf("commit %d of overwrite %s of p=%s adds %s in p=%s", v, op.Op, op.Partition, a.Key, a.P)
			}
		}
		// Rows: the partition's rows as read are replaced; blind appends that landed after the
		// read stay (WriteSerializable orders them after the overwrite).
		for id, x := range h.rows[r] {
			if x.P != op.Partition {
				continue
			}
			if _, ok := rows[id]; !ok {
				t.Errorf("commit %d of overwrite %s: row %d it read at %d is no longer live at %d (removed concurrently without a conflict)", v, op.Op, id, r, v-1)
			}
			delete(rows, id)
		}
		for _, x := range op.Rows {
			rows[x.ID] = x
		}
	case kindRestore:
		if e.Operation != "RESTORE" || e.Blind || op.Target == nil {
			t.Errorf("commit %d of restore %s: operation %s, isBlindAppend %v; want a non-blind RESTORE", v, op.Op, e.Operation, e.Blind)
			break
		}
		target := *op.Target
		if target >= r {
			t.Fatalf("commit %d of restore %s: target %d is not before the read version %d", v, op.Op, target, r)
		}
		wantRemoves, wantAdds := map[string]bool{}, map[string]bool{}
		for k := range h.files[r] {
			if _, ok := h.files[target][k]; !ok {
				wantRemoves[k] = true
			}
		}
		for k := range h.files[target] {
			if _, ok := h.files[r][k]; !ok {
				wantAdds[k] = true
			}
		}
		if got := refKeys(e.Removes); !equalSets(got, wantRemoves) {
			t.Errorf("commit %d of restore %s to %d read at %d removes %v, want %v", v, op.Op, target, r, sortedKeys(got), sortedKeys(wantRemoves))
		}
		if got := refKeys(e.Adds); !equalSets(got, wantAdds) {
			t.Errorf("commit %d of restore %s to %d read at %d adds %v, want %v", v, op.Op, target, r, sortedKeys(got), sortedKeys(wantAdds))
		}
		for id := range h.rows[r] {
			if _, keep := h.rows[target][id]; keep {
				continue
			}
			if _, ok := rows[id]; !ok {
				t.Errorf("commit %d of restore %s: row %d to remove is not live at %d", v, op.Op, id, v-1)
			}
			delete(rows, id)
		}
		for id, x := range h.rows[target] {
			if _, had := h.rows[r][id]; had {
				continue
			}
			if _, ok := rows[id]; ok {
				t.Errorf("commit %d of restore %s: row %d to restore is already live at %d", v, op.Op, id, v-1)
			}
			rows[id] = x
		}
	default:
		t.Fatalf("commit %d: operation %s has kind %q", v, op.Op, op.Kind)
	}
	h.rows = append(h.rows, rows)
}

// verifyVersion loads version v with the kernel and checks its live files against the replay;
// with scan, it also reads every row and compares with the expected content.
func (h *history) verifyVersion(ctx context.Context, t *testing.T, v int64, scan bool) {
	t.Helper()
	snap, err := h.tbl.Snapshot(ctx, v)
	if err != nil {
		t.Errorf("version %d does not load: %v", v, err)
		return
	}
	if snap.Version() != v {
		t.Errorf("snapshot of version %d says version %d", v, snap.Version())
	}
	got := map[string]bool{}
	for _, f := range snap.Files() {
		k, err := delta.FileKeyForPath(h.tbl.Location(), f.Path)
		if err != nil {
			t.Errorf("version %d: %v", v, err)
			continue
		}
		got[k] = true
	}
	want := map[string]bool{}
	for k := range h.files[v] {
		want[k] = true
	}
	if !equalSets(got, want) {
		t.Errorf("version %d: the kernel's snapshot has files %v, the log's commits say %v", v, sortedKeys(got), sortedKeys(want))
	}
	if !scan || h.verifiedScan[v] {
		return
	}
	rows, err := scanRows(ctx, h.tbl, snap)
	if err != nil {
		t.Errorf("scan of version %d: %v", v, err)
		return
	}
	if diff := diffRows(rows, h.rows[v]); diff != "" {
		t.Errorf("version %d (commit of %s): scanned content differs from the operations replayed in log order: %s", v, h.commits[v].Op, diff)
		return
	}
	h.verifiedScan[v] = true
}

// checkFilesExist stats every file the latest snapshot references.
func (h *history) checkFilesExist(ctx context.Context, t *testing.T) {
	t.Helper()
	snap, err := h.tbl.Snapshot(ctx, -1)
	if err != nil {
		t.Errorf("latest snapshot does not load: %v", err)
		return
	}
	if snap.Version() != h.latest() {
		t.Errorf("latest snapshot is version %d, the log ends at %d", snap.Version(), h.latest())
	}
	for _, f := range snap.Files() {
		k, err := delta.FileKeyForPath(h.tbl.Location(), f.Path)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		info, err := h.tbl.Store().Stat(ctx, k)
		if err != nil {
			t.Errorf("version %d references %s: %v", snap.Version(), k, err)
		} else if info.Size != f.Size {
			t.Errorf("version %d references %s of %d bytes; the file has %d", snap.Version(), k, f.Size, info.Size)
		}
	}
}

// diffRows describes how got differs from want ("" when equal).
func diffRows(got []row, want map[int64]row) string {
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
			extra = append(extra, fmt.Sprintf("%d (p=%s by %s)", x.ID, x.P, x.Op))
		case w != x:
			changed = append(changed, fmt.Sprintf("%+v want %+v", x, w))
		}
	}
	for id, w := range want {
		if !seen[id] {
			missing = append(missing, fmt.Sprintf("%d (p=%s by %s)", id, w.P, w.Op))
		}
	}
	if len(missing)+len(extra)+len(changed) == 0 {
		return ""
	}
	sort.Strings(missing)
	sort.Strings(extra)
	return fmt.Sprintf("%d rows scanned, %d expected; missing %s; unexpected %s; changed %s",
		len(got), len(want), clip(missing), clip(extra), clip(changed))
}

func clip(s []string) string {
	if len(s) > 8 {
		return fmt.Sprintf("[%s ... %d more]", strings.Join(s[:8], ", "), len(s)-8)
	}
	return "[" + strings.Join(s, ", ") + "]"
}

func copyMap[K comparable, V any](m map[K]V) map[K]V {
	out := make(map[K]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func refKeys(refs []fileRef) map[string]bool {
	out := map[string]bool{}
	for _, r := range refs {
		out[r.Key] = true
	}
	return out
}

func equalSets(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
