package delta

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// legacyWriterFeatures lists the writer features each legacy writer version implies; legacy reader
// version 2 implies columnMapping.
var legacyWriterFeatures = map[int][]string{
	2: {"appendOnly", "invariants"},
	3: {"appendOnly", "invariants", "checkConstraints"},
	4: {"appendOnly", "invariants", "checkConstraints", "changeDataFeed", "generatedColumns"},
	5: {"appendOnly", "invariants", "checkConstraints", "changeDataFeed", "generatedColumns", "columnMapping"},
	6: {"appendOnly", "invariants", "checkConstraints", "changeDataFeed", "generatedColumns", "columnMapping", "identityColumns"},
}

// withFeatures returns p upgraded so that it supports the given reader-writer features (reader
// features are listed in both sets) and writer features. A legacy protocol is converted to table
// features (reader 3 / writer 7) listing every feature its versions implied, as the protocol's
// "Table Features for New and Existing Tables" asks. Versions never go down. p is not modified.
func withFeatures(p *Protocol, readerFeatures, writerFeatures []string) *Protocol {
	out := &Protocol{MinReaderVersion: p.MinReaderVersion, MinWriterVersion: p.MinWriterVersion,
		ReaderFeatures: slices.Clone(p.ReaderFeatures), WriterFeatures: slices.Clone(p.WriterFeatures)}
	if len(readerFeatures) == 0 && len(writerFeatures) == 0 {
		return out
	}
	if out.MinWriterVersion < 7 {
		out.WriterFeatures = slices.Clone(legacyWriterFeatures[out.MinWriterVersion])
		out.MinWriterVersion = 7
	}
	if len(readerFeatures) > 0 && out.MinReaderVersion < 3 {
		if out.MinReaderVersion == 2 {
			out.ReaderFeatures = []string{"columnMapping"}
		}
		out.MinReaderVersion = 3
	}
	if out.MinReaderVersion == 3 {
		out.ReaderFeatures = append(out.ReaderFeatures, readerFeatures...)
	}
	out.WriterFeatures = append(out.WriterFeatures, readerFeatures...)
	out.WriterFeatures = append(out.WriterFeatures, writerFeatures...)
	slices.Sort(out.ReaderFeatures)
	out.ReaderFeatures = slices.Compact(out.ReaderFeatures)
	slices.Sort(out.WriterFeatures)
	out.WriterFeatures = slices.Compact(out.WriterFeatures)
	return out
}

// AlterProperties computes the metadata (and, when a property needs a table feature the protocol
// lacks, the upgraded protocol) that sets and unsets table properties, as ALTER TABLE SET/UNSET
// TBLPROPERTIES does. The returned protocol is nil when it does not change. Values of the Delta
// properties Strata understands are validated; changing the column mapping mode of an existing
// table and enabling in-commit timestamps after creation are refused (not implemented).
func AlterProperties(snap *Snapshot, set map[string]string, unset []string) (*Protocol, *Metadata, error) {
	md := *snap.metadata
	md.Configuration = map[string]string{}
	for k, v := range snap.metadata.Configuration {
		md.Configuration[k] = v
	}
	for _, k := range unset {
		if _, ok := md.Configuration[k]; !ok {
			return nil, nil, fmt.Errorf("%w: property %s is not set", ErrInvalidArgument, k)
		}
		if strings.HasPrefix(k, "delta.columnMapping.") {
			return nil, nil, fmt.Errorf("%w: %s cannot be unset", ErrInvalidArgument, k)
		}
		delete(md.Configuration, k)
	}
	var readerFeats, writerFeats []string
	isTrue := func(v string) bool { return strings.EqualFold(v, "true") }
	for k, v := range set {
		switch k {
		case "delta.columnMapping.mode":
			if !strings.EqualFold(v, ColumnMappingMode(snap.protocol, snap.metadata)) {
				return nil, nil, fmt.Errorf("%w: changing delta.columnMapping.mode of an existing table is not supported; set it when creating the table", ErrUnsupportedFeature)
			}
		case "delta.columnMapping.maxColumnId", "delta.inCommitTimestampEnablementVersion", "delta.inCommitTimestampEnablementTimestamp":
			return nil, nil, fmt.Errorf("%w: %s is maintained by the writer and cannot be set", ErrInvalidArgument, k)
		case "delta.appendOnly":
			if isTrue(v) && snap.protocol.MinWriterVersion >= 7 {
				writerFeats = append(writerFeats, "appendOnly")
			}
		case "delta.enableDeletionVectors":
			if isTrue(v) {
				readerFeats = append(readerFeats, "deletionVectors")
			}
		case "delta.enableChangeDataFeed":
			if isTrue(v) && !(snap.protocol.MinWriterVersion >= 4 && snap.protocol.MinWriterVersion < 7) {
				writerFeats = append(writerFeats, "changeDataFeed")
			}
		case "delta.enableInCommitTimestamps":
			if isTrue(v) && !snap.protocol.InCommitTimestampsEnabled(snap.metadata) {
				return nil, nil, fmt.Errorf("%w: enabling in-commit timestamps on an existing table is not supported yet; set delta.enableInCommitTimestamps when creating the table", ErrUnsupportedFeature)
			}
		case "delta.checkpointPolicy":
			if strings.EqualFold(v, "v2") {
				readerFeats = append(readerFeats, "v2Checkpoint")
			}
		}
		if err := checkPropertyValue(k, v); err != nil {
			return nil, nil, err
		}
		md.Configuration[k] = v
	}
	var missingR, missingW []string
	for _, f := range readerFeats {
		if !snap.protocol.HasReaderFeature(f) {
			missingR = append(missingR, f)
		}
	}
	for _, f := range writerFeats {
		if !snap.protocol.HasWriterFeature(f) {
			missingW = append(missingW, f)
		}
	}
	var proto *Protocol
	if len(missingR)+len(missingW) > 0 {
		proto = withFeatures(snap.protocol, missingR, missingW)
	}
	return proto, &md, nil
}

// checkPropertyValue validates the value of a Delta table property Strata interprets; other keys
// pass unchecked.
func checkPropertyValue(k, v string) error {
	switch k {
	case "delta.checkpointInterval", "delta.targetFileSize":
		if n, err := strconv.ParseInt(v, 10, 64); err != nil || n <= 0 {
			return fmt.Errorf("%w: %s must be a positive integer, got %q", ErrInvalidArgument, k, v)
		}
	case "delta.dataSkippingNumIndexedCols":
		if n, err := strconv.ParseInt(v, 10, 64); err != nil || n < -1 {
			return fmt.Errorf("%w: %s must be an integer >= -1, got %q", ErrInvalidArgument, k, v)
		}
	case "delta.deletedFileRetentionDuration", "delta.logRetentionDuration":
		if _, err := ParseInterval(v); err != nil {
			return fmt.Errorf("%w: %s: %v", ErrInvalidArgument, k, err)
		}
	case "delta.appendOnly", "delta.enableExpiredLogCleanup", "delta.checkpoint.writeStatsAsJson",
		"delta.enableDeletionVectors", "delta.enableChangeDataFeed", "delta.enableInCommitTimestamps":
		if !strings.EqualFold(v, "true") && !strings.EqualFold(v, "false") {
			return fmt.Errorf("%w: %s must be true or false, got %q", ErrInvalidArgument, k, v)
		}
	case "delta.checkpointPolicy":
		if !strings.EqualFold(v, "v2") && !strings.EqualFold(v, "classic") {
			return fmt.Errorf("%w: delta.checkpointPolicy must be classic or v2, got %q", ErrInvalidArgument, v)
		}
	case "delta.checkpoint.writeStatsAsStruct":
		if strings.EqualFold(v, "true") {
			return fmt.Errorf("%w: delta.checkpoint.writeStatsAsStruct=true is not supported (Strata writes statistics as JSON)", ErrUnsupportedFeature)
		}
	case "delta.parquet.compression.codec":
		switch strings.ToLower(v) {
		case "zstd", "snappy", "gzip", "uncompressed", "none", "lz4_raw", "brotli":
		default:
			return fmt.Errorf("%w: delta.parquet.compression.codec %q is not one Strata writes (zstd, snappy, gzip, lz4_raw, brotli, uncompressed)", ErrInvalidArgument, v)
		}
	}
	return nil
}
