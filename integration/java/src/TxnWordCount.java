// TxnWordCount is the Kafka Streams word count with exactly-once
// processing, for integration/txn_java_test.go, which compiles and runs it:
//
//   java TxnWordCount <bootstrap> <application.id> <in> <out> <state.dir> <replication.factor>
//
// Lines of <in> (string values) are split on whitespace, grouped by word
// (through a repartition topic) and counted in a state store (with a
// changelog topic); every new count goes to <out> as word -> count
// (string key, 8-byte big-endian long value). processing.guarantee is
// exactly_once_v2: each commit is one transaction over the output, the
// repartition and changelog records and the input offsets. Internal topics
// get <replication.factor> replicas and min.insync.replicas=2 when that
// is above 1. A stream thread that dies of an error is replaced.
//
// It runs until its standard input closes, then closes the Streams
// instance and exits 0. Lines on stdout (tab-separated):
//   state <old> <new>        every KafkaStreams state change
//   replaced <exception>     a stream thread died and was replaced
//   closed
// Exit status 1 when the deadline passes or Streams ends in ERROR.

import java.io.InputStream;
import java.time.Duration;
import java.util.Arrays;
import java.util.Locale;
import java.util.Properties;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;

public class TxnWordCount {
    static final long DEADLINE_MS = 180_000;

    public static void main(String[] args) throws Exception {
        if (args.length != 6) {
            System.err.println("usage: TxnWordCount <bootstrap> <application.id> <in> <out> <state.dir> <replication.factor>");
            System.exit(2);
        }
        int rf = Integer.parseInt(args[5]);
        Properties p = new Properties();
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, args[1]);
        p.put(StreamsConfig.STATE_DIR_CONFIG, args[4]);
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
        p.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, rf);
        if (rf > 1) {
            p.put(StreamsConfig.topicPrefix("min.insync.replicas"), "2");
        }
        p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, 1);
        p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 200);
        p.put(StreamsConfig.DEFAULT_KEY_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
        p.put(StreamsConfig.DEFAULT_VALUE_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
        // A failover is seconds, not minutes.
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG), 10000);
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG), 1000);
        p.put(StreamsConfig.producerPrefix(ProducerConfig.TRANSACTION_TIMEOUT_CONFIG), 10000);
        p.put(StreamsConfig.producerPrefix(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG), 10000);
        p.put(StreamsConfig.producerPrefix(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG), 30000);
        p.put(StreamsConfig.producerPrefix(ProducerConfig.MAX_BLOCK_MS_CONFIG), 30000);
        p.put(StreamsConfig.REQUEST_TIMEOUT_MS_CONFIG, 10000);

        StreamsBuilder b = new StreamsBuilder();
        KStream<String, String> lines = b.stream(args[2], Consumed.with(Serdes.String(), Serdes.String()));
        lines.flatMapValues(v -> Arrays.asList(v.toLowerCase(Locale.ROOT).split("\\s+")))
             .filter((k, w) -> !w.isEmpty())
             .groupBy((k, w) -> w, Grouped.with("words", Serdes.String(), Serdes.String()))
             .count(Materialized.as("counts"))
             .toStream()
             .to(args[3], Produced.with(Serdes.String(), Serdes.Long()));

        KafkaStreams streams = new KafkaStreams(b.build(), p);
        streams.setStateListener((now, old) -> {
            System.out.println("state\t" + old + "\t" + now);
            System.out.flush();
        });
        streams.setUncaughtExceptionHandler(e -> {
            System.out.println("replaced\t" + e);
            System.out.flush();
            return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.REPLACE_THREAD;
        });
        streams.start();

        // Wait for stdin to close (the test is done) or the deadline.
        Thread stdin = new Thread(() -> {
            try {
                InputStream in = System.in;
                while (in.read() >= 0) {
                }
            } catch (Exception ignored) {
            }
        });
        stdin.setDaemon(true);
        stdin.start();
        stdin.join(DEADLINE_MS);
        boolean timedOut = stdin.isAlive();
        boolean error = streams.state() == KafkaStreams.State.ERROR;
        streams.close(Duration.ofSeconds(20));
        System.out.println("closed");
        System.out.flush();
        if (timedOut || error) {
            System.err.println(timedOut ? "deadline passed" : "streams ended in ERROR");
            System.exit(1);
        }
        System.exit(0);
    }
}
