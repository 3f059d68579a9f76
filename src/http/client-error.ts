import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { Clock } from '../common/clock.js'
import type { Logger } from '../common/logger.js'
import { CORS_HEADERS, ko } from './envelope.js'

/** What node's parser reports, by its error code: the status and the envelope's msg. */
export function clientErrorAnswer (code: string | undefined): { status: number, msg: string } {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW': return { status: 431, msg: 'request headers too large' }
    case 'ERR_HTTP_REQUEST_TIMEOUT': return { status: 408, msg: 'request not received in time' }
    case 'HPE_INVALID_METHOD': return { status: 400, msg: 'unknown HTTP method' }
    default: return { status: 400, msg: 'malformed HTTP request' }
  }
}

/** A whole HTTP/1.1 answer carrying an envelope, for a socket no ServerResponse owns. */
export function rawEnvelopeAnswer (status: number, msg: string): string {
  const body = JSON.stringify(ko(msg))
  const headers = Object.entries(CORS_HEADERS).map(([k, v]) => `${k}: ${v}\r\n`).join('')
  return `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\ncontent-type: application/json; charset=utf-8\r\n${headers}` +
    `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`
}

/**
 * fastify's `clientErrorHandler`: what node's HTTP parser refuses (a
 * malformed request line or header, an unknown method, headers too large,
 * headers not received in time) is answered in the envelope too, instead of
 * fastify's own JSON. The answer is written straight on the socket (there is
 * no request or response object), which is then ended and destroyed shortly
 * after, so the client has time to read it.
 */
export function clientErrorHandler (clock: Clock, log: Logger, lingerMs: number) {
  return (err: Error & { code?: string }, socket: Socket): void => {
    if (err.code === 'ECONNRESET' || socket.destroyed) return
    const { status, msg } = clientErrorAnswer(err.code)
    log.debug({ code: err.code, status, remote: socket.remoteAddress }, 'malformed request refused')
    if (!socket.writable) {
      socket.destroy()
      return
    }
    socket.end(rawEnvelopeAnswer(status, msg))
    const timer = clock.setTimeout(() => socket.destroy(), lingerMs)
    socket.once('close', () => timer.cancel())
  }
}

/** node's `checkExpectation` (an `Expect` other than 100-continue): 417 in the envelope. */
export function refuseExpectation (_req: IncomingMessage, res: ServerResponse): void {
  const body = JSON.stringify(ko('only Expect: 100-continue is supported'))
  res.writeHead(417, { ...CORS_HEADERS, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), connection: 'close' })
  res.end(body)
}
