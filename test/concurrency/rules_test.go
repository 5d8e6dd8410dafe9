package concurrency

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
)

// readSet is what an operation read and what it deletes, in the terms of Delta's WriteSerializable
// conflict rules (the doc comment of internal/delta/conflict.go).
type readSet struct {
	wholeTable bool
	partition  string          // the read predicate p = partition; "" for none
	readFiles  map[string]bool // files read (whose removal by another commit invalidates the read)
	removes    map[string]bool // files this operation removes
}

// readSetOf derives an operation's read set from the replayed log, given the version it read.
// Blind appends read nothing.
func (h *history) readSetOf(op *opRecord, read int64) readSet {
	rs := readSet{readFiles: map[string]bool{}, removes: map[string]bool{}}
	switch op.Kind {
	case kindOverwrite:
		// Overwrite with replaceWhere reads the partition and removes every file it read there.
		rs.partition = op.Partition
		for k, f := range h.files[read] {
			if f.P == op.Partition {
				rs.readFiles[k], rs.removes[k] = true, true
			}
		}
	case kindRestore:
		rs.wholeTable = true
		for k := range h.files[read] {
			if _, keep := h.files[*op.Target][k]; !keep {
				rs.removes[k] = true
			}
		}
	}
	return rs
}

// conflictKinds lists the rules under which commit c, landing after this operation's read,
// invalidates it. The checker's own statement of the rules:
//   - a protocol or metadata change conflicts;
//   - a data-changing add of a commit that is not a blind append conflicts with a whole-table read,
//     or with a predicate read when the file lies in the predicate's partition (ConcurrentAppend);
//   - a data-changing remove of a file this operation also removes conflicts (ConcurrentDeleteDelete);
//   - a data-changing remove of a file this operation read, or of any file after a whole-table
//     read, conflicts (ConcurrentDeleteRead).
func conflictKinds(rs readSet, c *commitEntry) []string {
	kinds := map[string]bool{}
	if c.Protocol {
		kinds["ProtocolChanged"] = true
	}
	if c.Metadata {
		kinds["MetadataChanged"] = true
	}
	if !c.Blind {
		for _, a := range c.Adds {
			if a.DataChange && (rs.wholeTable || (rs.partition != "" && a.P == rs.partition)) {
				kinds["ConcurrentAppend"] = true
			}
		}
	}
	for _, r := range c.Removes {
		if !r.DataChange {
			continue
		}
		if rs.removes[r.Key] {
			kinds["ConcurrentDeleteDelete"] = true
		}
		if rs.wholeTable || rs.readFiles[r.Key] {
			kinds["ConcurrentDeleteRead"] = true
		}
	}
	out := make([]string, 0, len(kinds))
	for k := range kinds {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// outcomeStats are the figures a test reports.
type outcomeStats struct {
	committed map[string]int // by kind
	conflicts map[string]int // by conflict kind
	errors    int
	inFlight  int // killed before recording an outcome
	landed    int // of those, operations whose commit is in the log
	retried   int // commits that took more than one put-if-absent attempt
}

func (s outcomeStats) String() string {
	return fmt.Sprintf("committed %s, conflicts %s, errors %d, killed in flight %d (%d of them after their commit landed)",
		fmtCounts(s.committed), fmtCounts(s.conflicts), s.errors, s.inFlight, s.landed)
}

func fmtCounts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	total := 0
	for k, n := range m {
		keys = append(keys, fmt.Sprintf("%s=%d", k, n))
		total += n
	}
	sort.Strings(keys)
	return fmt.Sprintf("%d (%s)", total, strings.Join(keys, " "))
}

// checkOutcomes matches the workers' records with the log: an operation reported committed is in
// the log exactly at the version it was told, a skipped (idempotent) one is in the log at or
// before the version it saw, a conflicted one is not in the log at all. An operation that failed
// otherwise may be in the log only if its failure was an ambiguous (transient) one; one with no
// outcome (its worker was killed) may or may not be. With allowErrors false, any error fails.
func (h *history) checkOutcomes(t *testing.T, ops map[string]*opRecord, allowErrors bool) outcomeStats {
	t.Helper()
	st := outcomeStats{committed: map[string]int{}, conflicts: map[string]int{}}
	ids := make([]string, 0, len(ops))
	for id := range ops {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		op := ops[id]
		at, inLog := h.opAt[id]
		switch op.Outcome {
		case outcomeCommitted:
			st.committed[op.Kind]++
			if op.Attempts > 1 {
				st.retried++
			}
			switch {
			case op.Version == nil:
				t.Errorf("op %s: committed without a version", id)
			case !inLog && *op.Version <= h.latest():
				t.Errorf("op %s reported committing version %d, but it is not in the log (version %d is %s's)", id, *op.Version, *op.Version, h.commits[*op.Version].Op)
			case !inLog:
				t.Errorf("op %s reported committing version %d, but the log ends at %d", id, *op.Version, h.latest())
			case at != *op.Version:
				t.Errorf("op %s reported committing version %d, but the log has it at %d", id, *op.Version, at)
			}
		case outcomeSkipped:
			st.committed[op.Kind+"(skipped retry)"]++
			if !inLog {
				t.Errorf("op %s was skipped as already committed, but it is not in the log", id)
			} else if op.Version != nil && at > *op.Version {
				t.Errorf("op %s was skipped at version %d, but it committed later, at %d", id, *op.Version, at)
			}
		case outcomeConflict:
			st.conflicts[op.Kind+":"+op.ConflictKind]++
			if inLog {
				t.Errorf("op %s reported a conflict (%s) but is in the log at version %d", id, op.ConflictKind, at)
			}
		case outcomeError:
			st.errors++
			if !allowErrors {
				t.Errorf("op %s (%s) failed: %s", id, op.Kind, op.Error)
			} else if inLog && !op.Transient {
				t.Errorf("op %s failed with a non-transient error but is in the log at version %d: %s", id, at, op.Error)
			}
		case "":
			st.inFlight++
			if inLog {
				st.landed++
			}
		default:
			t.Errorf("op %s: unknown outcome %q", id, op.Outcome)
		}
	}
	return st
}

// checkConflicts checks every operation against the rules: a committed overwrite or restore has no
// conflicting commit between its read version and its own (no lost update), and a reported
// conflict names the first commit after the read version that conflicts under the rules, with a
// kind the rules give for it.
func (h *history) checkConflicts(t *testing.T, ops map[string]*opRecord) {
	t.Helper()
	for id, op := range ops {
		if op.Kind != kindOverwrite && op.Kind != kindRestore {
			continue
		}
		switch op.Outcome {
		case outcomeCommitted:
			v, ok := h.opAt[id]
			if !ok {
				continue // reported by checkOutcomes
			}
			r := h.commits[v].ReadVersion
			rs := h.readSetOf(op, r)
			for u := r + 1; u < v; u++ {
				if kinds := conflictKinds(rs, h.commits[u]); len(kinds) > 0 {
					t.Errorf("op %s (%s) read version %d and committed %d, but commit %d (%s) conflicts with it (%s): a lost update",
						id, op.Kind, r, v, u, h.commits[u].Op, strings.Join(kinds, ", "))
				}
			}
		case outcomeConflict:
			if op.ReadVersion == nil || op.WinningVersion == nil {
				t.Errorf("op %s: conflict without read or winning version", id)
				continue
			}
			r, w := *op.ReadVersion, *op.WinningVersion
			if r < 0 || w <= r || w > h.latest() {
				t.Errorf("op %s: conflict with read version %d and winning version %d, outside the log 0..%d", id, r, w, h.latest())
				continue
			}
			rs := h.readSetOf(op, r)
			for u := r + 1; u < w; u++ {
				if kinds := conflictKinds(rs, h.commits[u]); len(kinds) > 0 {
					t.Errorf("op %s reported conflicting commit %d, but the earlier commit %d (%s) already conflicts (%s)",
						id, w, u, h.commits[u].Op, strings.Join(kinds, ", "))
				}
			}
			kinds := conflictKinds(rs, h.commits[w])
			if !slices.Contains(kinds, op.ConflictKind) {
				t.Errorf("op %s (%s, read version %d) reported %s with commit %d (%s), but under the rules that commit conflicts with it as %v",
					id, op.Kind, r, op.ConflictKind, w, h.commits[w].Op, kinds)
			}
		}
	}
}
