// Produce with kafkajs' idempotent producer, acks=-1, in sequential sends.
// stdin: {"brokers": [...], "topic": "...", "compression": "none"|"gzip",
//         "chunk": records per send,
//         "records": [{"key", "value", "headers": [[name, value]], "partition"}]}
// stdout: per send and partition {"send": n, "partition": p, "baseOffset": o}.
'use strict'
const { CompressionTypes } = require('kafkajs')
const { readInput, out, kafka, headersIn, run } = require('./common')

run(async () => {
  const cfg = readInput()
  const producer = kafka(cfg, 'kafkad-compat-producer').producer({ idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  const compression = cfg.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None
  const chunk = cfg.chunk || cfg.records.length
  for (let i = 0, send = 0; i < cfg.records.length; i += chunk, send++) {
    const messages = cfg.records.slice(i, i + chunk).map((r) => {
      const m = { key: r.key, value: r.value, headers: headersIn(r.headers) }
      if (r.partition !== null && r.partition !== undefined) m.partition = r.partition
      return m
    })
    const res = await producer.send({ topic: cfg.topic, acks: -1, compression, messages })
    for (const md of res) {
      if (md.errorCode !== 0) throw new Error(`send ${send}: ${JSON.stringify(md)}`)
      out({ send, partition: md.partition, baseOffset: Number(md.baseOffset) })
    }
  }
  await producer.disconnect()
})
