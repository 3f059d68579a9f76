import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { open } from 'lmdb'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { systemClock } from '../../../src/common/clock.js'
import { isPmzError } from '../../../src/common/errors.js'
import { createLogger } from '../../../src/common/logger.js'
import { MemoryNetwork } from '../../../src/mesh/transport/index.js'
import { asKey, createLocalStore } from '../../../src/store/index.js'
import { ReplicatedStore, type ReplicatedStoreInit } from '../../../src/store/replication/replicated-store.js'
import { waitFor } from '../../helpers/http.js'
import { cleanupPeers } from '../../helpers/peer.js'
import { View, replicaCluster, replicaNode, stopLater, stopReplicaNodes, type ReplicaNode } from '../../helpers/replica-cluster.js'
import { codeOf } from '../../helpers/errors.js'
import { ManualClock } from '../../helpers/manual-clock.js'

const log = createLogger({ level: 'silent' })
const CHUNK = 64 * 1024

async function bytesOf (body: Buffer | Readable): Promise<Buffer> {
  if (Buffer.isBuffer(body)) return body
  const parts: Buffer[] = []
  for await (const c of body) parts.push(c as Buffer)
  return Buffer.concat(parts)
}

async function * pieces (bytes: Buffer, size = 50_000): AsyncIterable<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size)
}

describe('ReplicatedStore over MemoryTransport (3 volume peers, N=3, W=2)', () => {
  afterEach(async () => {
    await stopReplicaNodes()
    await cleanupPeers()
  })

  async function cluster (ids = ['a', 'b', 'c'], init: ReplicatedStoreInit = { replicas: 3, writeQuorum: 2 }): Promise<{ view: View, nodes: ReplicaNode[], network: MemoryNetwork }> {
    return await replicaCluster(ids, init, { chunkBytes: CHUNK })
  }

  const key = (): string => `/t/${randomUUID()}`

  it('writes reach all three replicas with one version; a read through another peer is byte-identical, small and large', async () => {
    const { nodes: [a, b, c] } = await cluster()
    for (const size of [0, 1000, 1024 * 1024 + 7]) {
      const k = key()
      const value = randomBytes(size)
      const meta = await a.store.put(asKey(k), pieces(value), { ifAbsent: true })
      expect(meta.sha256).toBe(createHash('sha256').update(value).digest('hex'))
      expect(meta.size).toBe(size)
      const got = await c.store.get(asKey(k))
      expect((await bytesOf(got.body)).equals(value)).toBe(true)
      expect(got.meta.version).toBe(meta.version)
      await waitFor(async () => (await Promise.all([a, b, c].map(async n => (await n.local.entry(asKey(k)))?.version))).every(v => v === meta.version), 5_000, 'all replicas to hold the write')
      expect((await b.store.stat(asKey(k)))?.sha256).toBe(meta.sha256)
    }
  })

  it('with one replica unreachable, writes still succeed (W=2) and reads still work', async () => {
    const { nodes: [a, b, c] } = await cluster()
    await c.transport.stop() // membership still thinks it is alive: requests to it fail
    const k = key()
    const meta = await a.store.put(asKey(k), pieces(Buffer.from('hello')), { ifAbsent: true })
    expect((await bytesOf((await b.store.get(asKey(k))).body)).toString()).toBe('hello')
    expect(meta.size).toBe(5)
    expect(await c.local.entry(asKey(k))).toBeUndefined()
  })

  it('once the ring is settled a write prepares at q1 replicas (self and one other), and at the third when one fails', async () => {
    const { nodes: [a, b, c] } = await cluster(['a', 'b', 'c'], { replicas: 3, writeQuorum: 2, antiEntropy: { intervalMs: 50, busyIntervalMs: 50 } })
    await waitFor(() => [a, b, c].every(n => n.store.ringSettled()), 10_000, 'anti-entropy to settle the ring')
    const prepares = vi.spyOn(a.transport, 'request')
    const prepared = (): number => prepares.mock.calls.filter(([, msg]) => (msg as { type: string }).type === 'store.prepare').length
    const k = key()
    await a.store.put(asKey(k), pieces(Buffer.from('one')), { ifAbsent: true })
    expect(prepared()).toBe(1)
    // Every replica still gets the value.
    await waitFor(async () => (await Promise.all([b, c].map(async n => await n.local.entry(asKey(k))))).every(e => e !== undefined), 5_000, 'both others to hold the value')
    // One of the two others unreachable (membership still says alive): the prepare widens to the third and the write succeeds.
    await c.transport.stop()
    prepares.mockClear()
    // A key whose first other replica is c: its prepare fails, and b is asked next.
    let k2 = key()
    while (a.store.replicasOf(asKey(k2)).find(id => id !== 'a') !== 'c') k2 = key()
    await a.store.put(asKey(k2), pieces(Buffer.from('two')), { ifAbsent: true })
    expect((await bytesOf((await a.store.get(asKey(k2))).body)).toString()).toBe('two')
    expect(prepared()).toBe(2)
  })

  it('a replica that goes silent and is then declared dead is dropped from a write in progress', async () => {
    const { view, network, nodes: [a, b, c] } = await cluster()
    network.block('a:1', 'c:1') // c never hears of the write: its queue fills and the upload waits
    const k = key()
    const value = randomBytes(4 * 1024 * 1024)
    const began = Date.now()
    const put = a.store.put(asKey(k), pieces(value, 256 * 1024))
    setTimeout(() => { view.set('c', 'dead') }, 100)
    const meta = await put
    const took = Date.now() - began
    expect(took).toBeGreaterThanOrEqual(90) // it did wait for c…
    expect(took).toBeLessThan(5_000) // …only until c was declared dead, well under SINK_STALL_MS
    expect((await b.local.entry(asKey(k)))?.version).toBe(meta.version)
    expect(await c.local.entry(asKey(k))).toBeUndefined()
  })

  it('a streamed value is committed under the sha256 its replicas computed: one that received other bytes never holds them', async () => {
    const { nodes: [a, b, c] } = await cluster()
    // c's copy of every streamed value arrives with its last byte flipped.
    const stage = c.local.stage.bind(c.local)
    vi.spyOn(c.local, 'stage').mockImplementation(async (k, body, fields, options) => await stage(k, (async function * () {
      const all: Uint8Array[] = []
      for await (const p of body) all.push(p)
      const bytes = Buffer.concat(all)
      bytes[bytes.length - 1] ^= 1
      yield bytes
    })(), fields, options))
    const value = randomBytes(300_000)
    const sha256 = createHash('sha256').update(value).digest('hex')
    for (let i = 0; i < 6; i++) {
      const k = key()
      // W=2 of a, b, c: when c is among the first two stages the replicas disagree and nothing is written (503).
      const put = await a.store.put(asKey(k), pieces(value)).then(meta => meta, err => err as Error)
      if (put instanceof Error) {
        expect(isPmzError(put, 'ERR_QUORUM_NOT_MET'), String(put)).toBe(true)
      } else {
        expect(put.sha256).toBe(sha256)
        await waitFor(async () => (await b.local.entry(asKey(k)))?.sha256 === sha256, 5_000, 'b to commit the value')
      }
      // c never commits its corrupt copy, and no replica holds a value under another sha256.
      for (const n of [a, b, c]) {
        const e = await n.local.entry(asKey(k))
        expect(e === undefined || e.deleted || e.sha256 === sha256, `${n.id}: ${JSON.stringify(e)}`).toBe(true)
      }
      expect((await c.local.entry(asKey(k)))?.deleted ?? true).toBe(true)
    }
  })

  it('with two replicas down the write fails with ERR_QUORUM_NOT_MET (503) and leaves no visible key', async () => {
    const { view, nodes: [a, b, c] } = await cluster()
    // Known dead: refused before any byte is read.
    view.set('b', 'dead')
    view.set('c', 'dead')
    const k1 = key()
    const err = await a.store.put(asKey(k1), pieces(Buffer.from('x'))).catch(e => e)
    expect(isPmzError(err, 'ERR_QUORUM_NOT_MET')).toBe(true)
    expect(err.status).toBe(503)
    expect(await a.local.stat(asKey(k1))).toBeUndefined()

    // Thought alive but unreachable: the local replica commits, and the compensating tombstone hides it.
    view.set('b', 'alive')
    view.set('c', 'alive')
    await b.transport.stop()
    await c.transport.stop()
    const k2 = key()
    expect(await codeOf(a.store.put(asKey(k2), pieces(randomBytes(300_000))))).toBe('ERR_QUORUM_NOT_MET')
    expect(await a.local.stat(asKey(k2))).toBeUndefined()
    const held = await a.local.entry(asKey(k2))
    expect(held === undefined || held.deleted).toBe(true)
  })

  it('the newest version wins (LWW by HLC), whatever the order replicas see the writes in', async () => {
    const { nodes: [a, b, c] } = await cluster()
    const k = key()
    await a.store.put(asKey(k), pieces(Buffer.from('first')))
    await b.store.put(asKey(k), pieces(Buffer.from('second')))
    expect((await bytesOf((await c.store.get(asKey(k))).body)).toString()).toBe('second')

    // A replicated write older than what a replica holds is refused there.
    const held = await a.local.entry(asKey(k))
    const older = '000000000001.0000.zz'
    const out = await a.local.applyPut(asKey(k), pieces(Buffer.from('stale')), { version: older, created: 1, expires: null, contentType: 'application/octet-stream' })
    expect(out.applied).toBe(false)
    expect((await a.local.entry(asKey(k)))?.version).toBe(held?.version)
    // A newer one is taken, and the local HLC moves past it.
    const newer = `${(Date.now() + 60_000).toString(16).padStart(12, '0')}.0000.zz`
    expect((await a.local.applyPut(asKey(k), pieces(Buffer.from('newest')), { version: newer, created: 1, expires: null, contentType: 'application/octet-stream' })).applied).toBe(true)
    expect(a.local.nextVersion() > newer).toBe(true)
    // A sha256 given with the write is checked.
    const bad = await codeOf(a.local.applyPut(asKey(key()), pieces(Buffer.from('abc')), { version: newer, created: 1, expires: null, contentType: 'x', sha256: 'f'.repeat(64) }))
    expect(bad).toBe('ERR_CORRUPT')
  })

  it('a delete a replica missed does not come back when it returns; read repair hands it the tombstone', async () => {
    const { view, nodes: [a, b, c] } = await cluster()
    const k = key()
    const meta = await a.store.put(asKey(k), pieces(Buffer.from('doomed')))
    await waitFor(async () => (await c.local.entry(asKey(k)))?.version === meta.version, 5_000, 'c to hold the value')
    await c.transport.stop()
    view.set('c', 'dead')
    await a.store.delete(asKey(k))
    await c.transport.start()
    view.set('c', 'alive')
    expect((await c.local.stat(asKey(k)))?.version).toBe(meta.version) // c still holds the old value
    expect(await codeOf(c.store.get(asKey(k)))).toBe('ERR_NOT_FOUND')
    expect(await b.store.stat(asKey(k))).toBeUndefined()
    await waitFor(async () => (await c.local.entry(asKey(k)))?.deleted === true, 5_000, 'read repair to deliver the tombstone to c')
    expect(await codeOf(c.store.delete(asKey(k)))).toBe('ERR_NOT_FOUND')
  })

  it('read repair fills a replica that missed the write', async () => {
    const { view, nodes: [a, b, c] } = await cluster()
    await c.transport.stop()
    view.set('c', 'dead')
    const k = key()
    const value = randomBytes(200_000)
    const meta = await a.store.put(asKey(k), pieces(value))
    await c.transport.start()
    view.set('c', 'alive')
    expect(await c.local.entry(asKey(k))).toBeUndefined()
    expect((await bytesOf((await b.store.get(asKey(k))).body)).equals(value)).toBe(true)
    await waitFor(async () => (await c.local.entry(asKey(k)))?.version === meta.version, 5_000, 'read repair to copy the value to c')
    expect((await bytesOf((await c.local.get(asKey(k))).body)).equals(value)).toBe(true)
    await waitFor(() => b.store.replicationStats().readRepair.keys === 1, 5_000, 'b to count its read repair')
    expect(b.store.replicationStats().readRepair.bytes).toBe(value.length)
  })

  it('a replica whose copy fails its sha256 is skipped: the read falls back to the next one', async () => {
    const { view, nodes: [a, b] } = await cluster()
    const k = key()
    const value = randomBytes(1000)
    const meta = await a.store.put(asKey(k), pieces(value))
    await waitFor(async () => (await b.local.entry(asKey(k)))?.version === meta.version, 5_000, 'b to hold the value')
    await b.store.stop()
    const env = open({ path: join(b.dir, 'store') })
    const chunks = env.openDB({ name: 'chunks', keyEncoding: 'binary', encoding: 'binary' })
    for (const c of [...chunks.getKeys()]) await chunks.put(c as Buffer, randomBytes(1000))
    await env.close()
    const local = createLocalStore({ clock: systemClock, log }, { dir: join(b.dir, 'store'), peerId: 'b', chunkBytes: CHUNK, sync: 'os' })
    const store = new ReplicatedStore({ local, transport: b.transport, membership: view.membership('b'), clock: systemClock, log }, { replicas: 3, writeQuorum: 2 })
    await store.start()
    stopLater({ ...b, local, store })
    expect(await codeOf(local.get(asKey(k)))).toBe('ERR_CORRUPT')
    const got = await store.get(asKey(k)) // b reads itself first, then the next replica
    expect((await bytesOf(got.body)).equals(value)).toBe(true)
  })

  it('the duplicate rule holds cluster-wide: a live value on other replicas is a conflict', async () => {
    const { view, nodes: [a, b, c] } = await cluster()
    await c.transport.stop()
    view.set('c', 'dead')
    const k = key()
    await a.store.put(asKey(k), pieces(Buffer.from('one')), { ifAbsent: true })
    await c.transport.start()
    view.set('c', 'alive')
    expect(await c.local.entry(asKey(k))).toBeUndefined()
    const err = await c.store.put(asKey(k), pieces(Buffer.from('two')), { ifAbsent: true }).catch(e => e)
    expect(isPmzError(err, 'ERR_CONFLICT')).toBe(true)
    expect(err.status).toBe(409)
    expect((await bytesOf((await b.store.get(asKey(k))).body)).toString()).toBe('one')
    // A small value goes without a survey: each replica checks, and the one
    // that missed the first value and took the second gets the first back.
    const small = await c.store.put(asKey(k), pieces(Buffer.from('three')), { ifAbsent: true, sizeHint: 5 }).catch(e => e)
    expect(isPmzError(small, 'ERR_CONFLICT')).toBe(true)
    for (const n of [a, b, c]) expect((await bytesOf((await n.local.get(asKey(k))).body)).toString()).toBe('one')
    const versions = await Promise.all([a, b, c].map(async n => (await n.local.entry(asKey(k)))?.version))
    expect(new Set(versions).size).toBe(1)
    expect((await bytesOf((await c.store.get(asKey(k))).body)).toString()).toBe('one')
  })

  it('until anti-entropy has confirmed the replicas, a key only one of them holds is still found, and still a duplicate', async () => {
    // As after the ring grew: a held the keys alone (N was 1), b and c are new replicas that have not received them yet.
    // Twenty keys, so that for some of them a comes last in the readers' order.
    const { nodes: [a, b, c] } = await cluster(['a', 'b', 'c'], { replicas: 3, writeQuorum: 2, antiEntropy: { auto: false } })
    const keys = Array.from({ length: 20 }, () => key())
    for (const k of keys) {
      await a.local.applyPut(asKey(k), pieces(Buffer.from('first')), { version: a.local.nextVersion(), created: Date.now(), expires: null, contentType: 'text/plain' })
    }
    for (const k of keys) {
      expect(await c.local.entry(asKey(k))).toBeUndefined()
      expect((await bytesOf((await c.store.get(asKey(k))).body)).toString(), k).toBe('first')
      expect((await b.store.stat(asKey(k)))?.size, k).toBe(5)
      const dup = await c.store.put(asKey(k), pieces(Buffer.from('second')), { ifAbsent: true, sizeHint: 6 }).catch(e => e)
      expect(isPmzError(dup, 'ERR_CONFLICT'), k).toBe(true)
      expect((await bytesOf((await b.store.get(asKey(k))).body)).toString(), k).toBe('first')
    }
  })

  it('maxBytes and temporal expiry hold on every replica', async () => {
    const { nodes: [a, b, c] } = await cluster()
    const k = key()
    expect(await codeOf(a.store.put(asKey(k), pieces(randomBytes(100_000)), { maxBytes: 50_000 }))).toBe('ERR_TOO_LARGE')
    for (const n of [a, b, c]) expect(await n.local.entry(asKey(k))).toBeUndefined()
    const meta = await a.store.put(asKey(k), pieces(Buffer.from('t')), { temporalDays: 2 })
    expect(meta.expires).toBe(meta.created + 2 * 86_400_000)
    await waitFor(async () => (await Promise.all([a, b, c].map(async n => (await n.local.entry(asKey(k)))?.expires))).every(e => e === meta.expires), 5_000, 'expiry on all replicas')
    const gone = await a.store.put(asKey(key()), pieces(Buffer.from('t')), { temporalDays: 0 })
    expect(await b.store.stat(gone.key)).toBeUndefined()
  })

  it('a peer without the volume role holds nothing and forwards everything; list merges the volume peers', async () => {
    const network = new MemoryNetwork()
    const view = new View()
    const nodes: ReplicaNode[] = []
    for (const [id, roles] of [['v1', ['volume']], ['v2', ['volume']], ['g', ['gateway']]] as const) view.add(id, [...roles])
    for (const id of ['v1', 'v2', 'g']) nodes.push(await replicaNode(network, view, id, { replicas: 3, writeQuorum: 2 }, { chunkBytes: CHUNK }))
    const [v1, v2, g] = nodes
    const keys = [key(), key(), key()].sort()
    for (const k of keys) await g.store.put(asKey(k), pieces(Buffer.from(k)))
    expect(await g.local.entry(asKey(keys[0]))).toBeUndefined()
    for (const k of keys) expect((await v1.local.entry(asKey(k)))?.deleted).toBe(false)
    expect((await v2.local.list({ prefix: '/t/' })).length).toBe(3)
    expect((await bytesOf((await g.store.get(asKey(keys[1]))).body)).toString()).toBe(keys[1])
    expect((await g.store.list({ prefix: '/t/' })).map(m => m.key)).toEqual(keys)
    expect((await g.store.list({ prefix: '/t/', limit: 2 })).map(m => m.key)).toEqual(keys.slice(0, 2))
    expect(g.store.ownerUrl(asKey(keys[0]))).toMatch(/^http:\/\/v[12]$/)
    // A large value from a remote replica streams (verified at its end), a small one comes whole.
    const big = randomBytes(600_000)
    const bigKey = key()
    await g.store.put(asKey(bigKey), pieces(big))
    const read = await g.store.get(asKey(bigKey))
    expect(Buffer.isBuffer(read.body)).toBe(false)
    expect((await bytesOf(read.body)).equals(big)).toBe(true)
    expect(Buffer.isBuffer((await g.store.get(asKey(keys[2]))).body)).toBe(true)
    expect(v1.store.ownerUrl(asKey(keys[0]))).toBeUndefined()
    await g.store.delete(asKey(keys[0]))
    expect(await codeOf(v1.store.get(asKey(keys[0])))).toBe('ERR_NOT_FOUND')
  })

  it('one volume peer: N=1, W=1, every call goes to the local store', async () => {
    const { nodes: [solo] } = await cluster(['solo'])
    const k = key()
    await solo.store.put(asKey(k), pieces(Buffer.from('alone')), { ifAbsent: true })
    expect(await codeOf(solo.store.put(asKey(k), pieces(Buffer.from('again')), { ifAbsent: true }))).toBe('ERR_CONFLICT')
    expect((await bytesOf((await solo.store.get(asKey(k))).body)).toString()).toBe('alone')
    await solo.store.delete(asKey(k))
    expect(await codeOf(solo.store.delete(asKey(k)))).toBe('ERR_NOT_FOUND')
  })
})

describe('one key written from both sides of a partition (3 peers, N=3, W=2)', () => {
  afterEach(async () => {
    await stopReplicaNodes()
    await cleanupPeers()
  })

  it('the minority answers 503 and changes nothing; the majority\'s 201 is what every replica holds after the heal', async () => {
    const { network, nodes: [a, b, c] } = await replicaCluster(['a', 'b', 'c'], { replicas: 3, writeQuorum: 2 }, { chunkBytes: CHUNK })
    const keys = Array.from({ length: 20 }, () => `/split/${randomUUID()}`)
    // a alone on one side (it still believes b and c alive), b and c on the other.
    network.partition([['a:1'], ['b:1', 'c:1']])
    const results = await Promise.all(keys.map(async (k, i) => {
      // Large values too (staged), every fourth key.
      const big = i % 4 === 3
      const minority = a.store.put(asKey(k), pieces(big ? randomBytes(200_000) : Buffer.from(`minority ${k}`)), { ifAbsent: true, ...(big ? {} : { sizeHint: 20 + k.length }) })
      const majorityValue = big ? randomBytes(200_000) : Buffer.from(`majority ${k}`)
      const majority = b.store.put(asKey(k), pieces(majorityValue), { ifAbsent: true, ...(big ? {} : { sizeHint: majorityValue.length }) })
      return { k, majorityValue, minority: await codeOf(minority), majority: await codeOf(majority) }
    }))
    for (const r of results) {
      expect(r.minority, `minority write of ${r.k}`).toBe('ERR_QUORUM_NOT_MET')
      expect(r.majority, `majority write of ${r.k}`).toBeUndefined()
    }
    network.heal()
    for (const r of results) {
      for (const n of [a, b, c]) {
        const got = await n.store.get(asKey(r.k))
        expect((await bytesOf(got.body)).equals(r.majorityValue), `${r.k} through ${n.id}`).toBe(true)
      }
    }
    // And the minority's own replica never took its value: nothing of a 503 stays anywhere.
    for (const r of results) {
      const e = await a.local.entry(asKey(r.k))
      expect(e === undefined || e.sha256 === createHash('sha256').update(r.majorityValue).digest('hex'), `${r.k} on the minority's replica`).toBe(true)
    }
  }, 60_000)

  it('a write whose replicas fail after phase 1 is taken back: its 503 leaves nothing readable', async () => {
    const { nodes: [a, b, c] } = await replicaCluster(['a', 'b', 'c'], { replicas: 3, writeQuorum: 2 }, { chunkBytes: CHUNK })
    const k = `/undo/${randomUUID()}`
    // After phase 1, b and c each fail the accept once: only a (the gateway's own replica) takes the value,
    // and every replica answers the undo's phase 1, so the value cannot be chosen: it is taken back.
    for (const n of [b, c]) {
      const applyPut = n.local.applyPut.bind(n.local)
      let failed = false
      n.local.applyPut = async (...args) => {
        if (!failed) { failed = true; throw new Error('disk on fire') }
        return await applyPut(...args)
      }
    }
    const err = await a.store.put(asKey(k), pieces(Buffer.from('never confirmed')), { ifAbsent: true, sizeHint: 15 }).catch(e => e)
    expect(err.code).toBe('ERR_QUORUM_NOT_MET')
    expect(err.status).toBe(503)
    for (const n of [a, b, c]) expect(await codeOf(n.store.get(asKey(k))), `read through ${n.id}`).toBe('ERR_NOT_FOUND')
    // The key is free: a new add_key succeeds.
    await b.store.put(asKey(k), pieces(Buffer.from('second')), { ifAbsent: true, sizeHint: 6 })
    expect((await bytesOf((await c.store.get(asKey(k))).body)).toString()).toBe('second')
  }, 60_000)
})

describe('copies keep a value\'s origin (3 peers, N=3, W=2)', () => {
  afterEach(async () => {
    await stopReplicaNodes()
    await cleanupPeers()
  })

  it('a replica that gets a value by read repair or anti-entropy holds its origin, value and tombstone alike', async () => {
    const { nodes: [a, b, c] } = await replicaCluster(['a', 'b', 'c'], { replicas: 3, writeQuorum: 2, antiEntropy: { auto: false, settleMs: 0 } }, { chunkBytes: CHUNK })
    const k = `/origin/${randomUUID()}`
    await a.store.put(asKey(k), pieces(Buffer.from('first')), { ifAbsent: true, sizeHint: 5 })
    const written = await a.local.entry(asKey(k))
    expect(written?.origin).toBeDefined()
    // c loses its copy; a read through b repairs it.
    expect(await c.local.dropReplica(asKey(k), written!.version)).toBe(true)
    await b.store.get(asKey(k))
    await waitFor(async () => (await c.local.entry(asKey(k))) !== undefined, 5_000, 'read repair to reach c')
    expect((await c.local.entry(asKey(k)))?.origin).toBe(written?.origin)
    // A delete's tombstone, carried to a replica that missed it by anti-entropy, keeps its origin too.
    await a.store.delete(asKey(k))
    const tomb = await a.local.entry(asKey(k))
    expect(await c.local.dropReplica(asKey(k), tomb!.version)).toBe(true)
    await c.local.applyPut(asKey(k), pieces(Buffer.from('first')), { version: written!.version, created: written!.created, expires: null, contentType: written!.contentType })
    for (let i = 0; i < 3; i++) for (const n of [a, b, c]) await n.store.repairNow()
    expect(await c.local.entry(asKey(k))).toMatchObject({ deleted: true, version: tomb!.version, origin: tomb!.origin })
  })
})

describe('fanOut', () => {
  it('feeds every sink with bounded queues, and a cancelled sink fails its reader instead of ending cleanly', async () => {
    const { FanoutSink, fanOut } = await import('../../../src/store/replication/fanout.js')
    let stalled = 0
    const fast = new FanoutSink(systemClock, 1000, 5_000, () => { stalled++ })
    const slow = new FanoutSink(systemClock, 1000, 50, () => { stalled++ })
    const source = (async function * () { for (let i = 0; i < 20; i++) yield Buffer.alloc(500, i) })()
    const read = (async () => { let n = 0; for await (const p of fast) n += p.length; return n })()
    // `slow` is never read: it stalls, is cut off, and the write goes on with the other sink.
    const size = await fanOut(source, [fast, slow], { maxBytes: Infinity, minSinks: 1 })
    expect(size).toBe(10_000)
    expect(await read).toBe(10_000)
    expect(stalled).toBe(1)
    expect(slow.cancelled).toBe(true)
    const it = slow[Symbol.asyncIterator]()
    expect(await codeOf(it.next())).toBe('ERR_TIMEOUT')
  })

  it('fails every sink when the source is too large or too few sinks remain', async () => {
    const { FanoutSink, fanOut } = await import('../../../src/store/replication/fanout.js')
    const s = new FanoutSink(systemClock, 1 << 20, 5_000, () => {})
    const drained = (async () => { for await (const _ of s) { /* drain */ } })()
    expect(await codeOf(fanOut(pieces(randomBytes(1000), 100), [s], { maxBytes: 500, minSinks: 1 }))).toBe('ERR_TOO_LARGE')
    expect(await codeOf(drained)).toBe('ERR_TOO_LARGE')
    const t = new FanoutSink(systemClock, 1 << 20, 5_000, () => {})
    t.cancel()
    expect(await codeOf(fanOut(pieces(randomBytes(10)), [t], { maxBytes: Infinity, minSinks: 1 }))).toBe('ERR_QUORUM_NOT_MET')
  })

  it('inPiecesOf joins small pieces into pieces of at least the size asked, passes big ones as they are, and keeps every byte in order', async () => {
    const { inPiecesOf } = await import('../../../src/store/replication/fanout.js')
    const timing = { clock: systemClock, waitMs: 60_000 }
    const collect = async (source: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> => { const out: Uint8Array[] = []; for await (const p of inPiecesOf(source, 1000, timing)) out.push(p); return out }
    const value = randomBytes(10_500)
    const joined = await collect(pieces(value, 300))
    expect(joined.map(p => p.length)).toEqual([1200, 1200, 1200, 1200, 1200, 1200, 1200, 1200, 900])
    expect(Buffer.concat(joined).equals(value)).toBe(true)
    // A piece as big as asked, with nothing held before it, goes on as it is: no copy.
    const big = randomBytes(5000)
    const small = randomBytes(10)
    const out = await collect((async function * () { yield big; yield small })())
    expect(out).toHaveLength(2)
    expect(out[0]).toBe(big)
    expect(out[1]).toBe(small)
    expect(await collect(pieces(Buffer.alloc(0)))).toEqual([])
  })

  it('inPiecesOf does not hold a slow source\'s bytes back: what it holds goes on once nothing new came for waitMs', async () => {
    const { inPiecesOf } = await import('../../../src/store/replication/fanout.js')
    const clock = new ManualClock()
    // The source gives one 100-byte piece, then waits until the test lets it go on.
    let release = (): void => {}
    const source = (async function * () {
      yield Buffer.alloc(100, 1)
      await new Promise<void>(resolve => { release = resolve })
      yield Buffer.alloc(100, 2)
    })()
    const it = inPiecesOf(source, 1000, { clock, waitMs: 5 })[Symbol.asyncIterator]()
    const first = it.next()
    let got: IteratorResult<Uint8Array> | undefined
    void first.then(r => { got = r })
    await clock.advanceAsync(4)
    expect(got).toBeUndefined() // still within waitMs: held, the source may send more
    await clock.advanceAsync(1)
    expect(got?.value).toEqual(Buffer.alloc(100, 1))
    release()
    expect((await it.next()).value).toEqual(Buffer.alloc(100, 2))
    expect((await it.next()).done).toBe(true)
  })
})
