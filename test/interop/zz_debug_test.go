package interop

import (
	"fmt"
	"testing"
)

func TestZZDebug(t *testing.T) {
	for _, name := range []string{"partitioned", "partition_types"} {
		B := "/tmp/keep3/TestDeltaRsWritesStrataReads/" + name + "/before-vacuum"
		counts := map[string]map[int]int{}
		for i := 0; i < 30; i++ {
			for v := int64(0); v <= 9; v++ {
				d, err := describeVersion(t, B, v)
				if err != nil {
					continue
				}
				k := fmt.Sprint(v)
				if counts[k] == nil {
					counts[k] = map[int]int{}
				}
				counts[k][d.NumFiles]++
			}
		}
		fmt.Println(name, counts)
	}
}
