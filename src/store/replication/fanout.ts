import { TIMED_OUT, beforeTimeout, type Clock, type Timer } from '../../common/clock.js'
import { PmzError } from '../../common/errors.js'

/**
 * One replica's copy of a write's byte stream: a bounded queue the fan-out
 * fills and the replica (local store or transport) drains. A cancelled sink
 * ends its reader with an error, never a clean end, so a replica cannot
 * commit a truncated value.
 */
export class FanoutSink implements AsyncIterable<Uint8Array> {
  private queue: Uint8Array[] = []
  private queued = 0
  private ended = false
  private error: Error | undefined
  private cancelledBy: Error | undefined
  private wakeReader: (() => void) | undefined
  private wakeWriter: (() => void) | undefined

  constructor (
    private readonly clock: Clock,
    private readonly highWaterBytes: number,
    private readonly stallMs: number,
    /** Called once when the sink is cut off because its reader stalled. */
    private readonly onStall: () => void
  ) {}

  get cancelled (): boolean { return this.cancelledBy !== undefined }

  /** Queues a piece; resolves once the queue has room again (at once for a cancelled sink). */
  async push (piece: Uint8Array): Promise<void> {
    if (this.cancelled) return
    this.queue.push(piece)
    this.queued += piece.length
    this.wake('reader')
    if (this.queued < this.highWaterBytes) return
    let timer: Timer | undefined
    try {
      timer = this.clock.setTimeout(() => {
        this.cancel(new PmzError('ERR_TIMEOUT', 'replica stopped reading the write'))
        this.onStall()
      }, this.stallMs)
      while (this.queued >= this.highWaterBytes && !this.cancelled) {
        await new Promise<void>(resolve => { this.wakeWriter = resolve })
      }
    } finally {
      timer?.cancel()
    }
  }

  end (): void {
    this.ended = true
    this.wake('reader')
  }

  fail (err: Error): void {
    this.error ??= err
    this.wake('reader')
  }

  /** Stops feeding this replica: its reader fails, pending and later pushes return at once. */
  cancel (reason: Error = new PmzError('ERR_ABORTED', 'replica dropped from the write')): void {
    if (this.cancelled) return
    this.cancelledBy = reason
    this.queue = []
    this.queued = 0
    this.wake('writer')
    this.wake('reader')
  }

  async * [Symbol.asyncIterator] (): AsyncIterator<Uint8Array> {
    for (;;) {
      if (this.cancelledBy !== undefined) throw this.cancelledBy
      const piece = this.queue.shift()
      if (piece !== undefined) {
        this.queued -= piece.length
        this.wake('writer')
        yield piece
        continue
      }
      if (this.error !== undefined) throw this.error
      if (this.ended) return
      await new Promise<void>(resolve => { this.wakeReader = resolve })
    }
  }

  private wake (who: 'reader' | 'writer'): void {
    const fn = who === 'reader' ? this.wakeReader : this.wakeWriter
    if (who === 'reader') this.wakeReader = undefined
    else this.wakeWriter = undefined
    fn?.()
  }
}

/**
 * Reads `source` once and feeds every piece to every sink still in the
 * write, waiting for the slowest before reading on (back-pressure; memory
 * stays at most `highWaterBytes` per sink). Fails with ERR_TOO_LARGE past
 * `maxBytes`, and with ERR_QUORUM_NOT_MET once fewer than `minSinks` sinks
 * remain. Every sink is ended on success and failed on error. Returns the
 * byte count.
 */
export async function fanOut (source: AsyncIterable<Uint8Array>, sinks: FanoutSink[], options: { maxBytes: number, minSinks: number, signal?: AbortSignal }): Promise<number> {
  let size = 0
  try {
    for await (const piece of source) {
      options.signal?.throwIfAborted()
      size += piece.length
      if (size > options.maxBytes) throw new PmzError('ERR_TOO_LARGE', 'value larger than maxsize', { details: { maxBytes: options.maxBytes } })
      const open = sinks.filter(s => !s.cancelled)
      if (open.length < options.minSinks) throw quorumLost(open.length, options.minSinks)
      await Promise.all(open.map(async s => { await s.push(piece) }))
    }
    const open = sinks.filter(s => !s.cancelled)
    if (open.length < options.minSinks) throw quorumLost(open.length, options.minSinks)
    for (const s of sinks) s.end()
    return size
  } catch (err) {
    for (const s of sinks) s.fail(err as Error)
    throw err
  }
}

/**
 * The pieces of `source` joined into pieces of at least `bytes` (the last
 * may be shorter): an HTTP body comes in pieces of 16 to 64 KiB, and each
 * piece a replica is sent costs a mesh message and its share of credit, so
 * one copy of the bytes here saves several sends. Only while they keep
 * coming: what is held goes on once the source had nothing new for `waitMs`
 * (a slow client's bytes are not held back from the replicas, whose streams
 * would otherwise sit idle). One piece is read ahead while the caller takes
 * the last.
 */
export async function * inPiecesOf (source: AsyncIterable<Uint8Array>, bytes: number, timing: { clock: Clock, waitMs: number }): AsyncIterable<Uint8Array> {
  const it = source[Symbol.asyncIterator]()
  let held: Uint8Array[] = []
  let size = 0
  let next = it.next()
  let finished = false
  try {
    for (;;) {
      const r = size === 0 ? await next : await beforeTimeout(timing.clock, next, timing.waitMs)
      if (r === TIMED_OUT) {
        yield joined(held, size)
        held = []
        size = 0
        continue
      }
      if (r.done === true) {
        finished = true
        break
      }
      next = it.next()
      const piece = r.value
      if (size === 0 && piece.length >= bytes) {
        yield piece
        continue
      }
      held.push(piece)
      size += piece.length
      if (size < bytes) continue
      yield joined(held, size)
      held = []
      size = 0
    }
    if (size > 0) yield joined(held, size)
  } finally {
    if (!finished) {
      // Stopped early (the caller, or the source failed): a read ahead that fails now is of no interest.
      next.catch(() => {})
      await it.return?.()
    }
  }
}

function joined (pieces: Uint8Array[], size: number): Uint8Array {
  return pieces.length === 1 ? pieces[0] : Buffer.concat(pieces, size)
}

function quorumLost (open: number, needed: number): PmzError {
  return new PmzError('ERR_QUORUM_NOT_MET', `only ${open} replicas still take the write, ${needed} needed`, { details: { replicas: open, writeQuorum: needed } })
}
