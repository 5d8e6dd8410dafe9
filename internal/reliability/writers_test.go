package reliability

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/table"
)

func v64(v int64) *int64 { return &v }

// wHistory is a small run: the table's creation, the setup append (file A: rows 1 and 2 in
// p=0), an append by w0 (file B: row 1000000 in p=1), and an UPDATE by w1 (SET v = v + 1 WHERE
// id % 2 = 0) that read version 2 and rewrote both files as C and D. Its content at version 3 is
// wHistoryRows.
func wHistory() ([]*wOp, []*wCommit) {
	add := func(k, p string) wFile { return wFile{Key: k, P: p, DataChange: true} }
	ops := []*wOp{
		{Op: "setup", Worker: "parent", Kind: wAppend, Rows: []wRow{{1, "0", 0}, {2, "0", 0}}, Outcome: wCommitted, Version: v64(1)},
		{Op: "w0-000", Worker: "w0", Kind: wAppend, Rows: []wRow{{1000000, "1", 0}}, Outcome: wCommitted, Version: v64(2)},
		{Op: "w1-000", Worker: "w1", Kind: wUpdate, Mod: 2, Rem: 0, Outcome: wCommitted, Version: v64(3)},
	}
	commits := []*wCommit{
		{Version: 0, Operation: "CREATE TABLE", ReadVersion: -1, Protocol: true, Metadata: true},
		{Version: 1, Operation: "WRITE", UserMeta: "setup", ReadVersion: 0, Blind: true, Adds: []wFile{add("p=0/A", "0")}},
		{Version: 2, Operation: "WRITE", UserMeta: "w0-000", ReadVersion: 1, Blind: true, Adds: []wFile{add("p=1/B", "1")}},
		{Version: 3, Operation: "UPDATE", ReadVersion: 2, Removes: []wFile{add("p=0/A", "0"), add("p=1/B", "1")},
			Adds: []wFile{add("p=0/C", "0"), add("p=1/D", "1")}},
	}
	return ops, commits
}

var wHistoryRows = []wRow{{1, "0", 0}, {2, "0", 1}, {1000000, "1", 1}}

// TestWritersCheckFindsBrokenHistories feeds the checker histories with one broken promise each
// and checks that it reports it (and that the intact history passes).
func TestWritersCheckFindsBrokenHistories(t *testing.T) {
	add := func(k, p string) wFile { return wFile{Key: k, P: p, DataChange: true} }
	tests := []struct {
		name   string
		break_ func(ops []*wOp, commits []*wCommit) ([]*wOp, []*wCommit)
		rows   []wRow // content read at the last version (default wHistoryRows)
		want   []string
	}{
		{name: "intact history"},
		{name: "lost update: a second UPDATE of the same rows commits over the first",
			break_: func(ops []*wOp, commits []*wCommit) ([]*wOp, []*wCommit) {
				ops = append(ops, &wOp{Op: "w2-000", Worker: "w2", Kind: wUpdate, Mod: 2, Rem: 0, Outcome: wCommitted, Version: v64(4)})
				commits = append(commits, &wCommit{Version: 4, Operation: "UPDATE", ReadVersion: 2,
					Removes: []wFile{add("p=0/A", "0"), add("p=1/B", "1")}, Adds: []wFile{add("p=0/E", "0"), add("p=1/F", "1")}})
				return ops, commits
			},
			want: []string{"removes p=0/A, which is not live", "a lost update", "content differs", "2: v=1 p=0, want v=2"}},
		{name: "duplicated file: an append re-adds a live file",
			break_: func(ops []*wOp, commits []*wCommit) ([]*wOp, []*wCommit) {
				ops = append(ops, &wOp{Op: "w0-001", Worker: "w0", Kind: wAppend, Rows: []wRow{{1000100, "0", 0}}, Outcome: wCommitted, Version: v64(4)})
				commits = append(commits, &wCommit{Version: 4, Operation: "WRITE", UserMeta: "w0-001", ReadVersion: 3, Blind: true,
					Adds: []wFile{add("p=0/C", "0")}})
				return ops, commits
			},
			rows: append(append([]wRow{}, wHistoryRows...), wRow{1, "0", 0}, wRow{2, "0", 1}),
			want: []string{"already live at version 3 (a duplicated file)", "duplicate 1", "missing [1000100(p=0)]"}},
		{name: "acknowledged write missing from the log",
			break_: func(ops []*wOp, commits []*wCommit) ([]*wOp, []*wCommit) {
				return append(ops, &wOp{Op: "w3-000", Worker: "w3", Kind: wMerge, Outcome: wCommitted, Version: v64(3)}), commits
			},
			want: []string{"claimed by 2 SQL operations", "acknowledged at version 3, but it is not in the log"}},
		{name: "acknowledged past the end of the log",
			break_: func(ops []*wOp, commits []*wCommit) ([]*wOp, []*wCommit) {
				return append(ops, &wOp{Op: "w3-000", Worker: "w3", Kind: wAppend, Rows: []wRow{{4000000, "2", 0}}, Outcome: wCommitted, Version: v64(5)}), commits
			},
			want: []string{"the log ends at 3 (a lost write)"}},
		{name: "commit nobody made",
			break_: func(ops []*wOp, commits []*wCommit) ([]*wOp, []*wCommit) {
				return ops, append(commits, &wCommit{Version: 4, Operation: "DELETE", ReadVersion: 3, Removes: []wFile{add("p=0/C", "0")}})
			},
			want: []string{"commit 4 (DELETE) is claimed by 0 SQL operations"}},
		{name: "conflict with a blind append",
			break_: func(ops []*wOp, commits []*wCommit) ([]*wOp, []*wCommit) {
				return append(ops, &wOp{Op: "w2-000", Worker: "w2", Kind: wDelete, Mod: 3, Rem: 1, Outcome: wConflict,
					ConflictKind: "ConcurrentAppend", ReadVersion: v64(1), WinningVersion: v64(2)}), commits
			},
			want: []string{"reported ConcurrentAppend with commit 2 (WRITE), but under the rules that commit conflicts with it as []"}},
		{name: "conflict reported late: an earlier commit already conflicted",
			break_: func(ops []*wOp, commits []*wCommit) ([]*wOp, []*wCommit) {
				return append(ops, &wOp{Op: "w2-000", Worker: "w2", Kind: wOverwrite, Partition: "0", Outcome: wConflict,
						ConflictKind: "ConcurrentDeleteRead", ReadVersion: v64(1), WinningVersion: v64(4)}),
					append(commits, &wCommit{Version: 4, Operation: "OPTIMIZE", ReadVersion: 3})
			},
			want: []string{"claimed by 0 SQL operations", "the earlier commit 3 (UPDATE) already conflicts (ConcurrentAppend, ConcurrentDeleteDelete, ConcurrentDeleteRead)"}},
		{name: "streaming batch landed twice",
			break_: func(ops []*wOp, commits []*wCommit) ([]*wOp, []*wCommit) {
				for i, v := range []int64{4, 5} {
					op := &wOp{Op: fmt.Sprintf("w%d-009", i), Worker: fmt.Sprintf("w%d", i), Kind: wStream, AppID: "s", AppVersion: 0,
						Rows: wStreamRows(0, 0), Outcome: wCommitted, Version: v64(v)}
					ops = append(ops, op)
					commits = append(commits, &wCommit{Version: v, Operation: "WRITE", UserMeta: op.Op, ReadVersion: 3, Blind: true,
						Adds: []wFile{add(fmt.Sprintf("p=x/S%d", i), "0")}, Txns: []delta.Txn{{AppID: "s", Version: 0}}})
				}
				return ops, commits
			},
			rows: append(append(append([]wRow{}, wHistoryRows...), wStreamRows(0, 0)...), wStreamRows(0, 0)...),
			want: []string{"inserts row 50000000, which is already in the table", "batch versions in log order are [0 0]", "a lost update"}},
		{name: "skipped batch that never landed",
			break_: func(ops []*wOp, commits []*wCommit) ([]*wOp, []*wCommit) {
				return append(ops, &wOp{Op: "w0-009", Worker: "w0", Kind: wStream, AppID: "s", AppVersion: 0, Outcome: wSkipped, Version: v64(3)}), commits
			},
			want: []string{"was skipped as already written at version 3, but no commit up to it carries that batch"}},
		{name: "DELETE reported nothing to delete although a row matched",
			break_: func(ops []*wOp, commits []*wCommit) ([]*wOp, []*wCommit) {
				return append(ops, &wOp{Op: "w2-000", Worker: "w2", Kind: wDelete, Mod: 2, Rem: 1, Outcome: wUnchanged, Version: v64(2)}), commits
			},
			want: []string{"changed nothing at version 2, but row 1 matches"}},
		{name: "row missing from the table",
			rows: wHistoryRows[1:],
			want: []string{"missing [1(p=0)]"}},
		{name: "unclean error",
			break_: func(ops []*wOp, commits []*wCommit) ([]*wOp, []*wCommit) {
				return append(ops, &wOp{Op: "w2-000", Worker: "w2", Kind: wMerge, Outcome: wError, Error: "boom"}), commits
			},
			want: []string{"failed with an unclean error: boom"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ops, commits := wHistory()
			if tt.break_ != nil {
				ops, commits = tt.break_(ops, commits)
			}
			var got []string
			chk := newWritersCheck(ops, commits, func(format string, args ...any) { got = append(got, fmt.Sprintf(format, args...)) })
			rows := tt.rows
			if rows == nil {
				rows = wHistoryRows
			}
			chk.compareContent(chk.latest(), rows)
			all := strings.Join(got, "\n")
			if len(tt.want) == 0 && len(got) > 0 {
				t.Fatalf("anomalies in an intact history:\n%s", all)
			}
			for _, w := range tt.want {
				if !strings.Contains(all, w) {
					t.Errorf("no anomaly mentions %q; got:\n%s", w, all)
				}
			}
		})
	}
}

// TestWritersCheckTable runs the I/O half of the checker on a real table: an intact one passes,
// and a data file deleted behind the log's back is reported as a dangling reference.
func TestWritersCheckTable(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "table")
	tbl, err := table.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tbl.Create(ctx, delta.CreateOptions{Schema: wSchema(), PartitionColumns: []string{"p"}}); err != nil {
		t.Fatal(err)
	}
	var ops []*wOp
	for i, rows := range [][]wRow{{{1, "0", 0}, {2, "1", 0}}, {{1000000, "2", 0}}} {
		op := &wOp{Op: fmt.Sprintf("op%d", i), Worker: "test", Kind: wAppend, Rows: rows}
		res, err := tbl.Write(ctx, wRowSource{rows: rows}, table.WriteOptions{Mode: table.Append, UserMetadata: op.Op})
		wRecordOutcome(op, res, err)
		ops = append(ops, op)
	}
	check := func() []string {
		var got []string
		commits, err := readWriterLog(ctx, tbl)
		if err != nil {
			t.Fatal(err)
		}
		chk := newWritersCheck(ops, commits, func(format string, args ...any) { got = append(got, fmt.Sprintf(format, args...)) })
		if err := chk.checkLiveFiles(ctx, tbl, chk.latest(), true); err != nil {
			t.Fatal(err)
		}
		rows, err := scanWriterRows(ctx, tbl, chk.latest())
		if err != nil {
			got = append(got, err.Error())
		} else {
			chk.compareContent(chk.latest(), rows)
		}
		return got
	}
	if got := check(); len(got) > 0 {
		t.Fatalf("anomalies in an intact table: %q", got)
	}
	snap, err := tbl.Snapshot(ctx, -1)
	if err != nil {
		t.Fatal(err)
	}
	key, err := delta.FileKeyForPath(tbl.Location(), snap.Files()[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, filepath.FromSlash(key))); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(check(), "\n"); !strings.Contains(got, "(a dangling file reference)") {
		t.Errorf("a deleted data file was not reported; anomalies: %s", got)
	}
}

// TestWritersConflictKinds pins the checker's statement of the WriteSerializable rules, so that
// the section cannot pass by a rule the checker gets wrong.
func TestWritersConflictKinds(t *testing.T) {
	add := func(k, p string) wFile { return wFile{Key: k, P: p, DataChange: true} }
	set := func(keys ...string) map[string]bool {
		m := map[string]bool{}
		for _, k := range keys {
			m[k] = true
		}
		return m
	}
	overwrite1 := wReadSet{partition: "1", readFiles: set("p=1/a"), removes: set("p=1/a")}
	update := wReadSet{anyAdd: true, readFiles: set("p=0/x", "p=1/a"), removes: set("p=1/a")}
	stream := wReadSet{appID: "s", readFiles: set(), removes: set()}
	tests := []struct {
		name   string
		rs     wReadSet
		winner wCommit
		want   string
	}{
		{"blind append into the overwritten partition", overwrite1, wCommit{Blind: true, Adds: []wFile{add("p=1/b", "1")}}, ""},
		{"non-blind add into the overwritten partition", overwrite1, wCommit{Adds: []wFile{add("p=1/b", "1")}}, "ConcurrentAppend"},
		{"non-blind add into another partition", overwrite1, wCommit{Adds: []wFile{add("p=2/b", "2")}}, ""},
		{"compaction of a file read", overwrite1, wCommit{Removes: []wFile{{Key: "p=1/a", P: "1"}}, Adds: []wFile{{Key: "p=1/c", P: "1"}}},
			"ConcurrentDeleteDelete ConcurrentDeleteRead"},
		{"whole-table update vs non-blind add anywhere", update, wCommit{Adds: []wFile{add("p=2/b", "2")}}, "ConcurrentAppend"},
		{"update vs remove of a file it only read", update, wCommit{Removes: []wFile{add("p=0/x", "0")}}, "ConcurrentDeleteRead"},
		{"update vs remove of a file it did not read", update, wCommit{Removes: []wFile{add("p=2/y", "2")}}, ""},
		{"update vs blind append", update, wCommit{Blind: true, Adds: []wFile{add("p=2/b", "2")}}, ""},
		{"stream vs the same appId", stream, wCommit{Blind: true, Txns: []delta.Txn{{AppID: "s", Version: 3}}}, "ConcurrentTransaction"},
		{"stream vs another appId", stream, wCommit{Blind: true, Txns: []delta.Txn{{AppID: "t", Version: 3}}}, ""},
		{"metadata change", stream, wCommit{Metadata: true}, "MetadataChanged"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := strings.Join(wConflictKinds(tt.rs, &tt.winner), " "); got != tt.want {
				t.Errorf("wConflictKinds = %q, want %q", got, tt.want)
			}
		})
	}
}
