import type { Timer } from '../../common/clock.js'
import type { MembershipEvent } from '../../mesh/membership/index.js'
import type { ReplicaEntry } from '../record.js'
import type { RepairEvent, RingStatus } from '../types.js'
import { AntiEntropyExchange, Budget, expired, type AntiEntropyExchangeComponents } from './anti-entropy-exchange.js'
import {
  ANTI_ENTROPY_BUSY_INTERVAL_MS, ANTI_ENTROPY_CONCURRENCY, ANTI_ENTROPY_INTERVAL_MS, ANTI_ENTROPY_MAX_BYTES,
  ANTI_ENTROPY_MAX_KEYS, ANTI_ENTROPY_MAX_PEERS, ANTI_ENTROPY_SCAN_BATCH, ANTI_ENTROPY_SETTLE_MS, DEAD_PEER_GRACE_MS
} from './constants.js'
import { BucketDigests } from './digests.js'
import { STORE_AE_DIGESTS, STORE_AE_KEYS } from './messages.js'
import type { Target } from './placement.js'
import { handOff } from './rebalance.js'
import { RingConfirmations } from './ring-confirmations.js'

/** What anti-entropy works with: what one exchange works with. */
export type AntiEntropyComponents = AntiEntropyExchangeComponents

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
  /** @default ANTI_ENTROPY_SCAN_BATCH */
  scanBatch?: number
  /** Versions younger than this are not compared yet. @default ANTI_ENTROPY_SETTLE_MS */
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
 * this peer walks its records in LMDB batches, picks one live peer of the
 * ring (unconfirmed ones first) and sends the bucket digests of the keys
 * whose preference list holds both of them. The peer answers with the
 * buckets that differ; for those (as many as the round's key budget allows)
 * this peer fetches the peer's (key, version) list and pushes what it has
 * newer, pulls what the peer has newer: values streamed, tombstones too, all
 * through the only-if-newer replica ops. Matching digests confirm the peer
 * for the current ring (both sides record it).
 *
 * Rebalancing rides the same walk: a peer dead past the grace period is
 * taken off the ring, and a ring change resets every confirmation, so the
 * new members of a key's preference list get it from the others; records
 * this peer no longer owns are handed off (see `handOff`) and dropped once
 * every new owner confirmed them. A key is under-replicated while some
 * member of its preference list is not confirmed for the current ring, or
 * while it waits for handoff; `lastRepairMs` is the time from a ring change
 * to the first walk that found none.
 */
export class AntiEntropy {
  /** Which replicas are confirmed in sync for the current ring. */
  private readonly confirmations: RingConfirmations
  private readonly intervalMs: number
  private readonly busyIntervalMs: number
  private readonly maxKeys: number
  private readonly settleMs: number
  private readonly maxBytes: number
  private readonly scanBatch: number
  private readonly auto: boolean
  private timer: Timer | undefined
  private running: Promise<RoundResult> | undefined
  private offs: Array<() => void> = []
  private started = false
  private cursor = 0
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
  /** How long the last round's walk over the store took, ms: what the pacing stretches with. */
  private lastWalkMs = 0
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
    this.scanBatch = init.scanBatch ?? ANTI_ENTROPY_SCAN_BATCH
    this.auto = init.auto ?? true
    this.protocol = new AntiEntropyExchange(c, {
      markSynced: (peerId, ring) => { this.confirmations.markSynced(peerId, ring) },
      ring: () => {
        this.checkRing()
        return this.confirmations.ring
      },
      covers: until => this.confirmations.covers(until, this.settleMs),
      walk: () => this.walk()
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
    const delay = Math.round(baseMs * (0.8 + 0.4 * Math.random()))
    this.timer?.cancel()
    this.timer = this.c.clock.setTimeout(() => {
      this.timer = undefined
      this.runRound()
        .catch(err => { this.c.log.warn({ err }, 'anti-entropy round failed') })
        .finally(() => { this.schedule(this.nextDelay()) })
    }, delay)
  }

  /**
   * Until the next round: the interval, stretched so that walking the store
   * (a round's cost grows with the keys held) takes at most about 5 % of the
   * time in steady state and half of it while repair is pending.
   */
  private nextDelay (): number {
    return this.busy ? Math.max(this.busyIntervalMs, this.lastWalkMs) : Math.max(this.intervalMs, this.lastWalkMs * 20)
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
    const self = this.c.membership.peerId
    if (this.c.placement.selfOnly()) {
      // The only volume peer: every key is its own and nobody to compare with, so no walk.
      this.localKeys = (await this.c.local.stats()).entries
      this.noteUnder(0, this.localKeys)
      this.rounds++
      this.lastRoundMs = Math.round(this.c.clock.monotonic() - t0)
      this.busy = false
      return { peers: [], inSync: false, pushed: 0, pulled: 0, bytes: 0, handedOff: 0, underReplicated: 0, keysRepaired: 0, repairBytes: 0 }
    }
    const peers = this.pickPeers()
    const digests = new Map(peers.map(p => [p.peerId, new BucketDigests()]))
    const until = this.confirmations.cutoff(this.c.clock.now(), this.settleMs)
    const handoff: ReplicaEntry[] = []
    let localKeys = 0
    let notOwned = 0
    /** Keys waiting for confirmations, by the members they wait for (so the count can be redone after this round's exchanges). */
    const waiting = new Map<string, number>()
    const now = this.c.clock.now()
    const walkStarted = this.c.clock.monotonic()
    for await (const e of this.walk()) {
      localKeys++
      const pl = this.c.placement.preferenceList(e.key)
      if (!pl.includes(self)) {
        notOwned++
        if (handoff.length < this.maxKeys) handoff.push(e)
        continue
      }
      const unconfirmed = pl.filter(p => !this.confirmations.confirmed(p))
      if (unconfirmed.length > 0) {
        const group = unconfirmed.join(',')
        waiting.set(group, (waiting.get(group) ?? 0) + 1)
      }
      if (peers.length > 0 && !expired(e, now) && e.version < until) for (const p of pl) digests.get(p)?.add(e)
    }
    const underCount = (): number => {
      let n = notOwned
      for (const [group, count] of waiting) if (group.split(',').some(p => !this.confirmations.confirmed(p))) n += count
      return n
    }
    this.lastWalkMs = this.c.clock.monotonic() - walkStarted
    this.localKeys = localKeys
    this.noteUnder(underCount(), localKeys)
    if (this.underReplicated > 0 && this.repairPendingSince === null && handoff.length > 0) this.repairPendingSince = this.c.clock.now()
    const result: RoundResult = { peers: peers.map(p => p.peerId), inSync: peers.length > 0, pushed: 0, pulled: 0, bytes: 0, handedOff: 0, underReplicated: this.underReplicated }
    const budget = new Budget(this.maxKeys, this.maxBytes)
    for (const peer of peers) {
      if (budget.spent()) {
        result.inSync = false
        break
      }
      try {
        if (!await this.protocol.exchange(peer, ring, until, digests.get(peer.peerId) as BucketDigests, result, budget)) result.inSync = false
      } catch (err) {
        result.inSync = false
        this.c.log.debug({ err, peer: peer.peerId }, 'anti-entropy exchange failed')
      }
    }
    const handing = handoff.filter(e => budget.take(e.deleted ? 0 : e.size))
    if (handing.length > 0) {
      result.handedOff = await handOff(handing, { ...this.c, push: async (t, e) => await this.protocol.push(t, e) }, ANTI_ENTROPY_CONCURRENCY)
      this.handedOff += result.handedOff
      notOwned -= result.handedOff
    }
    // Confirmations this round's exchanges brought count at once (the records were counted by the walk above).
    const under = underCount()
    this.noteUnder(under, localKeys)
    result.underReplicated = under
    this.keysRepaired += result.pushed + result.pulled
    this.bytesRepaired += result.bytes
    this.rounds++
    this.lastRoundMs = Math.round(this.c.clock.monotonic() - t0)
    this.busy = under > 0 || (peers.length > 0 && !result.inSync) || result.pushed + result.pulled > 0
    // The repair event counts the handed-off values' bytes too (the metrics keep them apart).
    const handedBytes = handing.reduce((sum, e) => sum + (e.deleted ? 0 : e.size), 0)
    return { ...result, keysRepaired: result.pushed + result.pulled + result.handedOff, repairBytes: result.bytes + handedBytes }
  }

  /** Publishes the under-replicated count; at 0 a pending repair is complete. */
  private noteUnder (under: number, localKeys: number): void {
    this.underReplicated = under
    if (under > 0 || this.repairPendingSince === null) return
    this.lastRepairMs = this.c.clock.now() - this.repairPendingSince
    this.c.log.info({ ms: this.lastRepairMs, keys: localKeys }, 'every local key has N confirmed copies')
    this.repairPendingSince = null
  }

  /** Every local record, a batch at a time, yielding to the event loop between batches (foreground requests go first). */
  private async * walk (): AsyncIterable<ReplicaEntry> {
    let after: string | undefined
    for (;;) {
      const batch = await this.c.local.entries(after, this.scanBatch)
      yield * batch
      if (batch.length < this.scanBatch) return
      after = batch[batch.length - 1].key
      await new Promise(resolve => setImmediate(resolve))
    }
  }

  /**
   * The live peers of the ring to compare with this round: those not
   * confirmed for this ring (up to ANTI_ENTROPY_MAX_PEERS, rotating), or else
   * one, round-robin (the steady check).
   */
  private pickPeers (): Target[] {
    if (this.c.placement.n() < 2 || !this.c.placement.hasSelf()) return []
    const self = this.c.membership.peerId
    const ids = this.c.placement.peerIds().filter(p => p !== self && this.confirmations.isAlive(p))
    if (ids.length === 0) return []
    const pending = ids.filter(p => !this.confirmations.confirmed(p))
    const pool = pending.length > 0 ? pending : ids
    const count = pending.length > 0 ? Math.min(pool.length, ANTI_ENTROPY_MAX_PEERS) : 1
    const start = this.cursor++
    const out: Target[] = []
    for (let i = 0; i < count; i++) {
      const id = pool[(start + i) % pool.length]
      const m = this.c.membership.get(id)
      if (m !== undefined) out.push({ peerId: id, address: m.address, isSelf: false, isAlive: true, http: m.meta.http })
    }
    return out
  }
}
