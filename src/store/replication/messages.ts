import type { HlcTimestamp } from '../../common/hlc.js'
import type { ReplicaEntry, ValueMeta } from '../record.js'
import type { ListOptions, ReplicaPut, StageFields } from '../types.js'

/**
 * Replication between volume peers (`store.*` requests on the mesh). Each
 * carries `v` so a peer can refuse what it cannot read.
 */
export type ReplicationRequest =
  /** Asks for a replica's record of a key, tombstones included. Reply: `store.entry.reply`. */
  | { type: 'store.entry', v: 1, key: string }
  /**
   * Asks for a replica's record of a key and, when it is a live value of at
   * most INLINE_MAX_BYTES, its bytes too: a read's survey answer and its data
   * in one round trip. Reply: `store.fetch.reply`.
   */
  | { type: 'store.fetch', v: 1, key: string }
  /** Asks for a live value's bytes. Reply: `store.value`, the bytes inline (small values) or as body. */
  | { type: 'store.read', v: 1, key: string }
  /** A replicated write, the bytes inline in `bytes` (small values) or as body. Reply: `store.applied`. */
  | { type: 'store.put', v: 1, key: string, put: ReplicaPut, maxBytes: number | null, sizeHint: number | null, bytes?: Uint8Array | null }
  /** A replicated delete (`accept`: a Paxos accept, see ReplicaPut.accept). Reply: `store.applied`. */
  | { type: 'store.tombstone', v: 1, key: string, version: HlcTimestamp, deletedAt: number, accept?: boolean, origin?: HlcTimestamp }
  /** Paxos phase 1 for one key (ReplicaStore.prepare). Reply: `store.promise`. */
  | { type: 'store.prepare', v: 1, key: string, ballot: HlcTimestamp }
  /** A value's bytes as body, kept uncommitted (ReplicaStore.stage). Reply: `store.staged`. */
  | { type: 'store.stage', v: 1, key: string, fields: StageFields, maxBytes: number | null, sizeHint: number | null }
  /** Commits a staged value under `put` (ReplicaStore.applyStaged). Reply: `store.applied`. */
  | { type: 'store.commit', v: 1, key: string, stageId: string, put: ReplicaPut }
  /** Drops a staged value. Reply: `store.unstaged`. */
  | { type: 'store.unstage', v: 1, stageId: string }
  /** The replica's live keys. Reply: `store.list.reply`. */
  | { type: 'store.list', v: 1, options: ListOptions }

export type ReplicationReply =
  | { type: 'store.entry.reply', v: 1, entry: ReplicaEntry | null }
  | { type: 'store.fetch.reply', v: 1, entry: ReplicaEntry | null, bytes: Uint8Array | null }
  | { type: 'store.value', v: 1, meta: ValueMeta, bytes?: Uint8Array | null }
  | { type: 'store.applied', v: 1, applied: boolean, entry: ReplicaEntry | null, promised?: HlcTimestamp }
  | { type: 'store.promise', v: 1, promised: boolean, ballot: HlcTimestamp | null, entry: ReplicaEntry | null }
  | { type: 'store.staged', v: 1, stageId: string, size: number, sha256: string }
  | { type: 'store.unstaged', v: 1 }
  | { type: 'store.list.reply', v: 1, items: ValueMeta[] }

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
