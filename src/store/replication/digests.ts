import { digestOf } from '../../common/digest.js'
import { keyHash } from '../../ring/index.js'
import type { ReplicaEntry } from '../record.js'

/**
 * Bucket digests for anti-entropy. A key's bucket is the top BUCKET_BITS of
 * its ring position (`keyHash`), so a bucket is a fixed arc of the ring: it
 * does not depend on who is on the ring, both peers of an exchange bucket
 * alike even while their views differ, and a differing bucket's keys sit
 * together on the ring. 1024 buckets keep the digest message small (at most
 * 1024 short hex strings) while a differing bucket of a peer holding a
 * million keys lists about a thousand of them.
 *
 * A bucket's digest is the xor of a 64-bit hash of each (key, version,
 * deleted): independent of the order keys are met in (LMDB walks in key
 * order, not ring order), and any single difference changes it.
 */
export const BUCKET_BITS = 10
export const BUCKETS = 1 << BUCKET_BITS

/** The bucket of a key (0 .. BUCKETS - 1). */
export function bucketOf (key: string): number {
  return keyHash(key) >>> (32 - BUCKET_BITS)
}

/** 64 bits of sha1 over what replicas must agree on: the key, its version and whether it is a tombstone. */
export function entryHash (e: Pick<ReplicaEntry, 'key' | 'version' | 'deleted'>): bigint {
  return digestOf('sha1', `${e.key}\u0000${e.version}\u0000${e.deleted ? 'd' : 'l'}`).readBigUInt64LE(0)
}

/** Digests keyed by bucket as they travel: bucket number -> 16 hex digits; empty buckets are absent. */
export type WireDigests = Record<string, string>

/** The digests of the entries added so far. */
export class BucketDigests {
  private readonly acc = new Map<number, bigint>()

  add (e: Pick<ReplicaEntry, 'key' | 'version' | 'deleted'>): void {
    const b = bucketOf(e.key)
    this.acc.set(b, (this.acc.get(b) ?? 0n) ^ entryHash(e))
  }

  toWire (): WireDigests {
    const out: WireDigests = {}
    for (const [b, d] of this.acc) if (d !== 0n) out[String(b)] = d.toString(16).padStart(16, '0')
    return out
  }
}

/** Buckets whose digests differ (present on one side only included), ascending. */
export function differingBuckets (a: WireDigests, b: WireDigests): number[] {
  const out = new Set<number>()
  for (const k of Object.keys(a)) if (a[k] !== b[k]) out.add(Number(k))
  for (const k of Object.keys(b)) if (a[k] !== b[k]) out.add(Number(k))
  return [...out].filter(n => Number.isInteger(n) && n >= 0 && n < BUCKETS).sort((x, y) => x - y)
}
