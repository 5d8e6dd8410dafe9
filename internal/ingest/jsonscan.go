package ingest

import (
	"bytes"
	"encoding/json"
)

// This file walks JSON text that encoding/json has already validated (json.Valid), so the walk
// can trust the structure and only has to find where values start and end. It keeps what a
// decode into map[string]any loses: the order of keys (the column order InferSchema proposes,
// the entry order of a map), keys given twice, and the exact text of numbers (decimals are read
// from their digits, never through a float64).

// skipWS returns the index of the first non-whitespace byte at or after i.
func skipWS(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// stringEnd returns the index just past the JSON string starting at b[i] == '"'.
func stringEnd(b []byte, i int) int {
	j := i + 1
	for j < len(b) {
		switch b[j] {
		case '\\':
			j += 2
		case '"':
			return j + 1
		default:
			j++
		}
	}
	return len(b)
}

// valueEnd returns the index just past the JSON value starting at b[i].
func valueEnd(b []byte, i int) int {
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		j := i
		for j < len(b) {
			switch b[j] {
			case '"':
				j = stringEnd(b, j)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
			j++
		}
		return len(b)
	default:
		j := i
		for j < len(b) {
			switch b[j] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return j
			}
			j++
		}
		return j
	}
}

// eachMember calls fn for every member of the valid JSON object obj (no surrounding space), in
// order, with the key's raw text (quotes included) and the value's raw text; it stops at fn's
// first error.
func eachMember(obj []byte, fn func(rawKey, val []byte) *convError) *convError {
	i := skipWS(obj, 1)
	if i >= len(obj) || obj[i] == '}' {
		return nil
	}
	for i < len(obj) {
		kEnd := stringEnd(obj, i)
		key := obj[i:kEnd]
		i = skipWS(obj, kEnd) + 1 // ':'
		i = skipWS(obj, i)
		vEnd := valueEnd(obj, i)
		if err := fn(key, obj[i:vEnd]); err != nil {
			return err
		}
		i = skipWS(obj, vEnd)
		if i >= len(obj) || obj[i] != ',' {
			return nil
		}
		i = skipWS(obj, i+1)
	}
	return nil
}

// eachElement calls fn for every element of the valid JSON array arr, in order.
func eachElement(arr []byte, fn func(i int, val []byte) *convError) *convError {
	i := skipWS(arr, 1)
	if i >= len(arr) || arr[i] == ']' {
		return nil
	}
	for n := 0; i < len(arr); n++ {
		vEnd := valueEnd(arr, i)
		if err := fn(n, arr[i:vEnd]); err != nil {
			return err
		}
		i = skipWS(arr, vEnd)
		if i >= len(arr) || arr[i] != ',' {
			return nil
		}
		i = skipWS(arr, i+1)
	}
	return nil
}

// decodeJSONString decodes a valid JSON string literal (quotes included).
func decodeJSONString(raw []byte) string {
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1])
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return string(raw[1 : len(raw)-1])
	}
	return s
}

// compactJSON returns the valid JSON text raw without insignificant whitespace.
func compactJSON(raw []byte) string {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}
	return b.String()
}

// isJSONNumber reports whether a valid JSON value is a number.
func isJSONNumber(raw []byte) bool {
	return raw[0] == '-' || isDigit(raw[0])
}
