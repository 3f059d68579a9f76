import { createHash } from 'node:crypto'
import { closeSync, fsyncSync, mkdirSync, openSync } from 'node:fs'
import { mkdir, open, readdir, unlink, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { PmzError } from '../common/errors.js'
import { isNoSpaceError } from './disk-space.js'
import { BLOB_READ_AHEAD, BLOB_READ_BYTES, BLOB_SYNC_BYTES, BLOB_WRITE_BYTES, MAX_INFLIGHT_BLOB_WRITES } from './constants.js'

const FAN_OUT = /^[0-9a-f]{2}$/
const BLOB_NAME = /^[0-9a-f]{32}$/

/**
 * The content of values larger than one chunk, one file per content id under
 * `<root>/<first two hex digits>/<content id in hex>` (key-value separation,
 * as in WiscKey and Badger). Read and written with plain file I/O, never
 * mapped, so a large value costs the process its buffers, not its size in RSS.
 * A file is only ever content: whether it is visible is the record's business.
 */
export class BlobFiles {
  /** Fan-out directories known to exist. */
  private readonly made = new Set<string>()

  /** `durable`: fsync each file and its directory before its record commits (`sync = flush`). */
  constructor (readonly root: string, private readonly durable: boolean) {
    const made = mkdirSync(root, { recursive: true }) !== undefined
    if (made && durable) {
      // Once, at the first start: the parent must hold the new directory's name before a record names a file in it.
      const fd = openSync(join(root, '..'), 'r')
      try {
        fsyncSync(fd)
      } finally {
        closeSync(fd)
      }
    }
  }

  pathOf (contentId: Uint8Array): string {
    const hex = Buffer.from(contentId.buffer, contentId.byteOffset, contentId.byteLength).toString('hex')
    return join(this.root, hex.slice(0, 2), hex)
  }

  /** Creates the file of a new content id, for writing from its start. */
  async create (contentId: Uint8Array): Promise<BlobWriter> {
    const path = this.pathOf(contentId)
    const dir = join(path, '..')
    let madeDir = false
    if (!this.made.has(dir)) {
      madeDir = await mkdir(dir, { recursive: true }).catch(err => { throw io('creating a blob directory failed', err) }) !== undefined
      this.made.add(dir)
    }
    const fh = await open(path, 'wx').catch(err => { throw io('creating a blob file failed', err) })
    // A new file (and a new fan-out directory) is durable only once the directory holding its name is synced too.
    const syncDirs = this.durable ? async () => { await Promise.all([syncDir(dir), madeDir ? syncDir(this.root) : undefined]) } : undefined
    return new BlobWriter(fh, this.durable, syncDirs)
  }

  /**
   * Opens a value's file for reading; undefined when there is none (ENOENT: a
   * delete or a newer version unlinked it after the record was read). Once
   * open, a later unlink cannot break the read.
   */
  async openReader (contentId: Uint8Array, size: number, sha256: string): Promise<BlobReader | undefined> {
    let fh: FileHandle
    try {
      fh = await open(this.pathOf(contentId), 'r')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw io('opening a blob file failed', err)
    }
    return new BlobReader(fh, size, sha256)
  }

  /** Unlinks a content id's file; a missing file is not an error. */
  async remove (contentId: Uint8Array): Promise<void> {
    try {
      await unlink(this.pathOf(contentId))
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw io('removing a blob file failed', err)
    }
  }

  /** Unlinks every file whose content id `isReferenced` denies; returns how many. Run at start, before any upload. */
  async removeUnreferenced (isReferenced: (contentId: Buffer) => boolean): Promise<number> {
    let removed = 0
    for (const sub of await readdir(this.root, { withFileTypes: true })) {
      if (!sub.isDirectory() || !FAN_OUT.test(sub.name)) continue
      for (const name of await readdir(join(this.root, sub.name))) {
        if (!BLOB_NAME.test(name) || !name.startsWith(sub.name)) continue
        const contentId = Buffer.from(name, 'hex')
        if (isReferenced(contentId)) continue
        await this.remove(contentId)
        removed++
      }
    }
    return removed
  }
}

/**
 * Writes one file sequentially: incoming pieces are copied into large
 * buffers, each written at its offset with at most MAX_INFLIGHT_BLOB_WRITES
 * writes in flight, so memory per upload stays bounded (a few MiB) whatever
 * the value's size, and the caller awaits only when the disk falls behind.
 */
export class BlobWriter {
  private position = 0
  private current: Buffer | undefined
  private fill = 0
  private readonly inflight: Array<{ write: Promise<void>, buffer: Buffer }> = []
  private readonly spare: Buffer[] = []
  private closed = false
  /** A datasync running in the background (it never rejects: see syncError), and the offset written when it began. */
  private syncing: Promise<void> | undefined
  private syncedTo = 0
  /** Kept: Linux reports a failed writeback to one fsync only, so a later one may pass with the data lost. */
  private syncError: PmzError | undefined

  constructor (private readonly fh: FileHandle, private readonly durable: boolean, private readonly syncDirs: (() => Promise<void>) | undefined) {}

  async write (piece: Uint8Array): Promise<void> {
    let offset = 0
    while (offset < piece.length) {
      this.current ??= this.spare.pop() ?? Buffer.allocUnsafe(BLOB_WRITE_BYTES)
      const n = Math.min(piece.length - offset, this.current.length - this.fill)
      this.current.set(piece.subarray(offset, offset + n), this.fill)
      this.fill += n
      offset += n
      if (this.fill === this.current.length) await this.flush()
    }
  }

  /** Writes what is left, waits for every write, syncs (when durable) and closes the file. */
  async end (): Promise<void> {
    if (this.fill > 0) await this.flush()
    for (const w of this.inflight.splice(0)) await w.write
    if (this.durable) {
      await this.syncing
      if (this.syncError !== undefined) throw this.syncError
      await this.fh.datasync().catch(err => { throw io('syncing a blob file failed', err) })
    }
    this.closed = true
    await this.fh.close()
    await this.syncDirs?.().catch(err => { throw io('syncing the blob directory failed', err) })
  }

  /** Gives up: waits for the writes in flight and closes the file (its owner unlinks it). */
  async close (): Promise<void> {
    await Promise.allSettled([...this.inflight.splice(0).map(w => w.write), this.syncing])
    if (this.closed) return
    this.closed = true
    await this.fh.close()
  }

  /**
   * Flushes what is written so far while the upload goes on, so that the
   * sync before the commit finds little left to write: the disk works in
   * step with the upload instead of all at its end (the LMDB chunks of old
   * were synced a batch at a time for the same reason).
   */
  private syncInBackground (): void {
    this.syncedTo = this.position
    this.syncing = this.fh.datasync().then(() => { this.syncing = undefined }, err => {
      this.syncError ??= io('syncing a blob file failed', err)
      this.syncing = undefined
    })
  }

  private async flush (): Promise<void> {
    const buffer = this.current as Buffer
    const write = writeAll(this.fh, buffer, this.fill, this.position)
    write.catch(() => {}) // surfaces when awaited, never as an unhandled rejection
    this.inflight.push({ write, buffer })
    this.position += this.fill
    this.current = undefined
    this.fill = 0
    if (this.durable && this.syncing === undefined && this.position - this.syncedTo >= BLOB_SYNC_BYTES) this.syncInBackground()
    while (this.inflight.length > MAX_INFLIGHT_BLOB_WRITES) {
      const done = this.inflight.shift() as { write: Promise<void>, buffer: Buffer }
      await done.write
      this.spare.push(done.buffer)
    }
  }
}

/**
 * Streams a value's file and checks its length and sha256 at the end, as
 * ChunkReader does for chunks: a short or long file or a hash mismatch ends
 * the stream with ERR_CORRUPT instead of a clean end.
 */
export class BlobReader extends Readable {
  private position = 0
  private readonly hash = createHash('sha256')
  private reading = false

  constructor (private readonly fh: FileHandle, private readonly size: number, private readonly sha256: string) {
    super({ highWaterMark: BLOB_READ_AHEAD * BLOB_READ_BYTES })
  }

  override _read (): void {
    if (this.reading) return
    if (this.position >= this.size) {
      this.reading = true
      // One byte more than the value: a longer file is damaged too.
      this.fh.read(Buffer.alloc(1), 0, 1, this.position).then(({ bytesRead }) => {
        if (bytesRead !== 0 || this.hash.digest('hex') !== this.sha256) throw new PmzError('ERR_CORRUPT', 'content does not match its sha256')
        this.push(null)
      }).catch(err => this.fail(err))
      return
    }
    const n = Math.min(BLOB_READ_BYTES, this.size - this.position)
    const buffer = Buffer.allocUnsafe(n)
    this.reading = true
    this.fh.read(buffer, 0, n, this.position).then(({ bytesRead }) => {
      this.reading = false
      if (this.destroyed) return
      if (bytesRead === 0) throw new PmzError('ERR_CORRUPT', 'content file shorter than the value')
      const chunk = bytesRead === n ? buffer : buffer.subarray(0, bytesRead)
      this.position += bytesRead
      this.hash.update(chunk)
      this.push(chunk)
    }).catch(err => this.fail(err))
  }

  override _destroy (err: Error | null, cb: (err?: Error | null) => void): void {
    // FileHandle.close waits for a read in flight.
    this.fh.close().then(() => cb(err), closeErr => cb(err ?? closeErr as Error))
  }

  private fail (err: unknown): void {
    this.destroy(err instanceof PmzError ? err : io('reading a blob file failed', err))
  }
}

async function writeAll (fh: FileHandle, buffer: Buffer, length: number, position: number): Promise<void> {
  let done = 0
  try {
    while (done < length) {
      const { bytesWritten } = await fh.write(buffer, done, length - done, position + done)
      if (bytesWritten === 0) throw new Error('write wrote nothing')
      done += bytesWritten
    }
  } catch (err) {
    throw io('writing a blob file failed', err)
  }
}

async function syncDir (dir: string): Promise<void> {
  const fh = await open(dir, 'r')
  try {
    await fh.sync()
  } finally {
    await fh.close()
  }
}

function io (message: string, cause: unknown): PmzError {
  if (isNoSpaceError(cause)) return new PmzError('ERR_NO_SPACE', `${message}: no space left on the data disk`, { cause })
  return new PmzError('ERR_STORE_IO', message, { cause })
}
