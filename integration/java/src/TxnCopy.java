// TxnCopy is a consume-transform-produce loop on kafka-clients with
// exactly-once semantics, for integration/txn_java_test.go, which compiles
// and runs it:
//
//   java TxnCopy <bootstrap> <in> <out> <group> <transactional.id> <per-txn> [halt-after]
//
// A read_committed KafkaConsumer (group <group>, static member
// "txn-copy" so that a restarted copy takes its place at once, no
// auto-commit) reads <in>; for every poll of at most <per-txn> records a
// transactional producer begins a transaction, sends one record per input
// record to <out> (same key, value "copied-" + value, header
// src=<partition>/<offset> of the input), adds the consumer's next
// positions with sendOffsetsToTransaction(offsets, groupMetadata()) and
// commits. It stops once it holds every partition of <in> and its
// positions are at their end offsets (read once at start: the input is
// complete before the program runs).
//
// With [halt-after] it crashes on purpose: after that many committed
// transactions it begins one more, sends the first half of its records,
// flushes them to the log and calls Runtime.halt(42): no commit, no abort,
// no close, as a kill -9 would.
//
// Lines on stdout (tab-separated):
//   txn <n> <records>      transaction n committed with that many records
//   halt <n> <records>     transaction n left open with that many records in the log
//   done <transactions> <records>
// Exit status 1 with a message on stderr when anything fails or takes
// longer than the deadline; 42 on the deliberate crash.

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

public class TxnCopy {
    static final long DEADLINE_MS = 90_000;

    public static void main(String[] args) throws Exception {
        if (args.length != 6 && args.length != 7) {
            System.err.println("usage: TxnCopy <bootstrap> <in> <out> <group> <transactional.id> <per-txn> [halt-after]");
            System.exit(2);
        }
        String bootstrap = args[0], in = args[1], out = args[2], group = args[3], txnId = args[4];
        int perTxn = Integer.parseInt(args[5]);
        int haltAfter = args.length == 7 ? Integer.parseInt(args[6]) : -1;
        try {
            run(bootstrap, in, out, group, txnId, perTxn, haltAfter);
        } catch (Exception e) {
            e.printStackTrace();
            System.exit(1);
        }
    }

    static void run(String bootstrap, String in, String out, String group, String txnId, int perTxn, int haltAfter) throws Exception {
        Properties cp = new Properties();
        cp.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        cp.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        cp.put(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG, "txn-copy");
        cp.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, "10000");
        cp.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        cp.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        cp.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        cp.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, String.valueOf(perTxn));
        cp.put(ConsumerConfig.REQUEST_TIMEOUT_MS_CONFIG, "10000");
        cp.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
        cp.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        cp.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());

        Properties pp = new Properties();
        pp.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        pp.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, txnId);
        pp.put(ProducerConfig.TRANSACTION_TIMEOUT_CONFIG, "30000");
        pp.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, "10000");
        pp.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "30000");
        pp.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "30000");
        pp.put(ProducerConfig.LINGER_MS_CONFIG, "5");
        pp.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        pp.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());

        long deadline = System.currentTimeMillis() + DEADLINE_MS;
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(cp);
             KafkaProducer<String, String> producer = new KafkaProducer<>(pp)) {
            // Fences an earlier incarnation and aborts its open transaction.
            producer.initTransactions();

            List<TopicPartition> all = new ArrayList<>();
            for (PartitionInfo p : consumer.partitionsFor(in)) {
                all.add(new TopicPartition(in, p.partition()));
            }
            Map<TopicPartition, Long> ends = consumer.endOffsets(all);
            consumer.subscribe(List.of(in));

            int txns = 0, records = 0;
            while (true) {
                if (System.currentTimeMillis() > deadline) {
                    throw new IllegalStateException("deadline: " + txns + " transactions, " + records + " records, positions " + positions(consumer));
                }
                ConsumerRecords<String, String> batch = consumer.poll(Duration.ofMillis(200));
                if (batch.isEmpty()) {
                    if (caughtUp(consumer, all, ends)) {
                        break;
                    }
                    continue;
                }
                List<ConsumerRecord<String, String>> recs = new ArrayList<>();
                batch.forEach(recs::add);
                boolean crash = txns == haltAfter;
                producer.beginTransaction();
                int n = crash ? Math.max(1, recs.size() / 2) : recs.size();
                Map<TopicPartition, OffsetAndMetadata> next = new HashMap<>();
                for (int i = 0; i < n; i++) {
                    ConsumerRecord<String, String> r = recs.get(i);
                    ProducerRecord<String, String> o = new ProducerRecord<>(out, r.key(), "copied-" + r.value());
                    o.headers().add("src", (r.partition() + "/" + r.offset()).getBytes(StandardCharsets.UTF_8));
                    producer.send(o);
                    next.put(new TopicPartition(r.topic(), r.partition()), new OffsetAndMetadata(r.offset() + 1));
                }
                if (crash) {
                    producer.flush(); // the half transaction is in the log, uncommitted
                    System.out.println("halt\t" + (txns + 1) + "\t" + n);
                    System.out.flush();
                    Runtime.getRuntime().halt(42);
                }
                producer.sendOffsetsToTransaction(next, consumer.groupMetadata());
                producer.commitTransaction();
                txns++;
                records += n;
                System.out.println("txn\t" + txns + "\t" + n);
            }
            System.out.println("done\t" + txns + "\t" + records);
            System.out.flush();
        }
    }

    // caughtUp: the consumer holds every partition and is at its end.
    static boolean caughtUp(KafkaConsumer<String, String> c, List<TopicPartition> all, Map<TopicPartition, Long> ends) {
        Set<TopicPartition> held = c.assignment();
        if (!held.containsAll(all)) {
            return false;
        }
        for (TopicPartition tp : all) {
            if (c.position(tp) < ends.get(tp)) {
                return false;
            }
        }
        return true;
    }

    static String positions(KafkaConsumer<String, String> c) {
        StringBuilder b = new StringBuilder();
        for (TopicPartition tp : c.assignment()) {
            b.append(tp).append('=').append(c.position(tp)).append(' ');
        }
        return b.toString();
    }
}
