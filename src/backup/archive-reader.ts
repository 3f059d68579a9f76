import { createHash } from 'node:crypto'
import tar, { type Extract, type Header } from 'tar-stream'
import { EntryDigest, MANIFEST_NAME, TRAILER_NAME, badArchive, checkTrailer, parseManifest, readEntryMeta } from './format.js'
import type { ArchiveMeta, Manifest, Trailer } from './types.js'

/** Largest manifest.json read, bytes (the tables of a cluster are small). */
const MAX_MANIFEST_BYTES = 16 * 1024 * 1024
const MAX_TRAILER_BYTES = 64 * 1024
const TAR_BLOCK = 512

/** What a reader does with the parts of an archive, in order. Each entry's body must be read to its end (or the visitor throws). */
export interface ArchiveVisitor {
  manifest?(manifest: Manifest): Promise<void> | void
  /** `dataOffset`: where the entry's bytes start in the archive (what a reader of the archive's file can seek to). */
  entry(meta: ArchiveMeta, body: AsyncIterable<Uint8Array>, at: { dataOffset: number }): Promise<void>
  /** After the last entry, before the trailer is taken as the end (e.g. to wait for writes in flight). */
  flush?(): Promise<void>
}

/** Reads every entry's bytes and checks them against its sha256: what verifies an archive. */
export const verifyEntries: ArchiveVisitor = {
  async entry (meta, body) {
    const hash = createHash('sha256')
    for await (const piece of body) hash.update(piece)
    if (hash.digest('hex') !== meta.sha256) throw badArchive('the bytes do not match their sha256', `keys${meta.key}`)
  }
}

/** Reads past every entry's bytes: the structure, counts and digest are still checked. */
export const skipEntries: ArchiveVisitor = {
  async entry (_meta, body) {
    for await (const piece of body) void piece
  }
}

/**
 * Reads an archive pushed to it chunk by chunk (`write`, then `end`) and
 * checks its structure as it goes: manifest.json first, key entries with
 * their metadata, trailer.json last and agreeing with the entries (count,
 * bytes, digest), nothing after it. Any fault rejects `write` or `end` with
 * ERR_BAD_REQUEST naming the entry. Memory is bounded by the tar parser's
 * buffers: an entry's bytes stream through the visitor.
 */
export class ArchiveReader {
  private readonly extract: Extract = tar.extract()
  private readonly reading: Promise<{ manifest: Manifest, trailer: Trailer }>
  private failure: unknown

  constructor (private readonly visitor: ArchiveVisitor) {
    this.reading = this.read().catch(err => {
      this.failure ??= err
      this.extract.destroy()
      throw this.failure
    })
    this.reading.catch(() => {})
  }

  async write (chunk: Uint8Array): Promise<void> {
    if (this.failure !== undefined) throw this.failure
    if (this.extract.destroyed) return await this.closed()
    if (this.extract.write(chunk)) return
    await new Promise<void>(resolve => {
      const done = (): void => { this.extract.off('drain', done).off('close', done); resolve() }
      this.extract.on('drain', done).on('close', done)
    })
    if (this.failure !== undefined) throw this.failure
    if (this.extract.destroyed) await this.closed()
  }

  /** Ends the input; resolves with the manifest and trailer once everything checked out. */
  async end (): Promise<{ manifest: Manifest, trailer: Trailer }> {
    if (this.failure === undefined && !this.extract.destroyed) this.extract.end(undefined)
    return await this.reading
  }

  /** Stops reading (the source failed); `end` then rejects. */
  abort (err: Error): void {
    this.failure ??= err
    this.extract.destroy()
  }

  private async closed (): Promise<never> {
    await this.reading
    throw badArchive('the archive ended early')
  }

  private async read (): Promise<{ manifest: Manifest, trailer: Trailer }> {
    const seen = new EntryDigest()
    let manifest: Manifest | undefined
    let trailer: Trailer | undefined
    try {
      for await (const entry of this.extract as unknown as AsyncIterable<AsyncIterable<Uint8Array> & { header: Header, offset: number }>) {
        const name = entry.header.name
        if (trailer !== undefined) throw badArchive(`an entry after ${TRAILER_NAME}`, name)
        if (manifest === undefined) {
          if (name !== MANIFEST_NAME) throw badArchive(`the first entry must be ${MANIFEST_NAME}`, name)
          manifest = parseManifest(await readSmall(entry, MAX_MANIFEST_BYTES, name))
          await this.visitor.manifest?.(manifest)
        } else if (name === TRAILER_NAME) {
          await this.visitor.flush?.()
          trailer = checkTrailer(await readSmall(entry, MAX_TRAILER_BYTES, name), seen)
        } else {
          const meta = readEntryMeta(entry.header)
          // tar-stream's `offset` is that of the entry's own header block (after any pax header): its bytes follow it.
          await this.visitor.entry(meta, entry, { dataOffset: entry.offset + TAR_BLOCK })
          seen.add(meta)
        }
      }
    } catch (err) {
      // tar-stream's own faults (a bad header, the data ending inside an entry) are the archive's.
      if (err instanceof Error && !('code' in err)) throw badArchive(err.message)
      throw err
    }
    if (manifest === undefined) throw badArchive(`no ${MANIFEST_NAME}: not a pmz backup, or empty`)
    if (trailer === undefined) throw badArchive(`no ${TRAILER_NAME}: the archive is cut short`)
    return { manifest, trailer }
  }
}

/** Feeds a whole source through a reader. */
export async function readArchive (source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, visitor: ArchiveVisitor): Promise<{ manifest: Manifest, trailer: Trailer }> {
  const reader = new ArchiveReader(visitor)
  try {
    for await (const chunk of source) await reader.write(chunk)
  } catch (err) {
    reader.abort(err as Error)
    throw err
  }
  return await reader.end()
}

async function readSmall (body: AsyncIterable<Uint8Array>, max: number, name: string): Promise<Buffer> {
  const parts: Uint8Array[] = []
  let size = 0
  for await (const piece of body) {
    size += piece.length
    if (size > max) throw badArchive(`larger than ${max} bytes`, name)
    parts.push(piece)
  }
  return Buffer.concat(parts, size)
}
