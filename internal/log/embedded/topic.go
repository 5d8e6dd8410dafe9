package embedded

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stratalake/strata/internal/log"
)

// Topic limits.
const (
	maxTopicNameLen = 249
	// MaxPartitions bounds a topic's partitions: each one has a writer goroutine and three open
	// files for its active segment.
	MaxPartitions = 4096
	// defaultTombstoneRetention is used when TopicConfig.TombstoneRetention is 0.
	defaultTombstoneRetention = 24 * time.Hour

	topicFileName   = "topic.json"
	removedFileName = "removed.json"
)

// topic is one topic: its immutable config and partitions, and its removal counters.
type topic struct {
	name  string
	dir   string
	cfg   log.TopicConfig // normalized; never changes
	parts []*partition

	rr   atomic.Uint32  // round-robin counter for keyless records
	ops  sync.WaitGroup // calls in flight on the topic; DeleteTopic and Close wait for them
	gone chan struct{}  // closed when the topic is deleted or the log closed: wakes waiting fetches

	removedMu sync.Mutex
	removed   log.Removal // guarded by removedMu; persisted in removed.json
}

// validateTopicName enforces Kafka's rule: 1 to 249 characters of [a-zA-Z0-9._-], not "." or "..".
func validateTopicName(name string) error {
	if name == "" || len(name) > maxTopicNameLen || name == "." || name == ".." {
		return fmt.Errorf("embedded log: topic name %q: %w: must be 1 to %d characters, not \".\" or \"..\"", name, log.ErrInvalidConfig, maxTopicNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("embedded log: topic name %q: %w: character %q at %d is not one of [a-zA-Z0-9._-]", name, log.ErrInvalidConfig, c, i)
		}
	}
	return nil
}

// normalizeConfig validates cfg and fills its defaults: 0 partitions is 1, a 0 tombstone
// retention is 24 hours.
func normalizeConfig(name string, cfg log.TopicConfig) (log.TopicConfig, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("embedded log: topic %q: %w: %s", name, log.ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	switch {
	case cfg.Partitions < 0 || cfg.Partitions > MaxPartitions:
		return cfg, bad("partitions %d outside [1, %d]", cfg.Partitions, MaxPartitions)
	case cfg.Retention.Time < 0:
		return cfg, bad("negative retention time %v", cfg.Retention.Time)
	case cfg.Retention.Bytes < 0:
		return cfg, bad("negative retention bytes %d", cfg.Retention.Bytes)
	case cfg.TombstoneRetention < 0:
		return cfg, bad("negative tombstone retention %v", cfg.TombstoneRetention)
	}
	if cfg.Partitions == 0 {
		cfg.Partitions = 1
	}
	if cfg.TombstoneRetention == 0 {
		cfg.TombstoneRetention = defaultTombstoneRetention
	}
	return cfg, nil
}

// topicFile is topic.json. Durations are Go duration strings, exact.
type topicFile struct {
	Version            int    `json:"version"`
	Name               string `json:"name"`
	Partitions         int    `json:"partitions"`
	RetentionTime      string `json:"retention_time"`
	RetentionBytes     int64  `json:"retention_bytes"`
	Compact            bool   `json:"compact"`
	TombstoneRetention string `json:"tombstone_retention"`
	DeleteUncommitted  bool   `json:"delete_uncommitted"`
}

func encodeTopicFile(name string, cfg log.TopicConfig) []byte {
	b, err := json.MarshalIndent(topicFile{
		Version: 1, Name: name, Partitions: cfg.Partitions,
		RetentionTime: cfg.Retention.Time.String(), RetentionBytes: cfg.Retention.Bytes,
		Compact: cfg.Compact, TombstoneRetention: cfg.TombstoneRetention.String(),
		DeleteUncommitted: cfg.DeleteUncommitted,
	}, "", "  ")
	if err != nil {
		panic(err) // plain struct: cannot fail
	}
	return append(b, '\n')
}

func readTopicFile(path string) (string, log.TopicConfig, error) {
	var cfg log.TopicConfig
	b, err := os.ReadFile(path)
	if err != nil {
		return "", cfg, fmt.Errorf("embedded log: %w", err)
	}
	var tf topicFile
	if err := json.Unmarshal(b, &tf); err != nil {
		return "", cfg, fmt.Errorf("embedded log: %w: %s: %v", log.ErrCorrupt, path, err)
	}
	if tf.Version != 1 {
		return "", cfg, fmt.Errorf("embedded log: %w: %s: version %d, want 1", log.ErrCorrupt, path, tf.Version)
	}
	cfg.Partitions, cfg.Retention.Bytes, cfg.Compact, cfg.DeleteUncommitted = tf.Partitions, tf.RetentionBytes, tf.Compact, tf.DeleteUncommitted
	if cfg.Retention.Time, err = time.ParseDuration(tf.RetentionTime); err == nil {
		cfg.TombstoneRetention, err = time.ParseDuration(tf.TombstoneRetention)
	}
	if err != nil {
		return "", cfg, fmt.Errorf("embedded log: %w: %s: %v", log.ErrCorrupt, path, err)
	}
	if cfg, err = normalizeConfig(tf.Name, cfg); err != nil || cfg.Partitions != tf.Partitions {
		return "", cfg, fmt.Errorf("embedded log: %w: %s: %v", log.ErrCorrupt, path, err)
	}
	return tf.Name, cfg, nil
}

// removedFile is removed.json.
type removedFile struct {
	ByTime       int64 `json:"by_time"`
	BySize       int64 `json:"by_size"`
	ByCompaction int64 `json:"by_compaction"`
	Bytes        int64 `json:"bytes"`
	HeldBack     int64 `json:"held_back"`
}

func readRemoved(path string) (log.Removal, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return log.Removal{}, nil
	}
	if err != nil {
		return log.Removal{}, fmt.Errorf("embedded log: %w", err)
	}
	var rf removedFile
	if err := json.Unmarshal(b, &rf); err != nil {
		return log.Removal{}, fmt.Errorf("embedded log: %w: %s: %v", log.ErrCorrupt, path, err)
	}
	return log.Removal(rf), nil
}

// addRemoved adds delta to the topic's counters and persists them.
func (t *topic) addRemoved(delta log.Removal) error {
	if delta == (log.Removal{}) {
		return nil
	}
	t.removedMu.Lock()
	defer t.removedMu.Unlock()
	t.removed.ByTime += delta.ByTime
	t.removed.BySize += delta.BySize
	t.removed.ByCompaction += delta.ByCompaction
	t.removed.Bytes += delta.Bytes
	t.removed.HeldBack += delta.HeldBack
	b, _ := json.Marshal(removedFile(t.removed))
	return writeFileAtomic(filepath.Join(t.dir, removedFileName), append(b, '\n'))
}

func (t *topic) removal() log.Removal {
	t.removedMu.Lock()
	defer t.removedMu.Unlock()
	return t.removed
}

// partition returns partition id or an error wrapping ErrUnknownPartition.
func (t *topic) partition(id int32) (*partition, error) {
	if id < 0 || int(id) >= len(t.parts) {
		return nil, fmt.Errorf("embedded log: topic %q partition %d: %w (the topic has %d)", t.name, id, log.ErrUnknownPartition, len(t.parts))
	}
	return t.parts[id], nil
}

// writeTopicDir fills the new, empty directory dir with a complete topic: topic.json and one
// empty segment per partition, all fsynced.
func writeTopicDir(dir, name string, cfg log.TopicConfig) error {
	if err := writeFileSynced(filepath.Join(dir, topicFileName), encodeTopicFile(name, cfg)); err != nil {
		return err
	}
	for i := range cfg.Partitions {
		pdir := filepath.Join(dir, strconv.Itoa(i))
		if err := os.Mkdir(pdir, 0o755); err != nil {
			return fmt.Errorf("embedded log: create topic %q: %w", name, err)
		}
		seg, idxF, tidxF, err := createSegment(pdir, 0)
		if err != nil {
			return fmt.Errorf("embedded log: create topic %q: %w", name, err)
		}
		for _, f := range []*os.File{seg.f, idxF, tidxF} {
			_ = f.Close() // empty files: nothing to fsync but their directory entries
		}
		if err := syncDir(pdir); err != nil {
			return err
		}
	}
	return syncDir(dir)
}

// openTopic opens a topic directory: its config, counters and partitions (recovering them).
func openTopic(dir string, opts *options, rec *Recovery) (*topic, error) {
	name, cfg, err := readTopicFile(filepath.Join(dir, topicFileName))
	if err != nil {
		return nil, err
	}
	if filepath.Base(dir) != name {
		return nil, fmt.Errorf("embedded log: %w: %s names topic %q", log.ErrCorrupt, filepath.Join(dir, topicFileName), name)
	}
	if err := removeTmpFiles(dir, rec); err != nil {
		return nil, err
	}
	t := &topic{name: name, dir: dir, cfg: cfg, gone: make(chan struct{})}
	if t.removed, err = readRemoved(filepath.Join(dir, removedFileName)); err != nil {
		return nil, err
	}
	for i := range cfg.Partitions {
		pdir := filepath.Join(dir, strconv.Itoa(i))
		if st, serr := os.Stat(pdir); serr != nil || !st.IsDir() {
			err = fmt.Errorf("embedded log: topic %q: %w: partition directory %s is missing", name, log.ErrCorrupt, pdir)
		}
		var p *partition
		if err == nil {
			p, err = openPartition(name, int32(i), pdir, opts, rec)
		}
		if err != nil {
			for _, p := range t.parts {
				_ = p.stop()
			}
			return nil, err
		}
		p.start()
		t.parts = append(t.parts, p)
	}
	return t, nil
}

// stop stops the topic's partitions. No call may be in flight on it.
func (t *topic) stop() error {
	var errs []error
	for _, p := range t.parts {
		errs = append(errs, p.stop())
	}
	return errors.Join(errs...)
}
