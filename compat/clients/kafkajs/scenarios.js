// Compat scenarios 1-8 for KafkaJS (pure JavaScript). KafkaJS ships gzip only; snappy comes from
// kafkajs-snappy, lz4 (KIP-57 frames) from lz4-napi and zstd from zstd-napi, plugged in as KafkaJS codecs.
//
//   node scenarios.js SCENARIO        SCENARIO: 1 2 3 4a 4b 5 6 7 8   (4b runs after a broker restart)
//
// The last stdout line is "pass|fail|unsupported<TAB>detail"; logs go to stderr. Environment: BOOTSTRAP
// (host:port), DATA_DIR (the broker's log.dirs: the stored batches are checked for codec, producer id and
// sequence). KafkaJS has no assign(): every consumer here is a group member (subscribe + run).
'use strict'
process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'
const fs = require('fs')
const path = require('path')
const { Kafka, CompressionTypes, CompressionCodecs, ConfigResourceTypes, logLevel } = require('kafkajs')
const SnappyCodec = require('kafkajs-snappy')
const lz4 = require('lz4-napi')
const zstd = require('zstd-napi')

CompressionCodecs[CompressionTypes.Snappy] = SnappyCodec
CompressionCodecs[CompressionTypes.LZ4] = () => ({
  compress: async encoder => lz4.compressFrameSync(encoder.buffer),
  decompress: async buffer => lz4.decompressFrameSync(buffer),
})
CompressionCodecs[CompressionTypes.ZSTD] = () => ({
  compress: async encoder => zstd.compress(encoder.buffer),
  decompress: async buffer => zstd.decompress(buffer),
})

const BOOTSTRAP = process.env.BOOTSTRAP
const DATA_DIR = process.env.DATA_DIR
const TIMEOUT = 15000
const CODEC_IDS = { gzip: 1, snappy: 2, lz4: 3, zstd: 4 }
const CODECS = { gzip: CompressionTypes.GZIP, snappy: CompressionTypes.Snappy, lz4: CompressionTypes.LZ4, zstd: CompressionTypes.ZSTD }

class Fail extends Error {}
const problems = []
const log = (...a) => process.stderr.write('[scenario] ' + a.map(x => (typeof x === 'string' ? x : JSON.stringify(x))).join(' ') + '\n')
const check = (ok, what) => { if (!ok) throw new Fail(what) }
const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))
const describe = e => (e instanceof Fail ? e.message : `${e.name || 'Error'}: ${e.message}${e.type ? ` (${e.type})` : ''}${e.cause ? ` <- ${describe(e.cause)}` : ''}`)
const eq = (a, b) => JSON.stringify(a) === JSON.stringify(b)
const range = (a, b) => Array.from({ length: b - a }, (_, i) => a + i)

async function waitUntil (cond, ms, what, step = 100) {
  const deadline = Date.now() + ms
  for (;;) {
    if (await cond()) return
    if (Date.now() > deadline) throw new Fail(`timed out after ${ms / 1000}s waiting for ${what}`)
    await sleep(step)
  }
}

// Kafka's log: stderr, one line per entry (stdout carries the result line only).
const logCreator = () => ({ namespace, level, label, log: entry }) => {
  const { message, ...extra } = entry
  process.stderr.write(`[kafkajs ${label} ${namespace}] ${message} ${JSON.stringify(extra)}\n`)
}
const kafka = new Kafka({
  clientId: 'odradek-compat',
  brokers: [BOOTSTRAP],
  logLevel: logLevel.WARN,
  logCreator,
  connectionTimeout: 5000,
  requestTimeout: 10000,
  retry: { retries: 3, initialRetryTime: 100, maxRetryTime: 1000 },
})

async function withAdmin (fn) {
  const admin = kafka.admin()
  await admin.connect()
  try { return await fn(admin) } finally { await admin.disconnect() }
}

async function createTopic (topic, numPartitions, configEntries = []) {
  return withAdmin(admin => admin.createTopics({ topics: [{ topic, numPartitions, replicationFactor: 1, configEntries }], waitForLeaders: true }))
}

// The record batches of a partition as the broker stored them (Kafka's segment format).
function storedBatches (topic, partition) {
  const dir = path.join(DATA_DIR, `${topic}-${partition}`)
  const out = []
  for (const name of fs.readdirSync(dir).filter(n => n.endsWith('.log')).sort()) {
    const buf = fs.readFileSync(path.join(dir, name))
    let pos = 0
    while (pos + 61 <= buf.length) {
      const base = Number(buf.readBigInt64BE(pos))
      const len = buf.readInt32BE(pos + 8)
      if (len <= 0 || pos + 12 + len > buf.length) break
      const magic = buf[pos + 16]
      check(magic === 2, `stored batch at offset ${base} of ${topic}-${partition} has magic ${magic}`)
      const attrs = buf.readInt16BE(pos + 21)
      out.push({
        baseOffset: base,
        lastOffsetDelta: buf.readInt32BE(pos + 23),
        codec: attrs & 7,
        producerId: Number(buf.readBigInt64BE(pos + 43)),
        producerEpoch: buf.readInt16BE(pos + 51),
        baseSequence: buf.readInt32BE(pos + 53),
      })
      pos += 12 + len
    }
  }
  return out
}

// Sends records (each with its partition set, or a key) in one send() call and returns the offset of
// each record: KafkaJS answers one base offset per partition, records follow in order.
async function sendAll (producer, topic, messages, extra = {}) {
  const md = await producer.send({ topic, messages, acks: -1, timeout: TIMEOUT, ...extra })
  return md
}

function offsetsOf (messages, metadata, partitionOf) {
  const base = {}
  for (const m of metadata) { check(m.errorCode === 0, `produce error ${m.errorCode} on partition ${m.partition}`); base[m.partition] = Number(m.baseOffset) }
  const next = {}
  return messages.map(msg => {
    const p = partitionOf(msg)
    check(base[p] !== undefined, `no produce result for partition ${p}`)
    next[p] = (next[p] === undefined ? 0 : next[p] + 1)
    return { partition: p, offset: base[p] + next[p] }
  })
}

// A group consumer reading the given partitions from the start (or committed offsets) until `n`
// records arrived (then `extraMs` more), returning them sorted by (partition, offset).
async function consumeN (topic, n, { groupId, extraMs = 500, timeoutMs = TIMEOUT, fromBeginning = true, readUncommitted = false, seek } = {}) {
  const consumer = kafka.consumer({ groupId: groupId || `kjs-read-${process.pid}-${Math.random()}`, readUncommitted, maxWaitTimeInMs: 200, sessionTimeout: 6000, heartbeatInterval: 500, rebalanceTimeout: 10000 })
  await consumer.connect()
  const got = []
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning })
    await consumer.run({ autoCommit: false, eachMessage: async ({ partition, message }) => { got.push({ partition, ...message, offset: Number(message.offset) }) } })
    if (seek) for (const s of seek) consumer.seek({ topic, partition: s.partition, offset: String(s.offset) })
    await waitUntil(() => got.length >= n, timeoutMs, `${n} records from ${topic} (have ${got.length})`, 50)
    await sleep(extraMs)
  } finally {
    await consumer.disconnect()
  }
  return got.sort((a, b) => a.partition - b.partition || a.offset - b.offset)
}

// ------------------------------------------------------------------ 1 metadata and topic admin

async function s1 () {
  const topic = 'kjs-admin'
  return withAdmin(async admin => {
    const cl = await admin.describeCluster()
    check(eq(cl.brokers.map(b => [b.nodeId, `${b.host}:${b.port}`]), [[0, BOOTSTRAP]]), `describeCluster brokers ${JSON.stringify(cl.brokers)}, want node 0 at ${BOOTSTRAP}`)
    check(cl.controller === 0, `controller ${cl.controller}`)
    const created = await admin.createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 1, configEntries: [{ name: 'retention.ms', value: '3600000' }, { name: 'max.message.bytes', value: '500000' }] }], waitForLeaders: true })
    check(created === true, `createTopics returned ${created}`)
    const again = await admin.createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 1 }] })
    check(again === false, `creating the topic twice: createTopics returned ${again}, want false (already exists)`)
    const names = await admin.listTopics()
    check(names.includes(topic), `listTopics: ${topic} missing from ${names}`)
    check(!names.some(n => n.startsWith('__')), `listTopics lists internal topics: ${names}`)
    const md = await admin.fetchTopicMetadata({ topics: [topic] })
    check(md.topics.length === 1 && md.topics[0].name === topic, `fetchTopicMetadata ${JSON.stringify(md)}`)
    const parts = md.topics[0].partitions.sort((a, b) => a.partitionId - b.partitionId)
    check(eq(parts.map(p => p.partitionId), [0, 1, 2]), `partitions ${JSON.stringify(parts)}`)
    for (const p of parts) {
      check(p.partitionErrorCode === 0 && p.leader === 0 && eq(p.replicas, [0]) && eq(p.isr, [0]), `partition ${JSON.stringify(p)}`)
    }
    try {
      const dc = await admin.describeConfigs({ resources: [{ type: ConfigResourceTypes.TOPIC, name: topic }], includeSynonyms: false })
      const res = dc.resources[0]
      check(res.errorCode === 0, `describeConfigs error ${res.errorCode} ${res.errorMessage}`)
      const cfg = Object.fromEntries(res.configEntries.map(e => [e.configName, e]))
      check(cfg['retention.ms'] && cfg['retention.ms'].configValue === '3600000', `retention.ms ${JSON.stringify(cfg['retention.ms'])}`)
      check(cfg['max.message.bytes'] && cfg['max.message.bytes'].configValue === '500000', `max.message.bytes ${JSON.stringify(cfg['max.message.bytes'])}`)
      check(cfg['cleanup.policy'] && cfg['cleanup.policy'].configValue === 'delete' && cfg['cleanup.policy'].isDefault, `cleanup.policy ${JSON.stringify(cfg['cleanup.policy'])}`)
    } catch (e) {
      problems.push(`describeConfigs(topic ${topic}): ${describe(e)}`)
    }
    await admin.deleteTopics({ topics: [topic], timeout: TIMEOUT })
    await waitUntil(async () => !(await admin.listTopics()).includes(topic), 10000, `${topic} to disappear from listTopics`)
    try {
      await admin.deleteTopics({ topics: [topic], timeout: TIMEOUT })
      throw new Fail('deleting the deleted topic again succeeded')
    } catch (e) {
      if (e instanceof Fail) throw e
      const inner = (e.errors || [e])[0]
      const type = inner.type || (inner.cause && inner.cause.type) || e.type
      check(type === 'UNKNOWN_TOPIC_OR_PARTITION' || /UNKNOWN_TOPIC_OR_PARTITION|does not host this topic/i.test(describe(e)), `delete twice: want UNKNOWN_TOPIC_OR_PARTITION, got ${describe(e)}`)
    }
    return 'describeCluster, create (3 partitions, 2 configs), create twice, list, describe, describeConfigs, delete'
  })
}

// ------------------------------------------------------------------ 2 keyed produce, headers, timestamps

function rng (seed) { return () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed } }

async function s2 () {
  const topic = 'kjs-keyed'
  await createTopic(topic, 3)
  const rnd = rng(42)
  const base = Date.now() - 3600000
  const messages = []
  let n = 0
  for (let seq = 0; seq < 8; seq++) {
    for (let k = 0; k < 10; k++) {
      let value
      if (k === 3 && seq === 2) value = null
      else if (k === 4 && seq === 1) value = Buffer.alloc(0)
      else value = Buffer.concat([Buffer.from([seq]), Buffer.from(range(0, rnd() % 301).map(() => rnd() & 255))])
      messages.push({
        key: Buffer.from(`key-${k}`),
        value,
        // no null header value: KafkaJS's producer cannot encode one (Buffer.byteLength(null) throws)
        headers: { seq: Buffer.from(String(seq)), bin: Buffer.from([0, 1, 255, k]), empty: Buffer.alloc(0), dup: [Buffer.from('first'), Buffer.from('second')], 'ünï': Buffer.from('ü✓') },
        timestamp: String(base + (n++) * 7),
      })
    }
  }
  const producer = kafka.producer()
  await producer.connect()
  // one send() per record, awaited in order: KafkaJS reports per-partition base offsets only
  const sent = []
  for (const m of messages) {
    const md = await producer.send({ topic, messages: [m], acks: -1 })
    check(md.length === 1 && md[0].errorCode === 0, `produce result ${JSON.stringify(md)}`)
    check(md[0].logAppendTime === '-1', `produce logAppendTime ${md[0].logAppendTime}, want -1 (CreateTime)`)
    sent.push({ partition: md[0].partition, offset: Number(md[0].baseOffset), m })
  }
  await producer.disconnect()
  const byKey = {}
  for (const s of sent) (byKey[s.m.key] = byKey[s.m.key] || new Set()).add(s.partition)
  check(Object.values(byKey).every(s => s.size === 1), 'a key went to several partitions')
  check(new Set(Object.values(byKey).map(s => [...s][0])).size >= 2, 'all 10 keys went to one partition')
  for (const p of [0, 1, 2]) {
    const offs = sent.filter(s => s.partition === p).map(s => s.offset)
    check(eq(offs, range(0, offs.length)), `partition ${p}: offsets ${offs}, want 0..${offs.length - 1} in produce order`)
  }
  const got = await consumeN(topic, messages.length)
  check(got.length === messages.length, `consumed ${got.length} records, produced ${messages.length}`)
  const want = new Map(sent.map(s => [`${s.partition}/${s.offset}`, s.m]))
  const lastSeq = {}
  for (const g of got) {
    const where = `partition ${g.partition} offset ${g.offset}`
    const m = want.get(`${g.partition}/${g.offset}`)
    check(m, `unexpected record at ${where}`)
    check(g.key.equals(m.key), `${where}: key ${g.key}, want ${m.key}`)
    check(m.value === null ? g.value === null : (g.value !== null && g.value.equals(m.value)), `${where}: value ${g.value && g.value.toString('hex').slice(0, 40)}, want ${m.value && m.value.toString('hex').slice(0, 40)}`)
    const hs = h => JSON.stringify(Object.entries(h).map(([k, v]) => [k, Array.isArray(v) ? v.map(x => x && x.toString('hex')) : v && v.toString('hex')]))
    check(hs(g.headers) === hs(m.headers), `${where}: headers ${hs(g.headers)}, want ${hs(m.headers)}`)
    check(g.timestamp === m.timestamp, `${where}: timestamp ${g.timestamp}, want ${m.timestamp}`)
    const seq = Number(m.headers.seq)
    check((lastSeq[m.key] ?? -1) < seq, `key ${m.key}: seq ${seq} consumed after ${lastSeq[m.key]}`)
    lastSeq[m.key] = seq
  }
  return `${messages.length} records, 10 keys over 3 partitions; keys, values, 6 headers (incl. a duplicate key; the client cannot send a null header value), timestamps equal; per-key order kept`
}

// ------------------------------------------------------------------ 3 compression

async function s3 () {
  const done = []
  for (const codec of ['gzip', 'snappy', 'lz4', 'zstd']) {
    const topic = `kjs-${codec}`
    await createTopic(topic, 1)
    const messages = range(0, 200).map(i => ({
      key: Buffer.from(`k${i}`),
      value: Buffer.concat([Buffer.from(`${codec} record ${i} `.repeat(1 + i % 20)), Buffer.from([i % 256, 0, 255])]),
      partition: 0,
    }))
    const producer = kafka.producer()
    await producer.connect()
    const md = await sendAll(producer, topic, messages, { compression: CODECS[codec] })
    await producer.disconnect()
    check(md.length === 1 && md[0].baseOffset === '0', `${codec}: produce result ${JSON.stringify(md)}`)
    let got = await consumeN(topic, 200, { extraMs: 200 })
    check(eq(got.map(g => [g.offset, g.key.toString('hex'), g.value.toString('hex')]), messages.map((m, i) => [i, m.key.toString('hex'), m.value.toString('hex')])),
      `${codec}: consumed records differ from the produced ones`)
    // Start inside the compressed batch: the records before offset 150 must be skipped.
    got = await consumeN(topic, 50, { extraMs: 200, seek: [{ partition: 0, offset: 150 }] })
    check(eq(got.map(g => g.offset), range(150, 200)), `${codec}: from offset 150 got offsets ${got.map(g => g.offset).slice(0, 5)}...`)
    const batches = storedBatches(topic, 0)
    const codecs = [...new Set(batches.map(b => b.codec))]
    check(eq(codecs, [CODEC_IDS[codec]]), `${codec}: stored batches have codec ids ${codecs}, want ${CODEC_IDS[codec]} (did the client compress?)`)
    check(batches.length < 200, `${codec}: 200 records stored as ${batches.length} batches`)
    done.push(`${codec} (${batches.length} batches)`)
  }
  return 'produced, stored compressed and consumed back exactly (also from inside a batch): ' + done.join(', ')
}

// ------------------------------------------------------------------ 4 consumer group

const GROUP4 = 'kjs-group'
const TOPIC4 = 'kjs-group'

function member (name) {
  const consumer = kafka.consumer({ groupId: GROUP4, sessionTimeout: 6000, heartbeatInterval: 500, rebalanceTimeout: 10000, maxWaitTimeInMs: 200 })
  const m = { name, consumer, assigned: [], got: [], joins: 0 }
  consumer.on(consumer.events.GROUP_JOIN, e => {
    m.assigned = (e.payload.memberAssignment[TOPIC4] || []).slice().sort()
    m.joins++
    m.lastJoin = Date.now()
  })
  return m
}

async function s4a () {
  await createTopic(TOPIC4, 4)
  const ms = [member('c1'), member('c2')]
  for (const m of ms) {
    await m.consumer.connect()
    await m.consumer.subscribe({ topics: [TOPIC4], fromBeginning: true })
    await m.consumer.run({ autoCommit: false, eachMessage: async ({ partition, message }) => { m.got.push({ partition, offset: Number(message.offset), value: message.value.toString() }) } })
  }
  let last = ''
  let since = Date.now()
  await waitUntil(() => {
    const [a1, a2] = ms.map(m => m.assigned)
    const now = JSON.stringify([a1, a2])
    if (now !== last) { last = now; since = Date.now() }
    const all = [...a1, ...a2].sort()
    return a1.length && a2.length && eq(all, [0, 1, 2, 3]) && Date.now() - since > 1000
  }, 40000, 'both members to get disjoint partitions covering 0-3', 50)
  const [a1, a2] = ms.map(m => m.assigned.slice())
  log('assignment', a1, a2)
  const producer = kafka.producer()
  await producer.connect()
  await sendAll(producer, TOPIC4, range(0, 4).flatMap(p => range(0, 10).map(i => ({ partition: p, value: `p${p}-${i}` }))))
  await producer.disconnect()
  await waitUntil(() => ms[0].got.length + ms[1].got.length >= 40, 20000, '40 records between the two members', 50)
  await sleep(500)
  check(ms[0].got.length + ms[1].got.length === 40, `members got ${ms[0].got.length} + ${ms[1].got.length} records, want 40`)
  check(eq(ms.map(m => m.assigned), [a1, a2]), `assignment changed while consuming: ${JSON.stringify(ms.map(m => m.assigned))}`)
  const seen = new Set()
  for (const m of ms) {
    for (const r of m.got) {
      check(m.assigned.includes(r.partition), `${m.name} got a record of partition ${r.partition}, assigned ${m.assigned}`)
      check(r.value === `p${r.partition}-${r.offset}`, `partition ${r.partition} offset ${r.offset}: ${r.value}`)
      check(!seen.has(`${r.partition}/${r.offset}`), `record ${r.partition}/${r.offset} delivered twice`)
      seen.add(`${r.partition}/${r.offset}`)
    }
    await m.consumer.commitOffsets(m.assigned.map(p => ({ topic: TOPIC4, partition: p, offset: String(Math.max(...m.got.filter(r => r.partition === p).map(r => r.offset)) + 1) })))
  }
  for (const m of ms) await m.consumer.disconnect()
  const committed = await withAdmin(admin => admin.fetchOffsets({ groupId: GROUP4, topics: [TOPIC4] }))
  const com = committed[0].partitions.sort((a, b) => a.partition - b.partition).map(p => Number(p.offset))
  check(eq(com, [10, 10, 10, 10]), `committed offsets ${com}, want [10,10,10,10]`)
  return `split ${JSON.stringify(a1)}/${JSON.stringify(a2)}; 40 records once each; committed 10 x 4`
}

async function s4b () {
  const producer = kafka.producer()
  await producer.connect()
  await sendAll(producer, TOPIC4, range(0, 4).flatMap(p => range(10, 15).map(i => ({ partition: p, value: `p${p}-${i}` }))))
  await producer.disconnect()
  const committed = await withAdmin(admin => admin.fetchOffsets({ groupId: GROUP4, topics: [TOPIC4] }))
  const com = committed[0].partitions.sort((a, b) => a.partition - b.partition).map(p => Number(p.offset))
  check(eq(com, [10, 10, 10, 10]), `after restart: committed offsets ${com}, want [10,10,10,10]`)
  const got = await consumeN(TOPIC4, 20, { groupId: GROUP4, timeoutMs: 30000, extraMs: 1000 })
  const want = range(0, 4).flatMap(p => range(10, 15).map(i => [p, i, `p${p}-${i}`]))
  check(eq(got.map(g => [g.partition, g.offset, g.value.toString()]), want), `after restart the group resumed with ${JSON.stringify(got.map(g => [g.partition, g.offset]).slice(0, 8))}..., want offsets 10-14 of each partition`)
  return 'split 2+2 partitions, every record once, commit, broker restart, resumed at the committed offsets'
}

// ------------------------------------------------------------------ 5 seek, offsets for times, lag

async function s5 () {
  const topic = 'kjs-offsets'
  const group = 'kjs-lag'
  await createTopic(topic, 1)
  const t0 = Date.now() - 600000
  const producer = kafka.producer()
  await producer.connect()
  await sendAll(producer, topic, range(0, 10).map(i => ({ partition: 0, value: `v${i}`, timestamp: String(t0 + i * 1000) })))
  await producer.disconnect()
  return withAdmin(async admin => {
    const offs = await admin.fetchTopicOffsets(topic)
    check(eq(offs.map(o => [o.partition, o.low, o.high]), [[0, '0', '10']]), `fetchTopicOffsets ${JSON.stringify(offs)}, want low 0 high 10`)
    for (const [ts, want] of [[t0, '0'], [t0 + 3500, '4'], [t0 + 9000, '9'], [t0 - 100000, '0'], [t0 + 3600000, '10']]) {
      const r = await admin.fetchTopicOffsetsByTimestamp(topic, ts)
      // KafkaJS maps "no record at or after the time" (-1) to the high watermark
      check(eq(r, [{ partition: 0, offset: want }]), `fetchTopicOffsetsByTimestamp(${ts - t0 >= 0 ? '+' : ''}${ts - t0} ms from the first record) = ${JSON.stringify(r)}, want offset ${want}`)
    }
    // seek: a group member positioned at 7
    let got = await consumeN(topic, 3, { seek: [{ partition: 0, offset: 7 }], extraMs: 300 })
    check(eq(got.map(g => [g.offset, g.value.toString()]), [[7, 'v7'], [8, 'v8'], [9, 'v9']]), `after seek(7): ${JSON.stringify(got.map(g => [g.offset, g.value.toString()]))}`)
    got = await consumeN(topic, 8, { seek: [{ partition: 0, offset: 2 }], extraMs: 300 })
    check(eq(got.map(g => g.offset), range(2, 10)), `after seek(2): ${got.map(g => g.offset)}`)
    // lag: commit 6 for a group, then committed vs end offset
    await admin.setOffsets({ groupId: group, topic, partitions: [{ partition: 0, offset: '6' }] })
    const c = await admin.fetchOffsets({ groupId: group, topics: [topic] })
    const com = Number(c[0].partitions[0].offset)
    check(com === 6, `committed ${com}, want 6`)
    const lag = Number((await admin.fetchTopicOffsets(topic))[0].high) - com
    check(lag === 4, `lag ${lag}`)
    // a member of that group resumes at 6
    got = await consumeN(topic, 4, { groupId: group, extraMs: 300 })
    check(eq(got.map(g => g.offset), [6, 7, 8, 9]), `group resumed at ${got.map(g => g.offset)}, want 6..9`)
    return 'fetchTopicOffsets (0,10); fetchTopicOffsetsByTimestamp exact (incl. before first / after last); seek; setOffsets 6 -> lag 4 -> resumed at 6'
  })
}

// ------------------------------------------------------------------ 6 idempotent producer

async function s6 () {
  const topic = 'kjs-idempotent'
  await createTopic(topic, 2)
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  const messages = range(0, 400).map(i => ({ partition: i % 2, value: `idem-${i}` }))
  for (let i = 0; i < 400; i += 20) {
    await sendAll(producer, topic, messages.slice(i, i + 20))
  }
  await producer.disconnect()
  const got = await consumeN(topic, 400)
  for (const p of [0, 1]) {
    const vals = got.filter(g => g.partition === p).map(g => g.value.toString())
    const want = messages.filter(m => m.partition === p).map(m => m.value)
    check(eq(vals, want), `partition ${p}: ${vals.length} records consumed (want ${want.length} in order, no duplicate)`)
    check(eq(got.filter(g => g.partition === p).map(g => g.offset), range(0, 200)), `partition ${p}: offsets not 0..199`)
    const batches = storedBatches(topic, p)
    const pids = [...new Set(batches.map(b => `${b.producerId}/${b.producerEpoch}`))]
    check(pids.length === 1 && batches[0].producerId >= 0, `partition ${p}: stored producer ids/epochs ${pids}`)
    let expect = 0
    for (const b of batches) {
      check(b.baseSequence === expect, `partition ${p}: batch at offset ${b.baseOffset} has sequence ${b.baseSequence}, want ${expect}`)
      expect += b.lastOffsetDelta + 1
    }
  }
  return `400 records in ${storedBatches(topic, 0).length + storedBatches(topic, 1).length} batches, one producer id, sequences contiguous, no duplicates`
}

// ------------------------------------------------------------------ 7 transactions

async function step (what, promise) {
  let timer
  try {
    return await Promise.race([promise, new Promise((resolve, reject) => { timer = setTimeout(() => reject(new Fail(`${what}: no answer within ${TIMEOUT / 1000}s`)), TIMEOUT) })])
  } catch (e) {
    if (e instanceof Fail) throw e
    throw new Fail(`${what}: ${describe(e)}`)
  } finally {
    clearTimeout(timer)
  }
}

async function s7 () {
  const topic = 'kjs-txn'
  await createTopic(topic, 1)
  const producer = kafka.producer({ transactionalId: 'kjs-txn-1', maxInFlightRequests: 1, idempotent: true, transactionTimeout: 30000 })
  await step('connect', producer.connect())
  try {
    let txn = await step('transaction() (InitProducerId)', producer.transaction())
    await step('send', txn.send({ topic, messages: range(0, 5).map(i => ({ partition: 0, value: `commit-${i}` })) }))
    await step('commit', txn.commit())
    txn = await step('transaction()', producer.transaction())
    await step('send', txn.send({ topic, messages: range(0, 5).map(i => ({ partition: 0, value: `abort-${i}` })) }))
    await step('abort', txn.abort())
    txn = await step('transaction()', producer.transaction())
    await step('send', txn.send({ topic, messages: [{ partition: 0, value: 'after' }] }))
    await step('commit', txn.commit())
  } finally {
    await producer.disconnect()
  }
  const rc = await consumeN(topic, 6, { extraMs: 1000 })
  const want = [...range(0, 5).map(i => [i, `commit-${i}`]), [12, 'after']]
  check(eq(rc.map(g => [g.offset, g.value.toString()]), want), `read_committed got ${JSON.stringify(rc.map(g => [g.offset, g.value.toString()]))}, want ${JSON.stringify(want)}`)
  const ru = await consumeN(topic, 11, { extraMs: 1000, readUncommitted: true })
  check(eq(ru.map(g => g.value.toString()), [...range(0, 5).map(i => `commit-${i}`), ...range(0, 5).map(i => `abort-${i}`), 'after']), `read_uncommitted got ${ru.map(g => g.value.toString())}`)
  const hi = await withAdmin(admin => admin.fetchTopicOffsets(topic))
  check(hi[0].high === '14', `high watermark ${hi[0].high}, want 14 (11 records + 3 control markers)`)
  return 'commit + abort; read_committed sees only committed records; control markers at the expected offsets'
}

// ------------------------------------------------------------------ 8 error paths

async function s8 () {
  const missing = 'kjs-missing'
  await withAdmin(async admin => {
    try {
      await admin.fetchTopicMetadata({ topics: [missing] })
      throw new Fail('fetchTopicMetadata of a missing topic succeeded with auto.create.topics.enable=false')
    } catch (e) {
      if (e instanceof Fail) throw e
      check(e.type === 'UNKNOWN_TOPIC_OR_PARTITION', `metadata for a missing topic: want UNKNOWN_TOPIC_OR_PARTITION, got ${describe(e)}`)
    }
  })
  const producer = kafka.producer({ retry: { retries: 2, initialRetryTime: 100 } })
  await producer.connect()
  try {
    await producer.send({ topic: missing, messages: [{ value: 'x' }] })
    throw new Fail('producing to a missing topic succeeded with auto.create.topics.enable=false')
  } catch (e) {
    if (e instanceof Fail) throw e
    check(/UNKNOWN_TOPIC_OR_PARTITION|does not host this topic-partition/i.test(describe(e)) || e.type === 'UNKNOWN_TOPIC_OR_PARTITION', `produce to a missing topic: ${describe(e)}`)
    log('produce to missing topic:', describe(e))
  }
  check(!(await withAdmin(admin => admin.listTopics())).includes(missing), 'the missing topic was created anyway')

  const topic = 'kjs-range'
  await createTopic(topic, 1)
  await sendAll(producer, topic, range(0, 5).map(i => ({ partition: 0, value: `r${i}` })))

  // earliest (fromBeginning: true) from offset 100 of 5
  let got = await consumeN(topic, 5, { seek: [{ partition: 0, offset: 100 }], extraMs: 200 })
  check(eq(got.map(g => g.offset), [0, 1, 2, 3, 4]), `earliest: offsets ${got.map(g => g.offset)}`)

  // latest (fromBeginning: false) from offset 100 of 5: nothing until a new record arrives
  const consumer = kafka.consumer({ groupId: `kjs-latest-${process.pid}`, maxWaitTimeInMs: 200, sessionTimeout: 6000, heartbeatInterval: 500 })
  got = []
  let joined = false
  consumer.on(consumer.events.GROUP_JOIN, () => { joined = true })
  await consumer.connect()
  await consumer.subscribe({ topics: [topic], fromBeginning: false })
  await consumer.run({ autoCommit: false, eachMessage: async ({ message }) => { got.push([Number(message.offset), message.value.toString()]) } })
  consumer.seek({ topic, partition: 0, offset: '100' })
  await waitUntil(() => joined, TIMEOUT, 'the latest-reset consumer to join')
  await sleep(2000)
  check(got.length === 0, `latest: got ${JSON.stringify(got)} before producing`)
  await sendAll(producer, topic, [{ partition: 0, value: 'after-reset' }])
  await waitUntil(() => got.length >= 1, TIMEOUT, 'the record produced after the reset')
  await sleep(200)
  await consumer.disconnect()
  await producer.disconnect()
  check(eq(got, [[5, 'after-reset']]), `latest: got ${JSON.stringify(got)}`)
  return 'missing topic: UNKNOWN_TOPIC_OR_PARTITION in metadata and produce, not created; offset 100 of 5: earliest and latest reset right; none/error: not offered by KafkaJS (it always resets, per fromBeginning)'
}

const SCENARIOS = { 1: s1, 2: s2, 3: s3, '4a': s4a, '4b': s4b, 5: s5, 6: s6, 7: s7, 8: s8 }

async function main () {
  let status, detail
  const guard = setTimeout(() => {
    process.stdout.write(`fail\t${[...problems, 'the scenario did not finish within 80 s'].join('; ')}\n`)
    process.exit(0)
  }, 80000)
  try {
    detail = await SCENARIOS[process.argv[2]]()
    status = problems.length ? 'fail' : 'pass'
    if (problems.length) detail = problems.join('; ')
  } catch (e) {
    process.stderr.write(`${e.stack}\n`)
    status = 'fail'
    detail = [...problems, describe(e)].join('; ')
  }
  clearTimeout(guard)
  process.stdout.write(`${status}\t${String(detail).replace(/[\t\r\n]+/g, ' ')}\n`)
  process.exit(0)
}
main()
