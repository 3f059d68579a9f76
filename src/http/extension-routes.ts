import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { PmzError, badRequest } from '../common/errors.js'
import type { ExtensionParams, Extensions } from '../extensions/index.js'
import { ok } from './envelope.js'
import type { BodySource } from './request-body.js'
import { clientBase, mountRoute, pathAfter, rawQuery } from './routes.js'

const MIB = 1024 * 1024

export interface ExtensionRoutesInit {
  /** Largest accepted PUT body, in MiB (inclusive), as for add_key. */
  maxsizeMb: number
  /** This peer's own HTTP base URL, used when a request has no Host header. */
  selfUrl: () => string
  /** Request bodies, with their idle deadline and `100 Continue`. */
  bodies: BodySource
}

/**
 * `/extension/{name}/{arg1}/{arg2}...?{params}` (pulzar-api.md §5), GET or
 * PUT; other methods get 405. The PUT body is read whole (up to maxsize)
 * and handed over as a Buffer; the extension's result becomes `data`.
 */
export function mountExtensionRoutes (app: FastifyInstance, extensions: Extensions, init: ExtensionRoutesInit): void {
  const maxBytes = Math.floor(init.maxsizeMb * MIB)
  const handle = (method: 'GET' | 'PUT') => async (req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const path = pathSegments(pathAfter(req, '/extension'))
    const params = queryParams(rawQuery(req))
    const body = method === 'PUT' ? await readBody(init.bodies, req, maxBytes, init.maxsizeMb) : undefined
    const gone = new AbortController()
    const onClose = (): void => { if (!reply.raw.writableFinished) gone.abort() }
    reply.raw.once('close', onClose)
    try {
      const data = await extensions.call({ path, params, body, method, baseUrl: clientBase(req, init.selfUrl()) }, { signal: gone.signal })
      return reply.code(200).type('application/json').send(serialise(data))
    } finally {
      reply.raw.off('close', onClose)
    }
  }
  mountRoute(app, { url: ['/extension', '/extension/*'], handlers: { GET: handle('GET'), PUT: handle('PUT') } })
}

/** The segments after `/extension/`, each percent-decoded once, empty ones kept (`search/a/` looks for `a/`). */
export function pathSegments (rawPath: string): string[] {
  const trimmed = rawPath.replace(/^\//, '')
  if (trimmed === '') return []
  return trimmed.split('/').map(s => {
    try {
      return decodeURIComponent(s)
    } catch {
      throw badRequest('invalid URL: malformed percent-escape')
    }
  })
}

/** The query as Pulzar's extensions see it: every value a list, in order. */
export function queryParams (raw: string): ExtensionParams {
  const out: Record<string, string[]> = {}
  for (const [name, value] of new URLSearchParams(raw)) (out[name] ??= []).push(value)
  return out
}

async function readBody (bodies: BodySource, req: FastifyRequest, maxBytes: number, maxsizeMb: number): Promise<Buffer | undefined> {
  const tooLarge = (): PmzError => new PmzError('ERR_TOO_LARGE', `max size allowed is ${maxsizeMb}MB`, { details: { maxsizeMb } })
  const declared = req.headers['content-length'] === undefined ? undefined : Number(req.headers['content-length'])
  if (declared !== undefined && declared > maxBytes) throw tooLarge()
  const body = await bodies.body(req).readAll(maxBytes, tooLarge)
  return body.length === 0 ? undefined : body
}

function serialise (data: unknown): string {
  try {
    return JSON.stringify(ok(data === undefined ? null : data))
  } catch (err) {
    throw new PmzError('ERR_INTERNAL', 'the extension returned a value that is not JSON', { cause: err })
  }
}
