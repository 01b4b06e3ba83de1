"""Transactions with confluent-kafka (librdkafka), for integration/txn_python_test.go.

stdin: {"mode": "produce", "bootstrap": "...", "topic": "...", "partition": p,
        "transactional.id": "...",
        "txns": [{"values": [str, ...], "commit": true|false}, ...]}
  One transactional producer (init_transactions once) runs the
  transactions in order: begin, produce every value (key null) to the
  partition, flush, then commit or abort. stdout: one JSON line per
  transaction once it ended: {"txn": i, "committed": bool, "records": n}.

stdin: {"mode": "consume", "bootstrap": "...", "topic": "...", "partition": p,
        "isolation.level": "read_committed|read_uncommitted", "expect": n}
  A consumer assigned the partition from the beginning reads until at
  least expect records came and it is at the partition's end (for
  read_committed, the last stable offset). stdout: one JSON line per
  record {"offset": o, "value": str}, then {"end": {"low": l, "high": h}}.
Exits non-zero on any error or after 30 s.
"""
import json
import sys
import time

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition


def produce(cfg):
    p = Producer({
        "bootstrap.servers": cfg["bootstrap"],
        "transactional.id": cfg["transactional.id"],
        "transaction.timeout.ms": 30000,
        "socket.timeout.ms": 10000,
        "message.timeout.ms": 20000,
        "linger.ms": 5,
    })
    p.init_transactions(20)
    errors = []

    def report(err, msg):
        if err is not None:
            errors.append(str(err))

    for i, txn in enumerate(cfg["txns"]):
        p.begin_transaction()
        for v in txn["values"]:
            p.produce(cfg["topic"], value=v.encode(), partition=cfg["partition"], on_delivery=report)
        left = p.flush(20)
        if left or errors:
            sys.exit("transaction %d: %d undelivered, errors %s" % (i, left, errors))
        if txn["commit"]:
            p.commit_transaction(20)
        else:
            p.abort_transaction(20)
        print(json.dumps({"txn": i, "committed": txn["commit"], "records": len(txn["values"])}))
        sys.stdout.flush()


def consume(cfg):
    c = Consumer({
        "bootstrap.servers": cfg["bootstrap"],
        "group.id": "ck-txn-assign-only",  # required; no group is joined without subscribe()
        "isolation.level": cfg["isolation.level"],
        "enable.auto.commit": False,
        "enable.partition.eof": True,
        "auto.offset.reset": "error",
        "fetch.wait.max.ms": 100,
        "socket.timeout.ms": 10000,
    })
    tp = TopicPartition(cfg["topic"], cfg["partition"], -2)  # -2: from the beginning
    c.assign([tp])
    n, at_end = 0, False
    deadline = time.time() + 30
    while not (at_end and n >= cfg["expect"]):
        if time.time() > deadline:
            sys.exit("timed out after %d records" % n)
        m = c.poll(0.2)
        if m is None:
            continue
        if m.error():
            if m.error().code() == KafkaError._PARTITION_EOF:
                at_end = True
                continue
            sys.exit("consume error: %s" % m.error())
        at_end = False
        n += 1
        print(json.dumps({"offset": m.offset(), "value": m.value().decode()}))
    low, high = c.get_watermark_offsets(TopicPartition(cfg["topic"], cfg["partition"]), timeout=10)
    print(json.dumps({"end": {"low": low, "high": high}}))
    c.close()


def main():
    cfg = json.load(sys.stdin)
    if cfg["mode"] == "produce":
        produce(cfg)
    elif cfg["mode"] == "consume":
        consume(cfg)
    else:
        sys.exit("unknown mode %r" % cfg["mode"])


if __name__ == "__main__":
    main()
