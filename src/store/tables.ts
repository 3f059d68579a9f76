import { createHash, randomBytes } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { Key } from './key.js'
import { open, type Database, type RootDatabase } from 'lmdb'
import type { HlcTimestamp } from '../common/hlc.js'
import { BlobFiles, type BlobWriter } from './blob-files.js'
import { chunkKey, chunkRange } from './chunk-reader.js'
import { Commits, syncOptions, type SyncMode } from './commits.js'
import { MAX_READERS } from './constants.js'
import { DiskSpace, type DiskSpaceComponents } from './disk-space.js'
import { ContentUpload, type UploadHost } from './content-upload.js'
import { PartitionDigests, type PartitionDelta } from './partition-digests.js'
import { Promises } from './promises.js'
import { chunkCount, type ValueRecord } from './record.js'

const EMPTY_SHA256 = createHash('sha256').digest('hex')

/** How long close waits for commits in flight, in 10 ms turns. */
const CLOSE_WAIT_TURNS = 500

/** The `state` entry of the promises' durable high-water mark (see Promises). */
const PROMISE_FLOOR_KEY = 'promise-floor'

/** A time-ordered index entry of the sweeper: [expires or deletedAt, key]. */
export type IndexKey = [number, Key]

export interface TablesInit {
  dir: string
  sync: SyncMode
  chunkBytes: number
  /** Free space under which the store takes no new value (see DiskSpace). @default 0 */
  minFreeBytes?: number
}

/**
 * The tables of a store, in one LMDB environment, and the writes that keep
 * them consistent with each other (each called inside `commit`):
 * - `meta`    key -> ValueRecord (live values and tombstones),
 * - `chunks`  contentId ++ u32be index -> bytes: the content of a value of one
 *             chunk (and, in records written before blob files, of any value),
 * - `blobs`   contentId -> key for each value whose content is a file under
 *             `<dir>/blobs/` (a value larger than one chunk; see BlobFiles),
 * - `pending` contentId -> { key, started } for uploads in progress,
 * - `expiry`  [expires, key] and `graves` [deletedAt, key] for the sweeper,
 * - `promises` (before promises were kept in memory, see Promises) key ->
 *             a Paxos ballot promised; read once at start into the floor,
 * - `partitions` and `partition-keys`: per ring partition the digest and
 *             count of the records, and its keys (see PartitionDigests);
 *             every change of `meta` goes through `writeMeta`, which keeps
 *             them in step.
 *
 * An upload that passes one chunk first records a `pending` entry; one killed
 * midway leaves that entry, and `start` removes its file, as it removes any
 * file no record names (one whose record was replaced or deleted just before
 * a crash, before its unlink).
 */
export class Tables implements UploadHost {
  readonly env: RootDatabase
  readonly meta: Database<ValueRecord, Key>
  readonly chunks: Database<Buffer, Buffer>
  readonly blobIndex: Database<string, Uint8Array>
  readonly pending: Database<{ key: Key, started: number }, Uint8Array>
  readonly expiry: Database<null, IndexKey>
  readonly graves: Database<null, IndexKey>
  private readonly promiseTable: Database<string, string>
  /** The Paxos promises of this replica's keys (see Promises), from recover() on. */
  promised!: Promises
  /** Small facts of this peer that outlive it (the last placement ring), by name. */
  readonly state: Database<unknown, string>
  readonly files: BlobFiles
  /** The per-partition digests of `meta` (anti-entropy reads them). */
  readonly partitions: PartitionDigests
  /** Free space of the data disk: the floor for new values, and how a failed write reads (507 or 500). */
  readonly space: DiskSpace
  private readonly commits: Commits
  /** Commits started and not yet settled (close waits for them). */
  private inFlight = 0
  /** Per key, settles once every commit of the key started so far has settled (see writesOf). */
  private readonly writing = new Map<string, Promise<unknown>>()
  private readonly contentPrefix = randomBytes(8)
  private contentCounter = 0n

  constructor (private readonly c: DiskSpaceComponents, private readonly init: TablesInit) {
    mkdirSync(init.dir, { recursive: true })
    this.space = new DiskSpace(c, { dir: init.dir, minFreeBytes: init.minFreeBytes })
    // No mapSize: lmdb-js grows the map as the data grows, so MDB_MAP_FULL only comes when
    // growing fails; like a full disk it fails the commit and reads as ERR_NO_SPACE (DiskSpace.classify).
    this.env = open({ path: init.dir, maxDbs: 16, maxReaders: MAX_READERS, noMemInit: true, ...syncOptions(init.sync) })
    this.commits = new Commits(this.env, init.sync, err => this.space.classify(err, 'committing to LMDB'))
    this.meta = this.env.openDB({ name: 'meta', encoding: 'msgpack' })
    this.chunks = this.env.openDB({ name: 'chunks', encoding: 'binary', keyEncoding: 'binary' })
    this.blobIndex = this.env.openDB({ name: 'blobs', encoding: 'string', keyEncoding: 'binary' })
    this.pending = this.env.openDB({ name: 'pending', encoding: 'msgpack', keyEncoding: 'binary' })
    this.expiry = this.env.openDB({ name: 'expiry', encoding: 'msgpack' })
    this.graves = this.env.openDB({ name: 'graves', encoding: 'msgpack' })
    this.promiseTable = this.env.openDB({ name: 'promises', encoding: 'string' })
    this.state = this.env.openDB({ name: 'state', encoding: 'msgpack' })
    this.files = new BlobFiles(join(init.dir, 'blobs'), init.sync !== 'os')
    this.partitions = new PartitionDigests(this.env, this, c.clock, async work => { await this.commit(work) })
  }

  /** Removes what a crash left: interrupted uploads, then files no record names; loads the partition digests. */
  async recover (): Promise<void> {
    const started = this.c.clock.monotonic()
    const walked = this.partitions.open()
    if (walked > 0) this.c.log.info({ records: walked, ms: Math.round(this.c.clock.monotonic() - started) }, 'partition digests built')
    await this.openPromises()
    for (const { key, value } of [...this.pending.getRange()]) {
      await this.discardUpload(key)
      this.c.log.warn({ key: value.key, started: value.started }, 'removed an interrupted upload')
    }
    // A lookup per file, not a walk of the keys.
    const removed = await this.files.removeUnreferenced(contentId => this.blobIndex.doesExist(contentId))
    if (removed > 0) this.c.log.warn({ files: removed }, 'removed blob files no record names')
  }

  /**
   * The promises start from the high-water mark the last run made durable
   * (and from any promise a store of before in-memory promises committed,
   * which this folds in and removes).
   */
  private async openPromises (): Promise<void> {
    const mark = this.state.get(PROMISE_FLOOR_KEY)
    let floor = typeof mark === 'string' ? mark : ''
    const legacy: string[] = []
    for (const { key, value } of this.promiseTable.getRange()) {
      legacy.push(key)
      if (value > floor) floor = value
    }
    if (legacy.length > 0) {
      await this.commit(() => {
        for (const key of legacy) void this.promiseTable.remove(key)
        void this.state.put(PROMISE_FLOOR_KEY, floor)
      })
    }
    this.promised = new Promises({
      persist: async to => { await this.commit(() => { void this.state.put(PROMISE_FLOOR_KEY, to) }) },
      versionOf: key => this.meta.get(key)?.version
    }, { floor })
  }

  async close (): Promise<void> {
    this.commits.drain()
    // The partition digests are written only by a clean close, once every commit applied its delta; else the next start rebuilds them.
    for (let i = 0; i < CLOSE_WAIT_TURNS && this.inFlight > 0; i++) await new Promise(resolve => setTimeout(resolve, 10))
    if (this.inFlight === 0) {
      try {
        this.partitions.checkpoint()
      } catch (err) {
        this.c.log.warn({ err }, 'writing the partition digests failed; the next start rebuilds them')
      }
    }
    await this.env.close()
  }

  /**
   * Runs a small write transaction; the commits of one event turn share it
   * (see Commits). What its writes did to the partition digests reaches
   * their mirror once it committed (a work run again starts its list over).
   */
  async commit<T> (work: () => T, key?: string): Promise<T> {
    const run = this.commitNow(work)
    if (key === undefined) return await run
    const settled = run.then(noop, noop)
    const prev = this.writing.get(key)
    const all = prev === undefined ? settled : Promise.all([prev, settled])
    this.writing.set(key, all)
    void all.then(() => { if (this.writing.get(key) === all) this.writing.delete(key) })
    return await run
  }

  /**
   * Settles once every commit of `key` started so far (given its key) has
   * settled, on the disk as its sync mode has it; undefined when none is in
   * flight. A Paxos promise answers with the record only once no write of it
   * is under way (Acceptor.prepare).
   */
  writesOf (key: Key): Promise<unknown> | undefined {
    return this.writing.get(key)
  }

  private async commitNow<T> (work: () => T): Promise<T> {
    let deltas: PartitionDelta[] = []
    this.inFlight++
    try {
      const result = await this.commits.run(() => {
        deltas = []
        this.partitions.collector = deltas
        try {
          return work()
        } finally {
          this.partitions.collector = undefined
        }
      })
      if (deltas.length > 0) this.partitions.apply(deltas)
      return result
    } finally {
      this.inFlight--
    }
  }

  /**
   * The bytes of one chunk, or undefined. Copied out of lmdb-js's reused read
   * buffer with Buffer.from, which puts a small value in Node's shared pool:
   * getBinary gives every copy an ArrayBuffer of its own, and that allocation
   * (and its sweep) cost more per 1 KB read than the lookup.
   */
  readChunk (key: Buffer): Buffer | undefined {
    const fast = this.chunks.getBinaryFast(key)
    // lmdb-js sets `length` of its reused buffer to the value's size; the view is that size.
    return fast === undefined ? undefined : Buffer.from(new Uint8Array(fast.buffer, fast.byteOffset, fast.length))
  }

  /** Inside a write transaction: replaces the record of `key` (`current`, as read in this transaction) with `next`, or removes it (undefined). */
  writeMeta (key: Key, next: ValueRecord | undefined, current: ValueRecord | undefined): void {
    this.partitions.change(key, current, next)
    if (next === undefined) void this.meta.remove(key)
    else void this.meta.put(key, next)
  }

  /** Inside a write transaction: writes a new record with its index entries (and its content, when that is one chunk). */
  putRecord (key: Key, record: ValueRecord, current: ValueRecord | undefined, last: Buffer | undefined, markedPending: boolean): void {
    const contentId = record.contentId
    if (contentId !== null) {
      if (record.blob === true) this.blobIndex.put(contentId, key)
      else if (last !== undefined) this.chunks.put(chunkKey(contentId, 0), last)
      if (markedPending) this.pending.remove(contentId)
    }
    this.writeMeta(key, record, current)
    if (record.expires !== null) this.expiry.put([record.expires, key], null)
  }

  /** Whether an accept of `version` must be refused for a newer promise (its ballot), else undefined. */
  refusedBy (key: Key, version: HlcTimestamp): HlcTimestamp | undefined {
    const promised = this.promised.of(key)
    return promised !== undefined && promised > version ? promised : undefined
  }

  /**
   * Inside a write transaction: removes a record's chunks and index entries
   * (not the record). A file's content id goes to `dropped`, to be unlinked
   * once the transaction commits (see removeBlobs).
   */
  dropRecord (key: Key, record: ValueRecord, dropped: Uint8Array[]): void {
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

  /** The record of a delete of `current` at `version`. */
  tombstone (current: ValueRecord | undefined, version: HlcTimestamp, deletedAt: number, origin?: HlcTimestamp): ValueRecord {
    return {
      ...(origin !== undefined && origin !== version ? { origin } : {}),
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
      chunkBytes: this.init.chunkBytes
    }
  }

  /**
   * After a commit (and its key:change event, which must follow the commit
   * with no await between): unlinks the files of the content it dropped. A
   * failure, or a crash before, leaves an orphan the next start removes.
   */
  async removeBlobs (dropped: Uint8Array[]): Promise<void> {
    for (const contentId of dropped) {
      await this.files.remove(contentId).catch(err => this.c.log.error({ err, file: this.files.pathOf(contentId) }, 'removing a blob file failed'))
    }
  }

  /** A new upload of a value of `key`, under a content id unique in this environment (a random prefix per process and a counter). */
  newUpload (key: Key, options: { maxBytes?: number, sizeHint?: number }): ContentUpload {
    const id = Buffer.allocUnsafe(16)
    this.contentPrefix.copy(id, 0)
    id.writeBigUInt64BE(this.contentCounter++, 8)
    return new ContentUpload(this, id, key, options.maxBytes ?? Infinity, this.init.chunkBytes, options.sizeHint)
  }

  /**
   * ContentUpload's way to a file: records the upload as pending (committed
   * first, so a crash from here on leaves an entry naming the file), then
   * creates the file.
   */
  async createBlob (contentId: Uint8Array, key: Key): Promise<BlobWriter> {
    const started = this.c.clock.now()
    await this.commit(() => { void this.pending.put(contentId, { key, started }) })
    return await this.files.create(contentId)
  }

  /** Removes what an unfinished upload wrote: its file, its pending entry (and chunks, from uploads before blob files). */
  async discardUpload (contentId: Uint8Array): Promise<void> {
    await this.files.remove(contentId)
    await this.commit(() => {
      for (const k of this.chunks.getKeys(chunkRange(contentId))) this.chunks.remove(k)
      this.pending.remove(contentId)
    })
  }
}

function noop (): void {}
