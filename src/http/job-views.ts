// How jobs read over HTTP (pulzar-api.md §9.3): Pulzar's fields with
// Pulzar's names, types and time format first, pmz's own fields after them.
import type { JobState, JobView } from '../jobs/index.js'
import { keyToUrlPath } from '../store/index.js'

/** Pulzar's status words: a running job is pending, a cancelled one failed. */
export type PulzarStatus = 'pending' | 'completed' | 'failed'

export function pulzarStatus (state: JobState): PulzarStatus {
  return state === 'ready' ? 'completed' : state === 'failed' || state === 'cancelled' ? 'failed' : 'pending'
}

/** Pulzar's state number of a job row: 0 pending (queued or running), 1 ready, 2 failed. */
export function pulzarCode (state: JobState): 0 | 1 | 2 {
  const s = pulzarStatus(state)
  return s === 'pending' ? 0 : s === 'completed' ? 1 : 2
}

/** Pulzar's time format, UTC: `2026-11-22 17:54:00+0000`; null for a time that is no date. */
export function pulzarTime (ms: number): string | null {
  const d = new Date(ms)
  if (Number.isNaN(d.getTime())) return null
  return `${d.toISOString().slice(0, 19).replace('T', ' ')}+0000`
}

/** Pulzar names a job by its script (`factorial`) and keeps its directory apart (`/example`). */
export function jobNames (seed: string): { job_name: string, job_path: string } {
  const cut = seed.lastIndexOf('/')
  return { job_name: seed.slice(cut + 1), job_path: `/${seed.slice(0, Math.max(0, cut))}` }
}

/** pmz's fields of every job row: the seed as launched, the state behind Pulzar's status, what runs, and the schedule and tick that fired it. */
function pmzFields (j: JobView): Record<string, unknown> {
  return {
    ...jobNames(j.seed),
    seed: j.seed,
    state: j.state,
    attempt: j.attempt,
    progress: j.progress ?? null,
    schedule_id: j.scheduleId ?? null,
    fired_at: j.firedAt === undefined ? null : pulzarTime(j.firedAt)
  }
}

/** One item of `admin/jobs`: `{job_id, job_name, parameters (a JSON string), node (peer id), status 0|1|2}`, plus `creation_time` and pmz's fields. */
export function jobItem (j: JobView): Record<string, unknown> {
  return {
    job_id: j.jobId,
    job_name: jobNames(j.seed).job_name,
    parameters: JSON.stringify(j.args),
    node: j.peerId ?? null,
    status: pulzarCode(j.state),
    creation_time: pulzarTime(j.createdAt),
    ...pmzFields(j)
  }
}

/** One item of `admin/all_jobs`: as in `admin/jobs` but `status` is Pulzar's word. */
export function allJobsItem (j: JobView): Record<string, unknown> {
  return { ...jobItem(j), status: pulzarStatus(j.state) }
}

/** The buckets of `admin/jobs`, each newest first; `scheduled` holds the items of the live schedules, as given. */
export function jobBuckets (jobs: readonly JobView[], scheduled: readonly unknown[] = []): { pendings: unknown[], ready: unknown[], failed: unknown[], scheduled: unknown[] } {
  const out = { pendings: [] as unknown[], ready: [] as unknown[], failed: [] as unknown[], scheduled: [...scheduled] }
  for (const j of jobs) {
    const code = pulzarCode(j.state)
    out[code === 0 ? 'pendings' : code === 1 ? 'ready' : 'failed'].push(jobItem(j))
  }
  return out
}

/** Seconds the latest attempt ran (Pulzar's `time`): 0 for a job that ended without running. */
function seconds (j: JobView): number {
  const last = j.attempts[j.attempts.length - 1]
  return last?.durationMs === undefined ? 0 : last.durationMs / 1000
}

/**
 * `admin/jobs/{id}`: Pulzar's `{job (the id as a string), log, time
 * (seconds), status, output}`, `log` and `time` being `"na"` while pending;
 * then pmz's fields.
 */
export function jobDetail (j: JobView): Record<string, unknown> {
  const status = pulzarStatus(j.state)
  const done = status !== 'pending'
  return {
    job: String(j.jobId),
    log: done ? j.log : 'na',
    time: done ? seconds(j) : 'na',
    status,
    output: j.output ?? null,
    ...(j.outputKey !== undefined ? { output_key: j.outputKey, output_url: `/get_key/${keyToUrlPath(j.outputKey)}` } : {}),
    ...pmzFields(j),
    node: j.peerId ?? null,
    error: j.error ?? null,
    log_truncated: j.logTruncated,
    creation_time: pulzarTime(j.createdAt),
    attempts: j.attempts.map(a => ({ attempt: a.attempt, node: a.peerId, outcome: a.outcome ?? null, reason: a.reason ?? null, duration_ms: a.durationMs ?? null }))
  }
}

/** `admin/jobs/{id}?filter=state`: `{job, status}` plus pmz's `state`. */
export function jobStatus (j: JobView): Record<string, unknown> {
  return { job: String(j.jobId), status: pulzarStatus(j.state), state: j.state }
}
