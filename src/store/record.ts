import type { HlcTimestamp } from '../common/hlc.js'
import type { Key } from './key.js'

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
  /** Names this version's content (16 bytes: chunk key prefix or file name); null for tombstones and empty values. */
  contentId: Uint8Array | null
  chunkBytes: number
  /**
   * The content is a file under `blobs/` (a value larger than one chunk)
   * rather than chunks in LMDB. Absent in records written before blob files
   * existed: those keep their content in chunks, however large.
   */
  blob?: true
  /**
   * The version under which this value was first proposed, when a later
   * proposal carried it on under a newer version (see ReplicaPut.origin);
   * absent when it is `version` itself.
   */
  origin?: HlcTimestamp
}

/**
 * One replica's record of a key, live or not (a tombstone, an expired value):
 * what replicas compare. The newest `version` wins (last writer wins by HLC;
 * the issuing peer id inside the version breaks ties deterministically).
 */
export interface ReplicaEntry {
  key: Key
  version: HlcTimestamp
  deleted: boolean
  /** When the delete happened, ms since the epoch; null for a value. */
  deletedAt: number | null
  size: number
  /** Hex sha256 of the content. */
  sha256: string
  contentType: string
  /** Upload time, ms since the epoch. */
  created: number
  /** Expiry time, ms since the epoch; null = permanent. */
  expires: number | null
  /** The version the value was first proposed under, when not `version` (ValueRecord.origin). */
  origin?: HlcTimestamp
}

/** The version a value was first proposed under: what tells one write from another across re-proposals. */
export function originOf (e: ReplicaEntry): HlcTimestamp {
  return e.origin ?? e.version
}

/** The public face of a live value. */
export interface ValueMeta {
  key: Key
  size: number
  sha256: string
  contentType: string
  created: number
  expires: number | null
  version: HlcTimestamp
  /** The version the value was first proposed under, when not `version` (ValueRecord.origin): copies keep it. */
  origin?: HlcTimestamp
}

export function isLive (record: ValueRecord | undefined, now: number): record is ValueRecord {
  return record !== undefined && !record.deleted && (record.expires === null || record.expires > now)
}

export function toMeta (key: Key, r: ValueRecord): ValueMeta {
  const meta: ValueMeta = { key, size: r.size, sha256: r.sha256, contentType: r.contentType, created: r.created, expires: r.expires, version: r.version }
  if (r.origin !== undefined) meta.origin = r.origin
  return meta
}

/** Number of chunks a value of `size` bytes occupies. */
export function chunkCount (size: number, chunkBytes: number): number {
  return Math.ceil(size / chunkBytes)
}

/** A record as replicas compare it (no storage details). */
export function toEntry (key: Key, r: ValueRecord): ReplicaEntry {
  const e: ReplicaEntry = { key, version: r.version, deleted: r.deleted, deletedAt: r.deletedAt, size: r.size, sha256: r.sha256, contentType: r.contentType, created: r.created, expires: r.expires }
  if (r.origin !== undefined) e.origin = r.origin
  return e
}

/** Whether an entry is a live value at `now`. */
export function isLiveEntry (e: ReplicaEntry | undefined, now: number): e is ReplicaEntry {
  return e !== undefined && !e.deleted && (e.expires === null || e.expires > now)
}

export function entryToMeta (e: ReplicaEntry): ValueMeta {
  const meta: ValueMeta = { key: e.key, size: e.size, sha256: e.sha256, contentType: e.contentType, created: e.created, expires: e.expires, version: e.version }
  if (e.origin !== undefined) meta.origin = e.origin
  return meta
}

/** The record of a live value, as replicas compare it. */
export function metaToEntry (meta: ValueMeta): ReplicaEntry {
  const e: ReplicaEntry = { key: meta.key, version: meta.version, deleted: false, deletedAt: null, size: meta.size, sha256: meta.sha256, contentType: meta.contentType, created: meta.created, expires: meta.expires }
  if (meta.origin !== undefined) e.origin = meta.origin
  return e
}
