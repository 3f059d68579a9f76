import type { Readable } from 'node:stream'
import type { Clock } from '../common/clock.js'
import type { Logger } from '../common/logger.js'
import type { Startable } from '../common/startable.js'
import type { HlcTimestamp } from '../common/hlc.js'
import type { SyncMode } from './commits.js'
import type { DiskUsage } from './disk-space.js'
import type { ReplicaEntry, ValueMeta } from './record.js'
import type { Key } from './key.js'

/** A value read from the store: small values come whole, large ones as a stream. */
export interface StoredValue {
  meta: ValueMeta
  /**
   * The bytes. A stream ends with an error (never short) when the content
   * fails its sha256 check or the read fails midway.
   */
  body: Buffer | Readable
}

export interface PutOptions {
  /** Days until the key expires (`temporal`); undefined or -1 = permanent; 0 = expires at once. */
  temporalDays?: number
  /** @default 'application/octet-stream' */
  contentType?: string
  /** Refuse (ERR_TOO_LARGE) once more than this many bytes arrive. */
  maxBytes?: number
  /** Refuse (ERR_CONFLICT) when the key holds a live value (Pulzar's duplicate rule). */
  ifAbsent?: boolean
  /** Expected size (Content-Length), so a small value does not get a whole chunk buffer. */
  sizeHint?: number
  /**
   * `pmz restore` only (src/backup): the upload time and expiry the value had
   * when it was backed up, kept instead of now and `temporalDays`. No client
   * route sets it: an upload time is otherwise always the write's own.
   */
  restored?: { created: number, expires: number | null }
  signal?: AbortSignal
}

export interface ListOptions {
  /** Only keys starting with this. */
  prefix?: string
  /** Only keys after this one (paging). */
  after?: string
  /** @default 1000 */
  limit?: number
}

/** LMDB statistics of the key index plus the live key count (Pulzar's admin/status). */
export interface StoreStats {
  psize: number
  depth: number
  branch_pages: number
  leaf_pages: number
  overflow_pages: number
  /** Live keys (tombstones and expired keys excluded). */
  entries: number
  /** Every record held, tombstones and expired values included (admin/ring localKeys). */
  records?: number
  /** Free space where this peer keeps its data, and whether it takes new values. */
  disk?: DiskUsage
}

/**
 * A change to the live keys, emitted once the change is committed. `put`
 * carries the new value's metadata; `delete` covers both a client's delete and
 * an expired value the sweeper removed.
 */
export type KeyChange =
  | { type: 'put', meta: ValueMeta }
  | { type: 'delete', key: Key, reason: 'deleted' | 'expired' }

/** Keys and their values. Every method is safe to call concurrently. */
export interface Store extends Startable {
  /** The live value's metadata, or undefined. */
  stat(key: Key): Promise<ValueMeta | undefined>
  /**
   * The newest record of `key` (across its replicas, for a distributed
   * store), tombstones and expired values included; undefined when there is
   * none. What tells a deleted key from one never written (restore).
   */
  entry?(key: Key): Promise<ReplicaEntry | undefined>
  /** The live value; ERR_NOT_FOUND when there is none (or it expired). */
  get(key: Key, options?: { signal?: AbortSignal }): Promise<StoredValue>
  /** Streams `body` in; the value becomes visible only once complete. */
  put(key: Key, body: AsyncIterable<Uint8Array>, options?: PutOptions): Promise<ValueMeta>
  /** Deletes with a tombstone; ERR_NOT_FOUND when there is no live value. */
  delete(key: Key): Promise<void>
  list(options?: ListOptions): Promise<ValueMeta[]>
  stats(): Promise<StoreStats>
  /**
   * Calls `fn` after every committed change of a live key (synchronously,
   * in commit order; a throwing listener is logged, never fails the write).
   * With `list` this is enough to keep a derived index (e.g. the search
   * extension's) exact. Returns the unsubscribe function.
   */
  on(event: 'key:change', fn: (change: KeyChange) => void): () => void
  /**
   * The peer ids of `key`'s preference list (the peers that should hold it,
   * owner first), as this peer's ring places it now, whether or not they are
   * alive; undefined for a store that is not distributed.
   */
  replicasOf?(key: Key): string[]
  /**
   * Calls `fn` with the repair progress of this peer's anti-entropy rounds
   * (while repair is pending, and once more when it is done) and with each
   * change of the placement ring; returns the unsubscribe function. Absent
   * for a store that is not distributed.
   */
  onRepair?(fn: (e: RepairEvent) => void): () => void

  /** Repair and handoff counters since start (metrics); undefined for a store that is not distributed. */
  replicationStats?(): ReplicationStats
}

/** The cluster-wide store, and what only a store on a ring can tell (the gateway's RingView is built from it). */
export interface DistributedStore extends Store {
  /**
   * The HTTP base URL of a peer holding a replica of `key`, when that is not
   * this peer (get_node sends uploads there, skipping a hop); undefined when
   * this peer is one.
   */
  ownerUrl(key: Key): string | undefined
  /** The placement ring and the repair state as this peer sees them (admin/ring). */
  ringStatus(): Promise<RingStatus>
}

/** What replication did since this peer started, and what waits: plain numbers, cheap to read. */
export interface ReplicationStats {
  /** Keys held here not yet confirmed at N copies, as anti-entropy last counted (see RingStatus). */
  underReplicated: number
  /** Anti-entropy rounds run. */
  repairRounds: number
  /** Records pushed or pulled by anti-entropy, and their value bytes. */
  antiEntropy: { keys: number, bytes: number }
  /** Records pushed to stale replicas after reads, and their value bytes. */
  readRepair: { keys: number, bytes: number }
  /** Records handed to their new owners after a ring change. */
  handedOff: number
  /** Hinted handoff: hints waiting, delivered and dropped. */
  hints: { pending: number, delivered: number, dropped: number }
  /** Reads through this peer: answered from its own copy alone under a read lease, or by a survey of the replicas. */
  reads: { alone: number, surveyed: number }
}

/**
 * What `Store.onRepair` reports. `repair`: one anti-entropy round (its
 * number since start, the keys it pushed, pulled or handed off, the bytes of
 * those values, and whether every local key now has N confirmed copies);
 * `ring`: the volume peers now on the placement ring, sorted.
 */
export type RepairEvent =
  | { type: 'repair', round: number, keysRepaired: number, bytes: number, done: boolean }
  | { type: 'ring', peers: string[] }

/** admin/ring: the ring, and how far this peer's keys are from N confirmed copies. */
export interface RingStatus {
  /** Digest of the placement ring; peers with the same one place every key alike. */
  fingerprint: string
  /** N and W in effect (capped by the ring size). */
  replicas: number
  writeQuorum: number
  /** Peer ids on the placement ring (volume peers, minus those dead past the grace period). */
  volumePeers: string[]
  /** Each volume peer's share of the ring's hash space, 0-1, summing to 1: the fraction of keys it owns (holds first). */
  shares: Readonly<Record<string, number>>
  /** Volume peers dead for longer than the grace period, taken off the ring. */
  removedDead: string[]
  /** Records held here (live, tombstones and expired), counted by the last anti-entropy scan. */
  localKeys: number
  /** Keys held here whose preference list members are not all confirmed (by anti-entropy) to hold this version, or that moved away and are not handed off yet. */
  underReplicated: number
  /** Time from the last ring change to every local key back to N confirmed copies, ms; null until one completed. */
  lastRepairMs: number | null
  /** Since when repair is pending (ms since the epoch), null when none is. */
  repairPendingSince: number | null
  antiEntropy: { rounds: number, keysRepaired: number, handedOff: number, lastRoundMs: number | null, inSync: string[] }
}

export interface StoreComponents { clock: Clock, log: Logger }

export interface StoreInit {
  /** Directory of the LMDB environment. */
  dir: string
  /** Stamped into every version this peer issues. */
  peerId: string
  /** @default 168 hours */
  tombstoneGraceMs?: number
  /** @default 60 s */
  sweepIntervalMs?: number
  /** @default 256 KiB */
  chunkBytes?: number
  /** Free bytes under which the store refuses new values (puts and replicas) with ERR_NO_SPACE; 0 = no floor. @default 0 */
  minFreeBytes?: number
  /** `flush`: fsync every commit before it resolves; `os`: leave write-back to the OS (see Commits). @default 'flush' */
  sync?: SyncMode
}

/** A record written lately: its partition and what it adds to the partition's digest (PartitionView.young). */
export interface YoungRecord { p: number, hi: number, lo: number }

/**
 * Per ring partition (PARTITION_BITS of the key's ring position), the
 * digest and count of a store's records, kept up to date by every write:
 * what anti-entropy compares between replicas without walking the store.
 * The arrays are a read-only view, indexed by partition.
 */
export interface PartitionView {
  /** Xor of a 64-bit hash of each record's (key, version, deleted), two 32-bit halves; values expired as of the last `expire` are left out. */
  readonly xorHi: Uint32Array
  readonly xorLo: Uint32Array
  /** Records per partition: live values, tombstones and expired values not yet swept. */
  readonly count: Uint32Array
  /** When the partition's digest or count last changed, ms since the epoch (this peer's clock); 0: not since start. */
  readonly changedAt: Float64Array
  /** The value bytes of the records (tombstones hold 0; an expired value counts until the sweeper removes it), as of the last commit. */
  heldBytes(): number
  /** Takes the values expired at `now` out of the digests (one write transaction, only when some expired since the last call). */
  expire(now: number): Promise<void>
  /**
   * What the records of version `until` or newer add to their partitions:
   * the digests less these are those of the older versions. Undefined when
   * `until` is older than the changes remembered (PARTITION_RECENT_MS).
   */
  young(until: HlcTimestamp): YoungRecord[] | undefined
  /** The records of these partitions (tombstones and expired values included) in (partition, key) order, after `after`, at most `limit`. */
  entries(partitions: number[], after: [number, string] | undefined, limit: number): ReplicaEntry[]
}

/** The metadata of a replicated write, fixed once by the peer that coordinates it. */
export interface ReplicaPut {
  version: HlcTimestamp
  created: number
  expires: number | null
  contentType: string
  /** When known (a repair copies a value), the content must hash to it or the write fails with ERR_CORRUPT. */
  sha256?: string
  /** The version the value was first proposed under, when `version` re-proposes it (ValueRecord.origin). */
  origin?: HlcTimestamp
  /**
   * A Paxos accept (see register.ts): applied only when `version` is at
   * least the ballot this replica promised for the key, and newer than its
   * record; otherwise refused with the promise in `promised`.
   */
  accept?: boolean
}

/** What a replica holds after a replicated write: `applied` false when it already held this version or a newer one. */
export interface ApplyResult {
  applied: boolean
  entry: ReplicaEntry | undefined
  /** An accept refused because this replica promised a newer ballot (ReplicaPut.accept). */
  promised?: HlcTimestamp
  /** An accept taken: the read leases this replica granted to other replicas of the key (replication/lease-rules). */
  leases?: LeaseReport[]
}

/** One read lease a replica reports with a write it accepted: its holder (or ANY_HOLDER, replication/lease-rules) and the ms left of it. */
export interface LeaseReport { holder: string, ms: number }

/** The fields of a value staged ahead of its version (ReplicaStore.stage). */
export interface StageFields {
  created: number
  expires: number | null
  contentType: string
  sha256?: string
}

/** A value staged on a replica: the id its commit names, and what arrived. */
export interface StageResult { stageId: string, size: number, sha256: string }

/** A replica's answer to a Paxos prepare of one key (ReplicaStore.prepare). */
export interface PrepareResult {
  /** Whether the replica promised the ballot: it will refuse every accept of an older one. */
  promised: boolean
  /** The newest ballot this replica promised or accepted (its record's version): what a new ballot must pass. */
  ballot: HlcTimestamp | undefined
  /** Its record of the key (the value accepted last), tombstones included. */
  entry: ReplicaEntry | undefined
}

/**
 * The local store as a replica: the operations replication needs beside
 * {@link Store}. Every version received is folded into the peer's HLC.
 */
export interface ReplicaStore extends Store {
  /**
   * Writes this peer's live value of `key` to the new file `dest` (in an
   * existing directory, on the store's file system for a reflink) and returns
   * its metadata; ERR_NOT_FOUND when it holds none. The file is a copy: what
   * is done to it never reaches the store.
   */
  copyTo(key: Key, dest: string): Promise<ValueMeta>
  /** This peer's own record of a key incl. tombstones and expired values; undefined when there is none. */
  entry(key: Key): Promise<ReplicaEntry | undefined>
  /** Streams a value in and commits it only when `put.version` is newer than the held record's. */
  applyPut(key: Key, body: AsyncIterable<Uint8Array>, put: ReplicaPut, options?: { maxBytes?: number, sizeHint?: number, signal?: AbortSignal }): Promise<ApplyResult>
  /** Records a delete with its version (kept for the tombstone grace period), only when newer than the held record (`accept`: and not older than the promise, see ReplicaPut.accept). */
  applyTombstone(key: Key, version: HlcTimestamp, deletedAt: number, options?: { accept?: boolean, origin?: HlcTimestamp }): Promise<ApplyResult>
  /**
   * Paxos phase 1 for one key: promises `ballot` (durably, before it
   * answers) when it is newer than every ballot promised or accepted here,
   * and answers with the record held.
   */
  prepare(key: Key, ballot: HlcTimestamp): Promise<PrepareResult>
  /** Receives a value's bytes without committing them (kept for a while, see StagedUploads); `applyStaged` commits them. */
  stage(key: Key, body: AsyncIterable<Uint8Array>, fields: StageFields, options?: { maxBytes?: number, sizeHint?: number, signal?: AbortSignal }): Promise<StageResult>
  /**
   * Commits a staged value under `put` (its version, origin, accept) as
   * applyPut would; a replica that already holds the same proposal's value
   * (same origin) at an older version just takes the new version.
   * ERR_NOT_FOUND when the staged value is gone, ERR_CORRUPT when it does
   * not match `put.sha256`.
   */
  applyStaged(key: Key, stageId: string, put: ReplicaPut): Promise<ApplyResult>
  /** Drops a staged value that will not be committed (no-op when gone). */
  unstage(stageId: string): Promise<void>
  /** The volume peers of the placement ring last recorded (before a restart); [] when none. */
  lastRing(): string[]
  /** Records the placement ring's volume peers (see lastRing). */
  recordRing(peerIds: string[]): Promise<void>
  /** A new version from this peer's HLC, later than every version seen. */
  nextVersion(): HlcTimestamp
  /** Folds a version seen elsewhere into this peer's HLC. */
  observeVersion(version: HlcTimestamp): void
  /** Records (tombstones and expired values included) after `after` in key order, at most `limit` (a batch of a walk). */
  entries(after: string | undefined, limit: number): Promise<ReplicaEntry[]>
  /** Removes a key's record only while it is still at `version` (a copy handed to its new owners); true when removed. */
  dropReplica(key: Key, version: HlcTimestamp): Promise<boolean>
  /** The per-partition digests of the records held (anti-entropy). */
  partitions(): PartitionView
}
