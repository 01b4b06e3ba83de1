// Package safe runs code whose panic must not take the process down: a
// panic on a path a remote client can reach is a bug to log and contain,
// never a way for one client to stop the broker for all.
package safe

import (
	"context"
	"runtime/debug"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Run calls fn and recovers a panic from it, logging it at error with its
// stack and what (the component or API that panicked). It reports whether
// fn panicked, so the caller can drop what fn was serving.
func Run(log zerolog.Logger, what string, fn func()) (panicked bool) {
	defer func() {
		if v := recover(); v != nil {
			log.Error().Interface("panic", v).Str("in", what).Bytes("stack", debug.Stack()).
				Msg("recovered panic")
			panicked = true
		}
	}()
	fn()
	return false
}

// Go runs fn in a goroutine wg tracks, recovering a panic as Run does;
// onPanic, if not nil, runs after a recovered panic.
func Go(wg *sync.WaitGroup, log zerolog.Logger, what string, fn func(), onPanic func()) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		if Run(log, what, fn) && onPanic != nil {
			onPanic()
		}
	}()
}

// Loop runs a long-lived loop fn in a goroutine wg tracks until fn returns
// normally or ctx ends; after a panic it restarts fn after backoff, so a
// bug hit by one input degrades the broker for a moment rather than
// silently stopping a background duty (retention, cleaning, the
// controller) for good.
func Loop(ctx context.Context, wg *sync.WaitGroup, log zerolog.Logger, what string, backoff time.Duration, fn func()) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		for Run(log, what, fn) {
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
		}
	}()
}
