import { PmzError } from '../../common/errors.js'
import type { HlcTimestamp } from '../../common/hlc.js'
import type { Message } from '../../mesh/transport/index.js'
import type { ReplicaEntry, ValueMeta } from '../record.js'
import type { ListOptions, ReplicaPut, StageFields } from '../types.js'
import { REPLICATION_V } from './constants.js'
import { isKey, type Key } from '../key.js'
import type { LeaseReport } from './lease-rules.js'

/**
 * Replication between volume peers (`store.*` requests on the mesh). Each
 * carries `v` so a peer can refuse what it cannot read.
 */
export type ReplicationRequest = Requests & {
  /**
   * Writes the sender proposed and this replica took, chosen since (on a
   * write quorum): Paxos's learn step, carried by the next request to the
   * replica instead of a message of its own (read leases: leases.ts).
   */
  chosen?: Array<[Key, HlcTimestamp]>
}

type Requests =
  /** Asks for a replica's record of a key, tombstones included. Reply: `store.entry.reply`. */
  | { type: 'store.entry', v: 1, key: Key }
  /**
   * Asks for a replica's record of a key and, when it is a live value of at
   * most INLINE_MAX_BYTES, its bytes too: a read's survey answer and its data
   * in one round trip. `read`: the replica answers as a read through it
   * would (from its own copy under a read lease, else after its own survey),
   * and says so. Reply: `store.fetch.reply`.
   */
  | { type: 'store.fetch', v: 1, key: Key, read?: boolean }
  /** Asks for a live value's bytes. Reply: `store.value`, the bytes inline (small values) or as body. */
  | { type: 'store.read', v: 1, key: Key }
  /** A replicated write, the bytes inline in `bytes` (small values) or as body. Reply: `store.applied`. */
  | { type: 'store.put', v: 1, key: Key, put: ReplicaPut, maxBytes: number | null, sizeHint: number | null, bytes?: Uint8Array | null }
  /** A replicated delete (`accept`: a Paxos accept, see ReplicaPut.accept). Reply: `store.applied`. */
  | { type: 'store.tombstone', v: 1, key: Key, version: HlcTimestamp, deletedAt: number, accept?: boolean, origin?: HlcTimestamp }
  /** Paxos phase 1 for one key (ReplicaStore.prepare). Reply: `store.promise`. */
  | { type: 'store.prepare', v: 1, key: Key, ballot: HlcTimestamp }
  /** A value's bytes as body, kept uncommitted (ReplicaStore.stage). Reply: `store.staged`. */
  | { type: 'store.stage', v: 1, key: Key, fields: StageFields, maxBytes: number | null, sizeHint: number | null }
  /** Commits a staged value under `put` (ReplicaStore.applyStaged). Reply: `store.applied`. */
  | { type: 'store.commit', v: 1, key: Key, stageId: string, put: ReplicaPut }
  /** Drops a staged value. Reply: `store.unstaged`. */
  | { type: 'store.unstage', v: 1, stageId: string }
  /** The replica's live keys. Reply: `store.list.reply`. */
  | { type: 'store.list', v: 1, options: ListOptions }
  /** Asks for a read lease (leases.ts), the sender and the replica both placing keys on the ring of this fingerprint. Reply: `store.lease.reply`. */
  | { type: 'store.lease', v: 1, ring: string, since: string | null }

export type ReplicationReply =
  | { type: 'store.entry.reply', v: 1, entry: ReplicaEntry | null }
  /** `read`: the answer of a read (the key's newest record, not only this replica's). */
  | { type: 'store.fetch.reply', v: 1, entry: ReplicaEntry | null, bytes: Uint8Array | null, read?: boolean }
  | { type: 'store.value', v: 1, meta: ValueMeta, bytes?: Uint8Array | null }
  /** `leases`: for an accept, the read leases of other replicas this one granted (lease-rules acceptReports). */
  | { type: 'store.applied', v: 1, applied: boolean, entry: ReplicaEntry | null, promised?: HlcTimestamp, leases?: LeaseReport[] }
  | { type: 'store.promise', v: 1, promised: boolean, ballot: HlcTimestamp | null, entry: ReplicaEntry | null }
  | { type: 'store.staged', v: 1, stageId: string, size: number, sha256: string }
  | { type: 'store.unstaged', v: 1 }
  | { type: 'store.list.reply', v: 1, items: ValueMeta[] }
  | { type: 'store.lease.reply', v: 1, granted: boolean, id: string, ms: number, continued: boolean, changes: Array<[Key, HlcTimestamp]> }

export const STORE_ENTRY = 'store.entry'
export const STORE_FETCH = 'store.fetch'
export const STORE_READ = 'store.read'
export const STORE_PUT = 'store.put'
export const STORE_TOMBSTONE = 'store.tombstone'
export const STORE_PREPARE = 'store.prepare'
export const STORE_STAGE = 'store.stage'
export const STORE_COMMIT = 'store.commit'
export const STORE_UNSTAGE = 'store.unstage'
export const STORE_LIST = 'store.list'
export const STORE_LEASE = 'store.lease'

// Checks of what arrives: plain typeof tests on the message as decoded, no copy (they run once per replicated write).

const isStr = (x: unknown): x is string => typeof x === 'string'
const isBool = (x: unknown): x is boolean => typeof x === 'boolean'
const isNum = (x: unknown): x is number => Number.isFinite(x)
const isCount = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0
const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x)
/** The fixed prefix of an HLC timestamp (common/hlc.ts): what decodeHlc needs to fold it into a clock. */
const HLC_PREFIX = /^[0-9a-f]{12}\.[0-9a-f]{4}\./
const isHlc = (x: unknown): x is HlcTimestamp => typeof x === 'string' && HLC_PREFIX.test(x)
const isOptHlc = (x: unknown): boolean => x === undefined || isHlc(x)
const isOptBool = (x: unknown): boolean => x === undefined || isBool(x)
const isNumOrNull = (x: unknown): boolean => x === null || isNum(x)
/** maxBytes, sizeHint: a byte count or null (none). */
const isLimit = (x: unknown): boolean => x === null || (isNum(x) && x >= 0)
const isOptBytes = (x: unknown): boolean => x === undefined || x === null || x instanceof Uint8Array

/** A replica's record of a key as it crossed the mesh. */
export function isReplicaEntry (x: unknown): x is ReplicaEntry {
  return isObj(x) && isKey(x.key) && isHlc(x.version) && isBool(x.deleted) && isNumOrNull(x.deletedAt) && isCount(x.size) &&
    isStr(x.sha256) && isStr(x.contentType) && isNum(x.created) && isNumOrNull(x.expires) && isOptHlc(x.origin)
}

const isEntryOrNull = (x: unknown): boolean => x === null || isReplicaEntry(x)

export function isValueMeta (x: unknown): x is ValueMeta {
  return isObj(x) && isKey(x.key) && isCount(x.size) && isStr(x.sha256) && isStr(x.contentType) && isNum(x.created) &&
    isNumOrNull(x.expires) && isHlc(x.version) && isOptHlc(x.origin)
}

export function isReplicaPut (x: unknown): x is ReplicaPut {
  return isObj(x) && isHlc(x.version) && isNum(x.created) && isNumOrNull(x.expires) && isStr(x.contentType) &&
    (x.sha256 === undefined || isStr(x.sha256)) && isOptHlc(x.origin) && isOptBool(x.accept)
}

function isStageFields (x: unknown): x is StageFields {
  return isObj(x) && isNum(x.created) && isNumOrNull(x.expires) && isStr(x.contentType) && (x.sha256 === undefined || isStr(x.sha256))
}

function isListOptions (x: unknown): x is ListOptions {
  return isObj(x) && (x.prefix === undefined || isStr(x.prefix)) && (x.after === undefined || isStr(x.after)) && (x.limit === undefined || isCount(x.limit))
}

const isLeaseReport = (x: unknown): x is LeaseReport => isObj(x) && isStr(x.holder) && isCount(x.ms)
const isChange = (x: unknown): boolean => Array.isArray(x) && x.length === 2 && isKey(x[0]) && isHlc(x[1])

/** Whether a message's fields (its type and version already checked) are those of its type. */
type Check = (m: Message) => boolean

const isKeyed: Check = m => isKey(m.key)

const REQUESTS: { readonly [T in ReplicationRequest['type']]: Check } = {
  'store.entry': isKeyed,
  'store.fetch': m => isKey(m.key) && isOptBool(m.read),
  'store.read': isKeyed,
  'store.put': m => isKey(m.key) && isReplicaPut(m.put) && isLimit(m.maxBytes) && isLimit(m.sizeHint) && isOptBytes(m.bytes),
  'store.tombstone': m => isKey(m.key) && isHlc(m.version) && isNum(m.deletedAt) && isOptBool(m.accept) && isOptHlc(m.origin),
  'store.prepare': m => isKey(m.key) && isHlc(m.ballot),
  'store.stage': m => isKey(m.key) && isStageFields(m.fields) && isLimit(m.maxBytes) && isLimit(m.sizeHint),
  'store.commit': m => isKey(m.key) && isStr(m.stageId) && isReplicaPut(m.put),
  'store.unstage': m => isStr(m.stageId),
  'store.list': m => isListOptions(m.options),
  'store.lease': m => isStr(m.ring) && (m.since === null || isStr(m.since))
}

const REPLIES: { readonly [T in ReplicationReply['type']]: Check } = {
  'store.entry.reply': m => isEntryOrNull(m.entry),
  'store.fetch.reply': m => isEntryOrNull(m.entry) && (m.bytes === null || m.bytes instanceof Uint8Array) && isOptBool(m.read),
  'store.value': m => isValueMeta(m.meta) && isOptBytes(m.bytes),
  'store.applied': m => isBool(m.applied) && isEntryOrNull(m.entry) && isOptHlc(m.promised) && (m.leases === undefined || (Array.isArray(m.leases) && m.leases.every(isLeaseReport))),
  'store.promise': m => isBool(m.promised) && (m.ballot === null || isHlc(m.ballot)) && isEntryOrNull(m.entry),
  'store.staged': m => isStr(m.stageId) && isCount(m.size) && isStr(m.sha256),
  'store.unstaged': () => true,
  'store.list.reply': m => Array.isArray(m.items) && m.items.every(isValueMeta),
  'store.lease.reply': m => isBool(m.granted) && isStr(m.id) && isCount(m.ms) && isBool(m.continued) && Array.isArray(m.changes) && m.changes.every(isChange)
}

/**
 * Checks a request that arrived for the handler of `type`: its version and
 * every field, down to the entries, puts and metadata inside. Throws
 * ERR_BAD_REQUEST when it is not one this peer can read.
 */
export function parseRequest<T extends ReplicationRequest['type']> (msg: Message, type: T): Extract<ReplicationRequest, { type: T }> {
  if (msg.v !== REPLICATION_V) throw new PmzError('ERR_BAD_REQUEST', `unsupported ${type} version ${String(msg.v)}`, { details: { type, v: msg.v } })
  if (msg.type !== type || !REQUESTS[type](msg) || !(msg.chosen === undefined || (Array.isArray(msg.chosen) && msg.chosen.every(isChange)))) {
    throw new PmzError('ERR_BAD_REQUEST', `malformed ${type}`, { details: { type } })
  }
  return msg as Extract<ReplicationRequest, { type: T }>
}

/**
 * Checks the reply `replica` gave: the expected `type`, its version and every
 * field. Throws ERR_REMOTE naming the type and the replica otherwise, so a
 * bad reply fails here rather than as a TypeError further on.
 */
export function parseReply<T extends ReplicationReply['type']> (msg: Message, type: T, replica: string): Extract<ReplicationReply, { type: T }> {
  if (msg.type !== type || msg.v !== REPLICATION_V || !REPLIES[type](msg)) {
    throw new PmzError('ERR_REMOTE', `malformed ${type} from replica ${replica}`, { details: { type, replica, got: String(msg.type) } })
  }
  return msg as Extract<ReplicationReply, { type: T }>
}
