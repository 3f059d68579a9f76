import { randomUUID } from 'node:crypto'
import * as zmq from 'zeromq'
import type { Clock } from '../../common/clock.js'
import { PmzError, isPmzError } from '../../common/errors.js'
import type { Logger } from '../../common/logger.js'
import {
  CONNECT_TIMEOUT_MS, MAX_FRAME_BYTES, STREAM_IDLE_TIMEOUT_MS, UNREACHABLE_BACKOFF_MS, WIRE_VERSION
} from './constants.js'
import { deriveCurveKeys, type CurveKeys } from './curve.js'
import { Deadlines } from './deadlines.js'
import { IncomingCall, type ServeHost } from './incoming-call.js'
import { PeerConnection, type ConnectionHost } from './peer-connection.js'
import { SendQueue, type SendFailure } from './send-queue.js'
import { createRouter } from './sockets.js'
import type { Message, Reply, RequestOptions, Transport } from './types.js'
import { advertisedHost, bindEndpoint, formatAddress, isMeshAddress } from './address.js'
import * as wire from './wire.js'
import { Kind } from './wire.js'
import { zapFor } from './zap.js'
import type { ZmqTransportComponents, ZmqTransportInit } from './init.js'
import { Registrations } from './registrations.js'
import { LogLimiter, RejectReporter } from './rejections.js'

export type { ZmqTransportComponents, ZmqTransportInit } from './init.js'

/** pmz's own ZeroMQ context: its ZAP endpoint is ours alone. */
let sharedContext: zmq.Context | undefined

/**
 * The ZeroMQ {@link Transport}: one Curve-server ROUTER bound per peer, one
 * DEALER per remote peer. See `wire.ts` for the frames, `stream.ts` for flow
 * control, `curve.ts` and `zap.ts` for authentication.
 */
export class ZmqTransport extends Registrations implements Transport, ConnectionHost, ServeHost {
  readonly peerId: string
  readonly clock: Clock
  readonly log: Logger
  readonly keys: CurveKeys
  readonly context: zmq.Context
  readonly idleMs: number
  readonly connectTimeoutMs: number
  readonly deadlines: Deadlines
  private readonly connections = new Map<string, PeerConnection>()
  private readonly unreachableUntil = new Map<string, number>()
  private readonly incoming = new Map<string, IncomingCall>()
  private readonly zapDomain = `pmz-${randomUUID()}`
  private router: zmq.Router | undefined
  private routerQueue: SendQueue | undefined
  private receiving: Promise<void> | undefined
  private unregisterZap: (() => void) | undefined
  private running = false
  private starting: Promise<void> | undefined
  private stopping: Promise<void> | undefined
  private port: number
  private readonly advertised: string
  /** `address()`, kept as one string: it goes out with every request. */
  private addressText: string
  private nextId = 1
  private readonly rejections: RejectReporter

  constructor (components: ZmqTransportComponents, private readonly init: ZmqTransportInit) {
    super()
    this.peerId = init.peerId
    this.clock = components.clock
    this.log = components.log
    this.keys = deriveCurveKeys(init.clusterKey, init.cluster)
    this.context = sharedContext ??= new zmq.Context()
    this.idleMs = init.streamIdleTimeoutMs ?? STREAM_IDLE_TIMEOUT_MS
    this.connectTimeoutMs = init.connectTimeoutMs ?? CONNECT_TIMEOUT_MS
    this.deadlines = new Deadlines(this.clock)
    this.rejections = new RejectReporter(this.clock, this.log, this.events, { localPort: () => this.port, intervalMs: init.rejectSummaryMs })
    this.port = init.port
    this.advertised = advertisedHost(init.host, init.advertiseHost)
    this.addressText = formatAddress(this.advertised, this.port)
  }

  address (): string { return this.addressText }

  async start (): Promise<void> {
    if (this.running) return
    if (this.stopping !== undefined) await this.stopping
    this.starting ??= this.open().finally(() => { this.starting = undefined })
    await this.starting
  }

  private async open (): Promise<void> {
    const router = createRouter(this.context, this.keys, this.zapDomain, this.init.host.includes(':'))
    try {
      this.unregisterZap = await zapFor(this.context).register(this.zapDomain, this.keys.clientPublicKeyRaw,
        (remote, reason) => { this.rejected(remote, reason) })
      this.rejections.watch(router.events)
      await router.bind(bindEndpoint(this.init.host, this.init.port))
    } catch (err) {
      router.close()
      this.unregisterZap?.()
      this.unregisterZap = undefined
      throw new PmzError('ERR_UNAVAILABLE', `cannot bind the mesh port ${this.init.host}:${this.init.port}`, { cause: err })
    }
    this.port = Number(/:(\d+)$/.exec(router.lastEndpoint ?? '')?.[1] ?? this.init.port)
    this.addressText = formatAddress(this.advertised, this.port)
    this.router = router
    const dropped = new LogLimiter(this.clock)
    this.routerQueue = new SendQueue(router, Infinity, err => {
      // EHOSTUNREACH (routerMandatory): the requester's connection is gone; EAGAIN: it stopped reading.
      const suppressed = dropped.take()
      if (suppressed !== undefined) this.log.warn({ err, suppressed }, 'reply dropped: requester gone or not reading')
    }, true)
    this.running = true
    this.receiving = this.receive(router)
    this.log.debug({ address: this.address() }, 'mesh transport listening')
  }

  async stop (): Promise<void> {
    this.stopping ??= this.close().finally(() => { this.stopping = undefined })
    await this.stopping
  }

  private async close (): Promise<void> {
    if (this.starting !== undefined) await this.starting.catch(() => {})
    if (!this.running) return
    this.running = false
    const err = new PmzError('ERR_SHUTTING_DOWN', 'transport stopped')
    const steps: Array<[string, () => void]> = [
      ['connections', () => { for (const c of [...this.connections.values()]) c.close(err) }],
      ['calls', () => { for (const c of [...this.incoming.values()]) c.cancel(err) }],
      ['router', () => { this.routerQueue?.close(err); this.router?.close() }],
      ['zap', () => { this.unregisterZap?.() }],
      ['deadlines', () => { this.deadlines.clear() }],
      ['rejections', () => { this.rejections.stop() }]
    ]
    for (const [name, step] of steps) {
      try { step() } catch (e) { this.log.warn({ err: e, step: name }, 'transport stop step failed') }
    }
    this.connections.clear()
    this.incoming.clear()
    this.unreachableUntil.clear()
    await this.receiving
    this.router = undefined
    this.routerQueue = undefined
    this.unregisterZap = undefined
  }

  // Not async: one promise per request, not three (this is the hot path).
  request (to: string, msg: Message, options: RequestOptions = {}): Promise<Reply> {
    try {
      if (!this.running) throw new PmzError('ERR_SHUTTING_DOWN', 'transport stopped')
      if (options.signal?.aborted === true) throw new PmzError('ERR_ABORTED', `${msg.type} to ${to} aborted`)
      return this.connection(to).request(this.nextId++, msg, options)
    } catch (err) {
      return Promise.reject(isPmzError(err) ? err : new PmzError('ERR_BAD_REQUEST', `${msg.type} cannot be encoded`, { cause: err }))
    }
  }

  send (to: string, msg: Message): boolean {
    if (!this.running || !isMeshAddress(to)) return false
    try {
      const header = wire.encode({ v: WIRE_VERSION, k: Kind.MSG, m: msg, f: this.peerId, a: this.address() })
      return header.length <= MAX_FRAME_BYTES && this.connection(to).send(header)
    } catch {
      return false // cannot be encoded, or the peer is known unreachable
    }
  }

  disconnect (to: string): void {
    this.unreachableUntil.delete(to)
    this.connections.get(to)?.close(new PmzError('ERR_UNAVAILABLE', `disconnected from ${to}`))
  }

  /** The DEALER to `to`, created on first use; throws ERR_UNAVAILABLE while `to` is known unreachable. */
  private connection (to: string): PeerConnection {
    const existing = this.connections.get(to)
    if (existing !== undefined) return existing
    if (!isMeshAddress(to)) throw new PmzError('ERR_BAD_REQUEST', `bad mesh address ${to}`)
    const until = this.unreachableUntil.get(to)
    if (until !== undefined) {
      if (this.clock.monotonic() < until) throw new PmzError('ERR_UNAVAILABLE', `peer ${to} is unreachable`)
      this.unreachableUntil.delete(to)
    }
    const conn = new PeerConnection(to, this)
    this.connections.set(to, conn)
    return conn
  }

  /** @internal ConnectionHost: a DEALER closed; one that never got through marks its peer unreachable for a moment. */
  closed (conn: PeerConnection, reached: boolean): void {
    if (this.connections.get(conn.address) === conn) this.connections.delete(conn.address)
    if (reached || !this.running) return
    const now = this.clock.monotonic()
    if (this.unreachableUntil.size >= 1024) {
      for (const [address, until] of this.unreachableUntil) if (until <= now) this.unreachableUntil.delete(address)
    }
    this.unreachableUntil.set(conn.address, now + UNREACHABLE_BACKOFF_MS)
  }

  /** @internal ConnectionHost: reports refused traffic. */
  rejected (remote: string | undefined, reason: string): void {
    this.rejections.report(remote, reason)
  }

  /** @internal ConnectionHost: a peer we dialled refused our handshake. */
  refusedBy (address: string, reason: string): void { this.rejections.refusedBy(address, reason) }

  /** @internal ServeHost */
  toRequester (rid: Buffer, header: Buffer, data?: Uint8Array, onFailure?: SendFailure): void {
    this.routerQueue?.push(data === undefined ? [rid, header] : [rid, header, data], false, onFailure)
  }

  /** @internal ServeHost */
  finished (call: IncomingCall): void {
    if (call.key !== undefined) this.incoming.delete(call.key)
  }

  private async receive (router: zmq.Router): Promise<void> {
    try {
      for await (const frames of router) {
        try {
          this.dispatch(frames)
        } catch (err) {
          this.log.error({ err }, 'mesh frame dispatch failed')
        }
      }
    } catch (err) {
      if (this.running) this.log.error({ err }, 'mesh router receive failed')
    }
  }

  private dispatch (frames: Buffer[], inBatch = false): void {
    if (!this.running) return
    const h = frames.length >= 2 ? wire.decode(frames[1]) : 'wrong frame count'
    if (typeof h === 'string') {
      this.rejected(undefined, `malformed frame: ${h}`)
      return
    }
    if (h.k === Kind.BATCH) {
      const parts = inBatch ? 'a batch inside a batch' : wire.unbatch(frames, 1, h.n)
      if (typeof parts === 'string') {
        this.rejected(undefined, `malformed frame: ${parts}`)
        return
      }
      for (const part of parts) this.dispatch([frames[0], ...part], true)
      return
    }
    if (frames.length > 3) {
      this.rejected(undefined, 'malformed frame: wrong frame count')
      return
    }
    if ((h.k === Kind.DATA) !== (frames.length === 3)) {
      this.rejected(h.k === Kind.MSG ? h.a : undefined, 'malformed frame: wrong frame count')
      return
    }
    const rid = frames[0]
    switch (h.k) {
      case Kind.MSG: {
        const listener = this.listeners.get(h.m.type)
        if (listener !== undefined) {
          try {
            listener(h.m, { peerId: h.f, address: h.a })
          } catch (err) {
            this.log.error({ err, type: h.m.type }, 'message handler failed')
          }
        }
        return
      }
      case Kind.REQ: {
        const handler = this.handlers.get(h.m.type)
        if (handler === undefined) {
          this.toRequester(rid, wire.encode({ v: WIRE_VERSION, k: Kind.ERR, id: h.id, e: { code: 'ERR_NOT_FOUND', message: `no handler for ${h.m.type}` } }))
          return
        }
        const call = new IncomingCall(this, rid, h)
        // Most handlers answer at once: such a call is over before it would be filed.
        if (call.run(handler)) {
          call.key = callKey(rid, h.id)
          this.incoming.set(call.key, call)
        }
        return
      }
      case Kind.REP:
      case Kind.ERR:
        this.rejected(undefined, 'malformed frame: a reply sent to a router')
        return
    }
    const call = this.incoming.get(callKey(rid, h.id))
    if (call === undefined) return // late frame of a call already over
    switch (h.k) {
      case Kind.DATA: call.requestBody?.push(frames[2], h.q); break
      case Kind.END: call.requestBody?.end(); break
      case Kind.ABORT: call.bodyAborted(h.e); break
      case Kind.CREDIT: call.replyBody?.grant(h.n); break
      case Kind.STOP: call.replyBody?.stop(new PmzError('ERR_ABORTED', 'the requester stopped reading')); break
      case Kind.CANCEL: call.cancel(new PmzError('ERR_ABORTED', 'cancelled by the requester')); break
    }
  }
}

/** Key of an incoming call: the requester's connection (routing id) and its request id. */
function callKey (rid: Buffer, id: number): string {
  // libzmq's own routing ids are a zero byte and a 32-bit counter: a number is cheaper than a latin1 string.
  return rid.length === 5 && rid[0] === 0 ? `${rid.readUInt32BE(1)}:${id}` : `${rid.toString('latin1')}\0${id}`
}
