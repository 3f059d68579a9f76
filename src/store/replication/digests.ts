import { PARTITION_BITS, PARTITIONS } from '../../ring/index.js'
import type { PartitionView, YoungRecord } from '../types.js'

/**
 * Digests for anti-entropy, read from the store's per-partition digests
 * (PartitionView: kept up to date by every write, so no walk of the store).
 * Every key of a ring partition has the same preference list, so the
 * partitions a pair of peers shares are exactly those whose list holds both,
 * and the digest of their shared keys is the xor of those partitions'.
 *
 * On the wire, partitions are grouped COARSE_BITS at a time: the first
 * message carries at most 1,024 coarse digests (about 16 KB); the reply
 * names the coarse buckets that differ with the responder's partition
 * digests inside them, so the initiator knows which partitions to list.
 */
export const COARSE_BITS = 10
export const COARSE = 1 << COARSE_BITS
/** Partitions per coarse bucket. */
export const PER_COARSE = PARTITIONS >>> COARSE_BITS
/** Coarse buckets whose partition digests one reply carries at most (4,096 partition digests). */
export const MAX_DETAILED = 64

/** Digests keyed by bucket (coarse or partition) as they travel: number -> 16 hex digits; empty buckets are absent. */
export type WireDigests = Record<string, string>

/** The digests of the partitions a pair shares, young versions left out: per partition, two 32-bit halves (0 outside the pair's). */
export interface PairDigests { hi: Uint32Array, lo: Uint32Array }

/** Which partitions a pair shares: 1 where the partition's preference list holds both peers. */
export function sharedMask (partitionList: (p: number) => string[], a: string, b: string): Uint8Array {
  const mask = new Uint8Array(PARTITIONS)
  for (let p = 0; p < PARTITIONS; p++) {
    const pl = partitionList(p)
    if (pl.includes(a) && pl.includes(b)) mask[p] = 1
  }
  return mask
}

/** The pair's partition digests from the store's, less what the young records add. */
export function pairDigests (view: PartitionView, mask: Uint8Array, young: YoungRecord[]): PairDigests {
  const hi = new Uint32Array(PARTITIONS)
  const lo = new Uint32Array(PARTITIONS)
  for (let p = 0; p < PARTITIONS; p++) {
    if (mask[p] === 0) continue
    hi[p] = view.xorHi[p]
    lo[p] = view.xorLo[p]
  }
  for (const y of young) {
    if (mask[y.p] === 0) continue
    hi[y.p] ^= y.hi
    lo[y.p] ^= y.lo
  }
  return { hi, lo }
}

/** The coarse digests of a pair (each the xor of its partitions'). */
export function coarseWire (d: PairDigests): WireDigests {
  const out: WireDigests = {}
  for (let c = 0; c < COARSE; c++) {
    let hi = 0
    let lo = 0
    for (let p = c * PER_COARSE; p < (c + 1) * PER_COARSE; p++) {
      hi ^= d.hi[p]
      lo ^= d.lo[p]
    }
    if (hi !== 0 || lo !== 0) out[String(c)] = hex(hi, lo)
  }
  return out
}

/** The partition digests inside these coarse buckets. */
export function partitionWire (d: PairDigests, coarse: number[]): WireDigests {
  const out: WireDigests = {}
  for (const c of coarse) {
    for (let p = c * PER_COARSE; p < (c + 1) * PER_COARSE; p++) if (d.hi[p] !== 0 || d.lo[p] !== 0) out[String(p)] = hex(d.hi[p], d.lo[p])
  }
  return out
}

/** The coarse bucket of a partition. */
export function coarseOf (p: number): number {
  return p >>> (PARTITION_BITS - COARSE_BITS)
}

/** Buckets whose digests differ (present on one side only included), ascending, below `size`. */
export function differingBuckets (a: WireDigests, b: WireDigests, size: number): number[] {
  const out = new Set<number>()
  for (const k of Object.keys(a)) if (a[k] !== b[k]) out.add(Number(k))
  for (const k of Object.keys(b)) if (a[k] !== b[k]) out.add(Number(k))
  return [...out].filter(n => Number.isInteger(n) && n >= 0 && n < size).sort((x, y) => x - y)
}

function hex (hi: number, lo: number): string {
  return (hi >>> 0).toString(16).padStart(8, '0') + (lo >>> 0).toString(16).padStart(8, '0')
}
