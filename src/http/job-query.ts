// The inputs of the job routes, checked once here: an id in the path, and
// the query of the views (pulzar-api.md §9.3: `limit` and `filter`, in any
// order, plus pmz's `state`).
import type { FastifyRequest } from 'fastify'
import { badRequest } from '../common/errors.js'
import type { JobState, ScheduleState } from '../jobs/index.js'

/** Every job state, as `?state=` names them. */
export const JOB_STATES: readonly JobState[] = ['queued', 'assigned', 'running', 'cancelling', 'retrying', 'ready', 'failed', 'cancelled']
/** Every schedule state, as `admin/scheduled_jobs?state=` names them. */
export const SCHEDULE_STATES: readonly ScheduleState[] = ['scheduled', 'canceled', 'done']
/** The job states behind Pulzar's `/ok` and `/failed` (a cancelled job counts as failed, as in its status). */
export const KIND_STATES: Record<'ok' | 'failed', readonly JobState[]> = { ok: ['ready'], failed: ['failed', 'cancelled'] }
/** Largest `limit` of a view. */
export const MAX_VIEW_LIMIT = 1_000_000

/** The `:id` of a job route: a positive integer. */
export function idOf (req: FastifyRequest): number {
  const raw = (req.params as Record<string, string>).id
  const id = /^\d{1,15}$/.test(raw) ? Number(raw) : NaN
  if (!Number.isSafeInteger(id) || id < 1) throw badRequest('a job id is a positive integer')
  return id
}

/** What a view's query asks for. */
export interface ViewQuery<S extends string = JobState> {
  /** At most this many jobs, newest first. */
  limit?: number
  /** Pulzar's `filter`: only `state` means something. */
  filter?: 'state'
  /** pmz's `state=running,queued`: only jobs (or schedules) in these states. */
  states?: S[]
}

/**
 * Reads `limit`, `filter` and `state` from the query, in any order; anything
 * else there is ignored. `allowed`: the states `state` may name (the job
 * states, or a schedule view's SCHEDULE_STATES).
 */
export function viewQuery<S extends string = JobState> (req: FastifyRequest, allowed: readonly S[] = JOB_STATES as readonly string[] as readonly S[]): ViewQuery<S> {
  const q = req.query as Record<string, unknown>
  const out: ViewQuery<S> = {}
  const limit = one(q, 'limit')
  if (limit !== undefined) {
    const n = /^\d{1,9}$/.test(limit) ? Number(limit) : NaN
    if (!(n >= 1 && n <= MAX_VIEW_LIMIT)) throw badRequest(`limit must be an integer from 1 to ${MAX_VIEW_LIMIT}`)
    out.limit = n
  }
  const filter = one(q, 'filter')
  if (filter !== undefined) {
    if (filter !== 'state') throw badRequest('filter must be state')
    out.filter = filter
  }
  const state = one(q, 'state')
  if (state !== undefined) {
    const states = state.split(',').map(s => s.trim()).filter(s => s !== '')
    const unknown = states.find(s => !(allowed as readonly string[]).includes(s))
    if (states.length === 0 || unknown !== undefined) throw badRequest(`state must be a comma-separated list of ${allowed.join(', ')}`)
    out.states = states as S[]
  }
  return out
}

function one (q: Record<string, unknown>, name: string): string | undefined {
  const v = q[name]
  if (v === undefined) return undefined
  if (typeof v !== 'string') throw badRequest(`${name} must appear once`)
  return v
}
