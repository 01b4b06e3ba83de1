package storage

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// Validation must not allocate per record: the count of allocations is
// the same for a batch of 10 records as for one of 1000.
func TestValidateAllocationsIndependentOfRecordCount(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	for _, c := range allCodecs {
		t.Run(c.String(), func(t *testing.T) {
			allocs := func(n int) float64 {
				s := newSpec(recs(n, 1)...)
				s.codec = c
				b := buildBatch(t, s)
				var v validator
				return testing.AllocsPerRun(20, func() {
					if _, err := v.validate(b, 1<<24); err != nil {
						t.Fatal(err)
					}
				})
			}
			small, large := allocs(10), allocs(1000)
			assert.LessOrEqual(t, large, small+1, "allocs for 10 records %v, for 1000 %v", small, large)
			assert.LessOrEqual(t, large, 4.0)
		})
	}
}
