import { createHash } from 'node:crypto'
import { digestOf } from '../common/digest.js'
import { createRequire } from 'node:module'
import { PmzError } from '../common/errors.js'
import { DEFAULT_WEIGHT, MIN_VNODES, PARTITION_BITS, POINTS_PER_VNODE, VNODES_PER_PEER } from './constants.js'
import { partitionOf } from './key-hash.js'
import type { Ring, RingInit, RingPeer } from './types.js'

/** The part of the `hashring` package (CommonJS, untyped) that the ring uses. */
interface HashRingLib {
  /** The continuum: every point with the server it belongs to, sorted by value. */
  ring: ReadonlyArray<{ value: number, server: string }>
}
type HashRingCtor = new (servers: Record<string, { vnodes: number }>, algorithm: string | ((key: string) => Buffer), options: Record<string, unknown>) => HashRingLib

const HashRing = createRequire(import.meta.url)('hashring') as HashRingCtor

/**
 * A {@link Ring} on the `hashring` package (libketama's continuum: md5 of
 * `peerId-i` for each vnode i, cut into four 32-bit points).
 *
 * hashring's own weighting gives a server `floor(weight / total x vnodes x
 * servers)` vnodes: the floor drops a peer whose share is small enough to
 * zero points, and changes every peer's count when any weight changes. So
 * the vnode counts are computed here (rounded, at least MIN_VNODES) and handed
 * over as explicit per-server `vnodes`, with hashring's global count set to 0:
 * hashring ignores an explicit count equal to its global one, and no explicit
 * count here is ever 0. With equal weights every peer gets exactly
 * `vnodesPerPeer`, so a join or a leave moves only the keys of the peer that
 * came or went. A peer's points depend only on its id and its count (the
 * first k of one fixed sequence), so a count that changes moves few keys.
 *
 * Placement is by partition (PARTITION_BITS): a key's preference list is the
 * one of its partition's first position, so every key of a partition has the
 * same list. The lists are computed once per continuum point and n.
 */
export class KetamaRing implements Ring {
  readonly size: number
  readonly fingerprint: string
  private readonly sorted: ReadonlyArray<Required<RingPeer>>
  private readonly counts: ReadonlyMap<string, number>
  /** Continuum point values, ascending, and the peer of each. */
  private readonly points: Uint32Array
  private readonly servers: string[]
  /** Per n, the preference list starting at each point (filled on demand). */
  private readonly lists = new Map<number, Array<string[] | undefined>>()
  private readonly vnodesPerPeer: number
  private shareMap: Readonly<Record<string, number>> | undefined

  constructor (init: RingInit = {}) {
    const vnodesPerPeer = init.vnodesPerPeer ?? VNODES_PER_PEER
    if (!Number.isInteger(vnodesPerPeer) || vnodesPerPeer < 1) {
      throw new PmzError('ERR_BAD_REQUEST', 'ring vnodesPerPeer must be a positive integer', { details: { vnodesPerPeer } })
    }
    this.vnodesPerPeer = vnodesPerPeer
    // Sorted by id: the ring must not depend on the order in which peers were learned.
    this.sorted = normalize(init.peers ?? [])
    this.size = this.sorted.length
    this.counts = vnodeCounts(this.sorted, vnodesPerPeer)
    const servers: Record<string, { vnodes: number }> = Object.create(null)
    for (const p of this.sorted) servers[p.peerId] = { vnodes: this.counts.get(p.peerId) as number }
    // md5, as hashring's own default computes it, through the cheaper one-shot digest (hot: one per key lookup).
    const continuum = new HashRing(servers, md5, { 'vnode count': 0, replicas: POINTS_PER_VNODE }).ring
    this.points = Uint32Array.from(continuum, n => n.value)
    this.servers = continuum.map(n => n.server)
    // The partition width is part of placement: peers that cut the ring differently must not agree on it.
    this.fingerprint = createHash('sha1')
      .update(JSON.stringify([POINTS_PER_VNODE, `p${PARTITION_BITS}`, ...this.sorted.map(p => [p.peerId, this.counts.get(p.peerId)])]))
      .digest('hex')
      .slice(0, 16)
  }

  peers (): RingPeer[] {
    return this.sorted.map(p => ({ ...p }))
  }

  has (peerId: string): boolean {
    return this.counts.has(peerId)
  }

  vnodes (peerId: string): number {
    return this.counts.get(peerId) ?? 0
  }

  preferenceList (key: string, n: number): string[] {
    return this.partitionList(partitionOf(key), n)
  }

  partitionList (partition: number, n: number): string[] {
    const k = Math.min(Math.floor(n), this.size)
    if (!(k >= 1)) return []
    let memo = this.lists.get(k)
    if (memo === undefined) {
      memo = new Array<string[] | undefined>(this.points.length)
      this.lists.set(k, memo)
    }
    const at = this.pointAt(partition << (32 - PARTITION_BITS) >>> 0)
    let list = memo[at]
    if (list === undefined) {
      list = []
      for (let i = 0; list.length < k && i < this.points.length; i++) {
        const server = this.servers[(at + i) % this.points.length]
        if (!list.includes(server)) list.push(server)
      }
      memo[at] = list
    }
    return list.slice()
  }

  /** The first continuum point at or after `position`, wrapping to the first (ketama's lookup). */
  private pointAt (position: number): number {
    let lo = 0
    let hi = this.points.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (this.points[mid] < position) lo = mid + 1
      else hi = mid
    }
    return lo === this.points.length ? 0 : lo
  }

  owner (key: string): string | undefined {
    return this.preferenceList(key, 1)[0]
  }

  shares (): Readonly<Record<string, number>> {
    this.shareMap ??= this.partitionShares()
    return this.shareMap
  }

  /** Each peer's fraction of the partitions it owns (first of their lists): exactly the keys' share, since placement is by partition. */
  private partitionShares (): Record<string, number> {
    const shares: Record<string, number> = Object.fromEntries(this.sorted.map(p => [p.peerId, 0]))
    if (this.size === 0) return shares
    const total = 2 ** PARTITION_BITS
    for (let partition = 0; partition < total; partition++) shares[this.partitionList(partition, 1)[0]]++
    for (const id of Object.keys(shares)) shares[id] /= total
    return shares
  }

  withPeers (peers: readonly RingPeer[]): Ring {
    return new KetamaRing({ peers, vnodesPerPeer: this.vnodesPerPeer })
  }
}

/** Validates the peers and sorts them by id, filling in the default weight. */
function normalize (peers: readonly RingPeer[]): Array<Required<RingPeer>> {
  const seen = new Set<string>()
  const out: Array<Required<RingPeer>> = []
  for (const p of peers) {
    const weight = p.weight ?? DEFAULT_WEIGHT
    if (typeof p.peerId !== 'string' || p.peerId === '') {
      throw new PmzError('ERR_BAD_REQUEST', 'ring peer id must be a non-empty string', { details: { peerId: p.peerId } })
    }
    if (seen.has(p.peerId)) throw new PmzError('ERR_BAD_REQUEST', 'ring peer listed twice', { details: { peerId: p.peerId } })
    if (typeof weight !== 'number' || !Number.isFinite(weight) || weight <= 0) {
      throw new PmzError('ERR_BAD_REQUEST', 'ring peer weight must be a positive finite number', { details: { peerId: p.peerId, weight } })
    }
    seen.add(p.peerId)
    out.push({ peerId: p.peerId, weight })
  }
  return out.sort((a, b) => (a.peerId < b.peerId ? -1 : a.peerId > b.peerId ? 1 : 0))
}

/** Vnodes per peer: proportional to weight, `vnodesPerPeer` on average, at least MIN_VNODES. */
function vnodeCounts (sorted: ReadonlyArray<Required<RingPeer>>, vnodesPerPeer: number): Map<string, number> {
  // Summed in id order, so that every peer computes the same floating-point total.
  const total = sorted.reduce((sum, p) => sum + p.weight, 0)
  const counts = new Map<string, number>()
  for (const p of sorted) {
    counts.set(p.peerId, Math.max(MIN_VNODES, Math.round(vnodesPerPeer * sorted.length * (p.weight / total))))
  }
  return counts
}

function md5 (key: string): Buffer {
  return digestOf('md5', key)
}
