package pipeline

// This file reads the interval of a WATERMARK clause (DELAY OF INTERVAL ...) into a time.Duration.

import (
	"fmt"
	"math"
	"math/big"
	"strings"
	"time"
)

// synIntervalUnits maps the lower-case unit words of a watermark delay to their length. Months and
// years are absent on purpose: they have no fixed length.
var synIntervalUnits = map[string]time.Duration{
	"microsecond": time.Microsecond, "microseconds": time.Microsecond, "us": time.Microsecond,
	"millisecond": time.Millisecond, "milliseconds": time.Millisecond, "ms": time.Millisecond,
	"second": time.Second, "seconds": time.Second, "sec": time.Second, "secs": time.Second,
	"minute": time.Minute, "minutes": time.Minute, "min": time.Minute, "mins": time.Minute,
	"hour": time.Hour, "hours": time.Hour, "hr": time.Hour, "hrs": time.Hour,
	"day": 24 * time.Hour, "days": 24 * time.Hour,
	"week": 7 * 24 * time.Hour, "weeks": 7 * 24 * time.Hour,
}

// synUnitHelp lists the accepted units for messages.
const synUnitHelp = "use microseconds, milliseconds, seconds, minutes, hours, days or weeks"

// synUnit returns the length of a unit word, or an error message.
func synUnit(word string) (time.Duration, string) {
	if d, ok := synIntervalUnits[strings.ToLower(word)]; ok {
		return d, ""
	}
	msg := fmt.Sprintf("unknown interval unit %q: %s", word, synUnitHelp)
	switch strings.ToLower(word) {
	case "month", "months", "year", "years", "mon", "mons", "quarter", "quarters", "decade", "decades":
		msg += " (months and years have no fixed length)"
	}
	return 0, msg
}

// synIsDecimal reports whether s is digits with at most one '.', with a digit somewhere.
func synIsDecimal(s string) bool {
	digits, dots := 0, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.':
			dots++
		default:
			return false
		}
	}
	return digits > 0 && dots <= 1
}

// synScale returns number × unit, truncated to whole nanoseconds; ok is false if the number is
// malformed or the result does not fit a time.Duration.
func synScale(number string, unit time.Duration) (time.Duration, bool) {
	number = strings.ReplaceAll(number, "_", "")
	r, ok := new(big.Rat).SetString(number)
	if !ok || r.Sign() < 0 {
		return 0, false
	}
	r.Mul(r, new(big.Rat).SetInt64(int64(unit)))
	n := new(big.Int).Quo(r.Num(), r.Denom())
	if !n.IsInt64() {
		return 0, false
	}
	return time.Duration(n.Int64()), true
}

// synAdd adds two non-negative durations; ok is false on overflow.
func synAdd(a, b time.Duration) (time.Duration, bool) {
	if a > math.MaxInt64-b {
		return 0, false
	}
	return a + b, true
}

// parseInterval reads the interval after the INTERVAL keyword of a WATERMARK clause:
//
//	INTERVAL 10 MINUTES        INTERVAL 1 HOUR 30 MINUTES     INTERVAL '10' MINUTE
//	INTERVAL '10 minutes'      INTERVAL '1 hour 30 minutes'
//
// Numbers may have a fraction (1.5 HOURS). A negative delay or an unknown unit is an error at
// its token.
func (p *synParser) parseInterval() (time.Duration, error) {
	const example = "a number and a unit after INTERVAL (e.g. INTERVAL 10 MINUTES)"
	var total time.Duration
	pairs := 0
	for {
		t := p.peek()
		var number string
		switch {
		case pairs == 0 && t.punct("-"):
			return 0, p.errf("a watermark delay must not be negative")
		case t != nil && t.kind == synTokNumber:
			number = t.text
		case pairs == 0 && t != nil && t.kind == synTokString:
			s := strings.TrimSpace(t.val)
			if strings.HasPrefix(s, "-") {
				return 0, p.errf("a watermark delay must not be negative")
			}
			if !synIsDecimal(s) {
				// The whole interval is in the string: '1 hour 30 minutes'.
				d, msg := synParseIntervalText(s)
				if msg != "" {
					return 0, p.errf("%s", msg)
				}
				p.i++
				return d, nil
			}
			number = s // '10' MINUTES
		case pairs > 0:
			return total, nil
		default:
			return 0, p.expected(example)
		}
		p.i++
		u := p.peek()
		if u == nil || u.kind != synTokIdent {
			return 0, p.expected(fmt.Sprintf("a unit after INTERVAL %s (e.g. MINUTES)", t.text))
		}
		unit, msg := synUnit(u.text)
		if msg != "" {
			return 0, p.errf("%s", msg)
		}
		d, ok := synScale(number, unit)
		if ok {
			total, ok = synAdd(total, d)
		}
		if !ok {
			return 0, p.f.errAt(t.start, "interval %s %s is too large or malformed", t.text, u.text)
		}
		p.i++
		pairs++
	}
}

// synParseIntervalText reads an interval string such as "10 minutes" or "1 hour 30 minutes" (a
// number, optional spaces and a unit, repeated). It returns the duration or an error message.
func synParseIntervalText(s string) (time.Duration, string) {
	orig := s
	var total time.Duration
	if strings.TrimSpace(s) == "" {
		return 0, "empty interval string: write e.g. INTERVAL '10 minutes'"
	}
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		if s[0] == '-' {
			return 0, "a watermark delay must not be negative"
		}
		j := 0
		for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] == '.') {
			j++
		}
		number := s[:j]
		if !synIsDecimal(number) {
			return 0, fmt.Sprintf("cannot read interval %q: write a number and a unit, e.g. '10 minutes' or '1 hour 30 minutes'", orig)
		}
		s = strings.TrimLeft(s[j:], " \t")
		k := 0
		for k < len(s) && (s[k] >= 'a' && s[k] <= 'z' || s[k] >= 'A' && s[k] <= 'Z') {
			k++
		}
		if k == 0 {
			return 0, fmt.Sprintf("cannot read interval %q: a unit must follow %s (%s)", orig, number, synUnitHelp)
		}
		unit, msg := synUnit(s[:k])
		if msg != "" {
			return 0, msg
		}
		d, ok := synScale(number, unit)
		if ok {
			total, ok = synAdd(total, d)
		}
		if !ok {
			return 0, fmt.Sprintf("interval %q is too large", orig)
		}
		s = s[k:]
		if strings.HasPrefix(s, ",") { // '1 hour, 30 minutes'
			s = s[1:]
		}
	}
	return total, ""
}
