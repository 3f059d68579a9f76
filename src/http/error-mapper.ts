import type { IncomingMessage } from 'node:http'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { isPmzError } from '../common/errors.js'
import type { Logger } from '../common/logger.js'
import { ko, sendEnvelope } from './envelope.js'

/**
 * The one place an error becomes an HTTP answer: PmzErrors keep their status
 * and message; framework errors with a 4xx status keep theirs; anything else
 * is a 500 "internal error" whose stack goes to the log, never to the client.
 */
export function mapError (err: unknown): { status: number, msg: string, headers?: Record<string, string> } {
  if (isPmzError(err)) {
    if (err.code === 'ERR_TOO_LARGE' && typeof err.details?.maxsizeMb === 'number') {
      return { status: 413, msg: `max size allowed is ${err.details.maxsizeMb}MB` }
    }
    if (err.code === 'ERR_METHOD_NOT_ALLOWED' && Array.isArray(err.details?.allow)) {
      return { status: 405, msg: err.message, headers: { allow: (err.details.allow as string[]).join(', ') } }
    }
    if (err.code === 'ERR_UNAUTHORIZED') return { status: 401, msg: err.message, headers: { 'www-authenticate': 'Bearer' } }
    return { status: err.status, msg: err.message }
  }
  const status = (err as FastifyError)?.statusCode
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return { status, msg: (err as Error).message }
  }
  return { status: 500, msg: 'internal error' }
}

/**
 * The gateway's error handler. A client that went away before its request
 * ended is logged at debug as what it is, whatever error its departure
 * caused further in (issue 12 item 9); other 5xx at error, 4xx at debug.
 * `closes` says whether the connection must close after the answer (its body
 * was cut, refused, or too much is left to drain; see UploadGuard); the
 * answer waits for `settle` (the rest of a body read before a closing answer),
 * except a 413's: that body is refused for its size, not read.
 */
export function errorHandler (log: Logger, closes: (req: IncomingMessage) => boolean, settle: (req: IncomingMessage) => Promise<void>) {
  return async (err: unknown, req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const { status, msg, headers } = mapError(err)
    const code = (err as { code?: string }).code
    if (isPmzError(err, 'ERR_ABORTED') || (req.raw.destroyed && !req.raw.complete)) {
      log.debug({ code, method: req.method, url: req.url }, 'client closed the request')
    } else if (status === 507) {
      // A full disk is the operator's to fix, not a bug: one line without a stack per refusal.
      log.warn({ code: 'ERR_NO_SPACE', msg, method: req.method, url: req.url }, 'request refused: no space')
    } else if (status >= 500) {
      log.error({ err, method: req.method, url: req.url }, 'request failed')
    } else {
      log.debug({ code, status, method: req.method, url: req.url }, 'request refused')
    }
    if (status !== 413) await settle(req.raw)
    if (headers !== undefined) reply.headers(headers)
    if (closes(req.raw)) reply.header('connection', 'close')
    return sendEnvelope(reply, status, ko(msg))
  }
}
