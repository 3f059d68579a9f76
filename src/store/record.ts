import type { HlcTimestamp } from '../common/hlc.js'

/**
 * What LMDB keeps per key. One record per key: a live value or a tombstone.
 * `version` orders writes of one key across replicas (HLC, never wall clock
 * alone); a tombstone keeps its version so a replica that missed the delete
 * cannot bring the value back.
 */
export interface ValueRecord {
  /** Record schema version. */
  v: 1
  version: HlcTimestamp
  /** A delete: no content, kept until `deletedAt` + the grace period. */
  deleted: boolean
  deletedAt: number | null
  size: number
  /** Hex sha256 of the content. */
  sha256: string
  contentType: string
  /** Upload time, ms since the epoch. */
  created: number
  /** Expiry time (temporal keys), ms since the epoch; null = permanent. */
  expires: number | null
  /** Prefix of this version's chunks (16 random bytes); null for tombstones and empty values. */
  contentId: Uint8Array | null
  chunkBytes: number
}

/** The public face of a live value. */
export interface ValueMeta {
  key: string
  size: number
  sha256: string
  contentType: string
  created: number
  expires: number | null
  version: HlcTimestamp
}

export function isLive (record: ValueRecord | undefined, now: number): record is ValueRecord {
  return record !== undefined && !record.deleted && (record.expires === null || record.expires > now)
}

export function toMeta (key: string, r: ValueRecord): ValueMeta {
  return { key, size: r.size, sha256: r.sha256, contentType: r.contentType, created: r.created, expires: r.expires, version: r.version }
}

/** Number of chunks a value of `size` bytes occupies. */
export function chunkCount (size: number, chunkBytes: number): number {
  return Math.ceil(size / chunkBytes)
}
