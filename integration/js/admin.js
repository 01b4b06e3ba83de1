// Topic administration and offset look-ups with kafkajs' admin client.
// stdin: {"brokers": [...], "topic": new topic, "doomed": topic to create
//         and delete, "offsetsTopic": existing topic, "timestamp": ms}
// stdout: one JSON line per step: {"step": name, ...what kafkajs returned}.
'use strict'
const { ConfigResourceTypes } = require('kafkajs')
const { readInput, out, kafka, run } = require('./common')

run(async () => {
  const cfg = readInput()
  const admin = kafka(cfg, 'kafkad-compat-admin').admin()
  await admin.connect()
  const created = await admin.createTopics({
    waitForLeaders: true,
    topics: [
      { topic: cfg.topic, numPartitions: 4, replicationFactor: 1, configEntries: [{ name: 'retention.ms', value: '3600000' }] },
      { topic: cfg.doomed, numPartitions: 1, replicationFactor: 1 },
    ],
  })
  out({ step: 'createTopics', created })
  out({ step: 'createTopics again', created: await admin.createTopics({ topics: [{ topic: cfg.topic, numPartitions: 4 }] }) })
  const all = await admin.listTopics()
  out({ step: 'listTopics', topics: all.filter((t) => t === cfg.topic || t === cfg.doomed).sort() })
  const md = await admin.fetchTopicMetadata({ topics: [cfg.topic] })
  out({
    step: 'fetchTopicMetadata',
    topics: md.topics.map((t) => ({
      name: t.name,
      partitions: t.partitions
        .map((p) => ({ partition: p.partitionId, leader: p.leader, replicas: p.replicas, isr: p.isr, error: p.partitionErrorCode }))
        .sort((a, b) => a.partition - b.partition),
    })),
  })
  const cr = await admin.describeConfigs({
    includeSynonyms: false,
    resources: [{ type: ConfigResourceTypes.TOPIC, name: cfg.topic, configNames: ['retention.ms', 'cleanup.policy'] }],
  })
  const entries = {}
  for (const e of cr.resources[0].configEntries) entries[e.configName] = e.configValue
  out({ step: 'describeConfigs', errorCode: cr.resources[0].errorCode, entries })
  await admin.createPartitions({ topicPartitions: [{ topic: cfg.topic, count: 6 }] })
  const md2 = await admin.fetchTopicMetadata({ topics: [cfg.topic] })
  out({ step: 'createPartitions', partitions: md2.topics[0].partitions.length })
  await admin.deleteTopics({ topics: [cfg.doomed], timeout: 10000 })
  out({ step: 'deleteTopics', topics: (await admin.listTopics()).filter((t) => t === cfg.topic || t === cfg.doomed).sort() })

  const offs = await admin.fetchTopicOffsets(cfg.offsetsTopic)
  out({
    step: 'fetchTopicOffsets',
    partitions: offs
      .map((p) => ({ partition: p.partition, low: Number(p.low), high: Number(p.high), offset: Number(p.offset) }))
      .sort((a, b) => a.partition - b.partition),
  })
  const byTime = await admin.fetchTopicOffsetsByTimestamp(cfg.offsetsTopic, cfg.timestamp)
  out({
    step: 'fetchTopicOffsetsByTimestamp',
    partitions: byTime.map((p) => ({ partition: p.partition, offset: Number(p.offset) })).sort((a, b) => a.partition - b.partition),
  })
  const cl = await admin.describeCluster()
  out({ step: 'describeCluster', clusterId: cl.clusterId, controller: cl.controller, brokers: cl.brokers.map((b) => [b.nodeId, b.host, b.port]) })
  await admin.disconnect()
})
