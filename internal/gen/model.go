package gen

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// This file is the behaviour model: who the users are, what the catalog holds, and what happens
// in a session.

// weighted is a name and its relative frequency.
type weighted struct {
	name   string
	weight int
}

// countries (ISO 3166 codes) and their shares of users.
var countries = []weighted{
	{"US", 24}, {"GB", 8}, {"DE", 8}, {"BR", 8}, {"IN", 7}, {"FR", 7}, {"ES", 6}, {"MX", 6},
	{"JP", 5}, {"CA", 4}, {"IT", 4}, {"NL", 3}, {"AR", 3}, {"AU", 3}, {"CL", 2}, {"CO", 2}, {"PT", 2},
}

var countryTotal = totalWeight(countries)

func totalWeight(items []weighted) int {
	n := 0
	for _, c := range items {
		n += c.weight
	}
	return n
}

// Devices, by share of users who favour them.
var devices = []weighted{{"mobile", 58}, {"desktop", 34}, {"tablet", 8}}

// Countries returns the country codes users come from, most frequent first.
func Countries() []string {
	out := make([]string, len(countries))
	for i, c := range countries {
		out[i] = c.name
	}
	return out
}

// Devices returns the device names of schema version 2 events.
func Devices() []string { return []string{"mobile", "desktop", "tablet"} }

// pickWeighted picks an index of items from u, a uniform random number.
func pickWeighted(items []weighted, total int, u uint64) int {
	r := int(u % uint64(total))
	for i, it := range items {
		r -= it.weight
		if r < 0 {
			return i
		}
	}
	return len(items) - 1
}

// splitmix64 is a strong 64-bit mixer: attributes derived from it need no stored state.
func splitmix64(x uint64) uint64 {
	x += 0x9E3779B97F4A7C15
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9
	x = (x ^ (x >> 27)) * 0x94D049BB133111EB
	return x ^ (x >> 31)
}

// userAttrs returns a user's country and favourite device, fixed for the seed.
func (g *Generator) userAttrs(user int64) (country int, device int) {
	h := splitmix64(g.cfg.Seed ^ uint64(user)*0xD6E8FEB86659FD93)
	country = pickWeighted(countries, countryTotal, h&0xFFFFFFFF)
	device = pickWeighted(devices, 100, h>>32)
	return country, device
}

// permutation maps a popularity rank in [0, n) to an identifier in [1, n], so that the most active
// users and the most popular products are spread over the identifiers: id = 1 + (rank*mul + add)
// mod n, with mul coprime to n.
type permutation struct{ n, mul, add uint64 }

func newPermutation(n, seed uint64) permutation {
	if n == 0 {
		return permutation{}
	}
	h := splitmix64(seed)
	mul := h%n | 1
	for gcd(mul, n) != 1 {
		mul = (mul + 2) % n
		if mul == 0 {
			mul = 1
		}
	}
	return permutation{n: n, mul: mul, add: splitmix64(h) % n}
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func (p permutation) id(rank uint64) uint64 { return 1 + (rank*p.mul+p.add)%p.n }

// skewedRank draws a rank in [0, n) with P(rank < k) = (k/n)^(1/power): power > 1 favours small
// ranks (a heavy head).
func skewedRank(rng *rand.Rand, n int, power float64) uint64 {
	r := uint64(float64(n) * math.Pow(rng.Float64(), power))
	return min(r, uint64(n-1))
}

// Product is one catalog entry.
type Product struct {
	// ID is product_id ("SKU-00042").
	ID string `json:"product_id"`
	// Category is one of Categories.
	Category string `json:"category"`
	// PriceCents is the unit price in cents.
	PriceCents int64 `json:"price_cents"`
}

// categories and their typical prices (cents).
var categories = []struct {
	name string
	base float64
}{
	{"electronics", 15000}, {"books", 1500}, {"clothing", 3500}, {"home", 4000}, {"beauty", 2000},
	{"sports", 4500}, {"toys", 2500}, {"grocery", 800}, {"garden", 3000}, {"automotive", 6000},
	{"music", 1800}, {"pets", 2200},
}

// Categories returns the product categories.
func Categories() []string {
	out := make([]string, len(categories))
	for i, c := range categories {
		out[i] = c.name
	}
	return out
}

// buildCatalog returns n products; product i has ID SKU-(i+1), a category and a log-normal price
// around its category's typical price, ending in 99 cents.
func buildCatalog(seed uint64, n int) []Product {
	rng := rand.New(rand.NewPCG(seed^0xC0FFEE, 0xCA7A106))
	out := make([]Product, n)
	for i := range out {
		c := categories[rng.IntN(len(categories))]
		price := c.base * math.Exp(0.5*rng.NormFloat64())
		cents := max(int64(math.Round(price/100))*100-1, 99)
		out[i] = Product{ID: fmt.Sprintf("SKU-%05d", i+1), Category: c.name, PriceCents: cents}
	}
	return out
}

// Session behaviour.
const (
	meanViews        = 4.0  // page views per session: 1 + exponential(mean 3)
	productPageShare = 0.65 // share of page views that show a product
	addToCartShare   = 0.12 // share of product views followed by an add to cart
	checkoutShare    = 0.30 // share of sessions with a non-empty cart that order
	refundShare      = 0.04 // share of order lines refunded later
	favouriteDevice  = 0.85 // share of a user's sessions on the favourite device
	sessionPrior     = 200  // weight of the prior guess of events per session
	priorEvents      = 4.0  // the prior guess (measured over long runs)
)

type phase uint8

const (
	browsing phase = iota
	adding         // the next event adds the last viewed product to the cart
	checkout       // the next event is order line `line`
	paying         // the next event is the payment
)

type cartLine struct {
	product int32
	qty     int32
}

// session is one user visit. Its next event is due at the time of its heap item.
type session struct {
	id      uint64
	user    int64
	country int8
	device  int8
	views   int // page views still to come
	phase   phase
	viewed  int32 // the product of the last product page (-1: none)
	cart    []cartLine
	line    int
	order   uint64
	events  int
}

// startSession opens a session at time at.
func (g *Generator) startSession(at int64) {
	rank := skewedRank(g.rng, g.cfg.Users, 1.5)
	user := int64(g.users.id(rank))
	country, device := g.userAttrs(user)
	if g.rng.Float64() >= favouriteDevice {
		device = g.rng.IntN(len(devices))
	}
	s := &session{
		id:      g.rng.Uint64() | 1, // never 0, which means absent
		user:    user,
		country: int8(country),
		device:  int8(device),
		views:   1 + int(g.rng.ExpFloat64()*(meanViews-1)),
		viewed:  -1,
	}
	g.stats.Sessions++
	g.push(&g.pending, at, s, nil)
}

// arrivalGap returns the time to the next session start after t: exponential with the rate that
// yields Config.Rate events per second given the events per session seen so far, shaped by the
// daily cycle.
func (g *Generator) arrivalGap(t int64) int64 {
	perSession := (float64(g.doneEvents) + priorEvents*sessionPrior) / float64(g.doneSessions+sessionPrior)
	rate := g.cfg.Rate / perSession
	if g.cfg.DailyCycle > 0 {
		hour := float64(floorMod(t, 86_400_000_000)) / 3_600_000_000
		rate *= 1 + g.cfg.DailyCycle*math.Cos(2*math.Pi*(hour-20)/24)
	}
	return max(int64(g.rng.ExpFloat64()/rate*1e6), 1)
}

func floorMod(a, b int64) int64 { return a - floorDiv(a, b)*b }

// produce returns the next event in event-time order (before anomalies).
func (g *Generator) produce() Event {
	for len(g.pending) == 0 || g.nextSession <= g.pending[0].at {
		at := g.nextSession
		g.startSession(at)
		g.nextSession = at + g.arrivalGap(at)
	}
	it := g.pending.pop()
	if it.s == nil {
		return *it.ev // a refund
	}
	return g.step(it.s, it.at)
}

// step emits session s's event due at time at and schedules its next one (or ends it).
func (g *Generator) step(s *session, at int64) Event {
	ev := Event{
		ID:            g.uuid(),
		UserID:        s.user,
		SessionID:     s.id,
		TS:            at,
		Arrival:       at,
		Country:       countries[s.country].name,
		Device:        devices[s.device].name,
		SchemaVersion: 2,
	}
	s.events++
	var gap int64
	switch s.phase {
	case browsing:
		ev.Type = TypePageView
		s.views--
		s.viewed = -1
		if g.rng.Float64() < productPageShare {
			s.viewed = int32(g.prodPop.id(skewedRank(g.rng, g.cfg.Products, 2.5)) - 1)
			ev.ProductID = g.catalog[s.viewed].ID
			if g.rng.Float64() < addToCartShare {
				s.phase = adding
				gap = g.between(3*time.Second, 25*time.Second)
				break
			}
		}
		gap = g.browseGap()
		if s.views <= 0 {
			g.endOrCheckout(s, &gap)
		}
	case adding:
		ev.Type = TypeAddToCart
		ev.ProductID = g.catalog[s.viewed].ID
		q := int32(1)
		if g.rng.Float64() < 0.2 {
			q = 2 + int32(g.rng.IntN(3))
		}
		ev.Quantity = q
		s.cart = append(s.cart, cartLine{product: s.viewed, qty: q})
		s.phase = browsing
		gap = g.browseGap()
		if s.views <= 0 {
			g.endOrCheckout(s, &gap)
		}
	case checkout:
		l := s.cart[s.line]
		p := &g.catalog[l.product]
		ev.Type = TypeOrder
		ev.ProductID = p.ID
		ev.Quantity = l.qty
		ev.OrderID = s.order
		ev.RevenueCents = p.PriceCents * int64(l.qty)
		if g.rng.Float64() < refundShare {
			r := ev
			r.ID = g.uuid()
			r.Type = TypeRefund
			r.RevenueCents = -ev.RevenueCents
			r.TS = at + g.between(24*time.Hour, 14*24*time.Hour)
			r.Arrival = r.TS
			g.push(&g.pending, r.TS, nil, &r)
		}
		s.line++
		if s.line == len(s.cart) {
			s.phase = paying
			gap = g.between(2*time.Second, 30*time.Second)
		} else {
			gap = g.between(time.Millisecond, 400*time.Millisecond)
		}
	case paying:
		ev.Type = TypePayment
		ev.OrderID = s.order
		g.finish(s)
		return ev
	}
	if gap < 0 {
		g.finish(s)
		return ev
	}
	g.push(&g.pending, at+gap, s, nil)
	return ev
}

// browseGap is the time between two page views: exponential, mean 35 s, from 2 s to 10 min.
func (g *Generator) browseGap() int64 {
	d := int64(g.rng.ExpFloat64() * 35e6)
	return min(max(d, 2_000_000), 600_000_000)
}

// endOrCheckout decides, after the last page view, whether the session orders its cart (gap is
// then the time to the first order line) or ends (gap set to -1).
func (g *Generator) endOrCheckout(s *session, gap *int64) {
	if s.phase == adding {
		return // the add to cart comes first
	}
	if len(s.cart) > 0 && g.rng.Float64() < checkoutShare {
		g.orders++
		s.order = g.orders
		s.phase = checkout
		*gap = g.between(10*time.Second, 90*time.Second)
		return
	}
	*gap = -1
}

func (g *Generator) finish(s *session) {
	g.doneSessions++
	g.doneEvents += int64(s.events)
}

// uuid draws a random version-4 UUID.
func (g *Generator) uuid() [16]byte {
	var id [16]byte
	a, b := g.rng.Uint64(), g.rng.Uint64()
	for i := 0; i < 8; i++ {
		id[i] = byte(a >> (56 - 8*i))
		id[8+i] = byte(b >> (56 - 8*i))
	}
	id[6] = id[6]&0x0F | 0x40
	id[8] = id[8]&0x3F | 0x80
	return id
}
