import * as zmq from 'zeromq'
import type { Clock } from '../../common/clock.js'
import { PmzError, fromWireError } from '../../common/errors.js'
import type { Logger } from '../../common/logger.js'
import { MAX_FRAME_BYTES, REQUEST_TIMEOUT_MS, SEND_HIGH_WATER_MARK, WIRE_VERSION } from './constants.js'
import type { CurveKeys } from './curve.js'
import type { Deadlines } from './deadlines.js'
import { OutgoingCall, type CallLink } from './outgoing-call.js'
import { SendQueue, type SendFailure } from './send-queue.js'
import { createDealer } from './sockets.js'
import type { Message, Reply, RequestOptions } from './types.js'
import * as wire from './wire.js'
import { Kind } from './wire.js'

/** What a connection needs of its transport. */
export interface ConnectionHost {
  readonly clock: Clock
  readonly log: Logger
  readonly context: zmq.Context
  readonly keys: CurveKeys
  readonly idleMs: number
  readonly connectTimeoutMs: number
  readonly deadlines: Deadlines
  /** This peer's id and advertised address, stamped on every request and message. */
  readonly peerId: string
  address(): string
  /** A peer sent something we cannot read. */
  rejected(remote: string, reason: string): void
  /** A peer we dialled refused our handshake (another cluster key or name). */
  refusedBy(address: string, reason: string): void
  /** The connection closed; `reached` says whether it ever completed a handshake. */
  closed(conn: PeerConnection, reached: boolean): void
}

/**
 * The DEALER to one remote ROUTER, created on first use. `immediate` keeps
 * messages out of libzmq until the Curve handshake is done; a refused
 * connect, a failed handshake or a lost connection (socket events) fails
 * every call on it with ERR_UNAVAILABLE at once and closes it, and the send
 * timeout bounds the wait of a peer that never answers the connect.
 */
export class PeerConnection implements CallLink {
  readonly clock: Clock
  readonly idleMs: number
  readonly deadlines: Deadlines
  private readonly calls = new Map<number, OutgoingCall>()
  private readonly dealer: zmq.Dealer
  private readonly queue: SendQueue
  private reached = false
  private isClosed = false

  constructor (readonly address: string, private readonly host: ConnectionHost) {
    this.clock = host.clock
    this.idleMs = host.idleMs
    this.deadlines = host.deadlines
    this.dealer = createDealer(host.context, host.keys, host.connectTimeoutMs, address.startsWith('['))
    this.queue = new SendQueue(this.dealer, SEND_HIGH_WATER_MARK, err => {
      host.log.debug({ to: address, err }, 'message to peer dropped')
    })
    const events = this.dealer.events
    events.on('handshake', () => { this.reached = true })
    const lost = (reason: string) => () => {
      this.close(new PmzError('ERR_UNAVAILABLE', `peer ${address} is unreachable: ${reason}`))
    }
    events.on('connect:retry', lost('connect failed'))
    events.on('disconnect', lost('connection lost'))
    // Refused during the handshake: a wrong key shows as the server closing on us (EPIPE) or a Curve error.
    const refused = (reason: string) => (e: { error: Error }) => {
      host.refusedBy(address, `${reason}: ${(e.error as { code?: unknown }).code ?? e.error.message}`)
      lost(reason)()
    }
    events.on('handshake:error:protocol', refused('handshake failed (wrong cluster key?)'))
    events.on('handshake:error:auth', refused('handshake refused'))
    events.on('handshake:error:other', refused('handshake failed'))
    try {
      this.dealer.connect(`tcp://${address}`)
    } catch (err) {
      this.isClosed = true
      this.dealer.close()
      throw new PmzError('ERR_BAD_REQUEST', `bad mesh address ${address}`, { cause: err })
    }
    void this.receive()
  }

  /** Sends a request; throws (synchronously) ERR_TOO_LARGE, the caller turns that into a rejection. */
  request (id: number, msg: Message, options: RequestOptions): Promise<Reply> {
    const timeoutMs = options.timeoutMs ?? REQUEST_TIMEOUT_MS
    const header = options.body === undefined
      ? wire.encode({ v: WIRE_VERSION, k: Kind.REQ, id, m: msg, f: this.host.peerId, a: this.host.address(), t: timeoutMs })
      : wire.encode({ v: WIRE_VERSION, k: Kind.REQ, id, m: msg, f: this.host.peerId, a: this.host.address(), t: timeoutMs, s: 1 })
    if (header.length > MAX_FRAME_BYTES) throw new PmzError('ERR_TOO_LARGE', `${msg.type} is ${header.length} bytes, over ${MAX_FRAME_BYTES}`)
    return new Promise<Reply>((resolve, reject) => {
      const call = new OutgoingCall(this, id, msg.type, timeoutMs, options.signal, resolve, reject)
      this.calls.set(id, call)
      const queued = this.queue.push([header], true, call)
      if (!queued) {
        call.fail(new PmzError('ERR_UNAVAILABLE', this.isClosed ? `connection to ${this.address} closed` : `send queue to ${this.address} is full`), false)
        return
      }
      if (options.body !== undefined) call.sendBody(options.body)
    })
  }

  /** Queues a one-way message; false when refused (queue full, closed). */
  send (header: Buffer): boolean {
    return this.queue.push([header], true)
  }

  push (frames: Array<Buffer | Uint8Array>, onFailure?: SendFailure): void {
    this.queue.push(frames, false, onFailure)
  }

  forget (id: number): void {
    this.calls.delete(id)
  }

  /** Fails every call with `err` and closes the socket; idempotent. */
  close (err: Error): void {
    if (this.isClosed) return
    this.isClosed = true
    this.queue.close(err)
    for (const call of [...this.calls.values()]) call.fail(err, false)
    this.calls.clear()
    try {
      this.dealer.close()
    } catch (e) {
      this.host.log.debug({ to: this.address, err: e }, 'dealer close failed')
    }
    this.host.closed(this, this.reached)
  }

  private async receive (): Promise<void> {
    try {
      for await (const frames of this.dealer) {
        try {
          this.dispatch(frames)
        } catch (err) {
          this.host.log.error({ err, to: this.address }, 'mesh frame dispatch failed')
        }
      }
    } catch (err) {
      if (!this.isClosed) this.host.log.debug({ to: this.address, err }, 'dealer receive ended')
    }
  }

  private dispatch (frames: Buffer[], inBatch = false): void {
    const h = frames.length >= 1 ? wire.decode(frames[0]) : 'wrong frame count'
    if (typeof h === 'string') {
      this.host.rejected(this.address, `malformed frame: ${h}`)
      return
    }
    if (h.k === Kind.BATCH) {
      const parts = inBatch ? 'a batch inside a batch' : wire.unbatch(frames, 0, h.n)
      if (typeof parts === 'string') {
        this.host.rejected(this.address, `malformed frame: ${parts}`)
        return
      }
      for (const part of parts) this.dispatch(part, true)
      return
    }
    if (frames.length > 2) {
      this.host.rejected(this.address, 'malformed frame: wrong frame count')
      return
    }
    if (h.k === Kind.MSG || h.k === Kind.REQ || h.k === Kind.CANCEL || (h.k === Kind.DATA) !== (frames.length === 2)) {
      this.host.rejected(this.address, `malformed frame: unexpected kind ${h.k} on a dealer`)
      return
    }
    const call = this.calls.get(h.id)
    if (call === undefined) return // late: the call timed out or was aborted here
    switch (h.k) {
      case Kind.REP: call.replied(h.m, h.s === 1); break
      case Kind.ERR: call.errored(h.e); break
      case Kind.DATA: call.replyBody?.push(frames[1], h.q); break
      case Kind.END: call.replyBody?.end(); break
      case Kind.ABORT: call.replyBody?.fail(fromWireError(h.e), false); break
      case Kind.CREDIT: call.requestBody?.grant(h.n); break
      case Kind.STOP: call.requestBody?.stop(new PmzError('ERR_ABORTED', 'the receiver stopped reading')); break
    }
  }
}
