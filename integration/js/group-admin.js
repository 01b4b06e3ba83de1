// Group offsets through kafkajs' admin client.
// stdin: {"brokers": [...], "topic": "...", "group": "...", "set": {"p": offset}}
// stdout: {"fetchOffsets": {"p": offset}} as committed before, then
//   setOffsets(set), then {"fetchOffsets after set": {...}} and
//   {"listGroups": [group ids]}, {"describeGroups": {"state", "protocolType"}}.
'use strict'
const { readInput, out, kafka, run } = require('./common')

run(async () => {
  const cfg = readInput()
  const admin = kafka(cfg, 'kafkad-compat-admin').admin()
  await admin.connect()
  const fetch = async () => {
    const res = await admin.fetchOffsets({ groupId: cfg.group, topics: [cfg.topic] })
    const m = {}
    for (const p of res[0].partitions) m[p.partition] = Number(p.offset)
    return m
  }
  out({ fetchOffsets: await fetch() })
  await admin.setOffsets({
    groupId: cfg.group, topic: cfg.topic,
    partitions: Object.entries(cfg.set).map(([p, o]) => ({ partition: Number(p), offset: String(o) })),
  })
  out({ 'fetchOffsets after set': await fetch() })
  const { groups } = await admin.listGroups()
  out({ listGroups: groups.map((g) => g.groupId).filter((g) => g === cfg.group) })
  const d = await admin.describeGroups([cfg.group])
  out({ describeGroups: { state: d.groups[0].state, errorCode: d.groups[0].errorCode } })
  await admin.disconnect()
})
