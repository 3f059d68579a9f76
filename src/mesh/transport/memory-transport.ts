import { PmzError, fromWireError, toWireError, type WireError } from '../../common/errors.js'
import type { Clock } from '../../common/clock.js'
import { systemClock } from '../../common/clock.js'
import { seededRandom, type Random } from '../../common/random.js'
import { Registrations } from './registrations.js'
import { REQUEST_TIMEOUT_MS } from './constants.js'
import { isReply, type Message, type Reply, type RequestOptions, type Sender, type Transport, type TransportRejectEvent } from './types.js'

export interface MemoryNetworkInit {
  clock?: Clock
  /** Seed of the PRNG behind loss and jitter. @default 1 */
  seed?: number
  /** One-way delay of every message, ms; a function gets (from, to). @default 0 */
  latencyMs?: number | ((from: string, to: string) => number)
  /** Fraction of messages dropped, 0-1. @default 0 */
  lossRate?: number
}

/**
 * An in-process network of {@link MemoryTransport}s with knobs for latency,
 * loss and partitions. Delivery runs on the injected clock, so a ManualClock
 * makes whole-cluster runs deterministic.
 */
export class MemoryNetwork {
  readonly clock: Clock
  readonly random: Random
  latencyMs: number | ((from: string, to: string) => number)
  lossRate: number
  /** Messages delivered and dropped so far. */
  readonly counters = { delivered: 0, dropped: 0 }
  private readonly nodes = new Map<string, MemoryTransport>()
  private groups: Map<string, number> | undefined
  private readonly blocked = new Set<string>()

  constructor (init: MemoryNetworkInit = {}) {
    this.clock = init.clock ?? systemClock
    this.random = seededRandom(init.seed ?? 1)
    this.latencyMs = init.latencyMs ?? 0
    this.lossRate = init.lossRate ?? 0
  }

  /** A transport for `peerId`, reachable at `address` (default `<peerId>:1`) once started. */
  createTransport (peerId: string, init: { address?: string, clusterKey?: string } = {}): MemoryTransport {
    return new MemoryTransport(this, peerId, init.address ?? `${peerId}:1`, init.clusterKey ?? '')
  }

  /** Splits the network: addresses in different groups cannot reach each other; unlisted ones reach nobody. */
  partition (groups: string[][]): void {
    this.groups = new Map()
    groups.forEach((g, i) => { for (const a of g) this.groups?.set(a, i) })
  }

  /** Drops every message from `from` to `to` (one direction) until healed. */
  block (from: string, to: string): void { this.blocked.add(`${from}>${to}`) }

  heal (): void {
    this.groups = undefined
    this.blocked.clear()
  }

  /** @internal */
  attach (t: MemoryTransport): void { this.nodes.set(t.address(), t) }
  /** @internal */
  detach (t: MemoryTransport): void { if (this.nodes.get(t.address()) === t) this.nodes.delete(t.address()) }
  /** @internal */
  lookup (address: string): MemoryTransport | undefined { return this.nodes.get(address) }

  /** @internal Whether a message from `from` to `to` gets through now (partitions, blocks, loss). */
  passes (from: string, to: string): boolean {
    const cut = this.blocked.has(`${from}>${to}`) ||
      (this.groups !== undefined && (this.groups.get(from) === undefined || this.groups.get(from) !== this.groups.get(to)))
    const ok = !cut && !(this.lossRate > 0 && this.random() < this.lossRate)
    if (ok) this.counters.delivered++
    else this.counters.dropped++
    return ok
  }

  /** @internal Runs `fn` after the link's latency. */
  later (from: string, to: string, fn: () => void): void {
    const ms = typeof this.latencyMs === 'function' ? this.latencyMs(from, to) : this.latencyMs
    this.clock.setTimeout(fn, ms)
  }
}

interface Pending {
  resolve: (r: Reply) => void
  reject: (err: Error) => void
}

/** The in-memory {@link Transport}: the same contract as ZeroMQ, for unit tests and simulations. */
export class MemoryTransport extends Registrations implements Transport {
  private readonly pending = new Map<number, Pending>()
  private readonly inbound = new Set<AbortController>()
  private nextId = 1
  private running = false

  constructor (
    private readonly network: MemoryNetwork,
    readonly peerId: string,
    private readonly addr: string,
    private readonly clusterKey: string
  ) { super() }

  address (): string { return this.addr }

  async start (): Promise<void> {
    if (this.running) return
    this.running = true
    this.network.attach(this)
  }

  async stop (): Promise<void> {
    if (!this.running) return
    this.running = false
    this.network.detach(this)
    for (const c of this.inbound) c.abort(new PmzError('ERR_SHUTTING_DOWN', 'transport stopped'))
    for (const p of this.pending.values()) p.reject(new PmzError('ERR_SHUTTING_DOWN', 'transport stopped'))
    this.pending.clear()
  }

  async request (to: string, msg: Message, options: RequestOptions = {}): Promise<Reply> {
    if (!this.running) throw new PmzError('ERR_SHUTTING_DOWN', 'transport stopped')
    if (options.signal?.aborted === true) throw new PmzError('ERR_ABORTED', `${msg.type} to ${to} aborted`)
    const id = this.nextId++
    const timeoutMs = options.timeoutMs ?? REQUEST_TIMEOUT_MS
    return await new Promise<Reply>((resolve, reject) => {
      const timer = this.network.clock.setTimeout(() => {
        settle(() => reject(new PmzError('ERR_TIMEOUT', `no reply to ${msg.type} from ${to} within ${timeoutMs} ms`)))
      }, timeoutMs)
      const onAbort = (): void => { settle(() => reject(new PmzError('ERR_ABORTED', `${msg.type} to ${to} aborted`))) }
      const settle = (fn: () => void): void => {
        if (!this.pending.delete(id)) return
        timer.cancel()
        options.signal?.removeEventListener('abort', onAbort)
        fn()
      }
      options.signal?.addEventListener('abort', onAbort, { once: true })
      this.pending.set(id, { resolve: r => settle(() => resolve(r)), reject: e => settle(() => reject(e)) })
      this.transmit(to, target => {
        void target.serve(this.sender(), msg, options.body, timeoutMs).then(answer => {
          if (!this.network.passes(to, this.addr)) return
          this.network.later(to, this.addr, () => {
            const p = this.pending.get(id)
            if (p === undefined) return
            if ('error' in answer) p.reject(fromWireError(answer.error))
            else p.resolve(answer.reply)
          })
        })
      }, () => this.pending.get(id)?.reject(new PmzError('ERR_UNAVAILABLE', `peer ${to} is unreachable`)))
    })
  }

  send (to: string, msg: Message): boolean {
    if (!this.running) return false
    const target = this.network.lookup(to)
    if (target === undefined) return false
    this.transmit(to, t => t.receive(this.sender(), msg), () => {})
    return true
  }

  disconnect (_to: string): void {}

  private sender (): Sender & { key: string } {
    return { peerId: this.peerId, address: this.addr, key: this.clusterKey }
  }

  /** Delivers to a live peer after the link's latency, or calls `unreachable`; lost messages vanish. */
  private transmit (to: string, deliver: (target: MemoryTransport) => void, unreachable: () => void): void {
    if (!this.network.passes(this.addr, to)) return
    this.network.later(this.addr, to, () => {
      const target = this.network.lookup(to)
      if (target === undefined || !target.running) unreachable()
      else deliver(target)
    })
  }

  private admits (from: Sender & { key: string }): boolean {
    if (from.key === this.clusterKey) return true
    this.events.emit('transport:rejected', { type: 'rejected', remote: from.address, reason: 'wrong cluster key' } satisfies TransportRejectEvent)
    return false
  }

  /** @internal Runs the handler of a request that arrived. */
  async serve (from: Sender & { key: string }, msg: Message, body: AsyncIterable<Uint8Array> | undefined, timeoutMs: number):
  Promise<{ reply: Reply } | { error: WireError }> {
    if (!this.admits(from)) return await new Promise(() => {}) // a peer with the wrong key gets no answer at all
    const handler = this.handlers.get(msg.type)
    if (handler === undefined) return { error: { code: 'ERR_NOT_FOUND', message: `no handler for ${msg.type}` } }
    const control = new AbortController()
    const timer = this.network.clock.setTimeout(() => control.abort(new PmzError('ERR_TIMEOUT', 'requester deadline passed')), timeoutMs)
    this.inbound.add(control)
    try {
      const result = await handler({ msg: structuredClone(msg), from: { peerId: from.peerId, address: from.address }, body, signal: control.signal })
      return { reply: isReply(result) ? { msg: structuredClone(result.msg), body: result.body } : { msg: structuredClone(result) } }
    } catch (err) {
      return { error: toWireError(err) }
    } finally {
      timer.cancel()
      this.inbound.delete(control)
    }
  }

  /** @internal Runs the listener of a one-way message that arrived. */
  receive (from: Sender & { key: string }, msg: Message): void {
    if (!this.admits(from)) return
    this.listeners.get(msg.type)?.(structuredClone(msg), { peerId: from.peerId, address: from.address })
  }
}
