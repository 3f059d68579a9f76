import type { Clock, Timer } from '../../common/clock.js'
import type { Logger } from '../../common/logger.js'
import type { Sender } from '../transport/types.js'
import type { MemberTable } from './member-table.js'
import type { AckMessage, NackMessage, PingMessage, PingReqMessage, WireMember } from './messages.js'
import type { MemberRecord } from './rules.js'

/** The probe messages without their envelope (version, cluster, piggybacked updates), which the host adds. */
export type ProbeMessage =
  | Omit<PingMessage, 'v' | 'cluster' | 'updates'>
  | Omit<AckMessage, 'v' | 'cluster' | 'updates'>
  | Omit<NackMessage, 'v' | 'cluster' | 'updates'>
  | Omit<PingReqMessage, 'v' | 'cluster' | 'updates'>

/** What the failure detector needs from the membership around it. */
export interface ProbeHost {
  readonly table: MemberTable
  /** Sends a probe message with the envelope and piggybacked updates (`first` goes ahead of the queue's). */
  send(to: string, msg: ProbeMessage, first?: WireMember): void
  /** No ack came back, directly or through others: suspect `peerId` at `incarnation`. */
  probeFailed(peerId: string, incarnation: number): void
  /** The wire update that tells a suspected member it is suspected (Lifeguard's buddy system). */
  suspicionOf(r: MemberRecord): WireMember
}

export interface ProberInit {
  probeIntervalMs: number
  probeTimeoutMs: number
  indirectProbes: number
  awarenessMaxMult: number
}

interface OwnProbe { kind: 'own', target: string, incarnation: number, nacks: number, expectedNacks: number, timers: Timer[] }
interface RelayProbe { kind: 'relay', replyTo: string, seq: number, timers: Timer[] }

/** Largest wait an indirect prober accepts from a ping-req, ms. */
const MAX_RELAY_TIMEOUT_MS = 10_000

/**
 * SWIM's failure detector with Lifeguard's local health: one member per
 * round gets a direct ping; without an ack within the probe timeout, k others
 * ping it for us (SWIM 4.2); without any ack by the end of the round it is
 * suspected. Missed acks and missing nacks raise the awareness score, which
 * stretches the round and the timeout, so a slow peer stops accusing others.
 */
export class Prober {
  private readonly pending = new Map<number, OwnProbe | RelayProbe>()
  private seq = 0
  private awareness = 0
  private timer: Timer | undefined

  constructor (
    private readonly host: ProbeHost,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly init: ProberInit
  ) {}

  /** Local health score, 0 (healthy) to awarenessMaxMult - 1. */
  get health (): number { return this.awareness }

  start (firstDelayMs: number): void {
    this.timer = this.clock.setTimeout(() => this.round(), firstDelayMs)
  }

  stop (): void {
    this.timer?.cancel()
    this.timer = undefined
    for (const p of this.pending.values()) for (const t of p.timers) t.cancel()
    this.pending.clear()
  }

  /** Lifeguard: adds `delta` to the awareness score, kept within its bounds. */
  adjustHealth (delta: number): void {
    this.awareness = Math.max(0, Math.min(this.init.awarenessMaxMult - 1, this.awareness + delta))
  }

  onPing (msg: PingMessage, from: Sender): void {
    if (msg.target !== this.host.table.self.peerId) {
      this.log.debug({ target: msg.target, from: from.address }, 'ping for another peer ignored')
      return
    }
    this.host.send(from.address, { type: 'swim.ack', seq: msg.seq })
  }

  onPingReq (msg: PingReqMessage, from: Sender): void {
    const seq = this.nextSeq()
    const relay: RelayProbe = { kind: 'relay', replyTo: from.address, seq: msg.seq, timers: [] }
    this.pending.set(seq, relay)
    const target = this.host.table.get(msg.target)
    this.host.send(msg.targetAddress, { type: 'swim.ping', seq, target: msg.target }, target?.state === 'suspect' ? this.host.suspicionOf(target) : undefined)
    relay.timers.push(this.clock.setTimeout(() => {
      if (this.pending.get(seq) !== relay) return
      this.pending.delete(seq)
      this.guard(() => { this.host.send(relay.replyTo, { type: 'swim.nack', seq: relay.seq }) })
    }, Math.min(MAX_RELAY_TIMEOUT_MS, Math.max(1, msg.timeoutMs))))
  }

  onAck (msg: AckMessage): void {
    const p = this.pending.get(msg.seq)
    if (p === undefined) return
    this.pending.delete(msg.seq)
    for (const t of p.timers) t.cancel()
    if (p.kind === 'own') this.adjustHealth(-1)
    else this.host.send(p.replyTo, { type: 'swim.ack', seq: p.seq })
  }

  onNack (msg: NackMessage): void {
    const p = this.pending.get(msg.seq)
    if (p?.kind === 'own') p.nacks++
  }

  private scale (ms: number): number { return ms * (this.awareness + 1) }

  private nextSeq (): number {
    this.seq = (this.seq + 1) % Number.MAX_SAFE_INTEGER
    return this.seq
  }

  /** Timers never throw: a bug is logged and the next round still comes. */
  private guard (fn: () => void): void {
    try { fn() } catch (err) { this.log.error({ err }, 'probe failed with an error') }
  }

  private round (): void {
    this.guard(() => {
      const target = this.host.table.nextProbeTarget()
      if (target !== undefined) this.probe(target)
    })
    this.timer = this.clock.setTimeout(() => this.round(), this.scale(this.init.probeIntervalMs))
  }

  private probe (target: MemberRecord): void {
    const seq = this.nextSeq()
    const intervalMs = this.scale(this.init.probeIntervalMs)
    const timeoutMs = Math.min(this.scale(this.init.probeTimeoutMs), intervalMs)
    const p: OwnProbe = { kind: 'own', target: target.peerId, incarnation: target.incarnation, nacks: 0, expectedNacks: 0, timers: [] }
    this.pending.set(seq, p)
    this.host.send(target.address, { type: 'swim.ping', seq, target: target.peerId }, target.state === 'suspect' ? this.host.suspicionOf(target) : undefined)
    p.timers.push(this.clock.setTimeout(() => { this.guard(() => { this.indirect(seq, p, intervalMs - timeoutMs) }) }, timeoutMs))
    p.timers.push(this.clock.setTimeout(() => { this.guard(() => { this.conclude(seq, p) }) }, intervalMs))
  }

  /** SWIM 4.2: k random alive members ping the target for us; their nacks tell whether we are the slow one. */
  private indirect (seq: number, p: OwnProbe, remainingMs: number): void {
    if (this.pending.get(seq) !== p) return
    const target = this.host.table.get(p.target)
    if (target === undefined) return
    const helpers = this.host.table.pick(this.init.indirectProbes, r => r.state === 'alive' && r.peerId !== p.target)
    p.expectedNacks = helpers.length
    // Helpers answer (ack or nack) before the round ends, leaving a fifth of the rest for the way back.
    const timeoutMs = Math.max(1, Math.floor(remainingMs * 0.8))
    for (const h of helpers) this.host.send(h.address, { type: 'swim.ping-req', seq, target: p.target, targetAddress: target.address, timeoutMs })
  }

  private conclude (seq: number, p: OwnProbe): void {
    if (this.pending.get(seq) !== p) return
    this.pending.delete(seq)
    for (const t of p.timers) t.cancel()
    // Lifeguard: missing nacks mean our own messages are not getting through; with no helpers, any failure counts.
    this.adjustHealth(p.expectedNacks > 0 ? Math.max(0, p.expectedNacks - p.nacks) : 1)
    this.log.debug({ peerId: p.target }, 'probe failed')
    this.host.probeFailed(p.target, p.incarnation)
  }
}
