/** What a queue needs of a zeromq.js socket. */
export interface SendSocket {
  send(message: Array<Buffer | Uint8Array>): Promise<void>
}

/**
 * Told when one message could not be handed to libzmq: a function, or an
 * object with `sendFailed` (saves a closure per message on the hot path).
 */
export type SendFailure = ((err: unknown) => void) | { sendFailed(err: unknown): void }

/**
 * Serialises sends on one zeromq.js socket: zeromq.js refuses a send() while
 * another is still pending (EBUSY), and a send may wait (no connection yet,
 * high-water mark). When the socket takes messages at once, as it mostly
 * does, a message goes straight through; otherwise it waits here, in order.
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
   */
  constructor (
    private readonly socket: SendSocket,
    private readonly limit: number,
    private readonly onError: (err: unknown) => void
  ) {}

  /** Messages waiting for the socket, the one being sent excluded. */
  get size (): number { return this.messages.length - this.head }

  /**
   * Queues a message. A bounded push (new requests, one-way messages) is
   * refused when `limit` messages already wait; unbounded ones (replies and
   * stream frames, which credit already bounds) always go in. False when refused.
   */
  push (message: Array<Buffer | Uint8Array>, bounded: boolean, onFailure?: SendFailure): boolean {
    if (this.closed) return false
    if (!this.busy) {
      this.sendNow(message, onFailure)
      return true
    }
    if (bounded && this.size >= this.limit) return false
    this.messages.push(message)
    this.failures.push(onFailure)
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
    const message = this.messages[this.head] as Array<Buffer | Uint8Array>
    const onFailure = this.failures[this.head]
    this.messages[this.head] = undefined
    this.failures[this.head] = undefined
    this.head++
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

function tell (f: SendFailure, err: unknown): void {
  if (typeof f === 'function') f(err)
  else f.sendFailed(err)
}
