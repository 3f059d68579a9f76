import { pino } from 'pino'
import { seededRandom } from '../../../src/common/random.js'
import { ClusterConfigMachine, MemoryRaftStorage, createCoordinator, type ClusterConfigCommand, type ClusterConfigResult, type Coordinator, type CoordinatorInit, type StateMachine } from '../../../src/coordinator/index.js'
import { MemoryNetwork, type MemoryTransport } from '../../../src/mesh/transport/index.js'
import { ManualClock } from '../../helpers/manual-clock.js'

export type ConfigCoordinator = Coordinator<ClusterConfigCommand, ClusterConfigResult>

/** A state machine with its command and result types. */
export type AnyMachine = StateMachine<any, any>
type CommandOf<M> = M extends StateMachine<infer C, any> ? C : never
type ResultOf<M> = M extends StateMachine<any, infer R> ? R : never

export interface Peer<M extends AnyMachine = ClusterConfigMachine> {
  id: string
  address: string
  storage: MemoryRaftStorage
  transport: MemoryTransport | undefined
  coordinator: Coordinator<CommandOf<M>, ResultOf<M>> | undefined
  machine: M
  up: boolean
}

export interface ClusterInit<M extends AnyMachine = ClusterConfigMachine> {
  /** A fresh state machine for a (re)started peer. @default a ClusterConfigMachine */
  machine?: () => M
  /** Peer ids; all of them are the initial voters unless `voters` says otherwise. */
  ids: string[]
  voters?: string[]
  seed?: number
  latencyMs?: number | ((from: string, to: string) => number)
  lossRate?: number
  coordinator?: Partial<CoordinatorInit>
}

const silent = pino({ level: 'silent' })

/** Coordinators on a MemoryNetwork driven by a ManualClock, with crash/restart over the same storage. */
export class TestCluster<M extends AnyMachine = ClusterConfigMachine> {
  readonly clock = new ManualClock()
  readonly net: MemoryNetwork
  readonly peers = new Map<string, Peer<M>>()
  private readonly random: () => number
  private readonly voters: string[]

  private readonly machine: () => M

  constructor (private readonly init: ClusterInit<M>) {
    this.machine = init.machine ?? (() => new ClusterConfigMachine() as unknown as M)
    this.net = new MemoryNetwork({ clock: this.clock, seed: init.seed ?? 1, latencyMs: init.latencyMs ?? 2, lossRate: init.lossRate ?? 0 })
    this.random = seededRandom((init.seed ?? 1) * 7919 + 13)
    this.voters = init.voters ?? init.ids
    for (const id of init.ids) {
      this.peers.set(id, { id, address: `${id}:1`, storage: new MemoryRaftStorage(), transport: undefined, coordinator: undefined, machine: this.machine(), up: false })
    }
  }

  peer (id: string): Peer<M> { return this.peers.get(id) as Peer<M> }
  co (id: string): Coordinator<CommandOf<M>, ResultOf<M>> { return this.peer(id).coordinator as Coordinator<CommandOf<M>, ResultOf<M>> }

  async startAll (): Promise<void> { for (const id of this.peers.keys()) await this.start(id) }

  /** Starts (or restarts after a crash) a peer: a new transport, coordinator and state machine over its old storage. */
  async start (id: string, extra: Partial<CoordinatorInit> = {}): Promise<Coordinator<CommandOf<M>, ResultOf<M>>> {
    const p = this.peer(id)
    p.transport = this.net.createTransport(id, { address: p.address })
    await p.transport.start()
    p.machine = this.machine()
    const bootstrap = this.voters.includes(id) ? { voters: this.voters.map(v => ({ peerId: v, address: this.peer(v).address })) } : {}
    const seed = Math.floor(this.random() * 2 ** 31)
    p.coordinator = createCoordinator({ transport: p.transport, clock: this.clock, log: silent, random: seededRandom(seed) },
      { storage: p.storage, ...bootstrap, ...this.init.coordinator, ...extra }, p.machine)
    await p.coordinator.start()
    p.up = true
    return p.coordinator
  }

  /** Kills a peer: its coordinator and transport stop; only its storage remains. */
  async crash (id: string): Promise<void> {
    const p = this.peer(id)
    p.up = false
    await p.coordinator?.stop()
    await p.transport?.stop()
  }

  async stopAll (): Promise<void> { for (const id of this.peers.keys()) await this.crash(id) }

  up (): Array<Peer<M>> { return [...this.peers.values()].filter(p => p.up) }
  leaders (): Array<Peer<M>> { return this.up().filter(p => p.coordinator?.isLeader() === true) }

  async advance (ms: number): Promise<void> { await this.clock.advanceAsync(ms) }

  /** Advances the clock in steps until `pred` holds; throws after `maxMs` of simulated time. */
  async until (pred: () => boolean, maxMs: number, stepMs = 10): Promise<number> {
    const start = this.clock.now()
    while (!pred()) {
      if (this.clock.now() - start >= maxMs) throw new Error(`condition not met within ${maxMs} simulated ms`)
      await this.advance(stepMs)
    }
    return this.clock.now() - start
  }

  /** Waits for exactly one leader among the live peers and returns it. */
  async leader (maxMs = 3_000): Promise<Peer<M>> {
    await this.until(() => this.leaders().length === 1 && this.up().every(p => p.coordinator?.leader()?.peerId === this.leaders()[0].id || !this.voters.includes(p.id)), maxMs)
    return this.leaders()[0]
  }

  /** Advances the clock until `promise` settles (at most `maxMs`); returns its outcome. */
  async settle<T> (promise: Promise<T>, maxMs = 10_000): Promise<{ ok: true, value: T } | { ok: false, error: unknown }> {
    let outcome: { ok: true, value: T } | { ok: false, error: unknown } | undefined
    promise.then(value => { outcome = { ok: true, value } }, error => { outcome = { ok: false, error } })
    await this.until(() => outcome !== undefined, maxMs, 5)
    return outcome as { ok: true, value: T } | { ok: false, error: unknown }
  }

  /** Like settle, but throws the rejection. */
  async run<T> (promise: Promise<T>, maxMs = 10_000): Promise<T> {
    const o = await this.settle(promise, maxMs)
    if (!o.ok) throw o.error
    return o.value
  }
}
