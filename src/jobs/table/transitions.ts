// How each command moves one job, deterministic (apply runs it on every
// replica): every time comes from the command, every check happens before
// the first mutation, so a refused or ignored command leaves the job as it was.
import type { ErrorCode } from '../../common/errors.js'
import { MAX_LOG_CHARS, MAX_TEXT_CHARS } from './constants.js'
import { afterFailure, afterLoss } from './retry-rules.js'
import { LIVE_STATES, type AssignCommand, type CancelCommand, type FinishedCommand, type Job, type JobAttempt, type JobOp, type JobOutcome, type RequeueCommand } from './types.js'

/** The commands that act on one existing job. */
export type JobTransition = Exclude<JobOp, { type: 'launch' | 'prune' | 'schedule' | 'fire' | 'batch.create' | 'batch.tasks' }>

export const applied = (job: Job, changed = true): JobOutcome => ({ ok: true, changed, jobId: job.jobId, state: job.state, attempt: job.attempt })
export const refused = (code: ErrorCode, message: string, jobId?: number): JobOutcome => ({ ok: false, code, message, jobId })

/** Applies `op` to `job` (in place) and says what happened. */
export function transition (job: Job, op: JobTransition): JobOutcome {
  switch (op.type) {
    case 'assign': return assign(job, op)
    case 'cancel': return cancel(job, op)
    case 'retry':
      if (job.state !== 'failed') return refused('ERR_CONFLICT', `only a failed job can be retried; this one is ${job.state}`, job.jobId)
      Object.assign(job, { state: 'queued', failures: 0, losses: 0, updatedAt: op.at })
      clear(job, 'endedAt', 'notBefore', 'error')
      return applied(job)
    default:
      break
  }
  // Reports from a worker: only about the live attempt, or they are stale and ignored.
  if (!LIVE_STATES.has(job.state) || op.attempt !== job.attempt) return applied(job, false)
  const current = job.attempts[job.attempts.length - 1]
  switch (op.type) {
    case 'started':
      if (job.startedAt !== undefined) return applied(job, false)
      start(job, current, op.at)
      return applied(job)
    case 'progress':
      if (job.startedAt === undefined) start(job, current, op.at)
      job.progress = op.text === undefined ? { fraction: op.fraction } : { fraction: op.fraction, text: op.text.slice(0, MAX_TEXT_CHARS) }
      job.lastHeard = job.updatedAt = op.at
      return applied(job)
    case 'heartbeat':
      job.lastHeard = job.updatedAt = op.at
      return applied(job)
    case 'finished': return finish(job, current, op)
    case 'requeue': return requeue(job, current, op)
  }
}

function assign (job: Job, op: AssignCommand): JobOutcome {
  if (job.state !== 'queued' && job.state !== 'retrying') return refused('ERR_CONFLICT', `job is ${job.state}, not waiting for a peer`, job.jobId)
  if (op.attempt !== job.attempt + 1) return refused('ERR_CONFLICT', `stale attempt ${op.attempt}; next is ${job.attempt + 1}`, job.jobId)
  if (op.term < (job.term ?? 0)) return refused('ERR_STALE_TERM', `term ${op.term} is older than the job's ${String(job.term)}`, job.jobId)
  if (job.state === 'retrying' && op.at < (job.notBefore ?? 0)) return refused('ERR_CONFLICT', 'job waits for its retry backoff', job.jobId)
  Object.assign(job, { state: 'assigned', attempt: op.attempt, peerId: op.peerId, term: op.term, lastHeard: op.at, updatedAt: op.at })
  clear(job, 'notBefore', 'startedAt', 'progress')
  job.attempts.push({ attempt: op.attempt, peerId: op.peerId, term: op.term, assignedAt: op.at })
  return applied(job)
}

function cancel (job: Job, op: CancelCommand): JobOutcome {
  if (job.state === 'queued' || job.state === 'retrying') {
    Object.assign(job, { state: 'cancelled', cancelledAt: op.at, endedAt: op.at, updatedAt: op.at, error: text(op.reason ?? 'cancelled') })
    clear(job, 'notBefore')
    return applied(job)
  }
  if (job.state === 'assigned' || job.state === 'running') {
    // The worker is told and reports how the attempt ended (or is re-queued if it died): cancelled then.
    Object.assign(job, { state: 'cancelling', cancelledAt: op.at, updatedAt: op.at, error: text(op.reason ?? 'cancelled') })
    return applied(job)
  }
  return applied(job, false) // cancelling or final already: idempotent
}

function finish (job: Job, current: JobAttempt, op: FinishedCommand): JobOutcome {
  const log = op.log ?? ''
  job.log = log.length > MAX_LOG_CHARS ? log.slice(log.length - MAX_LOG_CHARS) : log
  job.logTruncated = op.logTruncated === true || log.length > MAX_LOG_CHARS
  job.output = op.output
  if (op.outputKey !== undefined) job.outputKey = op.outputKey
  else delete job.outputKey
  if (op.ok) {
    endAttempt(job, current, op.at, 'ready')
    clear(job, 'error')
    return end(job, 'ready', op.at)
  }
  const reason = text(op.error ?? 'failed')
  if (job.state === 'cancelling') {
    endAttempt(job, current, op.at, 'cancelled', reason)
    return end(job, 'cancelled', op.at)
  }
  endAttempt(job, current, op.at, 'failed', reason)
  job.error = reason
  const decision = afterFailure(job, op.retryable !== false)
  job.failures++
  return decision === 'retry' ? again(job, op.at, op.retryAt) : end(job, 'failed', op.at)
}

function requeue (job: Job, current: JobAttempt, op: RequeueCommand): JobOutcome {
  if (op.unstarted === true && job.startedAt !== undefined) return applied(job, false) // the worker has it: it runs there
  const reason = text(op.reason)
  endAttempt(job, current, op.at, 'lost', reason)
  if (job.state === 'cancelling') return end(job, 'cancelled', op.at)
  if (op.unstarted === true) return again(job, op.at, op.retryAt)
  const decision = afterLoss(job)
  job.losses++
  if (decision === 'requeue') return again(job, op.at, op.retryAt)
  job.error = text(`lost ${job.losses} attempts: ${reason}`)
  return end(job, 'failed', op.at)
}

function start (job: Job, current: JobAttempt, at: number): void {
  job.startedAt = current.startedAt = job.lastHeard = job.updatedAt = at
  if (job.state === 'assigned') job.state = 'running'
}

function endAttempt (job: Job, a: JobAttempt, at: number, outcome: JobAttempt['outcome'], reason?: string): void {
  a.endedAt = at
  a.outcome = outcome
  a.durationMs = Math.max(0, at - (a.startedAt ?? a.assignedAt))
  if (reason !== undefined) a.reason = reason
  clear(job, 'progress', 'lastHeard')
}

function again (job: Job, at: number, retryAt: number | undefined): JobOutcome {
  job.updatedAt = at
  if (retryAt !== undefined && retryAt > at) {
    job.state = 'retrying'
    job.notBefore = retryAt
  } else {
    job.state = 'queued'
  }
  return applied(job)
}

function end (job: Job, state: 'ready' | 'failed' | 'cancelled', at: number): JobOutcome {
  job.state = state
  job.endedAt = job.updatedAt = at
  return applied(job)
}

const text = (s: string): string => s.length > MAX_TEXT_CHARS ? s.slice(0, MAX_TEXT_CHARS) : s

function clear (job: Job, ...fields: Array<keyof Job>): void {
  for (const f of fields) delete job[f]
}
