package embedded

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
)

// The group offsets file, <dir>/groups/offsets.log, is append-only. Each entry is
//
//	crc     uint32  CRC-32C of the bytes that follow it
//	length  uint32  payload length
//	payload         kind byte, then
//	                kind 1 (commit):       uvarint-prefixed group, uvarint-prefixed topic, uvarint n,
//	                                       n x (varint partition, varint offset)
//	                kind 2 (topic deleted): uvarint-prefixed topic
//
// One CommitOffsets call is one entry, fsynced before the call returns, so a call is durable and
// atomic. Open replays the entries and truncates a torn tail. When the file grows past 1 MiB and
// four times the size of the live state, it is rewritten (atomically) with one entry per group
// and topic.
const (
	groupsDirName   = "groups"
	offsetsFileName = "offsets.log"

	entryCommit       = 1
	entryTopicDeleted = 2

	groupEntryHeader = 8
	maxGroupEntry    = 64 << 20
	minRewriteSize   = 1 << 20
)

// groupStore holds the committed offsets of every consumer group.
type groupStore struct {
	path string

	// mu guards every field below.
	mu        sync.Mutex
	f         *os.File                              // append handle; nil once closed
	size      int64                                 // bytes in the file
	rewriteAt int64                                 // size at which to consider a rewrite
	commits   map[string]map[string]map[int32]int64 // group -> topic -> partition -> next offset
	closedErr error
}

func openGroupStore(dir string, rec *Recovery) (*groupStore, error) {
	gdir := filepath.Join(dir, groupsDirName)
	if err := os.MkdirAll(gdir, 0o755); err != nil {
		return nil, fmt.Errorf("embedded log: %w", err)
	}
	if err := removeTmpFiles(gdir, rec); err != nil {
		return nil, err
	}
	g := &groupStore{path: filepath.Join(gdir, offsetsFileName), commits: map[string]map[string]map[int32]int64{}}
	f, err := os.OpenFile(g.path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("embedded log: %w", err)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("embedded log: read %s: %w", g.path, err)
	}
	pos := int64(0)
	for pos < int64(len(data)) {
		n, reason := g.replay(data[pos:])
		if reason != "" {
			if err := f.Truncate(pos); err == nil {
				err = f.Sync()
			}
			if err != nil {
				_ = f.Close()
				return nil, fmt.Errorf("embedded log: truncate torn tail of %s at byte %d: %w", g.path, pos, err)
			}
			rec.Truncated = append(rec.Truncated, Truncation{File: g.path, Position: pos, Bytes: int64(len(data)) - pos, Reason: reason})
			break
		}
		pos += int64(n)
	}
	if _, err := f.Seek(pos, io.SeekStart); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("embedded log: %w", err)
	}
	g.f, g.size = f, pos
	g.rewriteAt = max(minRewriteSize, 4*int64(len(g.encodeState())))
	if g.size >= g.rewriteAt {
		if err := g.rewrite(); err != nil {
			_ = g.f.Close()
			return nil, err
		}
	}
	return g, syncDir(gdir)
}

// replay applies the entry at the start of b, returning its size, or the reason it is not a
// valid entry (a torn tail).
func (g *groupStore) replay(b []byte) (int, string) {
	if len(b) < groupEntryHeader {
		return 0, fmt.Sprintf("truncated entry header: %d bytes", len(b))
	}
	n := int(binary.LittleEndian.Uint32(b[4:]))
	if n < 1 || n > maxGroupEntry || groupEntryHeader+n > len(b) {
		return 0, fmt.Sprintf("entry length %d with %d bytes left", n, len(b)-groupEntryHeader)
	}
	if crc32.Checksum(b[4:groupEntryHeader+n], castagnoli) != binary.LittleEndian.Uint32(b) {
		return 0, "checksum mismatch"
	}
	p := b[groupEntryHeader : groupEntryHeader+n]
	kind := p[0]
	p = p[1:]
	str := func() (string, bool) {
		l, rest, err := uvarint(p)
		if err != nil || l > uint64(len(rest)) {
			return "", false
		}
		p = rest[l:]
		return string(rest[:l]), true
	}
	switch kind {
	case entryCommit:
		group, ok1 := str()
		topic, ok2 := str()
		cnt, rest, err := uvarint(p)
		if !ok1 || !ok2 || err != nil {
			return 0, "malformed commit entry"
		}
		p = rest
		offs := make(map[int32]int64, cnt)
		for range cnt {
			part, rest, err1 := varint(p)
			off, rest2, err2 := varint(rest)
			if err1 != nil || err2 != nil {
				return 0, "malformed commit entry"
			}
			p = rest2
			offs[int32(part)] = off
		}
		g.apply(group, topic, offs)
	case entryTopicDeleted:
		topic, ok := str()
		if !ok {
			return 0, "malformed topic-deleted entry"
		}
		g.dropTopic(topic)
	default:
		return 0, fmt.Sprintf("unknown entry kind %d", kind)
	}
	return groupEntryHeader + n, ""
}

func (g *groupStore) apply(group, topic string, offsets map[int32]int64) {
	topics := g.commits[group]
	if topics == nil {
		topics = map[string]map[int32]int64{}
		g.commits[group] = topics
	}
	parts := topics[topic]
	if parts == nil {
		parts = map[int32]int64{}
		topics[topic] = parts
	}
	for p, o := range offsets {
		parts[p] = o
	}
}

func (g *groupStore) dropTopic(topic string) {
	for group, topics := range g.commits {
		delete(topics, topic)
		if len(topics) == 0 {
			delete(g.commits, group)
		}
	}
}

func frameGroupEntry(payload []byte) []byte {
	e := make([]byte, groupEntryHeader, groupEntryHeader+len(payload))
	binary.LittleEndian.PutUint32(e[4:], uint32(len(payload)))
	e = append(e, payload...)
	binary.LittleEndian.PutUint32(e, crc32.Checksum(e[4:], castagnoli))
	return e
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func encodeCommit(group, topic string, offsets map[int32]int64) []byte {
	parts := make([]int32, 0, len(offsets))
	for p := range offsets {
		parts = append(parts, p)
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
	b := []byte{entryCommit}
	b = appendString(b, group)
	b = appendString(b, topic)
	b = binary.AppendUvarint(b, uint64(len(parts)))
	for _, p := range parts {
		b = binary.AppendVarint(b, int64(p))
		b = binary.AppendVarint(b, offsets[p])
	}
	return frameGroupEntry(b)
}

// encodeState encodes the live state as entries, sorted. Call with mu held.
func (g *groupStore) encodeState() []byte {
	var out []byte
	for _, group := range sortedKeys(g.commits) {
		for _, topic := range sortedKeys(g.commits[group]) {
			out = append(out, encodeCommit(group, topic, g.commits[group][topic])...)
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// rewrite replaces the file with the live state. Call with mu held.
func (g *groupStore) rewrite() error {
	state := g.encodeState()
	if err := writeFileAtomic(g.path, state); err != nil {
		return err
	}
	f, err := os.OpenFile(g.path, os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("embedded log: %w", err)
	}
	_ = g.f.Close()
	g.f, g.size = f, int64(len(state))
	g.rewriteAt = max(minRewriteSize, 4*g.size)
	return nil
}

// append writes one entry and fsyncs it. Call with mu held.
func (g *groupStore) append(entry []byte) error {
	if g.f == nil {
		return g.closedErr
	}
	if _, err := g.f.Write(entry); err != nil {
		return fmt.Errorf("embedded log: append %s: %w", g.path, err)
	}
	if err := g.f.Sync(); err != nil {
		return fmt.Errorf("embedded log: fsync %s: %w", g.path, err)
	}
	g.size += int64(len(entry))
	if g.size >= g.rewriteAt {
		return g.rewrite()
	}
	return nil
}

// commit durably records a group's offsets for a topic.
func (g *groupStore) commit(group, topic string, offsets map[int32]int64) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.append(encodeCommit(group, topic, offsets)); err != nil {
		return err
	}
	g.apply(group, topic, offsets)
	return nil
}

// deleteTopic durably forgets every group's offsets for a topic.
func (g *groupStore) deleteTopic(topic string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.append(frameGroupEntry(appendString([]byte{entryTopicDeleted}, topic))); err != nil {
		return err
	}
	g.dropTopic(topic)
	return nil
}

// committed returns a copy of a group's offsets for a topic.
func (g *groupStore) committed(group, topic string) map[int32]int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := map[int32]int64{}
	for p, o := range g.commits[group][topic] {
		out[p] = o
	}
	return out
}

// groups returns the groups with commits, sorted.
func (g *groupStore) groups() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return sortedKeys(g.commits)
}

// minCommitted returns the lowest offset committed for a partition by any group, and whether
// any group committed it.
func (g *groupStore) minCommitted(topic string, partition int32) (int64, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	var low int64
	found := false
	for _, topics := range g.commits {
		if o, ok := topics[topic][partition]; ok && (!found || o < low) {
			low, found = o, true
		}
	}
	return low, found
}

func (g *groupStore) close(closedErr error) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.f == nil {
		return nil
	}
	err := g.f.Close()
	g.f, g.closedErr = nil, closedErr
	if err != nil {
		return fmt.Errorf("embedded log: close %s: %w", g.path, err)
	}
	return nil
}
