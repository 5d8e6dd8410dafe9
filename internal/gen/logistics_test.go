package gen

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

func writeNight(t *testing.T, dir string, cfg LogisticsConfig, night time.Time) []string {
	t.Helper()
	files, err := WriteLogisticsNight(context.Background(), dir, cfg, night)
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var night0 = time.Date(2024, 3, 10, 2, 30, 0, 0, time.UTC) // truncated to 2024-03-10

// TestLogisticsDeterministic: the same config and night give the same bytes; another night or
// seed differs.
func TestLogisticsDeterministic(t *testing.T) {
	cfg := LogisticsConfig{Seed: 5, Products: 300, ShipmentsPerNight: 500, MalformedRows: 0.02}
	a := writeNight(t, t.TempDir(), cfg, night0)
	b := writeNight(t, t.TempDir(), cfg, night0.Add(20*time.Hour)) // the same day
	other := cfg
	other.Seed = 6
	c := writeNight(t, t.TempDir(), other, night0)
	d := writeNight(t, t.TempDir(), cfg, night0.AddDate(0, 0, 1))
	if len(a) != 2 || filepath.Base(a[0]) != "inventory_2024-03-10.parquet" || filepath.Base(a[1]) != "shipments_2024-03-10.csv" {
		t.Fatalf("files %v", a)
	}
	for i := range a {
		if !bytes.Equal(readFile(t, a[i]), readFile(t, b[i])) {
			t.Errorf("%s: two writes differ", filepath.Base(a[i]))
		}
		if bytes.Equal(readFile(t, a[i]), readFile(t, c[i])) {
			t.Errorf("%s: seeds 5 and 6 give the same bytes", filepath.Base(a[i]))
		}
		if bytes.Equal(readFile(t, a[i]), readFile(t, d[i])) {
			t.Errorf("%s: two nights give the same bytes", filepath.Base(a[i]))
		}
	}
}

// inventoryRow is one row of an inventory file.
type inventoryRow struct {
	date                       arrow.Date32
	warehouse, product         string
	onHand, reserved, reorderP int32
}

func readInventory(t *testing.T, path string) []inventoryRow {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pf, err := file.NewParquetReader(f)
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: 4096}, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := fr.ReadTable(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Release()
	if !sameColumns(tbl.Schema(), InventorySchema()) {
		t.Fatalf("inventory schema %s", tbl.Schema())
	}
	tr := array.NewTableReader(tbl, 4096)
	defer tr.Release()
	var rows []inventoryRow
	for tr.Next() {
		rec := tr.RecordBatch()
		for i := 0; i < int(rec.NumRows()); i++ {
			for c := 0; c < int(rec.NumCols()); c++ {
				if rec.Column(c).IsNull(i) {
					t.Fatalf("inventory row %d: %s is null", len(rows), rec.ColumnName(c))
				}
			}
			rows = append(rows, inventoryRow{
				date:      rec.Column(0).(*array.Date32).Value(i),
				warehouse: rec.Column(1).(*array.String).Value(i),
				product:   rec.Column(2).(*array.String).Value(i),
				onHand:    rec.Column(3).(*array.Int32).Value(i),
				reserved:  rec.Column(4).(*array.Int32).Value(i),
				reorderP:  rec.Column(5).(*array.Int32).Value(i),
			})
		}
	}
	return rows
}

// readShipments reads a shipments CSV file: its header and rows.
func readShipments(t *testing.T, path string) (header []string, rows [][]string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := csv.NewReader(bufio.NewReader(f))
	all, err := r.ReadAll() // also checks that every row has the header's field count
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(all) == 0 {
		t.Fatalf("%s: empty", path)
	}
	return all[0], all[1:]
}

// TestInventory: the inventory file holds every catalog product in at least one warehouse, each
// (warehouse, product) once, sorted, with plausible stock levels and a few below their reorder
// point.
func TestInventory(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  LogisticsConfig
	}{
		{"defaults", LogisticsConfig{Seed: 1}},
		{"small", LogisticsConfig{Seed: 2, Products: 50, Warehouses: 1}},
		{"many warehouses", LogisticsConfig{Seed: 3, Products: 400, Warehouses: 12}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _ := tc.cfg.withDefaults()
			files := writeNight(t, t.TempDir(), tc.cfg, night0)
			rows := readInventory(t, files[0])
			catalog := newGen(t, Config{Seed: cfg.Seed, Products: cfg.Products}).Catalog()
			warehouses := WarehouseNames(cfg.Warehouses)
			if len(warehouses) != cfg.Warehouses || warehouses[0] != "MAD-1" || len(slices.Compact(slices.Sorted(slices.Values(warehouses)))) != len(warehouses) {
				t.Fatalf("warehouses %v", warehouses)
			}
			stocked := map[string]int{}
			seen := map[[2]string]bool{}
			var below int
			for i, r := range rows {
				if r.date != arrow.Date32FromTime(night0) {
					t.Fatalf("row %d: snapshot_date %v", i, r.date.ToTime())
				}
				if !slices.Contains(warehouses, r.warehouse) {
					t.Fatalf("row %d: warehouse %q", i, r.warehouse)
				}
				key := [2]string{r.warehouse, r.product}
				if seen[key] {
					t.Fatalf("row %d: %v twice", i, key)
				}
				seen[key] = true
				if i > 0 {
					p := rows[i-1]
					wi, pi := slices.Index(warehouses, r.warehouse), slices.Index(warehouses, p.warehouse)
					if wi < pi || wi == pi && r.product < p.product {
						t.Fatalf("row %d: not sorted by warehouse, product_id", i)
					}
				}
				stocked[r.product]++
				if r.onHand < 0 || r.reserved < 0 || r.reserved > r.onHand || r.reorderP <= 0 {
					t.Fatalf("row %d: on_hand %d reserved %d reorder_point %d", i, r.onHand, r.reserved, r.reorderP)
				}
				if r.onHand < r.reorderP {
					below++
				}
			}
			for _, p := range catalog {
				if stocked[p.ID] == 0 {
					t.Fatalf("product %s in no warehouse", p.ID)
				}
			}
			if len(stocked) != len(catalog) {
				t.Fatalf("%d products stocked, catalog has %d", len(stocked), len(catalog))
			}
			pairs := float64(len(catalog) * len(warehouses))
			if cfg.Warehouses > 1 {
				within(t, "stocked share of (warehouse, product)", float64(len(rows))/pairs, 0.65, 0.85)
			}
			if len(rows) >= 1000 {
				within(t, "share below the reorder point", float64(below)/float64(len(rows)), 0.02, 0.07)
			}
		})
	}
}

// shipmentRecord is a parsed well-formed shipments row.
type shipmentRecord struct {
	id, order, carrier, warehouse, country, status string
	shipped, promised, delivered, updated          time.Time
	hasDelivered                                   bool
}

// parseShipment parses a row; ok is false when a value is broken (an unparseable timestamp or an
// unknown status).
func parseShipment(row []string) (s shipmentRecord, ok bool) {
	s = shipmentRecord{id: row[0], order: row[1], carrier: row[2], warehouse: row[3], country: row[4], status: row[8]}
	var err error
	parse := func(v string, dst *time.Time) {
		if err == nil {
			*dst, err = time.Parse(time.RFC3339, v)
		}
	}
	parse(row[5], &s.shipped)
	parse(row[6], &s.promised)
	parse(row[9], &s.updated)
	if row[7] != "" {
		s.hasDelivered = true
		parse(row[7], &s.delivered)
	}
	return s, err == nil && slices.Contains(ShipmentStatuses, s.status)
}

// TestShipments: a night's CSV holds the day's status changes, each well-formed and consistent,
// with every shipment shipped that day in transit; with MalformedRows, about that share of rows
// is broken.
func TestShipments(t *testing.T) {
	for _, tc := range []struct {
		name      string
		cfg       LogisticsConfig
		night     time.Time
		malformed float64
	}{
		{"defaults", LogisticsConfig{Seed: 1}, night0, 0},
		{"first day", LogisticsConfig{Seed: 1, Start: night0}, night0, 0},
		{"before the start", LogisticsConfig{Seed: 1, Start: night0}, night0.AddDate(0, 0, -1), 0},
		{"custom", LogisticsConfig{Seed: 4, Warehouses: 7, Carriers: []string{"FedEx", "DHL"}, ShipmentsPerNight: 700}, night0, 0},
		{"malformed", LogisticsConfig{Seed: 9, MalformedRows: 0.05}, night0, 0.05},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _ := tc.cfg.withDefaults()
			files := writeNight(t, t.TempDir(), tc.cfg, tc.night)
			header, rows := readShipments(t, files[1])
			if !slices.Equal(header, ShipmentColumns) {
				t.Fatalf("header %v", header)
			}
			day := utcDay(tc.night)
			prefix := "SHP-" + day.Format("20060102") + "-"
			warehouses := WarehouseNames(cfg.Warehouses)
			var broken, shippedToday int
			var prev shipmentRecord
			for i, row := range rows {
				s, ok := parseShipment(row)
				if !ok {
					broken++
					continue
				}
				if !strings.HasPrefix(s.id, "SHP-") || !strings.HasPrefix(s.order, "ORD-") || len(s.order) != 14 {
					t.Fatalf("row %d: ids %q %q", i, s.id, s.order)
				}
				if !slices.Contains(cfg.Carriers, s.carrier) || !slices.Contains(warehouses, s.warehouse) || !slices.Contains(Countries(), s.country) {
					t.Fatalf("row %d: carrier %q warehouse %q country %q", i, s.carrier, s.warehouse, s.country)
				}
				if s.updated.Before(day) || !s.updated.Before(day.AddDate(0, 0, 1)) {
					t.Fatalf("row %d: updated_at %v outside the day %v", i, s.updated, day)
				}
				if !s.shipped.Before(s.promised) || s.shipped.After(s.updated) {
					t.Fatalf("row %d: shipped_at %v promised_at %v updated_at %v", i, s.shipped, s.promised, s.updated)
				}
				if s.hasDelivered != (s.status == ShipmentDelivered) {
					t.Fatalf("row %d: status %s with delivered_at %q", i, s.status, row[7])
				}
				switch s.status {
				case ShipmentInTransit:
					if !s.updated.Equal(s.shipped) || !strings.HasPrefix(s.id, prefix) {
						t.Fatalf("row %d: in transit since %v, updated_at %v", i, s.shipped, s.updated)
					}
					shippedToday++
				case ShipmentDelayed:
					if !s.updated.Equal(s.promised) {
						t.Fatalf("row %d: delayed at %v, promised_at %v", i, s.updated, s.promised)
					}
				case ShipmentDelivered:
					if !s.updated.Equal(s.delivered) || s.delivered.Sub(s.shipped) < 4*time.Hour {
						t.Fatalf("row %d: delivered_at %v, shipped_at %v, updated_at %v", i, s.delivered, s.shipped, s.updated)
					}
					if h := s.delivered.Hour(); h < 8 || h >= 21 {
						t.Fatalf("row %d: delivered at %v, outside working hours", i, s.delivered)
					}
				}
				if i > 0 && prev.id != "" && (s.updated.Before(prev.updated) || s.updated.Equal(prev.updated) && s.id < prev.id) {
					t.Fatalf("row %d: not sorted by updated_at, shipment_id", i)
				}
				prev = s
			}
			if day.Before(cfg.Start) {
				if len(rows) != 0 {
					t.Fatalf("%d rows before the first shipping day", len(rows))
				}
				return
			}
			if tc.malformed == 0 {
				if broken != 0 {
					t.Fatalf("%d broken rows without MalformedRows", broken)
				}
				// Without broken rows, exactly the day's shipments are in transit.
				if shippedToday != cfg.ShipmentsPerNight {
					t.Errorf("%d shipments in transit since the day, want %d", shippedToday, cfg.ShipmentsPerNight)
				}
			} else {
				within(t, "broken row share", float64(broken)/float64(len(rows)), tc.malformed*0.7, tc.malformed*1.3)
			}
		})
	}
}

// TestShipmentLifecycle: over consecutive nights, every shipment shipped on the first day appears
// with the same columns in every night's rows, its statuses in order (in_transit, maybe delayed,
// then exactly one final delivered or returned); carriers differ in on-time rate as configured.
func TestShipmentLifecycle(t *testing.T) {
	cfg := LogisticsConfig{Seed: 21, Start: night0, Products: 20, ShipmentsPerNight: 1500}
	dir := t.TempDir()
	type history struct {
		first    []string // the columns that never change
		statuses []string
	}
	shipped := map[string]*history{}
	firstDay := "SHP-" + utcDay(night0).Format("20060102") + "-"
	onTime, delivered := map[string]int{}, map[string]int{}
	secondDay := "SHP-" + utcDay(night0).AddDate(0, 0, 1).Format("20060102") + "-"
	for n := 0; n <= shipmentLife+2; n++ {
		files := writeNight(t, dir, cfg, night0.AddDate(0, 0, n))
		_, rows := readShipments(t, files[1])
		for _, row := range rows {
			s, ok := parseShipment(row)
			if !ok {
				t.Fatalf("broken row %v", row)
			}
			// On-time rates over the shipments of the first two days, whose lives the nights
			// cover entirely.
			if s.status == ShipmentDelivered && (strings.HasPrefix(s.id, firstDay) || strings.HasPrefix(s.id, secondDay)) {
				delivered[s.carrier]++
				if !s.delivered.After(s.promised) {
					onTime[s.carrier]++
				}
			}
			if !strings.HasPrefix(s.id, firstDay) {
				continue
			}
			fixed := slices.Clone(row[:7])
			h := shipped[s.id]
			if h == nil {
				h = &history{first: fixed}
				shipped[s.id] = h
			} else if !slices.Equal(h.first, fixed) {
				t.Fatalf("%s: columns changed from %v to %v", s.id, h.first, fixed)
			}
			h.statuses = append(h.statuses, s.status)
		}
	}
	if len(shipped) != cfg.ShipmentsPerNight {
		t.Fatalf("%d shipments of the first day, want %d", len(shipped), cfg.ShipmentsPerNight)
	}
	var returned int
	for id, h := range shipped {
		st := strings.Join(h.statuses, ",")
		switch st {
		case "in_transit,delivered", "in_transit,delayed,delivered", "in_transit,delayed,returned", "in_transit,returned":
		default:
			t.Fatalf("%s: statuses %s", id, st)
		}
		if strings.HasSuffix(st, ShipmentReturned) {
			returned++
		}
	}
	within(t, "returned share", float64(returned)/float64(len(shipped)), 0.005, 0.04)
	rate := func(c string) float64 { return float64(onTime[c]) / float64(delivered[c]) }
	for _, c := range DefaultCarriers() {
		within(t, c+" on-time rate", rate(c), carrierOnTime[c]-0.05, carrierOnTime[c]+0.05)
	}
	if !(rate("DHL") > rate("Correos")) {
		t.Errorf("DHL on time %.3f, Correos %.3f", rate("DHL"), rate("Correos"))
	}
}

// TestLogisticsAtomic: a reader listing the folders while a file is being written sees no file
// matching *.parquet or *.csv but the complete ones; a failed or cancelled write leaves nothing.
func TestLogisticsAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "shipments", "shipments_2024-03-10.csv")
	var during []string
	err := writeAtomic(context.Background(), path, func(w *bufio.Writer) error {
		w.WriteString("half,a,file\n")
		w.Flush()
		entries, _ := os.ReadDir(filepath.Dir(path))
		for _, e := range entries {
			during = append(during, e.Name())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(during) != 1 || !strings.HasPrefix(during[0], ".shipments_2024-03-10.csv.tmp-") {
		t.Fatalf("during the write the folder held %v", during)
	}
	for _, glob := range []string{"*.csv", "*.parquet", "shipments_*"} {
		if m, _ := filepath.Match(glob, during[0]); m {
			t.Errorf("the temporary name %s matches %s", during[0], glob)
		}
	}
	if got := string(readFile(t, path)); got != "half,a,file\n" {
		t.Fatalf("file holds %q", got)
	}

	// A failing write leaves neither the file nor the temporary one.
	boom := errors.New("boom")
	bad := filepath.Join(dir, "inventory", "inventory_2024-03-10.parquet")
	err = writeAtomic(context.Background(), bad, func(w *bufio.Writer) error {
		w.WriteString("PAR1")
		w.Flush()
		return boom
	})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), bad) {
		t.Fatalf("err %v", err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(bad)); len(entries) != 0 {
		t.Fatalf("a failed write left %v", entries)
	}

	// A cancelled context writes nothing.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	empty := t.TempDir()
	if files, err := WriteLogisticsNight(ctx, empty, LogisticsConfig{Seed: 1}, night0); !errors.Is(err, context.Canceled) || len(files) != 0 {
		t.Fatalf("cancelled: files %v, err %v", files, err)
	}
	if entries, _ := os.ReadDir(empty); len(entries) != 0 {
		t.Fatalf("a cancelled write left %v", entries)
	}

	// A complete night leaves exactly its two files, and writing it again replaces them.
	for range 2 {
		files := writeNight(t, dir, LogisticsConfig{Seed: 1, Products: 30, ShipmentsPerNight: 20}, night0)
		var all []string
		filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				all = append(all, p)
			}
			return err
		})
		if !slices.Equal(all, files) {
			t.Fatalf("folder holds %v, wrote %v", all, files)
		}
	}
}

func TestLogisticsConfigErrors(t *testing.T) {
	for _, cfg := range []LogisticsConfig{
		{Products: -1},
		{Warehouses: -2},
		{ShipmentsPerNight: -1},
		{ShipmentsPerNight: 100_000},
		{MalformedRows: 1.5},
		{Carriers: []string{"DHL", "DHL"}},
		{Carriers: []string{""}},
	} {
		if _, err := WriteLogisticsNight(context.Background(), t.TempDir(), cfg, night0); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%+v: err %v, want ErrInvalidConfig", cfg, err)
		}
	}
}
