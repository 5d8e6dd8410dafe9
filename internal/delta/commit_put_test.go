package delta_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/parquetio"
	"github.com/stratalake/strata/internal/storage"
)

// TestCommitTransientPut is the regression test of a bug the reliability harness found (issue 7,
// storage section): a commit whose put-if-absent failed transiently was reported failed at once,
// even when the put had landed (an ambiguous write: the response was lost), so Table.Write broke
// its promise that an error leaves the table as it was, and a caller retrying the write appended
// its rows twice. Commit now retries the put and, finding an object there, reads it back to tell
// its own commit from a competitor's.
func TestCommitTransientPut(t *testing.T) {
	commitRule := func(kind storage.FaultKind, maxFires int) storage.FaultRule {
		return storage.FaultRule{Ops: []storage.Op{storage.OpPutIfAbsent}, Key: "_delta_log/*.json", MaxFires: maxFires, Kind: kind}
	}
	cases := []struct {
		name  string
		rules []storage.FaultRule
		// wantVersion is the version the commit reports, or -1 for an error.
		wantVersion int64
		// wantErr is a substring of the error when wantVersion is -1.
		wantErr string
		// wantCommits is the number of versions after the table's creation found in the log.
		wantCommits int
	}{
		{"transient once: retried", []storage.FaultRule{commitRule(storage.FaultTransient, 1)}, 1, "", 1},
		{"timeout twice: retried", []storage.FaultRule{commitRule(storage.FaultTimeout, 2)}, 1, "", 1},
		{"ambiguous once: landed, found out", []storage.FaultRule{commitRule(storage.FaultAmbiguousWrite, 1)}, 1, "", 1},
		{"race lost then ambiguous: rebased, found out", []storage.FaultRule{
			{Ops: []storage.Op{storage.OpPutIfAbsent}, Key: "_delta_log/*.json", MaxFires: 1, Kind: storage.FaultLoseRace,
				Competitor: []byte(`{"commitInfo":{"operation":"WRITE","engineInfo":"competitor"}}` + "\n")},
			commitRule(storage.FaultAmbiguousWrite, 1),
		}, 2, "", 1},
		{"transient, then the race lost on the retry: rebased", []storage.FaultRule{
			commitRule(storage.FaultTransient, 1),
			{Ops: []storage.Op{storage.OpPutIfAbsent}, Key: "_delta_log/*.json", MaxFires: 1, Kind: storage.FaultLoseRace,
				Competitor: []byte(`{"commitInfo":{"operation":"WRITE","engineInfo":"competitor"}}` + "\n")},
		}, 2, "", 1},
		{"transient always: clean failure", []storage.FaultRule{commitRule(storage.FaultTransient, 0)}, -1, "outcome unknown", 0},
		{"ambiguous always: landed once, outcome unknown", []storage.FaultRule{commitRule(storage.FaultAmbiguousWrite, 0)}, -1, "outcome unknown", 1},
		{"no space: not retried", []storage.FaultRule{commitRule(storage.FaultNoSpace, 0)}, -1, "no space", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			store, err := storage.NewLocal(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			buildLog(t, store, 1)
			faulty := storage.NewFaulty(store, 1)
			tbl := delta.NewTable(faulty, parquetio.Codec{})
			snap, err := tbl.Snapshot(ctx, -1)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range tc.rules {
				faulty.Inject(r)
			}
			tx := tbl.NewTransaction(snap, delta.Operation{Name: "WRITE"})
			tx.AddFiles(&delta.Add{Path: "p=1/new.parquet", PartitionValues: delta.PartitionValues{"p": "1"}, Size: 1,
				ModificationTime: time.Now().UnixMilli(), DataChange: true})
			tx.SetUserMetadata("mine")
			res, err := tx.Commit(ctx)
			faulty.Clear()
			switch {
			case tc.wantVersion < 0 && err == nil:
				t.Fatalf("commit succeeded at version %d, want an error containing %q", res.Version, tc.wantErr)
			case tc.wantVersion < 0 && !strings.Contains(err.Error(), tc.wantErr):
				t.Fatalf("error %q does not contain %q", err, tc.wantErr)
			case tc.wantVersion < 0 && !errors.Is(err, storage.ErrInjected):
				t.Fatalf("error %q does not wrap the injected cause", err)
			case tc.wantVersion >= 0 && err != nil:
				t.Fatalf("commit failed: %v", err)
			}
			// The log: how many commits carry our userMetadata, and where.
			latest, err := delta.NewTable(store, parquetio.Codec{}).Snapshot(ctx, -1)
			if err != nil {
				t.Fatal(err)
			}
			mine := 0
			for v := int64(1); v <= latest.Version(); v++ {
				actions, err := tbl.ReadCommit(ctx, v)
				if err != nil {
					t.Fatal(err)
				}
				for _, a := range actions {
					if a.CommitInfo != nil && a.CommitInfo["userMetadata"] == "mine" {
						mine++
						if tc.wantVersion >= 0 && res.Version != v {
							t.Errorf("commit reported at version %d, found at version %d", res.Version, v)
						}
					}
				}
			}
			if mine != tc.wantCommits {
				t.Errorf("the log holds the commit %d times, want %d", mine, tc.wantCommits)
			}
		})
	}
}
