package embedded

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/stratalake/strata/internal/log"
)

const (
	topicsDirName  = "topics"
	lockFileName   = "LOCK"
	creatingPrefix = "~creating~"
	deletedPrefix  = "~deleted~"
)

// Log is the embedded event log: [log.Log] over segment files under one directory. Open it with
// [Open]; it is safe for concurrent use by many goroutines and must be closed with Close. One
// directory is opened by at most one Log at a time (a flock on <dir>/LOCK enforces it).
type Log struct {
	dir      string
	opts     options
	lockFile *os.File
	groups   *groupStore
	recovery Recovery // what Open repaired; immutable after Open

	// adminMu serializes CreateTopic, DeleteTopic and Close. It guards no field.
	adminMu sync.Mutex
	// cleanMu serializes cleaning passes (Clean and the background cleaner); it guards the
	// partitions' cleanedTo.
	cleanMu sync.Mutex

	// mu guards closed and topics.
	mu     sync.RWMutex
	closed bool
	topics map[string]*topic

	bgCancel context.CancelFunc // stops the background cleaner
	bgDone   chan struct{}      // closed when the background cleaner returned
}

var _ log.Log = (*Log)(nil)

// Open opens (creating it if needed) the log in dir and recovers it: see the package doc for what
// recovery does, and Recovery for what it did. Options are validated first (ErrInvalidOption).
// Cancelling ctx abandons the recovery between topics.
func Open(ctx context.Context, dir string, opts ...Option) (_ *Log, err error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt.apply(&o)
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	topicsDir := filepath.Join(dir, topicsDirName)
	if err := os.MkdirAll(topicsDir, 0o755); err != nil {
		return nil, fmt.Errorf("embedded log: %w", err)
	}
	l := &Log{dir: dir, opts: o, topics: map[string]*topic{}}
	if l.lockFile, err = lockDir(filepath.Join(dir, lockFileName)); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			for _, t := range l.topics {
				_ = t.stop()
			}
			if l.groups != nil {
				_ = l.groups.close(log.ErrClosed)
			}
			_ = unlockDir(l.lockFile)
		}
	}()
	entries, err := os.ReadDir(topicsDir)
	if err != nil {
		return nil, fmt.Errorf("embedded log: %w", err)
	}
	removed := false
	for _, e := range entries {
		name := e.Name()
		path := filepath.Join(topicsDir, name)
		if strings.HasPrefix(name, creatingPrefix) || strings.HasPrefix(name, deletedPrefix) {
			if err := os.RemoveAll(path); err != nil {
				return nil, fmt.Errorf("embedded log: remove leftover: %w", err)
			}
			l.recovery.RemovedFiles = append(l.recovery.RemovedFiles, path)
			removed = true
			continue
		}
		if !e.IsDir() || validateTopicName(name) != nil {
			return nil, fmt.Errorf("embedded log: %w: %s is not a topic directory", log.ErrCorrupt, path)
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		t, err := openTopic(path, &l.opts, &l.recovery)
		if err != nil {
			return nil, err
		}
		l.topics[name] = t
	}
	if removed {
		if err := syncDir(topicsDir); err != nil {
			return nil, err
		}
	}
	if l.groups, err = openGroupStore(dir, &l.recovery); err != nil {
		return nil, err
	}
	// Commits of topics that no longer exist: a crash between deleting a topic and forgetting
	// its commits.
	if err := l.forgetDeletedTopics(); err != nil {
		return nil, err
	}
	if o.cleanInterval > 0 {
		ctx, cancel := context.WithCancel(context.Background())
		l.bgCancel, l.bgDone = cancel, make(chan struct{})
		go l.runCleaner(ctx)
	}
	return l, nil
}

// forgetDeletedTopics drops the group commits of topics that do not exist.
func (l *Log) forgetDeletedTopics() error {
	l.groups.mu.Lock()
	stale := map[string]bool{}
	for _, topics := range l.groups.commits {
		for name := range topics {
			if l.topics[name] == nil {
				stale[name] = true
			}
		}
	}
	l.groups.mu.Unlock()
	for name := range stale {
		if err := l.groups.deleteTopic(name); err != nil {
			return err
		}
	}
	return nil
}

// Dir returns the directory the log lives in.
func (l *Log) Dir() string { return l.dir }

// Recovery returns what Open repaired.
func (l *Log) Recovery() Recovery {
	r := l.recovery
	r.Truncated = slices.Clone(r.Truncated)
	r.RebuiltIndexes = slices.Clone(r.RebuiltIndexes)
	r.CompletedSwaps = slices.Clone(r.CompletedSwaps)
	r.RemovedFiles = slices.Clone(r.RemovedFiles)
	return r
}

// acquire returns a topic with a call registered on it; the caller must call t.ops.Done().
func (l *Log) acquire(ctx context.Context, name string) (*topic, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return nil, log.ErrClosed
	}
	t := l.topics[name]
	if t == nil {
		return nil, fmt.Errorf("embedded log: topic %q: %w", name, log.ErrUnknownTopic)
	}
	t.ops.Add(1)
	return t, nil
}

// acquirePartition is acquire plus the partition lookup.
func (l *Log) acquirePartition(ctx context.Context, name string, id int32) (*topic, *partition, error) {
	t, err := l.acquire(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	p, err := t.partition(id)
	if err != nil {
		t.ops.Done()
		return nil, nil, err
	}
	return t, p, nil
}

// CreateTopic creates a topic: its directory is built under a temporary name and renamed into
// place, so a crash leaves either no topic or a complete one.
func (l *Log) CreateTopic(ctx context.Context, name string, cfg log.TopicConfig) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := validateTopicName(name); err != nil {
		return err
	}
	cfg, err := normalizeConfig(name, cfg)
	if err != nil {
		return err
	}
	l.adminMu.Lock()
	defer l.adminMu.Unlock()
	l.mu.RLock()
	closed, exists := l.closed, l.topics[name] != nil
	l.mu.RUnlock()
	if closed {
		return log.ErrClosed
	}
	if exists {
		return fmt.Errorf("embedded log: topic %q: %w", name, log.ErrTopicExists)
	}
	topicsDir := filepath.Join(l.dir, topicsDirName)
	final := filepath.Join(topicsDir, name)
	tmp, err := os.MkdirTemp(topicsDir, creatingPrefix) // short: a topic name may be 249 bytes
	if err != nil {
		return fmt.Errorf("embedded log: create topic %q: %w", name, err)
	}
	if err := writeTopicDir(tmp, name, cfg); err != nil {
		_ = os.RemoveAll(tmp)
		return err
	}
	if err := os.Rename(tmp, final); err != nil {
		_ = os.RemoveAll(tmp)
		return fmt.Errorf("embedded log: create topic %q: %w", name, err)
	}
	if err := syncDir(topicsDir); err != nil {
		return err
	}
	var rec Recovery
	t, err := openTopic(final, &l.opts, &rec)
	if err != nil {
		return err
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		_ = t.stop()
		return log.ErrClosed
	}
	l.topics[name] = t
	l.mu.Unlock()
	return nil
}

// DeleteTopic removes a topic, its records and every group's commits for it. Calls in flight on
// the topic finish first; fetches waiting on it return ErrUnknownTopic.
func (l *Log) DeleteTopic(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l.adminMu.Lock()
	defer l.adminMu.Unlock()
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return log.ErrClosed
	}
	t := l.topics[name]
	if t == nil {
		l.mu.Unlock()
		return fmt.Errorf("embedded log: topic %q: %w", name, log.ErrUnknownTopic)
	}
	delete(l.topics, name)
	l.mu.Unlock()
	close(t.gone)
	t.ops.Wait()
	stopErr := t.stop()

	topicsDir := filepath.Join(l.dir, topicsDirName)
	trash := filepath.Join(topicsDir, deletedPrefix+strconv.FormatInt(time.Now().UnixNano(), 36))
	if err := os.Rename(t.dir, trash); err != nil {
		return fmt.Errorf("embedded log: delete topic %q: %w", name, err)
	}
	if err := syncDir(topicsDir); err != nil {
		return err
	}
	if err := os.RemoveAll(trash); err != nil {
		return fmt.Errorf("embedded log: delete topic %q: %w", name, err)
	}
	if err := l.groups.deleteTopic(name); err != nil {
		return err
	}
	if stopErr != nil {
		l.opts.logger.Warn("embedded log: deleted topic had a failed partition", "topic", name, "err", stopErr)
	}
	return nil
}

// ListTopics returns the topic names, sorted.
func (l *Log) ListTopics(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return nil, log.ErrClosed
	}
	return sortedKeys(l.topics), nil
}

// DescribeTopic returns a topic's normalized config (Partitions >= 1, TombstoneRetention set),
// its partitions (Bytes: segment file bytes; Records: exact) and its removal counters.
func (l *Log) DescribeTopic(ctx context.Context, name string) (log.TopicInfo, error) {
	t, err := l.acquire(ctx, name)
	if err != nil {
		return log.TopicInfo{}, err
	}
	defer t.ops.Done()
	info := log.TopicInfo{Name: t.name, Config: t.cfg, Removed: t.removal()}
	for _, p := range t.parts {
		info.Partitions = append(info.Partitions, p.info())
	}
	return info, nil
}

// CommitOffsets durably records a group's next offsets for partitions of a topic (one fsync per
// call). The topic and partitions must exist; offsets must not be negative.
func (l *Log) CommitOffsets(ctx context.Context, group, topicName string, offsets map[int32]int64) error {
	t, err := l.acquire(ctx, topicName)
	if err != nil {
		return err
	}
	defer t.ops.Done()
	if group == "" {
		return fmt.Errorf("embedded log: commit to topic %q: empty group name", topicName)
	}
	for p, o := range offsets {
		if _, err := t.partition(p); err != nil {
			return err
		}
		if o < 0 {
			return fmt.Errorf("embedded log: group %q topic %q partition %d: commit of offset %d: %w", group, topicName, p, o, log.ErrOffsetOutOfRange)
		}
	}
	if len(offsets) == 0 {
		return nil
	}
	return l.groups.commit(group, topicName, offsets)
}

// CommittedOffsets returns a group's committed offsets for a topic (empty for a group that
// committed none).
func (l *Log) CommittedOffsets(ctx context.Context, group, topicName string) (map[int32]int64, error) {
	t, err := l.acquire(ctx, topicName)
	if err != nil {
		return nil, err
	}
	defer t.ops.Done()
	return l.groups.committed(group, topicName), nil
}

// ListGroups returns the groups that have commits, sorted.
func (l *Log) ListGroups(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	l.mu.RLock()
	closed := l.closed
	l.mu.RUnlock()
	if closed {
		return nil, log.ErrClosed
	}
	return l.groups.groups(), nil
}

// SegmentInfo describes one segment of a partition.
type SegmentInfo struct {
	Base    int64  // offset in the file name
	End     int64  // offset after the last slot the segment covers
	Bytes   int64  // bytes of the .log file
	Records int64  // records held
	MaxTime int64  // largest record timestamp in ms (math.MinInt64 when empty)
	File    string // path of the .log file
	Active  bool   // the last segment, the one being appended to
}

// Segments describes a partition's segments, oldest first: a cheap view for metrics and tests.
func (l *Log) Segments(ctx context.Context, topicName string, partition int32) ([]SegmentInfo, error) {
	t, p, err := l.acquirePartition(ctx, topicName, partition)
	if err != nil {
		return nil, err
	}
	defer t.ops.Done()
	views, _, _ := p.snapshot(-1)
	defer releaseViews(views)
	out := make([]SegmentInfo, len(views))
	for i, v := range views {
		out[i] = SegmentInfo{Base: v.base, End: v.end, Bytes: v.size, Records: v.records, MaxTime: v.maxTime, File: v.file(), Active: v.active}
	}
	return out, nil
}

// Close stops the background cleaner, lets the calls in flight finish (waiting fetches return
// ErrClosed), fsyncs what the writers wrote and releases the directory. Calls after Close,
// Close included, fail with ErrClosed.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return log.ErrClosed
	}
	l.closed = true
	l.mu.Unlock()
	if l.bgCancel != nil {
		l.bgCancel()
		<-l.bgDone
	}
	l.adminMu.Lock()
	defer l.adminMu.Unlock()
	l.mu.RLock()
	topics := make([]*topic, 0, len(l.topics))
	for _, t := range l.topics {
		topics = append(topics, t)
	}
	l.mu.RUnlock()
	sort.Slice(topics, func(i, j int) bool { return topics[i].name < topics[j].name })
	var errs []error
	for _, t := range topics {
		close(t.gone)
	}
	for _, t := range topics {
		t.ops.Wait()
		errs = append(errs, t.stop())
	}
	errs = append(errs, l.groups.close(log.ErrClosed), unlockDir(l.lockFile))
	return errors.Join(errs...)
}

// runCleaner cleans every CleanInterval until ctx is cancelled.
func (l *Log) runCleaner(ctx context.Context) {
	defer close(l.bgDone)
	tick := time.NewTicker(l.opts.cleanInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if err := l.clean(ctx, false); err != nil && ctx.Err() == nil {
				l.opts.logger.Error("embedded log: background clean failed", "err", err)
			}
		}
	}
}
