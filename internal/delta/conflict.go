package delta

import "fmt"

// checkConflicts decides whether a commit that won the race for a version invalidates this
// transaction, following the rules of Delta's ConflictChecker at the WriteSerializable isolation
// level (Spark's default), which delta-rs applies too:
//
//   - any protocol change conflicts (ProtocolChanged);
//   - any metadata change conflicts (MetadataChanged);
//   - files added by a winning commit that is not a blind append, and that match what this
//     transaction read (a read predicate, or anything when it read the whole table), conflict
//     (ConcurrentAppend); blind appends never conflict with readers at this level, so concurrent
//     blind appends always both land;
//   - a winning remove (whatever its dataChange flag) of a file this transaction read, or of
//     anything when it read the whole table, conflicts (ConcurrentDeleteRead);
//   - a winning remove of a file this transaction also removes conflicts (ConcurrentDeleteDelete);
//   - the same txn appId in both conflicts (ConcurrentTransaction);
//   - the same metadata domain in both conflicts (ConcurrentDomainMetadata).
//
// It is a pure function of the transaction and the winning actions.
func (tx *Transaction) checkConflicts(winningVersion int64, winning []Action) error {
	conflict := func(kind, detail string) error {
		return &ConflictError{Kind: kind, ReadVersion: tx.read.version, WinningVersion: winningVersion, Detail: detail}
	}
	winnerBlind := false
	if ci := commitInfoOf(winning); ci != nil {
		winnerBlind, _ = ci["isBlindAppend"].(bool)
	}
	ourRemoves := map[string]bool{}
	for _, r := range tx.removes {
		ourRemoves[fileKey(r.Path, r.DeletionVector)] = true
	}
	ourApps := map[string]bool{}
	for _, t := range tx.txns {
		ourApps[t.AppID] = true
	}
	ourDomains := map[string]bool{}
	for _, d := range tx.domains {
		ourDomains[d.Domain] = true
	}
	schema := tx.read.schema
	partCols := tx.read.metadata.PartitionColumns
	mode := tx.read.ColumnMappingMode()
	for _, a := range winning {
		switch {
		case a.Protocol != nil:
			return conflict("ProtocolChanged", "the protocol was changed by a concurrent commit")
		case a.Metadata != nil:
			return conflict("MetadataChanged", "the table metadata (schema, partitioning or properties) was changed by a concurrent commit")
		case a.Add != nil:
			if !a.Add.DataChange || winnerBlind {
				continue
			}
			if tx.readWholeTable {
				return conflict("ConcurrentAppend", "files were added to the table by a concurrent update: "+a.Add.Path)
			}
			for _, p := range tx.readPredicates {
				vals, err := TypedPartitionValues(schema, partCols, mode, a.Add.PartitionValues)
				if err != nil {
					return conflict("ConcurrentAppend", fmt.Sprintf("cannot evaluate read predicate on %s: %v", a.Add.Path, err))
				}
				if p.EvalPartition(vals) {
					return conflict("ConcurrentAppend", fmt.Sprintf("files were added to partition [%s] by a concurrent update: %s", p, a.Add.Path))
				}
			}
		case a.Remove != nil:
			// Every remove counts, dataChange=false included: a compaction that removed a file
			// this transaction read or rewrites invalidates it (its rows live on in the
			// compacted file), as in Spark's conflict checker.
			path := fileKey(a.Remove.Path, nil)
			if ourRemoves[fileKey(a.Remove.Path, a.Remove.DeletionVector)] {
				return conflict("ConcurrentDeleteDelete", "this transaction deletes a file that a concurrent commit deleted: "+a.Remove.Path)
			}
			if tx.readWholeTable || tx.readFiles[path] {
				return conflict("ConcurrentDeleteRead", "this transaction read a file that a concurrent commit deleted: "+a.Remove.Path)
			}
		case a.Txn != nil:
			if ourApps[a.Txn.AppID] {
				return conflict("ConcurrentTransaction", fmt.Sprintf("a concurrent commit wrote for the same application id %s (version %d)", a.Txn.AppID, a.Txn.Version))
			}
		case a.DomainMetadata != nil:
			if ourDomains[a.DomainMetadata.Domain] {
				return conflict("ConcurrentDomainMetadata", "a concurrent commit changed metadata domain "+a.DomainMetadata.Domain)
			}
		}
	}
	return nil
}
