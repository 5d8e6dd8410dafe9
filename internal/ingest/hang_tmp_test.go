package ingest

import (
	"os"
	"testing"
)

func TestHangTmp(t *testing.T) {
	d, _ := os.ReadFile("/tmp/hang.bin")
	fuzzNDJSONOne(t, d)
}
