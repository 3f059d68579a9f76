import { join } from 'node:path'
import { systemClock, type Clock } from '../../src/common/clock.js'
import { createLogger } from '../../src/common/logger.js'
import type { Random } from '../../src/common/random.js'
import type { Member, MemberState, Membership, MembershipEvent } from '../../src/mesh/membership/index.js'
import { MemoryNetwork, type MemoryTransport } from '../../src/mesh/transport/index.js'
import { createLocalStore, type ReplicaStore } from '../../src/store/index.js'
import { ReplicatedStore, type ReplicatedStoreInit } from '../../src/store/replication/replicated-store.js'
import { tempDir } from './peer.js'

const log = createLogger({ level: 'silent' })

/** One membership view shared by every peer of a test; states are set by hand and announced as membership events. */
export class View {
  readonly members = new Map<string, Member>()
  readonly listeners = new Set<(e: MembershipEvent) => void>()

  add (peerId: string, roles = ['volume']): void {
    this.members.set(peerId, { peerId, address: `${peerId}:1`, state: 'alive', incarnation: 0, meta: { http: `http://${peerId}`, roles }, lastHeard: null })
    this.emit('join', peerId)
  }

  set (peerId: string, state: MemberState): void {
    const m = this.members.get(peerId) as Member
    m.state = state
    this.emit(state === 'alive' ? 'alive' : state === 'left' ? 'leave' : 'dead', peerId)
  }

  private emit (type: MembershipEvent['type'], peerId: string): void {
    for (const fn of [...this.listeners]) fn({ type, member: { ...this.members.get(peerId) as Member } })
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

/** A volume peer of a unit test: its transport, its own store (under `dir/store`) and the replicated store over them. */
export interface ReplicaNode { id: string, dir: string, transport: MemoryTransport, local: ReplicaStore, store: ReplicatedStore }

export interface ReplicaNodeOptions {
  /** Content chunk size of the local store. @default the store's */
  chunkBytes?: number
  /** Keep hints under `dir/hints` (hinted handoff). @default false */
  hints?: boolean
  /** Start the transport and the store. @default true */
  start?: boolean
  /** The clock of the peer's stores (a ManualClock drives anti-entropy's timer). @default systemClock */
  clock?: Clock
  /** The peer's source of jitter. @default Math.random */
  random?: Random
}

const started: ReplicaNode[] = []

/** A peer on `network` whose membership is `view`'s; stopped by stopReplicaNodes. */
export async function replicaNode (network: MemoryNetwork, view: View, id: string, init: ReplicatedStoreInit, options: ReplicaNodeOptions = {}): Promise<ReplicaNode> {
  const dir = tempDir('pmz-replica-')
  const transport = network.createTransport(id)
  const clock = options.clock ?? systemClock
  const local = createLocalStore({ clock, log }, { dir: join(dir, 'store'), peerId: id, chunkBytes: options.chunkBytes, sync: 'os' })
  const store = new ReplicatedStore({ local, transport, membership: view.membership(id), clock, random: options.random, log },
    options.hints === true ? { hintsDir: join(dir, 'hints'), ...init } : init)
  const node = { id, dir, transport, local, store }
  started.push(node)
  if (options.start !== false) {
    await transport.start()
    await store.start()
  }
  return node
}

/** Volume peers `ids`, all alive in one view, on one in-memory network. */
export async function replicaCluster (ids: string[], init: ReplicatedStoreInit, options: ReplicaNodeOptions = {}): Promise<{ view: View, network: MemoryNetwork, nodes: ReplicaNode[] }> {
  const network = new MemoryNetwork()
  const view = new View()
  for (const id of ids) view.add(id)
  const nodes: ReplicaNode[] = []
  for (const id of ids) nodes.push(await replicaNode(network, view, id, init, options))
  return { view, network, nodes }
}

/** Stops every node the test started; for afterEach (cleanupPeers removes their dirs). */
export async function stopReplicaNodes (): Promise<void> {
  for (const n of started.splice(0)) {
    await n.store.stop()
    await n.transport.stop()
  }
}

/** Has stopReplicaNodes stop a node the test built itself (a store restarted on a node's dir). */
export function stopLater (node: ReplicaNode): void {
  started.push(node)
}
