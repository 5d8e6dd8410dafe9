package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"

	"github.com/stratalake/strata/internal/log"
	"github.com/stratalake/strata/internal/log/backends"
	"github.com/stratalake/strata/internal/log/httpingest"
	"github.com/stratalake/strata/internal/project"
)

// logFlags say which log a `strata log` command works on.
type logFlags struct {
	dir        string
	brokers    []string
	projectDir string
}

func (f *logFlags) register(cmd *cobra.Command) {
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.dir, "log-dir", "", "the embedded log's folder (default: the project's log: key)")
	pf.StringSliceVar(&f.brokers, "brokers", nil, "Kafka bootstrap brokers host:port,... (default: the project's log: key)")
	pf.StringVar(&f.projectDir, "project", "", "project folder (default: the strata.yaml of the current directory or its parents)")
}

// open opens the log named by --log-dir, --brokers, or the project's strata.yaml, in that order.
func (f *logFlags) open(ctx context.Context) (log.Log, error) {
	var cfg project.LogConfig
	switch {
	case f.dir != "" && len(f.brokers) > 0:
		return nil, usageError{errors.New("give --log-dir or --brokers, not both")}
	case f.dir != "":
		cfg = project.LogConfig{Backend: project.LogEmbedded, Dir: f.dir}
	case len(f.brokers) > 0:
		cfg = project.LogConfig{Backend: project.LogKafka, Brokers: f.brokers}
	default:
		var p *project.Project
		var err error
		if f.projectDir != "" {
			p, err = project.Load(f.projectDir)
		} else {
			p, err = project.Find(".")
		}
		if err != nil {
			return nil, fmt.Errorf("%w; or name the log with --log-dir DIR or --brokers HOST:PORT", err)
		}
		cfg = p.Config.Log
	}
	return backends.Open(ctx, cfg)
}

func newLogCmd(g *globals) *cobra.Command {
	f := &logFlags{}
	cmd := &cobra.Command{
		Use:   "log",
		Short: "The event log: topics, produce, consume",
		Long: `The event log: topics of partitions holding ordered, immutable records, kept by a retention
policy, replayable from any offset or point in time. The log is the project's (strata.yaml's log:
key: embedded segment files, or a Kafka cluster), or --log-dir DIR (embedded) or --brokers (Kafka).`,
	}
	f.register(cmd)
	topic := &cobra.Command{Use: "topic", Short: "Create, list and describe topics"}
	topic.AddCommand(newTopicCreateCmd(g, f), newTopicListCmd(g, f), newTopicDescribeCmd(g, f), newTopicDeleteCmd(g, f))
	cmd.AddCommand(topic, newProduceCmd(g, f), newConsumeCmd(g, f), newLogServeCmd(g, f))
	return cmd
}

// withLog opens the log, runs fn and closes the log.
func withLog(ctx context.Context, f *logFlags, fn func(l log.Log) error) error {
	l, err := f.open(ctx)
	if err != nil {
		return err
	}
	err = fn(l)
	if cerr := l.Close(); err == nil && cerr != nil && !errors.Is(cerr, log.ErrClosed) {
		err = cerr
	}
	return err
}

func newTopicCreateCmd(g *globals, f *logFlags) *cobra.Command {
	var partitions int
	var retention []string
	var compact, deleteUncommitted bool
	var tombstones string
	cmd := &cobra.Command{
		Use:   "create NAME [--partitions N] [--retention 7d|100GB|infinite] [--compact]",
		Short: "Create a topic",
		Long: `Create a topic. --retention takes a time (ms, s, m, h, d, w: 7d), a size per partition (B, KB,
MB, GB, TB or KiB, MiB, GiB, TiB: 100GB), both (--retention 7d --retention 100GB), or infinite (the
default). --compact keeps the last record of each key (a record with a null value deletes its
key after --tombstone-retention). Retention and compaction never remove records a consumer group
has not committed past, unless --delete-uncommitted.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg := log.TopicConfig{Partitions: partitions, Compact: compact, DeleteUncommitted: deleteUncommitted}
			var err error
			if cfg.Retention, err = parseRetention(retention); err != nil {
				return usageError{err}
			}
			if tombstones != "" {
				if cfg.TombstoneRetention, err = parseDuration(tombstones); err != nil {
					return usageError{fmt.Errorf("--tombstone-retention: %w", err)}
				}
			}
			return withLog(cmd.Context(), f, func(l log.Log) error {
				if err := l.CreateTopic(cmd.Context(), args[0], cfg); err != nil {
					return err
				}
				if g.json {
					return writeJSON(g.stdout, map[string]any{"topic": args[0], "partitions": max(partitions, 1),
						"retention": retentionText(cfg.Retention), "compact": compact})
				}
				fmt.Fprintf(g.stdout, "created topic %s: %d partitions, retention %s%s\n", args[0], max(partitions, 1),
					retentionText(cfg.Retention), map[bool]string{true: ", compacted"}[compact])
				return nil
			})
		},
	}
	cmd.Flags().IntVar(&partitions, "partitions", 1, "number of partitions")
	cmd.Flags().StringArrayVar(&retention, "retention", nil, "retention: a time (7d), a size (100GB), or infinite; repeat for both")
	cmd.Flags().BoolVar(&compact, "compact", false, "keep only the last record of each key")
	cmd.Flags().StringVar(&tombstones, "tombstone-retention", "", "how long compaction keeps a tombstone (default 24h)")
	cmd.Flags().BoolVar(&deleteUncommitted, "delete-uncommitted", false, "let retention remove records consumer groups have not committed past")
	return cmd
}

func newTopicListCmd(g *globals, f *logFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List topics with their partitions, records and size",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withLog(cmd.Context(), f, func(l log.Log) error {
				names, err := l.ListTopics(cmd.Context())
				if err != nil {
					return err
				}
				infos := make([]log.TopicInfo, 0, len(names))
				for _, n := range names {
					ti, err := l.DescribeTopic(cmd.Context(), n)
					if err != nil {
						return err
					}
					infos = append(infos, ti)
				}
				if g.json {
					out := make([]map[string]any, 0, len(infos))
					for _, ti := range infos {
						out = append(out, topicSummary(ti))
					}
					return writeJSON(g.stdout, map[string]any{"topics": out})
				}
				tw := newTabWriter(g.stdout)
				fmt.Fprintln(tw, "TOPIC\tPARTITIONS\tRECORDS\tSIZE\tRETENTION\tCOMPACT")
				for _, ti := range infos {
					s := topicSummary(ti)
					fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%v\n", ti.Name, len(ti.Partitions), s["records"], humanBytes(s["bytes"].(int64)), s["retention"], ti.Config.Compact)
				}
				return tw.Flush()
			})
		},
	}
}

func topicSummary(ti log.TopicInfo) map[string]any {
	var records, bytes int64
	for _, p := range ti.Partitions {
		records += p.Records
		bytes += p.Bytes
	}
	return map[string]any{"topic": ti.Name, "partitions": len(ti.Partitions), "records": records, "bytes": bytes,
		"retention": retentionText(ti.Config.Retention), "compact": ti.Config.Compact}
}

func newTopicDescribeCmd(g *globals, f *logFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "describe NAME",
		Short: "Show a topic's partitions, offsets, sizes, retention and what retention removed",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withLog(cmd.Context(), f, func(l log.Log) error {
				ti, err := l.DescribeTopic(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				if g.json {
					parts := make([]map[string]any, 0, len(ti.Partitions))
					for _, p := range ti.Partitions {
						parts = append(parts, map[string]any{"partition": p.Partition, "earliest": p.Earliest, "latest": p.Latest, "records": p.Records, "bytes": p.Bytes})
					}
					return writeJSON(g.stdout, map[string]any{
						"topic": ti.Name, "partitions": parts,
						"config": map[string]any{"partitions": ti.Config.Partitions, "retention": retentionText(ti.Config.Retention),
							"retentionMs": ti.Config.Retention.Time.Milliseconds(), "retentionBytes": ti.Config.Retention.Bytes,
							"compact": ti.Config.Compact, "tombstoneRetentionMs": ti.Config.TombstoneRetention.Milliseconds(),
							"deleteUncommitted": ti.Config.DeleteUncommitted},
						"removed": map[string]any{"byTime": ti.Removed.ByTime, "bySize": ti.Removed.BySize, "byCompaction": ti.Removed.ByCompaction,
							"bytes": ti.Removed.Bytes, "heldBack": ti.Removed.HeldBack},
					})
				}
				fmt.Fprintf(g.stdout, "topic %s: %d partitions, retention %s", ti.Name, len(ti.Partitions), retentionText(ti.Config.Retention))
				if ti.Config.Compact {
					fmt.Fprintf(g.stdout, ", compacted (tombstones kept %s)", ti.Config.TombstoneRetention)
				}
				if ti.Config.DeleteUncommitted {
					fmt.Fprint(g.stdout, ", may delete records consumer groups have not committed past")
				}
				fmt.Fprintln(g.stdout)
				r := ti.Removed
				fmt.Fprintf(g.stdout, "removed so far: %d records by time, %d by size, %d by compaction (%s); %d held back for consumer groups\n",
					r.ByTime, r.BySize, r.ByCompaction, humanBytes(r.Bytes), r.HeldBack)
				tw := newTabWriter(g.stdout)
				fmt.Fprintln(tw, "PARTITION\tEARLIEST\tLATEST\tRECORDS\tSIZE")
				for _, p := range ti.Partitions {
					fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%s\n", p.Partition, p.Earliest, p.Latest, p.Records, humanBytes(p.Bytes))
				}
				return tw.Flush()
			})
		},
	}
}

func newTopicDeleteCmd(g *globals, f *logFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a topic and its records",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withLog(cmd.Context(), f, func(l log.Log) error {
				if err := l.DeleteTopic(cmd.Context(), args[0]); err != nil {
					return err
				}
				if g.json {
					return writeJSON(g.stdout, map[string]any{"topic": args[0], "deleted": true})
				}
				fmt.Fprintf(g.stdout, "deleted topic %s\n", args[0])
				return nil
			})
		},
	}
}

// produceBatch is the number of records one Produce call carries.
const produceBatch = 5000

func newProduceCmd(g *globals, f *logFlags) *cobra.Command {
	var file, keyField, timeField string
	var partition int32
	cmd := &cobra.Command{
		Use:   "produce TOPIC [--file F] [--key-field FIELD]",
		Short: "Append NDJSON records (from a file or standard input) to a topic",
		Long: `Append records to a topic: one JSON object per line (NDJSON), from --file or standard input, or a
JSON array of objects. Each object is one record; --key-field names the field whose value is the
record key (which picks the partition), --timestamp-field the field holding its event time (RFC
3339 or epoch milliseconds). The input is checked whole first: one malformed line refuses it,
naming every bad line and column, and nothing is written.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var in io.Reader = os.Stdin
			name := "standard input"
			if file != "" && file != "-" {
				fh, err := os.Open(file)
				if err != nil {
					return err
				}
				defer fh.Close()
				in, name = fh, file
			}
			data, err := io.ReadAll(in)
			if err != nil {
				return fmt.Errorf("reading %s: %w", name, err)
			}
			recs, problems, rejected := httpingest.Parse(data, httpingest.ParseOptions{Array: httpingest.IsJSONArray("", data), KeyField: keyField, TimestampField: timeField, MaxProblems: 20})
			if rejected > 0 {
				var b strings.Builder
				fmt.Fprintf(&b, "%s: %d malformed records; nothing was written:", name, rejected)
				for _, p := range problems {
					fmt.Fprintf(&b, "\n  %s:%d:%d: %s", name, p.Line, p.Column, p.Message)
				}
				if rejected > len(problems) {
					fmt.Fprintf(&b, "\n  ... and %d more", rejected-len(problems))
				}
				return errors.New(b.String())
			}
			if len(recs) == 0 {
				return fmt.Errorf("%s holds no records", name)
			}
			for i := range recs {
				recs[i].Partition = partition
			}
			return withLog(cmd.Context(), f, func(l log.Log) error {
				bar := newProgress("producing to "+args[0], int64(len(recs)), "records", g.quiet || len(recs) < 2*produceBatch)
				defer bar.Done()
				counts := map[int32][2]int64{} // partition -> first, last offset
				written := 0
				for start := 0; start < len(recs); start += produceBatch {
					out, err := l.Produce(cmd.Context(), args[0], recs[start:min(start+produceBatch, len(recs))])
					if err != nil {
						if written > 0 {
							return fmt.Errorf("%w (the first %d records were written, the rest was not)", err, written)
						}
						return err
					}
					for _, r := range out {
						c, ok := counts[r.Partition]
						if !ok {
							c = [2]int64{r.Offset, r.Offset}
						}
						c[0], c[1] = min(c[0], r.Offset), max(c[1], r.Offset)
						counts[r.Partition] = c
					}
					written += len(out)
					bar.Add(int64(len(out)))
				}
				parts := make([]int32, 0, len(counts))
				for p := range counts {
					parts = append(parts, p)
				}
				sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
				if g.json {
					ps := make([]map[string]any, 0, len(parts))
					for _, p := range parts {
						ps = append(ps, map[string]any{"partition": p, "first_offset": counts[p][0], "last_offset": counts[p][1]})
					}
					return writeJSON(g.stdout, map[string]any{"topic": args[0], "records": written, "partitions": ps})
				}
				var spans []string
				for _, p := range parts {
					spans = append(spans, fmt.Sprintf("partition %d offsets %d-%d", p, counts[p][0], counts[p][1]))
				}
				fmt.Fprintf(g.stdout, "produced %d records to %s: %s\n", written, args[0], strings.Join(spans, ", "))
				return nil
			})
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "NDJSON file to produce (default: standard input)")
	cmd.Flags().StringVar(&keyField, "key-field", "", "field whose value is the record key")
	cmd.Flags().StringVar(&timeField, "timestamp-field", "", "field whose value is the record timestamp (RFC 3339 or epoch ms)")
	cmd.Flags().Int32Var(&partition, "partition", -1, "write every record to this partition (default: by key, or spread)")
	return cmd
}

func newConsumeCmd(g *globals, f *logFlags) *cobra.Command {
	var from, group string
	var maxRecords int64
	var follow bool
	var partitions []int32
	cmd := &cobra.Command{
		Use:   "consume TOPIC [--from earliest|latest|OFFSET|TIMESTAMP] [--group G] [--max N]",
		Short: "Print a topic's records",
		Long: `Print a topic's records, partition by partition in offset order: each record's value on its own
line, or with --json one object per line with partition, offset, timestamp, key, headers and value.
--from is where to start in every partition: earliest (the default), latest, an offset, or a time
(RFC 3339: the first record at or after it). With --group G the group's committed offsets are the
start (--from for partitions it never committed), and the offsets after the printed records are
committed at the end. Without --follow the command stops at the offsets that were the latest
when it started; --max N stops after N records.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, topic := cmd.Context(), args[0]
			return withLog(ctx, f, func(l log.Log) error {
				ti, err := l.DescribeTopic(ctx, topic)
				if err != nil {
					return err
				}
				parts := partitions
				if len(parts) == 0 {
					for _, p := range ti.Partitions {
						parts = append(parts, p.Partition)
					}
				}
				var committed map[int32]int64
				if group != "" {
					if committed, err = l.CommittedOffsets(ctx, group, topic); err != nil {
						return err
					}
				}
				next := map[int32]int64{}
				end := map[int32]int64{}
				for _, p := range parts {
					earliest, latest, err := l.Offsets(ctx, topic, p)
					if err != nil {
						return err
					}
					end[p] = latest
					if off, ok := committed[p]; ok {
						next[p] = max(off, earliest)
						continue
					}
					if next[p], err = startOffset(ctx, l, topic, p, from, earliest, latest); err != nil {
						return err
					}
				}
				printed := int64(0)
				enc := json.NewEncoder(g.stdout)
				emit := func(r log.Record) error {
					printed++
					if !g.json {
						_, err := fmt.Fprintf(g.stdout, "%s\n", r.Value)
						return err
					}
					return enc.Encode(recordJSON(r))
				}
				done := func() bool { return maxRecords > 0 && printed >= maxRecords }
				for !done() {
					progressed := false
					for _, p := range parts {
						if done() {
							break
						}
						if !follow && next[p] >= end[p] {
							continue
						}
						opts := log.FetchOptions{MaxBytes: 1 << 20}
						if maxRecords > 0 {
							opts.MaxRecords = int(maxRecords - printed)
						}
						if follow && len(parts) == 1 {
							opts.MaxWait = 5 * time.Second
						}
						recs, err := l.Fetch(ctx, topic, p, next[p], opts)
						var oor *log.OffsetRangeError
						if errors.As(err, &oor) && next[p] < oor.Earliest {
							next[p] = oor.Earliest // retention removed what we were about to read
							continue
						}
						if err != nil {
							return err
						}
						for _, r := range recs {
							if !follow && r.Offset >= end[p] {
								break
							}
							if err := emit(r); err != nil {
								return err
							}
							next[p] = r.Offset + 1
							progressed = true
							if done() {
								break
							}
						}
						if len(recs) == 0 && !follow {
							next[p] = end[p] // a compaction gap at the end
						}
					}
					if !follow && !progressed {
						finished := true
						for _, p := range parts {
							if next[p] < end[p] {
								finished = false
							}
						}
						if finished {
							break
						}
					}
					if follow && !progressed && len(parts) > 1 {
						select {
						case <-ctx.Done():
						case <-time.After(200 * time.Millisecond):
						}
					}
					if ctx.Err() != nil {
						break
					}
				}
				if group != "" {
					commit := map[int32]int64{}
					for _, p := range parts {
						commit[p] = next[p]
					}
					if err := l.CommitOffsets(context.WithoutCancel(ctx), group, topic, commit); err != nil {
						return err
					}
				}
				if !g.quiet {
					fmt.Fprintf(g.stderr, "strata: %d records from %s\n", printed, topic)
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&from, "from", "earliest", "earliest, latest, an offset, or an RFC 3339 time")
	cmd.Flags().StringVar(&group, "group", "", "consumer group: start at its committed offsets and commit at the end")
	cmd.Flags().Int64Var(&maxRecords, "max", 0, "stop after this many records (0: no limit)")
	cmd.Flags().BoolVar(&follow, "follow", false, "keep waiting for new records (stop with Ctrl-C)")
	cmd.Flags().Int32SliceVar(&partitions, "partition", nil, "read only these partitions")
	return cmd
}

// startOffset resolves --from for one partition.
func startOffset(ctx context.Context, l log.Log, topic string, p int32, from string, earliest, latest int64) (int64, error) {
	switch from {
	case "", "earliest":
		return earliest, nil
	case "latest":
		return latest, nil
	}
	if n, err := strconv.ParseInt(from, 10, 64); err == nil {
		if n < earliest || n > latest {
			return 0, fmt.Errorf("--from %d: partition %d holds offsets %d to %d", n, p, earliest, latest)
		}
		return n, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, from); err == nil {
			return l.OffsetForTime(ctx, topic, p, t)
		}
	}
	return 0, usageError{fmt.Errorf("--from %q: want earliest, latest, an offset or an RFC 3339 time", from)}
}

// recordJSON is a record as --json prints it: the value inline when it is JSON, else a string.
func recordJSON(r log.Record) map[string]any {
	out := map[string]any{"partition": r.Partition, "offset": r.Offset, "timestamp": r.Timestamp.UTC().Format(time.RFC3339Nano)}
	if r.Key != nil {
		out["key"] = string(r.Key)
	} else {
		out["key"] = nil
	}
	if len(r.Headers) > 0 {
		hs := map[string]string{}
		for _, h := range r.Headers {
			hs[h.Key] = string(h.Value)
		}
		out["headers"] = hs
	}
	switch {
	case r.Value == nil:
		out["value"] = nil
	case json.Valid(r.Value):
		out["value"] = json.RawMessage(r.Value)
	default:
		out["value"] = string(r.Value)
	}
	return out
}

// parseRetention reads --retention values: times, sizes, or infinite.
func parseRetention(vals []string) (log.Retention, error) {
	var r log.Retention
	for _, v := range vals {
		v = strings.TrimSpace(strings.ToLower(v))
		if v == "infinite" || v == "forever" || v == "-1" {
			if len(vals) > 1 {
				return r, errors.New("--retention infinite cannot be combined with a limit")
			}
			return log.Retention{}, nil
		}
		if d, err := parseDuration(v); err == nil {
			if r.Time != 0 {
				return r, fmt.Errorf("--retention %s: a time limit was given twice", v)
			}
			r.Time = d
			continue
		}
		n, err := humanize.ParseBytes(v)
		if err != nil || n == 0 || !strings.ContainsAny(v, "bB") {
			return r, fmt.Errorf("--retention %q: want a time (7d, 12h), a size (100GB) or infinite", v)
		}
		if r.Bytes != 0 {
			return r, fmt.Errorf("--retention %s: a size limit was given twice", v)
		}
		r.Bytes = int64(n)
	}
	return r, nil
}

// parseDuration reads Go durations plus days (d) and weeks (w).
func parseDuration(v string) (time.Duration, error) {
	for suffix, unit := range map[string]time.Duration{"d": 24 * time.Hour, "w": 7 * 24 * time.Hour} {
		if num, ok := strings.CutSuffix(v, suffix); ok {
			n, err := strconv.ParseFloat(num, 64)
			if err != nil || n <= 0 {
				return 0, fmt.Errorf("bad duration %q", v)
			}
			return time.Duration(n * float64(unit)), nil
		}
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("bad duration %q", v)
	}
	return d, nil
}

// retentionText renders a retention the way --retention takes it.
func retentionText(r log.Retention) string {
	var parts []string
	if r.Time > 0 {
		if r.Time%(24*time.Hour) == 0 {
			parts = append(parts, fmt.Sprintf("%dd", r.Time/(24*time.Hour)))
		} else {
			parts = append(parts, r.Time.String())
		}
	}
	if r.Bytes > 0 {
		parts = append(parts, humanize.Bytes(uint64(r.Bytes)))
	}
	if len(parts) == 0 {
		return "infinite"
	}
	return strings.Join(parts, " or ")
}

func newLogServeCmd(g *globals, f *logFlags) *cobra.Command {
	var addr string
	cmd := &cobra.Command{
		Use:   "serve [--http ADDR]",
		Short: "Serve the HTTP ingest endpoint: POST /v1/topics/{topic}/records",
		Long: `Serve the log's HTTP ingest endpoint for applications and devices:

  POST /v1/topics/{topic}/records[?key_field=F][&timestamp_field=F][&partition=N]

with NDJSON or a JSON array of objects as the body. A request is checked whole before anything is
written (a malformed object refuses it with 400, naming every bad line and column) and answered
200 with the offsets only once the log holds the records durably. Stop with Ctrl-C.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withLog(cmd.Context(), f, func(l log.Log) error {
				mux := http.NewServeMux()
				mux.Handle("/v1/topics/", httpingest.New(l, httpingest.Options{}))
				ln, err := net.Listen("tcp", addr)
				if err != nil {
					return err
				}
				srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
				fmt.Fprintf(g.stderr, "strata: ingest endpoint on http://%s/v1/topics/{topic}/records\n", ln.Addr())
				errc := make(chan error, 1)
				go func() { errc <- srv.Serve(ln) }()
				select {
				case err := <-errc:
					return err
				case <-cmd.Context().Done():
					shutdown, cancel := context.WithTimeout(context.WithoutCancel(cmd.Context()), 10*time.Second)
					defer cancel()
					return srv.Shutdown(shutdown)
				}
			})
		},
	}
	cmd.Flags().StringVar(&addr, "http", "localhost:8480", "address to listen on")
	return cmd
}
