import type { Timer } from '../../common/clock.js'
import type { Random } from '../../common/random.js'
import type { MembershipEvent } from '../../mesh/membership/index.js'
import type { ReplicaEntry } from '../record.js'
import type { RepairEvent, RingStatus } from '../types.js'
import { AntiEntropyExchange, Budget, expired, type AntiEntropyExchangeComponents } from './anti-entropy-exchange.js'
import {
  ANTI_ENTROPY_BUSY_INTERVAL_MS, ANTI_ENTROPY_CONCURRENCY, ANTI_ENTROPY_INTERVAL_MS, ANTI_ENTROPY_MAX_BYTES,
  ANTI_ENTROPY_MAX_KEYS, ANTI_ENTROPY_MAX_PEERS, ANTI_ENTROPY_SETTLE_MS, ANTI_ENTROPY_VERIFY_MS, DEAD_PEER_GRACE_MS
} from './constants.js'
import { STORE_AE_DIGESTS, STORE_AE_KEYS } from './anti-entropy-messages.js'
import { RingPartitions } from './ring-partitions.js'
import { partitionOf } from '../../ring/index.js'
import type { Target } from './placement.js'
import { handOff } from './rebalance.js'
import { RingConfirmations } from './ring-confirmations.js'

/** What anti-entropy works with: what one exchange works with, and the jitter of its rounds. */
export interface AntiEntropyComponents extends AntiEntropyExchangeComponents {
  /** Jitters each round's delay (±20 %), so that peers started together do not compare in lockstep. */
  random: Random
}

export interface AntiEntropyInit {
  /** @default ANTI_ENTROPY_INTERVAL_MS */
  intervalMs?: number
  /** @default ANTI_ENTROPY_BUSY_INTERVAL_MS */
  busyIntervalMs?: number
  /** A volume peer dead this long leaves the ring. @default DEAD_PEER_GRACE_MS */
  deadGraceMs?: number
  /** @default ANTI_ENTROPY_MAX_KEYS */
  maxKeysPerRound?: number
  /** @default ANTI_ENTROPY_MAX_BYTES */
  maxBytesPerRound?: number
  /** Versions younger than this are not compared yet; well under PARTITION_RECENT_MS (what the store remembers of young versions). @default ANTI_ENTROPY_SETTLE_MS */
  settleMs?: number
  /** false: no timer, rounds only through runRound() (tests). @default true */
  auto?: boolean
}

/** What one round did. */
export interface RoundResult {
  /** The peers compared with. */
  peers: string[]
  /** Every peer compared with confirmed holding the same versions of every shared key. */
  inSync: boolean
  pushed: number
  pulled: number
  /** Value bytes of the records pushed and pulled. */
  bytes: number
  handedOff: number
  underReplicated: number
}

/** Anti-entropy's counters since start, and its last count of under-replicated keys (for metrics). */
export interface AntiEntropyStats {
  rounds: number
  keysRepaired: number
  bytesRepaired: number
  handedOff: number
  underReplicated: number
}

/**
 * Continual, throttled anti-entropy between replicas, and rebalancing.
 *
 * Every round (every few seconds, jittered; faster while repair is pending)
 * this peer reads its store's per-partition digests and record counts
 * (PartitionView: kept up to date by every write; nothing walks the store)
 * and compares with the live peers of the ring that need it (pickPeers):
 * those not confirmed for the current ring, and confirmed ones whose shared
 * partitions changed here since their last comparison. The exchange
 * (AntiEntropyExchange) sends the digests of the partitions both hold,
 * narrows a difference down to partitions, lists their records on both
 * sides and pushes what this peer has newer, pulls what the other has
 * newer, within the round's budget. Matching digests confirm the peer for
 * the current ring (both sides record it).
 *
 * Rebalancing: a peer dead past the grace period is taken off the ring, and
 * a ring change resets every confirmation, so the new members of a key's
 * preference list get it from the others; records of partitions this peer
 * no longer owns are handed off (see `handOff`), a budget's worth a round
 * from the partition key index, and dropped once every new owner confirmed
 * them. A key is under-replicated while some member of its partition's
 * preference list is not confirmed for the current ring, or while it waits
 * for handoff: counted each round from the per-partition record counts.
 * `lastRepairMs` is the time from a ring change to the first round that
 * found none.
 */
export class AntiEntropy {
  /** Which replicas are confirmed in sync for the current ring. */
  private readonly confirmations: RingConfirmations
  private readonly intervalMs: number
  private readonly busyIntervalMs: number
  private readonly maxKeys: number
  private readonly settleMs: number
  private readonly maxBytes: number
  private readonly auto: boolean
  private timer: Timer | undefined
  private running: Promise<RoundResult> | undefined
  private offs: Array<() => void> = []
  private started = false
  private cursor = 0
  /** The partitions of the ring last seen. */
  private parts: RingPartitions | undefined
  /** Where the last round's search for records to hand off stopped. */
  private handoffCursor: [number, string] | undefined
  private busy = true
  private localKeys = 0
  private underReplicated = 0
  private repairPendingSince: number | null = null
  private lastRepairMs: number | null = null
  private rounds = 0
  private keysRepaired = 0
  private bytesRepaired = 0
  private handedOff = 0
  private lastRoundMs: number | null = null
  /** The comparison with one peer, both sides (it keeps the per-peer cursors). */
  private readonly protocol: AntiEntropyExchange
  private readonly listeners = new Set<(e: RepairEvent) => void>()

  constructor (private readonly c: AntiEntropyComponents, init: AntiEntropyInit = {}) {
    this.confirmations = new RingConfirmations(c, init.deadGraceMs ?? DEAD_PEER_GRACE_MS)
    this.intervalMs = init.intervalMs ?? ANTI_ENTROPY_INTERVAL_MS
    this.busyIntervalMs = init.busyIntervalMs ?? ANTI_ENTROPY_BUSY_INTERVAL_MS
    this.maxKeys = init.maxKeysPerRound ?? ANTI_ENTROPY_MAX_KEYS
    this.settleMs = init.settleMs ?? ANTI_ENTROPY_SETTLE_MS
    this.maxBytes = init.maxBytesPerRound ?? ANTI_ENTROPY_MAX_BYTES
    this.auto = init.auto ?? true
    this.protocol = new AntiEntropyExchange(c, {
      markSynced: (peerId, ring, cleanFrom) => { this.confirmations.markSynced(peerId, ring, cleanFrom) },
      ring: () => {
        this.checkRing()
        return this.confirmations.ring
      },
      covers: until => this.confirmations.covers(until, this.settleMs),
      shared: peerId => this.partitionsOf(this.confirmations.ring).shared(peerId)
    })
  }

  start (): void {
    if (this.started) return
    this.started = true
    this.confirmations.start()
    this.offs = [
      this.c.transport.handle(STORE_AE_DIGESTS, async req => await this.protocol.onDigests(req)),
      this.c.transport.handle(STORE_AE_KEYS, async req => await this.protocol.onKeys(req)),
      this.c.membership.on('peer:change', e => { this.onPeerChange(e) })
    ]
    if (this.auto) this.schedule(this.busyIntervalMs)
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    this.timer?.cancel()
    this.timer = undefined
    for (const off of this.offs.splice(0)) off()
    await this.running?.catch(() => {})
  }

  /** Calls `fn` with each round's progress while repair is pending (and the round that ends it) and each ring change; returns the unsubscribe function. */
  onRepair (fn: (e: RepairEvent) => void): () => void {
    this.listeners.add(fn)
    return () => { this.listeners.delete(fn) }
  }

  private emit (e: RepairEvent): void {
    for (const fn of this.listeners) {
      try {
        fn(e)
      } catch (err) {
        this.c.log.warn({ err }, 'repair listener failed')
      }
    }
  }

  /** Runs one round now (or waits for the one running). */
  async runRound (): Promise<RoundResult> {
    this.running ??= this.round().finally(() => { this.running = undefined })
    return await this.running
  }

  /**
   * Whether this peer has compared equal with every live peer of the ring
   * since the ring last changed (until then readers ask every replica); see
   * RingConfirmations.settled.
   */
  settled (): boolean {
    return this.confirmations.settled()
  }

  async status (): Promise<RingStatus> {
    this.checkRing()
    const inSync = this.confirmations.inSync()
    return {
      fingerprint: this.confirmations.ring,
      replicas: this.c.placement.n(),
      writeQuorum: this.c.placement.w(),
      volumePeers: this.c.placement.peerIds(),
      shares: this.c.placement.shares(),
      removedDead: this.confirmations.removedDead,
      // Counted now (one LMDB stat), not at the last walk: it follows writes at once.
      localKeys: (await this.c.local.stats()).records ?? this.localKeys,
      underReplicated: this.underReplicated,
      lastRepairMs: this.lastRepairMs,
      repairPendingSince: this.repairPendingSince,
      antiEntropy: { rounds: this.rounds, keysRepaired: this.keysRepaired, handedOff: this.handedOff, lastRoundMs: this.lastRoundMs, inSync }
    }
  }

  /** Plain numbers, no I/O: what metrics read at scrape time. */
  stats (): AntiEntropyStats {
    return { rounds: this.rounds, keysRepaired: this.keysRepaired, bytesRepaired: this.bytesRepaired, handedOff: this.handedOff, underReplicated: this.underReplicated }
  }

  private schedule (baseMs: number): void {
    if (!this.started || !this.auto) return
    const delay = Math.round(baseMs * (0.8 + 0.4 * this.c.random()))
    this.timer?.cancel()
    this.timer = this.c.clock.setTimeout(() => {
      this.timer = undefined
      this.runRound()
        .catch(err => { this.c.log.warn({ err }, 'anti-entropy round failed') })
        .finally(() => { this.schedule(this.nextDelay()) })
    }, delay)
  }

  /** Until the next round: short while repair is pending, else the interval (a quiet round costs the same whatever the keys held). */
  private nextDelay (): number {
    return this.busy ? this.busyIntervalMs : this.intervalMs
  }

  private onPeerChange (e: MembershipEvent): void {
    this.confirmations.onPeerChange(e)
    if (e.type === 'join' || e.type === 'alive' || e.type === 'leave') {
      this.checkRing()
      // Repair starts soon rather than at the next idle round.
      if (!this.busy && this.timer !== undefined) {
        this.busy = true
        this.schedule(this.busyIntervalMs)
      }
    }
  }

  /** Updates the ring (see RingConfirmations.checkRing); on a change, repair is pending again. */
  private checkRing (): void {
    if (!this.confirmations.checkRing()) return
    this.repairPendingSince ??= this.c.clock.now()
    // Every confirmation was for the old ring: until the next walk counts, assume every key waits.
    this.underReplicated = this.localKeys
    this.c.log.info({ ring: this.confirmations.ring, peers: this.c.placement.peerIds().length }, 'ring changed, rebalancing')
    this.emit({ type: 'ring', peers: this.c.placement.peerIds() })
  }

  private async round (): Promise<RoundResult> {
    const pending = this.repairPendingSince !== null
    const { keysRepaired, repairBytes, ...result } = await this.walkAndRepair()
    // Rounds of the steady state that moved nothing are not news.
    if (pending || keysRepaired > 0 || this.repairPendingSince !== null) {
      this.emit({ type: 'repair', round: this.rounds, keysRepaired, bytes: repairBytes, done: this.repairPendingSince === null && this.underReplicated === 0 })
    }
    return result
  }

  private async walkAndRepair (): Promise<RoundResult & { keysRepaired: number, repairBytes: number }> {
    const t0 = this.c.clock.monotonic()
    this.checkRing()
    const ring = this.confirmations.ring
    if (this.c.placement.selfOnly()) {
      // The only volume peer: every key is its own and nobody to compare with.
      this.localKeys = (await this.c.local.stats()).entries
      this.noteUnder(0, this.localKeys)
      this.rounds++
      this.lastRoundMs = Math.round(this.c.clock.monotonic() - t0)
      this.busy = false
      return { peers: [], inSync: false, pushed: 0, pulled: 0, bytes: 0, handedOff: 0, underReplicated: 0, keysRepaired: 0, repairBytes: 0 }
    }
    const view = this.c.local.partitions()
    const parts = this.partitionsOf(ring)
    await view.expire(this.c.clock.now())
    // Counted from the per-partition record counts: a pass over 65,536 numbers, not over the keys.
    const counted = parts.tally(view)
    const underCount = (): number => {
      let n = counted.notOwned
      for (const [i, count] of counted.byList) if (parts.lists[i].some(p => !this.confirmations.confirmed(p))) n += count
      return n
    }
    this.localKeys = counted.records
    this.noteUnder(underCount(), counted.records)
    const handoff = counted.notOwned > 0 ? this.toHandOff(parts) : []
    if (this.underReplicated > 0 && this.repairPendingSince === null && handoff.length > 0) this.repairPendingSince = this.c.clock.now()
    const peers = this.pickPeers(parts)
    const until = this.confirmations.cutoff(this.c.clock.now(), this.settleMs)
    const result: RoundResult = { peers: peers.map(p => p.peerId), inSync: true, pushed: 0, pulled: 0, bytes: 0, handedOff: 0, underReplicated: this.underReplicated }
    const budget = new Budget(this.maxKeys, this.maxBytes)
    for (const peer of peers) {
      if (budget.spent()) {
        result.inSync = false
        break
      }
      try {
        if (!await this.protocol.exchange(peer, { ring, until, tally: result, budget })) result.inSync = false
      } catch (err) {
        result.inSync = false
        this.c.log.debug({ err, peer: peer.peerId }, 'anti-entropy exchange failed')
      }
    }
    const handing = handoff.filter(e => budget.take(e.deleted ? 0 : e.size))
    if (handing.length > 0) {
      result.handedOff = await handOff(handing, { ...this.c, push: async (t, e) => await this.protocol.push(t, e) }, ANTI_ENTROPY_CONCURRENCY)
      this.handedOff += result.handedOff
      counted.notOwned -= result.handedOff
    }
    // Confirmations this round's exchanges brought count at once.
    const under = underCount()
    this.noteUnder(under, counted.records)
    result.underReplicated = under
    this.keysRepaired += result.pushed + result.pulled
    this.bytesRepaired += result.bytes
    this.rounds++
    this.lastRoundMs = Math.round(this.c.clock.monotonic() - t0)
    this.busy = under > 0 || !result.inSync || result.pushed + result.pulled > 0 || this.pending().length > 0
    // The repair event counts the handed-off values' bytes too (the metrics keep them apart).
    const handedBytes = handing.reduce((sum, e) => sum + (e.deleted ? 0 : e.size), 0)
    return { ...result, keysRepaired: result.pushed + result.pulled + result.handedOff, repairBytes: result.bytes + handedBytes }
  }

  /** The partitions of the current ring as this peer sees them (rebuilt when the ring changes). */
  private partitionsOf (ring: string): RingPartitions {
    if (this.parts?.ring !== ring) this.parts = new RingPartitions(ring, this.c.membership.peerId, p => this.c.placement.partitionList(p))
    return this.parts
  }

  /** Up to a round's key budget of records of partitions this peer no longer owns, going on where the last round stopped. */
  private toHandOff (parts: RingPartitions): ReplicaEntry[] {
    const view = this.c.local.partitions()
    const out = view.entries(parts.notOwned, this.handoffCursor, this.maxKeys)
    const last = out[out.length - 1]
    this.handoffCursor = out.length < this.maxKeys || last === undefined ? undefined : [partitionOf(last.key), last.key]
    return out
  }

  /** Publishes the under-replicated count; at 0 a pending repair is complete. */
  private noteUnder (under: number, localKeys: number): void {
    this.underReplicated = under
    if (under > 0 || this.repairPendingSince === null) return
    this.lastRepairMs = this.c.clock.now() - this.repairPendingSince
    this.c.log.info({ ms: this.lastRepairMs, keys: localKeys }, 'every local key has N confirmed copies')
    this.repairPendingSince = null
  }

  /** Live peers of the ring other than this one. */
  private livePeers (): string[] {
    if (this.c.placement.n() < 2 || !this.c.placement.hasSelf()) return []
    const self = this.c.membership.peerId
    return this.c.placement.peerIds().filter(p => p !== self && this.confirmations.isAlive(p))
  }

  /** Live peers not confirmed for this ring. */
  private pending (): string[] {
    return this.livePeers().filter(p => !this.confirmations.confirmed(p))
  }

  /**
   * The live peers of the ring to compare with this round (at most
   * ANTI_ENTROPY_MAX_PEERS): those not confirmed for this ring (rotating),
   * then confirmed ones whose shared partitions changed here since their
   * last comparison, or whose last comparison is older than
   * ANTI_ENTROPY_VERIFY_MS. A confirmed peer nothing changed with is not
   * compared: it changes on its side are its own rounds' to send. So a
   * quiet cluster's round costs a pass over the partition arrays, whatever
   * the number of keys.
   */
  private pickPeers (parts: RingPartitions): Target[] {
    const ids = this.livePeers()
    if (ids.length === 0) return []
    const view = this.c.local.partitions()
    const now = this.c.clock.now()
    const pending = ids.filter(p => !this.confirmations.confirmed(p))
    const start = this.cursor++
    const chosen = pending.map((_, i) => pending[(start + i) % pending.length])
    for (const id of ids) {
      const last = this.confirmations.lastSync(id)
      if (last === undefined) continue
      if (now - last.at >= ANTI_ENTROPY_VERIFY_MS || parts.changedSince(view, id, last.cleanFrom)) chosen.push(id)
    }
    const out: Target[] = []
    for (const id of chosen.slice(0, ANTI_ENTROPY_MAX_PEERS)) {
      const m = this.c.membership.get(id)
      if (m !== undefined) out.push({ peerId: id, address: m.address, isSelf: false, isAlive: true, http: m.meta.http })
    }
    return out
  }
}
