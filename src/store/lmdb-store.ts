import { PmzError, notFound } from '../common/errors.js'
import { HybridLogicalClock, compareHlc, type HlcTimestamp } from '../common/hlc.js'
import type { Clock } from '../common/clock.js'
import type { Logger } from '../common/logger.js'
import { CHUNK_BYTES, DAY_MS } from './constants.js'
import { copyValue, readValue } from './reads.js'
import { Sweeper } from './sweeper.js'
import { Tables } from './tables.js'
import type { ApplyResult, KeyChange, ListOptions, PartitionView, PrepareResult, PutOptions, ReplicaPut, StageFields, StageResult, Store, StoreComponents, StoreInit, StoreStats, StoredValue } from './types.js'
import { StagedUploads } from './staged-uploads.js'
import { Acceptor } from './acceptor.js'
import type { Key } from './key.js'
import { isLive, toEntry, toMeta, type ReplicaEntry, type ValueMeta, type ValueRecord } from './record.js'

/** What a write routine's caller fixes of a new record (the rest comes from its content). */
type RecordFields = Pick<ValueRecord, 'version' | 'contentType' | 'created' | 'expires'>

const DEFAULT_TOMBSTONE_GRACE_MS = 168 * 3_600_000
const DEFAULT_SWEEP_INTERVAL_MS = 60_000
/** A staged value not committed within this long is removed, ms. */
const STAGED_TTL_MS = 120_000

/**
 * The local store of a volume peer, over the LMDB tables of `Tables`.
 *
 * Key-value separation (WiscKey, Badger): a small value's content is written
 * with its record in one transaction; a large value streams to its own file,
 * synced before its record commits. So a value is visible only once complete.
 * Reading a file never maps it: LMDB's map would put every page of a large
 * value in the process's RSS.
 */
export class LmdbStore implements Store {
  /** The tables, from start() on. */
  private t!: Tables
  private sweeper!: Sweeper
  private readonly hlc: HybridLogicalClock
  private readonly log: Logger
  private readonly clock: Clock
  private readonly chunkBytes: number
  private started = false
  private stopping: Promise<void> | undefined
  private readonly listeners = new Set<(change: KeyChange) => void>()
  private readonly staged: StagedUploads
  private readonly acceptor: Acceptor

  constructor (private readonly components: StoreComponents, private readonly init: StoreInit) {
    this.clock = components.clock
    this.log = components.log
    this.hlc = new HybridLogicalClock(init.peerId, components.clock)
    this.chunkBytes = init.chunkBytes ?? CHUNK_BYTES
    this.staged = new StagedUploads(components, STAGED_TTL_MS)
    this.acceptor = new Acceptor({ tables: () => this.t, hlc: this.hlc, staged: this.staged, clock: this.clock, log: this.log, emit: change => { this.emit(change) } })
  }

  async start (): Promise<void> {
    if (this.started) return
    this.t = new Tables(this.components, { dir: this.init.dir, sync: this.init.sync ?? 'flush', chunkBytes: this.chunkBytes, minFreeBytes: this.init.minFreeBytes })
    this.sweeper = new Sweeper(this.components, this.t, {
      tombstoneGraceMs: this.init.tombstoneGraceMs ?? DEFAULT_TOMBSTONE_GRACE_MS,
      intervalMs: this.init.sweepIntervalMs ?? DEFAULT_SWEEP_INTERVAL_MS,
      onExpired: key => this.emit({ type: 'delete', key, reason: 'expired' })
    })
    this.started = true
    await this.t.recover()
    this.sweeper.start()
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.stopping ??= (async () => {
      await this.sweeper.stop()
      await this.staged.discardAll()
      await this.t.close()
      // Stopped: a later start() opens the tables again.
      this.started = false
      this.stopping = undefined
    })()
    return await this.stopping
  }

  /** Removes expired values and tombstones past their grace period now (see Sweeper). */
  async sweep (): Promise<void> {
    await this.sweeper.sweep()
  }

  async stat (key: Key): Promise<ValueMeta | undefined> {
    const record = this.t.meta.get(key)
    return isLive(record, this.clock.now()) ? toMeta(key, record) : undefined
  }

  async get (key: Key): Promise<StoredValue> {
    return await readValue(this.t, this.clock, key)
  }

  async copyTo (key: Key, dest: string): Promise<ValueMeta> {
    return await copyValue(this.t, this.clock, key, dest)
  }

  async put (key: Key, body: AsyncIterable<Uint8Array>, options: PutOptions = {}): Promise<ValueMeta> {
    const temporal = options.temporalDays
    if (temporal !== undefined && !(Number.isInteger(temporal) && temporal >= -1)) {
      throw new PmzError('ERR_BAD_REQUEST', 'temporal must be an integer >= 0, or -1 for permanent')
    }
    // Refuse a duplicate before reading a large body; for a value of one chunk
    // the check inside the commit (which decides) is enough.
    const small = options.sizeHint !== undefined && options.sizeHint <= this.chunkBytes
    if (options.ifAbsent === true && !small && isLive(this.t.meta.get(key), this.clock.now())) {
      throw new PmzError('ERR_CONFLICT', 'key already exists', { details: { key } })
    }
    const fields = (): RecordFields => {
      const created = options.restored?.created ?? this.clock.now()
      return {
        version: this.hlc.now(),
        contentType: options.contentType ?? 'application/octet-stream',
        created,
        expires: options.restored !== undefined ? options.restored.expires : temporal === undefined || temporal < 0 ? null : created + temporal * DAY_MS
      }
    }
    const out = await this.write(key, body, options, fields, current => options.ifAbsent === true && isLive(current, this.clock.now()) ? 'exists' : undefined)
    if (out.refused !== undefined) throw new PmzError('ERR_CONFLICT', 'key already exists', { details: { key } })
    return toMeta(key, out.record)
  }

  async delete (key: Key): Promise<void> {
    const dropped: Uint8Array[] = []
    const deleted = await this.t.commit(() => {
      dropped.length = 0
      const now = this.clock.now()
      const current = this.t.meta.get(key)
      if (!isLive(current, now)) return false
      this.t.dropRecord(key, current, dropped)
      const version = this.hlc.now()
      this.t.writeMeta(key, this.t.tombstone(current, version, now), current)
      this.t.graves.put([now, key], null)
      return true
    }, key)
    if (!deleted) throw notFound('key not found')
    this.emit({ type: 'delete', key, reason: 'deleted' })
    await this.t.removeBlobs(dropped)
  }

  on (_event: 'key:change', fn: (change: KeyChange) => void): () => void {
    this.listeners.add(fn)
    return () => { this.listeners.delete(fn) }
  }

  private emit (change: KeyChange): void {
    for (const fn of this.listeners) {
      try {
        fn(change)
      } catch (err) {
        this.log.error({ err, change: change.type }, 'key:change listener failed')
      }
    }
  }

  async list (options: ListOptions = {}): Promise<ValueMeta[]> {
    const prefix = options.prefix ?? '/'
    const limit = options.limit ?? 1000
    const start = options.after !== undefined && options.after >= prefix ? `${options.after}\u0000` : prefix
    const now = this.clock.now()
    const out: ValueMeta[] = []
    for (const { key, value } of this.t.meta.getRange({ start, end: `${prefix}\uffff` })) {
      if (out.length >= limit) break
      if (isLive(value, now)) out.push(toMeta(key, value))
    }
    return out
  }

  async stats (): Promise<StoreStats> {
    const s = this.t.meta.getStats() as { pageSize: number, treeDepth: number, treeBranchPageCount: number, treeLeafPageCount: number, overflowPages: number, entryCount: number }
    const expired = this.t.expiry.getCount({ end: [this.clock.now() + 1] })
    const tombstones = (this.t.graves.getStats() as { entryCount: number }).entryCount
    return {
      psize: s.pageSize,
      depth: s.treeDepth,
      branch_pages: s.treeBranchPageCount,
      leaf_pages: s.treeLeafPageCount,
      overflow_pages: s.overflowPages,
      entries: Math.max(0, s.entryCount - tombstones - expired),
      records: s.entryCount,
      disk: this.t.space.usage()
    }
  }

  // Replica operations (store/replication): read a record incl. tombstones,
  // apply a replicated write or delete only when its version is newer.

  async entry (key: Key): Promise<ReplicaEntry | undefined> {
    const record = this.t.meta.get(key)
    return record === undefined ? undefined : toEntry(key, record)
  }

  nextVersion (): HlcTimestamp {
    return this.hlc.now()
  }

  observeVersion (version: HlcTimestamp): void {
    this.hlc.update(version)
  }

  async applyPut (key: Key, body: AsyncIterable<Uint8Array>, put: ReplicaPut, options: { maxBytes?: number, sizeHint?: number, signal?: AbortSignal } = {}): Promise<ApplyResult> {
    this.hlc.update(put.version)
    // Refused before the body is read when it already would be, and decided again inside the commit.
    const early = this.acceptor.refusal(key, put)
    if (early !== undefined) return early
    const fields = (): RecordFields => ({ version: put.version, contentType: put.contentType, created: put.created, expires: put.expires })
    const out = await this.write(key, body, options, fields, () => this.acceptor.refusal(key, put), record => {
      if (put.sha256 !== undefined && put.sha256 !== record.sha256) {
        throw new PmzError('ERR_CORRUPT', 'replicated content does not match its sha256', { details: { key } })
      }
      if (put.origin !== undefined && put.origin !== put.version) record.origin = put.origin
    })
    return out.refused ?? { applied: true, entry: toEntry(key, out.record) }
  }

  /**
   * The write routine of put and applyPut: receives the body into a new
   * upload (content past one chunk goes to its file), lets `received` check
   * or complete the record, then in one transaction asks `refuse` about the
   * record held (undefined: write) and replaces it. A refused or failed write
   * drops its upload. Tells the change (a value already expired replaces a
   * live one as a delete) and removes the content it replaced.
   */
  private async write<R> (key: Key, body: AsyncIterable<Uint8Array>, options: { maxBytes?: number, sizeHint?: number, signal?: AbortSignal },
    fields: () => RecordFields, refuse: (current: ValueRecord | undefined) => R | undefined, received?: (record: ValueRecord) => void): Promise<{ refused: R, record?: undefined } | { refused: undefined, record: ValueRecord }> {
    this.t.space.admit()
    const upload = this.t.newUpload(key, options)
    try {
      const { record, last } = await upload.receive(body, options.signal, fields)
      received?.(record)
      const now = this.clock.now()
      const dropped: Uint8Array[] = []
      const out = await this.t.commit(() => {
        dropped.length = 0
        const current = this.t.meta.get(key)
        const refused = refuse(current)
        if (refused !== undefined) return { refused, wasLive: false }
        if (current !== undefined) this.t.dropRecord(key, current, dropped)
        this.t.putRecord(key, record, current, last, upload.markedPending)
        return { refused: undefined, wasLive: isLive(current, now) }
      }, key)
      if (out.refused !== undefined) {
        await upload.abort()
        return { refused: out.refused }
      }
      if (isLive(record, now)) this.emit({ type: 'put', meta: toMeta(key, record) })
      else if (out.wasLive) this.emit({ type: 'delete', key, reason: 'expired' })
      await this.t.removeBlobs(dropped)
      return { refused: undefined, record }
    } catch (err) {
      await upload.abort().catch(cleanupErr => this.log.error({ err: cleanupErr, key }, 'removing an aborted upload failed'))
      throw err
    }
  }

  // The replica's side of the per-key register (see Acceptor).

  async prepare (key: Key, ballot: HlcTimestamp): Promise<PrepareResult> {
    return await this.acceptor.prepare(key, ballot)
  }

  async stage (key: Key, body: AsyncIterable<Uint8Array>, fields: StageFields, options: { maxBytes?: number, sizeHint?: number, signal?: AbortSignal } = {}): Promise<StageResult> {
    return await this.acceptor.stage(key, body, fields, options)
  }

  async applyStaged (key: Key, stageId: string, put: ReplicaPut): Promise<ApplyResult> {
    return await this.acceptor.applyStaged(key, stageId, put)
  }

  async unstage (stageId: string): Promise<void> {
    await this.acceptor.unstage(stageId)
  }

  lastRing (): string[] {
    const ring = this.t.state.get('ring')
    return Array.isArray(ring) ? ring.filter((p): p is string => typeof p === 'string') : []
  }

  async recordRing (peerIds: string[]): Promise<void> {
    await this.t.commit(() => { void this.t.state.put('ring', peerIds) })
  }

  async applyTombstone (key: Key, version: HlcTimestamp, deletedAt: number, options: { accept?: boolean, origin?: HlcTimestamp } = {}): Promise<ApplyResult> {
    this.hlc.update(version)
    const now = this.clock.now()
    const dropped: Uint8Array[] = []
    const out = await this.t.commit(() => {
      dropped.length = 0
      const refused = this.acceptor.refusal(key, { version, accept: options.accept })
      if (refused !== undefined) return { refused, wasLive: false, held: undefined }
      const current = this.t.meta.get(key)
      if (current !== undefined) this.t.dropRecord(key, current, dropped)
      const tombstone = this.t.tombstone(current, version, deletedAt, options.origin)
      this.t.writeMeta(key, tombstone, current)
      this.t.graves.put([deletedAt, key], null)
      return { refused: undefined, held: tombstone, wasLive: isLive(current, now) }
    }, key)
    if (out.refused !== undefined) return out.refused
    if (out.wasLive) this.emit({ type: 'delete', key, reason: 'deleted' })
    await this.t.removeBlobs(dropped)
    return { applied: true, entry: toEntry(key, out.held as ValueRecord) }
  }

  // Anti-entropy and rebalancing (store/replication): walk every record in
  // batches, drop a copy once its new owners hold it.

  /** Records (tombstones and expired values included) after `after` in key order, at most `limit`. */
  async entries (after: string | undefined, limit: number): Promise<ReplicaEntry[]> {
    const out: ReplicaEntry[] = []
    if (limit < 1) return out
    const start = after === undefined ? '' : `${after}\u0000`
    for (const { key, value } of this.t.meta.getRange({ start })) {
      out.push(toEntry(key, value))
      if (out.length >= limit) break
    }
    return out
  }

  partitions (): PartitionView {
    return this.t.partitions
  }

  /** Removes a key's record (and chunks) only while it is still at `version`; true when removed. For a copy this peer no longer owns. */
  async dropReplica (key: Key, version: HlcTimestamp): Promise<boolean> {
    const now = this.clock.now()
    const dropped: Uint8Array[] = []
    const out = await this.t.commit(() => {
      dropped.length = 0
      const current = this.t.meta.get(key)
      if (current === undefined || compareHlc(current.version, version) !== 0) return { dropped: false, wasLive: false }
      this.t.dropRecord(key, current, dropped)
      this.t.writeMeta(key, undefined, current)
      return { dropped: true, wasLive: isLive(current, now) }
    }, key)
    if (out.wasLive) this.emit({ type: 'delete', key, reason: 'deleted' })
    await this.t.removeBlobs(dropped)
    return out.dropped
  }
}

