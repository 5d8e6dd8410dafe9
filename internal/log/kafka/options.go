package kafka

import (
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Option configures Open. Options are applied in order and validated by Open.
type Option interface{ apply(*options) }

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

// options is the validated configuration of a Log.
type options struct {
	clientOpts      []kgo.Opt
	replication     int16
	cleanInterval   time.Duration
	fetchClients    int
	maxBatchBytes   int64
	now             func() time.Time
	onCleanError    func(error)
	stateTopic      string
	metadataTimeout time.Duration
}

const (
	// DefaultStateTopic is the compacted topic where Strata keeps what Kafka cannot: each topic's
	// Strata config and removal counters, one record per topic keyed by the topic's name.
	DefaultStateTopic = "__strata_topics"
	// DefaultCleanInterval is how often the background cleaner runs (Kafka's
	// log.retention.check.interval.ms default).
	DefaultCleanInterval = 5 * time.Minute
	// DefaultMaxBatchBytes bounds the records one Produce call may send to one partition
	// (franz-go's default batch bound, under Kafka's default max.message.bytes of 1048588).
	DefaultMaxBatchBytes = 1_000_012
	// DefaultFetchClients is the default number of Fetch calls that may wait for records at once.
	DefaultFetchClients = 8
)

func defaultOptions() options {
	return options{
		replication:     -1,
		cleanInterval:   DefaultCleanInterval,
		fetchClients:    DefaultFetchClients,
		maxBatchBytes:   DefaultMaxBatchBytes,
		now:             time.Now,
		stateTopic:      DefaultStateTopic,
		metadataTimeout: 10 * time.Second,
	}
}

func (o *options) validate() error {
	switch {
	case o.replication == 0 || o.replication < -1:
		return fmt.Errorf("kafka: replication factor %d: must be positive or -1 (broker default)", o.replication)
	case o.cleanInterval < 0:
		return fmt.Errorf("kafka: clean interval %v: must not be negative", o.cleanInterval)
	case o.fetchClients < 1:
		return fmt.Errorf("kafka: fetch clients %d: must be at least 1", o.fetchClients)
	case o.maxBatchBytes < 1024 || o.maxBatchBytes > 1<<30:
		return fmt.Errorf("kafka: max batch bytes %d: must be in [1 KiB, 1 GiB]", o.maxBatchBytes)
	case o.now == nil:
		return errors.New("kafka: nil clock")
	case !validTopicName(o.stateTopic):
		return fmt.Errorf("kafka: state topic %q: invalid topic name", o.stateTopic)
	}
	return nil
}

// WithClientOptions adds franz-go client options (TLS, SASL, client ID, timeouts, logger,
// compression...). They apply to every client the Log creates. The options the Log's guarantees
// rest on (acks=all, the partitioner, manual flushing, the batch bound, the seed brokers) are
// applied after these and win. Options that make a client act on its own (ConsumeTopics,
// ConsumerGroup, TransactionalID, DisableIdempotentWrite) must not be given.
func WithClientOptions(opts ...kgo.Opt) Option {
	return optionFunc(func(o *options) { o.clientOpts = append(o.clientOpts, opts...) })
}

// WithReplicationFactor sets the replication factor of the topics the Log creates (default -1:
// the broker's default.replication.factor).
func WithReplicationFactor(n int16) Option {
	return optionFunc(func(o *options) { o.replication = n })
}

// WithCleanInterval sets how often the background cleaner applies Strata's retention (default
// DefaultCleanInterval). Zero turns the background cleaner off; Clean still works. Run the
// background cleaner in one process per cluster: see the package doc.
func WithCleanInterval(d time.Duration) Option {
	return optionFunc(func(o *options) { o.cleanInterval = d })
}

// WithCleanErrors sets a function called with every error of a background Clean (default:
// errors are dropped and the next run retries). It is called from the cleaner goroutine: it must
// not block for long, nor call Close.
func WithCleanErrors(fn func(error)) Option {
	return optionFunc(func(o *options) { o.onCleanError = fn })
}

// WithFetchClients sets how many Fetch calls may wait for records (MaxWait) at once (default
// DefaultFetchClients). Each waiting Fetch owns a client, so a connection per broker, and delays
// no other request; one more waits for a free client (until its context ends). Fetches that find
// records at once, and the Log's own reads, use the shared client and are never limited.
func WithFetchClients(n int) Option {
	return optionFunc(func(o *options) { o.fetchClients = n })
}

// WithMaxBatchBytes bounds, in uncompressed record-batch bytes, what one Produce call may send
// to one partition (default DefaultMaxBatchBytes). A call's records for one partition always
// travel as one Kafka record batch, which is what makes them atomic, so a call over this bound
// fails with log.ErrRecordTooLarge before anything is sent. Keep it at or below the topics'
// max.message.bytes.
func WithMaxBatchBytes(n int64) Option {
	return optionFunc(func(o *options) { o.maxBatchBytes = n })
}

// WithClock sets the clock Clean measures retention time against (default time.Now). The
// append time of records produced without a timestamp is always the wall clock.
func WithClock(now func() time.Time) Option {
	return optionFunc(func(o *options) { o.now = now })
}

// WithStateTopic overrides DefaultStateTopic, for several Strata installations sharing one
// cluster. Its name should start with "__" so that ListTopics hides it.
func WithStateTopic(name string) Option {
	return optionFunc(func(o *options) { o.stateTopic = name })
}
