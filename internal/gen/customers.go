package gen

import (
	"container/heap"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// This file generates the customers table of the shop's operational database as a change data
// capture stream in Debezium's format: an initial snapshot (op "r") of every user of the events,
// then inserts, updates and deletes (op "c", "u", "d"), each a JSON envelope with the row before
// and after the change.

// Debezium operation codes: the value of a change's "op".
const (
	// OpRead is a row of the initial snapshot: before null, after the row.
	OpRead = "r"
	// OpCreate is an insert: before null, after the new row.
	OpCreate = "c"
	// OpUpdate is an update: before the previous row, after the new one.
	OpUpdate = "u"
	// OpDelete is a delete: before the last row, after null.
	OpDelete = "d"
)

// Customer segments: the values of the segment column.
const (
	SegmentConsumer = "consumer"
	SegmentBusiness = "business"
	SegmentVIP      = "vip"
)

// Defaults and bounds of CustomersConfig.
const (
	// DefaultCustomersRate is the default number of changes per second of event time.
	DefaultCustomersRate = 5.0
	// MaxCustomersRate bounds CustomersConfig.Rate: ts_ms has millisecond precision and
	// strictly increases from one change to the next.
	MaxCustomersRate = 1000.0
	// CDCDelayMax bounds the delivery delay of out-of-order changes and of duplicate deliveries.
	CDCDelayMax = 2 * time.Minute
	// CDCSchemaShare is the share of envelopes wrapped as {"schema": ..., "payload": envelope},
	// as Kafka Connect's JSON converter writes them with schemas enabled.
	CDCSchemaShare = 0.3
)

// Shares of the changes after the snapshot by operation (the rest are updates).
const (
	cdcCreateShare = 0.04
	cdcDeleteShare = 0.01
	// cdcMoveShare is the share of address changes that move the customer to another country.
	cdcMoveShare = 0.03
	// signupSpan is how long before Start the first user signed up.
	signupSpan = 4 * 365 * 24 * time.Hour
)

// CustomersConfig says what a Customers stream generates. The zero value of every field but Seed
// means its default. Two streams with equal configs generate the same bytes.
type CustomersConfig struct {
	// Seed selects the stream. With the Seed of a Generator's Config, customer_id n is the user
	// n of its events and starts in that user's country.
	Seed uint64
	// Users is the number of customers in the snapshot, customer_id 1 to Users (default
	// DefaultUsers): the Users of the events' Config.
	Users int
	// Start is the time of the snapshot (default DefaultStart); every later change is after it.
	Start time.Time
	// Rate is the mean number of changes per second of event time after the snapshot (default
	// DefaultCustomersRate, at most MaxCustomersRate).
	Rate float64
	// OutOfOrder is the share of changes delivered late, between one second and CDCDelayMax
	// after their ts_ms, after later changes.
	OutOfOrder float64
	// Duplicate is the share of changes delivered a second time, verbatim, up to CDCDelayMax
	// after their ts_ms. OutOfOrder+Duplicate must not exceed 1.
	Duplicate float64
}

func (c CustomersConfig) withDefaults() (CustomersConfig, error) {
	if c.Users == 0 {
		c.Users = DefaultUsers
	}
	if c.Start.IsZero() {
		c.Start = DefaultStart
	}
	if c.Rate == 0 {
		c.Rate = DefaultCustomersRate
	}
	switch {
	case c.Users < 0:
		return c, fmt.Errorf("%w: customers: Users %d must be positive", ErrInvalidConfig, c.Users)
	case !(c.Rate > 0 && c.Rate <= MaxCustomersRate):
		return c, fmt.Errorf("%w: customers: Rate %v must be in (0, %v]", ErrInvalidConfig, c.Rate, MaxCustomersRate)
	case !(c.OutOfOrder >= 0 && c.OutOfOrder <= 1):
		return c, fmt.Errorf("%w: customers: OutOfOrder %v must be in [0, 1]", ErrInvalidConfig, c.OutOfOrder)
	case !(c.Duplicate >= 0 && c.Duplicate <= 1):
		return c, fmt.Errorf("%w: customers: Duplicate %v must be in [0, 1]", ErrInvalidConfig, c.Duplicate)
	case c.OutOfOrder+c.Duplicate > 1:
		return c, fmt.Errorf("%w: customers: OutOfOrder+Duplicate must not exceed 1", ErrInvalidConfig)
	}
	return c, nil
}

// CustomerChange is one delivered change of the customers table.
type CustomerChange struct {
	// CustomerID is the changed row's customer_id (the message key of a Debezium topic).
	CustomerID int64
	// TSMillis is ts_ms: when the change was committed, in milliseconds since the Unix epoch.
	// The snapshot's rows have the snapshot time; later changes have strictly increasing ts_ms
	// in commit order, so the changes of one customer are ordered by it and none share one.
	TSMillis int64
	// Arrival is when the change is delivered, in microseconds since the epoch: TSMillis*1000
	// for on-time changes, later for out-of-order and duplicate deliveries. Next returns changes
	// in Arrival order.
	Arrival int64
	// LSN is source.lsn: the position in the database's log. The snapshot's rows share one;
	// later changes have strictly increasing LSNs in commit order.
	LSN uint64
	// Op is OpRead, OpCreate, OpUpdate or OpDelete.
	Op string
	// Value is the message: the Debezium envelope (see Customers), possibly wrapped with its
	// schema. A fresh slice owned by the caller.
	Value []byte
	// Anomaly is OnTime, OutOfOrder or Duplicate (a second delivery of a change, with the same
	// Value, TSMillis and LSN).
	Anomaly Anomaly
}

// Key returns the Debezium message key of the change: {"customer_id":N}.
func (ch *CustomerChange) Key() []byte {
	return append(strconv.AppendInt([]byte(`{"customer_id":`), ch.CustomerID, 10), '}')
}

// CustomerStats counts what Customers.Next delivered so far (the snapshot is not counted).
type CustomerStats struct {
	// Changes is the number of deliveries, duplicates included.
	Changes int64 `json:"changes"`
	// Creates, Updates and Deletes count the distinct changes delivered, by operation.
	Creates int64 `json:"creates"`
	Updates int64 `json:"updates"`
	Deletes int64 `json:"deletes"`
	// OutOfOrder and Duplicates count the anomalous deliveries.
	OutOfOrder int64 `json:"outOfOrder"`
	Duplicates int64 `json:"duplicates"`
}

// Customers generates the changes of the customers table, deterministically by its config.
//
// The table's rows have the columns customer_id (number), name, email, country (an ISO code of
// Countries), city, segment (SegmentConsumer, SegmentBusiness or SegmentVIP), marketing_opt_in
// (boolean), created_at and updated_at (RFC 3339 UTC strings with milliseconds). Each change's
// Value is a Debezium envelope
//
//	{"before":row|null,"after":row|null,"source":{...,"db":"shop","schema":"public",
//	 "table":"customers","lsn":N,...},"op":"u","ts_ms":N}
//
// and about CDCSchemaShare of them are wrapped as {"schema":{...},"payload":envelope}.
//
// Invariants, for the changes of any one customer taken in ts_ms order (whatever their arrival
// order): the first is its snapshot row (op "r", customer_id <= Users) or its insert (op "c",
// customer_id > Users); each later change's before equals the previous change's after; an update
// changes at least one column and sets updated_at to its ts_ms; a delete (a GDPR erasure) is
// the customer's last change. A snapshot row's country is the country of the same user in the
// events of a Generator with the same Seed; an address change keeps the country, except for a
// rare move abroad. A snapshot row's updated_at is its last change before the snapshot, so
// created_at <= updated_at < the snapshot's ts_ms.
//
// A Customers is not safe for concurrent use. It keeps the rows changed since the snapshot in
// memory (the others are derived from the seed), at most one per customer.
type Customers struct {
	cfg     CustomersConfig
	rng     *rand.Rand
	startMs int64
	snapLSN uint64

	// rows holds every customer changed after the snapshot, by customer_id.
	rows   map[int64]*customerState
	nextID int64 // customer_id of the next insert

	clock  int64  // event time of the last change, µs
	lastTS int64  // ts_ms of the last change produced
	lsn    uint64 // LSN of the last change produced
	seq    uint64 // tie-breaker of delayed, in insertion order

	// delayed holds out-of-order changes and duplicate copies, by (Arrival, seq).
	delayed changeHeap
	// head is the next on-time change (when headOK).
	head   CustomerChange
	headOK bool

	stats CustomerStats
}

type customerState struct {
	row     customer
	deleted bool
}

// customer is one row of the table. Times are milliseconds since the epoch.
type customer struct {
	id               int64
	name, email      string
	country, city    string
	segment          string
	optIn            bool
	created, updated int64
}

// NewCustomers returns the change stream of cfg (see CustomersConfig for defaults).
func NewCustomers(cfg CustomersConfig) (*Customers, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	startMs := c.Start.UnixMilli()
	snapLSN := 0x1_0000_0000 + splitmix64(c.Seed^0x15A)%(1<<32)
	return &Customers{
		cfg:     c,
		rng:     rand.New(rand.NewPCG(c.Seed^0xC0575, c.Seed^0xC4A26E5)),
		startMs: startMs,
		snapLSN: snapLSN,
		rows:    map[int64]*customerState{},
		nextID:  int64(c.Users) + 1,
		clock:   c.Start.UnixMicro(),
		lastTS:  startMs,
		lsn:     snapLSN,
	}, nil
}

// Config returns the stream's configuration with defaults applied.
func (c *Customers) Config() CustomersConfig { return c.cfg }

// Stats returns the counts of the changes Next delivered so far.
func (c *Customers) Stats() CustomerStats { return c.stats }

// Snapshot calls fn with the initial snapshot: one op "r" change per customer, customer_id 1 to
// Users in order, each with ts_ms and Arrival the snapshot time (Start) and the snapshot's LSN.
// It describes the table as of Start whatever Next has delivered, and does not change what Next
// delivers; rows are generated one at a time. The first error fn returns stops it and is
// returned, wrapped with the customer_id.
func (c *Customers) Snapshot(fn func(CustomerChange) error) error {
	for id := int64(1); id <= int64(c.cfg.Users); id++ {
		row := c.initial(id)
		ch := CustomerChange{
			CustomerID: id,
			TSMillis:   c.startMs,
			Arrival:    c.cfg.Start.UnixMicro(),
			LSN:        c.snapLSN,
			Op:         OpRead,
		}
		snap := "true"
		if id == int64(c.cfg.Users) {
			snap = "last"
		}
		ch.Value = c.appendValue(nil, &ch, nil, &row, snap)
		if err := fn(ch); err != nil {
			return fmt.Errorf("gen: customers snapshot: customer_id %d: %w", id, err)
		}
	}
	return nil
}

// Next returns the next change after the snapshot, in delivery (Arrival) order. The stream never
// ends.
func (c *Customers) Next() CustomerChange {
	for !c.headOK {
		ch := c.produce()
		c.headOK = c.applyAnomaly(&ch)
		if c.headOK {
			c.head = ch
		}
	}
	var ch CustomerChange
	if len(c.delayed) > 0 && c.delayed[0].ch.Arrival <= c.head.Arrival {
		ch = heap.Pop(&c.delayed).(pendingChange).ch
	} else {
		ch = c.head
		c.headOK = false
	}
	c.count(&ch)
	return ch
}

func (c *Customers) count(ch *CustomerChange) {
	s := &c.stats
	s.Changes++
	switch ch.Anomaly {
	case Duplicate:
		s.Duplicates++
		return
	case OutOfOrder:
		s.OutOfOrder++
	}
	switch ch.Op {
	case OpCreate:
		s.Creates++
	case OpUpdate:
		s.Updates++
	case OpDelete:
		s.Deletes++
	}
}

// applyAnomaly draws ch's delivery. It returns false when ch is held back (moved to delayed).
func (c *Customers) applyAnomaly(ch *CustomerChange) bool {
	if c.cfg.OutOfOrder == 0 && c.cfg.Duplicate == 0 {
		return true
	}
	u := c.rng.Float64()
	switch {
	case u < c.cfg.OutOfOrder:
		ch.Anomaly = OutOfOrder
		ch.Arrival = ch.TSMillis*1000 + c.delay(time.Second)
		c.hold(*ch)
		return false
	case u < c.cfg.OutOfOrder+c.cfg.Duplicate:
		dup := *ch
		dup.Value = append([]byte(nil), ch.Value...)
		dup.Anomaly = Duplicate
		dup.Arrival = ch.TSMillis*1000 + c.delay(time.Millisecond)
		c.hold(dup)
	}
	return true
}

// delay returns a uniform delivery delay in [lo, CDCDelayMax), in microseconds.
func (c *Customers) delay(lo time.Duration) int64 {
	l, h := lo.Microseconds(), CDCDelayMax.Microseconds()
	return l + c.rng.Int64N(h-l)
}

func (c *Customers) hold(ch CustomerChange) {
	c.seq++
	heap.Push(&c.delayed, pendingChange{ch: ch, seq: c.seq})
}

// produce returns the next change in commit order, delivered on time.
func (c *Customers) produce() CustomerChange {
	c.clock += max(int64(c.rng.ExpFloat64()/c.cfg.Rate*1e6), 1)
	ts := max(floorDiv(c.clock, 1000), c.lastTS+1)
	c.lastTS = ts
	c.lsn += 64 + c.rng.Uint64N(1984)
	ch := CustomerChange{TSMillis: ts, Arrival: ts * 1000, LSN: c.lsn}

	u := c.rng.Float64()
	var st *customerState
	if u >= cdcCreateShare {
		st = c.pick()
	}
	switch {
	case st == nil: // an insert (or no customer left to change)
		id := c.nextID
		c.nextID++
		row := c.fresh(id, ts)
		c.rows[id] = &customerState{row: row}
		ch.CustomerID, ch.Op = id, OpCreate
		ch.Value = c.appendValue(nil, &ch, nil, &row, "false")
	case u < cdcCreateShare+cdcDeleteShare:
		st.deleted = true
		ch.CustomerID, ch.Op = st.row.id, OpDelete
		ch.Value = c.appendValue(nil, &ch, &st.row, nil, "false")
	default:
		before := st.row
		c.update(&st.row)
		st.row.updated = ts
		ch.CustomerID, ch.Op = st.row.id, OpUpdate
		ch.Value = c.appendValue(nil, &ch, &before, &st.row, "false")
	}
	return ch
}

// pick draws a customer that is not deleted (nil when a few draws found only deleted ones).
func (c *Customers) pick() *customerState {
	for try := 0; try < 16; try++ {
		id := 1 + c.rng.Int64N(c.nextID-1)
		st := c.rows[id]
		if st == nil {
			st = &customerState{row: c.initial(id)}
			c.rows[id] = st
		}
		if !st.deleted {
			return st
		}
	}
	return nil
}

// Update kinds, by weight.
var updateKinds = []weighted{{"opt_in", 30}, {"address", 30}, {"email", 20}, {"segment", 15}, {"name", 5}}

var updateTotal = totalWeight(updateKinds)

// update changes one group of columns of r (never none).
func (c *Customers) update(r *customer) {
	switch updateKinds[pickWeighted(updateKinds, updateTotal, c.rng.Uint64())].name {
	case "opt_in":
		r.optIn = !r.optIn
	case "address":
		if c.rng.Float64() < cdcMoveShare {
			for {
				to := countries[pickWeighted(countries, countryTotal, c.rng.Uint64())].name
				if to != r.country {
					r.country = to
					break
				}
			}
			cs := cities[r.country]
			r.city = cs[c.rng.IntN(len(cs))]
			return
		}
		cs := cities[r.country]
		if len(cs) > 1 {
			i := c.rng.IntN(len(cs) - 1)
			if cs[i] == r.city {
				i = len(cs) - 1
			}
			r.city = cs[i]
		}
	case "email":
		old := r.email
		for r.email == old {
			r.email = makeEmail(r.name, c.rng.Uint64())
		}
	case "segment":
		old := r.segment
		for r.segment == old {
			r.segment = segments[pickWeighted(segments, segmentTotal, c.rng.Uint64())].name
		}
	case "name":
		// A new family name (marriage): the email stays.
		first, _, _ := strings.Cut(r.name, " ")
		old := r.name
		ln := lastNames[nameGroups[r.country]]
		for r.name == old {
			r.name = first + " " + ln[c.rng.IntN(len(ln))]
		}
	}
}

// segments and their shares of customers.
var segments = []weighted{{SegmentConsumer, 85}, {SegmentBusiness, 12}, {SegmentVIP, 3}}

var segmentTotal = totalWeight(segments)

// userCountry returns the country of user in the events of a Generator seeded with seed.
func userCountry(seed uint64, user int64) string {
	g := Generator{cfg: Config{Seed: seed}}
	c, _ := g.userAttrs(user)
	return countries[c].name
}

// hashStream draws uniform 64-bit values from a hash of its initial state: attributes derived
// from it need no stored state.
type hashStream struct{ s uint64 }

func newHashStream(seed uint64, parts ...uint64) hashStream {
	h := splitmix64(seed)
	for _, p := range parts {
		h = splitmix64(h ^ p)
	}
	return hashStream{h}
}

func (h *hashStream) next() uint64 {
	h.s += 0x9E3779B97F4A7C15
	return splitmix64(h.s)
}

// float returns a uniform number in [0, 1).
func (h *hashStream) float() float64 { return float64(h.next()>>11) / (1 << 53) }

// intn returns a uniform number in [0, n).
func (h *hashStream) intn(n int) int { return int(h.next() % uint64(n)) }

// initial returns customer id's row in the snapshot (id <= Users).
func (c *Customers) initial(id int64) customer {
	h := newHashStream(c.cfg.Seed, 0xC057, uint64(id))
	r := c.person(id, &h)
	r.country = userCountry(c.cfg.Seed, id)
	cs := cities[r.country]
	r.city = cs[h.intn(len(cs))]
	// Customers signed up over signupSpan before Start, in customer_id order.
	span := signupSpan.Milliseconds()
	frac := (float64(id-1) + h.float()) / float64(c.cfg.Users)
	r.created = c.startMs - span + int64(frac*float64(span))
	r.created = min(r.created, c.startMs-1)
	r.updated = r.created
	if h.float() < 0.5 {
		r.updated += int64(h.float() * float64(c.startMs-1-r.created))
	}
	return r
}

// fresh returns the row of a customer inserted at ts (id > Users).
func (c *Customers) fresh(id, ts int64) customer {
	h := newHashStream(c.cfg.Seed, 0xC057, uint64(id))
	r := c.person(id, &h)
	r.country = userCountry(c.cfg.Seed, id)
	cs := cities[r.country]
	r.city = cs[h.intn(len(cs))]
	r.created, r.updated = ts, ts
	return r
}

// person draws the columns of a row that do not depend on time or place: the name (from the
// names of the user's country), email, segment and opt-in.
func (c *Customers) person(id int64, h *hashStream) customer {
	group := nameGroups[userCountry(c.cfg.Seed, id)]
	fn, ln := firstNames[group], lastNames[group]
	name := fn[h.intn(len(fn))] + " " + ln[h.intn(len(ln))]
	return customer{
		id:      id,
		name:    name,
		email:   makeEmail(name, h.next()),
		segment: segments[pickWeighted(segments, segmentTotal, h.next())].name,
		optIn:   h.float() < 0.45,
	}
}

var emailDomains = []weighted{
	{"gmail.com", 40}, {"outlook.com", 15}, {"yahoo.com", 10}, {"icloud.com", 10}, {"hotmail.com", 8},
	{"proton.me", 5}, {"gmx.net", 4}, {"aol.com", 3}, {"mail.com", 3}, {"fastmail.com", 2},
}

var emailDomainTotal = totalWeight(emailDomains)

// asciiFold maps the accented letters of the name lists to ASCII, and drops what an email's
// local part does not carry.
var asciiFold = strings.NewReplacer(
	"á", "a", "à", "a", "ã", "a", "â", "a", "ä", "a", "é", "e", "è", "e", "ê", "e", "ë", "e",
	"í", "i", "ï", "i", "ó", "o", "ô", "o", "õ", "o", "ö", "o", "ú", "u", "ü", "u", "ñ", "n",
	"ç", "c", "ß", "ss", "'", "", " ", "", "-", "",
)

// makeEmail returns a plausible email address for name from the random value u.
func makeEmail(name string, u uint64) string {
	first, last, _ := strings.Cut(strings.ToLower(name), " ")
	first, last = asciiFold.Replace(first), asciiFold.Replace(last)
	var local string
	switch u % 5 {
	case 0:
		local = first + "." + last
	case 1:
		local = first + last
	case 2:
		local = first[:1] + last
	case 3:
		local = first + "_" + last
	default:
		local = last + "." + first
	}
	u /= 5
	if u%3 != 0 {
		local += strconv.FormatUint(u/3%1000, 10)
	}
	u /= 3000
	return local + "@" + emailDomains[pickWeighted(emailDomains, emailDomainTotal, u)].name
}

// appendValue appends ch's message to dst: the envelope, wrapped with its schema for about
// CDCSchemaShare of the changes (decided by a hash of the change, so that it is the same in every
// run).
func (c *Customers) appendValue(dst []byte, ch *CustomerChange, before, after *customer, snapshot string) []byte {
	h := newHashStream(c.cfg.Seed, 0x5C4E, uint64(ch.CustomerID), uint64(ch.TSMillis))
	wrap := h.float() < CDCSchemaShare
	if wrap {
		dst = append(dst, `{"schema":`...)
		dst = append(dst, cdcSchema...)
		dst = append(dst, `,"payload":`...)
	}
	dst = append(dst, `{"before":`...)
	dst = appendCustomer(dst, before)
	dst = append(dst, `,"after":`...)
	dst = appendCustomer(dst, after)
	dst = append(dst, `,"source":{"version":"2.7.3.Final","connector":"postgresql","name":"shop","ts_ms":`...)
	dst = strconv.AppendInt(dst, ch.TSMillis, 10)
	dst = append(dst, `,"snapshot":"`...)
	dst = append(dst, snapshot...)
	dst = append(dst, `","db":"shop","schema":"public","table":"customers","lsn":`...)
	dst = strconv.AppendUint(dst, ch.LSN, 10)
	dst = append(dst, `},"op":"`...)
	dst = append(dst, ch.Op...)
	dst = append(dst, `","ts_ms":`...)
	dst = strconv.AppendInt(dst, ch.TSMillis, 10)
	dst = append(dst, '}')
	if wrap {
		dst = append(dst, '}')
	}
	return dst
}

// msLayout renders created_at and updated_at.
const msLayout = "2006-01-02T15:04:05.000Z"

// appendCustomer appends r as a JSON object, or null when r is nil.
func appendCustomer(dst []byte, r *customer) []byte {
	if r == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, `{"customer_id":`...)
	dst = strconv.AppendInt(dst, r.id, 10)
	dst = append(dst, `,"name":`...)
	dst = appendJSONString(dst, r.name)
	dst = append(dst, `,"email":`...)
	dst = appendJSONString(dst, r.email)
	dst = append(dst, `,"country":`...)
	dst = appendJSONString(dst, r.country)
	dst = append(dst, `,"city":`...)
	dst = appendJSONString(dst, r.city)
	dst = append(dst, `,"segment":`...)
	dst = appendJSONString(dst, r.segment)
	dst = append(dst, `,"marketing_opt_in":`...)
	dst = strconv.AppendBool(dst, r.optIn)
	dst = append(dst, `,"created_at":"`...)
	dst = time.UnixMilli(r.created).UTC().AppendFormat(dst, msLayout)
	dst = append(dst, `","updated_at":"`...)
	dst = time.UnixMilli(r.updated).UTC().AppendFormat(dst, msLayout)
	return append(dst, `"}`...)
}

// appendJSONString appends s as a JSON string (UTF-8 kept as is; quotes, backslashes and control
// characters escaped).
func appendJSONString(dst []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		switch b := s[i]; {
		case b == '"' || b == '\\':
			dst = append(dst, '\\', b)
		case b < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&15])
		default:
			dst = append(dst, b)
		}
	}
	return append(dst, '"')
}

// cdcSchema is the schema part of wrapped messages: the envelope's fields, with the row struct
// named but its fields not listed (a trimmed Kafka Connect schema).
const cdcSchema = `{"type":"struct","name":"shop.public.customers.Envelope","optional":false,"fields":[` +
	`{"type":"struct","name":"shop.public.customers.Value","optional":true,"field":"before"},` +
	`{"type":"struct","name":"shop.public.customers.Value","optional":true,"field":"after"},` +
	`{"type":"struct","name":"io.debezium.connector.postgresql.Source","optional":false,"field":"source"},` +
	`{"type":"string","optional":false,"field":"op"},` +
	`{"type":"int64","optional":true,"field":"ts_ms"}]}`

// pendingChange is an entry of changeHeap.
type pendingChange struct {
	ch  CustomerChange
	seq uint64
}

// changeHeap is a container/heap of changes by (Arrival, seq).
type changeHeap []pendingChange

func (h changeHeap) Len() int { return len(h) }
func (h changeHeap) Less(i, j int) bool {
	if h[i].ch.Arrival != h[j].ch.Arrival {
		return h[i].ch.Arrival < h[j].ch.Arrival
	}
	return h[i].seq < h[j].seq
}
func (h changeHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *changeHeap) Push(x any)   { *h = append(*h, x.(pendingChange)) }
func (h *changeHeap) Pop() any {
	a := *h
	x := a[len(a)-1]
	a[len(a)-1] = pendingChange{}
	*h = a[:len(a)-1]
	return x
}

// nameGroups maps a country to the group of names its customers draw from.
var nameGroups = map[string]string{
	"US": "en", "GB": "en", "CA": "en", "AU": "en",
	"ES": "es", "MX": "es", "AR": "es", "CL": "es", "CO": "es",
	"BR": "pt", "PT": "pt",
	"DE": "de", "FR": "fr", "IT": "it", "NL": "nl", "JP": "ja", "IN": "in",
}

var firstNames = map[string][]string{
	"en": {"James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda", "David", "Emily", "Oliver", "Amelia", "Jack", "Sophie", "Liam", "Chloe"},
	"es": {"Lucía", "Hugo", "Sofía", "Martín", "María", "Pablo", "Valentina", "Mateo", "Camila", "Diego", "Paula", "Javier", "Elena", "Alejandro", "Carmen", "Santiago"},
	"pt": {"João", "Maria", "Pedro", "Ana", "Lucas", "Beatriz", "Gabriel", "Mariana", "Rafael", "Inês", "Tiago", "Laura", "Miguel", "Júlia", "Gustavo", "Carolina"},
	"de": {"Lukas", "Anna", "Leon", "Hannah", "Felix", "Lena", "Jonas", "Marie", "Paul", "Laura", "Maximilian", "Julia", "Finn", "Sophie", "Tobias", "Katharina"},
	"fr": {"Louis", "Emma", "Gabriel", "Jade", "Arthur", "Louise", "Jules", "Alice", "Hugo", "Chloé", "Léo", "Manon", "Raphaël", "Camille", "Thomas", "Léa"},
	"it": {"Francesco", "Giulia", "Alessandro", "Sofia", "Lorenzo", "Aurora", "Matteo", "Ginevra", "Leonardo", "Alice", "Marco", "Chiara", "Andrea", "Martina", "Luca", "Francesca"},
	"nl": {"Daan", "Emma", "Sem", "Julia", "Lucas", "Mila", "Finn", "Tess", "Levi", "Sophie", "Bram", "Zoë", "Thijs", "Anna", "Ruben", "Fleur"},
	"ja": {"Haruto", "Yui", "Sota", "Aoi", "Yuto", "Hina", "Riku", "Sakura", "Kaito", "Mei", "Ren", "Yuna", "Takumi", "Rin", "Daiki", "Akari"},
	"in": {"Aarav", "Saanvi", "Vivaan", "Ananya", "Aditya", "Diya", "Arjun", "Priya", "Rohan", "Isha", "Rahul", "Kavya", "Vikram", "Meera", "Karan", "Pooja"},
}

var lastNames = map[string][]string{
	"en": {"Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson", "Taylor", "Clark", "Walker", "Wright", "Thompson", "Evans", "O'Brien", "Campbell"},
	"es": {"García", "Rodríguez", "González", "Fernández", "López", "Martínez", "Sánchez", "Pérez", "Gómez", "Martín", "Jiménez", "Ruiz", "Hernández", "Díaz", "Moreno", "Muñoz"},
	"pt": {"Silva", "Santos", "Oliveira", "Souza", "Ferreira", "Pereira", "Costa", "Rodrigues", "Almeida", "Carvalho", "Gomes", "Martins", "Ribeiro", "Lima", "Araújo", "Fernandes"},
	"de": {"Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz", "Hoffmann", "Koch", "Richter", "Klein", "Wolf", "Schröder", "Neumann"},
	"fr": {"Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau", "Simon", "Laurent", "Lefèvre", "Michel", "Garcia", "Rousseau"},
	"it": {"Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci", "Marino", "Greco", "Bruno", "Gallo", "Conti", "De Luca", "Costa", "Giordano"},
	"nl": {"de Jong", "Jansen", "de Vries", "van den Berg", "van Dijk", "Bakker", "Janssen", "Visser", "Smit", "Meijer", "de Boer", "Mulder", "de Groot", "Bos", "Vos", "Peters"},
	"ja": {"Sato", "Suzuki", "Takahashi", "Tanaka", "Watanabe", "Ito", "Yamamoto", "Nakamura", "Kobayashi", "Kato", "Yoshida", "Yamada", "Sasaki", "Yamaguchi", "Matsumoto", "Inoue"},
	"in": {"Sharma", "Verma", "Patel", "Gupta", "Singh", "Kumar", "Reddy", "Iyer", "Nair", "Mehta", "Shah", "Joshi", "Rao", "Das", "Chopra", "Bose"},
}

// cities maps each country of Countries to cities its customers live in.
var cities = map[string][]string{
	"US": {"New York", "Los Angeles", "Chicago", "Houston", "Seattle", "Austin"},
	"GB": {"London", "Manchester", "Birmingham", "Leeds", "Glasgow", "Bristol"},
	"DE": {"Berlin", "Hamburg", "München", "Köln", "Frankfurt", "Stuttgart"},
	"BR": {"São Paulo", "Rio de Janeiro", "Belo Horizonte", "Brasília", "Salvador", "Curitiba"},
	"IN": {"Mumbai", "Delhi", "Bengaluru", "Hyderabad", "Chennai", "Pune"},
	"FR": {"Paris", "Lyon", "Marseille", "Toulouse", "Nice", "Bordeaux"},
	"ES": {"Madrid", "Barcelona", "Valencia", "Sevilla", "Bilbao", "Málaga"},
	"MX": {"Ciudad de México", "Guadalajara", "Monterrey", "Puebla", "Tijuana"},
	"JP": {"Tokyo", "Osaka", "Yokohama", "Nagoya", "Sapporo", "Fukuoka"},
	"CA": {"Toronto", "Montréal", "Vancouver", "Calgary", "Ottawa"},
	"IT": {"Roma", "Milano", "Napoli", "Torino", "Bologna", "Firenze"},
	"NL": {"Amsterdam", "Rotterdam", "Den Haag", "Utrecht", "Eindhoven"},
	"AR": {"Buenos Aires", "Córdoba", "Rosario", "Mendoza"},
	"AU": {"Sydney", "Melbourne", "Brisbane", "Perth", "Adelaide"},
	"CL": {"Santiago", "Valparaíso", "Concepción", "Antofagasta"},
	"CO": {"Bogotá", "Medellín", "Cali", "Barranquilla"},
	"PT": {"Lisboa", "Porto", "Braga", "Coimbra", "Faro"},
}
