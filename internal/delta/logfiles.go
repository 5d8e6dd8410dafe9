package delta

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/stratalake/strata/internal/storage"
)

// LogDir is the key prefix of a table's transaction log.
const LogDir = "_delta_log/"

// SidecarDir is the key prefix of v2-checkpoint sidecar files.
const SidecarDir = LogDir + "_sidecars/"

// lastCheckpointKey is the key of the _last_checkpoint hint file.
const lastCheckpointKey = LogDir + "_last_checkpoint"

// CommitKey returns the key of the commit file for version v.
func CommitKey(v int64) string { return fmt.Sprintf("%s%020d.json", LogDir, v) }

// ClassicCheckpointKey returns the key of the single-file classic checkpoint for version v.
func ClassicCheckpointKey(v int64) string {
	return fmt.Sprintf("%s%020d.checkpoint.parquet", LogDir, v)
}

// logFileKind classifies the files found in _delta_log.
type logFileKind int

const (
	kindCommit logFileKind = iota + 1
	kindClassicCheckpoint
	kindMultiPartCheckpoint
	kindV2Checkpoint // UUID-named, JSON or Parquet
	kindCompaction
	kindChecksum
)

// logFile is one parsed entry of the log listing.
type logFile struct {
	info    storage.ObjectInfo
	kind    logFileKind
	version int64
	// part and parts number the files of a multi-part checkpoint (1-based); both 1 otherwise.
	part, parts int
	// format is "json" or "parquet" for checkpoints.
	format string
}

var (
	reCommit     = regexp.MustCompile(`^(\d{20})\.json$`)
	reClassic    = regexp.MustCompile(`^(\d{20})\.checkpoint\.parquet$`)
	reMultiPart  = regexp.MustCompile(`^(\d{20})\.checkpoint\.(\d{10})\.(\d{10})\.parquet$`)
	reV2         = regexp.MustCompile(`^(\d{20})\.checkpoint\.([0-9a-fA-F-]{36})\.(json|parquet)$`)
	reCompaction = regexp.MustCompile(`^(\d{20})\.(\d{20})\.compacted\.json$`)
	reChecksum   = regexp.MustCompile(`^(\d{20})\.crc$`)
)

// parseLogFile classifies a key under _delta_log/. Files that are not part of the protocol (temp
// files, Hadoop .crc side files, sidecars, staged commits) return ok=false and are ignored.
func parseLogFile(info storage.ObjectInfo) (logFile, bool) {
	name := strings.TrimPrefix(info.Key, LogDir)
	if strings.Contains(name, "/") {
		return logFile{}, false
	}
	v := func(s string) int64 { n, _ := strconv.ParseInt(s, 10, 64); return n }
	if m := reCommit.FindStringSubmatch(name); m != nil {
		return logFile{info: info, kind: kindCommit, version: v(m[1]), part: 1, parts: 1}, true
	}
	if m := reClassic.FindStringSubmatch(name); m != nil {
		return logFile{info: info, kind: kindClassicCheckpoint, version: v(m[1]), part: 1, parts: 1, format: "parquet"}, true
	}
	if m := reMultiPart.FindStringSubmatch(name); m != nil {
		part, parts := int(v(m[2])), int(v(m[3]))
		if part < 1 || parts < 1 || part > parts {
			return logFile{}, false
		}
		return logFile{info: info, kind: kindMultiPartCheckpoint, version: v(m[1]), part: part, parts: parts, format: "parquet"}, true
	}
	if m := reV2.FindStringSubmatch(name); m != nil {
		return logFile{info: info, kind: kindV2Checkpoint, version: v(m[1]), part: 1, parts: 1, format: m[3]}, true
	}
	if m := reCompaction.FindStringSubmatch(name); m != nil {
		return logFile{info: info, kind: kindCompaction, version: v(m[1])}, true
	}
	if m := reChecksum.FindStringSubmatch(name); m != nil {
		return logFile{info: info, kind: kindChecksum, version: v(m[1])}, true
	}
	return logFile{}, false
}

// versionPrefixKey is the key that sorts just before every log file of version v, for listing with
// startAfter.
func versionPrefixKey(v int64) string {
	if v <= 0 {
		return ""
	}
	// Every file of version v starts with the padded number followed by '.', which sorts after the
	// bare number.
	return fmt.Sprintf("%s%020d", LogDir, v)
}
