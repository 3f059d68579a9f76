import { createHash, randomBytes } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { open, type Database, type RootDatabase } from 'lmdb'
import type { Clock, Timer } from '../common/clock.js'
import { PmzError, notFound } from '../common/errors.js'
import { HybridLogicalClock, compareHlc, type HlcTimestamp } from '../common/hlc.js'
import type { Logger } from '../common/logger.js'
import { Commits, syncOptions } from './commits.js'
import { ContentUpload } from './content-upload.js'
import { BlobFiles, type BlobWriter } from './blob-files.js'
import { ChunkReader, chunkKey, chunkRange } from './chunk-reader.js'
import { CHUNK_BYTES, DAY_MS, MAX_READERS, SWEEP_BATCH } from './constants.js'
import type { ApplyResult, KeyChange, ListOptions, PutOptions, ReplicaPut, Store, StoreComponents, StoreInit, StoreStats, StoredValue } from './types.js'
import { validateKey } from './key.js'
import { chunkCount, isLive, toEntry, toMeta, type ReplicaEntry, type ValueMeta, type ValueRecord } from './record.js'
import { sha256Hex } from '../common/digest.js'

const EMPTY_SHA256 = createHash('sha256').digest('hex')
const DEFAULT_TOMBSTONE_GRACE_MS = 168 * 3_600_000
const DEFAULT_SWEEP_INTERVAL_MS = 60_000
/** Times `get` reads a record again when its content went away under it (a newer version or a delete). */
const GET_RETRIES = 3

type IndexKey = [number, string]

/**
 * The local store of a volume peer: one LMDB environment with
 * - `meta`    key -> ValueRecord (live values and tombstones),
 * - `chunks`  contentId ++ u32be index -> bytes: the content of a value of one
 *             chunk (and, in records written before blob files, of any value),
 * - `blobs`   contentId -> key for each value whose content is a file under
 *             `<dir>/blobs/` (a value larger than one chunk; see BlobFiles),
 * - `pending` contentId -> { key, started } for uploads in progress,
 * - `expiry`  [expires, key] and `graves` [deletedAt, key] for the sweeper.
 *
 * Key-value separation (WiscKey, Badger): a small value's content is written
 * with its record in one transaction; a large value streams to its own file,
 * synced before its record commits. So a value is visible only once complete.
 * An upload that passes one chunk first records a `pending` entry; one killed
 * midway leaves that entry, and its file is removed at the next start, as is
 * any file no record names (one whose record was replaced or deleted just
 * before a crash, before its unlink). Reading a file never maps it: LMDB's
 * map would put every page of a large value in the process's RSS.
 */
export class LmdbStore implements Store {
  private env!: RootDatabase
  private commits!: Commits
  private meta!: Database<ValueRecord, string>
  private chunks!: Database<Buffer, Buffer>
  private blobIndex!: Database<string, Uint8Array>
  private files!: BlobFiles
  private pending!: Database<{ key: string, started: number }, Uint8Array>
  private expiry!: Database<null, IndexKey>
  private graves!: Database<null, IndexKey>
  private readonly hlc: HybridLogicalClock
  private readonly log: Logger
  private readonly clock: Clock
  private readonly chunkBytes: number
  private readonly tombstoneGraceMs: number
  private readonly sweepIntervalMs: number
  private readonly contentPrefix = randomBytes(8)
  private contentCounter = 0n
  private sweepTimer: Timer | undefined
  private sweeping: Promise<void> | undefined
  private started = false
  private stopping: Promise<void> | undefined
  private readonly listeners = new Set<(change: KeyChange) => void>()

  constructor (components: StoreComponents, private readonly init: StoreInit) {
    this.clock = components.clock
    this.log = components.log
    this.hlc = new HybridLogicalClock(init.peerId, components.clock)
    this.chunkBytes = init.chunkBytes ?? CHUNK_BYTES
    this.tombstoneGraceMs = init.tombstoneGraceMs ?? DEFAULT_TOMBSTONE_GRACE_MS
    this.sweepIntervalMs = init.sweepIntervalMs ?? DEFAULT_SWEEP_INTERVAL_MS
  }

  async start (): Promise<void> {
    if (this.started) return
    mkdirSync(this.init.dir, { recursive: true })
    const sync = this.init.sync ?? 'flush'
    this.env = open({ path: this.init.dir, maxDbs: 16, maxReaders: MAX_READERS, noMemInit: true, ...syncOptions(sync) })
    this.commits = new Commits(this.env, sync)
    this.meta = this.env.openDB({ name: 'meta', encoding: 'msgpack' })
    this.chunks = this.env.openDB({ name: 'chunks', encoding: 'binary', keyEncoding: 'binary' })
    this.blobIndex = this.env.openDB({ name: 'blobs', encoding: 'string', keyEncoding: 'binary' })
    this.pending = this.env.openDB({ name: 'pending', encoding: 'msgpack', keyEncoding: 'binary' })
    this.expiry = this.env.openDB({ name: 'expiry', encoding: 'msgpack' })
    this.graves = this.env.openDB({ name: 'graves', encoding: 'msgpack' })
    this.files = new BlobFiles(join(this.init.dir, 'blobs'), this.init.sync !== 'os')
    this.started = true
    await this.removeInterruptedUploads()
    await this.removeOrphanBlobs()
    this.sweepTimer = this.clock.setInterval(() => { void this.sweep().catch(err => this.log.error({ err }, 'sweep failed')) }, this.sweepIntervalMs)
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.stopping ??= (async () => {
      this.sweepTimer?.cancel()
      await this.sweeping
      this.commits.drain()
      await this.env.close()
    })()
    return await this.stopping
  }

  async stat (key: string): Promise<ValueMeta | undefined> {
    const record = this.meta.get(key)
    return isLive(record, this.clock.now()) ? toMeta(key, record) : undefined
  }

  async get (key: string): Promise<StoredValue> {
    return await this.read(key, GET_RETRIES)
  }

  private async read (key: string, retries: number): Promise<StoredValue> {
    // Both reads below run in one synchronous block, so they see the same
    // snapshot (lmdb-js renews its shared read transaction only between
    // event-loop turns): a value of one chunk needs no pinned transaction.
    const record = this.meta.get(key)
    if (!isLive(record, this.clock.now())) throw notFound('key not found')
    if (record.contentId === null) return { meta: toMeta(key, record), body: Buffer.alloc(0) }
    if (record.blob === true) return await this.readBlob(key, record, retries)
    if (record.size > record.chunkBytes) return this.stream(key) ?? await this.retry(key, retries)
    const body = this.chunks.getBinary(chunkKey(record.contentId, 0))
    if (body === undefined || body.length !== record.size || sha256Hex(body) !== record.sha256) {
      throw new PmzError('ERR_CORRUPT', 'content does not match its sha256', { details: { key } })
    }
    return { meta: toMeta(key, record), body }
  }

  /**
   * A value in a file, opened before it is returned so that a later unlink
   * cannot break the read. A file gone at open was unlinked by a newer
   * version or a delete after the record was read: read the key again.
   */
  private async readBlob (key: string, record: ValueRecord, retries: number): Promise<StoredValue> {
    const body = await this.files.openReader(record.contentId as Uint8Array, record.size, record.sha256)
    if (body !== undefined) return { meta: toMeta(key, record), body }
    const now = this.meta.get(key)
    if (now !== undefined && compareHlc(now.version, record.version) === 0) {
      throw new PmzError('ERR_CORRUPT', 'content file missing', { details: { key } })
    }
    return await this.retry(key, retries)
  }

  private async retry (key: string, retries: number): Promise<StoredValue> {
    if (retries <= 0) throw new PmzError('ERR_UNAVAILABLE', 'value replaced while being read', { retryable: true, details: { key } })
    return await this.read(key, retries - 1)
  }

  /**
   * A value of several LMDB chunks (a record from before blob files): a read
   * transaction pinned until the stream ends, the record read again inside
   * it; undefined when that record no longer has chunks.
   */
  private stream (key: string): StoredValue | undefined {
    const txn = this.env.useReadTransaction()
    try {
      const record = this.meta.get(key, { transaction: txn })
      if (!isLive(record, this.clock.now())) throw notFound('key not found')
      if (record.blob === true || record.size <= record.chunkBytes) {
        txn.done()
        return undefined
      }
      return { meta: toMeta(key, record), body: new ChunkReader(this.chunks, txn, record) }
    } catch (err) {
      txn.done()
      throw err
    }
  }

  async put (key: string, body: AsyncIterable<Uint8Array>, options: PutOptions = {}): Promise<ValueMeta> {
    validateKey(key)
    const temporal = options.temporalDays
    if (temporal !== undefined && !(Number.isInteger(temporal) && temporal >= -1)) {
      throw new PmzError('ERR_BAD_REQUEST', 'temporal must be an integer >= 0, or -1 for permanent')
    }
    // Refuse a duplicate before reading a large body; for a value of one chunk
    // the check inside the commit (which decides) is enough.
    const small = options.sizeHint !== undefined && options.sizeHint <= this.chunkBytes
    if (options.ifAbsent === true && !small && isLive(this.meta.get(key), this.clock.now())) {
      throw new PmzError('ERR_CONFLICT', 'key already exists', { details: { key } })
    }
    const upload = this.newUpload(key, options)
    try {
      const { record, last } = await this.receive(upload, body, options.signal, () => {
        const created = this.clock.now()
        return {
          version: this.hlc.now(),
          contentType: options.contentType ?? 'application/octet-stream',
          created,
          expires: temporal === undefined || temporal < 0 ? null : created + temporal * DAY_MS
        }
      })
      const dropped: Uint8Array[] = []
      const stored = await this.commit(() => {
        dropped.length = 0
        const current = this.meta.get(key)
        if (options.ifAbsent === true && isLive(current, this.clock.now())) return false
        if (current !== undefined) this.dropRecord(key, current, dropped)
        this.putRecord(key, record, last, upload.markedPending)
        return true
      })
      if (!stored) throw new PmzError('ERR_CONFLICT', 'key already exists', { details: { key } })
      const meta = toMeta(key, record)
      this.emit({ type: 'put', meta })
      await this.removeBlobs(dropped)
      return meta
    } catch (err) {
      await upload.abort().catch(cleanupErr => this.log.error({ err: cleanupErr, key }, 'removing an aborted upload failed'))
      throw err
    }
  }

  /** A new upload of a value of `key`, under a fresh content id. */
  private newUpload (key: string, options: { maxBytes?: number, sizeHint?: number }): ContentUpload {
    return new ContentUpload(this, this.nextContentId(), key, options.maxBytes ?? Infinity, this.chunkBytes, options.sizeHint)
  }

  /**
   * Reads `body` into `upload` and returns the record of the value it now
   * holds; `fields` (asked once the body is in) gives its version, type and
   * times. Nothing is committed yet.
   */
  private async receive (upload: ContentUpload, body: AsyncIterable<Uint8Array>, signal: AbortSignal | undefined,
    fields: () => Pick<ValueRecord, 'version' | 'contentType' | 'created' | 'expires'>): Promise<{ record: ValueRecord, last: Buffer | undefined }> {
    for await (const piece of body) {
      signal?.throwIfAborted()
      await upload.write(piece)
    }
    const { size, sha256, last } = await upload.end()
    const { version, contentType, created, expires } = fields()
    const record: ValueRecord = {
      v: 1,
      version,
      deleted: false,
      deletedAt: null,
      size,
      sha256,
      contentType,
      created,
      expires,
      contentId: size === 0 ? null : upload.contentId,
      chunkBytes: this.chunkBytes
    }
    if (upload.isFile) record.blob = true
    return { record, last }
  }

  /** Runs a small write transaction; the commits of one event turn share it (see Commits). */
  private async commit<T> (work: () => T): Promise<T> {
    return await this.commits.run(work)
  }

  /** Inside a write transaction: writes a new record with its index entries (and its content, when that is one chunk). */
  private putRecord (key: string, record: ValueRecord, last: Buffer | undefined, markedPending: boolean): void {
    const contentId = record.contentId
    if (contentId !== null) {
      if (record.blob === true) this.blobIndex.put(contentId, key)
      else if (last !== undefined) this.chunks.put(chunkKey(contentId, 0), last)
      if (markedPending) this.pending.remove(contentId)
    }
    this.meta.put(key, record)
    if (record.expires !== null) this.expiry.put([record.expires, key], null)
  }

  /**
   * After a commit (and its key:change event, which must follow the commit
   * with no await between): unlinks the files of the content it dropped. A
   * failure, or a crash before, leaves an orphan the next start removes.
   */
  private async removeBlobs (dropped: Uint8Array[]): Promise<void> {
    for (const contentId of dropped) {
      await this.files.remove(contentId).catch(err => this.log.error({ err, file: this.files.pathOf(contentId) }, 'removing a blob file failed'))
    }
  }

  /** A content id unique in this environment: a random prefix per process and a counter. */
  private nextContentId (): Buffer {
    const id = Buffer.allocUnsafe(16)
    this.contentPrefix.copy(id, 0)
    id.writeBigUInt64BE(this.contentCounter++, 8)
    return id
  }

  async delete (key: string): Promise<void> {
    const dropped: Uint8Array[] = []
    const deleted = await this.commit(() => {
      dropped.length = 0
      const now = this.clock.now()
      const current = this.meta.get(key)
      if (!isLive(current, now)) return false
      this.dropRecord(key, current, dropped)
      this.meta.put(key, this.tombstone(current, this.hlc.now(), now))
      this.graves.put([now, key], null)
      return true
    })
    if (!deleted) throw notFound('key not found')
    this.emit({ type: 'delete', key, reason: 'deleted' })
    await this.removeBlobs(dropped)
  }

  private tombstone (current: ValueRecord | undefined, version: HlcTimestamp, deletedAt: number): ValueRecord {
    return {
      v: 1,
      version,
      deleted: true,
      deletedAt,
      size: 0,
      sha256: EMPTY_SHA256,
      contentType: current?.contentType ?? 'application/octet-stream',
      created: current?.created ?? deletedAt,
      expires: null,
      contentId: null,
      chunkBytes: this.chunkBytes
    }
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
    for (const { key, value } of this.meta.getRange({ start, end: `${prefix}\uffff` })) {
      if (out.length >= limit) break
      if (isLive(value, now)) out.push(toMeta(key, value))
    }
    return out
  }

  async stats (): Promise<StoreStats> {
    const s = this.meta.getStats() as { pageSize: number, treeDepth: number, treeBranchPageCount: number, treeLeafPageCount: number, overflowPages: number, entryCount: number }
    const expired = this.expiry.getCount({ end: [this.clock.now() + 1] })
    const tombstones = (this.graves.getStats() as { entryCount: number }).entryCount
    return {
      psize: s.pageSize,
      depth: s.treeDepth,
      branch_pages: s.treeBranchPageCount,
      leaf_pages: s.treeLeafPageCount,
      overflow_pages: s.overflowPages,
      entries: Math.max(0, s.entryCount - tombstones - expired)
    }
  }

  /**
   * Removes expired values and tombstones past their grace period, a batch
   * per transaction. Expired values need no tombstone: every replica computes
   * the same expiry.
   */
  async sweep (): Promise<void> {
    if (this.sweeping !== undefined) return await this.sweeping
    if (this.stopping !== undefined) return
    this.sweeping = (async () => {
      try {
        const expired = await this.sweepIndex(this.expiry, this.clock.now(), r => !r.deleted && r.expires !== null)
        for (const key of expired) this.emit({ type: 'delete', key, reason: 'expired' })
        await this.sweepIndex(this.graves, this.clock.now() - this.tombstoneGraceMs, r => r.deleted)
      } finally {
        this.sweeping = undefined
      }
    })()
    return await this.sweeping
  }

  /** Returns the keys whose records it removed. */
  private async sweepIndex (index: Database<null, IndexKey>, until: number, stillDue: (r: ValueRecord) => boolean): Promise<string[]> {
    const removed: string[] = []
    for (;;) {
      const due = [...index.getKeys({ end: [until + 1], limit: SWEEP_BATCH })]
      if (due.length === 0) return removed
      const batch: string[] = []
      const dropped: Uint8Array[] = []
      await this.commit(() => {
        batch.length = 0
        dropped.length = 0
        for (const [at, key] of due) {
          index.remove([at, key])
          const record = this.meta.get(key)
          if (record === undefined || !stillDue(record) || (record.deleted ? record.deletedAt : record.expires) !== at) continue
          this.dropRecord(key, record, dropped)
          this.meta.remove(key)
          batch.push(key)
        }
      })
      await this.removeBlobs(dropped)
      removed.push(...batch)
      if (due.length < SWEEP_BATCH) return removed
    }
  }

  /**
   * Inside a write transaction: removes a record's chunks and index entries
   * (not the record). A file's content id goes to `dropped`, to be unlinked
   * once the transaction commits (see removeBlobs).
   */
  private dropRecord (key: string, record: ValueRecord, dropped: Uint8Array[]): void {
    if (record.contentId !== null && record.blob === true) {
      this.blobIndex.remove(record.contentId)
      dropped.push(record.contentId)
    } else if (record.contentId !== null) {
      // A record names its chunks exactly (0 .. count-1): removing them by key needs no cursor.
      for (let i = 0, n = chunkCount(record.size, record.chunkBytes); i < n; i++) this.chunks.remove(chunkKey(record.contentId, i))
    }
    if (record.expires !== null) this.expiry.remove([record.expires, key])
    if (record.deleted && record.deletedAt !== null) this.graves.remove([record.deletedAt, key])
  }

  private removeChunksSync (contentId: Uint8Array): void {
    for (const k of this.chunks.getKeys(chunkRange(contentId))) this.chunks.remove(k)
  }

  /**
   * @internal ContentUpload's way to a file: records the upload as pending
   * (committed first, so a crash from here on leaves an entry naming the
   * file), then creates the file.
   */
  async createBlob (contentId: Uint8Array, key: string): Promise<BlobWriter> {
    const started = this.clock.now()
    await this.commit(() => { void this.pending.put(contentId, { key, started }) })
    return await this.files.create(contentId)
  }

  /** @internal Removes what an unfinished upload wrote: its file, its pending entry (and chunks, from uploads before blob files). */
  async discardUpload (contentId: Uint8Array): Promise<void> {
    await this.files.remove(contentId)
    await this.commit(() => {
      this.removeChunksSync(contentId)
      this.pending.remove(contentId)
    })
  }

  // Replica operations (store/replication): read a record incl. tombstones,
  // apply a replicated write or delete only when its version is newer.

  async entry (key: string): Promise<ReplicaEntry | undefined> {
    const record = this.meta.get(key)
    return record === undefined ? undefined : toEntry(key, record)
  }

  nextVersion (): HlcTimestamp {
    return this.hlc.now()
  }

  observeVersion (version: HlcTimestamp): void {
    this.hlc.update(version)
  }

  async applyPut (key: string, body: AsyncIterable<Uint8Array>, put: ReplicaPut, options: { maxBytes?: number, sizeHint?: number, signal?: AbortSignal } = {}): Promise<ApplyResult> {
    validateKey(key)
    this.hlc.update(put.version)
    const before = this.meta.get(key)
    if (before !== undefined && compareHlc(before.version, put.version) >= 0) return { applied: false, entry: toEntry(key, before) }
    // Pulzar's duplicate rule at this replica: refused before the body is read, and decided again inside the commit.
    if (put.ifAbsent === true && isLive(before, this.clock.now())) return { applied: false, entry: toEntry(key, before), conflict: true }
    const upload = this.newUpload(key, options)
    try {
      const { record, last } = await this.receive(upload, body, options.signal, () =>
        ({ version: put.version, contentType: put.contentType, created: put.created, expires: put.expires }))
      if (put.sha256 !== undefined && put.sha256 !== record.sha256) {
        throw new PmzError('ERR_CORRUPT', 'replicated content does not match its sha256', { details: { key } })
      }
      const now = this.clock.now()
      const dropped: Uint8Array[] = []
      const out = await this.commit(() => {
        dropped.length = 0
        const current = this.meta.get(key)
        if (current !== undefined && compareHlc(current.version, put.version) >= 0) return { applied: false, held: current, wasLive: false, conflict: false }
        if (put.ifAbsent === true && isLive(current, now)) return { applied: false, held: current, wasLive: true, conflict: true }
        if (current !== undefined) this.dropRecord(key, current, dropped)
        this.putRecord(key, record, last, upload.markedPending)
        return { applied: true, held: record, wasLive: isLive(current, now), conflict: false }
      })
      if (!out.applied) {
        await upload.abort()
        return { applied: false, entry: toEntry(key, out.held), ...(out.conflict ? { conflict: true } : {}) }
      }
      if (isLive(record, now)) this.emit({ type: 'put', meta: toMeta(key, record) })
      else if (out.wasLive) this.emit({ type: 'delete', key, reason: 'expired' })
      await this.removeBlobs(dropped)
      return { applied: true, entry: toEntry(key, record) }
    } catch (err) {
      await upload.abort().catch(cleanupErr => this.log.error({ err: cleanupErr, key }, 'removing an aborted upload failed'))
      throw err
    }
  }

  async applyTombstone (key: string, version: HlcTimestamp, deletedAt: number): Promise<ApplyResult> {
    validateKey(key)
    this.hlc.update(version)
    const now = this.clock.now()
    const dropped: Uint8Array[] = []
    const out = await this.commit(() => {
      dropped.length = 0
      const current = this.meta.get(key)
      if (current !== undefined && compareHlc(current.version, version) >= 0) return { applied: false, held: current, wasLive: false }
      if (current !== undefined) this.dropRecord(key, current, dropped)
      const tombstone = this.tombstone(current, version, deletedAt)
      this.meta.put(key, tombstone)
      this.graves.put([deletedAt, key], null)
      return { applied: true, held: tombstone, wasLive: isLive(current, now) }
    })
    if (out.wasLive) this.emit({ type: 'delete', key, reason: 'deleted' })
    await this.removeBlobs(dropped)
    return { applied: out.applied, entry: toEntry(key, out.held) }
  }

  private async removeInterruptedUploads (): Promise<void> {
    const interrupted = [...this.pending.getRange()]
    for (const { key, value } of interrupted) {
      await this.discardUpload(key)
      this.log.warn({ key: value.key, started: value.started }, 'removed an interrupted upload')
    }
  }

  /**
   * Unlinks the files no record names: content dropped by a commit just
   * before a crash (before its unlink), or a file created just before its
   * pending entry committed. Costs a lookup per file, not a walk of the keys.
   */
  private async removeOrphanBlobs (): Promise<void> {
    const removed = await this.files.removeUnreferenced(contentId => this.blobIndex.doesExist(contentId))
    if (removed > 0) this.log.warn({ files: removed }, 'removed blob files no record names')
  }

  // Anti-entropy and rebalancing (store/replication): walk every record in
  // batches, drop a copy once its new owners hold it.

  /** Records (tombstones and expired values included) after `after` in key order, at most `limit`. */
  async entries (after: string | undefined, limit: number): Promise<ReplicaEntry[]> {
    const out: ReplicaEntry[] = []
    if (limit < 1) return out
    const start = after === undefined ? '' : `${after}\u0000`
    for (const { key, value } of this.meta.getRange({ start })) {
      out.push(toEntry(key, value))
      if (out.length >= limit) break
    }
    return out
  }

  /** Removes a key's record (and chunks) only while it is still at `version`; true when removed. For a copy this peer no longer owns. */
  async dropReplica (key: string, version: HlcTimestamp): Promise<boolean> {
    const now = this.clock.now()
    const dropped: Uint8Array[] = []
    const out = await this.commit(() => {
      dropped.length = 0
      const current = this.meta.get(key)
      if (current === undefined || compareHlc(current.version, version) !== 0) return { dropped: false, wasLive: false }
      this.dropRecord(key, current, dropped)
      this.meta.remove(key)
      return { dropped: true, wasLive: isLive(current, now) }
    })
    if (out.wasLive) this.emit({ type: 'delete', key, reason: 'deleted' })
    await this.removeBlobs(dropped)
    return out.dropped
  }
}

