// What a follower of one job is told (`GET /jobs/{id}/events`), as pure
// functions of the job table's changes: server-sent events, one JSON object
// per `data:` line.
import { FINAL_STATES, type JobChange, type JobState } from '../jobs/index.js'
import { jobDetail, pulzarStatus } from './job-views.js'

/** One server-sent event: `state`, `progress`, `log` or `end` (the last one; the stream closes after it). */
export interface SseEvent { event: 'state' | 'progress' | 'log' | 'end', data: unknown }

/** What the follower has been told so far (updated by feedEvents). */
export interface FeedMark {
  state?: JobState
  attempt?: number
  /** The last progress sent, as its JSON. */
  progress?: string
  ended?: boolean
}

/** The text of one event on the wire. */
export function sseFrame (e: SseEvent): string {
  return `event: ${e.event}\ndata: ${JSON.stringify(e.data)}\n\n`
}

/**
 * The events a change of job `jobId` makes for a follower told `mark` so far:
 * a `state` when the state or attempt moved, one `log` per relayed line, a
 * `progress` when it changed, and `end` with the job's detail (as
 * `admin/jobs/{id}` shows it: output, log, error...) once it is final — or
 * `{job, state: null}` when the job was pruned.
 */
export function feedEvents (mark: FeedMark, jobId: number, change: JobChange): SseEvent[] {
  if (mark.ended === true) return []
  const job = change.job
  if (job === undefined) {
    mark.ended = true
    return [{ event: 'end', data: { job: String(jobId), state: null, status: null } }]
  }
  const out: SseEvent[] = []
  if (job.state !== mark.state || job.attempt !== mark.attempt) {
    mark.state = job.state
    mark.attempt = job.attempt
    out.push({ event: 'state', data: { job_id: jobId, state: job.state, status: pulzarStatus(job.state), attempt: job.attempt, node: job.peerId ?? null } })
  }
  // The lines were written before the progress report that carried them.
  for (const line of change.lines) out.push({ event: 'log', data: { job_id: jobId, attempt: job.attempt, line } })
  const progress = job.progress === undefined ? undefined : JSON.stringify(job.progress)
  if (progress !== undefined && progress !== mark.progress) {
    out.push({ event: 'progress', data: { job_id: jobId, attempt: job.attempt, fraction: job.progress?.fraction, text: job.progress?.text ?? null } })
  }
  mark.progress = progress
  if (FINAL_STATES.has(job.state)) {
    mark.ended = true
    out.push({ event: 'end', data: jobDetail(job) })
  }
  return out
}
