// The sending half of delivery (Storm-like at least once), tracked per batch:
// packets are routed one by one (key affinity, least loaded, credit), but
// what goes to one (stage, peer) at one priority in one flush is one batch, with one
// in-flight record, and the receiver acknowledges it as a whole by naming it
// (a batch id, not a list of packet ids). A receiver that refuses some of a
// batch (full inbox, stopped stage) nacks those ids at once, and its later
// ack of the batch covers only the rest. At most `window` packets are unacked
// per (stage, peer) (credit). A batch unacked for `ackTimeoutMs` is sent
// again to the same live peer as a new batch (its dedup window acks at once
// what it had done), a batch whose peer died is routed again packet by
// packet, nacked packets after `nackRetryMs`. A late ack of a batch whose
// packets were routed again still settles them. Pure: no I/O, no timers; the
// engine calls `flush(now)` and sends what it returns.
import type { Packet } from '../types.js'
import type { PipelineGraph } from './graph-rules.js'
import { routeOne } from './routing.js'

export interface OutboxInit {
  /** Unacked packets per (stage, peer). */
  window: number
  ackTimeoutMs: number
  nackRetryMs: number
  /**
   * How long a packet whose tag no stage consumes (yet) is held, waiting
   * for the graph to learn a consumer, before it is dropped, ms. Peers
   * learn the catalog at different moments: an output made just as a
   * pipeline comes up is not lost to that race. @default 0 (dropped at once)
   */
  orphanHoldMs?: number
  /** A batch carries at most about `max` payload bytes (`of`: a packet's); a packet over it goes alone. @default unbounded */
  batchBytes?: { max: number, of: (p: Packet) => number }
}

/** What the sender is told about a batch it submitted. */
export interface DeliveryHandlers {
  /** Every delivery of the batch was sent once (credit was found): the producer may go on. */
  onSent?: () => void
  /** Every delivery of the batch was acked: the producer's own input may be acked. */
  onAcked?: () => void
}

/**
 * A pipe.push to make: batch `batch` of packets of one stage for one peer.
 * `again`: the indices of the packets that may have reached that stage
 * before (sent before, or made again from an input that may have been
 * processed before): the receiver looks only those up in its dedup window.
 */
export interface Send { peer: string, stage: string, batch: number, packets: Packet[], again?: number[] }

interface Group { unsent: number, unacked: number, handlers: DeliveryHandlers }
/** A packet no stage consumed when it was submitted, held until `until`. */
interface Orphan { packet: Packet, group: Group, until: number, again: boolean }
interface Delivery {
  packet: Packet
  stage: string
  group: Group
  /** The batch it is in flight in. */
  batch?: InFlight
  /** It may have reached its stage before: sent before, or submitted so (the receiver looks it up). */
  again: boolean
  notBefore: number
  everSent: boolean
  settled: boolean
}
/** One batch sent and not acked: its deliveries (a nacked one leaves it), how many are still attached to it. */
interface InFlight { id: number, pair: Pair, ds: Delivery[], sentAt: number, attached: number, bytes: number }
/** A (stage, peer): its batches in flight by id (oldest send first), its unacked packets, the inbox depth it reported last. */
interface Pair { stage: string, peer: string, batches: Map<number, InFlight>, unacked: number, remoteInbox: number }

export class Outbox {
  private graph: PipelineGraph = { stages: new Map(), consumers: new Map() }
  /** stage -> peer -> its pair. */
  private readonly pairs = new Map<string, Map<string, Pair>>()
  /** Batches whose deliveries all left them (routed again) while some were unsettled: a late ack of one still settles them. */
  private retired = new Map<number, InFlight>()
  private pending: Delivery[] = []
  private orphans: Orphan[] = []
  private nextBatch = 1
  private unackedTotal = 0
  private liveCount = 0

  constructor (private readonly init: OutboxInit) {}

  /** A new graph: held packets whose tag found a consumer go to it. */
  setGraph (graph: PipelineGraph): void {
    this.graph = graph
    if (this.orphans.length === 0) return
    const held = this.orphans
    this.orphans = []
    for (const o of held) {
      if ((graph.consumers.get(o.packet.tag) ?? []).length === 0) { this.orphans.push(o); continue }
      this.deliver(o.packet, o.group, 0, undefined, o.again)
      this.settle(o.group)
    }
  }

  /** Packets held for a consumer. */
  get orphanCount (): number { return this.orphans.length }
  /** Deliveries waiting for a peer or for credit. */
  get pendingCount (): number { return this.liveCount - this.unackedTotal }
  /** Deliveries sent and not acked yet. */
  get unackedCount (): number { return this.unackedTotal }
  /** Batches in flight (sent, not acked), over every (stage, peer). */
  get batchCount (): number {
    let n = 0
    for (const peers of this.pairs.values()) for (const p of peers.values()) n += p.batches.size
    return n
  }

  /** Unacked deliveries towards (stage, peer). */
  inFlight (stage: string, peer: string): number { return this.pairs.get(stage)?.get(peer)?.unacked ?? 0 }
  hasCredit (stage: string, peer: string): boolean { return this.inFlight(stage, peer) < this.init.window }
  load (stage: string, peer: string): number {
    const p = this.pairs.get(stage)?.get(peer)
    return p === undefined ? 0 : p.unacked + p.remoteInbox
  }

  /**
   * Takes packets to deliver to every stage consuming their tags. Returns how
   * many packets no stage consumes (dropped). Handlers fire from here when
   * nothing is left to deliver. `only`: to that stage alone (a redrive).
   * `again[i]`: packet i may have been delivered before (an output made
   * again from an input that may have been processed before).
   */
  submit (packets: readonly Packet[], handlers: DeliveryHandlers, now: number, only?: string, again?: readonly boolean[]): { dropped: number } {
    const group: Group = { unsent: 0, unacked: 0, handlers }
    let dropped = 0
    for (let i = 0; i < packets.length; i++) {
      const packet = packets[i]
      const consumers = this.graph.consumers.get(packet.tag) ?? []
      if (only !== undefined) {
        if (!consumers.some(s => s.stage === only)) dropped++
        else this.deliver(packet, group, now, only, again?.[i] === true)
      } else if (consumers.length > 0) {
        this.deliver(packet, group, now, undefined, again?.[i] === true)
      } else if ((this.init.orphanHoldMs ?? 0) > 0) {
        // Held (and counted as unsent: the producer waits, its input stays unacked) until a consumer appears or the hold ends.
        group.unsent++
        group.unacked++
        this.orphans.push({ packet, group, until: now + (this.init.orphanHoldMs ?? 0), again: again?.[i] === true })
      } else {
        dropped++
      }
    }
    if (group.unsent === 0) handlers.onSent?.()
    if (group.unacked === 0) handlers.onAcked?.()
    return { dropped }
  }

  /** One delivery of `packet` per stage consuming its tag (`only`: that stage). */
  private deliver (packet: Packet, group: Group, now: number, only: string | undefined, again: boolean): void {
    for (const { stage } of this.graph.consumers.get(packet.tag) ?? []) {
      if (only !== undefined && stage !== only) continue
      group.unsent++
      group.unacked++
      this.liveCount++
      this.pending.push({ packet, stage, group, again, notBefore: now, everSent: false, settled: false })
    }
  }

  /** A held packet left the orphans (delivered or dropped): its group counts it no more. */
  private settle (group: Group): void {
    if (--group.unsent === 0) group.handlers.onSent?.()
    if (--group.unacked === 0) group.handlers.onAcked?.()
  }

  /** `peer` reported its inbox depth for `stage`. */
  inboxOf (peer: string, stage: string, inbox: number): void { this.pair(stage, peer).remoteInbox = inbox }

  /** `peer` acked batches of `stage`: every packet of each not nacked was processed (or known to its dedup window). */
  ack (peer: string, stage: string, batches: readonly number[]): void {
    const pair = this.pairs.get(stage)?.get(peer)
    for (const id of batches) {
      const b = pair?.batches.get(id) ?? this.retired.get(id)
      if (b === undefined || b.pair.peer !== peer || b.pair.stage !== stage) continue
      for (const d of b.ds) {
        if (d.settled) continue
        d.settled = true
        // Acked by the peer of this batch, wherever it went since (routed again after a timeout or a death).
        if (d.batch !== undefined) this.detach(d)
        this.liveCount--
        if (!d.everSent) this.sent(d)
        if (--d.group.unacked === 0) d.group.handlers.onAcked?.()
      }
      b.pair.batches.delete(id)
      this.retired.delete(id)
    }
  }

  /**
   * `peer` refused packets of batch `batch` (`ids`; all of it when absent):
   * full inbox, stage stopped or killed, push not sent. They leave the batch
   * (its ack will not cover them) and are routed again after nackRetryMs.
   */
  nack (peer: string, stage: string, batch: number, ids: readonly string[] | undefined, now: number): void {
    const b = this.pairs.get(stage)?.get(peer)?.batches.get(batch) ?? this.retired.get(batch)
    if (b === undefined || b.pair.peer !== peer || b.pair.stage !== stage) return
    let refused: Delivery[]
    if (ids === undefined) {
      refused = b.ds
      b.ds = []
    } else {
      const set = new Set(ids)
      refused = b.ds.filter(d => set.has(d.packet.id))
      b.ds = b.ds.filter(d => !set.has(d.packet.id))
    }
    for (const d of refused) {
      if (d.settled || d.batch !== b) continue // stale: it went elsewhere since
      this.detach(d)
      d.notBefore = now + this.init.nackRetryMs
      this.pending.push(d)
    }
    if (b.ds.length === 0) { b.pair.batches.delete(batch); this.retired.delete(batch) }
  }

  /** Membership says `peer` is dead: what it had not acked is routed again. */
  peerDead (peer: string, now: number): void {
    for (const peers of this.pairs.values()) {
      const pair = peers.get(peer)
      if (pair === undefined) continue
      for (const b of [...pair.batches.values()]) this.reroute(b, now)
      pair.remoteInbox = 0
    }
  }

  /** A batch's deliveries go back to pending; the batch is kept for a late ack while any is unsettled. */
  private reroute (b: InFlight, now: number): void {
    for (const d of b.ds) {
      if (d.settled || d.batch !== b) continue
      this.detach(d)
      d.notBefore = now
      this.pending.push(d)
    }
  }

  /**
   * What to send at `now`: batches whose ack is overdue (again to their live
   * peer, as new batches), then waiting deliveries that find a live peer
   * with credit. `wakeAt` is when to flush again if nothing else happens.
   */
  flush (now: number, isAlive: (peer: string) => boolean): { sends: Send[], wakeAt?: number, dropped?: number } {
    const sends: Send[] = []
    /**
     * The batch being filled per pair and priority in this flush. One batch
     * per priority: a batch is acked once all its packets are done, so a
     * low-priority packet left waiting behind higher ones would otherwise
     * hold the credit of the higher ones sent with it.
     */
    const open = new Map<Pair, Array<{ send: Send, b: InFlight } | undefined>>()
    const add = (d: Delivery, pair: Pair): void => {
      let byPriority = open.get(pair)
      if (byPriority === undefined) { byPriority = []; open.set(pair, byPriority) }
      const priority = d.packet.priority
      let cur = byPriority[priority]
      const bytes = this.init.batchBytes?.of(d.packet) ?? 0
      if (cur === undefined || (this.init.batchBytes !== undefined && cur.b.ds.length > 0 && cur.b.bytes + bytes > this.init.batchBytes.max)) {
        const b: InFlight = { id: this.nextBatch++, pair, ds: [], sentAt: now, attached: 0, bytes: 0 }
        cur = { send: { peer: pair.peer, stage: pair.stage, batch: b.id, packets: [] }, b }
        byPriority[priority] = cur
        pair.batches.set(b.id, b)
        sends.push(cur.send)
      }
      cur.b.ds.push(d)
      cur.b.bytes += bytes
      cur.b.attached++
      if (d.everSent) d.again = true // sent before: its receiver may have it
      else this.sent(d)
      if (d.again) (cur.send.again ??= []).push(cur.send.packets.length)
      cur.send.packets.push(d.packet)
      d.batch = cur.b
      pair.unacked++
      this.unackedTotal++
    }
    let wakeAt: number | undefined
    const wake = (at: number): void => { if (wakeAt === undefined || at < wakeAt) wakeAt = at }
    for (const peers of this.pairs.values()) {
      for (const pair of peers.values()) {
        for (const b of pair.batches.values()) {
          if (b.sentAt + this.init.ackTimeoutMs > now) { wake(b.sentAt + this.init.ackTimeoutMs); break }
          // Sent again as a new batch (this one kept for a late ack: detach retires it).
          const alive = isAlive(pair.peer)
          const again: Delivery[] = []
          for (const d of b.ds) if (!d.settled && d.batch === b) { this.detach(d); again.push(d) }
          for (const d of again) if (alive) add(d, pair); else { d.notBefore = now; this.pending.push(d) }
        }
      }
    }
    this.pruneRetired()
    const view = { isAlive, load: (s: string, p: string) => this.load(s, p), hasCredit: (s: string, p: string) => this.hasCredit(s, p) }
    const rest: Delivery[] = []
    for (const d of this.pending) {
      if (d.settled || d.batch !== undefined) continue
      const spec = this.graph.stages.get(d.stage)
      const peer = d.notBefore > now || spec === undefined ? undefined : routeOne(d.packet, spec, view)
      if (peer === undefined) {
        rest.push(d)
        if (d.notBefore > now) wake(d.notBefore)
        continue
      }
      add(d, this.pair(d.stage, peer))
    }
    this.pending = rest
    let dropped = 0
    if (this.orphans.length > 0) {
      const kept: Orphan[] = []
      for (const o of this.orphans) {
        if (o.until > now) { kept.push(o); wake(o.until); continue }
        dropped++
        this.settle(o.group)
      }
      this.orphans = kept
    }
    return { sends, wakeAt, ...(dropped > 0 ? { dropped } : {}) }
  }

  /** Retired batches all of whose deliveries were settled elsewhere: no ack of them can matter now. */
  private pruneRetired (): void {
    if (this.retired.size === 0) return
    for (const [id, b] of this.retired) if (b.ds.every(d => d.settled)) { this.retired.delete(id); b.pair.batches.delete(id) }
  }

  private pair (stage: string, peer: string): Pair {
    let peers = this.pairs.get(stage)
    if (peers === undefined) { peers = new Map(); this.pairs.set(stage, peers) }
    let p = peers.get(peer)
    if (p === undefined) { p = { stage, peer, batches: new Map(), unacked: 0, remoteInbox: 0 }; peers.set(peer, p) }
    return p
  }

  /** The delivery leaves the batch it is in flight in; a batch left by all goes (or is retired while a late ack may settle some). */
  private detach (d: Delivery): void {
    const b = d.batch
    if (b === undefined) return
    d.batch = undefined
    b.pair.unacked--
    this.unackedTotal--
    if (--b.attached > 0) return
    if (b.ds.some(x => !x.settled) && b.pair.batches.get(b.id) === b) this.retired.set(b.id, b)
    b.pair.batches.delete(b.id)
  }

  private sent (d: Delivery): void {
    d.everSent = true
    if (--d.group.unsent === 0) d.group.handlers.onSent?.()
  }
}
