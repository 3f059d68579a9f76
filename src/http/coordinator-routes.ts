import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { request } from 'undici'
import { PmzError, badRequest, notFound } from '../common/errors.js'
import type { Logger } from '../common/logger.js'
import { MAX_JSON_DEPTH } from './constants.js'
import { envelopePayload, ok, sendEnvelope } from './envelope.js'
import { checkJsonText } from './json-text.js'
import type { BodySource } from './request-body.js'
import { mountRoute, type Handler } from './routes.js'
import type { CoordinatorView } from './types.js'

/** Largest JSON body of a setting, bytes. */
const MAX_SETTING_BYTES = 64 * 1024
/** Deadline of a request forwarded to the coordinator's gateway, ms. */
const FORWARD_TIMEOUT_MS = 10_000
/** Marks a request one gateway forwarded to another, so that it is never forwarded twice. */
export const FORWARDED_HEADER = 'x-pmz-forwarded'
const NAME = /^[\w.:-]{1,200}$/

/**
 * `admin/coordinator` (who leads, term, voters, log), and the coordinator
 * log's first state machine: cluster-wide settings (`admin/config[/{key}]`)
 * and counters (`admin/counter/{name}`). A peer without the coordinator role
 * forwards these to the coordinator's gateway.
 *
 * A setting is stored as the bytes of its JSON body, and served back exactly
 * as they came (see checkJsonText); a value stored by an older pmz as a
 * parsed value is served as its JSON.
 */
export function mountCoordinatorRoutes (app: FastifyInstance, co: CoordinatorView, log: Logger, bodies: BodySource): void {
  const readBody = async (req: FastifyRequest): Promise<Buffer> => await bodies.body(req).readAll(MAX_SETTING_BYTES,
    () => new PmzError('ERR_TOO_LARGE', `a setting is at most ${MAX_SETTING_BYTES} bytes`))
  /** Runs `local` on a coordinator-role peer, else forwards the request as it came. */
  const routed = (local: Handler): Handler => async (req, reply) => co.local ? await local(req, reply) : await forward(co, req, reply, log, readBody)

  mountRoute(app, {
    url: '/admin/coordinator',
    handlers: { GET: async (_req, reply) => sendEnvelope(reply, 200, ok(co.status())) }
  })

  mountRoute(app, {
    url: '/admin/config',
    handlers: {
      GET: routed(async (_req, reply) => {
        const fields = Object.entries(await co.settings()).map(([key, value]) => `${JSON.stringify(key)}:${settingJson(value)}`)
        return envelopePayload(reply, 200, `{"data":{${fields.join(',')}},"status":"ok","msg":""}`)
      })
    }
  })

  mountRoute(app, {
    url: '/admin/config/:key',
    handlers: {
      GET: routed(async (req, reply) => {
        const key = nameOf(req, 'key')
        const all = await co.settings()
        // Own keys only: `toString` or `__proto__` are not settings unless stored.
        if (!Object.hasOwn(all, key)) throw notFound('setting not found')
        return envelopePayload(reply, 200, `{"data":${settingJson(all[key])},"status":"ok","msg":""}`)
      }),
      PUT: routed(async (req, reply) => {
        const key = nameOf(req, 'key')
        const bytes = await readBody(req)
        checkJsonText(bytes, MAX_JSON_DEPTH)
        await co.setSetting(key, Buffer.from(bytes))
        return sendEnvelope(reply, 200, ok(null, 'setting stored'))
      }),
      DELETE: routed(async (req, reply) => {
        if (!await co.deleteSetting(nameOf(req, 'key'))) throw notFound('setting not found')
        return sendEnvelope(reply, 200, ok(null, 'setting deleted'))
      })
    }
  })

  mountRoute(app, {
    url: '/admin/counter/:name',
    handlers: {
      GET: routed(async (req, reply) => sendEnvelope(reply, 200, ok(await co.counter(nameOf(req, 'name'))))),
      POST: routed(async (req, reply) => {
        const raw = (req.query as Record<string, unknown>).by ?? '1'
        const by = typeof raw === 'string' && /^-?\d{1,15}$/.test(raw) ? Number(raw) : NaN
        if (!Number.isSafeInteger(by)) throw badRequest('by must be an integer')
        return sendEnvelope(reply, 200, ok(await co.increment(nameOf(req, 'name'), by)))
      })
    }
  })
}

function nameOf (req: FastifyRequest, param: string): string {
  const value = (req.params as Record<string, string>)[param]
  if (!NAME.test(value)) throw badRequest(`${param} must be 1-200 letters, digits or . _ : -`)
  return value
}

/** A setting's JSON: the bytes stored (checked JSON), or an older parsed value serialised. */
export function settingJson (value: unknown): string {
  return value instanceof Uint8Array ? Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('utf8') : JSON.stringify(value) ?? 'null'
}

/** Replays the request on the coordinator's gateway and relays its answer (never twice: a forwarded request is not forwarded again). */
export async function forward (co: CoordinatorView, req: FastifyRequest, reply: FastifyReply, log: Logger,
  readBody: (req: FastifyRequest) => Promise<Buffer>): Promise<FastifyReply> {
  const target = co.leaderHttp()
  if (target === undefined || target === '' || req.headers[FORWARDED_HEADER] !== undefined) {
    throw new PmzError('ERR_NO_COORDINATOR', 'no coordinator is known; try again shortly')
  }
  const body = req.method === 'PUT' || req.method === 'POST' ? await readBody(req) : undefined
  try {
    const res = await request(`${target}${req.raw.url ?? ''}`, {
      method: req.method as 'GET',
      body,
      // The token (when one is set) goes along: the coordinator's gateway checks it too.
      headers: {
        [FORWARDED_HEADER]: '1',
        'content-type': req.headers['content-type'] ?? 'application/json',
        ...(req.headers.authorization !== undefined ? { authorization: req.headers.authorization } : {})
      },
      headersTimeout: FORWARD_TIMEOUT_MS,
      bodyTimeout: FORWARD_TIMEOUT_MS
    })
    const payload = await res.body.text()
    return await reply.code(res.statusCode).header('content-type', 'application/json; charset=utf-8').send(payload)
  } catch (err) {
    log.warn({ err, target }, 'forwarding to the coordinator failed')
    throw new PmzError('ERR_NO_COORDINATOR', 'the coordinator could not be reached; try again shortly', { cause: err })
  }
}
