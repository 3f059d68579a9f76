import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import type { Database, Transaction } from 'lmdb'
import { PmzError } from '../common/errors.js'
import { chunkCount, type ValueRecord } from './record.js'

export function chunkKey (contentId: Uint8Array, index: number): Buffer {
  const k = Buffer.allocUnsafe(contentId.length + 4)
  k.set(contentId, 0)
  k.writeUInt32BE(index, contentId.length)
  return k
}

/** The range of chunk keys of one content id, for getKeys({ start, end }). */
export function chunkRange (contentId: Uint8Array): { start: Buffer, end: Buffer } {
  return { start: chunkKey(contentId, 0), end: chunkKey(contentId, 0xffffffff) }
}

/**
 * Streams a value's chunks out of one LMDB read snapshot (a value of several
 * chunks written before blob files; see BlobReader for newer ones), one chunk per read,
 * and checks the sha256 at the end: a missing chunk, a short value or a hash
 * mismatch ends the stream with ERR_CORRUPT instead of a clean end, so a
 * client never mistakes a damaged value for a whole one.
 */
export class ChunkReader extends Readable {
  private index = 0
  private readonly count: number
  private readonly hash = createHash('sha256')
  private sent = 0
  private txn: Transaction | undefined

  constructor (private readonly chunks: Database<Buffer, Buffer>, txn: Transaction, private readonly record: ValueRecord) {
    super({ highWaterMark: record.chunkBytes })
    this.txn = txn
    this.count = chunkCount(record.size, record.chunkBytes)
  }

  override _read (): void {
    try {
      if (this.index >= this.count) {
        this.finish()
        return
      }
      const chunk = this.chunks.get(chunkKey(this.record.contentId as Uint8Array, this.index), { transaction: this.txn })
      if (chunk === undefined) throw new PmzError('ERR_CORRUPT', `chunk ${this.index} missing`)
      this.index++
      this.sent += chunk.length
      this.hash.update(chunk)
      this.push(chunk)
    } catch (err) {
      this.destroy(err as Error)
    }
  }

  private finish (): void {
    this.release()
    if (this.sent !== this.record.size || this.hash.digest('hex') !== this.record.sha256) {
      this.destroy(new PmzError('ERR_CORRUPT', 'content does not match its sha256'))
      return
    }
    this.push(null)
  }

  override _destroy (err: Error | null, cb: (err?: Error | null) => void): void {
    this.release()
    cb(err)
  }

  private release (): void {
    this.txn?.done()
    this.txn = undefined
  }
}
