package metastore

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestScramCredentialsSeenByEveryStore(t *testing.T) {
	eps := startEtcd(t)
	a, b := startStore(t, eps), startStore(t, eps)
	cred := ScramCredential{Salt: []byte("salt"), Iterations: 4096, StoredKey: []byte("sk"), ServerKey: []byte("svk")}
	user := "al/ice %x"

	wrote, err := a.PutScramCredential(ctx(t), user, "SCRAM-SHA-256", cred, true)
	require.NoError(t, err)
	assert.True(t, wrote)
	require.Eventually(t, func() bool { _, ok := b.ScramCredential(user, "SCRAM-SHA-256"); return ok }, waitFor, tick)
	got, _ := b.ScramCredential(user, "SCRAM-SHA-256")
	assert.Equal(t, cred, got)
	assert.Equal(t, map[string]map[string]int{user: {"SCRAM-SHA-256": 4096}}, b.ScramMechanisms())

	other := cred
	other.Iterations = 8192
	wrote, err = a.PutScramCredential(ctx(t), user, "SCRAM-SHA-256", other, true)
	require.NoError(t, err)
	assert.False(t, wrote, "ifAbsent must not overwrite")

	deleted, err := b.DeleteScramCredential(ctx(t), user, "SCRAM-SHA-256")
	require.NoError(t, err)
	assert.True(t, deleted)
	require.Eventually(t, func() bool { _, ok := a.ScramCredential(user, "SCRAM-SHA-256"); return !ok }, waitFor, tick)
	deleted, err = b.DeleteScramCredential(ctx(t), user, "SCRAM-SHA-256")
	require.NoError(t, err)
	assert.False(t, deleted)
}
