import type { FastifyInstance } from 'fastify'
import { notFound } from '../common/errors.js'
import { ok, sendEnvelope } from './envelope.js'
import { KIND_STATES, idOf, viewQuery, type ViewQuery } from './job-query.js'
import { allJobsItem, jobBuckets, jobDetail, jobStatus } from './job-views.js'
import { liveSchedules } from './schedule-view-routes.js'
import { mountRoute, type Handler } from './routes.js'
import type { JobsView } from './types.js'

/**
 * The job views of pulzar-api.md §9.3: `admin/jobs[/ok|/failed]` (Pulzar's
 * buckets), `admin/jobs[/ok|/failed]/{id}[?filter=state]`, and
 * `admin/all_jobs[/ok|/failed]` (a flat list, newest first). `limit` and
 * `filter` come in any order; pmz's `state=a,b` keeps jobs in those states.
 * Where Pulzar ignored `/ok` and `/failed` pmz keeps only those jobs, in the
 * same shape. `routed` forwards to the coordinator's gateway where needed.
 */
export function mountJobViewRoutes (app: FastifyInstance, jobs: JobsView, routed: (local: Handler) => Handler): void {
  const listed = async (q: ViewQuery, kind?: 'ok' | 'failed'): ReturnType<JobsView['list']> => {
    const states = kind === undefined ? q.states : KIND_STATES[kind].filter(s => q.states === undefined || q.states.includes(s))
    return await jobs.list({ ...(states !== undefined ? { states } : {}), ...(q.limit !== undefined ? { limit: q.limit } : {}) })
  }

  for (const kind of [undefined, 'ok', 'failed'] as const) {
    const base = kind === undefined ? '' : `/${kind}`
    mountRoute(app, {
      url: `/admin/jobs${base}`,
      handlers: {
        GET: routed(async (req, reply) => {
          const q = viewQuery(req)
          // The live schedules (the README's `scheduled` list), unless the view keeps only some jobs (`/ok`, `/failed`, `state`).
          const scheduled = kind === undefined && q.states === undefined ? await liveSchedules(jobs, q.limit) : []
          return sendEnvelope(reply, 200, ok(jobBuckets(await listed(q, kind), scheduled)))
        })
      }
    })
    mountRoute(app, {
      url: `/admin/all_jobs${base}`,
      handlers: { GET: routed(async (req, reply) => sendEnvelope(reply, 200, ok((await listed(viewQuery(req), kind)).map(allJobsItem)))) }
    })
    mountRoute(app, {
      url: `/admin/jobs${base}/:id`,
      handlers: {
        GET: routed(async (req, reply) => {
          const id = idOf(req)
          const q = viewQuery(req)
          const job = await jobs.get(id)
          if (job === undefined) throw notFound('job id not found')
          return sendEnvelope(reply, 200, ok(q.filter === 'state' ? jobStatus(job) : jobDetail(job)))
        })
      }
    })
  }
}
