package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The reference broker is Apache Kafka run straight from its jars (the
// ones `make compat-tools` installs): one KRaft node that is broker and
// controller at once, formatted as a standalone dynamic quorum.
const (
	kafkaMainClass = "kafka.Kafka"
	// formatTimeout bounds the storage tool, a short-lived JVM.
	formatTimeout = 60 * time.Second
)

// storageToolClasses are the storage tool's main classes, newest first:
// Kafka 4.x ships it in the core jar as kafka.tools.StorageTool; should it
// move to the tools jar, the second name is tried.
var storageToolClasses = []string{"kafka.tools.StorageTool", "org.apache.kafka.tools.StorageTool"}

// kafkaJVMOpts are kafka-server-start.sh's defaults (KAFKA_HEAP_OPTS and
// KAFKA_JVM_PERFORMANCE_OPTS), the heap size aside.
func kafkaJVMOpts(heap string) []string {
	return []string{
		"-Xms" + heap, "-Xmx" + heap,
		"-server", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-XX:InitiatingHeapOccupancyPercent=35",
		"-XX:+ExplicitGCInvokesConcurrent", "-Djava.awt.headless=true",
	}
}

// kafkaProperties is the reference broker's server.properties. Everything
// not set here keeps Kafka's default, as kafkad runs with its own defaults
// (which match Kafka's: 1 GiB segments, no forced fsync, flushing is left
// to the OS). Replication factors are 1 since there is one node; the group
// join delay is 0 on both brokers so a lone consumer starts at once, and
// both look for logs to clean every cleanerBackoffMs (cleaner.go).
func kafkaProperties(dataDir, brokerAddr, controllerAddr string, partitions int) string {
	lines := []string{
		"process.roles=broker,controller",
		"node.id=1",
		"listeners=PLAINTEXT://" + brokerAddr + ",CONTROLLER://" + controllerAddr,
		"advertised.listeners=PLAINTEXT://" + brokerAddr,
		"listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
		"inter.broker.listener.name=PLAINTEXT",
		"controller.listener.names=CONTROLLER",
		"controller.quorum.bootstrap.servers=" + controllerAddr,
		"log.dirs=" + dataDir,
		"num.partitions=" + strconv.Itoa(partitions),
		"default.replication.factor=1",
		"min.insync.replicas=1",
		"offsets.topic.replication.factor=1",
		"transaction.state.log.replication.factor=1",
		"transaction.state.log.min.isr=1",
		"share.coordinator.state.topic.replication.factor=1",
		"share.coordinator.state.topic.min.isr=1",
		"group.initial.rebalance.delay.ms=0",
		"log.cleaner.backoff.ms=" + strconv.Itoa(cleanerBackoffMs),
	}
	return strings.Join(lines, "\n") + "\n"
}

// newClusterID returns a random KRaft cluster id: 16 bytes in unpadded
// URL-safe base64, as kafka-storage random-uuid prints. Like Kafka's own
// generator it avoids a leading '-', which a command line would take for
// an option.
func newClusterID() (string, error) {
	for {
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", err
		}
		if id := base64.RawURLEncoding.EncodeToString(b[:]); id[0] != '-' {
			return id, nil
		}
	}
}

// javaClassPath is the class path of every jar in lib.
func javaClassPath(lib string) string { return filepath.Join(lib, "*") }

// startKafka formats a temp dir and runs Apache Kafka from the jars in lib
// on free loopback ports, waiting until it answers.
func startKafka(ctx context.Context, java, lib, heap string, partitions int, stderr io.Writer) (*brokerProc, error) {
	return startRetrying(func() (*brokerProc, error) {
		dir, ports, addr, err := workspace("kbench-kafka-", 2)
		if err != nil {
			return nil, err
		}
		controller := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[1]))
		props := filepath.Join(dir, "server.properties")
		err = os.WriteFile(props, []byte(kafkaProperties(filepath.Join(dir, "data"), addr, controller, partitions)), 0o644)
		if err == nil {
			err = formatKafkaStorage(ctx, java, lib, props)
		}
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		args := append(kafkaJVMOpts(heap), "-cp", javaClassPath(lib), kafkaMainClass, props)
		return launch(ctx, "Apache Kafka", dir, addr, exec.Command(java, args...), stderr)
	})
}

// formatKafkaStorage runs the storage tool's format command with a fresh
// cluster id; --standalone makes the node a single-voter dynamic quorum.
func formatKafkaStorage(ctx context.Context, java, lib, props string) error {
	id, err := newClusterID()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, formatTimeout)
	defer cancel()
	var out []byte
	for _, class := range storageToolClasses {
		cmd := exec.CommandContext(ctx, java, "-cp", javaClassPath(lib), class,
			"format", "--config", props, "--cluster-id", id, "--standalone")
		cmd.SysProcAttr = childAttr()
		out, err = cmd.CombinedOutput()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("formatting Kafka storage: %w", ctx.Err())
		}
		if !bytes.Contains(out, []byte("ClassNotFoundException")) && !bytes.Contains(out, []byte("Could not find or load main class")) {
			break
		}
	}
	return fmt.Errorf("formatting Kafka storage: %v\n%s", err, tailText(out, 20))
}

// kafkaVersion reads Apache Kafka's version off its jar names in lib:
// kafka_<scala>-<version>.jar (the core jar) or kafka-clients-<version>.jar.
func kafkaVersion(lib string) (string, error) {
	if m, _ := filepath.Glob(filepath.Join(lib, "kafka_*-*.jar")); len(m) > 0 {
		name := strings.TrimSuffix(filepath.Base(m[0]), ".jar")
		return name[strings.LastIndex(name, "-")+1:], nil
	}
	if m, _ := filepath.Glob(filepath.Join(lib, "kafka-clients-*.jar")); len(m) > 0 {
		return strings.TrimSuffix(strings.TrimPrefix(filepath.Base(m[0]), "kafka-clients-"), ".jar"), nil
	}
	return "", fmt.Errorf("no Apache Kafka jars (kafka_*.jar, kafka-clients-*.jar) in %s; `make compat-tools` installs them", lib)
}

// javaVersion is the first line of `java -version`, for the report.
func javaVersion(ctx context.Context, java string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, java, "-version").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s -version: %v\n%s", java, err, tailText(out, 5))
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	if line == "" {
		return "", errors.New(java + " -version printed nothing")
	}
	return strings.TrimSpace(line), nil
}
