package delta

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/stratalake/strata/internal/storage"
)

// Snapshot is the state of a table at one version, reconstructed by log replay: protocol, metadata,
// the live logical files, tombstones, application transactions and metadata domains.
//
// A Snapshot is immutable after loading and safe for concurrent use. Files() is sorted by path.
type Snapshot struct {
	table    *Table
	version  int64
	protocol *Protocol
	metadata *Metadata
	schema   *StructType

	files      []*Add          // live logical files, sorted by path
	tombstones []*Remove       // unexpired and expired removes, sorted by path
	txns       map[string]*Txn // latest txn per appId
	domains    map[string]*DomainMetadata
	commitInfo CommitInfo // of the commit at version, when its JSON file is still there

	// segment is the log segment this snapshot was built from; kept for timestamps and conflicts.
	segment *logSegment
}

// Version is the snapshot's table version.
func (s *Snapshot) Version() int64 { return s.version }

// Protocol is the table protocol at this version.
func (s *Snapshot) Protocol() *Protocol { return s.protocol }

// Metadata is the table metadata at this version.
func (s *Snapshot) Metadata() *Metadata { return s.metadata }

// Schema is the parsed table schema (logical names).
func (s *Snapshot) Schema() *StructType { return s.schema }

// Files returns the live logical files, sorted by path. The slice must not be modified.
func (s *Snapshot) Files() []*Add { return s.files }

// Tombstones returns the remove actions still in the state (for VACUUM), sorted by path.
func (s *Snapshot) Tombstones() []*Remove { return s.tombstones }

// Table returns the table the snapshot belongs to.
func (s *Snapshot) Table() *Table { return s.table }

// CommitInfo is the commitInfo of the commit at this version, or nil.
func (s *Snapshot) CommitInfo() CommitInfo { return s.commitInfo }

// TxnVersion returns the latest version recorded by application appID, and whether there is one.
// A writer uses it to make a write idempotent: "has version N of app X landed?"
func (s *Snapshot) TxnVersion(appID string) (int64, bool) {
	t, ok := s.txns[appID]
	if !ok {
		return 0, false
	}
	return t.Version, true
}

// Txns returns the latest txn action per appId.
func (s *Snapshot) Txns() map[string]*Txn { return s.txns }

// Domains returns the live (not removed) metadata domains.
func (s *Snapshot) Domains() map[string]*DomainMetadata { return s.domains }

// PartitionColumns returns the logical names of the partition columns.
func (s *Snapshot) PartitionColumns() []string { return s.metadata.PartitionColumns }

// ColumnMappingMode returns "none", "name" or "id".
func (s *Snapshot) ColumnMappingMode() string { return ColumnMappingMode(s.protocol, s.metadata) }

// NumRecords sums numRecords over the live files minus their deletion vectors' cardinality; ok is
// false if some file has no statistics or no numRecords in them.
func (s *Snapshot) NumRecords() (n int64, ok bool) {
	ok = true
	for _, f := range s.files {
		rows, err := StatsNumRecords(f.Stats)
		if err != nil || rows < 0 {
			ok = false
			continue
		}
		n += rows
		if f.DeletionVector != nil {
			n -= f.DeletionVector.Cardinality
		}
	}
	return n, ok
}

// SizeInBytes sums the sizes of the live files.
func (s *Snapshot) SizeInBytes() int64 {
	var n int64
	for _, f := range s.files {
		n += f.Size
	}
	return n
}

// Timestamp returns the commit timestamp of the snapshot's version: its in-commit timestamp when
// the table has them, else the commit file's modification time.
func (s *Snapshot) Timestamp(ctx context.Context) (time.Time, error) {
	if ts, ok := inCommitTimestamp(s.commitInfo); ok {
		return ts, nil
	}
	for _, c := range s.segment.commits {
		if c.version == s.version {
			return c.info.ModTime, nil
		}
	}
	info, err := s.table.store.Stat(ctx, CommitKey(s.version))
	if err != nil {
		return time.Time{}, fmt.Errorf("delta: timestamp of version %d: %w", s.version, err)
	}
	return info.ModTime, nil
}

// Snapshot loads the table at version (or the latest version when version < 0).
//
// A damaged checkpoint falls back to an older one, or to replay from version 0, when the commits
// after it are all present; that holds for the checkpoint _last_checkpoint names too (the log is
// then listed again in full).
func (t *Table) Snapshot(ctx context.Context, version int64) (*Snapshot, error) {
	files, partial, err := t.listLog(ctx, version)
	if err != nil {
		return nil, err
	}
	snap, err := t.snapshotFromListing(ctx, files, version, nil)
	if err == nil || !partial || ctx.Err() != nil || errors.Is(err, ErrUnsupportedFeature) {
		return snap, err
	}
	all, lerr := t.listLogFrom(ctx, "")
	if lerr != nil {
		return nil, err
	}
	return t.snapshotFromListing(ctx, all, version, nil)
}

// snapshotFromListing builds the snapshot at version (latest when < 0) from a listing of the log,
// reading log files through cache (nil: no cache).
func (t *Table) snapshotFromListing(ctx context.Context, files []logFile, version int64, cache *logCache) (*Snapshot, error) {
	segs, err := buildSegments(files, version)
	if err != nil {
		return nil, fmt.Errorf("delta: table %s: %w", t.Location(), err)
	}
	var firstErr error
	for _, seg := range segs {
		snap, err := t.replay(ctx, seg, cache)
		if err == nil {
			return snap, nil
		}
		if ctx.Err() != nil || errors.Is(err, ErrUnsupportedFeature) {
			return nil, err
		}
		if firstErr == nil {
			firstErr = err
		}
		// A damaged checkpoint: fall back to an older one (or to replay from version 0), which
		// yields the same state when the commits after it are all present.
	}
	return nil, firstErr
}

// listLog lists the log files needed for version (latest when < 0). It starts from the checkpoint
// named by _last_checkpoint when that can serve the version (partial is then true), and lists
// everything otherwise.
func (t *Table) listLog(ctx context.Context, version int64) (files []logFile, partial bool, err error) {
	hint, _ := t.readLastCheckpoint(ctx) // a missing or corrupt hint only costs a longer listing
	start := ""
	if hint != nil && (version < 0 || version >= hint.Version) {
		start = versionPrefixKey(hint.Version)
	}
	files, err = t.listLogFrom(ctx, start)
	if err != nil {
		return nil, false, err
	}
	if start != "" && !hasCheckpointAt(files, hint.Version) {
		// The hint points at a checkpoint that is not there (or was cleaned up): list it all.
		start = ""
		files, err = t.listLogFrom(ctx, "")
		if err != nil {
			return nil, false, err
		}
	}
	if len(files) == 0 {
		return nil, false, fmt.Errorf("delta: %s: %w: no _delta_log", t.Location(), ErrNotATable)
	}
	return files, start != "", nil
}

// listLogFrom lists the log's files, all of them when startAfter is "", else those after it
// (versionPrefixKey(v) lists versions v and later).
//
// A listing is not a snapshot of the directory: a local directory read while commits land (and a
// paginated object-store listing) can return commit v+1 without commit v, although v+1 can only
// have been written after v. So every commit missing between the first and the last one listed is
// looked up directly; only a commit that is really absent stays missing (and makes replay report a
// corrupt log).
func (t *Table) listLogFrom(ctx context.Context, startAfter string) ([]logFile, error) {
	infos, err := t.store.List(ctx, LogDir, startAfter)
	if err != nil {
		return nil, fmt.Errorf("delta: list log of %s: %w", t.Location(), err)
	}
	files := make([]logFile, 0, len(infos))
	present := map[int64]bool{}
	first, last := int64(-1), int64(-1)
	for _, info := range infos {
		if f, ok := parseLogFile(info); ok {
			files = append(files, f)
			if f.kind == kindCommit {
				present[f.version] = true
				if first < 0 || f.version < first {
					first = f.version
				}
				last = max(last, f.version)
			}
		}
	}
	added := false
	for v := first + 1; first >= 0 && v < last; v++ {
		if present[v] {
			continue
		}
		info, err := t.store.Stat(ctx, CommitKey(v))
		if errors.Is(err, storage.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("delta: list log of %s: %w", t.Location(), err)
		}
		f, _ := parseLogFile(info)
		files = append(files, f)
		added = true
	}
	if added {
		sort.Slice(files, func(i, j int) bool { return files[i].info.Key < files[j].info.Key })
	}
	return files, nil
}

func hasCheckpointAt(files []logFile, v int64) bool {
	for _, f := range files {
		if f.version == v && (f.kind == kindClassicCheckpoint || f.kind == kindMultiPartCheckpoint || f.kind == kindV2Checkpoint) {
			return true
		}
	}
	return false
}

// logSegment is what replay needs for one version: a checkpoint (possibly none) and the contiguous
// commits after it up to the version.
type logSegment struct {
	version    int64
	checkpoint []logFile // all parts of one checkpoint, in part order; empty when replaying from 0
	commits    []logFile // versions checkpointVersion+1 .. version, ascending, no gaps
}

func (s *logSegment) checkpointVersion() int64 {
	if len(s.checkpoint) == 0 {
		return -1
	}
	return s.checkpoint[0].version
}

// buildSegments returns the possible segments for version (latest when < 0), best first: the newest
// usable checkpoint, then older ones, then replay from version 0 when commit 0 still exists.
func buildSegments(files []logFile, version int64) ([]*logSegment, error) {
	commits := map[int64]logFile{}
	var latest int64 = -1
	type cpKey struct {
		version int64
		kind    logFileKind
		parts   int
		name    string // v2 checkpoints are distinguished by file name
	}
	groups := map[cpKey][]logFile{}
	for _, f := range files {
		switch f.kind {
		case kindCommit:
			commits[f.version] = f
			latest = max(latest, f.version)
		case kindClassicCheckpoint, kindV2Checkpoint:
			groups[cpKey{f.version, f.kind, 1, f.info.Key}] = []logFile{f}
		case kindMultiPartCheckpoint:
			k := cpKey{f.version, f.kind, f.parts, ""}
			groups[k] = append(groups[k], f)
		}
	}
	// Complete checkpoints, newest first; for one version prefer classic, then v2, then multi-part.
	type candidate struct {
		key   cpKey
		files []logFile
	}
	var cps []candidate
	for k, g := range groups {
		if k.kind == kindMultiPartCheckpoint {
			if len(g) != k.parts {
				continue // readers must ignore multi-part checkpoints with missing parts
			}
			sort.Slice(g, func(i, j int) bool { return g[i].part < g[j].part })
		}
		cps = append(cps, candidate{k, g})
		latest = max(latest, k.version)
	}
	rank := map[logFileKind]int{kindClassicCheckpoint: 0, kindV2Checkpoint: 1, kindMultiPartCheckpoint: 2}
	sort.Slice(cps, func(i, j int) bool {
		if cps[i].key.version != cps[j].key.version {
			return cps[i].key.version > cps[j].key.version
		}
		if rank[cps[i].key.kind] != rank[cps[j].key.kind] {
			return rank[cps[i].key.kind] < rank[cps[j].key.kind]
		}
		return cps[i].key.name < cps[j].key.name
	})
	if latest < 0 {
		return nil, fmt.Errorf("%w: no commit or checkpoint files in _delta_log", ErrNotATable)
	}
	if version < 0 {
		version = latest
	}
	if version > latest {
		return nil, fmt.Errorf("%w: version %d does not exist; the latest version is %d", ErrVersionNotFound, version, latest)
	}
	// sorted holds the commits in version order; a segment's commits are a subslice of it, so
	// building a segment per checkpoint costs a binary search, not a copy of its commits (with
	// hundreds of checkpoints in a long log, copies made each time travel quadratic).
	sorted := make([]logFile, 0, len(commits))
	for _, c := range commits {
		sorted = append(sorted, c)
	}
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].version < sorted[j].version })
	// commitsBetween returns commits (from, to], or the first missing version. The slice shares
	// sorted's array: callers must not append to it in place.
	commitsBetween := func(from, to int64) ([]logFile, int64) {
		if to <= from {
			return nil, -1
		}
		i := sort.Search(len(sorted), func(k int) bool { return sorted[k].version > from })
		j := sort.Search(len(sorted), func(k int) bool { return sorted[k].version > to })
		if int64(j-i) == to-from { // versions are unique: as many as the range holds means all of them
			return sorted[i:j:j], -1
		}
		for v := from + 1; v <= to; v++ {
			if _, ok := commits[v]; !ok {
				return nil, v
			}
		}
		return nil, to // not reached: a shortfall means a version is missing
	}
	var segs []*logSegment
	missing := int64(-1)
	for _, cp := range cps {
		if cp.key.version > version {
			continue
		}
		cs, miss := commitsBetween(cp.key.version, version)
		if miss >= 0 {
			if missing < 0 {
				missing = miss
			}
			continue
		}
		segs = append(segs, &logSegment{version: version, checkpoint: cp.files, commits: cs})
	}
	if _, ok := commits[0]; ok {
		if cs, miss := commitsBetween(-1, version); miss < 0 {
			segs = append(segs, &logSegment{version: version, commits: cs})
		} else if missing < 0 {
			missing = miss
		}
	}
	if len(segs) == 0 {
		if missing >= 0 {
			if _, ok := commits[missing]; !ok && missing < earliestCommit(commits) {
				return nil, fmt.Errorf("%w: version %d cannot be reconstructed: its log files have been cleaned up (earliest commit is %d and no checkpoint covers it)",
					ErrVersionNotFound, version, earliestCommit(commits))
			}
			return nil, fmt.Errorf("%w: commit file for version %d is missing (%s)", ErrCorrupt, missing, CommitKey(missing))
		}
		return nil, fmt.Errorf("%w: version %d cannot be reconstructed from the log", ErrVersionNotFound, version)
	}
	return segs, nil
}

func earliestCommit(commits map[int64]logFile) int64 {
	e := int64(-1)
	for v := range commits {
		if e < 0 || v < e {
			e = v
		}
	}
	return e
}

// replay reconstructs the snapshot of a segment: checkpoint state first, then each commit in order
// (removes of a commit before its adds, since actions within one commit are unordered). Log files
// are read through cache (nil: read each one).
func (t *Table) replay(ctx context.Context, seg *logSegment, cache *logCache) (*Snapshot, error) {
	st := newReplayState(t.store.URL())
	if len(seg.checkpoint) > 0 {
		actions, err := cache.checkpoint(ctx, t, seg.checkpoint)
		if err != nil {
			return nil, err
		}
		st.applyCheckpoint(actions)
	}
	commits, err := cache.commits(ctx, t, seg.commits)
	if err != nil {
		return nil, err
	}
	return t.finishReplay(st, seg, commits)
}

// finishReplay applies commits (the actions of seg.commits, in order) to st and builds the
// snapshot at seg.version, checking the result is a table Strata can read.
func (t *Table) finishReplay(st *replayState, seg *logSegment, commits [][]Action) (*Snapshot, error) {
	var lastInfo CommitInfo
	for i, actions := range commits {
		if err := st.applyCommit(seg.commits[i], actions); err != nil {
			return nil, fmt.Errorf("delta: table %s: %w", t.Location(), err)
		}
		if seg.commits[i].version == seg.version {
			lastInfo = commitInfoOf(actions)
		}
	}
	if st.protocol == nil {
		return nil, fmt.Errorf("delta: table %s version %d: %w: no protocol action", t.Location(), seg.version, ErrCorrupt)
	}
	if err := st.protocol.CheckReadable(); err != nil {
		return nil, fmt.Errorf("delta: table %s version %d: %w", t.Location(), seg.version, err)
	}
	if st.metadata == nil {
		return nil, fmt.Errorf("delta: table %s version %d: %w: no metaData action", t.Location(), seg.version, ErrCorrupt)
	}
	schema, err := st.metadata.Schema()
	if err != nil {
		return nil, fmt.Errorf("delta: table %s version %d: %w", t.Location(), seg.version, err)
	}
	if !st.protocol.HasReaderFeature("timestampNtz") && ContainsType(schema, func(d DataType) bool { return d == TypeTimestampNTZ }) {
		return nil, fmt.Errorf("delta: table %s version %d: %w: schema has timestamp_ntz columns without the timestampNtz feature",
			t.Location(), seg.version, ErrCorrupt)
	}
	if !st.protocol.SupportsDeletionVectors() {
		for _, a := range st.adds {
			if a.DeletionVector != nil {
				return nil, fmt.Errorf("delta: table %s version %d: %w: file %s has a deletion vector but the protocol lacks the deletionVectors feature",
					t.Location(), seg.version, ErrCorrupt, a.Path)
			}
		}
	}
	snap := &Snapshot{
		table: t, version: seg.version, protocol: st.protocol, metadata: st.metadata, schema: schema,
		txns: st.txns, domains: map[string]*DomainMetadata{}, commitInfo: lastInfo, segment: seg,
	}
	for k, d := range st.domains {
		if !d.Removed {
			snap.domains[k] = d
		}
	}
	snap.files = make([]*Add, 0, len(st.adds))
	for _, a := range st.adds {
		snap.files = append(snap.files, a)
	}
	sort.Slice(snap.files, func(i, j int) bool { return snap.files[i].Path < snap.files[j].Path })
	snap.tombstones = make([]*Remove, 0, len(st.removes))
	for _, r := range st.removes {
		snap.tombstones = append(snap.tombstones, r)
	}
	sort.Slice(snap.tombstones, func(i, j int) bool {
		a, b := snap.tombstones[i], snap.tombstones[j]
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		return fileKey(a.Path, a.DeletionVector) < fileKey(b.Path, b.DeletionVector)
	})
	return snap, nil
}

// Update returns the latest snapshot of the table, built from s by replaying only the commits
// after s's version (s itself when there are none). It is much cheaper than Table.Snapshot for a
// long-running reader or writer that keeps its snapshot. s is not modified.
func (s *Snapshot) Update(ctx context.Context) (*Snapshot, error) {
	t := s.table
	files, err := t.listLogFrom(ctx, versionPrefixKey(s.version+1))
	if err != nil {
		return nil, err
	}
	var newer []logFile
	next := s.version + 1
	for _, f := range files {
		if f.kind == kindCommit && f.version == next {
			newer = append(newer, f)
			next++
		}
	}
	if len(newer) == 0 {
		return s, nil
	}
	commits, err := t.readCommits(ctx, newer)
	if err != nil {
		return nil, err
	}
	st := newReplayState(t.store.URL())
	st.protocol, st.metadata = s.protocol, s.metadata
	for _, f := range s.files {
		st.adds[st.key(f.Path, nil)] = f
	}
	for _, r := range s.tombstones {
		st.removes[st.key(r.Path, r.DeletionVector)] = r
	}
	for k, v := range s.txns {
		st.txns[k] = v
	}
	for k, v := range s.domains {
		st.domains[k] = v
	}
	seg := &logSegment{version: newer[len(newer)-1].version, checkpoint: s.segment.checkpoint,
		commits: append(append([]logFile{}, s.segment.commits...), newer...)}
	// Only the new commits are applied; the segment lists them all for timestamp lookups.
	tail := &logSegment{version: seg.version, commits: newer}
	snap, err := t.finishReplay(st, tail, commits)
	if err != nil {
		return nil, err
	}
	snap.segment = seg
	return snap, nil
}

// replayState accumulates reconciled actions.
type replayState struct {
	root     string // the table root URL, for canonicalFilePath
	protocol *Protocol
	metadata *Metadata
	adds     map[string]*Add    // by canonical path: one logical file per path
	removes  map[string]*Remove // by (canonical path, dvId)
	txns     map[string]*Txn
	domains  map[string]*DomainMetadata
}

func newReplayState(root string) *replayState {
	return &replayState{root: root, adds: map[string]*Add{}, removes: map[string]*Remove{}, txns: map[string]*Txn{}, domains: map[string]*DomainMetadata{}}
}

// key is the reconciliation key of a logical file: its canonical path, plus the deletion vector's
// unique id when dv is not nil.
func (st *replayState) key(path string, dv *DeletionVector) string {
	p := canonicalFilePath(st.root, path)
	if dv == nil {
		return p
	}
	return p + "\x00" + dv.UniqueID()
}

// canonicalFilePath maps an add or remove path to the one spelling reconciliation compares, so
// that the forms writers use for one data file match: the path is percent-decoded; file: URIs
// ("file:/t/a.parquet", "file:///t/a.parquet") and scheme-less absolute paths ("/t/a.parquet")
// name the same local file; and an absolute path inside the table root is the same file as the
// relative path from the root ("a.parquet" when the root is /t). The protocol makes paths URIs
// to be decoded and resolved against the table root, and keys logical files by the file they
// name, not by how the URI is spelled. Other URIs outside the root compare decoded, as written.
func canonicalFilePath(root, p string) string {
	if !strings.HasPrefix(p, "/") && !strings.Contains(p, ":") {
		// A relative path (the common case): only percent-decoding applies.
		if !strings.Contains(p, "%") {
			return p
		}
		if d, err := decodePath(p); err == nil {
			return d
		}
		return p
	}
	u, err := url.Parse(p)
	if err != nil || (u.Scheme == "" && !strings.HasPrefix(p, "/")) {
		if d, err := decodePath(p); err == nil {
			return d
		}
		return p
	}
	if k, err := FileKeyForPath(root, p); err == nil {
		return k
	}
	if u.Scheme == "file" && u.Opaque == "" {
		return u.Path
	}
	if d, err := decodePath(p); err == nil {
		return d
	}
	return p
}

func (st *replayState) applyCheckpoint(actions []Action) {
	for _, a := range actions {
		switch {
		case a.Protocol != nil:
			st.protocol = a.Protocol
		case a.Metadata != nil:
			st.metadata = a.Metadata
		case a.Add != nil:
			st.adds[st.key(a.Add.Path, nil)] = a.Add
		case a.Remove != nil:
			st.removes[st.key(a.Remove.Path, a.Remove.DeletionVector)] = a.Remove
		case a.Txn != nil:
			st.txns[a.Txn.AppID] = a.Txn
		case a.DomainMetadata != nil:
			st.domains[a.DomainMetadata.Domain] = a.DomainMetadata
		}
	}
}

func (st *replayState) applyCommit(f logFile, actions []Action) error {
	var nProtocol, nMetadata int
	for _, a := range actions {
		if r := a.Remove; r != nil {
			path := st.key(r.Path, nil)
			if cur, ok := st.adds[path]; ok && sameDV(cur.DeletionVector, r.DeletionVector) {
				delete(st.adds, path)
			}
			st.removes[st.key(r.Path, r.DeletionVector)] = r
		}
	}
	for _, a := range actions {
		switch {
		case a.Protocol != nil:
			nProtocol++
			st.protocol = a.Protocol
		case a.Metadata != nil:
			nMetadata++
			st.metadata = a.Metadata
		case a.Add != nil:
			st.adds[st.key(a.Add.Path, nil)] = a.Add
			delete(st.removes, st.key(a.Add.Path, a.Add.DeletionVector))
		case a.Txn != nil:
			st.txns[a.Txn.AppID] = a.Txn
		case a.DomainMetadata != nil:
			st.domains[a.DomainMetadata.Domain] = a.DomainMetadata
		case a.Sidecar != nil || a.CheckpointMetadata != nil:
			return fmt.Errorf("%w: %s: v2 checkpoint actions are not allowed in a commit file", ErrCorrupt, f.info.Key)
		}
	}
	if nProtocol > 1 || nMetadata > 1 {
		return fmt.Errorf("%w: %s: more than one protocol or metaData action in one commit", ErrCorrupt, f.info.Key)
	}
	return nil
}

func sameDV(a, b *DeletionVector) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.UniqueID() == b.UniqueID()
}

// readCommits reads and parses commit files concurrently, returning their actions in input order.
func (t *Table) readCommits(ctx context.Context, files []logFile) ([][]Action, error) {
	out := make([][]Action, len(files))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(t.commitParallelism)
	for i, f := range files {
		g.Go(func() error {
			data, err := t.store.Get(gctx, f.info.Key)
			if err != nil {
				if errors.Is(err, storage.ErrNotFound) {
					return fmt.Errorf("delta: %w: commit %s vanished while reading (log cleaned up concurrently?): %v", ErrVersionNotFound, f.info.Key, err)
				}
				return fmt.Errorf("delta: read commit %d: %w", f.version, err)
			}
			actions, err := ParseCommit(t.store.URL()+"/"+f.info.Key, data)
			if err != nil {
				return err
			}
			out[i] = actions
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

// ReadCommit reads the actions of one commit version.
func (t *Table) ReadCommit(ctx context.Context, version int64) ([]Action, error) {
	data, err := t.store.Get(ctx, CommitKey(version))
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return nil, fmt.Errorf("delta: %s: %w: commit %d: %v", t.Location(), ErrVersionNotFound, version, err)
		}
		return nil, fmt.Errorf("delta: read commit %d: %w", version, err)
	}
	return ParseCommit(t.store.URL()+"/"+CommitKey(version), data)
}

func inCommitTimestamp(ci CommitInfo) (time.Time, bool) {
	if ci == nil {
		return time.Time{}, false
	}
	ms, ok := jsonInt(ci["inCommitTimestamp"])
	if !ok {
		return time.Time{}, false
	}
	return time.UnixMilli(ms).UTC(), true
}
