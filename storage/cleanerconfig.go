package storage

import "math"

// CleanerConfig is the broker's log cleaner settings (Kafka's
// log.cleaner.* keys). They may change at run time (dynamic broker
// configs): Manager.SetCleanerConfig publishes a new one.
type CleanerConfig struct {
	Enable              bool    // log.cleaner.enable
	Threads             int     // log.cleaner.threads
	BackoffMs           int64   // log.cleaner.backoff.ms: sleep when no log needs cleaning
	DedupeBufferSize    int64   // log.cleaner.dedupe.buffer.size: key map memory, over all threads
	IOBufferSize        int32   // log.cleaner.io.buffer.size
	IOBufferLoadFactor  float64 // log.cleaner.io.buffer.load.factor: key map fill limit
	IOMaxBytesPerSecond float64 // log.cleaner.io.max.bytes.per.second: read+write throttle
}

// DefaultCleanerConfig returns Kafka's defaults.
func DefaultCleanerConfig() CleanerConfig {
	return CleanerConfig{
		Enable:              true,
		Threads:             1,
		BackoffMs:           15000,
		DedupeBufferSize:    134217728,
		IOBufferSize:        524288,
		IOBufferLoadFactor:  0.9,
		IOMaxBytesPerSecond: math.MaxFloat64,
	}
}
