import { EventEmitter } from 'node:events'
import type { Clock, Timer } from '../../common/clock.js'
import type { Logger } from '../../common/logger.js'
import type { Random } from '../../common/random.js'
import type { Message, Sender, Transport } from '../transport/types.js'
import { FOREIGN_LOG_LIMIT, LEAVE_FANOUT, LEAVE_TIMEOUT_MS, MIN_RETRANSMITS, REAP_INTERVAL_MS, SWIM_VERSION } from './constants.js'
import { BroadcastQueue } from './broadcast-queue.js'
import { MemberTable } from './member-table.js'
import { parseSwimMessage, type Parsed, type SyncMessage, type WireMember } from './messages.js'
import { resolveInit, type MembershipComponents, type MembershipInit, type SwimConfig } from './options.js'
import { Prober, type ProbeHost, type ProbeMessage } from './prober.js'
import { PushPull, type SyncHost } from './push-pull.js'
import {
  expectedConfirmations, isLive, merge, refutation, retransmitLimit, suspicionBounds,
  toFullWire, toMember, toWire, type EventType, type MemberRecord
} from './rules.js'
import { Suspicion } from './suspicion.js'
import type { Member, MemberMeta, Membership, MembershipEvent } from './types.js'

const ONE_WAY = ['swim.ping', 'swim.ack', 'swim.nack', 'swim.ping-req', 'swim.gossip'] as const

/**
 * SWIM membership over a {@link Transport}: the I/O around the pure rules in
 * rules.ts. Probes run over one-way messages matched by sequence number (as
 * SWIM runs over UDP); joins and push-pull exchanges are requests. Events
 * are about other members (this peer's own changes are not emitted). Not
 * restartable: a peer that comes back is a new instance, at incarnation 0.
 */
export class SwimMembership implements Membership, ProbeHost, SyncHost {
  readonly peerId: string
  readonly table: MemberTable
  private readonly transport: Transport
  private readonly clock: Clock
  private readonly log: Logger
  private readonly random: Random
  private readonly cfg: SwimConfig
  private readonly queue = new BroadcastQueue()
  private readonly prober: Prober
  private readonly suspicions = new Map<string, Suspicion>()
  // Every replicated write in flight follows its replicas' deaths (replica-writer, register):
  // a busy peer has many listeners by design, each removed when its write ends.
  private readonly events = new EventEmitter().setMaxListeners(0)
  private readonly foreign = new Set<string>()
  private readonly pushPull: PushPull
  private readonly timers = new Map<string, Timer>()
  private unregister: Array<() => void> = []
  /** Between start() and stop(). */
  running = false
  private leaving = false
  private stopping: Promise<void> | undefined

  constructor (components: MembershipComponents, init: MembershipInit = {}) {
    this.transport = components.transport
    this.clock = components.clock
    this.log = components.log
    this.random = components.random ?? Math.random
    this.cfg = resolveInit(init)
    this.peerId = this.transport.peerId
    const self: MemberRecord = { peerId: this.peerId, address: '', state: 'alive', incarnation: this.cfg.incarnation, meta: this.cfg.meta, lastHeard: null, changedAt: this.clock.now() }
    this.table = new MemberTable(self, this.random)
    this.prober = new Prober(this, this.clock, this.log, this.cfg)
    this.pushPull = new PushPull(this, this.transport, this.clock, this.log, this.cfg)
  }

  async start (): Promise<void> {
    if (this.running || this.leaving) return
    this.table.self = { ...this.table.self, address: this.transport.address(), changedAt: this.clock.now() }
    this.running = true
    for (const type of ONE_WAY) this.unregister.push(this.transport.onMessage(type, (msg, from) => { this.receive(msg, from) }))
    this.unregister.push(this.transport.handle('swim.sync', req => this.pushPull.answer(req)))
    // Timers start at random phases, so that peers started together do not probe and gossip in lockstep.
    this.prober.start(Math.floor(this.random() * this.cfg.probeIntervalMs))
    this.every('gossip', () => this.cfg.gossipIntervalMs, () => { this.gossipRound() }, Math.floor(this.random() * this.cfg.gossipIntervalMs))
    this.every('reap', () => REAP_INTERVAL_MS, () => { this.reap() }, REAP_INTERVAL_MS)
    if (this.cfg.pushPullIntervalMs > 0) {
      const jittered = (): number => Math.floor(this.pushPull.intervalMs() * (0.5 + this.random()))
      this.every('push-pull', jittered, () => { this.pushPull.round() }, jittered())
    }
    this.queue.enqueue(toWire(this.table.self))
    this.log.info({ address: this.table.self.address, incarnation: this.table.self.incarnation }, 'membership started')
  }

  async stop (): Promise<void> {
    if (this.running) this.stopping ??= this.shutdown()
    await this.stopping
  }

  self (): Member { return toMember(this.table.self) }
  members (): Member[] { return this.table.all().map(toMember) }
  alive (): Member[] { return this.table.all().filter(r => isLive(r.state)).map(toMember) }

  get (peerId: string): Member | undefined {
    const r = this.table.get(peerId)
    return r === undefined ? undefined : toMember(r)
  }

  join (addresses: string[]): void {
    if (!this.running) return
    // Discovery proposes known peers again and again; only unknown, dead or left addresses are contacted.
    const known = new Set(this.table.all().filter(r => isLive(r.state)).map(r => r.address))
    for (const address of new Set(addresses)) if (!known.has(address)) this.pushPull.sync(address, true)
  }

  updateMeta (meta: Partial<MemberMeta>): void {
    const self = this.table.self
    this.table.self = { ...self, incarnation: self.incarnation + 1, meta: { ...self.meta, ...meta } }
    if (this.running) this.queue.enqueue(toWire(this.table.self))
  }

  on (event: 'peer:change', fn: (e: MembershipEvent) => void): () => void {
    this.events.on(event, fn)
    return () => { this.events.off(event, fn) }
  }

  // ProbeHost

  send (to: string, msg: ProbeMessage, first?: WireMember): void {
    const updates = this.queue.take(this.cfg.maxUpdatesPerMessage - (first === undefined ? 0 : 1), this.limit())
    if (first !== undefined) updates.unshift(first)
    this.transport.send(to, { ...msg, v: SWIM_VERSION, cluster: this.cfg.cluster, updates })
  }

  probeFailed (peerId: string, incarnation: number): void {
    const r = this.table.get(peerId)
    if (r === undefined || !isLive(r.state)) return
    this.apply({ peerId, address: r.address, state: 'suspect', incarnation, from: this.peerId }, false)
  }

  suspicionOf (r: MemberRecord): WireMember {
    return { peerId: r.peerId, address: r.address, state: 'suspect', incarnation: r.incarnation, from: this.peerId }
  }

  // Receiving

  private receive (raw: Message, from: Sender): void {
    if (!this.running) return
    try {
      const parsed = parseSwimMessage(raw, this.cfg.cluster)
      if (!parsed.ok) { this.refused(parsed, from.address); return }
      const msg = parsed.msg
      if (msg.type === 'swim.sync' || msg.type === 'swim.sync-reply') return
      for (const u of msg.updates) this.apply(u, false)
      this.touch(from.peerId)
      if (msg.type === 'swim.ping') this.prober.onPing(msg, from)
      else if (msg.type === 'swim.ack') this.prober.onAck(msg)
      else if (msg.type === 'swim.nack') this.prober.onNack(msg)
      else if (msg.type === 'swim.ping-req') this.prober.onPingReq(msg, from)
      // Someone this peer holds unknown or gone is talking to it (it restarted knowing nobody, sits on an
      // island that joined through a failed join, or was declared dead across a partition): exchange states.
      const sender = this.table.get(from.peerId)
      if (sender === undefined || !isLive(sender.state)) this.pushPull.repair(from.address)
    } catch (err) {
      this.log.warn({ err, type: raw.type }, 'membership message failed')
    }
  }

  refused (p: Exclude<Parsed, { ok: true }>, address: string): void {
    if (!p.foreign) {
      this.log.debug({ address, reason: p.reason }, 'malformed membership message ignored')
    } else if (!this.foreign.has(address)) {
      if (this.foreign.size >= FOREIGN_LOG_LIMIT) this.foreign.clear()
      this.foreign.add(address)
      this.log.warn({ address, cluster: p.cluster }, 'peer of another cluster ignored')
    }
  }

  touch (peerId: string): void {
    const r = this.table.get(peerId)
    if (r !== undefined && r !== this.table.self && isLive(r.state)) r.lastHeard = this.clock.now()
  }

  /** Merges one update and carries out its effects: suspicion timers, gossip, events. */
  apply (u: WireMember, viaSync: boolean): void {
    if (u.peerId === this.peerId) { this.refute(u); return }
    const cur = this.table.get(u.peerId)
    const now = this.clock.now()
    const res = merge(cur, u, now, viaSync)
    const rec = res.record
    if (res.heard === true && cur !== undefined) cur.lastHeard = now
    if (rec === undefined) return
    this.table.put(rec)
    // In a full-state exchange, what the other peer suspects counts as this peer's own suspicion (memberlist).
    const from = viaSync && rec.state === 'suspect' ? this.peerId : u.from
    let rebroadcast = res.rebroadcast
    if (rec.state === 'suspect') {
      if (cur?.state !== 'suspect') this.suspect(rec, from)
      else if (from !== undefined && this.suspicions.get(rec.peerId)?.confirm(from) === true) rebroadcast = true
    } else if (cur?.state === 'suspect') {
      this.suspicions.get(rec.peerId)?.cancel()
      this.suspicions.delete(rec.peerId)
    }
    if (cur !== undefined && isLive(cur.state) && !isLive(rec.state)) this.transport.disconnect(cur.address)
    if (rebroadcast) this.queue.enqueue(toWire(rec, from))
    if (res.event !== undefined) this.emit(res.event, rec)
  }

  /** SWIM 4.2: this peer hears itself suspected, declared dead or outdated, and answers with a higher incarnation. */
  private refute (u: WireMember): void {
    const incarnation = refutation(this.table.self, u, this.leaving)
    if (incarnation === undefined) return
    this.table.self = { ...this.table.self, incarnation }
    // Lifeguard: being suspected hints that this peer is the slow one.
    if (u.state === 'suspect' || u.state === 'dead') this.prober.adjustHealth(1)
    this.queue.enqueue(toWire(this.table.self))
    this.log.info({ incarnation, heard: u.state, heardIncarnation: u.incarnation }, 'refuted')
  }

  private suspect (rec: MemberRecord, from: string | undefined): void {
    const n = this.table.live
    const { minMs, maxMs } = suspicionBounds(n, this.cfg.probeIntervalMs, this.cfg.suspicionMult, this.cfg.suspicionMinMs, this.cfg.suspicionMaxMult)
    const k = expectedConfirmations(n, this.cfg.suspicionMult)
    this.suspicions.get(rec.peerId)?.cancel()
    this.suspicions.set(rec.peerId, new Suspicion(this.clock, from, k, minMs, maxMs, () => { this.guard(() => { this.suspicionExpired(rec.peerId) }) }))
  }

  private suspicionExpired (peerId: string): void {
    this.suspicions.delete(peerId)
    const r = this.table.get(peerId)
    if (!this.running || r?.state !== 'suspect') return
    this.apply({ peerId, address: r.address, state: 'dead', incarnation: r.incarnation, from: this.peerId }, false)
  }

  private emit (type: EventType, rec: MemberRecord): void {
    const level = type === 'join' || type === 'dead' || type === 'leave' ? 'info' : 'debug'
    this.log[level]({ peerId: rec.peerId, incarnation: rec.incarnation, address: rec.address }, `peer ${type}`)
    try {
      this.events.emit('peer:change', { type, member: toMember(rec) } satisfies MembershipEvent)
    } catch (err) {
      this.log.warn({ err }, 'peer:change listener failed')
    }
  }

  // Rounds

  private limit (): number { return retransmitLimit(this.cfg.retransmitMult, this.table.live, MIN_RETRANSMITS) }

  /** Pushes pending updates to a few random members (Serf's gossip interval and fanout), recently dead ones included. */
  private gossipRound (): void {
    if (this.queue.size === 0) return
    const now = this.clock.now()
    const targets = this.table.pick(this.cfg.gossipNodes, r => isLive(r.state) || (r.state === 'dead' && now - r.changedAt < this.cfg.gossipToDeadMs))
    for (const t of targets) {
      const updates = this.queue.take(this.cfg.maxUpdatesPerMessage, this.limit())
      if (updates.length === 0) break
      this.transport.send(t.address, { type: 'swim.gossip', v: SWIM_VERSION, cluster: this.cfg.cluster, updates })
    }
  }

  /** Forgets dead and left members once they have been kept long enough. */
  private reap (): void {
    const now = this.clock.now()
    for (const peerId of [...this.table.gone]) {
      const r = this.table.get(peerId)
      if (r !== undefined && now - r.changedAt >= this.cfg.deadRetentionMs) {
        this.table.delete(peerId)
        this.log.debug({ peerId }, 'peer forgotten')
      }
    }
  }

  // Lifecycle helpers

  /** Runs `fn` first after `firstMs`, then again every `period()` ms (asked anew each time). */
  private every (name: string, period: () => number, fn: () => void, firstMs: number): void {
    this.timers.set(name, this.clock.setTimeout(() => {
      this.guard(fn)
      if (this.running) this.every(name, period, fn, period())
    }, firstMs))
  }

  /** Timers and handlers never throw: a bug is logged, the protocol goes on. */
  private guard (fn: () => void): void {
    try { fn() } catch (err) { this.log.error({ err }, 'membership timer failed') }
  }

  /**
   * Graceful leave: probing and gossip stop (a peer on its way out suspects
   * nobody), then `left` goes straight to a few members, which gossip it on,
   * and this peer waits (bounded) for their acknowledgements: a one-way
   * message still queued when the process exits is lost, and the others
   * would take the silence for a crash (issue 13).
   */
  private async shutdown (): Promise<void> {
    this.leaving = true
    this.table.self = { ...this.table.self, state: 'left', changedAt: this.clock.now() }
    for (const t of this.timers.values()) t.cancel()
    this.timers.clear()
    this.prober.stop()
    this.pushPull.stop()
    for (const s of this.suspicions.values()) s.cancel()
    this.suspicions.clear()
    let acked = 0
    try {
      acked = await this.announceLeave()
    } catch (err) {
      this.log.warn({ err }, 'leave announcement failed')
    }
    this.running = false
    for (const off of this.unregister) off()
    this.unregister = []
    this.queue.clear()
    this.log.info({ incarnation: this.table.self.incarnation, acked }, 'membership stopped (left)')
  }

  /** Sends this peer's `left` record as a push (a one-member sync) to a few live members; how many acknowledged it in time. */
  private async announceLeave (): Promise<number> {
    const msg: SyncMessage = { type: 'swim.sync', v: SWIM_VERSION, cluster: this.cfg.cluster, join: false, members: [toFullWire(this.table.self)] }
    const targets = this.table.pick(Math.max(LEAVE_FANOUT, this.cfg.gossipNodes), r => isLive(r.state))
    const results = await Promise.allSettled(targets.map(async t => await this.transport.request(t.address, msg, { timeoutMs: LEAVE_TIMEOUT_MS })))
    return results.filter(r => r.status === 'fulfilled').length
  }
}
