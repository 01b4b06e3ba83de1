"""Produce records with confluent-kafka (librdkafka): acks=all, idempotent.

stdin: {"bootstrap": "...", "topic": "...", "compression": "none|gzip|...",
        "config": {extra librdkafka settings},
        "records": [{"key": str|null, "value": str|null,
                     "headers": [[name, str|null], ...], "partition": int|null}]}
stdout: one JSON line per delivery report, in delivery order:
        {"i": index in records, "partition": p, "offset": o}
Exits non-zero if any record is not delivered.
"""
import json
import sys

from confluent_kafka import Producer


def enc(s):
    return None if s is None else s.encode()


def main():
    cfg = json.load(sys.stdin)
    conf = {
        "bootstrap.servers": cfg["bootstrap"],
        "acks": "all",
        "enable.idempotence": True,
        "compression.type": cfg.get("compression", "none"),
        "linger.ms": 5,
        "message.timeout.ms": 20000,
        "socket.timeout.ms": 10000,
    }
    conf.update(cfg.get("config", {}))
    p = Producer(conf)
    errors = []

    def report(i):
        def cb(err, msg):
            if err is not None:
                errors.append("record %d: %s" % (i, err))
                return
            print(json.dumps({"i": i, "partition": msg.partition(), "offset": msg.offset()}))
        return cb

    for i, r in enumerate(cfg["records"]):
        kw = {}
        if r.get("partition") is not None:
            kw["partition"] = r["partition"]
        headers = [(h[0], enc(h[1])) for h in r.get("headers") or []]
        while True:
            try:
                p.produce(cfg["topic"], key=enc(r.get("key")), value=enc(r.get("value")),
                          headers=headers or None, on_delivery=report(i), **kw)
                break
            except BufferError:
                p.poll(0.1)
        p.poll(0)
    left = p.flush(30)
    if left:
        errors.append("%d records not delivered after 30s" % left)
    sys.stdout.flush()
    if errors:
        sys.exit("\n".join(errors))


if __name__ == "__main__":
    main()
