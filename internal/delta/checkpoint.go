package delta

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/stratalake/strata/internal/storage"
)

// lastCheckpoint is the content of _delta_log/_last_checkpoint.
type lastCheckpoint struct {
	Version       int64             `json:"version"`
	Size          int64             `json:"size"`
	Parts         *int              `json:"parts,omitempty"`
	SizeInBytes   *int64            `json:"sizeInBytes,omitempty"`
	NumOfAddFiles *int64            `json:"numOfAddFiles,omitempty"`
	Tags          map[string]string `json:"tags,omitempty"`
	Checksum      string            `json:"checksum,omitempty"`
}

// readLastCheckpoint reads the _last_checkpoint hint. A missing file returns (nil, nil); an
// unreadable or corrupt one (bad JSON, checksum mismatch) returns an error, and callers fall back to
// listing the whole log.
func (t *Table) readLastCheckpoint(ctx context.Context) (*lastCheckpoint, error) {
	data, err := t.store.Get(ctx, lastCheckpointKey)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var lc lastCheckpoint
	if err := json.Unmarshal(data, &lc); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, lastCheckpointKey, err)
	}
	if lc.Checksum != "" {
		want, err := lastCheckpointChecksum(data)
		if err != nil || !strings.EqualFold(want, lc.Checksum) {
			return nil, fmt.Errorf("%w: %s: checksum mismatch", ErrCorrupt, lastCheckpointKey)
		}
	}
	if lc.Version < 0 {
		return nil, fmt.Errorf("%w: %s: negative version", ErrCorrupt, lastCheckpointKey)
	}
	return &lc, nil
}

// lastCheckpointChecksum computes the protocol's "JSON checksum" of a _last_checkpoint document:
// the MD5 of its canonical form, ignoring the top-level checksum key.
func lastCheckpointChecksum(doc []byte) (string, error) {
	dec := json.NewDecoder(strings.NewReader(string(doc)))
	dec.UseNumber()
	var v map[string]any
	if err := dec.Decode(&v); err != nil {
		return "", err
	}
	delete(v, "checksum")
	var pairs [][2]string
	var walk func(prefix string, x any)
	walk = func(prefix string, x any) {
		join := func(seg string) string {
			if prefix == "" {
				return seg
			}
			return prefix + "+" + seg
		}
		switch x := x.(type) {
		case map[string]any:
			for k, val := range x {
				walk(join(`"`+canonicalEscape(k)+`"`), val)
			}
		case []any:
			for i, val := range x {
				walk(join(strconv.Itoa(i)), val)
			}
		case string:
			pairs = append(pairs, [2]string{prefix, `"` + canonicalEscape(x) + `"`})
		case json.Number:
			pairs = append(pairs, [2]string{prefix, x.String()})
		case bool:
			pairs = append(pairs, [2]string{prefix, strconv.FormatBool(x)})
		case nil:
			pairs = append(pairs, [2]string{prefix, "null"})
		}
	}
	walk("", v)
	sort.Slice(pairs, func(i, j int) bool { return pairs[i][0] < pairs[j][0] })
	parts := make([]string, len(pairs))
	for i, p := range pairs {
		parts[i] = p[0] + "=" + p[1]
	}
	sum := md5.Sum([]byte(strings.Join(parts, ",")))
	return hex.EncodeToString(sum[:]), nil
}

// canonicalEscape percent-encodes every octet except a-z A-Z 0-9 - . _ ~ (uppercase hex).
func canonicalEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// readCheckpoint reads all parts of one checkpoint, following v2 sidecars.
func (t *Table) readCheckpoint(ctx context.Context, parts []logFile) ([]Action, error) {
	var out []Action
	for _, f := range parts {
		data, err := t.store.Get(ctx, f.info.Key)
		if err != nil {
			return nil, fmt.Errorf("delta: read checkpoint %s: %w", f.info.Key, err)
		}
		var actions []Action
		if f.format == "json" {
			actions, err = ParseCommit(t.store.URL()+"/"+f.info.Key, data)
		} else {
			actions, err = t.decodeCheckpointParquet(f.info.Key, data)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, actions...)
	}
	var sidecars []*Sidecar
	hasCheckpointMetadata := false
	for _, a := range out {
		if a.Sidecar != nil {
			sidecars = append(sidecars, a.Sidecar)
		}
		if a.CheckpointMetadata != nil {
			hasCheckpointMetadata = true
		}
	}
	if parts[0].kind == kindV2Checkpoint && !hasCheckpointMetadata {
		return nil, fmt.Errorf("%w: v2 checkpoint %s has no checkpointMetadata action", ErrCorrupt, parts[0].info.Key)
	}
	for _, sc := range sidecars {
		key, err := sidecarKey(sc.Path)
		if err != nil {
			return nil, err
		}
		data, err := t.store.Get(ctx, key)
		if err != nil {
			return nil, fmt.Errorf("delta: read sidecar %s of checkpoint %s: %w", key, parts[0].info.Key, err)
		}
		actions, err := t.decodeCheckpointParquet(key, data)
		if err != nil {
			return nil, err
		}
		for _, a := range actions {
			if a.Add == nil && a.Remove == nil {
				return nil, fmt.Errorf("%w: sidecar %s holds a non-file action", ErrCorrupt, key)
			}
		}
		out = append(out, actions...)
	}
	return out, nil
}

// sidecarKey maps a sidecar action's path (a file name, or a URI ending in one) to its key: sidecars
// always live in _delta_log/_sidecars.
func sidecarKey(p string) (string, error) {
	if u, err := url.Parse(p); err == nil && u.Scheme != "" {
		p = u.Path
	} else if d, err := url.PathUnescape(p); err == nil {
		p = d
	}
	name := path.Base(p)
	if name == "" || name == "." || name == "/" {
		return "", fmt.Errorf("%w: sidecar path %q has no file name", ErrCorrupt, p)
	}
	return SidecarDir + name, nil
}

func (t *Table) decodeCheckpointParquet(key string, data []byte) ([]Action, error) {
	if t.parquet == nil {
		return nil, fmt.Errorf("delta: reading %s needs a Parquet codec", key)
	}
	_, recs, err := t.parquet.Decode(data, checkpointColumns)
	if err != nil {
		return nil, fmt.Errorf("%w: checkpoint %s: %v", ErrCorrupt, key, err)
	}
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	var out []Action
	for _, r := range recs {
		actions, err := actionsFromRecord(key, r)
		if err != nil {
			return nil, err
		}
		out = append(out, actions...)
	}
	return out, nil
}

// CheckpointInterval returns delta.checkpointInterval (default 10).
func CheckpointInterval(md *Metadata) int64 {
	if md != nil {
		if n, err := strconv.ParseInt(md.Configuration["delta.checkpointInterval"], 10, 64); err == nil && n > 0 {
			return n
		}
	}
	return 10
}

// checkpointActions returns the actions a checkpoint of snap must hold: protocol, metadata, txns,
// live domains, live files and unexpired tombstones (without stats and tags).
func (s *Snapshot) checkpointActions(now time.Time) []Action {
	out := []Action{{Protocol: s.protocol}, {Metadata: s.metadata}}
	appIDs := make([]string, 0, len(s.txns))
	for id := range s.txns {
		appIDs = append(appIDs, id)
	}
	sort.Strings(appIDs)
	for _, id := range appIDs {
		out = append(out, Action{Txn: s.txns[id]})
	}
	domains := make([]string, 0, len(s.domains))
	for d := range s.domains {
		domains = append(domains, d)
	}
	sort.Strings(domains)
	for _, d := range domains {
		out = append(out, Action{DomainMetadata: s.domains[d]})
	}
	for _, f := range s.files {
		out = append(out, Action{Add: f})
	}
	retention := DeletedFileRetention(s.metadata)
	for _, r := range s.tombstones {
		if r.DeletionTimestamp != nil && time.UnixMilli(*r.DeletionTimestamp).Add(retention).Before(now) {
			continue // expired tombstone
		}
		tomb := *r
		tomb.Stats, tomb.Tags = "", nil
		out = append(out, Action{Remove: &tomb})
	}
	return out
}

// Checkpoint writes a classic checkpoint of snap (v2 spec when the table has the v2Checkpoint
// feature, v1 otherwise) and updates _last_checkpoint if it moves forward. Writing a checkpoint that
// already exists replaces it with identical content, which the protocol allows.
func (t *Table) Checkpoint(ctx context.Context, snap *Snapshot) error {
	if t.parquet == nil {
		return fmt.Errorf("delta: checkpoint of %s needs a Parquet codec", t.Location())
	}
	v2 := snap.protocol.HasReaderFeature("v2Checkpoint")
	actions := snap.checkpointActions(t.now())
	if v2 {
		actions = append([]Action{{CheckpointMetadata: &CheckpointMetadata{Version: snap.version, Tags: map[string]string{}}}}, actions...)
	}
	schema := checkpointSchema(v2)
	rec, err := recordFromActions(schema, actions)
	if err != nil {
		return err
	}
	defer rec.Release()
	codec := strings.ToLower(snap.metadata.Configuration["delta.parquet.compression.codec"])
	if codec == "" {
		codec = "snappy" // the codec every Delta reader has
	}
	data, err := t.parquet.Encode(schema, []arrow.RecordBatch{rec}, codec)
	if err != nil {
		return fmt.Errorf("delta: encode checkpoint %d: %w", snap.version, err)
	}
	key := ClassicCheckpointKey(snap.version)
	if err := t.store.Put(ctx, key, data); err != nil {
		return fmt.Errorf("delta: write checkpoint %d: %w", snap.version, err)
	}
	var nAdd int64 = int64(len(snap.files))
	size := int64(len(data))
	lc := lastCheckpoint{Version: snap.version, Size: int64(len(actions)), SizeInBytes: &size, NumOfAddFiles: &nAdd}
	if cur, err := t.readLastCheckpoint(ctx); err == nil && cur != nil && cur.Version >= snap.version {
		return nil // a newer (or the same) checkpoint is already advertised
	}
	doc, _ := json.Marshal(lc)
	sum, err := lastCheckpointChecksum(doc)
	if err != nil {
		return err
	}
	lc.Checksum = sum
	doc, _ = json.Marshal(lc)
	if err := t.store.Put(ctx, lastCheckpointKey, doc); err != nil {
		return fmt.Errorf("delta: write %s: %w", lastCheckpointKey, err)
	}
	return nil
}

// DeletedFileRetention is delta.deletedFileRetentionDuration (default 7 days): how long tombstones
// are kept and how old an unreferenced file must be before VACUUM deletes it.
func DeletedFileRetention(md *Metadata) time.Duration {
	if md != nil {
		if d, err := ParseInterval(md.Configuration["delta.deletedFileRetentionDuration"]); err == nil {
			return d
		}
	}
	return 7 * 24 * time.Hour
}

// LogRetention is delta.logRetentionDuration (default 30 days): how long commit files are kept
// before log cleanup may delete them.
func LogRetention(md *Metadata) time.Duration {
	if md != nil {
		if d, err := ParseInterval(md.Configuration["delta.logRetentionDuration"]); err == nil {
			return d
		}
	}
	return 30 * 24 * time.Hour
}

// ParseInterval parses Spark's calendar-interval strings as used by Delta table properties
// ("interval 7 days", "interval 1 hour", "30 days"), Go durations ("168h") and day or week counts
// ("7d", "2w").
func ParseInterval(s string) (time.Duration, error) {
	s = strings.TrimSpace(strings.ToLower(s))
	if s == "" {
		return 0, fmt.Errorf("empty interval")
	}
	if d, err := time.ParseDuration(s); err == nil {
		return d, nil
	}
	for suffix, unit := range map[string]time.Duration{"d": 24 * time.Hour, "w": 7 * 24 * time.Hour} {
		if n, err := strconv.ParseFloat(strings.TrimSuffix(s, suffix), 64); strings.HasSuffix(s, suffix) && err == nil {
			return time.Duration(n * float64(unit)), nil
		}
	}
	s = strings.TrimSpace(strings.TrimPrefix(s, "interval"))
	fields := strings.Fields(s)
	if len(fields) == 0 || len(fields)%2 != 0 {
		return 0, fmt.Errorf("invalid interval %q", s)
	}
	units := map[string]time.Duration{
		"microsecond": time.Microsecond, "millisecond": time.Millisecond, "second": time.Second,
		"minute": time.Minute, "hour": time.Hour, "day": 24 * time.Hour, "week": 7 * 24 * time.Hour,
	}
	var total time.Duration
	for i := 0; i < len(fields); i += 2 {
		n, err := strconv.ParseFloat(fields[i], 64)
		if err != nil {
			return 0, fmt.Errorf("invalid interval %q: %v", s, err)
		}
		u, ok := units[strings.TrimSuffix(fields[i+1], "s")]
		if !ok {
			return 0, fmt.Errorf("invalid interval %q: unknown unit %q", s, fields[i+1])
		}
		total += time.Duration(n * float64(u))
	}
	return total, nil
}
