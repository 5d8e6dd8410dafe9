// Package demo runs the e-commerce reference platform of `strata demo`: it writes the example
// project (examples/ecommerce) into a folder and feeds it, live, with generated data: clickstream
// and commerce events on the `events` topic, one record per paid order on the `orders` topic,
// Debezium changes of the customers table on `customers_cdc`, and the nightly Logistics exports
// (inventory snapshots as Parquet, shipment updates as CSV) in the landing folder.
//
// Everything generated is deterministic by seed: a run of the feed is a sequence of segments (one
// per start of the demo), segment k generating from seed Seed+k with event times starting at the
// segment's start. What has been produced is counted in .strata/demo/feed.json, which a restart
// reads to go on with the next segment (the log itself keeps every record produced).
package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/stratalake/strata/examples/ecommerce"
	"github.com/stratalake/strata/internal/gen"
	"github.com/stratalake/strata/internal/log"
	"github.com/stratalake/strata/internal/project"
)

// Topics of the demo and their partitions.
const (
	TopicEvents    = "events"
	TopicOrders    = "orders"
	TopicCustomers = "customers_cdc"
)

var topicPartitions = map[string]int{TopicEvents: 4, TopicOrders: 2, TopicCustomers: 2}

// LandingDir is where the nightly Logistics exports land, relative to the project folder (the
// logistics pipeline's read_files patterns point under it).
const LandingDir = "landing/logistics"

// WriteProject writes the example project into dir unless dir already holds a strata.yaml (a
// demo started before: it is resumed as it is). It reports whether it wrote the files.
func WriteProject(dir string) (bool, error) {
	if _, err := os.Stat(filepath.Join(dir, project.FileName)); err == nil {
		return false, nil
	}
	err := fs.WalkDir(ecommerce.Files, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		target := filepath.Join(dir, filepath.FromSlash(path))
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := ecommerce.Files.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
	if err != nil {
		return false, fmt.Errorf("demo: write the example project into %s: %w", dir, err)
	}
	return true, nil
}

// FeedOptions configure the live feed.
type FeedOptions struct {
	// Rate is the mean number of events per second on the events topic (default 200). Orders
	// and customer changes follow from it.
	Rate float64
	// Seed selects the generated data (default 1).
	Seed uint64
	// Users is the number of customers (default 20,000).
	Users int
	// Products is the catalog size (default gen.DefaultProducts).
	Products int
	// Anomalies are the shares of late, out-of-order, duplicated, malformed and schema-v1
	// events (default gen.DefaultAnomalies()).
	Anomalies *gen.Anomalies
	// Duration, if positive, stops the feed after this long (the rest of the platform goes on:
	// tests and benchmarks let the pipelines drain).
	Duration time.Duration
	// Logger receives progress lines.
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (o *FeedOptions) defaults() {
	if o.Rate <= 0 {
		o.Rate = 200
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.Users <= 0 {
		o.Users = 20_000
	}
	if o.Products <= 0 {
		o.Products = gen.DefaultProducts
	}
	if o.Anomalies == nil {
		a := gen.DefaultAnomalies()
		o.Anomalies = &a
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// FeedStats count what the feed produced, over every segment. Orders anomalies are the feed's
// own (the events' anomalies are in Events, see gen.Stats).
type FeedStats struct {
	// Segments is the number of starts of the feed; Started the time of the first.
	Segments int       `json:"segments"`
	Started  time.Time `json:"started"`
	// Produced counts the records produced per topic.
	Produced map[string]int64 `json:"produced"`
	// Events sums the event generator's stats over the segments. Its late events are delivered
	// 15 minutes or more after their event time, so none comes in a segment's first minutes;
	// EventsLate counts the feed's own: on-time events sent with an event time 15 minutes to 2
	// hours in the past (an offline device's upload).
	Events     gen.Stats `json:"events"`
	EventsLate int64     `json:"events_late"`
	// Orders by delivery: duplicates (a record sent twice), malformed (broken JSON or a bad
	// total), late (sent with an order time 15 minutes to 2 hours in the past).
	OrderDuplicates int64 `json:"order_duplicates"`
	OrderMalformed  int64 `json:"order_malformed"`
	OrderLate       int64 `json:"order_late"`
	// CustomerChanges by kind (snapshot, change, duplicate, out_of_order).
	CustomerChanges map[string]int64 `json:"customer_changes"`
	// Nights are the Logistics exports dropped (YYYY-MM-DD).
	Nights []string `json:"nights"`
	// Updated is when the stats were last saved.
	Updated time.Time `json:"updated"`
}

// Feed generates the demo's data into a project's log and landing folder.
type Feed struct {
	proj *project.Project
	log  log.Log
	opts FeedOptions

	mu     sync.Mutex // guards stats
	saveMu sync.Mutex // serializes save: the feed's loop and DropNight (a scheduled batch) both save
	stats  FeedStats
}

// NewFeed returns the feed of proj, resuming the stats in .strata/demo/feed.json.
func NewFeed(proj *project.Project, l log.Log, opts FeedOptions) (*Feed, error) {
	opts.defaults()
	f := &Feed{proj: proj, log: l, opts: opts, stats: FeedStats{Produced: map[string]int64{}, CustomerChanges: map[string]int64{}}}
	data, err := os.ReadFile(f.statsPath())
	switch {
	case err == nil:
		if err := json.Unmarshal(data, &f.stats); err != nil {
			return nil, fmt.Errorf("demo: %s: %w", f.statsPath(), err)
		}
		if f.stats.Produced == nil {
			f.stats.Produced = map[string]int64{}
		}
		if f.stats.CustomerChanges == nil {
			f.stats.CustomerChanges = map[string]int64{}
		}
	case !errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("demo: %w", err)
	}
	if f.stats.Started.IsZero() {
		f.stats.Started = opts.Now().UTC()
	}
	return f, nil
}

func (f *Feed) statsPath() string { return filepath.Join(f.proj.Dir, ".strata", "demo", "feed.json") }

// Stats returns a copy of the feed's counts.
func (f *Feed) Stats() FeedStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.stats
	s.Produced = cloneMap(f.stats.Produced)
	s.CustomerChanges = cloneMap(f.stats.CustomerChanges)
	s.Nights = append([]string(nil), f.stats.Nights...)
	return s
}

func cloneMap(m map[string]int64) map[string]int64 {
	out := make(map[string]int64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// save writes the stats atomically (one writer at a time through one temporary file).
func (f *Feed) save() error {
	f.saveMu.Lock()
	defer f.saveMu.Unlock()
	f.mu.Lock()
	f.stats.Updated = f.opts.Now().UTC()
	data, err := json.MarshalIndent(f.stats, "", "  ")
	f.mu.Unlock()
	if err != nil {
		return err
	}
	path := f.statsPath()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// CreateTopics creates the demo's topics that do not exist yet.
func (f *Feed) CreateTopics(ctx context.Context) error {
	for _, name := range []string{TopicEvents, TopicOrders, TopicCustomers} {
		err := f.log.CreateTopic(ctx, name, log.TopicConfig{Partitions: topicPartitions[name]})
		if err != nil && !errors.Is(err, log.ErrTopicExists) {
			return fmt.Errorf("demo: create topic %s: %w", name, err)
		}
	}
	return nil
}

// Run produces live data until ctx ends: events at the configured rate with event times of now,
// the orders they complete, and customer changes (the customers snapshot first, on the first
// start). It saves its stats every second and when it stops, and returns nil when stopped by
// ctx.
func (f *Feed) Run(ctx context.Context) error {
	if err := f.CreateTopics(ctx); err != nil {
		return err
	}
	// The customers snapshot goes first, once, before any change: how much of it was produced
	// is read from the log, which a SIGKILL cannot leave behind the stats file (saved every
	// second); a start after one killed during the snapshot produces the rest of it.
	snapshotDone, err := f.topicRecords(ctx, TopicCustomers)
	if err != nil {
		return err
	}
	first := snapshotDone < int64(f.opts.Users)
	f.mu.Lock()
	segment := f.stats.Segments
	f.stats.Segments++
	f.mu.Unlock()
	// The segment is taken before anything of it is produced: a restart after a crash starts the
	// next segment (fresh seed, order numbers and event ids) instead of producing this one again.
	if err := f.save(); err != nil {
		return fmt.Errorf("demo: save feed stats: %w", err)
	}
	// Sessions take minutes to reach checkout: the segment starts a few minutes in the past
	// (produced at once), so that orders flow from the first seconds. The warm-up stays within
	// the silver tables' 10-minute watermark delay, so none of it is late on a restart.
	warmup := min(5*time.Minute, time.Duration(200_000/f.opts.Rate*float64(time.Second)))
	start := f.opts.Now().UTC().Add(-warmup)
	seed := f.opts.Seed + uint64(segment)
	events, err := gen.New(gen.Config{Seed: seed, Start: start, Rate: f.opts.Rate, Users: f.opts.Users,
		Products: f.opts.Products, Anomalies: *f.opts.Anomalies, OrderBase: uint64(segment) * orderSegment})
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	customers, err := gen.NewCustomers(gen.CustomersConfig{Seed: seed, Users: f.opts.Users, Start: start,
		Rate: customerRate(f.opts.Rate), OutOfOrder: 0.02, Duplicate: 0.01})
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	f.opts.Logger.Info("feed started", "segment", segment, "seed", seed, "rate", f.opts.Rate)
	if first {
		if err := f.produceSnapshot(ctx, customers, snapshotDone); err != nil {
			return err
		}
	}
	orders := newOrderBuilder(seed)
	late := rand.New(rand.NewPCG(seed, seed^0x1A7E))
	f.mu.Lock()
	evBase := f.stats.Events
	orders.base = [3]int64{f.stats.OrderDuplicates, f.stats.OrderMalformed, f.stats.OrderLate}
	f.mu.Unlock()

	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var until <-chan time.Time
	if f.opts.Duration > 0 {
		t := time.NewTimer(f.opts.Duration)
		defer t.Stop()
		until = t.C
	}
	lastSave := time.Now()
	nextEv := events.Next()
	nextCust := customers.Next()
	var evRecs, ordRecs, custRecs []log.Record
	var buf []byte
	for {
		select {
		case <-ctx.Done():
			return f.stop()
		case <-until:
			f.opts.Logger.Info("feed stopped", "after", f.opts.Duration)
			return f.stop()
		case <-tick.C:
		}
		now := f.opts.Now().UnixMicro()
		evRecs, ordRecs, custRecs = evRecs[:0], ordRecs[:0], custRecs[:0]
		for nextEv.Arrival <= now && len(evRecs) < maxProduce {
			if nextEv.Anomaly == gen.OnTime && nextEv.Malformation == gen.WellFormed && late.Float64() < eventLateShare {
				// A device that was offline uploads an old event: 15 minutes to 2 hours late.
				nextEv.TS -= int64(15*60+late.IntN(105*60)) * 1_000_000
				f.mu.Lock()
				f.stats.EventsLate++
				f.mu.Unlock()
			}
			buf = gen.AppendJSON(buf[:0], &nextEv)
			evRecs = append(evRecs, log.Record{Key: userKey(nextEv.UserID), Value: trimNewline(buf)})
			ordRecs = orders.add(&nextEv, ordRecs)
			nextEv = events.Next()
		}
		for nextCust.Arrival <= now {
			custRecs = append(custRecs, log.Record{Key: nextCust.Key(), Value: nextCust.Value})
			f.countCustomer(nextCust.Anomaly)
			nextCust = customers.Next()
		}
		for _, p := range []struct {
			topic string
			recs  []log.Record
		}{{TopicEvents, evRecs}, {TopicOrders, ordRecs}, {TopicCustomers, custRecs}} {
			if len(p.recs) == 0 {
				continue
			}
			for i := 0; i < len(p.recs); i += produceChunk {
				if err := f.produce(ctx, p.topic, p.recs[i:min(i+produceChunk, len(p.recs))]); err != nil {
					return err
				}
			}
		}
		f.mu.Lock()
		f.stats.Events = addStats(evBase, events.Stats())
		f.stats.OrderDuplicates, f.stats.OrderMalformed, f.stats.OrderLate = orders.base[0]+orders.duplicates, orders.base[1]+orders.malformed, orders.base[2]+orders.late
		f.mu.Unlock()
		if time.Since(lastSave) >= time.Second {
			if err := f.save(); err != nil {
				return fmt.Errorf("demo: save feed stats: %w", err)
			}
			lastSave = time.Now()
		}
	}
}

// topicRecords counts the records a topic holds.
func (f *Feed) topicRecords(ctx context.Context, topic string) (int64, error) {
	info, err := f.log.DescribeTopic(ctx, topic)
	if err != nil {
		return 0, fmt.Errorf("demo: describe topic %s: %w", topic, err)
	}
	var n int64
	for _, p := range info.Partitions {
		n += p.Latest - p.Earliest
	}
	return n, nil
}

// Bounds of one tick's production: at most maxProduce events (a backlog is produced over
// several ticks), in produce calls of at most produceChunk records (the embedded log bounds a
// batch's bytes).
const (
	maxProduce   = 50_000
	produceChunk = 5_000
)

// produce appends records to a topic and counts them. A stop (ctx) does not interrupt a produce
// under way: a produce cut short could leave its records in the log without the feed counting
// them, and the counts are how a test accounts for every record.
func (f *Feed) produce(ctx context.Context, topic string, recs []log.Record) error {
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if _, err := f.log.Produce(pctx, topic, recs); err != nil {
		return fmt.Errorf("demo: produce to %s: %w", topic, err)
	}
	f.mu.Lock()
	f.stats.Produced[topic] += int64(len(recs))
	f.mu.Unlock()
	return nil
}

// stop saves the stats on the way out.
func (f *Feed) stop() error {
	if err := f.save(); err != nil {
		return fmt.Errorf("demo: save feed stats: %w", err)
	}
	return nil
}

// customerRate is the rate of customer changes for an event rate: about one change per 100
// events, at least one every 2 seconds.
func customerRate(eventRate float64) float64 {
	return max(eventRate/100, 0.5)
}

func (f *Feed) countCustomer(a gen.Anomaly) {
	f.mu.Lock()
	defer f.mu.Unlock()
	kind := "change"
	if a != gen.OnTime {
		kind = a.String()
	}
	f.stats.CustomerChanges[kind]++
}

// produceSnapshot produces the customers table's initial snapshot (Debezium op r), from
// customer done+1 on (the snapshot goes in customer_id order; a start killed during it produced
// the first done).
func (f *Feed) produceSnapshot(ctx context.Context, c *gen.Customers, done int64) error {
	var recs []log.Record
	flush := func() error {
		if len(recs) == 0 {
			return nil
		}
		if err := f.produce(ctx, TopicCustomers, recs); err != nil {
			return err
		}
		f.mu.Lock()
		f.stats.CustomerChanges["snapshot"] += int64(len(recs))
		f.mu.Unlock()
		recs = recs[:0]
		return nil
	}
	err := c.Snapshot(func(ch gen.CustomerChange) error {
		if ch.CustomerID <= done {
			return nil
		}
		recs = append(recs, log.Record{Key: ch.Key(), Value: ch.Value})
		if len(recs) >= 5000 {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
}

func userKey(id int64) []byte { return fmt.Appendf(nil, "%d", id) }

func trimNewline(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	return append([]byte(nil), b...)
}

// addStats adds the counters of b to a (FirstTS/LastTS span both).
func addStats(a, b gen.Stats) gen.Stats {
	s := a
	s.Events += b.Events
	s.PageViews += b.PageViews
	s.AddToCarts += b.AddToCarts
	s.OrderLines += b.OrderLines
	s.Payments += b.Payments
	s.Refunds += b.Refunds
	s.OnTime += b.OnTime
	s.Late += b.Late
	s.OutOfOrder += b.OutOfOrder
	s.Duplicates += b.Duplicates
	s.Malformed += b.Malformed
	for i := range s.MalformedBy {
		s.MalformedBy[i] += b.MalformedBy[i]
	}
	s.SchemaV1 += b.SchemaV1
	s.Sessions += b.Sessions
	s.RevenueCents += b.RevenueCents
	if s.FirstTS == 0 || (b.FirstTS != 0 && b.FirstTS < s.FirstTS) {
		s.FirstTS = b.FirstTS
	}
	s.LastTS = max(s.LastTS, b.LastTS)
	return s
}

// DropNight writes the Logistics exports of the night before at (inventory snapshot and shipment
// updates) into the project's landing folder, unless they are there already. It is the demo's
// stand-in for the warehouse system, run before each scheduled logistics batch.
func (f *Feed) DropNight(ctx context.Context, at time.Time) error {
	night := at.UTC().Truncate(24*time.Hour).AddDate(0, 0, -1)
	day := night.Format("2006-01-02")
	f.mu.Lock()
	for _, d := range f.stats.Nights {
		if d == day {
			f.mu.Unlock()
			return nil
		}
	}
	f.mu.Unlock()
	f.mu.Lock()
	started := f.stats.Started
	f.mu.Unlock()
	dir := filepath.Join(f.proj.Dir, filepath.FromSlash(LandingDir))
	// Shipping started two weeks before the demo's first start, so that the first night already
	// has shipments in every state.
	cfg := gen.LogisticsConfig{Seed: f.opts.Seed, Start: started.AddDate(0, 0, -14), Products: f.opts.Products, MalformedRows: 0.002}
	files, err := gen.WriteLogisticsNight(ctx, dir, cfg, night)
	if err != nil {
		return fmt.Errorf("demo: logistics exports of %s: %w", day, err)
	}
	f.mu.Lock()
	f.stats.Nights = append(f.stats.Nights, day)
	f.mu.Unlock()
	f.opts.Logger.Info("logistics exports dropped", "night", day, "files", len(files))
	return f.save()
}

// orderBuilder turns the events' order lines and payments into the checkout service's order
// records: the lines of an order are collected until its payment, which emits the record.
type orderBuilder struct {
	rng   *rand.Rand
	lines map[uint64][]orderLine
	// Counts of the anomalies injected; base holds the counts of earlier segments.
	duplicates, malformed, late int64
	base                        [3]int64
}

type orderLine struct {
	ProductID string  `json:"product_id"`
	Quantity  int32   `json:"quantity"`
	Amount    float64 `json:"amount"`
}

type orderRecord struct {
	OrderID       string      `json:"order_id"`
	UserID        int64       `json:"user_id"`
	SessionID     string      `json:"session_id"`
	Country       string      `json:"country"`
	Device        *string     `json:"device,omitempty"`
	OrderedAt     string      `json:"ordered_at"`
	Currency      string      `json:"currency"`
	Items         []orderLine `json:"items"`
	Total         any         `json:"total"`
	PaymentMethod string      `json:"payment_method"`
	SchemaVersion int32       `json:"schema_version"`
}

var paymentMethods = []string{"card", "card", "card", "paypal", "bizum", "bank_transfer"}

func newOrderBuilder(seed uint64) *orderBuilder {
	return &orderBuilder{rng: rand.New(rand.NewPCG(seed, seed^0x0DE5)), lines: map[uint64][]orderLine{}}
}

// orderSegment separates the order numbers of the feed's segments (ORD-0100000001 is the first
// order of segment 1).
const orderSegment = 100_000_000

// Shares of the orders topic's own anomalies, and of the events the feed sends late.
const (
	eventLateShare      = 0.004
	orderDuplicateShare = 0.01
	orderMalformedShare = 0.003
	orderLateShare      = 0.003
)

// add takes one delivered event and appends the order records it completes to out.
func (b *orderBuilder) add(ev *gen.Event, out []log.Record) []log.Record {
	if ev.Malformation != gen.WellFormed || ev.Anomaly == gen.Duplicate || ev.OrderID == 0 {
		return out
	}
	switch ev.Type {
	case gen.TypeOrder:
		b.lines[ev.OrderID] = append(b.lines[ev.OrderID], orderLine{ProductID: ev.ProductID, Quantity: ev.Quantity, Amount: float64(ev.RevenueCents) / 100})
		return out
	case gen.TypePayment:
	default:
		return out
	}
	lines := b.lines[ev.OrderID]
	delete(b.lines, ev.OrderID)
	if len(lines) == 0 {
		return out // its lines were late: the checkout record is not rebuilt without them
	}
	var cents int64
	for _, l := range lines {
		cents += int64(l.Amount*100 + 0.5)
	}
	ts := ev.Time()
	rec := orderRecord{OrderID: ev.OrderIDString(), UserID: ev.UserID, SessionID: ev.SessionIDString(), Country: ev.Country,
		Currency: "EUR", Items: lines, Total: float64(cents) / 100, PaymentMethod: paymentMethods[b.rng.IntN(len(paymentMethods))],
		SchemaVersion: ev.SchemaVersion}
	if ev.SchemaVersion != 1 {
		d := ev.Device
		rec.Device = &d
	}
	u := b.rng.Float64()
	switch {
	case u < orderLateShare:
		ts = ts.Add(-time.Duration(15*60+b.rng.IntN(105*60)) * time.Second)
		b.late++
	case u < orderLateShare+orderMalformedShare:
		b.malformed++
		if b.rng.IntN(2) == 0 {
			rec.Total = "n/a"
		} else {
			rec.OrderedAt = ts.UTC().Format(time.RFC3339Nano)
			data, _ := json.Marshal(rec)
			return append(out, log.Record{Key: []byte(rec.OrderID), Value: data[:len(data)/2]})
		}
	}
	rec.OrderedAt = ts.UTC().Format(time.RFC3339Nano)
	data, _ := json.Marshal(rec)
	out = append(out, log.Record{Key: []byte(rec.OrderID), Value: data})
	if b.rng.Float64() < orderDuplicateShare {
		b.duplicates++
		out = append(out, log.Record{Key: []byte(rec.OrderID), Value: data})
	}
	return out
}
