import { randomUUID } from 'node:crypto'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { systemClock } from '../../../src/common/clock.js'
import { createLogger } from '../../../src/common/logger.js'
import type { Member, MemberState, Membership, MembershipEvent } from '../../../src/mesh/membership/index.js'
import { MemoryNetwork, type MemoryTransport } from '../../../src/mesh/transport/index.js'
import { createLocalStore, type ReplicaStore } from '../../../src/store/index.js'
import { ReplicatedStore, type ReplicatedStoreInit } from '../../../src/store/replication/replicated-store.js'
import { cleanupPeers, tempDir } from '../../helpers/peer.js'

const log = createLogger({ level: 'silent' })

/** One membership view shared by every peer of a test; states are set by hand. */
class View {
  readonly members = new Map<string, Member>()
  readonly listeners = new Set<(e: MembershipEvent) => void>()

  add (peerId: string): void {
    this.members.set(peerId, { peerId, address: `${peerId}:1`, state: 'alive', incarnation: 0, meta: { http: `http://${peerId}`, roles: ['volume'] }, lastHeard: null })
  }

  set (peerId: string, state: MemberState): void {
    const m = this.members.get(peerId) as Member
    m.state = state
    for (const fn of this.listeners) fn({ type: state === 'alive' ? 'alive' : 'dead', member: { ...m } })
  }

  membership (peerId: string): Membership {
    const all = (): Member[] => [...this.members.values()].map(m => ({ ...m }))
    return {
      peerId,
      self: () => all().find(m => m.peerId === peerId) as Member,
      members: all,
      alive: () => all().filter(m => m.state === 'alive' || m.state === 'suspect'),
      get: id => all().find(m => m.peerId === id),
      join: () => {},
      updateMeta: () => {},
      on: (_e, fn) => { this.listeners.add(fn); return () => { this.listeners.delete(fn) } },
      start: async () => {},
      stop: async () => {}
    }
  }
}

interface Node { id: string, dir: string, transport: MemoryTransport, local: ReplicaStore, store: ReplicatedStore }

async function * one (s: string): AsyncIterable<Uint8Array> { yield Buffer.from(s) }

async function poll (fn: () => Promise<boolean> | boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}

describe('hinted handoff (3 volume peers over MemoryTransport, N=3, W=2)', () => {
  const started: Node[] = []
  afterEach(async () => {
    for (const n of started.splice(0)) {
      await n.store.stop()
      await n.transport.stop()
    }
    await cleanupPeers()
  })

  async function cluster (extra: Partial<ReplicatedStoreInit> = {}): Promise<{ view: View, network: MemoryNetwork, nodes: Node[] }> {
    const network = new MemoryNetwork()
    const view = new View()
    const ids = ['a', 'b', 'c']
    for (const id of ids) view.add(id)
    const nodes: Node[] = []
    for (const id of ids) {
      const transport = network.createTransport(id)
      const dir = tempDir('pmz-hints-')
      const local = createLocalStore({ clock: systemClock, log }, { dir: join(dir, 'store'), peerId: id, sync: 'os' })
      const store = new ReplicatedStore({ local, transport, membership: view.membership(id), clock: systemClock, log }, { replicas: 3, writeQuorum: 2, hintsDir: join(dir, 'hints'), ...extra })
      await transport.start()
      await store.start()
      const node = { id, dir, transport, local, store }
      nodes.push(node)
      started.push(node)
    }
    return { view, network, nodes }
  }

  const key = (): string => `/h/${randomUUID()}`

  it('writes and deletes a dead replica missed are recorded at the coordinator and delivered when it is alive again, without a read', async () => {
    const { view, nodes: [a, b, c] } = await cluster()
    const doomed = key()
    await a.store.put(doomed, one('soon gone'))
    view.set('c', 'dead')
    const keys = Array.from({ length: 20 }, key)
    const versions = new Map<string, string>()
    for (const k of keys) versions.set(k, (await a.store.put(k, one(k))).version)
    await a.store.delete(doomed)
    expect(a.store.handoff?.pending('c')).toBe(21)
    expect(b.store.handoff?.pending()).toBe(0)
    for (const k of keys) expect(await c.local.entry(k)).toBeUndefined()

    view.set('c', 'alive')
    await poll(() => a.store.handoff?.pending('c') === 0, 'the hints to be delivered')
    for (const k of keys) expect((await c.local.entry(k))?.version).toBe(versions.get(k))
    expect((await c.local.entry(doomed))?.deleted).toBe(true)
    expect(a.store.handoff?.delivered).toBe(21)
    expect(a.store.repair.repaired).toBe(0)
  })

  it('a replica alive in membership but unreachable gets a hint from its failed operation, delivered on the next pass', async () => {
    const { nodes: [a, , c] } = await cluster()
    await c.transport.stop()
    const k = key()
    const meta = await a.store.put(k, one('x'))
    await poll(() => a.store.handoff?.pending('c') === 1, 'the failed replica op to leave a hint')
    await c.transport.start()
    await a.store.handoff?.deliver('c')
    expect(a.store.handoff?.pending('c')).toBe(0)
    expect((await c.local.entry(k))?.version).toBe(meta.version)
  })

  it('a hint for a version the target already holds (or a newer one) is removed without a copy', async () => {
    const { view, nodes: [a, b, c] } = await cluster()
    view.set('c', 'dead')
    const k = key()
    await a.store.put(k, one('old'))
    view.set('c', 'alive')
    // b writes a newer version to all three before a's hint is delivered.
    const newer = await b.store.put(k, one('new'))
    await poll(() => a.store.handoff?.pending('c') === 0, 'the stale hint to go')
    expect((await c.local.entry(k))?.version).toBe(newer.version)
  })

  it('hints wait while the target is unknown (e.g. after a restart of the coordinator) and go when it has left', async () => {
    const { view, nodes: [a] } = await cluster()
    view.set('c', 'dead')
    await a.store.put(key(), one('x'))
    const c = view.members.get('c') as Member
    view.members.delete('c')
    await a.store.handoff?.deliver('c')
    expect(a.store.handoff?.pending('c')).toBe(1)
    view.members.set('c', c)
    view.set('c', 'left')
    await a.store.handoff?.deliver('c')
    expect(a.store.handoff?.pending('c')).toBe(0)
    expect(a.store.handoff?.dropped).toBe(1)
  })

  it('hints are durable across a restart of the coordinator, capped per target, and dropped past their age', async () => {
    const { view, nodes: [a] } = await cluster({ hintMaxAgeMs: 60_000 })
    view.set('c', 'dead')
    for (let i = 0; i < 3; i++) await a.store.put(key(), one(String(i)))
    expect(a.store.handoff?.pending('c')).toBe(3)
    await a.store.stop()
    await a.store.start()
    expect(a.store.handoff?.pending('c')).toBe(3)
    expect(a.store.handoff?.hintsFor('c')).toHaveLength(3)

    // Capped: a second coordinator with room for two hints drops the rest.
    const { view: v2, nodes: [x] } = await cluster({ hintMaxAgeMs: 1 })
    const capped = (x.store.handoff as NonNullable<typeof x.store.handoff>)
    ;(capped as unknown as { maxPerTarget: number }).maxPerTarget = 2
    v2.set('c', 'dead')
    for (let i = 0; i < 3; i++) await x.store.put(key(), one(String(i)))
    expect(capped.pending('c')).toBe(2)
    expect(capped.dropped).toBe(1)
    // Past their age (1 ms here) they are dropped on delivery instead of sent.
    await new Promise(resolve => setTimeout(resolve, 5))
    v2.set('c', 'alive')
    await poll(() => capped.pending('c') === 0, 'old hints to be dropped')
    expect(capped.delivered).toBe(0)
    expect(capped.dropped).toBe(3)
  })
})
