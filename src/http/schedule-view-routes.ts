import type { FastifyInstance } from 'fastify'
import { notFound } from '../common/errors.js'
import { MAX_EXECUTIONS, type Schedule } from '../jobs/index.js'
import { ok, sendEnvelope } from './envelope.js'
import { KIND_STATES, SCHEDULE_STATES, idOf, viewQuery } from './job-query.js'
import { mountRoute, type Handler } from './routes.js'
import { executionItems, scheduleDetail, scheduleItem, scheduleStatus } from './schedule-views.js'
import type { JobsView } from './types.js'

/** The items of the live schedules (state `scheduled`), newest first, at most `limit`. */
export async function liveSchedules (jobs: JobsView, limit?: number): Promise<unknown[]> {
  return (await jobs.schedules()).filter(s => s.state === 'scheduled').slice(0, limit).map(scheduleItem)
}

/**
 * The schedule views of pulzar-api.md §9.3:
 * - `admin/scheduled_jobs`: every schedule, newest first (pmz's
 *   `state=scheduled,canceled,done` keeps those);
 * - `admin/scheduled_jobs/{id}[?filter=state]`: one schedule and its
 *   executions, newest first (`limit`, default MAX_EXECUTIONS);
 * - `admin/scheduled_jobs/ok|failed`: the executions of the schedules that
 *   are not cancelled (or of those `state` names), newest first;
 *   `/ok|failed/{id}`: of that schedule.
 * `limit` and `filter` come in any order; an unknown id is a 404.
 */
export function mountScheduleViewRoutes (app: FastifyInstance, jobs: JobsView, routed: (local: Handler) => Handler): void {
  const schedule = async (id: number): Promise<Readonly<Schedule>> => {
    const s = await jobs.getSchedule(id)
    if (s === undefined) throw notFound('schedule id not found')
    return s
  }

  mountRoute(app, {
    url: '/admin/scheduled_jobs',
    handlers: {
      GET: routed(async (req, reply) => {
        const q = viewQuery(req, SCHEDULE_STATES)
        const list = (await jobs.schedules()).filter(s => q.states === undefined || q.states.includes(s.state))
        return sendEnvelope(reply, 200, ok(list.slice(0, q.limit).map(scheduleItem)))
      })
    }
  })

  mountRoute(app, {
    url: '/admin/scheduled_jobs/:id',
    handlers: {
      GET: routed(async (req, reply) => {
        const id = idOf(req)
        const q = viewQuery(req, SCHEDULE_STATES)
        const s = await schedule(id)
        if (q.filter === 'state') return sendEnvelope(reply, 200, ok(scheduleStatus(s)))
        const firings = await jobs.list({ scheduleIds: [id], limit: q.limit ?? MAX_EXECUTIONS })
        return sendEnvelope(reply, 200, ok(scheduleDetail(s, firings)))
      })
    }
  })

  for (const kind of ['ok', 'failed'] as const) {
    const executions = async (of: ReadonlyArray<Readonly<Schedule>>, limit?: number): Promise<unknown[]> => {
      const byId = new Map(of.map(s => [s.scheduleId, s]))
      const firings = await jobs.list({ states: KIND_STATES[kind], scheduleIds: [...byId.keys()], ...(limit !== undefined ? { limit } : {}) })
      return executionItems(byId, firings)
    }
    mountRoute(app, {
      url: `/admin/scheduled_jobs/${kind}`,
      handlers: {
        GET: routed(async (req, reply) => {
          const q = viewQuery(req, SCHEDULE_STATES)
          // Pulzar lists the executions of the schedules that are not cancelled.
          const of = (await jobs.schedules()).filter(s => q.states === undefined ? s.state !== 'canceled' : q.states.includes(s.state))
          return sendEnvelope(reply, 200, ok(await executions(of, q.limit)))
        })
      }
    })
    mountRoute(app, {
      url: `/admin/scheduled_jobs/${kind}/:id`,
      handlers: {
        GET: routed(async (req, reply) => {
          const id = idOf(req)
          const q = viewQuery(req, SCHEDULE_STATES)
          return sendEnvelope(reply, 200, ok(await executions([await schedule(id)], q.limit)))
        })
      }
    })
  }
}
