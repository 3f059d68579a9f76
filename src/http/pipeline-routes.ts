import type { FastifyInstance, FastifyRequest } from 'fastify'
import { PmzError, badRequest, notFound } from '../common/errors.js'
import { MAX_PRIORITY, MIN_PRIORITY, type InjectOptions, type PipelineService } from '../pipelines/types.js'
import { ok, sendEnvelope } from './envelope.js'
import type { BodySource } from './request-body.js'
import { mountRoute, pathAfter, type Handler } from './routes.js'

const MIB = 1024 * 1024
/** Largest events body (`{stages, args}`), bytes. */
const MAX_EVENT_BYTES = 64 * 1024
/** Longest packet key, characters. */
const MAX_KEY_CHARS = 1024
/** A custom event's name; the lifecycle ones match it too. */
const EVENT_NAME = /^[a-z][a-z0-9_-]*$/
const MAX_EVENT_CHARS = 64
const STAGE_PATH = /^[\w.-]+(\/[\w.-]+)+$/

export interface PipelineRoutesInit {
  /** Largest injected payload, in MiB (the gateway's maxsize). */
  maxsizeMb: number
  bodies: BodySource
}

/**
 * Pipelines over HTTP (issue 17): `pipelines/inject/{tag}` sends the body
 * into the pipeline as one packet's payload, `admin/pipelines` shows the
 * graph, `pipelines/events/{event}` moves stages through PipeRT's events,
 * `pipelines/dlq/{stage}/redrive` re-sends a stage's dead letters. Any peer
 * serves them (the service is cluster-wide); a peer without the service
 * answers 503.
 */
export function mountPipelineRoutes (app: FastifyInstance, pipelines: PipelineService | undefined, init: PipelineRoutesInit): void {
  const maxBytes = Math.floor(init.maxsizeMb * MIB)
  const tooLarge = (): PmzError => new PmzError('ERR_TOO_LARGE', `max size allowed is ${init.maxsizeMb}MB`, { details: { maxsizeMb: init.maxsizeMb } })
  const withService = (fn: (service: PipelineService, ...args: Parameters<Handler>) => Promise<unknown>): Handler => async (req, reply) => {
    if (pipelines === undefined) throw new PmzError('ERR_UNAVAILABLE', 'pipelines are not running on this peer')
    return await fn(pipelines, req, reply)
  }

  mountRoute(app, {
    url: '/pipelines/inject/:tag',
    handlers: {
      POST: withService(async (service, req, reply) => {
        const tag = (req.params as { tag: string }).tag
        if (tag === '') throw badRequest('inject needs /pipelines/inject/{tag}')
        const options = injectOptionsOf(req)
        const declared = req.headers['content-length'] === undefined ? undefined : Number(req.headers['content-length'])
        if (declared !== undefined && declared > maxBytes) throw tooLarge()
        const bytes = await init.bodies.body(req).readAll(maxBytes, tooLarge)
        const payload = isJson(req) ? parseJson(bytes, 'the body') : bytes
        const id = await service.inject(tag, payload, options)
        return sendEnvelope(reply, 200, ok({ id }, `Packet injected with id ${id}`))
      })
    }
  })

  mountRoute(app, {
    url: '/admin/pipelines',
    handlers: { GET: withService(async (service, _req, reply) => sendEnvelope(reply, 200, ok(await service.status()))) }
  })

  mountRoute(app, {
    url: '/pipelines/events/:event',
    handlers: {
      POST: withService(async (service, req, reply) => {
        const name = (req.params as { event: string }).event
        if (name.length > MAX_EVENT_CHARS || !EVENT_NAME.test(name)) {
          throw badRequest('an event is start, pause, resume, stop, kill or a custom name of [a-z][a-z0-9_-]* (at most 64 characters)')
        }
        const body = eventBodyOf(await init.bodies.body(req).readAll(MAX_EVENT_BYTES,
          () => new PmzError('ERR_TOO_LARGE', `an events body is at most ${MAX_EVENT_BYTES} bytes`)))
        const { stages } = await service.event(name, body)
        return sendEnvelope(reply, 200, ok({ event: name, stages }, `Event ${name} sent to ${stages.length} stage${stages.length === 1 ? '' : 's'}`))
      })
    }
  })

  // Stage names are seed names (`dir/script`): the route takes the rest of the path, as launch_job does.
  mountRoute(app, {
    url: '/pipelines/dlq/*',
    handlers: {
      POST: withService(async (service, req, reply) => {
        const rest = pathAfter(req, '/pipelines/dlq/')
        if (!rest.endsWith('/redrive')) throw notFound('redrive needs /pipelines/dlq/{stage}/redrive')
        const stage = decodePath(rest.slice(0, -'/redrive'.length))
        if (!STAGE_PATH.test(stage)) throw notFound('redrive needs /pipelines/dlq/{dir}/{script}/redrive')
        const redriven = await service.redrive(stage)
        return sendEnvelope(reply, 200, ok({ stage, redriven }, `${redriven} dead letter${redriven === 1 ? '' : 's'} of ${stage} sent again`))
      })
    }
  })
}

/** `key` and `priority` from `X-Pmz-Key`/`X-Pmz-Priority`, else from the query. */
export function injectOptionsOf (req: Pick<FastifyRequest, 'headers' | 'query'>): InjectOptions {
  const query = (req.query ?? {}) as Record<string, unknown>
  const key = single(req.headers['x-pmz-key'], 'X-Pmz-Key') ?? single(query.key, 'key')
  const priority = single(req.headers['x-pmz-priority'], 'X-Pmz-Priority') ?? single(query.priority, 'priority')
  const options: InjectOptions = {}
  if (key !== undefined) {
    if (key === '' || key.length > MAX_KEY_CHARS) throw badRequest(`a packet key is 1 to ${MAX_KEY_CHARS} characters`)
    options.key = key
  }
  if (priority !== undefined) {
    const p = /^\d+$/.test(priority.trim()) ? Number(priority.trim()) : NaN
    if (!Number.isInteger(p) || p < MIN_PRIORITY || p > MAX_PRIORITY) throw badRequest(`priority must be an integer from ${MIN_PRIORITY} to ${MAX_PRIORITY}`)
    options.priority = p
  }
  return options
}

/** One value of a header or query parameter; given twice is an error (which one would win?). */
function single (v: unknown, name: string): string | undefined {
  if (v === undefined) return undefined
  if (Array.isArray(v)) throw badRequest(`${name} given more than once`)
  return String(v)
}

/** `application/json`, or any `+json` type. */
function isJson (req: FastifyRequest): boolean {
  const type = String(req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase()
  return type === 'application/json' || (type.startsWith('application/') && type.endsWith('+json'))
}

function parseJson (bytes: Buffer, what: string): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'))
  } catch (err) {
    throw badRequest(`${what} is not JSON: ${(err as Error).message}`)
  }
}

/** The optional events body: `{stages?: string[], args?: any}`; no body is `{}`. */
export function eventBodyOf (bytes: Buffer): { stages?: string[], args?: unknown } {
  if (bytes.toString('utf8').trim() === '') return {}
  const value = parseJson(bytes, 'the events body')
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw badRequest('the events body must be a JSON object {"stages": [...], "args": {...}}')
  const { stages, args, ...rest } = value as Record<string, unknown>
  const extra = Object.keys(rest)
  if (extra.length > 0) throw badRequest(`unknown field ${extra[0]} in the events body; it has stages and args`)
  if (stages !== undefined && (!Array.isArray(stages) || !stages.every(s => typeof s === 'string' && s !== ''))) {
    throw badRequest('stages must be a list of stage names')
  }
  return { ...(stages !== undefined ? { stages: stages as string[] } : {}), ...(args !== undefined ? { args } : {}) }
}

function decodePath (raw: string): string {
  try {
    return decodeURIComponent(raw)
  } catch {
    throw badRequest('invalid URL: malformed percent-escape')
  }
}
