package delta

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/stratalake/strata/internal/storage"
)

// TestBuildSegmentsShareCommits is the regression test for a quadratic time travel found by the
// reliability harness (reading every version of a 4,400-version table with a checkpoint every 5
// commits took over 15 minutes): buildSegments built one fallback segment per checkpoint, each
// with its own copy of the commits after it. Segments now share one sorted slice, so the
// allocations of a time travel do not grow with the number of checkpoints (an allocation count,
// not a timing).
func TestBuildSegmentsShareCommits(t *testing.T) {
	listing := func(versions, every int) []logFile {
		var files []logFile
		for v := range versions {
			f, _ := parseLogFile(storage.ObjectInfo{Key: CommitKey(int64(v))})
			files = append(files, f)
			if v > 0 && v%every == 0 {
				cp, ok := parseLogFile(storage.ObjectInfo{Key: fmt.Sprintf("%s%020d.checkpoint.parquet", LogDir, v)})
				if !ok {
					t.Fatalf("checkpoint name of version %d not parsed", v)
				}
				files = append(files, cp)
			}
		}
		return files
	}
	allocated := func(versions int) uint64 {
		files := listing(versions, 5)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		segs, err := buildSegments(files, int64(versions-1))
		runtime.ReadMemStats(&after)
		if err != nil || len(segs) != (versions-1)/5+1 {
			t.Fatalf("%d segments, err %v", len(segs), err)
		}
		return after.TotalAlloc - before.TotalAlloc
	}
	small, large := allocated(500), allocated(4000)
	// Maps, the sorted slice and one segment per checkpoint grow linearly: 8 times the log, about
	// 8 times the bytes (a copy of the commits per segment made it about 64 times).
	if large > 16*small {
		t.Errorf("buildSegments allocated %d bytes for 500 versions, %d for 4,000", small, large)
	}
	segs, err := buildSegments(listing(100, 5), 57)
	if err != nil {
		t.Fatal(err)
	}
	if s := segs[0]; s.checkpointVersion() != 55 || len(s.commits) != 2 || s.commits[0].version != 56 || s.commits[1].version != 57 {
		t.Errorf("newest segment for version 57: checkpoint %d, commits %v", s.checkpointVersion(), s.commits)
	}
	if s := segs[len(segs)-1]; s.checkpointVersion() != -1 || len(s.commits) != 58 {
		t.Errorf("the replay from 0 has checkpoint %d and %d commits", s.checkpointVersion(), len(s.commits))
	}
}
