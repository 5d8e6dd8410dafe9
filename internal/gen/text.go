package gen

import (
	"strconv"
)

// This file renders events as text: NDJSON objects and CSV rows, with the text forms of the
// malformations (see Malformation).

// CSVHeader is the header line of CSV output (without the newline): the columns of Schema.
func CSVHeader() string {
	return ColEventID + "," + ColEventType + "," + ColUserID + "," + ColSessionID + "," + ColEventTS + "," + ColDate + "," +
		ColCountry + "," + ColDevice + "," + ColProductID + "," + ColOrderID + "," + ColQuantity + "," + ColRevenue + "," + ColSchemaVersion
}

const (
	tsLayout   = "2006-01-02T15:04:05.000000Z07:00"
	dateLayout = "2006-01-02"
)

// AppendJSON appends ev as one JSON object and a newline: the columns of Schema in order, null for
// absent values, event_ts in RFC 3339 with microseconds, revenue a number with two decimals.
// Schema version 1 events have no device key. Malformed events are rendered broken (a missing
// user_id key, a bogus event_type, revenue "n/a", or a line cut in the middle).
func AppendJSON(dst []byte, ev *Event) []byte {
	start := len(dst)
	dst = append(dst, `{"event_id":"`...)
	dst = ev.AppendEventID(dst)
	dst = append(dst, `","event_type":`...)
	dst = jsonString(dst, ev.Type)
	if ev.Malformation != MissingUser {
		dst = append(dst, `,"user_id":`...)
		if ev.UserID == 0 {
			dst = append(dst, "null"...)
		} else {
			dst = strconv.AppendInt(dst, ev.UserID, 10)
		}
	}
	dst = append(dst, `,"session_id":`...)
	if ev.SessionID == 0 {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '"')
		dst = ev.AppendSessionID(dst)
		dst = append(dst, '"')
	}
	t := ev.Time()
	dst = append(dst, `,"event_ts":"`...)
	dst = t.AppendFormat(dst, tsLayout)
	dst = append(dst, `","date":"`...)
	dst = t.AppendFormat(dst, dateLayout)
	dst = append(dst, `","country":`...)
	dst = jsonString(dst, ev.Country)
	if ev.SchemaVersion != 1 {
		dst = append(dst, `,"device":`...)
		dst = jsonString(dst, ev.Device)
	}
	dst = append(dst, `,"product_id":`...)
	dst = jsonString(dst, ev.ProductID)
	dst = append(dst, `,"order_id":`...)
	if ev.OrderID == 0 {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '"')
		dst = ev.AppendOrderID(dst)
		dst = append(dst, '"')
	}
	dst = append(dst, `,"quantity":`...)
	if ev.Quantity == 0 {
		dst = append(dst, "null"...)
	} else {
		dst = strconv.AppendInt(dst, int64(ev.Quantity), 10)
	}
	dst = append(dst, `,"revenue":`...)
	if ev.Malformation == BadRevenue {
		dst = append(dst, `"n/a"`...)
	} else {
		dst = appendCents(dst, ev.RevenueCents)
	}
	dst = append(dst, `,"schema_version":`...)
	dst = strconv.AppendInt(dst, int64(ev.SchemaVersion), 10)
	dst = append(dst, '}')
	if ev.Malformation == Truncated {
		dst = dst[:start+(len(dst)-start)/2]
	}
	return append(dst, '\n')
}

// jsonString appends s as a JSON string, or null when empty. Generated strings never need
// escaping.
func jsonString(dst []byte, s string) []byte {
	if s == "" {
		return append(dst, "null"...)
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// appendCents appends cents as a decimal number with two decimals ("-12.05").
func appendCents(dst []byte, cents int64) []byte {
	if cents < 0 {
		dst = append(dst, '-')
		cents = -cents
	}
	dst = strconv.AppendInt(dst, cents/100, 10)
	dst = append(dst, '.', byte('0'+cents%100/10), byte('0'+cents%10))
	return dst
}

// AppendCSV appends ev as one CSV row and a newline, in the columns of CSVHeader; absent values are
// empty fields (device too, in schema version 1). Malformed events are rendered broken (an empty
// user_id, a bogus event_type, revenue "n/a", or only the first half of the fields). Generated
// values never need quoting.
func AppendCSV(dst []byte, ev *Event) []byte {
	sep := func() { dst = append(dst, ',') }
	dst = ev.AppendEventID(dst)
	sep()
	dst = append(dst, ev.Type...)
	sep()
	if ev.UserID != 0 {
		dst = strconv.AppendInt(dst, ev.UserID, 10)
	}
	sep()
	dst = ev.AppendSessionID(dst)
	sep()
	t := ev.Time()
	dst = t.AppendFormat(dst, tsLayout)
	sep()
	dst = t.AppendFormat(dst, dateLayout)
	if ev.Malformation == Truncated {
		return append(dst, '\n')
	}
	sep()
	dst = append(dst, ev.Country...)
	sep()
	dst = append(dst, ev.Device...)
	sep()
	dst = append(dst, ev.ProductID...)
	sep()
	dst = ev.AppendOrderID(dst)
	sep()
	if ev.Quantity != 0 {
		dst = strconv.AppendInt(dst, int64(ev.Quantity), 10)
	}
	sep()
	if ev.Malformation == BadRevenue {
		dst = append(dst, "n/a"...)
	} else {
		dst = appendCents(dst, ev.RevenueCents)
	}
	sep()
	dst = strconv.AppendInt(dst, int64(ev.SchemaVersion), 10)
	return append(dst, '\n')
}
