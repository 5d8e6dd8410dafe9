package delta

import (
	"fmt"
	"slices"
	"strings"
)

// Reader features Strata implements. A table whose protocol lists any other reader feature is refused
// for reading, with an error naming the feature.
var supportedReaderFeatures = []string{
	"columnMapping", "deletionVectors", "timestampNtz", "v2Checkpoint", "vacuumProtocolCheck",
}

// Writer features Strata implements or can honour by refusing the operations they constrain.
var supportedWriterFeatures = []string{
	"appendOnly", "invariants", "checkConstraints", "changeDataFeed", "generatedColumns",
	"columnMapping", "identityColumns", "deletionVectors", "timestampNtz", "domainMetadata",
	"v2Checkpoint", "vacuumProtocolCheck", "inCommitTimestamp",
}

// MaxReaderVersion and MaxWriterVersion are the highest protocol versions Strata implements.
const (
	MaxReaderVersion = 3
	MaxWriterVersion = 7
)

// HasReaderFeature reports whether the protocol lists the reader feature (reader version 3).
func (p *Protocol) HasReaderFeature(name string) bool {
	return p.MinReaderVersion >= 3 && slices.Contains(p.ReaderFeatures, name)
}

// HasWriterFeature reports whether the protocol lists the writer feature (writer version 7).
func (p *Protocol) HasWriterFeature(name string) bool {
	return p.MinWriterVersion >= 7 && slices.Contains(p.WriterFeatures, name)
}

// SupportsColumnMapping reports whether the protocol lets the table use column mapping: reader 2, or
// reader 3 with the columnMapping feature.
func (p *Protocol) SupportsColumnMapping() bool {
	return p.MinReaderVersion == 2 || p.HasReaderFeature("columnMapping")
}

// SupportsDeletionVectors reports whether the table may hold deletion vectors.
func (p *Protocol) SupportsDeletionVectors() bool { return p.HasReaderFeature("deletionVectors") }

// CheckReadable returns an error wrapping ErrUnsupportedFeature when Strata cannot read a table with
// this protocol: a reader version above 3, or a reader feature it does not implement. The message
// names the version or feature.
func (p *Protocol) CheckReadable() error {
	if p.MinReaderVersion > MaxReaderVersion {
		msg := fmt.Sprintf("table requires reader version %d; Strata reads up to version %d", p.MinReaderVersion, MaxReaderVersion)
		if unknown := unsupported(p.ReaderFeatures, supportedReaderFeatures); len(unknown) > 0 {
			msg += fmt.Sprintf(" (and reader features %s)", strings.Join(unknown, ", "))
		}
		return fmt.Errorf("%w: %s", ErrUnsupportedFeature, msg)
	}
	if p.MinReaderVersion < 1 {
		return fmt.Errorf("%w: protocol has invalid reader version %d", ErrCorrupt, p.MinReaderVersion)
	}
	if p.MinReaderVersion == 3 {
		if unknown := unsupported(p.ReaderFeatures, supportedReaderFeatures); len(unknown) > 0 {
			return fmt.Errorf("%w: table requires reader feature %s, which Strata does not implement",
				ErrUnsupportedFeature, strings.Join(unknown, ", "))
		}
	}
	return nil
}

// CheckWritable returns an error wrapping ErrUnsupportedFeature when Strata must not write a table
// with this protocol and metadata: versions or features it does not implement, or features whose
// active use it cannot honour (invariants, CHECK constraints, generated and identity columns, row
// tracking, Iceberg compatibility, clustering).
func (p *Protocol) CheckWritable(md *Metadata) error {
	if err := p.CheckReadable(); err != nil {
		return err
	}
	if p.MinWriterVersion > MaxWriterVersion {
		return fmt.Errorf("%w: table requires writer version %d; Strata writes up to version %d",
			ErrUnsupportedFeature, p.MinWriterVersion, MaxWriterVersion)
	}
	if p.MinWriterVersion == 7 {
		if unknown := unsupported(p.WriterFeatures, supportedWriterFeatures); len(unknown) > 0 {
			return fmt.Errorf("%w: table requires writer feature %s, which Strata does not implement",
				ErrUnsupportedFeature, strings.Join(unknown, ", "))
		}
	}
	if md == nil {
		return nil
	}
	schema, err := md.Schema()
	if err != nil {
		return err
	}
	// Features Strata accepts only while they are not in use.
	checks := []struct {
		feature   string
		minLegacy int
		inUse     func() string
	}{
		{"invariants", 2, func() string { return fieldWithMetadata(schema, "delta.invariants") }},
		{"checkConstraints", 3, func() string { return propertyWithPrefix(md, "delta.constraints.") }},
		{"generatedColumns", 4, func() string { return fieldWithMetadata(schema, "delta.generationExpression") }},
		{"identityColumns", 6, func() string { return fieldWithMetadata(schema, "delta.identity.start") }},
	}
	for _, c := range checks {
		enabled := p.HasWriterFeature(c.feature) || (p.MinWriterVersion < 7 && p.MinWriterVersion >= c.minLegacy)
		if !enabled {
			continue
		}
		if what := c.inUse(); what != "" {
			return fmt.Errorf("%w: table uses %s (%s), which Strata cannot enforce on write", ErrUnsupportedFeature, c.feature, what)
		}
	}
	return nil
}

// ChangeDataFeedEnabled reports whether writers must produce change data files.
func (p *Protocol) ChangeDataFeedEnabled(md *Metadata) bool {
	on := md != nil && strings.EqualFold(md.Configuration["delta.enableChangeDataFeed"], "true")
	if !on {
		return false
	}
	return p.HasWriterFeature("changeDataFeed") || (p.MinWriterVersion >= 4 && p.MinWriterVersion < 7)
}

// AppendOnly reports whether the table is append-only (delta.appendOnly=true with the feature).
func (p *Protocol) AppendOnly(md *Metadata) bool {
	on := md != nil && strings.EqualFold(md.Configuration["delta.appendOnly"], "true")
	return on && (p.HasWriterFeature("appendOnly") || (p.MinWriterVersion >= 2 && p.MinWriterVersion < 7))
}

// InCommitTimestampsEnabled reports whether commits must carry an inCommitTimestamp.
func (p *Protocol) InCommitTimestampsEnabled(md *Metadata) bool {
	return p.HasWriterFeature("inCommitTimestamp") && md != nil &&
		strings.EqualFold(md.Configuration["delta.enableInCommitTimestamps"], "true")
}

func unsupported(have, supported []string) []string {
	var out []string
	for _, f := range have {
		if !slices.Contains(supported, f) {
			out = append(out, f)
		}
	}
	return out
}

func fieldWithMetadata(st *StructType, key string) string {
	var found string
	var walk func(prefix string, t DataType)
	walk = func(prefix string, t DataType) {
		switch t := t.(type) {
		case *StructType:
			for _, f := range t.Fields {
				if found != "" {
					return
				}
				if _, ok := f.Metadata[key]; ok {
					found = "column " + prefix + f.Name
					return
				}
				walk(prefix+f.Name+".", f.Type)
			}
		case *ArrayType:
			walk(prefix, t.ElementType)
		case *MapType:
			walk(prefix, t.KeyType)
			walk(prefix, t.ValueType)
		}
	}
	walk("", st)
	return found
}

func propertyWithPrefix(md *Metadata, prefix string) string {
	for k := range md.Configuration {
		if strings.HasPrefix(k, prefix) {
			return "property " + k
		}
	}
	return ""
}

// ColumnMappingMode returns the table's column mapping mode: "none", "name" or "id". The property is
// honoured only when the protocol supports column mapping.
func ColumnMappingMode(p *Protocol, md *Metadata) string {
	if p == nil || md == nil || !p.SupportsColumnMapping() {
		return "none"
	}
	switch m := strings.ToLower(md.Configuration["delta.columnMapping.mode"]); m {
	case "name", "id":
		return m
	}
	return "none"
}
