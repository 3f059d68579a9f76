// The sending half of delivery (Storm-like at least once): every packet is
// kept until the peer of each consuming stage acks it. At most `window`
// packets are unacked per (stage, peer) (credit: a slow stage slows its
// senders). A packet unacked for `ackTimeoutMs` is sent again to the same
// peer while it lives (its dedup window acks at once if it was done), a
// packet whose peer died is routed again, a nacked one (full inbox, stopped
// stage) after `nackRetryMs`. Pure: no I/O and no timers; the engine calls
// `flush(now)` and sends what it returns.
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
}

/** What the sender is told about a batch it submitted. */
export interface DeliveryHandlers {
  /** Every delivery of the batch was sent once (credit was found): the producer may go on. */
  onSent?: () => void
  /** Every delivery of the batch was acked: the producer's own input may be acked. */
  onAcked?: () => void
}

/** A pipe.push to make: packets of one stage for one peer. */
export interface Send { peer: string, stage: string, packets: Packet[] }

interface Group { unsent: number, unacked: number, handlers: DeliveryHandlers }
/** A packet no stage consumed when it was submitted, held until `until`. */
interface Orphan { packet: Packet, group: Group, until: number }
interface Delivery {
  packet: Packet
  stage: string
  group: Group
  peer?: string
  sentAt: number
  notBefore: number
  everSent: boolean
  settled: boolean
}


export class Outbox {
  private graph: PipelineGraph = { stages: new Map(), consumers: new Map() }
  /** (stage, peer) -> its unacked deliveries by packet id, oldest send first. */
  private readonly unacked = new Map<string, Map<string, Delivery>>()
  /** stage -> packet id -> the live delivery (nested: a packet's lookups build no key string). */
  private readonly live = new Map<string, Map<string, Delivery>>()
  private liveCount = 0
  /** stage -> peer -> the (stage, peer) key, built once. */
  private readonly pairKeys = new Map<string, Map<string, string>>()
  private pending: Delivery[] = []
  /** (stage, peer) -> the inbox depth the receiver reported last. */
  private readonly remoteInbox = new Map<string, number>()
  private orphans: Orphan[] = []

  constructor (private readonly init: OutboxInit) {}

  /** A new graph: held packets whose tag found a consumer go to it. */
  setGraph (graph: PipelineGraph): void {
    this.graph = graph
    if (this.orphans.length === 0) return
    const held = this.orphans
    this.orphans = []
    for (const o of held) {
      if ((graph.consumers.get(o.packet.tag) ?? []).length === 0) { this.orphans.push(o); continue }
      this.deliver(o.packet, o.group, 0)
      this.settle(o.group)
    }
  }

  /** Packets held for a consumer. */
  get orphanCount (): number { return this.orphans.length }

  /** Deliveries waiting for a peer or for credit. */
  get pendingCount (): number { return this.liveCount - this.unackedCount }
  /** Deliveries sent and not acked yet. */
  get unackedCount (): number {
    let n = 0
    for (const ds of this.unacked.values()) n += ds.size
    return n
  }

  /** Unacked deliveries towards (stage, peer). */
  inFlight (stage: string, peer: string): number { return this.unacked.get(this.pairKey(stage, peer))?.size ?? 0 }
  hasCredit (stage: string, peer: string): boolean { return this.inFlight(stage, peer) < this.init.window }
  load (stage: string, peer: string): number { return this.inFlight(stage, peer) + (this.remoteInbox.get(this.pairKey(stage, peer)) ?? 0) }

  /**
   * Takes packets to deliver to every stage consuming their tags. Returns how
   * many packets no stage consumes (dropped). Handlers fire from here when
   * nothing is left to deliver. `only`: to that stage alone (a redrive).
   */
  submit (packets: readonly Packet[], handlers: DeliveryHandlers, now: number, only?: string): { dropped: number } {
    const group: Group = { unsent: 0, unacked: 0, handlers }
    let dropped = 0
    for (const packet of packets) {
      if (only !== undefined) {
        if (!(this.graph.consumers.get(packet.tag) ?? []).some(s => s.stage === only)) dropped++
        else this.deliver(packet, group, now, only)
      } else if ((this.graph.consumers.get(packet.tag) ?? []).length > 0) {
        this.deliver(packet, group, now)
      } else if ((this.init.orphanHoldMs ?? 0) > 0) {
        // Held (and counted as unsent: the producer waits, its input stays unacked) until a consumer appears or the hold ends.
        group.unsent++
        group.unacked++
        this.orphans.push({ packet, group, until: now + (this.init.orphanHoldMs ?? 0) })
      } else {
        dropped++
      }
    }
    if (group.unsent === 0) handlers.onSent?.()
    if (group.unacked === 0) handlers.onAcked?.()
    return { dropped }
  }

  /** One delivery of `packet` per stage consuming its tag (`only`: that stage). */
  private deliver (packet: Packet, group: Group, now: number, only?: string): void {
    for (const { stage } of this.graph.consumers.get(packet.tag) ?? []) {
      if (only !== undefined && stage !== only) continue
      const ids = this.liveOf(stage)
      if (ids.has(packet.id)) continue // the same packet submitted twice: one delivery
      const d: Delivery = { packet, stage, group, sentAt: 0, notBefore: now, everSent: false, settled: false }
      group.unsent++
      group.unacked++
      ids.set(packet.id, d)
      this.liveCount++
      this.pending.push(d)
    }
  }

  /** A held packet left the orphans (delivered or dropped): its group counts it no more. */
  private settle (group: Group): void {
    if (--group.unsent === 0) group.handlers.onSent?.()
    if (--group.unacked === 0) group.handlers.onAcked?.()
  }

  /** `peer` acked packets of `stage` (processed, or known to its dedup window); `inbox` is its inbox depth. */
  ack (peer: string, stage: string, ids: readonly string[], inbox?: number): void {
    if (inbox !== undefined) this.remoteInbox.set(this.pairKey(stage, peer), inbox)
    const live = this.live.get(stage)
    if (live === undefined) return
    for (const id of ids) {
      const d = live.get(id)
      if (d === undefined) continue
      this.detach(d)
      d.settled = true
      live.delete(id)
      this.liveCount--
      if (!d.everSent) this.sent(d) // acked by a peer it was sent to before a re-route
      if (--d.group.unacked === 0) d.group.handlers.onAcked?.()
    }
  }

  /** `peer` refused packets of `stage` (inbox full, stage stopped or killed): they are routed again later. */
  nack (peer: string, stage: string, ids: readonly string[], now: number, inbox?: number): void {
    if (inbox !== undefined) this.remoteInbox.set(this.pairKey(stage, peer), inbox)
    const live = this.live.get(stage)
    for (const id of ids) {
      const d = live?.get(id)
      if (d === undefined || d.peer !== peer) continue // stale: it went elsewhere since
      this.detach(d)
      d.notBefore = now + this.init.nackRetryMs
      this.pending.push(d)
    }
  }

  /** Membership says `peer` is dead: what it had not acked is routed again. */
  peerDead (peer: string, now: number): void {
    for (const [pair, ds] of this.unacked) {
      if (!pair.endsWith(`\u0000${peer}`)) continue
      for (const d of [...ds.values()]) {
        this.detach(d)
        d.notBefore = now
        this.pending.push(d)
      }
      this.remoteInbox.delete(pair)
    }
  }

  /**
   * What to send at `now`: deliveries whose ack is overdue (again to their
   * live peer), then waiting deliveries that find a live peer with credit.
   * `wakeAt` is when to flush again if nothing else happens.
   */
  flush (now: number, isAlive: (peer: string) => boolean): { sends: Send[], wakeAt?: number, dropped?: number } {
    const batches = new Map<string, Send>()
    const add = (d: Delivery, peer: string): void => {
      const k = this.pairKey(d.stage, peer)
      let b = batches.get(k)
      if (b === undefined) { b = { peer, stage: d.stage, packets: [] }; batches.set(k, b) }
      b.packets.push(d.packet)
    }
    let wakeAt: number | undefined
    const wake = (at: number): void => { if (wakeAt === undefined || at < wakeAt) wakeAt = at }
    for (const ds of this.unacked.values()) {
      for (const d of ds.values()) {
        if (d.sentAt + this.init.ackTimeoutMs > now) { wake(d.sentAt + this.init.ackTimeoutMs); break }
        const peer = d.peer as string
        this.detach(d)
        if (isAlive(peer)) { this.attach(d, peer, now); add(d, peer) } else { d.notBefore = now; this.pending.push(d) }
      }
    }
    const view = { isAlive, load: (s: string, p: string) => this.load(s, p), hasCredit: (s: string, p: string) => this.hasCredit(s, p) }
    const rest: Delivery[] = []
    for (const d of this.pending) {
      if (d.settled) continue
      const spec = this.graph.stages.get(d.stage)
      const peer = d.notBefore > now || spec === undefined ? undefined : routeOne(d.packet, spec, view)
      if (peer === undefined) {
        rest.push(d)
        if (d.notBefore > now) wake(d.notBefore)
        continue
      }
      this.attach(d, peer, now)
      add(d, peer)
      if (!d.everSent) this.sent(d)
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
    return { sends: [...batches.values()], wakeAt, ...(dropped > 0 ? { dropped } : {}) }
  }

  private liveOf (stage: string): Map<string, Delivery> {
    let ids = this.live.get(stage)
    if (ids === undefined) { ids = new Map(); this.live.set(stage, ids) }
    return ids
  }

  private pairKey (stage: string, peer: string): string {
    let peers = this.pairKeys.get(stage)
    if (peers === undefined) { peers = new Map(); this.pairKeys.set(stage, peers) }
    let k = peers.get(peer)
    if (k === undefined) { k = `${stage}\u0000${peer}`; peers.set(peer, k) }
    return k
  }

  private attach (d: Delivery, peer: string, now: number): void {
    d.peer = peer
    d.sentAt = now
    const k = this.pairKey(d.stage, peer)
    let ds = this.unacked.get(k)
    if (ds === undefined) { ds = new Map(); this.unacked.set(k, ds) }
    ds.set(d.packet.id, d)
  }

  private detach (d: Delivery): void {
    if (d.peer === undefined) return
    const k = this.pairKey(d.stage, d.peer)
    const ds = this.unacked.get(k)
    ds?.delete(d.packet.id)
    if (ds?.size === 0) this.unacked.delete(k)
    d.peer = undefined
  }

  private sent (d: Delivery): void {
    d.everSent = true
    if (--d.group.unsent === 0) d.group.handlers.onSent?.()
  }
}
