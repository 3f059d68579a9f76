import { randomUUID } from 'node:crypto'
import { afterEach, describe, expect, it } from 'vitest'
import type { Member } from '../../../src/mesh/membership/index.js'
import type { MemoryNetwork } from '../../../src/mesh/transport/index.js'
import type { ReplicatedStoreInit } from '../../../src/store/replication/replicated-store.js'
import { waitFor } from '../../helpers/http.js'
import { cleanupPeers } from '../../helpers/peer.js'
import { replicaCluster, stopReplicaNodes, type ReplicaNode, type View } from '../../helpers/replica-cluster.js'
import { asKey } from '../../../src/store/index.js'

async function * one (s: string): AsyncIterable<Uint8Array> { yield Buffer.from(s) }

/** A peer's hint counts, as its metrics read them (only c is ever missed here, so they are c's). */
const hints = (n: ReplicaNode): { pending: number, delivered: number, dropped: number } => n.store.replicationStats().hints

describe('hinted handoff (3 volume peers over MemoryTransport, N=3, W=2)', () => {
  afterEach(async () => {
    await stopReplicaNodes()
    await cleanupPeers()
  })

  async function cluster (extra: Partial<ReplicatedStoreInit> = {}): Promise<{ view: View, network: MemoryNetwork, nodes: ReplicaNode[] }> {
    return await replicaCluster(['a', 'b', 'c'], { replicas: 3, writeQuorum: 2, ...extra }, { hints: true })
  }

  const key = (): string => `/h/${randomUUID()}`

  it('writes and deletes a dead replica missed are recorded at the coordinator and delivered when it is alive again, without a read', async () => {
    const { view, nodes: [a, b, c] } = await cluster()
    const doomed = key()
    await a.store.put(asKey(doomed), one('soon gone'))
    view.set('c', 'dead')
    const keys = Array.from({ length: 20 }, key)
    const versions = new Map<string, string>()
    for (const k of keys) versions.set(k, (await a.store.put(asKey(k), one(k))).version)
    await a.store.delete(asKey(doomed))
    expect(hints(a).pending).toBe(21)
    expect(hints(b).pending).toBe(0)
    for (const k of keys) expect(await c.local.entry(asKey(k))).toBeUndefined()

    view.set('c', 'alive')
    await waitFor(() => hints(a).pending === 0, 5_000, 'the hints to be delivered')
    for (const k of keys) expect((await c.local.entry(asKey(k)))?.version).toBe(versions.get(k))
    expect((await c.local.entry(asKey(doomed)))?.deleted).toBe(true)
    expect(hints(a).delivered).toBe(21)
    expect(a.store.replicationStats().readRepair.keys).toBe(0)
  })

  it('a replica alive in membership but unreachable gets a hint from its failed operation, delivered on the next pass', async () => {
    const { nodes: [a, , c] } = await cluster()
    await c.transport.stop()
    const k = key()
    const meta = await a.store.put(asKey(k), one('x'))
    await waitFor(() => hints(a).pending === 1, 5_000, 'the failed replica op to leave a hint')
    await c.transport.start()
    await a.store.deliverHints('c')
    expect(hints(a).pending).toBe(0)
    expect((await c.local.entry(asKey(k)))?.version).toBe(meta.version)
  })

  it('a hint for a version the target already holds (or a newer one) is removed without a copy', async () => {
    const { view, nodes: [a, b, c] } = await cluster()
    view.set('c', 'dead')
    const k = key()
    await a.store.put(asKey(k), one('old'))
    view.set('c', 'alive')
    // b writes a newer version to all three before a's hint is delivered.
    const newer = await b.store.put(asKey(k), one('new'))
    await waitFor(() => hints(a).pending === 0, 5_000, 'the stale hint to go')
    expect((await c.local.entry(asKey(k)))?.version).toBe(newer.version)
  })

  it('hints wait while the target is unknown (e.g. after a restart of the coordinator) and go when it has left', async () => {
    const { view, nodes: [a] } = await cluster()
    view.set('c', 'dead')
    await a.store.put(asKey(key()), one('x'))
    const c = view.members.get('c') as Member
    view.members.delete('c')
    await a.store.deliverHints('c')
    expect(hints(a).pending).toBe(1)
    view.members.set('c', c)
    view.set('c', 'left')
    await a.store.deliverHints('c')
    expect(hints(a).pending).toBe(0)
    expect(hints(a).dropped).toBe(1)
  })

  it('hints are durable across a restart of the coordinator, capped per target, and dropped past their age', async () => {
    const { view, nodes: [a] } = await cluster({ hintMaxAgeMs: 60_000 })
    view.set('c', 'dead')
    for (let i = 0; i < 3; i++) await a.store.put(asKey(key()), one(String(i)))
    expect(hints(a).pending).toBe(3)
    await a.store.stop()
    await a.store.start()
    expect(hints(a).pending).toBe(3)

    // Capped: a second coordinator with room for two hints drops the rest.
    const { view: v2, nodes: [x] } = await cluster({ hintMaxAgeMs: 1, hintMaxPerTarget: 2 })
    v2.set('c', 'dead')
    for (let i = 0; i < 3; i++) await x.store.put(asKey(key()), one(String(i)))
    expect(hints(x).pending).toBe(2)
    expect(hints(x).dropped).toBe(1)
    // Past their age (1 ms here) they are dropped on delivery instead of sent.
    const written = Date.now()
    await waitFor(() => Date.now() > written + 1, 1_000, 'the hints to pass their age', 1)
    v2.set('c', 'alive')
    await waitFor(() => hints(x).pending === 0, 5_000, 'old hints to be dropped')
    expect(hints(x).delivered).toBe(0)
    expect(hints(x).dropped).toBe(3)
  })
})
