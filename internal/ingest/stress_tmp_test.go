package ingest

import (
	"fmt"
	"math/rand"
	"os"
	"testing"
	"time"
)

func mutate(r *rand.Rand, b []byte) []byte {
	out := append([]byte(nil), b...)
	n := 1 + r.Intn(8)
	alphabet := []byte("{}[]\",:\n\r 0123456789.eE-+tfnul\\ax\xff")
	for i := 0; i < n; i++ {
		switch r.Intn(4) {
		case 0:
			if len(out) > 0 {
				j := r.Intn(len(out))
				out = append(out[:j], out[j+1:]...)
			}
		case 1, 2:
			j := r.Intn(len(out) + 1)
			c := alphabet[r.Intn(len(alphabet))]
			out = append(out[:j], append([]byte{c}, out[j:]...)...)
		case 3:
			if len(out) > 0 {
				out[r.Intn(len(out))] = alphabet[r.Intn(len(alphabet))]
			}
		}
	}
	return out
}

func TestStressTmp(t *testing.T) {
	seeds := [][]byte{}
	for _, p := range []string{"testdata/malformed.ndjson", "testdata/events.ndjson", "testdata/malformed.csv", "testdata/types.csv"} {
		d, _ := os.ReadFile(p)
		seeds = append(seeds, d)
	}
	r := rand.New(rand.NewSource(1))
	for i := 0; i < 3000; i++ {
		in := mutate(r, seeds[r.Intn(len(seeds))])
		done := make(chan bool)
		go func() {
			defer close(done)
			t.Run(fmt.Sprint(i), func(t *testing.T) {
				if i%2 == 0 {
					fuzzNDJSONOne(t, in)
				} else {
					fuzzCSVOne(t, in)
				}
			})
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			os.WriteFile("/tmp/hang.bin", in, 0o644)
			t.Fatalf("hang on %d: %q", i, in)
		}
	}
}
