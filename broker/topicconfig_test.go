package broker

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestCleanupPolicyTurnsRetentionOff: compact alone keeps segments from
// retention; delete, or compact with delete, lets retention act; the
// broker default applies to topics without an override.
func TestCleanupPolicyTurnsRetentionOff(t *testing.T) {
	c := DefaultConfig()
	for policy, compactOnly := range map[string]bool{
		"delete": false, "compact": true, "compact,delete": false, "delete, compact": false,
	} {
		assert.Equal(t, compactOnly, c.logConfig(map[string]string{"cleanup.policy": policy}).CompactOnly, policy)
	}
	assert.False(t, c.logConfig(nil).CompactOnly)
	assert.Error(t, validateTopicConfigs(map[string]string{"cleanup.policy": "compact,shred"}))
}
