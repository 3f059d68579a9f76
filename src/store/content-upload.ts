import { createHash } from 'node:crypto'
import { PmzError } from '../common/errors.js'
import type { BlobWriter } from './blob-files.js'
import type { ValueRecord } from './record.js'

/** What an upload needs of the store it writes into. */
export interface UploadHost {
  /** Records the upload as pending (removed at the next start if it never completes) and creates its file. */
  createBlob(contentId: Uint8Array, key: string): Promise<BlobWriter>
  /** Removes what an upload left: its file and its pending entry. */
  discardUpload(contentId: Uint8Array): Promise<void>
}

/**
 * Takes an incoming byte stream in. The first chunk is kept in memory, so
 * that a value of one chunk is written with its record in one transaction;
 * once the value passes one chunk (or its size hint says it will) it goes to
 * its own file, recorded as pending first.
 */
export class ContentUpload {
  size = 0
  markedPending = false
  private readonly hash = createHash('sha256')
  private first: Buffer
  private fill = 0
  private writer: BlobWriter | undefined
  private readonly toFile: boolean

  constructor (
    private readonly store: UploadHost,
    readonly contentId: Buffer,
    private readonly key: string,
    private readonly maxBytes: number,
    private readonly chunkBytes: number,
    sizeHint?: number
  ) {
    const hinted = sizeHint !== undefined && sizeHint >= 0
    this.toFile = hinted && sizeHint > chunkBytes
    this.first = Buffer.allocUnsafe(this.toFile ? 0 : hinted ? Math.max(sizeHint, 1) : chunkBytes)
  }

  /** Whether the content went to a file. */
  get isFile (): boolean {
    return this.writer !== undefined
  }

  async write (piece: Uint8Array): Promise<void> {
    this.size += piece.length
    if (this.size > this.maxBytes) throw new PmzError('ERR_TOO_LARGE', 'value larger than maxsize', { details: { maxBytes: this.maxBytes } })
    this.hash.update(piece)
    if (this.writer === undefined && !this.toFile && this.size <= this.chunkBytes) {
      if (this.size > this.first.length) this.grow()
      this.first.set(piece, this.fill)
      this.fill += piece.length
      return
    }
    if (this.writer === undefined) {
      this.markedPending = true // set first: abort removes the entry even if creating the file fails
      this.writer = await this.store.createBlob(this.contentId, this.key)
      if (this.fill > 0) await this.writer.write(this.first.subarray(0, this.fill))
      this.first = Buffer.alloc(0)
      this.fill = 0
    }
    await this.writer.write(piece)
  }

  /**
   * Reads `body` in and returns the record of the value it now holds;
   * `fields` (asked once the body is in) gives its version, type and times.
   * Nothing is committed yet.
   */
  async receive (body: AsyncIterable<Uint8Array>, signal: AbortSignal | undefined,
    fields: () => Pick<ValueRecord, 'version' | 'contentType' | 'created' | 'expires'>): Promise<{ record: ValueRecord, last: Buffer | undefined }> {
    for await (const piece of body) {
      signal?.throwIfAborted()
      await this.write(piece)
    }
    const { size, sha256, last } = await this.end()
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
      contentId: size === 0 ? null : this.contentId,
      chunkBytes: this.chunkBytes
    }
    if (this.isFile) record.blob = true
    return { record, last }
  }

  async end (): Promise<{ size: number, sha256: string, last: Buffer | undefined }> {
    await this.writer?.end()
    return { size: this.size, sha256: this.hash.digest('hex'), last: this.fill > 0 ? this.first.subarray(0, this.fill) : undefined }
  }

  async abort (): Promise<void> {
    try {
      await this.writer?.close()
    } finally {
      if (this.markedPending) await this.store.discardUpload(this.contentId)
    }
  }

  /** The size hint was short: continue in a whole chunk buffer. */
  private grow (): void {
    const bigger = Buffer.allocUnsafe(this.chunkBytes)
    this.first.copy(bigger, 0, 0, this.fill)
    this.first = bigger
  }
}
