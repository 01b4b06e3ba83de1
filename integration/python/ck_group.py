"""Consume as a member of a consumer group with confluent-kafka (librdkafka),
committing offsets by hand.

stdin: {"bootstrap": "...", "topic": "...", "group": "...",
        "max": take at most this many records, then commit (null: read until
               every assigned partition is at its end)}
stdout: JSON lines:
  {"partition", "offset", "key", "value", "headers": [[name, value]]} per record;
  {"committed": {"p": offset}} as read back from the coordinator after the
  synchronous commit of (last consumed offset + 1) per partition.
"""
import json
import sys
import time

from confluent_kafka import Consumer, KafkaError, TopicPartition


def dec(b):
    return None if b is None else b.decode()


def main():
    cfg = json.load(sys.stdin)
    topic, limit = cfg["topic"], cfg.get("max")
    c = Consumer({
        "bootstrap.servers": cfg["bootstrap"],
        "group.id": cfg["group"],
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "enable.partition.eof": True,
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 500,
        "fetch.wait.max.ms": 100,
        "socket.timeout.ms": 10000,
    })
    assigned = set()

    def on_assign(consumer, tps):
        assigned.update(tp.partition for tp in tps)

    def on_revoke(consumer, tps):
        assigned.difference_update(tp.partition for tp in tps)

    c.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke)
    nxt, eof, n = {}, set(), 0
    deadline = time.time() + cfg.get("timeout", 40)
    while limit is None or n < limit:
        if time.time() > deadline:
            sys.exit("timed out: %d records, assigned %s, at end of %s" % (n, sorted(assigned), sorted(eof)))
        m = c.poll(0.2)
        if m is None:
            continue
        if m.error():
            if m.error().code() == KafkaError._PARTITION_EOF:
                eof.add(m.partition())
                if limit is None and assigned and assigned <= eof:
                    break
                continue
            sys.exit("consume error: %s" % m.error())
        eof.discard(m.partition())
        n += 1
        nxt[m.partition()] = m.offset() + 1
        print(json.dumps({
            "partition": m.partition(), "offset": m.offset(),
            "key": dec(m.key()), "value": dec(m.value()),
            "headers": [[k, dec(v)] for k, v in (m.headers() or [])],
        }))
    if nxt:
        tps = [TopicPartition(topic, p, o) for p, o in sorted(nxt.items())]
        for tp in c.commit(offsets=tps, asynchronous=False):
            if tp.error:
                sys.exit("commit %d: %s" % (tp.partition, tp.error))
    got = c.committed([TopicPartition(topic, p) for p in sorted(assigned | set(nxt))], timeout=10)
    print(json.dumps({"committed": {str(tp.partition): tp.offset for tp in got}}))
    c.close()


if __name__ == "__main__":
    main()
