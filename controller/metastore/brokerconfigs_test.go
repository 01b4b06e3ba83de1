package metastore

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBrokerConfigsStoredWatchedAndDeleted(t *testing.T) {
	eps := startEtcd(t)
	writer, reader := startStore(t, eps), startStore(t, eps)
	changed, cancel := reader.SubscribeBrokerConfigs()
	defer cancel()

	set := func(entity string, m map[string]string) {
		t.Helper()
		_, err := writer.UpdateBrokerConfigs(ctx(t), entity, func(map[string]string) (map[string]string, error) { return m, nil })
		require.NoError(t, err)
	}
	set("1", map[string]string{"log.retention.ms": "1000"})
	set(DefaultBrokerEntity, map[string]string{"log.cleaner.threads": "2"})
	assert.Equal(t, map[string]string{"log.retention.ms": "1000"}, writer.BrokerConfigs("1"), "a writer reads its own write")

	require.Eventually(t, func() bool {
		return reader.BrokerConfigs("1")["log.retention.ms"] == "1000" && reader.BrokerConfigs("")["log.cleaner.threads"] == "2"
	}, waitFor, tick)
	select {
	case <-changed:
	default:
		t.Fatal("no change signal after a broker config write")
	}

	_, err := writer.UpdateBrokerConfigs(ctx(t), "1", func(cur map[string]string) (map[string]string, error) {
		assert.Equal(t, "1000", cur["log.retention.ms"], "change gets the stored set")
		delete(cur, "log.retention.ms")
		return cur, nil
	})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return reader.BrokerConfigs("1") == nil }, waitFor, tick)

	// A store started later loads what is there.
	late := startStore(t, eps)
	assert.Equal(t, "2", late.BrokerConfigs("")["log.cleaner.threads"])

	boom := errors.New("boom")
	_, err = writer.UpdateBrokerConfigs(ctx(t), "2", func(map[string]string) (map[string]string, error) { return nil, boom })
	assert.ErrorIs(t, err, boom)
	_, err = writer.UpdateBrokerConfigs(ctx(t), "-1", func(m map[string]string) (map[string]string, error) { return m, nil })
	assert.ErrorIs(t, err, ErrNotFound)
}
