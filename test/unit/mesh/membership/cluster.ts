// A simulated cluster of SWIM peers on a MemoryNetwork and a ManualClock:
// deterministic for a given seed, shared by the unit tests, the simulation
// test and test/bench/mesh-sim.ts.
import { Writable } from 'node:stream'
import { pino, type Logger } from 'pino'
import type { Timer } from '../../../../src/common/clock.js'
import { seededRandom, type Random } from '../../../../src/common/random.js'
import { createMembership, type Membership, type MembershipEvent, type MembershipInit } from '../../../../src/mesh/membership/index.js'
import { MemoryNetwork, type MemoryTransport } from '../../../../src/mesh/transport/index.js'
import { ManualClock } from '../../../helpers/manual-clock.js'

export interface SimPeer {
  id: string
  address: string
  transport: MemoryTransport
  membership: Membership
  /** Parsed log lines of this peer (only when the cluster captures logs). */
  logs: Array<Record<string, unknown>>
}

/** An event as one peer saw it. */
export interface SeenEvent { at: number, observer: string, type: MembershipEvent['type'], peerId: string, incarnation: number }

export interface ClusterInit {
  seed?: number
  lossRate?: number
  /** One-way latency drawn uniformly from [min, max] ms per message (integers). @default [1, 1] */
  latencyMs?: [number, number]
  /** Options every peer gets (merged under the per-peer ones). */
  init?: MembershipInit
  /** Capture each peer's log lines at this level (off by default: silent). */
  logLevel?: 'debug' | 'info' | 'warn'
  /** Keep every event in `events` (a 1,000-peer run turns it off to save memory). @default true */
  recordEvents?: boolean
}

export class SimCluster {
  readonly clock = new ManualClock()
  readonly network: MemoryNetwork
  readonly peers = new Map<string, SimPeer>()
  readonly events: SeenEvent[] = []
  /** Called with every event as it happens. */
  readonly watchers = new Set<(e: SeenEvent) => void>()
  /** 'dead' events about peers still running at the time: false positives, unless the test cut them off. */
  falseDeaths = 0
  /** Each peer's live members but itself, kept from its events (cheaper to check than alive() in a 1,000-peer run). */
  private readonly views = new Map<string, Set<string>>()
  private readonly proposals = new Map<string, Timer>()
  private readonly seed: number
  private count = 0

  constructor (private readonly opts: ClusterInit = {}) {
    this.seed = opts.seed ?? 1
    const [min, max] = opts.latencyMs ?? [1, 1]
    const jitter: Random = seededRandom(this.seed * 7919 + 13)
    this.network = new MemoryNetwork({
      clock: this.clock,
      seed: this.seed,
      lossRate: opts.lossRate ?? 0,
      latencyMs: min === max ? min : () => min + Math.floor(jitter() * (max - min + 1))
    })
  }

  /** Creates and starts a peer (it joins nobody yet). */
  async add (id: string, init: MembershipInit & { address?: string } = {}): Promise<SimPeer> {
    const address = init.address ?? `${id}:1`
    const transport = this.network.createTransport(id, { address })
    const logs: Array<Record<string, unknown>> = []
    const membership = createMembership(
      { transport, clock: this.clock, log: this.logger(logs), random: seededRandom(this.seed * 100_003 + ++this.count) },
      { ...this.opts.init, ...init }
    )
    const view = new Set<string>()
    this.views.set(id, view)
    membership.on('peer:change', e => {
      if (e.type === 'join' || e.type === 'alive') view.add(e.member.peerId)
      else if (e.type === 'dead' || e.type === 'leave') view.delete(e.member.peerId)
      if (e.type === 'dead' && this.peers.has(e.member.peerId)) this.falseDeaths++
      if (this.opts.recordEvents === false && this.watchers.size === 0) return
      const seen: SeenEvent = { at: this.clock.now(), observer: id, type: e.type, peerId: e.member.peerId, incarnation: e.member.incarnation }
      if (this.opts.recordEvents !== false) this.events.push(seen)
      for (const w of this.watchers) w(seen)
    })
    await transport.start()
    await membership.start()
    const peer: SimPeer = { id, address, transport, membership, logs }
    this.peers.set(id, peer)
    return peer
  }

  get (id: string): SimPeer {
    const p = this.peers.get(id)
    if (p === undefined) throw new Error(`no peer ${id}`)
    return p
  }

  /**
   * Discovery's part: `id` joins `addresses` now and again every 5 s of
   * simulated time (STATIC_REPROPOSE_MS), as the static list is re-proposed;
   * membership ignores the addresses it already knows alive.
   */
  propose (id: string, addresses: string[]): void {
    const p = this.get(id)
    p.membership.join(addresses)
    this.proposals.get(id)?.cancel()
    this.proposals.set(id, this.clock.setInterval(() => { p.membership.join(addresses) }, 5_000))
  }

  /** Adds `ids`, each proposed the first one's address; returns once all of them see each other alive (bounded). */
  async boot (ids: string[], init: MembershipInit = {}): Promise<void> {
    for (const id of ids) await this.add(id, init)
    const first = this.get(ids[0])
    for (const id of ids.slice(1)) this.propose(id, [first.address])
    await this.until(() => this.converged(ids.length), 30_000)
  }

  /** Every running peer sees exactly `n` live members, itself included. */
  converged (n: number): boolean {
    for (const id of this.peers.keys()) if (this.views.get(id)?.size !== n - 1) return false
    return true
  }

  /** How many running peers (other than `peerId`) hold `peerId` alive or suspect. */
  holding (peerId: string): number {
    let k = 0
    for (const id of this.peers.keys()) if (id !== peerId && this.views.get(id)?.has(peerId) === true) k++
    return k
  }

  /** kill -9: the peer vanishes without a word (its transport goes first, so its leave is never heard). */
  async crash (id: string): Promise<void> {
    const p = this.get(id)
    this.forget(id)
    await p.transport.stop()
    await p.membership.stop()
  }

  /** Graceful stop: the membership announces its leave, then the transport closes. */
  async leave (id: string): Promise<void> {
    const p = this.get(id)
    this.forget(id)
    let stopped = false
    const stopping = p.membership.stop().finally(() => { stopped = true })
    await this.until(() => stopped, 5_000) // the leave waits for acknowledgements: simulated time must pass
    await stopping
    await p.transport.stop()
  }

  async run (ms: number): Promise<void> { await this.clock.advanceAsync(ms) }

  /** Advances in steps of `stepMs` until `cond` holds; returns the simulated time it took, or throws after `limitMs`. */
  async until (cond: () => boolean, limitMs: number, stepMs = 10): Promise<number> {
    const start = this.clock.now()
    while (!cond()) {
      if (this.clock.now() - start >= limitMs) throw new Error(`condition not met within ${limitMs} ms of simulated time`)
      await this.clock.advanceAsync(stepMs)
    }
    return this.clock.now() - start
  }

  /** Events of a type about a peer, as seen by anyone (or by `observer`). */
  seen (type: SeenEvent['type'], peerId: string, observer?: string): SeenEvent[] {
    return this.events.filter(e => e.type === type && e.peerId === peerId && (observer === undefined || e.observer === observer))
  }

  async stopAll (): Promise<void> {
    for (const id of [...this.peers.keys()]) await this.crash(id)
  }

  /** Stops tracking a peer (its events and views), before it stops or crashes. */
  forget (id: string): void {
    this.peers.delete(id)
    this.proposals.get(id)?.cancel()
    this.proposals.delete(id)
  }

  private logger (into: Array<Record<string, unknown>>): Logger {
    if (this.opts.logLevel === undefined) return pino({ level: 'silent' })
    const stream = new Writable({
      write (chunk: Buffer, _enc, done) {
        for (const line of chunk.toString().split('\n')) if (line !== '') into.push(JSON.parse(line) as Record<string, unknown>)
        done()
      }
    })
    return pino({ level: this.opts.logLevel }, stream)
  }
}
