// How batches read over HTTP (issue 16): a summary per batch (counts,
// throughput, ETA, failures) and one row per task, read from the tasks'
// own job records.
import type { JobState, JobView } from '../jobs/index.js'
import { pulzarTime } from './job-views.js'
import type { BatchRead } from './types.js'

/** A task's state in a batch's words. */
export type TaskState = 'pending' | 'running' | 'done' | 'failed' | 'cancelled'
export const TASK_STATES: readonly TaskState[] = ['pending', 'running', 'done', 'failed', 'cancelled']

export function taskState (s: JobState): TaskState {
  switch (s) {
    case 'queued': case 'retrying': return 'pending'
    case 'assigned': case 'running': case 'cancelling': return 'running'
    case 'ready': return 'done'
    default: return s
  }
}

/** Failures a summary lists at most (the tasks view lists them all). */
const MAX_LISTED_FAILURES = 100

/** The batch's summary at `now`. */
export function batchSummary (r: BatchRead, now: number): Record<string, unknown> {
  const { batch: b, tasks } = r
  const counts: Record<TaskState, number> = { pending: 0, running: 0, done: 0, failed: 0, cancelled: 0 }
  let firstStart: number | undefined
  let lastEnd: number | undefined
  const failures: unknown[] = []
  for (const t of tasks) {
    const s = taskState(t.state)
    counts[s]++
    const start = t.attempts[0]?.assignedAt
    if (start !== undefined && (firstStart === undefined || start < firstStart)) firstStart = start
    if (t.endedAt !== undefined && (lastEnd === undefined || t.endedAt > lastEnd)) lastEnd = t.endedAt
    if (s === 'failed' && failures.length < MAX_LISTED_FAILURES) failures.push({ task_id: t.jobId, key: t.dataKey ?? null, error: t.error ?? null, tries: t.attempts.length })
  }
  const active = counts.pending + counts.running
  const state = b.cancelledAt !== undefined ? (counts.running > 0 ? 'cancelling' : 'cancelled') : !b.listed ? 'listing' : active > 0 ? 'running' : 'done'
  const until = active > 0 || !b.listed ? now : lastEnd ?? now
  const elapsedMs = firstStart === undefined ? 0 : Math.max(0, until - firstStart)
  const ended = counts.done + counts.failed
  const throughput = elapsedMs > 0 ? ended / (elapsedMs / 1000) : 0
  return {
    batch_id: b.batchId,
    seed: b.template.seed,
    state,
    prefix: b.prefix ?? null,
    listed: b.listed,
    tasks: b.tasks,
    counts,
    throughput_per_s: Math.round(throughput * 100) / 100,
    eta_s: b.listed && active > 0 && throughput > 0 ? Math.round(active / throughput) : null,
    elapsed_ms: elapsedMs,
    args: b.template.args,
    limits: b.limits,
    output_prefix: b.outputPrefix ?? null,
    creation_time: pulzarTime(b.createdAt),
    cancelled_time: b.cancelledAt === undefined ? null : pulzarTime(b.cancelledAt),
    failures
  }
}

/** One batch of `admin/batches`: its summary without the failures. */
export function batchItem (r: BatchRead, now: number): Record<string, unknown> {
  const s = batchSummary(r, now)
  delete s.failures
  return s
}

/** One task of `admin/batches/{id}/tasks`. */
export function taskItem (t: JobView): Record<string, unknown> {
  const last = t.attempts[t.attempts.length - 1]
  return {
    task_id: t.jobId,
    key: t.dataKey ?? null,
    state: taskState(t.state),
    job_state: t.state,
    tries: t.attempts.length,
    node: t.peerId ?? null,
    duration_ms: last?.durationMs ?? null,
    output: t.output ?? null,
    output_key: t.outputKey ?? null,
    error: t.error ?? null,
    attempts: t.attempts.map(a => ({
      attempt: a.attempt, node: a.peerId, outcome: a.outcome ?? null, reason: a.reason ?? null,
      assigned_at: a.assignedAt, started_at: a.startedAt ?? null, ended_at: a.endedAt ?? null, duration_ms: a.durationMs ?? null
    }))
  }
}
