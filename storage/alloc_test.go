package storage

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
					if _, _, err := v.validate(b, &recordRules{maxMessageBytes: 1 << 24}); err != nil {
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

// Appends within one leader epoch, leader or replica, allocate the same
// whatever the record count: the epoch cache and producer state only
// allocate when an epoch or a producer is new.
func TestAppendAllocationsIndependentOfRecordCount(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	cases := []struct {
		name   string
		append func(t *testing.T, l *Log, b []byte) error
	}{
		{"leader", func(t *testing.T, l *Log, b []byte) error {
			_, err := l.Append(b, AppendOptions{LeaderEpoch: 3})
			return err
		}},
		{"replica", func(t *testing.T, l *Log, b []byte) error {
			binary.BigEndian.PutUint64(b, uint64(l.LogEndOffset()))
			_, err := l.AppendReplica(b)
			return err
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			allocs := func(n int) float64 {
				l := openTestLog(t, "", testConfig())
				b := idemBatch(t, 5, 0, 0, n, 1)
				binary.BigEndian.PutUint32(b[offLeaderEpoch:], 3)
				require.NoError(t, tc.append(t, l, b)) // the epoch and the producer are new once
				seq := int32(n)
				return testing.AllocsPerRun(20, func() {
					// Sequence and offset sit in the header; only the
					// sequence is under the CRC.
					binary.BigEndian.PutUint32(b[offBaseSequence:], uint32(seq))
					binary.BigEndian.PutUint32(b[offCRC:], batchCRC(b))
					seq += int32(n)
					if err := tc.append(t, l, b); err != nil {
						t.Fatal(err)
					}
				})
			}
			small, large := allocs(10), allocs(1000)
			assert.LessOrEqual(t, large, small+1, "allocs for 10 records %v, for 1000 %v", small, large)
			assert.LessOrEqual(t, large, 1.0, "none today")
		})
	}
}
