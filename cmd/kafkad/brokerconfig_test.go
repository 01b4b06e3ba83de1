package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The broker refuses to alter a key of server.properties dynamically
// unless Kafka allows it; it learns the keys from here.
func TestBrokerConfigKnowsStaticKeys(t *testing.T) {
	cfg, err := loadConfig([]string{"--log.retention.hours=5"}, nil)
	require.NoError(t, err)
	b := brokerConfig(cfg)
	for _, k := range []string{"broker.id", "node.id", "log.dirs", "log.cleaner.enable", "log.retention.hours", "num.io.threads"} {
		assert.Contains(t, b.StaticKeys, k)
	}
	assert.Equal(t, "5", b.StaticConfigs["log.retention.hours"])
	assert.Equal(t, int64(5*3600*1000), b.Log.RetentionMs)
}
