// Compat scenarios 1-8 for @platformatic/kafka (pure JavaScript, ESM; newest protocol versions, Fetch v17
// with topic ids). Codecs are built in: gzip and zstd from node:zlib (zstd only on Node >= 22.15), snappy
// and lz4 from its WebAssembly helpers.
//
//   node scenarios.mjs SCENARIO        SCENARIO: 1 2 3 4a 4b 5 6 7 8   (4b runs after a broker restart)
//
// The last stdout line is "pass|fail|unsupported<TAB>detail"; logs go to stderr. Environment: BOOTSTRAP,
// DATA_DIR (the broker's log.dirs, to check the stored batches), NODE_DIR (where run.sh installed the client).
import fs from 'node:fs'
import path from 'node:path'
import zlib from 'node:zlib'
import { pathToFileURL } from 'node:url'

const K = await import(pathToFileURL(path.join(process.env.NODE_DIR, 'node_modules/@platformatic/kafka/dist/index.js')))
const { Admin, Producer, Consumer, FetchIsolationLevels, ConfigResourceTypes } = K

const BOOTSTRAP = process.env.BOOTSTRAP
const DATA_DIR = process.env.DATA_DIR
const TIMEOUT = 15000
const CODEC_IDS = { gzip: 1, snappy: 2, lz4: 3, zstd: 4 }
const base = { clientId: 'odradek-compat', bootstrapBrokers: [BOOTSTRAP], retries: 2, retryDelay: 200, timeout: 10000 }

class Fail extends Error {}
const problems = []
const log = (...a) => process.stderr.write('[scenario] ' + a.map(x => (typeof x === 'string' ? x : json(x))).join(' ') + '\n')
const json = x => JSON.stringify(x, (k, v) => (typeof v === 'bigint' ? v.toString() : v))
const check = (ok, what) => { if (!ok) throw new Fail(what) }
const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))
const describe = e => {
  if (e instanceof Fail) return e.message
  const inner = e.errors && e.errors.length ? ` [${e.errors.map(x => describe(x)).join('; ')}]` : ''
  return `${e.name || 'Error'}: ${e.message}${inner}${e.cause && !inner ? ` <- ${describe(e.cause)}` : ''}`
}
const eq = (a, b) => json(a) === json(b)
const range = (a, b) => Array.from({ length: b - a }, (_, i) => a + i)
const B = s => Buffer.from(s)

async function waitUntil (cond, ms, what, step = 50) {
  const deadline = Date.now() + ms
  for (;;) {
    if (await cond()) return
    if (Date.now() > deadline) throw new Fail(`timed out after ${ms / 1000}s waiting for ${what}`)
    await sleep(step)
  }
}

async function withAdmin (fn) {
  const admin = new Admin(base)
  try { return await fn(admin) } finally { await admin.close() }
}

const createTopic = (topic, partitions, configs = []) => withAdmin(a => a.createTopics({ topics: [topic], partitions, replicas: 1, configs }))

async function produce (messages, opts = {}, producerOpts = {}) {
  const p = new Producer({ ...base, ...producerOpts })
  try { return await p.send({ messages, acks: -1, ...opts }) } finally { await p.close() }
}

function storedBatches (topic, partition) {
  const dir = path.join(DATA_DIR, `${topic}-${partition}`)
  const out = []
  for (const name of fs.readdirSync(dir).filter(n => n.endsWith('.log')).sort()) {
    const buf = fs.readFileSync(path.join(dir, name))
    let pos = 0
    while (pos + 61 <= buf.length) {
      const baseOffset = Number(buf.readBigInt64BE(pos))
      const len = buf.readInt32BE(pos + 8)
      if (len <= 0 || pos + 12 + len > buf.length) break
      check(buf[pos + 16] === 2, `stored batch at offset ${baseOffset} of ${topic}-${partition} has magic ${buf[pos + 16]}`)
      out.push({
        baseOffset,
        lastOffsetDelta: buf.readInt32BE(pos + 23),
        codec: buf.readInt16BE(pos + 21) & 7,
        producerId: Number(buf.readBigInt64BE(pos + 43)),
        producerEpoch: buf.readInt16BE(pos + 51),
        baseSequence: buf.readInt32BE(pos + 53),
      })
      pos += 12 + len
    }
  }
  return out
}

// A consumer stream (group member) that collects records until n arrived (then extraMs more).
async function consumeN (topic, n, { groupId, mode = 'earliest', offsets, isolationLevel, extraMs = 500, timeoutMs = TIMEOUT, fallbackMode } = {}) {
  const c = new Consumer({ ...base, groupId: groupId || `pkf-read-${process.pid}-${Math.random()}`, sessionTimeout: 6000, heartbeatInterval: 500, rebalanceTimeout: 10000 })
  const got = []
  let error = null
  try {
    const stream = await c.consume({ topics: [topic], mode, offsets, fallbackMode, autocommit: false, maxWaitTime: 200, isolationLevel })
    stream.on('data', m => got.push(m))
    stream.on('error', e => { error = e })
    await waitUntil(() => { if (error) throw error; return got.length >= n }, timeoutMs, `${n} records from ${topic} (have ${got.length})`)
    await sleep(extraMs)
    if (error) throw error
    await stream.close()
  } finally {
    await c.close(true)
  }
  return got.sort((a, b) => a.partition - b.partition || Number(a.offset - b.offset))
}

// ------------------------------------------------------------------ 1 metadata and topic admin

async function s1 () {
  const topic = 'pkf-admin'
  return withAdmin(async admin => {
    const created = await admin.createTopics({ topics: [topic], partitions: 3, replicas: 1, configs: [{ name: 'retention.ms', value: '3600000' }, { name: 'max.message.bytes', value: '500000' }] })
    check(created.length === 1 && created[0].name === topic && created[0].partitions === 3 && created[0].replicas === 1, `createTopics result ${json(created)}`)
    check(created[0].configuration['retention.ms'] === '3600000', `createTopics result: retention.ms ${created[0].configuration['retention.ms']}`)
    try {
      await admin.createTopics({ topics: [topic], partitions: 3, replicas: 1 })
      throw new Fail('creating the topic twice succeeded')
    } catch (e) {
      if (e instanceof Fail) throw e
      check(/already exists/i.test(describe(e)), `create twice: want TOPIC_ALREADY_EXISTS, got ${describe(e)}`)
    }
    const names = await admin.listTopics()
    check(names.includes(topic) && !names.some(n => n.startsWith('__')), `listTopics ${names}`)
    const md = await admin.metadata({ topics: [topic] })
    check(eq([...md.brokers.entries()].map(([id, b]) => [id, `${b.host}:${b.port}`]), [[0, BOOTSTRAP]]), `metadata brokers ${json([...md.brokers.entries()])}`)
    check(md.controllerId === 0, `controller ${md.controllerId}`)
    const t = md.topics.get(topic)
    check(t && t.id === created[0].id && t.id !== '00000000-0000-0000-0000-000000000000', `topic id ${t && t.id}, created as ${created[0].id}`)
    check(t.partitionsCount === 3, `partitions ${t.partitionsCount}`)
    t.partitions.forEach((p, i) => check(p.leader === 0 && eq(p.replicas, [0]) && eq(p.isr, [0]), `partition ${i}: ${json(p)}`))
    try {
      const dc = await admin.describeConfigs({ resources: [{ resourceType: ConfigResourceTypes.TOPIC, resourceName: topic }] })
      const cfg = Object.fromEntries(dc[0].configs.map(c => [c.name, c]))
      check(cfg['retention.ms']?.value === '3600000', `retention.ms ${json(cfg['retention.ms'])}`)
      check(cfg['max.message.bytes']?.value === '500000', `max.message.bytes ${json(cfg['max.message.bytes'])}`)
      check(cfg['cleanup.policy']?.value === 'delete', `cleanup.policy ${json(cfg['cleanup.policy'])}`)
    } catch (e) {
      problems.push(`describeConfigs(topic ${topic}): ${describe(e)}`)
    }
    await admin.deleteTopics({ topics: [topic] })
    await waitUntil(async () => !(await admin.listTopics()).includes(topic), 10000, `${topic} to disappear from listTopics`, 200)
    try {
      await admin.deleteTopics({ topics: [topic] })
      throw new Fail('deleting the deleted topic again succeeded')
    } catch (e) {
      if (e instanceof Fail) throw e
      check(/"errorCode":3\b|does not host this topic|unknown topic/i.test(describe(e) + json(e.errors?.[0]?.response ?? null)), `delete twice: want UNKNOWN_TOPIC_OR_PARTITION, got ${describe(e)}`)
    }
    return 'metadata (1 broker, controller, topic id), create (3 partitions, 2 configs), create twice, list, describeConfigs, delete'
  })
}

// ------------------------------------------------------------------ 2 keyed produce, headers, timestamps

function rng (seed) { return () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed } }

async function s2 () {
  const topic = 'pkf-keyed'
  await createTopic(topic, 3)
  const rnd = rng(42)
  const t0 = BigInt(Date.now() - 3600000)
  const messages = []
  let n = 0
  for (let seq = 0; seq < 8; seq++) {
    for (let k = 0; k < 10; k++) {
      let value
      if (k === 3 && seq === 2) value = undefined  // no value (a tombstone)
      else if (k === 4 && seq === 1) value = Buffer.alloc(0)
      else value = Buffer.concat([Buffer.from([seq]), Buffer.from(range(0, rnd() % 301).map(() => rnd() & 255))])
      messages.push({
        topic,
        key: B(`key-${k}`),
        value,
        headers: new Map([[B('seq'), B(String(seq))], [B('bin'), Buffer.from([0, 1, 255, k])], [B('empty'), Buffer.alloc(0)], [B('dup'), B('first')], [B('dup'), B('second')], [B('ünï'), B('ü✓')]]),
        timestamp: t0 + BigInt((n++) * 7),
      })
    }
  }
  const p = new Producer(base)
  const sent = []
  try {
    for (const m of messages) {
      const r = await p.send({ messages: [m], acks: -1 })
      check(r.offsets && r.offsets.length === 1, `produce result ${json(r)}`)
      sent.push({ partition: r.offsets[0].partition, offset: Number(r.offsets[0].offset), m })
    }
  } finally {
    await p.close()
  }
  const byKey = {}
  for (const s of sent) (byKey[s.m.key] = byKey[s.m.key] || new Set()).add(s.partition)
  check(Object.values(byKey).every(s => s.size === 1), 'a key went to several partitions')
  check(new Set(Object.values(byKey).map(s => [...s][0])).size >= 2, 'all 10 keys went to one partition')
  for (const part of [0, 1, 2]) {
    const offs = sent.filter(s => s.partition === part).map(s => s.offset)
    check(eq(offs, range(0, offs.length)), `partition ${part}: offsets ${offs}, want 0..${offs.length - 1} in produce order`)
  }
  const got = await consumeN(topic, messages.length)
  check(got.length === messages.length, `consumed ${got.length} records, produced ${messages.length}`)
  const want = new Map(sent.map(s => [`${s.partition}/${s.offset}`, s.m]))
  const hs = h => json([...h.entries()].map(([k, v]) => [k.toString('hex'), v && v.toString('hex')]))
  const lastSeq = {}
  for (const g of got) {
    const where = `partition ${g.partition} offset ${g.offset}`
    const m = want.get(`${g.partition}/${g.offset}`)
    check(m, `unexpected record at ${where}`)
    check(g.key.equals(m.key), `${where}: key ${g.key}, want ${m.key}`)
    const gv = g.value
    check(m.value === undefined ? (gv == null) : (gv != null && gv.equals(m.value)), `${where}: value ${gv && gv.toString('hex').slice(0, 40)}, want ${m.value && m.value.toString('hex').slice(0, 40)}`)
    check(hs(g.headers) === hs(m.headers), `${where}: headers ${hs(g.headers)}, want ${hs(m.headers)}`)
    check(g.timestamp === m.timestamp, `${where}: timestamp ${g.timestamp}, want ${m.timestamp}`)
    const seq = Number(m.headers.get([...m.headers.keys()][0]).toString())
    check((lastSeq[m.key] ?? -1) < seq, `key ${m.key}: seq ${seq} consumed after ${lastSeq[m.key]}`)
    lastSeq[m.key] = seq
  }
  return `${messages.length} records, 10 keys over 3 partitions; keys, values (incl. null), 6 headers (incl. a duplicate key), timestamps equal; per-key order kept`
}

// ------------------------------------------------------------------ 3 compression

async function s3 () {
  const done = []
  const codecs = ['gzip', 'snappy', 'lz4']
  const noZstd = !zlib.zstdCompressSync
  if (!noZstd) codecs.push('zstd')
  for (const codec of codecs) {
    const topic = `pkf-${codec}`
    await createTopic(topic, 1)
    const messages = range(0, 200).map(i => ({
      topic,
      partition: 0,
      key: B(`k${i}`),
      value: Buffer.concat([B(`${codec} record ${i} `.repeat(1 + i % 20)), Buffer.from([i % 256, 0, 255])]),
    }))
    const r = await produce(messages, { compression: codec })
    check(eq(r.offsets, [{ topic, partition: 0, offset: 0n }]), `${codec}: produce result ${json(r)}`)
    let got = await consumeN(topic, 200, { extraMs: 200 })
    check(eq(got.map(g => [Number(g.offset), g.key.toString('hex'), g.value.toString('hex')]), messages.map((m, i) => [i, m.key.toString('hex'), m.value.toString('hex')])),
      `${codec}: consumed records differ from the produced ones`)
    got = await consumeN(topic, 50, { mode: 'manual', offsets: [{ topic, partition: 0, offset: 150n }], extraMs: 200 })
    check(eq(got.map(g => Number(g.offset)), range(150, 200)), `${codec}: from offset 150 got ${got.map(g => g.offset).slice(0, 5)}...`)
    const batches = storedBatches(topic, 0)
    const ids = [...new Set(batches.map(b => b.codec))]
    check(eq(ids, [CODEC_IDS[codec]]), `${codec}: stored batches have codec ids ${ids}, want ${CODEC_IDS[codec]} (did the client compress?)`)
    done.push(`${codec} (${batches.length} batches)`)
  }
  return 'produced, stored compressed and consumed back exactly (also from inside a batch): ' + done.join(', ') +
    (noZstd ? `; zstd not available to this client on Node ${process.versions.node} (it uses node:zlib's zstd, Node >= 22.15)` : '')
}

// ------------------------------------------------------------------ 4 consumer group

const GROUP4 = 'pkf-group'
const TOPIC4 = 'pkf-group'

async function s4a () {
  await createTopic(TOPIC4, 4)
  const ms = []
  for (const name of ['c1', 'c2']) {
    const c = new Consumer({ ...base, groupId: GROUP4, sessionTimeout: 6000, heartbeatInterval: 500, rebalanceTimeout: 10000 })
    const m = { name, c, got: [], assigned: [] }
    c.on('consumer:group:join', e => { m.assigned = ((e.assignments || []).find(a => a.topic === TOPIC4)?.partitions || []).slice().sort() })
    m.stream = await c.consume({ topics: [TOPIC4], mode: 'committed', fallbackMode: 'earliest', autocommit: false, maxWaitTime: 200 })
    m.stream.on('data', r => m.got.push(r))
    m.stream.on('error', e => { m.error = e })
    ms.push(m)
  }
  let last = ''
  let since = Date.now()
  await waitUntil(() => {
    for (const m of ms) if (m.error) throw m.error
    const now = json(ms.map(m => m.assigned))
    if (now !== last) { last = now; since = Date.now() }
    return ms[0].assigned.length && ms[1].assigned.length && eq([...ms[0].assigned, ...ms[1].assigned].sort(), [0, 1, 2, 3]) && Date.now() - since > 1000
  }, 40000, 'both members to get disjoint partitions covering 0-3')
  const [a1, a2] = ms.map(m => m.assigned.slice())
  log('assignment', a1, a2)
  await produce(range(0, 4).flatMap(p => range(0, 10).map(i => ({ topic: TOPIC4, partition: p, value: B(`p${p}-${i}`) }))))
  await waitUntil(() => ms[0].got.length + ms[1].got.length >= 40, 20000, '40 records between the two members')
  await sleep(500)
  check(ms[0].got.length + ms[1].got.length === 40, `members got ${ms[0].got.length} + ${ms[1].got.length} records, want 40`)
  check(eq(ms.map(m => m.assigned), [a1, a2]), `assignment changed while consuming: ${json(ms.map(m => m.assigned))}`)
  const seen = new Set()
  for (const m of ms) {
    for (const r of m.got) {
      check(m.assigned.includes(r.partition), `${m.name} got a record of partition ${r.partition}, assigned ${m.assigned}`)
      check(r.value.toString() === `p${r.partition}-${r.offset}`, `partition ${r.partition} offset ${r.offset}: ${r.value}`)
      check(!seen.has(`${r.partition}/${r.offset}`), `record ${r.partition}/${r.offset} delivered twice`)
      seen.add(`${r.partition}/${r.offset}`)
    }
    const last = {}
    for (const r of m.got) last[r.partition] = r
    for (const r of Object.values(last)) await r.commit()   // commits offset + 1 of the partition's last record
  }
  for (const m of ms) { await m.stream.close(); await m.c.close(true) }
  const com = await withAdmin(a => a.listConsumerGroupOffsets({ groups: [GROUP4] }))
  const parts = com[0].topics.find(t => t.name === TOPIC4).partitions.sort((a, b) => a.partitionIndex - b.partitionIndex)
  check(eq(parts.map(p => Number(p.committedOffset)), [10, 10, 10, 10]), `committed offsets ${json(parts)}, want 10 x 4`)
  return `split ${json(a1)}/${json(a2)}; 40 records once each; committed 10 x 4`
}

async function s4b () {
  await produce(range(0, 4).flatMap(p => range(10, 15).map(i => ({ topic: TOPIC4, partition: p, value: B(`p${p}-${i}`) }))))
  const com = await withAdmin(a => a.listConsumerGroupOffsets({ groups: [GROUP4] }))
  const parts = com[0].topics.find(t => t.name === TOPIC4).partitions.sort((a, b) => a.partitionIndex - b.partitionIndex)
  check(eq(parts.map(p => Number(p.committedOffset)), [10, 10, 10, 10]), `after restart: committed offsets ${json(parts)}, want 10 x 4`)
  const got = await consumeN(TOPIC4, 20, { groupId: GROUP4, mode: 'committed', fallbackMode: 'earliest', timeoutMs: 30000, extraMs: 1000 })
  const want = range(0, 4).flatMap(p => range(10, 15).map(i => [p, i, `p${p}-${i}`]))
  check(eq(got.map(g => [g.partition, Number(g.offset), g.value.toString()]), want), `after restart the group resumed with ${json(got.map(g => [g.partition, g.offset]).slice(0, 8))}..., want offsets 10-14 of each partition`)
  return 'split 2+2 partitions, every record once, commit, broker restart, resumed at the committed offsets'
}

// ------------------------------------------------------------------ 5 seek, offsets for times, lag

async function s5 () {
  const topic = 'pkf-offsets'
  const group = 'pkf-lag'
  await createTopic(topic, 1)
  const t0 = BigInt(Date.now() - 600000)
  await produce(range(0, 10).map(i => ({ topic, partition: 0, value: B(`v${i}`), timestamp: t0 + BigInt(i * 1000) })))
  const c = new Consumer({ ...base, groupId: group })
  try {
    const lo = (await c.listOffsets({ topics: [topic], timestamp: -2n })).get(topic)
    const hi = (await c.listOffsets({ topics: [topic], timestamp: -1n })).get(topic)
    check(eq([lo, hi], [[0n], [10n]]), `earliest/latest offsets ${json([lo, hi])}, want [0] [10]`)
    for (const [ts, want] of [[t0, 0n], [t0 + 3500n, 4n], [t0 + 9000n, 9n], [t0 - 100000n, 0n], [t0 + 3600000n, -1n]]) {
      const r = (await c.listOffsetsWithTimestamps({ topics: [topic], timestamp: ts })).get(topic).get(0)
      check(r.offset === want, `listOffsetsWithTimestamps(${ts - t0 >= 0n ? '+' : ''}${ts - t0} ms from the first record) = ${json(r)}, want offset ${want}`)
    }
    // Consumer.commit() outside a joined group sends a null member_id, which OffsetCommit v9 does not
    // allow (Kafka cannot parse it either): commit through the admin client, as a tool would.
    await withAdmin(a => a.alterConsumerGroupOffsets({ groupId: group, topics: [{ name: topic, partitionOffsets: [{ partition: 0, offset: 6n }] }] }))
    const committed = (await c.listCommittedOffsets({ topics: [{ topic, partitions: [0] }] })).get(topic)
    check(eq(committed, [6n]), `committed ${json(committed)}, want [6]`)
  } finally {
    await c.close(true)
  }
  let got = await consumeN(topic, 3, { mode: 'manual', offsets: [{ topic, partition: 0, offset: 7n }], extraMs: 300 })
  check(eq(got.map(g => [Number(g.offset), g.value.toString()]), [[7, 'v7'], [8, 'v8'], [9, 'v9']]), `from offset 7: ${json(got.map(g => [g.offset, g.value.toString()]))}`)
  // a member of the group resumes at the committed 6; with nothing committed since, its lag is 10 - 6
  const member = new Consumer({ ...base, groupId: group, sessionTimeout: 6000, heartbeatInterval: 500 })
  got = []
  try {
    const stream = await member.consume({ topics: [topic], mode: 'committed', autocommit: false, maxWaitTime: 200 })
    stream.on('data', m => got.push(m))
    await waitUntil(() => got.length >= 4, TIMEOUT, 'the group member to read 6..9')
    await sleep(300)
    const lag = (await member.getLag({ topics: [topic] })).get(topic)
    check(eq(lag, [4n]), `getLag ${json(lag)}, want [4]`)
    await stream.close()
  } finally {
    await member.close(true)
  }
  check(eq(got.map(g => Number(g.offset)), [6, 7, 8, 9]), `the group resumed at ${got.map(g => g.offset)}, want 6..9`)
  return 'earliest/latest (0,10); listOffsetsWithTimestamps exact (incl. before first / after last); manual offsets; alterConsumerGroupOffsets 6 -> member resumed at 6, getLag 4'
}

// ------------------------------------------------------------------ 6 idempotent producer

async function s6 () {
  const topic = 'pkf-idempotent'
  await createTopic(topic, 2)
  const messages = range(0, 400).map(i => ({ topic, partition: i % 2, value: B(`idem-${i}`) }))
  const p = new Producer({ ...base, idempotent: true })
  try {
    for (let i = 0; i < 400; i += 20) await p.send({ messages: messages.slice(i, i + 20) })
    check(p.producerId !== undefined && p.producerId >= 0n, `producer id ${p.producerId}`)
  } finally {
    await p.close()
  }
  const got = await consumeN(topic, 400)
  for (const part of [0, 1]) {
    const vals = got.filter(g => g.partition === part).map(g => g.value.toString())
    const want = messages.filter(m => m.partition === part).map(m => m.value.toString())
    check(eq(vals, want), `partition ${part}: ${vals.length} records consumed (want ${want.length} in order, no duplicate)`)
    const batches = storedBatches(topic, part)
    const pids = [...new Set(batches.map(b => `${b.producerId}/${b.producerEpoch}`))]
    check(pids.length === 1 && batches[0].producerId >= 0, `partition ${part}: stored producer ids/epochs ${pids}`)
    let expect = 0
    for (const b of batches) {
      check(b.baseSequence === expect, `partition ${part}: batch at offset ${b.baseOffset} has sequence ${b.baseSequence}, want ${expect}`)
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
  const topic = 'pkf-txn'
  await createTopic(topic, 1)
  const p = new Producer({ ...base, idempotent: true, transactionalId: 'pkf-txn-1' })
  try {
    let t = await step('beginTransaction (InitProducerId)', p.beginTransaction())
    await step('send', t.send({ messages: range(0, 5).map(i => ({ topic, partition: 0, value: B(`commit-${i}`) })) }))
    await step('commit', t.commit())
    t = await step('beginTransaction', p.beginTransaction())
    await step('send', t.send({ messages: range(0, 5).map(i => ({ topic, partition: 0, value: B(`abort-${i}`) })) }))
    await step('abort', t.abort())
    t = await step('beginTransaction', p.beginTransaction())
    await step('send', t.send({ messages: [{ topic, partition: 0, value: B('after') }] }))
    await step('commit', t.commit())
  } finally {
    await p.close()
  }
  const rc = await consumeN(topic, 6, { extraMs: 1000, isolationLevel: FetchIsolationLevels.READ_COMMITTED })
  const want = [...range(0, 5).map(i => [i, `commit-${i}`]), [12, 'after']]
  check(eq(rc.map(g => [Number(g.offset), g.value.toString()]), want), `read_committed got ${json(rc.map(g => [g.offset, g.value.toString()]))}, want ${json(want)}`)
  const ru = await consumeN(topic, 11, { extraMs: 1000, isolationLevel: FetchIsolationLevels.READ_UNCOMMITTED })
  check(eq(ru.map(g => g.value.toString()), [...range(0, 5).map(i => `commit-${i}`), ...range(0, 5).map(i => `abort-${i}`), 'after']), `read_uncommitted got ${ru.map(g => g.value.toString())}`)
  return 'commit + abort; read_committed sees only committed records at the expected offsets (control markers between)'
}

// ------------------------------------------------------------------ 8 error paths

async function s8 () {
  const missing = 'pkf-missing'
  await withAdmin(async admin => {
    try {
      const md = await admin.metadata({ topics: [missing], autocreateTopics: true })
      throw new Fail(`metadata of a missing topic succeeded with auto.create.topics.enable=false: ${json([...md.topics.keys()])}`)
    } catch (e) {
      if (e instanceof Fail) throw e
      check(/not host this topic|unknown topic/i.test(describe(e)), `metadata for a missing topic: want UNKNOWN_TOPIC_OR_PARTITION, got ${describe(e)}`)
    }
  })
  try {
    await produce([{ topic: missing, value: B('x') }], {}, { autocreateTopics: true })
    throw new Fail('producing to a missing topic succeeded with auto.create.topics.enable=false')
  } catch (e) {
    if (e instanceof Fail) throw e
    check(/not host this topic|unknown topic/i.test(describe(e)), `produce to a missing topic: want UNKNOWN_TOPIC_OR_PARTITION, got ${describe(e)}`)
  }
  check(!(await withAdmin(a => a.listTopics())).includes(missing), 'the missing topic was created anyway')

  const topic = 'pkf-range'
  await createTopic(topic, 1)
  await produce(range(0, 5).map(i => ({ topic, partition: 0, value: B(`r${i}`) })))
  // Fetching offset 100 of 5: the client has no automatic reset for out-of-range fetches; the stream fails.
  try {
    await consumeN(topic, 1, { mode: 'manual', offsets: [{ topic, partition: 0, offset: 100n }], timeoutMs: 5000 })
    throw new Fail('fetching offset 100 of 5 returned records')
  } catch (e) {
    if (e instanceof Fail) throw e
    check(/not within the range of offsets/i.test(describe(e)), `offset 100 of 5: want OFFSET_OUT_OF_RANGE, got ${describe(e)}`)
  }
  // The resets it does have (no committed offset): earliest, latest, fail.
  let got = await consumeN(topic, 5, { mode: 'committed', fallbackMode: 'earliest', extraMs: 200 })
  check(eq(got.map(g => Number(g.offset)), [0, 1, 2, 3, 4]), `fallback earliest: ${got.map(g => g.offset)}`)
  try {
    await consumeN(topic, 1, { mode: 'committed', fallbackMode: 'fail', timeoutMs: 5000 })
    throw new Fail('fallbackMode fail with no committed offset returned records')
  } catch (e) {
    if (e instanceof Fail) throw e
    check(/no committed offset/i.test(describe(e)), `fallback fail: ${describe(e)}`)
  }
  const c = new Consumer({ ...base, groupId: `pkf-latest-${process.pid}`, sessionTimeout: 6000, heartbeatInterval: 500 })
  const latest = []
  try {
    const stream = await c.consume({ topics: [topic], mode: 'committed', fallbackMode: 'latest', autocommit: false, maxWaitTime: 200 })
    stream.on('data', m => latest.push([Number(m.offset), m.value.toString()]))
    await sleep(2000)
    check(latest.length === 0, `fallback latest: got ${json(latest)} before producing`)
    await produce([{ topic, partition: 0, value: B('after-reset') }])
    await waitUntil(() => latest.length >= 1, TIMEOUT, 'the record produced after the reset')
    await sleep(200)
    await stream.close()
  } finally {
    await c.close(true)
  }
  check(eq(latest, [[5, 'after-reset']]), `fallback latest: ${json(latest)}`)
  return 'missing topic: UNKNOWN_TOPIC_OR_PARTITION in metadata and produce, not created; offset 100 of 5: OFFSET_OUT_OF_RANGE error (the client has no auto reset for it); no-commit fallback earliest, latest, fail right'
}

const SCENARIOS = { 1: s1, 2: s2, 3: s3, '4a': s4a, '4b': s4b, 5: s5, 6: s6, 7: s7, 8: s8 }

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
