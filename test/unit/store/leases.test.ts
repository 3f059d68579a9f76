import { randomUUID } from 'node:crypto'
import { Readable } from 'node:stream'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { asKey } from '../../../src/store/index.js'
import { LEASE_MS } from '../../../src/store/replication/lease-rules.js'
import { waitFor } from '../../helpers/http.js'
import { cleanupPeers } from '../../helpers/peer.js'
import type { MemoryTransport } from '../../../src/mesh/transport/index.js'
import { replicaCluster, replicaNode, stopReplicaNodes, type ReplicaNode } from '../../helpers/replica-cluster.js'
import { codeOf } from '../../helpers/errors.js'

async function * one (s: string): AsyncIterable<Uint8Array> { yield Buffer.from(s) }

async function text (node: ReplicaNode, k: string): Promise<string> {
  const { body } = await node.store.get(asKey(k))
  if (Buffer.isBuffer(body)) return body.toString()
  const parts: Buffer[] = []
  for await (const c of body as Readable) parts.push(c as Buffer)
  return Buffer.concat(parts).toString()
}

/** Survey questions `node` has sent so far. */
function questions (node: ReplicaNode): () => number {
  const spy = vi.spyOn(node.transport, 'request')
  return () => spy.mock.calls.filter(([, msg]) => ['store.fetch', 'store.entry'].includes((msg as { type: string }).type)).length
}

describe('read leases (3 volume peers over MemoryTransport, N=3, W=2)', () => {
  afterEach(async () => {
    vi.restoreAllMocks()
    await stopReplicaNodes()
    await cleanupPeers()
  })

  async function settled (): Promise<Awaited<ReturnType<typeof replicaCluster>>> {
    const c = await replicaCluster(['a', 'b', 'c'], { replicas: 3, writeQuorum: 2, antiEntropy: { intervalMs: 50, busyIntervalMs: 50 } })
    await waitFor(() => c.nodes.every(n => n.store.ringSettled()), 10_000, 'anti-entropy to settle the ring')
    return c
  }

  /** Reads `k` through `node` until a read asks no other replica (the leases came), within the deadline. */
  async function aloneSoon (node: ReplicaNode, k: string): Promise<void> {
    const asked = questions(node)
    await waitFor(async () => {
      const before = asked()
      await codeOf(node.store.get(asKey(k)))
      return asked() === before
    }, 5_000, `${node.id} to read ${k} alone`)
  }

  it('once the ring is settled, a replica that holds leases answers reads of a key it wrote, or read once, from its own copy', async () => {
    const { nodes: [a, b] } = await settled()
    const mine = `/l/${randomUUID()}`
    await a.store.put(asKey(mine), one('by a'))
    await aloneSoon(a, mine)
    const asked = questions(a)
    const base = asked()
    expect(await text(a, mine)).toBe('by a')
    expect((await a.store.stat(asKey(mine)))?.size).toBe(4)
    expect(asked()).toBe(base)
    // A key written through another peer: the first read surveys (and proves the copy chosen), the next ones do not.
    const theirs = `/l/${randomUUID()}`
    await b.store.put(asKey(theirs), one('by b'))
    expect(await text(a, theirs)).toBe('by b')
    const after = asked()
    expect(await text(a, theirs)).toBe('by b')
    expect(asked()).toBe(after)
    // An absent key, once surveyed, is absent alone too.
    const none = `/l/${randomUUID()}`
    expect(await codeOf(a.store.get(asKey(none)))).toBe('ERR_NOT_FOUND')
    const afterAbsent = asked()
    expect(await codeOf(a.store.get(asKey(none)))).toBe('ERR_NOT_FOUND')
    expect(asked()).toBe(afterAbsent)
    // A 409 (decided on phase 1 alone) leaves the key readable alone: phase 1 proved its value chosen.
    await expect(a.store.put(asKey(mine), one('again'), { ifAbsent: true })).rejects.toMatchObject({ code: 'ERR_CONFLICT' })
    const after409 = asked()
    expect(await text(a, mine)).toBe('by a')
    expect(asked()).toBe(after409)
    expect(a.store.replicationStats().reads.alone).toBeGreaterThan(0)
  })

  /**
   * Reads `k` through `node` in a loop until `stop`, and returns the reads
   * that began after a write's 201 and still saw an older value (the values
   * are `values`, in the order written).
   */
  function readLoop (node: ReplicaNode, k: string, values: string[]): { acked: (v: string) => void, stop: () => Promise<string[]> } {
    const stale: string[] = []
    let acked = -1
    let reading = true
    const loop = (async () => {
      while (reading) {
        const expected = acked
        const got = values.indexOf(await text(node, k))
        if (got < expected) stale.push(`${values[got]} after ${values[expected]}`)
        await new Promise(resolve => setImmediate(resolve))
      }
    })()
    return {
      acked: v => { acked = values.indexOf(v) },
      stop: async () => {
        reading = false
        await loop
        return stale
      }
    }
  }

  /** Makes `node` commit no staged accept (every value here is written without a size hint, so staged) until the returned function is called. */
  function holdAccepts (node: ReplicaNode): () => void {
    let release = (): void => {}
    const held = new Promise<void>(resolve => { release = resolve })
    const applyStaged = node.local.applyStaged.bind(node.local)
    vi.spyOn(node.local, 'applyStaged').mockImplementation(async (...args) => {
      await held
      return await applyStaged(...args)
    })
    return release
  }

  /** Has every node read a key, so each asks for (and holds) read leases. */
  async function warm (nodes: ReplicaNode[]): Promise<void> {
    const k = `/l/${randomUUID()}`
    await nodes[0].store.put(asKey(k), one('warm'))
    for (const n of nodes) await aloneSoon(n, k)
  }

  it('a replica told by the proposer that the write it took is chosen (with the proposer\'s next request) reads it alone at once', async () => {
    const { nodes } = await settled()
    const [a, b] = nodes
    await warm(nodes)
    const k = `/l/${randomUUID()}`
    await b.store.put(asKey(k), one('by b'))
    // b's next request to a carries the news.
    await b.store.put(asKey(`/l/${randomUUID()}`), one('next'))
    const asked = questions(a)
    const before = asked()
    expect(await text(a, k)).toBe('by b')
    expect(asked()).toBe(before)
  })

  it('a read through a peer that holds no copy asks only the key\'s first replica, which answers alone under its lease', async () => {
    const { network, view, nodes } = await settled()
    view.add('g', ['gateway'])
    const g = await replicaNode(network, view, 'g', { replicas: 3, writeQuorum: 2 })
    await warm(nodes)
    const asked = questions(g)
    const alone = (): number => nodes.reduce((sum, n) => sum + n.store.replicationStats().reads.alone, 0)
    // g's write, then its first read: the question to the key's first replica tells it the write is chosen, and it answers alone.
    const k = `/l/${randomUUID()}`
    await g.store.put(asKey(k), one('through g'))
    const [q, n] = [asked(), alone()]
    expect(await text(g, k)).toBe('through g')
    expect([asked() - q, alone() - n]).toEqual([1, 1])
    expect(await codeOf(g.store.get(asKey(`/l/${randomUUID()}`)))).toBe('ERR_NOT_FOUND')
  })

  it('a write acknowledged without the holder (its accept lost) waits for the holder\'s lease: the holder never reads the old value after the 201', async () => {
    const { network, nodes: [a, b] } = await settled()
    const k = `/l/${randomUUID()}`
    const values = ['old', 'new 0', 'new 1']
    await a.store.put(asKey(k), one(values[0]))
    await aloneSoon(a, k)
    // b's accepts (and every other request of b) no longer reach a; a still reaches c, and renews its grant there.
    network.block('b:1', 'a:1')
    const reads = readLoop(a, k, values)
    for (const v of values.slice(1)) {
      await b.store.put(asKey(k), one(v))
      reads.acked(v)
      expect(await text(a, k)).toBe(v)
    }
    expect(await reads.stop()).toEqual([])
    network.heal()
  })

  it('a holder whose accept is slow keeps its grants, and learns of the write with the next one: no old value after the 201', async () => {
    const { nodes: [a, b] } = await settled()
    // A key b prepares at b and c only: a hears of b's write by its accept alone.
    let k = ''
    do k = `/l/${randomUUID()}`; while (b.store.replicasOf(asKey(k))[2] !== 'a')
    const values = ['old', 'new']
    await a.store.put(asKey(k), one(values[0]))
    await aloneSoon(a, k)
    // a takes b's accept only once released: b answers 201 when a's lease would have run out, a renewing it meanwhile.
    const release = holdAccepts(a)
    const reads = readLoop(a, k, values)
    await b.store.put(asKey(k), one(values[1]))
    reads.acked(values[1])
    expect(await text(a, k)).toBe(values[1])
    await waitFor(() => a.store.replicationStats().reads.surveyed > 0, 1_000, 'a read through a after the 201')
    release()
    expect(await reads.stop()).toEqual([])
  })

  it('a holder that refused a write because it promised a newer ballot is not waited for, and does not answer alone below that ballot', async () => {
    const { nodes } = await settled()
    const [a, b, c] = nodes
    await warm(nodes)
    // A key that c prepares at c and b only (its own copy first, then the preference list), so a sees nothing of c's write but its accept.
    let k = ''
    do k = `/l/${randomUUID()}`; while (c.store.replicasOf(asKey(k))[2] !== 'a')
    await a.store.put(asKey(k), one('old'))
    await aloneSoon(a, k)
    // Another proposer's phase 1 reaches a with a ballot newer than any c will use: a refuses c's accept.
    const v = a.local.nextVersion()
    const newer = (BigInt(`0x${v.slice(0, 12)}`) + 60_000n).toString(16).padStart(12, '0') + v.slice(12)
    const promise = await b.transport.request('a:1', { type: 'store.prepare', v: 1, key: k, ballot: newer }, { timeoutMs: 5_000 })
    expect(promise.msg.promised).toBe(true)
    const started = performance.now()
    await c.store.put(asKey(k), one('new'))
    expect(performance.now() - started).toBeLessThan(LEASE_MS / 2)
    expect((await a.local.entry(asKey(k)))?.size).toBe(3) // a still holds 'old'
    expect(await text(a, k)).toBe('new')
  })

  it('a holder\'s own proposal floors its copy from phase 1 on: a write it refuses under its own promise never leaves it answering the old copy alone', async () => {
    const { nodes } = await settled()
    const [a, , c] = nodes
    await warm(nodes)
    let k = ''
    do k = `/l/${randomUUID()}`; while (c.store.replicasOf(asKey(k))[2] !== 'a')
    expect(await codeOf(a.store.get(asKey(k)))).toBe('ERR_NOT_FOUND') // a knows the key absent, alone from now on
    // a's own add_key takes a ballot newer than c's and promises it to itself; its questions to the others never get answered.
    const v = a.local.nextVersion()
    a.local.observeVersion((BigInt(`0x${v.slice(0, 12)}`) + 60_000n).toString(16).padStart(12, '0') + v.slice(12))
    const request = Object.getPrototypeOf(a.transport).request as MemoryTransport['request']
    vi.spyOn(a.transport, 'request').mockImplementation(async (to, msg, opts) => {
      if ((msg as { type: string }).type === 'store.prepare') return await new Promise(() => {})
      return await request.call(a.transport, to, msg, opts)
    })
    const mine = a.store.put(asKey(k), one('by a'), { ifAbsent: true })
    mine.catch(() => {})
    await waitFor(async () => (await a.local.prepare(asKey(k), '000000000000.0000.x')).promised === false, 2_000, 'a to promise its ballot')
    // c's add_key (older ballot) is taken by b and c; a refuses it under its promise, and c answers 201 without waiting.
    await c.store.put(asKey(k), one('by c'), { ifAbsent: true })
    vi.mocked(a.transport.request).mockImplementation(async (to, msg, opts) => await request.call(a.transport, to, msg, opts))
    expect(await text(a, k)).toBe('by c')
  })

  it('a lease that lapsed while the holder was idle comes back with the writes it missed: what it knew of other keys stays, those are read anew', async () => {
    const { nodes: [a, , c] } = await settled()
    // A key c prepares at c and b only: a hears of c's write by its accept alone, which it holds.
    let k = ''
    do k = `/l/${randomUUID()}`; while (c.store.replicasOf(asKey(k))[2] !== 'a')
    const other = `/l/${randomUUID()}`
    await a.store.put(asKey(k), one('old'))
    await a.store.put(asKey(other), one('other'))
    await aloneSoon(a, k)
    // a takes no accept while idle; its lease runs out, and c's write is acknowledged by b and c alone.
    const release = holdAccepts(a)
    // Until a write through c no longer waits for a: a's grants ran out.
    await waitFor(async () => {
      const t0 = performance.now()
      await c.store.put(asKey(`/l/${randomUUID()}`), one('probe'))
      return performance.now() - t0 < LEASE_MS / 2
    }, 10_000, 'a\'s grants to run out')
    const started = performance.now()
    await c.store.put(asKey(k), one('new'))
    expect(performance.now() - started).toBeLessThan(LEASE_MS / 2) // no lease of a's ran: nothing to wait for
    const asked = questions(a)
    for (let i = 0; i < 5; i++) expect(await text(a, k)).toBe('new')
    // The other key: read alone again once the grants are back, without a survey.
    await waitFor(async () => {
      const before = asked()
      expect(await text(a, other)).toBe('other')
      return asked() === before
    }, 5_000, 'a to read the other key alone again')
    release()
  })

  it('a holder cut off from every grantor stops answering alone before a write that skipped it is acknowledged', async () => {
    const { network, nodes: [a, b] } = await settled()
    const k = `/l/${randomUUID()}`
    await a.store.put(asKey(k), one('old'))
    await aloneSoon(a, k)
    // Nothing reaches a any more: no accept, no grant; a's own requests still leave (their answers are lost).
    network.block('b:1', 'a:1')
    network.block('c:1', 'a:1')
    const started = performance.now()
    await b.store.put(asKey(k), one('new'))
    // b's write waited for a's lease to run out (at most LEASE_MS after its last grant).
    expect(performance.now() - started).toBeLessThanOrEqual(LEASE_MS + 500)
    // a cannot renew: its read surveys (and fails, no answer comes back), never the old copy alone.
    expect(await text(a, k).catch((err: { code?: string }) => err.code)).not.toBe('old')
    network.heal()
  })
})
