"""Administer topics with confluent-kafka's AdminClient (librdkafka).

stdin: {"bootstrap": "...", "topic": "...", "doomed": "..."}
Creates topic (3 partitions, retention.ms=3600000) and doomed, reads the
configuration back, grows topic to 5 partitions, sets retention.ms=7200000
incrementally, deletes doomed, and describes the cluster.
stdout: one JSON line per step: {"step": name, ...what it returned}.
"""
import json
import sys

from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry,
                                   ConfigResource, NewPartitions, NewTopic)


def out(step, **kw):
    kw["step"] = step
    print(json.dumps(kw), flush=True)


def wait(futures):
    for name, f in futures.items():
        f.result(timeout=15)


def main():
    cfg = json.load(sys.stdin)
    topic, doomed = cfg["topic"], cfg["doomed"]
    a = AdminClient({"bootstrap.servers": cfg["bootstrap"], "socket.timeout.ms": 10000})

    wait(a.create_topics([
        NewTopic(topic, num_partitions=3, replication_factor=1, config={"retention.ms": "3600000"}),
        NewTopic(doomed, num_partitions=1, replication_factor=1),
    ], operation_timeout=10, request_timeout=15))
    md = a.list_topics(timeout=10)
    out("create", topics=sorted(t for t in md.topics if t in (topic, doomed)),
        partitions=len(md.topics[topic].partitions),
        leaders=sorted({p.leader for p in md.topics[topic].partitions.values()}))

    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    cfgs = a.describe_configs([res], request_timeout=15)[res].result(timeout=15)
    out("describe_configs", retention_ms=cfgs["retention.ms"].value,
        cleanup_policy=cfgs["cleanup.policy"].value)

    wait(a.create_partitions([NewPartitions(topic, 5)], request_timeout=15))
    md = a.list_topics(topic, timeout=10)
    out("create_partitions", partitions=len(md.topics[topic].partitions))

    res = ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=[
        ConfigEntry("retention.ms", "7200000", incremental_operation=AlterConfigOpType.SET)])
    wait(a.incremental_alter_configs([res], request_timeout=15))
    cfgs = a.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, topic)], request_timeout=15)
    out("incremental_alter_configs", retention_ms=list(cfgs.values())[0].result(timeout=15)["retention.ms"].value)

    wait(a.delete_topics([doomed], operation_timeout=10, request_timeout=15))
    md = a.list_topics(timeout=10)
    out("delete", topics=sorted(t for t in md.topics if t in (topic, doomed)))

    cl = a.describe_cluster(request_timeout=15).result(timeout=15)
    out("describe_cluster", cluster_id=cl.cluster_id, controller=cl.controller.id,
        nodes=[[n.id, n.host, n.port] for n in cl.nodes])


if __name__ == "__main__":
    main()
