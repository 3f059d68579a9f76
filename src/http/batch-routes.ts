import type { FastifyInstance, FastifyRequest } from 'fastify'
import { badRequest, notFound } from '../common/errors.js'
import type { Clock } from '../common/clock.js'
import { batchRequestOf } from './batch-request.js'
import { TASK_STATES, batchItem, batchSummary, taskItem, taskState, type TaskState } from './batch-views.js'
import { ok, sendEnvelope } from './envelope.js'
import { idOf, viewQuery } from './job-query.js'
import { mountRoute, pathAfter, type Handler } from './routes.js'
import type { CoordinatorView, JobCatalogView, JobsView } from './types.js'
import type { Logger } from '../common/logger.js'
import { mountBatchEvents } from './batch-events.js'

const SEED_PATH = /^[\w.-]+(\/[\w.-]+)+$/

/**
 * Batches over HTTP (issue 16): `launch_batch/{dir}/{script}` answers the
 * batch id at once (the keys are listed in the background);
 * `admin/batches[/{id}[/tasks?state=failed]]` read them. Cancel and retry
 * are `cancel_job/{id}` and `admin/jobs/{id}/retry` with the batch id;
 * `admin/batches/{id}/events` streams its progress (batch-events.ts).
 */
export function mountBatchRoutes (app: FastifyInstance, jobs: JobsView, catalog: JobCatalogView, co: CoordinatorView, c: {
  routed: (local: Handler) => Handler, readJson: (req: FastifyRequest) => Promise<Record<string, unknown>>, clock: Clock, log: Logger
}): void {
  const { routed, clock } = c
  mountBatchEvents(app, jobs, co, clock, c.log)
  mountRoute(app, {
    url: '/launch_batch/*',
    handlers: {
      POST: routed(async (req, reply) => {
        const name = decodeURIComponent(pathAfter(req, '/launch_batch/')).replace(/\/+$/, '')
        if (!SEED_PATH.test(name)) throw notFound('launch_batch needs /launch_batch/{dir}/{script}')
        const seed = catalog.list().find(s => s.name === name)
        if (seed === undefined) throw notFound(`seed ${name} not found`)
        if (!seed.launchable) throw badRequest(`seed ${name} cannot be launched: ${seed.error ?? 'it failed to load'}`)
        const { batchId } = await jobs.launchBatch(batchRequestOf(await c.readJson(req), seed))
        return sendEnvelope(reply, 200, ok({ batch_id: batchId }, `Batch added with id ${batchId}`))
      })
    }
  })
  const read = async (id: number): Promise<NonNullable<Awaited<ReturnType<JobsView['getBatch']>>>> => {
    const r = await jobs.getBatch(id)
    if (r === undefined) throw notFound('batch id not found')
    return r
  }
  mountRoute(app, {
    url: '/admin/batches',
    handlers: {
      GET: routed(async (req, reply) => {
        const q = viewQuery(req)
        return sendEnvelope(reply, 200, ok((await jobs.batches()).slice(0, q.limit).map(r => batchItem(r, clock.now()))))
      })
    }
  })
  mountRoute(app, {
    url: '/admin/batches/:id',
    handlers: { GET: routed(async (req, reply) => sendEnvelope(reply, 200, ok(batchSummary(await read(idOf(req)), clock.now())))) }
  })
  mountRoute(app, {
    url: '/admin/batches/:id/tasks',
    handlers: {
      GET: routed(async (req, reply) => {
        const q = viewQuery<TaskState>(req, TASK_STATES)
        const { tasks } = await read(idOf(req))
        const kept = tasks.filter(t => q.states === undefined || q.states.includes(taskState(t.state)))
        return sendEnvelope(reply, 200, ok(kept.slice(0, q.limit).map(taskItem)))
      })
    }
  })
}
