package metastore

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func broker(id int32) BrokerInfo {
	return BrokerInfo{
		ID: id, Host: "127.0.0.1", Port: 9092 + id, Rack: "r1",
		Listeners: []Listener{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 9092 + id, SecurityProtocol: "PLAINTEXT"}},
	}
}

func TestRegisterBroker(t *testing.T) {
	endpoints := startEtcd(t)
	a, b := startStore(t, endpoints), startStore(t, endpoints)

	reg2, err := a.RegisterBroker(ctx(t), broker(2), 10*time.Second)
	require.NoError(t, err)
	reg1, err := a.RegisterBroker(ctx(t), broker(1), 10*time.Second)
	require.NoError(t, err)
	assert.Equal(t, []BrokerInfo{broker(1), broker(2)}, a.Brokers(), "sorted, and visible on return")
	require.Eventually(t, func() bool { return len(b.Brokers()) == 2 }, waitFor, tick)

	_, err = b.RegisterBroker(ctx(t), broker(1), 10*time.Second)
	require.ErrorIs(t, err, ErrBrokerIDInUse)
	assert.Contains(t, err.Error(), "broker 1 ")

	require.NoError(t, reg1.Close())
	require.NoError(t, reg1.Close())
	assert.Equal(t, []BrokerInfo{broker(2)}, a.Brokers(), "gone at once, not after the ttl")
	select {
	case <-reg1.Lost():
		t.Fatal("Close is not a loss")
	default:
	}

	reg1, err = b.RegisterBroker(ctx(t), broker(1), 10*time.Second)
	require.NoError(t, err, "the id is free again")
	require.NoError(t, reg1.Close())
	require.NoError(t, reg2.Close())

	_, err = a.RegisterBroker(ctx(t), broker(3), 0)
	require.Error(t, err, "no ttl")
}

func TestBrokerKeyExpiresWhenKeepaliveStops(t *testing.T) {
	endpoints := startEtcd(t)
	a, b := startStore(t, endpoints), startStore(t, endpoints)
	reg, err := a.RegisterBroker(ctx(t), broker(1), time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { _ = reg.Close() })
	require.Eventually(t, func() bool { return len(b.Brokers()) == 1 }, waitFor, tick)

	// Stop renewing without revoking, as a broker that hangs would.
	reg.cancel()
	<-reg.done
	require.Eventually(t, func() bool { return len(b.Brokers()) == 0 }, waitFor, tick)
}

func TestRegistrationLostWhenClientDies(t *testing.T) {
	endpoints := startEtcd(t)
	client := dial(t, endpoints)
	a := New(client, "", testLogger(t))
	require.NoError(t, a.Start(ctx(t)))
	t.Cleanup(a.Close)
	b := startStore(t, endpoints)

	reg, err := a.RegisterBroker(ctx(t), broker(1), time.Second)
	require.NoError(t, err)
	require.NoError(t, client.Close())
	select {
	case <-reg.Lost():
	case <-time.After(waitFor):
		t.Fatal("registration not reported lost")
	}
	require.Eventually(t, func() bool { return len(b.Brokers()) == 0 }, waitFor, tick)
	assert.Error(t, reg.Close(), "the lease cannot be revoked through a closed client")
}

// TestRegisterBrokerReplacesOwnStaleRegistration: a broker that crashed
// leaves its key until the lease expires; the same broker restarting on the
// same log directory takes the key over at once, while a broker with the
// same id on another directory is still refused.
func TestRegisterBrokerReplacesOwnStaleRegistration(t *testing.T) {
	endpoints := startEtcd(t)
	a, b := startStore(t, endpoints), startStore(t, endpoints)
	crashed := broker(1)
	crashed.DirectoryID = "dir-a"
	reg, err := a.RegisterBroker(ctx(t), crashed, 30*time.Second)
	require.NoError(t, err)
	reg.cancel() // stop renewing, as a killed process does; the key stays for 30s

	other := broker(1)
	other.DirectoryID = "dir-b"
	_, err = b.RegisterBroker(ctx(t), other, 30*time.Second)
	require.ErrorIs(t, err, ErrBrokerIDInUse, "another directory is another broker")
	noID := broker(1)
	_, err = b.RegisterBroker(ctx(t), noID, 30*time.Second)
	require.ErrorIs(t, err, ErrBrokerIDInUse, "no directory id: nothing to prove it is the same broker")

	restarted := broker(1)
	restarted.DirectoryID = "dir-a"
	restarted.Port = 1234
	reg2, err := b.RegisterBroker(ctx(t), restarted, 30*time.Second)
	require.NoError(t, err)
	assert.Equal(t, []BrokerInfo{restarted}, b.Brokers())
	require.Eventually(t, func() bool {
		bs := a.Brokers()
		return len(bs) == 1 && bs[0].Port == 1234
	}, waitFor, tick)
	require.NoError(t, reg2.Close())
	assert.Empty(t, b.Brokers())
}
