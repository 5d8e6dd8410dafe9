package concurrency

import (
	"slices"
	"testing"
)

// TestConflictKinds pins the checker's statement of the WriteSerializable rules, so that the
// multi-process tests cannot pass by a rule the checker gets wrong.
func TestConflictKinds(t *testing.T) {
	add := func(key, p string) fileRef { return fileRef{Key: key, P: p, DataChange: true} }
	overwrite1 := readSet{partition: "1", readFiles: map[string]bool{"p=1/a": true}, removes: map[string]bool{"p=1/a": true}}
	restore := readSet{wholeTable: true, readFiles: map[string]bool{}, removes: map[string]bool{"p=0/x": true}}
	tests := []struct {
		name   string
		rs     readSet
		winner commitEntry
		want   []string
	}{
		{"blind append into the overwritten partition", overwrite1,
			commitEntry{Blind: true, Adds: []fileRef{add("p=1/b", "1")}}, nil},
		{"non-blind add into the overwritten partition", overwrite1,
			commitEntry{Adds: []fileRef{add("p=1/b", "1")}}, []string{"ConcurrentAppend"}},
		{"non-blind add into another partition", overwrite1,
			commitEntry{Adds: []fileRef{add("p=2/b", "2")}}, nil},
		{"overwrite of the same partition", overwrite1,
			commitEntry{Removes: []fileRef{add("p=1/a", "1")}, Adds: []fileRef{add("p=1/c", "1")}},
			[]string{"ConcurrentAppend", "ConcurrentDeleteDelete", "ConcurrentDeleteRead"}},
		{"remove without data change", overwrite1,
			commitEntry{Removes: []fileRef{{Key: "p=1/a", P: "1"}}}, nil},
		{"metadata change", overwrite1, commitEntry{Metadata: true}, []string{"MetadataChanged"}},
		{"protocol change", overwrite1, commitEntry{Protocol: true}, []string{"ProtocolChanged"}},
		{"restore vs blind append", restore,
			commitEntry{Blind: true, Adds: []fileRef{add("p=2/b", "2")}}, nil},
		{"restore vs non-blind add anywhere", restore,
			commitEntry{Adds: []fileRef{add("p=2/b", "2")}}, []string{"ConcurrentAppend"}},
		{"restore vs remove of a file it keeps", restore,
			commitEntry{Removes: []fileRef{add("p=2/k", "2")}}, []string{"ConcurrentDeleteRead"}},
		{"restore vs remove of a file it removes too", restore,
			commitEntry{Removes: []fileRef{add("p=0/x", "0")}}, []string{"ConcurrentDeleteDelete", "ConcurrentDeleteRead"}},
		{"restore vs empty commit", restore, commitEntry{}, nil},
		{"blind append reads nothing", readSet{}, commitEntry{Removes: []fileRef{add("p=1/a", "1")}, Adds: []fileRef{add("p=1/b", "1")}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := conflictKinds(tt.rs, &tt.winner)
			if !slices.Equal(got, tt.want) && !(len(got) == 0 && len(tt.want) == 0) {
				t.Errorf("conflictKinds = %v, want %v", got, tt.want)
			}
		})
	}
}
