// KafkadCompat drives kafkad with Apache Kafka's Java client (kafka-clients)
// for integration/compat_java_test.go, which compiles and runs it:
//
//   java KafkadCompat produce <bootstrap> <topic> <n>
//     An idempotent producer (enable.idempotence=true, acks=all) sends n
//     numbered records: key "key-<i%7>", value "value-<i>", headers
//     seq=<i> and src=kafkad-compat. One line per acknowledged record:
//       sent <partition> <offset> <key> <value>
//
//   java KafkadCompat group <bootstrap> <topic> <group> <n> [classic|consumer]
//     Two KafkaConsumers join <group> (group.protocol classic, the default,
//     or consumer: KIP-848) and subscribe to the topic.
//     Once their assignments are disjoint and cover every partition, the
//     idempotent producer sends n records as above, and the members poll
//     and commitSync after processing each batch until n records arrived
//     between them. Lines:
//       assigned <member> <p,p,...>             on every assignment
//       rec <member> <partition> <offset> <key> <value> <k=v,k=v>
//       final <member> <p,p,...>                assignment at the end
//
// Fields are tab-separated. Exit status 1 with a message on stderr when
// anything fails or takes longer than the deadline.

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Collectors;

import org.apache.kafka.clients.consumer.CloseOptions;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

public class KafkadCompat {
    static final long DEADLINE_MS = 60_000;

    public static void main(String[] args) throws Exception {
        if (args.length == 4 && args[0].equals("produce")) {
            try (KafkaProducer<String, String> p = producer(args[1])) {
                produce(p, args[2], Integer.parseInt(args[3]));
            }
        } else if ((args.length == 5 || args.length == 6) && args[0].equals("group")) {
            group(args[1], args[2], args[3], Integer.parseInt(args[4]), args.length == 6 ? args[5] : "classic");
        } else {
            System.err.println("usage: KafkadCompat produce <bootstrap> <topic> <n> | group <bootstrap> <topic> <group> <n> [classic|consumer]");
            System.exit(2);
        }
    }

    static synchronized void out(String... fields) {
        System.out.println(String.join("\t", fields));
        System.out.flush();
    }

    static void fail(String msg) {
        System.err.println("KafkadCompat: " + msg);
        System.exit(1);
    }

    static KafkaProducer<String, String> producer(String bootstrap) {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION, "5");
        p.put(ProducerConfig.LINGER_MS_CONFIG, "5");
        p.put(ProducerConfig.BATCH_SIZE_CONFIG, "4096"); // several batches per partition
        p.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, "10000");
        p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "30000");
        p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "30000");
        p.put(ProducerConfig.CLIENT_ID_CONFIG, "kafkad-compat-producer");
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        return new KafkaProducer<>(p);
    }

    // produce sends n numbered records and waits for every acknowledgement.
    static void produce(KafkaProducer<String, String> p, String topic, int n) throws Exception {
        AtomicReference<Exception> failed = new AtomicReference<>();
        CountDownLatch acked = new CountDownLatch(n);
        for (int i = 0; i < n; i++) {
            String key = "key-" + (i % 7), value = "value-" + i;
            ProducerRecord<String, String> r = new ProducerRecord<>(topic, key, value);
            r.headers().add("seq", Integer.toString(i).getBytes(StandardCharsets.UTF_8));
            r.headers().add("src", "kafkad-compat".getBytes(StandardCharsets.UTF_8));
            p.send(r, (md, err) -> {
                if (err != null) {
                    failed.compareAndSet(null, err);
                } else {
                    out("sent", Integer.toString(md.partition()), Long.toString(md.offset()), key, value);
                }
                acked.countDown();
            });
        }
        p.flush();
        if (!acked.await(DEADLINE_MS, TimeUnit.MILLISECONDS)) {
            fail("not all records acknowledged");
        }
        if (failed.get() != null) {
            failed.get().printStackTrace();
            fail("send failed: " + failed.get());
        }
    }

    static String partitions(Collection<TopicPartition> tps) {
        return tps.stream().map(TopicPartition::partition).sorted().map(String::valueOf).collect(Collectors.joining(","));
    }

    // Member is one consumer of the group, polled by its own thread.
    static final class Member implements Runnable {
        final String name;
        final KafkaConsumer<String, String> consumer;
        final String topic;
        final AtomicInteger total;
        final int n;
        final long deadline;
        // finished counts the members that printed their final assignment:
        // none leaves the group before all have, or the one still polling
        // would be handed the leaver's partitions and print them too.
        final CountDownLatch finished;
        volatile Set<TopicPartition> assignment = Collections.emptySet();
        volatile Throwable error;

        Member(String name, String bootstrap, String topic, String group, String protocol, AtomicInteger total, int n, long deadline,
               CountDownLatch finished) {
            this.name = name;
            this.finished = finished;
            this.topic = topic;
            this.total = total;
            this.n = n;
            this.deadline = deadline;
            Properties c = new Properties();
            c.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
            c.put(ConsumerConfig.GROUP_ID_CONFIG, group);
            c.put(ConsumerConfig.CLIENT_ID_CONFIG, name);
            c.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
            c.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
            c.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, protocol);
            if (protocol.equals("classic")) {
                // The consumer protocol takes both from the broker.
                c.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, "10000");
                c.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, "1000");
            }
            c.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "20000");
            c.put(ConsumerConfig.REQUEST_TIMEOUT_MS_CONFIG, "10000");
            c.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "50");
            c.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
            c.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
            consumer = new KafkaConsumer<>(c);
        }

        @Override
        public void run() {
            try {
                consumer.subscribe(List.of(topic), new ConsumerRebalanceListener() {
                    @Override
                    public void onPartitionsRevoked(Collection<TopicPartition> revoked) {
                        // Everything processed is committed after each batch already.
                        // The consumer protocol revokes only some partitions.
                        Set<TopicPartition> left = new HashSet<>(consumer.assignment());
                        left.removeAll(revoked);
                        assignment = Set.copyOf(left);
                    }

                    @Override
                    public void onPartitionsAssigned(Collection<TopicPartition> assigned) {
                        assignment = Set.copyOf(consumer.assignment());
                        out("assigned", name, partitions(assignment));
                    }
                });
                while (total.get() < n && System.currentTimeMillis() < deadline) {
                    ConsumerRecords<String, String> recs = consumer.poll(Duration.ofMillis(200));
                    for (ConsumerRecord<String, String> r : recs) {
                        List<String> hs = new ArrayList<>();
                        for (Header h : r.headers()) {
                            hs.add(h.key() + "=" + new String(h.value(), StandardCharsets.UTF_8));
                        }
                        out("rec", name, Integer.toString(r.partition()), Long.toString(r.offset()),
                            r.key(), r.value(), String.join(",", hs));
                    }
                    if (!recs.isEmpty()) {
                        consumer.commitSync();
                        total.addAndGet(recs.count());
                    }
                }
                out("final", name, partitions(consumer.assignment()));
                finished.countDown();
                finished.await(Math.max(deadline - System.currentTimeMillis(), 1000), TimeUnit.MILLISECONDS);
            } catch (Throwable e) {
                error = e;
            } finally {
                finished.countDown(); // a member that failed holds no one back
                consumer.close(CloseOptions.timeout(Duration.ofSeconds(10)));
            }
        }
    }

    static void group(String bootstrap, String topic, String group, int n, String protocol) throws Exception {
        long deadline = System.currentTimeMillis() + DEADLINE_MS;
        AtomicInteger total = new AtomicInteger();
        try (KafkaProducer<String, String> p = producer(bootstrap)) {
            Set<TopicPartition> all = p.partitionsFor(topic).stream()
                .map(pi -> new TopicPartition(pi.topic(), pi.partition()))
                .collect(Collectors.toCollection(HashSet::new));
            if (all.size() < 2) {
                fail("topic " + topic + " needs at least 2 partitions, has " + all.size());
            }
            CountDownLatch finished = new CountDownLatch(2);
            Member a = new Member("member-a", bootstrap, topic, group, protocol, total, n, deadline, finished);
            Member b = new Member("member-b", bootstrap, topic, group, protocol, total, n, deadline, finished);
            Thread ta = new Thread(a, "member-a"), tb = new Thread(b, "member-b");
            ta.start();
            tb.start();
            // Produce only once the group is stable with both members holding
            // partitions, so both consume and no rebalance splits a partition.
            while (true) {
                Set<TopicPartition> sa = a.assignment, sb = b.assignment;
                Set<TopicPartition> union = new TreeSet<>((x, y) -> Integer.compare(x.partition(), y.partition()));
                union.addAll(sa);
                union.addAll(sb);
                if (!sa.isEmpty() && !sb.isEmpty() && union.size() == sa.size() + sb.size() && union.size() == all.size()) {
                    break;
                }
                if (a.error != null || b.error != null || System.currentTimeMillis() > deadline) {
                    total.set(n); // stop the members
                    ta.join();
                    tb.join();
                    if (a.error != null) a.error.printStackTrace();
                    if (b.error != null) b.error.printStackTrace();
                    fail("group never split the partitions between both members: a=" + partitions(sa) + " b=" + partitions(sb));
                }
                Thread.sleep(50);
            }
            produce(p, topic, n);
            ta.join();
            tb.join();
            for (Member m : List.of(a, b)) {
                if (m.error != null) {
                    m.error.printStackTrace();
                    fail(m.name + " failed: " + m.error);
                }
            }
            if (total.get() < n) {
                fail("consumed " + total.get() + " of " + n + " records before the deadline");
            }
        }
    }
}
