import type { Clock, Timer } from '../../common/clock.js'
import { PmzError } from '../../common/errors.js'
import { compareHlc, encodeHlc, type HlcTimestamp } from '../../common/hlc.js'
import type { Logger } from '../../common/logger.js'
import type { Membership, MembershipEvent } from '../../mesh/membership/index.js'
import type { IncomingRequest, Transport } from '../../mesh/transport/index.js'
import type { ReplicaEntry } from '../record.js'
import type { ReplicaStore, RingStatus } from '../types.js'
import {
  ACK_TIMEOUT_MS, ANTI_ENTROPY_BUSY_INTERVAL_MS, ANTI_ENTROPY_CONCURRENCY, ANTI_ENTROPY_INTERVAL_MS, ANTI_ENTROPY_MAX_BYTES,
  ANTI_ENTROPY_MAX_KEYS, ANTI_ENTROPY_MAX_PEERS, ANTI_ENTROPY_SCAN_BATCH, ANTI_ENTROPY_SETTLE_MS, DEAD_PEER_GRACE_MS, REPLICATION_V
} from './constants.js'
import { BucketDigests, bucketOf, differingBuckets } from './digests.js'
import { STORE_AE_DIGESTS, STORE_AE_KEYS, type AntiEntropyReply, type AntiEntropyRequest } from './messages.js'
import type { Placement, Target } from './placement.js'
import { DeadPeers, handOff } from './rebalance.js'
import type { ReplicaClient } from './replica-client.js'

export interface AntiEntropyComponents {
  local: ReplicaStore
  client: ReplicaClient
  placement: Placement
  membership: Membership
  transport: Transport
  clock: Clock
  log: Logger
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
  private readonly dead: DeadPeers
  private readonly intervalMs: number
  private readonly busyIntervalMs: number
  private readonly maxKeys: number
  private readonly settleMs: number
  private readonly maxBytes: number
  private readonly scanBatch: number
  private readonly auto: boolean
  /** Peer id -> the ring fingerprint it was last confirmed in sync for. */
  private readonly synced = new Map<string, string>()
  /** Bumped whenever `synced` or a member's state changes: settled() is recomputed only then (it is asked on every request). */
  private epoch = 0
  private settledMemo: { ring: string, epoch: number, value: boolean } | undefined
  /** Per peer, the last key the previous exchange compared when the peer's list was cut at its limit: the next one goes on from there. */
  private readonly cursors = new Map<string, string>()
  private timer: Timer | undefined
  private running: Promise<RoundResult> | undefined
  private offs: Array<() => void> = []
  private started = false
  private cursor = 0
  private ring = ''
  private excludedSig = ''
  private removedDead: string[] = []
  private busy = true
  private localKeys = 0
  private underReplicated = 0
  private repairPendingSince: number | null = null
  private lastRepairMs: number | null = null
  private rounds = 0
  private keysRepaired = 0
  private handedOff = 0
  private lastRoundMs: number | null = null
  /** How long the last round's walk over the store took, ms: what the pacing stretches with. */
  private lastWalkMs = 0
  /** This peer as a copy's source or target (the local store). */
  private readonly self: Target

  constructor (private readonly c: AntiEntropyComponents, init: AntiEntropyInit = {}) {
    this.dead = new DeadPeers(c.membership, c.clock, init.deadGraceMs ?? DEAD_PEER_GRACE_MS)
    this.intervalMs = init.intervalMs ?? ANTI_ENTROPY_INTERVAL_MS
    this.busyIntervalMs = init.busyIntervalMs ?? ANTI_ENTROPY_BUSY_INTERVAL_MS
    this.maxKeys = init.maxKeysPerRound ?? ANTI_ENTROPY_MAX_KEYS
    this.settleMs = init.settleMs ?? ANTI_ENTROPY_SETTLE_MS
    this.self = { peerId: c.membership.peerId, address: '', isSelf: true, isAlive: true, http: '' }
    this.maxBytes = init.maxBytesPerRound ?? ANTI_ENTROPY_MAX_BYTES
    this.scanBatch = init.scanBatch ?? ANTI_ENTROPY_SCAN_BATCH
    this.auto = init.auto ?? true
  }

  start (): void {
    if (this.started) return
    this.started = true
    this.ring = this.c.placement.fingerprint()
    this.offs = [
      this.c.transport.handle(STORE_AE_DIGESTS, async req => await this.onDigests(req)),
      this.c.transport.handle(STORE_AE_KEYS, async req => await this.onKeys(req)),
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

  /** Runs one round now (or waits for the one running). */
  async runRound (): Promise<RoundResult> {
    this.running ??= this.round().finally(() => { this.running = undefined })
    return await this.running
  }

  /**
   * Whether this peer has compared equal with every live peer of the ring
   * since the ring last changed. Until then a replica may lack keys it now
   * owns (a peer that joined, one back from the dead whose hints are still
   * on their way), and a quorum of R answers is not enough to call a key
   * absent: readers ask every replica.
   */
  settled (): boolean {
    if (this.c.placement.selfOnly()) return true
    const ring = this.c.placement.fingerprint()
    if (ring !== this.ring) return false
    const memo = this.settledMemo
    if (memo !== undefined && memo.ring === ring && memo.epoch === this.epoch) return memo.value
    const value = this.c.placement.peerIds().every(p => !this.isAlive(p) || this.confirmed(p))
    this.settledMemo = { ring, epoch: this.epoch, value }
    return value
  }

  /** Records that `peerId` compared equal for `ring`, or (undefined) that it is not confirmed. */
  private markSynced (peerId: string, ring: string | undefined): void {
    if (ring === undefined) this.synced.delete(peerId)
    else this.synced.set(peerId, ring)
    this.epoch++
  }

  async status (): Promise<RingStatus> {
    this.checkRing()
    const inSync = this.c.placement.peerIds().filter(p => this.confirmed(p))
    return {
      fingerprint: this.c.placement.fingerprint(),
      replicas: this.c.placement.n(),
      writeQuorum: this.c.placement.w(),
      volumePeers: this.c.placement.peerIds(),
      removedDead: this.removedDead,
      localKeys: this.localKeys,
      underReplicated: this.underReplicated,
      lastRepairMs: this.lastRepairMs,
      repairPendingSince: this.repairPendingSince,
      antiEntropy: { rounds: this.rounds, keysRepaired: this.keysRepaired, handedOff: this.handedOff, lastRoundMs: this.lastRoundMs, inSync }
    }
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
    this.dead.onChange(e)
    this.epoch++
    if (e.type === 'dead' || e.type === 'suspect' || e.type === 'leave') this.synced.delete(e.member.peerId)
    if (e.type === 'join' || e.type === 'alive' || e.type === 'leave') {
      this.checkRing()
      // Repair starts soon rather than at the next idle round.
      if (!this.busy && this.timer !== undefined) {
        this.busy = true
        this.schedule(this.busyIntervalMs)
      }
    }
  }

  /** Takes peers dead past the grace off the ring; notes a ring change (every confirmation is for the old ring). */
  private checkRing (): void {
    const expired = this.dead.expired()
    const sig = [...expired].sort().join(',')
    if (sig !== this.excludedSig) {
      this.excludedSig = sig
      this.removedDead = [...expired].sort()
      if (expired.size > 0) this.c.log.info({ peers: this.removedDead, graceMs: this.dead.graceMs }, 'dead volume peers leave the ring')
      this.c.placement.exclude(expired)
    }
    const ring = this.c.placement.fingerprint()
    if (ring !== this.ring) {
      this.ring = ring
      this.repairPendingSince ??= this.c.clock.now()
      // Every confirmation was for the old ring: until the next walk counts, assume every key waits.
      this.underReplicated = this.localKeys
      this.c.log.info({ ring, peers: this.c.placement.peerIds().length }, 'ring changed, rebalancing')
    }
  }

  private confirmed (peerId: string): boolean {
    if (peerId === this.c.membership.peerId) return true
    const m = this.c.membership.get(peerId)
    return this.synced.get(peerId) === this.ring && m !== undefined && (m.state === 'alive' || m.state === 'suspect')
  }

  private async round (): Promise<RoundResult> {
    const t0 = this.c.clock.monotonic()
    this.checkRing()
    const ring = this.ring
    const self = this.c.membership.peerId
    if (this.c.placement.selfOnly()) {
      // The only volume peer: every key is its own and nobody to compare with, so no walk.
      this.localKeys = (await this.c.local.stats()).entries
      this.noteUnder(0, this.localKeys)
      this.rounds++
      this.lastRoundMs = Math.round(this.c.clock.monotonic() - t0)
      this.busy = false
      return { peers: [], inSync: false, pushed: 0, pulled: 0, handedOff: 0, underReplicated: 0 }
    }
    const peers = this.pickPeers()
    const digests = new Map(peers.map(p => [p.peerId, new BucketDigests()]))
    const until = settledBefore(this.c.clock.now(), this.settleMs)
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
      const unconfirmed = pl.filter(p => !this.confirmed(p))
      if (unconfirmed.length > 0) {
        const group = unconfirmed.join(',')
        waiting.set(group, (waiting.get(group) ?? 0) + 1)
      }
      if (peers.length > 0 && !expired(e, now) && e.version < until) for (const p of pl) digests.get(p)?.add(e)
    }
    const underCount = (): number => {
      let n = notOwned
      for (const [group, count] of waiting) if (group.split(',').some(p => !this.confirmed(p))) n += count
      return n
    }
    this.lastWalkMs = this.c.clock.monotonic() - walkStarted
    this.localKeys = localKeys
    this.noteUnder(underCount(), localKeys)
    if (this.underReplicated > 0 && this.repairPendingSince === null && handoff.length > 0) this.repairPendingSince = this.c.clock.now()
    const result: RoundResult = { peers: peers.map(p => p.peerId), inSync: peers.length > 0, pushed: 0, pulled: 0, handedOff: 0, underReplicated: this.underReplicated }
    const budget = new Budget(this.maxKeys, this.maxBytes)
    for (const peer of peers) {
      if (budget.spent()) {
        result.inSync = false
        break
      }
      try {
        if (!await this.exchange(peer, ring, until, digests.get(peer.peerId) as BucketDigests, result, budget)) result.inSync = false
      } catch (err) {
        result.inSync = false
        this.c.log.debug({ err, peer: peer.peerId }, 'anti-entropy exchange failed')
      }
    }
    const handing = handoff.filter(e => budget.take(e.deleted ? 0 : e.size))
    if (handing.length > 0) {
      result.handedOff = await handOff(handing, { ...this.c, push: async (t, e) => await this.push(t, e) }, ANTI_ENTROPY_CONCURRENCY)
      this.handedOff += result.handedOff
      notOwned -= result.handedOff
    }
    // Confirmations this round's exchanges brought count at once (the records were counted by the walk above).
    const under = underCount()
    this.noteUnder(under, localKeys)
    result.underReplicated = under
    this.keysRepaired += result.pushed + result.pulled
    this.rounds++
    this.lastRoundMs = Math.round(this.c.clock.monotonic() - t0)
    this.busy = under > 0 || (peers.length > 0 && !result.inSync) || result.pushed + result.pulled > 0
    return result
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
    const ids = this.c.placement.peerIds().filter(p => p !== self && this.isAlive(p))
    if (ids.length === 0) return []
    const pending = ids.filter(p => !this.confirmed(p))
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

  private isAlive (peerId: string): boolean {
    const m = this.c.membership.get(peerId)
    return m !== undefined && (m.state === 'alive' || m.state === 'suspect')
  }

  /** Compares with one peer and moves what differs, within the budget; true when the digests matched. */
  private async exchange (peer: Target, ring: string, until: HlcTimestamp, digests: BucketDigests, result: RoundResult, budget: Budget): Promise<boolean> {
    const r = await this.c.transport.request(peer.address, { type: STORE_AE_DIGESTS, v: 1, ring, digests: digests.toWire(), until }, { timeoutMs: ACK_TIMEOUT_MS })
    const differ = (r.msg as Extract<AntiEntropyReply, { type: 'store.ae.digests.reply' }>).differ
    if (differ === null) return false // rings differ: membership has not converged yet
    if (differ.length === 0) {
      this.markSynced(peer.peerId, ring)
      return true
    }
    this.markSynced(peer.peerId, undefined)
    // Without a cursor, a long run of equal keys at the start of the differing buckets would be compared again every round.
    const after = this.cursors.get(peer.peerId)
    const kr = await this.c.transport.request(peer.address, { type: STORE_AE_KEYS, v: 1, ring, buckets: differ, limit: budget.keys * 4, after, until }, { timeoutMs: ACK_TIMEOUT_MS })
    const theirs = (kr.msg as Extract<AntiEntropyReply, { type: 'store.ae.keys.reply' }>).entries
    if (theirs === null) return false
    const { truncated } = kr.msg as Extract<AntiEntropyReply, { type: 'store.ae.keys.reply' }>
    // The peer's list stops at its limit (in key order): past its last key, what it holds is unknown.
    const lastKey = truncated && theirs.length > 0 ? theirs[theirs.length - 1].key : undefined
    if (lastKey !== undefined) this.cursors.set(peer.peerId, lastKey)
    else this.cursors.delete(peer.peerId)
    const mine: ReplicaEntry[] = []
    for await (const e of this.sharedEntries(peer.peerId, new Set(differ))) {
      if (after !== undefined && e.key <= after) continue
      if (lastKey !== undefined && e.key > lastKey) break
      if (e.version >= until) continue
      mine.push(e)
    }
    const remote = new Map(theirs.map(e => [e.key, e]))
    const now = this.c.clock.now()
    const work: Array<() => Promise<void>> = []
    for (const e of mine) {
      const t = remote.get(e.key)
      remote.delete(e.key)
      if (t !== undefined && compareHlc(e.version, t.version) === 0) continue
      if (t === undefined || compareHlc(e.version, t.version) > 0) {
        if (expired(e, now) || !budget.take(e.deleted ? 0 : e.size)) continue
        work.push(async () => { if (await this.push(peer, e)) result.pushed++ })
      } else {
        if (expired(t, now) || !budget.take(t.deleted ? 0 : t.size)) continue
        work.push(async () => { if (await this.pull(peer, t)) result.pulled++ })
      }
    }
    for (const t of remote.values()) {
      if (expired(t, now) || !budget.take(t.deleted ? 0 : t.size)) continue
      work.push(async () => { if (await this.pull(peer, t)) result.pulled++ })
    }
    let next = 0
    await Promise.all(Array.from({ length: ANTI_ENTROPY_CONCURRENCY }, async () => {
      while (next < work.length) {
        const job = work[next++]
        await job().catch(err => { this.c.log.debug({ err, peer: peer.peerId }, 'anti-entropy transfer failed') })
      }
    }))
    return false
  }

  /** Sends this peer's record to `t`; true when `t` now holds this version or a newer one. */
  private async push (t: Target, e: ReplicaEntry): Promise<boolean> {
    if (e.deleted) {
      const out = await this.c.client.tombstone(t, e.key, e.version, e.deletedAt ?? this.c.clock.now())
      return out.entry !== undefined && compareHlc(out.entry.version, e.version) >= 0
    }
    // Changed since the walk (undefined): a later round compares again.
    const out = await this.c.client.copy(e.key, [this.self], t, { version: e.version })
    return out?.entry !== undefined && compareHlc(out.entry.version, e.version) >= 0
  }

  /** Fetches `t`'s newer record of a key into the local store; true when applied. */
  private async pull (t: Target, theirs: ReplicaEntry): Promise<boolean> {
    if (theirs.deleted) {
      return (await this.c.local.applyTombstone(theirs.key, theirs.version, theirs.deletedAt ?? this.c.clock.now())).applied
    }
    return (await this.c.client.copy(theirs.key, [t], this.self))?.applied === true
  }

  /** Local records of keys whose preference list holds this peer and `peerId` (in `buckets` when given). */
  private async * sharedEntries (peerId: string, buckets: Set<number> | undefined): AsyncIterable<ReplicaEntry> {
    const self = this.c.membership.peerId
    for await (const e of this.walk()) {
      if (buckets !== undefined && !buckets.has(bucketOf(e.key))) continue
      const pl = this.c.placement.preferenceList(e.key)
      if (pl.includes(self) && pl.includes(peerId)) yield e
    }
  }

  private async onDigests (req: IncomingRequest): Promise<AntiEntropyReply> {
    const msg = unread(req, STORE_AE_DIGESTS)
    this.checkRing()
    if (msg.ring !== this.ring) return { type: 'store.ae.digests.reply', v: 1, differ: null }
    const mine = new BucketDigests()
    const now = this.c.clock.now()
    const until = msg.until ?? MAX_HLC
    for await (const e of this.sharedEntries(req.from.peerId, undefined)) if (!expired(e, now) && e.version < until) mine.add(e)
    const differ = differingBuckets(mine.toWire(), msg.digests)
    this.markSynced(req.from.peerId, differ.length === 0 ? msg.ring : undefined)
    return { type: 'store.ae.digests.reply', v: 1, differ }
  }

  private async onKeys (req: IncomingRequest): Promise<AntiEntropyReply> {
    const msg = unread(req, STORE_AE_KEYS)
    if (msg.ring !== this.c.placement.fingerprint()) return { type: 'store.ae.keys.reply', v: 1, entries: null, truncated: false }
    const limit = Math.max(1, Math.min(msg.limit, 10_000))
    const entries: ReplicaEntry[] = []
    const after = typeof msg.after === 'string' ? msg.after : undefined
    const until = typeof msg.until === 'string' ? msg.until : MAX_HLC
    for await (const e of this.sharedEntries(req.from.peerId, new Set(msg.buckets))) {
      if (after !== undefined && e.key <= after) continue
      if (e.version >= until) continue
      entries.push(e)
      if (entries.length > limit) break
    }
    return { type: 'store.ae.keys.reply', v: 1, entries: entries.slice(0, limit), truncated: entries.length > limit }
  }
}

/** What a round may still move: keys, and value bytes (the first value always fits). */
class Budget {
  private moved = 0
  constructor (public keys: number, private bytes: number) {}

  take (size: number): boolean {
    if (this.keys <= 0 || (this.moved > 0 && size > this.bytes)) return false
    this.keys--
    this.bytes -= size
    this.moved++
    return true
  }

  spent (): boolean { return this.keys <= 0 || this.bytes <= 0 }
}

function unread<T extends AntiEntropyRequest['type']> (req: IncomingRequest, type: T): Extract<AntiEntropyRequest, { type: T }> {
  const msg = req.msg as AntiEntropyRequest
  if (msg.v !== REPLICATION_V) throw new PmzError('ERR_BAD_REQUEST', `unsupported ${type} version ${String(msg.v)}`)
  return msg as Extract<AntiEntropyRequest, { type: T }>
}

/** Above every version: no settling cutoff (a peer that sends none). */
const MAX_HLC: HlcTimestamp = '\uffff'

/** The cutoff of a round: versions issued before `now - settleMs` are compared, later ones are still settling. */
function settledBefore (now: number, settleMs: number): HlcTimestamp {
  return settleMs <= 0 ? MAX_HLC : encodeHlc({ wall: Math.max(0, now - settleMs + 1), logical: 0, peerId: '' })
}

/** An expired value (not a tombstone): every replica computes the same expiry, so it is neither compared nor copied. */
function expired (e: ReplicaEntry, now: number): boolean {
  return !e.deleted && e.expires !== null && e.expires <= now
}
