package delta

import (
	"encoding/json"
	"math"
	"strconv"
)

// jsonInt reads an integer from a value decoded with json.Decoder.UseNumber (or plain numbers).
func jsonInt(v any) (int64, bool) {
	switch x := v.(type) {
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n, true
		}
		if f, err := x.Float64(); err == nil && f == math.Trunc(f) {
			return int64(f), true
		}
	case float64:
		return int64(x), x == math.Trunc(x)
	case int64:
		return x, true
	case int:
		return int64(x), true
	case string:
		n, err := strconv.ParseInt(x, 10, 64)
		return n, err == nil
	}
	return 0, false
}
