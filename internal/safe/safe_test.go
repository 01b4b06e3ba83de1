package safe

import (
	"bytes"
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRunRecoversAndLogs(t *testing.T) {
	var out bytes.Buffer
	log := zerolog.New(&out)
	assert.True(t, Run(log, "api 0", func() { panic("boom") }))
	assert.Contains(t, out.String(), `"level":"error"`)
	assert.Contains(t, out.String(), `"in":"api 0"`)
	assert.Contains(t, out.String(), "boom")
	assert.False(t, Run(log, "quiet", func() {}))
}

func TestGoCallsOnPanic(t *testing.T) {
	var wg sync.WaitGroup
	var called atomic.Bool
	Go(&wg, zerolog.Nop(), "waiter", func() { panic("boom") }, func() { called.Store(true) })
	wg.Wait()
	assert.True(t, called.Load())
}

func TestLoopRestartsAfterPanic(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	var runs atomic.Int32
	Loop(ctx, &wg, zerolog.Nop(), "loop", time.Millisecond, func() {
		if runs.Add(1) < 3 {
			panic("boom")
		}
	})
	wg.Wait()
	require.Equal(t, int32(3), runs.Load())

	// A loop that keeps panicking stops restarting once ctx ends.
	Loop(ctx, &wg, zerolog.Nop(), "loop", time.Millisecond, func() { panic("again") })
	cancel()
	wg.Wait()
}
