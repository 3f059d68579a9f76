import * as wire from './wire.js'

/** What a queue needs of a zeromq.js socket. */
export interface SendSocket {
  send(message: Array<Buffer | Uint8Array>): Promise<void>
}

/**
 * Told when one message could not be handed to libzmq: a function, or an
 * object with `sendFailed` (saves a closure per message on the hot path).
 */
export type SendFailure = ((err: unknown) => void) | { sendFailed(err: unknown): void }

/** Messages coalesced into one BATCH at most, and their bytes (a batch stops growing past it). */
const MAX_BATCH_MESSAGES = 256
const MAX_BATCH_BYTES = 1024 * 1024

/**
 * Serialises sends on one zeromq.js socket: zeromq.js refuses a send() while
 * another is still pending (EBUSY), and a send may wait (no connection yet,
 * high-water mark). A new request or one-way message is sent at the end of
 * the event-loop turn that queued it (setImmediate); replies and stream
 * frames go at once when the socket is free. What queued meanwhile leaves as
 * one BATCH message per destination, in order: each zeromq.js send costs a
 * pass through libzmq (events check, a mailbox signal to its I/O thread,
 * Curve, a syscall), so under load the requests of many HTTP calls, or the
 * replies of one batched LMDB commit, share one.
 */
export class SendQueue {
  private readonly messages: Array<Array<Buffer | Uint8Array> | undefined> = []
  private readonly failures: Array<SendFailure | undefined> = []
  private head = 0
  private busy = false
  private closed = false
  private currentFailure: SendFailure | undefined

  /**
   * @param limit messages a bounded push may find queued before it is refused
   * @param onError failures of messages pushed without their own callback
   * @param routed the first frame of every message is a ROUTER routing id
   *   (a batch holds messages to one destination only)
   */
  constructor (
    private readonly socket: SendSocket,
    private readonly limit: number,
    private readonly onError: (err: unknown) => void,
    private readonly routed = false
  ) {}

  /** Messages waiting for the socket, the one being sent excluded. */
  get size (): number { return this.messages.length - this.head }

  /**
   * Queues a message. A bounded push (new requests, one-way messages) waits
   * for the end of the turn, and is refused when `limit` messages already
   * wait; unbounded ones (replies and stream frames, which credit already
   * bounds) always go in, at once when the socket is free. False when refused.
   */
  push (message: Array<Buffer | Uint8Array>, bounded: boolean, onFailure?: SendFailure): boolean {
    if (this.closed) return false
    if (!this.busy && !bounded) {
      this.sendNow(message, onFailure)
      return true
    }
    if (bounded && this.size >= this.limit) return false
    this.messages.push(message)
    this.failures.push(onFailure)
    if (!this.busy) {
      // A new request: sent after the other I/O callbacks of this event-loop turn, so what they queue joins one batch.
      this.busy = true
      setImmediate(this.next)
    }
    return true
  }

  /** Drops what is queued, telling each failure callback; later pushes are refused. */
  close (err: unknown): void {
    if (this.closed) return
    this.closed = true
    const failures = this.failures.slice(this.head)
    this.messages.length = 0
    this.failures.length = 0
    this.head = 0
    for (const f of failures) if (f !== undefined) tell(f, err)
  }

  private sendNow (message: Array<Buffer | Uint8Array>, onFailure: SendFailure | undefined): void {
    this.busy = true
    this.currentFailure = onFailure
    let sent: Promise<void>
    try {
      sent = this.socket.send(message)
    } catch (err) {
      sent = Promise.reject(err)
    }
    sent.then(this.next, this.failed)
  }

  private readonly failed = (err: unknown): void => {
    const f = this.currentFailure
    try {
      if (f === undefined) this.onError(err)
      else tell(f, err)
    } finally {
      this.next()
    }
  }

  private readonly next = (): void => {
    this.currentFailure = undefined
    if (this.closed || this.head === this.messages.length) {
      this.busy = false
      return
    }
    const from = this.head
    const first = this.messages[from] as Array<Buffer | Uint8Array>
    let to = from + 1
    let bytes = sizeOf(first)
    while (to < this.messages.length && to - from < MAX_BATCH_MESSAGES && bytes < MAX_BATCH_BYTES) {
      const m = this.messages[to] as Array<Buffer | Uint8Array>
      if (this.routed && !sameRoute(first[0], m[0])) break
      bytes += sizeOf(m)
      to++
    }
    let message: Array<Buffer | Uint8Array>
    let onFailure: SendFailure | undefined
    if (to - from === 1) {
      message = first
      onFailure = this.failures[from]
    } else {
      const skip = this.routed ? 1 : 0
      const counts: number[] = []
      const frames: Array<Buffer | Uint8Array> = this.routed ? [first[0]] : []
      const failures: Array<SendFailure | undefined> = []
      frames.push(Buffer.alloc(0)) // the header, once the counts are known
      for (let i = from; i < to; i++) {
        const m = this.messages[i] as Array<Buffer | Uint8Array>
        counts.push(m.length - skip)
        for (let j = skip; j < m.length; j++) frames.push(m[j])
        failures.push(this.failures[i])
      }
      frames[skip] = wire.batch(counts)
      message = frames
      onFailure = (err: unknown) => {
        for (const f of failures) {
          if (f === undefined) this.onError(err)
          else tell(f, err)
        }
      }
    }
    for (let i = from; i < to; i++) {
      this.messages[i] = undefined
      this.failures[i] = undefined
    }
    this.head = to
    if (this.head === this.messages.length) {
      this.messages.length = 0
      this.failures.length = 0
      this.head = 0
    } else if (this.head >= 1024 && this.head * 2 >= this.messages.length) {
      this.messages.splice(0, this.head)
      this.failures.splice(0, this.head)
      this.head = 0
    }
    this.sendNow(message, onFailure)
  }
}

function sizeOf (message: Array<Buffer | Uint8Array>): number {
  let n = 0
  for (const f of message) n += f.length
  return n
}

function sameRoute (a: Buffer | Uint8Array, b: Buffer | Uint8Array): boolean {
  return a === b || (a.length === b.length && Buffer.compare(a, b) === 0)
}

function tell (f: SendFailure, err: unknown): void {
  if (typeof f === 'function') f(err)
  else f.sendFailed(err)
}
