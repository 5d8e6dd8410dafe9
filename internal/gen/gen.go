// Package gen generates realistic e-commerce events, deterministically by seed: users (each with a
// country and a favourite device) open sessions in which they view pages and products, add
// products to their cart, place orders (one event per order line) and pay; some order lines are
// refunded days later. Optional anomalies (late, out-of-order, duplicated and malformed events,
// and events in the older schema version 1, which has no device) reproduce what a real event
// stream delivers.
//
// Determinism: a Generator draws every random number from one math/rand/v2 PCG source seeded by
// Config.Seed, and per-user and per-product attributes from a hash of the seed, so the same Config
// yields the same events, in the same order, on every machine and Go version that keeps PCG's
// definition (it is specified). Nothing depends on map iteration order, the clock or the
// environment.
//
// The events come out one at a time (Generator.Next), as Arrow record batches in Schema (Reader,
// Source, which a table write accepts) or as NDJSON, CSV or Parquet files (Write, WriteDir).
package gen

import (
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// ErrInvalidConfig reports a Config that New refuses.
var ErrInvalidConfig = errors.New("gen: invalid config")

// Event types: the value of event_type of well-formed events.
const (
	TypePageView  = "page_view"
	TypeAddToCart = "add_to_cart"
	// TypeOrder is one line of an order: its product, quantity and amount (revenue).
	TypeOrder = "order"
	// TypePayment confirms an order (order_id); it carries no revenue, so that sum(revenue) over
	// all events is the net sales.
	TypePayment = "payment"
	// TypeRefund returns one order line, days after the order, with the negated amount.
	TypeRefund = "refund"
)

// EventTypes lists the well-formed event types.
var EventTypes = []string{TypePageView, TypeAddToCart, TypeOrder, TypePayment, TypeRefund}

// Anomaly says how an event deviates from an on-time, well-formed delivery. An event has at most
// one anomaly; its schema version is independent (see Event.SchemaVersion).
type Anomaly uint8

const (
	// OnTime: delivered in event-time order (Arrival == TS), well-formed.
	OnTime Anomaly = iota
	// Late: delivered between LateMin and LateMax after its event time, after many later events.
	Late
	// OutOfOrder: delivered between OutOfOrderMin and OutOfOrderMax after its event time, after
	// a few later events (within a typical watermark delay).
	OutOfOrder
	// Duplicate: a second delivery of an event already delivered (same event_id and fields), up
	// to DuplicateMax after its event time.
	Duplicate
	// Malformed: delivered on time but broken in the way Event.Malformation says.
	Malformed
)

var anomalyNames = [...]string{"on_time", "late", "out_of_order", "duplicate", "malformed"}

// String returns the anomaly's name (on_time, late, out_of_order, duplicate, malformed).
func (a Anomaly) String() string {
	if int(a) < len(anomalyNames) {
		return anomalyNames[a]
	}
	return fmt.Sprintf("anomaly(%d)", a)
}

// Malformation is how a Malformed event is broken. Typed outputs (Arrow, Parquet) cannot hold
// unparseable values, so each kind has a typed form and a text form (NDJSON, CSV).
type Malformation uint8

const (
	// WellFormed: not malformed.
	WellFormed Malformation = iota
	// MissingUser: no user_id (null in typed output, key absent in NDJSON, empty in CSV).
	MissingUser
	// UnknownType: event_type is not one of EventTypes (a typo or an unknown name).
	UnknownType
	// BadRevenue: revenue is not a valid amount: negative on an event that is not a refund in
	// typed output, the string "n/a" in text output.
	BadRevenue
	// Truncated: the record was cut: the text line stops halfway (invalid JSON, too few CSV
	// fields); typed output keeps only event_id, event_ts and date, every other column null.
	Truncated
)

var malformationNames = [...]string{"well_formed", "missing_user", "unknown_type", "bad_revenue", "truncated"}

// String returns the malformation's name.
func (m Malformation) String() string {
	if int(m) < len(malformationNames) {
		return malformationNames[m]
	}
	return fmt.Sprintf("malformation(%d)", m)
}

// Delivery delays of the anomalies, in event time.
const (
	LateMin       = 15 * time.Minute
	LateMax       = 3 * time.Hour
	OutOfOrderMin = time.Second
	OutOfOrderMax = 90 * time.Second
	DuplicateMax  = 5 * time.Minute
)

// Anomalies are the shares of generated events delivered with each anomaly. Late, OutOfOrder,
// Duplicate and Malformed are exclusive (their sum must not exceed 1); SchemaV1 applies
// independently. A duplicate adds a second delivery, so the delivered events include slightly more
// than Duplicate of them as copies.
type Anomalies struct {
	Late       float64 `json:"late"`
	OutOfOrder float64 `json:"outOfOrder"`
	Duplicate  float64 `json:"duplicate"`
	Malformed  float64 `json:"malformed"`
	// SchemaV1 is the share of events in schema version 1, which has no device column.
	SchemaV1 float64 `json:"schemaV1"`
}

// DefaultAnomalies are the shares `strata gen events --anomalies` uses: a few percent of events
// out of order, a fraction of a percent late, duplicated or malformed, a tenth in schema v1.
func DefaultAnomalies() Anomalies {
	return Anomalies{Late: 0.005, OutOfOrder: 0.02, Duplicate: 0.01, Malformed: 0.005, SchemaV1: 0.1}
}

func (a Anomalies) any() bool {
	return a.Late > 0 || a.OutOfOrder > 0 || a.Duplicate > 0 || a.Malformed > 0 || a.SchemaV1 > 0
}

// Defaults of Config.
const (
	DefaultRate     = 100.0
	DefaultUsers    = 100_000
	DefaultProducts = 2_000
	// DefaultDailyCycle is the amplitude of the daily traffic cycle the CLI uses.
	DefaultDailyCycle = 0.4
)

// DefaultStart is the event time of the first events when Config.Start is zero.
var DefaultStart = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// Config says what a Generator generates. The zero value of every field but Seed means its
// default. Two generators with equal Configs generate the same events.
type Config struct {
	// Seed selects the event stream.
	Seed uint64
	// Start is the event time around which the first events happen (default DefaultStart).
	Start time.Time
	// Rate is the mean number of events per second of event time (default DefaultRate). The
	// events of n rows span about n/Rate seconds; see RateFor.
	Rate float64
	// DailyCycle, in [0, 1), is the amplitude of the daily traffic cycle: the rate varies as
	// 1 + DailyCycle*cos(2π(h-20)/24) for hour h of the day (UTC), peaking at 20:00. 0 is flat.
	DailyCycle float64
	// Users is the number of distinct users (default DefaultUsers). Activity is skewed: a few
	// users open many sessions.
	Users int
	// Products is the size of the catalog (default DefaultProducts). Popularity is skewed.
	Products int
	// Anomalies are the shares of anomalous events (zero value: none).
	Anomalies Anomalies
	// OrderBase offsets order numbers: the first order is OrderBase+1 (generators whose streams
	// go to one place, such as the demo's successive runs, keep their orders apart with it).
	OrderBase uint64
}

// RateFor returns the Rate at which rows events span about days days: a little more than
// rows/(days*86400) (0.3%), so that the events end inside the last day despite randomness.
func RateFor(rows int64, days float64) float64 {
	return float64(rows) / (days * 86400) * 1.003
}

func (c Config) withDefaults() (Config, error) {
	if c.Start.IsZero() {
		c.Start = DefaultStart
	}
	if c.Rate == 0 {
		c.Rate = DefaultRate
	}
	if c.Users == 0 {
		c.Users = DefaultUsers
	}
	if c.Products == 0 {
		c.Products = DefaultProducts
	}
	switch {
	case !(c.Rate > 0) || math.IsInf(c.Rate, 0):
		return c, fmt.Errorf("%w: Rate %v must be positive", ErrInvalidConfig, c.Rate)
	case c.DailyCycle < 0 || c.DailyCycle >= 1:
		return c, fmt.Errorf("%w: DailyCycle %v must be in [0, 1)", ErrInvalidConfig, c.DailyCycle)
	case c.Users < 0 || c.Products < 0:
		return c, fmt.Errorf("%w: Users %d and Products %d must be positive", ErrInvalidConfig, c.Users, c.Products)
	}
	a := c.Anomalies
	for _, s := range []struct {
		name string
		v    float64
	}{{"Late", a.Late}, {"OutOfOrder", a.OutOfOrder}, {"Duplicate", a.Duplicate}, {"Malformed", a.Malformed}, {"SchemaV1", a.SchemaV1}} {
		if !(s.v >= 0 && s.v <= 1) {
			return c, fmt.Errorf("%w: Anomalies.%s %v must be in [0, 1]", ErrInvalidConfig, s.name, s.v)
		}
	}
	if a.Late+a.OutOfOrder+a.Duplicate+a.Malformed > 1 {
		return c, fmt.Errorf("%w: Anomalies Late+OutOfOrder+Duplicate+Malformed must not exceed 1", ErrInvalidConfig)
	}
	return c, nil
}

// Event is one generated event. String-valued identifiers are kept as numbers and rendered by the
// methods below, so that generating an event allocates nothing.
type Event struct {
	// ID is event_id, a random version-4 UUID (see EventID). Unique, except that a Duplicate
	// repeats the ID of the event it copies.
	ID [16]byte
	// Type is event_type: one of EventTypes, or a bogus name when Malformation is UnknownType, or
	// "" when Truncated.
	Type string
	// UserID is user_id, in [1, Config.Users]; 0 means absent (MissingUser, Truncated).
	UserID int64
	// SessionID is session_id (see SessionIDString); 0 means absent (Truncated).
	SessionID uint64
	// TS is event_ts, in microseconds since the Unix epoch (UTC). date is its day.
	TS int64
	// Country is the user's ISO 3166 country code ("" when Truncated).
	Country string
	// Device is "mobile", "desktop" or "tablet"; "" in schema version 1 and when Truncated.
	Device string
	// ProductID is product_id ("SKU-00042"), "" for events without a product (payments, pages
	// that are not product pages).
	ProductID string
	// OrderID is order_id (see OrderIDString) of order, payment and refund events; 0 otherwise.
	OrderID uint64
	// Quantity is the number of items of add_to_cart, order and refund events; 0 otherwise.
	Quantity int32
	// RevenueCents is revenue in cents: the line amount of an order, its negation for a refund,
	// 0 otherwise (negative on a non-refund when Malformation is BadRevenue).
	RevenueCents int64
	// SchemaVersion is 2, or 1 for events in the old schema (no device).
	SchemaVersion int32
	// Arrival is when the event is delivered, in microseconds since the epoch: TS for on-time
	// events, later for Late, OutOfOrder and Duplicate deliveries. Events come out of a
	// Generator in Arrival order.
	Arrival int64
	// Anomaly and Malformation describe the delivery (see their types).
	Anomaly      Anomaly
	Malformation Malformation
}

// Time returns event_ts as a time.Time in UTC.
func (e *Event) Time() time.Time { return time.UnixMicro(e.TS).UTC() }

// Date returns date: the days since 1970-01-01 of event_ts (UTC).
func (e *Event) Date() int32 { return int32(floorDiv(e.TS, 86_400_000_000)) }

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// EventID returns event_id in the canonical UUID form.
func (e *Event) EventID() string { return string(e.AppendEventID(nil)) }

// AppendEventID appends event_id (36 characters) to dst.
func (e *Event) AppendEventID(dst []byte) []byte {
	var buf [36]byte
	hex.Encode(buf[0:8], e.ID[0:4])
	buf[8] = '-'
	hex.Encode(buf[9:13], e.ID[4:6])
	buf[13] = '-'
	hex.Encode(buf[14:18], e.ID[6:8])
	buf[18] = '-'
	hex.Encode(buf[19:23], e.ID[8:10])
	buf[23] = '-'
	hex.Encode(buf[24:36], e.ID[10:16])
	return append(dst, buf[:]...)
}

// SessionIDString returns session_id: 16 hexadecimal digits ("" when absent).
func (e *Event) SessionIDString() string { return string(e.AppendSessionID(nil)) }

// AppendSessionID appends session_id to dst (nothing when absent).
func (e *Event) AppendSessionID(dst []byte) []byte {
	if e.SessionID == 0 {
		return dst
	}
	return appendHex64(dst, e.SessionID)
}

func appendHex64(dst []byte, v uint64) []byte {
	const digits = "0123456789abcdef"
	var buf [16]byte
	for i := 15; i >= 0; i-- {
		buf[i] = digits[v&15]
		v >>= 4
	}
	return append(dst, buf[:]...)
}

// OrderIDString returns order_id ("ORD-0000001234"; "" when absent).
func (e *Event) OrderIDString() string { return string(e.AppendOrderID(nil)) }

// AppendOrderID appends order_id to dst (nothing when absent).
func (e *Event) AppendOrderID(dst []byte) []byte {
	if e.OrderID == 0 {
		return dst
	}
	return appendPadded(append(dst, "ORD-"...), e.OrderID, 10)
}

// appendPadded appends v in decimal, left-padded with zeros to width digits.
func appendPadded(dst []byte, v uint64, width int) []byte {
	var buf [20]byte
	i := len(buf)
	for v > 0 || len(buf)-i < width {
		i--
		buf[i] = byte('0' + v%10)
		v /= 10
	}
	return append(dst, buf[i:]...)
}

// Stats counts what a Generator delivered so far (every event Next returned).
type Stats struct {
	// Events is the number of events delivered (duplicate deliveries included).
	Events int64 `json:"events"`
	// By type (well-formed types only; malformed UnknownType and Truncated events count in none).
	PageViews  int64 `json:"pageViews"`
	AddToCarts int64 `json:"addToCarts"`
	OrderLines int64 `json:"orderLines"`
	Payments   int64 `json:"payments"`
	Refunds    int64 `json:"refunds"`
	// By delivery.
	OnTime     int64 `json:"onTime"`
	Late       int64 `json:"late"`
	OutOfOrder int64 `json:"outOfOrder"`
	Duplicates int64 `json:"duplicates"`
	Malformed  int64 `json:"malformed"`
	// MalformedBy counts malformed events by Malformation (index 0 unused).
	MalformedBy [5]int64 `json:"malformedBy"`
	// SchemaV1 counts events in schema version 1.
	SchemaV1 int64 `json:"schemaV1"`
	// Sessions is the number of sessions started.
	Sessions int64 `json:"sessions"`
	// RevenueCents totals revenue over delivered events that are neither malformed nor duplicates.
	RevenueCents int64 `json:"revenueCents"`
	// FirstTS and LastTS bound event_ts of the delivered events (µs since the epoch).
	FirstTS int64 `json:"firstTs"`
	LastTS  int64 `json:"lastTs"`
}

// Generator produces events. It is not safe for concurrent use.
type Generator struct {
	cfg     Config
	rng     *rand.Rand
	users   permutation
	catalog []Product
	prodPop permutation

	// pending holds the next event of every open session and scheduled refunds, by event time.
	pending itemHeap
	// delayed holds events held back by an anomaly (and duplicate copies), by arrival.
	delayed itemHeap
	// head is the next on-time candidate from pending, with its anomaly applied (headOK).
	head   Event
	headOK bool

	seq         uint64 // tie-breaker of heap items, in insertion order
	nextSession int64  // event time of the next session start (µs)
	orders      uint64 // order numbers handed out
	// Sessions finished and the events they produced: their ratio estimates the events per
	// session, which sets the session arrival rate that achieves Config.Rate.
	doneSessions, doneEvents int64
	stats                    Stats
}

// New returns a generator for cfg (see Config for defaults).
func New(cfg Config) (*Generator, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	g := &Generator{
		cfg:         c,
		rng:         rand.New(rand.NewPCG(c.Seed, c.Seed^0x9E3779B97F4A7C15)),
		users:       newPermutation(uint64(c.Users), c.Seed^0xA5A5),
		catalog:     buildCatalog(c.Seed, c.Products),
		prodPop:     newPermutation(uint64(c.Products), c.Seed^0x5A5A),
		nextSession: c.Start.UnixMicro(),
		orders:      c.OrderBase,
	}
	return g, nil
}

// Config returns the generator's configuration with defaults applied.
func (g *Generator) Config() Config { return g.cfg }

// Stats returns the counts of the events delivered so far.
func (g *Generator) Stats() Stats { return g.stats }

// Catalog returns the product catalog the events refer to (ProductID is Product.ID). The slice is
// shared; do not modify it.
func (g *Generator) Catalog() []Product { return g.catalog }

// item is an entry of a heap: a session's next step or a prepared event (refunds, delayed
// deliveries), ordered by (at, seq).
type item struct {
	at  int64
	seq uint64
	s   *session
	ev  *Event // when s == nil
}

// itemHeap is a binary min-heap of items by (at, seq).
type itemHeap []item

func (h itemHeap) less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return h[i].seq < h[j].seq
}

func (h *itemHeap) push(it item) {
	*h = append(*h, it)
	a := *h
	for i := len(a) - 1; i > 0; {
		p := (i - 1) / 2
		if !a.less(i, p) {
			break
		}
		a[i], a[p] = a[p], a[i]
		i = p
	}
}

func (h *itemHeap) pop() item {
	a := *h
	top := a[0]
	n := len(a) - 1
	a[0] = a[n]
	a[n] = item{}
	a = a[:n]
	for i := 0; ; {
		l := 2*i + 1
		if l >= n {
			break
		}
		c := l
		if r := l + 1; r < n && a.less(r, l) {
			c = r
		}
		if !a.less(c, i) {
			break
		}
		a[i], a[c] = a[c], a[i]
		i = c
	}
	*h = a
	return top
}

func (g *Generator) push(h *itemHeap, at int64, s *session, ev *Event) {
	g.seq++
	it := item{at: at, seq: g.seq, s: s}
	if ev != nil {
		e := *ev
		it.ev = &e
	}
	h.push(it)
}

// Next returns the next event in delivery (Arrival) order. The stream never ends.
func (g *Generator) Next() Event {
	for !g.headOK {
		ev := g.produce()
		g.headOK = g.applyAnomaly(&ev)
		if g.headOK {
			g.head = ev
		}
	}
	var ev Event
	if len(g.delayed) > 0 && g.delayed[0].at <= g.head.Arrival {
		ev = *g.delayed.pop().ev
	} else {
		ev = g.head
		g.headOK = false
	}
	g.count(&ev)
	return ev
}

// applyAnomaly draws ev's delivery. It returns false when ev is held back (moved to delayed).
func (g *Generator) applyAnomaly(ev *Event) bool {
	a := g.cfg.Anomalies
	if !a.any() {
		return true
	}
	if a.SchemaV1 > 0 && g.rng.Float64() < a.SchemaV1 {
		ev.SchemaVersion = 1
		ev.Device = ""
	}
	u := g.rng.Float64()
	switch {
	case u < a.Late:
		ev.Anomaly = Late
		ev.Arrival = ev.TS + g.between(LateMin, LateMax)
		g.push(&g.delayed, ev.Arrival, nil, ev)
		return false
	case u < a.Late+a.OutOfOrder:
		ev.Anomaly = OutOfOrder
		ev.Arrival = ev.TS + g.between(OutOfOrderMin, OutOfOrderMax)
		g.push(&g.delayed, ev.Arrival, nil, ev)
		return false
	case u < a.Late+a.OutOfOrder+a.Duplicate:
		dup := *ev
		dup.Anomaly = Duplicate
		dup.Arrival = ev.TS + g.between(0, DuplicateMax)
		g.push(&g.delayed, dup.Arrival, nil, &dup)
	case u < a.Late+a.OutOfOrder+a.Duplicate+a.Malformed:
		g.malform(ev)
	}
	return true
}

// bogusTypes are the event types of UnknownType events.
var bogusTypes = []string{"pageview", "ADD_TO_CART", "purchase", "unknown", "page_veiw", "0"}

func (g *Generator) malform(ev *Event) {
	ev.Anomaly = Malformed
	ev.Malformation = Malformation(1 + g.rng.IntN(4))
	switch ev.Malformation {
	case MissingUser:
		ev.UserID = 0
	case UnknownType:
		ev.Type = bogusTypes[g.rng.IntN(len(bogusTypes))]
	case BadRevenue:
		if ev.Type != TypeRefund {
			ev.RevenueCents = -1 - g.rng.Int64N(100_000)
		}
	case Truncated:
		*ev = Event{ID: ev.ID, TS: ev.TS, SchemaVersion: ev.SchemaVersion, Arrival: ev.Arrival,
			Anomaly: Malformed, Malformation: Truncated}
	}
}

// between returns a uniform duration in [lo, hi) in microseconds.
func (g *Generator) between(lo, hi time.Duration) int64 {
	l, h := lo.Microseconds(), hi.Microseconds()
	if h <= l {
		return l
	}
	return l + g.rng.Int64N(h-l)
}

func (g *Generator) count(ev *Event) {
	s := &g.stats
	s.Events++
	if s.Events == 1 || ev.TS < s.FirstTS {
		s.FirstTS = ev.TS
	}
	if ev.TS > s.LastTS {
		s.LastTS = ev.TS
	}
	switch ev.Anomaly {
	case OnTime:
		s.OnTime++
	case Late:
		s.Late++
	case OutOfOrder:
		s.OutOfOrder++
	case Duplicate:
		s.Duplicates++
	case Malformed:
		s.Malformed++
		s.MalformedBy[ev.Malformation]++
	}
	if ev.SchemaVersion == 1 {
		s.SchemaV1++
	}
	if ev.Anomaly != Malformed && ev.Anomaly != Duplicate {
		s.RevenueCents += ev.RevenueCents
	}
	if ev.Anomaly == Malformed && (ev.Malformation == UnknownType || ev.Malformation == Truncated) {
		return
	}
	switch ev.Type {
	case TypePageView:
		s.PageViews++
	case TypeAddToCart:
		s.AddToCarts++
	case TypeOrder:
		s.OrderLines++
	case TypePayment:
		s.Payments++
	case TypeRefund:
		s.Refunds++
	}
}
