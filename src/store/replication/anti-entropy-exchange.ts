import type { Clock } from '../../common/clock.js'
import { PmzError } from '../../common/errors.js'
import { compareHlc, encodeHlc, type HlcTimestamp } from '../../common/hlc.js'
import type { Logger } from '../../common/logger.js'
import type { Membership } from '../../mesh/membership/index.js'
import type { IncomingRequest, Transport } from '../../mesh/transport/index.js'
import type { ReplicaEntry } from '../record.js'
import type { ReplicaStore } from '../types.js'
import { ACK_TIMEOUT_MS, ANTI_ENTROPY_CONCURRENCY, REPLICATION_V } from './constants.js'
import { BucketDigests, bucketOf, differingBuckets } from './digests.js'
import { STORE_AE_DIGESTS, STORE_AE_KEYS, type AntiEntropyReply, type AntiEntropyRequest } from './messages.js'
import type { Placement, Target } from './placement.js'
import type { ReplicaClient } from './replica-client.js'

export interface AntiEntropyExchangeComponents {
  local: ReplicaStore
  client: ReplicaClient
  placement: Placement
  membership: Membership
  transport: Transport
  clock: Clock
  log: Logger
}

/** What the exchange needs from the AntiEntropy that runs it. */
export interface AntiEntropyExchangeHooks {
  /** Records that `peerId` compared equal for `ring`, or (undefined) that it is not confirmed. */
  markSynced: (peerId: string, ring: string | undefined) => void
  /** Takes peers dead past the grace off the ring, then returns the current ring fingerprint. */
  ring: () => string
  /** Whether comparing the versions older than `until` is enough to confirm a peer for this peer's ring (RingConfirmations.covers). */
  covers: (until: HlcTimestamp) => boolean
  /** Every local record, a batch at a time. */
  walk: () => AsyncIterable<ReplicaEntry>
}

/** Where one exchange counts the keys it moved (a RoundResult). */
export interface ExchangeTally {
  pushed: number
  pulled: number
}

/**
 * The comparison between two replicas, both sides. The initiator sends the
 * bucket digests of the keys both hold (`exchange`); the responder answers
 * with the buckets that differ (`onDigests`), then with its (key, version)
 * list of those buckets (`onKeys`), and the initiator pushes what it has
 * newer and pulls what the responder has newer.
 */
export class AntiEntropyExchange {
  /** Per peer, the last key the previous exchange compared when the peer's list was cut at its limit: the next one goes on from there. */
  private readonly cursors = new Map<string, string>()
  /** This peer as a copy's source or target (the local store). */
  private readonly self: Target

  constructor (private readonly c: AntiEntropyExchangeComponents, private readonly hooks: AntiEntropyExchangeHooks) {
    this.self = { peerId: c.membership.peerId, address: '', isSelf: true, isAlive: true, http: '' }
  }

  /** Compares with one peer and moves what differs, within the budget; true when the digests matched. */
  async exchange (peer: Target, ring: string, until: HlcTimestamp, digests: BucketDigests, result: ExchangeTally, budget: Budget): Promise<boolean> {
    const r = await this.c.transport.request(peer.address, { type: STORE_AE_DIGESTS, v: 1, ring, digests: digests.toWire(), until }, { timeoutMs: ACK_TIMEOUT_MS })
    const differ = (r.msg as Extract<AntiEntropyReply, { type: 'store.ae.digests.reply' }>).differ
    if (differ === null) return false // rings differ: membership has not converged yet
    if (differ.length === 0) {
      this.hooks.markSynced(peer.peerId, ring)
      return true
    }
    this.hooks.markSynced(peer.peerId, undefined)
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
  async push (t: Target, e: ReplicaEntry): Promise<boolean> {
    if (e.deleted) {
      const out = await this.c.client.tombstone(t, e.key, e.version, e.deletedAt ?? this.c.clock.now(), { origin: e.origin })
      return out.entry !== undefined && compareHlc(out.entry.version, e.version) >= 0
    }
    // Changed since the walk (undefined): a later round compares again.
    const out = await this.c.client.copy(e.key, [this.self], t, { version: e.version })
    return out?.entry !== undefined && compareHlc(out.entry.version, e.version) >= 0
  }

  /** Fetches `t`'s newer record of a key into the local store; true when applied. */
  private async pull (t: Target, theirs: ReplicaEntry): Promise<boolean> {
    if (theirs.deleted) {
      return (await this.c.local.applyTombstone(theirs.key, theirs.version, theirs.deletedAt ?? this.c.clock.now(), { origin: theirs.origin })).applied
    }
    return (await this.c.client.copy(theirs.key, [t], this.self))?.applied === true
  }

  /** Local records of keys whose preference list holds this peer and `peerId` (in `buckets` when given). */
  private async * sharedEntries (peerId: string, buckets: Set<number> | undefined): AsyncIterable<ReplicaEntry> {
    const self = this.c.membership.peerId
    for await (const e of this.hooks.walk()) {
      if (buckets !== undefined && !buckets.has(bucketOf(e.key))) continue
      const pl = this.c.placement.preferenceList(e.key)
      if (pl.includes(self) && pl.includes(peerId)) yield e
    }
  }

  async onDigests (req: IncomingRequest): Promise<AntiEntropyReply> {
    const msg = unread(req, STORE_AE_DIGESTS)
    if (msg.ring !== this.hooks.ring()) return { type: 'store.ae.digests.reply', v: 1, differ: null }
    const mine = new BucketDigests()
    const now = this.c.clock.now()
    const until = msg.until ?? MAX_HLC
    for await (const e of this.sharedEntries(req.from.peerId, undefined)) if (!expired(e, now) && e.version < until) mine.add(e)
    const differ = differingBuckets(mine.toWire(), msg.digests)
    // The sender's cutoff may leave out versions this peer took its ring after: then equal digests confirm nothing, on either side.
    if (differ.length === 0 && !this.hooks.covers(until)) {
      this.hooks.markSynced(req.from.peerId, undefined)
      return { type: 'store.ae.digests.reply', v: 1, differ: null }
    }
    this.hooks.markSynced(req.from.peerId, differ.length === 0 ? msg.ring : undefined)
    return { type: 'store.ae.digests.reply', v: 1, differ }
  }

  async onKeys (req: IncomingRequest): Promise<AntiEntropyReply> {
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
export class Budget {
  private moved = 0
  /** Bytes of the values taken so far. */
  taken = 0
  constructor (public keys: number, private bytes: number) {}

  take (size: number): boolean {
    if (this.keys <= 0 || (this.moved > 0 && size > this.bytes)) return false
    this.keys--
    this.bytes -= size
    this.taken += size
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
export function settledBefore (now: number, settleMs: number): HlcTimestamp {
  return settleMs <= 0 ? MAX_HLC : encodeHlc({ wall: Math.max(0, now - settleMs + 1), logical: 0, peerId: '' })
}

/** An expired value (not a tombstone): every replica computes the same expiry, so it is neither compared nor copied. */
export function expired (e: ReplicaEntry, now: number): boolean {
  return !e.deleted && e.expires !== null && e.expires <= now
}
