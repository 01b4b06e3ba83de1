package embedetcd

import (
	"fmt"
	"net"
	"path/filepath"
	"testing"

	"github.com/rs/zerolog"
)

// startAttempts bounds the retries on the free-port race below.
const startAttempts = 5

// StartTest starts a member for a test on two free loopback ports with its
// data in a temporary directory, and closes it when the test ends. It fails
// the test if etcd cannot start.
//
// Free ports are found by binding port 0 and closing the listener, so
// another process can take one before etcd binds it; then StartTest tries
// again with new ports and a fresh directory. It retries on any start
// error, as etcd does not always wrap the bind error so that it could be
// told apart.
func StartTest(tb testing.TB, logger zerolog.Logger) *Server {
	tb.Helper()
	base := tb.TempDir()
	var err error
	for attempt := range startAttempts {
		var ports [2]int
		if ports, err = freePorts(); err != nil {
			continue
		}
		var s *Server
		s, err = Start(Config{
			Dir:       filepath.Join(base, fmt.Sprintf("etcd-%d", attempt)),
			ClientURL: fmt.Sprintf("http://127.0.0.1:%d", ports[0]),
			PeerURL:   fmt.Sprintf("http://127.0.0.1:%d", ports[1]),
			Name:      "kafkad-test",
			fastTest:  true,
		}, logger)
		if err == nil {
			tb.Cleanup(s.Close)
			return s
		}
	}
	tb.Fatalf("embedetcd: start test etcd: %v", err)
	return nil
}

// freePorts returns two distinct ports free on 127.0.0.1 at the time of
// the call. Both listeners are held open together so the ports differ.
func freePorts() ([2]int, error) {
	var ports [2]int
	for i := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return ports, err
		}
		defer ln.Close()
		ports[i] = ln.Addr().(*net.TCPAddr).Port
	}
	return ports, nil
}
