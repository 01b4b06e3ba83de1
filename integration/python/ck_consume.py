"""Consume with confluent-kafka (librdkafka) without joining a group: assign()
with explicit offsets, no offset commits.

stdin: {"bootstrap": "...", "topic": "...", "assign": [[partition, offset], ...],
        "expect": minimum record count, "times": {"partition": timestamp_ms} (optional)}
offset: a number, or -2 (beginning) / -1 (end) as in librdkafka.
stdout: JSON lines:
  {"partition", "offset", "key", "value", "headers": [[name, value]], "timestamp"}
  per record, in the order consumed, until every assigned partition reached
  its end and at least expect records came; then
  {"watermarks": {"p": [low, high]}} and, when asked,
  {"times": {"p": offset}} (offsets_for_times).
"""
import json
import sys
import time

from confluent_kafka import Consumer, KafkaError, TopicPartition


def dec(b):
    return None if b is None else b.decode()


def main():
    cfg = json.load(sys.stdin)
    topic = cfg["topic"]
    c = Consumer({
        "bootstrap.servers": cfg["bootstrap"],
        # Required by the Python client; no group is joined without subscribe().
        "group.id": "ck-assign-only",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "enable.partition.eof": True,
        "auto.offset.reset": "error",
        "fetch.wait.max.ms": 100,
        "socket.timeout.ms": 10000,
    })
    parts = [p for p, _ in cfg["assign"]]
    c.assign([TopicPartition(topic, p, o) for p, o in cfg["assign"]])
    eof, n = set(), 0
    deadline = time.time() + cfg.get("timeout", 30)
    while True:
        if time.time() > deadline:
            sys.exit("timed out: %d records, at end of %s" % (n, sorted(eof)))
        m = c.poll(0.2)
        if m is None:
            continue
        if m.error():
            if m.error().code() == KafkaError._PARTITION_EOF:
                eof.add(m.partition())
                if len(eof) == len(parts) and n >= cfg.get("expect", 0):
                    break
                continue
            sys.exit("consume error: %s" % m.error())
        eof.discard(m.partition())
        n += 1
        print(json.dumps({
            "partition": m.partition(), "offset": m.offset(),
            "key": dec(m.key()), "value": dec(m.value()),
            "headers": [[k, dec(v)] for k, v in (m.headers() or [])],
            "timestamp": m.timestamp()[1],
        }))
    wm = {}
    for p in parts:
        wm[str(p)] = list(c.get_watermark_offsets(TopicPartition(topic, p), timeout=10))
    print(json.dumps({"watermarks": wm}))
    if cfg.get("times"):
        tps = [TopicPartition(topic, int(p), ts) for p, ts in cfg["times"].items()]
        res = c.offsets_for_times(tps, timeout=10)
        for tp in res:
            if tp.error:
                sys.exit("offsets_for_times %d: %s" % (tp.partition, tp.error))
        print(json.dumps({"times": {str(tp.partition): tp.offset for tp in res}}))
    c.close()


if __name__ == "__main__":
    main()
