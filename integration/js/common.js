// Shared by the kafkajs scripts: reading the JSON request from stdin,
// printing JSON lines to stdout, and a client whose log goes to stderr
// (level from KAFKAJS_LOG_LEVEL: NOTHING, ERROR, WARN, INFO, DEBUG).
'use strict'
process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'
const { Kafka, logLevel } = require('kafkajs')

function readInput() {
  return JSON.parse(require('fs').readFileSync(0, 'utf8'))
}

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

function stderrLog() {
  return ({ namespace, level, label, log }) => {
    const { message, ...extra } = log
    process.stderr.write(`${label} [${namespace}] ${message} ${JSON.stringify(extra)}\n`)
  }
}

function kafka(cfg, clientId) {
  return new Kafka({
    clientId,
    brokers: cfg.brokers,
    connectionTimeout: 5000,
    requestTimeout: 10000,
    retry: { retries: 3, initialRetryTime: 100 },
    logLevel: logLevel[process.env.KAFKAJS_LOG_LEVEL || 'WARN'],
    logCreator: stderrLog,
  })
}

// headersOut turns kafkajs headers ({name: Buffer | Buffer[]}) into
// [[name, value], ...] in wire order.
function headersOut(headers) {
  const res = []
  for (const [k, v] of Object.entries(headers || {})) {
    for (const x of Array.isArray(v) ? v : [v]) res.push([k, x === null || x === undefined ? null : x.toString()])
  }
  return res
}

// headersIn turns [[name, value], ...] into kafkajs headers; a repeated
// name becomes an array, which kafkajs writes as repeated headers.
function headersIn(list) {
  const h = {}
  for (const [k, v] of list || []) {
    if (k in h) h[k] = [].concat(h[k], v)
    else h[k] = v
  }
  return h
}

function run(main) {
  main().then(
    () => process.exit(0),
    (e) => {
      process.stderr.write(`${e && e.stack ? e.stack : e}\n`)
      process.exit(1)
    })
}

module.exports = { readInput, out, kafka, headersIn, headersOut, run }
