import type { IncomingMessage, ServerResponse } from 'node:http'
import type { FastifyRequest } from 'fastify'
import type { Clock, Timer } from '../common/clock.js'
import { PmzError } from '../common/errors.js'
import type { Logger } from '../common/logger.js'
import { RequestBody, type BodySource } from './request-body.js'

export interface UploadGuardInit {
  /** How long a body may send nothing, in ms. */
  idleTimeoutMs: number
  /** Uploads one client address may have in progress at once. */
  maxPerClient: number
  /** The most bytes of a refused request's unread body drained after the answer. */
  drainMaxBytes: number
}

/**
 * Keeps request bodies from holding the gateway (issue 12, items 5 and 8):
 * counts the uploads in progress per client address and refuses those past
 * the cap (429); hands each route its body (see RequestBody: idle deadline,
 * `100 Continue` on demand); and after the answer to a request whose body
 * was not read to its end, reads and throws away the rest, up to a bound and
 * under the same idle deadline, so that a client that sends its whole body
 * before reading (Python's http.client) reads the 409 or 413 instead of a
 * broken pipe, and the connection stays usable.
 */
export class UploadGuard implements BodySource {
  private readonly bodies = new WeakMap<IncomingMessage, RequestBody>()
  private readonly perClient = new Map<string, number>()

  constructor (private readonly clock: Clock, private readonly log: Logger, private readonly init: UploadGuardInit) {}

  body (req: FastifyRequest): RequestBody {
    return this.bodyOf(req.raw)
  }

  /** For node's `checkContinue`: the body of `req` is awaited with `100 Continue`, sent when first read. */
  expectContinue (req: IncomingMessage, res: ServerResponse): void {
    this.bodyOf(req).expectContinue(res)
  }

  /**
   * Called as a request arrives: a request with a body is counted against
   * its client's cap until the body ends (ERR_TOO_MANY_REQUESTS past it), and
   * its unread rest is dealt with once answered.
   */
  admit (req: IncomingMessage, res: ServerResponse): PmzError | undefined {
    if (!hasBody(req)) return undefined
    const body = this.bodyOf(req)
    res.once('finish', () => { this.afterAnswer(req, body) })
    if (req.complete) return undefined
    const client = req.socket?.remoteAddress ?? 'unknown'
    const count = this.perClient.get(client) ?? 0
    if (count >= this.init.maxPerClient) {
      body.refused = true
      this.log.debug({ client, uploads: count, url: req.url }, 'upload refused: too many from one address')
      return new PmzError('ERR_TOO_MANY_REQUESTS', `too many uploads in progress from this address (at most ${this.init.maxPerClient}); retry later`)
    }
    this.perClient.set(client, count + 1)
    // Held until the body ends, or the connection closes (an answer that closes it
    // detaches the request first: then neither its end nor its close ever comes).
    const socket = req.socket
    const release = (): void => {
      req.off('end', release).off('close', release)
      socket?.off('close', release)
      const left = (this.perClient.get(client) ?? 1) - 1
      if (left <= 0) this.perClient.delete(client)
      else this.perClient.set(client, left)
    }
    req.once('end', release).once('close', release)
    socket?.once('close', release)
    return undefined
  }

  /**
   * Whether an error answer to `req` must close its connection: its body was
   * cut or refused, or what is left of it is more than is worth draining.
   * The decision is kept: such a connection is not drained after the answer.
   */
  closesAfterError (req: IncomingMessage): boolean {
    if (req.complete) return false
    const body = this.bodyOf(req)
    const declared = contentLength(req)
    body.closes ||= body.refused || body.idleCut || (declared !== undefined && declared - body.bytesRead > this.init.drainMaxBytes)
    return body.closes
  }

  /**
   * Before an error answer: a request whose connection closes after its
   * answer (`Connection: close`, HTTP/1.0) has its drainable rest read first.
   * Node closes such a socket as soon as the answer is out, and the kernel
   * meets bytes still unread with a reset, which can destroy the answer at
   * the client before it is read (`read ECONNRESET` instead of the 4xx).
   * A rest that is cut, refused or too large is not read (the connection
   * closes anyway, see closesAfterError); a keep-alive one is drained after
   * the answer (afterAnswer).
   */
  async drainBeforeClosing (req: IncomingMessage): Promise<void> {
    if (req.complete || req.destroyed || keepsAlive(req) || this.closesAfterError(req)) return
    const body = this.bodyOf(req)
    if (body.continueWithheld) return
    const limit = body.bytesRead + this.init.drainMaxBytes
    try {
      for await (const _chunk of body) {
        if (body.bytesRead > limit) {
          body.closes = true
          return
        }
      }
    } catch {
      // Cut or gone: the answer closes the connection (closesAfterError says so).
    }
  }

  private bodyOf (req: IncomingMessage): RequestBody {
    let body = this.bodies.get(req)
    if (body === undefined) {
      body = new RequestBody(req, this.clock, this.init.idleTimeoutMs)
      this.bodies.set(req, body)
    }
    return body
  }

  /** Drains what the route left unread once the answer is out, unless the connection closes anyway. */
  private afterAnswer (req: IncomingMessage, body: RequestBody): void {
    // The connection closes after this answer anyway; node closes it too when a client
    // still waits for `100 Continue` (it sends no body then).
    if (req.readableEnded || req.destroyed || body.closes || body.continueWithheld) return
    let budget = this.init.drainMaxBytes
    let timer: Timer | undefined
    const socket = req.socket
    const stop = (): void => {
      timer?.cancel()
      req.off('data', onData).off('end', stop).off('close', stop)
      socket?.off('close', stop)
    }
    const cut = (why: string): void => {
      stop()
      this.log.debug({ url: req.url, why }, 'unread request body cut')
      socket?.destroy()
    }
    const arm = (): void => {
      timer?.cancel()
      timer = req.complete ? undefined : this.clock.setTimeout(() => { cut('idle') }, this.init.idleTimeoutMs)
    }
    const onData = (chunk: Buffer): void => {
      budget -= chunk.length
      if (budget < 0) cut('too large')
      else arm()
    }
    req.on('data', onData).once('end', stop).once('close', stop)
    socket?.once('close', stop)
    arm()
    req.resume()
  }
}

/** Whether the connection stays open after the answer (HTTP/1.1 without `Connection: close`, or 1.0 asking keep-alive). */
function keepsAlive (req: IncomingMessage): boolean {
  const connection = String(req.headers.connection ?? '').toLowerCase()
  return req.httpVersion === '1.0' ? connection.includes('keep-alive') : !connection.includes('close')
}

function hasBody (req: IncomingMessage): boolean {
  const length = req.headers['content-length']
  return (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined
}

function contentLength (req: IncomingMessage): number | undefined {
  const raw = req.headers['content-length']
  return raw === undefined ? undefined : Number(raw)
}
