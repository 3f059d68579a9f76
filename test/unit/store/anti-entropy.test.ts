import { randomBytes } from 'node:crypto'
import { afterEach, describe, expect, it, onTestFinished, vi } from 'vitest'
import { MemoryNetwork } from '../../../src/mesh/transport/index.js'
import { PARTITIONS, createRing } from '../../../src/ring/index.js'
import { COARSE, coarseOf, coarseWire, differingBuckets, pairDigests, partitionWire } from '../../../src/store/replication/digests.js'
import { AntiEntropy, type AntiEntropyInit } from '../../../src/store/replication/anti-entropy.js'
import { asKey, type RepairEvent } from '../../../src/store/index.js'
import type { PartitionView } from '../../../src/store/types.js'
import { waitFor } from '../../helpers/http.js'
import { ManualClock } from '../../helpers/manual-clock.js'
import { cleanupPeers } from '../../helpers/peer.js'
import { View, replicaNode, stopReplicaNodes, type ReplicaNode } from '../../helpers/replica-cluster.js'

async function * bytes (b: Buffer): AsyncIterable<Uint8Array> { if (b.length > 0) yield b }

describe('digests', () => {
  /** A store's partition digests with some records in them. */
  function view (records: Array<{ p: number, hi: number, lo: number }>): PartitionView {
    const v = { xorHi: new Uint32Array(PARTITIONS), xorLo: new Uint32Array(PARTITIONS), count: new Uint32Array(PARTITIONS), changedAt: new Float64Array(PARTITIONS) }
    for (const r of records) {
      v.xorHi[r.p] ^= r.hi
      v.xorLo[r.p] ^= r.lo
      v.count[r.p]++
    }
    return { ...v, heldBytes: () => 0, expire: async () => {}, young: () => [], entries: () => [] }
  }

  it('pair digests cover the shared partitions only, leave the young records out, and differ exactly where a partition differs', () => {
    const records = Array.from({ length: 300 }, (_, i) => ({ p: (i * 7919) % PARTITIONS, hi: i * 2654435761 >>> 0, lo: i + 1 }))
    const all = new Uint8Array(PARTITIONS).fill(1)
    const a = pairDigests(view(records), all, [])
    // b misses one record and holds one young record more, which is left out of the comparison.
    const young = { p: 12345, hi: 7, lo: 9 }
    const b = pairDigests(view([...records.slice(1), young]), all, [young])
    const coarse = differingBuckets(coarseWire(a), coarseWire(b), COARSE)
    expect(coarse).toEqual([coarseOf(records[0].p)])
    expect(differingBuckets(partitionWire(a, coarse), partitionWire(b, coarse), PARTITIONS)).toEqual([records[0].p])
    // A partition the pair does not share is not compared at all.
    const mask = new Uint8Array(PARTITIONS).fill(1)
    mask[records[0].p] = 0
    expect(differingBuckets(coarseWire(pairDigests(view(records), mask, [])), coarseWire(pairDigests(view([...records.slice(1), young]), mask, [young])), COARSE)).toEqual([])
  })
})

describe('anti-entropy and rebalancing over MemoryTransport', () => {
  afterEach(async () => {
    await stopReplicaNodes()
    await cleanupPeers()
  })

  /** A peer whose rounds run right after the writes: nothing waits to settle. */
  async function node (network: MemoryNetwork, view: View, id: string, init: { replicas: number, writeQuorum: number, antiEntropy: AntiEntropyInit }, start = true): Promise<ReplicaNode> {
    return await replicaNode(network, view, id, { ...init, antiEntropy: { settleMs: 0, ...init.antiEntropy } }, { chunkBytes: 64 * 1024, start })
  }

  async function cluster (ids: string[], init: { replicas: number, writeQuorum: number, antiEntropy: AntiEntropyInit }): Promise<{ view: View, nodes: ReplicaNode[], network: MemoryNetwork }> {
    const network = new MemoryNetwork()
    const view = new View()
    for (const id of ids) view.add(id)
    const nodes: ReplicaNode[] = []
    for (const id of ids) nodes.push(await node(network, view, id, init))
    return { view, nodes, network }
  }

  /** Rounds on every node until `done`, at most `max` rounds each. */
  async function rounds (nodes: ReplicaNode[], done: () => Promise<boolean>, max = 40): Promise<number> {
    for (let i = 0; i < max; i++) {
      if (await done()) return i
      for (const n of nodes) await n.store.repairNow()
    }
    if (await done()) return max
    throw new Error(`not converged after ${max} rounds`)
  }

  async function holders (nodes: ReplicaNode[], key: string): Promise<Array<{ id: string, version: string, deleted: boolean }>> {
    const out = []
    for (const n of nodes) {
      const e = await n.local.entry(asKey(key))
      if (e !== undefined) out.push({ id: n.id, version: e.version, deleted: e.deleted })
    }
    return out
  }

  /** Every key has N = 3 copies on `nodes` and none of them counts a key under-replicated. */
  async function threeCopies (nodes: ReplicaNode[], keys: string[]): Promise<boolean> {
    for (const k of keys) if ((await holders(nodes, k)).length !== 3) return false
    return (await Promise.all(nodes.map(async n => await n.store.ringStatus()))).every(s => s.underReplicated === 0)
  }

  it('leaves versions younger than the settle time to the write path: they are neither compared nor moved', async () => {
    // (A settle time well inside what the partition digests remember of young versions, PARTITION_RECENT_MS.)
    const { nodes } = await cluster(['a', 'b', 'c'], { replicas: 3, writeQuorum: 2, antiEntropy: { auto: false, settleMs: 30_000 } })
    const [a, b] = nodes
    await a.local.applyPut(asKey('/fresh'), bytes(Buffer.from('just written')), { version: a.local.nextVersion(), created: Date.now(), expires: null, contentType: 'text/plain' })
    for (let i = 0; i < 3; i++) for (const n of nodes) await n.store.repairNow()
    expect(await b.local.entry(asKey('/fresh'))).toBeUndefined()
    // Every pair compared equal digests: the fresh key does not keep the rounds busy.
    const s = await a.store.ringStatus()
    expect(s.antiEntropy.inSync.length).toBe(3)
    expect(s.antiEntropy.keysRepaired).toBe(0)
  })

  it('compares versions written before the ring changed, however young: a joiner is not confirmed (nor reads settled) before it holds them', async () => {
    const network = new MemoryNetwork()
    const view = new View()
    view.add('a')
    view.add('b')
    const init = { replicas: 3, writeQuorum: 2, antiEntropy: { auto: false, settleMs: 60_000 } }
    const a = await node(network, view, 'a', init)
    const b = await node(network, view, 'b', init)
    const keys = Array.from({ length: 20 }, (_, i) => `/before-join/${i}`)
    for (const k of keys) await a.store.put(asKey(k), bytes(Buffer.from(k)))
    // c joins right after the writes: they are younger than the settle time, but older than c's ring.
    view.add('c')
    const c = await node(network, view, 'c', init)
    for (let i = 0; i < 3; i++) for (const n of [a, b, c]) await n.store.repairNow()
    // Anti-entropy alone (no read yet, so no read repair) moved them, and only then confirmed the joiner.
    for (const k of keys) expect(await c.local.entry(asKey(k)), `${k} copied to the joiner`).toBeDefined()
    expect((await c.store.ringStatus()).antiEntropy.inSync.sort()).toEqual(['a', 'b', 'c'])
    for (const k of keys) expect((await c.store.get(asKey(k))).body.toString(), `read of ${k} through the joiner`).toBe(k)
  })

  it('counts the records held here at once, without waiting for a round, and tells the ring shares (admin/ring localKeys, shares)', async () => {
    const { nodes: [a] } = await cluster(['a', 'b', 'c'], { replicas: 3, writeQuorum: 2, antiEntropy: { auto: false } })
    for (let i = 0; i < 5; i++) await a.store.put(asKey(`/count/${i}`), bytes(Buffer.from('x')))
    await a.store.delete(asKey('/count/0'))
    const status = await a.store.ringStatus()
    expect(status.localKeys).toBe(5)
    // And each ring peer's share of the hash space, for the dashboard's ring view.
    expect(Object.keys(status.shares).sort()).toEqual(['a', 'b', 'c'])
    expect(Object.values(status.shares).reduce((x, y) => x + y, 0)).toBeCloseTo(1, 9)
  })

  it('a replica that missed writes and deletes converges through anti-entropy alone, no read', async () => {
    const { nodes } = await cluster(['a', 'b', 'c'], { replicas: 3, writeQuorum: 2, antiEntropy: { auto: false } })
    const [a, b, c] = nodes
    const keys: string[] = []
    for (let i = 0; i < 30; i++) {
      const k = `/ae/${i}`
      keys.push(k)
      await a.store.put(asKey(k), bytes(randomBytes(100 + i)))
    }
    // a alone gets 10 new keys and 5 deletes; b alone gets 3 keys (pulled by the others).
    for (let i = 30; i < 40; i++) {
      keys.push(`/ae/${i}`)
      await a.local.applyPut(asKey(`/ae/${i}`), bytes(randomBytes(300)), { version: a.local.nextVersion(), created: Date.now(), expires: null, contentType: 'application/octet-stream' })
    }
    for (let i = 0; i < 5; i++) await a.local.applyTombstone(asKey(`/ae/${i}`), a.local.nextVersion(), Date.now())
    for (let i = 40; i < 43; i++) {
      keys.push(`/ae/${i}`)
      await b.local.applyPut(asKey(`/ae/${i}`), bytes(Buffer.from(`only on b ${i}`)), { version: b.local.nextVersion(), created: Date.now(), expires: null, contentType: 'text/plain' })
    }
    const converged = async (): Promise<boolean> => {
      for (const k of keys) {
        const h = await holders(nodes, k)
        if (h.length !== 3 || new Set(h.map(x => x.version)).size !== 1) return false
      }
      return true
    }
    expect(await converged()).toBe(false)
    await rounds(nodes, converged)
    for (let i = 0; i < 5; i++) expect((await holders(nodes, `/ae/${i}`)).every(h => h.deleted)).toBe(true)
    expect((await c.local.get(asKey('/ae/41'))).body.toString()).toBe('only on b 41')
    expect((await c.local.stats()).entries).toBe(43 - 5)
    // Once every pair has compared, nothing is under-replicated and every peer is confirmed in sync.
    await rounds(nodes, async () => {
      const s = await Promise.all(nodes.map(async n => await n.store.ringStatus()))
      return s.every(x => x.underReplicated === 0 && x.antiEntropy.inSync.length === 3)
    })
    const s = await a.store.ringStatus()
    expect(s).toMatchObject({ replicas: 3, writeQuorum: 2, volumePeers: ['a', 'b', 'c'], localKeys: 43, underReplicated: 0 })
    expect(s.antiEntropy.keysRepaired).toBeGreaterThan(0)
    // Each transfer is counted by the side that started the exchange: a's 10 values of 300 bytes reached b and c, b's 3 reached a and c.
    const moved = nodes.reduce((n, x) => n + x.store.replicationStats().antiEntropy.bytes, 0)
    expect(moved).toBeGreaterThanOrEqual(2 * 10 * 300 + 2 * 3 * 'only on b 40'.length)
    expect(nodes.reduce((n, x) => n + x.store.replicationStats().repairRounds, 0)).toBeGreaterThan(0)
  })

  it('a peer dead past the grace period leaves the ring and its keys get N copies on the survivors', async () => {
    const { view, nodes } = await cluster(['a', 'b', 'c', 'd'], { replicas: 3, writeQuorum: 2, antiEntropy: { auto: false, deadGraceMs: 1_500 } })
    const keys = Array.from({ length: 80 }, (_, i) => `/dead/${i}`)
    for (const k of keys) await nodes[0].store.put(asKey(k), bytes(randomBytes(64)))
    const d = nodes[3]
    await d.store.stop()
    await d.transport.stop()
    view.set('d', 'dead')
    const survivors = nodes.slice(0, 3)
    // Within the grace period d stays on the ring: its keys are under-replicated, nothing moves.
    await survivors[0].store.repairNow()
    const early = await survivors[0].store.ringStatus()
    expect(early.volumePeers).toContain('d')
    expect(early.underReplicated).toBeGreaterThan(0)
    const died = Date.now()
    // The grace runs on the real clock: wait until every survivor has taken d off the ring, then repair.
    await waitFor(async () => (await Promise.all(survivors.map(async n => await n.store.ringStatus()))).every(s => s.removedDead.includes('d')), 5_000, 'd to leave the ring')
    expect(Date.now() - died).toBeGreaterThanOrEqual(1_000)
    await rounds(survivors, async () => await threeCopies(survivors, keys))
    const s = await survivors[0].store.ringStatus()
    expect(s.volumePeers).toEqual(['a', 'b', 'c'])
    expect(s.removedDead).toEqual(['d'])
    expect(s.lastRepairMs).not.toBeNull()
  })

  it('a joining peer receives the keys it now owns; old owners drop theirs only once the new owners confirmed', async () => {
    const init = { replicas: 2, writeQuorum: 1, antiEntropy: { auto: false } }
    const { view, nodes, network } = await cluster(['a', 'b', 'c'], init)
    const keys = Array.from({ length: 120 }, (_, i) => `/join/${i}`)
    for (const k of keys) await nodes[0].store.put(asKey(k), bytes(Buffer.from(k)))
    // d joins the membership but is not reachable yet: nothing may be dropped.
    const d = await node(network, view, 'd', init, false)
    view.add('d')
    for (let i = 0; i < 3; i++) for (const n of nodes) await n.store.repairNow()
    const ring = createRing({ peers: ['a', 'b', 'c', 'd'].map(peerId => ({ peerId })) })
    const moving = keys.filter(k => ring.preferenceList(k, 2).includes('d'))
    expect(moving.length).toBeGreaterThan(20)
    for (const k of keys) expect((await holders(nodes, k)).length, k).toBe(2)
    await d.transport.start()
    await d.store.start()
    const all = [...nodes, d]
    const placed = async (): Promise<boolean> => {
      for (const k of keys) {
        const h = (await holders(all, k)).map(x => x.id).sort()
        if (h.join() !== ring.preferenceList(k, 2).sort().join()) return false
      }
      return true
    }
    await rounds(all, placed)
    expect((await d.local.stats()).entries).toBe(moving.length)
    const handed = (await Promise.all(nodes.map(async n => (await n.store.ringStatus()).antiEntropy.handedOff))).reduce((x, y) => x + y, 0)
    expect(handed).toBeGreaterThan(0)
    for (const k of moving.slice(0, 10)) expect((await d.store.get(asKey(k))).body.toString()).toBe(k)
  })

  it('reports a ring change once and the repair it causes, round by round, until done (Store.onRepair, GET /events ring topic)', async () => {
    const init = { replicas: 2, writeQuorum: 1, antiEntropy: { auto: false } }
    const { view, nodes, network } = await cluster(['a', 'b', 'c'], init)
    const keys = Array.from({ length: 60 }, (_, i) => `/told/${i}`)
    for (const k of keys) await nodes[0].store.put(asKey(k), bytes(Buffer.alloc(100, 1)))
    for (const n of nodes) await n.store.repairNow()
    const seen: RepairEvent[] = []
    const off = nodes[0].store.onRepair(e => { seen.push(e) })
    // Steady state: rounds that move nothing are not reported.
    for (const n of nodes) await n.store.repairNow()
    expect(seen).toEqual([])
    const d = await node(network, view, 'd', init)
    view.add('d')
    const all = [...nodes, d]
    await rounds(all, async () => seen.some(e => e.type === 'repair' && e.done))
    off()
    expect(seen.filter(e => e.type === 'ring')).toEqual([{ type: 'ring', peers: ['a', 'b', 'c', 'd'] }])
    const repairs = seen.filter(e => e.type === 'repair')
    expect(repairs.reduce((n, e) => n + e.keysRepaired, 0)).toBeGreaterThan(0)
    expect(repairs.reduce((n, e) => n + e.bytes, 0)).toBeGreaterThan(0)
    expect(repairs.at(-1)).toMatchObject({ done: true })
    expect(repairs.slice(0, -1).every(e => !e.done)).toBe(true)
    for (let i = 1; i < repairs.length; i++) expect(repairs[i].round).toBeGreaterThan(repairs[i - 1].round)
  })

  it('a peer that left gracefully leaves the ring at once, and its keys get N copies', async () => {
    const { view, nodes } = await cluster(['a', 'b', 'c', 'd'], { replicas: 3, writeQuorum: 2, antiEntropy: { auto: false, deadGraceMs: 60_000 } })
    const keys = Array.from({ length: 40 }, (_, i) => `/left/${i}`)
    for (const k of keys) await nodes[0].store.put(asKey(k), bytes(randomBytes(32)))
    const d = nodes[3]
    await d.store.stop()
    await d.transport.stop()
    view.set('d', 'left')
    const survivors = nodes.slice(0, 3)
    expect((await survivors[0].store.ringStatus()).volumePeers).toEqual(['a', 'b', 'c'])
    await rounds(survivors, async () => await threeCopies(survivors, keys))
  })

  it('a quiet round compares with nobody; a change is sent by the peer it happened on, and only to peers sharing its partition', async () => {
    const { nodes } = await cluster(['a', 'b', 'c', 'd'], { replicas: 2, writeQuorum: 1, antiEntropy: { auto: false } })
    const keys = Array.from({ length: 40 }, (_, i) => `/quiet/${i}`)
    for (const k of keys) await nodes[0].store.put(asKey(k), bytes(Buffer.from(k)))
    await rounds(nodes, async () => (await Promise.all(nodes.map(async n => await n.store.ringStatus()))).every(s => s.antiEntropy.inSync.length === 4 && s.underReplicated === 0))
    // Every pair confirmed and nothing changed: no round compares with anyone (no digest, no walk).
    for (const n of nodes) expect((await n.store.repairNow()).peers).toEqual([])
    // A record that reached only one replica of its key (as a missed write would leave it).
    const ring = createRing({ peers: ['a', 'b', 'c', 'd'].map(peerId => ({ peerId })) })
    const key = '/quiet/new'
    const [first, second] = ring.preferenceList(key, 2)
    const holder = nodes.find(n => n.id === first) as ReplicaNode
    await holder.local.applyPut(asKey(key), bytes(Buffer.from('only here')), { version: holder.local.nextVersion(), created: Date.now(), expires: null, contentType: 'text/plain' })
    for (const n of nodes.filter(n => n !== holder)) expect((await n.store.repairNow()).peers).toEqual([])
    const r = await holder.store.repairNow()
    expect(r.peers).toContain(second)
    expect(r.pushed).toBe(1)
    expect((await (nodes.find(n => n.id === second) as ReplicaNode).local.get(asKey(key))).body.toString()).toBe('only here')
  })

  it('bounds the work of a round', async () => {
    const { nodes } = await cluster(['a', 'b'], { replicas: 2, writeQuorum: 1, antiEntropy: { auto: false, maxKeysPerRound: 5 } })
    const [a, b] = nodes
    for (let i = 0; i < 30; i++) {
      await a.local.applyPut(asKey(`/bound/${i}`), bytes(randomBytes(10)), { version: a.local.nextVersion(), created: Date.now(), expires: null, contentType: 'application/octet-stream' })
    }
    const r = await a.store.repairNow()
    expect(r.pushed + r.pulled).toBe(5)
    expect((await b.local.stats()).entries).toBe(5)
    const n = await rounds([a], async () => (await b.local.stats()).entries === 30)
    expect(n).toBeGreaterThanOrEqual(5)
  })

  it('rounds run only when the injected clock says, each delay jittered by the injected random', async () => {
    const clock = new ManualClock(Date.now())
    // The low end of the jitter: each delay is 0.8 times its interval.
    const random = vi.fn(() => 0)
    const network = new MemoryNetwork()
    const view = new View()
    for (const id of ['a', 'b', 'c']) view.add(id)
    const init = { replicas: 3, writeQuorum: 2, antiEntropy: { settleMs: 0, busyIntervalMs: 100, intervalMs: 1_000 } }
    const nodes: ReplicaNode[] = []
    for (const id of ['a', 'b', 'c']) nodes.push(await replicaNode(network, view, id, init, { clock, random }))
    const [a, , c] = nodes
    // Each peer drew once and armed its first (busy) round 80 ms ahead; nothing runs before it.
    expect(random).toHaveBeenCalledTimes(3)
    // Rounds started, all three peers together (the component is the store's own: its class is spied on).
    const started = vi.spyOn(AntiEntropy.prototype, 'runRound')
    onTestFinished(() => { started.mockRestore() })
    clock.advance(79)
    expect(started.mock.calls.length).toBe(0)
    clock.advance(1)
    expect(started.mock.calls.length).toBe(3)
    // A finished round draws again and arms the next (80 or 800 ms): each advance of 1 s fires one round per peer.
    let fired = 1
    const tick = async (): Promise<void> => {
      await vi.waitFor(() => { expect(random).toHaveBeenCalledTimes(3 * (fired + 1)) }, { timeout: 5_000 })
      clock.advance(1_000)
      fired++
    }
    const inSync = async (): Promise<boolean> => (await Promise.all(nodes.map(async n => await n.store.ringStatus()))).every(s => s.antiEntropy.inSync.length === 3)
    while (!await inSync() && fired < 10) await tick()
    expect(await inSync()).toBe(true)
    // A record written on a alone reaches c at the next round the clock fires.
    await a.local.applyPut(asKey('/clocked'), bytes(Buffer.from('x')), { version: a.local.nextVersion(), created: clock.now(), expires: null, contentType: 'text/plain' })
    await tick()
    await vi.waitFor(async () => { expect(await c.local.entry(asKey('/clocked'))).toBeDefined() }, { timeout: 5_000 })
    expect(started.mock.calls.length).toBe(3 * fired)
  })

  it('runs continually on its own timer', async () => {
    const { nodes } = await cluster(['a', 'b', 'c'], { replicas: 3, writeQuorum: 2, antiEntropy: { intervalMs: 100, busyIntervalMs: 20 } })
    const [a, , c] = nodes
    await a.local.applyPut(asKey('/timer/1'), bytes(Buffer.from('x')), { version: a.local.nextVersion(), created: Date.now(), expires: null, contentType: 'text/plain' })
    await waitFor(async () => (await c.local.entry(asKey('/timer/1'))) !== undefined, 5_000, 'anti-entropy to copy the key on its own timer', 20)
  })
})
