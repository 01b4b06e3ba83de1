// Consume as a kafkajs consumer group member, committing offsets by hand.
// stdin: {"brokers": [...], "topic": "...", "group": "...", "max": n, "expect": n}
//   max: take n records, pause, commit (last offset + 1) per partition;
//   expect: take records until n came, then wait a little for any extra one,
//           and commit likewise.
// stdout: {"partition", "offset", "key", "value", "headers", "timestamp"} per
//   record, then {"committed": {"p": offset}} as admin.fetchOffsets reads it.
'use strict'
const { readInput, out, kafka, headersOut, run } = require('./common')

run(async () => {
  const cfg = readInput()
  const k = kafka(cfg, 'kafkad-compat-consumer')
  const consumer = k.consumer({ groupId: cfg.group, sessionTimeout: 10000, heartbeatInterval: 500, maxWaitTimeInMs: 100 })
  await consumer.connect()
  await consumer.subscribe({ topics: [cfg.topic], fromBeginning: true })
  const limit = cfg.max || cfg.expect
  const next = {}
  let n = 0
  let reached
  const done = new Promise((resolve) => { reached = resolve })
  await consumer.run({
    autoCommit: false,
    eachMessage: async ({ topic, partition, message }) => {
      if (cfg.max && n >= cfg.max) return
      n++
      next[partition] = Number(message.offset) + 1
      out({
        partition, offset: Number(message.offset),
        key: message.key === null ? null : message.key.toString(),
        value: message.value === null ? null : message.value.toString(),
        headers: headersOut(message.headers), timestamp: Number(message.timestamp),
      })
      if (n === limit) {
        if (cfg.max) consumer.pause([{ topic }])
        reached()
      }
    },
  })
  const timer = setTimeout(() => { throw new Error(`timed out with ${n} records`) }, (cfg.timeout || 40) * 1000)
  await done
  clearTimeout(timer)
  if (!cfg.max) await new Promise((r) => setTimeout(r, 1000)) // anything beyond expect shows up
  await consumer.commitOffsets(Object.entries(next).map(([p, o]) => ({ topic: cfg.topic, partition: Number(p), offset: String(o) })))
  await consumer.disconnect()

  const admin = k.admin()
  await admin.connect()
  const res = await admin.fetchOffsets({ groupId: cfg.group, topics: [cfg.topic] })
  const committed = {}
  for (const p of res[0].partitions) committed[p.partition] = Number(p.offset)
  out({ committed })
  await admin.disconnect()
})
