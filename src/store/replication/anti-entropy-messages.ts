import { PmzError } from '../../common/errors.js'
import type { HlcTimestamp } from '../../common/hlc.js'
import { PARTITIONS } from '../../ring/index.js'
import type { ReplicaEntry } from '../record.js'
import { COARSE, type WireDigests } from './digests.js'
import { isReplicaEntry } from './messages.js'

export const STORE_AE_DIGESTS = 'store.ae.digests'
export const STORE_AE_KEYS = 'store.ae.keys'
/** Version of the anti-entropy messages (2: per-partition digests; 1 walked the store). */
export const AE_V = 2

/** A position in (partition, key) order: where a listing stopped. */
export type PartitionCursor = [number, string]

/**
 * Anti-entropy requests (`store.ae.*` on the mesh). `ring` is the sender's
 * ring fingerprint: peers with different rings skip the round. Both sides
 * compare only versions older than `until` (records still settling are the
 * write path's business).
 */
export type AntiEntropyRequest =
  /** The sender's coarse digests over the partitions both peers hold. Reply: `store.ae.digests.reply`. */
  | { type: 'store.ae.digests', v: 2, ring: string, until: HlcTimestamp, digests: WireDigests }
  /** The receiver's records of these partitions (shared ones), after `after` in (partition, key) order, at most `limit`. Reply: `store.ae.keys.reply`. */
  | { type: 'store.ae.keys', v: 2, ring: string, until: HlcTimestamp, partitions: number[], limit: number, after?: PartitionCursor }

export type AntiEntropyReply =
  /** `differ` null: the rings differ (or the cutoff cannot be compared); else the coarse buckets that differ, and the responder's partition digests in the first MAX_DETAILED of them. */
  | { type: 'store.ae.digests.reply', v: 2, differ: number[] | null, partitions: WireDigests }
  /** `entries` null: the rings differ. `last`: where the listing stopped at its limit (null: it is complete). */
  | { type: 'store.ae.keys.reply', v: 2, entries: ReplicaEntry[] | null, last: PartitionCursor | null }

const isStr = (x: unknown): x is string => typeof x === 'string'
const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x)
const isIndex = (x: unknown, size: number): x is number => Number.isInteger(x) && (x as number) >= 0 && (x as number) < size
const HEX16 = /^[0-9a-f]{16}$/

function isDigests (x: unknown, size: number): x is WireDigests {
  return isObj(x) && Object.entries(x).every(([k, v]) => isIndex(Number(k), size) && isStr(v) && HEX16.test(v))
}

function isCursor (x: unknown): x is PartitionCursor {
  return Array.isArray(x) && x.length === 2 && isIndex(x[0], PARTITIONS) && isStr(x[1])
}

function bad (what: string): PmzError {
  return new PmzError('ERR_BAD_REQUEST', `malformed ${what}`)
}

/** Checks an anti-entropy request of `type`; ERR_BAD_REQUEST for any other shape or version. */
export function parseAeRequest<T extends AntiEntropyRequest['type']> (msg: unknown, type: T): Extract<AntiEntropyRequest, { type: T }> {
  if (!isObj(msg) || msg.type !== type) throw bad(type)
  if (msg.v !== AE_V) throw new PmzError('ERR_BAD_REQUEST', `unsupported ${type} version ${String(msg.v)}`)
  if (!isStr(msg.ring) || !isStr(msg.until)) throw bad(type)
  if (type === STORE_AE_DIGESTS) {
    if (!isDigests(msg.digests, COARSE)) throw bad(type)
  } else if (!Array.isArray(msg.partitions) || !msg.partitions.every(p => isIndex(p, PARTITIONS)) || !Number.isInteger(msg.limit) ||
    (msg.after !== undefined && !isCursor(msg.after))) {
    throw bad(type)
  }
  return msg as Extract<AntiEntropyRequest, { type: T }>
}

/** Checks an anti-entropy reply of `type`; ERR_REMOTE for any other shape or version. */
export function parseAeReply<T extends AntiEntropyReply['type']> (msg: unknown, type: T): Extract<AntiEntropyReply, { type: T }> {
  const ok = isObj(msg) && msg.type === type && msg.v === AE_V && (type === 'store.ae.digests.reply'
    ? (msg.differ === null || (Array.isArray(msg.differ) && msg.differ.every(c => isIndex(c, COARSE)))) && isDigests(msg.partitions, PARTITIONS)
    : (msg.entries === null || (Array.isArray(msg.entries) && msg.entries.every(isReplicaEntry))) && (msg.last === null || isCursor(msg.last)))
  if (!ok) throw new PmzError('ERR_REMOTE', `malformed ${type}`)
  return msg as Extract<AntiEntropyReply, { type: T }>
}
