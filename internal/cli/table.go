package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/stratalake/strata/internal/delta"
	"github.com/stratalake/strata/internal/ingest"
	"github.com/stratalake/strata/internal/table"
)

func newTableCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "table",
		Short: "Create, write, read and maintain Delta Lake tables (a local directory or s3://bucket/prefix)",
	}
	cmd.AddCommand(newTableCreateCmd(g), newTableWriteCmd(g, table.Append), newTableWriteCmd(g, table.Overwrite),
		newTableScanCmd(g), newTableDescribeCmd(g), newTableHistoryCmd(g), newTableVacuumCmd(g),
		newTableRestoreCmd(g), newTableCheckpointCmd(g), newTableAlterCmd(g), newTableOptimizeCmd(g))
	return cmd
}

func openTable(ctx context.Context, g *globals, location string) (*table.Table, error) {
	return table.Open(ctx, location, table.WithStorageOptions(g.storageOptions()))
}

// exactArgs and minArgs are cobra's argument checks reporting usage errors (exit status 2).
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.ExactArgs(n)(cmd, args); err != nil {
			return usageError{fmt.Errorf("%w (usage: %s)", err, cmd.UseLine())}
		}
		return nil
	}
}

func minArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.MinimumNArgs(n)(cmd, args); err != nil {
			return usageError{fmt.Errorf("%w (usage: %s)", err, cmd.UseLine())}
		}
		return nil
	}
}

// openLatest opens the table at location and loads its latest snapshot.
func openLatest(ctx context.Context, g *globals, location string) (*table.Table, *delta.Snapshot, error) {
	t, err := openTable(ctx, g, location)
	if err != nil {
		return nil, nil, err
	}
	snap, err := t.Snapshot(ctx, -1)
	if err != nil {
		return nil, nil, err
	}
	return t, snap, nil
}

func parseProperties(kvs []string) (map[string]string, error) {
	props := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, usageError{fmt.Errorf("--property %q: want key=value", kv)}
		}
		props[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return props, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// --- create ---

func newTableCreateCmd(g *globals) *cobra.Command {
	var schema, partitionBy, comment string
	var props []string
	cmd := &cobra.Command{
		Use:   "create PATH --schema 'id BIGINT NOT NULL, name VARCHAR, ts TIMESTAMP'",
		Short: "Create an empty Delta table",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if schema == "" {
				return usageError{fmt.Errorf("--schema is required")}
			}
			st, err := delta.ParseDDLSchema(schema)
			if err != nil {
				return err
			}
			p, err := parseProperties(props)
			if err != nil {
				return err
			}
			t, err := openTable(cmd.Context(), g, args[0])
			if err != nil {
				return err
			}
			res, err := t.Create(cmd.Context(), delta.CreateOptions{Schema: st, PartitionColumns: splitList(partitionBy), Properties: p, Description: comment})
			if err != nil {
				return err
			}
			snap, err := t.Snapshot(cmd.Context(), res.Version)
			if err != nil {
				return err
			}
			if g.json {
				return writeJSON(g.stdout, describeSnapshot(cmd.Context(), t, snap))
			}
			fmt.Fprintf(g.stdout, "created %s (version %d, protocol %s)\n", t.Location(), res.Version, protocolString(snap.Protocol()))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&schema, "schema", "", "columns in SQL DDL: 'id BIGINT NOT NULL, name VARCHAR, amount DECIMAL(10,2)'")
	f.StringVar(&partitionBy, "partition-by", "", "comma-separated partition columns")
	f.StringArrayVar(&props, "property", nil, "table property key=value (repeatable), e.g. delta.checkpointInterval=10")
	f.StringVar(&comment, "comment", "", "table description")
	return cmd
}

// --- append / overwrite ---

func newTableWriteCmd(g *globals, mode table.Mode) *cobra.Command {
	var format, replaceWhere, partitionBy, quarantine, appID string
	var appVersion int64
	var mergeSchema bool
	var props []string
	var targetFileSize int64
	use, short := "append PATH FILE...", "Append CSV, NDJSON or Parquet files to a table (creating it if absent)"
	if mode == table.Overwrite {
		use, short = "overwrite PATH FILE...", "Replace a table's content (or, with --replace-where, some partitions) with files"
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  minArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			p, err := parseProperties(props)
			if err != nil {
				return err
			}
			iopts := ingest.Options{Format: ingest.Format(format)}
			var q *ingest.FileQuarantine
			if quarantine != "" {
				if q, err = ingest.NewFileQuarantine(quarantine); err != nil {
					return err
				}
				defer q.Close()
				iopts.Quarantine = q
			}
			src, err := table.NewFileSource(ctx, args[1:], iopts)
			if err != nil {
				return err
			}
			prog := newProgress(strings.ToLower(mode.String())+"ing", -1, "rows", g.quiet || g.json)
			src.OnBatch = prog.Add
			t, err := openTable(ctx, g, args[0])
			if err != nil {
				return err
			}
			res, err := t.Write(ctx, src, table.WriteOptions{
				Mode: mode, ReplaceWhere: replaceWhere, MergeSchema: mergeSchema,
				CreatePartitionBy: splitList(partitionBy), CreateProperties: p, TargetFileSize: targetFileSize,
				AppID: appID, AppVersion: appVersion,
			})
			prog.Done()
			if err != nil {
				return err
			}
			if res.Skipped {
				if g.json {
					return writeJSON(g.stdout, map[string]any{"location": t.Location(), "version": res.Version, "skipped": true, "appId": appID, "appVersion": appVersion})
				}
				fmt.Fprintf(g.stdout, "skipped: %s already has version %d of application %s (nothing written)\n", t.Location(), appVersion, appID)
				return nil
			}
			out := map[string]any{
				"location": t.Location(), "version": res.Version, "created": res.Created,
				"rowsRead": src.RowsRead(), "rowsWritten": res.RowsWritten, "rowsQuarantined": src.RowsQuarantined(),
				"filesAdded": res.FilesAdded, "filesRemoved": res.FilesRemoved, "bytesWritten": res.BytesWritten,
				"columnsAdded": res.SchemaAdded,
			}
			if quarantine != "" {
				out["quarantine"] = quarantine
			}
			if g.json {
				return writeJSON(g.stdout, out)
			}
			verb := "appended"
			if mode == table.Overwrite {
				verb = "wrote"
			}
			fmt.Fprintf(g.stdout, "%s %d rows in %d files (%s) to %s: version %d", verb, res.RowsWritten, res.FilesAdded, humanBytes(res.BytesWritten), t.Location(), res.Version)
			if res.Created {
				fmt.Fprint(g.stdout, " (table created)")
			}
			if res.FilesRemoved > 0 {
				fmt.Fprintf(g.stdout, ", %d files replaced", res.FilesRemoved)
			}
			fmt.Fprintln(g.stdout)
			if len(res.SchemaAdded) > 0 {
				fmt.Fprintf(g.stdout, "schema evolved: added %s\n", strings.Join(res.SchemaAdded, ", "))
			}
			if n := src.RowsQuarantined(); n > 0 {
				fmt.Fprintf(g.stdout, "%d malformed records quarantined in %s\n", n, quarantine)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&format, "format", "", "input format: csv, tsv, ndjson or parquet (default: from the file extension)")
	f.BoolVar(&mergeSchema, "merge-schema", false, "add the files' new columns to the table schema")
	f.StringVar(&quarantine, "quarantine", "", "write malformed records to this NDJSON file (with the reason) instead of failing")
	f.StringVar(&partitionBy, "partition-by", "", "partition columns, when the write creates the table")
	f.StringArrayVar(&props, "property", nil, "table property key=value, when the write creates the table")
	f.Int64Var(&targetFileSize, "target-file-size", 0, "data file size in bytes (default: delta.targetFileSize or 128 MiB)")
	f.StringVar(&appID, "app-id", "", "make the write idempotent: record it as --app-version of this application, and skip it if that version already landed")
	f.Int64Var(&appVersion, "app-version", 0, "the application's version for --app-id")
	if mode == table.Overwrite {
		f.StringVar(&replaceWhere, "replace-where", "", "overwrite only the partitions matching this predicate, e.g. \"date = '2024-01-01'\"")
	}
	return cmd
}

// --- scan ---

func newTableScanCmd(g *globals) *cobra.Command {
	var version int64
	var timestamp, format, output, columns, where string
	var limit int64
	cmd := &cobra.Command{
		Use:   "scan PATH",
		Short: "Read a table's rows, at the latest version or as of a version or timestamp",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			t, snap, err := openAt(ctx, g, args[0], cmd.Flags().Changed("version"), version, timestamp)
			if err != nil {
				return err
			}
			opts := table.ScanOptions{Columns: splitList(columns)}
			if where != "" {
				if opts.PartitionFilter, err = delta.ParsePredicate(where); err != nil {
					return usageError{err}
				}
			}
			sc, err := t.Scan(ctx, snap, opts)
			if err != nil {
				return err
			}
			defer sc.Release()
			if g.json && format == "" {
				format = "ndjson"
			}
			var w io.Writer = g.stdout
			if output != "" {
				f, err := os.Create(output)
				if err != nil {
					return err
				}
				defer f.Close()
				w = f
			} else if format == "parquet" {
				return usageError{fmt.Errorf("--format parquet needs --output FILE")}
			}
			if format == "" {
				format = "table"
			}
			n, err := writeRows(w, sc, format, limit)
			if err != nil {
				return err
			}
			if output != "" && !g.quiet {
				fmt.Fprintf(g.stderr, "wrote %d rows of %s version %d to %s\n", n, t.Location(), snap.Version(), output)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.Int64Var(&version, "version", -1, "read the table as of this version")
	f.StringVar(&timestamp, "timestamp", "", "read the table as of this time ('2026-01-01 10:00:00', RFC 3339; UTC unless a zone is given)")
	f.StringVar(&format, "format", "", "output format: table, csv, ndjson or parquet (default table; ndjson with --json)")
	f.StringVarP(&output, "output", "o", "", "write to this file instead of stdout")
	f.StringVar(&columns, "columns", "", "comma-separated columns to read (default all)")
	f.StringVar(&where, "where", "", "partition predicate: read only matching partitions")
	f.Int64Var(&limit, "limit", 0, "stop after this many rows (0 = all)")
	return cmd
}

// openAt opens the table at location and loads the snapshot --version or --timestamp ask for.
func openAt(ctx context.Context, g *globals, location string, hasVersion bool, version int64, timestamp string) (*table.Table, *delta.Snapshot, error) {
	t, err := openTable(ctx, g, location)
	if err != nil {
		return nil, nil, err
	}
	snap, err := snapshotFor(ctx, t, hasVersion, version, timestamp)
	if err != nil {
		return nil, nil, err
	}
	return t, snap, nil
}

// snapshotFor loads the latest snapshot, or the one at --version or --timestamp.
func snapshotFor(ctx context.Context, t *table.Table, hasVersion bool, version int64, timestamp string) (*delta.Snapshot, error) {
	if hasVersion && timestamp != "" {
		return nil, usageError{fmt.Errorf("--version and --timestamp are exclusive")}
	}
	if timestamp != "" {
		ts, err := parseTimestamp(timestamp)
		if err != nil {
			return nil, usageError{err}
		}
		return t.SnapshotAt(ctx, ts)
	}
	if hasVersion {
		if version < 0 {
			return nil, usageError{fmt.Errorf("--version must be >= 0")}
		}
		return t.Snapshot(ctx, version)
	}
	return t.Snapshot(ctx, -1)
}

func parseTimestamp(s string) (time.Time, error) {
	micros, err := delta.ParseTimestampMicros(s, false)
	if err != nil {
		if d, derr := delta.ParseDate(s); derr == nil {
			return time.Unix(int64(d)*86400, 0).UTC(), nil
		}
		return time.Time{}, fmt.Errorf("--timestamp %q: want '2006-01-02 15:04:05', a date or RFC 3339", s)
	}
	return time.UnixMicro(micros).UTC(), nil
}

// --- describe ---

func newTableDescribeCmd(g *globals) *cobra.Command {
	var version int64
	var timestamp string
	cmd := &cobra.Command{
		Use:   "describe PATH",
		Short: "Show a table's schema, protocol, features, partitioning, size and properties",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			t, snap, err := openAt(ctx, g, args[0], cmd.Flags().Changed("version"), version, timestamp)
			if err != nil {
				return err
			}
			d := describeSnapshot(ctx, t, snap)
			if g.json {
				return writeJSON(g.stdout, d)
			}
			printDescription(g.stdout, d)
			return nil
		},
	}
	cmd.Flags().Int64Var(&version, "version", -1, "describe the table as of this version")
	cmd.Flags().StringVar(&timestamp, "timestamp", "", "describe the table as of this time")
	return cmd
}

type columnDesc struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Nullable bool   `json:"nullable"`
	Physical string `json:"physicalName,omitempty"`
}

type tableDesc struct {
	Location         string            `json:"location"`
	Version          int64             `json:"version"`
	Timestamp        string            `json:"timestamp,omitempty"`
	ID               string            `json:"id"`
	Name             string            `json:"name,omitempty"`
	Description      string            `json:"description,omitempty"`
	CreatedTime      string            `json:"createdTime,omitempty"`
	Schema           []columnDesc      `json:"schema"`
	SchemaDDL        string            `json:"schemaDDL"`
	PartitionColumns []string          `json:"partitionColumns"`
	MinReaderVersion int               `json:"minReaderVersion"`
	MinWriterVersion int               `json:"minWriterVersion"`
	ReaderFeatures   []string          `json:"readerFeatures"`
	WriterFeatures   []string          `json:"writerFeatures"`
	ColumnMapping    string            `json:"columnMapping"`
	NumFiles         int               `json:"numFiles"`
	SizeInBytes      int64             `json:"sizeInBytes"`
	NumRecords       *int64            `json:"numRecords,omitempty"`
	Properties       map[string]string `json:"properties"`
	Transactions     map[string]int64  `json:"appTransactions,omitempty"`
}

func describeSnapshot(ctx context.Context, t *table.Table, snap *delta.Snapshot) tableDesc {
	md, p := snap.Metadata(), snap.Protocol()
	d := tableDesc{
		Location: t.Location(), Version: snap.Version(), ID: md.ID,
		SchemaDDL: delta.DDLString(snap.Schema()), PartitionColumns: md.PartitionColumns,
		MinReaderVersion: p.MinReaderVersion, MinWriterVersion: p.MinWriterVersion,
		ReaderFeatures: nonNilStrings(p.ReaderFeatures), WriterFeatures: nonNilStrings(p.WriterFeatures),
		ColumnMapping: snap.ColumnMappingMode(), NumFiles: len(snap.Files()), SizeInBytes: snap.SizeInBytes(),
		Properties: md.Configuration,
	}
	if d.PartitionColumns == nil {
		d.PartitionColumns = []string{}
	}
	if d.Properties == nil {
		d.Properties = map[string]string{}
	}
	if ts, err := snap.Timestamp(ctx); err == nil {
		d.Timestamp = ts.UTC().Format(time.RFC3339Nano)
	}
	if md.Name != nil {
		d.Name = *md.Name
	}
	if md.Description != nil {
		d.Description = *md.Description
	}
	if md.CreatedTime != nil {
		d.CreatedTime = time.UnixMilli(*md.CreatedTime).UTC().Format(time.RFC3339Nano)
	}
	for _, f := range snap.Schema().Fields {
		c := columnDesc{Name: f.Name, Type: f.Type.String(), Nullable: f.Nullable}
		if snap.ColumnMappingMode() != "none" {
			c.Physical = f.PhysicalName()
		}
		d.Schema = append(d.Schema, c)
	}
	if n, ok := snap.NumRecords(); ok {
		d.NumRecords = &n
	}
	if txns := snap.Txns(); len(txns) > 0 {
		d.Transactions = map[string]int64{}
		for id, tx := range txns {
			d.Transactions[id] = tx.Version
		}
	}
	return d
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func protocolString(p *delta.Protocol) string {
	s := fmt.Sprintf("reader %d, writer %d", p.MinReaderVersion, p.MinWriterVersion)
	if len(p.ReaderFeatures)+len(p.WriterFeatures) > 0 {
		s += fmt.Sprintf("; features %s", strings.Join(unionSorted(p.ReaderFeatures, p.WriterFeatures), ", "))
	}
	return s
}

func unionSorted(a, b []string) []string {
	m := map[string]bool{}
	for _, s := range append(append([]string{}, a...), b...) {
		m[s] = true
	}
	out := make([]string, 0, len(m))
	for s := range m {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

func printDescription(w io.Writer, d tableDesc) {
	tw := newTabWriter(w)
	fmt.Fprintf(tw, "Location\t%s\n", d.Location)
	fmt.Fprintf(tw, "Version\t%d\t%s\n", d.Version, d.Timestamp)
	fmt.Fprintf(tw, "Table id\t%s\n", d.ID)
	if d.Name != "" {
		fmt.Fprintf(tw, "Name\t%s\n", d.Name)
	}
	if d.Description != "" {
		fmt.Fprintf(tw, "Description\t%s\n", d.Description)
	}
	fmt.Fprintf(tw, "Protocol\treader %d, writer %d\n", d.MinReaderVersion, d.MinWriterVersion)
	if feats := unionSorted(d.ReaderFeatures, d.WriterFeatures); len(feats) > 0 {
		fmt.Fprintf(tw, "Features\t%s\n", strings.Join(feats, ", "))
	}
	if d.ColumnMapping != "none" {
		fmt.Fprintf(tw, "Column mapping\t%s\n", d.ColumnMapping)
	}
	part := "(none)"
	if len(d.PartitionColumns) > 0 {
		part = strings.Join(d.PartitionColumns, ", ")
	}
	fmt.Fprintf(tw, "Partitioned by\t%s\n", part)
	records := "unknown (some files lack statistics)"
	if d.NumRecords != nil {
		records = fmt.Sprint(*d.NumRecords)
	}
	fmt.Fprintf(tw, "Files\t%d (%s, %s rows)\n", d.NumFiles, humanBytes(d.SizeInBytes), records)
	tw.Flush()
	fmt.Fprintln(w, "\nSchema")
	tw = newTabWriter(w)
	for _, c := range d.Schema {
		null := ""
		if !c.Nullable {
			null = "NOT NULL"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", c.Name, c.Type, null, c.Physical)
	}
	tw.Flush()
	if len(d.Properties) > 0 {
		fmt.Fprintln(w, "\nProperties")
		tw = newTabWriter(w)
		keys := make([]string, 0, len(d.Properties))
		for k := range d.Properties {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(tw, "  %s\t%s\n", k, d.Properties[k])
		}
		tw.Flush()
	}
	if len(d.Transactions) > 0 {
		fmt.Fprintln(w, "\nApplication transactions")
		tw = newTabWriter(w)
		for id, v := range d.Transactions {
			fmt.Fprintf(tw, "  %s\t%d\n", id, v)
		}
		tw.Flush()
	}
}

// --- history ---

func newTableHistoryCmd(g *globals) *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:   "history PATH",
		Short: "List a table's commits, newest first, with operation, parameters and metrics",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			t, err := openTable(ctx, g, args[0])
			if err != nil {
				return err
			}
			h, err := t.Kernel().History(ctx, limit)
			if err != nil {
				return err
			}
			if g.json {
				return writeJSON(g.stdout, h)
			}
			tw := newTabWriter(g.stdout)
			fmt.Fprintln(tw, "VERSION\tTIMESTAMP\tOPERATION\tPARAMETERS\tMETRICS")
			for _, e := range h {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", e.Version, e.Timestamp.Format("2006-01-02 15:04:05"), e.Operation,
					compactMap(e.OperationParameters), compactMap(e.OperationMetrics))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 0, "show at most this many commits (0 = all)")
	return cmd
}

func compactMap(m map[string]any) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%v", k, m[k])
	}
	return strings.Join(parts, " ")
}

// --- vacuum ---

func newTableVacuumCmd(g *globals) *cobra.Command {
	var retain string
	var dryRun, force bool
	cmd := &cobra.Command{
		Use:   "vacuum PATH",
		Short: "Delete data files no longer referenced by the table and older than the retention",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			t, snap, err := openLatest(ctx, g, args[0])
			if err != nil {
				return err
			}
			retention := delta.DeletedFileRetention(snap.Metadata())
			if retain != "" {
				if retention, err = delta.ParseInterval(retain); err != nil {
					return usageError{fmt.Errorf("--retain %q: %v (examples: 168h, 7d, '7 days')", retain, err)}
				}
			}
			plan, err := t.Kernel().PlanVacuum(ctx, snap, retention, force)
			if err != nil {
				return err
			}
			deleted := 0
			if !dryRun && len(plan.Files) > 0 {
				if deleted, err = t.Kernel().Vacuum(ctx, snap, plan); err != nil {
					return err
				}
			}
			files := make([]string, len(plan.Files))
			for i, f := range plan.Files {
				files[i] = f.Key
			}
			if g.json {
				return writeJSON(g.stdout, map[string]any{
					"location": t.Location(), "dryRun": dryRun, "retentionHours": retention.Hours(),
					"files": files, "numFiles": len(files), "bytes": plan.Bytes, "numDeleted": deleted,
				})
			}
			if dryRun {
				fmt.Fprintf(g.stdout, "would delete %d files (%s), unreferenced for more than %s:\n", len(files), humanBytes(plan.Bytes), retention)
				for _, f := range files {
					fmt.Fprintln(g.stdout, "  "+f)
				}
				return nil
			}
			fmt.Fprintf(g.stdout, "deleted %d files (%s) from %s\n", deleted, humanBytes(plan.Bytes), t.Location())
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&retain, "retain", "", "keep unreferenced files newer than this (default: delta.deletedFileRetentionDuration, 7 days)")
	f.BoolVar(&dryRun, "dry-run", false, "list the files that would be deleted, delete nothing")
	f.BoolVar(&force, "force", false, "allow a retention shorter than the table's delta.deletedFileRetentionDuration")
	return cmd
}

// --- restore ---

func newTableRestoreCmd(g *globals) *cobra.Command {
	var version int64
	var timestamp string
	cmd := &cobra.Command{
		Use:   "restore PATH --version N",
		Short: "Make the table's content what it was at an earlier version (as a new commit)",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if !cmd.Flags().Changed("version") && timestamp == "" {
				return usageError{fmt.Errorf("--version or --timestamp is required")}
			}
			t, err := openTable(ctx, g, args[0])
			if err != nil {
				return err
			}
			target, err := snapshotFor(ctx, t, cmd.Flags().Changed("version"), version, timestamp)
			if err != nil {
				return err
			}
			cur, err := t.Snapshot(ctx, -1)
			if err != nil {
				return err
			}
			tx, err := t.Kernel().Restore(ctx, cur, target.Version())
			if err != nil {
				return err
			}
			res, err := tx.Commit(ctx)
			if err != nil {
				return err
			}
			if g.json {
				return writeJSON(g.stdout, map[string]any{"location": t.Location(), "version": res.Version, "restoredVersion": target.Version()})
			}
			fmt.Fprintf(g.stdout, "restored %s to version %d: new version %d\n", t.Location(), target.Version(), res.Version)
			return nil
		},
	}
	cmd.Flags().Int64Var(&version, "version", -1, "version to restore")
	cmd.Flags().StringVar(&timestamp, "timestamp", "", "restore the version current at this time")
	return cmd
}

// --- alter ---

func newTableAlterCmd(g *globals) *cobra.Command {
	var set, unset []string
	var comment string
	cmd := &cobra.Command{
		Use:   "alter PATH [--set-property k=v]... [--unset-property k]... [--comment TEXT]",
		Short: "Change table properties or the description (ALTER TABLE SET/UNSET TBLPROPERTIES), upgrading the protocol when a property needs a feature",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			props, err := parseProperties(set)
			if err != nil {
				return err
			}
			if len(props) == 0 && len(unset) == 0 && !cmd.Flags().Changed("comment") {
				return usageError{fmt.Errorf("nothing to change: give --set-property, --unset-property or --comment")}
			}
			t, snap, err := openLatest(ctx, g, args[0])
			if err != nil {
				return err
			}
			proto, md, err := delta.AlterProperties(snap, props, unset)
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("comment") {
				md.Description = &comment
			}
			op := delta.Operation{Name: "SET TBLPROPERTIES", Parameters: map[string]any{"properties": props}}
			if len(props) == 0 && len(unset) > 0 {
				op = delta.Operation{Name: "UNSET TBLPROPERTIES", Parameters: map[string]any{"properties": unset, "ifExists": false}}
			}
			if len(props) == 0 && len(unset) == 0 {
				op = delta.Operation{Name: "CHANGE COMMENT", Parameters: map[string]any{"comment": comment}}
			}
			tx := t.Kernel().NewTransaction(snap, op)
			tx.SetMetadata(md)
			if proto != nil {
				tx.SetProtocol(proto)
			}
			res, err := tx.Commit(ctx)
			if err != nil {
				return err
			}
			after, err := t.Snapshot(ctx, res.Version)
			if err != nil {
				return err
			}
			if g.json {
				return writeJSON(g.stdout, describeSnapshot(ctx, t, after))
			}
			fmt.Fprintf(g.stdout, "altered %s: version %d (protocol %s)\n", t.Location(), res.Version, protocolString(after.Protocol()))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&set, "set-property", nil, "set a table property key=value (repeatable), e.g. delta.logRetentionDuration='interval 60 days'")
	f.StringArrayVar(&unset, "unset-property", nil, "remove a table property (repeatable)")
	f.StringVar(&comment, "comment", "", "set the table description")
	return cmd
}

// --- checkpoint ---

func newTableCheckpointCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "checkpoint PATH",
		Short: "Write a checkpoint of the latest version (and update _last_checkpoint)",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			t, snap, err := openLatest(ctx, g, args[0])
			if err != nil {
				return err
			}
			if err := t.Kernel().Checkpoint(ctx, snap); err != nil {
				return err
			}
			key := delta.ClassicCheckpointKey(snap.Version())
			if g.json {
				return writeJSON(g.stdout, map[string]any{"location": t.Location(), "version": snap.Version(), "checkpoint": key})
			}
			fmt.Fprintf(g.stdout, "checkpointed %s at version %d (%s)\n", t.Location(), snap.Version(), key)
			return nil
		},
	}
	return cmd
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
