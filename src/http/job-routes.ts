import type { FastifyInstance, FastifyRequest } from 'fastify'
import { PmzError, badRequest, notFound } from '../common/errors.js'
import type { Clock } from '../common/clock.js'
import type { Logger } from '../common/logger.js'
import { MAX_PRIORITY, MAX_RETRIES, MIN_PRIORITY, parseScheduled } from '../jobs/index.js'
import { validateKey } from '../store/index.js'
import { forward } from './coordinator-routes.js'
import { mountJobEvents } from './job-events.js'
import { mountBatchRoutes } from './batch-routes.js'
import { idOf } from './job-query.js'
import { mountJobViewRoutes } from './job-view-routes.js'
import { mountScheduleViewRoutes } from './schedule-view-routes.js'
import { ok, sendEnvelope } from './envelope.js'
import type { BodySource } from './request-body.js'
import { mountRoute, pathAfter, type Handler } from './routes.js'
import type { CoordinatorView, JobCatalogView, JobsView } from './types.js'

/** Largest launch body, bytes. */
const MAX_LAUNCH_BYTES = 1024 * 1024
/** Longest `timeout_ms` a launch may ask for: a week. */
const MAX_TIMEOUT_MS = 7 * 24 * 60 * 60 * 1000
const SEED_PATH = /^[\w.-]+(\/[\w.-]+)+$/

/**
 * Jobs over HTTP (pulzar-api.md §6.1, §6.4, §9.3): `launch_job/{dir}/{script}`,
 * `cancel_job/{id}`, `admin/jobs/{id}/retry`, the views (job-view-routes.ts,
 * schedule-view-routes.ts)
 * and the event stream `jobs/{id}/events` (job-events.ts). A peer without
 * the coordinator role forwards them to the coordinator's gateway.
 */
export function mountJobRoutes (app: FastifyInstance, jobs: JobsView, catalog: JobCatalogView, co: CoordinatorView, c: { clock: Clock, log: Logger, bodies: BodySource }): void {
  const { log, bodies } = c
  const readBody = async (req: FastifyRequest): Promise<Buffer> => await bodies.body(req).readAll(MAX_LAUNCH_BYTES,
    () => new PmzError('ERR_TOO_LARGE', `a launch body is at most ${MAX_LAUNCH_BYTES} bytes`))
  const routed = (local: Handler): Handler => async (req, reply) => jobs.local ? await local(req, reply) : await forward(co, req, reply, log, readBody)

  mountRoute(app, {
    url: '/launch_job/*',
    handlers: {
      POST: routed(async (req, reply) => {
        const name = decodeURIComponent(pathAfter(req, '/launch_job/')).replace(/\/+$/, '')
        if (!SEED_PATH.test(name)) throw notFound('launch_job needs /launch_job/{dir}/{script}')
        const seed = catalog.list().find(s => s.name === name)
        if (seed === undefined) throw notFound(`seed ${name} not found`)
        if (!seed.launchable) throw badRequest(`seed ${name} cannot be launched: ${seed.error ?? 'it failed to load'}`)
        const args = parseArgs(await readBody(req))
        const scheduled = args.scheduled === undefined ? undefined : parseScheduled(args.scheduled)
        if (scheduled !== undefined && !scheduled.ok) throw badRequest(scheduled.msg)
        delete args.scheduled // Pulzar removes it from the arguments (§6.2)
        const dataKey = dataKeyOf(args.pulzar_data)
        const priority = args.priority
        if (priority !== undefined && (!Number.isInteger(priority) || (priority as number) < MIN_PRIORITY || (priority as number) > MAX_PRIORITY)) {
          throw badRequest(`priority must be an integer from ${MIN_PRIORITY} to ${MAX_PRIORITY}`)
        }
        const timeoutMs = limit(args, 'timeout_ms', 1, MAX_TIMEOUT_MS) ?? seed.limits.timeoutMs
        const retries = limit(args, 'retries', 0, MAX_RETRIES) ?? seed.limits.retries
        const header = req.headers['idempotency-key']
        const dedupKey = typeof header === 'string' && header !== '' ? header : typeof args.dedup_key === 'string' ? args.dedup_key : undefined
        const request = {
          seed: name,
          seedHash: seed.hash,
          args,
          ...(priority !== undefined ? { priority: priority as number } : {}),
          ...(dedupKey !== undefined ? { dedupKey } : {}),
          ...(timeoutMs !== undefined ? { timeoutMs } : {}),
          ...(retries !== undefined ? { retries } : {}),
          ...(dataKey !== undefined ? { dataKey } : {})
        }
        const jobId = scheduled === undefined ? (await jobs.launch(request)).jobId : (await jobs.schedule({ ...request, spec: scheduled.spec })).scheduleId
        return sendEnvelope(reply, 200, ok({ job_id: jobId }, `Job added with id ${jobId}`))
      })
    }
  })

  mountRoute(app, {
    url: '/cancel_job/:id',
    handlers: {
      POST: routed(async (req, reply) => {
        const id = idOf(req)
        if (!await jobs.cancel(id)) throw notFound('job id not found')
        return sendEnvelope(reply, 200, ok(null, `Job canceled with id ${id}`))
      })
    }
  })

  mountRoute(app, {
    url: '/admin/jobs/:id/retry',
    handlers: {
      POST: routed(async (req, reply) => {
        const id = idOf(req)
        if (!await jobs.retry(id)) throw notFound('job id not found')
        return sendEnvelope(reply, 200, ok({ job_id: id }, `Job retried with id ${id}`))
      })
    }
  })

  mountJobViewRoutes(app, jobs, routed)
  mountScheduleViewRoutes(app, jobs, routed)
  mountJobEvents(app, jobs, co, c.clock, log)
  mountBatchRoutes(app, jobs, catalog, co, { routed, clock: c.clock, log, readJson: async req => parseArgs(await readBody(req)) })
}

/** A launch's own limit (`timeout_ms`, `retries`): an integer within its bounds, or absent. */
function limit (args: Record<string, unknown>, field: string, min: number, max: number): number | undefined {
  const v = args[field]
  if (v === undefined) return undefined
  if (!Number.isSafeInteger(v) || (v as number) < min || (v as number) > max) throw badRequest(`${field} must be an integer from ${min} to ${max}`)
  return v as number
}

/** The launch body: a JSON object (no body: `{}`). */
function parseArgs (bytes: Buffer): Record<string, unknown> {
  const text = bytes.toString('utf8').trim()
  if (text === '') return {}
  let value: unknown
  try { value = JSON.parse(text) } catch (err) { throw badRequest(`the body is not JSON: ${(err as Error).message}`) }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw badRequest('the body must be a JSON object')
  return value as Record<string, unknown>
}

/** `pulzar_data` (§6.3): a key, with or without its leading `/`; 400 when it is not one. */
function dataKeyOf (raw: unknown): string | undefined {
  if (raw === undefined) return undefined
  if (typeof raw !== 'string') throw badRequest('pulzar_data must be a key (a string such as "/dir/name.ext")')
  const key = raw.startsWith('/') ? raw : `/${raw}`
  validateKey(key)
  return key
}
