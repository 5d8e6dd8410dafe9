package gen

import (
	"bufio"
	"cmp"
	"context"
	"encoding/csv"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// This file generates the Logistics domain's nightly files: a stock snapshot per warehouse and
// product (Parquet) and the day's shipment status updates (CSV), written into a landing folder.

// Shipment statuses: the values of the status column of well-formed rows.
const (
	ShipmentInTransit = "in_transit"
	ShipmentDelivered = "delivered"
	ShipmentDelayed   = "delayed"
	ShipmentReturned  = "returned"
)

// ShipmentStatuses lists the well-formed shipment statuses.
var ShipmentStatuses = []string{ShipmentInTransit, ShipmentDelivered, ShipmentDelayed, ShipmentReturned}

// ShipmentColumns are the columns of the shipments CSV files, in order (the header line).
var ShipmentColumns = []string{"shipment_id", "order_id", "carrier", "warehouse", "country",
	"shipped_at", "promised_at", "delivered_at", "status", "updated_at"}

// Defaults of LogisticsConfig.
const (
	DefaultWarehouses        = 4
	DefaultShipmentsPerNight = 2000
)

// DefaultCarriers returns the carriers shipments use by default, each with its own on-time rate
// (DHL the most punctual, Correos the least).
func DefaultCarriers() []string { return []string{"DHL", "UPS", "SEUR", "Correos", "GLS"} }

// carrierOnTime is the share of shipments each known carrier delivers by promised_at; other
// carriers get a rate in [0.75, 0.95) from a hash of their name.
var carrierOnTime = map[string]float64{"DHL": 0.94, "UPS": 0.91, "SEUR": 0.85, "Correos": 0.78, "GLS": 0.88}

// Shipment lifecycle.
const (
	returnedShare = 0.02 // share of shipments returned to the sender, never delivered
	// shipmentLife bounds the days between a shipment's ship day and its last update: a late
	// delivery comes within 3 working days of the promise (itself at most 7 days after shipping), a
	// return 3 to 10 days after shipping.
	shipmentLife = 12
)

// Inventory.
const (
	stockShare      = 0.7  // share of (product, warehouse) pairs stocked, besides each product's home
	belowReorder    = 0.04 // share of stocked pairs below their reorder point on a night
	outOfStockShare = 0.25 // share of those with nothing on hand
)

// LogisticsConfig says what WriteLogisticsNight writes. The zero value of every field but Seed
// means its default. Equal configs and nights give identical files.
type LogisticsConfig struct {
	// Seed selects the data. With the Seed and Products of a Generator's Config, product_id
	// values are those of its catalog.
	Seed uint64
	// Start is the first shipping day (default DefaultStart; truncated to its UTC day): no
	// shipment ships before it, and the orders of the shipments of day k after it are numbered
	// k*ShipmentsPerNight+1 to (k+1)*ShipmentsPerNight (see OrderIDString).
	Start time.Time
	// Products is the size of the catalog (default DefaultProducts).
	Products int
	// Warehouses is the number of warehouses (default DefaultWarehouses); see WarehouseNames.
	Warehouses int
	// Carriers are the carriers' names (default DefaultCarriers()).
	Carriers []string
	// ShipmentsPerNight is the number of shipments shipped each day (default
	// DefaultShipmentsPerNight). A night's CSV holds about twice as many rows: the day's new
	// shipments and the status changes of earlier ones.
	ShipmentsPerNight int
	// MalformedRows is the share of shipment rows with a broken value: an unparseable timestamp
	// or an unknown status (default 0). The column count stays right.
	MalformedRows float64
}

func (c LogisticsConfig) withDefaults() (LogisticsConfig, error) {
	if c.Start.IsZero() {
		c.Start = DefaultStart
	}
	c.Start = utcDay(c.Start)
	if c.Products == 0 {
		c.Products = DefaultProducts
	}
	if c.Warehouses == 0 {
		c.Warehouses = DefaultWarehouses
	}
	if len(c.Carriers) == 0 {
		c.Carriers = DefaultCarriers()
	}
	if c.ShipmentsPerNight == 0 {
		c.ShipmentsPerNight = DefaultShipmentsPerNight
	}
	switch {
	case c.Products < 0 || c.Warehouses < 0 || c.ShipmentsPerNight < 0:
		return c, fmt.Errorf("%w: logistics: Products %d, Warehouses %d and ShipmentsPerNight %d must be positive",
			ErrInvalidConfig, c.Products, c.Warehouses, c.ShipmentsPerNight)
	case c.ShipmentsPerNight >= 100_000:
		return c, fmt.Errorf("%w: logistics: ShipmentsPerNight %d must be below 100000", ErrInvalidConfig, c.ShipmentsPerNight)
	case !(c.MalformedRows >= 0 && c.MalformedRows <= 1):
		return c, fmt.Errorf("%w: logistics: MalformedRows %v must be in [0, 1]", ErrInvalidConfig, c.MalformedRows)
	}
	for i, name := range c.Carriers {
		if name == "" || slices.Contains(c.Carriers[:i], name) {
			return c, fmt.Errorf("%w: logistics: carrier %q empty or repeated", ErrInvalidConfig, name)
		}
	}
	return c, nil
}

func utcDay(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// warehouseSites are the warehouses' sites and their countries, in the order WarehouseNames
// uses them.
var warehouseSites = []struct{ code, country string }{
	{"MAD", "ES"}, {"BCN", "ES"}, {"LIS", "PT"}, {"PAR", "FR"}, {"FRA", "DE"}, {"MIL", "IT"},
	{"AMS", "NL"}, {"LON", "GB"}, {"NYC", "US"}, {"SAO", "BR"},
}

// WarehouseNames returns the names of n warehouses: "MAD-1", "BCN-1", "LIS-1", "PAR-1", "FRA-1",
// ...; past the tenth, the sites repeat with "-2", "-3", ...
func WarehouseNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = warehouseSites[i%len(warehouseSites)].code + "-" + strconv.Itoa(1+i/len(warehouseSites))
	}
	return out
}

// InventorySchema returns the Arrow schema of the inventory Parquet files: snapshot_date DATE,
// warehouse, product_id, on_hand, reserved, reorder_point (INT), every column nullable and never
// null.
func InventorySchema() *arrow.Schema {
	return arrow.NewSchema([]arrow.Field{
		{Name: "snapshot_date", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
		{Name: "warehouse", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "product_id", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "on_hand", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "reserved", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "reorder_point", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
	}, nil)
}

// LogisticsFiles returns the paths WriteLogisticsNight writes for the night of day (truncated to
// its UTC day) under dir: dir/inventory/inventory_YYYY-MM-DD.parquet and
// dir/shipments/shipments_YYYY-MM-DD.csv.
func LogisticsFiles(dir string, day time.Time) (inventory, shipments string) {
	d := utcDay(day).Format(dateLayout)
	return filepath.Join(dir, "inventory", "inventory_"+d+".parquet"),
		filepath.Join(dir, "shipments", "shipments_"+d+".csv")
}

// WriteLogisticsNight writes the Logistics files of the night that closes the UTC day of night
// (see LogisticsFiles) and returns their paths, inventory first:
//
//   - the inventory Parquet file (InventorySchema) is the stock at the end of the day: one row per
//     warehouse and product it stocks (every product is stocked somewhere; most in most
//     warehouses), sorted by warehouse then product_id, with 0 <= reserved <= on_hand and a
//     few rows below their reorder_point (some with nothing on hand);
//   - the shipments CSV file (header ShipmentColumns) has one row per status change during the
//     day, sorted by updated_at then shipment_id: every shipment is in_transit when shipped
//     (updated_at = shipped_at), delayed when promised_at passes before its delivery
//     (updated_at = promised_at), then either delivered (delivered_at = updated_at) or returned to
//     the sender (updated_at when it is back). A shipment's other columns are the same in all its
//     rows, across nights; delivered_at is empty unless status is delivered. Timestamps are RFC
//     3339 UTC. Carriers differ in their on-time rate (delivered_at <= promised_at). With
//     MalformedRows, that share of rows has an unparseable timestamp or an unknown status.
//
// Both files depend only on cfg and the day. Each is written under a hidden temporary name in its
// folder (".<name>.tmp-*", which no *.parquet or *.csv pattern matches), synced and renamed into
// place, so a reader polling the folder never sees part of a file; an existing file of the same
// name is replaced. A cancelled ctx stops the write with ctx's error.
func WriteLogisticsNight(ctx context.Context, dir string, cfg LogisticsConfig, night time.Time) (files []string, err error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	day := utcDay(night)
	invPath, shipPath := LogisticsFiles(dir, day)
	if err := writeAtomic(ctx, invPath, func(w *bufio.Writer) error { return writeInventory(ctx, w, c, day) }); err != nil {
		return nil, err
	}
	files = append(files, invPath)
	if err := writeAtomic(ctx, shipPath, func(w *bufio.Writer) error { return writeShipments(ctx, w, c, day) }); err != nil {
		return files, err
	}
	return append(files, shipPath), nil
}

// writeAtomic writes path through write into a hidden temporary file of path's folder (created if
// needed), syncs it and renames it to path. On error the temporary file is removed.
func writeAtomic(ctx context.Context, path string, write func(*bufio.Writer) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("gen: %s: %w", path, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("gen: %s: %w", path, err)
	}
	tmp := f.Name()
	bw := bufio.NewWriterSize(f, 1<<20)
	err = write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o644)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("gen: %s: %w", path, err)
	}
	return nil
}

// productRanks returns the popularity rank of each catalog product (index i is SKU i+1), as the
// events draw them.
func productRanks(seed uint64, products int) []int {
	pop := newPermutation(uint64(products), seed^0x5A5A) // as New sets Generator.prodPop
	ranks := make([]int, products)
	for r := 0; r < products; r++ {
		ranks[pop.id(uint64(r))-1] = r
	}
	return ranks
}

func writeInventory(ctx context.Context, w *bufio.Writer, c LogisticsConfig, day time.Time) error {
	catalog := buildCatalog(c.Seed, c.Products)
	ranks := productRanks(c.Seed, c.Products)
	warehouses := WarehouseNames(c.Warehouses)
	dayNum := int32(day.Unix() / 86400)
	rng := rand.New(rand.NewPCG(c.Seed^0x1A7E, uint64(dayNum)))

	mem := memory.NewGoAllocator()
	b := array.NewRecordBuilder(mem, InventorySchema())
	defer b.Release()
	date := b.Field(0).(*array.Date32Builder)
	wh := b.Field(1).(*array.StringBuilder)
	prod := b.Field(2).(*array.StringBuilder)
	onHand := b.Field(3).(*array.Int32Builder)
	reserved := b.Field(4).(*array.Int32Builder)
	reorder := b.Field(5).(*array.Int32Builder)
	for wi, name := range warehouses {
		if err := ctx.Err(); err != nil {
			return err
		}
		for pi := range catalog {
			h := newHashStream(c.Seed, 0x570C, uint64(pi), uint64(wi))
			home := int(splitmix64(c.Seed^0x4043^uint64(pi)) % uint64(len(warehouses)))
			if wi != home && h.float() >= stockShare {
				continue
			}
			// Popular products sell more and are reordered at a higher level.
			weight := math.Pow(float64(ranks[pi]+1)/float64(c.Products), -0.6)
			rp := int32(math.Round((5 + 5*weight) * (0.7 + 0.6*h.float())))
			var stock float64
			if u := rng.Float64(); u < belowReorder*outOfStockShare {
				stock = 0
			} else if u < belowReorder {
				stock = rng.Float64() * float64(rp)
			} else {
				stock = float64(rp) * (1 + 3*rng.Float64())
			}
			on := int32(stock)
			res := int32(float64(on) * 0.25 * rng.Float64())
			date.Append(arrow.Date32(dayNum))
			wh.Append(name)
			prod.Append(catalog[pi].ID)
			onHand.Append(on)
			reserved.Append(res)
			reorder.Append(rp)
		}
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	props := parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Zstd), parquet.WithDictionaryDefault(true))
	fw, err := pqarrow.NewFileWriter(InventorySchema(), writerOnly{w}, props, pqarrow.DefaultWriterProps())
	if err != nil {
		return fmt.Errorf("parquet writer: %w", err)
	}
	if err := fw.Write(rec); err != nil {
		fw.Close()
		return fmt.Errorf("write parquet: %w", err)
	}
	if err := fw.Close(); err != nil {
		return fmt.Errorf("write parquet: %w", err)
	}
	return nil
}

// shipment is one parcel's whole life, derived from (seed, ship day, index).
type shipment struct {
	id        string
	order     uint64
	carrier   string
	warehouse string
	country   string
	shipped   int64 // unix seconds
	promised  int64
	delivered int64 // 0: never (returned)
	returned  int64 // 0: not returned
}

// shipmentRow is one status change of a shipment.
type shipmentRow struct {
	s       *shipment
	status  string
	updated int64 // unix seconds
}

// shipmentsOf returns the shipments shipped on day (nil before Start).
func shipmentsOf(c LogisticsConfig, warehouses []string, day time.Time) []shipment {
	k := int64(day.Sub(c.Start) / (24 * time.Hour))
	if day.Before(c.Start) {
		return nil
	}
	dayNum := uint64(day.Unix() / 86400)
	rng := rand.New(rand.NewPCG(c.Seed^0x5419, dayNum))
	prefix := "SHP-" + day.Format("20060102") + "-"
	out := make([]shipment, c.ShipmentsPerNight)
	for i := range out {
		s := &out[i]
		s.id = prefix + string(appendPadded(nil, uint64(i+1), 5))
		s.order = uint64(k)*uint64(c.ShipmentsPerNight) + uint64(i) + 1
		ci := rng.IntN(len(c.Carriers))
		s.carrier = c.Carriers[ci]
		wi := rng.IntN(len(warehouses))
		s.warehouse = warehouses[wi]
		s.country = countries[pickWeighted(countries, countryTotal, rng.Uint64())].name
		// Warehouses ship between 06:00 and 22:00; the promise is 20:00 of a later day, sooner
		// at home than abroad.
		s.shipped = day.Unix() + 6*3600 + rng.Int64N(16*3600)
		days, transit := 1+rng.Int64N(2), int64(4*3600)
		if s.country != warehouseSites[wi%len(warehouseSites)].country {
			days, transit = 3+rng.Int64N(4), 24*3600
		}
		s.promised = day.Unix() + days*86400 + 20*3600
		onTime, ok := carrierOnTime[s.carrier]
		if !ok {
			onTime = 0.75 + 0.2*float64(splitmix64(c.Seed^hashString(s.carrier))>>11)/(1<<53)
		}
		// Parcels are delivered and returned during working hours (see workSeconds).
		working := func(lo int64, spanHours int64) int64 {
			return fromWorkSeconds(workSeconds(lo) + rng.Int64N(spanHours*3600))
		}
		switch u := rng.Float64(); {
		case u < returnedShare:
			s.returned = working(s.shipped+3*86400, 7*workHours)
		case u < returnedShare+(1-returnedShare)*onTime:
			lo, hi := workSeconds(s.shipped+transit), workSeconds(s.promised)
			s.delivered = fromWorkSeconds(lo + rng.Int64N(hi-lo+1))
		default:
			s.delivered = working(s.promised+3600, 3*workHours)
		}
	}
	return out
}

// workHours is the length of a working day, 08:00 to 21:00 UTC.
const workHours = 13

// workSeconds returns the working seconds from the epoch to t (unix seconds): every day counts
// 08:00-21:00 UTC; a time outside those hours counts as the next working moment.
func workSeconds(t int64) int64 {
	day := floorDiv(t, 86400)
	tod := min(max(t-day*86400-8*3600, 0), workHours*3600)
	return day*workHours*3600 + tod
}

// fromWorkSeconds is the inverse of workSeconds: the time of working second w, always within
// working hours (the end of a working day is the next day's 08:00).
func fromWorkSeconds(w int64) int64 {
	day := floorDiv(w, workHours*3600)
	return day*86400 + 8*3600 + (w - day*workHours*3600)
}

// hashString is FNV-1a of s.
func hashString(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * 1099511628211
	}
	return h
}

// rows returns the status changes of s, in time order.
func (s *shipment) rows() []shipmentRow {
	out := []shipmentRow{{s, ShipmentInTransit, s.shipped}}
	end := s.delivered
	if end == 0 {
		end = s.returned
	}
	if end > s.promised {
		out = append(out, shipmentRow{s, ShipmentDelayed, s.promised})
	}
	if s.delivered != 0 {
		return append(out, shipmentRow{s, ShipmentDelivered, s.delivered})
	}
	return append(out, shipmentRow{s, ShipmentReturned, s.returned})
}

var statusRank = map[string]int{ShipmentInTransit: 0, ShipmentDelayed: 1, ShipmentDelivered: 2, ShipmentReturned: 2}

// Malformed shipment values.
var (
	badTimestamps = []string{"2024-02-30T25:61:00Z", "31/12/2023 10:00", "yesterday", "N/A", "0000-00-00 00:00:00", "1700000000x"}
	badStatuses   = []string{"dlvrd", "DELIVERED!", "in transit?", "unknown", "lost_"}
)

func writeShipments(ctx context.Context, w *bufio.Writer, c LogisticsConfig, day time.Time) error {
	warehouses := WarehouseNames(c.Warehouses)
	from, to := day.Unix(), day.Unix()+86400
	var rows []shipmentRow
	for back := shipmentLife; back >= 0; back-- {
		if err := ctx.Err(); err != nil {
			return err
		}
		ships := shipmentsOf(c, warehouses, day.AddDate(0, 0, -back))
		for i := range ships {
			for _, r := range ships[i].rows() {
				if r.updated >= from && r.updated < to {
					rows = append(rows, r)
				}
			}
		}
	}
	slices.SortFunc(rows, func(a, b shipmentRow) int {
		if c := cmp.Compare(a.updated, b.updated); c != 0 {
			return c
		}
		if c := strings.Compare(a.s.id, b.s.id); c != 0 {
			return c
		}
		return statusRank[a.status] - statusRank[b.status]
	})
	cw := csv.NewWriter(w)
	if err := cw.Write(ShipmentColumns); err != nil {
		return err
	}
	rec := make([]string, len(ShipmentColumns))
	ts := func(sec int64) string { return time.Unix(sec, 0).UTC().Format(time.RFC3339) }
	for _, r := range rows {
		s := r.s
		rec[0] = s.id
		rec[1] = string(appendPadded([]byte("ORD-"), s.order, 10))
		rec[2] = s.carrier
		rec[3] = s.warehouse
		rec[4] = s.country
		rec[5] = ts(s.shipped)
		rec[6] = ts(s.promised)
		rec[7] = ""
		if r.status == ShipmentDelivered {
			rec[7] = ts(s.delivered)
		}
		rec[8] = r.status
		rec[9] = ts(r.updated)
		if c.MalformedRows > 0 {
			h := newHashStream(c.Seed, 0xBAD, hashString(s.id), uint64(statusRank[r.status]), uint64(len(r.status)))
			if h.float() < c.MalformedRows {
				switch h.intn(3) {
				case 0:
					rec[5] = badTimestamps[h.intn(len(badTimestamps))]
				case 1:
					rec[9] = badTimestamps[h.intn(len(badTimestamps))]
				default:
					rec[8] = badStatuses[h.intn(len(badStatuses))]
				}
			}
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
