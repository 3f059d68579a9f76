import type { Clock } from '../../common/clock.js'
import { PmzError, fromWireError, type WireError } from '../../common/errors.js'
import type { DeadlineList, Deadlined, Deadlines } from './deadlines.js'
import type { SendFailure } from './send-queue.js'
import { InboundStream, OutboundStream } from './stream.js'
import * as wire from './wire.js'
import { Kind } from './wire.js'
import type { Message, Reply } from './types.js'

/** What a call needs of the connection it runs on. */
export interface CallLink {
  readonly address: string
  readonly clock: Clock
  readonly idleMs: number
  /** Where the call's deadline is kept. */
  readonly deadlines: Deadlines
  /** Queues frames to the peer (stream and control frames: never refused for back-pressure). */
  push(frames: Array<Buffer | Uint8Array>, onFailure?: SendFailure): void
  /** The call is over on this side: forget its id. */
  forget(id: number): void
}

/**
 * One request on the requester's side, from the request until its reply's
 * message, its request body and its reply body are all done. Settles its
 * promise exactly once; a deadline, an abort or a lost connection also
 * stops both bodies.
 */
export class OutgoingCall implements Deadlined {
  private settled = false
  deadline = 0
  deadlinePrev: Deadlined | undefined
  deadlineNext: Deadlined | undefined
  deadlineList: DeadlineList | undefined
  private cancelled = false
  /** Listens on the caller's signal, when there is one. */
  private aborted: (() => void) | undefined
  requestBody: OutboundStream | undefined
  replyBody: InboundStream | undefined

  constructor (
    private readonly link: CallLink,
    readonly id: number,
    private readonly type: string,
    private readonly timeoutMs: number,
    private readonly signal: AbortSignal | undefined,
    private readonly resolve: (r: Reply) => void,
    private readonly reject: (err: Error) => void
  ) {
    link.deadlines.add(this, timeoutMs)
    if (signal !== undefined) {
      this.aborted = () => { this.fail(new PmzError('ERR_ABORTED', `${this.type} to ${this.link.address} aborted`), true) }
      signal.addEventListener('abort', this.aborted, { once: true })
    }
  }

  /** Starts pumping the request body; the receiver's initial credit lets it go at once. */
  sendBody (body: AsyncIterable<Uint8Array>): void {
    const id = this.id
    this.requestBody = new OutboundStream(body, {
      clock: this.link.clock,
      idleMs: this.link.idleMs,
      // A chunk that cannot go fails the call: the server must not read a body with a hole.
      data: (chunk, seq) => { this.link.push([wire.data(id, seq), chunk], this) },
      end: () => { this.link.push([wire.control(Kind.END, id)]) },
      abort: (e: WireError) => { this.link.push([wire.abort(id, e)]) },
      closed: () => { this.maybeDone() }
    })
    void this.requestBody.run()
  }

  /** SendFailure: the request could not be handed to libzmq (no connection in time). */
  sendFailed (err: unknown): void {
    const code = (err as { code?: string } | null)?.code ?? 'send failed'
    this.fail(new PmzError('ERR_UNAVAILABLE', `peer ${this.link.address} is unreachable: ${code}`, { cause: err }), false)
  }

  /** REP arrived. */
  replied (msg: Message, hasBody: boolean): void {
    if (this.settled) return
    this.settle()
    let body: InboundStream | undefined
    if (hasBody) {
      const id = this.id
      body = this.replyBody = new InboundStream({
        clock: this.link.clock,
        idleMs: this.link.idleMs,
        credit: n => { this.link.push([wire.credit(id, n)]) },
        stop: () => { this.link.push([wire.control(Kind.STOP, id)]) },
        closed: () => { this.maybeDone() }
      })
    }
    this.resolve(body === undefined ? { msg } : { msg, body })
    this.maybeDone()
  }

  /** ERR arrived: the handler threw; the server is done with the call. */
  errored (e: WireError): void {
    if (this.settled) return
    this.settle()
    this.requestBody?.stop(new PmzError('ERR_ABORTED', 'request failed'))
    this.reject(fromWireError(e))
    this.maybeDone()
  }

  /**
   * Fails the call here: rejects it if no reply came yet, else fails its reply
   * body; stops the request body. `cancelRemote` tells the server to stop too.
   */
  fail (err: Error, cancelRemote: boolean): void {
    if (cancelRemote && !this.cancelled && !this.isDone()) {
      this.cancelled = true
      this.link.push([wire.control(Kind.CANCEL, this.id)])
    }
    this.requestBody?.stop(err)
    if (!this.settled) {
      this.settle()
      this.reject(err)
    } else {
      this.replyBody?.fail(err, false)
    }
    this.maybeDone()
  }

  /** Deadlined: no reply in time. */
  expire (): void {
    if (this.settled) return
    this.fail(new PmzError('ERR_TIMEOUT', `no reply to ${this.type} from ${this.link.address} within ${this.timeoutMs} ms`), true)
  }

  private settle (): void {
    this.settled = true
    this.link.deadlines.remove(this)
  }

  private isDone (): boolean {
    return this.settled && (this.requestBody === undefined || this.requestBody.done) &&
      (this.replyBody === undefined || this.replyBody.finished)
  }

  private maybeDone (): void {
    if (!this.isDone()) return
    if (this.aborted !== undefined) this.signal?.removeEventListener('abort', this.aborted)
    this.link.forget(this.id)
  }
}
