import type { Clock } from '../../common/clock.js'
import { PmzError, fromWireError, isPmzError, toWireError, type WireError } from '../../common/errors.js'
import type { Logger } from '../../common/logger.js'
import { MAX_FRAME_BYTES, WIRE_VERSION } from './constants.js'
import type { DeadlineList, Deadlined, Deadlines } from './deadlines.js'
import type { SendFailure } from './send-queue.js'
import { InboundStream, OutboundStream } from './stream.js'
import { isReply, type IncomingRequest, type Message, type Reply, type RequestHandler } from './types.js'
import * as wire from './wire.js'
import { Kind, type Header } from './wire.js'

/** What a call needs of the ROUTER side of its transport. */
export interface ServeHost {
  readonly clock: Clock
  readonly log: Logger
  readonly idleMs: number
  /** Where the requester's deadline is kept. */
  readonly deadlines: Deadlines
  /** Queues frames to the requester behind routing id `rid`; `onFailure` when they cannot go (requester gone). */
  toRequester(rid: Buffer, header: Buffer, data?: Uint8Array, onFailure?: SendFailure): void
  /** The call is over: forget it. */
  finished(call: IncomingCall): void
}

type RequestHeader = Extract<Header, { k: typeof Kind.REQ }>

/**
 * One request on the serving side: runs the handler, sends the reply or the
 * error, pumps the reply body, feeds the request body. The handler's signal
 * (built on first use) fires at the requester's deadline, on CANCEL and on
 * stop; once the reply's message is out, the deadline no longer applies
 * (a reply body may take longer; its idle timeout bounds it).
 */
export class IncomingCall implements Deadlined {
  requestBody: InboundStream | undefined
  replyBody: OutboundStream | undefined
  private controller: AbortController | undefined
  private abortedWith: Error | undefined
  private replied = false
  private isFinished = false
  deadline = 0
  deadlinePrev: Deadlined | undefined
  deadlineNext: Deadlined | undefined
  deadlineList: DeadlineList | undefined
  /** Set by the transport when it files the call to route its later frames. */
  key: string | undefined

  constructor (
    private readonly host: ServeHost,
    private readonly rid: Buffer,
    readonly h: RequestHeader
  ) {
    host.deadlines.add(this, h.t)
    if (h.s === 1) {
      const id = h.id
      this.requestBody = new InboundStream({
        clock: host.clock,
        idleMs: host.idleMs,
        credit: n => { host.toRequester(rid, wire.credit(id, n)) },
        stop: () => { host.toRequester(rid, wire.control(Kind.STOP, id)) },
        closed: () => {}
      })
    }
  }

  /** Fires at the requester's deadline, on CANCEL and on stop. */
  get signal (): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController()
      if (this.abortedWith !== undefined) this.controller.abort(this.abortedWith)
    }
    return this.controller.signal
  }

  /**
   * Runs the handler; a handler that answers synchronously is answered
   * without a detour through promises. True while the call goes on (an async
   * handler, a body either way): then later frames must find it.
   */
  run (handler: RequestHandler): boolean {
    const req = new Request(this)
    let result: Message | Reply | Promise<Message | Reply>
    try {
      result = handler(req)
    } catch (err) {
      this.failed(err)
      return this.goesOn()
    }
    if (typeof (result as Promise<unknown> | null)?.then === 'function') {
      (result as Promise<Message | Reply>).then(r => { this.answer(r) }, err => { this.failed(err) })
    } else {
      this.answer(result as Message | Reply)
    }
    return this.goesOn()
  }

  private goesOn (): boolean {
    return !this.isFinished && this.abortedWith === undefined
  }

  private failed (err: unknown): void {
    if (this.live()) {
      if (!isPmzError(err) || err.code === 'ERR_INTERNAL') this.host.log.error({ err, type: this.h.m.type }, 'request handler failed')
      this.sendError(toWireError(err))
    }
    this.finish()
  }

  private answer (result: Message | Reply): void {
    const reply = result !== null && typeof result === 'object' && isReply(result) ? result : { msg: result as Message }
    if (!this.live()) {
      closeSource(reply.body)
      this.finish()
      return
    }
    if (reply.msg === null || typeof reply.msg !== 'object' || typeof reply.msg.type !== 'string') {
      this.host.log.error({ type: this.h.m.type }, 'request handler returned no message')
      this.sendError({ code: 'ERR_INTERNAL', message: 'internal error' })
      closeSource(reply.body)
      this.finish()
      return
    }
    let header: Buffer
    try {
      header = reply.body === undefined
        ? wire.encode({ v: WIRE_VERSION, k: Kind.REP, id: this.h.id, m: reply.msg })
        : wire.encode({ v: WIRE_VERSION, k: Kind.REP, id: this.h.id, m: reply.msg, s: 1 })
    } catch (err) {
      this.host.log.error({ err, type: this.h.m.type }, 'reply cannot be encoded')
      this.sendError({ code: 'ERR_INTERNAL', message: 'internal error' })
      closeSource(reply.body)
      this.finish()
      return
    }
    if (header.length > MAX_FRAME_BYTES) {
      this.sendError({ code: 'ERR_TOO_LARGE', message: `reply to ${this.h.m.type} is ${header.length} bytes, over ${MAX_FRAME_BYTES}` })
      closeSource(reply.body)
      this.finish()
      return
    }
    this.replied = true
    this.host.deadlines.remove(this)
    this.host.toRequester(this.rid, header)
    if (reply.body === undefined) this.finish()
    else void this.streamReply(reply.body).finally(() => { this.finish() })
  }

  /** CANCEL arrived (the requester gave up), the deadline passed, or the transport stops. */
  cancel (err: Error): void {
    if (this.abortedWith !== undefined) return
    this.abortedWith = err
    this.host.deadlines.remove(this)
    this.controller?.abort(err)
    this.requestBody?.fail(err, false)
    this.replyBody?.stop(err)
    // Nothing more is routed to this call; a handler that never settles must not keep it filed.
    this.host.finished(this)
  }

  /** Deadlined: the requester's deadline passed before the reply went out. */
  expire (): void {
    if (this.replied) return
    const err = new PmzError('ERR_TIMEOUT', `requester deadline of ${this.h.t} ms passed`)
    this.requestBody?.fail(err, true)
    this.cancel(err)
  }

  /** ABORT arrived for the request body. */
  bodyAborted (e: WireError): void {
    this.requestBody?.fail(fromWireError(e), false)
  }

  private async streamReply (body: AsyncIterable<Uint8Array>): Promise<void> {
    const { rid, host } = this
    const id = this.h.id
    const gone = (err: unknown): void => {
      host.log.debug({ err, id }, 'reply body dropped: requester gone')
      this.cancel(new PmzError('ERR_UNAVAILABLE', 'requester gone'))
    }
    this.replyBody = new OutboundStream(body, {
      clock: host.clock,
      idleMs: host.idleMs,
      data: (chunk, seq) => { host.toRequester(rid, wire.data(id, seq), chunk, gone) },
      end: () => { host.toRequester(rid, wire.control(Kind.END, id)) },
      abort: e => { host.toRequester(rid, wire.abort(id, e)) },
      closed: () => {}
    })
    // A cancel that came while the handler ran has already aborted the signal; honour it here too.
    if (this.abortedWith !== undefined) this.replyBody.stop(this.abortedWith)
    await this.replyBody.run()
  }

  private live (): boolean {
    return this.abortedWith === undefined && this.host.clock.monotonic() <= this.deadline
  }

  private sendError (e: WireError): void {
    let header: Buffer
    try {
      header = wire.encode({ v: WIRE_VERSION, k: Kind.ERR, id: this.h.id, e })
    } catch {
      // Details that msgpack cannot carry: the code and message still can.
      header = wire.encode({ v: WIRE_VERSION, k: Kind.ERR, id: this.h.id, e: { code: e.code, message: String(e.message) } })
    }
    this.host.toRequester(this.rid, header)
  }

  private finish (): void {
    this.host.deadlines.remove(this)
    if (this.requestBody !== undefined && !this.requestBody.finished) {
      this.requestBody.fail(new PmzError('ERR_ABORTED', 'the handler finished without reading the whole body'), true)
    }
    this.isFinished = true
    this.host.finished(this)
  }
}

/** What a handler sees; `signal` is built on first use. */
class Request implements IncomingRequest {
  readonly msg: Message
  readonly from: { peerId: string, address: string }
  readonly body: AsyncIterable<Uint8Array> | undefined

  constructor (private readonly call: IncomingCall) {
    this.msg = call.h.m
    this.from = { peerId: call.h.f, address: call.h.a }
    this.body = call.requestBody
  }

  get signal (): AbortSignal { return this.call.signal }
}

/** Closes a body nobody will read (its generator's finally blocks run). */
function closeSource (body: AsyncIterable<Uint8Array> | undefined): void {
  if (body === undefined) return
  try {
    const it = body[Symbol.asyncIterator]()
    void it.return?.()?.catch(() => {})
  } catch {}
}
