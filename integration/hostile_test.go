package integration

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
)

// procMemory is a memory figure of process pid from /proc/pid/status:
// VmRSS (resident) or VmData (private writable mappings, which include the
// Go heap's committed arenas even where untouched, so an allocation the
// kernel has not yet backed with pages shows there, not in VmRSS).
func procMemory(t *testing.T, pid int, field string) int64 {
	t.Helper()
	status, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	require.NoError(t, err)
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			require.NoError(t, err)
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc status", field)
	return 0
}

// TestHugeDeclaredFrames: clients whose size headers claim the largest
// frame socket.request.max.bytes allows, and then send little, do not
// make kafkad's memory jump; a header above the limit closes its
// connection with a warning; a normal client is unaffected throughout.
func TestHugeDeclaredFrames(t *testing.T) {
	k := startKafkad(t, brokerOpts{})
	ctx := context.Background()
	good := k.client(t, kgo.DefaultProduceTopic("hostile-survivor"), kgo.AllowAutoTopicCreation())
	require.NoError(t, good.ProduceSync(ctx, kgo.StringRecord("before")).FirstErr())
	pid := k.cmd.Process.Pid
	rssBefore, dataBefore := procMemory(t, pid, "VmRSS"), procMemory(t, pid, "VmData")

	const maxBytes = 104857600 // socket.request.max.bytes default
	const stalled = 16
	for range stalled {
		nc, err := net.Dial("tcp", k.Addr)
		require.NoError(t, err)
		t.Cleanup(func() { nc.Close() })
		wire := binary.BigEndian.AppendUint32(nil, maxBytes)
		_, err = nc.Write(append(wire, make([]byte, 64<<10)...))
		require.NoError(t, err)
	}

	t.Run("above socket.request.max.bytes closes", func(t *testing.T) {
		nc, err := net.Dial("tcp", k.Addr)
		require.NoError(t, err)
		defer nc.Close()
		_, err = nc.Write(binary.BigEndian.AppendUint32(nil, maxBytes+1))
		require.NoError(t, err)
		require.NoError(t, nc.SetReadDeadline(time.Now().Add(10*time.Second)))
		_, err = io.ReadAll(nc)
		var ne net.Error
		require.False(t, errors.As(err, &ne) && ne.Timeout(), "connection was not closed")
		require.Eventually(t, func() bool {
			return strings.Contains(k.out.String(), "frame larger than socket.request.max.bytes")
		}, 10*time.Second, 50*time.Millisecond, "no warning logged")
	})

	// The good client works while the stalled frames are pending, and the
	// broker has not set aside their declared 16 x 100 MiB.
	require.NoError(t, good.ProduceSync(ctx, kgo.StringRecord("during")).FirstErr())
	rssAfter, dataAfter := procMemory(t, pid, "VmRSS"), procMemory(t, pid, "VmData")
	assert.Less(t, rssAfter-rssBefore, int64(128<<20), "RSS grew from %d MiB to %d MiB", rssBefore>>20, rssAfter>>20)
	assert.Less(t, dataAfter-dataBefore, int64(512<<20), "VmData grew from %d MiB to %d MiB", dataBefore>>20, dataAfter>>20)

	consumer := k.client(t, kgo.ConsumeTopics("hostile-survivor"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var got []string
	for len(got) < 2 {
		fetches := consumer.PollFetches(ctx)
		require.NoError(t, fetches.Err())
		fetches.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	assert.Equal(t, []string{"before", "during"}, got)
}
