// Package kafka is the Kafka backend of Strata's event log: log.Log over any Kafka-protocol
// cluster (Apache Kafka 2.8+, Redpanda, ...) through franz-go.
//
// # Mapping
//
// A log topic is a Kafka topic with the same name and partition count; offsets, keys, values,
// headers and millisecond timestamps are Kafka's own, so any Kafka client reads what Strata
// writes and the other way round. Consumer-group offsets are Kafka's committed offsets (OffsetCommit
// without group membership, as a "simple" consumer does), so kafka-consumer-groups.sh and lag
// monitors see them.
//
// # What Kafka cannot store, and where it lives
//
// Kafka topic configs cannot carry Strata's own settings: Apache Kafka refuses unknown topic
// config names with INVALID_CONFIG (kfake happens to store them, which is no ground to rely on),
// and counters change too often for configs anyway. So each topic's Strata config
// (DeleteUncommitted, the intended retention) and its removal counters live in a compacted
// topic, DefaultStateTopic ("__strata_topics"),
// one JSON record per topic keyed by its name, tombstoned when the topic is deleted. Every
// record carries the Kafka topic ID, so a record left behind by a topic deleted and re-created
// outside Strata is ignored. Open creates the state topic when it is missing and reads it;
// DescribeTopic and Clean read what other processes appended since.
//
// # Retention and the held-back rule
//
// Brokers do not know Strata's rule that retention never removes a record at or after the
// lowest offset committed by any consumer group. So a topic with a Retention and without
// DeleteUncommitted is created with broker-side retention off (retention.ms=-1,
// retention.bytes=-1, cleanup.policy without "delete"), and Clean enforces the retention itself:
// per partition it computes the cut-off (time: ListOffsets by timestamp now-Time, the first
// offset whose time-index timestamp is at or after it, so only a prefix of records all older
// than the limit goes; size: whole record batches, oldest first, while the partition is larger
// than Bytes, from a scan of its batch headers), lowers it to the lowest offset committed by any
// group that committed the partition, and moves the log start there with DeleteRecords.
// Records removed, bytes freed (of batches wholly below the new start; a batch cut in two is
// counted when its last record goes) and records held back are counted from the batches read.
// Removal.HeldBack adds, at each Clean, the records held back then, as the embedded backend
// does. Reading what goes costs one extra read of each expired record; a size limit or
// compaction costs a scan of the partition's batch headers (its whole data on the wire) per
// Clean.
//
// With DeleteUncommitted the broker enforces the retention too (retention.ms/retention.bytes,
// cleanup.policy=delete or compact,delete), so records expire even with no Strata process
// running; Clean still applies it at once. A log start that the broker moved on its own is
// counted when Clean or DescribeTopic next sees it: its offset span as records (an estimate, and
// an upper bound on compacted topics), no bytes.
//
// Topics that Strata did not create (no state record) are left to the broker: Clean does not
// touch them, DescribeTopic reports their broker configs with DeleteUncommitted set (the broker
// removes records whatever the groups committed) and no removal counts.
//
// Sizes: the Log produces without compression by default (as Kafka's Java producer does), so
// that Retention.Bytes measures about the records' own bytes, as on the embedded backend. With a
// compression codec (WithClientOptions(kgo.ProducerBatchCompression(...))) it measures the
// compressed batches that the broker stores.
//
// # Compaction
//
// Compaction is the broker's log cleaner. It cannot be held back by committed offsets on Kafka
// (min.compaction.lag.ms is the broker's only brake, and it is a time), Clean cannot trigger it,
// it never cleans the active segment (nor lets the active segment's keys supersede older
// records), and it runs on the broker's schedule (log.cleaner.backoff.ms,
// min.cleanable.dirty.ratio, segment.ms). Removal.ByCompaction is an estimate made by Clean,
// which reads the batch headers of every partition of a compacted topic: the offsets of the
// retained range that hold no record, plus those of ranges that retention removed afterwards.
// It counts what the cleaner did before that Clean, so it lags the broker by up to one Clean.
// As Kafka does, compacted topics refuse records without a key (log.ErrInvalidConfig).
//
// # Produce
//
// Produce goes through one idempotent franz-go producer with acks=all and manual flushing,
// driven by a group-commit loop: the loop takes the queued calls in order, buffers their records
// and flushes them, each call's records for one partition contiguous, and never lets one
// partition's records of a round exceed one record batch (WithMaxBatchBytes). What Kafka
// guarantees then: a record batch is validated and appended by the leader as one unit, with
// consecutive offsets, and acknowledged once every in-sync replica has it, so a call's records
// for one partition are all written or none is; a record batch that fails is not retried
// partially. Calls for several partitions are not atomic across partitions (Kafka would need a
// transaction): on error, some partitions may hold the call's records. Calls that share a round
// share its batches, so a batch refused by the broker fails every call in it. An idempotent
// retry never duplicates a record. A call abandoned through its context after its round
// started may or may not be written.
//
// Partition < 0 picks a partition by the key's murmur2 hash exactly as Kafka's Java client
// does; keyless records of one call all go to one partition, the next partition for the next
// call.
//
// # Fetch
//
// Fetch sends FetchRequests straight to the partition's leader (read_committed, no fetch
// session, no consumer state), first one that does not wait, through the shared client. When it
// finds nothing and MaxWait allows, it long-polls through a client borrowed from a small pool
// (WithFetchClients): a Kafka broker answers the requests of one connection in order, so a long
// poll on the shared connection would delay every other request. Records are decoded by
// franz-go; compaction gaps, aborted transactions and control records are skipped. Latest is the
// last stable offset, which equals the high watermark unless a transaction is open. (The other
// design, a short-lived consuming client per Fetch, costs a connection, an ApiVersions and a
// Metadata round trip per call and buffers records beyond MaxRecords; it was not chosen.)
//
// # Limits
//
//   - Kafka expires a group's committed offsets offsets.retention.minutes (7 days by default)
//     after the group became empty; an expired commit no longer holds anything back. Raise it
//     for groups that pause longer than that.
//   - Run the background cleaner in one process per cluster: two processes cleaning the same
//     topic at the same moment can count one removal twice (DeleteRecords itself is idempotent).
//   - Committing for a group that has active Kafka-protocol members fails (Kafka refuses
//     commits from non-members).
//   - Topic creation and deletion are asynchronous on Kafka: CreateTopic and DeleteTopic wait
//     (up to ten seconds) until the cluster's metadata shows the change; re-creating a name right
//     after deleting it can still fail with log.ErrTopicExists on a slow cluster.
//   - A Produce to a topic deleted by another client fails with log.ErrUnknownTopic only after
//     franz-go's unknown-topic retries (kgo.UnknownTopicRetries, kgo.MetadataMinAge).
//   - On a topic created outside Strata with message.timestamp.type=LogAppendTime, Produce
//     returns the producer's timestamps while the broker stores its own (franz-go does not pass
//     the broker's append time back); Fetch returns the stored ones.
//   - Durability is acks=all: a Produce returns once every in-sync replica has the batch; how
//     many that is depends on the topic's replication factor and min.insync.replicas.
package kafka

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalake/strata/internal/log"
)

// Log is the Kafka backend of log.Log. It is safe for concurrent use. It owns one franz-go client
// (producing, metadata and admin requests), a pool of fetch clients and, unless turned off, a
// background cleaner goroutine; Close releases them all.
type Log struct {
	opts    options
	brokers []string

	cl  *kgo.Client // shared: producing, metadata, ListOffsets, admin requests
	adm *kadm.Client

	prod    *producer
	fetch   *fetchPool
	meta    *metaCache
	state   *stateStore
	decomp  kgo.Decompressor
	ctx     context.Context // the Log's lifetime; cancelled by Close
	cancel  context.CancelFunc
	bg      sync.WaitGroup // background goroutines: the producer loop and the cleaner
	cleanMu sync.Mutex     // serializes Clean
	closed  atomic.Bool

	rrMu sync.Mutex       // guards rr
	rr   map[string]int32 // next partition of keyless records, per topic
}

var _ log.Log = (*Log)(nil)

// Open connects to the cluster through the seed brokers, creates the state topic when missing and
// loads it. It fails when the cluster cannot be reached before ctx ends. The returned Log must
// be closed.
func Open(ctx context.Context, brokers []string, opts ...Option) (*Log, error) {
	if len(brokers) == 0 {
		return nil, errors.New("kafka: open: no seed brokers")
	}
	o := defaultOptions()
	for _, opt := range opts {
		opt.apply(&o)
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	l := &Log{opts: o, brokers: append([]string(nil), brokers...), rr: make(map[string]int32)}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	l.decomp = kgo.DefaultDecompressor()
	l.prod = newProducer(o.maxBatchBytes)

	cl, err := kgo.NewClient(l.clientOpts(
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ManualFlushing(),
		kgo.ProducerBatchMaxBytes(int32(o.maxBatchBytes)),
		kgo.MaxBufferedRecords(maxRoundRecords+1),
		kgo.WithHooks(l.prod.settled),
	)...)
	if err != nil {
		l.cancel()
		return nil, fmt.Errorf("kafka: open: %w", err)
	}
	l.cl = cl
	l.adm = kadm.NewClient(cl)
	l.prod.cl = cl
	l.fetch = newFetchPool(o.fetchClients, func() (*kgo.Client, error) { return kgo.NewClient(l.clientOpts()...) })
	l.meta = newMetaCache()
	l.state = newStateStore(o.stateTopic)

	l.bg.Add(1)
	go func() { defer l.bg.Done(); l.prod.run(l.ctx) }()

	if err := l.state.open(ctx, l); err != nil {
		l.Close()
		return nil, fmt.Errorf("kafka: open: %w", err)
	}
	if o.cleanInterval > 0 {
		l.bg.Add(1)
		go func() { defer l.bg.Done(); l.cleanLoop() }()
	}
	return l, nil
}

// clientOpts returns the options of a client of this Log: the defaults, then the user's options,
// then the seed brokers and extra, which win.
func (l *Log) clientOpts(extra ...kgo.Opt) []kgo.Opt {
	// No compression by default, as Kafka's Java producer (compression.type=none): Retention.Bytes
	// then counts about the bytes of the records, as on the embedded backend. A user's
	// kgo.ProducerBatchCompression overrides it; the broker then counts compressed bytes.
	out := []kgo.Opt{kgo.ClientID("strata"), kgo.ProducerBatchCompression(kgo.NoCompression())}
	out = append(out, l.opts.clientOpts...)
	out = append(out, kgo.SeedBrokers(l.brokers...))
	return append(out, extra...)
}

// Close stops the background cleaner, fails queued Produce calls and in-flight fetches with
// log.ErrClosed and closes the clients. Calls after Close fail with log.ErrClosed. Close is
// idempotent.
func (l *Log) Close() error {
	if l.closed.Swap(true) {
		return nil
	}
	l.cancel()
	if l.cl != nil {
		l.cl.Close() // fails buffered records, so the producer loop's round ends
	}
	if l.fetch != nil {
		l.fetch.close()
	}
	l.bg.Wait()
	return nil
}

// check fails with log.ErrClosed after Close.
func (l *Log) check(op string) error {
	if l.closed.Load() {
		return fmt.Errorf("kafka: %s: %w", op, log.ErrClosed)
	}
	return nil
}
