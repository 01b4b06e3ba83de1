package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/rs/zerolog"

	"github.com/kafkad/kafkad/controller/embedetcd"
)

// clusterSize is how many brokers the --rf3 run starts.
const clusterSize = 3

// benchCluster measures replication: three fresh kafkad processes on an
// etcd started here, topics with RF=3 (and min.insync.replicas=2, so
// acks=-1 waits for a follower), the same franz-go workloads. Everything is
// stopped and removed before it returns.
func benchCluster(ctx context.Context, o options, r *brokerRun, suffix string, stderr io.Writer) (err error) {
	dir, err := os.MkdirTemp("", "kbench-etcd-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ports, err := freePorts(2)
	if err != nil {
		return err
	}
	etcd, err := embedetcd.Start(embedetcd.Config{
		Dir:       dir,
		ClientURL: fmt.Sprintf("http://127.0.0.1:%d", ports[0]),
		PeerURL:   fmt.Sprintf("http://127.0.0.1:%d", ports[1]),
		Name:      "kbench",
	}, zerolog.Nop())
	if err != nil {
		return fmt.Errorf("etcd for the cluster: %w", err)
	}
	defer etcd.Close()

	fmt.Fprintf(stderr, "starting %d kafkad brokers on one etcd ...\n", clusterSize)
	var seeds []string
	for id := 1; id <= clusterSize; id++ {
		b, err := startClusterBroker(ctx, o.kafkad, id, etcd.Endpoints(), o.partitions, stderr)
		if err != nil {
			return err
		}
		defer func() { b.stop(stderr, failed(err)) }()
		seeds = append(seeds, b.addr)
	}
	r.target = fmt.Sprintf("fresh kafkad cluster of %d brokers (%s), RF=%d, min.insync.replicas=2", clusterSize, strings.Join(seeds, ","), clusterSize)
	r.rf, r.noPerfTools, r.noGroups, r.noTxn = clusterSize, true, true, true
	return benchBroker(ctx, o, r, seeds, true, suffix, stderr)
}

func startClusterBroker(ctx context.Context, bin string, id int, endpoints []string, partitions int, stderr io.Writer) (*brokerProc, error) {
	return startRetrying(func() (*brokerProc, error) {
		dir, _, addr, err := workspace("kbench-", 1)
		if err != nil {
			return nil, err
		}
		cmd := exec.Command(bin,
			"--broker.id="+strconv.Itoa(id),
			"--log.dirs="+filepath.Join(dir, "data"),
			"--listeners=PLAINTEXT://"+addr,
			"--etcd.endpoints="+strings.Join(endpoints, ","),
			fmt.Sprintf("--num.partitions=%d", partitions),
			"--min.insync.replicas=2",
			"--group.initial.rebalance.delay.ms=0",
		)
		return launch(ctx, fmt.Sprintf("kafkad-%d", id), dir, addr, cmd, stderr)
	})
}
