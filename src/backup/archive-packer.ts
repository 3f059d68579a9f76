import { PassThrough, type Readable } from 'node:stream'
import tar, { type Pack } from 'tar-stream'
import { EntryDigest, MANIFEST_NAME, TRAILER_NAME, entryHeader } from './format.js'
import type { ArchiveMeta, Manifest, Trailer } from './types.js'

/** A writable part of tar-stream (a streamx Writable): what waiting for room needs. */
interface Sink {
  write(chunk: Uint8Array): boolean
  end(): void
  destroyed: boolean
  once(event: 'drain' | 'close', fn: () => void): void
  off(event: 'drain' | 'close', fn: () => void): void
  on(event: 'error', fn: (err: Error) => void): void
}

/**
 * Writes an archive one entry at a time, with back-pressure: an entry's
 * bytes go in only as fast as the reader of `stream` takes them, so memory
 * stays bounded by the stream buffers whatever the size of a value. The
 * manifest goes first, then the keys, then `finish` adds the trailer.
 */
export class ArchivePacker {
  /** The tar bytes, a Node stream (what HTTP answers and files take). */
  readonly stream: Readable
  private readonly pack: Pack = tar.pack()
  private readonly seen = new EntryDigest()

  constructor () {
    const out = new PassThrough()
    this.pack.pipe(out)
    this.pack.on('error', (err: Error) => out.destroy(err))
    // The reader went away (a client closed the connection): stop packing.
    out.on('close', () => { if (!out.readableEnded) this.pack.destroy() })
    this.stream = out
  }

  get keys (): number { return this.seen.keys }
  get bytes (): number { return this.seen.bytes }

  async manifest (manifest: Manifest): Promise<void> {
    await this.whole(MANIFEST_NAME, Buffer.from(JSON.stringify(manifest)))
  }

  /** Adds a key's entry; `body` must hold exactly `meta.size` bytes. */
  async add (meta: ArchiveMeta, body: Uint8Array | AsyncIterable<Uint8Array>): Promise<void> {
    if (body instanceof Uint8Array) {
      await this.entry(entryHeader(meta), body)
    } else {
      await this.entry(entryHeader(meta), undefined, async sink => {
        for await (const piece of body) {
          if (!sink.write(piece)) await roomIn(sink)
        }
      })
    }
    this.seen.add(meta)
  }

  /** Adds the trailer and ends the archive. */
  async finish (finishedAt: string): Promise<Trailer> {
    const trailer: Trailer = { keys: this.seen.keys, bytes: this.seen.bytes, digest: this.seen.digest(), finishedAt }
    await this.whole(TRAILER_NAME, Buffer.from(JSON.stringify(trailer)))
    this.pack.finalize()
    return trailer
  }

  /** Ends the archive with an error: the reader sees its stream fail, never a shorter archive that looks whole. */
  fail (err: Error): void {
    this.pack.destroy(err)
  }

  private async whole (name: string, bytes: Buffer): Promise<void> {
    await this.entry({ name, size: bytes.length, mode: 0o644, mtime: new Date(), type: 'file' }, bytes)
  }

  private async entry (header: Partial<tar.Header> & { name: string }, bytes?: Uint8Array, write?: (sink: Sink) => Promise<void>): Promise<void> {
    if (this.pack.destroyed) throw new Error('archive closed')
    let sink: Sink | undefined
    const done = new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null): void => { if (err != null) reject(err); else resolve() }
      sink = (bytes !== undefined ? this.pack.entry(header, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), cb) : this.pack.entry(header, cb)) as unknown as Sink
    })
    // An entry destroyed with the pack (the reader went away) also emits its error as an
    // event: unheard, that would end the process. The callback above carries it.
    sink?.on('error', () => {})
    // When `write` fails first, `done` is never awaited: its rejection is that same failure.
    done.catch(() => {})
    if (write !== undefined && sink !== undefined) {
      try {
        await write(sink)
        sink.end()
      } catch (err) {
        this.pack.destroy(err as Error)
        throw err
      }
    }
    await done
  }
}

/** Resolves once `sink` takes more, or rejects when it closed first. */
async function roomIn (sink: Sink): Promise<void> {
  if (sink.destroyed) throw new Error('archive closed')
  await new Promise<void>((resolve, reject) => {
    const onDrain = (): void => { sink.off('close', onClose); resolve() }
    const onClose = (): void => { sink.off('drain', onDrain); reject(new Error('archive closed')) }
    sink.once('drain', onDrain)
    sink.once('close', onClose)
  })
}
