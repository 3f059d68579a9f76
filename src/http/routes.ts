import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { PmzError } from '../common/errors.js'
import { OPTIONS_HEADERS, ok, sendEnvelope } from './envelope.js'

export type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'DELETE'
export type Handler = (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>

/** One path (or several spellings of it) and a handler per method. */
export interface Route {
  url: string | string[]
  handlers: Partial<Record<Method, Handler>>
}

const ALL_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']

/** Answers OPTIONS on any path as Pulzar does (pulzar-api.md §2.1). */
export function sendOptions (reply: FastifyReply): FastifyReply {
  reply.headers(OPTIONS_HEADERS)
  return sendEnvelope(reply, 200, ok(null, 'options'))
}

/**
 * Mounts a route for every method, so that a wrong method on a known path
 * gets 405 with an `Allow` header instead of a 404, and OPTIONS gets the CORS
 * answer. HEAD runs the GET handler unless the route has its own (Node sends
 * no body on HEAD).
 */
export function mountRoute (app: FastifyInstance, route: Route): void {
  const allowed = Object.keys(route.handlers) as Method[]
  if (route.handlers.GET !== undefined && route.handlers.HEAD === undefined) allowed.push('HEAD')
  const allow = [...allowed, 'OPTIONS']
  // Not async: the method handler's own promise is the answer (one promise fewer per request).
  const handler: Handler = (req, reply) => {
    if (req.method === 'OPTIONS') return Promise.resolve(sendOptions(reply))
    const method = req.method as Method
    const h = route.handlers[method] ?? (method === 'HEAD' ? route.handlers.GET : undefined)
    if (h === undefined) {
      return Promise.reject(new PmzError('ERR_METHOD_NOT_ALLOWED', `Method used does not match, try with ${allowed.filter(m => m !== 'HEAD').join(' or ')}`,
        { details: { allow } }))
    }
    return h(req, reply)
  }
  for (const url of Array.isArray(route.url) ? route.url : [route.url]) {
    app.route({ method: ALL_METHODS, url, handler })
  }
}

/** The raw (still percent-encoded) path of a request after `prefix`, without the query. */
export function pathAfter (req: FastifyRequest, prefix: string): string {
  const url = req.raw.url ?? ''
  const q = url.indexOf('?')
  const path = q === -1 ? url : url.slice(0, q)
  return path.slice(prefix.length)
}

/** The raw query string of a request (without `?`), or ''. */
export function rawQuery (req: FastifyRequest): string {
  const url = req.raw.url ?? ''
  const q = url.indexOf('?')
  return q === -1 ? '' : url.slice(q + 1)
}

/** The base URL the client used to reach this peer (`http://host:port`). */
export function clientBase (req: FastifyRequest, fallback: string): string {
  const host = req.headers.host
  return host !== undefined && host !== '' ? `http://${host}` : fallback
}
