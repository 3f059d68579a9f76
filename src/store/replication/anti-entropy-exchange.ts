import type { Clock } from '../../common/clock.js'
import { compareHlc, decodeHlc, encodeHlc, type HlcTimestamp } from '../../common/hlc.js'
import type { Logger } from '../../common/logger.js'
import type { Membership } from '../../mesh/membership/index.js'
import type { IncomingRequest, Transport } from '../../mesh/transport/index.js'
import type { ReplicaEntry } from '../record.js'
import type { ReplicaStore } from '../types.js'
import { PARTITIONS, partitionOf } from '../../ring/index.js'
import { ACK_TIMEOUT_MS, ANTI_ENTROPY_CONCURRENCY } from './constants.js'
import { AE_V, STORE_AE_DIGESTS, STORE_AE_KEYS, parseAeReply, parseAeRequest, type AntiEntropyReply, type PartitionCursor } from './anti-entropy-messages.js'
import { COARSE, MAX_DETAILED, coarseOf, coarseWire, differingBuckets, pairDigests, partitionWire, type PairDigests } from './digests.js'
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
  /**
   * Records that `peerId` compared equal for `ring`, or (undefined) that it
   * is not confirmed; `cleanFrom`: changes of the shared partitions from
   * this time on (ms, local clock) were not part of the comparison.
   */
  markSynced: (peerId: string, ring: string | undefined, cleanFrom?: number) => void
  /** Takes peers dead past the grace off the ring, then returns the current ring fingerprint. */
  ring: () => string
  /** Whether comparing the versions older than `until` is enough to confirm a peer for this peer's ring (RingConfirmations.covers). */
  covers: (until: HlcTimestamp) => boolean
  /** The partitions this peer shares with `peerId` on the current ring (see sharedMask). */
  shared: (peerId: string) => Uint8Array
}

/** Where one exchange counts the keys it moved (a RoundResult). */
export interface ExchangeTally {
  pushed: number
  pulled: number
  /** Value bytes of the records pushed and pulled (tombstones count 0). */
  bytes: number
}

/** One exchange within a round: the ring both sides must be on, the versions compared (older than `until`), where moved keys are counted, and what the round may still move. */
export interface ExchangeRound {
  ring: string
  until: HlcTimestamp
  tally: ExchangeTally
  budget: Budget
}

/**
 * The comparison between two replicas, both sides, over the partitions they
 * share. The initiator sends its coarse digests (`exchange`); the responder
 * answers with the coarse buckets that differ and its partition digests in
 * them (`onDigests`); the initiator lists the records of the partitions
 * that differ, asks the responder for its (`onKeys`), and pushes what it
 * has newer and pulls what the responder has newer. Nothing walks the
 * store: digests come from the store's per-partition digests, records from
 * its per-partition key index.
 */
export class AntiEntropyExchange {
  /** Per peer, where the previous exchange stopped when the peer's list was cut at its limit: the next one goes on from there. */
  private readonly cursors = new Map<string, PartitionCursor>()
  /** This peer as a copy's source or target (the local store). */
  private readonly self: Target

  constructor (private readonly c: AntiEntropyExchangeComponents, private readonly hooks: AntiEntropyExchangeHooks) {
    this.self = { peerId: c.membership.peerId, address: '', isSelf: true, isAlive: true, http: '' }
  }

  /** The digests this peer holds in common with `peerId`, versions older than `until`; undefined when `until` is older than the young versions it remembers. */
  private async digests (peerId: string, until: HlcTimestamp): Promise<PairDigests | undefined> {
    const view = this.c.local.partitions()
    await view.expire(this.c.clock.now())
    const young = view.young(until)
    return young === undefined ? undefined : pairDigests(view, this.hooks.shared(peerId), young)
  }

  /** Compares with one peer and moves what differs, within the budget; true when the digests matched. */
  async exchange (peer: Target, round: ExchangeRound): Promise<boolean> {
    const { ring, until, budget } = round
    const computedAt = this.c.clock.now()
    const mine = await this.digests(peer.peerId, until)
    if (mine === undefined) return false
    const r = await this.c.transport.request(peer.address, { type: STORE_AE_DIGESTS, v: AE_V, ring, digests: coarseWire(mine), until }, { timeoutMs: ACK_TIMEOUT_MS })
    const reply = parseAeReply(r.msg, 'store.ae.digests.reply')
    if (reply.differ === null) return false // rings differ: membership has not converged yet
    if (reply.differ.length === 0) {
      this.hooks.markSynced(peer.peerId, ring, cleanFrom(until, computedAt))
      return true
    }
    this.hooks.markSynced(peer.peerId, undefined)
    const detailed = reply.differ.slice(0, MAX_DETAILED)
    const partitions = differingBuckets(partitionWire(mine, detailed), reply.partitions, PARTITIONS).filter(p => detailed.includes(coarseOf(p)))
    if (partitions.length === 0) return false
    // Without a cursor, a long run of equal records at the start of the differing partitions would be compared again every round.
    const cursor = this.cursors.get(peer.peerId)
    const after = cursor !== undefined && partitions.includes(cursor[0]) ? cursor : undefined
    const kr = await this.c.transport.request(peer.address, { type: STORE_AE_KEYS, v: AE_V, ring, partitions, limit: budget.keys * 4, ...(after !== undefined ? { after } : {}), until }, { timeoutMs: ACK_TIMEOUT_MS })
    const keys = parseAeReply(kr.msg, 'store.ae.keys.reply')
    if (keys.entries === null) return false
    // The peer's list stops at its limit: past its last position, what it holds is unknown.
    const last = keys.last ?? undefined
    if (last !== undefined) this.cursors.set(peer.peerId, last)
    else this.cursors.delete(peer.peerId)
    const local = this.c.local.partitions().entries(partitions, after, Number.MAX_SAFE_INTEGER)
      .filter(e => e.version < until && (last === undefined || !beyond(e.key, last)))
    await this.run(peer, this.transfers(peer, { mine: local, theirs: keys.entries }, round))
    return false
  }

  /** What to push and pull, within the budget, to bring both sides' records of the same keys to the newer version. */
  private transfers (peer: Target, records: { mine: ReplicaEntry[], theirs: ReplicaEntry[] }, round: Pick<ExchangeRound, 'tally' | 'budget'>): Array<() => Promise<void>> {
    const { mine, theirs } = records
    const { tally: result, budget } = round
    const remote = new Map(theirs.map(e => [e.key, e]))
    const now = this.c.clock.now()
    const work: Array<() => Promise<void>> = []
    for (const e of mine) {
      const t = remote.get(e.key)
      remote.delete(e.key)
      if (t !== undefined && compareHlc(e.version, t.version) === 0) continue
      if (t === undefined || compareHlc(e.version, t.version) > 0) {
        if (expired(e, now) || !budget.take(e.deleted ? 0 : e.size)) continue
        work.push(async () => { if (await this.push(peer, e)) tally(result, 'pushed', e) })
      } else {
        if (expired(t, now) || !budget.take(t.deleted ? 0 : t.size)) continue
        work.push(async () => { if (await this.pull(peer, t)) tally(result, 'pulled', t) })
      }
    }
    for (const t of remote.values()) {
      if (expired(t, now) || !budget.take(t.deleted ? 0 : t.size)) continue
      work.push(async () => { if (await this.pull(peer, t)) tally(result, 'pulled', t) })
    }
    return work
  }

  /** Runs the transfers, ANTI_ENTROPY_CONCURRENCY at a time. */
  private async run (peer: Target, work: Array<() => Promise<void>>): Promise<void> {
    let next = 0
    await Promise.all(Array.from({ length: ANTI_ENTROPY_CONCURRENCY }, async () => {
      while (next < work.length) {
        const job = work[next++]
        await job().catch(err => { this.c.log.debug({ err, peer: peer.peerId }, 'anti-entropy transfer failed') })
      }
    }))
  }

  /** Sends this peer's record to `t`; true when `t` now holds this version or a newer one. */
  async push (t: Target, e: ReplicaEntry): Promise<boolean> {
    if (e.deleted) {
      const out = await this.c.client.tombstone(t, e.key, e.version, e.deletedAt ?? this.c.clock.now(), { origin: e.origin })
      return out.entry !== undefined && compareHlc(out.entry.version, e.version) >= 0
    }
    // Changed since it was listed (undefined): a later round compares again.
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

  async onDigests (req: IncomingRequest): Promise<AntiEntropyReply> {
    const msg = parseAeRequest(req.msg, STORE_AE_DIGESTS)
    const none: AntiEntropyReply = { type: 'store.ae.digests.reply', v: AE_V, differ: null, partitions: {} }
    if (msg.ring !== this.hooks.ring()) return none
    const computedAt = this.c.clock.now()
    const mine = await this.digests(req.from.peerId, msg.until)
    if (mine === undefined) return none
    const differ = differingBuckets(coarseWire(mine), msg.digests, COARSE)
    // The sender's cutoff may leave out versions this peer took its ring after: then equal digests confirm nothing, on either side.
    if (differ.length === 0 && !this.hooks.covers(msg.until)) {
      this.hooks.markSynced(req.from.peerId, undefined)
      return none
    }
    this.hooks.markSynced(req.from.peerId, differ.length === 0 ? msg.ring : undefined, cleanFrom(msg.until, computedAt))
    return { type: 'store.ae.digests.reply', v: AE_V, differ, partitions: partitionWire(mine, differ.slice(0, MAX_DETAILED)) }
  }

  async onKeys (req: IncomingRequest): Promise<AntiEntropyReply> {
    const msg = parseAeRequest(req.msg, STORE_AE_KEYS)
    if (msg.ring !== this.c.placement.fingerprint()) return { type: 'store.ae.keys.reply', v: AE_V, entries: null, last: null }
    const limit = Math.max(1, Math.min(msg.limit, 10_000))
    const shared = this.hooks.shared(req.from.peerId)
    const listed = this.c.local.partitions().entries(msg.partitions.filter(p => shared[p] === 1), msg.after, limit + 1)
    const truncated = listed.length > limit
    const page = listed.slice(0, limit)
    const lastEntry = page[page.length - 1]
    const last: PartitionCursor | null = truncated ? [partitionOf(lastEntry.key), lastEntry.key] : null
    return { type: 'store.ae.keys.reply', v: AE_V, entries: page.filter(e => e.version < msg.until), last }
  }
}

/** Whether a key lies past a cursor in (partition, key) order. */
function beyond (key: string, cursor: PartitionCursor): boolean {
  const p = partitionOf(key)
  return p > cursor[0] || (p === cursor[0] && key > cursor[1])
}

/** From when changes were not part of a comparison at cutoff `until` made at `computedAt`: the earlier of the two. */
function cleanFrom (until: HlcTimestamp, computedAt: number): number {
  return until >= MAX_HLC ? computedAt : Math.min(computedAt, decodeHlc(until).wall)
}

/** Counts one record moved and its value bytes (a tombstone has none). */
function tally (result: ExchangeTally, way: 'pushed' | 'pulled', e: ReplicaEntry): void {
  result[way]++
  result.bytes += e.deleted ? 0 : e.size
}

/** What a round may still move: keys, and value bytes (the first value always fits). */
export class Budget {
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
