import type { Clock, Timer } from '../../common/clock.js'
import { PmzError, toWireError, type WireError } from '../../common/errors.js'
import { STREAM_CHUNK_BYTES, STREAM_CREDIT_CHUNKS } from './constants.js'

/*
 * Credit-based flow control of a body. The sender starts with
 * STREAM_CREDIT_CHUNKS chunks of credit; the receiver hands credit back as
 * its consumer takes chunks (in batches of half the window). So at most
 * STREAM_CREDIT_CHUNKS x STREAM_CHUNK_BYTES of one body are ever buffered or
 * in flight, whatever its size, and a consumer that stops reading stalls the
 * sender. A side that sees no progress for the idle timeout aborts.
 */

const CREDIT_BATCH = Math.max(1, Math.floor(STREAM_CREDIT_CHUNKS / 2))

/** How a receiving stream talks back to its sender and to its owner. */
export interface InboundStreamIo {
  clock: Clock
  idleMs: number
  /** Tells the sender it may send `n` more chunks. */
  credit(n: number): void
  /** Tells the sender the consumer stopped reading. */
  stop(): void
  /** The stream reached its end, one way or another: forget it. */
  closed(): void
}

/** The receiving end of a body: an async iterator fed by DATA frames. */
export class InboundStream implements AsyncIterableIterator<Uint8Array> {
  private readonly chunks: Uint8Array[] = []
  private ended = false
  private error: Error | undefined
  private isClosed = false
  private waiter: { resolve: (r: IteratorResult<Uint8Array>) => void, reject: (err: Error) => void } | undefined
  private idle: Timer | undefined
  private unacked = 0
  private expected = 0

  constructor (private readonly io: InboundStreamIo) {}

  [Symbol.asyncIterator] (): this { return this }

  /** Whether END, ABORT or a local failure has been seen. */
  get finished (): boolean { return this.ended || this.error !== undefined }

  /** Chunk `seq` arrived. A sender that overruns its credit, or a lost chunk, fails the stream. */
  push (chunk: Uint8Array, seq: number): void {
    if (this.finished) return
    if (seq !== this.expected++) {
      this.fail(new PmzError('ERR_CORRUPT', `body chunk ${this.expected - 1} lost`), true)
      return
    }
    if (this.chunks.length >= STREAM_CREDIT_CHUNKS) {
      this.fail(new PmzError('ERR_BAD_REQUEST', 'stream sender exceeded its credit'), true)
      return
    }
    if (this.waiter !== undefined) this.deliver({ value: chunk, done: false })
    else this.chunks.push(chunk)
  }

  /** END arrived. */
  end (): void {
    if (this.finished) return
    this.ended = true
    if (this.waiter !== undefined && this.chunks.length === 0) this.deliver({ value: undefined, done: true })
    this.close()
  }

  /** ABORT arrived, or the call failed here (deadline, cancel, shutdown); `notify` tells the sender to stop. */
  fail (err: Error, notify: boolean): void {
    if (this.finished) return
    this.error = err
    this.chunks.length = 0
    if (notify) this.io.stop()
    if (this.waiter !== undefined) {
      const w = this.waiter
      this.waiter = undefined
      this.idle?.cancel()
      w.reject(err)
    }
    this.close()
  }

  async next (): Promise<IteratorResult<Uint8Array>> {
    const chunk = this.chunks.shift()
    if (chunk !== undefined) {
      this.consumed()
      return { value: chunk, done: false }
    }
    if (this.error !== undefined) throw this.error
    if (this.ended) return { value: undefined, done: true }
    if (this.waiter !== undefined) throw new PmzError('ERR_BAD_REQUEST', 'concurrent next() on a body stream')
    return await new Promise((resolve, reject) => {
      this.waiter = { resolve, reject }
      this.idle = this.io.clock.setTimeout(() => {
        this.fail(new PmzError('ERR_TIMEOUT', `body stream idle for ${this.io.idleMs} ms`), true)
      }, this.io.idleMs)
    })
  }

  /** The consumer stopped early (`break`): tell the sender, drop what is buffered. */
  async return (): Promise<IteratorResult<Uint8Array>> {
    if (!this.finished) this.fail(new PmzError('ERR_ABORTED', 'body stream closed by its reader'), true)
    return { value: undefined, done: true }
  }

  private deliver (r: IteratorResult<Uint8Array>): void {
    const w = this.waiter
    if (w === undefined) return
    this.waiter = undefined
    this.idle?.cancel()
    if (r.done !== true) this.consumed()
    w.resolve(r)
  }

  private consumed (): void {
    if (this.finished) return
    if (++this.unacked >= CREDIT_BATCH) {
      this.io.credit(this.unacked)
      this.unacked = 0
    }
  }

  private close (): void {
    if (this.isClosed) return
    this.isClosed = true
    this.io.closed()
  }
}

/** How a sending stream reaches its receiver and its owner. */
export interface OutboundStreamIo {
  clock: Clock
  idleMs: number
  /** Sends chunk number `seq`. */
  data(chunk: Uint8Array, seq: number): void
  end(): void
  abort(e: WireError): void
  /** The pump ended (sent, aborted or stopped): forget it. */
  closed(): void
}

/**
 * The sending end of a body: pulls the source only while it has credit, cuts
 * it into chunks of at most STREAM_CHUNK_BYTES. Chunks go out as they are
 * (no copy), so a source must not reuse a buffer it has yielded.
 */
export class OutboundStream {
  private credit = STREAM_CREDIT_CHUNKS
  private stopped: Error | undefined
  private wake: (() => void) | undefined
  private isDone = false
  private seq = 0

  constructor (private readonly source: AsyncIterable<Uint8Array>, private readonly io: OutboundStreamIo) {}

  get done (): boolean { return this.isDone }

  /** CREDIT arrived. */
  grant (n: number): void {
    this.credit += n
    this.wakeUp()
  }

  /** The receiver stopped, the call was cancelled or the transport stops: end the pump, close the source. */
  stop (reason: Error): void {
    if (this.stopped !== undefined) return
    this.stopped = reason
    this.wakeUp()
  }

  /** Sends the whole source; never throws. */
  async run (): Promise<void> {
    try {
      for await (const piece of this.source) {
        if (!(piece instanceof Uint8Array)) throw new PmzError('ERR_BAD_REQUEST', 'a body must yield Uint8Array chunks')
        for (let offset = 0; offset < piece.byteLength; offset += STREAM_CHUNK_BYTES) {
          if (!(await this.acquire())) return
          this.io.data(piece.byteLength <= STREAM_CHUNK_BYTES ? piece : piece.subarray(offset, offset + STREAM_CHUNK_BYTES), this.seq++)
        }
        if (this.stopped !== undefined) return
      }
      if (this.stopped === undefined) this.io.end()
    } catch (err) {
      if (this.stopped === undefined) this.io.abort(toWireError(err))
    } finally {
      this.isDone = true
      this.io.closed()
    }
  }

  private async acquire (): Promise<boolean> {
    while (this.stopped === undefined && this.credit === 0) {
      await new Promise<void>(resolve => {
        this.wake = resolve
        const idle = this.io.clock.setTimeout(() => {
          if (this.stopped !== undefined) return
          this.stopped = new PmzError('ERR_TIMEOUT', `no credit from the body's reader for ${this.io.idleMs} ms`)
          this.io.abort(toWireError(this.stopped))
          resolve()
        }, this.io.idleMs)
        const wake = this.wake
        this.wake = () => { idle.cancel(); wake() }
      })
    }
    if (this.stopped !== undefined) return false
    this.credit--
    return true
  }

  private wakeUp (): void {
    const w = this.wake
    this.wake = undefined
    w?.()
  }
}
