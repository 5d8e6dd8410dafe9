package core

import (
	"bytes"
	"encoding/binary"
	"sort"
)

// Mutation is one write the driver applies to the query's key/value store (a pebble batch in
// Strata's runtime): a put of Value under Key, or a delete of Key. Keys and values are owned by the
// Mutation; the core never touches them after handing them out.
//
// The key space of one query: every key the core writes starts with a section byte. The driver may
// prefix all of them with a per-query namespace and must strip it again before handing keys to
// Restore. The sections:
//
//	'M' "config"                          the fingerprint of the stateful part of the Config (JSON)
//	'O' be64(batch id)                    offsets log: the planned batch (JSON), written ahead
//	'K' be64(batch id)                    commit log: the batch's completion record (JSON)
//	'W'                                   the watermark tracker (JSON)
//	'A' ord64(start) ord64(end) group key one aggregation window of one group (binary)
//	'D' dedup key                         the event time of the key's first occurrence (binary)
//
// be64 is a big-endian uint64, ord64 an int64 with its sign bit flipped (so byte order is numeric
// order). Batch ids are non-negative, so the logs sort by id and a scan of 'A' visits windows by
// start.
type Mutation struct {
	Key    []byte
	Value  []byte
	Delete bool
}

// The section bytes of the key layout documented on Mutation.
const (
	sectionMeta      byte = 'M'
	sectionOffsets   byte = 'O'
	sectionCommits   byte = 'K'
	sectionWatermark byte = 'W'
	sectionAggregate byte = 'A'
	sectionDedup     byte = 'D'
)

var configKey = []byte{sectionMeta, 'c', 'o', 'n', 'f', 'i', 'g'}

var watermarkKey = []byte{sectionWatermark}

func offsetsKey(id int64) []byte {
	return binary.BigEndian.AppendUint64([]byte{sectionOffsets}, uint64(id))
}

func commitKey(id int64) []byte {
	return binary.BigEndian.AppendUint64([]byte{sectionCommits}, uint64(id))
}

// mutationSet collects the writes of one step. A later write to a key replaces an earlier one;
// Sorted returns one mutation per key in key order, which is the order a pebble batch likes and
// makes the output deterministic.
type mutationSet struct {
	m map[string]Mutation
}

func (s *mutationSet) put(key, value []byte) {
	if s.m == nil {
		s.m = make(map[string]Mutation)
	}
	s.m[string(key)] = Mutation{Key: key, Value: value}
}

func (s *mutationSet) del(key []byte) {
	if s.m == nil {
		s.m = make(map[string]Mutation)
	}
	s.m[string(key)] = Mutation{Key: key, Delete: true}
}

// forget drops any pending write of key (used when a key is created and removed within one step,
// so that nothing needs to reach the store).
func (s *mutationSet) forget(key []byte) { delete(s.m, string(key)) }

func (s *mutationSet) sorted() []Mutation {
	out := make([]Mutation, 0, len(s.m))
	for _, m := range s.m {
		out = append(out, m)
	}
	sortMutations(out)
	return out
}

func sortMutations(ms []Mutation) {
	sort.Slice(ms, func(i, j int) bool { return bytes.Compare(ms[i].Key, ms[j].Key) < 0 })
}
