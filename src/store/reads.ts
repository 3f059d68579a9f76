import { constants, existsSync } from 'node:fs'
import { copyFile, open } from 'node:fs/promises'
import type { Clock } from '../common/clock.js'
import { sha256Hex } from '../common/digest.js'
import { PmzError, notFound } from '../common/errors.js'
import { compareHlc } from '../common/hlc.js'
import { ChunkReader, chunkKey } from './chunk-reader.js'
import { isLive, toMeta, type ValueMeta, type ValueRecord } from './record.js'
import type { Tables } from './tables.js'
import type { StoredValue } from './types.js'
import type { Key } from './key.js'

/** Times a read takes the record again when its content went away under it. */
const GET_RETRIES = 3

/**
 * The value of `key` for a GET. Reads the record again (at most `retries`
 * times) when its content went away under it: a newer version or a delete.
 */
export async function readValue (t: Tables, clock: Clock, key: Key, retries = GET_RETRIES): Promise<StoredValue> {
  // Both reads below run in one synchronous block, so they see the same
  // snapshot (lmdb-js renews its shared read transaction only between
  // event-loop turns): a value of one chunk needs no pinned transaction.
  const record = t.meta.get(key)
  if (!isLive(record, clock.now())) throw notFound('key not found')
  if (record.contentId === null) return { meta: toMeta(key, record), body: Buffer.alloc(0) }
  if (record.blob === true) return await readBlob(t, clock, key, record, retries)
  if (record.size > record.chunkBytes) return stream(t, clock, key) ?? await retry(t, clock, key, retries)
  const body = t.readChunk(chunkKey(record.contentId, 0))
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
async function readBlob (t: Tables, clock: Clock, key: Key, record: ValueRecord, retries: number): Promise<StoredValue> {
  const body = await t.files.openReader(record.contentId as Uint8Array, record.size, record.sha256)
  if (body !== undefined) return { meta: toMeta(key, record), body }
  const now = t.meta.get(key)
  if (now !== undefined && compareHlc(now.version, record.version) === 0) {
    throw new PmzError('ERR_CORRUPT', 'content file missing', { details: { key } })
  }
  return await retry(t, clock, key, retries)
}

async function retry (t: Tables, clock: Clock, key: Key, retries: number): Promise<StoredValue> {
  if (retries <= 0) throw new PmzError('ERR_UNAVAILABLE', 'value replaced while being read', { retryable: true, details: { key } })
  return await readValue(t, clock, key, retries - 1)
}

/**
 * A value of several LMDB chunks (a record from before blob files): a read
 * transaction pinned until the stream ends, the record read again inside
 * it; undefined when that record no longer has chunks.
 */
function stream (t: Tables, clock: Clock, key: Key): StoredValue | undefined {
  const txn = t.env.useReadTransaction()
  try {
    const record = t.meta.get(key, { transaction: txn })
    if (!isLive(record, clock.now())) throw notFound('key not found')
    if (record.blob === true || record.size <= record.chunkBytes) {
      txn.done()
      return undefined
    }
    return { meta: toMeta(key, record), body: new ChunkReader(t.chunks, txn, record) }
  } catch (err) {
    txn.done()
    throw err
  }
}

/**
 * Writes the live value of `key` to the new file `dest` (its directory must
 * exist) and returns the value's metadata. A value in a blob file is copied
 * by the kernel: a reflink where the file system has them (btrfs, XFS), so no
 * byte is copied; never a link to the blob itself, which a job could write
 * into. The others are written from LMDB. Reads the record again when the
 * blob went away under it, as readValue does.
 */
export async function copyValue (t: Tables, clock: Clock, key: Key, dest: string, retries = GET_RETRIES): Promise<ValueMeta> {
  const record = t.meta.get(key)
  if (!isLive(record, clock.now())) throw notFound('key not found')
  if (record.blob !== true || record.contentId === null) {
    const value = await readValue(t, clock, key, retries)
    const fh = await open(dest, 'wx').catch(err => { throw new PmzError('ERR_STORE_IO', 'creating a copy of a value failed', { cause: err }) })
    try {
      if (Buffer.isBuffer(value.body)) await fh.write(value.body)
      else for await (const piece of value.body) await fh.write(piece as Buffer)
    } finally {
      await fh.close()
    }
    return value.meta
  }
  const src = t.files.pathOf(record.contentId)
  try {
    await copyFile(src, dest, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE)
    return toMeta(key, record)
  } catch (err) {
    const gone = (err as NodeJS.ErrnoException).code === 'ENOENT' && !existsSync(src)
    if (!gone) throw new PmzError('ERR_STORE_IO', 'copying a value to a file failed', { cause: err })
  }
  const now = t.meta.get(key)
  if (now !== undefined && compareHlc(now.version, record.version) === 0) {
    throw new PmzError('ERR_CORRUPT', 'content file missing', { details: { key } })
  }
  if (retries <= 0) throw new PmzError('ERR_UNAVAILABLE', 'value replaced while being read', { retryable: true, details: { key } })
  return await copyValue(t, clock, key, dest, retries - 1)
}
